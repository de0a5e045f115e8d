//! `update`: the only place the state changes. Pure and synchronous, so every
//! rule is tested without a terminal, a network or a clock.

use std::time::{Duration, SystemTime};

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind};
use tui_textarea::TextArea;
use zeroize::Zeroize;

use super::{
    DelayedMsg, Effect, FileCommit, FlakeStatus, HostStatus, Job, Journal, LockDiff, LockUpdate,
    Msg, NeedsSudo, Overlay, Pane, PasswordPrompt, PendingAction, Probed, State, UnitAction,
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
    // Lines for the log (the most frequent messages) change no pane's size.
    let relayout = !matches!(
        msg,
        Msg::FollowLine { .. }
            | Msg::Log(_)
            | Msg::Deploy {
                event: crate::deploy::Event::Output(..) | crate::deploy::Event::Nix(..),
                ..
            }
    );
    let effects = apply(state, msg);
    // Panes are sized by their content: the log's size follows the rest.
    if relayout {
        let (width, height) = state.screen;
        (state.log_page, state.log_width) = crate::ui::layout::log_size(width, height, state);
    }
    effects
}

fn apply(state: &mut State, msg: Msg) -> Vec<Effect> {
    match msg {
        Msg::Key(key) => on_key(state, key),
        Msg::Resize { width, height } => {
            state.screen = (width, height);
            state.too_small = crate::ui::too_small_for(width, height);
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
        Msg::RelativeSiteFound(result) => {
            on_relative_site(state, result);
            Vec::new()
        }
        Msg::Deploy { id, event } => {
            on_deploy_event(state, id, event);
            Vec::new()
        }
        Msg::DeployEnded { id, ok } => on_deploy_ended(state, id, ok),
        Msg::HistoryListed(records) => {
            on_history_listed(state, records);
            Vec::new()
        }
        Msg::HistoryLoaded { title, result } => {
            on_history_loaded(state, title, result);
            Vec::new()
        }
        Msg::Log(line) => {
            activity(state, line);
            Vec::new()
        }
        Msg::Terminated(signal) => deploys::on_terminated(state, signal),
        Msg::Warn(line) => {
            activity(state, line.clone());
            state.notice = Some(line);
            Vec::new()
        }
        Msg::JobFinished { id, outcome } => {
            if let Some(job) = state.jobs.remove(&id) {
                let ok = outcome.is_ok();
                let line = match outcome {
                    Ok(summary) => format!("{}: {} done: {summary}", job.host, job.what),
                    Err(error) => format!("{}: {} failed: {error}", job.host, job.what),
                };
                state.notice = Some(line.clone());
                activity(state, line);
                // A hash fix's commit: the deploy it was asked before, now
                // (said shortly: the question's line must fit the status bar).
                match state.deploy_after_commit.take() {
                    Some((job_id, plan)) if job_id == id && ok => {
                        offer_deploy_after(state, plan, format!("{} done", job.what));
                    }
                    Some((job_id, _)) if job_id == id => {}
                    other => state.deploy_after_commit = other,
                }
            }
            quit_if_waiting(state)
        }
        Msg::ProbeDue { host } => probe(state, host),
        Msg::HttpCheckDue { host } => http_check(state, host),
        Msg::HttpChecked { host, served } => on_http_checked(state, host, served),
        Msg::HashSitesFound { host, repo, result } => on_hash_sites(state, host, repo, result),
        Msg::GenerationsRead { host, result } => on_generations(state, host, result),
        Msg::HashWritten {
            host,
            repo,
            site,
            fix,
            result,
        } => on_hash_written(state, host, repo, site, fix, result),
        Msg::HashLearned {
            host,
            repo,
            blanked,
            result,
        } => on_hash_learned(state, host, repo, blanked, result),
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

/// A key that answers nothing: the question stays open and names its answers.
fn still_asking(state: &mut State, question: Overlay) -> Vec<Effect> {
    state.overlay = Some(question);
    state.notice = Some(super::modes::dialog_reason(state));
    Vec::new()
}

/// The choice after (`NextChoice`) or before `at` among `n`, round.
fn cycle(at: usize, n: usize, step: Action) -> usize {
    let n = n.max(1);
    if step == Action::NextChoice {
        (at + 1) % n
    } else {
        (at + n - 1) % n
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
    recheck_diagnoses(state, host);
    if state.refreshing.remove(&host) && state.refreshing.is_empty() {
        let up = state
            .hosts
            .iter()
            .filter(|h| matches!(h.status, HostStatus::Up(_)))
            .count();
        state.notice = Some(format!(
            "refreshed: {up} of {} up",
            crate::text::count(state.hosts.len() as u64, "host", "hosts")
        ));
    }
    if queued {
        probe(state, host)
    } else {
        Vec::new()
    }
}

mod deploys;
mod fixes;
mod flake;
mod keys;
mod services;

use deploys::*;
use fixes::*;
use flake::*;
use keys::*;
use services::*;

#[cfg(test)]
mod tests;
