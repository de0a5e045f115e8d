//! Screen snapshots: the whole app drawn on ratatui's TestBackend, driven by
//! the same messages the runtime sends, at the smallest supported size and a large one.

use std::path::Path;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::time::{Duration, UNIX_EPOCH};

use deploytui::app::{update, Job, Msg, State};
use deploytui::config::{parse, FoundBy};
use deploytui::probe;
use deploytui::remote::RemoteError;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

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
    update(
        state,
        Msg::Resize {
            log_rows: deploytui::ui::log_rows(width, height),
        },
    );
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
    terminal
        .draw(|f| deploytui::ui::view(state, f))
        .expect("draw");
    terminal.backend().to_string()
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

/// The probe output server1 gives: nginx started before the last activation
/// (stale), a failed unit elsewhere, and a reboot pending.
const PROBE: &str = "probe=1\nnow=1795556100\ncurrent=/nix/store/mishfibwd0cvxa49ybd0ra950j38i1i5-nixos-system-server1-1.0.0\n\
current_mtime=1795556000\nbooted=/nix/store/4x564k15f0wag3257ka7a84b3x5x823w-nixos-system-server1-0.9.0\n\
profile=system-42-link\nprofile_mtime=1795555990\nuptime=86400\nfailed_units=1\n@@systemctl-show\n\
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
                line: format!("Nov 24 21:00:{i:02} server1 nginx[812]: request {i}"),
            },
        );
    }
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
