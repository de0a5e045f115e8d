//! Which services run something other than the running system, as the
//! host's own journal tells it: a redeploy that changed nothing marks
//! nothing; a unit that changed and was left running is certain; one whose
//! unit is the same while the system changed under it is possible.

mod common;

use std::time::Duration;

use deploytui::fleet::Fleet;

use common::deploytui_on as deploytui;

/// Each watched service of server1 and its mark (`None`: current).
fn marks(f: &Fleet) -> Vec<(String, Option<String>)> {
    let v = common::deploytui_json(f, &["status", "--json", "server1"]);
    v["hosts"][0]["services"]
        .as_array()
        .expect("services")
        .iter()
        .map(|s| {
            (
                s["unit"].as_str().unwrap_or("").to_string(),
                s["staleness"].as_str().map(String::from),
            )
        })
        .collect()
}

fn mark(f: &Fleet, unit: &str) -> Option<String> {
    marks(f)
        .into_iter()
        .find(|(u, _)| u == unit)
        .unwrap_or_else(|| panic!("{unit} is not watched"))
        .1
}

fn deploy(f: &Fleet) -> String {
    let (_, said) = deploytui(f, &["deploy", "server1", "--sudo-password-stdin"]);
    assert!(said.contains("switch done"), "{said}");
    said
}

fn restart(f: &Fleet, unit: &str) {
    let (code, said) = deploytui(f, &["restart", "server1", unit, "--sudo-password-stdin"]);
    assert_eq!(code, Some(0), "{said}");
    // Start times have one-second resolution: the next switch is later.
    std::thread::sleep(Duration::from_millis(1100));
}

#[test]
fn services_are_marked_only_when_the_system_they_started_under_changed() {
    let Some(f) = common::fleet("stale services", 1) else {
        return;
    };
    // A third watched unit that no app change touches.
    f.repo
        .add_to_host(
            "server1",
            "units = {\n    \"steady.service\" = \"[Unit]\\nDescription=steady\\n\\n[Service]\\nExecStart=/usr/bin/sleep infinity\\n\";\n  };",
        )
        .expect("host.nix");
    f.repo.commit("server1: a steady unit").expect("commit");
    let config = std::fs::read_to_string(&f.config_path).expect("config");
    std::fs::write(
        &f.config_path,
        config.replace(
            "services = [\"nginx\", \"webapp\"]",
            "services = [\"nginx\", \"webapp\", \"steady\"]",
        ),
    )
    .expect("config");
    deploy(&f);
    // nginx serves the app, so its config changed with it, and it is set
    // not to restart: certain. webapp (its page names the commit) changed
    // and was restarted; steady is new.
    assert_eq!(
        marks(&f),
        [
            ("nginx.service".into(), Some("old-unit".into())),
            ("webapp.service".into(), None),
            ("steady.service".into(), None),
        ]
    );
    restart(&f, "nginx");
    assert!(
        marks(&f).iter().all(|(_, m)| m.is_none()),
        "{:?}",
        marks(&f)
    );

    // The same system again: every activation re-links /run/current-system,
    // which used to mark every service; nothing changed, nothing is marked,
    // and doctor is content.
    deploy(&f);
    assert!(
        marks(&f).iter().all(|(_, m)| m.is_none()),
        "{:?}",
        marks(&f)
    );
    let (code, doctor) = deploytui(&f, &["doctor", "server1"]);
    assert_eq!(code, Some(0), "{doctor}");
    assert!(!doctor.contains("stale-service"), "{doctor}");

    // An app change: nginx's config changed and nginx is set not to restart
    // (certain); webapp was restarted (current); steady's unit is the same
    // while the system changed (possible).
    f.repo.commit_app_change("A new page").expect("commit");
    deploy(&f);
    assert_eq!(mark(&f, "nginx.service").as_deref(), Some("old-unit"));
    assert_eq!(mark(&f, "webapp.service"), None);
    assert_eq!(
        mark(&f, "steady.service").as_deref(),
        Some("system-changed")
    );
    let (code, doctor) = deploytui(&f, &["doctor", "server1"]);
    assert_eq!(code, Some(1), "the certain one is a problem: {doctor}");
    assert!(
        doctor.contains("nginx.service has run since")
            && doctor.contains("runs its old unit: it changed and was not restarted")
            && doctor.contains("steady.service has run since")
            && doctor.contains("its unit is unchanged, but the system changed under it"),
        "{doctor}"
    );

    // A rollback to the system before: nginx started under it, webapp is
    // restarted by the switch back, steady started under it too: nothing
    // runs anything but the running system.
    let (code, said) = deploytui(&f, &["rollback", "server1", "--sudo-password-stdin"]);
    assert!(
        said.contains("server1: rolled back to generation"),
        "{code:?} {said}"
    );
    assert!(
        marks(&f).iter().all(|(_, m)| m.is_none()),
        "{:?}",
        marks(&f)
    );
}

/// A generation whose system is not on the host is refused before
/// anything changes (its profile used to be switched to the missing path,
/// and the activation failed with 127).
#[test]
fn a_rollback_to_a_system_that_is_gone_is_refused_before_anything_changes() {
    let Some(f) = common::fleet("rollback", 1) else {
        return;
    };
    let gone = format!("/nix/store/{}-nixos-system-server1-0.1", "0".repeat(32));
    let made = f
        .ssh(
            0,
            "root",
            &format!("ln -sfn {gone} /nix/var/nix/profiles/system-50-link"),
        )
        .status()
        .expect("ssh");
    assert!(made.success());
    let before = common::running(&f);
    let (code, said) = deploytui(
        &f,
        &["rollback", "server1", "--to", "50", "--sudo-password-stdin"],
    );
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains(&format!(
            "server1: no rollback: generation 50's system {gone} is not on the host"
        )),
        "{said}"
    );
    assert_eq!(common::running(&f), before, "nothing changed");
    // And with nothing before the first generation, it says so.
    let (code, said) = deploytui(&f, &["rollback", "server1", "--sudo-password-stdin"]);
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains("there is no generation before 1 to roll back to"),
        "{said}"
    );
}
