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
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || ":-_.\\@".contains(*c)))
    {
        return Err(format!(
            "`{name}` is not a valid systemd unit name: `{}` is not allowed (only ASCII letters, digits and `:-_.\\@`)",
            bad.escape_default()
        ));
    }
    if name.starts_with(['-', '.', '@']) {
        return Err(format!(
            "`{name}` is not a valid systemd unit name: it must not start with `-`, `.` or `@`"
        ));
    }
    let full = match name.rsplit_once('.') {
        Some((_, suffix)) if UNIT_SUFFIXES.contains(&suffix) => name.to_string(),
        _ => format!("{name}.service"),
    };
    let (prefix, _suffix) = full.rsplit_once('.').unwrap_or((full.as_str(), ""));
    if prefix.is_empty() {
        return Err(format!(
            "`{name}` is not a valid systemd unit name: nothing before the type suffix"
        ));
    }
    if prefix.matches('@').count() > 1 {
        return Err(format!(
            "`{name}` is not a valid systemd unit name: more than one `@`"
        ));
    }
    if full.len() > UNIT_NAME_MAX {
        return Err(format!(
            "`{name}` is not a valid systemd unit name: longer than {UNIT_NAME_MAX} characters"
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
