//! Deploys from the TUI: `d` shows the plan, the answer starts it (after the
//! sudo password when the host needs one), and the runner's events fold
//! into the host's deploy, which the log pane and the hosts pane show.

use super::*;
use crate::app::JobId;
use crate::deploy::{Deploy, Plan, SwitchAction};

/// `d`: the plan of the selected host, or of every marked one, exactly,
/// before anything runs. Hosts that cannot be deployed now are named.
pub(super) fn ask_deploy(state: &mut State) {
    let hosts: Vec<usize> = if state.marked.is_empty() {
        vec![state.selected_host]
    } else {
        state.marked.iter().copied().collect()
    };
    let mut plans = Vec::new();
    let mut left_out = Vec::new();
    for host in hosts {
        match plan_for(state, host) {
            Some(Ok(plan)) => plans.push(plan),
            Some(Err(e)) => left_out.push(e),
            None => {}
        }
    }
    if !left_out.is_empty() {
        state.notice = Some(format!(
            "not deployed: {} (one deploy per host at a time)",
            left_out.join("; ")
        ));
    }
    if !plans.is_empty() {
        state.overlay = Some(Overlay::DeployPreview(plans));
    }
}

/// The plan `d` makes for `host`, or why it cannot deploy now (`None`: no
/// such host).
pub(super) fn plan_for(state: &State, host: usize) -> Option<Result<Plan, String>> {
    let (config, h) = (state.config.hosts.get(host)?, state.hosts.get(host)?);
    if let Some(d) = state.deploys.get(&host).filter(|d| !d.finished()) {
        return Some(Err(format!(
            "{} is deploying already ({})",
            h.name,
            d.verdict()
        )));
    }
    // The overrides the flake pane shows, so the deploy builds HEAD.
    let overrides = match &h.flake {
        FlakeStatus::Checked(r) => check::overrides(&config.override_inputs, r),
        _ => Vec::new(),
    };
    let action = crate::deploy::default_action(config);
    Some(Plan::new(host, config, action, overrides))
}

/// Keys in the preview: the answer, or another action (for every host).
pub(super) fn on_preview_key(
    state: &mut State,
    mut plans: Vec<Plan>,
    key: KeyEvent,
) -> Vec<Effect> {
    match state.config.keymap.action_for(&key, Scope::Dialog) {
        Some(Action::Confirm) => {
            state.marked.clear();
            start_plans(state, plans)
        }
        Some(Action::Cancel) => {
            let names: Vec<&str> = plans.iter().map(|p| p.host_name.as_str()).collect();
            state.notice = Some(format!("deploy of {} cancelled", names.join(", ")));
            Vec::new()
        }
        Some(Action::AddOverrides) => {
            let mut added = Vec::new();
            for plan in &mut plans {
                let more = state.overridable(plan);
                added.extend(
                    more.iter()
                        .map(|(name, _)| format!("{}: {name}", plan.host_name)),
                );
                plan.overrides.extend(more);
            }
            state.notice = Some(if added.is_empty() {
                "no stale input left that a local checkout can override".into()
            } else {
                format!(
                    "overridden with the local checkout, for this deploy: {}",
                    added.join(", ")
                )
            });
            state.overlay = Some(Overlay::DeployPreview(plans));
            Vec::new()
        }
        Some(step @ (Action::NextChoice | Action::PrevChoice)) => {
            let all = SwitchAction::ALL;
            let at = all
                .iter()
                .position(|a| Some(*a) == plans.first().map(|p| p.action))
                .unwrap_or(0);
            let next = cycle(at, all.len(), step);
            for plan in &mut plans {
                plan.action = all[next];
            }
            state.overlay = Some(Overlay::DeployPreview(plans));
            Vec::new()
        }
        _ => still_asking(state, Overlay::DeployPreview(plans)),
    }
}

/// Starts each plan in turn; one whose host needs a sudo password nobody
/// gave yet asks for it, and the rest wait in the queue until it is given.
pub(super) fn start_plans(state: &mut State, plans: Vec<Plan>) -> Vec<Effect> {
    state.deploy_queue = plans;
    continue_deploys(state)
}

/// Starts what is queued, up to the first deploy that needs a password.
pub(super) fn continue_deploys(state: &mut State) -> Vec<Effect> {
    let mut effects = Vec::new();
    while !state.deploy_queue.is_empty() {
        let plan = state.deploy_queue.remove(0);
        effects.extend(confirmed(state, NeedsSudo::Deploy(Box::new(plan))));
        if matches!(state.overlay, Some(Overlay::Password(_))) {
            break;
        }
    }
    effects
}

/// Starts the deploy: a job, the host's deploy state, the effect.
pub(super) fn start_deploy(state: &mut State, plan: Plan, password: Option<Secret>) -> Vec<Effect> {
    state.overlay = None;
    let id = state.new_id();
    let host = plan.host;
    activity(
        state,
        match &plan.rollback {
            Some(r) => format!(
                "{}: rollback to generation {} started",
                plan.host_name, r.to.number
            ),
            None => format!(
                "{}: deploy ({}) started",
                plan.host_name,
                plan.action.as_str()
            ),
        },
    );
    state.jobs.insert(
        id,
        Job {
            host: plan.host_name.clone(),
            what: format!("deploy ({})", plan.action.as_str()),
        },
    );
    state.deploy_jobs.insert(id, host);
    state
        .deploys
        .insert(host, Deploy::new(plan.clone(), state.now));
    // The log pane follows the deploy from its first line.
    state.show_deploy = true;
    state.log_view = crate::app::LogView::at_end(state.log_view.wrap);
    state.notice = Some(format!("{}: deploying…", plan.host_name));
    vec![Effect::Deploy {
        id,
        plan: Box::new(plan),
        password,
    }]
}

pub(super) fn on_deploy_event(state: &mut State, id: JobId, event: crate::deploy::Event) {
    let Some(host) = state.deploy_jobs.get(&id).copied() else {
        return;
    };
    let now = state.now;
    let shown = state.shown_deploy().is_some_and(|d| d.plan.host == host);
    let Some(deploy) = state.deploys.get_mut(&host) else {
        return;
    };
    if event == crate::deploy::Event::AwaitingYes {
        let name = state
            .hosts
            .get(host)
            .map(|h| h.name.clone())
            .unwrap_or_default();
        state.notice = Some(format!(
            "{name}: waiting for your yes before activating ({} answers)",
            state.config.keymap.keys_of(Action::AnswerActivation)
        ));
        // Asked at once, unless another question is open.
        if state.overlay.is_none() {
            state.selected_host = host;
            state.overlay = Some(Overlay::ConfirmActivation(host));
        }
    }
    let step_end = match &event {
        crate::deploy::Event::Finished(kind, result) => Some((*kind, result.is_err())),
        // Said as plainly as a failure: the user must look at the host.
        crate::deploy::Event::Unknown(kind, _) => Some((*kind, true)),
        _ => None,
    };
    let added = deploy.apply(event, now);
    let name = deploy.plan.host_name.clone();
    if let Some((kind, failed)) = step_end {
        let state_line = deploy
            .steps
            .iter()
            .find(|s| s.kind == kind)
            .map(|s| match &s.state {
                crate::deploy::StepState::Done(what) => {
                    format!("{name}: ✓ {}: {what}", kind.name())
                }
                crate::deploy::StepState::Failed(why) => {
                    format!("{name}: ✗ {}: {why}", kind.name())
                }
                crate::deploy::StepState::Unknown(why) => {
                    format!("{name}: ? {}: {why}", kind.name())
                }
                _ => String::new(),
            })
            .unwrap_or_default();
        if failed {
            // A wrong password is not kept for the next try.
            if state_line.contains("wrong sudo password") {
                state.passwords.remove(&host);
            }
            state.notice = Some(state_line.clone());
        }
        activity(state, state_line);
    }
    if shown {
        keep_log_anchor(state, added.len());
    }
}

pub(super) fn on_deploy_ended(state: &mut State, id: JobId, ok: bool) -> Vec<Effect> {
    state.jobs.remove(&id);
    let Some(host) = state.deploy_jobs.remove(&id) else {
        return quit_if_waiting(state);
    };
    let report = match state.hosts.get(host).map(|h| &h.flake) {
        Some(FlakeStatus::Checked(r)) => Some(r.clone()),
        _ => None,
    };
    let mut search = None;
    let unseen = state.waiting_to_quit();
    if let Some(d) = state.deploys.get_mut(&host) {
        if !d.finished() {
            // The runner stopped without a last word (cancelled, or gone).
            d.ended = Some(state.now);
        }
        let found = crate::deploy::diagnosis::diagnose(d, report.as_deref());
        // Where the stale hash is, looked for in the repository (files).
        if let Some((repo, stale)) = crate::deploy::diagnosis::hash_search(d, report.as_deref()) {
            search = Some(Effect::FindHashSites { host, repo, stale });
        }
        let mut line = format!("{}: deploy {}", d.plan.host_name, d.verdict());
        if let Some(first) = found.first() {
            // Never a silent success: the diagnosis is the news.
            line = format!("{}: ⚠ {}", d.plan.host_name, first.title);
        }
        let diagnosed = !found.is_empty();
        // Ended while deploytui waits to quit: its end is said after the TUI.
        if unseen {
            state
                .unseen
                .push(format!("{}: deploy {}", d.plan.host_name, d.verdict()));
            for x in &found {
                state
                    .unseen
                    .push(format!("{}: ⚠ {}", d.plan.host_name, x.title));
                if let Some(fix) = &x.fix {
                    state
                        .unseen
                        .push(format!("{}:   fix: {}", d.plan.host_name, fix.words()));
                }
            }
        }
        d.diagnosed(found);
        // The record waits for the places of a stale hash (its fix).
        if search.is_some() {
            d.diagnosed = false;
        }
        if ok || diagnosed {
            state.notice = Some(line.clone());
        }
        activity(state, line);
    }
    // Show what the host runs now.
    let mut effects = quit_if_waiting(state);
    if effects.is_empty() {
        effects.extend(probe(state, host));
        effects.extend(search);
    }
    effects
}

/// A signal to leave: with nothing running, quit; with deploys running,
/// stop each as Esc does (nix's process groups ended, the step marked
/// cancelled, the record kept) and quit once they have stopped, saying on
/// the terminal left behind what was stopped. Nothing is asked: nobody may
/// be there to answer.
pub(crate) fn on_terminated(state: &mut State, signal: &'static str) -> Vec<Effect> {
    if state.jobs.is_empty() {
        return quit(state);
    }
    let running: Vec<(usize, String)> = state
        .deploys
        .iter()
        .filter(|(_, d)| !d.finished())
        .map(|(host, d)| (*host, d.verdict()))
        .collect();
    let mut effects = Vec::new();
    for (host, at) in running {
        if let Some(id) = state.deploy_job_of(host) {
            let name = state.hosts.get(host).map_or("?", |h| h.name.as_str());
            state.unseen.push(format!(
                "{name}: deploy stopped by {signal} ({at}); its record is kept"
            ));
            effects.push(Effect::StopDeploy { id, host });
        }
    }
    // Waiting to quit: the last job to end quits (see `quit_if_waiting`).
    state.overlay = Some(crate::app::Overlay::ConfirmQuit);
    if !effects.is_empty() {
        state.stopped_by = Some(signal);
    }
    effects
}

/// The answer to "stop this deploy?".
pub(super) fn on_stop_deploy_key(state: &mut State, host: usize, key: KeyEvent) -> Vec<Effect> {
    match state.config.keymap.action_for(&key, Scope::Dialog) {
        Some(Action::Confirm) => {
            let id = state.deploy_job_of(host);
            match id {
                Some(id) => {
                    state.notice = Some("stopping the deploy…".into());
                    vec![Effect::StopDeploy { id, host }]
                }
                None => {
                    state.notice = Some("the deploy has ended already".into());
                    Vec::new()
                }
            }
        }
        Some(Action::Cancel) => Vec::new(),
        _ => still_asking(state, Overlay::ConfirmStopDeploy(host)),
    }
}

/// `H`: the kept deploys, newest first.
pub(super) fn on_history_listed(state: &mut State, records: Vec<crate::deploy::history::Record>) {
    if records.is_empty() {
        state.notice = Some(format!(
            "no deploy kept yet in {}",
            crate::deploy::history::dir_for(&state.config.path).display()
        ));
        return;
    }
    state.overlay = Some(Overlay::History { records, cursor: 0 });
}

/// Keys in the history list: move, open a deploy's log, close.
pub(super) fn on_history_key(
    state: &mut State,
    records: Vec<crate::deploy::history::Record>,
    cursor: usize,
    key: KeyEvent,
) -> Vec<Effect> {
    let last = records.len().saturating_sub(1);
    let page = state.log_page.max(1);
    let cursor = match state.config.keymap.action_for(&key, Scope::Pick) {
        Some(Action::Confirm) => {
            let Some(r) = records.get(cursor) else {
                return Vec::new();
            };
            return vec![Effect::LoadHistory {
                folder: r.folder.clone(),
                title: r.line(),
            }];
        }
        Some(Action::Cancel) => return Vec::new(),
        Some(Action::Quit) => return request_quit(state),
        Some(Action::Up) => cursor.saturating_sub(1),
        Some(Action::Down) => (cursor + 1).min(last),
        Some(Action::PageUp) => cursor.saturating_sub(page),
        Some(Action::PageDown) => (cursor + page).min(last),
        Some(Action::Top) => 0,
        Some(Action::Bottom) => last,
        _ => {
            state.notice = Some(crate::app::modes::pick_reason());
            cursor
        }
    };
    state.overlay = Some(Overlay::History { records, cursor });
    Vec::new()
}

/// A kept deploy's log, into the log pane.
pub(super) fn on_history_loaded(state: &mut State, title: String, result: Result<String, String>) {
    match result {
        Ok(text) => {
            let mut log = LogBuf::new();
            for line in text.lines() {
                log.push_line(line);
            }
            state.past = Some(crate::app::PastDeploy { title, log });
            state.log_view = crate::app::LogView::at_end(state.log_view.wrap);
            state.focus = Pane::Log;
        }
        Err(e) => state.notice = Some(format!("cannot read that deploy's log: {e}")),
    }
}

/// The answer to "activate it?": the runner goes on, or stops before the
/// host changes.
pub(super) fn on_activation_key(state: &mut State, host: usize, key: KeyEvent) -> Vec<Effect> {
    let yes = match state.config.keymap.action_for(&key, Scope::Dialog) {
        Some(Action::Confirm) => true,
        Some(Action::Cancel) => false,
        _ => return still_asking(state, Overlay::ConfirmActivation(host)),
    };
    let id = state.deploy_job_of(host);
    match id {
        Some(id) => {
            if let Some(d) = state.deploys.get_mut(&host) {
                d.awaiting_yes = false;
            }
            vec![Effect::Approve { id, host, yes }]
        }
        None => Vec::new(),
    }
}
