//! Diagnoses: what went wrong, or silently did not happen, in a deploy
//! that ended, with the evidence and the fix. Pure: a deploy (and the flake
//! check of its host) in, diagnoses out; the TUI shows them as a card with
//! the fix one key away, headless `deploy` prints them (or JSON events) and
//! exits with their code, and the deploy's record keeps them.

use serde::{Deserialize, Serialize};

use super::{Deploy, StepKind, StepState};
use crate::nix::check::{self, FlakeReport};

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
}

/// What the fix key does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "fix", rename_all = "kebab-case")]
pub enum Fix {
    /// Deploy again, overriding these inputs with the local checkout.
    Redeploy { overrides: Vec<(String, String)> },
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
        }
    }
}

/// Everything wrong with a deploy that ended.
pub fn diagnose(deploy: &Deploy, flake: Option<&FlakeReport>) -> Vec<Diagnosis> {
    nothing_new(deploy, flake).into_iter().collect()
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
