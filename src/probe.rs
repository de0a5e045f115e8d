//! The host probe: one remote command that reports what a host runs, and a
//! pure parser for its output. Anything missing or malformed becomes an
//! unknown field with a reason, never a failure of the whole probe.

use serde::Serialize;

use crate::remote::{CommandOutput, RemoteError};
use crate::systemd::{self, UnitState};

/// Runs as `sh -c PROBE_SCRIPT deploytui-probe SECONDS UNIT...` on the host.
/// The calls that can hang (systemctl, on a sick host) run under the host's
/// own `timeout`, so a probe deploytui gave up on leaves nothing behind.
pub const PROBE_SCRIPT: &str = r#"
limit=$1; shift
t() { if command -v timeout >/dev/null 2>&1; then timeout -k 1 "$limit" "$@"; else "$@"; fi; }
echo "probe=1"
echo "now=$(date +%s)"
if cur=$(readlink /run/current-system 2>/dev/null); then
  echo "current=$cur"
  echo "current_mtime=$(stat -c %Y /run/current-system 2>/dev/null)"
  if [ -x /run/current-system/sw/bin/nixos-version ]; then
    echo "nixos_version_json=$(/run/current-system/sw/bin/nixos-version --json 2>/dev/null | tr -d '\n')"
  fi
  [ -r /run/current-system/nixos-version ] && echo "nixos_version=$(cat /run/current-system/nixos-version)"
fi
booted=$(readlink /run/booted-system 2>/dev/null) && echo "booted=$booted"
# Each part both systems have, every side resolved by one readlink (a
# process costs milliseconds); a function, so `set --` leaves the units be.
boot_parts() {
  parts=
  for part in kernel initrd kernel-modules; do
    [ -e /run/booted-system/$part ] && [ -e /run/current-system/$part ] && parts="$parts $part"
  done
  [ -n "$parts" ] || return 0
  paths=
  for part in $parts; do paths="$paths /run/booted-system/$part /run/current-system/$part"; done
  resolved=$(readlink -f $paths) || return 0
  set -- $resolved
  for part in $parts; do
    [ $# -ge 2 ] || return 0
    echo "boot_part=$part $1 $2"
    shift 2
  done
}
boot_parts
if profile=$(readlink /nix/var/nix/profiles/system 2>/dev/null); then
  echo "profile=$profile"
  echo "profile_mtime=$(stat -c %Y "/nix/var/nix/profiles/$profile" 2>/dev/null)"
  echo "profile_system=$(readlink -f /nix/var/nix/profiles/system 2>/dev/null)"
fi
[ -r /proc/uptime ] && read -r up _ < /proc/uptime && echo "uptime=$up"
# Which system was switched to when (switch-to-configuration logs it as
# `nixos`), this boot; and a checksum of each watched unit's file in those
# systems, to tell a unit left running on an old definition from one whose
# system merely changed. Readable only with journal access (PID 1's lines
# show).
if command -v journalctl >/dev/null 2>&1; then
  if [ -n "$(t journalctl -b -q --no-pager -n 1 -o cat _PID=1 2>/dev/null)" ]; then
    echo "journal=1"
    switches=$(t journalctl -b -q --no-pager -o short-unix -t nixos 2>/dev/null |
      grep ': switching to system configuration /' | tail -n 20)
    printf '%s\n' "$switches" | while read -r ts rest; do
      [ -n "$ts" ] && echo "switch=$ts ${rest##* }"
    done
    if [ $# -gt 0 ]; then
      systems=$({ printf '%s\n' "$switches" | awk '{print $NF}' | tail -n 8; echo "${cur-}"; echo "${booted-}"; } |
        grep '^/nix/store/[^/ ]*$' | sort -u)
      paths=
      for s in $systems; do for u in "$@"; do paths="$paths $s/etc/systemd/system/$u"; done; done
      [ -n "$paths" ] && md5sum -- $paths 2>/dev/null | sed 's/^/unit_sum=/'
    fi
  else
    echo "journal=0"
  fi
fi
if failed=$(t systemctl list-units --state=failed --no-legend --plain 2>/dev/null); then
  # Its lines counted by the shell (no glob, one field a line).
  n=0; set -f; old_ifs=$IFS; IFS='
'
  for l in $failed; do n=$((n + 1)); done
  IFS=$old_ifs; set +f
  echo "failed_units=$n"
else
  echo "failed_units_rc=$?"
fi
echo "@@systemctl-show"
rc=0
if [ $# -gt 0 ]; then
  t systemctl show --timestamp=unix -p Id,LoadState,ActiveState,SubState,ActiveEnterTimestamp,MainPID,NRestarts -- "$@" || rc=$?
fi
echo "@@end"
echo "show_rc=$rc"
"#;

/// The probe as an argv: `sh -c PROBE_SCRIPT deploytui-probe SECONDS UNIT...`.
/// `limit` is deploytui's deadline for the whole probe; the host stops its
/// own commands a little before it.
pub fn command(units: &[String], limit: std::time::Duration) -> Vec<String> {
    let on_host = limit.as_secs().saturating_sub(2).max(1);
    let mut argv = vec![
        "sh".to_string(),
        "-c".into(),
        PROBE_SCRIPT.into(),
        "deploytui-probe".into(),
        on_host.to_string(),
    ];
    argv.extend(units.iter().cloned());
    argv
}

/// The probe's result from its command output: parsed when it ran (even
/// partly), an error with the exit status and stderr when it did not.
pub fn read(out: &CommandOutput, units: &[String]) -> Result<HostProbe, RemoteError> {
    if out.stdout.contains("@@systemctl-show") || out.success() {
        Ok(parse(&out.stdout, units))
    } else {
        Err(RemoteError::Run(format!(
            "probe failed ({}): {}",
            out.code.map_or("signal".into(), |c| format!("exit {c}")),
            crate::text::quote(out.stderr.trim())
        )))
    }
}

/// Runs the probe on the host and reads it: the one round trip every
/// probe of a host makes (refresh, status, doctor, after a deploy).
pub async fn fetch(
    transport: &crate::remote::Transport,
    units: &[String],
    limit: std::time::Duration,
) -> Result<HostProbe, RemoteError> {
    let out = transport
        .output(&command(units, limit), None, limit)
        .await?;
    read(&out, units)
}

/// `/nix/store/<32 base-32 characters>-<name>`, as nix makes them: what a
/// host reports as its system must be one before it is shown or used.
pub fn is_store_path(path: &str) -> bool {
    let Some(base) = path.strip_prefix("/nix/store/") else {
        return false;
    };
    let Some((hash, name)) = base.split_once('-') else {
        return false;
    };
    hash.len() == 32
        && hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b.is_ascii_lowercase() && !b"eotu".contains(&b)))
        && !name.is_empty()
        && name.len() <= 211
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-._?=".contains(&b))
}

/// A commit id, or one with nix's `-dirty` suffix (a build from a dirty tree).
fn is_revision(rev: &str) -> bool {
    crate::nix::lock::is_commit_id(rev.strip_suffix("-dirty").unwrap_or(rev))
}

/// What one probe learned. `None` means the host did not say (see `warnings`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct HostProbe {
    /// The host's clock when probed (unix seconds); times below are on it.
    pub now: Option<u64>,
    /// Store path of the running system (`/run/current-system`).
    pub current_system: Option<String>,
    /// When it was activated: the mtime of the `/run/current-system` link.
    pub activated_at: Option<u64>,
    pub booted_system: Option<String>,
    /// Whether the running system's kernel, initrd or modules differ from
    /// the booted one's; `None` when the systems have none to compare.
    pub boot_changed: Option<bool>,
    /// The system profile's current generation and when it was made.
    pub generation: Option<u32>,
    pub generation_at: Option<u64>,
    /// The store path that generation holds: the system the host boots.
    pub profile_system: Option<String>,
    /// Whether the host's journal could be read (switches are known).
    pub journal_readable: Option<bool>,
    /// The systems switched to this boot, oldest first (the journal's
    /// `switching to system configuration …`).
    pub switches: Vec<Switch>,
    /// Each watched unit's file in the systems that matter, by content:
    /// (system, unit, checksum). A file that is not there (a collected
    /// system, a unit the system lacks) is not listed.
    pub unit_files: Vec<(String, String, String)>,
    pub nixos_version: Option<String>,
    /// The commit the running system was built from, if it records one.
    pub configuration_revision: Option<String>,
    pub uptime_secs: Option<u64>,
    pub failed_units: Option<u32>,
    pub services: Vec<UnitState>,
    /// Why a field is unknown, or what in the output was odd.
    pub warnings: Vec<String>,
}

/// One switch-to-configuration run, from the host's journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Switch {
    /// When it began (unix seconds, host clock).
    pub at: u64,
    /// The system it switched to.
    pub to: String,
}

/// How sure deploytui is that a running service is not what the running
/// system would run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Staleness {
    /// Its unit changed in a switch after it started and it was not
    /// restarted: it runs the old unit (certain).
    OldUnit,
    /// Its unit is the same, but the system changed under it since it
    /// started: it may still serve what the new system replaced (the
    /// brief's nginx), or may not.
    SystemChanged,
}

impl Staleness {
    pub fn words(self) -> &'static str {
        match self {
            Staleness::OldUnit => "runs its old unit: it changed and was not restarted",
            Staleness::SystemChanged => {
                "its unit is unchanged, but the system changed under it: it may serve old files"
            }
        }
    }
}

impl HostProbe {
    /// A reboot is pending when the running system's kernel, initrd or
    /// modules are not the booted ones (any other change is live already).
    /// Systems with none of them to compare: pending only if the two
    /// systems differ at all, and then not known.
    pub fn reboot_pending(&self) -> Option<bool> {
        if let Some(changed) = self.boot_changed {
            return Some(changed);
        }
        (self.booted_system.as_ref()? == self.current_system.as_ref()?).then_some(false)
    }

    /// Whether the host runs its boot default (the system profile's current
    /// generation); `false` after a `test` deploy, a `boot` deploy not yet
    /// rebooted, or deploys that crossed. `None` when either is unknown.
    pub fn runs_boot_default(&self) -> Option<bool> {
        Some(self.current_system.as_ref()? == self.profile_system.as_ref()?)
    }

    /// Whether a running service started under a system other than the
    /// running one, and how sure that is: from the journal's switches (the
    /// system it started under, and its unit file there and now). Without
    /// the journal, only a service older than the last activation on a
    /// host that switched away from its booted system is marked (possible).
    /// An activation that changed nothing marks nothing.
    pub fn staleness(&self, unit: &UnitState) -> Option<Staleness> {
        if unit.active_state != "active" {
            return None;
        }
        let since = unit.active_enter?;
        let now = self.current_system.as_deref()?;
        if self.journal_readable != Some(true) {
            let older = self.activated_at? > since;
            return (older && self.booted_system.as_deref()? != now)
                .then_some(Staleness::SystemChanged);
        }
        let then = self
            .switches
            .iter()
            .rev()
            .find(|s| s.at <= since)
            .map(|s| s.to.as_str())
            .or(self.booted_system.as_deref())?;
        if then == now {
            return None;
        }
        let file = |system: &str| {
            self.unit_files
                .iter()
                .find(|(s, u, _)| s == system && *u == unit.id)
                .map(|(_, _, sum)| sum.as_str())
        };
        match (file(then), file(now)) {
            (Some(old), Some(new)) if old != new => Some(Staleness::OldUnit),
            _ => Some(Staleness::SystemChanged),
        }
    }

    /// A running service that started under another system (see
    /// [`HostProbe::staleness`]).
    pub fn is_stale(&self, unit: &UnitState) -> bool {
        self.staleness(unit).is_some()
    }

    /// Watched units that are missing, failed or stopped, with why.
    pub fn down_services(&self) -> impl Iterator<Item = (&UnitState, &'static str)> {
        self.services.iter().filter_map(|u| Some((u, u.down()?)))
    }

    /// Watched services that started under another system, and how sure.
    pub fn stale_services(&self) -> impl Iterator<Item = (&UnitState, Staleness)> {
        self.services
            .iter()
            .filter_map(|u| Some((u, self.staleness(u)?)))
    }
}

/// `<md5>  <system>/etc/systemd/system/<unit>` (md5sum's line) as
/// (system, unit, checksum), for a unit deploytui asked about.
fn unit_file(line: &str, units: &[String]) -> Option<(String, String, String)> {
    let (sum, path) = line.split_once("  ")?;
    let (system, unit) = path.split_once("/etc/systemd/system/")?;
    let valid = sum.len() == 32
        && sum.bytes().all(|b| b.is_ascii_hexdigit())
        && is_store_path(system)
        && units.iter().any(|u| u == unit);
    valid.then(|| (system.to_string(), unit.to_string(), sum.to_string()))
}

/// Why a command the probe ran on the host gave nothing, from its exit code:
/// 124 and 137 are the host's `timeout` stopping it.
fn did_not_work(what: &str, code: &str) -> String {
    match code.trim() {
        "124" | "137" => format!("{what} did not answer in time (stopped on the host)"),
        other => format!("{what} failed (exit {})", crate::text::quote(other)),
    }
}

/// Parses the probe's output. `units` are the services asked about, so
/// missing ones can be named.
pub fn parse(output: &str, units: &[String]) -> HostProbe {
    let mut p = HostProbe::default();
    let (head, show) = match output.split_once("@@systemctl-show\n") {
        Some((head, rest)) => {
            let show = match rest.split_once("@@end") {
                Some((show, after)) => {
                    let rc = after.lines().find_map(|l| l.strip_prefix("show_rc="));
                    if let Some(rc) = rc.filter(|rc| rc.trim() != "0") {
                        p.warnings.push(did_not_work("systemctl show", rc));
                    }
                    show
                }
                None => {
                    p.warnings
                        .push("probe output ended early (no end marker)".into());
                    rest
                }
            };
            (head, Some(show))
        }
        None => {
            p.warnings
                .push("probe output has no service section".into());
            (output, None)
        }
    };
    if !head.contains("probe=1") {
        p.warnings.push(
            "probe output lacks its header (did the login shell print something else?)".into(),
        );
    }
    for line in head.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        // Everything the host says is quoted safe (escaped, capped) in warnings.
        let shown = crate::text::quote(value);
        let number = |warnings: &mut Vec<String>, what: &str| -> Option<u64> {
            value
                .parse()
                .map_err(|_| warnings.push(format!("{what}: `{shown}` is not a number")))
                .ok()
        };
        let store_path = |warnings: &mut Vec<String>, what: &str| -> Option<String> {
            if is_store_path(value) {
                Some(value.to_string())
            } else {
                warnings.push(format!("{what} is `{shown}`, not a /nix/store path"));
                None
            }
        };
        let w = &mut p.warnings;
        match key {
            "now" => p.now = number(w, "now"),
            "current" => p.current_system = store_path(w, "/run/current-system"),
            "current_mtime" => p.activated_at = number(w, "activation time"),
            "booted" => p.booted_system = store_path(w, "/run/booted-system"),
            "boot_part" => {
                // `kernel <booted> <current>`, both store paths.
                let mut parts = value.split(' ');
                match (parts.next(), parts.next(), parts.next()) {
                    (Some(_), Some(b), Some(c)) if is_store_path(b) && is_store_path(c) => {
                        p.boot_changed = Some(p.boot_changed.unwrap_or(false) || b != c);
                    }
                    _ => w.push(format!("boot part `{shown}` is not two store paths")),
                }
            }
            "profile" => {
                p.generation = value
                    .strip_prefix("system-")
                    .and_then(|s| s.strip_suffix("-link"))
                    .and_then(|n| n.parse().ok());
                if p.generation.is_none() {
                    p.warnings.push(format!(
                        "system profile points at `{shown}`, not system-N-link"
                    ));
                }
            }
            "profile_mtime" => p.generation_at = number(w, "generation time"),
            "profile_system" => p.profile_system = store_path(w, "the system profile"),
            "journal" => p.journal_readable = Some(value == "1"),
            "switch" => match value.split_once(' ') {
                Some((at, to)) if is_store_path(to) => {
                    // `1795556000.123456`: whole seconds, as systemd gives unit times.
                    match at.split('.').next().and_then(|s| s.parse().ok()) {
                        Some(at) => p.switches.push(Switch {
                            at,
                            to: to.to_string(),
                        }),
                        None => w.push(format!("switch `{shown}` has no time")),
                    }
                }
                _ => w.push(format!("switch `{shown}` is not a time and a store path")),
            },
            "unit_sum" => match unit_file(value, units) {
                Some(file) => p.unit_files.push(file),
                None => w.push(format!(
                    "unit file `{shown}` is not a checksum and a unit path"
                )),
            },
            "uptime" => {
                p.uptime_secs = value.split('.').next().and_then(|s| s.parse().ok());
            }
            "failed_units_rc" => {
                p.warnings.push(did_not_work("systemctl list-units", value));
            }
            "failed_units" => {
                p.failed_units = number(w, "failed units").and_then(|n| u32::try_from(n).ok())
            }
            "nixos_version" if p.nixos_version.is_none() && !value.is_empty() => {
                p.nixos_version = Some(shown);
            }
            "nixos_version_json" => match serde_json::from_str::<serde_json::Value>(value) {
                Ok(v) => {
                    if let Some(s) = v.get("nixosVersion").and_then(|s| s.as_str()) {
                        p.nixos_version = Some(crate::text::quote(s));
                    }
                    let rev = v
                        .get("configurationRevision")
                        .and_then(|s| s.as_str())
                        .filter(|s| !s.is_empty());
                    // It goes to git later: only a commit id (maybe `-dirty`) is kept.
                    p.configuration_revision = match rev {
                        Some(r) if is_revision(r) => Some(r.to_string()),
                        Some(r) => {
                            p.warnings.push(format!(
                                "configurationRevision `{}` is not a commit id",
                                crate::text::quote(r)
                            ));
                            None
                        }
                        None => None,
                    };
                }
                Err(e) => p.warnings.push(format!(
                    "nixos-version --json: {}",
                    crate::text::quote(&e.to_string())
                )),
            },
            _ => {}
        }
    }
    // Said once: either there is no link, or its target was refused above.
    if p.current_system.is_none() && !head.lines().any(|l| l.starts_with("current=")) {
        p.warnings
            .push("no /run/current-system: not a NixOS host, or not activated yet".into());
    }
    if let Some(show) = show {
        let (services, warnings) = systemd::parse_show(show);
        p.warnings.extend(warnings);
        for unit in units {
            if !services.iter().any(|s| &s.id == unit) {
                p.warnings.push(format!(
                    "systemctl said nothing about {}",
                    crate::text::quote(unit)
                ));
            }
        }
        p.services = services;
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "probe=1\nnow=1795556100\ncurrent=/nix/store/mishfibwd0cvxa49ybd0ra950j38i1i5-nixos-system-server1\ncurrent_mtime=1795556000\n\
        nixos_version_json={\"nixosVersion\":\"24.11.x\",\"configurationRevision\":\"c5f221cb27cb3b2f53a151ac25f4e196c202d1d8-dirty\"}\n\
        nixos_version=24.11.x\nbooted=/nix/store/0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a-nixos-system-server1\nprofile=system-7-link\nprofile_mtime=1795555990\n\
        profile_system=/nix/store/mishfibwd0cvxa49ybd0ra950j38i1i5-nixos-system-server1\n\
        uptime=3600.52\nfailed_units=1\n@@systemctl-show\n\
        Id=nginx.service\nLoadState=loaded\nActiveState=active\nSubState=running\nActiveEnterTimestamp=@1795555000\nMainPID=10\nNRestarts=0\n\n\
        Id=webapp.service\nLoadState=loaded\nActiveState=active\nSubState=running\nActiveEnterTimestamp=@1795556001\nMainPID=11\nNRestarts=2\n\
        @@end\n";

    #[test]
    fn parses_a_full_probe() {
        let units = vec!["nginx.service".to_string(), "webapp.service".to_string()];
        let p = parse(GOOD, &units);
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
        assert_eq!(
            p.current_system.as_deref(),
            Some("/nix/store/mishfibwd0cvxa49ybd0ra950j38i1i5-nixos-system-server1")
        );
        assert_eq!(p.activated_at, Some(1_795_556_000));
        assert_eq!(p.generation, Some(7));
        assert_eq!(p.generation_at, Some(1_795_555_990));
        assert_eq!(p.runs_boot_default(), Some(true));
        // The profile moved on (a crossed deploy, a `test`): flagged.
        let other = GOOD.replace(
            "profile_system=/nix/store/mish",
            "profile_system=/nix/store/0a0a",
        );
        assert_eq!(parse(&other, &units).runs_boot_default(), Some(false));
        let unknown = GOOD.replace("profile_system=", "profile_system=not-a-path");
        assert_eq!(parse(&unknown, &units).runs_boot_default(), None);
        assert_eq!(p.nixos_version.as_deref(), Some("24.11.x"));
        assert_eq!(
            p.configuration_revision.as_deref(),
            Some("c5f221cb27cb3b2f53a151ac25f4e196c202d1d8-dirty")
        );
        assert_eq!(p.uptime_secs, Some(3600));
        assert_eq!(p.failed_units, Some(1));
        assert_eq!(
            p.reboot_pending(),
            None,
            "the systems differ, with no kernel to compare"
        );
        // With kernels: pending only when one of them differs.
        let k = |kernel: &str| {
            format!(
                "boot_part=kernel /nix/store/kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk-linux-6.6 {kernel}
"
            )
        };
        let same = parse(
            &GOOD.replace(
                "@@systemctl-show",
                &format!(
                    "{}@@systemctl-show",
                    k("/nix/store/kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk-linux-6.6")
                ),
            ),
            &units,
        );
        assert_eq!(same.reboot_pending(), Some(false), "an app change is live");
        let new = parse(
            &GOOD.replace(
                "@@systemctl-show",
                &format!(
                    "{}@@systemctl-show",
                    k("/nix/store/jjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjj-linux-6.7")
                ),
            ),
            &units,
        );
        assert_eq!(new.reboot_pending(), Some(true));
        let junk = parse(
            &GOOD.replace(
                "@@systemctl-show",
                "boot_part=kernel /etc/passwd x\n@@systemctl-show",
            ),
            &units,
        );
        assert!(
            junk.warnings.iter().any(|w| w.contains("boot part")),
            "{:?}",
            junk.warnings
        );
        assert_eq!(p.services.len(), 2);
        let stale: Vec<_> = p
            .stale_services()
            .map(|(u, s)| (u.id.as_str(), s))
            .collect();
        assert_eq!(
            stale,
            vec![("nginx.service", Staleness::SystemChanged)],
            "no journal: nginx started before the activation, on a host that left its booted system"
        );
    }

    /// A probe with the journal: nginx (started at 1000) and webapp
    /// (started at 2000); the host booted S1; `switches` and the unit
    /// files in each system as given.
    fn with_history(
        current: &str,
        switches: &[(u64, &str)],
        files: &[(&str, &str, &str)],
    ) -> HostProbe {
        let sys = |s: &str| format!("/nix/store/{}-nixos-system-server1", s.repeat(32));
        let unit = |id: &str, since: u64| UnitState {
            id: id.into(),
            load_state: "loaded".into(),
            active_state: "active".into(),
            sub_state: "running".into(),
            active_enter: Some(since),
            main_pid: Some(1),
            n_restarts: Some(0),
        };
        HostProbe {
            current_system: Some(sys(current)),
            booted_system: Some(sys("a")),
            activated_at: Some(3000),
            journal_readable: Some(true),
            switches: switches
                .iter()
                .map(|(at, to)| Switch {
                    at: *at,
                    to: sys(to),
                })
                .collect(),
            unit_files: files
                .iter()
                .map(|(s, u, f)| (sys(s), u.to_string(), f.to_string()))
                .collect(),
            services: vec![unit("nginx.service", 1000), unit("webapp.service", 2000)],
            ..HostProbe::default()
        }
    }

    fn marks(p: &HostProbe) -> Vec<(&str, Staleness)> {
        p.stale_services()
            .map(|(u, s)| (u.id.as_str(), s))
            .collect()
    }

    #[test]
    fn a_no_op_redeploy_marks_nothing() {
        // Booted a; switched to a again (the same system) after both started.
        let p = with_history("a", &[(2500, "a")], &[]);
        assert_eq!(marks(&p), []);
        // And a rollback to the booted system: the services run it.
        let p = with_history(
            "a",
            &[(1500, "b"), (2500, "a")],
            &[("a", "nginx.service", "n1"), ("b", "nginx.service", "n2")],
        );
        assert_eq!(marks(&p), [("webapp.service", Staleness::SystemChanged)]);
    }

    #[test]
    fn a_changed_unit_left_running_is_certain_an_unchanged_one_possible() {
        // a → b at 2500: nginx's unit changed (n1 → n2), webapp's did not.
        let files = [
            ("a", "nginx.service", "n1"),
            ("b", "nginx.service", "n2"),
            ("a", "webapp.service", "w1"),
            ("b", "webapp.service", "w1"),
        ];
        let p = with_history("b", &[(2500, "b")], &files);
        assert_eq!(
            marks(&p),
            [
                ("nginx.service", Staleness::OldUnit),
                ("webapp.service", Staleness::SystemChanged)
            ]
        );
        // A second, no-op switch to b changes nothing about them.
        let p = with_history("b", &[(2500, "b"), (2800, "b")], &files);
        assert_eq!(marks(&p).len(), 2);
        // Unit files that cannot be compared (a collected system): possible.
        let p = with_history("b", &[(2500, "b")], &[]);
        assert_eq!(
            marks(&p),
            [
                ("nginx.service", Staleness::SystemChanged),
                ("webapp.service", Staleness::SystemChanged)
            ]
        );
    }

    /// The journal's switches and the unit files, as the probe prints them.
    #[test]
    fn reads_the_switches_and_unit_files_it_is_given() {
        let units = vec!["nginx.service".to_string(), "webapp.service".to_string()];
        let cur = "/nix/store/mishfibwd0cvxa49ybd0ra950j38i1i5-nixos-system-server1";
        let out = GOOD.replace(
            "@@systemctl-show",
            &format!(
                "journal=1\nswitch=1795555500.123456 {cur}\nswitch=junk\n\
                 unit_sum=0123456789abcdef0123456789abcdef  {cur}/etc/systemd/system/nginx.service\n\
                 unit_sum=0123456789abcdef0123456789abcdef  {cur}/etc/systemd/system/ssh.service\n@@systemctl-show"
            ),
        );
        let p = parse(&out, &units);
        assert_eq!(p.journal_readable, Some(true));
        assert_eq!(
            p.switches,
            [Switch {
                at: 1_795_555_500,
                to: cur.into()
            }]
        );
        assert!(p.warnings.iter().any(|w| w.contains("switch `junk`")));
        // ssh.service was not asked about: not taken.
        assert_eq!(p.unit_files.len(), 1);
        assert!(p.warnings.iter().any(|w| w.contains("unit file `0123")));
        // nginx (since 1795555000) started under the booted system, before
        // the switch to this one: its unit there is unknown, so possible.
        assert_eq!(p.staleness(&p.services[0]), Some(Staleness::SystemChanged));
        // webapp started after the switch: it runs this system's.
        assert_eq!(p.staleness(&p.services[1]), None);
    }

    #[test]
    fn partial_or_garbled_output_gives_unknowns_with_reasons() {
        let p = parse("Welcome to my server!\nprobe=1\nnow=soon\nprofile=weird\n@@systemctl-show\nId=nginx.service\n", &["nginx.service".into(), "db.service".into()]);
        assert_eq!(p.now, None);
        assert_eq!(p.generation, None);
        assert_eq!(p.current_system, None);
        assert_eq!(p.services.len(), 1);
        let w = p.warnings.join("\n");
        for expected in [
            "now: `soon` is not a number",
            "not system-N-link",
            "no end marker",
            "nothing about db.service",
            "no /run/current-system",
        ] {
            assert!(w.contains(expected), "missing {expected:?} in {w}");
        }
        let empty = parse("", &[]);
        assert!(empty
            .warnings
            .iter()
            .any(|w| w.contains("no service section")));
    }

    #[test]
    fn a_probe_that_did_not_run_is_an_error_with_its_status() {
        let out = |code, stdout: &str, stderr: &str| CommandOutput {
            code: Some(code),
            stdout: stdout.into(),
            stderr: stderr.into(),
        };
        let e = read(&out(127, "", "sh: not found"), &[]).unwrap_err();
        assert_eq!(
            e,
            RemoteError::Run("probe failed (exit 127): sh: not found".into())
        );
        // A failing systemctl at the end still leaves a probe worth reading.
        let p = read(&out(1, GOOD, "systemctl: oops"), &[]).unwrap();
        assert_eq!(p.generation, Some(7));
        let argv = command(
            &["nginx.service".into()],
            std::time::Duration::from_secs(20),
        );
        assert_eq!(argv[4..], ["18", "nginx.service"]);
    }

    #[test]
    fn what_a_host_says_is_checked_and_made_safe() {
        let hostile = "probe=1\ncurrent=/nix/store/x\x1b]0;pwned\x07-sys\n\
            nixos_version_json={\"configurationRevision\":\"--output=/tmp/f\"}\n\
            nixos_version=24.11\x1b[2J\nnow=1\x1b[2J\n@@systemctl-show\n\
            Id=nginx.service\nActiveState=active\nSubState=running\x1b]52;c;eA==\x07\n@@end\n";
        let p = parse(hostile, &["nginx.service".into()]);
        assert_eq!(p.current_system, None, "not a store path");
        assert_eq!(p.configuration_revision, None, "never reaches git");
        assert_eq!(p.nixos_version.as_deref(), Some("24.11\\x1b[2J"));
        assert_eq!(p.services[0].sub_state, "running\\x1b]52;c;eA==\\x07");
        for w in &p.warnings {
            assert!(!w.chars().any(crate::text::is_unsafe), "{w:?}");
        }
        let w = p.warnings.join("\n");
        assert!(w.contains("/run/current-system is `/nix/store/x\\x1b]0;pwned\\x07-sys`, not a /nix/store path"), "{w}");
        assert!(
            w.contains("configurationRevision `--output=/tmp/f` is not a commit id"),
            "{w}"
        );
        // A huge value is quoted in part, with what was cut.
        let huge = format!(
            "probe=1\nnow={}\n@@systemctl-show\n@@end\n",
            "9".repeat(10_000_000)
        );
        let w = parse(&huge, &[]).warnings.join("\n");
        assert!(
            w.len() < 2000 && w.contains("more bytes cut"),
            "{}",
            w.len()
        );
    }

    #[test]
    fn a_systemctl_that_hangs_or_fails_is_named_not_counted_as_zero() {
        let out = "probe=1\nfailed_units_rc=124\n@@systemctl-show\n@@end\nshow_rc=124\n";
        let p = parse(out, &["nginx.service".into()]);
        assert_eq!(p.failed_units, None, "unknown, not 0");
        let w = p.warnings.join("\n");
        assert!(
            w.contains("systemctl list-units did not answer in time (stopped on the host)"),
            "{w}"
        );
        assert!(w.contains("systemctl show did not answer in time"), "{w}");
        let p = parse("probe=1\n@@systemctl-show\n@@end\nshow_rc=1\n", &[]);
        assert_eq!(p.warnings[0], "systemctl show failed (exit 1)");
    }

    #[test]
    fn store_paths_are_what_nix_makes() {
        assert!(is_store_path(
            "/nix/store/mishfibwd0cvxa49ybd0ra950j38i1i5-nixos-system-a-24.11"
        ));
        assert!(!is_store_path(
            "/nix/store/mishfibwd0cvxa49ybd0ra950j38i1i5"
        ));
        assert!(
            !is_store_path("/nix/store/eishfibwd0cvxa49ybd0ra950j38i1i5-x"),
            "e is not base-32"
        );
        assert!(!is_store_path("/nix/store/../../etc/passwd-x"));
        assert!(!is_store_path("/tmp/mishfibwd0cvxa49ybd0ra950j38i1i5-x"));
        assert!(!is_store_path(
            "/nix/store/mishfibwd0cvxa49ybd0ra950j38i1i5-a b"
        ));
    }

    #[test]
    fn stale_needs_both_times_and_an_active_unit() {
        let p = parse(GOOD, &[]);
        let mut unit = p.services[0].clone();
        assert!(p.is_stale(&unit));
        unit.active_state = "failed".into();
        assert!(!p.is_stale(&unit));
        let mut unknown = p.clone();
        unknown.activated_at = None;
        assert!(!unknown.is_stale(&p.services[0]));
    }
}
