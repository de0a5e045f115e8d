//! `update`: the only place the state changes. Pure and synchronous, so every
//! rule is tested without a terminal, a network or a clock.

use std::time::{Duration, SystemTime};

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind};
use tui_textarea::TextArea;
use zeroize::Zeroize;

use super::{
    DelayedMsg, Effect, FlakeStatus, HostStatus, Job, Journal, LockCommit, LockDiff, LockUpdate,
    Msg, Overlay, Pane, PasswordPrompt, PendingAction, Probed, State, UnitAction,
};
use crate::config::SudoMode;
use crate::keymap::{Action, Scope};
use crate::logbuf::LogBuf;
use crate::nix::check::{self, FlakeReport, InputStatus};
use crate::remote::{self, RemoteError};
use crate::secret::Secret;

/// A second look after a service action, for units that take a moment to start.
const RECHECK_AFTER: Duration = Duration::from_secs(2);
/// Columns the log pane moves per left/right key.
const SCROLL_STEP: usize = 8;
/// Lines of journal shown before following.
const JOURNAL_BACKLOG: u32 = 50;

/// Applies one message and returns the effects the runtime must run.
pub fn update(state: &mut State, msg: Msg) -> Vec<Effect> {
    match msg {
        Msg::Key(key) => on_key(state, key),
        Msg::Resize {
            log_rows,
            too_small,
        } => {
            state.log_page = log_rows.max(1);
            state.too_small = too_small;
            Vec::new()
        }
        Msg::Tick(now) => {
            state.now = now;
            expire_notice(state);
            let mut effects = due_probes(state);
            effects.extend(due_flake_checks(state));
            effects
        }
        Msg::FlakeChecked { host, result } => {
            on_flake_checked(state, host, result);
            Vec::new()
        }
        Msg::NixVersion(v) => {
            state.nix_version = Some(v);
            Vec::new()
        }
        Msg::LockUpdated { id, result } => on_lock_updated(state, id, result),
        Msg::Log(line) => {
            activity(state, line);
            Vec::new()
        }
        Msg::JobFinished { id, outcome } => {
            if let Some(job) = state.jobs.remove(&id) {
                let line = match outcome {
                    Ok(summary) => format!("{}: {} done: {summary}", job.host, job.what),
                    Err(error) => format!("{}: {} failed: {error}", job.host, job.what),
                };
                state.notice = Some(line.clone());
                activity(state, line);
            }
            quit_if_waiting(state)
        }
        Msg::ProbeDue { host } => probe(state, host),
        Msg::ProbeDone { host, result, at } => on_probe_done(state, host, result, at),
        Msg::UnitActionDone { id, result } => on_action_done(state, id, result),
        Msg::FollowLine { id, line } => {
            let following = state
                .journal
                .as_mut()
                .filter(|j| j.id == id && j.ended.is_none());
            if let Some(journal) = following {
                journal.lines.push_bytes(&line);
                journal.lines.push_str("\n");
                keep_log_anchor(state, 1);
            }
            Vec::new()
        }
        Msg::FollowEnded { id, reason } => {
            if let Some(journal) = state
                .journal
                .as_mut()
                .filter(|j| j.id == id && j.ended.is_none())
            {
                journal.ended = Some(reason);
            }
            Vec::new()
        }
    }
}

/// Notices stay in the status bar this long (they are in the log for good).
const NOTICE_FOR: Duration = Duration::from_secs(10);

fn expire_notice(state: &mut State) {
    let now = state.now;
    match (&state.notice, &state.notice_seen) {
        (Some(n), Some((seen, at))) if n == seen => {
            if now.duration_since(*at).unwrap_or_default() >= NOTICE_FOR {
                state.notice = None;
                state.notice_seen = None;
            }
        }
        (Some(n), _) => state.notice_seen = Some((n.clone(), now)),
        (None, _) => state.notice_seen = None,
    }
}

/// Adds a line to the activity log.
fn activity(state: &mut State, line: String) {
    state.log.push_line(&line);
    if state.journal.is_none() {
        keep_log_anchor(state, 1);
    }
}

/// While the user has scrolled up, new lines must not move what they read.
fn keep_log_anchor(state: &mut State, added: usize) {
    if !state.log_view.follow {
        state.log_view.from_bottom += added;
    }
}

// ---- probes ---------------------------------------------------------------

/// Hosts whose refresh interval has passed get a probe.
fn due_probes(state: &mut State) -> Vec<Effect> {
    let interval = state.config.refresh;
    let now = state.now;
    let due: Vec<usize> = state
        .hosts
        .iter()
        .enumerate()
        .filter(|(_, h)| !h.probe.in_flight)
        .filter(|(_, h)| {
            h.probe
                .last_started
                .is_none_or(|t| now.duration_since(t).unwrap_or_default() >= interval)
        })
        .map(|(i, _)| i)
        .collect();
    due.into_iter().flat_map(|i| probe(state, i)).collect()
}

/// Starts a probe of `host`, or queues one behind the probe already running
/// (only the newest request matters, so one queued is enough).
fn probe(state: &mut State, host: usize) -> Vec<Effect> {
    let now = state.now;
    let Some(h) = state.hosts.get_mut(host) else {
        return Vec::new();
    };
    if h.probe.in_flight {
        h.probe.queued = true;
        return Vec::new();
    }
    h.probe.in_flight = true;
    h.probe.last_started = Some(now);
    vec![Effect::Probe {
        host,
        units: h.services.clone(),
    }]
}

fn on_probe_done(
    state: &mut State,
    host: usize,
    result: Result<(crate::probe::HostProbe, Duration), RemoteError>,
    at: SystemTime,
) -> Vec<Effect> {
    let Some(h) = state.hosts.get_mut(host) else {
        return Vec::new();
    };
    h.probe.in_flight = false;
    let name = h.name.clone();
    let was_up = matches!(h.status, HostStatus::Up(_));
    let mut lines = Vec::new();
    match result {
        Ok((probe, latency)) => {
            // A warning the last probe gave too is on screen already: the
            // log gets what changed, not the same lines every refresh.
            let before = match &h.status {
                HostStatus::Up(p) => p.probe.warnings.as_slice(),
                _ => &[],
            };
            for w in probe.warnings.iter().filter(|w| !before.contains(w)) {
                lines.push(format!("{name}: probe: {w}"));
            }
            if !was_up {
                lines.push(format!("{name}: up ({} ms)", latency.as_millis()));
            }
            h.status = HostStatus::Up(Box::new(Probed { probe, latency, at }));
        }
        Err(e) => {
            let timed_out = matches!(e, RemoteError::TimedOut { .. });
            let (reason, manual) = match e {
                RemoteError::Connect { reason, manual } => (reason, Some(manual)),
                RemoteError::Run(reason) => (reason, None),
                e @ RemoteError::TimedOut { .. } => (e.to_string(), None),
            };
            let changed = was_up
                || !matches!(&h.status, HostStatus::Unreachable { reason: r, .. } if *r == reason);
            let (since, last_good) = match std::mem::replace(&mut h.status, HostStatus::NotProbed) {
                HostStatus::Up(p) => (at, Some(p)),
                HostStatus::Unreachable {
                    since, last_good, ..
                } => (since, last_good),
                HostStatus::NotProbed => (at, None),
            };
            if changed {
                let what = if timed_out {
                    "not answering"
                } else {
                    "unreachable"
                };
                lines.push(format!("{name}: {what}: {reason}"));
                if let Some(m) = &manual {
                    lines.push(format!("{name}: to see why, run: {m}"));
                }
            }
            h.status = HostStatus::Unreachable {
                reason,
                manual,
                timed_out,
                since,
                last_good,
            };
        }
    }
    let queued = std::mem::take(&mut h.probe.queued);
    for line in lines {
        activity(state, line);
    }
    if queued {
        probe(state, host)
    } else {
        Vec::new()
    }
}

// ---- service actions --------------------------------------------------------

fn sudo_of(state: &State, host: usize) -> SudoMode {
    state
        .config
        .hosts
        .get(host)
        .map_or(SudoMode::None, |h| h.sudo)
}

/// `r`, `e`, `s`, `x` on a service: ask first, showing the exact command.
fn ask_unit_action(state: &mut State, action: UnitAction) {
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
fn confirmed(state: &mut State, pending: PendingAction) -> Vec<Effect> {
    let needs_password = sudo_of(state, pending.host) == SudoMode::Password;
    match state.passwords.get(&pending.host).cloned() {
        None if needs_password => {
            state.overlay = Some(password_prompt(pending, None));
            Vec::new()
        }
        password => run_action(state, pending, password),
    }
}

fn password_prompt(pending: PendingAction, error: Option<String>) -> Overlay {
    Overlay::Password(Box::new(PasswordPrompt {
        pending,
        input: fresh_input(),
        // Kept in memory only when the user asks for it (Tab).
        remember: false,
        error,
    }))
}

fn run_action(state: &mut State, pending: PendingAction, password: Option<Secret>) -> Vec<Effect> {
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

fn on_action_done(
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
            if state.quitting || matches!(state.overlay, Some(Overlay::ConfirmQuit)) {
                return quit_if_waiting(state);
            }
            state.overlay = Some(password_prompt(
                pending,
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
fn after_action(state: &mut State, host: usize) -> Vec<Effect> {
    let mut effects = quit_if_waiting(state);
    if effects.is_empty() {
        effects.extend(probe(state, host));
        effects.push(Effect::Later {
            after: RECHECK_AFTER,
            msg: DelayedMsg::ProbeDue { host },
        });
    }
    effects
}

fn on_password_key(
    state: &mut State,
    mut prompt: Box<PasswordPrompt>,
    key: KeyEvent,
) -> Vec<Effect> {
    match key.code {
        KeyCode::Esc => {
            state.notice = Some(format!(
                "{} of {} cancelled",
                prompt.pending.action.verb(),
                prompt.pending.unit
            ));
            clear(&mut prompt.input);
            state.overlay = None;
            Vec::new()
        }
        KeyCode::Enter => {
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
                    .insert(prompt.pending.host, password.clone());
            }
            run_action(state, prompt.pending, Some(password))
        }
        KeyCode::Tab => {
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
fn fresh_input() -> TextArea<'static> {
    let mut input = TextArea::default();
    input.set_mask_char('•');
    input.set_max_histories(0);
    input
}

fn clear(input: &mut TextArea<'static>) {
    let mut lines = std::mem::take(input).into_lines();
    lines.iter_mut().for_each(Zeroize::zeroize);
    *input = fresh_input();
}

// ---- journal ----------------------------------------------------------------

fn follow_journal(state: &mut State) -> Vec<Effect> {
    let host = state.selected_host;
    let Some(unit) = state.selected_unit().map(str::to_string) else {
        state.notice = Some("no service selected".into());
        return Vec::new();
    };
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
    ]);
    state.journal = Some(Journal {
        id,
        host,
        unit,
        lines: LogBuf::new(),
        ended: None,
    });
    state.log_view = super::LogView {
        from_bottom: 0,
        follow: true,
        x: 0,
    };
    state.focus = Pane::Log;
    effects.push(Effect::Follow { id, host, argv });
    effects
}

/// Stops a running follow; its lines stay on screen, marked stopped.
fn stop_journal(state: &mut State, why: &str) -> Vec<Effect> {
    match state.journal.as_mut() {
        Some(j) if j.ended.is_none() => {
            j.ended = Some(why.to_string());
            vec![Effect::StopFollow { id: j.id }]
        }
        _ => Vec::new(),
    }
}

/// Following one unit's journal while another is selected would mislead.
fn stop_journal_if_moved_away(state: &mut State) -> Vec<Effect> {
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

// ---- flake --------------------------------------------------------------------

/// Every host's flake is compared with git each tick (local git only, a few
/// milliseconds), so a commit shows up within a second.
fn due_flake_checks(state: &mut State) -> Vec<Effect> {
    let mut effects = Vec::new();
    for (i, host) in state.hosts.iter_mut().enumerate() {
        let Some(flake) = state.config.hosts.get(i).and_then(|h| h.flake.clone()) else {
            continue;
        };
        if host.flake_in_flight {
            continue;
        }
        host.flake_in_flight = true;
        let running_rev = host
            .probed()
            .and_then(|p| p.probe.configuration_revision.clone())
            .filter(|r| r.len() >= 7 && r.chars().all(|c| c.is_ascii_hexdigit()));
        let previous = match &host.flake {
            FlakeStatus::Checked(report) => Some(report.clone()),
            _ => None,
        };
        effects.push(Effect::CheckFlake {
            host: i,
            flake,
            running_rev,
            previous,
        });
    }
    effects
}

fn on_flake_checked(state: &mut State, host: usize, result: Result<FlakeReport, String>) {
    let Some(h) = state.hosts.get_mut(host) else {
        return;
    };
    h.flake_in_flight = false;
    let name = h.name.clone();
    let before: Vec<(String, InputStatus)> = match &h.flake {
        FlakeStatus::Checked(r) => r
            .inputs
            .iter()
            .map(|i| (i.locked.path.clone(), i.status))
            .collect(),
        _ => Vec::new(),
    };
    let mut lines = Vec::new();
    match result {
        Ok(report) => {
            // Say so when an input turns stale or current, not every second.
            for input in &report.inputs {
                let was = before
                    .iter()
                    .find(|(p, _)| *p == input.locked.path)
                    .map(|(_, s)| *s);
                if was == Some(input.status) || (was.is_none() && !input.status.is_problem()) {
                    continue;
                }
                let revs = match (&input.locked.rev, &input.head) {
                    (Some(locked), Some(head)) if input.status.is_problem() => format!(
                        " (locked {}, HEAD {})",
                        check::short_rev(locked),
                        check::short_rev(head)
                    ),
                    _ => String::new(),
                };
                let line = format!(
                    "{name}: input {}: {}{revs}",
                    input.locked.path,
                    check::summary(input, false)
                );
                lines.push(line);
            }
            h.flake = FlakeStatus::Checked(Box::new(report));
        }
        Err(e) => {
            if h.flake != FlakeStatus::Failed(e.clone()) {
                lines.push(format!("{name}: flake.lock: {e}"));
            }
            h.flake = FlakeStatus::Failed(e);
        }
    }
    for line in lines {
        activity(state, line);
    }
}

/// `u` on an input: update its lock entry, after a yes.
fn ask_lock_update(state: &mut State) {
    let host = state.selected_host;
    let Some(flake_dir) = state
        .selected_config()
        .and_then(|h| h.flake.as_ref())
        .map(|f| f.path.clone())
    else {
        state.notice = Some("this host has no flake".into());
        return;
    };
    let Some(input) = state
        .selected_flake()
        .and_then(|r| r.inputs.get(state.flake_cursor))
    else {
        state.notice = Some("no input selected (the flake is not checked yet)".into());
        return;
    };
    if input.locked.follows.is_some() || input.locked.path.contains('/') {
        state.notice = Some(format!(
            "{} is not a top-level input of this flake; update the one it comes from",
            input.locked.path
        ));
        return;
    }
    let name = input.locked.path.clone();
    let argv = check::update_input_argv(state.nix_version.unwrap_or((2, 8)), &name, &flake_dir);
    state.overlay = Some(Overlay::UpdateLock(LockUpdate {
        host,
        input: name,
        flake_dir,
        argv,
    }));
}

fn on_lock_updated(state: &mut State, id: u64, result: Result<LockDiff, String>) -> Vec<Effect> {
    let host = state.jobs.remove(&id).map(|j| j.host).unwrap_or_default();
    let Some(update) = state.pending_locks.remove(&id) else {
        return quit_if_waiting(state);
    };
    match result {
        Ok(diff) => {
            let (old, new) = (&diff.old, &diff.new);
            if !diff.changed {
                let line = format!("{host}: {} was already locked at {old}", diff.input);
                state.notice = Some(line.clone());
                activity(state, line);
            } else {
                let line = format!("{host}: flake.lock: {} {old} → {new}", diff.input);
                activity(state, line.clone());
                let commit = state.config.keymap.keys_of(Action::CommitLock);
                state.notice = Some(format!("{line} ({commit} commits flake.lock)"));
                let repo = match state.hosts.get(update.host).map(|h| &h.flake) {
                    Some(FlakeStatus::Checked(r)) => r.repo.clone(),
                    _ => None,
                }
                .unwrap_or_else(|| update.flake_dir.clone());
                state.uncommitted_lock = Some(LockCommit {
                    repo,
                    lock_file: update.flake_dir.join("flake.lock"),
                    message: format!("flake.lock: update {} {old} -> {new}", diff.input),
                });
            }
        }
        Err(e) => {
            let line = format!("{host}: updating flake.lock failed: {e}");
            state.notice = Some(line.clone());
            activity(state, line);
        }
    }
    quit_if_waiting(state)
}

// ---- keys -------------------------------------------------------------------

fn on_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    // Key releases (kitty protocol) would act twice.
    if key.kind == KeyEventKind::Release {
        return Vec::new();
    }
    // Behind "Terminal too small" only quitting works (and answering the
    // quit question, which that screen shows): nothing else is visible.
    if state.too_small && !matches!(state.overlay, Some(Overlay::ConfirmQuit)) {
        let quit = state.config.keymap.action_for(&key, Scope::Global) == Some(Action::Quit);
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
                Some(Action::Confirm) => confirmed(state, pending),
                Some(Action::Cancel) => {
                    state.notice = Some(format!(
                        "{} of {} cancelled",
                        pending.action.verb(),
                        pending.unit
                    ));
                    Vec::new()
                }
                _ => {
                    state.overlay = Some(Overlay::Confirm(pending));
                    Vec::new()
                }
            }
        }
        Some(Overlay::Password(prompt)) => on_password_key(state, prompt, key),
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
                _ => {
                    state.overlay = Some(Overlay::UpdateLock(update));
                    Vec::new()
                }
            }
        }
        Some(Overlay::CommitLock(commit)) => {
            match state.config.keymap.action_for(&key, Scope::Dialog) {
                Some(Action::Confirm) => {
                    let id = state.new_id();
                    state.uncommitted_lock = None;
                    state.jobs.insert(
                        id,
                        Job {
                            host: "git".into(),
                            what: format!("commit {}", commit.lock_file.display()),
                        },
                    );
                    vec![Effect::CommitLock { id, commit }]
                }
                Some(Action::Cancel) => Vec::new(),
                _ => {
                    state.overlay = Some(Overlay::CommitLock(commit));
                    Vec::new()
                }
            }
        }
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
    let scroll = match action {
        Some(Action::Help | Action::Cancel) => return Vec::new(),
        Some(Action::Quit) => return request_quit(state),
        Some(Action::Up) => scroll.saturating_sub(1),
        Some(Action::Down) => scroll + 1,
        Some(Action::PageUp) => scroll.saturating_sub(10),
        Some(Action::PageDown) => scroll + 10,
        Some(Action::Top) => 0,
        _ => scroll,
    };
    state.overlay = Some(Overlay::Help { scroll });
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
            state.notice = Some("refreshing every host".into());
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
            state.journal = None;
            state.log_view = super::LogView {
                from_bottom: 0,
                follow: true,
                x: 0,
            };
            return effects;
        }
        Action::ScrollLeft => state.log_view.x = state.log_view.x.saturating_sub(SCROLL_STEP),
        Action::ScrollRight => {
            // Not past the widest line on screen.
            let log = state.shown_log();
            let end = log.len().saturating_sub(state.log_view.from_bottom);
            let widest = log.widest(end.saturating_sub(state.log_page), state.log_page);
            state.log_view.x =
                (state.log_view.x + SCROLL_STEP).min(widest.saturating_sub(SCROLL_STEP));
        }
        Action::UpdateLock => ask_lock_update(state),
        Action::CommitLock => match state.uncommitted_lock.clone() {
            Some(commit) => state.overlay = Some(Overlay::CommitLock(commit)),
            None => {
                state.notice =
                    Some("no updated flake.lock to commit (u updates an input first)".into())
            }
        },
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

/// The user asked to quit and only waited for the running jobs.
fn quit_if_waiting(state: &mut State) -> Vec<Effect> {
    if matches!(state.overlay, Some(Overlay::ConfirmQuit)) && state.jobs.is_empty() {
        quit(state)
    } else {
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

fn select_host(state: &mut State, index: usize) -> Vec<Effect> {
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
enum Move {
    By(isize),
    Page(isize),
    Start,
    End,
}

/// Moves the cursor of the focused pane, clamped to its rows.
fn move_cursor(state: &mut State, how: Move) -> Vec<Effect> {
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

#[cfg(test)]
mod tests;
