//! The application core: state, messages, effects and the pure `update`.
//! Nothing here touches the terminal, the network or the clock.

mod update;

pub use update::update;

use std::collections::BTreeMap;
use std::time::SystemTime;

use crossterm::event::KeyEvent;

use crate::config::Config;
use crate::keymap::Scope;
use crate::logbuf::LogBuf;

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

/// A window drawn over the panes that takes the keys while open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overlay {
    Help { scroll: usize },
    ConfirmQuit,
}

/// What is known about a host. Filled by probes (later); until then it says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostStatus {
    NotProbed,
}

/// A watched service on a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRow {
    pub unit: String,
    pub state: ServiceStatus,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceStatus {
    NotProbed,
}

/// The flake inputs of a host's flake against git.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlakeStatus {
    /// The host has no `flake` in the config.
    NoFlake,
    NotChecked,
}

#[derive(Debug, Clone)]
pub struct HostState {
    pub name: String,
    pub target: String,
    pub status: HostStatus,
    pub services: Vec<ServiceRow>,
    pub flake: FlakeStatus,
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
    /// deploytui's own activity: what it did and what went wrong.
    pub log: LogBuf,
    pub log_view: LogView,
    /// Rows the last drawn log pane had, so paging moves by what the user sees.
    pub log_page: usize,
    /// One-line message in the status bar.
    pub notice: Option<String>,
    pub quitting: bool,
}

/// Everything that can change the state: input and task results.
#[derive(Debug, Clone)]
pub enum Msg {
    Key(KeyEvent),
    /// The terminal was resized; the log pane now shows this many rows.
    Resize {
        log_rows: usize,
    },
    /// A second passed (relative times are redrawn).
    Tick(SystemTime),
    /// A line for the activity log from a task.
    Log(String),
    JobFinished {
        id: JobId,
        outcome: Result<String, String>,
    },
}

/// Work for the runtime to do outside `update`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Leave the TUI: stop tasks, restore the terminal.
    Quit,
}

impl State {
    pub fn new(config: Config) -> Self {
        let hosts = config
            .hosts
            .iter()
            .map(|h| HostState {
                name: h.name.clone(),
                target: h.target.to_string(),
                status: HostStatus::NotProbed,
                services: h
                    .services
                    .iter()
                    .map(|u| ServiceRow {
                        unit: u.clone(),
                        state: ServiceStatus::NotProbed,
                    })
                    .collect(),
                flake: if h.flake.is_some() {
                    FlakeStatus::NotChecked
                } else {
                    FlakeStatus::NoFlake
                },
            })
            .collect();
        let mut log = LogBuf::new();
        log.push_line(&format!(
            "config {} ({}) with {} host(s)",
            config.path.display(),
            config.found_by,
            config.hosts.len()
        ));
        State {
            hosts,
            selected_host: 0,
            service_cursor: 0,
            flake_cursor: 0,
            focus: Pane::Hosts,
            overlay: None,
            jobs: BTreeMap::new(),
            log,
            log_view: LogView {
                from_bottom: 0,
                follow: true,
            },
            log_page: 10,
            notice: None,
            quitting: false,
            config,
        }
    }

    pub fn selected(&self) -> Option<&HostState> {
        self.hosts.get(self.selected_host)
    }

    pub fn selected_config(&self) -> Option<&crate::config::Host> {
        self.config.hosts.get(self.selected_host)
    }
}
