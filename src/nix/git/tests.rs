//! The staleness rules on small repositories made here, with git alone (no
//! nix): same, behind, lock-only commits, diverged, unknown and option-like
//! revisions, dirty trees.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::*;

/// A throwaway repository whose commits get fixed, increasing times.
struct Repo {
    dir: tempfile::TempDir,
    clock: u64,
}

impl Repo {
    fn new() -> Repo {
        let repo = Repo {
            dir: tempfile::tempdir().expect("tempdir"),
            clock: 1_700_000_000,
        };
        repo.git(&["init", "-q", "-b", "main"]);
        repo
    }

    fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .arg("-C")
            .arg(self.dir.path())
            .args(["-c", "user.name=t", "-c", "user.email=t@example.org"])
            .args(["-c", "commit.gpgsign=false"])
            .args(args)
            // Nothing from the machine's own git config.
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

    /// Writes `files` and commits them; the new commit id.
    fn commit(&mut self, message: &str, files: &[(&str, &str)]) -> String {
        self.clock += 60;
        for (name, text) in files {
            let path = self.dir.path().join(name);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, text).expect("write");
            self.git(&["add", "--", name]);
        }
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

#[test]
fn the_same_commit_is_the_same() {
    let mut r = Repo::new();
    let c = r.commit("one", &[("app/main.js", "1")]);
    assert_eq!(block_on(relation(&r.path(), &c, &c)), Relation::Same);
    assert_eq!(
        block_on(compare(&r.path(), &c, &c)),
        Some((0, Missing::default()))
    );
}

#[test]
fn code_commits_after_the_lock_make_it_behind_since_the_oldest() {
    let mut r = Repo::new();
    let locked = r.commit("locked", &[("app/main.js", "1")]);
    r.commit("feature", &[("app/main.js", "2")]);
    let oldest = r.clock;
    let head = r.commit("fix", &[("app/util.js", "3")]);
    assert_eq!(
        block_on(relation(&r.path(), &locked, &head)),
        Relation::Behind(Missing {
            behind: 2,
            lock_only: 0,
            oldest_at: Some(oldest),
        })
    );
}

#[test]
fn commits_of_lock_files_alone_are_counted_apart() {
    let mut r = Repo::new();
    let locked = r.commit("app", &[("app/main.js", "1"), ("flake.lock", "{}")]);
    r.commit("lock", &[("flake.lock", "{\"v\": 1}")]);
    let head = r.commit(
        "host lock",
        &[("infra/hosts/server1/flake.lock", "{\"v\": 2}")],
    );
    assert_eq!(
        block_on(relation(&r.path(), &locked, &head)),
        Relation::Behind(Missing {
            behind: 0,
            lock_only: 2,
            oldest_at: None,
        }),
        "flake.lock anywhere counts as a lock file"
    );

    // One real change among them: one behind, the lock commits still apart,
    // and the oldest missing commit is the one that matters.
    let head = r.commit("code", &[("infra/hosts/server1/flake.nix", "{}")]);
    let code_at = r.clock;
    assert_eq!(
        block_on(relation(&r.path(), &locked, &head)),
        Relation::Behind(Missing {
            behind: 1,
            lock_only: 2,
            oldest_at: Some(code_at),
        })
    );
    // A file merely named like a lock is code.
    let locked = head;
    let head = r.commit("not a lock", &[("flake.lock.bak", "x")]);
    assert!(matches!(
        block_on(relation(&r.path(), &locked, &head)),
        Relation::Behind(Missing {
            behind: 1,
            lock_only: 0,
            ..
        })
    ));
}

#[test]
fn a_folder_misses_the_commits_to_it_after_a_time() {
    let mut r = Repo::new();
    r.commit("lib", &[("lib/a.txt", "1")]);
    let since = r.clock;
    r.commit("app only", &[("app/main.js", "1")]);
    r.commit("lib 2", &[("lib/a.txt", "2")]);
    let first = r.clock;
    r.commit("lock in lib", &[("lib/flake.lock", "{}")]);
    r.commit("lib 3", &[("lib/b.txt", "3")]);
    let lib = r.path().join("lib");
    assert_eq!(
        block_on(missing_since(&r.path(), &lib, since)),
        Missing {
            behind: 2,
            lock_only: 1,
            oldest_at: Some(first),
        }
    );
    assert_eq!(
        block_on(missing_since(&r.path(), &lib, r.clock)),
        Missing::default(),
        "nothing after the newest commit"
    );
    std::fs::write(lib.join("new.txt"), "untracked").expect("write");
    let status = block_on(folder_status(&r.path(), &lib)).expect("status");
    assert!(
        status.contains("lib/new.txt"),
        "untracked files count: {status}"
    );
    assert_eq!(
        block_on(folder_status(&r.path(), &r.path().join("app"))).expect("status"),
        "",
        "another folder is clean"
    );
}

#[test]
fn a_lock_on_another_branch_has_diverged() {
    let mut r = Repo::new();
    let base = r.commit("base", &[("a", "1")]);
    r.git(&["checkout", "-q", "-b", "side"]);
    r.commit("side 1", &[("b", "1")]);
    let locked = r.commit("side 2", &[("b", "2")]);
    r.git(&["checkout", "-q", "main"]);
    let head = r.commit("main 1", &[("c", "1")]);
    assert_eq!(
        block_on(relation(&r.path(), &locked, &head)),
        Relation::Diverged {
            behind: 1,
            ahead: 2
        }
    );
    assert_ne!(base, head);
}

#[test]
fn a_commit_the_repository_lacks_is_unknown() {
    let mut r = Repo::new();
    let head = r.commit("one", &[("a", "1")]);
    let missing = "0123456789abcdef0123456789abcdef01234567";
    assert_eq!(
        block_on(relation(&r.path(), missing, &head)),
        Relation::Unknown
    );
    assert_eq!(block_on(compare(&r.path(), missing, &head)), None);
    assert_eq!(block_on(subject(&r.path(), missing)), None);
}

#[test]
fn option_like_and_symbolic_revisions_never_reach_git() {
    let mut r = Repo::new();
    let head = r.commit("one", &[("a", "1")]);
    let out = tempfile::tempdir().expect("tempdir");
    let target = out.path().join("overwritten");
    let hostile = format!("--output={}", target.display());
    for rev in [hostile.as_str(), "HEAD", "main", "-n1", "HEAD~1", ""] {
        assert_eq!(
            block_on(relation(&r.path(), rev, &head)),
            Relation::Unknown,
            "{rev}"
        );
        assert_eq!(block_on(relation(&r.path(), &head, rev)), Relation::Unknown);
        assert_eq!(block_on(subject(&r.path(), rev)), None, "{rev}");
        assert_eq!(block_on(compare(&r.path(), rev, &head)), None);
    }
    assert!(!target.exists(), "git wrote {}", target.display());
    assert_eq!(
        block_on(subject(&r.path(), &head)).as_deref(),
        Some("one"),
        "a commit id still works"
    );
}

#[test]
fn repo_state_names_head_and_changed_tracked_files_only() {
    let mut r = Repo::new();
    let head = r.commit("subject \x1b]0;title\x07 here", &[("a", "1"), ("b", "1")]);
    std::fs::write(r.path().join("a"), "changed").expect("write");
    std::fs::write(r.path().join("untracked"), "new").expect("write");
    let state = block_on(repo_state(&r.path())).expect("state");
    assert_eq!(state.head, head);
    assert_eq!(state.dirty, vec!["a".to_string()]);
    assert_eq!(
        state.head_subject, "subject \\x1b]0;title\\x07 here",
        "a subject is made safe to draw"
    );
    assert_eq!(
        block_on(repo_root(&r.path().join("sub-that-does-not-exist"))),
        None
    );
    std::fs::create_dir(r.path().join("sub")).expect("mkdir");
    let root = block_on(repo_root(&r.path().join("sub"))).expect("root");
    assert!(same(&root, &r.path()), "{root:?}");
}

#[test]
fn an_empty_repository_has_no_state() {
    let r = Repo::new();
    assert!(block_on(repo_state(&r.path())).is_err());
}

fn same(a: &Path, b: &Path) -> bool {
    a.canonicalize().ok() == b.canonicalize().ok()
}

/// A range longer than `CLASSIFIED_AT_MOST` is told apart by the files its
/// newest commits changed (one `git log --name-only`), not by a
/// path-limited walk of all of it: lock files alone make a commit
/// lock-only; a file merely named like one, or no file, does not.
#[test]
fn a_long_range_is_classified_by_the_files_of_its_newest_commits() {
    let mut r = Repo::new();
    let locked = r.commit("base", &[("app/main.js", "0")]);
    r.commit("code", &[("app/@types/x.ts", "1")]);
    r.commit("lock", &[("flake.lock", "{}")]);
    r.commit("host lock", &[("infra/hosts/a/flake.lock", "{}")]);
    r.commit("both", &[("flake.lock", "{\"v\":1}"), ("app/main.js", "2")]);
    let head = r.commit("not a lock", &[("flake.lock.bak", "x")]);
    let log = r.git(&[
        "log",
        "--format=commit %H",
        "--name-only",
        &format!("{locked}..{head}"),
    ]);
    // Were these five the newest of 5,000: 4,998 matter.
    assert_eq!(
        classified(5_000, &log, Some(42)),
        Missing {
            behind: 4_998,
            lock_only: 2,
            oldest_at: Some(42),
        }
    );
    assert_eq!(count_lock_only(&format!("commit {}\n", "c".repeat(40))), 0);
    // A short range is counted exactly, in the same one call.
    assert_eq!(
        block_on(compare(&r.path(), &locked, &head)),
        Some((0, block_on(missing(&r.path(), &locked, &head, 5))))
    );
}
