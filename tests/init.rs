//! `deploytui init` on a monorepo laid out as the brief's, on the fleet: a
//! flake per host and one flake holding several hosts (one that does not
//! evaluate, one no ssh config knows), found, written, probed, and then
//! deployed from the TUI with no hand editing.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use deploytui::fleet::{Fleet, NIX_CONFIG, SUDO_PASSWORD};

const LIMIT: Duration = Duration::from_secs(180);

/// server2 moves into a flake of several hosts, beside server3 (a name no
/// ssh config knows) and a host whose configuration does not evaluate.
fn several_hosts_in_one_flake(f: &Fleet) {
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .arg("-C")
            .arg(&f.repo.path)
            .args(args)
            .output()
            .expect("git");
        assert!(out.status.success(), "{args:?}: {out:?}");
    };
    git(&[
        "rm",
        "-q",
        "--ignore-unmatch",
        "infra/hosts/server2/flake.nix",
        "infra/hosts/server2/flake.lock",
    ]);
    let flake = format!(
        r#"{{
  description = "Several hosts, one flake";
  inputs.monorepo = {{ url = "{url}"; flake = false; }};
  outputs = {{ self, monorepo }}: {{
    nixosConfigurations = {{
      server2 = import ../lib/configuration.nix {{
        name = "server2"; host = import ./server2/host.nix; inherit monorepo;
      }};
      server3 = import ../lib/configuration.nix {{
        name = "server3"; host = import ./server2/host.nix; inherit monorepo;
      }};
      broken = throw "broken: this host's configuration does not evaluate";
    }};
  }};
}}
"#,
        url = f.repo.url()
    );
    f.repo
        .write("infra/hosts/flake.nix", &flake)
        .expect("flake");
    f.repo
        .commit("server2 joins a flake of several hosts")
        .expect("commit");
}

fn init(f: &Fleet, output: &Path, extra: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(common::bin());
    cmd.arg("init")
        .arg(&f.repo.path)
        .arg("--ssh-config")
        .arg(&f.ssh_config)
        .arg("--output")
        .arg(output)
        .args(extra)
        .env("NIX_CONFIG", NIX_CONFIG);
    common::output_within(cmd, b"", LIMIT)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Headless, with --yes: every host found, each as the ssh config leads
/// to it, the one it does not know marked, the broken one with nix's
/// error; then each probed, and an untrusted host key answered with the
/// ssh line that trusts it.
#[test]
fn init_writes_every_host_the_flakes_define_and_probes_them() {
    let Some(f) = common::fleet("init tests", 2) else {
        return;
    };
    several_hosts_in_one_flake(&f);
    // server2's key is not trusted yet.
    let known = std::fs::read_to_string(&f.known_hosts).expect("known_hosts");
    let port2 = format!("[127.0.0.1]:{} ", f.hosts[1].ssh_port);
    let kept: String = known
        .lines()
        .filter(|l| !l.starts_with(&port2))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&f.known_hosts, kept).expect("known_hosts");
    let dir = tempfile::tempdir().expect("tempdir");
    let output = dir.path().join("config.toml");
    let out = init(&f, &output, &["--yes"]);
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{said}");
    for shown in [
        "2 flakes with nixosConfigurations",
        "1. server1  infra/hosts/server1#server1  deploy@server1  (nginx, webapp)",
        "2. server2  infra/hosts#server2  root@server2  (nginx, webapp)",
        "3. server3  infra/hosts#server3  root@server3  (nginx, webapp)  ⚠ no ssh config names it",
        "✗ broken in infra/hosts does not evaluate: error: broken: this host's configuration does not evaluate",
        "✓ server1 (deploy@server1) answers",
        "✗ server2 (root@server2): host key not trusted",
        "try: ssh -F ",
        "StrictHostKeyChecking=ask",
        "-- root@server2 true",
        "✗ server3 (root@server3)",
    ] {
        assert!(said.contains(shown), "{shown}:\n{said}");
    }
    let written = std::fs::read_to_string(&output).expect("written");
    for line in [
        "sudo = \"password\"",
        "# not root: sudo asks for the password",
        "sudo = \"none\"",
        "# TODO: networking.hostName `server3`, but no ssh config entry names `server3`",
        "#   error: broken: this host's configuration does not evaluate",
        &format!("ssh_config = \"{}\"", f.ssh_config.display()),
    ] {
        assert!(written.contains(line), "{line}:\n{written}");
    }
    let check = Command::new(common::bin())
        .arg("--config")
        .arg(&output)
        .arg("check")
        .output()
        .expect("check");
    assert!(check.status.success(), "{}", text(&check.stderr));
    // Never a config replaced without asking.
    let again = init(&f, &output, &["--yes"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again.stderr).contains("it would replace a config"));
    assert_eq!(std::fs::read_to_string(&output).expect("kept"), written);
}

/// The brief's user, in a terminal: `deploytui init`, Enter (all hosts),
/// `y`; then `deploytui` shows the hosts up and deploys server1.
#[test]
fn init_then_deploytui_shows_the_hosts_and_deploys_with_no_hand_editing() {
    if !common::require_tools("init e2e", &["tmux"]) {
        return;
    }
    let Some(f) = common::fleet("init tests", 2) else {
        return;
    };
    several_hosts_in_one_flake(&f);
    let dir = tempfile::tempdir().expect("tempdir");
    let output = dir.path().join("config.toml");
    let data = tempfile::tempdir().expect("tempdir");
    let t = common::tmux::shell_with_nix(
        150,
        45,
        NIX_CONFIG,
        &[("XDG_DATA_HOME", &data.path().to_string_lossy())],
    );
    t.type_line(&format!(
        "{} init {} --ssh-config {} --output {}; echo INIT=$?",
        common::bin().display(),
        f.repo.path.display(),
        f.ssh_config.display(),
        output.display()
    ));
    t.wait_for("which hosts", LIMIT, |s| s.contains("Leave any out?"));
    t.keys(&["Enter"]);
    t.wait_for("the write question", LIMIT, |s| {
        s.contains(&format!("Write it to {}? [y/N]", output.display()))
    });
    t.type_line("y");
    t.wait_for("the probe", LIMIT, |s| s.contains("INIT=0"));
    t.run_deploytui(&output);
    t.wait_for("the hosts up", LIMIT, |s| {
        s.contains("server1 ● up") && s.contains("server2 ● up")
    });
    t.deploy_server1(SUDO_PASSWORD, LIMIT);
    t.wait_for("the deploy done", LIMIT, |s| s.contains("switch done"));
}

/// A repository with no flake, and a folder outside any repository: said.
#[test]
fn init_says_when_there_is_nothing_to_find() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |repo: &Path| {
        Command::new(common::bin())
            .arg("init")
            .arg(repo)
            .arg("--print")
            .output()
            .expect("init")
    };
    let out = run(dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("is not inside a git repository"),
        "{}",
        text(&out.stderr)
    );
    let init = Command::new("git")
        .arg("-C")
        .arg(dir.path())
        .args(["init", "-q"])
        .status()
        .expect("git");
    assert!(init.success());
    let out = run(dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no host to deploy found in"),
        "{}",
        text(&out.stderr)
    );
}

/// `deploytui` with no config anywhere, run inside a repository: it offers
/// what init does, and opens on the config it wrote.
#[test]
fn deploytui_with_no_config_in_a_repository_offers_init_and_opens_on_it() {
    if !common::require_tools("init e2e", &["tmux"]) {
        return;
    }
    let Some(f) = common::fleet("init tests", 1) else {
        return;
    };
    let (config_home, data) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    let t = common::tmux::shell_with_nix(
        140,
        40,
        NIX_CONFIG,
        &[
            ("XDG_CONFIG_HOME", &config_home.path().to_string_lossy()),
            ("XDG_DATA_HOME", &data.path().to_string_lossy()),
        ],
    );
    t.type_line(&format!(
        "cd {} && {}; echo EXIT=$?",
        f.repo.path.join("infra").display(),
        common::bin().display()
    ));
    t.wait_for("the offer", LIMIT, |s| {
        s.contains("No deploytui config yet. Look for the hosts of")
    });
    t.keys(&["Enter"]);
    let written = config_home.path().join("deploytui/config.toml");
    t.wait_for("the write question", LIMIT, |s| {
        s.contains(&format!("Write it to {}? [y/N]", written.display()))
    });
    t.type_line("y");
    t.wait_for("the TUI on it", LIMIT, |s| {
        s.contains("Hosts 1") && s.contains("server1") && s.contains("config directory")
    });
    assert!(written.is_file());
}
