//! Diagnoses from a deploy's end state and its host's flake check.

use super::*;
use crate::config::{parse, FoundBy};
use crate::deploy::{Event, Plan, SwitchAction};
use crate::nix::check::{InputReport, InputStatus, RunningReport};
use crate::nix::lock::LockedInput;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

const OLD: &str = "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-nixos-system-s1-1.0.0";
const NEW: &str = "/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-nixos-system-s1-1.0.0";

/// A deploy of s1 (with `overrides`) that built `built` on a host running `before`.
fn deployed(overrides: Vec<(String, String)>, before: &str, built: &str) -> Deploy {
    let text =
        "[[hosts]]\nname = \"s1\"\ntarget = \"root@10.0.0.1\"\nflake = \"/srv/mono/infra#s1\"\n";
    let host = parse(text, Path::new("/t/deploytui.toml"), FoundBy::Flag)
        .unwrap()
        .hosts
        .remove(0);
    let plan = Plan::new(0, &host, SwitchAction::Switch, overrides).unwrap();
    let mut d = Deploy::new(plan, UNIX_EPOCH);
    for e in [
        Event::Before(Some(before.into())),
        Event::Started(StepKind::Build),
        Event::Built(built.into()),
        Event::Finished(StepKind::Build, Ok("built".into())),
    ] {
        d.apply(e, UNIX_EPOCH);
    }
    d
}

/// The check of a monorepo whose self-input is locked 3 commits behind
/// HEAD `h3`, the host running the locked commit `l0`.
fn stale_report() -> FlakeReport {
    let mut input = InputReport::new(
        LockedInput {
            path: "monorepo".into(),
            follows: None,
            kind: "git".into(),
            source: "file:///srv/mono".into(),
            rev: Some("l0l0l0l0l0".into()),
            last_modified: None,
            nar_hash: None,
            reference: None,
            local_path: Some(PathBuf::from("/srv/mono")),
            dir: None,
            is_flake: false,
            relative: false,
        },
        InputStatus::Stale,
    );
    input.self_referential = true;
    input.repo = Some(PathBuf::from("/srv/mono"));
    input.behind = Some(3);
    FlakeReport {
        flake: "/srv/mono/infra#s1".into(),
        repo: Some(PathBuf::from("/srv/mono")),
        head: Some("h3h3h3h3h3".into()),
        head_subject: None,
        dirty: Vec::new(),
        inputs: vec![input],
        running: Some(RunningReport {
            rev: "l0l0l0l0l0".into(),
            behind: Some(3),
            lock_only: None,
        }),
    }
}

#[test]
fn the_same_store_path_with_a_stale_input_not_overridden_is_nothing_new_with_the_fix() {
    let report = stale_report();
    let found = diagnose(&deployed(Vec::new(), OLD, OLD), Some(&report));
    assert_eq!(found.len(), 1, "{found:#?}");
    let d = &found[0];
    assert_eq!(d.kind, Kind::NothingNew);
    let evidence = d.evidence.join("\n");
    for shown in [
        "it built nixos-system-s1-1.0.0, the very store path the host ran before",
        "the host runs commit l0l0l0l, 3 commits behind HEAD h3h3h3h",
        "cause: input monorepo is locked at l0l0l0l (stale: 3 commits behind HEAD) and this deploy did not override it",
    ] {
        assert!(evidence.contains(shown), "{shown}\n{evidence}");
    }
    assert_eq!(
        d.fix,
        Some(Fix::Redeploy {
            overrides: vec![("monorepo".into(), "git+file:///srv/mono".into())]
        })
    );
}

#[test]
fn no_false_alarm_on_a_new_system_or_a_host_at_head() {
    let report = stale_report();
    // A new store path: something was built.
    assert!(diagnose(&deployed(Vec::new(), OLD, NEW), Some(&report)).is_empty());
    // The same path, but the host runs HEAD already: nothing to ship is right.
    let mut at_head = stale_report();
    at_head.running.as_mut().unwrap().rev = "h3h3h3h3h3".into();
    assert!(diagnose(&deployed(Vec::new(), OLD, OLD), Some(&at_head)).is_empty());
}

#[test]
fn with_the_override_given_the_cause_is_elsewhere() {
    let report = stale_report();
    let overrides = vec![("monorepo".to_string(), "git+file:///srv/mono".to_string())];
    let found = diagnose(&deployed(overrides, OLD, OLD), Some(&report));
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].fix, None, "no redeploy would change anything");
    assert!(
        found[0]
            .evidence
            .join("\n")
            .contains("do not change this host's system"),
        "{:#?}",
        found[0]
    );
    // Uncommitted work is named.
    let mut dirty = stale_report();
    dirty.inputs.clear();
    dirty.dirty = vec!["app/index.html".into()];
    let found = diagnose(&deployed(Vec::new(), OLD, OLD), Some(&dirty));
    assert!(
        found[0]
            .evidence
            .join("\n")
            .contains("uncommitted changes (app/index.html)"),
        "{found:#?}"
    );
}

/// A host probe after the switch from OLD to NEW at 1000 (as the journal
/// says): nginx up since `nginx_since`, its unit changed in NEW; webapp
/// since 1001 (restarted by the switch).
fn after_switch(nginx_since: u64) -> crate::probe::HostProbe {
    let unit = |id: &str, since: u64| crate::systemd::UnitState {
        id: id.into(),
        load_state: "loaded".into(),
        active_state: "active".into(),
        sub_state: "running".into(),
        active_enter: Some(since),
        main_pid: Some(7),
        n_restarts: Some(0),
    };
    let file = |system: &str, sum: &str| (system.to_string(), "nginx.service".into(), sum.into());
    crate::probe::HostProbe {
        now: Some(1010),
        activated_at: Some(1000),
        current_system: Some(NEW.into()),
        booted_system: Some(OLD.into()),
        journal_readable: Some(true),
        switches: vec![crate::probe::Switch {
            at: 1000,
            to: NEW.into(),
        }],
        unit_files: vec![file(OLD, "1111"), file(NEW, "2222")],
        services: vec![
            unit("nginx.service", nginx_since),
            unit("webapp.service", 1001),
        ],
        ..Default::default()
    }
}

/// A switch from OLD to NEW that worked, then `after` probed.
fn switched_to_new(after: crate::probe::HostProbe) -> Deploy {
    let mut d = deployed(Vec::new(), OLD, NEW);
    for e in [
        Event::Started(StepKind::Copy),
        Event::Finished(StepKind::Copy, Ok("copied".into())),
        Event::Started(StepKind::Activate),
        Event::Output(
            StepKind::Activate,
            vec!["NOT restarting the following changed units: nginx.service".into()],
        ),
        Event::Finished(StepKind::Activate, Ok(String::new())),
        Event::Started(StepKind::Verify),
        Event::Finished(StepKind::Verify, Ok("runs it".into())),
        Event::After(Box::new(after)),
    ] {
        d.apply(e, UNIX_EPOCH);
    }
    d
}

#[test]
fn a_service_older_than_the_switch_is_stale_with_a_restart_and_clears_after_it() {
    let d = switched_to_new(after_switch(900));
    let mut found = diagnose(&d, None);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].kind, Kind::StaleServices);
    assert_eq!(
        found[0].title,
        "nginx is still running the previous configuration"
    );
    let evidence = found[0].evidence.join("\n");
    assert!(
        evidence.contains("nginx.service has run since"),
        "{evidence}"
    );
    assert!(
        evidence.contains(
            "did not restart it (NOT restarting the following changed units: nginx.service)"
        ),
        "{evidence}"
    );
    assert_eq!(
        found[0].fix,
        Some(Fix::Restart {
            units: vec!["nginx.service".into()]
        })
    );
    // Probed again before the restart: still there; after it: cleared.
    assert!(recheck(&mut found, &after_switch(900)).is_empty());
    assert_eq!(found.len(), 1);
    let cleared = recheck(&mut found, &after_switch(1005));
    assert_eq!(cleared.len(), 1, "{cleared:?}");
    assert!(cleared[0].starts_with("✓ nginx.service runs the system activated last now"));
    assert!(found.is_empty());
}

#[test]
fn services_all_restarted_or_a_dry_run_are_no_alarm_and_a_failed_one_is_down() {
    assert!(diagnose(&switched_to_new(after_switch(1002)), None).is_empty());
    // Nothing changed (the same system activated again): not stale.
    let mut same = deployed(Vec::new(), OLD, OLD);
    same.apply(Event::After(Box::new(after_switch(900))), UNIX_EPOCH);
    assert!(diagnose(&same, None)
        .iter()
        .all(|x| x.kind != Kind::StaleServices));
    // A watched unit that failed: its journal is the fix.
    let mut failed = after_switch(1002);
    failed.services[1].active_state = "failed".into();
    failed.services[1].sub_state = "failed".into();
    let found = diagnose(&switched_to_new(failed), None);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].kind, Kind::ServicesDown);
    assert_eq!(
        found[0].fix,
        Some(Fix::Journal {
            units: vec!["webapp.service".into()]
        })
    );
}

/// A switch whose activation ended with `why`, after `lines` of its output.
fn activation_ended(lines: &[&str], why: &str) -> Vec<Diagnosis> {
    let mut d = deployed(Vec::new(), OLD, NEW);
    for e in [
        Event::Started(StepKind::Activate),
        Event::Output(
            StepKind::Activate,
            lines.iter().map(|l| l.to_string()).collect(),
        ),
        Event::Finished(StepKind::Activate, Err(why.into())),
    ] {
        d.apply(e, UNIX_EPOCH);
    }
    diagnose(&d, None)
}

#[test]
fn each_activation_exit_code_is_said_for_what_it_means() {
    let four = activation_ended(
        &[
            "NOT restarting the following changed units: nginx.service",
            "warning: the following units failed: webapp.service, -evil",
        ],
        "exit 4: some units failed, but the system did switch",
    );
    assert_eq!(
        four[0].title,
        "the system switched, but webapp failed to start"
    );
    assert!(four[0].evidence[0].starts_with("exit 4 is not a failed switch"));
    assert_eq!(
        four[0].fix,
        Some(Fix::Journal {
            units: vec!["webapp.service".into(), "nginx.service".into()]
        }),
        "a name that is not a unit never reaches a command"
    );
    let two = activation_ended(&[], "exit 2: the activation script failed");
    assert_eq!(
        two[0].title,
        "the activation script failed (exit 2): the host may be between systems"
    );
    let one = activation_ended(&[], "exit 1");
    assert_eq!(
        one[0].title,
        "switch-to-configuration failed (exit 1): the host did not switch"
    );
    let reboot = activation_ended(
        &["Warning: the new NixOS configuration has an ‘init’ that is"],
        &crate::deploy::activation::exit_status(100).unwrap_err(),
    );
    assert_eq!(
        reboot[0].title,
        "reboot to activate (exit 100): the new system needs a reboot to take effect"
    );
    assert!(!reboot[0].title.contains("did not switch"));
    let locked = activation_ended(&["Could not acquire lock"], "exit 11");
    assert_eq!(
        locked[0].title,
        "another activation is running on the host (exit 11): the host did not switch"
    );
    let check = activation_ended(
        &[
            "Checking switch inhibitors... done",
            "Pre-switch check 'fleetCheck' failed",
            "Pre-switch checks failed",
        ],
        "exit 1",
    );
    assert_eq!(
        check[0].title,
        "a pre-switch check refused the new system (exit 1): the host did not switch"
    );
    assert_eq!(
        check[0].evidence,
        ["it said: Pre-switch check 'fleetCheck' failed"]
    );
    let panic = activation_ended(
        &[],
        &crate::deploy::activation::exit_status(101).unwrap_err(),
    );
    assert_eq!(
        panic[0].title,
        "switch-to-configuration panicked (exit 101)"
    );
    assert!(activation_ended(&[], "cancelled").is_empty());
    assert!(activation_ended(&[], "wrong sudo password").is_empty());
}
