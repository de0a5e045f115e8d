//! systemd facts deploytui relies on: which strings are unit names.

/// Unit types systemd knows; a name must end in one of these (after normalisation).
const UNIT_SUFFIXES: &[&str] = &[
    "service",
    "socket",
    "device",
    "mount",
    "automount",
    "swap",
    "target",
    "path",
    "timer",
    "slice",
    "scope",
];

/// systemd's own limit on a unit name (UNIT_NAME_MAX).
const UNIT_NAME_MAX: usize = 255;

/// Checks `name` the way systemd does and returns the canonical name: a name
/// without a type suffix means a service, as `systemctl restart nginx` does.
/// Only the characters systemd allows pass, so a checked name is also safe to
/// show and to pass as one argument.
pub fn normalize_unit_name(name: &str) -> Result<String, String> {
    if name.is_empty() {
        return Err("a unit name cannot be empty".into());
    }
    // Quoted in errors: made safe to print first.
    let shown = crate::text::quote(name);
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || ":-_.\\@".contains(*c)))
    {
        return Err(format!(
            "`{shown}` is not a valid systemd unit name: `{}` is not allowed (only ASCII letters, digits and `:-_.\\@`)",
            bad.escape_default()
        ));
    }
    if name.starts_with(['-', '.', '@']) {
        return Err(format!(
            "`{shown}` is not a valid systemd unit name: it must not start with `-`, `.` or `@`"
        ));
    }
    let full = match name.rsplit_once('.') {
        Some((_, suffix)) if UNIT_SUFFIXES.contains(&suffix) => name.to_string(),
        _ => format!("{name}.service"),
    };
    let (prefix, _suffix) = full.rsplit_once('.').unwrap_or((full.as_str(), ""));
    if prefix.is_empty() {
        return Err(format!(
            "`{shown}` is not a valid systemd unit name: nothing before the type suffix"
        ));
    }
    if prefix.matches('@').count() > 1 {
        return Err(format!(
            "`{shown}` is not a valid systemd unit name: more than one `@`"
        ));
    }
    if full.len() > UNIT_NAME_MAX {
        return Err(format!(
            "`{shown}` is not a valid systemd unit name: longer than {UNIT_NAME_MAX} characters"
        ));
    }
    Ok(full)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_names_become_services() {
        assert_eq!(normalize_unit_name("nginx").unwrap(), "nginx.service");
        assert_eq!(
            normalize_unit_name("nginx.service").unwrap(),
            "nginx.service"
        );
        assert_eq!(normalize_unit_name("nix-gc.timer").unwrap(), "nix-gc.timer");
        assert_eq!(
            normalize_unit_name("getty@tty1.service").unwrap(),
            "getty@tty1.service"
        );
        assert_eq!(
            normalize_unit_name("app.v2").unwrap(),
            "app.v2.service",
            "an unknown suffix is part of the name"
        );
    }

    #[test]
    fn rejects_what_systemd_rejects() {
        for bad in [
            "",
            "ngin x",
            "nginx;reboot",
            "$(reboot)",
            "-nginx",
            ".service",
            "a@b@c.service",
            "ünicode",
        ] {
            assert!(
                normalize_unit_name(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
        let long = "a".repeat(260);
        assert!(normalize_unit_name(&long)
            .unwrap_err()
            .contains("longer than"));
    }
}

/// One unit as `systemctl show --timestamp=unix -p Id,LoadState,ActiveState,SubState,ActiveEnterTimestamp,MainPID,NRestarts` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct UnitState {
    pub id: String,
    pub load_state: String,
    pub active_state: String,
    pub sub_state: String,
    /// Unix seconds when the unit last entered `active`; `None` if never.
    pub active_enter: Option<u64>,
    pub main_pid: Option<u32>,
    pub n_restarts: Option<u32>,
}

/// The properties deploytui asks `systemctl show` for, in its own spelling.
pub const SHOW_PROPERTIES: &str =
    "Id,LoadState,ActiveState,SubState,ActiveEnterTimestamp,MainPID,NRestarts";

impl UnitState {
    pub fn exists(&self) -> bool {
        self.load_state != "not-found"
    }

    /// Why a watched unit is not doing its job, in one word: `missing`
    /// (no such unit), `failed`, or `stopped` (inactive). Starting,
    /// reloading and stopping units are on their way and not counted.
    pub fn down(&self) -> Option<&'static str> {
        if !self.exists() {
            return Some("missing");
        }
        match self.active_state.as_str() {
            "failed" => Some("failed"),
            "inactive" => Some("stopped"),
            _ => None,
        }
    }
}

/// Parses `systemctl show` output: one `Key=Value` block per unit, blocks
/// separated by blank lines. Unknown keys are ignored; a value that does not
/// parse is left unknown and reported in the returned warnings.
pub fn parse_show(text: &str) -> (Vec<UnitState>, Vec<String>) {
    let mut units = Vec::new();
    let mut warnings = Vec::new();
    let mut current: Option<UnitState> = None;
    for line in text.lines().chain(std::iter::once("")) {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            if let Some(unit) = current.take() {
                units.push(unit);
            }
            continue;
        }
        let unit = current.get_or_insert_with(UnitState::default);
        let Some((key, value)) = line.split_once('=') else {
            warnings.push(format!(
                "systemctl show: ignored line without `=`: `{}`",
                crate::text::quote(line)
            ));
            continue;
        };
        // What the host says is kept safe to draw: escaped and capped.
        let safe = || crate::text::quote(value);
        let number = |warnings: &mut Vec<String>| -> Option<u64> {
            value
                .parse()
                .map_err(|_| {
                    warnings.push(format!(
                        "systemctl show: {}=`{}` is not a number",
                        crate::text::quote(key),
                        safe()
                    ))
                })
                .ok()
        };
        match key {
            "Id" => unit.id = safe(),
            "LoadState" => unit.load_state = safe(),
            "ActiveState" => unit.active_state = safe(),
            "SubState" => unit.sub_state = safe(),
            "ActiveEnterTimestamp" => {
                unit.active_enter = match value {
                    "" | "n/a" | "0" => None,
                    v => match v.strip_prefix('@').and_then(|s| s.parse().ok()) {
                        Some(t) => Some(t),
                        None => {
                            warnings.push(format!(
                                "systemctl show: ActiveEnterTimestamp=`{}` is not `@<unix seconds>`",
                                safe()
                            ));
                            None
                        }
                    },
                }
            }
            "MainPID" => {
                unit.main_pid = number(&mut warnings)
                    .and_then(|p| u32::try_from(p).ok())
                    .filter(|p| *p != 0)
            }
            "NRestarts" => {
                unit.n_restarts = number(&mut warnings).and_then(|n| u32::try_from(n).ok())
            }
            _ => {}
        }
    }
    (units, warnings)
}

#[cfg(test)]
mod show_tests {
    use super::*;

    #[test]
    fn parses_blocks_as_systemd_prints_them() {
        let out = "Id=nginx.service\nLoadState=loaded\nActiveState=active\nSubState=running\n\
                   ActiveEnterTimestamp=@1732400000\nMainPID=1234\nNRestarts=0\n\n\
                   Id=gone.service\nLoadState=not-found\nActiveState=inactive\nSubState=dead\n\
                   ActiveEnterTimestamp=\nMainPID=0\nNRestarts=0\n";
        let (units, warnings) = parse_show(out);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(units.len(), 2);
        assert_eq!(
            units[0],
            UnitState {
                id: "nginx.service".into(),
                load_state: "loaded".into(),
                active_state: "active".into(),
                sub_state: "running".into(),
                active_enter: Some(1_732_400_000),
                main_pid: Some(1234),
                n_restarts: Some(0),
            }
        );
        assert!(!units[1].exists());
        assert_eq!(units[1].active_enter, None);
        assert_eq!(units[1].main_pid, None);
    }

    #[test]
    fn malformed_values_are_unknown_with_a_reason() {
        let (units, warnings) = parse_show(
            "Id=a.service\nMainPID=abc\nActiveEnterTimestamp=Mon 2024-11-25\ngarbage\r\n",
        );
        assert_eq!(units.len(), 1);
        assert_eq!(units[0].main_pid, None);
        assert_eq!(units[0].active_enter, None);
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        let (units, warnings) = parse_show("");
        assert!(units.is_empty() && warnings.is_empty());
    }
}
