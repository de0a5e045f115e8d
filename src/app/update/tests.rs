use super::*;
use crate::app::{HostStatus, Job, LogView};
use crate::config::{parse, FoundBy};
use crate::probe::HostProbe;
use crate::remote::CommandOutput;
use crossterm::event::{KeyCode, KeyModifiers};
use std::path::Path;
use std::time::UNIX_EPOCH;

fn state_with(sudo: &str, hosts: usize) -> State {
    let mut text = format!("refresh_secs = 30\n[defaults]\nsudo = \"{sudo}\"\n");
    for i in 0..hosts {
        text.push_str(&format!(
            "[[hosts]]\nname = \"h{i}\"\ntarget = \"me@h{i}\"\nservices = [\"nginx\", \"app\", \"db\"]\n"
        ));
    }
    State::new(parse(&text, Path::new("/t/deploytui.toml"), FoundBy::Flag).unwrap())
}

fn state(hosts: usize) -> State {
    state_with("password", hosts)
}

fn key(s: &mut State, code: KeyCode) -> Vec<Effect> {
    update(s, Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

fn ch(s: &mut State, c: char) -> Vec<Effect> {
    key(s, KeyCode::Char(c))
}

fn typed(s: &mut State, text: &str) {
    for c in text.chars() {
        ch(s, c);
    }
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn probe_ok(s: &mut State, host: usize, now: u64) -> Vec<Effect> {
    let probe = HostProbe {
        now: Some(now),
        activated_at: Some(now - 100),
        ..HostProbe::default()
    };
    update(
        s,
        Msg::ProbeDone {
            host,
            result: Ok((probe, Duration::from_millis(12))),
            at: at(now),
        },
    )
}

fn output(code: i32, stderr: &str) -> CommandOutput {
    CommandOutput {
        code: Some(code),
        stdout: String::new(),
        stderr: stderr.into(),
    }
}

/// `b` is offered only where there is a generation to go back to.
#[test]
fn rollback_is_not_offered_at_the_first_generation() {
    let offered = |generation: u32| {
        let mut s = state(1);
        let probe = HostProbe {
            now: Some(1000),
            generation: Some(generation),
            ..HostProbe::default()
        };
        update(
            &mut s,
            Msg::ProbeDone {
                host: 0,
                result: Ok((probe, Duration::from_millis(12))),
                at: at(1000),
            },
        );
        let footer = crate::app::modes::footer(&s);
        (
            footer.iter().any(|(_, label)| *label == "rollback"),
            crate::app::modes::unavailable(
                &s,
                crate::app::modes::mode(&s),
                crate::keymap::Action::Rollback,
            ),
        )
    };
    assert_eq!(offered(2), (true, None));
    let (shown, why) = offered(1);
    assert!(!shown);
    assert_eq!(
        why.as_deref(),
        Some("generation 1 is this host's first: there is nothing before it")
    );
}

#[test]
fn q_quits_when_idle() {
    let mut s = state(1);
    assert_eq!(ch(&mut s, 'q'), vec![Effect::Quit]);
    assert!(s.quitting);
}

#[test]
fn ctrl_c_quits() {
    let mut s = state(1);
    let fx = update(
        &mut s,
        Msg::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
    );
    assert_eq!(fx, vec![Effect::Quit]);
}

/// A task in flight, so quitting asks first.
fn with_running_job(s: &mut State) {
    s.jobs.insert(
        7,
        Job {
            host: "h0".into(),
            what: "deploy".into(),
        },
    );
}

#[test]
fn quit_while_a_job_runs_asks_first() {
    let mut s = state(1);
    with_running_job(&mut s);
    assert!(ch(&mut s, 'q').is_empty());
    assert!(matches!(s.overlay, Some(Overlay::ConfirmQuit)));
    assert!(!s.quitting);
    assert!(ch(&mut s, 'n').is_empty());
    assert!(s.overlay.is_none());
    ch(&mut s, 'q');
    assert_eq!(ch(&mut s, 'y'), vec![Effect::Quit]);
}

#[test]
fn confirm_dialog_ignores_other_keys_and_esc_cancels() {
    let mut s = state(2);
    s.jobs.insert(
        1,
        Job {
            host: "h0".into(),
            what: "restart nginx.service".into(),
        },
    );
    ch(&mut s, 'q');
    assert!(ch(&mut s, 'j').is_empty());
    assert_eq!(
        s.selected_host, 0,
        "keys do not reach the panes behind the dialog"
    );
    assert!(matches!(s.overlay, Some(Overlay::ConfirmQuit)));
    key(&mut s, KeyCode::Esc);
    assert!(s.overlay.is_none());
}

#[test]
fn job_ending_while_confirming_quits() {
    let mut s = state(1);
    s.jobs.insert(
        3,
        Job {
            host: "h0".into(),
            what: "deploy".into(),
        },
    );
    ch(&mut s, 'q');
    let fx = update(
        &mut s,
        Msg::JobFinished {
            id: 3,
            outcome: Ok("switched".into()),
        },
    );
    assert_eq!(fx, vec![Effect::Quit]);
    assert!(s
        .log
        .raw_line(s.log.len() - 1)
        .unwrap()
        .contains("h0: deploy done: switched"));
}

#[test]
fn help_opens_scrolls_and_closes() {
    let mut s = state(1);
    ch(&mut s, '?');
    assert!(matches!(s.overlay, Some(Overlay::Help { scroll: 0 })));
    ch(&mut s, 'j');
    ch(&mut s, 'j');
    assert!(matches!(s.overlay, Some(Overlay::Help { scroll: 2 })));
    assert_eq!(s.selected_host, 0, "help takes the keys");
    key(&mut s, KeyCode::Esc);
    assert!(s.overlay.is_none());
    ch(&mut s, '?');
    ch(&mut s, '?');
    assert!(s.overlay.is_none(), "? toggles");
    ch(&mut s, '?');
    assert_eq!(
        ch(&mut s, 'q'),
        Vec::<Effect>::new(),
        "q closes the help, as a pager"
    );
    assert!(s.overlay.is_none());
    assert_eq!(ch(&mut s, 'q'), vec![Effect::Quit], "and then quits");
}

#[test]
fn tab_cycles_focus_both_ways() {
    let mut s = state(1);
    let mut seen = vec![s.focus];
    for _ in 0..4 {
        key(&mut s, KeyCode::Tab);
        seen.push(s.focus);
    }
    assert_eq!(
        seen,
        vec![
            Pane::Hosts,
            Pane::Services,
            Pane::Flake,
            Pane::Log,
            Pane::Hosts
        ]
    );
    update(
        &mut s,
        Msg::Key(KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT)),
    );
    assert_eq!(s.focus, Pane::Log);
}

#[test]
fn arrows_and_jk_move_within_the_focused_pane() {
    let mut s = state(3);
    ch(&mut s, 'j');
    key(&mut s, KeyCode::Down);
    assert_eq!(s.selected_host, 2);
    ch(&mut s, 'j');
    assert_eq!(s.selected_host, 2, "clamped at the end");
    key(&mut s, KeyCode::Up);
    assert_eq!(s.selected_host, 1);
    ch(&mut s, 'g');
    assert_eq!(s.selected_host, 0);
    update(
        &mut s,
        Msg::Key(KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT)),
    );
    assert_eq!(s.selected_host, 2);

    key(&mut s, KeyCode::Tab); // services
    ch(&mut s, 'j');
    ch(&mut s, 'j');
    ch(&mut s, 'j');
    assert_eq!(s.service_cursor, 2);
    assert_eq!(s.selected_host, 2, "moving in services keeps the host");
    ch(&mut s, '[');
    assert_eq!(
        s.selected_host, 1,
        "[ selects the previous host from any pane"
    );
    assert_eq!(
        s.service_cursor, 0,
        "a new host starts at its first service"
    );
}

#[test]
fn log_scrolls_back_and_follow_resumes() {
    let mut s = state(1);
    for i in 0..100 {
        update(&mut s, Msg::Log(format!("line {i}")));
    }
    s.focus = Pane::Log;
    ch(&mut s, 'k');
    // A page is what the log pane shows on the (default 80x24) screen.
    let page = s.log_page;
    assert!(page > 3, "{page}");
    assert_eq!(
        s.log_view,
        LogView {
            from_bottom: 1,
            follow: false,
            x: 0,
            wrap: false,
        }
    );
    update(&mut s, Msg::Log("new".into()));
    assert_eq!(s.log_view.from_bottom, 2, "new lines keep the view still");
    key(&mut s, KeyCode::PageUp);
    assert_eq!(s.log_view.from_bottom, 2 + page);
    ch(&mut s, 'g');
    assert_eq!(s.log_view.from_bottom, s.log.len() - page);
    ch(&mut s, 'f');
    assert_eq!(
        s.log_view,
        LogView {
            from_bottom: 0,
            follow: true,
            x: 0,
            wrap: false,
        }
    );
    ch(&mut s, 'k');
    update(
        &mut s,
        Msg::Key(KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT)),
    );
    assert!(s.log_view.follow, "G goes back to the end and follows");
}

#[test]
fn key_release_is_ignored() {
    let mut s = state(1);
    let mut k = KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE);
    k.kind = KeyEventKind::Release;
    assert!(update(&mut s, Msg::Key(k)).is_empty());
    assert!(!s.quitting);
}

#[test]
fn unbound_keys_act_on_nothing_and_say_so() {
    let mut s = state(2);
    for c in ['z', '1', ' ', 'r', '/', 'D'] {
        assert!(ch(&mut s, c).is_empty(), "{c}");
        let notice = s.notice.clone().unwrap_or_default();
        assert!(
            notice.ends_with("does nothing in the hosts pane (? lists every key)"),
            "{c}: {notice}"
        );
    }
    assert_eq!((s.selected_host, s.focus), (0, Pane::Hosts));
    assert!(s.overlay.is_none(), "r only acts in the services pane");
    assert_eq!(
        s.notice.as_deref(),
        Some("`D` does nothing in the hosts pane (? lists every key)")
    );
}

// ---- probes ----

#[test]
fn first_tick_probes_every_host_then_on_schedule() {
    let mut s = state(2);
    let fx = update(&mut s, Msg::Tick(at(1000)));
    assert_eq!(fx.len(), 2);
    assert!(
        matches!(&fx[0], Effect::Probe { host: 0, units } if units == &["nginx.service", "app.service", "db.service"])
    );
    assert!(
        update(&mut s, Msg::Tick(at(1001))).is_empty(),
        "probes in flight"
    );
    probe_ok(&mut s, 0, 1001);
    probe_ok(&mut s, 1, 1001);
    assert!(
        update(&mut s, Msg::Tick(at(1010))).is_empty(),
        "not due yet"
    );
    let fx = update(&mut s, Msg::Tick(at(1030)));
    assert_eq!(fx.len(), 2, "refresh_secs = 30 later");
}

#[test]
fn only_one_probe_per_host_runs_and_one_is_queued() {
    let mut s = state(1);
    update(&mut s, Msg::Tick(at(1000)));
    let fx = update(
        &mut s,
        Msg::Key(KeyEvent::new(KeyCode::Char('R'), KeyModifiers::SHIFT)),
    );
    assert!(fx.is_empty(), "the running probe answers first");
    update(
        &mut s,
        Msg::Key(KeyEvent::new(KeyCode::Char('R'), KeyModifiers::SHIFT)),
    );
    let fx = probe_ok(&mut s, 0, 1002);
    assert_eq!(fx.len(), 1, "exactly one queued probe runs after: {fx:?}");
    let fx = probe_ok(&mut s, 0, 1003);
    assert!(fx.is_empty());
}

#[test]
fn unreachable_host_keeps_the_reason_and_the_manual_command() {
    let mut s = state(2);
    update(&mut s, Msg::Tick(at(1000)));
    update(
        &mut s,
        Msg::ProbeDone {
            host: 1,
            result: Err(RemoteError::Connect {
                reason: "Connection refused".into(),
                manual: "ssh me@h1 true".into(),
            }),
            at: at(1001),
        },
    );
    probe_ok(&mut s, 0, 1001);
    assert!(
        matches!(&s.hosts[1].status, HostStatus::Unreachable { reason, manual: Some(m), .. } if reason == "Connection refused" && m == "ssh me@h1 true")
    );
    assert!(
        matches!(s.hosts[0].status, HostStatus::Up(_)),
        "the other host is live"
    );
    let log: Vec<_> = (0..s.log.len()).filter_map(|i| s.log.raw_line(i)).collect();
    assert!(
        log.iter()
            .any(|l| l.contains("h1: unreachable: Connection refused")),
        "{log:?}"
    );
    assert!(
        log.iter().any(|l| l.contains("run: ssh me@h1 true")),
        "{log:?}"
    );
}

#[test]
fn a_probe_warning_is_logged_when_it_appears_not_on_every_refresh() {
    let mut s = state(1);
    update(&mut s, Msg::Tick(at(1000)));
    let warned = |w: &[&str]| HostProbe {
        now: Some(1000),
        warnings: w.iter().map(|w| w.to_string()).collect(),
        ..HostProbe::default()
    };
    for probe in [
        warned(&["odd value"]),
        warned(&["odd value"]),
        warned(&["odd value", "new one"]),
        warned(&["odd value"]),
    ] {
        update(
            &mut s,
            Msg::ProbeDone {
                host: 0,
                result: Ok((probe, Duration::from_millis(5))),
                at: at(1001),
            },
        );
    }
    let log: Vec<_> = (0..s.log.len()).filter_map(|i| s.log.raw_line(i)).collect();
    let count = |w: &str| log.iter().filter(|l| l.ends_with(w)).count();
    assert_eq!(count("probe: odd value"), 1, "{log:?}");
    assert_eq!(count("probe: new one"), 1, "{log:?}");
}

// ---- service actions ----

fn to_services(s: &mut State) {
    s.focus = Pane::Services;
}

#[test]
fn behind_terminal_too_small_only_quitting_works() {
    let mut s = state_with("nopasswd", 1);
    probe_ok(&mut s, 0, 1000);
    to_services(&mut s);
    let resize = |s: &mut State, too_small: bool| {
        let (width, height) = if too_small { (60, 20) } else { (100, 30) };
        update(s, Msg::Resize { width, height })
    };
    resize(&mut s, true);
    // r then y restarted a service with nothing on screen.
    for c in ['r', 'y', '?', 'u', 'l'] {
        assert!(ch(&mut s, c).is_empty(), "{c}");
        assert!(s.overlay.is_none(), "{c} opened {:?}", s.overlay);
    }
    assert!(key(&mut s, KeyCode::Tab).is_empty());
    assert_eq!(s.focus, Pane::Services, "focus did not move unseen");
    // Back to a usable size, the same keys act again.
    resize(&mut s, false);
    ch(&mut s, 'r');
    assert!(matches!(s.overlay, Some(Overlay::Confirm(_))));
    key(&mut s, KeyCode::Esc);
    // Quitting works, and asks first (on that screen) while a job runs.
    resize(&mut s, true);
    with_running_job(&mut s);
    assert!(ch(&mut s, 'q').is_empty());
    assert!(matches!(s.overlay, Some(Overlay::ConfirmQuit)));
    assert_eq!(ch(&mut s, 'y'), vec![Effect::Quit]);
}

#[test]
fn restart_asks_first_with_the_exact_command() {
    let mut s = state_with("nopasswd", 1);
    to_services(&mut s);
    ch(&mut s, 'j');
    assert!(ch(&mut s, 'r').is_empty(), "nothing runs before the yes");
    match &s.overlay {
        Some(Overlay::Confirm(p)) => {
            assert_eq!(p.unit, "app.service");
            assert_eq!(p.command, "sudo -n -- systemctl restart -- app.service");
        }
        other => panic!("expected a confirm dialog, got {other:?}"),
    }
    let fx = ch(&mut s, 'y');
    assert_eq!(
        fx,
        vec![Effect::UnitAction {
            id: 1,
            host: 0,
            argv: vec![
                "sudo",
                "-n",
                "--",
                "systemctl",
                "restart",
                "--",
                "app.service"
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            password: None
        }]
    );
    assert_eq!(s.jobs.len(), 1);
}

#[test]
fn cancel_runs_nothing() {
    let mut s = state_with("none", 1);
    to_services(&mut s);
    ch(&mut s, 'x');
    assert!(key(&mut s, KeyCode::Esc).is_empty());
    assert!(s.overlay.is_none());
    assert!(s.jobs.is_empty());
    assert_eq!(s.notice.as_deref(), Some("stop of nginx.service cancelled"));
}

#[test]
fn password_is_asked_once_masked_and_remembered() {
    let mut s = state(1);
    to_services(&mut s);
    ch(&mut s, 'r');
    assert!(ch(&mut s, 'y').is_empty(), "password first");
    assert!(matches!(s.overlay, Some(Overlay::Password(_))));
    typed(&mut s, "yes-n0 q"); // y, n and q are text here, not keys
    assert!(!s.quitting);
    key(&mut s, KeyCode::Tab); // remember it: off unless asked for
    let fx = key(&mut s, KeyCode::Enter);
    let [Effect::UnitAction {
        argv,
        password: Some(pw),
        ..
    }] = fx.as_slice()
    else {
        panic!("expected one action with a password: {fx:?}");
    };
    assert_eq!(pw.expose(), "yes-n0 q");
    assert_eq!(argv[..6], ["sudo", "-k", "-S", "-p", "", "--"]);
    assert!(
        !format!("{fx:?}").contains("yes-n0"),
        "effects never print the password"
    );
    assert!(!argv.iter().any(|a| a.contains("yes-n0")), "never in argv");
    update(
        &mut s,
        Msg::UnitActionDone {
            id: 1,
            result: Ok(output(0, "")),
        },
    );

    // The next action reuses it.
    ch(&mut s, 'r');
    let fx = ch(&mut s, 'y');
    assert!(
        matches!(
            fx.as_slice(),
            [Effect::UnitAction {
                password: Some(_),
                ..
            }]
        ),
        "{fx:?}"
    );
}

#[test]
fn not_remembering_asks_every_time() {
    let mut s = state(1);
    to_services(&mut s);
    ch(&mut s, 'r');
    ch(&mut s, 'y');
    assert!(
        matches!(&s.overlay, Some(Overlay::Password(p)) if !p.remember),
        "not remembered unless asked"
    );
    typed(&mut s, "pw");
    key(&mut s, KeyCode::Enter);
    assert!(s.passwords.is_empty());
    update(
        &mut s,
        Msg::UnitActionDone {
            id: 1,
            result: Ok(output(0, "")),
        },
    );
    ch(&mut s, 'r');
    ch(&mut s, 'y');
    assert!(matches!(s.overlay, Some(Overlay::Password(_))));
}

#[test]
fn wrong_password_asks_again_and_forgets_it() {
    let mut s = state(1);
    to_services(&mut s);
    ch(&mut s, 'r');
    ch(&mut s, 'y');
    typed(&mut s, "bad");
    key(&mut s, KeyCode::Enter);
    let fx = update(
        &mut s,
        Msg::UnitActionDone {
            id: 1,
            result: Ok(output(
                1,
                "Sorry, try again.\nsudo: 1 incorrect password attempt\n",
            )),
        },
    );
    assert!(fx.is_empty());
    assert!(s.passwords.is_empty(), "a wrong password is not kept");
    match &s.overlay {
        Some(Overlay::Password(p)) => {
            assert_eq!(p.error.as_deref(), Some("wrong sudo password, try again"));
            assert_eq!(p.pending.what(), "restart nginx.service");
            assert!(p.input.lines().concat().is_empty());
        }
        other => panic!("expected the prompt again, got {other:?}"),
    }
    assert!(s.jobs.is_empty());
    assert_eq!(s.notice.as_deref(), Some("wrong sudo password"));
    typed(&mut s, "good");
    let fx = key(&mut s, KeyCode::Enter);
    assert!(matches!(
        fx.as_slice(),
        [Effect::UnitAction {
            id: 2,
            password: Some(_),
            ..
        }]
    ));
    assert_eq!(
        s.notice.as_deref(),
        Some("h0: restart nginx.service: running…"),
        "the retry runs: the old complaint is gone"
    );
}

#[test]
fn a_refresh_says_so_until_the_last_host_answers() {
    let mut s = state(2);
    let fx = ch(&mut s, 'R');
    assert_eq!(fx.len(), 2);
    assert_eq!(s.notice.as_deref(), Some("refreshing 2 hosts…"));
    probe_ok(&mut s, 0, 1000);
    assert_eq!(s.notice.as_deref(), Some("refreshing 2 hosts…"));
    update(
        &mut s,
        Msg::ProbeDone {
            host: 1,
            result: Err(RemoteError::Run("no route".into())),
            at: at(1000),
        },
    );
    assert_eq!(s.notice.as_deref(), Some("refreshed: 1 of 2 hosts up"));
}

#[test]
fn empty_password_is_refused_and_esc_cancels() {
    let mut s = state(1);
    to_services(&mut s);
    ch(&mut s, 'r');
    ch(&mut s, 'y');
    assert!(key(&mut s, KeyCode::Enter).is_empty());
    assert!(
        matches!(&s.overlay, Some(Overlay::Password(p)) if p.error.as_deref() == Some("the password is empty"))
    );
    key(&mut s, KeyCode::Esc);
    assert!(s.overlay.is_none());
    assert!(s.jobs.is_empty());
}

#[test]
fn a_finished_action_reprobes_now_and_later() {
    let mut s = state_with("none", 1);
    update(&mut s, Msg::Tick(at(1000)));
    probe_ok(&mut s, 0, 1000);
    to_services(&mut s);
    ch(&mut s, 'r');
    ch(&mut s, 'y');
    let fx = update(
        &mut s,
        Msg::UnitActionDone {
            id: 1,
            result: Ok(output(0, "")),
        },
    );
    assert_eq!(
        fx,
        vec![
            Effect::Probe {
                host: 0,
                units: vec![
                    "nginx.service".into(),
                    "app.service".into(),
                    "db.service".into()
                ]
            },
            Effect::Later {
                after: Duration::from_secs(2),
                msg: DelayedMsg::ProbeDue { host: 0 }
            },
        ]
    );
    assert_eq!(s.notice.as_deref(), Some("h0: restart nginx.service: done"));
}

#[test]
fn a_failed_action_shows_exit_status_and_stderr() {
    let mut s = state_with("none", 1);
    to_services(&mut s);
    ch(&mut s, 'e');
    ch(&mut s, 'y');
    update(
        &mut s,
        Msg::UnitActionDone {
            id: 1,
            result: Ok(output(
                1,
                "Failed to reload nginx.service: Job type reload is not applicable",
            )),
        },
    );
    assert_eq!(
        s.notice.as_deref(),
        Some("h0: reload nginx.service: failed (exit 1): Failed to reload nginx.service: Job type reload is not applicable")
    );
}

// ---- journal ----

/// `v` while a journal is open says so; closing the journal takes that
/// word away with it.
#[test]
fn closing_the_journal_clears_what_was_said_about_it() {
    let mut s = state_with("none", 1);
    to_services(&mut s);
    ch(&mut s, 'l');
    ch(&mut s, 'v');
    assert!(
        s.notice
            .as_deref()
            .unwrap_or("")
            .contains("a journal is open"),
        "{:?}",
        s.notice
    );
    let close = s.config.keymap.keys_of(crate::keymap::Action::CloseJournal);
    ch(&mut s, close.chars().next().expect("a key"));
    assert!(s.journal.is_none());
    assert_eq!(s.notice, None);
}

#[test]
fn journal_follows_the_selected_unit_and_stops_when_another_is_chosen() {
    let mut s = state_with("none", 2);
    to_services(&mut s);
    let fx = ch(&mut s, 'l');
    let [Effect::Follow { id, host: 0, argv }] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    assert!(
        argv.contains(&"journalctl".to_string())
            && argv.contains(&"nginx.service".to_string())
            && argv.contains(&"-f".to_string())
    );
    let id = *id;
    assert_eq!(s.focus, Pane::Log, "the log pane shows it");
    update(
        &mut s,
        Msg::FollowLine {
            id,
            line: "nginx[1]: started".into(),
        },
    );
    assert_eq!(s.shown_log().raw_line(0), Some("nginx[1]: started"));
    update(
        &mut s,
        Msg::FollowLine {
            id: 999,
            line: "from an old follow".into(),
        },
    );
    assert_eq!(s.shown_log().len(), 1);

    s.focus = Pane::Services;
    let fx = ch(&mut s, 'j');
    assert_eq!(fx, vec![Effect::StopFollow { id }]);
    assert_eq!(
        s.journal.as_ref().and_then(|j| j.ended.as_deref()),
        Some("another unit was selected")
    );
    update(
        &mut s,
        Msg::FollowLine {
            id,
            line: "late".into(),
        },
    );
    assert_eq!(
        s.shown_log().len(),
        1,
        "a stopped follow takes no more lines"
    );

    // Following again, then another host.
    let fx = ch(&mut s, 'l');
    let [Effect::Follow { id: id2, .. }] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    let id2 = *id2;
    let fx = ch(&mut s, ']');
    assert_eq!(fx, vec![Effect::StopFollow { id: id2 }]);

    // a (not c: that commits in the flake pane) closes the journal and
    // shows the activity log again; a second a says there is none to close.
    s.focus = Pane::Log;
    ch(&mut s, 'c');
    assert!(s.journal.is_some(), "c does not close the journal");
    assert_eq!(
        s.notice.as_deref(),
        Some("`c` does nothing in the log pane (? lists every key)")
    );
    ch(&mut s, 'a');
    assert!(s.journal.is_none());
    ch(&mut s, 'a');
    assert!(
        s.notice
            .as_deref()
            .unwrap_or("")
            .contains("already shows the activity log"),
        "{:?}",
        s.notice
    );
}

// ---- flake ----

fn flake_state() -> State {
    let text = "repo = \"/srv/mono\"\n[[hosts]]\nname = \"s1\"\ntarget = \"local\"\nflake = \"infra#s1\"\n[[hosts]]\nname = \"s2\"\ntarget = \"local\"\n";
    State::new(parse(text, Path::new("/t/deploytui.toml"), FoundBy::Flag).unwrap())
}

fn report(status: crate::nix::check::InputStatus, path: &str) -> crate::nix::check::FlakeReport {
    use crate::nix::check::{FlakeReport, InputReport};
    use crate::nix::lock::LockedInput;
    FlakeReport {
        flake: "/srv/mono/infra#s1".into(),
        repo: Some("/srv/mono".into()),
        head: Some("b".repeat(40)),
        head_subject: None,
        dirty: Vec::new(),
        inputs: vec![InputReport {
            locked: LockedInput {
                path: path.into(),
                follows: None,
                kind: "git".into(),
                source: "file:///srv/mono".into(),
                rev: Some("a".repeat(40)),
                last_modified: None,
                nar_hash: None,
                reference: None,
                local_path: Some("/srv/mono".into()),
                dir: None,
                is_flake: false,
                relative: false,
            },
            self_referential: true,
            repo: Some("/srv/mono".into()),
            head: Some("b".repeat(40)),
            behind: Some(3),
            lock_only: Some(0),
            ..InputReport::new(LockedInput::default(), status)
        }],
        running: None,
    }
}

#[test]
fn flakes_are_checked_every_tick_one_at_a_time() {
    use crate::nix::check::InputStatus;
    let mut s = flake_state();
    let fx = update(&mut s, Msg::Tick(at(1000)));
    let checks: Vec<_> = fx
        .iter()
        .filter(|e| matches!(e, Effect::CheckFlake { .. }))
        .collect();
    assert_eq!(checks.len(), 1, "only s1 has a flake: {fx:?}");
    let fx = update(&mut s, Msg::Tick(at(1001)));
    assert!(
        !fx.iter().any(|e| matches!(e, Effect::CheckFlake { .. })),
        "one check in flight per host"
    );
    update(
        &mut s,
        Msg::FlakeChecked {
            host: 0,
            result: Ok(report(InputStatus::Stale, "monorepo")),
        },
    );
    let last = s.log.raw_line(s.log.len() - 1).unwrap().to_string();
    assert!(
        last.contains(
            "s1: input monorepo: stale: 3 commits behind HEAD (locked aaaaaaa, HEAD bbbbbbb)"
        ),
        "{last}"
    );
    let lines = s.log.len();
    update(&mut s, Msg::Tick(at(1002)));
    update(
        &mut s,
        Msg::FlakeChecked {
            host: 0,
            result: Ok(report(InputStatus::Stale, "monorepo")),
        },
    );
    assert_eq!(s.log.len(), lines, "no repeat while nothing changes");
    update(&mut s, Msg::Tick(at(1003)));
    update(
        &mut s,
        Msg::FlakeChecked {
            host: 0,
            result: Err("flake.lock: broken".into()),
        },
    );
    assert!(
        matches!(&s.hosts[0].flake, crate::app::FlakeStatus::Failed(e) if e == "flake.lock: broken")
    );
}

#[test]
fn u_updates_the_selected_input_after_a_yes_and_c_commits_it() {
    use crate::app::{LockDiff, LockUpdate};
    use crate::nix::check::InputStatus;
    let mut s = flake_state();
    update(&mut s, Msg::NixVersion((2, 8)));
    update(
        &mut s,
        Msg::FlakeChecked {
            host: 0,
            result: Ok(report(InputStatus::Stale, "monorepo")),
        },
    );
    s.focus = Pane::Flake;
    assert!(ch(&mut s, 'c').is_empty());
    assert!(
        s.notice
            .as_deref()
            .unwrap_or("")
            .contains("nothing deploytui changed is left to commit"),
        "{:?}",
        s.notice
    );
    assert!(ch(&mut s, 'u').is_empty(), "asks first");
    let Some(Overlay::UpdateLock(u)) = &s.overlay else {
        panic!("{:?}", s.overlay)
    };
    assert_eq!(
        u.argv.join(" "),
        "nix --extra-experimental-features nix-command flakes flake lock --update-input monorepo /srv/mono/infra"
    );
    let fx = ch(&mut s, 'y');
    let [Effect::UpdateLock {
        id,
        update: LockUpdate { input, .. },
    }] = fx.as_slice()
    else {
        panic!("{fx:?}")
    };
    assert_eq!(input, "monorepo");
    let id = *id;
    update(
        &mut s,
        Msg::LockUpdated {
            id,
            result: Ok(LockDiff {
                input: "monorepo".into(),
                old: "aaaaaaa".into(),
                new: "bbbbbbb".into(),
                changed: true,
            }),
        },
    );
    assert!(s.jobs.is_empty());
    assert!(s
        .log
        .raw_line(s.log.len() - 1)
        .unwrap()
        .contains("flake.lock: monorepo aaaaaaa → bbbbbbb"));
    ch(&mut s, 'c');
    let Some(Overlay::CommitLock(c)) = &s.overlay else {
        panic!("{:?}", s.overlay)
    };
    assert_eq!(c.message, "flake.lock: update monorepo aaaaaaa -> bbbbbbb");
    assert_eq!(c.files, [Path::new("/srv/mono/infra/flake.lock")]);
    let fx = ch(&mut s, 'y');
    assert!(
        matches!(fx.as_slice(), [Effect::CommitLock { .. }]),
        "{fx:?}"
    );
    assert!(s.uncommitted.is_none());
}

#[test]
fn nested_or_following_inputs_are_not_updated_directly() {
    use crate::nix::check::InputStatus;
    let mut s = flake_state();
    update(
        &mut s,
        Msg::FlakeChecked {
            host: 0,
            result: Ok(report(InputStatus::Follows, "hm/nixpkgs")),
        },
    );
    s.focus = Pane::Flake;
    assert!(ch(&mut s, 'u').is_empty());
    assert!(s.overlay.is_none());
    assert!(s
        .notice
        .as_deref()
        .unwrap_or("")
        .contains("not a top-level input"));
}

#[test]
fn newer_nix_uses_flake_update() {
    use crate::nix::check::InputStatus;
    let mut s = flake_state();
    update(&mut s, Msg::NixVersion((2, 24)));
    update(
        &mut s,
        Msg::FlakeChecked {
            host: 0,
            result: Ok(report(InputStatus::Stale, "monorepo")),
        },
    );
    s.focus = Pane::Flake;
    ch(&mut s, 'u');
    let Some(Overlay::UpdateLock(u)) = &s.overlay else {
        panic!()
    };
    assert_eq!(
        u.argv.join(" "),
        "nix --extra-experimental-features nix-command flakes flake update monorepo --flake /srv/mono/infra"
    );
}

#[test]
fn the_log_scrolls_sideways_within_its_widest_line() {
    let mut s = state(1);
    update(&mut s, Msg::Log("x".repeat(30)));
    s.focus = Pane::Log;
    key(&mut s, KeyCode::Right);
    assert_eq!(s.log_view.x, 0, "a line that fits does not scroll");
    assert_eq!(
        s.notice.as_deref(),
        Some("no more of these lines to the right")
    );
    update(&mut s, Msg::Log("y".repeat(200)));
    key(&mut s, KeyCode::Right);
    assert_eq!(s.log_view.x, 8);
    for _ in 0..30 {
        key(&mut s, KeyCode::Right);
    }
    assert_eq!(
        s.log_view.x,
        200 - s.log_width,
        "stops where the widest line's end is in view"
    );
    for _ in 0..30 {
        key(&mut s, KeyCode::Left);
    }
    assert_eq!(s.log_view.x, 0);
}

#[test]
fn notices_leave_the_status_bar_after_a_while() {
    let mut s = state(1);
    s.notice = Some("h0: restart nginx.service: done".into());
    update(&mut s, Msg::Tick(at(100)));
    update(&mut s, Msg::Tick(at(105)));
    assert!(s.notice.is_some());
    s.notice = Some("a newer one".into());
    update(&mut s, Msg::Tick(at(109)));
    update(&mut s, Msg::Tick(at(115)));
    assert_eq!(
        s.notice.as_deref(),
        Some("a newer one"),
        "a new notice gets its own time"
    );
    update(&mut s, Msg::Tick(at(119)));
    assert_eq!(s.notice, None);
}

mod deploys;
mod fixes;
mod footer;
