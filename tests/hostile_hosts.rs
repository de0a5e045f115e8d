//! Hosts that lie, hang or attack, reproduced on the real fleet: a changed
//! or unknown host key under both policies, escape sequences in what a host
//! reports (checked in headless output and on a real terminal), a host whose
//! systemctl hangs, one whose sshd stops answering, and invalid UTF-8 in a
//! followed journal.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::tmux::open_deploytui;
use deploytui::config::{self, Config, FoundBy};
use deploytui::fleet::{Fleet, SUDO_PASSWORD};
use deploytui::remote::{SshSettings, Transport};

const WAIT: Duration = Duration::from_secs(30);
/// What the terminal would obey: ESC and BEL, raw.
const RAW: [u8; 2] = [0x1b, 0x07];

fn fleet(test: &str, hosts: usize) -> Option<Fleet> {
    if !common::require_tools(test, &["tmux"]) {
        return None;
    }
    common::fleet(test, hosts)
}

/// The fleet's config with `top` added to the top-level settings and
/// `defaults` to the `[defaults]` table, written beside it.
fn variant(f: &Fleet, name: &str, top: &str, defaults: &str) -> PathBuf {
    let text = std::fs::read_to_string(&f.config_path).expect("fleet config");
    let text = text
        .replacen("[defaults]\n", &format!("[defaults]\n{defaults}\n"), 1)
        .replacen("\n[defaults]", &format!("\n{top}\n\n[defaults]"), 1);
    let path = f.dir().join(format!("{name}.toml"));
    std::fs::write(&path, text).expect("write config");
    path
}

fn load(path: &PathBuf) -> Config {
    let text = std::fs::read_to_string(path).expect("config");
    config::parse(&text, path, FoundBy::Flag).expect("valid config")
}

fn deploytui(
    config: &PathBuf,
    args: &[&str],
    stdin: &str,
    limit: Duration,
) -> std::process::Output {
    let mut cmd = Command::new(common::bin());
    cmd.arg("--config").arg(config).args(args);
    common::output_within(cmd, stdin.as_bytes(), limit)
}

fn root_sh(f: &Fleet, i: usize, script: &str) -> String {
    let out = f.ssh(i, "root", script).output().expect("ssh");
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn started_at(f: &Fleet, unit: &str) -> Option<u64> {
    let out = root_sh(
        f,
        0,
        &format!("systemctl show --timestamp=unix -p ActiveEnterTimestamp {unit}"),
    );
    deploytui::systemd::parse_show(&out).0.first()?.active_enter
}

fn has_raw_escapes(bytes: &[u8]) -> bool {
    bytes.iter().any(|b| RAW.contains(b))
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().expect("runtime")
}

fn settings(config: &Config) -> SshSettings {
    SshSettings::for_config(config, Duration::from_secs(10)).expect("ssh settings")
}

/// A known_hosts line that gives host 0's address another host's key.
fn changed_key_line(f: &Fleet) -> String {
    let other = tempfile::tempdir().expect("tempdir");
    let key = other.path().join("k");
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen");
    assert!(made.success());
    let public = std::fs::read_to_string(key.with_extension("pub")).expect("pub");
    let mut fields = public.split_whitespace();
    format!(
        "[127.0.0.1]:{} {} {}\n",
        f.hosts[0].ssh_port,
        fields.next().unwrap_or(""),
        fields.next().unwrap_or("")
    )
}

#[test]
fn host_keys_a_changed_one_is_refused_by_both_policies_an_unknown_one_only_by_strict() {
    let Some(f) = fleet("host keys", 1) else {
        return;
    };
    // deploytui checks its own known_hosts file; the fleet's stays as it
    // is, for the plain ssh that reads nginx's start time.
    // (`known_hosts` in deploytui's config wins over the fleet's ssh config.)
    let known = f.dir().join("test_known_hosts");
    let own_known_hosts = format!("known_hosts = \"{}\"", known.display());
    let strict = load(&variant(&f, "strict", "", &own_known_hosts));
    let accept_new_path = variant(
        &f,
        "accept-new",
        "",
        &format!("{own_known_hosts}\nhost_key_policy = \"accept-new\""),
    );
    let accept_new = load(&accept_new_path);
    let changed = changed_key_line(&f);
    let connect = |config: &Config| {
        rt().block_on(async {
            match Transport::connect(&config.hosts[0], &settings(config)).await {
                Ok(t) => {
                    t.close().await;
                    Ok(())
                }
                Err(e) => Err(e.to_string()),
            }
        })
    };

    for (policy, config) in [("strict", &strict), ("accept-new", &accept_new)] {
        std::fs::write(&known, &changed).expect("known_hosts");
        let err = connect(config).expect_err(&format!("{policy}: a changed key connected"));
        assert!(
            err.contains("host key") || err.contains("HOST IDENTIFICATION"),
            "{policy}: {err}"
        );
        assert_eq!(
            std::fs::read_to_string(&known).expect("known_hosts"),
            changed,
            "{policy}: the known key was not replaced"
        );
    }

    // The defect as found: a restart with the sudo password against a
    // changed key, under accept-new. It must fail before sudo runs.
    let before = started_at(&f, "nginx.service").expect("nginx runs");
    std::thread::sleep(Duration::from_millis(1100)); // start times have 1 s resolution
    let out = deploytui(
        &accept_new_path,
        &["restart", "server1", "nginx", "--sudo-password-stdin"],
        &format!("{SUDO_PASSWORD}\n"),
        WAIT,
    );
    assert!(!out.status.success(), "restart through a changed key");
    assert_eq!(
        started_at(&f, "nginx.service"),
        Some(before),
        "nginx was restarted through a changed host key"
    );

    std::fs::write(&known, "").expect("known_hosts");
    let err = connect(&strict).expect_err("strict: an unknown key connected");
    assert!(!err.is_empty());
    assert_eq!(
        std::fs::read_to_string(&known).expect("known_hosts"),
        "",
        "strict adds nothing"
    );
    connect(&accept_new).expect("accept-new trusts a host seen for the first time");
    // ssh may hash the name: ask ssh-keygen, as ssh itself would look it up.
    let found = Command::new("ssh-keygen")
        .arg("-F")
        .arg(format!("[127.0.0.1]:{}", f.hosts[0].ssh_port))
        .arg("-f")
        .arg(&known)
        .output()
        .expect("ssh-keygen -F");
    assert!(
        found.status.success(),
        "accept-new records the key: {}",
        std::fs::read_to_string(&known).unwrap_or_default()
    );
}

/// Makes host 0 report escape sequences: as its units' sub-state (its
/// `systemctl` says so), and as the path of its running system (a link that
/// still resolves, so the host works on).
fn make_host_hostile(f: &Fleet) {
    root_sh(
        f,
        0,
        r#"evil=$(printf 'running\033]0;pwned\007\033[2J')
           printf '#!/bin/sh\n/usr/bin/systemctl "$@" | sed "s/^SubState=running$/SubState=%s/"\n' "$evil" > /usr/local/bin/systemctl
           chmod +x /usr/local/bin/systemctl
           real=$(readlink /run/current-system)
           evil=$(printf '/run/evil\033]0;pwned\007\033[2J')
           ln -sfn "$real" "$evil"
           ln -sfn "$evil" /run/current-system"#,
    );
}

#[test]
fn escapes_a_host_sends_are_shown_never_obeyed() {
    let Some(f) = fleet("hostile host text", 1) else {
        return;
    };
    make_host_hostile(&f);

    let out = deploytui(&f.config_path, &["status"], "", WAIT);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !has_raw_escapes(&out.stdout),
        "raw escapes in status:\n{text:?}"
    );
    assert!(
        text.contains("running\\x1b]0;pwned\\x07\\x1b[2J"),
        "the sub-state shown escaped:\n{text}"
    );
    assert!(
        text.contains("/run/evil\\x1b]0;pwned\\x07\\x1b[2J")
            && text.contains("not a /nix/store path"),
        "the running system refused, quoted escaped:\n{text}"
    );
    let json = deploytui(&f.config_path, &["status", "--json"], "", WAIT);
    assert!(!has_raw_escapes(&json.stdout));

    // On a real terminal: the title stays, the screen is not cleared.
    let (t, _data) = open_deploytui(&f.config_path, 160, 40);
    t.keys(&["Tab"]); // the services pane
    let screen = t.wait_for("the escaped sub-state and path", WAIT, |s| {
        s.contains("running\\x")
            && s.contains("/run/evil\\x1b]0;pwned\\x07")
            && s.contains(" q quit")
    });
    assert!(screen.contains("server1"), "{screen}");
    let title = t.query("#{pane_title}");
    assert!(
        !title.contains("pwned"),
        "the host retitled the terminal: {title}"
    );
    t.keys(&["q"]);
    t.wait_for("the shell back", WAIT, |s| s.contains("EXIT=0"));
}

#[test]
fn a_host_whose_systemctl_hangs_answers_within_the_deadline() {
    let Some(f) = fleet("hanging systemctl", 1) else {
        return;
    };
    // A sick host: its `systemctl show` never answers.
    root_sh(
        &f,
        0,
        r#"printf '#!/bin/sh\n[ "$1" = show ] && sleep 3600\nexec /usr/bin/systemctl "$@"\n' > /usr/local/bin/systemctl
           chmod +x /usr/local/bin/systemctl"#,
    );
    let config = variant(&f, "short", "command_timeout_secs = 5", "");
    let started = Instant::now();
    let out = deploytui(&config, &["status"], "", Duration::from_secs(30));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("systemctl show did not answer in time"),
        "the host says why its services are unknown ({:?}):\n{text}\n{}",
        started.elapsed(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !text.contains("active (running)"),
        "no service state is made up:\n{text}"
    );
}

/// Every sshd process of host `i`, the listener and the per-connection ones
/// (`sshd-session` since OpenSSH 9.8).
fn sshd_pids(f: &Fleet, i: usize) -> Vec<u32> {
    f.hosts[i]
        .pids()
        .into_iter()
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm"))
                .is_ok_and(|c| c.trim() == "sshd" || c.trim().starts_with("sshd-"))
        })
        .collect()
}

fn signal(pids: &[u32], sig: &str) {
    for p in pids {
        let _ = Command::new("kill").args([sig, &p.to_string()]).status();
    }
}

#[test]
fn a_host_that_stops_answering_is_shown_so_and_quitting_leaves_no_ssh_behind() {
    let Some(f) = fleet("silent host", 2) else {
        return;
    };
    let config = variant(
        &f,
        "fast",
        "command_timeout_secs = 5\nkeepalive_secs = 1",
        "",
    );
    let (t, _data) = open_deploytui(&config, 160, 40);
    t.wait_for("both hosts up", WAIT, |s| s.matches("● up").count() == 2);
    let pid = t
        .shell_children()
        .into_iter()
        .next()
        .expect("deploytui runs");

    // Freeze host 2's sshd: the open connection and any new handshake hang.
    let frozen = sshd_pids(&f, 1);
    assert!(!frozen.is_empty());
    signal(&frozen, "-STOP");
    let stopped_at = Instant::now();
    let screen = t.wait_for("server2 not answering", Duration::from_secs(40), |s| {
        s.contains("not answering") || s.contains("unreachable")
    });
    let took = stopped_at.elapsed();
    assert!(
        screen.matches("● up").count() == 1,
        "server1 stays up:\n{screen}"
    );
    eprintln!("server2 shown as not answering {took:?} after its sshd stopped");

    // Press R so a handshake to the frozen host is in flight, then quit.
    t.keys(&["R"]);
    std::thread::sleep(Duration::from_millis(300));
    // Its ssh processes: children (handshakes) and masters (named by its control dir).
    let control = format!("deploytui-{}/{pid}/", deploytui::paths::uid());
    let below = common::descendants_except(pid);
    let ssh_before: Vec<u32> = common::all_pids()
        .into_iter()
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "ssh")
        })
        .filter(|p| {
            below.contains(p)
                || std::fs::read(format!("/proc/{p}/cmdline"))
                    .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&control))
        })
        .collect();
    assert!(!ssh_before.is_empty(), "ssh runs under deploytui");
    t.keys(&["q"]);
    t.wait_for("the shell back", Duration::from_secs(10), |s| {
        s.contains("EXIT=0")
    });
    common::wait_until(
        "every ssh of deploytui to end",
        Duration::from_secs(5),
        || ssh_before.iter().all(|p| !common::tmux::alive(*p)),
    );
    signal(&frozen, "-CONT");
}

#[test]
fn a_journal_with_invalid_utf8_keeps_following() {
    let Some(f) = fleet("journal bytes", 1) else {
        return;
    };
    let (t, _data) = open_deploytui(&f.config_path, 160, 40);
    t.wait_for("the host up", WAIT, |s| {
        s.contains("● up") && s.contains("webapp")
    });
    t.keys(&["Tab", "Down", "l"]); // services, webapp, follow its journal
    t.wait_for("the journal followed", WAIT, |s| s.contains("following"));
    common::wait_until("journalctl -f on the host", WAIT, || {
        f.ssh(0, "root", "pgrep -x journalctl")
            .status()
            .is_ok_and(|s| s.success())
    });
    root_sh(
        &f,
        0,
        // The web app prints what is dropped in /run/webapp/say: its own lines.
        r#"j=/run/webapp/say
           printf 'before \377\376 bytes\n' >> $j
           printf '\033]0;pwned\007 titled\n' >> $j
           printf 'after the bad bytes\n' >> $j"#,
    );
    let screen = t.wait_for("the line after the bad bytes", WAIT, |s| {
        s.contains("after the bad bytes")
    });
    assert!(screen.contains("before"), "{screen}");
    assert!(screen.contains("following"), "still following:\n{screen}");
    assert!(!t.query("#{pane_title}").contains("pwned"));
    root_sh(&f, 0, r#"printf 'and more\n' >> /run/webapp/say"#);
    t.wait_for("a later line", WAIT, |s| s.contains("and more"));
    t.keys(&["q"]);
    t.wait_for("the shell back", WAIT, |s| s.contains("EXIT=0"));
}

/// `deploy --json` output lines carry what a build or a host printed to
/// whoever `jq -r`s them: its escapes (OSC 52 to the clipboard, OSC 0, a
/// screen clear, a raw C1 CSI) are shown as text, never passed on.
#[test]
fn deploy_json_output_lines_carry_no_escapes() {
    let Some(f) = fleet("hostile json output", 1) else {
        return;
    };
    let evil = r"printf 'evil \033]52;c;cHduZWQ=\007 \033]0;pwned\007 \033[2J \302\233 end\n'";
    f.repo.add_to_builder(evil).expect("webapp.nix");
    f.repo
        .commit("webapp: a builder that prints escapes")
        .expect("commit");
    let (_, said) = common::deploytui_on(
        &f,
        &["deploy", "server1", "--json", "--sudo-password-stdin"],
    );
    let lines: Vec<String> = said
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "output")
        .filter_map(|e| e["line"].as_str().map(String::from))
        .collect();
    let said = lines
        .iter()
        .find(|l| l.contains("evil"))
        .unwrap_or_else(|| panic!("the builder's line: {lines:#?}"));
    // The sequences are dropped, a raw C1 byte is shown as text.
    assert!(
        said.contains("evil") && said.contains("\\x9b end"),
        "{said:?}"
    );
    for line in &lines {
        assert!(
            !line.chars().any(|c| c.is_control() && c != '\t'),
            "a raw control character in {line:?}"
        );
    }
}
