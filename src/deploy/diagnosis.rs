//! Diagnoses: what went wrong, or silently did not happen, in a deploy
//! that ended, with the evidence and the fix. Pure: a deploy (and the flake
//! check of its host) in, diagnoses out; the TUI shows them as a card with
//! the fix one key away, headless `deploy` prints them (or JSON events) and
//! exits with their code, and the deploy's record keeps them.

use serde::{Deserialize, Serialize};

use std::path::PathBuf;

use super::activation::short_units;
use super::{Deploy, StepKind, StepState};
use crate::nix::check::{self, FlakeReport};
use crate::nix::hash_fix::{self, Site, Stale};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnosis {
    pub kind: Kind,
    /// One line: what happened.
    pub title: String,
    /// What shows it, and the likely cause.
    pub evidence: Vec<String>,
    pub fix: Option<Fix>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// The deploy built the system the host runs already.
    NothingNew,
    /// Watched services still run what they started with before the switch.
    StaleServices,
    /// Watched services are failed, stopped or missing after the deploy.
    ServicesDown,
    /// The HTTP check's page is not what was deployed.
    HttpCheck,
    /// A fixed-output derivation built to another hash than the one pinned.
    HashMismatch,
    /// The builder found the pinned dependencies stale (`npmDepsHash is
    /// out of date`): the hash must be learned again.
    HashOutOfDate,
    /// switch-to-configuration did not end well: what its exit code means.
    Activation,
}

/// What the fix key does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "fix", rename_all = "kebab-case")]
pub enum Fix {
    /// Deploy again, overriding these inputs with the local checkout.
    Redeploy { overrides: Vec<(String, String)> },
    /// Restart these units (the first, then the next: each asks).
    Restart { units: Vec<String> },
    /// Follow one of these units' journal (the first, or the one picked).
    Journal { units: Vec<String> },
    /// Put the hash nix got where the stale one is (one of `sites`; each
    /// shown as a diff first), then deploy again.
    WriteHash { repo: PathBuf, sites: Vec<Site> },
    /// Blank the hash at one of `sites`, build to learn the right one from
    /// nix, then write it (each write shown as a diff first).
    LearnHash { repo: PathBuf, sites: Vec<Site> },
}

impl Fix {
    /// The fix in words, after its key.
    pub fn words(&self) -> String {
        match self {
            Fix::Redeploy { overrides } => format!(
                "deploy again with {}",
                overrides
                    .iter()
                    .map(|(i, u)| format!("--override-input {i} {u}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            Fix::Restart { units } => format!("restart {}", units.join(", ")),
            Fix::Journal { units } if units.len() == 1 => format!("open {}'s journal", units[0]),
            Fix::Journal { units } => format!("open the journal of one of {}", units.join(", ")),
            Fix::WriteHash { sites, .. } if sites.len() == 1 => format!(
                "write the new hash into {} (the diff first), then deploy again",
                sites[0].place()
            ),
            Fix::WriteHash { sites, .. } => format!(
                "pick one of {} places, see the diff, write the new hash, deploy again",
                sites.len()
            ),
            Fix::LearnHash { sites, .. } => format!(
                "blank it in {}, build to learn the right hash, see the diff, write it",
                sites
                    .iter()
                    .map(Site::place)
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
        }
    }
}

/// Everything wrong with a deploy that ended.
pub fn diagnose(deploy: &Deploy, flake: Option<&FlakeReport>) -> Vec<Diagnosis> {
    let stale = stale_services(deploy);
    // A stale service explains a stale page: its card (and restart) says it.
    let page = if stale.is_none() {
        http_check(deploy)
    } else {
        None
    };
    nothing_new(deploy, flake)
        .into_iter()
        .chain(hash_mismatch(deploy))
        .chain(activation(deploy))
        .chain(services_down(deploy))
        .chain(stale)
        .chain(page)
        .collect()
}

/// The page the host serves is not what was deployed (or does not answer).
fn http_check(deploy: &Deploy) -> Option<Diagnosis> {
    let served = deploy.served.as_ref().filter(|s| !s.ok)?;
    if !switched(deploy) {
        return None;
    }
    Some(Diagnosis {
        kind: Kind::HttpCheck,
        title: format!("{} does not serve what was deployed", served.url),
        evidence: vec![served.line()],
        fix: None,
    })
}

/// A newer answer of the HTTP check: its diagnosis goes once the page is
/// right. Returns what cleared.
pub fn recheck_served(
    diagnoses: &mut Vec<Diagnosis>,
    served: &super::http_check::Served,
) -> Vec<String> {
    let before = diagnoses.len();
    if served.ok {
        diagnoses.retain(|d| d.kind != Kind::HttpCheck);
    }
    if diagnoses.len() < before {
        vec![format!("✓ {} serves what was deployed now", served.url)]
    } else {
        Vec::new()
    }
}

/// switch-to-configuration's exit code, said for what it means (never a
/// bare "activation failed" for 4: the system did switch), with the units
/// that failed and those it left running, and the first failed unit's
/// journal as the fix.
fn activation(deploy: &Deploy) -> Option<Diagnosis> {
    let step = deploy.steps.iter().find(|s| s.kind == StepKind::Activate)?;
    let StepState::Failed(why) = &step.state else {
        return None;
    };
    if why == "cancelled" || why.contains("wrong sudo password") || why.starts_with("not activated")
    {
        return None;
    }
    let a = &deploy.activation;
    // Only real unit names reach a command (they came from the host).
    let failed: Vec<String> = a
        .failed
        .iter()
        .filter_map(|u| crate::systemd::normalize_unit_name(u).ok())
        .collect();
    let code = why
        .strip_prefix("exit ")
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse::<i32>().ok());
    let mut evidence = Vec::new();
    let title = match code {
        Some(4) | None if !failed.is_empty() => format!(
            "the system switched, but {} failed to start",
            short_units(&failed)
        ),
        Some(4) => "the system switched, but some units failed".into(),
        Some(2) => "the activation script failed (exit 2): the host may be between systems".into(),
        Some(100) => {
            evidence.push(
                "switch-to-configuration exits 100 when the new system's init (systemd) cannot \
                 take over from the running one: a switch made it the boot default, and it runs \
                 after a reboot"
                    .to_string(),
            );
            "reboot to activate (exit 100): the new system needs a reboot to take effect".into()
        }
        Some(101) => {
            evidence.push(
                "exit 101 is a panic: it may have stopped part-way; probe the host to see what \
                 runs"
                    .to_string(),
            );
            "switch-to-configuration panicked (exit 101)".into()
        }
        Some(c) => match stopped_before_switch(deploy) {
            Some((why, line)) => {
                evidence.push(format!("it said: {line}"));
                format!("{why} (exit {c}): the host did not switch")
            }
            None => {
                format!("switch-to-configuration failed (exit {c}): the host did not switch")
            }
        },
        None => format!("activation did not finish: {why}"),
    };
    if matches!(code, Some(4)) || (code.is_none() && !failed.is_empty()) {
        evidence.push(
            "exit 4 is not a failed switch: /run/current-system is the new system; fix the \
             units (no need to deploy again for them)"
                .to_string(),
        );
    }
    if !failed.is_empty() {
        evidence.push(format!("failed: {}", failed.join(", ")));
    }
    if !a.not_restarted.is_empty() {
        evidence.push(format!(
            "not restarted (changed, left running on the old code): {}",
            a.not_restarted.join(", ")
        ));
    }
    Some(Diagnosis {
        kind: Kind::Activation,
        title,
        evidence,
        // Each failed unit's journal, then those left on the old code.
        fix: {
            let units: Vec<String> = failed
                .iter()
                .cloned()
                .chain(
                    a.not_restarted
                        .iter()
                        .filter_map(|u| crate::systemd::normalize_unit_name(u).ok()),
                )
                .collect();
            (!units.is_empty()).then_some(Fix::Journal { units })
        },
    })
}

/// Why switch-to-configuration stopped before switching, in its own words:
/// the first line of the log that says so (one pass, read only when the
/// exit code is not one of its own meanings), and what that means.
fn stopped_before_switch(deploy: &Deploy) -> Option<(&'static str, String)> {
    const SAYS: [(&str, &str); 4] = [
        (
            "Could not acquire lock",
            "another activation is running on the host",
        ),
        (
            "Pre-switch check",
            "a pre-switch check refused the new system",
        ),
        (
            "Failed to install bootloader",
            "the bootloader could not be installed",
        ),
        ("This is not a NixOS installation!", "the host is not NixOS"),
    ];
    (0..deploy.log.len()).find_map(|i| {
        let line = deploy.log.raw_line(i)?;
        let (_, why) = SAYS.iter().find(|(needle, _)| line.contains(needle))?;
        Some((*why, crate::text::clean(line.trim()).into_owned()))
    })
}

/// What nix said when the build failed: its error messages, and the
/// build's last lines (nixos-rebuild's output is plain text).
fn build_failure(deploy: &Deploy) -> Option<String> {
    let failed = deploy
        .steps
        .iter()
        .any(|s| s.kind == StepKind::Build && matches!(s.state, StepState::Failed(_)));
    if !failed {
        return None;
    }
    const TAIL: usize = 2000;
    let log = &deploy.log;
    let from = log.len().saturating_sub(TAIL);
    let mut text = deploy.progress.errors.join("\n");
    for i in from..log.len() {
        text.push('\n');
        text.push_str(log.raw_line(i).unwrap_or_default());
    }
    Some(text)
}

/// The build failed on a fixed-output hash: the pinned one is stale.
/// Where it is in the repository is found afterwards (`hash_search`,
/// then `with_sites`): that reads files.
fn hash_mismatch(deploy: &Deploy) -> Option<Diagnosis> {
    let text = build_failure(deploy)?;
    Some(match hash_fix::read_stale(&text)? {
        Stale::Mismatch(m) => {
            let name = crate::nix::internal_json::store_name(&m.drv);
            Diagnosis {
                kind: Kind::HashMismatch,
                title: format!(
                    "wrong fixed-output hash: {name} is pinned to a hash it does not build to"
                ),
                evidence: vec![format!(
                    "nix built {name} to {}, but {} is pinned (specified)",
                    m.got, m.specified
                )],
                fix: None,
            }
        }
        Stale::OutOfDate { attr } => Diagnosis {
            kind: Kind::HashOutOfDate,
            title: format!(
                "{attr} is out of date: the dependencies changed, the pinned hash did not"
            ),
            evidence: vec![format!(
                "the builder said `{attr} is out of date`: the old dependencies are still in the \
                 store under the pinned hash, so nix did not build them again and gave no new hash"
            )],
            fix: None,
        },
    })
}

/// What to look for in which repository, when the build failed on a
/// fixed-output hash and the flake's repository is known.
pub fn hash_search(deploy: &Deploy, flake: Option<&FlakeReport>) -> Option<(PathBuf, Stale)> {
    let repo = flake?.repo.clone()?;
    let stale = hash_fix::read_stale(&build_failure(deploy)?)?;
    Some((repo, stale))
}

/// The places the stale hash was found in: the hash diagnosis's evidence
/// and fix.
pub fn with_sites(
    diagnoses: &mut [Diagnosis],
    repo: PathBuf,
    found: Result<crate::nix::hash_fix::Found, String>,
) {
    let Some(d) = diagnoses
        .iter_mut()
        .find(|d| matches!(d.kind, Kind::HashMismatch | Kind::HashOutOfDate))
    else {
        return;
    };
    let found = match found {
        Ok(found) => found,
        Err(e) => {
            d.evidence.push(format!("cannot look for it: {e}"));
            return;
        }
    };
    if found.sites.is_empty() {
        d.evidence.push(format!(
            "the pinned hash is nowhere in {} (nor an empty or fake hash): put the right hash \
             where it belongs by hand",
            repo.display()
        ));
    }
    for site in &found.sites {
        d.evidence
            .push(format!("pinned in {}: {}", site.place(), site.old.trim()));
    }
    if let Some((first, rest)) = found.too_big.split_first() {
        let others = match rest.len() {
            0 => String::new(),
            n => format!(" and {n} more"),
        };
        d.evidence.push(format!(
            "not searched, over 1 MiB: {}{others} ({} file{})",
            crate::text::quote(&first.display().to_string()),
            found.too_big.len(),
            if found.too_big.len() == 1 { "" } else { "s" }
        ));
    }
    if !found.sites.is_empty() {
        let sites = found.sites;
        d.fix = Some(if d.kind == Kind::HashOutOfDate {
            Fix::LearnHash { repo, sites }
        } else {
            Fix::WriteHash { repo, sites }
        });
    }
}

/// Whether the deploy switched the running system (and said it did).
fn switched(deploy: &Deploy) -> bool {
    deploy.plan.action.changes_running()
        && deploy
            .steps
            .iter()
            .any(|s| s.kind == StepKind::Verify && matches!(s.state, StepState::Done(_)))
}

/// After a switch, watched services that became active before the new
/// system was activated: they run the previous configuration (nginx with
/// `X-RestartIfChanged=false` serving the old files, in the brief).
fn stale_services(deploy: &Deploy) -> Option<Diagnosis> {
    let after = deploy.after.as_deref()?;
    // Activating the very system the host ran re-links /run/current-system
    // but changes no service: not stale (nothing-new says what happened).
    if !switched(deploy) || deploy.built == deploy.before {
        return None;
    }
    let stale: Vec<(&crate::systemd::UnitState, crate::probe::Staleness)> =
        after.stale_services().collect();
    if stale.is_empty() {
        return None;
    }
    let now = after.now.unwrap_or(0);
    let mut evidence: Vec<String> = stale
        .iter()
        .map(|(u, staleness)| {
            format!(
                "{} has run since {}, before this system was activated at {}: {}",
                u.id,
                crate::ui::when(u.active_enter.unwrap_or(0), now),
                crate::ui::when(after.activated_at.unwrap_or(0), now),
                staleness.words()
            )
        })
        .collect();
    let stale: Vec<&crate::systemd::UnitState> = stale.into_iter().map(|(u, _)| u).collect();
    let kept: Vec<&str> = deploy
        .activation
        .not_restarted
        .iter()
        .filter(|u| stale.iter().any(|s| same_unit(&s.id, u)))
        .map(String::as_str)
        .collect();
    if !kept.is_empty() {
        evidence.push(format!(
            "switch-to-configuration did not restart it (NOT restarting the following changed \
             units: {}): it is set not to restart on change",
            kept.join(", ")
        ));
    }
    Some(Diagnosis {
        kind: Kind::StaleServices,
        title: stale_title(&stale.iter().map(|u| u.id.clone()).collect::<Vec<_>>()),
        evidence,
        fix: Some(Fix::Restart {
            units: stale.iter().map(|u| u.id.clone()).collect(),
        }),
    })
}

/// Watched services that are down after the deploy, with their journal.
fn services_down(deploy: &Deploy) -> Option<Diagnosis> {
    let after = deploy.after.as_deref()?;
    let down: Vec<(&crate::systemd::UnitState, &str)> = after.down_services().collect();
    if down.is_empty() {
        return None;
    }
    let mut evidence: Vec<String> = down
        .iter()
        .map(|(u, why)| format!("{}: {why} after the deploy", u.id))
        .collect();
    let failed_in_switch: Vec<&str> = deploy
        .activation
        .failed
        .iter()
        .map(String::as_str)
        .collect();
    if !failed_in_switch.is_empty() {
        evidence.push(format!(
            "switch-to-configuration said these units failed: {}",
            failed_in_switch.join(", ")
        ));
    }
    Some(Diagnosis {
        kind: Kind::ServicesDown,
        title: are(
            &down.iter().map(|(u, _)| u.id.clone()).collect::<Vec<_>>(),
            "not running after the deploy",
        ),
        evidence,
        fix: Some(Fix::Journal {
            units: down.iter().map(|(u, _)| u.id.clone()).collect(),
        }),
    })
}

/// Looks again at the service diagnoses with a newer probe of the host:
/// units that run the new system now (restarted) or are up again are
/// cleared, and a diagnosis with none left goes. Returns what cleared.
pub fn recheck(diagnoses: &mut Vec<Diagnosis>, probe: &crate::probe::HostProbe) -> Vec<String> {
    let mut cleared = Vec::new();
    diagnoses.retain_mut(|d| {
        let units = match (&d.kind, &mut d.fix) {
            (Kind::StaleServices, Some(Fix::Restart { units })) => units,
            _ => return true,
        };
        units.retain(|id| {
            let now = probe.services.iter().find(|u| &u.id == id);
            match now {
                Some(u) if u.down().is_none() && !probe.is_stale(u) => {
                    cleared.push(format!(
                        "✓ {id} runs the system activated last now (active since {})",
                        crate::ui::when(u.active_enter.unwrap_or(0), probe.now.unwrap_or(0))
                    ));
                    false
                }
                _ => true,
            }
        });
        if units.is_empty() {
            return false;
        }
        d.title = stale_title(units);
        true
    });
    cleared
}

/// The stale-services card's title, for these units.
fn stale_title(units: &[String]) -> String {
    are(units, "still running the previous configuration")
}

/// `nginx is …`, `nginx, webapp are …`.
fn are(units: &[String], what: &str) -> String {
    let verb = if units.len() == 1 { "is" } else { "are" };
    format!("{} {verb} {what}", short_units(units))
}

/// `nginx.service` → `nginx`; other unit types keep their suffix.
fn short_unit(id: &str) -> String {
    id.strip_suffix(".service").unwrap_or(id).to_string()
}

fn same_unit(a: &str, b: &str) -> bool {
    short_unit(a) == short_unit(b)
}

/// The deploy built what the host already ran, while the repository has
/// commits the host does not run: nothing new was built or copied. Told by
/// store paths, never by nix's `copying 0 paths` (newer nix omits it).
fn nothing_new(deploy: &Deploy, flake: Option<&FlakeReport>) -> Option<Diagnosis> {
    let built_ok = deploy
        .steps
        .iter()
        .any(|s| s.kind == StepKind::Build && matches!(s.state, StepState::Done(_)));
    let (built, before) = (deploy.built.as_deref()?, deploy.before.as_deref()?);
    if !built_ok || built != before {
        return None;
    }
    let name = crate::nix::internal_json::store_name(built);
    let mut evidence = vec![format!(
        "it built {name}, the very store path the host ran before the deploy"
    )];
    let Some(report) = flake else {
        return Some(Diagnosis {
            kind: Kind::NothingNew,
            title: "nothing new was built or copied".into(),
            evidence,
            fix: None,
        });
    };
    let head = report.head.as_deref();
    if let (Some(running), Some(head)) = (&report.running, head) {
        if running.rev.starts_with(head) || head.starts_with(&running.rev) {
            // The host runs HEAD already: nothing to ship is right.
            return None;
        }
        let behind = running
            .behind
            .map_or(String::new(), |n| format!(", {}", commits_behind(n)));
        evidence.push(format!(
            "the host runs commit {}{behind} HEAD {}",
            check::short_rev(&running.rev),
            check::short_rev(head)
        ));
    }
    // Why: a stale input the deploy did not override, uncommitted work, or
    // commits that do not reach this host's system at all.
    let overridden: Vec<&str> = deploy
        .plan
        .overrides
        .iter()
        .map(|(i, _)| i.as_str())
        .collect();
    let stale: Vec<&check::InputReport> = report
        .problems()
        .filter(|i| !overridden.contains(&i.locked.path.as_str()))
        .collect();
    let lags = report
        .running
        .as_ref()
        .zip(head)
        .is_some_and(|(r, h)| !r.rev.starts_with(h) && !h.starts_with(&r.rev));
    if stale.is_empty() && !lags {
        // Nothing says the host misses anything: it may run HEAD already.
        return None;
    }
    let mut fix = None;
    if !stale.is_empty() {
        for i in &stale {
            evidence.push(format!(
                "cause: input {} is locked at {} ({}) and this deploy did not override it \
                 (override_inputs)",
                i.locked.path,
                i.locked.rev.as_deref().map_or("?", check::short_rev),
                check::summary(i, false)
            ));
        }
        let names = stale.iter().map(|i| i.locked.path.clone()).collect();
        let overrides = check::overrides(&crate::config::OverrideInputs::List(names), report);
        if !overrides.is_empty() {
            fix = Some(Fix::Redeploy { overrides });
        }
        evidence.push("or update the lock: u on the input in the flake pane, then c".into());
    } else if !report.dirty.is_empty() {
        evidence.push(format!(
            "cause: uncommitted changes ({}): a git+file input builds committed files only; \
             commit them and deploy again",
            report.dirty.join(", ")
        ));
    } else {
        evidence.push(format!(
            "cause: HEAD's new commits do not change this host's system; if they should, \
             check that flake = \"{}\" names the configuration this host runs",
            report.flake
        ));
    }
    Some(Diagnosis {
        kind: Kind::NothingNew,
        title: "nothing new was built or copied: the host still runs the old system".into(),
        evidence,
        fix,
    })
}

fn commits_behind(n: u64) -> String {
    format!("{} behind", crate::text::count(n, "commit", "commits"))
}

#[cfg(test)]
mod tests;
