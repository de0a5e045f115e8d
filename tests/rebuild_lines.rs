//! The user's own nixos-rebuild lines on the test fleet: lines that would
//! deploy another host are refused when the config is read, and the bash
//! nixos-rebuild of NixOS 25.05 deploys with its own flags, its host's sudo
//! asking once per command.

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use deploytui::fleet::{Fleet, NIX_CONFIG, SUDO_PASSWORD};

const LIMIT: Duration = Duration::from_secs(120);

fn fleet(hosts: usize) -> Option<Fleet> {
    common::fleet("rebuild line tests", hosts)
}

fn deploytui(f: &Fleet, args: &[&str], stdin: &str) -> Output {
    deploytui_with(f, &f.bin_dir(), args, stdin)
}

/// deploytui with `bin` (the fleet's ng or bash nixos-rebuild) first on PATH.
fn deploytui_with(f: &Fleet, bin: &std::path::Path, args: &[&str], stdin: &str) -> Output {
    let mut cmd = Command::new(common::bin());
    cmd.arg("--config")
        .arg(&f.config_path)
        .args(args)
        .env("NIX_CONFIG", NIX_CONFIG)
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        );
    common::output_within(cmd, stdin.as_bytes(), LIMIT)
}

use common::running;

/// `deploy server1` with the bash nixos-rebuild first on PATH, the
/// password on stdin.
fn deploy_with_bash(f: &Fleet, password: &str) -> (Output, String) {
    let out = deploytui_with(
        f,
        &f.bash_bin_dir(),
        &["deploy", "server1", "--sudo-password-stdin"],
        &format!("{password}\n"),
    );
    let said = text(&out.stdout);
    (out, said)
}

/// server1 on the nixos-rebuild engine with the brief's line, its sudo
/// flags replaced by `sudo_flags`.
fn use_line(f: &Fleet, sudo_flags: &str) {
    f.use_nixos_rebuild(&[0]).expect("config");
    let config = std::fs::read_to_string(&f.config_path).expect("config");
    assert!(config.contains("--sudo --ask-sudo-password"), "{config}");
    std::fs::write(
        &f.config_path,
        config.replace("--sudo --ask-sudo-password", sudo_flags),
    )
    .expect("config");
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// server1's line as `line` (its brief's line by default), then `check`:
/// what it said on stderr, if it refused.
fn check_with_line(f: &Fleet, edit: impl Fn(String) -> String) -> Option<String> {
    f.use_nixos_rebuild(&[0]).expect("config");
    let config = std::fs::read_to_string(&f.config_path).expect("config");
    let line = f.rebuild_line(0);
    assert!(config.contains(&line), "{config}");
    std::fs::write(&f.config_path, config.replace(&line, &edit(line.clone()))).expect("config");
    let out = deploytui(f, &["check"], "");
    if out.status.success() {
        None
    } else {
        Some(text(&out.stderr))
    }
}

/// The brief's line names `deploy@server1`, an alias of the fleet's ssh
/// config, as the target does: it passes. A line naming server2 (another
/// port behind the same address), another user, the bare address without
/// the port, or server2's configuration is refused, naming both sides.
#[test]
fn a_line_that_names_another_host_or_configuration_is_refused() {
    let Some(f) = fleet(2) else { return };
    assert_eq!(check_with_line(&f, |line| line), None);
    let port = |i: usize| f.hosts[i].ssh_port;

    let server2 = check_with_line(&f, |line| {
        line.replace(
            "--target-host deploy@server1",
            "--target-host deploy@server2",
        )
    })
    .expect("server2's address");
    assert!(
        server2.contains(&format!(
            "deploys to deploy@server2 (--target-host), which ssh reaches as deploy@127.0.0.1:{}, \
             but this host's target deploy@server1 is deploy@127.0.0.1:{}: it would deploy another host",
            port(1),
            port(0)
        )),
        "{server2}"
    );
    assert!(server2.contains("hosts[0].rebuild_command"), "{server2}");

    let user = check_with_line(&f, |line| {
        line.replace("--target-host deploy@server1", "--target-host lane@server1")
    })
    .expect("another user");
    assert!(
        user.contains(&format!("reaches as lane@127.0.0.1:{}", port(0))),
        "{user}"
    );

    let bare = check_with_line(&f, |line| {
        line.replace(
            "--target-host deploy@server1",
            "--target-host deploy@127.0.0.1",
        )
    })
    .expect("the address without the port");
    assert!(bare.contains("reaches as deploy@127.0.0.1:22,"), "{bare}");

    let configuration =
        check_with_line(&f, |line| line.replace("#server1", "#server2")).expect("server2's system");
    assert!(
        configuration.contains("#server2 (--flake), but this host's flake is")
            && configuration.contains("it would deploy another configuration here"),
        "{configuration}"
    );
}

/// The brief's line where nixos-rebuild is the bash one: it has no --sudo,
/// so the deploy stops before anything runs, with the line to write.
#[test]
fn the_briefs_line_on_the_bash_nixos_rebuild_is_refused_with_the_line_to_write() {
    let Some(f) = fleet(1) else { return };
    let before = running(&f);
    use_line(&f, "--sudo --ask-sudo-password");
    f.repo.commit_app_change("Never built").expect("commit");
    let (out, said) = deploy_with_bash(&f, SUDO_PASSWORD);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("has no --sudo: it is the bash nixos-rebuild (NixOS 25.05 and before)")
            && said.contains(
                "--target-host deploy@server1 --use-remote-sudo\" with sudo = \"password\""
            ),
        "{said}"
    );
    assert!(
        !said.contains("building the system configuration"),
        "{said}"
    );
    assert_eq!(running(&f), before, "the host is untouched");

    // `check` says the same, before any deploy, and exits 1; with ng first
    // on PATH the line is fine.
    let check = deploytui_with(&f, &f.bash_bin_dir(), &["check"], "");
    let stderr = text(&check.stderr);
    assert_eq!(check.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("hosts[0].rebuild_command: this machine's nixos-rebuild has no --sudo")
            && stderr.contains("--target-host deploy@server1 --use-remote-sudo\""),
        "{stderr}"
    );
    assert!(
        text(&check.stdout).contains("nixos-rebuild here: the bash one (NixOS 25.05 and before)"),
        "{}",
        text(&check.stdout)
    );
    // And doctor, as a pre-deploy hook, counts it a problem.
    let doctor = deploytui_with(&f, &f.bash_bin_dir(), &["doctor", "server1"], "");
    let said = text(&doctor.stdout);
    assert_eq!(doctor.status.code(), Some(1), "{said}");
    assert!(
        said.contains("has no --sudo: it is the bash nixos-rebuild"),
        "{said}"
    );
    let ng = deploytui(&f, &["check"], "");
    assert!(ng.status.success(), "{}", text(&ng.stderr));
    assert!(text(&ng.stdout).contains("nixos-rebuild here: nixos-rebuild-ng"));
}

/// The bash nixos-rebuild's own line: `--use-remote-sudo` runs `ssh -t …
/// sudo` for each remote command, so the host's sudo asks on the remote
/// terminal three times (the profile, the systemd-run check, the switch);
/// deploytui answers each from the one password. A wrong one stops it.
#[test]
fn the_bash_nixos_rebuild_deploys_with_each_remote_sudo_prompt_answered() {
    let Some(f) = fleet(1) else { return };
    let (before, generation) = running(&f);
    use_line(&f, "--use-remote-sudo");
    f.repo
        .commit_app_change("Shipped by the bash nixos-rebuild")
        .expect("commit");
    let (out, said) = deploy_with_bash(&f, SUDO_PASSWORD);
    assert_eq!(out.status.code(), Some(3), "{said}{}", text(&out.stderr));
    let answered = said
        .matches("[sudo] password for deploy: (answered by deploytui)")
        .count();
    assert_eq!(answered, 3, "{said}");
    for line in [
        "building the system configuration...",
        "server1: ✓ build",
        "server1: ✓ copy",
        "server1: ✓ activate",
        "restarted webapp",
        "server1: ✓ verify",
        "server1: switch done",
    ] {
        assert!(said.contains(line), "{line}: {said}");
    }
    assert!(
        !said.contains(SUDO_PASSWORD),
        "the password is never printed"
    );
    let (after, now) = running(&f);
    assert_ne!(after, before, "the host runs a new system");
    assert_eq!(now, generation + 1, "a new generation");

    f.repo.commit_app_change("Never shipped").expect("commit");
    let (out, said) = deploy_with_bash(&f, "not-the-password");
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("wrong sudo password"), "{said}");
    assert!(!said.contains("not-the-password"), "{said}");
    assert_eq!(running(&f), (after, now), "the host is as it was");
}
