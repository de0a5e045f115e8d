//! `deploytui deploy` against the test fleet: real nix builds here, real
//! `nix copy` over the host's ssh session, sudo with the password on
//! stdin, switch-to-configuration on the host, and the checks after it.

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use deploytui::fleet::{Fleet, NIX_CONFIG, SUDO_PASSWORD};

const LIMIT: Duration = Duration::from_secs(120);

fn fleet(hosts: usize) -> Option<Fleet> {
    common::fleet("deploy tests", hosts)
}

fn deploytui(f: &Fleet, args: &[&str], stdin: &str) -> Output {
    let mut cmd = Command::new(common::bin());
    cmd.arg("--config")
        .arg(&f.config_path)
        .args(args)
        .env("NIX_CONFIG", NIX_CONFIG)
        .env("PATH", path_with_fleet_bin(f));
    common::output_within(cmd, stdin.as_bytes(), LIMIT)
}

/// `PATH` with the fleet's `nixos-rebuild` first, as the user's would have the real one.
fn path_with_fleet_bin(f: &Fleet) -> String {
    format!(
        "{}:{}",
        f.bin_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn running(f: &Fleet) -> (String, u64) {
    common::running(f)
}

/// Checks that deploy said every one of `lines`, never the password, and
/// that server1 runs a new system in a new generation; returns that system.
fn assert_shipped(f: &Fleet, said: &str, before: (&str, u64), lines: &[&str]) -> String {
    for line in lines {
        assert!(said.contains(line), "{line}: {said}");
    }
    assert!(
        !said.contains(SUDO_PASSWORD),
        "the password is never printed"
    );
    let (after, generation) = running(f);
    assert_ne!(after, before.0, "the host runs a new system");
    assert!(said.contains(after.rsplit('-').next().unwrap_or("?")));
    assert_eq!(generation, before.1 + 1, "a new generation");
    after
}

/// Commits an app change and deploys server1 headless with the password;
/// returns what the host ran before (system, generation) and what deploy said.
fn commit_and_deploy(f: &Fleet, message: &str) -> (String, u64, String) {
    let (before, generation) = running(f);
    f.repo.commit_app_change(message).expect("commit");
    let out = deploytui(
        f,
        &["deploy", "server1", "--sudo-password-stdin"],
        &format!("{SUDO_PASSWORD}\n"),
    );
    let said = text(&out.stdout);
    // Every step worked, and nginx (X-RestartIfChanged=false) still runs
    // the previous system: the deploy says so, and exits 3.
    assert_eq!(out.status.code(), Some(3), "{said}{}", text(&out.stderr));
    assert!(
        said.contains("server1: ⚠ nginx is still running the previous configuration"),
        "{said}"
    );
    assert!(
        said.contains("fix: deploytui restart server1 nginx.service"),
        "{said}"
    );
    (before, generation, said)
}

#[test]
fn a_native_deploy_switches_the_host_to_head_and_nginx_serves_it_after_a_restart() {
    let Some(f) = fleet(1) else { return };
    let (before, generation, said) = commit_and_deploy(&f, "Deployed by deploytui");
    // The fleet's hosts are configured for this nix: no noise about its build users.
    assert!(!said.contains("build-users-group"), "{said}");
    // The HTTP check, fetched on the host: the old page, and it says so.
    assert!(
        said.contains("server1:   ✗ http://127.0.0.1:") && said.contains("not what was deployed"),
        "{said}"
    );
    // The plan first, with the override that makes it build HEAD.
    assert!(
        said.contains("--override-input monorepo git+file://"),
        "{said}"
    );
    assert_shipped(
        &f,
        &said,
        (&before, generation),
        &[
            "server1: ✓ build",
            "server1: ✓ copy",
            // What changes on the host, before it changes: the app is rebuilt.
            "server1: ✓ changes",
            "rebuilt (",
            "rebuilt: webapp-1.0.0",
            "server1: ✓ profile",
            "server1: ✓ activate",
            "restarted webapp",
            "left running (changed) nginx",
            "server1: ✓ verify",
            "server1: switch done",
        ],
    );
    // nginx was not restarted by the switch (X-RestartIfChanged=false):
    // it serves the old page until restarted, then the new one.
    assert!(!f
        .fetch_page(0)
        .expect("page")
        .contains("Deployed by deploytui"));
    let out = deploytui(
        &f,
        &["restart", "server1", "nginx", "--sudo-password-stdin"],
        &format!("{SUDO_PASSWORD}\n"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(f
        .fetch_page(0)
        .expect("page")
        .contains("Deployed by deploytui"));
}

#[test]
fn the_briefs_nixos_rebuild_line_deploys_with_the_password_answered_by_deploytui() {
    let Some(f) = fleet(1) else { return };
    f.use_nixos_rebuild(&[0]).expect("config");
    let (before, generation, said) = commit_and_deploy(&f, "Shipped by nixos-rebuild");
    // The brief's line as written, plus the override that makes it build HEAD.
    let shown =
        deploytui::remote::display_command(&shlex::split(&f.rebuild_line(0)).expect("words"));
    assert!(
        said.contains(&format!("{shown} --override-input monorepo git+file://")),
        "{shown}: {said}"
    );
    let after = assert_shipped(
        &f,
        &said,
        (&before, generation),
        &[
            // Its own prompt, answered from the password deploytui was given.
            "[sudo] password for deploy@server1: (answered by deploytui)",
            "building the system configuration...",
            "server1: ✓ build",
            "server1: ✓ copy",
            "server1: ✓ activate",
            "restarted webapp",
            "server1: ✓ verify",
            "server1: ✓ changes",
            "rebuilt: webapp-1.0.0",
            "server1: switch done",
        ],
    );
    assert!(
        said.contains(&format!("Done. The new configuration is {after}")),
        "{said}"
    );

    // A wrong password: nixos-rebuild's sudo refuses it, and deploytui says so.
    f.repo.commit_app_change("Never shipped").expect("commit");
    let out = deploytui(
        &f,
        &["deploy", "server1", "--sudo-password-stdin"],
        "not-the-password\n",
    );
    let said = text(&out.stdout);
    assert!(!out.status.success(), "{said}");
    // Found before nixos-rebuild runs at all: the host's lock takes it.
    assert!(said.contains("server1: ✗ lock"), "{said}");
    assert!(said.contains("wrong sudo password"), "{said}");
    assert!(
        !said.contains("building the system configuration"),
        "{said}"
    );
    assert!(!said.contains("not-the-password"), "{said}");
    assert_eq!(
        running(&f),
        (after, generation + 1),
        "the host is as it was"
    );
}

#[test]
fn deploy_json_is_one_event_per_line_and_dry_activate_changes_nothing() {
    let Some(f) = fleet(1) else { return };
    let (before, generation) = running(&f);
    f.repo.commit_app_change("Only a dry run").expect("commit");
    let out = deploytui(
        &f,
        &[
            "deploy",
            "server1",
            "--json",
            "--action",
            "dry-activate",
            "--sudo-password-stdin",
        ],
        &format!("{SUDO_PASSWORD}\n"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let events: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(events[0]["event"], "plan");
    assert_eq!(events[0]["schema"], "deploytui.deploy/1");
    assert_eq!(events[0]["plan"]["action"], "dry-activate");
    let finished: Vec<(String, bool)> = events
        .iter()
        .filter(|e| e["event"] == "finished")
        .map(|e| {
            (
                e["step"].as_str().unwrap_or("").to_string(),
                e["ok"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    assert_eq!(
        finished,
        [
            ("lock".to_string(), true),
            ("build".to_string(), true),
            ("copy".to_string(), true),
            ("changes".to_string(), true),
            ("activate".to_string(), true),
            ("verify".to_string(), true),
        ],
        "no profile step for a dry run"
    );
    assert!(events.iter().any(|e| e["event"] == "output"
        && e["step"] == "activate"
        && e["line"].as_str().unwrap_or("").starts_with("would ")));
    let done = events.last().expect("done");
    assert_eq!(
        (done["event"].as_str(), done["ok"].as_bool()),
        (Some("done"), Some(true))
    );
    assert_eq!(done["before"], before.as_str());
    assert_eq!(running(&f), (before, generation), "nothing changed");
}

#[test]
fn a_wrong_sudo_password_stops_the_deploy_before_the_host_changes() {
    let Some(f) = fleet(1) else { return };
    let before = running(&f);
    f.repo.commit_app_change("Never deployed").expect("commit");
    let out = deploytui(
        &f,
        &["deploy", "server1", "--sudo-password-stdin"],
        "not-the-password\n",
    );
    assert_eq!(out.status.code(), Some(1));
    let said = text(&out.stdout);
    // Checked first, with the host's lock: nothing is built or copied.
    assert!(said.contains("server1: ✗ lock"), "{said}");
    assert!(said.contains("wrong sudo password"), "{said}");
    assert!(said.contains("server1: failed at lock"), "{said}");
    assert!(!said.contains("✓ build"), "{said}");
    assert_eq!(running(&f), before, "the host is untouched");
}

/// Opens deploytui on the fleet (after the `setup` shell lines), deploys
/// server1 with `d`, checks the plan shows `preview`, types the password
/// and waits for the end; returns the last screen and the data folder.
fn deploy_from_the_tui(
    f: &Fleet,
    setup: &[String],
    preview: &[&str],
) -> (String, tempfile::TempDir) {
    let (t, data) = common::tmux::open_deploytui_after(&f.config_path, 120, 40, NIX_CONFIG, setup);
    t.wait_for("server1 up and its flake checked", LIMIT, |s| {
        s.contains("● up") && s.contains("✗ stale") && s.contains("d deploy")
    });
    let shown = t.deploy_server1(SUDO_PASSWORD, LIMIT);
    // (The command wraps between words wherever the temp path's length puts it.)
    for part in preview {
        assert!(shown.contains(part), "{part}: {shown}");
    }
    let done = t.wait_for("every step done", LIMIT, |s| s.contains("switch done"));
    assert!(!done.contains(SUDO_PASSWORD), "{done}");
    t.keys(&["q"]);
    t.wait_for("the shell back", LIMIT, |s| s.contains("EXIT=0"));
    (done, data)
}

#[test]
fn a_deploy_from_the_tui_shows_each_step_turn_green() {
    let Some(f) = fleet(1) else { return };
    if !common::require_tools("deploy e2e", &["tmux"]) {
        return;
    }
    let before = running(&f);
    f.repo
        .commit_app_change("From the keyboard")
        .expect("commit");
    let (done, _data) = deploy_from_the_tui(
        &f,
        &[],
        &[
            "[switch]",
            "--override-input",
            "git+file://",
            "switch-to-configuration",
        ],
    );
    for step in ["✓ build", "✓ copy", "✓ profile", "✓ activate", "✓ verify"] {
        assert!(done.contains(step), "{step}: {done}");
    }
    assert!(done.contains("restarted webapp"), "{done}");
    let after = running(&f);
    assert_ne!(after.0, before.0, "the host runs the new system");
    assert_eq!(after.1, before.1 + 1);
}

#[test]
fn the_briefs_line_runs_from_the_tui_with_the_password_typed_into_its_prompt() {
    let Some(f) = fleet(1) else { return };
    if !common::require_tools("deploy e2e", &["tmux"]) {
        return;
    }
    f.use_nixos_rebuild(&[0]).expect("config");
    let before = running(&f);
    f.repo
        .commit_app_change("Through nixos-rebuild")
        .expect("commit");
    let (done, data) = deploy_from_the_tui(
        &f,
        &[format!("export PATH={}:$PATH", f.bin_dir().display())],
        &[
            "Engine nixos-rebuild",
            "[switch]",
            "--ask-sudo-password",
            "--override-input",
        ],
    );
    for step in ["✓ build", "✓ copy", "✓ activate", "✓ verify", "✓ changes"] {
        assert!(done.contains(step), "{step}: {done}");
    }
    // The deploy's whole log, kept: nixos-rebuild's prompt, answered.
    let (_, record, log) = kept(data.path(), &f.config_path);
    assert_eq!(record["engine"], "nixos-rebuild", "{record}");
    assert_eq!(record["command"][0], "nixos-rebuild", "{record}");
    assert!(
        log.contains("[sudo] password for deploy@server1: (answered by deploytui)"),
        "{log}"
    );
    let after = running(&f);
    assert_ne!(after.0, before.0, "the host runs the new system");
    assert_eq!(after.1, before.1 + 1);
    // The password is nowhere deploytui wrote.
    assert_eq!(
        common::files_containing(data.path(), SUDO_PASSWORD.as_bytes()),
        Vec::<std::path::PathBuf>::new()
    );
}

/// Makes the web app's builder sleep first (a long build); returns the
/// sleep's command line, to find and stop it.
fn slow_build(f: &Fleet) -> String {
    slow_build_of(f, 600)
}

/// The same, sleeping `secs` seconds.
fn slow_build_of(f: &Fleet, secs: u32) -> String {
    // Unique to this fleet (tests run side by side, and kill by this).
    let marker = format!("sleep {secs}.{}", f.hosts[0].ssh_port);
    f.repo
        .add_to_builder(&format!("echo building slowly; {marker}"))
        .expect("webapp.nix");
    f.repo.commit("webapp: a slow build").expect("commit");
    marker
}

/// deploytui on the fleet in tmux, deploying server1 with a builder that
/// sleeps, once the builder runs: the terminal, the data folder, what the
/// host ran before, and the builder's sleep (to find it). `None` without tmux.
fn slow_deploy_in_the_tui(
    f: &Fleet,
) -> Option<(common::tmux::Tmux, tempfile::TempDir, (String, u64), String)> {
    if !common::require_tools("deploy e2e", &["tmux"]) {
        return None;
    }
    let before = running(f);
    let marker = slow_build(f);
    let (t, data) = common::tmux::open_deploytui_with_nix(&f.config_path, 120, 40, NIX_CONFIG);
    t.wait_for("server1 up", LIMIT, |s| {
        s.contains("● up") && s.contains("d deploy")
    });
    t.deploy_server1(SUDO_PASSWORD, LIMIT);
    t.wait_for("the slow builder", LIMIT, |s| s.contains("building slowly"));
    Some((t, data, before, marker))
}

#[test]
fn a_busy_host_refuses_a_second_deploy_and_stopping_one_mid_build_leaves_the_host_alone() {
    let Some(f) = fleet(1) else { return };
    let Some((t, _data, before, marker)) = slow_deploy_in_the_tui(&f) else {
        return;
    };
    let builder_running = || !common::pids_matching(&marker).is_empty();
    assert!(builder_running(), "the builder runs");
    // A second deploy of the busy host is refused, and says why.
    t.keys(&["d"]);
    let refused = t.wait_for("the refusal", LIMIT, |s| {
        s.contains("one deploy per host at a time")
    });
    assert!(
        !refused.contains("Deploy server1 "),
        "no second question: {refused}"
    );
    t.keys(&["Escape"]);
    t.wait_for("the stop question", LIMIT, |s| {
        s.contains("Stop the deploy?")
    });
    t.keys(&["y"]);
    let screen = t.wait_for("the deploy stopped", LIMIT, |s| {
        s.contains("cancelled at build")
    });
    assert!(
        screen.contains("- copy"),
        "the later steps did not run: {screen}"
    );
    common::wait_until(
        "nix and its builder to stop",
        Duration::from_secs(10),
        || !builder_running(),
    );
    t.keys(&["q"]);
    t.wait_for("the shell back", LIMIT, |s| s.contains("EXIT=0"));
    assert_eq!(running(&f), before, "the host is untouched");
}

/// SIGTERM to the TUI mid-deploy (kill, a closing session): nothing is
/// asked, the deploy is stopped as Esc stops it (nix and its builder end),
/// its record is kept, the terminal left behind says what was stopped, and
/// deploytui exits 143.
#[test]
fn sigterm_to_the_tui_mid_deploy_stops_it_keeps_it_and_says_so() {
    let Some(f) = fleet(1) else { return };
    let Some((t, data, before, marker)) = slow_deploy_in_the_tui(&f) else {
        return;
    };
    let pid = t.shell_children()[0];
    let killed = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let screen = t.wait_for("the shell back", LIMIT, |s| s.contains("EXIT="));
    assert!(screen.contains("EXIT=143"), "{screen}");
    assert!(
        screen.contains("deploytui: server1: deploy stopped by SIGTERM"),
        "{screen}"
    );
    common::wait_until(
        "nix and its builder to stop",
        Duration::from_secs(10),
        || common::pids_matching(&marker).is_empty(),
    );
    let (_, record, _) = kept(data.path(), &f.config_path);
    assert_eq!(record["verdict"], "cancelled at build", "{record}");
    assert_eq!(running(&f), before, "the host is untouched");
}

/// The one deploy kept under `data` (its folder, record and log).
fn kept(
    data: &std::path::Path,
    config: &std::path::Path,
) -> (std::path::PathBuf, serde_json::Value, String) {
    let base = common::kept_deploys(data, config);
    let folders: Vec<_> = std::fs::read_dir(&base)
        .unwrap_or_else(|e| panic!("{}: {e}", base.display()))
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(folders.len(), 1, "{folders:?}");
    let folder = folders[0].clone();
    let record = std::fs::read_to_string(folder.join("record.json")).expect("record.json");
    let log = std::fs::read_to_string(folder.join("log")).expect("log");
    (
        folder,
        serde_json::from_str(&record).expect("record json"),
        log,
    )
}

#[test]
fn every_deploy_is_kept_on_disk_even_when_deploytui_is_killed_mid_way() {
    let Some(f) = fleet(1) else { return };
    // A finished deploy: its record and its whole log.
    let data = tempfile::tempdir().expect("tempdir");
    f.repo.commit_app_change("Kept").expect("commit");
    let out = common::deploytui_with_data(
        &f,
        &["deploy", "server1", "--sudo-password-stdin"],
        data.path(),
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let (folder, record, log) = kept(data.path(), &f.config_path);
    // Private to the user, here and on the host, where nothing of the
    // activation is left once it was read (a flood stays in /run otherwise).
    use std::os::unix::fs::PermissionsExt;
    let mode =
        |p: &std::path::Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode(&folder), 0o700);
    assert_eq!(mode(&folder.join("log")), 0o600);
    assert_eq!(mode(&folder.join("record.json")), 0o600);
    let left = f.ssh(0, "root", "ls /run/deploytui").output().expect("ssh");
    assert_eq!(text(&left.stdout), "lock\nlock.owner\n", "on the host");
    assert!(
        text(&out.stdout).contains(&format!("log kept in {}", folder.display())),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(record["schema"], "deploytui.deploy-record/1");
    assert_eq!(
        (record["host"].as_str(), record["ok"].as_bool()),
        (Some("server1"), Some(true))
    );
    assert_eq!(record["verdict"], "switch done");
    assert!(record["after"]
        .as_str()
        .unwrap_or("")
        .contains("nixos-system-server1"));
    for line in [
        "── build ──",
        "── activate ──",
        "starting the following units: webapp.service",
    ] {
        assert!(log.contains(line), "{line}: {log}");
    }

    // Killed mid-build: what was written stays, and the record says it did
    // not end.
    let data = tempfile::tempdir().expect("tempdir");
    let marker = slow_build(&f);
    let mut child = Command::new(common::bin())
        .arg("--config")
        .arg(&f.config_path)
        .args(["deploy", "server1", "--sudo-password-stdin"])
        .env("NIX_CONFIG", NIX_CONFIG)
        .env("XDG_DATA_HOME", data.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("deploytui deploy");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        writeln!(stdin, "{SUDO_PASSWORD}").expect("password");
    }
    common::wait_until("the slow builder's line in the kept log", LIMIT, || {
        std::fs::read_dir(common::kept_deploys(data.path(), &f.config_path))
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                std::fs::read_to_string(e.path().join("log"))
                    .is_ok_and(|l| l.contains("building slowly"))
            })
    });
    child.kill().expect("SIGKILL deploytui");
    let _ = child.wait();
    // nix runs on in its own process group: stop what this test started
    // (its builder, and the nix building this fleet's flake), nothing else.
    let ours = f.repo.path.display().to_string();
    for pid in common::pids_matching(&marker).into_iter().chain(
        common::pids_matching(&ours).into_iter().filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c.starts_with(b"nix\0"))
        }),
    ) {
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    }
    let (_, record, log) = kept(data.path(), &f.config_path);
    assert!(record["ended"].is_null(), "{record}");
    assert!(record["ok"].is_null(), "{record}");
    assert!(log.contains("building slowly"), "{log}");
}

/// `deploy server1 server2 --json`, kept under `data`.
fn deploy_both_json(f: &Fleet, data: &std::path::Path) -> Output {
    common::deploytui_with_data(
        f,
        &[
            "deploy",
            "server1",
            "server2",
            "--sudo-password-stdin",
            "--json",
        ],
        data,
    )
}

#[test]
fn two_hosts_deploy_at_once_each_with_its_own_steps() {
    let Some(f) = fleet(2) else { return };
    f.repo.commit_app_change("Both at once").expect("commit");
    let data = tempfile::tempdir().expect("tempdir");
    // Only server1 asks for a password (server2 logs in as root).
    let out = deploy_both_json(&f, data.path());
    // Both worked; each host's nginx still runs the old system (exit 3).
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let events: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    for host in ["server1", "server2"] {
        let done = events
            .iter()
            .find(|e| e["event"] == "done" && e["host"] == host)
            .unwrap_or_else(|| panic!("no done for {host}"));
        assert_eq!(done["ok"], true, "{done}");
        // What the exit code (3) says, for this host: nginx runs the old system.
        assert_eq!(done["outcome"], "services-stale", "{done}");
    }
    // Both ran together: server2 started building before server1 was done.
    let at =
        |pred: &dyn Fn(&serde_json::Value) -> bool| events.iter().position(pred).expect("event");
    let second_starts = at(&|e| e["event"] == "started" && e["host"] == "server2");
    let first_done = at(&|e| e["event"] == "done" && e["host"] == "server1");
    assert!(second_starts < first_done, "{events:#?}");
    let kept = std::fs::read_dir(common::kept_deploys(data.path(), &f.config_path))
        .expect("kept")
        .count();
    assert_eq!(kept, 2, "a record and log each");
}

#[test]
fn hosts_that_run_one_system_build_it_once() {
    let Some(f) = fleet(2) else { return };
    // Two workers of one configuration: server2 runs server1's system.
    let config = std::fs::read_to_string(&f.config_path).expect("config");
    let shared = config.replace("infra/hosts/server2#server2", "infra/hosts/server1#server1");
    assert_ne!(shared, config);
    std::fs::write(&f.config_path, shared).expect("config");
    // A build long enough for the two deploys to meet in it.
    slow_build_of(&f, 3);
    let out = deploytui(
        &f,
        &[
            "deploy",
            "server1",
            "server2",
            "--action",
            "dry-activate",
            "--json",
            "--sudo-password-stdin",
        ],
        &format!("{SUDO_PASSWORD}\n"),
    );
    let said = text(&out.stdout);
    assert!(out.status.success(), "{said}{}", text(&out.stderr));
    let events: Vec<serde_json::Value> = said
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let built: Vec<&serde_json::Value> = events.iter().filter(|e| e["event"] == "built").collect();
    assert_eq!(built.len(), 2, "{said}");
    assert_eq!(built[0]["path"], built[1]["path"], "one system");
    // Its builder ran once, in one of the two deploys: nix's lock on the
    // derivation makes the other wait for that build and take its result.
    let builders: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| {
            e["event"] == "output"
                && e["line"]
                    .as_str()
                    .is_some_and(|l| l.ends_with("> building slowly"))
        })
        .collect();
    assert_eq!(builders.len(), 1, "{said}");
}

#[test]
fn confirm_activation_without_a_terminal_to_answer_on_activates_nothing() {
    let Some(f) = fleet(1) else { return };
    let before = running(&f);
    let config = std::fs::read_to_string(&f.config_path).expect("config");
    std::fs::write(
        &f.config_path,
        format!("{config}confirm_activation = true\n"),
    )
    .expect("config");
    f.repo.commit_app_change("Asked first").expect("commit");
    // setsid: no controlling terminal, as under cron or CI.
    let mut cmd = Command::new("setsid");
    cmd.arg(common::bin())
        .arg("--config")
        .arg(&f.config_path)
        .args(["deploy", "server1", "--sudo-password-stdin"])
        .env("NIX_CONFIG", NIX_CONFIG);
    let out = common::output_within(cmd, format!("{SUDO_PASSWORD}\n").as_bytes(), LIMIT);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let said = text(&out.stdout);
    assert!(
        said.contains("server1: ✓ changes"),
        "what would change is shown: {said}"
    );
    assert!(said.contains("not activated: no yes was given"), "{said}");
    assert!(
        text(&out.stderr).contains("no terminal to answer on"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(running(&f), before, "the host is untouched");
}

/// nix 2.26 and later split NIX_SSHOPTS as a shell does: a key and a
/// known_hosts file in a folder with a space reach ssh whole, and the copy
/// goes through (with nix before 2.26 such a path could not work).
#[test]
fn a_key_and_known_hosts_in_a_folder_with_a_space_still_copy() {
    let Some(f) = fleet(2) else { return };
    let spaced = f.dir().join("my keys");
    std::fs::create_dir_all(&spaced).expect("mkdir");
    let key = spaced.join("client key");
    let known = spaced.join("known hosts");
    std::fs::copy(&f.client_key, &key).expect("key");
    std::fs::copy(&f.known_hosts, &known).expect("known_hosts");
    let config = std::fs::read_to_string(&f.config_path).expect("config");
    // Given in deploytui's config, they win over the fleet's ssh config;
    // the fleet's own key and known_hosts leave, so only these can work.
    let moved = f.dir().join("moved away");
    std::fs::create_dir_all(&moved).expect("mkdir");
    std::fs::rename(&f.client_key, moved.join("key")).expect("move the key");
    std::fs::rename(&f.known_hosts, moved.join("known")).expect("move known_hosts");
    let config = config.replacen(
        "[defaults]\n",
        &format!(
            "[defaults]\nidentity_file = \"{}\"\nknown_hosts = \"{}\"\n",
            key.display(),
            known.display()
        ),
        1,
    );
    assert!(config.contains("my keys/client key"), "{config}");
    std::fs::write(&f.config_path, config).expect("write config");
    f.repo.commit_app_change("Through spaces").expect("commit");
    // server2 logs in as root: its copy is nix's own ssh, with NIX_SSHOPTS.
    let out = deploytui(&f, &["deploy", "server2"], "");
    let said = text(&out.stdout);
    assert!(
        said.contains("server2: ✓ copy") && said.contains("server2: ✓ activate"),
        "{said}{}",
        text(&out.stderr)
    );
}

/// nixos-rebuild-ng's newer spelling, `--ask-elevate-password`: the same
/// prompt, answered by deploytui, and the host switches.
#[test]
fn the_newer_ask_elevate_password_spelling_deploys_too() {
    let Some(f) = fleet(1) else { return };
    f.use_nixos_rebuild(&[0]).expect("config");
    let config = std::fs::read_to_string(&f.config_path).expect("config");
    assert!(config.contains("--sudo --ask-sudo-password"), "{config}");
    std::fs::write(
        &f.config_path,
        config.replace("--sudo --ask-sudo-password", "--ask-elevate-password"),
    )
    .expect("write config");
    let (before, generation, said) = commit_and_deploy(&f, "Elevated");
    assert!(said.contains("--ask-elevate-password"), "{said}");
    assert_shipped(
        &f,
        &said,
        (&before, generation),
        &[
            "[sudo] password for deploy@server1: (answered by deploytui)",
            "server1: ✓ activate",
            "server1: switch done",
        ],
    );
}

/// One host of two cannot be reached: it still gets its `done` (failed at
/// lock, saying why) and a record, and the other deploys.
#[test]
fn an_unreachable_host_in_a_multi_host_deploy_ends_like_any_other() {
    let Some(f) = fleet(2) else { return };
    f.hosts[1].cut_ssh().expect("cut ssh");
    f.repo.commit_app_change("One of two").expect("commit");
    let data = tempfile::tempdir().expect("tempdir");
    let out = deploy_both_json(&f, data.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let events: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let done = |host: &str| {
        events
            .iter()
            .find(|e| e["event"] == "done" && e["host"] == host)
            .unwrap_or_else(|| panic!("no done for {host}: {events:#?}"))
            .clone()
    };
    assert_eq!(done("server1")["ok"], true);
    let down = done("server2");
    assert_eq!(
        (
            down["ok"].as_bool(),
            down["outcome"].as_str(),
            down["verdict"].as_str()
        ),
        (Some(false), Some("failed"), Some("failed at lock"))
    );
    assert!(events.iter().any(|e| e["event"] == "finished"
        && e["host"] == "server2"
        && e["detail"]
            .as_str()
            .unwrap_or("")
            .starts_with("cannot reach the host")));
    let records = std::fs::read_dir(common::kept_deploys(data.path(), &f.config_path))
        .expect("kept")
        .count();
    assert_eq!(records, 2, "both deploys are kept");
}
