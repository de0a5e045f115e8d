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

const COMMITS: usize = 100_000;
const BEHIND: usize = 50_000;
const RUNS: usize = 20;

/// A repository of `COMMITS` commits made with git fast-import (seconds, not minutes).
fn make_repo(repo: &Path) {
    git(repo, &["init", "-q", "-b", "main"]);
    let mut child = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["fast-import", "--quiet"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("fast-import");
    let mut stdin = std::io::BufWriter::new(child.stdin.take().expect("stdin"));
    for i in 1..=COMMITS {
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
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = dir.path().join("monorepo");
    std::fs::create_dir_all(&repo).expect("mkdir");
    let started = Instant::now();
    make_repo(&repo);
    eprintln!("made {COMMITS} commits in {:.1?}", started.elapsed());

    let locked = git(&repo, &["rev-parse", &format!("HEAD~{BEHIND}")]);
    let flake_dir = repo.join("infra");
    std::fs::create_dir_all(&flake_dir).expect("mkdir");
    common::write_self_lock(&flake_dir, &repo, &locked);
    let flake = FlakeRef {
        path: flake_dir,
        attr: "server1".into(),
    };

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let measure = |previous: Option<&deploytui::nix::check::FlakeReport>| {
        let mut times: Vec<Duration> = Vec::new();
        let mut last = None;
        for _ in 0..RUNS {
            let t = Instant::now();
            let report = rt
                .block_on(deploytui::nix::check::check(
                    &flake,
                    Some(&locked),
                    previous,
                ))
                .expect("check");
            times.push(t.elapsed());
            assert_eq!(report.inputs[0].behind, Some(BEHIND as u64));
            last = Some(report);
        }
        times.sort();
        (times[RUNS / 2], times[RUNS - 1], last.expect("a report"))
    };
    // First look (or after a commit or lock change): the history is walked.
    let (median, worst, report) = measure(None);
    println!("flake check, {COMMITS} commits, lock {BEHIND} behind, first look: median {median:.1?}, worst {worst:.1?} ({RUNS} runs)");
    // Every second after that, while HEAD and the lock stay put.
    let (median, worst, _) = measure(Some(&report));
    println!("flake check, {COMMITS} commits, lock {BEHIND} behind, unchanged: median {median:.1?}, worst {worst:.1?} ({RUNS} runs)");
}
