//! Diagnoses on the test fleet, each failure reproduced for real: the
//! brief's stale self-referential lock deployed without the override ships
//! nothing new, and says so, with the fix one key away.

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use deploytui::fleet::{Fleet, NIX_CONFIG, SUDO_PASSWORD};

const LIMIT: Duration = Duration::from_secs(120);

/// A one-host fleet whose config does not override the stale input, as the
/// brief's deploys did, and a commit the host's lock lacks.
fn fleet_without_overrides() -> Option<Fleet> {
    let f = common::fleet("diagnosis tests", 1)?;
    f.without_overrides(0).expect("config");
    f.repo
        .commit_app_change("Never reaches the host")
        .expect("commit");
    Some(f)
}

/// deploytui on the fleet in tmux, `columns` wide: server1 up, its flake
/// checked, then deployed with `d` and the password; returns the window,
/// its data folder and the plan as shown.
fn open_and_deploy(f: &Fleet, columns: u16) -> (common::tmux::Tmux, tempfile::TempDir, String) {
    let (t, data) = common::tmux::open_deploytui_with_nix(&f.config_path, columns, 45, NIX_CONFIG);
    t.wait_for("server1 up and its flake checked", LIMIT, |s| {
        s.contains("● up") && s.contains("✗ stale") && s.contains("d deploy")
    });
    let plan = t.deploy_server1(SUDO_PASSWORD, LIMIT);
    (t, data, plan)
}

/// Waits for the card that says `card` with its fix, presses `f`, and waits
/// for the screen to show all of `then`.
fn press_fix(t: &common::tmux::Tmux, card: &str, then: &[&str]) -> String {
    t.wait_for(card, LIMIT, |s| s.contains(card) && s.contains("f fix"));
    t.keys(&["f"]);
    t.wait_for(&then.join(" and "), LIMIT, |s| {
        then.iter().all(|w| s.contains(w))
    })
}

/// `f` on the stale nginx card: the restart question with the exact
/// command, yes, and the sudo password.
fn restart_nginx_with_f(t: &common::tmux::Tmux) {
    t.keys(&["f"]);
    t.wait_for("the restart question", LIMIT, |s| {
        s.contains("systemctl restart -- nginx.service")
    });
    t.keys(&["y"]);
    t.wait_for("the password prompt", LIMIT, |s| s.contains("password:"));
    t.type_line(SUDO_PASSWORD);
}

/// `q`, and deploytui ended well.
fn quit(t: &common::tmux::Tmux) {
    t.keys(&["q"]);
    t.wait_for("the shell back", LIMIT, |s| s.contains("EXIT=0"));
}

/// `deploytui deploy server1` headless with the password; what it said,
/// after checking it exited with `code`.
fn deploy_expecting(f: &Fleet, code: i32) -> String {
    let out = deploytui(
        f,
        &["deploy", "server1", "--sudo-password-stdin"],
        &format!("{SUDO_PASSWORD}\n"),
    );
    let said = text(&out.stdout);
    assert_eq!(out.status.code(), Some(code), "{said}{}", text(&out.stderr));
    said
}

/// A fleet from `start`, for a test that also needs tmux.
fn with_tmux(start: impl FnOnce() -> Option<Fleet>) -> Option<Fleet> {
    if !common::require_tools("diagnosis e2e", &["tmux"]) {
        return None;
    }
    start()
}

fn deploytui(f: &Fleet, args: &[&str], stdin: &str) -> Output {
    let mut cmd = Command::new(common::bin());
    cmd.arg("--config")
        .arg(&f.config_path)
        .args(args)
        .env("NIX_CONFIG", NIX_CONFIG);
    common::output_within(cmd, stdin.as_bytes(), LIMIT)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn a_deploy_of_the_stale_lock_says_nothing_new_was_shipped_and_exits_2() {
    let Some(f) = fleet_without_overrides() else {
        return;
    };
    // doctor, as a pre-deploy hook, says so before the deploy.
    let out = deploytui(&f, &["doctor"], "");
    let said = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("server1: ✗ input monorepo: stale: 1 commit behind HEAD")
            && said.contains("deploys do not override it: a deploy builds old code")
            && said.contains("server1:   fix: deploytui deploy server1 --override-input monorepo"),
        "{said}"
    );
    let out = deploytui(
        &f,
        &["deploy", "server1", "--json", "--sudo-password-stdin"],
        &format!("{SUDO_PASSWORD}\n"),
    );
    let said = text(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{said}{}", text(&out.stderr));
    let events: Vec<serde_json::Value> = said
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let diagnosis = events
        .iter()
        .find(|e| e["event"] == "diagnosis")
        .unwrap_or_else(|| panic!("no diagnosis: {said}"));
    let d = &diagnosis["diagnosis"];
    assert_eq!(d["kind"], "nothing-new", "{d}");
    let evidence = d["evidence"].to_string();
    assert!(
        evidence.contains("cause: input monorepo is locked at"),
        "{evidence}"
    );
    assert_eq!(d["fix"]["fix"], "redeploy", "{d}");
    assert_eq!(d["fix"]["overrides"][0][0], "monorepo", "{d}");
    // The steps themselves all worked: only the diagnosis tells.
    let done = events.last().expect("events");
    assert_eq!(done["event"], "done");
    assert_eq!(done["ok"], true);
    assert_eq!(done["before"], done["after"], "{done}");

    // Without --json the fix is a command a script can run, and it ships.
    let out = deploytui(
        &f,
        &["deploy", "server1", "--sudo-password-stdin"],
        &format!("{SUDO_PASSWORD}\n"),
    );
    let said = text(&out.stdout);
    let fix = "deploytui deploy server1 --override-input monorepo";
    assert!(said.contains(&format!("server1:   fix: {fix}")), "{said}");
    let args: Vec<&str> = fix.split(' ').skip(1).collect();
    let out = deploytui(
        &f,
        &[&args[..], &["--sudo-password-stdin"]].concat(),
        &format!("{SUDO_PASSWORD}\n"),
    );
    let said = text(&out.stdout);
    assert!(
        said.contains("--override-input monorepo git+file://") && said.contains("switch done"),
        "{said}"
    );
    assert!(!said.contains("nothing new was built"), "{said}");
    // An input that is not there is refused before anything runs.
    let out = deploytui(
        &f,
        &[
            "deploy",
            "server1",
            "--override-input",
            "nope",
            "--sudo-password-stdin",
        ],
        &format!("{SUDO_PASSWORD}\n"),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("input nope cannot be overridden with a local checkout"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn from_the_tui_the_fix_key_redeploys_with_the_override_and_ships_head() {
    let Some(f) = with_tmux(fleet_without_overrides) else {
        return;
    };
    let (t, data, preview) = open_and_deploy(&f, 120);
    assert!(!preview.contains("--override-input"), "{preview}");
    // Said before it runs, too.
    assert!(
        preview.contains("⚠ server1: input monorepo is stale")
            && preview.contains("this builds the locked"),
        "{preview}"
    );
    let card = t.wait_for("the diagnosis", LIMIT, |s| {
        s.contains("switch done") && s.contains("f fix")
    });
    for shown in [
        "⚠ nothing new was built or copied",
        "the very store path the host ran before",
        "cause: input monorepo is locked at",
        "f fix: deploy again with --override-input monorepo",
    ] {
        assert!(card.contains(shown), "{shown}:\n{card}");
    }
    let (before, _) = running(&f);

    // f: the plan again, now with the override; the same answer ships HEAD.
    t.keys(&["f"]);
    let preview = t.wait_for("the fixed plan", LIMIT, |s| {
        s.contains("Deploy server1") && s.contains("--override-input")
    });
    assert!(preview.contains("git+file://"), "{preview}");
    t.answer_deploy(SUDO_PASSWORD, LIMIT);
    // Done, and no card this time: no false alarm on a deploy that shipped.
    t.wait_for("the redeploy done, with no diagnosis", LIMIT, |s| {
        s.contains("switch done") && !s.contains("nothing new") && !s.contains("password:")
    });
    quit(&t);
    let (after, revision) = running(&f);
    assert_ne!(after, before, "the host runs a new system");
    assert_eq!(
        revision,
        f.repo.head().expect("head"),
        "the host runs HEAD now"
    );
    // Both deploys kept, the first with its diagnosis.
    let kept: Vec<serde_json::Value> =
        std::fs::read_dir(common::kept_deploys(data.path(), &f.config_path))
            .expect("kept")
            .flatten()
            .map(|e| {
                serde_json::from_str(
                    &std::fs::read_to_string(e.path().join("record.json")).expect("record"),
                )
                .expect("json")
            })
            .collect();
    assert_eq!(kept.len(), 2);
    let diagnosed: Vec<&serde_json::Value> = kept
        .iter()
        .filter(|r| r["diagnoses"][0]["kind"] == "nothing-new")
        .collect();
    assert_eq!(diagnosed.len(), 1, "{kept:#?}");
}

#[test]
fn nginx_left_on_the_old_system_is_a_card_f_restarts_it_and_the_page_is_checked_again() {
    let Some(f) = with_tmux(|| common::fleet("diagnosis tests", 1)) else {
        return;
    };
    f.repo
        .commit_app_change("Served after a restart")
        .expect("commit");
    let (t, _data, _) = open_and_deploy(&f, 130);
    let card = t.wait_for("the stale nginx card", LIMIT, |s| {
        s.contains("switch done") && s.contains("f fix")
    });
    for shown in [
        "⚠ nginx is still running the previous configuration",
        "nginx.service has run since",
        "f fix: restart nginx.service",
        "http check: ✗ http://127.0.0.1:",
    ] {
        assert!(card.contains(shown), "{shown}:\n{card}");
    }
    // f: the usual question with the exact command, then the password.
    restart_nginx_with_f(&t);
    // Probed again: nginx runs the new system; fetched again: the new page.
    let cleared = t.wait_for("the card cleared and the page right", LIMIT, |s| {
        s.contains("http check: ✓") && !s.contains("f fix")
    });
    assert!(
        cleared.contains("✓ nginx.service runs the system activated last now"),
        "the log says what cleared:\n{cleared}"
    );
    quit(&t);
    assert!(f
        .fetch_page(0)
        .expect("page")
        .contains("Served after a restart"));
}

/// A new npm dependency and a new version, committed, and npmDepsHash
/// left as it was: the deps derivation builds to another hash (the brief's
/// second failure). Returns the stale hash.
fn new_dependency_without_its_hash(f: &Fleet) -> String {
    let stale = f.repo.npm_hash().expect("npmDepsHash");
    f.repo.set_version("1.1.0").expect("version");
    f.repo.add_dependency("left-pad@1.3.0").expect("dependency");
    f.repo.commit("webapp: left-pad").expect("commit");
    stale
}

#[test]
fn a_wrong_npm_deps_hash_is_found_in_the_repo_with_the_diff_that_fixes_it() {
    let Some(f) = common::fleet("diagnosis tests", 1) else {
        return;
    };
    let stale = new_dependency_without_its_hash(&f);
    let said = deploy_expecting(&f, 1);
    for shown in [
        "server1: ⚠ wrong fixed-output hash: webapp-1.1.0-npm-deps is pinned to a hash it does not build to",
        "but sha256-",
        "pinned in infra/pkgs/webapp.nix:",
        "fix (f in the TUI writes it): infra/pkgs/webapp.nix:",
        &format!("- npmDepsHash = \"{stale}\";"),
        "+ npmDepsHash = \"sha256-",
    ] {
        assert!(said.contains(shown), "{shown}:\n{said}");
    }
    // Headless only says it: the file is as it was.
    assert_eq!(f.repo.npm_hash().expect("hash"), stale);
}

#[test]
fn from_the_tui_f_writes_the_right_hash_after_its_diff_and_the_redeploy_ships() {
    let Some(f) = with_tmux(|| common::fleet("diagnosis tests", 1)) else {
        return;
    };
    let stale = new_dependency_without_its_hash(&f);
    let (before, _) = running(&f);
    let (t, data, _) = open_and_deploy(&f, 140);
    let card = t.wait_for("the hash card with its fix", LIMIT, |s| {
        s.contains("failed at build") && s.contains("f fix: write the new hash into")
    });
    assert!(card.contains("⚠ wrong fixed-output hash"), "{card}");
    // The deploy's record keeps the card with its fix (found after the end).
    let base = common::kept_deploys(data.path(), &f.config_path);
    common::wait_until("the record with the hash fix", LIMIT, || {
        std::fs::read_dir(&base)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                std::fs::read_to_string(e.path().join("record.json"))
                    .is_ok_and(|r| r.contains("\"fix\": \"write-hash\""))
            })
    });
    t.keys(&["f"]);
    // Waited for whole: a capture can land while the dialog is half drawn.
    let diff = t.wait_for("the diff", LIMIT, |s| {
        s.contains("Write the new hash?") && s.contains("y write it")
    });
    for shown in [
        "infra/pkgs/webapp.nix:",
        &format!("- npmDepsHash = \"{stale}\";"),
        "+ npmDepsHash = \"sha256-",
        "y write it",
    ] {
        assert!(diff.contains(shown), "{shown}:\n{diff}");
    }
    t.keys(&["y"]);
    // Written; committing it (that file alone) is asked, then the deploy.
    let ask = commit_the_fix(&t);
    assert!(
        ask.contains("git -C") && ask.contains("-- infra/pkgs/webapp.nix"),
        "{ask}"
    );
    let fixed = f.repo.npm_hash().expect("hash");
    assert_ne!(fixed, stale, "the new hash is in the file");
    let status = f.repo.status().expect("git status");
    assert!(status.is_empty(), "the fix is committed: {status}");
    t.answer_deploy(SUDO_PASSWORD, LIMIT);
    t.wait_for("the redeploy built and switched", LIMIT, |s| {
        s.contains("switch done") && !s.contains("wrong fixed-output hash")
    });
    quit(&t);
    let (after, rev) = running(&f);
    assert_ne!(after, before, "the host runs the new system");
    // Built from the commit with the fix, not from a dirty tree.
    assert_eq!(rev, f.repo.head().expect("HEAD"), "{after}");
}

/// After `f` wrote a hash: the commit question (the exact git command),
/// answered yes; then the deploy is offered again. The question's screen.
fn commit_the_fix(t: &common::tmux::Tmux) -> String {
    let ask = t.wait_for("the commit question", LIMIT, |s| {
        s.contains("webapp.nix alone? It runs here") && s.contains("commit it, then deploy again?")
    });
    t.keys(&["y"]);
    t.wait_for("the deploy offered again", LIMIT, |s| {
        s.contains("Deploy server1") && s.contains("deploy again?")
    });
    ask
}

#[test]
fn npm_deps_out_of_date_is_blanked_built_learned_and_written_from_the_tui() {
    let Some(f) = with_tmux(|| common::fleet("diagnosis tests", 1)) else {
        return;
    };
    // A new dependency, the same version: the old deps derivation is still
    // valid in the store, so the build says `npmDepsHash is out of date`.
    let stale = f.repo.npm_hash().expect("npmDepsHash");
    f.repo.add_dependency("is-even@1.0.0").expect("dependency");
    f.repo.commit("webapp: is-even").expect("commit");
    let (before, _) = running(&f);
    let (t, _data, _) = open_and_deploy(&f, 140);
    let card = t.wait_for("the out-of-date card with its fix", LIMIT, |s| {
        s.contains("failed at build") && s.contains("f fix: blank it in")
    });
    assert!(card.contains("⚠ npmDepsHash is out of date"), "{card}");
    // f: the blank's diff first.
    t.keys(&["f"]);
    let blank = t.wait_for("the blank's diff", LIMIT, |s| {
        s.contains("Learn the right hash?")
    });
    assert!(
        blank.contains(&format!("- npmDepsHash = \"{stale}\";")),
        "{blank}"
    );
    assert!(blank.contains("+ npmDepsHash = \"\";"), "{blank}");
    t.keys(&["y"]);
    // Built with the blank: nix said the hash, shown as the next diff.
    let learned = t.wait_for("the learned hash's diff", LIMIT, |s| {
        s.contains("Write the new hash?") && s.contains("gave this one")
    });
    assert!(learned.contains("- npmDepsHash = \"\";"), "{learned}");
    assert!(learned.contains("+ npmDepsHash = \"sha256-"), "{learned}");
    assert_eq!(f.repo.npm_hash().expect("hash"), "", "blank while it asks");
    t.keys(&["y"]);
    commit_the_fix(&t);
    let fixed = f.repo.npm_hash().expect("hash");
    assert!(fixed.starts_with("sha256-") && fixed != stale, "{fixed}");
    t.answer_deploy(SUDO_PASSWORD, LIMIT);
    t.wait_for("the redeploy built and switched", LIMIT, |s| {
        s.contains("switch done") && !s.contains("out of date")
    });
    quit(&t);
    assert_ne!(running(&f).0, before, "the host runs the new system");
}

/// A web app that exits at once (it cannot open its database), committed:
/// the switch restarts it, it fails, switch-to-configuration exits 4.
fn break_the_web_app(f: &Fleet) {
    let system = f.repo.read("infra/lib/system.nix").expect("system.nix");
    // Its preStart fails: systemd's start job fails, as switch-to-configuration sees it.
    let check = "echo \"webapp: database reachable\"";
    assert!(system.contains(check), "{system}");
    f.repo
        .write(
            "infra/lib/system.nix",
            &system.replace(
                check,
                "echo \"webapp: cannot open its database\" >&2; exit 1",
            ),
        )
        .expect("write");
    f.repo
        .commit("webapp: a database it cannot open")
        .expect("commit");
}

#[test]
fn a_unit_that_fails_on_switch_is_exit_4_said_for_what_it_is_with_its_journal() {
    let Some(f) = with_tmux(|| common::fleet("diagnosis tests", 1)) else {
        return;
    };
    break_the_web_app(&f);
    // From the TUI: the card, and f offers each unit's journal, the failed
    // one first, then the one the switch left on the old code.
    let (t, _data, _) = open_and_deploy(&f, 140);
    let title = "⚠ the system switched, but webapp failed to start";
    let card = t.wait_for("the card", LIMIT, |s| {
        s.contains(title) && s.contains("f fix")
    });
    for shown in [
        "exit 4 is not a failed switch: /run/current-system is the new system",
        "not restarted (changed, left running on the old code): nginx.service",
    ] {
        assert!(card.contains(shown), "{shown}:\n{card}");
    }
    // Once on screen: the log marks it by its title, the card holds the rest.
    assert_eq!(
        card.matches("exit 4 is not a failed switch").count(),
        1,
        "{card}"
    );
    press_fix(
        &t,
        title,
        &[
            "Which journal?",
            "webapp.service",
            "nginx.service",
            "y open its journal",
        ],
    );
    t.keys(&["y"]);
    t.wait_for("webapp's journal", LIMIT, |s| {
        s.contains("journal server1 webapp.service") && s.contains("cannot open its database")
    });
    quit(&t);
    // Headless, the same system again: webapp still cannot start.
    let said = deploy_expecting(&f, 1);
    for shown in [
        "server1: ⚠ the system switched, but webapp failed to start",
        "failed: webapp.service",
        "its journal: journalctl -u webapp.service",
    ] {
        assert!(said.contains(shown), "{shown}:\n{said}");
    }
}

#[test]
fn b_rolls_the_host_back_to_the_generation_before_after_showing_both() {
    let Some(f) = with_tmux(|| common::fleet("diagnosis tests", 1)) else {
        return;
    };
    let (first, _) = running(&f);
    f.repo
        .commit_app_change("A release to undo")
        .expect("commit");
    deploy_expecting(&f, 3);
    let (second, _) = running(&f);
    assert_ne!(second, first);
    let (t, _data) = common::tmux::open_deploytui_with_nix(&f.config_path, 140, 45, NIX_CONFIG);
    t.wait_for("server1 up on generation 2", LIMIT, |s| {
        s.contains("● up") && s.contains("gen 2") && s.contains("b rollback")
    });
    t.keys(&["b"]);
    let plan = t.wait_for("the rollback's plan", LIMIT, |s| {
        s.contains("Roll back server1")
    });
    for shown in [
        format!("generation 2: {second}"),
        format!("generation 1: {first}"),
        "--switch-generation 1".into(),
        "switch-to-configuration".into(),
    ] {
        assert!(plan.contains(&shown), "{shown}:\n{plan}");
    }
    t.answer_deploy(SUDO_PASSWORD, LIMIT);
    t.wait_for("rolled back", LIMIT, |s| {
        s.contains("rolled back to generation 1") && s.contains("✓ verify")
    });
    quit(&t);
    let out = deploytui(&f, &["status", "--json", "server1"], "");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status json");
    assert_eq!(v["hosts"][0]["system"]["current"], first.as_str());
    assert_eq!(v["hosts"][0]["system"]["generation"], 1);
}

#[test]
fn doctor_finds_what_a_deploy_would_miss_and_what_it_left_behind() {
    let Some(f) = common::fleet("diagnosis tests", 1) else {
        return;
    };
    f.repo
        .commit_app_change("Not deployed yet")
        .expect("commit");
    let doctor = |args: &[&str]| {
        let mut all = vec!["doctor"];
        all.extend(args);
        let out = deploytui(&f, &all, "");
        (out.status.code(), text(&out.stdout))
    };
    // Before the deploy: the lock is stale but deploys override it, the
    // host is one commit behind: information, nothing to fix.
    let (code, said) = doctor(&["--json"]);
    assert_eq!(code, Some(0), "{said}");
    // For scripts, as fields: the input and how far behind, the services.
    let v: serde_json::Value = serde_json::from_str(&said).expect("json");
    let input = &v["hosts"][0]["inputs"][0];
    assert_eq!(
        (
            &input["name"],
            &input["status"],
            &input["behind"],
            &input["overridden"]
        ),
        (
            &serde_json::json!("monorepo"),
            &serde_json::json!("stale"),
            &serde_json::json!(1),
            &serde_json::json!(true)
        ),
        "{said}"
    );
    let services = v["hosts"][0]["services"].as_array().expect("services");
    assert!(
        services
            .iter()
            .any(|s| s["unit"] == "nginx.service" && s["active_state"] == "active"),
        "{said}"
    );
    let (code, said) = doctor(&[]);
    assert_eq!(code, Some(0), "{said}");
    for shown in [
        "server1: ✓ nothing to fix",
        "server1: · input monorepo: stale: 1 commit behind HEAD",
        "deploys override it with git+file://",
        // The local nix is 2.26: the permanent fix of the stale self-reference.
        "server1: · input monorepo: the permanent fix (nix 2.26+) is inputs.monorepo.url = \"path:../../..\" in ",
        "server1: · the host runs commit",
        "server1: · ✓ http://127.0.0.1:",
    ] {
        assert!(said.contains(shown), "{shown}:\n{said}");
    }
    // After it: nginx on the previous system, and the page it serves.
    deploy_expecting(&f, 3);
    let (code, said) = doctor(&["server1"]);
    assert_eq!(code, Some(1), "{said}");
    for shown in [
        "server1: ✗ nginx.service has run since",
        "server1:   fix: deploytui restart server1 nginx.service",
        "server1: ✗ ✗ http://127.0.0.1:",
    ] {
        assert!(said.contains(shown), "{shown}:\n{said}");
    }
    assert!(
        !said.contains("reboot"),
        "an app change needs no reboot:\n{said}"
    );
    let out = deploytui(
        &f,
        &["restart", "server1", "nginx", "--sudo-password-stdin"],
        &format!("{SUDO_PASSWORD}\n"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (code, said) = doctor(&["--json"]);
    assert_eq!(code, Some(0), "{said}");
    let v: serde_json::Value = serde_json::from_str(&said).expect("json");
    assert_eq!(v["schema"], "deploytui.doctor/1");
    let findings = v["hosts"][0]["findings"].as_array().expect("findings");
    assert!(findings.iter().all(|f| f["problem"] == false), "{said}");
    let services = v["hosts"][0]["services"].as_array().expect("services");
    assert!(services.iter().all(|s| s["stale"] == false), "{said}");
}

/// The brief's whole story, from the keyboard: the stale self-referential
/// lock ships nothing new, the new npm dependency's hash is wrong, and nginx
/// keeps serving the old page; each is a card, and each card's fix is `f`.
#[test]
fn the_briefs_story_start_to_finish_each_failure_diagnosed_and_fixed_with_f() {
    let Some(f) = with_tmux(fleet_without_overrides) else {
        return;
    };
    let stale = new_dependency_without_its_hash(&f);
    let (t, _data, _) = open_and_deploy(&f, 140);
    // 1. The stale lock: nothing new was built.
    press_fix(
        &t,
        "⚠ nothing new was built or copied",
        &["Deploy server1", "--override-input"],
    );
    t.answer_deploy(SUDO_PASSWORD, LIMIT);
    // 2. HEAD builds, and its new dependency's hash is wrong.
    t.wait_for("the hash card", LIMIT, |s| {
        s.contains("⚠ wrong fixed-output hash") && s.contains("f fix: write the new hash")
    });
    t.keys(&["f"]);
    t.wait_for("the diff", LIMIT, |s| {
        s.contains("Write the new hash?") && s.contains(&format!("- npmDepsHash = \"{stale}\";"))
    });
    t.keys(&["y"]);
    commit_the_fix(&t);
    t.answer_deploy(SUDO_PASSWORD, LIMIT);
    // 3. It switched; nginx still serves the old page. (The fix was
    // committed: the system names the commit, and the HTTP check sees the
    // page is not what was deployed.)
    t.wait_for("the stale nginx card", LIMIT, |s| {
        s.contains("switch done")
            && s.contains("⚠ nginx is still running the previous configuration")
            && s.contains("http check: ✗")
    });
    restart_nginx_with_f(&t);
    t.wait_for("all clear", LIMIT, |s| {
        s.contains("runs the system activated last now") && !s.contains("f fix")
    });
    quit(&t);
    let page = f.fetch_page(0).expect("page");
    assert!(page.contains("version 1.1.0"), "{page}");
    assert!(
        page.contains("Never reaches the host"),
        "it did, in the end: {page}"
    );
}

#[test]
fn a_connection_cut_mid_activation_is_said_reconnected_and_the_real_outcome_reported() {
    let Some(mut f) = common::fleet("diagnosis tests", 1) else {
        return;
    };
    let (before, _) = running(&f);
    f.repo.commit_app_change("Through a cut").expect("commit");
    // Activation takes 6 s on the host this time: time to cut it mid-way.
    let slow = f
        .ssh(0, "root", "echo 6 > /run/fleet-slow-activation")
        .output()
        .expect("ssh");
    assert!(slow.status.success(), "{slow:?}");
    let mut cmd = Command::new(common::bin());
    cmd.arg("--config")
        .arg(&f.config_path)
        .args(["deploy", "server1", "--sudo-password-stdin"])
        .env("NIX_CONFIG", NIX_CONFIG);
    let mut deploy =
        common::Spawned::start_with_input(cmd, Some(format!("{SUDO_PASSWORD}\n").as_bytes()));
    let mut said = String::new();
    loop {
        let line = deploy.line("the activation under way", LIMIT);
        said.push_str(&line);
        said.push('\n');
        if line.contains("setting up /etc") {
            break;
        }
    }
    // A real transient unit, on a host with NixOS's unit PATH.
    assert!(
        said.contains("as the transient unit deploytui-activate-"),
        "{said}"
    );
    // Every ssh connection to the host cut, sshd down for 2 s, then back.
    f.hosts[0].cut_ssh().expect("cut ssh");
    std::thread::sleep(Duration::from_secs(2));
    f.hosts[0].restore_ssh().expect("sshd back");
    let status = deploy.wait(LIMIT);
    for line in deploy.rest(Duration::from_secs(1)) {
        said.push_str(&line);
        said.push('\n');
    }
    // The switch went on on the host; deploytui says what happened, and that
    // it all worked (nginx left on the old system, as always: exit 3).
    assert_eq!(status.code(), Some(3), "{said}{}", deploy.stderr());
    for shown in [
        "connection lost during activation: it goes on on the host; reconnecting…",
        "reconnected: following the activation on from line",
        "starting the following units: webapp.service",
        "server1: ✓ activate",
        "server1: ✓ verify",
    ] {
        assert!(said.contains(shown), "{shown}:\n{said}");
    }
    let (after, _) = running(&f);
    assert_ne!(after, before, "the host runs the new system");
}

#[test]
fn a_clean_deploy_has_no_card_and_exits_0() {
    let Some(f) = common::fleet("diagnosis tests", 1) else {
        return;
    };
    // nginx restarts when it changes here, as most services do.
    f.repo
        .add_to_host("server1", "nginxRestartIfChanged = true;")
        .expect("host.nix");
    f.repo.commit_app_change("All live").expect("commit");
    let said = deploy_expecting(&f, 0);
    assert!(
        said.contains("as the transient unit deploytui-activate-"),
        "{said}"
    );
    assert!(!said.contains('⚠'), "no false alarm:\n{said}");
    assert!(said.contains("server1:   ✓ http://127.0.0.1:"), "{said}");
    assert!(said.contains("restarted nginx, webapp"), "{said}");
}

/// server1's running system and the commit it was built from.
fn running(f: &Fleet) -> (String, String) {
    let out = deploytui(f, &["status", "--json", "server1"], "");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status json");
    let sys = &v["hosts"][0]["system"];
    (
        sys["current"].as_str().unwrap_or_default().to_string(),
        sys["configuration_revision"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}
