//! The messages `update` takes (input and task results) and the effects it
//! asks the runtime for.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crossterm::event::KeyEvent;

use super::{FileCommit, JobId, LockDiff, LockUpdate};
use crate::config::FlakeRef;
use crate::deploy::Plan;
use crate::nix::check::FlakeReport;
use crate::probe::HostProbe;
use crate::remote::{CommandOutput, RemoteError};
use crate::secret::Secret;

/// Everything that can change the state: input and task results.
#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    /// The terminal has this size now.
    Resize {
        width: u16,
        height: u16,
    },
    /// Time passed (relative times, refresh schedule).
    Tick(SystemTime),
    /// A line for the activity log from a task.
    Log(String),
    /// Something the user must see now: the activity log and the status bar.
    Warn(String),
    /// SIGTERM or SIGHUP (`kill`, a closed terminal window): quit as a
    /// confirmed quit while working does, nothing asked.
    Terminated(&'static str),
    JobFinished {
        id: JobId,
        outcome: Result<String, String>,
    },
    /// Time to fetch the host's HTTP check again (after a restart).
    HttpCheckDue {
        host: usize,
    },
    /// The host's current generation and the one before it.
    GenerationsRead {
        host: usize,
        result: Result<
            (
                crate::deploy::generations::Generation,
                crate::deploy::generations::Generation,
            ),
            String,
        >,
    },
    /// Where the stale fixed-output hash is in the repository.
    HashSitesFound {
        host: usize,
        repo: std::path::PathBuf,
        result: Result<crate::nix::hash_fix::Found, String>,
    },
    /// The hash nix gave with the blank one in place: the edit that writes
    /// it, or why there is none (the blank was put back).
    HashLearned {
        host: usize,
        repo: std::path::PathBuf,
        blanked: crate::nix::hash_fix::Site,
        result: Result<crate::nix::hash_fix::Site, String>,
    },
    /// The new hash was written (or why not).
    HashWritten {
        host: usize,
        repo: std::path::PathBuf,
        site: crate::nix::hash_fix::Site,
        fix: bool,
        result: Result<(), String>,
    },
    /// What the host's HTTP check served.
    HttpChecked {
        host: usize,
        served: crate::deploy::http_check::Served,
    },
    /// Ask for a probe of a host (from a delayed effect).
    ProbeDue {
        host: usize,
    },
    ProbeDone {
        host: usize,
        result: Result<(HostProbe, Duration), RemoteError>,
        at: SystemTime,
    },
    UnitActionDone {
        id: JobId,
        result: Result<CommandOutput, RemoteError>,
    },
    /// One line of a followed command, as the host sent it (the log pane filters it).
    FollowLine {
        id: JobId,
        line: Vec<u8>,
    },
    FollowEnded {
        id: JobId,
        reason: String,
    },
    FlakeChecked {
        host: usize,
        result: Result<FlakeReport, String>,
    },
    NixVersion((u32, u32)),
    LockUpdated {
        id: JobId,
        result: Result<LockDiff, String>,
    },
    /// The line of flake.nix a relative input rewrites, found (the update
    /// to ask about) or not (why).
    RelativeSiteFound(Result<LockUpdate, String>),
    /// A step of a deploy started, printed, ended.
    Deploy {
        id: JobId,
        event: crate::deploy::Event,
    },
    /// The deploy's runner stopped (every step reported, or cancelled).
    DeployEnded {
        id: JobId,
        ok: bool,
    },
    HistoryListed(Vec<crate::deploy::history::Record>),
    HistoryLoaded {
        title: String,
        result: Result<String, String>,
    },
}

/// Work for the runtime to do outside `update`.
#[derive(Debug, PartialEq, Eq)]
pub enum Effect {
    /// Leave the TUI: stop tasks, restore the terminal.
    Quit,
    /// Run the probe on a host (one round trip).
    Probe {
        host: usize,
        units: Vec<String>,
    },
    /// Read the host's system generations (for a rollback).
    ReadGenerations {
        host: usize,
    },
    /// Look for the stale fixed-output hash in the repository.
    FindHashSites {
        host: usize,
        repo: std::path::PathBuf,
        stale: crate::nix::hash_fix::Stale,
    },
    /// Blank the hash at `site`, run `argv` (the host's build) to learn
    /// the right one from nix.
    LearnHash {
        host: usize,
        repo: std::path::PathBuf,
        site: crate::nix::hash_fix::Site,
        argv: Vec<String>,
    },
    /// Write the new hash at one place (inside the repository only).
    WriteHash {
        host: usize,
        repo: std::path::PathBuf,
        site: crate::nix::hash_fix::Site,
        /// A fix (the deploy is offered again), not a blank put back.
        fix: bool,
    },
    /// Fetch the host's HTTP check page on the host.
    HttpCheck {
        host: usize,
        check: crate::config::HttpCheck,
        rev: Option<String>,
    },
    /// Run a systemctl action as root on a host.
    UnitAction {
        id: JobId,
        host: usize,
        argv: Vec<String>,
        password: Option<Secret>,
    },
    /// Stream a command's lines (journalctl -f) as `FollowLine`s.
    Follow {
        id: JobId,
        host: usize,
        argv: Vec<String>,
    },
    StopFollow {
        id: JobId,
    },
    /// Compare the host's flake.lock with git (local, no ssh).
    CheckFlake {
        host: usize,
        flake: FlakeRef,
        running_rev: Option<String>,
        /// The last report, whose unchanged comparisons can be reused.
        previous: Option<Box<FlakeReport>>,
    },
    /// Find the line of `update`'s flake.nix that names `url` and make it
    /// `relative` (read here, never written), then ask.
    FindRelativeSite {
        update: LockUpdate,
        repo: std::path::PathBuf,
        url: String,
        relative: String,
    },
    /// Run a lock update here and report the input's old and new rev.
    UpdateLock {
        id: JobId,
        update: LockUpdate,
    },
    /// Run a deploy (build here, then the host).
    Deploy {
        id: JobId,
        plan: Box<Plan>,
        password: Option<Secret>,
    },
    /// Show `text` in $PAGER, the TUI suspended meanwhile.
    Pager {
        text: String,
    },
    /// Read the kept deploys' records.
    ListHistory {
        dir: std::path::PathBuf,
    },
    /// Read a kept deploy's log.
    LoadHistory {
        folder: PathBuf,
        title: String,
    },
    /// The user's answer to a deploy paused before activation.
    Approve {
        id: JobId,
        host: usize,
        yes: bool,
    },
    /// Stop a running deploy: its local processes, its remote command.
    StopDeploy {
        id: JobId,
        host: usize,
    },
    /// `git commit` the lock file alone.
    CommitLock {
        id: JobId,
        commit: FileCommit,
    },
    /// Send this message back after a while.
    Later {
        after: Duration,
        msg: DelayedMsg,
    },
}

/// Messages an effect may schedule (a subset of `Msg` that is `Eq`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DelayedMsg {
    ProbeDue { host: usize },
    HttpCheckDue { host: usize },
}

impl From<DelayedMsg> for Msg {
    fn from(m: DelayedMsg) -> Msg {
        match m {
            DelayedMsg::ProbeDue { host } => Msg::ProbeDue { host },
            DelayedMsg::HttpCheckDue { host } => Msg::HttpCheckDue { host },
        }
    }
}
