//! The application core: state, messages, effects and the pure `update`.
//! Nothing here touches the terminal, the network or the clock: the time
//! comes in with `Msg::Tick`.

mod messages;
pub mod modes;
mod update;

pub use messages::{DelayedMsg, Effect, Msg};
pub use update::update;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use tui_textarea::TextArea;

use crate::config::Config;
use crate::deploy::{Deploy, Plan};
use crate::keymap::Scope;
use crate::logbuf::LogBuf;
use crate::nix::check::FlakeReport;
use crate::probe::HostProbe;
use crate::secret::Secret;
use crate::systemd::UnitState;

/// The panes, in focus order (Tab).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Hosts,
    Services,
    Flake,
    Log,
}

impl Pane {
    pub const ORDER: [Pane; 4] = [Pane::Hosts, Pane::Services, Pane::Flake, Pane::Log];

    pub fn title(self) -> &'static str {
        match self {
            Pane::Hosts => "Hosts",
            Pane::Services => "Services",
            Pane::Flake => "Flake inputs",
            Pane::Log => "Log",
        }
    }

    /// Which part of the key table applies while this pane has focus.
    pub fn scope(self) -> Scope {
        match self {
            Pane::Hosts => Scope::Hosts,
            Pane::Services => Scope::Services,
            Pane::Flake => Scope::Flake,
            Pane::Log => Scope::Log,
        }
    }
}

/// What can be done to one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitAction {
    Restart,
    Reload,
    Start,
    Stop,
}

impl UnitAction {
    pub fn verb(self) -> &'static str {
        match self {
            UnitAction::Restart => "restart",
            UnitAction::Reload => "reload",
            UnitAction::Start => "start",
            UnitAction::Stop => "stop",
        }
    }

    /// The command as root: `systemctl <verb> -- <unit>` (the unit after
    /// `--`, so no name can be read as an option).
    pub fn argv(self, unit: &str) -> Vec<String> {
        vec![
            "systemctl".into(),
            self.verb().into(),
            "--".into(),
            unit.into(),
        ]
    }
}

/// A service action waiting for the user's yes (and maybe a password).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingAction {
    pub host: usize,
    pub unit: String,
    pub action: UnitAction,
    /// Exactly what will run on the host.
    pub command: String,
}

/// What waits for a sudo password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NeedsSudo {
    Unit(PendingAction),
    Deploy(Box<Plan>),
}

impl NeedsSudo {
    pub fn host(&self) -> usize {
        match self {
            NeedsSudo::Unit(p) => p.host,
            NeedsSudo::Deploy(plan) => plan.host,
        }
    }

    /// "restart nginx.service", "deploy (switch)".
    pub fn what(&self) -> String {
        match self {
            NeedsSudo::Unit(p) => format!("{} {}", p.action.verb(), p.unit),
            NeedsSudo::Deploy(plan) => format!("deploy ({})", plan.action.as_str()),
        }
    }
}

/// The masked sudo password prompt.
pub struct PasswordPrompt {
    pub pending: NeedsSudo,
    pub input: TextArea<'static>,
    /// Keep the password in memory for this session.
    pub remember: bool,
    /// Why it is asked again ("wrong sudo password").
    pub error: Option<String>,
}

impl std::fmt::Debug for PasswordPrompt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the typed text.
        f.debug_struct("PasswordPrompt")
            .field("pending", &self.pending)
            .field("remember", &self.remember)
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

/// A window drawn over the panes that takes the keys while open.
#[derive(Debug)]
pub enum Overlay {
    Help {
        scroll: usize,
    },
    ConfirmQuit,
    Confirm(PendingAction),
    UpdateLock(LockUpdate),
    CommitLock(FileCommit),
    Password(Box<PasswordPrompt>),
    /// What a deploy will run, before it does; the action can be changed.
    /// (One plan a host: the selected one, or every marked one.)
    DeployPreview(Vec<Plan>),
    /// Stop this host's running deploy?
    ConfirmStopDeploy(usize),
    /// Let this host's paused deploy activate?
    ConfirmActivation(usize),
    /// The log search box.
    Search(Box<TextArea<'static>>),
    /// Past deploys to pick one's log from.
    History {
        records: Vec<crate::deploy::history::Record>,
        cursor: usize,
    },
    /// Write the new fixed-output hash? The diff of the chosen place (Tab
    /// changes the place when there are several).
    HashFix(HashFix),
    /// Which unit's journal to follow (Tab changes it).
    PickJournal {
        host: usize,
        units: Vec<String>,
        chosen: usize,
    },
}

/// The hash fix being asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashFix {
    pub host: usize,
    pub repo: std::path::PathBuf,
    pub sites: Vec<crate::nix::hash_fix::Site>,
    pub chosen: usize,
    /// This is the blanking step: the build that learns the hash, after it.
    pub learn: Option<Vec<String>>,
    /// Put back on cancel (the blank written before the learned hash).
    pub restore: Option<crate::nix::hash_fix::Site>,
}

/// A past deploy's log, opened from the history.
#[derive(Debug, Clone)]
pub struct PastDeploy {
    pub title: String,
    pub log: LogBuf,
}

/// What a probe found, and when.
#[derive(Debug, Clone, PartialEq)]
pub struct Probed {
    pub probe: HostProbe,
    pub latency: Duration,
    /// Local time when the answer came.
    pub at: SystemTime,
}

impl Probed {
    /// A time on the host's clock as seconds before `now` on ours.
    pub fn ago(&self, host_time: u64, now: SystemTime) -> Option<u64> {
        let host_now = self.probe.now?;
        let since_probe = now.duration_since(self.at).unwrap_or_default().as_secs();
        Some(host_now.saturating_sub(host_time) + since_probe)
    }
}

/// What is known about a host.
#[derive(Debug, Clone, PartialEq)]
pub enum HostStatus {
    NotProbed,
    Up(Box<Probed>),
    /// The last probe failed: no session, or no answer in time.
    Unreachable {
        reason: String,
        manual: Option<String>,
        /// The probe ran past its deadline: the host is connected but does not answer.
        timed_out: bool,
        /// When it stopped answering (the first failed probe in a row).
        since: SystemTime,
        /// What the last good probe found, shown as stale with its age.
        last_good: Option<Box<Probed>>,
    },
}

/// Keeps at most one probe per host running and one more queued.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeSlot {
    pub in_flight: bool,
    pub queued: bool,
    pub last_started: Option<SystemTime>,
}

/// The flake inputs of a host's flake against git.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlakeStatus {
    /// The host has no `flake` in the config.
    NoFlake,
    NotChecked,
    Checked(Box<FlakeReport>),
    /// The lock could not be read: the file and the reason.
    Failed(String),
}

/// Updating one input of a host's flake.lock, waiting for the user's yes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockUpdate {
    pub host: usize,
    pub input: String,
    pub flake_dir: PathBuf,
    pub argv: Vec<String>,
    /// Before the update, this line of the flake is rewritten (the input
    /// made relative: the permanent fix of a stale self-reference).
    pub rewrite: Option<Rewrite>,
}

/// A line of a file in a repository, and what it becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrite {
    pub repo: PathBuf,
    pub site: crate::nix::hash_fix::Site,
}

/// Committing what deploytui changed in the repository (an updated
/// flake.lock, with the flake.nix a rewrite changed; a hash the fix wrote),
/// those files alone, waiting for the user's yes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileCommit {
    pub repo: PathBuf,
    pub files: Vec<PathBuf>,
    pub message: String,
    /// The deploy to offer once it is committed (or not): after a hash fix.
    pub then_deploy: Option<Plan>,
}

impl FileCommit {
    /// The git command it runs (the question shows this same argv).
    pub fn argv(&self) -> Vec<String> {
        crate::nix::git::commit_argv(&self.repo, &self.files, &self.message)
    }

    /// Its files, as the question and the flake pane name them.
    pub fn names(&self) -> String {
        let names: Vec<String> = self.files.iter().map(|f| f.display().to_string()).collect();
        names.join(" and ")
    }
}

/// What a lock update changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockDiff {
    pub input: String,
    /// What the lock pinned before and after, as people read it: a short rev,
    /// or the start of the narHash for inputs without one (`path:`).
    pub old: String,
    pub new: String,
    /// Whether flake.lock itself changed: the truth, whatever the labels say.
    pub changed: bool,
}

#[derive(Debug, Clone)]
pub struct HostState {
    pub name: String,
    pub target: String,
    pub status: HostStatus,
    pub probe: ProbeSlot,
    /// Watched units, canonical names, in config order.
    pub services: Vec<String>,
    pub flake: FlakeStatus,
    pub flake_in_flight: bool,
}

impl HostState {
    pub fn probed(&self) -> Option<&Probed> {
        match &self.status {
            HostStatus::Up(p) => Some(p),
            _ => None,
        }
    }

    /// The newest probe that worked: the current one, or the last good one
    /// of a host that stopped answering (then stale).
    pub fn last_known(&self) -> Option<&Probed> {
        match &self.status {
            HostStatus::Up(p) => Some(p),
            HostStatus::Unreachable { last_good, .. } => last_good.as_deref(),
            HostStatus::NotProbed => None,
        }
    }

    /// The state of a watched unit from the last probe.
    pub fn unit(&self, unit: &str) -> Option<&UnitState> {
        self.last_known()?
            .probe
            .services
            .iter()
            .find(|u| u.id == unit)
    }
}

/// A background task the user may be waiting on (a deploy, a restart, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub host: String,
    pub what: String,
}

pub type JobId = u64;

/// Scroll state of the log pane. `from_bottom == 0` while following.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogView {
    pub from_bottom: usize,
    pub follow: bool,
    /// Characters hidden on the left (horizontal scroll).
    pub x: usize,
    /// Long lines wrap instead of being cut (`w`).
    pub wrap: bool,
}

impl LogView {
    /// At the newest line, following, from the first column (wrapping as before).
    pub fn at_end(wrap: bool) -> LogView {
        LogView {
            from_bottom: 0,
            follow: true,
            x: 0,
            wrap,
        }
    }
}

/// A followed journal, shown in the log pane instead of the activity log.
#[derive(Debug, Clone)]
pub struct Journal {
    pub id: JobId,
    pub host: usize,
    pub unit: String,
    pub lines: LogBuf,
    /// `None` while following; why it stopped otherwise.
    pub ended: Option<String>,
}

#[derive(Debug)]
pub struct State {
    pub config: Config,
    pub hosts: Vec<HostState>,
    pub selected_host: usize,
    /// Cursor per pane (hosts use `selected_host`).
    pub service_cursor: usize,
    pub flake_cursor: usize,
    pub focus: Pane,
    pub overlay: Option<Overlay>,
    pub jobs: BTreeMap<JobId, Job>,
    /// Service actions in flight, by job, to retry after a wrong password.
    pending_actions: HashMap<JobId, PendingAction>,
    /// Lock updates in flight, by job.
    pending_locks: HashMap<JobId, LockUpdate>,
    next_id: JobId,
    /// deploytui's own activity: what it did and what went wrong.
    pub log: LogBuf,
    pub journal: Option<Journal>,
    pub log_view: LogView,
    /// The terminal's size, for the layout.
    pub screen: (u16, u16),
    /// Rows the log pane shows, so paging moves by what the user sees.
    pub log_page: usize,
    /// Columns the log pane shows.
    pub log_width: usize,
    /// One-line message in the status bar.
    pub notice: Option<String>,
    /// Hosts a refresh (`R`) still waits for; the notice says when all answered.
    pub refreshing: std::collections::BTreeSet<usize>,
    /// The notice and when a tick first saw it, so it can go after a while.
    notice_seen: Option<(String, SystemTime)>,
    /// The latest deploy of each host (by index), running or done.
    pub deploys: HashMap<usize, Deploy>,
    /// Deploys in flight: job id → host index.
    deploy_jobs: HashMap<JobId, usize>,
    /// The log pane shows the selected host's deploy (when it has one)
    /// rather than the activity log.
    pub show_deploy: bool,
    /// Hosts marked for a deploy of several at once.
    pub marked: std::collections::BTreeSet<usize>,
    /// Deploys the user said yes to that wait for their host's sudo password.
    deploy_queue: Vec<Plan>,
    /// A past deploy's log, shown in the log pane until closed.
    pub past: Option<PastDeploy>,
    /// What the log pane searches for (`/`), and the line it found last.
    pub search: Option<(String, Option<usize>)>,
    /// Sudo passwords the user let deploytui keep, per host index.
    pub passwords: HashMap<usize, Secret>,
    /// The latest time from a tick.
    pub now: SystemTime,
    /// (major, minor) of the nix on this machine, once known.
    pub nix_version: Option<(u32, u32)>,
    /// A lock file updated and not yet committed: `c` offers to commit it.
    pub uncommitted: Option<FileCommit>,
    /// The deploy to offer when this commit job ends well (a hash fix's).
    pub deploy_after_commit: Option<(JobId, Plan)>,
    pub quitting: bool,
    /// The signal that stopped running work on the way out (the process
    /// then exits 128 + its number).
    pub stopped_by: Option<&'static str>,
    /// What ended while deploytui waited to quit, never seen on screen:
    /// printed to the terminal once the TUI is gone.
    pub unseen: Vec<String>,
    /// The terminal is below the smallest size: nothing is drawn but a
    /// note, so no key may act on what cannot be seen (quitting still works).
    pub too_small: bool,
}

impl State {
    /// The user asked to quit: deploytui only waits for running work.
    pub fn waiting_to_quit(&self) -> bool {
        self.quitting || matches!(self.overlay, Some(Overlay::ConfirmQuit))
    }

    pub fn new(config: Config) -> Self {
        let hosts = config
            .hosts
            .iter()
            .map(|h| HostState {
                name: h.name.clone(),
                target: h.target.to_string(),
                status: HostStatus::NotProbed,
                probe: ProbeSlot::default(),
                services: h.services.clone(),
                flake: if h.flake.is_some() {
                    FlakeStatus::NotChecked
                } else {
                    FlakeStatus::NoFlake
                },
                flake_in_flight: false,
            })
            .collect();
        let mut log = LogBuf::new();
        log.push_line(&format!(
            "config {} ({}) with {}",
            config.path.display(),
            config.found_by,
            crate::text::count(config.hosts.len() as u64, "host", "hosts")
        ));
        State {
            hosts,
            selected_host: 0,
            service_cursor: 0,
            flake_cursor: 0,
            focus: Pane::Hosts,
            overlay: None,
            jobs: BTreeMap::new(),
            pending_actions: HashMap::new(),
            pending_locks: HashMap::new(),
            next_id: 1,
            log,
            journal: None,
            log_view: LogView {
                from_bottom: 0,
                follow: true,
                x: 0,
                wrap: false,
            },
            screen: (80, 24),
            log_page: 10,
            log_width: 80,
            too_small: false,
            notice: None,
            refreshing: Default::default(),
            notice_seen: None,
            passwords: HashMap::new(),
            deploys: HashMap::new(),
            deploy_jobs: HashMap::new(),
            show_deploy: false,
            marked: Default::default(),
            deploy_queue: Vec::new(),
            past: None,
            search: None,
            now: SystemTime::UNIX_EPOCH,
            nix_version: None,
            uncommitted: None,
            deploy_after_commit: None,
            quitting: false,
            stopped_by: None,
            unseen: Vec::new(),
            config,
        }
    }

    pub fn selected(&self) -> Option<&HostState> {
        self.hosts.get(self.selected_host)
    }

    /// The stale inputs `plan` builds as locked that could be overridden
    /// with their local checkout: what `o` in the deploy question adds.
    pub fn overridable(&self, plan: &Plan) -> Vec<(String, String)> {
        let Some(FlakeStatus::Checked(report)) = self.hosts.get(plan.host).map(|h| &h.flake) else {
            return Vec::new();
        };
        if plan.rollback.is_some() {
            return Vec::new();
        }
        let stale: Vec<String> = report
            .problems()
            .map(|i| i.locked.path.clone())
            .filter(|name| !plan.overrides.iter().any(|(o, _)| o == name))
            .collect();
        crate::nix::check::overrides(&crate::config::OverrideInputs::List(stale), report)
    }

    pub fn selected_config(&self) -> Option<&crate::config::Host> {
        self.config.hosts.get(self.selected_host)
    }

    /// The unit under the services cursor.
    pub fn selected_unit(&self) -> Option<&str> {
        self.selected()?
            .services
            .get(self.service_cursor)
            .map(String::as_str)
    }

    fn new_id(&mut self) -> JobId {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// The flake check of the selected host, if done.
    pub fn selected_flake(&self) -> Option<&FlakeReport> {
        match &self.selected()?.flake {
            FlakeStatus::Checked(report) => Some(report),
            _ => None,
        }
    }

    /// The job of the deploy running on `host`, if one runs.
    pub fn deploy_job_of(&self, host: usize) -> Option<JobId> {
        self.deploy_jobs
            .iter()
            .find(|(_, h)| **h == host)
            .map(|(id, _)| *id)
    }

    /// The deploy the log pane shows, if it shows one.
    pub fn shown_deploy(&self) -> Option<&Deploy> {
        if self.journal.is_some() || self.past.is_some() || !self.show_deploy {
            return None;
        }
        self.deploys.get(&self.selected_host)
    }

    /// The buffer the log pane shows: the followed journal, else the
    /// selected host's deploy (when shown), else the activity log.
    pub fn shown_log(&self) -> &LogBuf {
        if let Some(j) = &self.journal {
            return &j.lines;
        }
        if let Some(p) = &self.past {
            return &p.log;
        }
        self.shown_deploy().map_or(&self.log, |d| &d.log)
    }
}
