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

/// The exact git command that commits `files` alone in `repo` with
/// `message` (what the question shows is what runs).
pub fn commit_argv(repo: &Path, files: &[PathBuf], message: &str) -> Vec<String> {
    ["git", "-C"]
        .into_iter()
        .map(String::from)
        .chain([repo.display().to_string(), "commit".into(), "-m".into()])
        .chain([message.to_string(), "--".into()])
        .chain(files.iter().map(|f| f.display().to_string()))
        .collect()
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

/// The commits HEAD has that an older commit lacks, counted the one way
/// every view uses: `behind` are the commits that change what gets built;
/// commits that touch nothing but `flake.lock` files (the commit of a lock
/// update itself) are counted apart in `lock_only`, since no build differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Missing {
    pub behind: u64,
    pub lock_only: u64,
    /// When the oldest of the `behind` commits was made (unix seconds).
    pub oldest_at: Option<u64>,
}

/// What git sees changed in one folder: tracked and untracked files, as
/// `git status --porcelain` lists them ("" when the folder is clean).
pub async fn folder_status(root: &Path, dir: &Path) -> Result<String, String> {
    let folder = match dir.strip_prefix(root) {
        Ok(rel) if !rel.as_os_str().is_empty() => format!(":(top,literal){}", rel.display()),
        _ => ".".to_string(),
    };
    git(
        root,
        &[
            "status",
            "--porcelain",
            "--untracked-files=all",
            "--",
            &folder,
        ],
    )
    .await
}

/// When the last commit that changed `file` (relative to `root`) was made.
pub async fn last_change(root: &Path, file: &str) -> Option<u64> {
    let literal = format!(":(top,literal){file}");
    git(root, &["log", "-1", "--format=%ct", "HEAD", "--", &literal])
        .await
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// How a locked commit relates to HEAD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Relation {
    Same,
    /// HEAD has commits the lock lacks (maybe only lock-file commits).
    Behind(Missing),
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

/// Every path but lock files, as a git pathspec.
const NOT_LOCK_FILES: [&str; 3] = [".", ":(exclude)flake.lock", ":(exclude,glob)**/flake.lock"];

/// The commits on `head` that `from` lacks, split into those that matter and
/// lock-only ones; `total` is their number as `ahead_behind` counted it.
pub async fn missing(root: &Path, from: &str, head: &str, total: u64) -> Missing {
    let (Some(from), Some(head)) = (commit(from), commit(head)) else {
        return Missing::default();
    };
    if total == 0 {
        return Missing::default();
    }
    let range = format!("{from}..{head}");
    let mut args = vec!["log", "--format=%ct", "--end-of-options", &range, "--"];
    args.extend(NOT_LOCK_FILES);
    // Newest first: the last line is the oldest commit that matters.
    let times = git(root, &args).await.unwrap_or_default();
    let behind = times.lines().count() as u64;
    Missing {
        behind,
        lock_only: total.saturating_sub(behind),
        oldest_at: times.lines().last().and_then(|l| l.parse().ok()),
    }
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
    Relation::Behind(missing(root, locked, head, behind).await)
}

/// The commits under `dir` (a folder of the repository at `root`) made after
/// `since` (unix seconds) on HEAD: what a `path:` input locked at that time
/// lacks, counted as [`missing`] counts.
pub async fn missing_since(root: &Path, dir: &Path, since: u64) -> Missing {
    let Ok(rel) = dir.strip_prefix(root) else {
        return Missing::default();
    };
    let folder = if rel.as_os_str().is_empty() {
        ".".to_string()
    } else {
        format!(":(top,literal){}", rel.display())
    };
    let after = format!("--since=@{since}");
    let all = git(
        root,
        &["log", "--format=%ct", &after, "HEAD", "--", &folder],
    )
    .await
    .unwrap_or_default();
    // `--since` is a hint to git's walk, not a filter on every commit: filter here.
    let newer = |text: &str| -> Vec<u64> {
        text.lines()
            .filter_map(|l| l.parse::<u64>().ok())
            .filter(|t| *t > since)
            .collect()
    };
    let total = newer(&all).len() as u64;
    let mut args = vec!["log", "--format=%ct", &after, "HEAD", "--", &folder];
    let excludes: Vec<String> = NOT_LOCK_FILES[1..].iter().map(|s| s.to_string()).collect();
    args.extend(excludes.iter().map(String::as_str));
    let times = newer(&git(root, &args).await.unwrap_or_default());
    Missing {
        behind: times.len() as u64,
        lock_only: total.saturating_sub(times.len() as u64),
        oldest_at: times.last().copied(),
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
