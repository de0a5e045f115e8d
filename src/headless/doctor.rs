//! `deploytui doctor`: every check that needs no deploy, for a pre-deploy
//! hook. Per host: reachable, flake inputs a deploy would not bring to
//! HEAD, services on the previous system or down, failed units, a reboot
//! pending, and the HTTP check. Problems make the exit code; the rest is
//! said as information.

use std::io::Write;
use std::sync::Arc;

use serde::Serialize;

use super::settings;
use crate::config::{Config, Host};
use crate::nix::check;
use crate::remote::Transport;

pub const DOCTOR_SCHEMA: &str = "deploytui.doctor/1";

#[derive(Debug, Serialize)]
pub struct Doctor {
    pub schema: &'static str,
    pub hosts: Vec<DoctorHost>,
}

#[derive(Debug, Serialize)]
pub struct DoctorHost {
    pub name: String,
    pub reachable: bool,
    pub findings: Vec<Finding>,
    /// The flake's inputs as compared with their repositories (empty when
    /// the host has no flake or its lock could not be read).
    pub inputs: Vec<DoctorInput>,
    /// The watched services, as `status --json` gives them (empty when the
    /// host was not reached).
    pub services: Vec<super::ServiceReport>,
}

/// One flake input, for scripts: how it compares, and what a deploy does.
#[derive(Debug, Serialize)]
pub struct DoctorInput {
    pub name: String,
    pub status: check::InputStatus,
    pub locked_rev: Option<String>,
    pub head: Option<String>,
    /// Commits on HEAD the lock lacks that change what is built.
    pub behind: Option<u64>,
    /// Commits on HEAD the lock lacks that touch only lock files.
    pub lock_only: Option<u64>,
    /// A deploy overrides it with its local checkout (`override_inputs`).
    pub overridden: bool,
}

/// One thing a check found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// `unreachable`, `stale-input`, `relative-input`, `behind`,
    /// `stale-service`, `service-down`, `failed-units`, `reboot-pending`,
    /// `http-check`, `rebuild-line`.
    pub check: &'static str,
    /// Something to fix before deploying; `false` is information.
    pub problem: bool,
    pub text: String,
    /// What fixes it.
    pub fix: Option<String>,
}

impl Doctor {
    /// 3 when a host did not answer, 1 when a check found a problem, else 0.
    pub fn exit_code(&self) -> u8 {
        if self.hosts.iter().any(|h| !h.reachable) {
            super::EXIT_UNREACHABLE
        } else if self
            .hosts
            .iter()
            .any(|h| h.findings.iter().any(|f| f.problem))
        {
            1
        } else {
            0
        }
    }
}

fn problem(check: &'static str, text: String, fix: Option<String>) -> Finding {
    Finding {
        check,
        problem: true,
        text,
        fix,
    }
}

fn info(check: &'static str, text: String) -> Finding {
    Finding {
        check,
        problem: false,
        text,
        fix: None,
    }
}

/// Checks the hosts in parallel (at most `parallel` at once).
pub async fn doctor(config: &Config, hosts: &[&Host]) -> anyhow::Result<Doctor> {
    let settings = settings(config)?;
    let nix_version = check::local_nix_version().await;
    let limit = Arc::new(tokio::sync::Semaphore::new(config.parallel));
    let runs = hosts.iter().map(|host| {
        let (settings, limit) = (settings.clone(), limit.clone());
        async move { one(host, &settings, nix_version, &limit).await }
    });
    Ok(Doctor {
        schema: DOCTOR_SCHEMA,
        hosts: futures::future::join_all(runs).await,
    })
}

/// One host's checks: connecting takes no slot (a host that hangs until
/// the connect timeout holds up no other), the rest one of `limit`'s.
async fn one(
    host: &Host,
    settings: &crate::remote::SshSettings,
    nix_version: Option<(u32, u32)>,
    limit: &tokio::sync::Semaphore,
) -> DoctorHost {
    let name = host.name.clone();
    let unreachable = |why: String, manual: Option<String>| DoctorHost {
        name: name.clone(),
        reachable: false,
        findings: vec![problem("unreachable", why, manual)],
        inputs: Vec::new(),
        services: Vec::new(),
    };
    let transport = match Transport::connect(host, settings).await {
        Ok(t) => t,
        Err(e) => {
            let manual = match &e {
                crate::remote::RemoteError::Connect { manual, .. } => Some(manual.clone()),
                _ => None,
            };
            return unreachable(e.to_string(), manual);
        }
    };
    let _slot = limit.acquire().await;
    let probed = crate::probe::fetch(&transport, &host.services, settings.command_timeout).await;
    let probe = match probed {
        Ok(p) => p,
        Err(e) => {
            transport.close().await;
            return unreachable(e.to_string(), None);
        }
    };
    let served = match &host.http_check {
        Some(c) => Some(
            crate::deploy::native::http_check(
                &transport,
                c,
                probe.configuration_revision.as_deref(),
            )
            .await,
        ),
        None => None,
    };
    transport.close().await;
    let flake = match &host.flake {
        Some(f) => Some(check::check(f, probe.configuration_revision.as_deref(), None).await),
        None => None,
    };
    let inputs = match &flake {
        Some(Ok(report)) => input_reports(host, report),
        _ => Vec::new(),
    };
    let mut findings = flake_findings(host, flake, nix_version);
    findings.extend(rebuild_line_finding(host).await);
    findings.extend(host_findings(host, &probe, served.as_ref()));
    DoctorHost {
        name,
        reachable: true,
        findings,
        inputs,
        services: super::service_reports(&probe),
    }
}

fn input_reports(host: &Host, report: &check::FlakeReport) -> Vec<DoctorInput> {
    let overridden = check::overrides(&host.override_inputs, report);
    report
        .inputs
        .iter()
        .map(|i| DoctorInput {
            name: i.locked.path.clone(),
            status: i.status,
            locked_rev: i.locked.rev.clone(),
            head: i.head.clone(),
            behind: i.behind,
            lock_only: i.lock_only,
            overridden: overridden.iter().any(|(o, _)| *o == i.locked.path),
        })
        .collect()
}

/// Inputs a deploy would build stale (no override for them), and how far
/// the host is behind HEAD.
fn flake_findings(
    host: &Host,
    flake: Option<Result<check::FlakeReport, crate::nix::lock::LockError>>,
    nix_version: Option<(u32, u32)>,
) -> Vec<Finding> {
    let mut found = Vec::new();
    let report = match flake {
        None => return found,
        Some(Err(e)) => {
            found.push(problem(
                "stale-input",
                format!("the flake cannot be checked: {e}"),
                None,
            ));
            return found;
        }
        Some(Ok(r)) => r,
    };
    let overrides = check::overrides(&host.override_inputs, &report);
    for input in report.problems() {
        let name = &input.locked.path;
        match overrides.iter().find(|(i, _)| i == name) {
            Some((_, url)) => found.push(info(
                "stale-input",
                format!(
                    "input {name}: {} in flake.lock; deploys override it with {url}",
                    check::summary(input, false)
                ),
            )),
            None => found.push(problem(
                "stale-input",
                format!(
                    "input {name}: {}, and deploys do not override it: a deploy builds old code \
                     (for good: update the lock, u then c in the flake pane, or override it in \
                     the config, override_inputs = [\"{name}\"])",
                    check::summary(input, false)
                ),
                // A command a pre-deploy hook can run as it is.
                Some(format!(
                    "deploytui deploy {} --override-input {name}",
                    host.name
                )),
            )),
        }
    }
    // With nix 2.26+, a stale self-reference has a permanent fix.
    if let (Some(flake), true) = (&host.flake, nix_version >= Some((2, 26))) {
        for input in report.problems() {
            if let Some(url) = check::relative_fix(input, &flake.path) {
                found.push(info(
                    "relative-input",
                    format!(
                        "input {name}: the permanent fix (nix 2.26+) is inputs.{name}.url = \"{url}\" \
                         in {dir}/flake.nix, then nix flake lock (p in the flake pane does both): the \
                         input is then read from this repository's own tree and never goes stale",
                        name = input.locked.path,
                        dir = flake.path.display()
                    ),
                ));
            }
        }
    }
    if let (Some(running), Some(head)) = (&report.running, &report.head) {
        if !head.starts_with(&running.rev) && !running.rev.starts_with(head.as_str()) {
            found.push(info(
                "behind",
                format!(
                    "the host runs commit {}{}, HEAD is {}",
                    check::short_rev(&running.rev),
                    running.behind.map_or(String::new(), |n| format!(
                        ", {} behind",
                        crate::text::count(n, "commit", "commits")
                    )),
                    check::short_rev(head)
                ),
            ));
        }
    }
    found
}

/// A nixos-rebuild line whose sudo flags this machine's nixos-rebuild
/// lacks (the brief's `--sudo` on the bash one fails at once).
async fn rebuild_line_finding(host: &Host) -> Option<Finding> {
    let crate::config::Engine::NixosRebuild { command } = &host.engine else {
        return None;
    };
    let line = command.clone();
    let program = line.first().cloned().unwrap_or_default();
    let help = tokio::task::spawn_blocking(move || crate::deploy::rebuild::read_help(&program))
        .await
        .ok()?
        .ok()?;
    let why = crate::deploy::rebuild::fits(&line, &help).err()?;
    Some(problem("rebuild-line", why, None))
}

/// What the probe and the HTTP check say about the host now.
fn host_findings(
    host: &Host,
    probe: &crate::probe::HostProbe,
    served: Option<&crate::deploy::http_check::Served>,
) -> Vec<Finding> {
    let mut found = Vec::new();
    let now = probe.now.unwrap_or(0);
    for (unit, staleness) in probe.stale_services() {
        let text = format!(
            "{} has run since {} and {}",
            unit.id,
            crate::ui::when(unit.active_enter.unwrap_or(0), now),
            staleness.words()
        );
        let fix = Some(format!("deploytui restart {} {}", host.name, unit.id));
        // Certain: a problem. Possible: said, with the fix, but not failed on.
        found.push(match staleness {
            crate::probe::Staleness::OldUnit => problem("stale-service", text, fix),
            crate::probe::Staleness::SystemChanged => Finding {
                fix,
                ..info("stale-service", text)
            },
        });
    }
    for (unit, why) in probe.down_services() {
        found.push(problem(
            "service-down",
            format!("{}: {why}", unit.id),
            Some(format!("journalctl -u {} on the host", unit.id)),
        ));
    }
    if let Some(n @ 1..) = probe.failed_units {
        found.push(problem(
            "failed-units",
            format!(
                "{} on the host",
                crate::text::count(n, "failed unit", "failed units")
            ),
            Some("systemctl --failed on the host".into()),
        ));
    }
    if probe.runs_boot_default() == Some(false) {
        found.push(problem(
            "not-boot-default",
            format!(
                "the host runs {}, but its boot default (system profile, generation {}) is {}: \
                 a reboot would change its system (after a `test` deploy, a `boot` deploy not \
                 yet rebooted, or two deploys that crossed)",
                crate::nix::internal_json::store_name(
                    probe.current_system.as_deref().unwrap_or("?")
                ),
                probe.generation.map_or("?".into(), |g| g.to_string()),
                crate::nix::internal_json::store_name(
                    probe.profile_system.as_deref().unwrap_or("?")
                ),
            ),
            Some(format!(
                "deploytui deploy {} (a switch makes them one)",
                host.name
            )),
        ));
    }
    if probe.reboot_pending() == Some(true) {
        found.push(info(
            "reboot-pending",
            "a reboot is pending: the running kernel, initrd or modules are not the booted ones"
                .into(),
        ));
    }
    if let Some(served) = served {
        if served.ok {
            found.push(info("http-check", served.line()));
        } else {
            found.push(problem("http-check", served.line(), None));
        }
    }
    found
}

/// The findings for people: problems with their fix, then information.
pub fn print(doctor: &Doctor, out: &mut impl Write) -> std::io::Result<()> {
    for host in &doctor.hosts {
        let problems = host.findings.iter().filter(|f| f.problem).count();
        if problems == 0 {
            writeln!(out, "{}: ✓ nothing to fix", host.name)?;
        }
        for f in &host.findings {
            let mark = if f.problem { "✗" } else { "·" };
            writeln!(out, "{}: {mark} {}", host.name, f.text)?;
            if let Some(fix) = &f.fix {
                writeln!(out, "{}:   fix: {fix}", host.name)?;
            }
        }
    }
    Ok(())
}
