//! Benchmark: the flake check on a repository with 100,000 commits, the lock
//! 50,000 commits behind HEAD. It runs every second in the TUI, so it must
//! stay cheap however long the history. Run: `cargo bench --bench flake_check`.

mod common;

use common::git;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use deploytui::config::FlakeRef;
use deploytui::nix::check::{self, FlakeReport};

/// A repository of `commits` commits made with git fast-import (seconds, not minutes).
fn make_repo(repo: &Path, commits: usize) {
    git(repo, &["init", "-q", "-b", "main"]);
    let mut child = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["fast-import", "--quiet"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("fast-import");
    let mut stdin = std::io::BufWriter::new(child.stdin.take().expect("stdin"));
    for i in 1..=commits {
        let msg = format!("commit {i}");
        let content = format!("version {i}\n");
        write!(
            stdin,
            "commit refs/heads/main\nmark :{i}\ncommitter Bench <bench@deploytui.invalid> {} +0000\ndata {}\n{msg}\n",
            1_700_000_000 + i,
            msg.len()
        )
        .expect("write");
        if i > 1 {
            writeln!(stdin, "from :{}", i - 1).expect("write");
        }
        write!(
            stdin,
            "M 644 inline app/version.txt\ndata {}\n{content}\n",
            content.len()
        )
        .expect("write");
    }
    drop(stdin);
    assert!(child.wait().expect("wait").success());
    git(repo, &["reset", "-q", "--hard", "main"]);
}

fn main() {
    // 1,500 behind in the smoke run: past the 1,000 told apart one by one.
    let (commits, behind, runs) = (
        common::size(100_000, 2_000),
        common::size(50_000, 1_500),
        common::size(20, 2),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = dir.path().join("monorepo");
    std::fs::create_dir_all(&repo).expect("mkdir");
    let started = Instant::now();
    make_repo(&repo, commits);
    eprintln!("made {commits} commits in {:.1?}", started.elapsed());

    let locked = git(&repo, &["rev-parse", &format!("HEAD~{behind}")]);
    let flake_dir = repo.join("infra");
    std::fs::create_dir_all(&flake_dir).expect("mkdir");
    common::write_self_lock(&flake_dir, &repo, &locked);
    let flake = FlakeRef {
        path: flake_dir,
        attr: "server1".into(),
    };

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let check = |previous: Option<&FlakeReport>| {
        let t = Instant::now();
        let report = rt
            .block_on(check::check(&flake, Some(&locked), previous))
            .expect("check");
        assert_eq!(
            report.inputs[0]
                .behind
                .map(|b| b + report.inputs[0].lock_only.unwrap_or(0)),
            Some(behind as u64)
        );
        (t.elapsed(), report)
    };
    // The baseline: git counting the missing commits, and nothing else.
    let count = || {
        let t = Instant::now();
        let n = git(&repo, &["rev-list", "--count", &format!("{locked}..HEAD")]);
        assert_eq!(n, behind.to_string());
        t.elapsed()
    };
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    for graph in [false, true] {
        if graph {
            git(
                &repo,
                &["commit-graph", "write", "--reachable", "--changed-paths"],
            );
        }
        let what = if graph {
            "with a commit-graph"
        } else {
            "no commit-graph"
        };
        // First look (or after a commit or lock change), paired with the
        // baseline and alternating: the machine's noise falls on both.
        let (mut base, mut first) = (Vec::new(), Vec::new());
        let mut report = None;
        for _ in 0..runs {
            base.push(count());
            let (t, r) = check(None);
            first.push(t);
            report = Some(r);
        }
        let (base, first) = (median(base), median(first));
        println!(
            "flake check, {commits} commits, lock {behind} behind, {what}: first look median {first:.1?}, \
             `git rev-list --count` median {base:.1?}: {:.2}x",
            first.as_secs_f64() / base.as_secs_f64()
        );
        // Every second after that, while HEAD and the lock stay put.
        let report = report.expect("a report");
        let unchanged = median((0..runs).map(|_| check(Some(&report)).0).collect());
        println!("flake check, {commits} commits, lock {behind} behind, {what}: unchanged median {unchanged:.1?}");
    }
}
