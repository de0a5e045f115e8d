//! The footer shows exactly the keys that act: in every mode, each key it
//! shows changes something when pressed, and a key it leaves out says why.

use super::*;
use crate::app::modes;
use crate::keymap::Action;

/// The key event that the action's first key sends.
fn event_of(s: &State, action: Action) -> KeyEvent {
    let binding = s.config.keymap.binding(action).expect("bound");
    let combo = binding.keys[0];
    let code = match combo.codes.iter().next().copied().expect("a key") {
        KeyCode::Char(c) if combo.modifiers.contains(KeyModifiers::SHIFT) => {
            KeyCode::Char(c.to_ascii_uppercase())
        }
        code => code,
    };
    KeyEvent::new(code, combo.modifiers)
}

/// A named way to reach one scene, fresh each time it is called.
type Scene = (&'static str, fn() -> State);

/// Every scene a user can be in.
fn scenes() -> Vec<Scene> {
    vec![
        ("hosts pane", || {
            let mut s = state(2);
            probe_ok(&mut s, 0, 1000);
            s
        }),
        ("services pane", || {
            let mut s = state(2);
            probe_ok(&mut s, 0, 1000);
            to_services(&mut s);
            s
        }),
        ("flake pane, lock updated", || {
            let mut s = flake_state();
            update(
                &mut s,
                Msg::FlakeChecked {
                    host: 0,
                    result: Ok(report(crate::nix::check::InputStatus::Stale, "monorepo")),
                },
            );
            s.uncommitted = Some(crate::app::FileCommit {
                repo: "/srv/mono".into(),
                files: vec!["/srv/mono/infra/flake.lock".into()],
                message: "flake.lock: update".into(),
                then_deploy: None,
            });
            s.focus = Pane::Flake;
            s
        }),
        ("flake pane, nothing to commit", || {
            let mut s = flake_state();
            update(
                &mut s,
                Msg::FlakeChecked {
                    host: 0,
                    result: Ok(report(crate::nix::check::InputStatus::Current, "monorepo")),
                },
            );
            s.focus = Pane::Flake;
            s
        }),
        ("log pane, activity", || {
            let mut s = state(1);
            for i in 0..40 {
                update(&mut s, Msg::Log(format!("line {i} {}", "x".repeat(200))));
            }
            s.focus = Pane::Log;
            s
        }),
        ("log pane, journal", || {
            let mut s = state(1);
            to_services(&mut s);
            ch(&mut s, 'l');
            s
        }),
        ("help", || {
            let mut s = state(2);
            ch(&mut s, '?');
            s
        }),
        ("restart question", || {
            let mut s = state(2);
            to_services(&mut s);
            ch(&mut s, 'r');
            s
        }),
        ("password prompt", || {
            let mut s = state(2);
            to_services(&mut s);
            ch(&mut s, 'r');
            ch(&mut s, 'y');
            typed(&mut s, "pw");
            s
        }),
        ("quit question", || {
            let mut s = state(2);
            with_running_job(&mut s);
            ch(&mut s, 'q');
            s
        }),
        ("search box", || {
            let mut s = state(1);
            s.focus = Pane::Log;
            ch(&mut s, '/');
            typed(&mut s, "x");
            s
        }),
        ("terminal too small", || {
            let mut s = state(2);
            update(
                &mut s,
                Msg::Resize {
                    width: 60,
                    height: 20,
                },
            );
            s
        }),
    ]
}

#[test]
fn every_key_the_footer_shows_acts() {
    for (scene, make) in scenes() {
        let s = make();
        let shown: Vec<Action> = modes::footer_actions(&s)
            .into_iter()
            .map(|(a, ..)| a)
            .collect();
        assert!(!shown.is_empty(), "{scene}: an empty footer");
        for action in shown {
            // "↑ move" stands for ↑ and ↓: at the top only ↓ moves.
            let tries: &[Action] = match action {
                Action::Up => &[Action::Up, Action::Down],
                _ => &[action],
            };
            let acted = tries.iter().any(|a| {
                let mut s = make();
                let before = format!("{s:?}");
                let event = event_of(&s, *a);
                let effects = update(&mut s, Msg::Key(event));
                !effects.is_empty() || before != format!("{s:?}")
            });
            assert!(acted, "{scene}: {action:?} is shown but changed nothing");
            let mut s = make();
            let event = event_of(&s, action);
            update(&mut s, Msg::Key(event));
            let notice = s.notice.clone().unwrap_or_default();
            assert!(
                !notice.contains("does nothing") && !notice.contains("first"),
                "{scene}: {action:?} is shown but says: {notice}"
            );
        }
    }
}

#[test]
fn the_footer_is_the_keys_of_the_mode() {
    let labels = |s: &State| -> Vec<String> {
        modes::footer(s)
            .into_iter()
            .map(|(k, l)| format!("{k} {l}"))
            .collect()
    };
    let scenes: std::collections::HashMap<_, _> = scenes().into_iter().collect();
    let get = |name: &str| scenes[name]();
    assert_eq!(
        labels(&get("restart question")),
        ["y restart", "Esc cancel"],
        "a question shows its answers only, in its own words"
    );
    assert_eq!(
        labels(&get("quit question")),
        ["y quit now", "Esc keep running"]
    );
    assert_eq!(
        labels(&get("password prompt")),
        ["Enter send", "Tab remember", "Esc cancel"]
    );
    assert_eq!(labels(&get("terminal too small")), ["q quit"]);
    let help = labels(&get("help"));
    assert_eq!(
        help,
        ["q Esc close", "↑ ↓ scroll"],
        "q closes the help too, then its own keys"
    );
    let hosts = labels(&get("hosts pane"));
    assert!(hosts.contains(&"Enter services".to_string()), "{hosts:?}");
    assert!(!hosts.contains(&"r restart".to_string()), "{hosts:?}");
    assert!(
        hosts.contains(&"] host".to_string()),
        "on the first host only ] moves: {hosts:?}"
    );
    let services = labels(&get("services pane"));
    for shown in ["r restart", "e reload", "s start", "x stop", "l journal"] {
        assert!(services.contains(&shown.to_string()), "{services:?}");
    }
    let flake = labels(&get("flake pane, nothing to commit"));
    assert!(flake.contains(&"u update lock".to_string()), "{flake:?}");
    assert!(
        !flake.contains(&"c commit".to_string()),
        "nothing to commit: c is not shown: {flake:?}"
    );
    let flake = labels(&get("flake pane, lock updated"));
    assert!(flake.contains(&"c commit".to_string()), "{flake:?}");
    let log = labels(&get("log pane, activity"));
    assert!(
        !log.iter().any(|l| l.contains("activity log")),
        "no journal to close: {log:?}"
    );
    let journal = labels(&get("log pane, journal"));
    assert!(
        journal.contains(&"a activity log".to_string()),
        "{journal:?}"
    );
}

#[test]
fn enter_on_a_host_shows_its_services() {
    let mut s = state(2);
    ch(&mut s, 'j');
    key(&mut s, KeyCode::Enter);
    assert_eq!(
        (s.focus, s.selected_host, s.service_cursor),
        (Pane::Services, 1, 0)
    );
}

#[test]
fn no_key_means_two_things_in_one_mode() {
    let km = crate::keymap::Keymap::default();
    for a in km.bindings() {
        for b in km.bindings() {
            if a.action == b.action {
                continue;
            }
            let shared_mode = a.scope.modes().iter().any(|m| b.scope.acts_in(*m));
            let shared_key = a.keys.iter().any(|k| b.keys.contains(k));
            assert!(
                !(shared_mode && shared_key),
                "{:?} and {:?} share a key in one mode",
                a.action,
                b.action
            );
        }
    }
}

#[test]
fn w_wraps_the_log_and_sideways_scrolling_then_says_why_not() {
    let mut s = state(1);
    s.focus = Pane::Log;
    update(&mut s, Msg::Log("x".repeat(300)));
    key(&mut s, KeyCode::Right);
    assert!(s.log_view.x > 0);
    ch(&mut s, 'w');
    assert!(s.log_view.wrap);
    assert_eq!(s.log_view.x, 0, "wrapped lines start at their start");
    key(&mut s, KeyCode::Right);
    assert_eq!(s.log_view.x, 0);
    assert!(
        s.notice.as_deref().unwrap_or("").contains("wrapped"),
        "{:?}",
        s.notice
    );
}

#[test]
fn keys_that_do_nothing_in_a_question_or_the_help_say_why() {
    let mut s = state(2);
    to_services(&mut s);
    ch(&mut s, 'x');
    ch(&mut s, 'q');
    assert!(
        matches!(s.overlay, Some(Overlay::Confirm(_))),
        "q is no answer"
    );
    assert_eq!(
        s.notice.as_deref(),
        Some("answer first: y stop, Esc cancel")
    );

    let mut s = state(2);
    ch(&mut s, '?');
    ch(&mut s, 'x');
    assert_eq!(s.notice.as_deref(), Some("the help is open: Esc closes it"));
    // G goes to the last page, and ↑ moves at once from there.
    update(
        &mut s,
        Msg::Key(KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT)),
    );
    let Some(Overlay::Help { scroll: last }) = s.overlay else {
        panic!("{:?}", s.overlay)
    };
    assert_eq!(last, crate::ui::help::max_scroll(&s));
    assert!(last > 0, "the help is longer than 80x24");
    ch(&mut s, 'k');
    assert!(matches!(s.overlay, Some(Overlay::Help { scroll }) if scroll == last - 1));
}

#[test]
fn slash_searches_the_log_and_n_goes_to_older_matches() {
    let mut s = state(1);
    for i in 0..30 {
        let word = if i % 10 == 3 { "error: beta" } else { "alpha" };
        update(
            &mut s,
            Msg::Log(format!("line {i} \u{1b}[31m{word}\u{1b}[0m")),
        );
    }
    s.focus = Pane::Log;
    ch(&mut s, 'n');
    assert!(
        s.notice
            .as_deref()
            .unwrap_or("")
            .contains("nothing searched yet"),
        "{:?}",
        s.notice
    );
    ch(&mut s, '/');
    assert!(matches!(s.overlay, Some(Overlay::Search(_))));
    assert_eq!(
        modes::footer(&s)
            .into_iter()
            .map(|(k, l)| format!("{k} {l}"))
            .collect::<Vec<_>>(),
        ["Enter search", "Esc cancel"],
        "in the box every other key is text"
    );
    typed(&mut s, "BETA");
    key(&mut s, KeyCode::Enter);
    assert!(s.overlay.is_none());
    let len = s.log.len();
    // The newest match (line 23) at the bottom of the view, not following.
    // The line at the bottom of the view, without colours.
    let shown_last = |s: &State| {
        s.log
            .raw_line(len - 1 - s.log_view.from_bottom)
            .map(crate::text::plain)
            .unwrap_or_default()
    };
    assert_eq!(shown_last(&s), "line 23 error: beta");
    assert!(!s.log_view.follow);
    assert!(
        s.notice
            .as_deref()
            .unwrap_or("")
            .contains("match 3 of 3, line"),
        "{:?}",
        s.notice
    );
    ch(&mut s, 'n');
    assert_eq!(shown_last(&s), "line 13 error: beta");
    assert!(
        s.notice.as_deref().unwrap_or("").contains("match 2 of 3"),
        "which match this is: {:?}",
        s.notice
    );
    update(
        &mut s,
        Msg::Key(KeyEvent::new(KeyCode::Char('N'), KeyModifiers::SHIFT)),
    );
    assert_eq!(shown_last(&s), "line 23 error: beta");
    update(
        &mut s,
        Msg::Key(KeyEvent::new(KeyCode::Char('N'), KeyModifiers::SHIFT)),
    );
    assert!(
        s.notice.as_deref().unwrap_or("").contains("no newer match"),
        "{:?}",
        s.notice
    );
}
