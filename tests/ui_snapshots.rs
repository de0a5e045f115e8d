//! Screen snapshots: the whole app drawn on ratatui's TestBackend, driven by
//! the same messages the runtime sends, at the smallest supported size and a large one.

use std::path::Path;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use deploytui::app::{update, Job, Msg, State};
use deploytui::config::{parse, FoundBy};
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

#[test]
fn too_small_terminal_says_so() {
    let mut s = state();
    insta::assert_snapshot!(screen(&mut s, 79, 24));
    let mut s = state();
    insta::assert_snapshot!(screen(&mut s, 100, 20));
}
