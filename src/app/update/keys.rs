//! Keys: what each key means in the current mode.

use super::*;

pub(super) fn on_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    // Key releases (kitty protocol) would act twice.
    if key.kind == KeyEventKind::Release {
        return Vec::new();
    }
    // Behind "Terminal too small" only quitting works (and answering the
    // quit question, which that screen shows): nothing else is visible.
    if state.too_small && !matches!(state.overlay, Some(Overlay::ConfirmQuit)) {
        // Quit is global: any pane's mode finds it.
        let quit = state.config.keymap.action_for(&key, Scope::Hosts) == Some(Action::Quit);
        return if quit {
            request_quit(state)
        } else {
            Vec::new()
        };
    }
    match state.overlay.take() {
        Some(Overlay::ConfirmQuit) => {
            state.overlay = Some(Overlay::ConfirmQuit);
            on_confirm_quit(state, key)
        }
        Some(Overlay::Help { scroll }) => on_help(state, key, scroll),
        Some(Overlay::Confirm(pending)) => {
            match state.config.keymap.action_for(&key, Scope::Dialog) {
                Some(Action::Confirm) => confirmed(state, NeedsSudo::Unit(pending)),
                Some(Action::Cancel) => {
                    state.notice = Some(format!(
                        "{} of {} cancelled",
                        pending.action.verb(),
                        pending.unit
                    ));
                    Vec::new()
                }
                _ => still_asking(state, Overlay::Confirm(pending)),
            }
        }
        Some(Overlay::Password(prompt)) => on_password_key(state, prompt, key),
        Some(Overlay::DeployPreview(plans)) => on_preview_key(state, plans, key),
        Some(Overlay::HashFix(fix)) => on_hash_fix_key(state, fix, key),
        Some(Overlay::PickJournal {
            host,
            units,
            chosen,
        }) => on_pick_journal_key(state, host, units, chosen, key),
        Some(Overlay::ConfirmStopDeploy(host)) => on_stop_deploy_key(state, host, key),
        Some(Overlay::ConfirmActivation(host)) => on_activation_key(state, host, key),
        Some(Overlay::History { records, cursor }) => on_history_key(state, records, cursor, key),
        Some(Overlay::Search(input)) => on_search_key(state, input, key),
        Some(Overlay::UpdateLock(update)) => {
            match state.config.keymap.action_for(&key, Scope::Dialog) {
                Some(Action::Confirm) => {
                    let id = state.new_id();
                    let host = state
                        .hosts
                        .get(update.host)
                        .map(|h| h.name.clone())
                        .unwrap_or_default();
                    activity(
                        state,
                        format!("{host}: running {}", remote::display_command(&update.argv)),
                    );
                    state.jobs.insert(
                        id,
                        Job {
                            host,
                            what: format!("update {} in flake.lock", update.input),
                        },
                    );
                    state.pending_locks.insert(id, update.clone());
                    vec![Effect::UpdateLock { id, update }]
                }
                Some(Action::Cancel) => Vec::new(),
                _ => still_asking(state, Overlay::UpdateLock(update)),
            }
        }
        Some(Overlay::CommitLock(mut commit)) => {
            match state.config.keymap.action_for(&key, Scope::Dialog) {
                Some(Action::Confirm) => {
                    let id = state.new_id();
                    state.uncommitted = None;
                    state.jobs.insert(
                        id,
                        Job {
                            host: "git".into(),
                            what: format!("commit {}", commit.names()),
                        },
                    );
                    if let Some(plan) = commit.then_deploy.take() {
                        state.deploy_after_commit = Some((id, plan));
                    }
                    vec![Effect::CommitLock { id, commit }]
                }
                Some(Action::Cancel) => {
                    if let Some(plan) = commit.then_deploy.take() {
                        let c = state.config.keymap.keys_of(Action::CommitLock);
                        let said = format!(
                            "not committed ({c} commits it later): this deploy builds a dirty \
                             tree, whose system names no commit"
                        );
                        super::fixes::offer_deploy_after(state, plan, said);
                    }
                    Vec::new()
                }
                _ => still_asking(state, Overlay::CommitLock(commit)),
            }
        }
        None => on_pane_key(state, key),
    }
}

pub(super) fn on_confirm_quit(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    match state.config.keymap.action_for(&key, Scope::Dialog) {
        Some(Action::Confirm) => quit(state),
        Some(Action::Cancel) => {
            state.overlay = None;
            Vec::new()
        }
        _ => {
            state.notice = Some(crate::app::modes::dialog_reason(state));
            Vec::new()
        }
    }
}

pub(super) fn on_help(state: &mut State, key: KeyEvent, scroll: usize) -> Vec<Effect> {
    let action = state.config.keymap.action_for(&key, Scope::Help);
    let scroll = match action {
        // `q` closes the help, as it closes a pager: quitting is one more `q`.
        Some(Action::Help | Action::Cancel | Action::Quit) => return Vec::new(),
        Some(Action::Up) => scroll.saturating_sub(1),
        Some(Action::Down) => scroll + 1,
        Some(Action::PageUp) => scroll.saturating_sub(10),
        Some(Action::PageDown) => scroll + 10,
        Some(Action::Top) => 0,
        Some(Action::Bottom) => usize::MAX,
        _ => {
            state.notice = Some(crate::app::modes::help_reason(state));
            scroll
        }
    };
    // Never past its last page, so ↑ acts at once after G.
    let scroll = scroll.min(crate::ui::help::max_scroll(state));
    state.overlay = Some(Overlay::Help { scroll });
    Vec::new()
}

pub(super) fn on_pane_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    let mode = state.focus.scope();
    let Some(action) = state.config.keymap.action_for(&key, mode) else {
        // A key with no meaning here says so, rather than nothing at all.
        if let Some(name) = key_name(&key) {
            state.notice = Some(format!(
                "{name} does nothing in the {} pane ({} lists every key)",
                state.focus.title().to_lowercase(),
                state.config.keymap.keys_of(Action::Help)
            ));
        }
        return Vec::new();
    };
    if let Some(why) = crate::app::modes::unavailable(state, mode, action) {
        state.notice = Some(why);
        return Vec::new();
    }
    match action {
        Action::Quit => return request_quit(state),
        Action::Help => state.overlay = Some(Overlay::Help { scroll: 0 }),
        Action::FocusNext => state.focus = cycle(state.focus, 1),
        Action::FocusPrev => state.focus = cycle(state.focus, Pane::ORDER.len() - 1),
        Action::NextHost => return select_host(state, state.selected_host.saturating_add(1)),
        Action::PrevHost => return select_host(state, state.selected_host.saturating_sub(1)),
        Action::Up => return move_cursor(state, Move::By(-1)),
        Action::Down => return move_cursor(state, Move::By(1)),
        Action::PageUp => return move_cursor(state, Move::Page(-1)),
        Action::PageDown => return move_cursor(state, Move::Page(1)),
        Action::Top => return move_cursor(state, Move::Start),
        Action::Bottom => return move_cursor(state, Move::End),
        Action::Follow => {
            state.log_view.follow = !state.log_view.follow;
            if state.log_view.follow {
                state.log_view.from_bottom = 0;
            }
        }
        Action::Refresh => {
            // The notice lasts until the last of these probes answers.
            state.refreshing = (0..state.hosts.len()).collect();
            state.notice = Some(format!(
                "refreshing {}…",
                crate::text::count(state.hosts.len() as u64, "host", "hosts")
            ));
            return (0..state.hosts.len())
                .flat_map(|i| probe(state, i))
                .collect();
        }
        Action::Restart => ask_unit_action(state, UnitAction::Restart),
        Action::Reload => ask_unit_action(state, UnitAction::Reload),
        Action::Start => ask_unit_action(state, UnitAction::Start),
        Action::Stop => ask_unit_action(state, UnitAction::Stop),
        Action::Journal => return follow_journal(state),
        Action::CloseJournal => {
            let effects = stop_journal(state, "closed");
            // What was said about the open journal no longer holds.
            if state
                .notice
                .as_deref()
                .is_some_and(|n| n.contains("journal"))
            {
                state.notice = None;
            }
            state.journal = None;
            state.past = None;
            state.show_deploy = false;
            state.log_view = crate::app::LogView::at_end(state.log_view.wrap);
            return effects;
        }
        Action::ScrollLeft => state.log_view.x = state.log_view.x.saturating_sub(SCROLL_STEP),
        Action::ScrollRight => {
            // Not past the point where the widest line on screen ends.
            let end_of_widest = crate::app::modes::widest_shown(state);
            state.log_view.x =
                (state.log_view.x + SCROLL_STEP).min(end_of_widest.saturating_sub(state.log_width));
        }
        Action::UpdateLock => ask_lock_update(state),
        Action::RelativeInput => return ask_relative_input(state),
        Action::CommitLock => {
            if let Some(commit) = state.uncommitted.clone() {
                state.overlay = Some(Overlay::CommitLock(commit));
            }
        }
        Action::Open => {
            state.focus = Pane::Services;
            state.service_cursor = 0;
            return stop_journal_if_moved_away(state);
        }
        Action::Deploy => ask_deploy(state),
        Action::Fix => return fix(state),
        Action::Rollback => return ask_rollback(state),
        Action::Pager => {
            let log = state.shown_log();
            let mut text = String::new();
            for i in 0..log.len() {
                text.push_str(log.raw_line(i).unwrap_or_default());
                text.push('\n');
            }
            return vec![Effect::Pager { text }];
        }
        Action::AnswerActivation => {
            state.overlay = Some(Overlay::ConfirmActivation(state.selected_host));
        }
        Action::Search => {
            // A new query each time (the last one shown, not typed onto).
            let mut input = TextArea::default();
            if let Some((text, _)) = &state.search {
                input.set_placeholder_text(format!("last: {text}"));
            }
            state.overlay = Some(Overlay::Search(Box::new(input)));
        }
        Action::NextMatch => find(state, Direction::Older),
        Action::PrevMatch => find(state, Direction::Newer),
        Action::Mark => {
            let h = state.selected_host;
            if !state.marked.remove(&h) {
                state.marked.insert(h);
            }
        }
        Action::History => {
            return vec![Effect::ListHistory {
                dir: crate::deploy::history::dir_for(&state.config.path),
            }]
        }
        Action::StopDeploy => state.overlay = Some(Overlay::ConfirmStopDeploy(state.selected_host)),
        Action::ToggleDeployLog => {
            state.show_deploy = !state.show_deploy;
            state.log_view.from_bottom = 0;
            state.log_view.follow = true;
        }
        Action::WrapLog => {
            state.log_view.wrap = !state.log_view.wrap;
            state.log_view.x = 0;
        }
        // Not read in a pane.
        Action::Confirm
        | Action::NextChoice
        | Action::PrevChoice
        | Action::AddOverrides
        | Action::Cancel
        | Action::PasswordSend
        | Action::PasswordRemember
        | Action::PasswordCancel
        | Action::SearchGo
        | Action::SearchCancel => {}
    }
    Vec::new()
}

/// `q`: leave at once, or ask first when a task would be cut off.
pub(super) fn request_quit(state: &mut State) -> Vec<Effect> {
    if state.jobs.is_empty() {
        quit(state)
    } else {
        state.overlay = Some(Overlay::ConfirmQuit);
        Vec::new()
    }
}

/// The user asked to quit and only waited for the running jobs.
pub(super) fn quit_if_waiting(state: &mut State) -> Vec<Effect> {
    if matches!(state.overlay, Some(Overlay::ConfirmQuit)) && state.jobs.is_empty() {
        quit(state)
    } else {
        Vec::new()
    }
}

pub(super) fn quit(state: &mut State) -> Vec<Effect> {
    state.quitting = true;
    vec![Effect::Quit]
}

pub(super) fn cycle(pane: Pane, step: usize) -> Pane {
    let i = Pane::ORDER.iter().position(|p| *p == pane).unwrap_or(0);
    Pane::ORDER[(i + step) % Pane::ORDER.len()]
}

pub(super) fn select_host(state: &mut State, index: usize) -> Vec<Effect> {
    let last = state.hosts.len().saturating_sub(1);
    let index = index.min(last);
    if index != state.selected_host {
        state.selected_host = index;
        // Cursors point into the previous host's rows.
        state.service_cursor = 0;
        state.flake_cursor = 0;
        return stop_journal_if_moved_away(state);
    }
    Vec::new()
}

#[derive(Clone, Copy)]
pub(super) enum Move {
    By(isize),
    Page(isize),
    Start,
    End,
}

/// Moves the cursor of the focused pane, clamped to its rows.
pub(super) fn move_cursor(state: &mut State, how: Move) -> Vec<Effect> {
    let page = state.log_page.max(1);
    let target = |current: usize, len: usize| -> usize {
        let last = len.saturating_sub(1);
        match how {
            Move::By(d) => current.saturating_add_signed(d).min(last),
            Move::Page(d) => current.saturating_add_signed(d * page as isize).min(last),
            Move::Start => 0,
            Move::End => last,
        }
    };
    match state.focus {
        Pane::Hosts => return select_host(state, target(state.selected_host, state.hosts.len())),
        Pane::Services => {
            let len = state.selected().map_or(0, |h| h.services.len());
            let cursor = target(state.service_cursor, len);
            if cursor != state.service_cursor {
                state.service_cursor = cursor;
                return stop_journal_if_moved_away(state);
            }
        }
        Pane::Flake => {
            let len = state.selected_flake().map_or(1, |r| r.inputs.len());
            state.flake_cursor = target(state.flake_cursor, len);
        }
        Pane::Log => {
            // The log scrolls from the bottom: "up" shows older lines.
            let max_back = state.shown_log().len().saturating_sub(page);
            let back = state.log_view.from_bottom;
            let back = match how {
                Move::By(d) => back.saturating_add_signed(-d),
                Move::Page(d) => back.saturating_add_signed(-d * page as isize),
                Move::Start => max_back,
                Move::End => 0,
            }
            .min(max_back);
            state.log_view.from_bottom = back;
            state.log_view.follow = back == 0;
        }
    }
    Vec::new()
}

/// How a key press is written in messages: `/`, `Enter`, `C-x`; `None` for
/// presses that are not keys a person means (a lone modifier).
fn key_name(key: &KeyEvent) -> Option<String> {
    if matches!(key.code, KeyCode::Modifier(_) | KeyCode::Null) {
        return None;
    }
    let name = crate::keymap::display_key(&crokey::KeyCombination::from(*key));
    Some(match name.chars().count() {
        1 => format!("`{name}`"),
        _ => name,
    })
}

/// Keys in the search box: Enter finds, Esc closes, the rest is text.
fn on_search_key(
    state: &mut State,
    mut input: Box<TextArea<'static>>,
    key: KeyEvent,
) -> Vec<Effect> {
    match state.config.keymap.action_for(&key, Scope::Input) {
        Some(Action::SearchGo) => {
            let text = input.lines().concat();
            if text.trim().is_empty() {
                state.search = None;
                state.notice = Some("search cleared".into());
                return Vec::new();
            }
            state.search = Some((text, None));
            find(state, Direction::Older);
        }
        Some(Action::SearchCancel) => {}
        _ => {
            input.input(key);
            state.overlay = Some(Overlay::Search(input));
        }
    }
    Vec::new()
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Direction {
    Older,
    Newer,
}

/// Moves the log pane to the next line that matches the search, older or
/// newer than the last match (or than the bottom of the view), and says
/// which one it is. The text is matched without colours and without case.
pub(super) fn find(state: &mut State, direction: Direction) {
    let Some((text, last)) = state.search.clone() else {
        return;
    };
    let needle = text.to_lowercase();
    let log = state.shown_log();
    let len = log.len();
    let bottom = len.saturating_sub(state.log_view.from_bottom + 1);
    let from = last.unwrap_or(bottom + usize::from(direction == Direction::Older));
    // One pass over the log: every matching line, oldest first.
    let hits: Vec<usize> = (0..len)
        .filter(|i| {
            log.raw_line(*i)
                .is_some_and(|l| crate::text::plain(l).to_lowercase().contains(&needle))
        })
        .collect();
    let found = match direction {
        Direction::Older => hits.iter().rev().find(|i| **i < from).copied(),
        Direction::Newer => hits.iter().find(|i| **i > from).copied(),
    };
    let total = hits.len();
    match found {
        Some(i) => {
            state.search = Some((text.clone(), Some(i)));
            // The match as the newest line on screen, not following.
            state.log_view.from_bottom = len - 1 - i;
            state.log_view.follow = state.log_view.from_bottom == 0;
            let km = &state.config.keymap;
            // Which match this is, counted from the oldest, as a pager says it.
            let nth = hits.iter().position(|h| *h == i).map_or(0, |p| p + 1);
            state.notice = Some(format!(
                "\"{text}\": match {nth} of {total}, line {} of {len} ({} older, {} newer)",
                i + 1,
                km.keys_of(Action::NextMatch),
                km.keys_of(Action::PrevMatch)
            ));
        }
        None if total == 0 => state.notice = Some(format!("\"{text}\": no line matches")),
        None => {
            state.notice = Some(format!(
                "\"{text}\": no {} match ({} in all)",
                if direction == Direction::Older {
                    "older"
                } else {
                    "newer"
                },
                total
            ))
        }
    }
}
