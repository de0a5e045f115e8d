//! The fixes diagnoses offer, one key away (`f`), and what keeps a card
//! true afterwards: later probes and HTTP checks clear what was fixed.

use super::*;
use crate::app::HashFix;
use crate::deploy::diagnosis::Fix;
use crate::deploy::Plan;

/// The fix the selected host's last deploy's diagnosis offers, shown first
/// as every deploy is: a redeploy with the overrides opens its plan.
pub(super) fn fix(state: &mut State) -> Vec<Effect> {
    let host = state.selected_host;
    let fix = state
        .deploys
        .get(&host)
        .and_then(|d| d.diagnoses.iter().find_map(|x| x.fix.clone()));
    let (Some(fix), Some(config)) = (fix, state.config.hosts.get(host)) else {
        return Vec::new();
    };
    match fix {
        Fix::Redeploy { overrides } => {
            let action = crate::deploy::default_action(config);
            match Plan::new(host, config, action, overrides) {
                Ok(plan) => state.overlay = Some(Overlay::DeployPreview(vec![plan])),
                Err(e) => state.notice = Some(e),
            }
        }
        // The unit selected in the services pane, then what `r` or `l` does there.
        Fix::Restart { units } => {
            if select_unit(state, &units[0]) {
                ask_unit_action(state, UnitAction::Restart);
            }
        }
        // Any unit the host named (checked when diagnosed), watched or not.
        Fix::Journal { mut units } if units.len() == 1 => {
            return follow_journal_of(state, host, units.remove(0))
        }
        Fix::Journal { units } => {
            state.overlay = Some(Overlay::PickJournal {
                host,
                units,
                chosen: 0,
            })
        }
        Fix::WriteHash { repo, sites } => {
            state.overlay = Some(Overlay::HashFix(HashFix {
                host,
                repo,
                sites,
                chosen: 0,
                learn: None,
                restore: None,
            }));
        }
        // First the blank (its diff), then the build that learns the hash.
        Fix::LearnHash { repo, sites } => {
            let argv = state.deploys.get(&host).map(|d| d.plan.build_argv());
            state.overlay = Some(Overlay::HashFix(HashFix {
                host,
                repo,
                sites,
                chosen: 0,
                learn: argv,
                restore: None,
            }));
        }
    }
    Vec::new()
}

/// Selects `unit` of the selected host in the services pane; says so when
/// it is not among the host's watched services.
fn select_unit(state: &mut State, unit: &str) -> bool {
    let at = state
        .selected()
        .and_then(|h| h.services.iter().position(|u| u == unit));
    match at {
        Some(i) => {
            state.service_cursor = i;
            true
        }
        None => {
            state.notice = Some(format!("{unit} is not among this host's services"));
            false
        }
    }
}

/// A new probe of a host whose last deploy found stale services: the ones
/// restarted since are cleared, on the card and in the deploy's log.
pub(super) fn recheck_diagnoses(state: &mut State, host: usize) {
    let Some(HostStatus::Up(p)) = state.hosts.get(host).map(|h| &h.status) else {
        return;
    };
    let Some(d) = state.deploys.get_mut(&host).filter(|d| d.diagnosed) else {
        return;
    };
    let cleared = crate::deploy::diagnosis::recheck(&mut d.diagnoses, &p.probe);
    for line in &cleared {
        d.log.push_line(line);
    }
    if let Some(last) = cleared.last() {
        state.notice = Some(format!("{}: {last}", d.plan.host_name));
    }
}

/// Fetches the host's HTTP check page again (after a restart), judged
/// against the commit the host runs now.
pub(super) fn http_check(state: &mut State, host: usize) -> Vec<Effect> {
    let Some(check) = state
        .config
        .hosts
        .get(host)
        .and_then(|h| h.http_check.clone())
    else {
        return Vec::new();
    };
    let rev = match state.hosts.get(host).map(|h| &h.status) {
        Some(HostStatus::Up(p)) => p.probe.configuration_revision.clone(),
        _ => None,
    };
    vec![Effect::HttpCheck { host, check, rev }]
}

/// What the HTTP check served: on the deploy's card and in its log; a
/// diagnosis it settles is cleared.
pub(super) fn on_http_checked(
    state: &mut State,
    host: usize,
    served: crate::deploy::http_check::Served,
) -> Vec<Effect> {
    let Some(d) = state.deploys.get_mut(&host) else {
        return Vec::new();
    };
    let line = served.line();
    d.log.push_line(&line);
    let cleared = crate::deploy::diagnosis::recheck_served(&mut d.diagnoses, &served);
    d.served = Some(served);
    for c in &cleared {
        d.log.push_line(c);
    }
    state.notice = Some(format!("{}: {line}", d.plan.host_name));
    Vec::new()
}

/// Where the stale hash is: the card says, and `f` can write the fix.
pub(super) fn on_hash_sites(
    state: &mut State,
    host: usize,
    repo: std::path::PathBuf,
    result: Result<crate::nix::hash_fix::Found, String>,
) -> Vec<Effect> {
    if let Some(d) = state.deploys.get_mut(&host) {
        crate::deploy::diagnosis::with_sites(&mut d.diagnoses, repo, result);
        // Complete now: the record is written with the fix.
        d.diagnosed = true;
        if let Some(fix) = d.diagnoses.iter().find_map(|x| x.fix.as_ref()) {
            let line = format!(
                "{}: {} fix: {}",
                d.plan.host_name,
                state.config.keymap.keys_of(Action::Fix),
                fix.words()
            );
            state.notice = Some(line);
        }
    }
    Vec::new()
}

/// Keys in the hash fix question: write the chosen place, another place, or no.
pub(super) fn on_hash_fix_key(state: &mut State, mut fix: HashFix, key: KeyEvent) -> Vec<Effect> {
    match state.config.keymap.action_for(&key, Scope::Dialog) {
        Some(Action::Confirm) => {
            let Some(site) = fix.sites.get(fix.chosen).cloned() else {
                return Vec::new();
            };
            if let Some(argv) = fix.learn {
                state.notice = Some(format!(
                    "blanked the hash in {}; building to learn the right one…",
                    site.place()
                ));
                return vec![Effect::LearnHash {
                    host: fix.host,
                    repo: fix.repo,
                    site,
                    argv,
                }];
            }
            state.notice = Some(format!("writing the new hash into {}…", site.place()));
            vec![Effect::WriteHash {
                host: fix.host,
                repo: fix.repo,
                site,
                fix: true,
            }]
        }
        // After a blank was written to learn the hash: it is taken back.
        Some(Action::Cancel) if fix.restore.is_some() => {
            state.notice = Some("not written; the old hash is put back".into());
            let site = fix.restore.unwrap_or_else(|| unreachable!());
            vec![Effect::WriteHash {
                host: fix.host,
                repo: fix.repo,
                site,
                fix: false,
            }]
        }
        Some(Action::Cancel) => {
            state.notice = Some("nothing written".into());
            Vec::new()
        }
        Some(step @ (Action::NextChoice | Action::PrevChoice)) => {
            fix.chosen = cycle(fix.chosen, fix.sites.len(), step);
            state.overlay = Some(Overlay::HashFix(fix));
            Vec::new()
        }
        _ => still_asking(state, Overlay::HashFix(fix)),
    }
}

/// The new hash is in the file: the deploy's log says so, and committing
/// it is offered (a deploy from a dirty tree builds a system that names no
/// commit, which the HTTP check cannot compare), then the deploy again.
pub(super) fn on_hash_written(
    state: &mut State,
    host: usize,
    repo: std::path::PathBuf,
    site: crate::nix::hash_fix::Site,
    fix: bool,
    result: Result<(), String>,
) -> Vec<Effect> {
    let name = name_of(state, host);
    match result {
        Ok(()) if !fix => {
            let line = format!("{name}: the old hash is back in {}", site.place());
            state.notice = Some(line.clone());
            activity(state, line);
        }
        Ok(()) => {
            let line = format!("{name}: wrote the new hash into {}", site.place());
            if let Some(d) = state.deploys.get_mut(&host) {
                d.log.push_line(&format!(
                    "✓ wrote the new hash into {}: {}",
                    site.place(),
                    site.new.trim()
                ));
                d.diagnoses.retain(|x| {
                    !matches!(
                        x.kind,
                        crate::deploy::diagnosis::Kind::HashMismatch
                            | crate::deploy::diagnosis::Kind::HashOutOfDate
                    )
                });
            }
            activity(state, line.clone());
            state.selected_host = host;
            state.marked.clear();
            // The deploy that failed, again: the same action and overrides
            // (a fresh plan could drop an override the fix was made with).
            let again = state
                .deploys
                .get(&host)
                .filter(|d| d.plan.rollback.is_none())
                .map(|d| d.plan.clone())
                .or_else(|| plan_for(state, host).and_then(Result::ok));
            let commit = FileCommit {
                repo,
                files: vec![site.file.clone()],
                message: format!(
                    "{}: the hash nix reported for a fixed-output derivation",
                    site.file.display()
                ),
                then_deploy: again,
            };
            // `c` commits it later too (then without the deploy after it).
            state.uncommitted = Some(FileCommit {
                then_deploy: None,
                ..commit.clone()
            });
            state.overlay = Some(Overlay::CommitLock(commit));
            state.notice = Some(format!("{line}; commit it, then deploy again?"));
        }
        Err(e) => {
            let line = format!("{name}: the new hash was not written: {e}");
            state.notice = Some(line.clone());
            activity(state, line);
        }
    }
    Vec::new()
}

/// The deploy a hash commit was asked before: offered now that the commit
/// is done or declined (`said` says which, in the status bar).
pub(super) fn offer_deploy_after(state: &mut State, plan: crate::deploy::Plan, said: String) {
    state.selected_host = plan.host;
    state.overlay = Some(Overlay::DeployPreview(vec![plan]));
    state.notice = Some(format!("{said}; deploy again?"));
}

/// What the build with the blank hash taught: the diff that writes it
/// (cancelling it puts the old hash back), or why there is nothing.
pub(super) fn on_hash_learned(
    state: &mut State,
    host: usize,
    repo: std::path::PathBuf,
    blanked: crate::nix::hash_fix::Site,
    result: Result<crate::nix::hash_fix::Site, String>,
) -> Vec<Effect> {
    let name = name_of(state, host);
    match result {
        Ok(learned) => {
            activity(
                state,
                format!("{name}: nix gave the hash for {}", blanked.place()),
            );
            state.notice = Some(format!("{name}: learned the right hash; write it?"));
            state.overlay = Some(Overlay::HashFix(HashFix {
                host,
                repo,
                sites: vec![learned],
                chosen: 0,
                learn: None,
                restore: Some(blanked.reversed()),
            }));
        }
        Err(e) => {
            let line = format!(
                "{name}: no hash learned ({e}); {} is as it was",
                blanked.place()
            );
            state.notice = Some(line.clone());
            activity(state, line);
        }
    }
    Vec::new()
}

/// The host's name, for what the log and the status bar say.
fn name_of(state: &State, host: usize) -> String {
    state
        .hosts
        .get(host)
        .map_or("?", |h| h.name.as_str())
        .to_string()
}

/// `b`: the host's generations are read first; the question shows both.
pub(super) fn ask_rollback(state: &mut State) -> Vec<Effect> {
    let host = state.selected_host;
    state.notice = Some(format!(
        "{}: reading its generations…",
        name_of(state, host)
    ));
    vec![Effect::ReadGenerations { host }]
}

/// The current generation and the one before: the rollback's plan, shown
/// as every deploy is, before anything runs.
pub(super) fn on_generations(
    state: &mut State,
    host: usize,
    result: Result<
        (
            crate::deploy::generations::Generation,
            crate::deploy::generations::Generation,
        ),
        String,
    >,
) -> Vec<Effect> {
    let name = name_of(state, host);
    match (result, state.config.hosts.get(host)) {
        (Ok((from, to)), Some(config)) => {
            if let Some(d) = state.deploys.get(&host).filter(|d| !d.finished()) {
                state.notice = Some(format!("{name} is deploying already ({})", d.verdict()));
                return Vec::new();
            }
            state.notice = None;
            state.overlay = Some(Overlay::DeployPreview(vec![Plan::rollback(
                host, config, from, to,
            )]));
        }
        (Err(e), _) => state.notice = Some(format!("{name}: no rollback: {e}")),
        (Ok(_), None) => {}
    }
    Vec::new()
}

/// Keys in "which unit's journal?": open it, another unit, or no.
pub(super) fn on_pick_journal_key(
    state: &mut State,
    host: usize,
    units: Vec<String>,
    chosen: usize,
    key: KeyEvent,
) -> Vec<Effect> {
    match state.config.keymap.action_for(&key, Scope::Dialog) {
        Some(Action::Confirm) => match units.get(chosen) {
            Some(unit) => follow_journal_of(state, host, unit.clone()),
            None => Vec::new(),
        },
        Some(Action::Cancel) => Vec::new(),
        Some(step @ (Action::NextChoice | Action::PrevChoice)) => {
            let chosen = cycle(chosen, units.len(), step);
            state.overlay = Some(Overlay::PickJournal {
                host,
                units,
                chosen,
            });
            Vec::new()
        }
        _ => still_asking(
            state,
            Overlay::PickJournal {
                host,
                units,
                chosen,
            },
        ),
    }
}
