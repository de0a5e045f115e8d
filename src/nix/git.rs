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
    // Three questions that do not wait on each other, asked together.
    let (head, head_subject, status) = tokio::join!(
        git(root, &["rev-parse", "--verify", "HEAD^{commit}"]),
        git(root, &["log", "-1", "--format=%s", "HEAD"]),
        git(root, &["status", "--porcelain", "--untracked-files=no"]),
    );
    let head = head?;
    if commit(&head).is_none() {
        return Err(format!("git rev-parse HEAD said {head:?}"));
    }
    let head_subject = head_subject.unwrap_or_default();
    let status = status?;
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

/// How `from` and `head` stand: the commits only `from` has, and those
/// `head` has that `from` lacks (see `Missing`). One walk of the history
/// counts both sides and dates the oldest missing commit; at the same time
/// the newest missing commits are told apart by the files they changed.
/// `None` when `from` is not a commit of this repository.
pub async fn compare(root: &Path, from: &str, head: &str) -> Option<(u64, Missing)> {
    let (from, head) = (commit(from)?, commit(head)?);
    if from == head {
        return Some((0, Missing::default()));
    }
    let object = format!("{from}^{{commit}}");
    git(root, &["cat-file", "-e", "--end-of-options", &object])
        .await
        .ok()?;
    let both = format!("{from}...{head}");
    let range = format!("{from}..{head}");
    let newest = CLASSIFIED_AT_MOST.to_string();
    // `--timestamp`: the date comes from the commit-graph when there is
    // one, without reading each commit.
    let walk_args = [
        "rev-list",
        "--left-right",
        "--timestamp",
        "--end-of-options",
        &both,
    ];
    let log_args = [
        "log",
        "--format=commit %H",
        "--name-only",
        "-n",
        &newest,
        "--end-of-options",
        &range,
    ];
    let (walk, files) = tokio::join!(git(root, &walk_args), git(root, &log_args));
    let (mut ahead, mut total, mut oldest_at) = (0u64, 0u64, None);
    for line in walk.ok()?.lines() {
        let (time, side) = line.split_once(' ')?;
        if side.starts_with('<') {
            ahead += 1;
        } else {
            total += 1;
            // Newest first: the last one seen is the oldest.
            oldest_at = time.parse().ok();
        }
    }
    let missing = if total <= CLASSIFIED_AT_MOST {
        missing(root, from, head, total).await
    } else {
        classified(total, &files.unwrap_or_default(), oldest_at)
    };
    Some((ahead, missing))
}

/// `total` missing commits, the newest of which `log` (`git log
/// --format="commit %H" --name-only`) names with their files: those that
/// changed lock files alone are lock-only, every other commit matters.
fn classified(total: u64, log: &str, oldest_at: Option<u64>) -> Missing {
    let lock_only = count_lock_only(log).min(total);
    Missing {
        behind: total - lock_only,
        lock_only,
        oldest_at,
    }
}

/// Every path but lock files, as a git pathspec.
const NOT_LOCK_FILES: [&str; 3] = [".", ":(exclude)flake.lock", ":(exclude,glob)**/flake.lock"];

/// How many of the missing commits are told apart (lock-only or not) one
/// by one. Past this, the newest this many are, and the older ones count
/// as commits that matter: telling them apart asks git for a tree diff of
/// each (path limits with exclusions cannot use commit-graph Bloom
/// filters), and a lock this far behind is stale whatever they hold.
pub const CLASSIFIED_AT_MOST: u64 = 1000;

/// The commits on `head` that `from` lacks, split into those that matter and
/// lock-only ones; `total` is their number as `compare`'s walk counted it.
async fn missing(root: &Path, from: &str, head: &str, total: u64) -> Missing {
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

/// In `git log --format="commit %H" --name-only` output: the commits that
/// changed files, every one of them named `flake.lock`.
fn count_lock_only(log: &str) -> u64 {
    let mut count = 0;
    let mut files: Option<(usize, bool)> = None; // (files, all lock files)
    let mut end = |files: Option<(usize, bool)>| {
        if let Some((n, all_locks)) = files {
            if n > 0 && all_locks {
                count += 1;
            }
        }
    };
    for line in log.lines() {
        if line
            .strip_prefix("commit ")
            .is_some_and(|id| commit(id).is_some())
        {
            end(files.take());
            files = Some((0, true));
        } else if let Some((n, all_locks)) = files.as_mut().filter(|_| !line.trim().is_empty()) {
            *n += 1;
            *all_locks &= line == "flake.lock" || line.ends_with("/flake.lock");
        }
    }
    end(files);
    count
}

pub async fn relation(root: &Path, locked: &str, head: &str) -> Relation {
    let (Some(locked), Some(head)) = (commit(locked), commit(head)) else {
        return Relation::Unknown;
    };
    if locked == head {
        return Relation::Same;
    }
    match compare(root, locked, head).await {
        None => Relation::Unknown,
        Some((ahead, m)) if ahead > 0 => Relation::Diverged {
            behind: m.behind + m.lock_only,
            ahead,
        },
        Some((_, m)) => Relation::Behind(m),
    }
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
