//! The nixos-rebuild line of a host: what it must say to deploy that host
//! and no other, the sudo it implies, and the line a host gets when the
//! config gives none.

use std::path::{Component, Path, PathBuf};

use super::{FlakeRef, SudoMode, Target};

/// A nixos-rebuild line deploytui can run for this host: it names a deploy
/// action, deploys where `target` says, and its sudo agrees with `sudo`.
pub(super) fn check(
    command: &[String],
    target: &Target,
    flake: Option<&FlakeRef>,
    sudo: Option<SudoMode>,
    confirm_activation: Option<bool>,
) -> Result<(), String> {
    crate::deploy::rebuild::action_of(command)?;
    match (
        target,
        crate::deploy::rebuild::option_value(command, "--target-host"),
    ) {
        (Target::Ssh { .. }, None) => {
            return Err(format!(
                "has no --target-host, so it would deploy this machine, not {target}"
            ))
        }
        (Target::Local, Some(other)) => {
            return Err(format!(
                "deploys to {} (--target-host), but target is \"local\"",
                crate::text::quote(other)
            ))
        }
        _ => {}
    }
    if let (Some(flake), Some(theirs)) = (
        flake,
        crate::deploy::rebuild::option_value(command, "--flake"),
    ) {
        same_flake(theirs, flake)?;
    }
    if confirm_activation == Some(true) {
        return Err(
            "cannot pause before activation (confirm_activation = true): \
             nixos-rebuild activates in one go; use engine = \"native\" for that"
                .into(),
        );
    }
    if let Some(sudo @ (SudoMode::None | SudoMode::Nopasswd)) = sudo {
        if let Some(flag) = asks_password(command) {
            return Err(format!(
                "asks for a sudo password ({flag}), but sudo = \"{}\"",
                if sudo == SudoMode::None {
                    "none"
                } else {
                    "nopasswd"
                }
            ));
        }
    }
    Ok(())
}

/// The flag with which a line asks for the sudo password, if it does:
/// nixos-rebuild-ng's `--ask-sudo-password`, or its newer spellings
/// `--ask-elevate-password` and `-S` (both imply elevating).
fn asks_password(command: &[String]) -> Option<&str> {
    command
        .iter()
        .map(String::as_str)
        .find(|w| ["--ask-sudo-password", "--ask-elevate-password", "-S"].contains(w))
}

/// The sudo a nixos-rebuild line uses when the config does not say.
pub(super) fn sudo(command: &[String]) -> SudoMode {
    let has = |w: &str| command.iter().any(|c| c == w);
    if asks_password(command).is_some() {
        SudoMode::Password
    } else if has("--sudo") || has("--use-remote-sudo") {
        SudoMode::Nopasswd
    } else {
        SudoMode::None
    }
}

/// The command line the brief uses, for nixos-rebuild hosts that do not give one.
pub(super) fn default_command(
    flake: &FlakeRef,
    target: &Target,
    sudo: Option<SudoMode>,
) -> Vec<String> {
    let mut cmd = vec![
        "nixos-rebuild".to_string(),
        "switch".into(),
        "--flake".into(),
        flake.to_string(),
    ];
    if let Target::Ssh { .. } = target {
        cmd.extend(["--target-host".to_string(), target.to_string()]);
    }
    match sudo {
        Some(SudoMode::None) => {}
        Some(SudoMode::Nopasswd) => cmd.push("--sudo".into()),
        Some(SudoMode::Password) | None => {
            cmd.extend(["--sudo".to_string(), "--ask-sudo-password".into()])
        }
    }
    cmd
}

/// The line's `--flake` names the host's own flake: the same folder and the
/// same configuration. Otherwise it builds, and deploys, another host's.
fn same_flake(theirs: &str, flake: &FlakeRef) -> Result<(), String> {
    let (path, attr) = theirs.split_once('#').unwrap_or((theirs, ""));
    let attr = attr.trim_matches('"');
    if path.contains("://") || path.contains(':') && !path.starts_with('/') {
        return Err(format!(
            "names its flake by a URL (--flake {}); give its folder, as this host's flake is {flake}",
            crate::text::quote(theirs)
        ));
    }
    let expanded = PathBuf::from(super::expand_tilde(path));
    if !expanded.is_absolute() {
        return Err(format!(
            "names a relative flake (--flake {}), which depends on the folder deploytui starts \
             in; give the full path of this host's flake, {flake}",
            crate::text::quote(theirs)
        ));
    }
    if normal(&expanded) != normal(&flake.path) || attr != flake.attr {
        return Err(format!(
            "builds {} (--flake), but this host's flake is {flake}: it would deploy another \
             configuration here",
            crate::text::quote(theirs)
        ));
    }
    Ok(())
}

/// A path with `.` and `..` folded and symlinks resolved where it exists,
/// so two spellings of one folder compare equal.
fn normal(path: &Path) -> PathBuf {
    if let Ok(real) = std::fs::canonicalize(path) {
        return real;
    }
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::config::{parse, ConfigError, FoundBy};
    use std::path::Path;

    /// The error a host with `flake` and this `rebuild_command` gets, if any.
    fn refused(line: &str) -> Option<String> {
        let text = format!(
            "repo = \"/srv/mono\"\n[[hosts]]\nname = \"server1\"\ntarget = \"deploy@server1\"\n\
             flake = \"infra/hosts/server1#server1\"\nengine = \"nixos-rebuild\"\n\
             rebuild_command = \"{line}\"\n"
        );
        match parse(&text, Path::new("/etc/deploytui/t.toml"), FoundBy::Flag) {
            Ok(_) => None,
            Err(ConfigError::Invalid(e)) => {
                assert_eq!(e.field, "hosts[0].rebuild_command");
                Some(e.message)
            }
            Err(other) => panic!("{other}"),
        }
    }

    #[test]
    fn a_line_that_builds_another_hosts_flake_is_refused() {
        let tail = "--target-host deploy@server1 --sudo --ask-sudo-password";
        assert_eq!(
            refused(&format!(
                "nixos-rebuild switch --flake /srv/mono/infra/hosts/server1#server1 {tail}"
            )),
            None
        );
        // The same folder spelled another way, the attribute quoted: the same.
        assert_eq!(
            refused(&format!(
                "nixos-rebuild switch --flake /srv/mono/./infra/hosts/x/../server1#'\\\"server1\\\"' {tail}"
            )),
            None
        );
        let other = refused(&format!(
            "nixos-rebuild switch --flake /srv/mono/infra/hosts/server1#server2 {tail}"
        ))
        .expect("another configuration");
        assert!(
            other.contains("builds /srv/mono/infra/hosts/server1#server2 (--flake), but this host's flake is /srv/mono/infra/hosts/server1#server1"),
            "{other}"
        );
        let folder = refused(&format!(
            "nixos-rebuild switch --flake /srv/mono/infra/hosts/server2#server1 {tail}"
        ))
        .expect("another folder");
        assert!(
            folder.contains("it would deploy another configuration here"),
            "{folder}"
        );
        let relative = refused(&format!("nixos-rebuild switch --flake .#server1 {tail}"))
            .expect("a relative flake");
        assert!(
            relative.contains("depends on the folder deploytui starts in"),
            "{relative}"
        );
        let url = refused(&format!(
            "nixos-rebuild switch --flake git+file:///srv/mono?dir=infra/hosts/server1#server1 {tail}"
        ))
        .expect("a URL");
        assert!(url.contains("names its flake by a URL"), "{url}");
    }

    /// nixos-rebuild-ng's newer spellings ask for the password as
    /// --ask-sudo-password does.
    #[test]
    fn the_newer_ask_elevate_password_asks_for_the_sudo_password() {
        for flag in ["--ask-elevate-password", "-S", "--ask-sudo-password"] {
            let words: Vec<String> = ["nixos-rebuild", "switch", flag].map(String::from).to_vec();
            assert_eq!(super::sudo(&words), super::SudoMode::Password, "{flag}");
        }
        let refused = refused(
            "nixos-rebuild switch --flake /srv/mono/infra/hosts/server1#server1 \
             --target-host deploy@server1 --ask-elevate-password\"\nsudo = \"none",
        )
        .expect("a password asked for with sudo none");
        assert!(
            refused
                .contains("asks for a sudo password (--ask-elevate-password), but sudo = \"none\""),
            "{refused}"
        );
    }
}
