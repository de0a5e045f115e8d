//! Hostile flake.lock files through the real binary: option-like and
//! non-hex revs, escapes in input names, a node that lists itself many
//! times, a cycle, a huge file. Each gets a clear message that is safe to
//! print, in bounded time; none makes git write a file.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);
const GOOD_REV: &str = "c5f221cb27cb3b2f53a151ac25f4e196c202d1d8";

/// A config with one local host whose flake folder holds `lock`.
fn setup(lock: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let flake = dir.path().join("flake");
    std::fs::create_dir_all(&flake).expect("mkdir");
    std::fs::write(flake.join("flake.nix"), "{ outputs = _: { }; }\n").expect("flake.nix");
    std::fs::write(flake.join("flake.lock"), lock).expect("flake.lock");
    let config = dir.path().join("deploytui.toml");
    std::fs::write(
        &config,
        format!(
            "[[hosts]]\nname = \"here\"\ntarget = \"local\"\nflake = \"{}#here\"\n",
            flake.display()
        ),
    )
    .expect("config");
    (dir, config)
}

fn flake(config: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(common::bin());
    cmd.arg("--config").arg(config).arg("flake").args(args);
    common::output_within(cmd, b"", LIMIT)
}

/// One input `name` locked to a git repository at `rev`.
fn lock_with(name: &str, rev: &str) -> String {
    serde_json::json!({
        "nodes": {
            "root": { "inputs": { name: "m" } },
            "m": { "locked": { "type": "git", "url": "file:///nowhere", "rev": rev } }
        },
        "root": "root",
        "version": 7
    })
    .to_string()
}

fn said(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_printable(out: &Output) {
    for stream in [&out.stdout, &out.stderr] {
        assert!(
            !stream.iter().any(|b| *b == 0x1b || *b == 0x07),
            "raw escape printed: {:?}",
            String::from_utf8_lossy(stream)
        );
    }
}

/// `flake ARGS` on `config` must fail with exit 1, saying `expected`, and
/// print nothing the terminal would obey.
fn assert_refused(config: &Path, args: &[&str], expected: &str) {
    let out = flake(config, args);
    let said = said(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains(expected), "{said}");
    assert_printable(&out);
}

#[test]
fn an_option_like_rev_is_refused_before_git_sees_it() {
    let out_dir = tempfile::tempdir().expect("tempdir");
    let target = out_dir.path().join("overwritten");
    let (_dir, config) = setup(&lock_with(
        "mono",
        &format!("--output={}", target.display()),
    ));
    for args in [&[][..], &["--json"][..]] {
        assert_refused(&config, args, "is not a commit id");
    }
    assert!(!target.exists(), "git wrote {}", target.display());

    let (_dir, config) = setup(&lock_with("mono", "HEAD"));
    assert_refused(&config, &[], "rev `HEAD` is not a commit id");
}

#[test]
fn escapes_in_an_input_name_are_shown_escaped_in_text_json_and_the_tui() {
    let (_dir, config) = setup(&lock_with("mono\u{1b}]0;pwned\u{7}\u{1b}[2J", GOOD_REV));
    assert_refused(
        &config,
        &[],
        "`mono\\x1b]0;pwned\\x07\\x1b[2J` is not a flake input name",
    );
    assert_printable(&flake(&config, &["--json"]));

    if !common::require_tools("hostile lock in the TUI", &["tmux"]) {
        return;
    }
    let (t, _data) = common::tmux::open_deploytui(&config, 160, 40);
    let screen = t.wait_for("the lock error", LIMIT, |s| {
        s.contains("is not a flake input") && s.contains(" q quit")
    });
    assert!(screen.contains("mono\\x1b]0;pwned"), "{screen}");
    assert!(!t.query("#{pane_title}").contains("pwned"));
    t.keys(&["q"]);
    t.wait_for("the shell back", LIMIT, |s| s.contains("EXIT=0"));
}

#[test]
fn a_node_listed_many_times_is_walked_once_and_a_cycle_is_named() {
    // Every node lists the next three times: 3^60 rows if expanded as a tree.
    let mut nodes = serde_json::Map::new();
    nodes.insert(
        "root".into(),
        serde_json::json!({ "inputs": { "x": "n0" } }),
    );
    for i in 0..60 {
        let next = format!("n{}", i + 1);
        nodes.insert(
            format!("n{i}"),
            serde_json::json!({
                "inputs": { "a": next, "b": next, "c": next },
                "locked": { "type": "github", "owner": "o", "repo": format!("r{i}") }
            }),
        );
    }
    nodes.insert(
        "n60".into(),
        serde_json::json!({ "locked": { "type": "github", "owner": "o", "repo": "end" } }),
    );
    let lock = serde_json::json!({ "nodes": nodes, "root": "root", "version": 7 }).to_string();
    let (_dir, config) = setup(&lock);
    let out = flake(&config, &["--json"]);
    assert!(
        out.status.code().is_some_and(|c| c == 0 || c == 2),
        "{}",
        said(&out)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let inputs = v["hosts"][0]["report"]["inputs"]
        .as_array()
        .expect("inputs")
        .len();
    assert_eq!(inputs, 1 + 60 * 3, "each node once, the rest as follows");

    let cyclic = serde_json::json!({
        "nodes": {
            "root": { "inputs": { "a": "a" } },
            "a": { "inputs": { "b": "b" } },
            "b": { "inputs": { "back": "a" } }
        },
        "root": "root",
        "version": 7
    })
    .to_string();
    let (_dir, config) = setup(&cyclic);
    assert_refused(&config, &[], "the inputs form a cycle: a → b → a");
}

#[test]
fn a_huge_lock_is_refused_without_reading_it() {
    let (dir, config) = setup("{}");
    let file = std::fs::File::create(dir.path().join("flake/flake.lock")).expect("lock");
    file.set_len(50 << 20).expect("50 MB");
    assert_refused(&config, &[], "deploytui reads locks of up to 4 MiB");
}
