//! Screen snapshots: the whole app drawn on ratatui's TestBackend, driven by
//! the same messages the runtime sends, at the smallest supported size and a large one.

mod common;

use std::path::Path;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::time::{Duration, UNIX_EPOCH};

use deploytui::app::{update, Job, Msg, State};
use deploytui::config::{parse, FoundBy};
use deploytui::probe;
use deploytui::remote::RemoteError;

const CONFIG: &str = r#"
repo = "/srv/monorepo"

[[hosts]]
name = "server1"
target = "me@server1"
flake = "infra/hosts/server1#server1"
services = ["nginx", "app.service", "postgresql"]

[[hosts]]
name = "server2"
target = "deploy@10.0.0.2"
flake = "infra/hosts/server2"
services = ["nginx"]

[[hosts]]
name = "laptop"
target = "local"
"#;

fn state() -> State {
    let config =
        parse(CONFIG, Path::new("/srv/deploytui.toml"), FoundBy::Flag).expect("valid config");
    State::new(config)
}

fn press(state: &mut State, code: KeyCode) {
    update(state, Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

fn screen(state: &mut State, width: u16, height: u16) -> String {
    common::drawn(state, width, height).to_string()
}

/// Snapshots one scene at 80x24 and 160x48.
macro_rules! scene {
    ($name:ident, $setup:expr) => {
        #[test]
        fn $name() {
            for (w, h) in [(80, 24), (160, 48)] {
                let mut s = state();
                let setup: fn(&mut State) = $setup;
                setup(&mut s);
                insta::assert_snapshot!(
                    format!("{}_{w}x{h}", stringify!($name)),
                    screen(&mut s, w, h)
                );
            }
        }
    };
}

scene!(hosts_pane_focused, |_| {});
scene!(services_pane_focused, |s| {
    press(s, KeyCode::Tab);
    press(s, KeyCode::Down);
});
scene!(flake_pane_focused, |s| {
    press(s, KeyCode::Tab);
    press(s, KeyCode::Tab);
});
scene!(log_pane_scrolled_back, |s| {
    for i in 0..60 {
        update(
            s,
            Msg::Log(format!("\x1b[32mline {i}\x1b[0m of the activity log")),
        );
    }
    press(s, KeyCode::BackTab);
    press(s, KeyCode::Up);
    press(s, KeyCode::Up);
});
scene!(log_pane_wrapped, |s| {
    for i in 0..6 {
        update(
            s,
            Msg::Log(format!(
                "line {i}: nix: error: builder for '/nix/store/{}-webapp.drv' failed with exit code 1; last 10 log lines follow",
                "x".repeat(32)
            )),
        );
    }
    press(s, KeyCode::BackTab);
    press(s, KeyCode::Char('w'));
});
scene!(host_without_flake_or_services, |s| {
    press(s, KeyCode::Char('G'));
});
scene!(help_overlay, |s| press(s, KeyCode::Char('?')));
scene!(quit_confirmation_while_a_task_runs, |s| {
    s.jobs.insert(
        1,
        Job {
            host: "server1".into(),
            what: "deploy".into(),
        },
    );
    press(s, KeyCode::Char('q'));
});

/// The probe output server1 gives: nginx started under the booted system
/// and its unit changed in the switch since (stale, certain), a failed
/// unit elsewhere, and a reboot pending (a new kernel).
const PROBE: &str = "probe=1\nnow=1795556100\ncurrent=/nix/store/mishfibwd0cvxa49ybd0ra950j38i1i5-nixos-system-server1-1.0.0\n\
current_mtime=1795556000\nbooted=/nix/store/4x564k15f0wag3257ka7a84b3x5x823w-nixos-system-server1-0.9.0\n\
profile=system-42-link\nprofile_mtime=1795555990\nuptime=86400\nfailed_units=1\n\
journal=1\nswitch=1795556000.5 /nix/store/mishfibwd0cvxa49ybd0ra950j38i1i5-nixos-system-server1-1.0.0\n\
unit_sum=11111111111111111111111111111111  /nix/store/4x564k15f0wag3257ka7a84b3x5x823w-nixos-system-server1-0.9.0/etc/systemd/system/nginx.service\n\
unit_sum=22222222222222222222222222222222  /nix/store/mishfibwd0cvxa49ybd0ra950j38i1i5-nixos-system-server1-1.0.0/etc/systemd/system/nginx.service\n\
boot_part=kernel /nix/store/4a564k15f0wag3257ka7a84b3x5x823w-linux-6.6.1 /nix/store/5a564k15f0wag3257ka7a84b3x5x823w-linux-6.6.2\n@@systemctl-show\n\
Id=nginx.service\nLoadState=loaded\nActiveState=active\nSubState=running\nActiveEnterTimestamp=@1795550000\nMainPID=812\nNRestarts=0\n\n\
Id=app.service\nLoadState=loaded\nActiveState=failed\nSubState=failed\nActiveEnterTimestamp=\nMainPID=0\nNRestarts=3\n\n\
Id=postgresql.service\nLoadState=loaded\nActiveState=active\nSubState=running\nActiveEnterTimestamp=@1795556001\nMainPID=901\nNRestarts=0\n@@end\n";

/// server1 probed, server2 unreachable, at a fixed time.
fn probed(s: &mut State) {
    let now = UNIX_EPOCH + Duration::from_secs(1_795_556_100);
    update(s, Msg::Tick(now));
    let units: Vec<String> = s.hosts[0].services.clone();
    update(
        s,
        Msg::ProbeDone {
            host: 0,
            result: Ok((probe::parse(PROBE, &units), Duration::from_millis(23))),
            at: now,
        },
    );
    update(
        s,
        Msg::ProbeDone {
            host: 1,
            result: Err(RemoteError::Connect {
                reason: "connect to host 10.0.0.2 port 22: Connection refused".into(),
                manual: "ssh deploy@10.0.0.2 true".into(),
            }),
            at: now,
        },
    );
    update(s, Msg::Tick(now + Duration::from_secs(65)));
}

scene!(probed_hosts_and_services, |s| {
    probed(s);
    press(s, KeyCode::Tab);
});
scene!(confirm_restart, |s| {
    probed(s);
    press(s, KeyCode::Tab);
    press(s, KeyCode::Char('r'));
});
scene!(sudo_password_prompt, |s| {
    probed(s);
    press(s, KeyCode::Tab);
    press(s, KeyCode::Char('r'));
    press(s, KeyCode::Char('y'));
    for c in "secret".chars() {
        press(s, KeyCode::Char(c));
    }
});
scene!(journal_in_the_log_pane, |s| {
    probed(s);
    press(s, KeyCode::Tab);
    press(s, KeyCode::Char('l'));
    for i in 0..30 {
        update(
            s,
            Msg::FollowLine {
                id: 1,
                line: format!("Nov 24 21:00:{i:02} server1 nginx[812]: request {i}").into(),
            },
        );
    }
});

/// A flake check of server1: the monorepo input stale, nixpkgs remote with a
/// nested input that follows it, and an uncommitted file.
fn flake_checked(s: &mut State) {
    use deploytui::nix::check::{FlakeReport, InputReport, InputStatus, RunningReport};
    use deploytui::nix::lock::LockedInput;
    use std::path::PathBuf;
    let locked = |path: &str, kind: &str, rev: Option<&str>| LockedInput {
        path: path.into(),
        follows: None,
        kind: kind.into(),
        source: String::new(),
        rev: rev.map(String::from),
        last_modified: Some(1_795_000_000),
        nar_hash: Some("sha256-C2qa38l3fi/5ZaJGwE3xC8uPnxMnaVt9BFaCQn5DnJM=".into()),
        reference: None,
        local_path: None,
        dir: None,
        is_flake: true,
        relative: false,
    };
    let plain = InputReport::new;
    let mut mono = plain(
        locked(
            "monorepo",
            "git",
            Some("6ee8fbfc28c726ae665fc69dc4092c5f66101db2"),
        ),
        InputStatus::Stale,
    );
    mono.self_referential = true;
    mono.repo = Some(PathBuf::from("/srv/monorepo"));
    mono.head = Some("ee2d6c2849215f7e4a8bef22dfa5d0268cc7097e".into());
    mono.behind = Some(12);
    mono.oldest_missing_at = Some(1_795_000_000);
    mono.locked_subject = Some("webapp: pin npmDepsHash".into());
    mono.head_subject = Some("webapp: New landing page".into());
    let nixpkgs = plain(
        locked(
            "nixpkgs",
            "github",
            Some("9f8e7d6c5b4a39281706f5e4d3c2b1a098765432"),
        ),
        InputStatus::Remote,
    );
    let mut follows = plain(locked("hm/nixpkgs", "follows", None), InputStatus::Follows);
    follows.locked.follows = Some("nixpkgs".into());
    let hm = plain(
        locked(
            "hm",
            "github",
            Some("1111111111111111111111111111111111111111"),
        ),
        InputStatus::Remote,
    );
    let report = FlakeReport {
        flake: "/srv/monorepo/infra/hosts/server1#server1".into(),
        repo: Some(PathBuf::from("/srv/monorepo")),
        head: Some("ee2d6c2849215f7e4a8bef22dfa5d0268cc7097e".into()),
        head_subject: Some("webapp: New landing page".into()),
        dirty: vec!["app/message.txt".into()],
        inputs: vec![hm, follows, mono, nixpkgs],
        running: Some(RunningReport {
            rev: "6ee8fbfc28c726ae665fc69dc4092c5f66101db2".into(),
            behind: Some(12),
            lock_only: Some(1),
        }),
    };
    update(
        s,
        Msg::FlakeChecked {
            host: 0,
            result: Ok(report),
        },
    );
}

scene!(flake_pane_with_a_stale_self_referential_input, |s| {
    probed(s);
    flake_checked(s);
    press(s, KeyCode::Tab);
    press(s, KeyCode::Tab);
    press(s, KeyCode::Down);
    press(s, KeyCode::Down);
});
scene!(flake_lock_update_dialog, |s| {
    probed(s);
    flake_checked(s);
    press(s, KeyCode::Tab);
    press(s, KeyCode::Tab);
    press(s, KeyCode::Down);
    press(s, KeyCode::Down);
    press(s, KeyCode::Char('u'));
});
scene!(unreadable_flake_lock, |s| {
    update(
        s,
        Msg::FlakeChecked {
            host: 0,
            result: Err("/srv/monorepo/infra/hosts/server1/flake.lock: not a valid flake.lock: EOF while parsing an object at line 1 column 10".into()),
        },
    );
});

#[test]
fn the_password_never_reaches_the_screen() {
    let mut s = state();
    probed(&mut s);
    press(&mut s, KeyCode::Tab);
    press(&mut s, KeyCode::Char('r'));
    press(&mut s, KeyCode::Char('y'));
    for c in "hunter2".chars() {
        press(&mut s, KeyCode::Char(c));
    }
    let masked = screen(&mut s, 100, 30);
    assert!(masked.contains("•••••••"), "{masked}");
    press(&mut s, KeyCode::Enter);
    let after = screen(&mut s, 100, 30);
    assert!(!masked.contains("hunter2") && !after.contains("hunter2"));
    assert!(
        !format!("{s:?}").contains("hunter2"),
        "nor the state's debug output"
    );
}

#[test]
fn too_small_terminal_says_so() {
    let mut s = state();
    insta::assert_snapshot!(screen(&mut s, 79, 24));
    let mut s = state();
    insta::assert_snapshot!(screen(&mut s, 100, 20));
}

#[test]
fn panes_are_sized_by_their_content_and_the_log_gets_the_room() {
    use ratatui::layout::Rect;
    let mut s = state();
    probed(&mut s);
    let a = deploytui::ui::layout::areas(Rect::new(0, 0, 160, 48), &s);
    // As wide as the longest line (the store path whole), at most half.
    assert!(a.hosts.width <= 80, "hosts as wide as their lines: {a:?}");
    let drawn = screen(&mut s, 160, 48);
    assert!(
        drawn.contains("mishfib…-nixos-system-server1-1.0.0"),
        "the store path is not cut where there is room: {drawn}"
    );
    assert!(
        a.hosts.height <= 10,
        "three hosts take the rows they need: {a:?}"
    );
    assert_eq!(a.log.width, 160, "the log spans the screen: {a:?}");
    assert!(a.log.height >= 28, "and takes the rows left: {a:?}");
    // Long log lines are read whole, not cut at the old 86 columns.
    update(&mut s, Msg::Log(format!("nix: {}", "x".repeat(140))));
    let drawn = screen(&mut s, 160, 48);
    assert!(drawn.contains(&"x".repeat(140)), "{drawn}");
}

/// A past deploy's row longer than the dialog ends in `…`: a cut is seen as one.
#[test]
fn history_rows_that_do_not_fit_end_in_an_ellipsis() {
    let mut s = state();
    let record: deploytui::deploy::history::Record = serde_json::from_value(serde_json::json!({
        "schema": "deploytui.deploy-record/1",
        "host": "server1", "target": "me@server1", "engine": "native",
        "action": "switch", "installable": "x", "overrides": [],
        "started": 1_795_556_000u64, "ended": 1_795_556_060u64,
        "verdict": "switch done", "ok": true, "before": null, "after": null,
        "steps": [],
        "diagnoses": [{
            "kind": "stale-services",
            "title": "nginx is still running the previous configuration, and so is every other service this host watches",
            "evidence": [], "fix": null
        }]
    }))
    .expect("record");
    update(&mut s, Msg::HistoryListed(vec![record]));
    let drawn = screen(&mut s, 80, 24);
    let row = drawn
        .lines()
        .find(|l| l.contains("server1 (switch)"))
        .unwrap_or_else(|| panic!("{drawn}"));
    assert!(row.contains("…║"), "{row}");
}
