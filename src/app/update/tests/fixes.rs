//! The hash fix from the keyboard: the places, the diff's answer, and the
//! deploy offered again once written.

use super::*;
use crate::app::HashFix;
use crate::nix::hash_fix::Site;

fn site(file: &str) -> Site {
    Site {
        file: file.into(),
        line: 7,
        old: "  npmDepsHash = \"sha256-old\";".into(),
        new: "  npmDepsHash = \"sha256-new\";".into(),
    }
}

fn state() -> State {
    let text = "repo = \"/srv/mono\"\n\
                [[hosts]]\nname = \"s1\"\ntarget = \"root@s1\"\nflake = \"infra#s1\"\n";
    State::new(parse(text, Path::new("/t/deploytui.toml"), FoundBy::Flag).unwrap())
}

#[test]
fn tab_picks_the_place_y_writes_that_one_and_the_deploy_is_offered_again() {
    let mut s = state();
    s.overlay = Some(Overlay::HashFix(HashFix {
        host: 0,
        repo: "/srv/mono".into(),
        sites: vec![site("a.nix"), site("b.nix")],
        chosen: 0,
        learn: None,
        restore: None,
    }));
    assert_eq!(
        crate::app::modes::footer(&s)
            .into_iter()
            .map(|(k, l)| format!("{k} {l}"))
            .collect::<Vec<_>>(),
        ["y write it", "Esc cancel", "Tab action"]
    );
    key(&mut s, KeyCode::Tab);
    let fx = ch(&mut s, 'y');
    let [Effect::WriteHash { host: 0, site, .. }] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    assert_eq!(site.file, std::path::PathBuf::from("b.nix"));
    let written = || Msg::HashWritten {
        host: 0,
        repo: "/srv/mono".into(),
        site: site.clone(),
        fix: true,
        result: Ok(()),
    };
    update(&mut s, written());
    // Committing it is asked first: the exact git command, that file alone.
    let Some(Overlay::CommitLock(c)) = &s.overlay else {
        panic!("{:?}", s.overlay)
    };
    assert_eq!(
        c.argv(),
        [
            "git",
            "-C",
            "/srv/mono",
            "commit",
            "-m",
            "b.nix: the hash nix reported for a fixed-output derivation",
            "--",
            "b.nix"
        ]
    );
    assert_eq!(
        s.notice.as_deref(),
        Some("s1: wrote the new hash into b.nix:7; commit it, then deploy again?")
    );
    // Yes: the commit runs; once it is done, the deploy is offered again.
    let fx = ch(&mut s, 'y');
    let [Effect::CommitLock { id, .. }] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    assert!(s.overlay.is_none(), "nothing else is asked while it runs");
    update(
        &mut s,
        Msg::JobFinished {
            id: *id,
            outcome: Ok("[main 1234567] b.nix: the hash".into()),
        },
    );
    assert!(
        matches!(&s.overlay, Some(Overlay::DeployPreview(p)) if p[0].host_name == "s1"),
        "{:?}",
        s.overlay
    );
    assert_eq!(
        s.notice.as_deref(),
        Some("commit b.nix done; deploy again?")
    );
    // No: the deploy is offered at once, saying its tree is dirty, and `c`
    // can still commit it (without a deploy after it).
    s.overlay = None;
    update(&mut s, written());
    ch(&mut s, 'n');
    assert!(
        matches!(&s.overlay, Some(Overlay::DeployPreview(p)) if p[0].host_name == "s1"),
        "{:?}",
        s.overlay
    );
    assert!(
        s.notice
            .as_deref()
            .unwrap_or("")
            .contains("not committed (c commits it later)"),
        "{:?}",
        s.notice
    );
    assert!(s
        .uncommitted
        .as_ref()
        .is_some_and(|c| c.then_deploy.is_none() && c.files == [Path::new("b.nix")]));
    // A refusal is said, and nothing else happens.
    s.overlay = None;
    update(
        &mut s,
        Msg::HashWritten {
            host: 0,
            repo: "/srv/mono".into(),
            site: site.clone(),
            fix: true,
            result: Err("b.nix is outside the repository".into()),
        },
    );
    assert!(s.overlay.is_none());
    assert!(s
        .notice
        .as_deref()
        .unwrap_or("")
        .contains("not written: b.nix is outside the repository"));
}

#[test]
fn a_card_with_several_units_asks_which_journal_and_tab_picks_another() {
    use crate::deploy::diagnosis::{Diagnosis, Fix, Kind};
    let mut s = state();
    let plan = crate::deploy::Plan::new(
        0,
        &s.config.hosts[0],
        crate::deploy::SwitchAction::Switch,
        Vec::new(),
    )
    .unwrap();
    let mut d = crate::deploy::Deploy::new(plan, std::time::UNIX_EPOCH);
    d.ended = Some(std::time::UNIX_EPOCH);
    d.diagnosed(vec![Diagnosis {
        kind: Kind::Activation,
        title: "the system switched, but webapp failed to start".into(),
        evidence: Vec::new(),
        fix: Some(Fix::Journal {
            units: vec!["webapp.service".into(), "nginx.service".into()],
        }),
    }]);
    s.deploys.insert(0, d);
    ch(&mut s, 'f');
    assert!(
        matches!(&s.overlay, Some(Overlay::PickJournal { chosen: 0, units, .. }) if units.len() == 2),
        "{:?}",
        s.overlay
    );
    key(&mut s, KeyCode::Tab);
    let fx = ch(&mut s, 'y');
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::Follow { host: 0, argv, .. }
            if argv.iter().any(|a| a.contains("nginx.service")))),
        "{fx:?}"
    );
    assert_eq!(
        s.journal.as_ref().map(|j| j.unit.as_str()),
        Some("nginx.service")
    );
}
