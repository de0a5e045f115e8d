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
        Some(
            Overlay::ConfirmQuit
            | Overlay::Confirm(_)
            | Overlay::UpdateLock(_)
            | Overlay::CommitLock(_),
        ) => Scope::Dialog,
    }
}

/// Why `action` does nothing in `mode` now; `None` when it acts.
pub fn unavailable(state: &State, mode: Scope, action: Action) -> Option<String> {
    match mode {
        Scope::Help => {
            return (!matches!(
                action,
                Action::Up
                    | Action::Down
                    | Action::PageUp
                    | Action::PageDown
                    | Action::Top
                    | Action::Help
                    | Action::Cancel
                    | Action::Quit
            ))
            .then(|| "the help is open: Esc closes it".into());
        }
        Scope::Dialog => {
            return (!matches!(action, Action::Confirm | Action::Cancel))
                .then(|| "answer the question first".into());
        }
        _ => {}
    }
    match action {
        Action::Up
        | Action::Down
        | Action::PageUp
        | Action::PageDown
        | Action::Top
        | Action::Bottom
            if rows_in_focus(state) < 2 =>
        {
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
        Action::CommitLock => state.uncommitted_lock.is_none().then(|| {
            format!(
                "no updated flake.lock to commit ({} updates an input first)",
                state.config.keymap.keys_of(Action::UpdateLock)
            )
        }),
        Action::CloseJournal => state.journal.is_none().then(|| {
            format!(
                "the log pane already shows the activity log ({} in the services pane follows a journal)",
                state.config.keymap.keys_of(Action::Journal)
            )
        }),
        Action::NextHost | Action::PrevHost => {
            (state.hosts.len() < 2).then(|| "there is only one host".into())
        }
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

/// Why `u` cannot update the input under the cursor, if it cannot.
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
    state
        .config
        .keymap
        .hints(mode, |a| unavailable(state, mode, a).is_none())
        .into_iter()
        .filter_map(|(key, label, action)| match (mode, action) {
            // In the help, Esc is the way out; `?` would say the same.
            (Scope::Help, Action::Help) => None,
            (Scope::Help, Action::Cancel) => Some((action, key, "close")),
            (Scope::Help, Action::Up) => Some((action, key, "scroll")),
            _ => Some((action, key, label)),
        })
        .collect()
}
