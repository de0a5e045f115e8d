//! One deploy per host, whoever starts it: a second deploytui (another
//! process, or another machine) is refused while a deploy holds the host,
//! and while an activation left by a killed deploytui still runs there,
//! so no deploy says "switch done" and then has its system put back.

mod common;

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use deploytui::fleet::{Fleet, NIX_CONFIG, SUDO_PASSWORD};

const LIMIT: Duration = Duration::from_secs(180);

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `deploytui deploy server1` headless, to the end: exit code and output.
fn deploy(f: &Fleet) -> (Option<i32>, String) {
    common::deploytui_on(f, &["deploy", "server1", "--sudo-password-stdin"])
}

/// The same, left running, its output in `log`; `extra` arguments added.
fn deploy_in_background(f: &Fleet, log: &std::path::Path, extra: &[&str]) -> Child {
    let mut child = Command::new(common::bin())
        .arg("--config")
        .arg(&f.config_path)
        .args(["deploy", "server1", "--sudo-password-stdin"])
        .args(extra)
        .env("NIX_CONFIG", NIX_CONFIG)
        .stdin(Stdio::piped())
        .stdout(std::fs::File::create(log).expect("log"))
        .stderr(Stdio::null())
        .spawn()
        .expect("deploytui deploy");
    let mut stdin = child.stdin.take().expect("stdin");
    writeln!(stdin, "{SUDO_PASSWORD}").expect("password");
    child
}

fn root_sh(f: &Fleet, script: &str) -> String {
    let out = f.ssh(0, "root", script).output().expect("ssh");
    text(&out.stdout)
}

/// What the host runs and what its system profile (the boot default) is.
fn running_and_profile(f: &Fleet) -> (String, String) {
    let said = root_sh(
        f,
        "readlink /run/current-system; readlink -f /nix/var/nix/profiles/system",
    );
    let mut lines = said.lines().map(str::to_string);
    (
        lines.next().unwrap_or_default(),
        lines.next().unwrap_or_default(),
    )
}

/// The ssh masters a deploytui with this pid started (their control
/// sockets are in a folder named after it).
fn masters_of(pid: u32) -> Vec<u32> {
    let own = format!("/{pid}/");
    common::pids_matching("deploytui-")
        .into_iter()
        .filter(|p| {
            std::fs::read(format!("/proc/{p}/cmdline"))
                .is_ok_and(|c| c.starts_with(b"ssh\0") && text(&c).contains(&own))
        })
        .collect()
}

#[test]
fn a_second_deploy_is_refused_while_one_holds_the_host_or_its_activation_runs() {
    let Some(f) = common::fleet("one deploy per host", 1) else {
        return;
    };
    // Activations that take 15 s: the window where deploys used to cross.
    root_sh(&f, "echo 15 > /run/fleet-slow-activation");
    f.repo.commit_app_change("First").expect("commit");
    let dir = tempfile::tempdir().expect("tempdir");
    let first_log = dir.path().join("first");
    let mut first = deploy_in_background(&f, &first_log, &[]);
    common::wait_until("the first deploy's activation", LIMIT, || {
        std::fs::read_to_string(&first_log).is_ok_and(|l| l.contains("… activate"))
    });

    // Another process, the same host: refused at once, and told by whom.
    f.repo.commit_app_change("Second").expect("commit");
    let (code, said) = deploy(&f);
    assert_ne!(code, Some(0), "{said}");
    assert!(
        said.contains("server1: ✗ lock")
            && said.contains("another deploy holds this host: deploytui (pid ")
            && said.contains(&format!("(pid {})", first.id()))
            && said.contains("switch, since"),
        "{said}"
    );
    assert!(!said.contains("✓ build"), "nothing was built: {said}");

    // deploytui killed mid-activation: the activation goes on, detached,
    // and still keeps a new deploy out, naming it. The masters it left are
    // ended by the next deploytui that starts.
    let killed = first.id();
    first.kill().expect("SIGKILL deploytui");
    let _ = first.wait();
    assert!(
        !masters_of(killed).is_empty(),
        "a master outlives a SIGKILL"
    );
    let (code, said) = deploy(&f);
    let left = masters_of(killed);
    for pid in &left {
        let _ = Command::new("kill").arg(pid.to_string()).status();
    }
    assert_eq!(
        left,
        Vec::<u32>::new(),
        "the next deploytui ends a dead one's masters"
    );
    assert_ne!(code, Some(0), "{said}");
    assert!(
        said.contains("an activation is still running on the host (deploytui-activate-"),
        "{said}"
    );
    common::wait_until("the orphaned activation to end", LIMIT, || {
        root_sh(
            &f,
            "systemctl list-units --plain --no-legend 'deploytui-activate-*' | grep -c .",
        )
        .trim()
            == "0"
    });

    // Once it ended, a deploy goes through, and what it says is what the
    // host runs and boots.
    root_sh(&f, "rm -f /run/fleet-slow-activation");
    let (code, said) = deploy(&f);
    assert!(said.contains("server1: ✓ lock"), "{said}");
    assert!(said.contains("switch done"), "{code:?} {said}");
    let (running, profile) = running_and_profile(&f);
    assert_eq!(running, profile, "the host runs its boot default");
    assert!(
        said.contains(running.rsplit('-').next().unwrap_or("?")),
        "{said}"
    );
}

/// A host that runs something other than its boot default is flagged by
/// `status` and `doctor`, whatever made it so (here a `test` deploy, which
/// activates without touching the profile; crossed deploys did the same).
#[test]
fn a_host_off_its_boot_default_is_flagged_by_status_and_doctor() {
    let Some(f) = common::fleet("boot default", 1) else {
        return;
    };
    let said = |args: &[&str]| common::deploytui_on(&f, args);
    let (_, status) = said(&["status", "server1"]);
    assert!(!status.contains("not its boot default"), "{status}");

    f.repo.commit_app_change("Only tested").expect("commit");
    // Deployed with a data dir that cannot hold its log (a file where the
    // folder should be, as a full or read-only disk would refuse it): the
    // deploy goes on, and says on stderr that its log is not kept.
    let not_a_dir = tempfile::NamedTempFile::new().expect("file");
    let out = common::deploytui_with_data(
        &f,
        &[
            "deploy",
            "server1",
            "--action",
            "test",
            "--sudo-password-stdin",
        ],
        not_a_dir.path(),
    );
    let deployed = text(&out.stdout);
    assert!(deployed.contains("test done"), "{deployed}");
    assert!(
        text(&out.stderr).contains("server1: this deploy's log cannot be kept in"),
        "{}",
        text(&out.stderr)
    );
    let (running, profile) = running_and_profile(&f);
    assert_ne!(running, profile);
    let (_, status) = said(&["status", "server1"]);
    assert!(
        status.contains(&format!(
            "⚠ not its boot default: the system profile (generation 1) is {profile}"
        )),
        "{status}"
    );
    let (code, doctor) = said(&["doctor", "server1"]);
    assert_eq!(code, Some(1), "{doctor}");
    assert!(
        doctor.contains("but its boot default (system profile, generation 1) is")
            && doctor.contains("deploytui deploy server1"),
        "{doctor}"
    );
    let v = common::deploytui_json(&f, &["status", "--json", "server1"]);
    assert_eq!(v["hosts"][0]["system"]["runs_boot_default"], false);
}

/// `kill -INT` (Ctrl-C) or `kill -TERM` a headless deploy: it stops as the
/// TUI's Esc does, says so, keeps the record, ends with `done`, and exits
/// 130 or 143. Stopped mid-build, nix and its builder end too; stopped
/// mid-activation, it says the activation goes on on the host.
#[test]
fn a_signalled_headless_deploy_stops_says_where_and_keeps_its_record() {
    let Some(f) = common::fleet("signals", 1) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    // A JSON deploy left running, signalled once it printed `line`: its
    // exit code and everything it printed.
    let stopped_at = |name: &str, line: &str, sig: &str| {
        let log = dir.path().join(name);
        let mut child = deploy_in_background(&f, &log, &["--json"]);
        common::wait_until(line, LIMIT, || {
            std::fs::read_to_string(&log).is_ok_and(|l| l.contains(line))
        });
        let sent = Command::new("kill")
            .args([sig, &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(sent.success());
        let status = common::wait_child(&mut child, LIMIT);
        (
            status.code(),
            std::fs::read_to_string(&log).unwrap_or_default(),
        )
    };

    // Mid-build: a builder that sleeps, stopped by SIGINT.
    let webapp = f.repo.read("infra/pkgs/webapp.nix").expect("webapp.nix");
    let marker = format!("sleep 600.{}", f.hosts[0].ssh_port);
    f.repo
        .add_to_builder(&format!("echo building slowly; {marker}"))
        .expect("webapp.nix");
    f.repo.commit("webapp: a slow build").expect("commit");
    let (code, said) = stopped_at("build", "building slowly", "-INT");
    assert_eq!(code, Some(130), "{said}");
    let done = said
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|e| e["event"] == "done")
        .unwrap_or_else(|| panic!("no done: {said}"));
    assert_eq!(done["verdict"], "cancelled at build", "{done}");
    assert!(done["log"].is_string(), "kept: {done}");
    common::wait_until("nix's builder to stop", Duration::from_secs(10), || {
        common::pids_matching(&marker).is_empty()
    });

    // Mid-activation, stopped by SIGTERM: it says the activation goes on.
    f.repo
        .write("infra/pkgs/webapp.nix", &webapp)
        .expect("write");
    f.repo.commit("webapp: quick again").expect("commit");
    root_sh(&f, "echo 8 > /run/fleet-slow-activation");
    let (code, said) = stopped_at("activate", "setting up /etc", "-TERM");
    assert_eq!(code, Some(143), "{said}");
    assert!(
        said.contains("activate goes on on the host, detached"),
        "{said}"
    );
    assert!(
        said.contains("\"verdict\":\"cancelled at activate\""),
        "{said}"
    );
    root_sh(&f, "rm -f /run/fleet-slow-activation");
}
