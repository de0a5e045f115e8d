//! The nixos-rebuild line of a host: what it must say to deploy that host
//! and no other, the sudo it implies, and the line a host gets when the
//! config gives none.

use std::path::{Component, Path, PathBuf};

use super::ssh_destination;
use super::{FlakeRef, SudoMode, Target};

/// What the config says of the host a line is for.
pub(super) struct HostSays<'a> {
    pub target: &'a Target,
    pub port: Option<u16>,
    pub ssh_config: Option<&'a Path>,
    pub flake: Option<&'a FlakeRef>,
    pub sudo: Option<SudoMode>,
    pub confirm_activation: Option<bool>,
    /// The line is the user's `rebuild_command`, not the one deploytui made
    /// from `target` (which names the target as written and reaches its
    /// `port` through NIX_SSHOPTS).
    pub written: bool,
}

/// A nixos-rebuild line deploytui can run for this host: it names a deploy
/// action, deploys where `target` says, and its sudo agrees with `sudo`.
pub(super) fn check(command: &[String], host: &HostSays) -> Result<(), String> {
    let HostSays {
        target,
        flake,
        sudo,
        confirm_activation,
        ..
    } = *host;
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
        (
            Target::Ssh {
                user,
                host: address,
            },
            Some(theirs),
        ) if host.written => same_target(theirs, user.as_deref(), address, host)?,
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
    } else if let Some(tool) = elevate(command) {
        if tool == "none" {
            SudoMode::None
        } else {
            SudoMode::Nopasswd
        }
    } else if has("--sudo") || has("--use-remote-sudo") {
        SudoMode::Nopasswd
    } else {
        SudoMode::None
    }
}

/// The tool of nixos-rebuild-ng's newer `--elevate TOOL` (or `--elevate=TOOL`).
fn elevate(command: &[String]) -> Option<&str> {
    command
        .iter()
        .enumerate()
        .find_map(|(i, w)| match w.strip_prefix("--elevate") {
            Some("") => command.get(i + 1).map(String::as_str),
            Some(rest) => rest.strip_prefix('='),
            None => None,
        })
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

/// The line's `--target-host` leads where the host's target does, as ssh
/// resolves both (aliases, users and ports of the ssh config included):
/// deploytui's connection goes to its target whatever the line says, so a
/// line naming another host would log one host and deploy another.
fn same_target(
    theirs: &str,
    user: Option<&str>,
    address: &str,
    host: &HostSays,
) -> Result<(), String> {
    if theirs == host.target.to_string() && host.port.is_none() {
        return Ok(());
    }
    let shown = crate::text::quote(theirs);
    let ours = ssh_destination::resolve(address, host.port, user, host.ssh_config);
    let line = ssh_destination::resolve(theirs, None, None, host.ssh_config);
    let target = match host.port {
        Some(port) => format!("{} (port {port})", host.target),
        None => host.target.to_string(),
    };
    match (ours, line) {
        (Ok(ours), Ok(line)) if ours == line => Ok(()),
        (Ok(ours), Ok(line)) => Err(format!(
            "deploys to {shown} (--target-host), which ssh reaches as {line}, but this host's \
             target {target} is {ours}: it would deploy another host. Name the host's target \
             in --target-host{}",
            if host.port.is_some() {
                ", or give the port in an ssh config (`ssh_config`) instead of `port`"
            } else {
                ""
            }
        )),
        (Err(why), _) | (_, Err(why)) => Err(format!(
            "cannot tell whether --target-host {shown} is this host's target {target}: {why}"
        )),
    }
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
        // `--elevate TOOL` elevates without a password, unless TOOL is none.
        let sudo_of = |line: &str| super::sudo(&shlex::split(line).unwrap());
        assert_eq!(
            sudo_of("nixos-rebuild --elevate sudo switch"),
            super::SudoMode::Nopasswd
        );
        assert_eq!(
            sudo_of("nixos-rebuild switch --elevate=doas"),
            super::SudoMode::Nopasswd
        );
        assert_eq!(
            sudo_of("nixos-rebuild --elevate none switch"),
            super::SudoMode::None
        );
        assert_eq!(
            sudo_of("nixos-rebuild --elevate sudo --ask-elevate-password switch"),
            super::SudoMode::Password
        );
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

#[cfg(test)]
mod target_tests {
    use crate::config::{parse, ConfigError, FoundBy};

    /// The error a host with this target (and `extra` lines) and a line
    /// with `--target-host line_target` gets, if any. The folder holds an
    /// ssh config where `server1` is deploy@127.0.0.1:35729.
    fn refused(target: &str, extra: &str, line_target: &str) -> Option<String> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("ssh_config"),
            "Host server1\n  HostName 127.0.0.1\n  Port 35729\n  User deploy\n",
        )
        .unwrap();
        // So the machine's own ~/.ssh/config cannot change the outcome.
        std::fs::write(dir.path().join("empty"), "").unwrap();
        let text = format!(
            "repo = \"/srv/mono\"\n[[hosts]]\nname = \"server1\"\ntarget = \"{target}\"\n{extra}\
             flake = \"infra/hosts/server1#server1\"\nengine = \"nixos-rebuild\"\n\
             rebuild_command = \"nixos-rebuild switch --flake /srv/mono/infra/hosts/server1#server1 \
             --target-host {line_target} --sudo --ask-sudo-password\"\n"
        );
        match parse(&text, &dir.path().join("d.toml"), FoundBy::Flag) {
            Ok(_) => None,
            Err(ConfigError::Invalid(e)) => Some(e.message),
            Err(other) => panic!("{other}"),
        }
    }

    /// The case: deploytui connects to deploy@127.0.0.1:35729 while
    /// the line names lane@server1; and the same host by its alias passes.
    #[test]
    fn a_line_that_names_another_host_is_refused() {
        let other = refused(
            "deploy@127.0.0.1",
            "port = 35729\nssh_config = \"empty\"\n",
            "lane@server1",
        )
        .expect("another host");
        assert!(
            other.contains(
                "deploys to lane@server1 (--target-host), which ssh reaches as lane@server1:22, \
                 but this host's target deploy@127.0.0.1 (port 35729) is deploy@127.0.0.1:35729: \
                 it would deploy another host"
            ),
            "{other}"
        );
        // Through the host's ssh config, the alias is the same host...
        let with_config = "port = 35729\nssh_config = \"ssh_config\"\n";
        assert_eq!(refused("deploy@127.0.0.1", with_config, "server1"), None);
        assert_eq!(
            refused("server1", "ssh_config = \"ssh_config\"\n", "deploy@server1"),
            None
        );
        // ...but not as another user.
        let user = refused("deploy@127.0.0.1", with_config, "lane@server1").expect("another user");
        assert!(user.contains("reaches as lane@127.0.0.1:35729"), "{user}");
        // A port given only to deploytui: the line, run by hand, goes elsewhere.
        let port = refused(
            "deploy@server1",
            "port = 2222\nssh_config = \"empty\"\n",
            "deploy@server1",
        )
        .expect("port");
        assert!(
            port.contains("give the port in an ssh config (`ssh_config`)"),
            "{port}"
        );
    }
}
