//! Service actions: ask, sudo password, run, and what came back; the journal.

use super::*;

pub(super) fn sudo_of(state: &State, host: usize) -> SudoMode {
    state
        .config
        .hosts
        .get(host)
        .map_or(SudoMode::None, |h| h.sudo)
}

/// `r`, `e`, `s`, `x` on a service: ask first, showing the exact command.
pub(super) fn ask_unit_action(state: &mut State, action: UnitAction) {
    let host = state.selected_host;
    let Some(unit) = state.selected_unit().map(str::to_string) else {
        state.notice = Some("no service selected: add services = [...] to this host".into());
        return;
    };
    let argv = remote::privileged(sudo_of(state, host), &action.argv(&unit));
    state.overlay = Some(Overlay::Confirm(PendingAction {
        host,
        unit,
        action,
        command: remote::display_command(&argv),
    }));
}

/// After the user's yes: run it, or ask for the sudo password first.
pub(super) fn confirmed(state: &mut State, pending: NeedsSudo) -> Vec<Effect> {
    let host = pending.host();
    let needs_password = sudo_of(state, host) == SudoMode::Password;
    match state.passwords.get(&host).cloned() {
        None if needs_password => {
            state.overlay = Some(password_prompt(pending, None));
            Vec::new()
        }
        password => run_sudo(state, pending, password),
    }
}

/// Runs what waited for sudo.
fn run_sudo(state: &mut State, pending: NeedsSudo, password: Option<Secret>) -> Vec<Effect> {
    match pending {
        NeedsSudo::Unit(p) => run_action(state, p, password),
        NeedsSudo::Deploy(plan) => {
            let mut effects = super::deploys::start_deploy(state, *plan, password);
            // Several hosts said yes to at once: on to the next.
            if !matches!(state.overlay, Some(Overlay::Password(_))) {
                effects.extend(super::deploys::continue_deploys(state));
            }
            effects
        }
    }
}

pub(super) fn password_prompt(pending: NeedsSudo, error: Option<String>) -> Overlay {
    Overlay::Password(Box::new(PasswordPrompt {
        pending,
        input: fresh_input(),
        // Kept in memory only when the user asks for it (Tab).
        remember: false,
        error,
    }))
}

pub(super) fn run_action(
    state: &mut State,
    pending: PendingAction,
    password: Option<Secret>,
) -> Vec<Effect> {
    state.overlay = None;
    let id = state.new_id();
    let host_name = state
        .hosts
        .get(pending.host)
        .map(|h| h.name.clone())
        .unwrap_or_default();
    let what = format!("{} {}", pending.action.verb(), pending.unit);
    activity(
        state,
        format!("{host_name}: {what}: running {}", pending.command),
    );
    // Replaces whatever the last attempt said ("wrong sudo password").
    state.notice = Some(format!("{host_name}: {what}: running…"));
    state.jobs.insert(
        id,
        Job {
            host: host_name,
            what,
        },
    );
    let argv = remote::privileged(
        sudo_of(state, pending.host),
        &pending.action.argv(&pending.unit),
    );
    state.pending_actions.insert(id, pending.clone());
    vec![Effect::UnitAction {
        id,
        host: pending.host,
        argv,
        password,
    }]
}

pub(super) fn on_action_done(
    state: &mut State,
    id: u64,
    result: Result<remote::CommandOutput, RemoteError>,
) -> Vec<Effect> {
    let Some(pending) = state.pending_actions.remove(&id) else {
        return Vec::new();
    };
    let job = state.jobs.remove(&id);
    let label = job
        .map(|j| format!("{}: {}", j.host, j.what))
        .unwrap_or_default();
    match result {
        Ok(out) if remote::is_wrong_password(&out) => {
            state.passwords.remove(&pending.host);
            activity(state, format!("{label}: wrong sudo password"));
            state.notice = Some("wrong sudo password".into());
            if state.waiting_to_quit() {
                return quit_if_waiting(state);
            }
            state.overlay = Some(password_prompt(
                NeedsSudo::Unit(pending),
                Some("wrong sudo password, try again".into()),
            ));
            Vec::new()
        }
        Ok(out) => {
            let stderr = out.stderr.trim();
            let line = if out.success() {
                format!("{label}: done")
            } else {
                let code = out
                    .code
                    .map_or("a signal".to_string(), |c| format!("exit {c}"));
                format!(
                    "{label}: failed ({code}){}{stderr}",
                    if stderr.is_empty() { "" } else { ": " }
                )
            };
            if out.success() && !stderr.is_empty() {
                activity(state, format!("{label}: {stderr}"));
            }
            state.notice = Some(line.clone());
            activity(state, line);
            after_action(state, pending.host)
        }
        Err(e) => {
            let line = format!("{label}: could not run: {e}");
            state.notice = Some(line.clone());
            activity(state, line);
            after_action(state, pending.host)
        }
    }
}

/// Show the service's new state now and again a moment later.
pub(super) fn after_action(state: &mut State, host: usize) -> Vec<Effect> {
    let mut effects = quit_if_waiting(state);
    if effects.is_empty() {
        effects.extend(probe(state, host));
        effects.push(Effect::Later {
            after: RECHECK_AFTER,
            msg: DelayedMsg::ProbeDue { host },
        });
        // What the host serves now, once the service had a moment to listen.
        if state.deploys.get(&host).is_some_and(|d| d.served.is_some()) {
            effects.push(Effect::Later {
                after: RECHECK_AFTER,
                msg: DelayedMsg::HttpCheckDue { host },
            });
        }
    }
    effects
}

pub(super) fn on_password_key(
    state: &mut State,
    mut prompt: Box<PasswordPrompt>,
    key: KeyEvent,
) -> Vec<Effect> {
    match state.config.keymap.action_for(&key, Scope::Password) {
        Some(Action::PasswordCancel) => {
            state.notice = Some(format!("{}: cancelled", prompt.pending.what()));
            if matches!(prompt.pending, NeedsSudo::Deploy(_)) {
                let rest: Vec<String> = std::mem::take(&mut state.deploy_queue)
                    .into_iter()
                    .map(|p| p.host_name)
                    .collect();
                if !rest.is_empty() {
                    state.notice = Some(format!(
                        "{}: cancelled, and with it the deploys of {}",
                        prompt.pending.what(),
                        rest.join(", ")
                    ));
                }
            }
            clear(&mut prompt.input);
            state.overlay = None;
            Vec::new()
        }
        Some(Action::PasswordSend) => {
            let mut lines = std::mem::take(&mut prompt.input).into_lines();
            let password = Secret::new(lines.concat());
            lines.iter_mut().for_each(Zeroize::zeroize);
            if password.expose().is_empty() {
                prompt.error = Some("the password is empty".into());
                prompt.input = fresh_input();
                state.overlay = Some(Overlay::Password(prompt));
                return Vec::new();
            }
            if prompt.remember {
                state
                    .passwords
                    .insert(prompt.pending.host(), password.clone());
            }
            run_sudo(state, prompt.pending, Some(password))
        }
        Some(Action::PasswordRemember) => {
            prompt.remember = !prompt.remember;
            state.overlay = Some(Overlay::Password(prompt));
            Vec::new()
        }
        _ => {
            prompt.input.input(key);
            state.overlay = Some(Overlay::Password(prompt));
            Vec::new()
        }
    }
}

/// A masked, empty input with no undo history (it would keep copies of what was typed).
pub(super) fn fresh_input() -> TextArea<'static> {
    let mut input = TextArea::default();
    input.set_mask_char('•');
    input.set_max_histories(0);
    input
}

pub(super) fn clear(input: &mut TextArea<'static>) {
    let mut lines = std::mem::take(input).into_lines();
    lines.iter_mut().for_each(Zeroize::zeroize);
    *input = fresh_input();
}

pub(super) fn follow_journal(state: &mut State) -> Vec<Effect> {
    let host = state.selected_host;
    let Some(unit) = state.selected_unit().map(str::to_string) else {
        state.notice = Some("no service selected".into());
        return Vec::new();
    };
    follow_journal_of(state, host, unit)
}

/// Follows `unit`'s journal on `host` in the log pane (a unit name that
/// was checked: it reaches a command).
pub(super) fn follow_journal_of(state: &mut State, host: usize, unit: String) -> Vec<Effect> {
    let mut effects = stop_journal(state, "another journal was opened");
    let id = state.new_id();
    let argv = remote::until_stdin_closes(&[
        "journalctl".to_string(),
        "-u".into(),
        unit.clone(),
        "-f".into(),
        "-n".into(),
        JOURNAL_BACKLOG.to_string(),
        "--no-pager".into(),
        // A line with bytes journald deems unprintable is shown whole, not
        // as "[N blob data]": deploytui escapes what it cannot print.
        "--all".into(),
    ]);
    state.journal = Some(Journal {
        id,
        host,
        unit,
        lines: LogBuf::new(),
        ended: None,
    });
    state.log_view = crate::app::LogView::at_end(state.log_view.wrap);
    state.focus = Pane::Log;
    effects.push(Effect::Follow { id, host, argv });
    effects
}

/// Stops a running follow; its lines stay on screen, marked stopped.
pub(super) fn stop_journal(state: &mut State, why: &str) -> Vec<Effect> {
    match state.journal.as_mut() {
        Some(j) if j.ended.is_none() => {
            j.ended = Some(why.to_string());
            vec![Effect::StopFollow { id: j.id }]
        }
        _ => Vec::new(),
    }
}

/// Following one unit's journal while another is selected would mislead.
pub(super) fn stop_journal_if_moved_away(state: &mut State) -> Vec<Effect> {
    let selected = (
        state.selected_host,
        state.selected_unit().map(str::to_string),
    );
    match &state.journal {
        Some(j) if j.ended.is_none() && (j.host, Some(j.unit.clone())) != selected => {
            stop_journal(state, "another unit was selected")
        }
        _ => Vec::new(),
    }
}
