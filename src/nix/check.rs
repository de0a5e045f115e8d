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
    /// A local input that could not be compared (see `note`).
    Unchecked,
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

/// The status in words, the same numbers everywhere (pane, text, log):
/// `short` for the pane's column, long for the text output and the log.
pub fn summary(i: &InputReport, short: bool) -> String {
    let plural = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let lock_only = match i.lock_only.unwrap_or(0) {
        0 => String::new(),
        n if short => format!(" (+{n} lock)"),
        n => format!(
            " (+{})",
            plural(
                n,
                "commit that only changes flake.lock",
                "commits that only change flake.lock"
            )
        ),
    };
    match i.status {
        InputStatus::Current if i.locked.relative && short => "current (relative)".into(),
        InputStatus::Current if i.locked.relative => {
            "current (relative: follows this repository)".into()
        }
        InputStatus::Current => format!("current{lock_only}"),
        InputStatus::Stale => match i.behind.unwrap_or(0) {
            0 if short => "stale: changed, uncommitted".into(),
            0 => "stale: the folder changed since the lock (not committed)".into(),
            n if short => format!("stale: {n} behind{lock_only}"),
            n => format!(
                "stale: {} behind HEAD{lock_only}",
                plural(n, "commit", "commits")
            ),
        },
        InputStatus::Diverged => "diverged from HEAD".into(),
        InputStatus::UnknownRev if short => "locked rev not in repo".into(),
        InputStatus::UnknownRev => "locked rev not in the repository".into(),
        InputStatus::NoRev if short => "locked from a dirty tree".into(),
        InputStatus::NoRev => "locked from a dirty tree (no rev)".into(),
        InputStatus::Remote => "remote".into(),
        InputStatus::Follows => format!("follows {}", i.locked.follows.as_deref().unwrap_or("?")),
        InputStatus::Unchecked if short => "cannot compare".into(),
        InputStatus::Unchecked => format!(
            "cannot compare: {}",
            i.note.as_deref().unwrap_or("no reason given")
        ),
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
    /// Commits on HEAD that the lock lacks and that change what is built
    /// (lock-only commits are not counted here, see `lock_only`).
    pub behind: Option<u64>,
    /// Commits on HEAD that the lock lacks and that touch only flake.lock files.
    pub lock_only: Option<u64>,
    /// When the oldest of the `behind` commits was made (unix seconds).
    pub oldest_missing_at: Option<u64>,
    pub locked_subject: Option<String>,
    pub head_subject: Option<String>,
    /// Uncommitted tracked files in that repository.
    pub dirty: Vec<String>,
    /// For a `path:` input: the folder's NAR hash now, as nix would lock it.
    pub nar_hash_now: Option<String>,
    /// Why the input could not be compared (status `unchecked`).
    pub note: Option<String>,
    /// What git said about a `path:` input's folder (HEAD and its changes)
    /// when it was hashed: the hash is taken again only when this changes.
    #[serde(skip)]
    pub folder_state: Option<String>,
}

impl InputReport {
    /// An input not compared yet: what the lock says, nothing more.
    pub fn new(locked: LockedInput, status: InputStatus) -> InputReport {
        InputReport {
            locked,
            status,
            self_referential: false,
            repo: None,
            head: None,
            behind: None,
            lock_only: None,
            oldest_missing_at: None,
            locked_subject: None,
            head_subject: None,
            dirty: Vec::new(),
            nar_hash_now: None,
            note: None,
            folder_state: None,
        }
    }
}

/// The running system's commit against HEAD.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunningReport {
    pub rev: String,
    /// Commits on HEAD the host does not run, counted as an input's
    /// `behind` (lock-only commits apart); `None` when unknown.
    pub behind: Option<u64>,
    pub lock_only: Option<u64>,
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
    check_with(flake, running_rev, previous, &mut RepoCache::default()).await
}

/// As `check`, asking git through `repos`: many hosts' flakes in one
/// repository (a monorepo) ask it about its HEAD and changes once, not
/// once each.
pub async fn check_with(
    flake: &FlakeRef,
    running_rev: Option<&str>,
    previous: Option<&FlakeReport>,
    repos: &mut RepoCache,
) -> Result<FlakeReport, LockError> {
    repos.locked_at = None;
    // Reading and parsing a big lock is blocking work: off the async threads.
    let dir = flake.path.clone();
    let inputs = tokio::task::spawn_blocking(move || lock::read(&dir))
        .await
        .map_err(|e| LockError {
            file: flake.path.join("flake.lock"),
            message: format!("reading the lock stopped: {e}"),
        })??;
    let flake_repo = repos.root(&flake.path).await;
    let flake_state = match &flake_repo {
        Some(root) => repos.state(root).await.ok(),
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
    let context = Context {
        flake_repo: flake_repo.as_deref(),
        flake_dir: &flake.path,
        flake_state: flake_state.as_ref(),
    };
    // The host often runs the very commit an input is locked at (a stale
    // self-reference): that comparison is made once. Otherwise the running
    // commit is compared at the same time: two walks that need not wait.
    let running_commit = running_rev.map(|r| r.trim_end_matches("-dirty"));
    let locked_there =
        running_commit.is_some_and(|c| inputs.iter().any(|i| i.rev.as_deref() == Some(c)));
    let running_compared = || {
        compare_running(
            running_rev,
            previous,
            flake_repo.as_deref(),
            flake_state.as_ref(),
        )
    };
    let compare_inputs = async {
        let mut reports = Vec::with_capacity(inputs.len());
        for input in inputs {
            let before = before
                .get(input.path.as_str())
                .copied()
                .filter(|b| b.locked == input);
            reports.push(compare_input(input, context, before, repos).await);
        }
        reports
    };
    let (reports, running) = if locked_there {
        let reports = compare_inputs.await;
        let same = reports.iter().find(|i| {
            i.locked.rev.as_deref() == running_commit
                && i.repo.is_some()
                && i.repo == flake_repo
                && i.head == flake_state.as_ref().map(|s| s.head.clone())
        });
        let running = match (same, running_rev) {
            (Some(i), Some(rev)) if i.behind.is_some() => Some(RunningReport {
                rev: rev.to_string(),
                behind: i.behind,
                lock_only: i.lock_only,
            }),
            _ => running_compared().await,
        };
        (reports, running)
    } else {
        tokio::join!(compare_inputs, running_compared())
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

/// How far the commit the host runs is behind HEAD (reused from `previous`
/// while HEAD and that commit are the same).
async fn compare_running(
    running_rev: Option<&str>,
    previous: Option<&FlakeReport>,
    flake_repo: Option<&Path>,
    flake_state: Option<&git::RepoState>,
) -> Option<RunningReport> {
    let unchanged_running = previous
        .filter(|p| p.head == flake_state.map(|s| s.head.clone()))
        .and_then(|p| p.running.clone())
        .filter(|r| Some(r.rev.as_str()) == running_rev);
    match (running_rev, flake_repo, flake_state) {
        _ if unchanged_running.is_some() => unchanged_running,
        (Some(rev), Some(root), Some(state)) => {
            // A build from a dirty tree records `<rev>-dirty`: compare its commit.
            let commit = rev.trim_end_matches("-dirty");
            let missing = git::compare(root, commit, &state.head)
                .await
                .map(|(_, m)| m);
            Some(RunningReport {
                rev: rev.to_string(),
                behind: missing.map(|m| m.behind),
                lock_only: missing.map(|m| m.lock_only),
            })
        }
        (Some(rev), _, _) => Some(RunningReport {
            rev: rev.to_string(),
            behind: None,
            lock_only: None,
        }),
        _ => None,
    }
}

/// About the flake, for comparing each of its inputs.
#[derive(Clone, Copy)]
struct Context<'a> {
    /// The repository that holds the flake.
    flake_repo: Option<&'a Path>,
    flake_dir: &'a Path,
    flake_state: Option<&'a git::RepoState>,
}

/// When the lock was taken, as well as can be told: the time of the commit
/// that last changed flake.lock, or the file's own time when it has
/// uncommitted changes. Asked only when a `path:` input changed: finding
/// that commit walks history.
async fn locked_at(context: Context<'_>, repos: &mut RepoCache) -> Option<u64> {
    if let Some(known) = repos.locked_at {
        return known;
    }
    let at = lock_time(context.flake_dir, context.flake_repo, context.flake_state).await;
    repos.locked_at = Some(at);
    at
}

async fn lock_time(
    flake_dir: &Path,
    repo: Option<&Path>,
    state: Option<&git::RepoState>,
) -> Option<u64> {
    let file = flake_dir.join("flake.lock");
    let mtime = || {
        let modified = std::fs::metadata(&file).ok()?.modified().ok()?;
        Some(
            modified
                .duration_since(std::time::UNIX_EPOCH)
                .ok()?
                .as_secs(),
        )
    };
    let (Some(repo), Some(state)) = (repo, state) else {
        return mtime();
    };
    let rel = file.strip_prefix(repo).ok()?.to_string_lossy().into_owned();
    if state.dirty.contains(&rel) {
        return mtime();
    }
    git::last_change(repo, &rel).await.or_else(mtime)
}

/// What git said about each folder: which repository holds it (asked once:
/// that does not change), and each repository's HEAD and changes, reused
/// while fresh (`fresh_for`: by default for as long as the cache lives, one
/// check; the TUI's checker keeps it for one tick, shared by every host).
pub struct RepoCache {
    roots: HashMap<PathBuf, Option<PathBuf>>,
    states: HashMap<PathBuf, (std::time::Instant, Result<git::RepoState, String>)>,
    fresh_for: std::time::Duration,
    /// The lock time of the flake being checked (reset for each).
    locked_at: Option<Option<u64>>,
}

impl Default for RepoCache {
    fn default() -> Self {
        RepoCache::fresh_for(std::time::Duration::MAX)
    }
}

impl RepoCache {
    /// A cache whose repository states are asked again after `fresh_for`.
    pub fn fresh_for(fresh_for: std::time::Duration) -> Self {
        RepoCache {
            roots: HashMap::new(),
            states: HashMap::new(),
            fresh_for,
            locked_at: None,
        }
    }

    /// Forgets every repository's state (the folders' roots are kept): the
    /// next check asks git again, as after `fresh_for`.
    pub fn forget_states(&mut self) {
        self.states.clear();
    }

    async fn root(&mut self, dir: &Path) -> Option<PathBuf> {
        if let Some(root) = self.roots.get(dir) {
            return root.clone();
        }
        let root = git::repo_root(dir).await;
        // A folder outside any repository may become one: asked again.
        if root.is_some() {
            self.roots.insert(dir.to_path_buf(), root.clone());
        }
        root
    }

    async fn state(&mut self, root: &Path) -> Result<git::RepoState, String> {
        if let Some((at, state)) = self.states.get(root) {
            if at.elapsed() < self.fresh_for {
                return state.clone();
            }
        }
        let state = git::repo_state(root).await;
        self.states.insert(
            root.to_path_buf(),
            (std::time::Instant::now(), state.clone()),
        );
        state
    }
}

async fn compare_input(
    locked: LockedInput,
    context: Context<'_>,
    before: Option<&InputReport>,
    repos: &mut RepoCache,
) -> InputReport {
    let mut report = InputReport::new(locked, InputStatus::Remote);
    if report.locked.follows.is_some() {
        report.status = InputStatus::Follows;
        return report;
    }
    let Some(dir) = report.locked.local_path.clone() else {
        return report;
    };
    let root = repos.root(&dir).await;
    if report.locked.kind == "path" {
        return compare_path(report, &dir, root, context, before, repos).await;
    }
    let Some(root) = root else {
        return report;
    };
    report.self_referential = context.flake_repo.is_some_and(|f| same_dir(f, &root));
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
    let (subject, relation) = tokio::join!(
        git::subject(&root, &rev),
        git::relation(&root, &rev, &state.head)
    );
    report.locked_subject = subject;
    report.status = match relation {
        Relation::Same => {
            report.behind = Some(0);
            report.lock_only = Some(0);
            InputStatus::Current
        }
        Relation::Behind(missing) => status_of(&mut report, missing),
        Relation::Diverged { behind, .. } => {
            report.behind = Some(behind);
            InputStatus::Diverged
        }
        Relation::Unknown => InputStatus::UnknownRev,
    };
    report
}

/// A `path:` lock carries no rev: what it pins is the folder's content, by
/// NAR hash. Stale when the folder hashes differently now (a deploy would
/// build the locked copy); the commits to the folder since the lock was
/// taken are the evidence, counted as for git inputs.
async fn compare_path(
    mut report: InputReport,
    dir: &Path,
    root: Option<PathBuf>,
    context: Context<'_>,
    before: Option<&InputReport>,
    repos: &mut RepoCache,
) -> InputReport {
    let state = match &root {
        Some(r) => repos.state(r).await.ok(),
        None => None,
    };
    if let (Some(root), Some(state)) = (&root, &state) {
        report.self_referential = context.flake_repo.is_some_and(|f| same_dir(f, root));
        report.repo = Some(root.clone());
        report.head = Some(state.head.clone());
        report.head_subject = Some(state.head_subject.clone());
        report.dirty = state.dirty.clone();
        report.folder_state = git::folder_status(root, dir)
            .await
            .ok()
            .map(|changes| format!("{}\n{changes}", state.head));
    }
    // A relative input (nix 2.26+) is read from the tree of the flake that
    // names it, at whatever that flake is built from: never stale, and
    // never to be overridden (that would copy the whole folder instead).
    if report.locked.relative {
        report.status = InputStatus::Current;
        report.behind = Some(0);
        report.lock_only = Some(0);
        return report;
    }
    // Hashing walks the whole folder: again only when git sees a change in it.
    // (A folder outside git is hashed on every check.)
    if let Some(b) =
        before.filter(|b| b.folder_state.is_some() && b.folder_state == report.folder_state)
    {
        let mut same = b.clone();
        same.dirty = report.dirty;
        return same;
    }
    let Some(locked) = report.locked.nar_hash.clone() else {
        report.status = InputStatus::Unchecked;
        report.note = Some("the lock has no narHash for this path".into());
        return report;
    };
    let now = match nar_hash(dir).await {
        Ok(hash) => hash,
        Err(e) => {
            report.status = InputStatus::Unchecked;
            report.note = Some(e);
            return report;
        }
    };
    let same = now == locked;
    report.nar_hash_now = Some(now);
    if same {
        report.behind = Some(0);
        report.lock_only = Some(0);
        report.status = InputStatus::Current;
        return report;
    }
    // The lock holds what the folder had when it was taken: commits after
    // both its `lastModified` (the files' newest time) and the lock itself.
    let since = report
        .locked
        .last_modified
        .max(locked_at(context, repos).await);
    let missing = match (&root, since) {
        (Some(root), Some(since)) => git::missing_since(root, dir, since).await,
        _ => git::Missing::default(),
    };
    report.behind = Some(missing.behind);
    report.lock_only = Some(missing.lock_only);
    report.oldest_missing_at = missing.oldest_at;
    // The content differs even when no commit does (uncommitted or untracked files).
    report.status = InputStatus::Stale;
    report
}

/// The NAR hash of a folder as nix locks a `path:` input (`sha256-…`).
pub async fn nar_hash(dir: &Path) -> Result<String, String> {
    let out = tokio::process::Command::new("nix")
        .args(NIX_FLAGS)
        .args(["hash", "path", "--sri", "--type", "sha256", "--"])
        .arg(dir)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("cannot run nix to hash {}: {e}", dir.display()))?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if out.status.success() && text.starts_with("sha256-") && !text.contains(char::is_whitespace) {
        Ok(text)
    } else {
        Err(format!(
            "nix hash path {}: {}",
            dir.display(),
            crate::text::quote(String::from_utf8_lossy(&out.stderr).trim())
        ))
    }
}

/// Stale when HEAD has commits that change what is built; lock-only ones
/// alone leave the input current.
fn status_of(report: &mut InputReport, missing: git::Missing) -> InputStatus {
    report.behind = Some(missing.behind);
    report.lock_only = Some(missing.lock_only);
    report.oldest_missing_at = missing.oldest_at;
    if missing.behind > 0 {
        InputStatus::Stale
    } else {
        InputStatus::Current
    }
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Given to every nix deploytui runs, as nixos-rebuild does: flakes work
/// on a stock nix whose config does not enable them.
pub const NIX_FLAGS: [&str; 2] = ["--extra-experimental-features", "nix-command flakes"];

/// `nix flake lock --update-input NAME` (nix before 2.19) or
/// `nix flake update NAME --flake DIR` (later), for the nix on this machine.
pub fn update_input_argv(nix_version: (u32, u32), input: &str, flake_dir: &Path) -> Vec<String> {
    let dir = flake_dir.display().to_string();
    // As nixos-rebuild does: works on a stock nix whose config lacks them.
    let mut argv: Vec<String> = std::iter::once("nix")
        .chain(NIX_FLAGS)
        .map(String::from)
        .collect();
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

/// The version of the `nix` on PATH (`nix --version`), if it answers.
pub async fn local_nix_version() -> Option<(u32, u32)> {
    let out = tokio::process::Command::new("nix")
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .ok()?;
    parse_nix_version(&String::from_utf8_lossy(&out.stdout))
}

/// The permanent fix of a stale self-reference, where nix is 2.26 or newer:
/// the input as a path relative to the flake's folder (`path:../../..`),
/// read from the flake's own tree, so it never goes stale. For a top-level
/// input that names the root of the flake's own repository.
pub fn relative_fix(input: &InputReport, flake_dir: &Path) -> Option<String> {
    if !input.self_referential || input.locked.relative || input.locked.dir.is_some() {
        return None;
    }
    if input.locked.path.contains('/') || !matches!(input.locked.kind.as_str(), "git" | "path") {
        return None;
    }
    let repo = input.repo.as_ref()?;
    let inside = flake_dir.strip_prefix(repo).ok()?;
    let ups = inside.components().count();
    (ups > 0).then(|| format!("path:{}", vec![".."; ups].join("/")))
}

/// What to say when the local nix is older than 2.26 and the lock has a
/// relative `path:` input: such a nix cannot read the lock at all.
pub fn old_nix_and_relative_inputs(
    nix_version: Option<(u32, u32)>,
    report: &FlakeReport,
) -> Option<String> {
    let (major, minor) = nix_version.filter(|v| *v < (2, 26))?;
    let relative = report.inputs.iter().find(|i| i.locked.relative)?;
    Some(format!(
        "input {} is relative (nix 2.26+), but the nix here is {major}.{minor}: it cannot \
         read this lock, so builds and lock updates fail; use nix 2.26 or newer",
        relative.locked.path
    ))
}

/// The `--override-input NAME URL` pairs a deploy of this host adds: with
/// `auto`, every top-level input that comes from the flake's own repository;
/// with a list, those inputs that resolve to a local folder. The URL names
/// the same flake the input does: a `path:` input stays a `path:` to its
/// folder, a git input keeps its `?dir=`.
pub fn overrides(
    policy: &crate::config::OverrideInputs,
    report: &FlakeReport,
) -> Vec<(String, String)> {
    use crate::config::OverrideInputs;
    report
        .inputs
        .iter()
        .filter(|i| !i.locked.path.contains('/') && i.locked.follows.is_none())
        // A relative input already builds what the flake is built from.
        .filter(|i| !i.locked.relative)
        .filter(|i| match policy {
            OverrideInputs::Auto => i.self_referential,
            OverrideInputs::List(names) => names.contains(&i.locked.path),
        })
        .filter_map(|i| Some((i.locked.path.clone(), override_url(i)?)))
        .collect()
}

fn override_url(i: &InputReport) -> Option<String> {
    if i.locked.kind == "path" {
        return Some(format!("path:{}", i.locked.local_path.as_ref()?.display()));
    }
    let repo = i.repo.as_ref()?;
    Some(match &i.locked.dir {
        Some(dir) => format!("git+file://{}?dir={dir}", repo.display()),
        None => format!("git+file://{}", repo.display()),
    })
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
