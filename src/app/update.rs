//! `update`: the only place the state changes. Pure and synchronous, so every
//! rule is tested without a terminal.

use crossterm::event::{KeyEvent, KeyEventKind};

use super::{Effect, Msg, Overlay, Pane, State};
use crate::keymap::{Action, Scope};

/// Applies one message and returns the effects the runtime must run.
pub fn update(state: &mut State, msg: Msg) -> Vec<Effect> {
    match msg {
        Msg::Key(key) => on_key(state, key),
        Msg::Resize { log_rows } => {
            state.log_page = log_rows.max(1);
            Vec::new()
        }
        Msg::Tick(_) => Vec::new(),
        Msg::Log(line) => {
            state.log.push_line(&line);
            keep_log_anchor(state, 1);
            Vec::new()
        }
        Msg::JobFinished { id, outcome } => {
            if let Some(job) = state.jobs.remove(&id) {
                let line = match outcome {
                    Ok(summary) => format!("{}: {} done: {summary}", job.host, job.what),
                    Err(error) => format!("{}: {} failed: {error}", job.host, job.what),
                };
                state.notice = Some(line.clone());
                state.log.push_line(&line);
                keep_log_anchor(state, 1);
            }
            // The user asked to quit and only waited for this job.
            if state.overlay == Some(Overlay::ConfirmQuit) && state.jobs.is_empty() {
                return quit(state);
            }
            Vec::new()
        }
    }
}

/// While the user has scrolled up, new lines must not move what they read.
fn keep_log_anchor(state: &mut State, added: usize) {
    if !state.log_view.follow {
        state.log_view.from_bottom += added;
    }
}

fn on_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    // Key releases (kitty protocol) would act twice.
    if key.kind == KeyEventKind::Release {
        return Vec::new();
    }
    match state.overlay.clone() {
        Some(Overlay::ConfirmQuit) => on_confirm_quit(state, key),
        Some(Overlay::Help { scroll }) => on_help(state, key, scroll),
        None => on_pane_key(state, key),
    }
}

fn on_confirm_quit(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    match state.config.keymap.action_for(&key, Scope::Dialog) {
        Some(Action::Confirm) => quit(state),
        Some(Action::Cancel) => {
            state.overlay = None;
            Vec::new()
        }
        _ => Vec::new(),
    }
}

fn on_help(state: &mut State, key: KeyEvent, scroll: usize) -> Vec<Effect> {
    let action = state.config.keymap.action_for(&key, Scope::Dialog);
    match action {
        Some(Action::Help | Action::Cancel) => state.overlay = None,
        Some(Action::Quit) => return request_quit(state),
        Some(Action::Up) => {
            state.overlay = Some(Overlay::Help {
                scroll: scroll.saturating_sub(1),
            })
        }
        Some(Action::Down) => state.overlay = Some(Overlay::Help { scroll: scroll + 1 }),
        Some(Action::PageUp) => {
            state.overlay = Some(Overlay::Help {
                scroll: scroll.saturating_sub(10),
            })
        }
        Some(Action::PageDown) => {
            state.overlay = Some(Overlay::Help {
                scroll: scroll + 10,
            })
        }
        Some(Action::Top) => state.overlay = Some(Overlay::Help { scroll: 0 }),
        _ => {}
    }
    Vec::new()
}

fn on_pane_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    let Some(action) = state.config.keymap.action_for(&key, state.focus.scope()) else {
        return Vec::new();
    };
    match action {
        Action::Quit => return request_quit(state),
        Action::Help => state.overlay = Some(Overlay::Help { scroll: 0 }),
        Action::FocusNext => state.focus = cycle(state.focus, 1),
        Action::FocusPrev => state.focus = cycle(state.focus, Pane::ORDER.len() - 1),
        Action::NextHost => select_host(state, state.selected_host.saturating_add(1)),
        Action::PrevHost => select_host(state, state.selected_host.saturating_sub(1)),
        Action::Up => move_cursor(state, Move::By(-1)),
        Action::Down => move_cursor(state, Move::By(1)),
        Action::PageUp => move_cursor(state, Move::Page(-1)),
        Action::PageDown => move_cursor(state, Move::Page(1)),
        Action::Top => move_cursor(state, Move::Start),
        Action::Bottom => move_cursor(state, Move::End),
        Action::Follow => {
            state.log_view.follow = !state.log_view.follow;
            if state.log_view.follow {
                state.log_view.from_bottom = 0;
            }
        }
        Action::Confirm | Action::Cancel => {}
    }
    Vec::new()
}

/// `q`: leave at once, or ask first when a task would be cut off.
fn request_quit(state: &mut State) -> Vec<Effect> {
    if state.jobs.is_empty() {
        quit(state)
    } else {
        state.overlay = Some(Overlay::ConfirmQuit);
        Vec::new()
    }
}

fn quit(state: &mut State) -> Vec<Effect> {
    state.quitting = true;
    vec![Effect::Quit]
}

fn cycle(pane: Pane, step: usize) -> Pane {
    let i = Pane::ORDER.iter().position(|p| *p == pane).unwrap_or(0);
    Pane::ORDER[(i + step) % Pane::ORDER.len()]
}

fn select_host(state: &mut State, index: usize) {
    let last = state.hosts.len().saturating_sub(1);
    let index = index.min(last);
    if index != state.selected_host {
        state.selected_host = index;
        // Cursors point into the previous host's rows.
        state.service_cursor = 0;
        state.flake_cursor = 0;
    }
}

#[derive(Clone, Copy)]
enum Move {
    By(isize),
    Page(isize),
    Start,
    End,
}

/// Moves the cursor of the focused pane, clamped to its rows.
fn move_cursor(state: &mut State, how: Move) {
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
        Pane::Hosts => select_host(state, target(state.selected_host, state.hosts.len())),
        Pane::Services => {
            let len = state.selected().map_or(0, |h| h.services.len());
            state.service_cursor = target(state.service_cursor, len);
        }
        Pane::Flake => {
            // Rows arrive with the flake check; until then there is one placeholder row.
            state.flake_cursor = target(state.flake_cursor, 1);
        }
        Pane::Log => {
            // The log scrolls from the bottom: "up" shows older lines.
            let max_back = state.log.len().saturating_sub(page);
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::Job;
    use crate::config::{parse, FoundBy};
    use crossterm::event::{KeyCode, KeyModifiers};
    use std::path::Path;

    fn state(hosts: usize) -> State {
        let mut text = String::new();
        for i in 0..hosts {
            text.push_str(&format!(
                "[[hosts]]\nname = \"h{i}\"\ntarget = \"me@h{i}\"\nservices = [\"nginx\", \"app\", \"db\"]\n"
            ));
        }
        State::new(parse(&text, Path::new("/t/deploytui.toml"), FoundBy::Flag).unwrap())
    }

    fn key(s: &mut State, code: KeyCode) -> Vec<Effect> {
        update(s, Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
    }

    fn ch(s: &mut State, c: char) -> Vec<Effect> {
        key(s, KeyCode::Char(c))
    }

    #[test]
    fn q_quits_when_idle() {
        let mut s = state(1);
        assert_eq!(ch(&mut s, 'q'), vec![Effect::Quit]);
        assert!(s.quitting);
    }

    #[test]
    fn ctrl_c_quits() {
        let mut s = state(1);
        let fx = update(
            &mut s,
            Msg::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
        );
        assert_eq!(fx, vec![Effect::Quit]);
    }

    #[test]
    fn quit_while_a_job_runs_asks_first() {
        let mut s = state(1);
        s.jobs.insert(
            7,
            Job {
                host: "h0".into(),
                what: "deploy".into(),
            },
        );
        assert!(ch(&mut s, 'q').is_empty());
        assert_eq!(s.overlay, Some(Overlay::ConfirmQuit));
        assert!(!s.quitting);
        // n keeps running.
        assert!(ch(&mut s, 'n').is_empty());
        assert_eq!(s.overlay, None);
        // Ask again and confirm.
        ch(&mut s, 'q');
        assert_eq!(ch(&mut s, 'y'), vec![Effect::Quit]);
    }

    #[test]
    fn confirm_dialog_ignores_other_keys_and_esc_cancels() {
        let mut s = state(2);
        s.jobs.insert(
            1,
            Job {
                host: "h0".into(),
                what: "restart nginx.service".into(),
            },
        );
        ch(&mut s, 'q');
        assert!(ch(&mut s, 'j').is_empty());
        assert_eq!(
            s.selected_host, 0,
            "keys do not reach the panes behind the dialog"
        );
        assert_eq!(s.overlay, Some(Overlay::ConfirmQuit));
        key(&mut s, KeyCode::Esc);
        assert_eq!(s.overlay, None);
    }

    #[test]
    fn job_ending_while_confirming_quits() {
        let mut s = state(1);
        s.jobs.insert(
            3,
            Job {
                host: "h0".into(),
                what: "deploy".into(),
            },
        );
        ch(&mut s, 'q');
        let fx = update(
            &mut s,
            Msg::JobFinished {
                id: 3,
                outcome: Ok("switched".into()),
            },
        );
        assert_eq!(fx, vec![Effect::Quit]);
        assert!(s
            .log
            .raw_line(s.log.len() - 1)
            .unwrap()
            .contains("h0: deploy done: switched"));
    }

    #[test]
    fn finished_job_is_logged_and_noticed() {
        let mut s = state(1);
        s.jobs.insert(
            1,
            Job {
                host: "h0".into(),
                what: "restart app.service".into(),
            },
        );
        update(
            &mut s,
            Msg::JobFinished {
                id: 1,
                outcome: Err("exit 1".into()),
            },
        );
        assert!(s.jobs.is_empty());
        assert_eq!(
            s.notice.as_deref(),
            Some("h0: restart app.service failed: exit 1")
        );
    }

    #[test]
    fn help_opens_scrolls_and_closes() {
        let mut s = state(1);
        ch(&mut s, '?');
        assert_eq!(s.overlay, Some(Overlay::Help { scroll: 0 }));
        ch(&mut s, 'j');
        ch(&mut s, 'j');
        assert_eq!(s.overlay, Some(Overlay::Help { scroll: 2 }));
        assert_eq!(s.selected_host, 0, "help takes the keys");
        key(&mut s, KeyCode::Esc);
        assert_eq!(s.overlay, None);
        ch(&mut s, '?');
        ch(&mut s, '?');
        assert_eq!(s.overlay, None, "? toggles");
        ch(&mut s, '?');
        assert_eq!(ch(&mut s, 'q'), vec![Effect::Quit], "q quits from help");
    }

    #[test]
    fn tab_cycles_focus_both_ways() {
        let mut s = state(1);
        let mut seen = vec![s.focus];
        for _ in 0..4 {
            key(&mut s, KeyCode::Tab);
            seen.push(s.focus);
        }
        assert_eq!(
            seen,
            vec![
                Pane::Hosts,
                Pane::Services,
                Pane::Flake,
                Pane::Log,
                Pane::Hosts
            ]
        );
        update(
            &mut s,
            Msg::Key(KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT)),
        );
        assert_eq!(s.focus, Pane::Log);
    }

    #[test]
    fn arrows_and_jk_move_within_the_focused_pane() {
        let mut s = state(3);
        ch(&mut s, 'j');
        key(&mut s, KeyCode::Down);
        assert_eq!(s.selected_host, 2);
        ch(&mut s, 'j');
        assert_eq!(s.selected_host, 2, "clamped at the end");
        key(&mut s, KeyCode::Up);
        assert_eq!(s.selected_host, 1);
        ch(&mut s, 'g');
        assert_eq!(s.selected_host, 0);
        update(
            &mut s,
            Msg::Key(KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT)),
        );
        assert_eq!(s.selected_host, 2);

        key(&mut s, KeyCode::Tab); // services
        ch(&mut s, 'j');
        ch(&mut s, 'j');
        ch(&mut s, 'j');
        assert_eq!(s.service_cursor, 2);
        assert_eq!(s.selected_host, 2, "moving in services keeps the host");
        ch(&mut s, '[');
        assert_eq!(
            s.selected_host, 1,
            "[ selects the previous host from any pane"
        );
        assert_eq!(
            s.service_cursor, 0,
            "a new host starts at its first service"
        );
    }

    #[test]
    fn log_scrolls_back_and_follow_resumes() {
        let mut s = state(1);
        for i in 0..100 {
            update(&mut s, Msg::Log(format!("line {i}")));
        }
        s.log_page = 10;
        s.focus = Pane::Log;
        ch(&mut s, 'k');
        assert_eq!(
            s.log_view,
            crate::app::LogView {
                from_bottom: 1,
                follow: false
            }
        );
        // New lines while scrolled up keep the view still.
        update(&mut s, Msg::Log("new".into()));
        assert_eq!(s.log_view.from_bottom, 2);
        key(&mut s, KeyCode::PageUp);
        assert_eq!(s.log_view.from_bottom, 12);
        ch(&mut s, 'g');
        assert_eq!(s.log_view.from_bottom, s.log.len() - 10);
        ch(&mut s, 'f');
        assert_eq!(
            s.log_view,
            crate::app::LogView {
                from_bottom: 0,
                follow: true
            }
        );
        ch(&mut s, 'k');
        update(
            &mut s,
            Msg::Key(KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT)),
        );
        assert!(s.log_view.follow, "G goes back to the end and follows");
    }

    #[test]
    fn follow_key_only_in_log_pane() {
        let mut s = state(1);
        ch(&mut s, 'f');
        assert!(s.log_view.follow);
        s.log_view.follow = true;
        assert_eq!(s.focus, Pane::Hosts);
    }

    #[test]
    fn key_release_is_ignored() {
        let mut s = state(1);
        let mut k = KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE);
        k.kind = KeyEventKind::Release;
        assert!(update(&mut s, Msg::Key(k)).is_empty());
        assert!(!s.quitting);
    }

    #[test]
    fn unbound_keys_do_nothing() {
        let mut s = state(2);
        for c in ['x', 'z', '1', ' '] {
            assert!(ch(&mut s, c).is_empty());
        }
        assert_eq!(
            (s.selected_host, s.focus, s.overlay.clone()),
            (0, Pane::Hosts, None)
        );
    }
}
