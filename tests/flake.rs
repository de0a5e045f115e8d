//! The flake check against locks made by the real nix in the test fleet:
//! stale self-referential inputs, dirty trees, `flake --json` and its exit
//! codes, and the flake pane in tmux turning red on a commit and green
//! after `u`.

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use deploytui::fleet::{Fleet, NIX_CONFIG};

fn fleet(hosts: usize) -> Option<Fleet> {
    common::fleet("flake tests", hosts)
}

fn flake_json(f: &Fleet, args: &[&str]) -> (Output, serde_json::Value) {
    let out = Command::new(common::bin())
        .arg("--config")
        .arg(&f.config_path)
        .arg("flake")
        .args(args)
        .arg("--json")
        .env("NIX_CONFIG", NIX_CONFIG)
        .output()
        .expect("run deploytui flake");
    let v = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out, v)
}

fn input(v: &serde_json::Value, host: usize, name: &str) -> serde_json::Value {
    v["hosts"][host]["report"]["inputs"]
        .as_array()
        .expect("inputs")
        .iter()
        .find(|i| i["path"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no input {name} in {v}"))
}

#[test]
fn a_fresh_lock_is_current_and_each_commit_makes_it_staler() {
    let Some(f) = fleet(1) else { return };
    let locked = f.repo.locked_rev("server1").expect("locked");
    // The only commit after the lock is the lock itself: nothing to build differs.
    let (out, v) = flake_json(&f, &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(v["schema"], "deploytui.flake/1");
    let m = input(&v, 0, "monorepo");
    assert_eq!(m["status"], "current");
    assert_eq!(
        (m["behind"].as_u64(), m["lock_only"].as_u64()),
        (Some(0), Some(1)),
        "the lock's own commit is counted apart"
    );
    assert_eq!(m["self_referential"], true);
    assert_eq!(m["rev"], locked.as_str());
    assert_eq!(m["kind"], "git");

    for n in 1..=3 {
        f.repo
            .commit_app_change(&format!("change {n}"))
            .expect("commit");
    }
    let (out, v) = flake_json(&f, &["server1"]);
    assert_eq!(out.status.code(), Some(2), "stale exits 2");
    let m = input(&v, 0, "monorepo");
    assert_eq!(m["status"], "stale");
    assert_eq!(
        (m["behind"].as_u64(), m["lock_only"].as_u64()),
        (Some(3), Some(1)),
        "three app commits behind, and the lock commit apart"
    );
    assert_eq!(m["head"], f.repo.head().expect("head").as_str());
    assert_eq!(m["locked_subject"], "webapp: pin npmDepsHash");
    assert_eq!(m["head_subject"], "webapp: change 3");
    assert!(m["oldest_missing_at"].as_u64().is_some());
    let overrides = &v["hosts"][0]["overrides"];
    assert_eq!(overrides[0][0], "monorepo");
    assert_eq!(
        overrides[0][1],
        format!("git+file://{}", f.repo.path.display())
    );

    let out = Command::new(common::bin())
        .arg("--config")
        .arg(&f.config_path)
        .args(["flake", "server1"])
        .output()
        .expect("flake");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("monorepo (self)")
            && text
                .contains("STALE: 3 commits behind HEAD (+1 commit that only changes flake.lock)"),
        "{text}"
    );
}

#[test]
fn a_dirty_tree_is_reported_and_a_broken_lock_is_an_error() {
    let Some(f) = fleet(1) else { return };
    f.repo
        .write("app/message.txt", "work in progress\n")
        .expect("edit");
    let (_, v) = flake_json(&f, &[]);
    let dirty = v["hosts"][0]["report"]["dirty"].as_array().expect("dirty");
    assert_eq!(dirty, &vec![serde_json::Value::from("app/message.txt")]);

    let lock = f.repo.host_flake_dir("server1").join("flake.lock");
    std::fs::write(&lock, "{ \"nodes\": ").expect("break the lock");
    let (out, v) = flake_json(&f, &[]);
    assert_eq!(out.status.code(), Some(1));
    let error = v["hosts"][0]["error"].as_str().expect("error");
    assert!(
        error.contains("flake.lock: not a valid flake.lock"),
        "{error}"
    );
}

/// The local nix, as NixOS users run it (2.19 and later: `nix flake update`).
#[test]
fn the_flake_pane_turns_red_on_a_commit_and_u_then_c_make_it_current() {
    red_then_u_and_c(&[], "flake update monorepo");
}

/// An old local nix (Debian 12's 2.8, in /usr/bin): `--update-input`.
#[test]
fn u_updates_the_lock_with_an_old_nix_too() {
    let old_nix = std::path::Path::new("/usr/bin/nix").exists();
    if !common::prerequisite(
        "an old nix",
        (!old_nix).then(|| "needs Debian 12's nix-bin (2.8) in /usr/bin".to_string()),
    ) {
        return;
    }
    red_then_u_and_c(
        &["export PATH=/usr/bin:$PATH".to_string()],
        "--update-input monorepo",
    );
}

fn red_then_u_and_c(setup: &[String], update: &str) {
    let Some(f) = fleet(1) else { return };
    if !common::require_tools("flake e2e", &["tmux"]) {
        return;
    }
    let (t, _data) = common::tmux::open_deploytui_after(&f.config_path, 120, 34, NIX_CONFIG, setup);
    t.wait_for("the input current", Duration::from_secs(30), |s| {
        s.contains("✓ current") && s.contains(" q quit")
    });

    let old = f.repo.locked_rev("server1").expect("locked");
    let head = f
        .repo
        .commit_app_change("Red within a second")
        .expect("commit");
    let screen = t.wait_for("the input stale", Duration::from_secs(5), |s| {
        s.contains("✗ stale: 1 behind")
    });
    assert!(
        screen.contains("deploy adds --override-input monorepo"),
        "{screen}"
    );

    t.keys(&["Tab", "Tab", "u"]);
    t.wait_for("the update dialog", Duration::from_secs(10), |s| {
        s.contains("nix --extra-experimental-features 'nix-command flakes'") && s.contains(update)
    });
    t.keys(&["y"]);
    let line = format!("flake.lock: monorepo {} → {}", &old[..7], &head[..7]);
    t.wait_for("the lock diff", Duration::from_secs(30), |s| {
        s.contains(&line) && s.contains("✓ current")
    });
    assert_eq!(
        f.repo.locked_rev("server1").expect("locked"),
        head,
        "the lock file now pins HEAD"
    );

    t.keys(&["c"]);
    t.wait_for("the commit dialog", Duration::from_secs(10), |s| {
        s.contains("flake.lock alone? It runs here")
    });
    t.keys(&["y"]);
    t.wait_for(
        "current after the lock commit",
        Duration::from_secs(10),
        |s| s.contains("✓ current (+1 lock)"),
    );
    let log = last_commit(&f);
    assert!(
        log.starts_with(&format!(
            "flake.lock: update monorepo {} -> {}",
            &old[..7],
            &head[..7]
        )),
        "{log}"
    );
    assert!(
        log.trim_end().ends_with("infra/hosts/server1/flake.lock"),
        "only the lock is committed: {log}"
    );
    t.keys(&["q"]);
    t.wait_for("the shell back", Duration::from_secs(10), |s| {
        s.contains("EXIT=0")
    });
}

/// nix 2.26's permanent fix of the brief's first failure: the monorepo as
/// `path:../../..`, read from the flake's own tree. deploytui shows it
/// current, adds no override, and a deploy builds HEAD.
#[test]
fn a_relative_self_input_is_current_never_overridden_and_deploys_head() {
    let Some(f) = fleet(1) else { return };
    let old_nix = common::local_nix_version() < (2, 26);
    if !common::prerequisite(
        "relative inputs",
        old_nix.then(|| "needs nix 2.26 or newer as the local nix".to_string()),
    ) {
        return;
    }
    let rel = "infra/hosts/server1/flake.nix";
    let flake = f.repo.read(rel).expect("flake.nix");
    let url = format!("url = \"{}\";", f.repo.url());
    assert!(flake.contains(&url), "{flake}");
    f.repo
        .write(rel, &flake.replace(&url, "url = \"path:../../..\";"))
        .expect("write");
    f.repo.commit("monorepo: a relative input").expect("commit");
    let locked = deploytui::fleet::nix()
        .args(["flake", "lock"])
        .arg(f.repo.host_flake_dir("server1"))
        .output()
        .expect("nix flake lock");
    assert!(locked.status.success(), "{locked:?}");
    f.repo.commit("Lock the relative input").expect("commit");

    let (out, v) = flake_json(&f, &["server1"]);
    let monorepo = input(&v, 0, "monorepo");
    assert_eq!(monorepo["status"], "current", "{monorepo}");
    assert_eq!(monorepo["relative"], true, "{monorepo}");
    assert!(out.status.success(), "{out:?}");
    let text = Command::new(common::bin())
        .arg("--config")
        .arg(&f.config_path)
        .args(["flake", "server1"])
        .env("NIX_CONFIG", NIX_CONFIG)
        .output()
        .expect("flake");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("current (relative: follows this repository)"),
        "{text}"
    );

    // An older nix cannot read this lock: said plainly, exit 1.
    if common::prerequisite(
        "an old nix",
        (!std::path::Path::new("/usr/bin/nix").exists())
            .then(|| "needs Debian 12's nix-bin (2.8) in /usr/bin".to_string()),
    ) {
        let old = Command::new(common::bin())
            .arg("--config")
            .arg(&f.config_path)
            .args(["flake", "server1"])
            .env("NIX_CONFIG", NIX_CONFIG)
            .env(
                "PATH",
                format!("/usr/bin:{}", std::env::var("PATH").unwrap_or_default()),
            )
            .output()
            .expect("flake");
        let said = String::from_utf8_lossy(&old.stdout);
        assert_eq!(old.status.code(), Some(1), "{said}");
        assert!(
            said.contains("error: input monorepo is relative (nix 2.26+), but the nix here is 2.8"),
            "{said}"
        );
    }

    // A commit, then a deploy with no override: the host runs HEAD's page.
    f.repo
        .commit_app_change("Relative and live")
        .expect("commit");
    let mut cmd = Command::new(common::bin());
    cmd.arg("--config")
        .arg(&f.config_path)
        .args(["deploy", "server1", "--sudo-password-stdin"])
        .env("NIX_CONFIG", NIX_CONFIG);
    let out = common::output_within(
        cmd,
        format!("{}\n", deploytui::fleet::SUDO_PASSWORD).as_bytes(),
        Duration::from_secs(120),
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(!said.contains("--override-input"), "{said}");
    assert!(said.contains("server1: ✓ activate"), "{said}");
    let page = f
        .ssh(
            0,
            "root",
            "cat /run/current-system/webapp/share/www/index.html",
        )
        .output()
        .expect("ssh");
    assert!(
        String::from_utf8_lossy(&page.stdout).contains("Relative and live"),
        "{page:?}"
    );
}

/// The permanent fix from the flake pane: `p` on the stale self-reference
/// shows the one line of flake.nix it rewrites, then updates the lock; `c`
/// commits both files. The input is then current for good.
#[test]
fn p_makes_the_self_reference_relative_and_c_commits_flake_nix_and_the_lock() {
    let Some(f) = fleet(1) else { return };
    if !common::require_tools("flake e2e", &["tmux"])
        || !common::prerequisite(
            "relative inputs",
            (common::local_nix_version() < (2, 26))
                .then(|| "needs nix 2.26 or newer as the local nix".to_string()),
        )
    {
        return;
    }
    f.repo.commit_app_change("Stale again").expect("commit");
    let (t, _data) = common::tmux::open_deploytui_with_nix(&f.config_path, 140, 40, NIX_CONFIG);
    t.wait_for("the input stale", Duration::from_secs(30), |s| {
        s.contains("✗ stale: 1 behind") && s.contains(" q quit")
    });
    t.keys(&["Tab", "Tab", "p"]);
    let url = f.repo.url();
    let dialog = t.wait_for("the diff", Duration::from_secs(10), |s| {
        s.contains("+ url = \"path:../../..\";")
    });
    assert!(
        dialog.contains(&format!("- url = \"{url}\";"))
            && dialog.contains("infra/hosts/server1/flake.nix:6")
            && dialog.contains("flake update monorepo"),
        "{dialog}"
    );
    t.keys(&["y"]);
    t.wait_for(
        "the lock changed and the input current",
        Duration::from_secs(30),
        |s| {
            s.contains("flake.lock: monorepo")
                && s.contains("→ path:../../..")
                && s.contains("current (relative")
        },
    );
    t.keys(&["c"]);
    t.wait_for("the commit question", Duration::from_secs(10), |s| {
        s.contains("Commit infra/hosts/server1/flake.nix and")
    });
    t.keys(&["y"]);
    common::wait_until("the commit", Duration::from_secs(10), || {
        f.repo
            .read("infra/hosts/server1/flake.nix")
            .is_ok_and(|t| t.contains("path:../../.."))
            // Without taking git's index lock, which the commit needs.
            && Command::new("git")
                .arg("-C")
                .arg(&f.repo.path)
                .args(["--no-optional-locks", "status", "--porcelain"])
                .output()
                .is_ok_and(|o| o.stdout.is_empty())
    });
    let log = last_commit(&f);
    assert!(
        log.starts_with(
            "infra/hosts/server1/flake.nix: make input monorepo relative, so it follows this repository"
        ) && log.contains("infra/hosts/server1/flake.lock")
            && log.contains("infra/hosts/server1/flake.nix\n"),
        "{log}"
    );
    t.keys(&["q"]);
    t.wait_for("the shell back", Duration::from_secs(10), |s| {
        s.contains("EXIT=0")
    });
}

/// The monorepo's last commit: its subject, then the files it changed.
fn last_commit(f: &Fleet) -> String {
    let log = Command::new("git")
        .arg("-C")
        .arg(&f.repo.path)
        .args(["log", "-1", "--format=%s", "--name-only"])
        .output()
        .expect("git log");
    String::from_utf8_lossy(&log.stdout).into_owned()
}
