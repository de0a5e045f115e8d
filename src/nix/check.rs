//! The flake check: every input of a host's flake against git HEAD of the
//! repository it comes from, and what the host runs against HEAD.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::git::{self, Relation};
use super::lock::{self, LockError, LockedInput};
use crate::config::FlakeRef;

/// A commit id as people read it: its first seven characters.
pub fn short_rev(rev: &str) -> &str {
    rev.get(..7).unwrap_or(rev)
}

/// JSON schema name and version of `flake --json`.
pub const FLAKE_SCHEMA: &str = "deploytui.flake/1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InputStatus {
    /// Locked at HEAD, or behind only by commits that change lock files.
    Current,
    /// HEAD has commits the lock lacks: a deploy builds old code.
    Stale,
    /// The lock and HEAD are on different branches of history.
    Diverged,
    /// The locked commit is not in the repository.
    UnknownRev,
    /// Locked from a dirty tree: no commit to compare.
    NoRev,
    /// Not a local git repository: nothing to compare on this machine.
    Remote,
    /// Follows another input.
    Follows,
}

impl InputStatus {
    /// Whether a deploy from this lock would miss committed work.
    pub fn is_problem(self) -> bool {
        matches!(
            self,
            InputStatus::Stale | InputStatus::Diverged | InputStatus::UnknownRev
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InputReport {
    #[serde(flatten)]
    pub locked: LockedInput,
    pub status: InputStatus,
    /// The input is the repository that holds the flake itself.
    pub self_referential: bool,
    /// The local repository the input resolves to.
    pub repo: Option<PathBuf>,
    pub head: Option<String>,
    /// Commits on HEAD that the lock lacks.
    pub behind: Option<u64>,
    /// When the oldest of those was made (unix seconds).
    pub oldest_missing_at: Option<u64>,
    pub locked_subject: Option<String>,
    pub head_subject: Option<String>,
    /// Uncommitted tracked files in that repository.
    pub dirty: Vec<String>,
}

/// The running system's commit against HEAD.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunningReport {
    pub rev: String,
    /// Commits on HEAD the host does not run; `None` when unknown.
    pub behind: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlakeReport {
    pub flake: String,
    /// The repository holding the flake.
    pub repo: Option<PathBuf>,
    pub head: Option<String>,
    pub head_subject: Option<String>,
    pub dirty: Vec<String>,
    pub inputs: Vec<InputReport>,
    pub running: Option<RunningReport>,
}

impl FlakeReport {
    pub fn problems(&self) -> impl Iterator<Item = &InputReport> {
        self.inputs.iter().filter(|i| i.status.is_problem())
    }
}

/// Reads the flake's lock and compares each local input with its repository.
/// `running_rev` is the commit the host's system records, if any. With the
/// `previous` report, comparisons whose locked rev and HEAD did not change
/// are reused: this runs every second, and walking a long history is not free.
pub async fn check(
    flake: &FlakeRef,
    running_rev: Option<&str>,
    previous: Option<&FlakeReport>,
) -> Result<FlakeReport, LockError> {
    // Reading and parsing a big lock is blocking work: off the async threads.
    let dir = flake.path.clone();
    let inputs = tokio::task::spawn_blocking(move || lock::read(&dir))
        .await
        .map_err(|e| LockError {
            file: flake.path.join("flake.lock"),
            message: format!("reading the lock stopped: {e}"),
        })??;
    let flake_repo = git::repo_root(&flake.path).await;
    let flake_state = match &flake_repo {
        Some(root) => git::repo_state(root).await.ok(),
        None => None,
    };
    let before: HashMap<&str, &InputReport> = previous
        .map(|p| {
            p.inputs
                .iter()
                .map(|i| (i.locked.path.as_str(), i))
                .collect()
        })
        .unwrap_or_default();
    // Many inputs may live in one repository: ask git about each folder once.
    let mut repos = RepoCache::default();
    let mut reports = Vec::with_capacity(inputs.len());
    for input in inputs {
        let before = before
            .get(input.path.as_str())
            .copied()
            .filter(|b| b.locked == input);
        reports.push(compare_input(input, flake_repo.as_deref(), before, &mut repos).await);
    }
    let unchanged_running = previous
        .filter(|p| p.head == flake_state.as_ref().map(|s| s.head.clone()))
        .and_then(|p| p.running.clone())
        .filter(|r| Some(r.rev.as_str()) == running_rev);
    let running = match (running_rev, &flake_repo, &flake_state) {
        _ if unchanged_running.is_some() => unchanged_running,
        (Some(rev), Some(root), Some(state)) => Some(RunningReport {
            rev: rev.to_string(),
            // Only the count: no need for the oldest commit or the diff here.
            // A build from a dirty tree records `<rev>-dirty`: compare its commit.
            behind: git::ahead_behind(root, rev.trim_end_matches("-dirty"), &state.head)
                .await
                .map(|(_, behind)| behind),
        }),
        (Some(rev), _, _) => Some(RunningReport {
            rev: rev.to_string(),
            behind: None,
        }),
        _ => None,
    };
    Ok(FlakeReport {
        flake: flake.to_string(),
        repo: flake_repo,
        head: flake_state.as_ref().map(|s| s.head.clone()),
        head_subject: flake_state.as_ref().map(|s| s.head_subject.clone()),
        dirty: flake_state.map(|s| s.dirty).unwrap_or_default(),
        inputs: reports,
        running,
    })
}

/// What git said about each folder during one check.
#[derive(Default)]
struct RepoCache {
    roots: HashMap<PathBuf, Option<PathBuf>>,
    states: HashMap<PathBuf, Result<git::RepoState, String>>,
}

impl RepoCache {
    async fn root(&mut self, dir: &Path) -> Option<PathBuf> {
        if let Some(root) = self.roots.get(dir) {
            return root.clone();
        }
        let root = git::repo_root(dir).await;
        self.roots.insert(dir.to_path_buf(), root.clone());
        root
    }

    async fn state(&mut self, root: &Path) -> Result<git::RepoState, String> {
        if let Some(state) = self.states.get(root) {
            return state.clone();
        }
        let state = git::repo_state(root).await;
        self.states.insert(root.to_path_buf(), state.clone());
        state
    }
}

async fn compare_input(
    locked: LockedInput,
    flake_repo: Option<&Path>,
    before: Option<&InputReport>,
    repos: &mut RepoCache,
) -> InputReport {
    let mut report = InputReport {
        status: InputStatus::Remote,
        self_referential: false,
        repo: None,
        head: None,
        behind: None,
        oldest_missing_at: None,
        locked_subject: None,
        head_subject: None,
        dirty: Vec::new(),
        locked,
    };
    if report.locked.follows.is_some() {
        report.status = InputStatus::Follows;
        return report;
    }
    let Some(dir) = report.locked.local_path.clone() else {
        return report;
    };
    let Some(root) = repos.root(&dir).await else {
        return report;
    };
    report.self_referential = flake_repo.is_some_and(|f| same_dir(f, &root));
    let Ok(state) = repos.state(&root).await else {
        return report;
    };
    // Same lock entry, same HEAD: the history walk would say the same again.
    if let Some(b) = before.filter(|b| b.head.as_deref() == Some(state.head.as_str())) {
        let mut same = b.clone();
        same.dirty = state.dirty;
        return same;
    }
    report.head = Some(state.head.clone());
    report.head_subject = Some(state.head_subject.clone());
    report.dirty = state.dirty;
    report.repo = Some(root.clone());
    let Some(rev) = report.locked.rev.clone() else {
        report.status = InputStatus::NoRev;
        return report;
    };
    report.locked_subject = git::subject(&root, &rev).await;
    report.status = match git::relation(&root, &rev, &state.head).await {
        Relation::Same => {
            report.behind = Some(0);
            InputStatus::Current
        }
        Relation::Behind {
            count,
            oldest_at,
            only_lock_files,
        } => {
            report.behind = Some(count);
            report.oldest_missing_at = oldest_at;
            if only_lock_files {
                InputStatus::Current
            } else {
                InputStatus::Stale
            }
        }
        Relation::Diverged { behind, .. } => {
            report.behind = Some(behind);
            InputStatus::Diverged
        }
        Relation::Unknown => InputStatus::UnknownRev,
    };
    report
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// `nix flake lock --update-input NAME` (nix before 2.19) or
/// `nix flake update NAME --flake DIR` (later), for the nix on this machine.
pub fn update_input_argv(nix_version: (u32, u32), input: &str, flake_dir: &Path) -> Vec<String> {
    let dir = flake_dir.display().to_string();
    // As nixos-rebuild does: works on a stock nix whose config lacks them.
    let mut argv: Vec<String> = ["nix", "--extra-experimental-features", "nix-command flakes"]
        .map(String::from)
        .to_vec();
    argv.extend(if nix_version >= (2, 19) {
        vec![
            "flake".into(),
            "update".into(),
            input.into(),
            "--flake".into(),
            dir,
        ]
    } else {
        vec![
            "flake".into(),
            "lock".into(),
            "--update-input".into(),
            input.into(),
            dir,
        ]
    });
    argv
}

/// Parses `nix --version` ("nix (Nix) 2.8.0") into (major, minor).
pub fn parse_nix_version(text: &str) -> Option<(u32, u32)> {
    let version = text.split_whitespace().last()?;
    let mut parts = version.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts
        .next()?
        .trim_end_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .ok()?;
    Some((major, minor))
}

/// The `--override-input NAME git+file://REPO` pairs a deploy of this host
/// adds: with `auto`, every top-level input that is the flake's own
/// repository; with a list, those inputs that resolve to a local repository.
pub fn overrides(
    policy: &crate::config::OverrideInputs,
    report: &FlakeReport,
) -> Vec<(String, String)> {
    use crate::config::OverrideInputs;
    report
        .inputs
        .iter()
        .filter(|i| !i.locked.path.contains('/') && i.locked.follows.is_none())
        .filter(|i| match policy {
            OverrideInputs::Auto => i.self_referential,
            OverrideInputs::List(names) => names.contains(&i.locked.path),
        })
        .filter_map(|i| {
            Some((
                i.locked.path.clone(),
                format!("git+file://{}", i.repo.as_ref()?.display()),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nix_versions_pick_the_update_command() {
        assert_eq!(parse_nix_version("nix (Nix) 2.8.0"), Some((2, 8)));
        assert_eq!(parse_nix_version("nix (Nix) 2.24.10\n"), Some((2, 24)));
        assert_eq!(
            parse_nix_version("nix (Lix, like Nix) 2.91.1"),
            Some((2, 91))
        );
        assert_eq!(parse_nix_version("garbage"), None);
        let dir = Path::new("/r/infra");
        assert_eq!(
            update_input_argv((2, 8), "monorepo", dir).join(" "),
            "nix --extra-experimental-features nix-command flakes flake lock --update-input monorepo /r/infra"
        );
        assert_eq!(
            update_input_argv((2, 24), "monorepo", dir).join(" "),
            "nix --extra-experimental-features nix-command flakes flake update monorepo --flake /r/infra"
        );
    }

    #[test]
    fn problems_are_the_ones_that_ship_old_code() {
        assert!(InputStatus::Stale.is_problem());
        assert!(InputStatus::Diverged.is_problem());
        assert!(InputStatus::UnknownRev.is_problem());
        assert!(!InputStatus::Current.is_problem());
        assert!(!InputStatus::Remote.is_problem());
        assert!(!InputStatus::NoRev.is_problem());
    }
}
