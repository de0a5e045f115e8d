//! Flake checks every tick, lock updates and commits.

use super::*;

/// Every host's flake is compared with git each tick (local git only, a few
/// milliseconds), so a commit shows up within a second.
pub(super) fn due_flake_checks(state: &mut State) -> Vec<Effect> {
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

pub(super) fn on_flake_checked(
    state: &mut State,
    host: usize,
    result: Result<FlakeReport, String>,
) {
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

/// The selected host's flake folder, and the input selected in its lock.
fn selected_input(state: &State) -> (Option<std::path::PathBuf>, Option<&check::InputReport>) {
    let flake_dir = state
        .selected_config()
        .and_then(|h| h.flake.as_ref())
        .map(|f| f.path.clone());
    let input = state
        .selected_flake()
        .and_then(|r| r.inputs.get(state.flake_cursor));
    (flake_dir, input)
}

/// `u` on an input: update its lock entry, after a yes.
pub(super) fn ask_lock_update(state: &mut State) {
    let host = state.selected_host;
    let (flake_dir, input) = selected_input(state);
    let Some(flake_dir) = flake_dir else {
        state.notice = Some("this host has no flake".into());
        return;
    };
    let Some(input) = input else {
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
        rewrite: None,
    }));
}

/// `p` on a self-referential input (nix 2.26+ here): the permanent fix of a
/// stale self-reference, the input as a path relative to the flake. The
/// line of flake.nix is found (a read, in the runtime), then shown as a diff
/// before anything is written; the lock is updated after it.
pub(super) fn ask_relative_input(state: &mut State) -> Vec<Effect> {
    // Why it cannot be done is said before this runs (modes::relative_blocked).
    let host = state.selected_host;
    let (Some(flake_dir), Some(input)) = selected_input(state) else {
        return Vec::new();
    };
    let (Some(relative), Some(repo)) = (check::relative_fix(input, &flake_dir), input.repo.clone())
    else {
        return Vec::new();
    };
    let name = input.locked.path.clone();
    let argv = check::update_input_argv(state.nix_version.unwrap_or((2, 26)), &name, &flake_dir);
    vec![Effect::FindRelativeSite {
        update: LockUpdate {
            host,
            input: name,
            flake_dir,
            argv,
            rewrite: None,
        },
        url: repo.display().to_string(),
        repo,
        relative,
    }]
}

pub(super) fn on_relative_site(state: &mut State, result: Result<LockUpdate, String>) {
    match result {
        Ok(update) => state.overlay = Some(Overlay::UpdateLock(update)),
        Err(e) => {
            state.notice = Some(e.clone());
            activity(state, format!("making the input relative: {e}"));
        }
    }
}

pub(super) fn on_lock_updated(
    state: &mut State,
    id: u64,
    result: Result<LockDiff, String>,
) -> Vec<Effect> {
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
                let lock_file = update.flake_dir.join("flake.lock");
                let (files, message) = match &update.rewrite {
                    Some(r) => (
                        vec![r.site.file.clone(), lock_file],
                        format!(
                            "{}: make input {} relative, so it follows this repository",
                            r.site.file.display(),
                            diff.input
                        ),
                    ),
                    None => (
                        vec![lock_file],
                        format!("flake.lock: update {} {old} -> {new}", diff.input),
                    ),
                };
                state.uncommitted = Some(FileCommit {
                    repo,
                    files,
                    message,
                    then_deploy: None,
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
