//! The headless command line: `check`, the config search order, `--version`, completions.

mod common;

use std::path::Path;
use std::process::{Command, Output};

fn run(dir: &Path, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(common::bin());
    cmd.current_dir(dir)
        .args(args)
        .env_remove("DEPLOYTUI_CONFIG")
        .env("XDG_CONFIG_HOME", dir.join("xdg"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run deploytui")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const ONE_HOST: &str = "[[hosts]]\nname = \"NAME\"\ntarget = \"local\"\n";

fn write_config(path: &Path, name: &str) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, ONE_HOST.replace("NAME", name)).expect("write config");
}

#[test]
fn check_prints_resolved_hosts_of_the_example() {
    let dir = tempfile::tempdir().expect("tempdir");
    let example = common::repo_root().join("config.example.toml");
    let out = run(
        dir.path(),
        &["--config", example.to_str().expect("utf8"), "check"],
        &[],
    );
    // Every host printed as resolved; its flake folders are not on this
    // machine (~/monorepo), which check refuses, naming each.
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(": hosts[0].flake: the folder ")
            && stderr.contains(
                "/monorepo/infra/hosts/server1 does not exist (a flake path is relative to `repo`)"
            ),
        "{stderr}"
    );
    let stdout = text(&out.stdout);
    assert!(stdout.contains("(found by --config)"), "{stdout}");
    assert!(stdout.contains("[server1]"), "{stdout}");
    assert!(
        stdout.contains("services  nginx.service, app.service"),
        "{stdout}"
    );
    assert!(stdout.contains("sudo      password"), "{stdout}");
    assert!(
        stdout.contains("engine    nixos-rebuild: nixos-rebuild switch --flake"),
        "{stdout}"
    );
}

#[test]
fn check_rejects_a_bad_config_with_its_location() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[[hosts]]\nname = \"a\"\ntarget = \"local\"\nservices = [\"ok\", \"no way\"]\n",
    )
    .expect("write");
    let out = run(
        dir.path(),
        &["-c", path.to_str().expect("utf8"), "check"],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}:4:19: hosts[0].services[1]: `no way` is not a valid systemd unit name",
            path.display()
        )),
        "{err}"
    );
    assert!(
        err.contains("4 | services = [\"ok\", \"no way\"]"),
        "shows the line:\n{err}"
    );
}

#[test]
fn search_order_flag_env_cwd_xdg() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let flag = d.join("flag.toml");
    let env = d.join("env.toml");
    write_config(&flag, "from-flag");
    write_config(&env, "from-env");
    write_config(&d.join("deploytui.toml"), "from-cwd");
    write_config(&d.join("xdg/deploytui/config.toml"), "from-xdg");

    let found = |args: &[&str], envs: &[(&str, &Path)]| {
        let out = run(d, args, envs);
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    let with_flag = ["--config", flag.to_str().expect("utf8"), "check"];
    assert!(found(&with_flag, &[("DEPLOYTUI_CONFIG", &env)]).contains("[from-flag]"));
    let s = found(&["check"], &[("DEPLOYTUI_CONFIG", &env)]);
    assert!(
        s.contains("[from-env]") && s.contains("found by DEPLOYTUI_CONFIG"),
        "{s}"
    );
    let s = found(&["check"], &[]);
    assert!(
        s.contains("[from-cwd]") && s.contains("found by current directory"),
        "{s}"
    );
    std::fs::remove_file(d.join("deploytui.toml")).expect("rm");
    let s = found(&["check"], &[]);
    assert!(
        s.contains("[from-xdg]") && s.contains("found by config directory"),
        "{s}"
    );
}

#[test]
fn version_help_and_completions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run(dir.path(), &["--version"], &[]);
    assert_eq!(
        text(&out.stdout).trim(),
        format!("deploytui {}", env!("CARGO_PKG_VERSION"))
    );
    let out = run(dir.path(), &["--help"], &[]);
    let help = text(&out.stdout);
    for word in ["check", "completions", "--config"] {
        assert!(help.contains(word), "{help}");
    }
    let out = run(dir.path(), &["completions", "bash"], &[]);
    assert!(out.status.success());
    assert!(
        text(&out.stdout).contains("_deploytui()"),
        "bash completion function"
    );
    let out = run(dir.path(), &["completions", "tcsh"], &[]);
    assert!(!out.status.success(), "unknown shell is an error");
}

#[test]
fn status_of_a_local_host_runs_without_ssh() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("local.toml");
    std::fs::write(
        &path,
        "[[hosts]]\nname = \"here\"\ntarget = \"local\"\nservices = [\"nope-deploytui-test\"]\n",
    )
    .expect("write");
    let out = run(
        dir.path(),
        &["-c", path.to_str().expect("utf8"), "status", "--json"],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let h = &v["hosts"][0];
    assert_eq!(h["reachable"], true);
    assert_eq!(h["target"], "local");
    // This machine is not NixOS: the probe says so instead of failing.
    let warnings = h["warnings"].to_string();
    assert!(warnings.contains("no /run/current-system"), "{warnings}");
}
