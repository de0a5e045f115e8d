//! Hosts and services over real ssh, against the test fleet: the probe,
//! unreachable hosts, host keys, restarts with password sudo, stale
//! services, journal tails and the headless commands.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use deploytui::config::{self, Config, FoundBy};
use deploytui::fleet::{Fleet, SUDO_PASSWORD};
use deploytui::headless;
use deploytui::remote::{SshSettings, Transport};

fn fleet(hosts: usize) -> Option<Fleet> {
    common::fleet("remote tests", hosts)
}

fn config_of(f: &Fleet) -> Config {
    let text = std::fs::read_to_string(&f.config_path).expect("fleet config");
    config::parse(&text, &f.config_path, FoundBy::Flag).expect("valid fleet config")
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().expect("runtime")
}

/// `deploytui --config <fleet> ARGS` with `stdin` written to it.
fn deploytui(f: &Fleet, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(common::bin())
        .arg("--config")
        .arg(&f.config_path)
        .args(args)
        .env("XDG_DATA_HOME", f.dir().join("xdg-data"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run deploytui");
    let mut pipe = child.stdin.take().expect("stdin");
    pipe.write_all(stdin.as_bytes()).expect("write stdin");
    drop(pipe);
    child.wait_with_output().expect("wait")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A unit's ActiveEnterTimestamp on host `i`, read with plain ssh.
fn started_at(f: &Fleet, i: usize, unit: &str) -> Option<u64> {
    let out = f
        .ssh(
            i,
            "root",
            &format!("systemctl show --timestamp=unix -p ActiveEnterTimestamp {unit}"),
        )
        .output()
        .expect("ssh");
    deploytui::systemd::parse_show(&text(&out.stdout))
        .0
        .first()?
        .active_enter
}

#[test]
fn probe_reports_each_hosts_real_system_and_generation() {
    let Some(mut f) = fleet(2) else { return };
    // Give server2 a second generation so the two differ.
    f.repo
        .commit_app_change("Only server2 gets this")
        .expect("commit");
    let toplevel = f.build(1, true).expect("build");
    f.activate(1, &toplevel, "switch").expect("switch");

    let config = config_of(&f);
    let hosts = headless::select_hosts(&config, &[]).expect("hosts");
    let report = rt()
        .block_on(headless::status(&config, &hosts))
        .expect("status");
    assert_eq!(report.hosts.len(), 2);
    for (i, h) in report.hosts.iter().enumerate() {
        assert!(h.reachable, "{h:?}");
        let running = text(
            &f.ssh(i, "root", "readlink /run/current-system")
                .output()
                .expect("ssh")
                .stdout,
        );
        let sys = h.system.as_ref().expect("system");
        assert_eq!(sys.current.as_deref(), Some(running.trim()), "host {i}");
        assert_eq!(sys.generation, Some(i as u32 + 1), "host {i}");
        assert_eq!(sys.failed_units, Some(0));
        assert_eq!(
            sys.reboot_pending,
            Some(false),
            "server2 booted gen 1 and runs gen 2, an app change: live, no reboot"
        );
        assert_eq!(h.services.len(), 2);
        assert!(
            h.services.iter().all(|s| s.active_state == "active"),
            "{:?}",
            h.services
        );
        assert!(h.warnings.is_empty(), "{:?}", h.warnings);
    }
    assert_eq!(
        report.hosts[1]
            .system
            .as_ref()
            .and_then(|s| s.configuration_revision.clone()),
        Some(f.repo.head().expect("head")),
        "server2 runs HEAD (built with the override)"
    );
    // A new kernel is not live until a reboot: now one is pending.
    f.repo.set_kernel("server2", "6.7.0").expect("kernel");
    f.repo.commit("server2: linux 6.7").expect("commit");
    let toplevel = f.build(1, true).expect("build");
    f.activate(1, &toplevel, "switch").expect("switch");
    let report = rt()
        .block_on(headless::status(&config, &hosts))
        .expect("status");
    assert_eq!(
        report.hosts[1]
            .system
            .as_ref()
            .and_then(|s| s.reboot_pending),
        Some(true),
        "server2 runs linux 6.7, booted 6.6"
    );
}

#[test]
fn an_unreachable_host_fails_fast_with_a_reason_and_the_other_stays_live() {
    let Some(mut f) = fleet(2) else { return };
    f.hosts[1].stop();
    let config = config_of(&f);
    let hosts = headless::select_hosts(&config, &[]).expect("hosts");
    let started = Instant::now();
    let report = rt()
        .block_on(headless::status(&config, &hosts))
        .expect("status");
    // A bound against hanging, not a speed target: the connect timeout is 5 s.
    assert!(
        started.elapsed() < config.connect_timeout + Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(report.hosts[0].reachable);
    let down = &report.hosts[1];
    assert!(!down.reachable);
    assert!(
        down.error
            .as_deref()
            .unwrap_or("")
            .contains("Connection refused"),
        "{down:?}"
    );
    let manual = down.manual.as_deref().expect("manual command");
    assert!(
        manual.starts_with(&format!("ssh -F {} ", f.ssh_config.display()))
            && manual.ends_with("root@server2 true"),
        "{manual}"
    );

    let out = deploytui(&f, &["status"], "");
    assert_eq!(
        out.status.code(),
        Some(3),
        "status exits 3 when a host is down"
    );
    assert!(
        text(&out.stdout).contains("server2 (root@server2): unreachable"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn a_changed_host_key_is_refused() {
    let Some(f) = fleet(1) else { return };
    // Another host's key in known_hosts for this port: a man in the middle.
    let other = tempfile::tempdir().expect("tempdir");
    let key = other.path().join("k");
    Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", ""])
        .arg("-f")
        .arg(&key)
        .status()
        .expect("keygen");
    let public = std::fs::read_to_string(key.with_extension("pub")).expect("pub");
    let mut fields = public.split_whitespace();
    let line = format!(
        "[127.0.0.1]:{} {} {}\n",
        f.hosts[0].ssh_port,
        fields.next().unwrap_or(""),
        fields.next().unwrap_or("")
    );
    std::fs::write(&f.known_hosts, line).expect("write known_hosts");

    let config = config_of(&f);
    let settings = test_settings();
    let err = rt()
        .block_on(Transport::connect(&config.hosts[0], &settings))
        .err()
        .expect("must not connect");
    assert!(err.to_string().contains("host key mismatch"), "{err}");
}

#[test]
fn restart_with_password_sudo_changes_the_start_time_and_a_wrong_password_does_not() {
    let Some(f) = fleet(1) else { return };
    let before = started_at(&f, 0, "nginx.service").expect("nginx started");
    std::thread::sleep(Duration::from_millis(1100)); // start times have 1 s resolution

    let out = deploytui(
        &f,
        &["restart", "server1", "nginx", "--sudo-password-stdin"],
        "not-it\n",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("wrong sudo password"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        started_at(&f, 0, "nginx.service"),
        Some(before),
        "not restarted"
    );

    let out = deploytui(
        &f,
        &["restart", "server1", "nginx", "--sudo-password-stdin"],
        &format!("{SUDO_PASSWORD}\n"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr)
        .contains("running sudo -k -S -p '' -- systemctl restart -- nginx.service"));
    let after = started_at(&f, 0, "nginx.service").expect("nginx running");
    assert!(after > before, "restarted: {before} -> {after}");
    // A clock time and an age, not `@<unix seconds>`.
    let said = text(&out.stdout);
    assert!(
        !said.contains('@') && said.contains("active since ") && said.contains("s ago"),
        "{said}"
    );
    let clock = said
        .split("active since ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .unwrap_or("");
    assert!(
        clock.len() == 8 && clock.matches(':').count() == 2,
        "HH:MM:SS: {said}"
    );

    // No password on stdin: said first, and nothing claims to be running.
    let out = deploytui(
        &f,
        &["restart", "server1", "nginx", "--sudo-password-stdin"],
        "",
    );
    assert_eq!(out.status.code(), Some(1));
    let said = text(&out.stderr);
    assert!(said.contains("no sudo password on stdin"), "{said}");
    assert!(!said.contains("running"), "{said}");

    // A unit the host lacks: the exit code as a number.
    let out = deploytui(
        &f,
        &["restart", "server1", "nope", "--sudo-password-stdin"],
        &format!("{SUDO_PASSWORD}\n"),
    );
    assert_eq!(out.status.code(), Some(1));
    let said = text(&out.stderr);
    assert!(
        said.contains("restart nope.service failed (exit 5)") && !said.contains("Some("),
        "{said}"
    );

    let out = deploytui(&f, &["restart", "server1", "nginx;reboot"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("not a valid systemd unit name"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_service_left_running_across_an_activation_is_stale_until_restarted() {
    let Some(mut f) = fleet(1) else { return };
    let stale_units = |f: &Fleet| -> Vec<String> {
        let out = deploytui(f, &["status", "--json"], "");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        v["hosts"][0]["services"]
            .as_array()
            .expect("services")
            .iter()
            .filter(|s| s["stale"] == true)
            .map(|s| s["unit"].as_str().unwrap_or("").to_string())
            .collect()
    };
    assert!(stale_units(&f).is_empty());
    std::thread::sleep(Duration::from_millis(1100));
    f.repo.commit_app_change("Needs a restart").expect("commit");
    let toplevel = f.build(0, true).expect("build");
    f.activate(0, &toplevel, "switch").expect("switch");
    assert_eq!(
        stale_units(&f),
        vec!["nginx.service"],
        "nginx was not restarted (X-RestartIfChanged=false)"
    );
    let out = deploytui(
        &f,
        &["restart", "server1", "nginx", "--sudo-password-stdin"],
        &format!("{SUDO_PASSWORD}\n"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stale_units(&f).is_empty(), "restarted: no longer stale");
    assert!(f.fetch_page(0).expect("curl").contains("Needs a restart"));
}

#[test]
fn status_json_follows_its_schema() {
    let Some(f) = fleet(1) else { return };
    let out = deploytui(&f, &["status", "--json", "server1"], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["schema"], "deploytui.status/1");
    let h = &v["hosts"][0];
    for (key, kind) in [
        ("name", "string"),
        ("target", "string"),
        ("reachable", "bool"),
        ("error", "null"),
        ("manual", "null"),
        ("latency_ms", "number"),
        ("system", "object"),
        ("services", "array"),
        ("warnings", "array"),
    ] {
        assert_eq!(kind_of(&h[key]), kind, "hosts[0].{key} in {h}");
    }
    for (key, kind) in [
        ("current", "string"),
        ("activated_at", "number"),
        ("booted", "string"),
        ("reboot_pending", "bool"),
        ("generation", "number"),
        ("generation_at", "number"),
        ("nixos_version", "string"),
        ("configuration_revision", "string"),
        ("uptime_secs", "number"),
        ("failed_units", "number"),
        ("host_time", "number"),
    ] {
        assert_eq!(kind_of(&h["system"][key]), kind, "system.{key}");
    }
    for (key, kind) in [
        ("unit", "string"),
        ("load_state", "string"),
        ("active_state", "string"),
        ("sub_state", "string"),
        ("active_enter", "number"),
        ("main_pid", "number"),
        ("n_restarts", "number"),
        ("stale", "bool"),
    ] {
        assert_eq!(kind_of(&h["services"][0][key]), kind, "services[0].{key}");
    }
}

fn kind_of(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "bool",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

fn test_settings() -> SshSettings {
    SshSettings {
        control_dir: deploytui::remote::control_dir().expect("control dir"),
        connect_timeout: Duration::from_secs(5),
        keepalive: Duration::from_secs(5),
        idle_exit: Duration::from_secs(10),
        command_timeout: Duration::from_secs(20),
        action_timeout: Duration::from_secs(60),
    }
}

#[test]
fn a_journal_follow_streams_new_lines_and_ends_on_the_host_when_dropped() {
    let Some(f) = fleet(1) else { return };
    let config = config_of(&f);
    let settings = test_settings();
    let count_followers = |f: &Fleet| -> usize {
        let out = f
            .ssh(0, "root", "pgrep -c -x journalctl || true")
            .output()
            .expect("ssh");
        text(&out.stdout).trim().parse().unwrap_or(0)
    };
    rt().block_on(async {
        let t = Transport::connect(&config.hosts[0], &settings)
            .await
            .expect("connect");
        let argv = deploytui::remote::until_stdin_closes(
            &[
                "journalctl",
                "-u",
                "webapp.service",
                "-f",
                "-n",
                "0",
                "-o",
                "cat",
            ]
            .map(String::from),
        );
        let (tx, mut rx) = Transport::lines_channel();
        let stream_t = t.clone();
        let follow = tokio::spawn(async move { stream_t.stream(&argv, tx).await });
        // Following once journalctl runs on the host.
        let tailing = |f: &Fleet| {
            let out = f
                .ssh(0, "root", "pgrep -x journalctl")
                .output()
                .expect("ssh");
            out.status.success()
        };
        let started = tokio::time::Instant::now();
        while count_followers(&f) == 0 || !tailing(&f) {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "journalctl -f never ran on the host"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // server1 logs in as the sudo user.
        let restart = deploytui::remote::privileged(
            deploytui::config::SudoMode::Password,
            &["systemctl", "restart", "webapp.service"].map(String::from),
        );
        let password = deploytui::secret::Secret::new(SUDO_PASSWORD.into());
        let out = t
            .output(&restart, Some(&password), Duration::from_secs(60))
            .await
            .expect("restart");
        assert!(out.success(), "{out:?}");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let mut seen = Vec::new();
        while !seen
            .iter()
            .any(|l: &String| l.contains("webapp 1.0.0 starting"))
        {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(line)) => seen.push(String::from_utf8_lossy(&line).into_owned()),
                _ => panic!("no new journal line; saw {seen:?}"),
            }
        }
        follow.abort();
        let _ = follow.await;
        for _ in 0..50 {
            if count_followers(&f) == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(count_followers(&f), 0, "journalctl -f ended on the host");
        t.close().await;
    });
}

/// Verify after activation, when the session is gone (the new system cut
/// the network, or the master died idle during a flood): it reconnects as
/// activation does and checks; when the host stays away, what it runs is
/// "not known", never a failure.
#[test]
fn a_verify_that_lost_the_session_reconnects_and_says_not_known_when_it_cannot() {
    use deploytui::deploy::native::{verify, Verified};
    use deploytui::deploy::{Context, Event, Plan, SwitchAction};
    let Some(mut f) = fleet(1) else { return };
    let config = config_of(&f);
    let settings = test_settings();
    let host = &config.hosts[0];
    let out = f
        .ssh(0, "root", "readlink -f /run/current-system")
        .output()
        .expect("ssh");
    let running = text(&out.stdout).trim().to_string();
    assert!(running.starts_with("/nix/store/"), "{running}");
    let plan = Plan::new(0, host, SwitchAction::Switch, Vec::new()).expect("plan");
    rt().block_on(async {
        let dead = Transport::connect(host, &settings).await.expect("connect");
        // The master ends, as one that died idle.
        dead.clone().close().await;
        let cx = Context {
            transport: &dead,
            reconnect: Some((host, &settings)),
            reconnect_for: Duration::from_secs(6),
            nix_sshopts: None,
            password: None,
            command_timeout: settings.command_timeout,
            action_timeout: settings.action_timeout,
        };
        let (tx, mut rx) = deploytui::deploy::Events::channel();
        let (verified, fresh) = verify(&plan, &cx, &running, None, &tx).await;
        assert!(
            matches!(&verified, Verified::Yes(what) if what.starts_with("the host runs ")),
            "{verified:?}"
        );
        let fresh = fresh.expect("a new session, for what follows");
        let Ok(Event::Output(_, said)) = rx.try_recv() else {
            panic!("the reconnect is said");
        };
        assert!(said[0].contains("reconnecting…"), "{said:?}");
        fresh.close().await;

        // A different system is a known "no", over the same reconnect.
        let other = "/nix/store/00000000000000000000000000000000-nixos-system-other";
        let (verified, fresh) = verify(&plan, &cx, other, None, &tx).await;
        assert!(matches!(verified, Verified::No(_)), "{verified:?}");
        if let Some(t) = fresh {
            t.close().await;
        }

        // The host away for longer than the reconnect tries: not known.
        f.hosts[0].cut_ssh().expect("cut ssh");
        let (verified, fresh) = verify(&plan, &cx, &running, None, &tx).await;
        f.hosts[0].restore_ssh().expect("sshd back");
        assert!(fresh.is_none());
        let Verified::Unknown(why) = &verified else {
            panic!("{verified:?}");
        };
        assert!(
            why.contains("cannot reach the host") && why.contains("did not answer for 6s"),
            "{why}"
        );
        assert!(!verified.is_failure());
    });
}
