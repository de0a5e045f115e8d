//! `deploytui demo` end to end: the TUI on a live 2-host fleet in tmux, and
//! the headless `--no-tui` mode. Needs what the fleet needs.

mod common;

use std::process::Command;
use std::time::Duration;

use common::descendants_except;
use common::tmux::{alive, Tmux};

fn prerequisites() -> bool {
    common::fleet_prerequisites("demo tests") && common::require_tools("demo tests", &["tmux"])
}

#[test]
fn demo_opens_the_tui_on_a_working_fleet_and_tears_it_down() {
    if !prerequisites() {
        return;
    }
    let data = tempfile::tempdir().expect("tempdir");
    let t = Tmux::start(
        120,
        36,
        &[("XDG_DATA_HOME", &data.path().to_string_lossy())],
    );
    let log_path = data.path().join("demo.log");
    t.type_line(&format!(
        "{} demo 2>{}; echo EXIT=$?; cat {}",
        common::bin().display(),
        log_path.display(),
        log_path.display()
    ));
    let screen = t.wait_for("the demo fleet's hosts", Duration::from_secs(120), |s| {
        // The whole frame, not one half-drawn.
        [
            "server1",
            "server2",
            "nginx",
            "webapp",
            "running",
            "sudo password",
            " q quit",
        ]
        .iter()
        .all(|w| s.contains(w))
    });
    assert!(
        screen.contains("deploy@server1"),
        "server1 logs in as the sudo user:\n{screen}"
    );
    assert!(
        screen.contains("server2 deploys with nixos-rebuild"),
        "the demo shows both engines:\n{screen}"
    );
    assert!(
        screen.contains("nginx") && screen.contains("webapp") && screen.contains("running"),
        "{screen}"
    );
    assert!(
        screen.contains("dtfleet-"),
        "status bar names the fleet's config:\n{screen}"
    );

    assert!(
        screen.contains("sudo password"),
        "the demo says how to sudo on server1:\n{screen}"
    );
    // server1 replays the brief: the first deploy ships nothing new, and says so.
    assert!(
        screen.contains("server1 replays the brief's story"),
        "{screen}"
    );
    t.wait_for("server1's flake checked", Duration::from_secs(60), |s| {
        s.contains("✗ stale") && s.contains("d deploy")
    });
    t.deploy_server1(deploytui::fleet::SUDO_PASSWORD, Duration::from_secs(30));
    t.wait_for("the first card", Duration::from_secs(120), |s| {
        s.contains("⚠ nothing new was built or copied") && s.contains("f fix")
    });
    let log = std::fs::read_to_string(&log_path).expect("demo log");
    let fleet_dir = log
        .lines()
        .find_map(|l| l.strip_prefix("deploytui demo: fleet in "))
        .expect("the demo names its fleet dir")
        .trim()
        .to_string();
    let deploytui_pid = t
        .shell_children()
        .into_iter()
        .find(|p| {
            std::fs::read_to_string(format!("/proc/{p}/cmdline")).is_ok_and(|c| c.contains("demo"))
        })
        .expect("deploytui process");
    let fleet_pids = descendants_except(deploytui_pid);
    assert!(
        fleet_pids.len() >= 8,
        "hosts run under deploytui: {fleet_pids:?}"
    );

    t.keys(&["q"]);
    let screen = t.wait_for("the shell back", Duration::from_secs(30), |s| {
        s.contains("EXIT=0") && s.contains("fleet stopped")
    });
    assert!(screen.contains("removed"), "{screen}");
    assert!(
        !std::path::Path::new(&fleet_dir).exists(),
        "{fleet_dir} removed"
    );
    let left: Vec<_> = fleet_pids.into_iter().filter(|p| alive(*p)).collect();
    assert!(left.is_empty(), "fleet processes left: {left:?}");
}

#[test]
fn demo_no_tui_serves_headless_commands_until_interrupted() {
    if !prerequisites() {
        return;
    }
    let mut cmd = Command::new(common::bin());
    cmd.args(["demo", "--no-tui", "--hosts", "1"]);
    // Killed on drop and its stderr kept: a failure below shows why the demo died.
    let mut demo = common::Spawned::start(cmd);
    let config = demo
        .line("the config path", Duration::from_secs(180))
        .trim()
        .to_string();
    assert!(
        config.ends_with("deploytui.toml"),
        "{config}\nstderr:\n{}",
        demo.stderr()
    );
    let out = Command::new(common::bin())
        .args(["--config", &config, "check"])
        .output()
        .expect("check");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("[server1]"));
    // The environment another shell needs, sourced there: a real deploy
    // from a plain shell (no NIX_CONFIG of its own) builds offline.
    let env = std::path::Path::new(&config).with_file_name("env.sh");
    assert!(
        demo.stderr().contains(&format!(". {}", env.display())),
        "the banner says to source it:\n{}",
        demo.stderr()
    );
    // deploytui itself is on its PATH (the banner says to run it), once.
    let deployed = Command::new("bash")
        .arg("-c")
        .arg(format!(
            ". {} && echo \"PATH=$PATH\" >&2 && echo deploy-demo | deploytui --config {config} deploy server1 --sudo-password-stdin --action dry-activate",
            env.display(),
        ))
        .env_remove("NIX_CONFIG")
        .env_remove("XDG_DATA_HOME")
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .output()
        .expect("bash");
    let path_line = String::from_utf8_lossy(&deployed.stderr)
        .lines()
        .find_map(|l| l.strip_prefix("PATH=").map(String::from))
        .unwrap_or_default();
    let dirs: Vec<&str> = path_line.split(':').collect();
    let mut unique = dirs.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), dirs.len(), "no folder twice: {path_line}");
    // Its deploys are kept with the fleet, not with the user's own.
    let fleet_dir = std::path::Path::new(&config).parent().expect("fleet dir");
    let kept = common::kept_deploys(&fleet_dir.join("data"), std::path::Path::new(&config));
    assert_eq!(
        std::fs::read_dir(&kept).map(|d| d.count()).unwrap_or(0),
        1,
        "{}",
        kept.display()
    );
    // server1 replays the brief: without the override it ships nothing new.
    let said = String::from_utf8_lossy(&deployed.stdout);
    assert_eq!(
        deployed.status.code(),
        Some(2),
        "{said}{}",
        String::from_utf8_lossy(&deployed.stderr)
    );
    assert!(said.contains("⚠ nothing new was built or copied"), "{said}");

    let pids = descendants_except(demo.id());
    let killed = Command::new("kill")
        .args(["-TERM", &demo.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = demo.wait(Duration::from_secs(30));
    assert!(
        status.success(),
        "demo exits cleanly on SIGTERM: {status}\nstderr:\n{}",
        demo.stderr()
    );
    assert!(!std::path::Path::new(&config).exists(), "fleet removed");
    let left: Vec<_> = pids.into_iter().filter(|p| alive(*p)).collect();
    assert!(left.is_empty(), "fleet processes left: {left:?}");
}
