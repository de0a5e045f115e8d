//! Which keys act now: the mode keys are read in, whether an action does
//! something in the current state (and if not, why), and the footer built
//! from both. The update and the footer ask the same questions here, so a
//! key the footer shows always acts, and one it does not show says why.

use super::{FlakeStatus, Overlay, State};
use crate::keymap::{Action, Scope};

/// The mode keys are read in: a pane, a question, the password prompt or the help.
pub fn mode(state: &State) -> Scope {
    match &state.overlay {
        None => state.focus.scope(),
        Some(Overlay::Help { .. }) => Scope::Help,
        Some(Overlay::Password(_)) => Scope::Password,
        Some(Overlay::History { .. }) => Scope::Pick,
        Some(Overlay::Search(_)) => Scope::Input,
        Some(
            Overlay::ConfirmQuit
            | Overlay::Confirm(_)
            | Overlay::UpdateLock(_)
            | Overlay::CommitLock(_)
            | Overlay::DeployPreview(_)
            | Overlay::ConfirmStopDeploy(_)
            | Overlay::ConfirmActivation(_)
            | Overlay::HashFix(_)
            | Overlay::PickJournal { .. },
        ) => Scope::Dialog,
    }
}

/// Why `action` does nothing in `mode` now; `None` when it acts.
pub fn unavailable(state: &State, mode: Scope, action: Action) -> Option<String> {
    match mode {
        Scope::Help => {
            let moves = is_move(action);
            if moves && crate::ui::help::max_scroll(state) == 0 {
                return Some("the whole help is on screen".into());
            }
            let acts = moves || matches!(action, Action::Help | Action::Cancel | Action::Quit);
            return (!acts).then(|| help_reason(state));
        }
        Scope::Pick => {
            let acts = is_move(action)
                || matches!(action, Action::Confirm | Action::Cancel | Action::Quit);
            return (!acts).then(pick_reason);
        }
        Scope::Dialog => {
            let choices = match &state.overlay {
                Some(Overlay::DeployPreview(_)) => true,
                Some(Overlay::HashFix(f)) => f.sites.len() > 1,
                Some(Overlay::PickJournal { .. }) => true,
                _ => false,
            };
            let overridable = match &state.overlay {
                Some(Overlay::DeployPreview(plans)) => {
                    plans.iter().any(|p| !state.overridable(p).is_empty())
                }
                _ => false,
            };
            let acts = matches!(action, Action::Confirm | Action::Cancel)
                || (choices && matches!(action, Action::NextChoice | Action::PrevChoice))
                || (overridable && action == Action::AddOverrides);
            return (!acts).then(|| dialog_reason(state));
        }
        _ => {}
    }
    match action {
        _ if is_move(action) && rows_in_focus(state) < 2 => {
            Some(format!(
                "nothing to move to in the {} pane",
                state.focus.title().to_lowercase()
            ))
        }
        Action::Restart | Action::Reload | Action::Start | Action::Stop | Action::Journal => state
            .selected_unit()
            .is_none()
            .then(|| "no service selected: add services = [...] to this host".into()),
        Action::UpdateLock => lock_update_blocked(state),
        Action::RelativeInput => lock_update_blocked(state).or_else(|| relative_blocked(state)),
        // With marks, d deploys the marked hosts, whichever is selected.
        Action::Deploy => (state.marked.is_empty()
            && state.selected_config().is_some_and(|h| h.flake.is_none()))
            .then(|| "this host has no flake = \"…#…\" in the config: nothing to deploy".into()),
        Action::AnswerActivation => (!state
            .deploys
            .get(&state.selected_host)
            .is_some_and(|d| d.awaiting_yes))
        .then(|| "no deploy of this host waits for a yes".into()),
        Action::Rollback => {
            if !matches!(
                state.hosts.get(state.selected_host).map(|h| &h.status),
                Some(crate::app::HostStatus::Up(_))
            ) {
                Some("the host is not up: its generations cannot be read".into())
            } else if state
                .deploys
                .get(&state.selected_host)
                .is_some_and(|d| !d.finished())
            {
                Some("a deploy of this host is running".into())
            } else if state
                .hosts
                .get(state.selected_host)
                .and_then(|h| h.last_known())
                .and_then(|p| p.probe.generation)
                .is_some_and(|g| g <= 1)
            {
                Some("generation 1 is this host's first: there is nothing before it".into())
            } else {
                None
            }
        }
        Action::Fix => (!state.deploys.get(&state.selected_host).is_some_and(|d| {
            d.finished() && d.diagnoses.iter().any(|x| x.fix.is_some())
        }))
        .then(|| "no diagnosis of this host's last deploy offers a fix".into()),
        Action::StopDeploy => state
            .deploys
            .get(&state.selected_host)
            .is_none_or(|d| d.finished())
            .then(|| "no deploy is running on this host".into()),
        Action::NextMatch | Action::PrevMatch => state.search.is_none().then(|| {
            format!(
                "nothing searched yet ({} searches)",
                state.config.keymap.keys_of(Action::Search)
            )
        }),
        Action::ToggleDeployLog if state.journal.is_some() => Some(format!(
            "a journal is open ({} closes it)",
            state.config.keymap.keys_of(Action::CloseJournal)
        )),
        Action::ToggleDeployLog => (!state.deploys.contains_key(&state.selected_host))
            .then(|| "this host has no deploy yet (d deploys it)".into()),
        Action::CommitLock => state.uncommitted.is_none().then(|| {
            format!(
                "nothing deploytui changed is left to commit ({} updates an input, {} on a \
                 hash card writes the hash)",
                state.config.keymap.keys_of(Action::UpdateLock),
                state.config.keymap.keys_of(Action::Fix)
            )
        }),
        Action::CloseJournal => (state.journal.is_none()
            && state.past.is_none()
            && state.shown_deploy().is_none())
        .then(|| {
            format!(
                "the log pane already shows the activity log ({} in the services pane follows a journal)",
                state.config.keymap.keys_of(Action::Journal)
            )
        }),
        Action::NextHost | Action::PrevHost if state.hosts.len() < 2 => {
            Some("there is only one host".into())
        }
        Action::NextHost => (state.selected_host + 1 >= state.hosts.len())
            .then(|| "this is the last host".into()),
        Action::PrevHost => (state.selected_host == 0).then(|| "this is the first host".into()),
        Action::ScrollLeft | Action::ScrollRight if state.log_view.wrap => Some(format!(
            "long lines are wrapped ({} cuts them again to scroll sideways)",
            state.config.keymap.keys_of(Action::WrapLog)
        )),
        Action::ScrollLeft => {
            (state.log_view.x == 0).then(|| "already at the start of the lines".into())
        }
        Action::ScrollRight => (state.log_view.x + state.log_width >= widest_shown(state))
            .then(|| "no more of these lines to the right".into()),
        _ => None,
    }
}

/// The width of the widest log line on screen.
pub fn widest_shown(state: &State) -> usize {
    let log = state.shown_log();
    let end = log.len().saturating_sub(state.log_view.from_bottom);
    log.widest(end.saturating_sub(state.log_page), state.log_page)
}

/// How many rows the focused pane can move over (the log: lines beyond one page).
fn rows_in_focus(state: &State) -> usize {
    match state.focus {
        super::Pane::Hosts => state.hosts.len(),
        super::Pane::Services => state.selected().map_or(0, |h| h.services.len()),
        super::Pane::Flake => state.selected_flake().map_or(0, |r| r.inputs.len()),
        super::Pane::Log => {
            state
                .shown_log()
                .len()
                .saturating_sub(state.log_page.max(1))
                + 1
        }
    }
}

/// The keys that move a cursor or scroll.
fn is_move(action: Action) -> bool {
    matches!(
        action,
        Action::Up
            | Action::Down
            | Action::PageUp
            | Action::PageDown
            | Action::Top
            | Action::Bottom
    )
}

/// What a key that does nothing in a list says.
pub fn pick_reason() -> String {
    "Enter opens the selected deploy's log, Esc closes the list".into()
}

/// What a key that does nothing in the help says.
pub fn help_reason(state: &State) -> String {
    format!(
        "the help is open: {} closes it",
        state.config.keymap.keys_of(Action::Cancel)
    )
}

/// What a key that does nothing in a question says: the two answers.
pub fn dialog_reason(state: &State) -> String {
    let km = &state.config.keymap;
    let (yes, no) = answers(state);
    format!(
        "answer first: {} {yes}, {} {no}",
        km.keys_of(Action::Confirm),
        km.keys_of(Action::Cancel)
    )
}

/// The words of the open question's two answers, for its own last line
/// and the footer alike.
pub fn answers(state: &State) -> (&'static str, &'static str) {
    match &state.overlay {
        Some(Overlay::ConfirmQuit) => ("quit now", "keep running"),
        Some(Overlay::Confirm(p)) => (p.action.verb(), "cancel"),
        Some(Overlay::UpdateLock(_)) => ("update", "cancel"),
        Some(Overlay::CommitLock(_)) => ("commit", "cancel"),
        Some(Overlay::DeployPreview(p)) if p.iter().any(|p| p.rollback.is_some()) => {
            ("roll back", "cancel")
        }
        Some(Overlay::DeployPreview(_)) => ("deploy", "cancel"),
        Some(Overlay::ConfirmStopDeploy(_)) => ("stop it", "keep it running"),
        Some(Overlay::ConfirmActivation(_)) => ("activate", "do not activate"),
        Some(Overlay::HashFix(f)) if f.learn.is_some() => ("blank it, build", "cancel"),
        Some(Overlay::HashFix(f)) if f.restore.is_some() => ("write it", "put the old one back"),
        Some(Overlay::HashFix(_)) => ("write it", "cancel"),
        Some(Overlay::PickJournal { .. }) => ("open its journal", "cancel"),
        _ => ("yes", "no"),
    }
}

/// "Enter" when the action has Enter among its keys, else `key`.
fn enter_or(state: &State, action: Action, key: String) -> String {
    let enter = crate::keymap::parse_key("enter").ok();
    match state.config.keymap.binding(action) {
        Some(b) if enter.is_some_and(|e| b.keys.contains(&e)) => "Enter".into(),
        _ => key,
    }
}

/// Why `u` cannot update the input under the cursor, if it cannot.
/// Why `p` does nothing on the selected input, if it does nothing.
fn relative_blocked(state: &State) -> Option<String> {
    let version = state.nix_version;
    if version.is_none_or(|v| v < (2, 26)) {
        return Some(format!(
            "relative path inputs need nix 2.26 or newer here (the nix here is {})",
            version.map_or("unknown".into(), |(a, b)| format!("{a}.{b}"))
        ));
    }
    let flake = state.selected_config()?.flake.as_ref()?;
    let input = state.selected_flake()?.inputs.get(state.flake_cursor)?;
    crate::nix::check::relative_fix(input, &flake.path)
        .is_none()
        .then(|| {
            format!(
                "{} is not an absolute self-reference to make relative",
                input.locked.path
            )
        })
}

fn lock_update_blocked(state: &State) -> Option<String> {
    let has_flake = state.selected_config().is_some_and(|h| h.flake.is_some());
    if !has_flake {
        return Some("this host has no flake".into());
    }
    let report = match state.selected().map(|h| &h.flake) {
        Some(FlakeStatus::Checked(r)) => r,
        Some(FlakeStatus::Failed(_)) => return Some("the flake's lock cannot be read".into()),
        _ => return Some("the flake is not checked yet".into()),
    };
    let input = report.inputs.get(state.flake_cursor)?;
    (input.locked.follows.is_some() || input.locked.path.contains('/')).then(|| {
        format!(
            "{} is not a top-level input of this flake; update the one it comes from",
            input.locked.path
        )
    })
}

/// The footer: every labelled key that acts now, in table order.
pub fn footer(state: &State) -> Vec<(String, &'static str)> {
    footer_actions(state)
        .into_iter()
        .map(|(_, key, label)| (key, label))
        .collect()
}

/// The footer with the action behind each key.
pub fn footer_actions(state: &State) -> Vec<(Action, String, &'static str)> {
    if state.too_small && !matches!(state.overlay, Some(Overlay::ConfirmQuit)) {
        let km = &state.config.keymap;
        return vec![(Action::Quit, km.keys_of(Action::Quit), "quit")];
    }
    let mode = mode(state);
    let (yes, no) = answers(state);
    let hints = state
        .config
        .keymap
        .hints(mode, |a| unavailable(state, mode, a).is_none())
        .into_iter()
        .filter_map(|(key, label, action)| match (mode, action) {
            // In the help, Esc is the way out; `?` would say the same.
            (Scope::Help, Action::Help) => None,
            (Scope::Help, Action::Cancel | Action::Quit) => Some((action, key, "close")),
            (Scope::Help, Action::Up | Action::Down) => Some((action, key, "scroll")),
            // In a list, Enter is what people press to open.
            (Scope::Pick, Action::Confirm) => {
                Some((action, enter_or(state, action, key), "open log"))
            }
            (Scope::Pick, Action::Cancel) => Some((action, key, "close")),
            (Scope::Dialog, Action::Confirm) => Some((action, key, yes)),
            (Scope::Dialog, Action::Cancel) => Some((action, key, no)),
            _ => Some((action, key, label)),
        });
    // What this mode has of its own first, then what works everywhere: a
    // footer too long for the screen loses the general keys, not these.
    let keymap = &state.config.keymap;
    let everywhere = |a: Action| {
        keymap
            .binding(a)
            .is_some_and(|b| matches!(b.scope, Scope::Global | Scope::Panes))
    };
    // Quitting is always within reach: it leads.
    let (quit, rest): (Vec<_>, Vec<_>) = hints.partition(|(a, ..)| *a == Action::Quit);
    let (own, general): (Vec<_>, Vec<_>) = rest.into_iter().partition(|(a, ..)| !everywhere(*a));
    // Neighbours with one label share it: "↑ ↓ move", "[ ] host".
    let mut merged: Vec<(Action, String, &'static str)> = Vec::new();
    for (action, key, label) in quit.into_iter().chain(own).chain(general) {
        match merged.last_mut() {
            Some((_, keys, last)) if *last == label => {
                keys.push(' ');
                keys.push_str(&key);
            }
            _ => merged.push((action, key, label)),
        }
    }
    merged
}
