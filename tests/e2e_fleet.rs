//! The TUI against the live fleet in tmux, as a person uses it: restart nginx
//! with the sudo password and see its new start time; the password appears
//! nowhere (screen, argv, environment, log file, shell history); no ssh
//! master outlives deploytui, whether it quits with q or Ctrl-C.

mod common;

use std::time::Duration;

use common::tmux::Tmux;
use deploytui::fleet::{Fleet, SUDO_PASSWORD};

const WAIT: Duration = Duration::from_secs(30);

fn fleet(hosts: usize) -> Option<Fleet> {
    if !common::require_tools("e2e fleet tests", &["tmux"]) {
        return None;
    }
    common::fleet("e2e fleet tests", hosts)
}

/// Processes whose command line mentions `needle` (ssh masters name their control dir).
fn processes_mentioning(needle: &str) -> Vec<u32> {
    common::all_pids()
        .into_iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(needle))
        })
        .collect()
}

fn nginx_started(f: &Fleet) -> Option<u64> {
    let out = f
        .ssh(
            0,
            "root",
            "systemctl show --timestamp=unix -p ActiveEnterTimestamp nginx",
        )
        .output()
        .expect("ssh");
    deploytui::systemd::parse_show(&String::from_utf8_lossy(&out.stdout))
        .0
        .first()?
        .active_enter
}

/// Starts deploytui on the fleet in tmux; returns the window, its pid and its control dir.
fn open(f: &Fleet, t: &Tmux) -> (u32, String) {
    t.run_deploytui(&f.config_path);
    t.wait_for("both hosts up", WAIT, |s| {
        s.matches("● up").count() == 2 && s.contains(" q quit")
    });
    let pid = t
        .shell_children()
        .into_iter()
        .next()
        .expect("deploytui runs");
    let control = format!("deploytui-{}/{pid}/", deploytui::paths::uid());
    (pid, control)
}

/// Reads every process's argv and environment on the machine (the hosts'
/// namespaces included) again and again until stopped: what it found with
/// the password, and every command line it saw (to prove it saw sudo run).
struct ProcSampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    worker: std::thread::JoinHandle<(Vec<String>, Vec<String>)>,
}

impl ProcSampler {
    fn start(needles: &'static [&'static str]) -> ProcSampler {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let worker = std::thread::spawn(move || {
            let (mut leaks, mut seen) = (Vec::new(), std::collections::BTreeSet::new());
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                for pid in common::all_pids() {
                    for file in ["cmdline", "environ"] {
                        let bytes =
                            std::fs::read(format!("/proc/{pid}/{file}")).unwrap_or_default();
                        let text = String::from_utf8_lossy(&bytes).replace('\0', " ");
                        // The test typing as the person would (tmux send-keys) is the keyboard.
                        let typing = text.starts_with("tmux ") && text.contains(" send-keys -l ");
                        if !typing && needles.iter().any(|n| text.contains(n)) {
                            leaks.push(format!("/proc/{pid}/{file}: {text}"));
                        }
                        if file == "cmdline" && !text.is_empty() {
                            seen.insert(text);
                        }
                    }
                }
            }
            (leaks, seen.into_iter().collect())
        });
        ProcSampler { stop, worker }
    }

    fn finish(self) -> (Vec<String>, Vec<String>) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.worker.join().expect("sampler")
    }
}

#[test]
fn restart_nginx_with_the_sudo_password_and_the_password_leaks_nowhere() {
    let Some(f) = fleet(2) else { return };
    const WRONG: &str = "wrong-one-Zq81";
    let home = tempfile::tempdir().expect("tempdir");
    let data = home.path().join("data");
    let history = home.path().join("bash_history");
    let t = Tmux::start(
        110,
        32,
        &[
            ("HOME", &home.path().to_string_lossy()),
            ("XDG_DATA_HOME", &data.to_string_lossy()),
            ("HISTFILE", &history.to_string_lossy()),
        ],
    );
    let (pid, control) = open(&f, &t);
    let before = nginx_started(&f).expect("nginx runs");
    std::thread::sleep(Duration::from_millis(1100)); // start times have 1 s resolution

    t.keys(&["Tab"]); // services of server1 (logs in as the sudo user)
    t.keys(&["r"]);
    t.wait_for("the confirm dialog", WAIT, |s| {
        s.contains("sudo -k -S -p '' -- systemctl restart -- nginx.service")
    });
    t.keys(&["y"]);
    t.wait_for("the password prompt", WAIT, |s| {
        s.contains("sudo password for deploy@server1")
    });
    t.keys(&["-l", WRONG]);
    let mask = "•".repeat(WRONG.chars().count());
    t.wait_for("the wrong password masked", WAIT, |s| s.contains(&mask));
    let sampler = ProcSampler::start(&[SUDO_PASSWORD, WRONG]);
    t.keys(&["Enter"]);
    t.wait_for("wrong password", WAIT, |s| {
        s.contains("wrong sudo password, try again")
    });
    t.keys(&["-l", SUDO_PASSWORD]);
    let mask = "•".repeat(SUDO_PASSWORD.chars().count());
    let masked = t.wait_for("the password masked", WAIT, |s| s.contains(&mask));
    t.keys(&["Enter"]);
    t.wait_for("the restart", WAIT, |s| {
        s.contains("restart nginx.service: done")
    });
    let (leaks, seen) = sampler.finish();
    assert!(
        seen.iter()
            .any(|c| c.starts_with("sudo -k -S") && c.contains("restart")),
        "the sampler never saw sudo run, so it proves nothing; it saw {} command lines",
        seen.len()
    );
    assert!(
        leaks.is_empty(),
        "password in argv or environment: {leaks:#?}"
    );
    let after = nginx_started(&f).expect("nginx runs");
    assert!(after > before, "nginx restarted: {before} -> {after}");
    // The services pane shows the new start time (seconds ago, not the old age).
    let screen = t.wait_for("nginx's new start time", WAIT, |s| {
        s.lines().any(|l| {
            l.contains("nginx")
                && l.contains("running")
                && (l.contains(" 0s")
                    || l.contains(" 1s")
                    || l.contains(" 2s")
                    || l.contains(" 3s"))
        })
    });
    assert!(
        !processes_mentioning(&control).is_empty(),
        "an ssh master per host runs with control dir {control}"
    );
    for s in [&masked, &screen] {
        assert!(
            !s.contains(SUDO_PASSWORD) && !s.contains(WRONG),
            "password on screen:\n{s}"
        );
    }

    // Ctrl-C quits like q: the shell is back and every master is gone.
    t.keys(&["C-c"]);
    t.wait_for("the shell back", WAIT, |s| s.contains("EXIT=0"));
    common::wait_until("every ssh master to exit", WAIT, || {
        processes_mentioning(&control).is_empty()
    });
    assert!(!common::tmux::alive(pid));

    t.type_line("history -a");
    t.wait_for("history written", WAIT, |_| history.exists());
    let whole_scrollback = t.scrollback();
    assert!(
        !whole_scrollback.contains(SUDO_PASSWORD) && !whole_scrollback.contains(WRONG),
        "password in the terminal's scrollback"
    );
    let log = std::fs::read_to_string(data.join("deploytui/deploytui.log")).expect("deploytui log");
    assert!(log.contains("starting TUI"), "{log}");
    assert!(
        log.contains("server1: restart nginx.service: done"),
        "the activity log is kept in the file:\n{log}"
    );
    assert!(
        log.contains("server1: restart nginx.service: wrong sudo password"),
        "{log}"
    );
    // No file deploytui, the shell or a host wrote holds either password:
    // the test's HOME (history, data and state dirs) and every host's folder.
    for needle in [SUDO_PASSWORD, WRONG] {
        for dir in [home.path(), f.dir()] {
            let hits = common::files_containing(dir, needle.as_bytes());
            assert!(hits.is_empty(), "{needle:?} written to {hits:?}");
        }
    }
}

#[test]
fn journal_tail_and_stale_marker_in_the_tui() {
    let Some(mut f) = fleet(1) else { return };
    // An activation that restarts the web app but not nginx.
    std::thread::sleep(Duration::from_millis(1100));
    f.repo.commit_app_change("Stale nginx").expect("commit");
    let toplevel = f.build(0, true).expect("build");
    f.activate(0, &toplevel, "switch").expect("switch");

    let (t, _data) = common::tmux::open_deploytui(&f.config_path, 110, 32);
    let screen = t.wait_for("the stale marker", WAIT, |s| {
        s.contains("⚠ stale: nginx") && s.contains(" q quit")
    });
    // Certain: nginx's unit changed in that switch and it was not restarted.
    assert!(screen.contains("⚠ stale: its unit changed"), "{screen}");

    // Follow the web app's journal: its heartbeat lines arrive.
    t.keys(&["Tab", "j", "l"]);
    t.wait_for("journal lines", WAIT, |s| {
        s.contains("journal server1 webapp.service") && s.contains("webapp 1.0.0 alive")
    });
    t.keys(&["q"]);
    t.wait_for("the shell back", WAIT, |s| s.contains("EXIT=0"));
    // Every ssh master deploytui started ended with it (each names the
    // fleet's ssh config).
    let ours = f.ssh_config.display().to_string();
    let masters = || {
        common::pids_matching(&ours)
            .into_iter()
            .filter(|p| {
                std::fs::read(format!("/proc/{p}/cmdline")).is_ok_and(|c| c.starts_with(b"ssh\0"))
            })
            .collect::<Vec<_>>()
    };
    common::wait_until(
        "deploytui's ssh masters to end",
        Duration::from_secs(5),
        || masters().is_empty(),
    );
}

#[test]
fn a_stopped_service_is_a_host_problem_on_screen_and_in_status() {
    let Some(f) = fleet(1) else { return };
    let (t, _data) = common::tmux::open_deploytui(&f.config_path, 120, 32);
    t.wait_for("server1 up", WAIT, |s| {
        s.contains("● up") && s.contains("✓ services current")
    });
    // Stop the web app from the keyboard, as a user would.
    t.keys(&["Tab", "j", "x"]);
    t.wait_for("the stop dialog", WAIT, |s| {
        s.contains("systemctl stop -- webapp")
    });
    t.keys(&["y"]);
    t.wait_for("the password prompt", WAIT, |s| s.contains("sudo password"));
    t.type_line(SUDO_PASSWORD);
    let screen = t.wait_for("the host line in red", WAIT, |s| {
        s.contains("✗ webapp stopped")
    });
    assert!(!screen.contains("✓ services current"), "{screen}");
    t.keys(&["q"]);
    t.wait_for("the shell back", WAIT, |s| s.contains("EXIT=0"));

    let run = |args: &[&str]| {
        let mut cmd = std::process::Command::new(common::bin());
        cmd.arg("--config").arg(&f.config_path).args(args);
        common::output_within(cmd, b"", WAIT)
    };
    let out = run(&["status", "--json"]);
    assert_eq!(out.status.code(), Some(4), "a stopped service exits 4");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let webapp = v["hosts"][0]["services"]
        .as_array()
        .expect("services")
        .iter()
        .find(|s| s["unit"] == "webapp.service")
        .cloned()
        .expect("webapp");
    assert_eq!(webapp["down"], "stopped", "{webapp}");
    let out = run(&["status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("DOWN: stopped"), "{text}");
}
