//! The plan's commands and the deploy's state as events come in.

use super::*;
use crate::config::{parse, FoundBy};
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

fn host(sudo: &str) -> crate::config::Host {
    let text = format!(
        "[[hosts]]\nname = \"s1\"\ntarget = \"deploy@10.0.0.1\"\nflake = \"/srv/mono/infra#s1\"\nsudo = \"{sudo}\"\n"
    );
    parse(&text, Path::new("/t/deploytui.toml"), FoundBy::Flag)
        .unwrap()
        .hosts
        .remove(0)
}

fn plan(action: SwitchAction) -> Plan {
    let overrides = vec![("monorepo".to_string(), "git+file:///srv/mono".to_string())];
    Plan::new(0, &host("password"), action, overrides).unwrap()
}

#[test]
fn the_plan_names_every_command_with_every_flag() {
    let p = plan(SwitchAction::Switch);
    let shown: Vec<String> = p
        .commands()
        .into_iter()
        .map(|c| {
            format!(
                "{} @{}: {}",
                c.label,
                c.place,
                crate::remote::display_command(&c.argv)
            )
        })
        .collect();
    let lock = shown[0].clone();
    assert!(
        lock.starts_with(
            "lock (held until the deploy ends; also checks the sudo password) @deploy@10.0.0.1: \
             sudo -k -S -p '' -- sh -c "
        ) && lock.ends_with("deploytui-lock '<this deploy>' deploytui-locked /run/deploytui"),
        "{lock}"
    );
    assert_eq!(
        shown[1..],
        [
            "build @here: nix --extra-experimental-features 'nix-command flakes' build --no-link --json --log-format internal-json -v '/srv/mono/infra#nixosConfigurations.s1.config.system.build.toplevel' --override-input monorepo git+file:///srv/mono",
            "copy @here: nix --extra-experimental-features 'nix-command flakes' copy --log-format internal-json -v --to ssh://deploy@10.0.0.1 '<built system>'",
            "changes @deploy@10.0.0.1: nix --extra-experimental-features 'nix-command flakes' store diff-closures '<running system>' '<built system>'",
            "profile @deploy@10.0.0.1: sudo -k -S -p '' -- nix-env -p /nix/var/nix/profiles/system --set '<built system>'",
            "activate (detached on the host as the unit deploytui-activate-<id>, or in its own session without systemd; followed, and again after a lost connection) @deploy@10.0.0.1: sudo -k -S -p '' -- '<built system>/bin/switch-to-configuration' switch",
            "verify @deploy@10.0.0.1: readlink /run/current-system",
        ]
    );
    // test and dry-activate leave the profile alone, as nixos-rebuild does.
    for action in [SwitchAction::Test, SwitchAction::DryActivate] {
        assert!(
            !plan(action).steps().contains(&StepKind::Profile),
            "{action:?}"
        );
    }
    assert!(plan(SwitchAction::Boot)
        .steps()
        .contains(&StepKind::Profile));
}

#[test]
fn steps_run_in_turn_and_a_failure_skips_the_rest() {
    let t0 = UNIX_EPOCH + Duration::from_secs(1000);
    let at = |s: u64| t0 + Duration::from_secs(s);
    let mut d = Deploy::new(plan(SwitchAction::Switch), t0);
    assert_eq!(d.verdict(), "starting…");
    d.apply(Event::Started(StepKind::Lock), at(0));
    d.apply(Event::Finished(StepKind::Lock, Ok("held".into())), at(1));
    d.apply(Event::Started(StepKind::Build), at(1));
    assert_eq!(d.verdict(), "evaluating…");
    let build = include_str!("../../tests/fixtures/internal-json/nix-2.8-build.ijson");
    let added = d.apply(
        Event::Output(StepKind::Build, build.lines().map(String::from).collect()),
        at(2),
    );
    assert!(
        added.contains(&"dep-1.0> building dep".to_string()),
        "{added:#?}"
    );
    assert_eq!(d.verdict(), "building 2/2…");
    d.apply(
        Event::Built("/nix/store/aaaa-nixos-system-s1".into()),
        at(3),
    );
    d.apply(Event::Finished(StepKind::Build, Ok("built".into())), at(3));
    d.apply(Event::Started(StepKind::Copy), at(3));
    d.apply(
        Event::Finished(StepKind::Copy, Err("nix exited with 1".into())),
        at(4),
    );
    assert!(d.failed() && d.finished());
    assert_eq!(d.verdict(), "failed at copy");
    let states: Vec<&StepState> = d.steps.iter().map(|s| &s.state).collect();
    assert_eq!(
        states,
        [
            &StepState::Done("held".into()),
            &StepState::Done("built".into()),
            &StepState::Failed("nix exited with 1".into()),
            &StepState::Skipped,
            &StepState::Skipped,
            &StepState::Skipped,
            &StepState::Skipped,
        ]
    );
    assert!(d.log.len() > 5, "the whole output is kept");
}

/// nix's lines read in the deploy's task (`Event::Nix`) fold exactly as the
/// same lines read on the screen's thread (`Event::Output`).
#[test]
fn nix_lines_read_off_the_screen_thread_fold_the_same() {
    let t0 = UNIX_EPOCH + Duration::from_secs(1000);
    let build = include_str!("../../tests/fixtures/internal-json/nix-2.8-build.ijson");
    let lines: Vec<String> = build.lines().map(String::from).collect();
    let mut raw = Deploy::new(plan(SwitchAction::Switch), t0);
    let mut read = Deploy::new(plan(SwitchAction::Switch), t0);
    for d in [&mut raw, &mut read] {
        d.apply(Event::Started(StepKind::Build), t0);
    }
    let from_raw = raw.apply(Event::Output(StepKind::Build, lines.clone()), t0);
    let parsed = lines
        .iter()
        .map(|l| crate::nix::internal_json::parse_line(l))
        .collect();
    let from_read = read.apply(Event::Nix(StepKind::Build, parsed), t0);
    assert!(!from_raw.is_empty());
    assert_eq!(from_read, from_raw);
    assert_eq!(read.verdict(), raw.verdict());
    assert_eq!(read.verdict(), "building 2/2…");
}

/// A verify that could not reach the host is neither done nor failed:
/// the deploy ended, and its verdict says that what runs is not known.
#[test]
fn a_verify_that_cannot_reach_the_host_is_not_known_never_failed() {
    let t0 = UNIX_EPOCH + Duration::from_secs(1000);
    let mut d = Deploy::new(plan(SwitchAction::Switch), t0);
    for kind in d.plan.steps() {
        d.apply(Event::Started(kind), t0);
        if kind == StepKind::Verify {
            let added = d.apply(
                Event::Unknown(kind, "cannot reach the host to check what it runs".into()),
                t0,
            );
            assert_eq!(
                added,
                ["verify: NOT KNOWN: cannot reach the host to check what it runs"]
            );
        } else {
            d.apply(Event::Finished(kind, Ok("done".into())), t0);
        }
    }
    assert!(d.finished() && !d.failed() && d.unknown());
    assert_eq!(
        d.verdict(),
        "switch done, not verified: the host could not be reached"
    );
}

#[test]
fn activation_lines_become_the_step_summary() {
    let t0 = UNIX_EPOCH;
    let mut d = Deploy::new(plan(SwitchAction::Switch), t0);
    d.apply(Event::Started(StepKind::Activate), t0);
    d.apply(
        Event::Output(
            StepKind::Activate,
            vec![
                "NOT restarting the following changed units: nginx.service".into(),
                "restarting the following units: webapp.service".into(),
            ],
        ),
        t0,
    );
    d.apply(Event::Finished(StepKind::Activate, Ok(String::new())), t0);
    let step = d
        .steps
        .iter()
        .find(|s| s.kind == StepKind::Activate)
        .unwrap();
    assert_eq!(
        step.state,
        StepState::Done("restarted webapp · left running (changed) nginx".into())
    );
}

fn rebuild_host(extra: &str) -> Result<crate::config::Host, String> {
    let text = format!(
        "[[hosts]]\nname = \"s2\"\ntarget = \"me@s2\"\nflake = \"/srv/infra#s2\"\nengine = \"nixos-rebuild\"\n{extra}"
    );
    parse(&text, Path::new("/t/deploytui.toml"), FoundBy::Flag)
        .map(|mut c| c.hosts.remove(0))
        .map_err(|e| e.to_string())
}

#[test]
fn a_nixos_rebuild_plan_runs_the_users_line_with_the_action_and_overrides() {
    let host = rebuild_host(
        "rebuild_command = \"nixos-rebuild boot --flake /srv/infra#s2 --target-host me@s2 --sudo --ask-sudo-password\"\n",
    )
    .unwrap();
    // The line's own action is the default; its sudo needs the password.
    assert_eq!(default_action(&host), SwitchAction::Boot);
    assert_eq!(host.sudo, crate::config::SudoMode::Password);
    let overrides = vec![("monorepo".to_string(), "git+file:///srv".to_string())];
    let plan = Plan::new(0, &host, SwitchAction::Test, overrides).unwrap();
    assert_eq!(
        crate::remote::display_command(&plan.rebuild_argv().unwrap()),
        "nixos-rebuild test --flake '/srv/infra#s2' --target-host me@s2 --sudo --ask-sudo-password --override-input monorepo git+file:///srv"
    );
    assert_eq!(
        plan.steps(),
        [
            StepKind::Lock,
            StepKind::Build,
            StepKind::Copy,
            StepKind::Activate,
            StepKind::Verify,
            StepKind::Changes
        ]
    );
    let commands = plan.commands();
    assert!(commands[0].label.starts_with("lock"), "{commands:?}");
    assert_eq!(commands[0].place, "me@s2", "the lock is on the host");
    assert!(
        commands[1].label.starts_with("nixos-rebuild"),
        "{commands:?}"
    );
    assert_eq!(commands[1].place, "here");
    let json = serde_json::to_value(&plan).unwrap();
    assert_eq!(json["engine"], "nixos-rebuild");
    assert_eq!(json["command"][1], "boot", "the line as configured");
}

#[test]
fn a_nixos_rebuild_line_that_cannot_deploy_this_host_is_a_config_error() {
    for (extra, says) in [
        (
            "rebuild_command = \"nixos-rebuild build --flake /srv/infra#s2 --target-host me@s2\"\n",
            "`build`, which does not deploy",
        ),
        (
            "rebuild_command = \"nixos-rebuild switch --flake /srv/infra#s2\"\n",
            "no --target-host, so it would deploy this machine",
        ),
        (
            "rebuild_command = \"nixos-rebuild switch --flake /srv/infra#s2 --target-host me@s2\"\nconfirm_activation = true\n",
            "cannot pause before activation",
        ),
        (
            "rebuild_command = \"nixos-rebuild switch --flake /srv/infra#s2 --target-host me@s2 --sudo --ask-sudo-password\"\nsudo = \"nopasswd\"\n",
            "asks for a sudo password (--ask-sudo-password), but sudo = \"nopasswd\"",
        ),
    ] {
        let e = rebuild_host(extra).unwrap_err();
        assert!(e.contains(says), "{says}: {e}");
        assert!(e.contains("rebuild_command"), "points at the key: {e}");
    }
    // Without a line of its own, the brief's line is made from flake and target.
    let host = rebuild_host("").unwrap();
    assert_eq!(host.sudo, crate::config::SudoMode::Password);
    let plan = Plan::new(0, &host, SwitchAction::Switch, Vec::new()).unwrap();
    assert_eq!(
        crate::remote::display_command(&plan.rebuild_argv().unwrap()),
        "nixos-rebuild switch --flake '/srv/infra#s2' --target-host me@s2 --sudo --ask-sudo-password"
    );
}
