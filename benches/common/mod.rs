#![allow(dead_code)] // Each benchmark uses part of it.

//! What the benchmarks share.

use std::path::Path;
use std::process::Command;

/// Runs git in `repo`; its stdout, trimmed. Panics when git fails.
pub fn git(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Writes a flake.lock in `dir` whose input `monorepo` locks `repo` at `rev`
/// (a git input, as a self-reference is locked).
pub fn write_self_lock(dir: &Path, repo: &Path, rev: &str) {
    let lock = format!(
        r#"{{"nodes": {{"root": {{"inputs": {{"monorepo": "monorepo"}}}},
            "monorepo": {{"flake": false, "locked": {{"type": "git", "url": "file://{}", "rev": "{rev}", "lastModified": 1700000000, "narHash": "sha256-x"}}}}}},
            "root": "root", "version": 7}}"#,
        repo.display()
    );
    std::fs::write(dir.join("flake.lock"), lock).expect("write lock");
}

/// `full` when run by `cargo bench` (which passes `--bench`), else `smoke`:
/// `cargo test` runs every benchmark once, small, so that each keeps
/// compiling and running (the figures come from `cargo bench` alone).
pub fn size(full: usize, smoke: usize) -> usize {
    if std::env::args().any(|a| a == "--bench") {
        full
    } else {
        smoke
    }
}
