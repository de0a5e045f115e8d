//! Deploys from the keyboard: the preview, the action, the password, the
//! runner's events, one deploy per host, and the log pane's source.

use super::*;
use crate::app::JobId;
use crate::deploy::{Event as DeployEvent, StepKind, StepState, SwitchAction};

fn deploy_state() -> State {
    let text = "repo = \"/srv/mono\"\n\
                [[hosts]]\nname = \"s1\"\ntarget = \"me@s1\"\nflake = \"infra#s1\"\nsudo = \"password\"\n\
                [[hosts]]\nname = \"s2\"\ntarget = \"root@s2\"\n\
                [[hosts]]\nname = \"s3\"\ntarget = \"root@s3\"\nflake = \"infra#s3\"\nconfirm_activation = true\n";
    State::new(parse(text, Path::new("/t/deploytui.toml"), FoundBy::Flag).unwrap())
}

/// `d`, Tab to `boot`, yes, the password: the deploy's effect.
fn start(s: &mut State) -> (JobId, Vec<Effect>) {
    update(
        s,
        Msg::FlakeChecked {
            host: 0,
            result: Ok(report(crate::nix::check::InputStatus::Stale, "monorepo")),
        },
    );
    ch(s, 'd');
    let Some(Overlay::DeployPreview(plans)) = &s.overlay else {
        panic!("{:?}", s.overlay)
    };
    let plan = &plans[0];
    assert_eq!(plan.action, SwitchAction::Switch);
    assert_eq!(
        plan.overrides,
        [("monorepo".to_string(), "git+file:///srv/mono".to_string())],
        "the flake pane's override"
    );
    key(s, KeyCode::Tab);
    let Some(Overlay::DeployPreview(plans)) = &s.overlay else {
        panic!()
    };
    let plan = &plans[0];
    assert_eq!(plan.action, SwitchAction::Boot);
    assert_eq!(
        crate::app::modes::footer(s)
            .into_iter()
            .map(|(k, l)| format!("{k} {l}"))
            .collect::<Vec<_>>(),
        ["y deploy", "Esc cancel", "Tab action"]
    );
    ch(s, 'y');
    assert!(matches!(s.overlay, Some(Overlay::Password(_))));
    typed(s, "pw");
    let fx = key(s, KeyCode::Enter);
    let [Effect::Deploy { id, plan, password }] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    assert_eq!(plan.action, SwitchAction::Boot);
    assert_eq!(password.as_ref().map(|p| p.expose()), Some("pw"));
    let id = *id;
    // The runner's first step: the host's deploy lock.
    for event in [
        DeployEvent::Started(StepKind::Lock),
        DeployEvent::Finished(StepKind::Lock, Ok("this deploy holds the host".into())),
    ] {
        update(s, Msg::Deploy { id, event });
    }
    (id, fx)
}

#[test]
fn d_previews_then_runs_with_the_password_and_the_log_follows_it() {
    let mut s = deploy_state();
    let (id, _) = start(&mut s);
    assert!(s.show_deploy, "the log pane shows the deploy");
    assert_eq!(s.jobs.len(), 1, "quitting now asks first");
    update(
        &mut s,
        Msg::Deploy {
            id,
            event: DeployEvent::Started(StepKind::Build),
        },
    );
    update(
        &mut s,
        Msg::Deploy {
            id,
            event: DeployEvent::Output(StepKind::Build, vec!["plain line".into()]),
        },
    );
    assert_eq!(
        s.shown_log().raw_line(s.shown_log().len() - 1),
        Some("plain line")
    );
    // A second deploy of a busy host is refused, and says why.
    ch(&mut s, 'd');
    assert!(s.overlay.is_none());
    assert!(
        s.notice
            .as_deref()
            .unwrap_or("")
            .contains("one deploy per host"),
        "{:?}",
        s.notice
    );
    update(
        &mut s,
        Msg::Deploy {
            id,
            event: DeployEvent::Finished(StepKind::Build, Err("nix exited with 1".into())),
        },
    );
    let d = &s.deploys[&0];
    assert_eq!(d.steps[0].kind, StepKind::Lock);
    assert_eq!(
        d.steps[1].state,
        StepState::Failed("nix exited with 1".into())
    );
    assert!(d.steps[2..].iter().all(|st| st.state == StepState::Skipped));
    assert_eq!(s.notice.as_deref(), Some("s1: ✗ build: nix exited with 1"));
    let fx = update(&mut s, Msg::DeployEnded { id, ok: false });
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::Probe { host: 0, .. })),
        "the host is probed again: {fx:?}"
    );
    assert!(s.jobs.is_empty());
    // v: the activity log again, and back.
    s.focus = Pane::Log;
    ch(&mut s, 'v');
    assert!(s.shown_deploy().is_none());
    assert!(s
        .log
        .raw_line(s.log.len() - 1)
        .unwrap_or("")
        .contains("s1: deploy failed at build"));
    ch(&mut s, 'v');
    assert!(s.shown_deploy().is_some());
}

#[test]
fn a_wrong_password_in_a_deploy_is_forgotten() {
    let mut s = deploy_state();
    let (id, _) = start(&mut s);
    s.passwords
        .insert(0, crate::secret::Secret::new("pw".into()));
    update(
        &mut s,
        Msg::Deploy {
            id,
            event: DeployEvent::Finished(StepKind::Profile, Err("wrong sudo password".into())),
        },
    );
    assert!(s.passwords.is_empty());
}

#[test]
fn a_host_without_a_flake_cannot_be_deployed_and_says_so() {
    let mut s = deploy_state();
    ch(&mut s, 'j');
    ch(&mut s, 'd');
    assert!(s.overlay.is_none());
    assert_eq!(
        s.notice.as_deref(),
        Some("this host has no flake = \"…#…\" in the config: nothing to deploy")
    );
}

#[test]
fn esc_on_a_deploying_host_asks_then_stops_it() {
    let mut s = deploy_state();
    ch(&mut s, 'x');
    assert!(
        s.notice.as_deref().unwrap_or("").contains("does nothing"),
        "x is not a deploy key"
    );
    key(&mut s, KeyCode::Esc);
    assert_eq!(
        s.notice.as_deref(),
        Some("no deploy is running on this host"),
        "nothing to stop yet"
    );
    let (id, _) = start(&mut s);
    s.focus = Pane::Hosts;
    update(
        &mut s,
        Msg::Deploy {
            id,
            event: DeployEvent::Started(StepKind::Build),
        },
    );
    key(&mut s, KeyCode::Esc);
    assert!(matches!(s.overlay, Some(Overlay::ConfirmStopDeploy(0))));
    assert_eq!(
        crate::app::modes::footer(&s)
            .into_iter()
            .map(|(k, l)| format!("{k} {l}"))
            .collect::<Vec<_>>(),
        ["y stop it", "Esc keep it running"]
    );
    let fx = ch(&mut s, 'y');
    assert_eq!(fx, vec![Effect::StopDeploy { id, host: 0 }]);
    let fx = stopped_by_its_worker(&mut s, id);
    let d = &s.deploys[&0];
    assert_eq!(d.verdict(), "cancelled at build");
    assert_eq!(d.steps[1].state, StepState::Failed("cancelled".into()));
    assert!(d.steps[2..].iter().all(|st| st.state == StepState::Skipped));
    assert!(fx
        .iter()
        .any(|e| matches!(e, Effect::Probe { host: 0, .. })));
    assert!(s.jobs.is_empty());
}

#[test]
fn h_lists_past_deploys_and_enter_opens_one_in_the_log_pane() {
    use crate::deploy::history::Record;
    let mut s = deploy_state();
    let fx = update(
        &mut s,
        Msg::Key(KeyEvent::new(KeyCode::Char('H'), KeyModifiers::SHIFT)),
    );
    assert_eq!(
        fx,
        vec![Effect::ListHistory {
            dir: crate::deploy::history::dir_for(&s.config.path)
        }]
    );
    let record = |host: &str, started: u64| Record {
        schema: crate::deploy::history::RECORD_SCHEMA.into(),
        host: host.into(),
        target: "me@s1".into(),
        engine: "native".into(),
        command: None,
        action: "switch".into(),
        installable: "infra#…".into(),
        overrides: Vec::new(),
        started,
        ended: Some(started + 9),
        verdict: "switch done".into(),
        ok: Some(true),
        before: None,
        after: None,
        steps: Vec::new(),
        diagnoses: Vec::new(),
        served: None,
        folder: format!("/kept/{started}").into(),
    };
    update(
        &mut s,
        Msg::HistoryListed(vec![record("s1", 2000), record("s2", 1000)]),
    );
    assert!(matches!(
        s.overlay,
        Some(Overlay::History { cursor: 0, .. })
    ));
    assert_eq!(
        crate::app::modes::footer(&s)
            .into_iter()
            .map(|(k, l)| format!("{k} {l}"))
            .collect::<Vec<_>>(),
        ["q quit", "Enter open log", "Esc close", "↑ ↓ move"]
    );
    ch(&mut s, 'j');
    let fx = key(&mut s, KeyCode::Enter);
    let [Effect::LoadHistory { folder, title }] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    assert_eq!(folder, Path::new("/kept/1000"));
    update(
        &mut s,
        Msg::HistoryLoaded {
            title: title.clone(),
            result: Ok("── build ──\nbuilt /nix/store/x\n".into()),
        },
    );
    assert_eq!(s.focus, Pane::Log);
    assert_eq!(s.shown_log().raw_line(1), Some("built /nix/store/x"));
    ch(&mut s, 'a');
    assert!(s.past.is_none(), "a goes back to the activity log");
}

#[test]
fn marked_hosts_deploy_together_each_with_its_own_password() {
    let mut s = deploy_state();
    // s1 (sudo password), s2 (no flake), s3 (root): mark all three.
    for _ in 0..3 {
        ch(&mut s, ' ');
        ch(&mut s, 'j');
    }
    assert_eq!(s.marked.len(), 3);
    ch(&mut s, 'd');
    let Some(Overlay::DeployPreview(plans)) = &s.overlay else {
        panic!("{:?}", s.overlay)
    };
    let names: Vec<&str> = plans.iter().map(|p| p.host_name.as_str()).collect();
    assert_eq!(names, ["s1", "s3"]);
    assert!(
        s.notice
            .as_deref()
            .unwrap_or("")
            .contains("s2 has no flake"),
        "the one left out is named: {:?}",
        s.notice
    );
    key(&mut s, KeyCode::Tab);
    ch(&mut s, 'y');
    assert!(s.marked.is_empty(), "the marks are used up");
    // s1 asks for its password; s3 waits for it.
    assert!(matches!(s.overlay, Some(Overlay::Password(_))));
    typed(&mut s, "pw");
    let fx = key(&mut s, KeyCode::Enter);
    let started: Vec<(usize, SwitchAction, bool)> = fx
        .iter()
        .filter_map(|e| match e {
            Effect::Deploy { plan, password, .. } => {
                Some((plan.host, plan.action, password.is_some()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        started,
        [
            (0, SwitchAction::Boot, true),
            (2, SwitchAction::Boot, false)
        ]
    );
    assert_eq!(s.jobs.len(), 2);
    // One waits for a free slot and says so.
    let id = s.deploy_job_of(2).expect("s3's job");
    update(
        &mut s,
        Msg::Deploy {
            id,
            event: DeployEvent::Waiting,
        },
    );
    assert_eq!(s.deploys[&2].verdict(), "waiting for a free slot…");
}

#[test]
fn confirm_activation_pauses_for_a_yes_and_a_no_stops_before_the_host_changes() {
    let mut s = deploy_state();
    ch(&mut s, 'j');
    ch(&mut s, 'j');
    ch(&mut s, 'd');
    let fx = ch(&mut s, 'y');
    let [Effect::Deploy { id, .. }] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    let id = *id;
    update(
        &mut s,
        Msg::Deploy {
            id,
            event: DeployEvent::AwaitingYes,
        },
    );
    assert!(matches!(s.overlay, Some(Overlay::ConfirmActivation(2))));
    assert_eq!(s.deploys[&2].verdict(), "waiting for your yes to activate");
    assert_eq!(
        crate::app::modes::footer(&s)
            .into_iter()
            .map(|(k, l)| format!("{k} {l}"))
            .collect::<Vec<_>>(),
        ["y activate", "Esc do not activate"]
    );
    let fx = key(&mut s, KeyCode::Esc);
    assert_eq!(
        fx,
        vec![Effect::Approve {
            id,
            host: 2,
            yes: false
        }]
    );
    // Asked again with A while it still waits; then a yes.
    s.deploys.get_mut(&2).unwrap().awaiting_yes = true;
    update(
        &mut s,
        Msg::Key(KeyEvent::new(KeyCode::Char('A'), KeyModifiers::SHIFT)),
    );
    let fx = ch(&mut s, 'y');
    assert_eq!(
        fx,
        vec![Effect::Approve {
            id,
            host: 2,
            yes: true
        }]
    );
}

/// A host whose flake input is stale and that overrides nothing.
fn stale_and_not_overridden() -> State {
    let text = "repo = \"/srv/mono\"\n\
                [[hosts]]\nname = \"s1\"\ntarget = \"root@s1\"\nflake = \"infra#s1\"\noverride_inputs = []\n";
    let mut s = State::new(parse(text, Path::new("/t/deploytui.toml"), FoundBy::Flag).unwrap());
    update(
        &mut s,
        Msg::FlakeChecked {
            host: 0,
            result: Ok(report(crate::nix::check::InputStatus::Stale, "monorepo")),
        },
    );
    s
}

#[test]
fn a_deploy_that_shipped_nothing_new_ends_in_a_diagnosis_and_f_redeploys_with_the_override() {
    let mut s = stale_and_not_overridden();
    // No key offers a fix before there is a diagnosis.
    ch(&mut s, 'f');
    assert!(s.overlay.is_none());
    ch(&mut s, 'd');
    let Some(Overlay::DeployPreview(plans)) = &s.overlay else {
        panic!("{:?}", s.overlay)
    };
    assert!(plans[0].overrides.is_empty(), "overrides are off");
    let fx = ch(&mut s, 'y');
    let [Effect::Deploy { id, .. }] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    let id = *id;
    let old = "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-nixos-system-s1-1.0.0";
    for event in [
        DeployEvent::Before(Some(old.into())),
        DeployEvent::Started(StepKind::Build),
        DeployEvent::Built(old.into()),
        DeployEvent::Finished(StepKind::Build, Ok("built".into())),
    ] {
        update(&mut s, Msg::Deploy { id, event });
    }
    update(&mut s, Msg::DeployEnded { id, ok: true });
    let d = &s.deploys[&0];
    assert_eq!(d.diagnoses.len(), 1, "{:?}", d.diagnoses);
    assert!(d.diagnosed);
    assert_eq!(
        s.notice.as_deref(),
        Some("s1: ⚠ nothing new was built or copied: the host still runs the old system")
    );
    s.focus = Pane::Hosts;
    assert!(
        crate::app::modes::footer(&s)
            .iter()
            .any(|(k, l)| k == "f" && *l == "fix"),
        "{:?}",
        crate::app::modes::footer(&s)
    );
    ch(&mut s, 'f');
    let Some(Overlay::DeployPreview(plans)) = &s.overlay else {
        panic!("{:?}", s.overlay)
    };
    assert_eq!(
        plans[0].overrides,
        [("monorepo".to_string(), "git+file:///srv/mono".to_string())]
    );
}

#[test]
fn a_deploy_that_ends_while_deploytui_waits_to_quit_is_said_after_the_tui() {
    let mut s = deploy_state();
    let (id, _) = start(&mut s);
    s.focus = Pane::Hosts;
    ch(&mut s, 'q');
    assert!(
        matches!(s.overlay, Some(Overlay::ConfirmQuit)),
        "a deploy runs: it asks"
    );
    update(
        &mut s,
        Msg::Deploy {
            id,
            event: DeployEvent::Finished(StepKind::Build, Err("nix exited with 1".into())),
        },
    );
    let fx = update(&mut s, Msg::DeployEnded { id, ok: false });
    assert!(fx.contains(&Effect::Quit), "{fx:?}");
    assert_eq!(s.unseen, ["s1: deploy failed at build"]);
}

/// What the host worker reports once it stopped a deploy's runner.
fn stopped_by_its_worker(s: &mut State, id: JobId) -> Vec<Effect> {
    update(
        s,
        Msg::Deploy {
            id,
            event: DeployEvent::Cancelled,
        },
    );
    update(s, Msg::DeployEnded { id, ok: false })
}

/// SIGTERM (or a closed terminal) while a deploy runs: nothing asked, the
/// deploy stopped as Esc stops it, quit once it ended, and the terminal
/// left behind told what was stopped. With nothing running: quit.
#[test]
fn a_signal_to_leave_stops_running_deploys_then_quits() {
    let mut idle = deploy_state();
    assert_eq!(
        update(&mut idle, Msg::Terminated("SIGTERM")),
        vec![Effect::Quit]
    );

    let mut s = deploy_state();
    let (id, _) = start(&mut s);
    update(
        &mut s,
        Msg::Deploy {
            id,
            event: DeployEvent::Started(StepKind::Build),
        },
    );
    let fx = update(&mut s, Msg::Terminated("SIGTERM"));
    assert_eq!(fx, vec![Effect::StopDeploy { id, host: 0 }]);
    assert!(
        s.waiting_to_quit(),
        "nothing asked: it waits for the deploy to stop"
    );
    assert_eq!(s.stopped_by, Some("SIGTERM"), "the exit code will say so");
    assert!(
        s.unseen
            .iter()
            .any(|l| l.contains("deploy stopped by SIGTERM (evaluating…)")),
        "{:?}",
        s.unseen
    );
    let fx = stopped_by_its_worker(&mut s, id);
    assert!(fx.contains(&Effect::Quit), "{fx:?}");
}

/// The deploy question warns of a stale input it will not override; `o`
/// adds the override for this deploy (the config is left as it is), and
/// then neither the warning's key nor the footer offers it again.
#[test]
fn o_in_the_deploy_question_overrides_the_stale_input_it_warns_of() {
    let mut s = stale_and_not_overridden();
    ch(&mut s, 'd');
    let footer = |s: &State| {
        crate::app::modes::footer(s)
            .into_iter()
            .map(|(k, l)| format!("{k} {l}"))
            .collect::<Vec<_>>()
    };
    assert!(
        footer(&s).contains(&"o override".to_string()),
        "{:?}",
        footer(&s)
    );
    ch(&mut s, 'o');
    let Some(Overlay::DeployPreview(plans)) = &s.overlay else {
        panic!("{:?}", s.overlay)
    };
    assert_eq!(
        plans[0].overrides,
        [("monorepo".to_string(), "git+file:///srv/mono".to_string())]
    );
    assert_eq!(
        s.notice.as_deref(),
        Some("overridden with the local checkout, for this deploy: s1: monorepo")
    );
    assert!(
        !footer(&s).contains(&"o override".to_string()),
        "{:?}",
        footer(&s)
    );
    assert!(s.config.hosts[0].override_inputs == crate::config::OverrideInputs::List(Vec::new()));
    // The deploy runs with it.
    let fx = ch(&mut s, 'y');
    let [Effect::Deploy { plan, .. }] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    assert_eq!(plan.overrides.len(), 1);
}
