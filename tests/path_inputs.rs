//! `path:` inputs and flakes in a sub-folder of the monorepo, with the real
//! nix: a `path:` lock has no rev, so staleness is the folder's NAR hash
//! against the lock's; overrides name the same flake the input does (a real
//! `nix build` with them builds the new content); a lock update of a `path:`
//! input is seen by the file's change, and can be committed.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use deploytui::fleet::NIX_CONFIG;

const LIMIT: Duration = Duration::from_secs(60);

/// A monorepo whose host flake (in `infra/`) takes `lib/` twice: as a
/// `path:` input and as a git input with `?dir=lib`.
struct Mono {
    _dir: tempfile::TempDir,
    repo: PathBuf,
    config: PathBuf,
    /// Commit times run ahead of the clock, so a commit is always later
    /// than the files a lock saw (a `path:` lock's `lastModified`).
    clock: u64,
}

impl Mono {
    fn new() -> Mono {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = dir.path().join("mono");
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        let mut m = Mono {
            config: dir.path().join("deploytui.toml"),
            repo,
            _dir: dir,
            clock: now + 100,
        };
        m.write("lib/a.txt", "v1");
        m.write(
            "lib/flake.nix",
            "{ outputs = { self }: { msg = builtins.readFile ./a.txt; }; }\n",
        );
        let repo = m.repo.display().to_string();
        m.write(
            "infra/flake.nix",
            &format!(
                r#"{{
  inputs.extra = {{ url = "path:{repo}/lib"; flake = false; }};
  inputs.libflake.url = "git+file://{repo}?dir=lib";
  outputs = {{ self, extra, libflake }}: {{
    packages.x86_64-linux.default = derivation {{
      name = "both"; system = "x86_64-linux"; builder = "/bin/sh";
      args = [ "-c" "echo \"$0 $1\" > $out" (builtins.readFile "${{extra}}/a.txt") libflake.msg ];
    }};
  }};
}}
"#
            ),
        );
        m.git(&["init", "-q", "-b", "main"]);
        m.commit("lib and the host flake");
        m.nix(&["flake", "lock", &format!("{repo}/infra")]);
        m.commit("Lock the host flake");
        std::fs::write(
            &m.config,
            format!(
                "[[hosts]]\nname = \"here\"\ntarget = \"nobody@127.0.0.1\"\nport = 1\nflake = \"{repo}/infra#default\"\n"
            ),
        )
        .expect("config");
        m
    }

    fn write(&self, rel: &str, text: &str) {
        let path = self.repo.join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }

    fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .arg("-C")
            .arg(&self.repo)
            .args(["-c", "user.name=t", "-c", "user.email=t@example.org"])
            .args(["-c", "commit.gpgsign=false"])
            .args(args)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_DATE", format!("@{} +0000", self.clock))
            .env("GIT_COMMITTER_DATE", format!("@{} +0000", self.clock))
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn commit(&mut self, message: &str) {
        self.clock += 60;
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", message]);
    }

    fn nix(&self, args: &[&str]) -> String {
        let mut cmd = Command::new("nix");
        cmd.args(args).env("NIX_CONFIG", NIX_CONFIG);
        let out = common::output_within(cmd, b"", LIMIT);
        assert!(
            out.status.success(),
            "nix {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Builds the host flake with extra arguments; what the output holds.
    fn build(&self, extra: &[String]) -> String {
        let flake = format!("{}/infra#default", self.repo.display());
        let mut args = vec!["build", "--no-link", "--json", flake.as_str()];
        args.extend(extra.iter().map(String::as_str));
        let json: serde_json::Value =
            serde_json::from_str(&self.nix(&args)).expect("nix build --json");
        let out = json[0]["outputs"]["out"].as_str().expect("out path");
        std::fs::read_to_string(out)
            .expect("output")
            .trim()
            .to_string()
    }

    fn flake(&self, json: bool) -> (Output, serde_json::Value) {
        let mut cmd = Command::new(common::bin());
        cmd.arg("--config").arg(&self.config).arg("flake");
        if json {
            cmd.arg("--json");
        }
        cmd.env("NIX_CONFIG", NIX_CONFIG);
        let out = common::output_within(cmd, b"", LIMIT);
        let v = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
        (out, v)
    }

    fn lock_file(&self) -> PathBuf {
        self.repo.join("infra/flake.lock")
    }
}

fn input(v: &serde_json::Value, name: &str) -> serde_json::Value {
    v["hosts"][0]["report"]["inputs"]
        .as_array()
        .unwrap_or_else(|| panic!("inputs in {v}"))
        .iter()
        .find(|i| i["path"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no input {name} in {v}"))
}

/// deploytui on `m` in tmux, with a nix config that does not enable flakes
/// (as on a stock install): deploytui's own flags must.
fn open_with_stock_nix(m: &Mono) -> (common::tmux::Tmux, tempfile::TempDir) {
    let stock = NIX_CONFIG
        .lines()
        .filter(|l| !l.starts_with("experimental-features"))
        .collect::<Vec<_>>()
        .join("\n");
    common::tmux::open_deploytui_with_nix(&m.config, 150, 40, &stock)
}

fn nar_hash(dir: &Path) -> String {
    let out = Command::new("nix")
        .args(["--extra-experimental-features", "nix-command"])
        .args(["hash", "path", "--sri", "--type", "sha256"])
        .arg(dir)
        .env("NIX_CONFIG", NIX_CONFIG)
        .output()
        .expect("nix hash path");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn a_path_input_is_stale_by_content_and_overrides_keep_the_folder() {
    if !common::require_tools("path inputs", &["nix", "git"]) {
        return;
    }
    let mut m = Mono::new();
    let lib = m.repo.join("lib");

    // Just locked: both current. The path input is not "locked from a dirty tree".
    let (out, v) = m.flake(true);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{v}",
        String::from_utf8_lossy(&out.stderr)
    );
    let extra = input(&v, "extra");
    assert_eq!(extra["status"], "current", "{extra}");
    assert_eq!(extra["nar_hash_now"], extra["nar_hash"]);
    assert_eq!(extra["self_referential"], true);
    let libflake = input(&v, "libflake");
    assert_eq!(libflake["status"], "current", "{libflake}");
    assert_eq!(
        (libflake["behind"].as_u64(), libflake["lock_only"].as_u64()),
        (Some(0), Some(1)),
        "the lock's own commit is counted apart: {libflake}"
    );
    let repo = m.repo.display().to_string();
    let overrides: Vec<(String, String)> =
        serde_json::from_value(v["hosts"][0]["overrides"].clone()).expect("overrides");
    assert_eq!(
        overrides,
        vec![
            ("extra".to_string(), format!("path:{repo}/lib")),
            ("libflake".to_string(), format!("git+file://{repo}?dir=lib")),
        ],
        "each override names the input's own flake, folder included"
    );
    assert_eq!(m.build(&[]), "v1 v1");

    // A commit in lib/: stale, with the commit as evidence, exit 2.
    // A change in lib/, not committed: stale, and said so.
    m.write("lib/a.txt", "v2");
    let (out, _) = m.flake(false);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("STALE: the folder changed since the lock (not committed)"),
        "{text}"
    );

    m.write("lib/a.txt", "v2");
    m.commit("lib: v2");
    let (out, v) = m.flake(true);
    assert_eq!(out.status.code(), Some(2), "{v}");
    let extra = input(&v, "extra");
    assert_eq!(extra["status"], "stale", "{extra}");
    assert_eq!(extra["behind"], 1, "{extra}");
    assert_eq!(extra["head_subject"], "lib: v2");
    assert_eq!(extra["nar_hash_now"], nar_hash(&lib).as_str());
    assert!(extra["oldest_missing_at"].as_u64().is_some(), "{extra}");
    let libflake = input(&v, "libflake");
    assert_eq!(
        (libflake["status"].as_str(), libflake["behind"].as_u64()),
        (Some("stale"), Some(1)),
        "{libflake}"
    );
    let (out, _) = m.flake(false);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("extra (self)") && text.contains("STALE: 1 commit behind HEAD"),
        "{text}"
    );

    // Without the overrides a build takes the locked, old content; with
    // them, the new one (the root of the repository has no flake.nix: an
    // override that dropped `?dir=lib` would not even evaluate).
    assert_eq!(m.build(&[]), "v1 v1", "a stale lock builds old content");
    let flags: Vec<String> = overrides
        .iter()
        .flat_map(|(name, url)| ["--override-input".to_string(), name.clone(), url.clone()])
        .collect();
    assert_eq!(m.build(&flags), "v2 v2");
}

#[test]
fn u_then_c_on_a_path_input_updates_and_commits_the_lock() {
    if !common::require_tools("path input lock update", &["nix", "git", "tmux"]) {
        return;
    }
    let mut m = Mono::new();
    m.write("lib/a.txt", "v2");
    m.commit("lib: v2");
    let before = std::fs::read_to_string(m.lock_file()).expect("lock");
    let (t, _data) = open_with_stock_nix(&m);
    t.wait_for("the path input stale", LIMIT, |s| {
        s.contains("extra (self)") && s.contains("✗ stale: 1 behind")
    });
    // Flake pane, first row (extra), update.
    t.keys(&["Tab", "Tab", "g", "u"]);
    let update = common::update_words("extra");
    t.wait_for("the update dialog", LIMIT, |s| s.contains(&update));
    t.keys(&["y"]);
    let screen = t.wait_for("the lock diff", LIMIT, |s| {
        s.contains("flake.lock: extra sha256-") && s.contains("commits flake.lock")
    });
    assert!(!screen.contains("already locked"), "{screen}");
    let after = std::fs::read_to_string(m.lock_file()).expect("lock");
    assert_ne!(before, after, "nix rewrote the lock");
    t.wait_for("extra current again", LIMIT, |s| {
        s.lines()
            .any(|l| l.contains("extra (self)") && l.contains("✓ current"))
    });

    t.keys(&["c"]);
    t.wait_for("the commit dialog", LIMIT, |s| {
        s.contains("flake.lock alone? It runs here")
    });
    t.keys(&["y"]);
    t.wait_for("the commit done", LIMIT, |s| {
        s.contains("commit ") && s.contains(" done")
    });
    let status = m.git(&["status", "--porcelain"]);
    assert!(status.is_empty(), "{status}\n{}", t.screen());
    let subject = m.git(&["log", "-1", "--format=%s"]);
    assert!(
        subject.starts_with("flake.lock: update extra sha256-"),
        "{subject}"
    );
    t.keys(&["q"]);
    t.wait_for("the shell back", LIMIT, |s| s.contains("EXIT=0"));
}

#[test]
fn a_failed_lock_update_shows_nix_s_error_whole() {
    if !common::require_tools("failed lock update", &["nix", "git", "tmux"]) {
        return;
    }
    let m = Mono::new();
    let (t, _data) = open_with_stock_nix(&m);
    t.wait_for("the inputs", LIMIT, |s| s.contains("extra (self)"));
    // The folder the input names is gone: nix cannot lock it.
    std::fs::rename(m.repo.join("lib"), m.repo.join("lib.moved")).expect("move lib");
    t.keys(&["Tab", "Tab", "g", "u"]);
    let update = common::update_words("extra");
    t.wait_for("the update dialog", LIMIT, |s| s.contains(&update));
    t.keys(&["y"]);
    let screen = t.wait_for("nix's error", LIMIT, |s| {
        s.contains("updating flake.lock failed: nix exited with 1: error:")
    });
    // The notice names the error line (not nix's first, a warning, nor the
    // bare `error:` over nix 2.26's trace, but its innermost error); the
    // log has every line nix wrote.
    let (notice, lines): (&str, &[&str]) = if common::local_nix_version() >= (2, 26) {
        (
            "failed: nix exited with 1: error: path '",
            &[
                "nix: warning: Git tree",
                "nix: error:",
                "nix:        … while updating the flake input 'extra'",
                "nix:        error: path '",
            ],
        )
    } else {
        (
            "failed: nix exited with 1: error: getting status of",
            &[
                "nix: warning: Git tree",
                "nix: error: getting status of",
                "nix: (use '--show-trace'",
            ],
        )
    };
    assert!(screen.contains(notice), "{notice}: {screen}");
    for line in lines {
        assert!(screen.contains(line), "{line}: {screen}");
    }
    t.keys(&["q"]);
    t.wait_for("the shell back", LIMIT, |s| s.contains("EXIT=0"));
}
