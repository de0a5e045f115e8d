//! What git says about a local repository, through the `git` binary (fast on
//! large histories: every question here walks only the commits it needs).

use std::path::{Path, PathBuf};

use tokio::process::Command;

/// Runs git in `repo`; stdout on success, stderr otherwise, both made safe
/// to show (a commit subject or a file name may hold escape sequences).
/// Revisions from outside never reach here unchecked: see [`commit`].
pub async fn git(repo: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .env("GIT_OPTIONAL_LOCKS", "0")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("cannot run git: {e}"))?;
    if out.status.success() {
        Ok(crate::text::clean_lines(
            String::from_utf8_lossy(&out.stdout).trim_end(),
        ))
    } else {
        Err(crate::text::quote(
            String::from_utf8_lossy(&out.stderr).trim(),
        ))
    }
}

/// `rev` if it is a commit id, the only form of revision that comes from
/// outside (a lock, a host) and goes into a git argv. Anything else, an
/// option like `--output=FILE` above all, is refused here.
pub fn commit(rev: &str) -> Option<&str> {
    super::lock::is_commit_id(rev).then_some(rev)
}

/// The top folder of the repository holding `dir`, if any.
pub async fn repo_root(dir: &Path) -> Option<PathBuf> {
    git(dir, &["rev-parse", "--show-toplevel"])
        .await
        .ok()
        .map(PathBuf::from)
}

/// HEAD of a repository and what is uncommitted in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoState {
    pub head: String,
    pub head_subject: String,
    /// Tracked files with uncommitted changes (what makes nix call the tree dirty).
    pub dirty: Vec<String>,
}

pub async fn repo_state(root: &Path) -> Result<RepoState, String> {
    let head = git(root, &["rev-parse", "--verify", "HEAD^{commit}"]).await?;
    if commit(&head).is_none() {
        return Err(format!("git rev-parse HEAD said {head:?}"));
    }
    let head_subject = git(root, &["log", "-1", "--format=%s", "HEAD"])
        .await
        .unwrap_or_default();
    let status = git(root, &["status", "--porcelain", "--untracked-files=no"]).await?;
    let dirty = status
        .lines()
        .filter_map(|l| l.get(3..))
        .map(str::to_string)
        .collect();
    Ok(RepoState {
        head,
        head_subject,
        dirty,
    })
}

/// How a locked commit relates to HEAD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Relation {
    Same,
    /// HEAD has `count` commits the lock lacks; the oldest was made at `oldest_at`.
    Behind {
        count: u64,
        oldest_at: Option<u64>,
        only_lock_files: bool,
    },
    /// Neither contains the other (a rebase, another branch).
    Diverged {
        behind: u64,
        ahead: u64,
    },
    /// The locked commit is not in this repository.
    Unknown,
}

/// Commits only `locked` has and commits only `head` has, in one history
/// walk; `None` when `locked` is not a commit of this repository.
pub async fn ahead_behind(root: &Path, locked: &str, head: &str) -> Option<(u64, u64)> {
    let (locked, head) = (commit(locked)?, commit(head)?);
    if locked == head {
        return Some((0, 0));
    }
    git(
        root,
        &[
            "cat-file",
            "-e",
            "--end-of-options",
            &format!("{locked}^{{commit}}"),
        ],
    )
    .await
    .ok()?;
    let counts = git(
        root,
        &[
            "rev-list",
            "--left-right",
            "--count",
            "--end-of-options",
            &format!("{locked}...{head}"),
        ],
    )
    .await
    .ok()?;
    let mut numbers = counts
        .split_whitespace()
        .filter_map(|n| n.parse::<u64>().ok());
    Some((numbers.next().unwrap_or(0), numbers.next().unwrap_or(0)))
}

pub async fn relation(root: &Path, locked: &str, head: &str) -> Relation {
    let (Some(locked), Some(head)) = (commit(locked), commit(head)) else {
        return Relation::Unknown;
    };
    if locked == head {
        return Relation::Same;
    }
    let Some((ahead, behind)) = ahead_behind(root, locked, head).await else {
        return Relation::Unknown;
    };
    if ahead > 0 {
        return Relation::Diverged { behind, ahead };
    }
    let range = format!("{locked}..{head}");
    let oldest_at = git(root, &["log", "--format=%ct", "--end-of-options", &range])
        .await
        .ok()
        .and_then(|s| s.lines().last().and_then(|l| l.parse().ok()));
    // Commits that change nothing but lock files (the commit of the lock
    // itself) do not change what gets built.
    let only_lock_files = git(
        root,
        &["diff", "--name-only", "--end-of-options", locked, head],
    )
    .await
    .is_ok_and(|names| {
        names
            .lines()
            .all(|n| n == "flake.lock" || n.ends_with("/flake.lock"))
    });
    Relation::Behind {
        count: behind,
        oldest_at,
        only_lock_files,
    }
}

/// A commit's subject line.
pub async fn subject(root: &Path, rev: &str) -> Option<String> {
    let rev = commit(rev)?;
    git(root, &["log", "-1", "--format=%s", "--end-of-options", rev])
        .await
        .ok()
}

#[cfg(test)]
mod tests;
