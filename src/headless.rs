//! Headless subcommands: the same probe and the same restart as the TUI, for
//! scripts and CI. `status --json` prints the schema documented in the README.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::config::{Config, Host, SudoMode};
use crate::probe::{self, HostProbe};
use crate::remote::{self, RemoteError, SshSettings, Transport};
use crate::secret::Secret;
use crate::systemd;

pub mod deploy;
pub mod doctor;

/// `status` exit code when a host did not answer.
pub const EXIT_UNREACHABLE: u8 = 3;
/// `status` exit code when every host answered but a watched service is
/// missing, failed or stopped.
pub const EXIT_SERVICE_DOWN: u8 = 4;
/// JSON schema name and version of `status --json`.
pub const STATUS_SCHEMA: &str = "deploytui.status/1";

#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub schema: &'static str,
    pub hosts: Vec<HostReport>,
}

#[derive(Debug, Serialize)]
pub struct HostReport {
    pub name: String,
    pub target: String,
    pub reachable: bool,
    /// Why the host did not answer.
    pub error: Option<String>,
    /// The ssh command that shows the problem by hand.
    pub manual: Option<String>,
    pub latency_ms: Option<u64>,
    pub system: Option<SystemReport>,
    pub services: Vec<ServiceReport>,
    /// Fields the host did not report, and why.
    pub warnings: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct SystemReport {
    pub current: Option<String>,
    pub activated_at: Option<u64>,
    pub booted: Option<String>,
    pub reboot_pending: Option<bool>,
    pub generation: Option<u32>,
    pub generation_at: Option<u64>,
    /// The system that generation holds: what the host boots.
    pub profile_system: Option<String>,
    /// `current` is `profile_system` (false after a `test` deploy, a `boot`
    /// deploy not yet rebooted, or deploys that crossed).
    pub runs_boot_default: Option<bool>,
    pub nixos_version: Option<String>,
    pub configuration_revision: Option<String>,
    pub uptime_secs: Option<u64>,
    pub failed_units: Option<u32>,
    /// The host's clock at the probe (unix seconds).
    pub host_time: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct ServiceReport {
    pub unit: String,
    pub load_state: String,
    pub active_state: String,
    pub sub_state: String,
    pub active_enter: Option<u64>,
    pub main_pid: Option<u32>,
    pub n_restarts: Option<u32>,
    /// Started under a system other than the running one (see `staleness`).
    pub stale: bool,
    /// `old-unit` (certain) or `system-changed` (possible).
    pub staleness: Option<crate::probe::Staleness>,
    /// Why the service does not run: `missing`, `failed` or `stopped`.
    pub down: Option<&'static str>,
}

impl StatusReport {
    /// The exit code of `status`: 3 when a host did not answer, 4 when a
    /// watched service does not run, else 0.
    pub fn exit_code(&self) -> u8 {
        if self.hosts.iter().any(|h| !h.reachable) {
            EXIT_UNREACHABLE
        } else if self
            .hosts
            .iter()
            .any(|h| h.services.iter().any(|s| s.down.is_some()))
        {
            EXIT_SERVICE_DOWN
        } else {
            0
        }
    }
}

/// One command and done: a master left behind by a kill exits soon.
pub(crate) fn settings(config: &Config) -> anyhow::Result<SshSettings> {
    Ok(SshSettings::for_config(config, Duration::from_secs(30))?)
}

/// Picks hosts by name (all when none are named); an unknown name is an error
/// that lists the known ones.
pub fn select_hosts<'a>(config: &'a Config, names: &[String]) -> anyhow::Result<Vec<&'a Host>> {
    if names.is_empty() {
        return Ok(config.hosts.iter().collect());
    }
    names
        .iter()
        .map(|n| {
            config.hosts.iter().find(|h| &h.name == n).ok_or_else(|| {
                let known: Vec<&str> = config.hosts.iter().map(|h| h.name.as_str()).collect();
                anyhow::anyhow!(
                    "no host named `{n}` in {}; hosts: {}",
                    config.path.display(),
                    known.join(", ")
                )
            })
        })
        .collect()
}

/// Probes the hosts in parallel (at most `parallel` at once).
pub async fn status(config: &Config, hosts: &[&Host]) -> anyhow::Result<StatusReport> {
    let settings = settings(config)?;
    let limit = Arc::new(tokio::sync::Semaphore::new(config.parallel));
    let probes = hosts.iter().map(|host| {
        let settings = settings.clone();
        let limit = limit.clone();
        let host = (*host).clone();
        async move { probe_one(&host, &settings, &limit).await }
    });
    let hosts = futures::future::join_all(probes).await;
    Ok(StatusReport {
        schema: STATUS_SCHEMA,
        hosts,
    })
}

/// Connects (every host at once: a host that hangs until the connect
/// timeout holds up no other), then probes within one of `limit`'s slots.
pub async fn probe_one(
    host: &Host,
    settings: &SshSettings,
    limit: &tokio::sync::Semaphore,
) -> HostReport {
    let mut report = HostReport {
        name: host.name.clone(),
        target: host.target.to_string(),
        reachable: false,
        error: None,
        manual: None,
        latency_ms: None,
        system: None,
        services: Vec::new(),
        warnings: Vec::new(),
    };
    let transport = match Transport::connect(host, settings).await {
        Ok(t) => t,
        Err(e) => {
            fill_error(&mut report, e);
            return report;
        }
    };
    let permit = limit.acquire().await;
    let started = std::time::Instant::now();
    let result = probe::fetch(&transport, &host.services, settings.command_timeout).await;
    drop(permit);
    let latency = started.elapsed();
    transport.close().await;
    match result {
        Ok(p) => {
            report.reachable = true;
            report.latency_ms = Some(u64::try_from(latency.as_millis()).unwrap_or(u64::MAX));
            fill_probe(&mut report, p);
        }
        Err(e) => fill_error(&mut report, e),
    }
    report
}

fn fill_error(report: &mut HostReport, e: RemoteError) {
    match e {
        RemoteError::Connect { reason, manual } => {
            report.error = Some(reason);
            report.manual = Some(manual);
        }
        RemoteError::Run(reason) => report.error = Some(reason),
        e @ RemoteError::TimedOut { .. } => report.error = Some(e.to_string()),
    }
}

/// The watched services as a probe saw them, for `status` and `doctor`.
pub(crate) fn service_reports(p: &HostProbe) -> Vec<ServiceReport> {
    p.services
        .iter()
        .map(|u| ServiceReport {
            unit: u.id.clone(),
            load_state: u.load_state.clone(),
            active_state: u.active_state.clone(),
            sub_state: u.sub_state.clone(),
            active_enter: u.active_enter,
            main_pid: u.main_pid,
            n_restarts: u.n_restarts,
            stale: p.is_stale(u),
            staleness: p.staleness(u),
            down: u.down(),
        })
        .collect()
}

fn fill_probe(report: &mut HostReport, p: HostProbe) {
    report.services = service_reports(&p);
    report.system = Some(SystemReport {
        reboot_pending: p.reboot_pending(),
        runs_boot_default: p.runs_boot_default(),
        profile_system: p.profile_system,
        current: p.current_system,
        activated_at: p.activated_at,
        booted: p.booted_system,
        generation: p.generation,
        generation_at: p.generation_at,
        nixos_version: p.nixos_version,
        configuration_revision: p.configuration_revision,
        uptime_secs: p.uptime_secs,
        failed_units: p.failed_units,
        host_time: p.now,
    });
    report.warnings = p.warnings;
}

/// The report as people read it.
pub fn print_status(report: &StatusReport, out: &mut impl Write) -> std::io::Result<()> {
    for h in &report.hosts {
        let Some(sys) = h.system.as_ref().filter(|_| h.reachable) else {
            writeln!(
                out,
                "{} ({}): unreachable: {}",
                h.name,
                h.target,
                h.error.as_deref().unwrap_or("?")
            )?;
            if let Some(m) = &h.manual {
                writeln!(out, "  to see why, run: {m}")?;
            }
            continue;
        };
        let ago = |t: Option<u64>| match (t, sys.host_time) {
            (Some(t), Some(now)) => format!("{} ago", crate::ui::ago(now.saturating_sub(t))),
            _ => "?".into(),
        };
        writeln!(
            out,
            "{} ({}): up {}ms, generation {}, activated {}{}",
            h.name,
            h.target,
            h.latency_ms.unwrap_or(0),
            sys.generation.map_or("?".into(), |g| g.to_string()),
            ago(sys.activated_at),
            if sys.reboot_pending == Some(true) {
                ", reboot pending"
            } else {
                ""
            }
        )?;
        writeln!(out, "  system   {}", sys.current.as_deref().unwrap_or("?"))?;
        if sys.runs_boot_default == Some(false) {
            writeln!(
                out,
                "  ⚠ not its boot default: the system profile (generation {}) is {}",
                sys.generation.map_or("?".into(), |g| g.to_string()),
                sys.profile_system.as_deref().unwrap_or("?")
            )?;
        }
        if let Some(rev) = &sys.configuration_revision {
            writeln!(out, "  revision {rev}")?;
        }
        if let Some(n) = sys.failed_units.filter(|n| *n > 0) {
            writeln!(out, "  failed units: {n}")?;
        }
        for s in &h.services {
            let line = format!(
                "  {:<24} {:<18} since {:<8} pid {:<8}{}",
                s.unit,
                format!("{} ({})", s.active_state, s.sub_state),
                if s.active_enter.is_some() {
                    ago(s.active_enter)
                } else {
                    "-".into()
                },
                s.main_pid.map_or("-".into(), |p| p.to_string()),
                match (s.down, s.stale) {
                    (Some(why), _) => format!("  DOWN: {why}"),
                    (None, true) => "  STALE: started before the last activation".into(),
                    (None, false) => String::new(),
                }
            );
            // Columns pad; the line ends where its text does.
            writeln!(out, "{}", line.trim_end())?;
        }
        for w in &h.warnings {
            writeln!(out, "  warning: {w}")?;
        }
    }
    Ok(())
}

/// Where `restart` gets the sudo password.
pub enum PasswordSource {
    Stdin,
    Terminal,
}

/// Restarts `unit` on `host` with the host's sudo mode; prints the command,
/// the result and the unit's new state. Returns whether it worked.
pub async fn restart(
    config: &Config,
    host: &Host,
    unit: &str,
    source: PasswordSource,
) -> anyhow::Result<bool> {
    let unit = systemd::normalize_unit_name(unit).map_err(|e| anyhow::anyhow!(e))?;
    let settings = settings(config)?;
    let argv = remote::privileged(host.sudo, &crate::app::UnitAction::Restart.argv(&unit));
    let attempts = match (host.sudo, &source) {
        (SudoMode::Password, PasswordSource::Terminal) => 3,
        _ => 1,
    };
    // The password first: with none there is nothing to connect for, and
    // the messages come in the order things happen.
    let mut password = match host.sudo {
        SudoMode::Password => Some(read_password(host, &source)?),
        _ => None,
    };
    let transport = Transport::connect(host, &settings)
        .await
        .map_err(|e| anyhow::anyhow!("{}: {e}", host.name))?;
    let mut stderr = std::io::stderr();
    let mut result = None;
    for attempt in 1..=attempts {
        if attempt > 1 {
            password = Some(read_password(host, &source)?);
        }
        let _ = writeln!(
            stderr,
            "{}: running {}",
            host.name,
            remote::display_command(&argv)
        );
        let out = transport
            .output(&argv, password.as_ref(), settings.action_timeout)
            .await;
        password = None;
        match out {
            Ok(out) if remote::is_wrong_password(&out) => {
                let _ = writeln!(
                    stderr,
                    "{}: wrong sudo password{}",
                    host.name,
                    if attempt < attempts {
                        ", try again"
                    } else {
                        ""
                    }
                );
                result = Some(false);
            }
            Ok(out) => {
                if !out.stderr.trim().is_empty() {
                    // The host's words: shown, never obeyed by the terminal.
                    let _ = writeln!(stderr, "{}", crate::text::quote_lines(out.stderr.trim()));
                }
                result = Some(out.success());
                if !out.success() {
                    let _ = writeln!(
                        stderr,
                        "{}: restart {unit} failed ({})",
                        host.name,
                        out.code.map_or_else(
                            || "killed by a signal".to_string(),
                            |c| format!("exit {c}")
                        )
                    );
                }
                break;
            }
            Err(e) => {
                transport.close().await;
                anyhow::bail!("{}: {e}", host.name);
            }
        }
    }
    let ok = result.unwrap_or(false);
    if ok {
        let show = vec![
            "systemctl".to_string(),
            "show".into(),
            "--timestamp=unix".into(),
            "-p".into(),
            systemd::SHOW_PROPERTIES.into(),
            "--".into(),
            unit.clone(),
        ];
        if let Ok(out) = transport
            .output(&show, None, settings.command_timeout)
            .await
        {
            if let Some(u) = systemd::parse_show(&out.stdout).0.first() {
                println!(
                    "{}: {} is {} ({}), pid {}, active since {}",
                    host.name,
                    u.id,
                    u.active_state,
                    u.sub_state,
                    u.main_pid.map_or("-".into(), |p| p.to_string()),
                    u.active_enter.map_or("-".into(), |t| crate::ui::when(
                        t,
                        crate::ui::unix_secs(std::time::SystemTime::now())
                    ))
                );
            }
        }
    }
    transport.close().await;
    Ok(ok)
}

pub(crate) fn read_password(host: &Host, source: &PasswordSource) -> anyhow::Result<Secret> {
    match source {
        PasswordSource::Stdin => {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            let secret = Secret::new(line.trim_end_matches(['\n', '\r']).to_string());
            zeroize::Zeroize::zeroize(&mut line);
            if secret.expose().is_empty() {
                anyhow::bail!("no sudo password on stdin");
            }
            Ok(secret)
        }
        PasswordSource::Terminal => {
            if !std::io::stdin().is_terminal() {
                anyhow::bail!(
                    "{} needs a sudo password: run in a terminal, or pass --sudo-password-stdin and write it to stdin",
                    host.name
                );
            }
            let typed = rpassword::prompt_password(format!(
                "sudo password for {} ({}): ",
                host.target, host.name
            ))?;
            Ok(Secret::new(typed))
        }
    }
}

/// `flake` exit code when an input from a local repository is behind HEAD.
pub const EXIT_STALE: u8 = 2;

#[derive(Debug, Serialize)]
pub struct FlakeHosts {
    pub schema: &'static str,
    pub hosts: Vec<FlakeHost>,
}

#[derive(Debug, Serialize)]
pub struct FlakeHost {
    pub name: String,
    pub flake: String,
    /// Why the lock could not be read.
    pub error: Option<String>,
    pub report: Option<crate::nix::check::FlakeReport>,
    /// What a deploy of this host adds, as `[input, url]` pairs.
    pub overrides: Vec<(String, String)>,
    /// Why the nix here cannot read this lock although deploytui can (a
    /// relative input, and a nix older than 2.26).
    pub nix_cannot_read: Option<String>,
}

/// Checks the flakes of `hosts` (those that have one).
pub async fn flake(hosts: &[&Host]) -> FlakeHosts {
    let nix_version = crate::nix::check::local_nix_version().await;
    let mut out = Vec::new();
    for host in hosts {
        let Some(flake) = &host.flake else { continue };
        let (report, error) = match crate::nix::check::check(flake, None, None).await {
            Ok(r) => (Some(r), None),
            Err(e) => (None, Some(e.to_string())),
        };
        out.push(FlakeHost {
            name: host.name.clone(),
            flake: flake.to_string(),
            overrides: report
                .as_ref()
                .map(|r| crate::nix::check::overrides(&host.override_inputs, r))
                .unwrap_or_default(),
            nix_cannot_read: report
                .as_ref()
                .and_then(|r| crate::nix::check::old_nix_and_relative_inputs(nix_version, r)),
            error,
            report,
        });
    }
    FlakeHosts {
        schema: crate::nix::check::FLAKE_SCHEMA,
        hosts: out,
    }
}

pub fn print_flake(all: &FlakeHosts, out: &mut impl Write) -> std::io::Result<()> {
    let now = crate::ui::unix_secs(std::time::SystemTime::now());
    let short = |r: &str| crate::nix::check::short_rev(r).to_string();
    for h in &all.hosts {
        writeln!(out, "{}  {}", h.name, h.flake)?;
        let Some(report) = &h.report else {
            writeln!(out, "  error: {}", h.error.as_deref().unwrap_or("?"))?;
            continue;
        };
        if let (Some(head), Some(subject)) = (&report.head, &report.head_subject) {
            writeln!(out, "  HEAD {} {subject}", short(head))?;
        }
        writeln!(
            out,
            "  {:<20} {:<9} {:<8} {:<5} STATUS",
            "INPUT", "TYPE", "LOCKED", "AGE"
        )?;
        for i in &report.inputs {
            let age = i
                .locked
                .last_modified
                .map_or(String::new(), |t| crate::ui::ago(now.saturating_sub(t)));
            let mut status = crate::nix::check::summary(i, false);
            if i.status.is_problem() {
                // Upper case: what a script's reader must not miss.
                let end = status.find([':', ' ']).unwrap_or(status.len());
                status = format!("{}{}", status[..end].to_uppercase(), &status[end..]);
                if let Some(t) = i.oldest_missing_at {
                    status.push_str(&format!(
                        " (oldest {} ago)",
                        crate::ui::ago(now.saturating_sub(t))
                    ));
                }
            }
            let name = format!(
                "{}{}",
                i.locked.path,
                if i.self_referential { " (self)" } else { "" }
            );
            writeln!(
                out,
                "  {:<20} {:<9} {:<8} {:<5} {status}",
                name,
                i.locked.kind,
                i.locked.rev.as_deref().map(short).unwrap_or_default(),
                age
            )?;
        }
        if let Some(why) = &h.nix_cannot_read {
            writeln!(out, "  error: {why}")?;
        }
        if !report.dirty.is_empty() {
            writeln!(out, "  uncommitted: {}", report.dirty.join(", "))?;
        }
        for (input, url) in &h.overrides {
            writeln!(out, "  deploys add --override-input {input} {url}")?;
        }
    }
    Ok(())
}
