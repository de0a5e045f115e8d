//! The real binary in a real terminal (tmux): open on the example config, see
//! the hosts, open the help, shrink the window, quit, and get the shell back.

mod common;

use std::time::Duration;

use common::tmux::{alive, Tmux, PROMPT};

const WAIT: Duration = Duration::from_secs(20);

/// Starts deploytui on the example config in a fresh tmux window; its log goes
/// to the returned data dir. The shell prints `EXIT=<code>` when it ends.
fn open_example() -> (Tmux, tempfile::TempDir) {
    let data = tempfile::tempdir().expect("tempdir");
    let data_home = data.path().to_string_lossy().into_owned();
    let t = Tmux::start(100, 30, &[("XDG_DATA_HOME", &data_home)]);
    let config = common::repo_root().join("config.example.toml");
    t.type_line(&format!(
        "clear; {} --config {}; echo EXIT=$?",
        common::bin().display(),
        config.display()
    ));
    (t, data)
}

#[test]
fn opens_on_the_example_config_shows_help_and_quits_cleanly() {
    if !common::require_tools("e2e_tui", &["tmux", "bash"]) {
        return;
    }
    let (t, data) = open_example();

    // The whole frame, not one half-drawn.
    let screen = t.wait_for("the hosts", WAIT, |s| {
        s.contains("server1") && s.contains("server2") && s.contains(" q quit")
    });
    assert!(screen.contains("Hosts"), "{screen}");
    // The example's servers do not exist here: each is being probed or shown unreachable.
    assert!(
        ["not probed yet", "connecting", "unreachable"]
            .iter()
            .any(|w| screen.contains(w)),
        "{screen}"
    );
    assert!(
        screen.contains("config.example.toml (--config)"),
        "status bar names the config:\n{screen}"
    );
    assert!(screen.contains("? help"), "footer shows keys:\n{screen}");
    let children = t.shell_children();
    assert_eq!(children.len(), 1, "one deploytui process: {children:?}");
    let pid = children[0];

    t.keys(&["?"]);
    let screen = t.wait_for("the help", WAIT, |s| {
        s.contains("Help: keys") && s.contains("close")
    });
    assert!(screen.contains("Quit deploytui"), "{screen}");
    assert!(screen.contains("Move focus to the next pane"), "{screen}");

    t.keys(&["Escape"]);
    t.wait_for("help closed", WAIT, |s| !s.contains("Help: keys"));

    // Below 80x24 the panes give way to a message, and come back.
    t.resize(70, 20);
    t.wait_for("too small", WAIT, |s| s.contains("Terminal too small"));
    t.resize(100, 30);
    t.wait_for("panes back", WAIT, |s| {
        s.contains("server1") && !s.contains("too small")
    });

    t.keys(&["q"]);
    // The exit line, then the shell's prompt after it (printed a moment later).
    let screen = t.wait_for("the shell back", WAIT, |s| {
        s.contains("EXIT=0") && s.contains(PROMPT)
    });
    assert!(
        !screen.contains("Hosts"),
        "alternate screen left:\n{screen}"
    );
    // The terminal is usable again: typed text echoes and runs.
    t.type_line("echo back-$((40+2))");
    t.wait_for("echo from a restored terminal", WAIT, |s| {
        s.contains("back-42")
    });
    for _ in 0..100 {
        if !alive(pid) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!alive(pid), "deploytui ({pid}) still running after q");
    let log = std::fs::read_to_string(data.path().join("deploytui/deploytui.log"))
        .expect("log file in XDG_DATA_HOME");
    assert!(log.contains("starting TUI"), "{log}");
}

#[test]
fn sigterm_restores_the_terminal() {
    if !common::require_tools("e2e_tui", &["tmux", "bash"]) {
        return;
    }
    let (t, _data) = open_example();
    t.wait_for("the hosts", WAIT, |s| s.contains("server1"));
    let pid = t.shell_children()[0];
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let screen = t.wait_for("the shell back", WAIT, |s| s.contains("EXIT=0"));
    assert!(
        !screen.contains("Hosts"),
        "alternate screen left:\n{screen}"
    );
    t.type_line("echo back-$((40+2))");
    t.wait_for("echo from a restored terminal", WAIT, |s| {
        s.contains("back-42")
    });
}

#[test]
fn missing_config_says_where_it_looked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(common::bin())
        .current_dir(dir.path())
        .env_remove("DEPLOYTUI_CONFIG")
        .env("XDG_CONFIG_HOME", dir.path())
        .output()
        .expect("run deploytui");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no deploytui config found"), "{err}");
    assert!(err.contains("deploytui.toml (current directory)"), "{err}");
    assert!(err.contains("deploytui demo"), "{err}");
}

#[test]
fn o_shows_the_log_in_the_pager_and_the_tui_comes_back_whole() {
    if !common::require_tools("pager e2e", &["tmux", "bash"]) {
        return;
    }
    let data = tempfile::tempdir().expect("tempdir");
    // A pager that prints the file, says so, and waits for Enter.
    let pager = r#"sh -c 'cat "$0"; echo PAGER-END; read x'"#;
    let t = Tmux::start(
        100,
        30,
        &[
            ("XDG_DATA_HOME", &data.path().to_string_lossy()),
            ("PAGER", pager),
        ],
    );
    let config = common::repo_root().join("config.example.toml");
    t.run_deploytui(&config);
    t.wait_for("the app", WAIT, |s| s.contains(" q quit"));
    // The log pane (the last pane), then o.
    t.keys(&["BTab"]);
    t.wait_for("the log pane's keys", WAIT, |s| s.contains("o pager"));
    t.keys(&["o"]);
    let paged = t.wait_for("the pager", WAIT, |s| s.contains("PAGER-END"));
    assert!(
        paged.contains("config.example.toml (--config) with"),
        "the whole activity log: {paged}"
    );
    // Keys reach the pager, not deploytui: Enter ends it, and the TUI is back.
    t.keys(&["Enter"]);
    t.wait_for("the TUI again", WAIT, |s| {
        s.contains(" q quit") && s.contains("Hosts") && !s.contains("PAGER-END")
    });
    t.keys(&["q"]);
    t.wait_for("the shell back", WAIT, |s| s.contains("EXIT=0"));
}
