//! Deploys: the plan (exactly what will run), the steps a deploy goes
//! through, and its state as events arrive. Pure: the runner
//! (`deploy::native`) does the work and reports `Event`s; the TUI and
//! headless `deploy` fold them with the same `Deploy::apply`.

pub mod activate;
pub mod activation;
pub mod diagnosis;
pub mod generations;
pub mod history;
pub mod host_lock;
pub mod http_check;
pub mod native;
mod plan;
pub mod rebuild;

pub use native::Context;
pub use plan::*;

use std::time::SystemTime;

use serde::Serialize;

use crate::logbuf::LogBuf;
use crate::nix::internal_json::{self, Progress};
use activation::Activation;

/// What switch-to-configuration is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum SwitchAction {
    /// Activate now and on boot.
    Switch,
    /// Activate on the next boot only.
    Boot,
    /// Activate now, not on boot.
    Test,
    /// Say what switch would do, do nothing.
    DryActivate,
}

impl SwitchAction {
    pub const ALL: [SwitchAction; 4] = [
        SwitchAction::Switch,
        SwitchAction::Boot,
        SwitchAction::Test,
        SwitchAction::DryActivate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SwitchAction::Switch => "switch",
            SwitchAction::Boot => "boot",
            SwitchAction::Test => "test",
            SwitchAction::DryActivate => "dry-activate",
        }
    }

    /// `boot` and `switch` make the new system the profile's newest
    /// generation; `test` and `dry-activate` do not (as nixos-rebuild).
    pub fn sets_profile(self) -> bool {
        matches!(self, SwitchAction::Switch | SwitchAction::Boot)
    }

    /// Whether the running system is the new one afterwards.
    pub fn changes_running(self) -> bool {
        matches!(self, SwitchAction::Switch | SwitchAction::Test)
    }
}

/// Runs the plan with its engine, reporting `Event`s; returns whether every
/// step worked. `approval` answers `confirm_activation` (native only).
pub async fn run(
    plan: &Plan,
    cx: &Context<'_>,
    events: &crate::deploy::Events,
    approval: Option<tokio::sync::oneshot::Receiver<bool>>,
) -> bool {
    match plan.engine {
        PlanEngine::Native => native::run(plan, cx, events, approval).await,
        PlanEngine::NixosRebuild { .. } => rebuild::run(plan, cx, events).await,
    }
}

/// The steps of a deploy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepKind {
    /// Take the host's deploy lock (one deploy per host, whoever starts it).
    Lock,
    /// Evaluate and build the system here.
    Build,
    /// Copy its closure to the host.
    Copy,
    /// What the new system changes on the host (versions, store paths).
    Changes,
    /// Make it the system profile's newest generation.
    Profile,
    /// switch-to-configuration.
    Activate,
    /// The host runs what was built.
    Verify,
}

impl StepKind {
    pub fn name(self) -> &'static str {
        match self {
            StepKind::Lock => "lock",
            StepKind::Build => "build",
            StepKind::Copy => "copy",
            StepKind::Changes => "changes",
            StepKind::Profile => "profile",
            StepKind::Activate => "activate",
            StepKind::Verify => "verify",
        }
    }
}

/// Where a step is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", content = "detail", rename_all = "kebab-case")]
pub enum StepState {
    Waiting,
    Running,
    Done(String),
    Failed(String),
    /// It ran, but could not tell (verify could not reach the host): not a
    /// failure, and not a success either.
    Unknown(String),
    /// Not run: an earlier step failed, or the deploy was cancelled.
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub kind: StepKind,
    pub state: StepState,
    pub started: Option<SystemTime>,
    pub ended: Option<SystemTime>,
}

/// How many reports wait for their reader at most. Output comes in chunks
/// of up to `native::FLUSH_LINES` lines, so this bounds what a flood holds in
/// memory; past it, the runner waits, and so does the host's stream behind
/// it (ssh and the pipe hold the rest, as they do for a slow terminal).
pub const EVENTS_WAITING: usize = 64;

/// Where a deploy's runner reports (bounded: see `EVENTS_WAITING`).
#[derive(Clone)]
pub struct Events(tokio::sync::mpsc::Sender<Event>);

impl Events {
    pub fn channel() -> (Events, tokio::sync::mpsc::Receiver<Event>) {
        let (tx, rx) = tokio::sync::mpsc::channel(EVENTS_WAITING);
        (Events(tx), rx)
    }

    /// Sends one report, waiting while the reader is behind. A reader that
    /// is gone is no error: the deploy goes on, as it does on the host.
    pub async fn send(&self, event: Event) {
        let _ = self.0.send(event).await;
    }
}

/// What the runner reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Started(StepKind),
    /// Output of a step, a chunk of whole lines at a time (never one
    /// message per line: a flood costs one redraw per frame).
    Output(StepKind, Vec<String>),
    /// nix's internal-json output of a step, already read off the screen's
    /// thread (by the deploy's own task), a chunk at a time.
    Nix(StepKind, Vec<internal_json::Event>),
    /// The step ended: what it achieved, or why it failed.
    Finished(StepKind, Result<String, String>),
    /// The step ended without an answer: why it could not tell.
    Unknown(StepKind, String),
    /// The built system's store path.
    Built(String),
    /// The system the host ran before the deploy.
    Before(Option<String>),
    /// The user stopped it: the running step is cut short.
    Cancelled,
    /// It waits for a free slot (`parallel` deploys run at once).
    Waiting,
    /// It showed what will change and waits for the user's yes
    /// (`confirm_activation`).
    AwaitingYes,
    /// The host (its system and watched services) after the deploy.
    After(Box<crate::probe::HostProbe>),
    /// What the host's HTTP check served after the deploy.
    Served(http_check::Served),
}

/// One deploy as it goes: its steps, its whole log, and what nix reported.
#[derive(Debug, Clone)]
pub struct Deploy {
    pub plan: Plan,
    pub steps: Vec<Step>,
    pub log: LogBuf,
    pub progress: Progress,
    pub activation: Activation,
    pub built: Option<String>,
    pub before: Option<String>,
    /// The host as it was looked at after the deploy.
    pub after: Option<Box<crate::probe::HostProbe>>,
    /// What its HTTP check served last (after the deploy, after a restart).
    pub served: Option<http_check::Served>,
    pub started: SystemTime,
    pub ended: Option<SystemTime>,
    /// Queued behind other deploys (`parallel`).
    pub waiting: bool,
    /// Paused before activation for the user's yes.
    pub awaiting_yes: bool,
    /// What went wrong or silently did not happen, once it ended.
    pub diagnoses: Vec<diagnosis::Diagnosis>,
    /// The diagnoses were made (its record is then complete).
    pub diagnosed: bool,
}

impl Deploy {
    pub fn new(plan: Plan, now: SystemTime) -> Deploy {
        let steps = plan
            .steps()
            .into_iter()
            .map(|kind| Step {
                kind,
                state: StepState::Waiting,
                started: None,
                ended: None,
            })
            .collect();
        Deploy {
            plan,
            steps,
            log: LogBuf::new(),
            progress: Progress::default(),
            activation: Activation::default(),
            built: None,
            before: None,
            after: None,
            served: None,
            started: now,
            ended: None,
            waiting: false,
            awaiting_yes: false,
            diagnoses: Vec::new(),
            diagnosed: false,
        }
    }

    /// Takes the diagnoses of the ended deploy. The log marks each by its
    /// title, where it came; the card (and the record) hold the rest, so
    /// the screen does not show it twice.
    pub fn diagnosed(&mut self, found: Vec<diagnosis::Diagnosis>) {
        for d in &found {
            self.log.push_line(&format!("⚠ {}", d.title));
        }
        self.diagnoses = found;
        self.diagnosed = true;
    }

    fn step_mut(&mut self, kind: StepKind) -> Option<&mut Step> {
        self.steps.iter_mut().find(|s| s.kind == kind)
    }

    /// Folds one event in; returns the lines it added to the log.
    pub fn apply(&mut self, event: Event, now: SystemTime) -> Vec<String> {
        let mut added = Vec::new();
        match event {
            Event::Started(kind) => {
                self.waiting = false;
                self.awaiting_yes = false;
                if let Some(s) = self.step_mut(kind) {
                    s.state = StepState::Running;
                    s.started = Some(now);
                }
                added.push(format!("── {} ──", kind.name()));
            }
            Event::Output(kind, lines) => {
                for line in lines {
                    let shown = match kind {
                        // nix speaks internal-json: fold it, show what reads.
                        StepKind::Build | StepKind::Copy => {
                            self.progress.apply(&internal_json::parse_line(&line))
                        }
                        StepKind::Activate => {
                            self.activation.read_line(&line);
                            Some(line)
                        }
                        _ => Some(line),
                    };
                    // nix's messages span lines (an error with its trace).
                    added.extend(shown.iter().flat_map(|s| s.lines()).map(str::to_string));
                }
            }
            Event::Nix(_, events) => {
                for event in &events {
                    if let Some(shown) = self.progress.apply(event) {
                        // nix's messages span lines (an error with its trace).
                        added.extend(shown.lines().map(str::to_string));
                    }
                }
            }
            Event::Finished(kind, result) => {
                // The activation's words are what switch-to-configuration said.
                let result = match result {
                    Ok(what) if what.is_empty() && kind == StepKind::Activate => {
                        Ok(self.activation.summary())
                    }
                    other => other,
                };
                let (line, state) = match result {
                    Ok(what) => (format!("{}: {what}", kind.name()), StepState::Done(what)),
                    Err(why) => (
                        format!("{} FAILED: {why}", kind.name()),
                        StepState::Failed(why),
                    ),
                };
                self.end_step(kind, state, now);
                added.push(line);
            }
            Event::Unknown(kind, why) => {
                added.push(format!("{}: NOT KNOWN: {why}", kind.name()));
                self.end_step(kind, StepState::Unknown(why), now);
            }
            Event::Built(path) => {
                added.push(format!("built {path}"));
                self.built = Some(path);
            }
            Event::Before(path) => self.before = path,
            Event::After(probe) => self.after = Some(probe),
            Event::Served(served) => {
                added.push(served.line());
                self.served = Some(served);
            }
            Event::AwaitingYes => {
                self.awaiting_yes = true;
                added.push("waiting for your yes before anything changes on the host".into());
            }
            Event::Waiting => {
                self.waiting = true;
                added.push("waiting: as many deploys as `parallel` allows are running".into());
            }
            Event::Cancelled => {
                for s in &mut self.steps {
                    match s.state {
                        StepState::Running => {
                            s.state = StepState::Failed("cancelled".into());
                            s.ended = Some(now);
                            added.push(format!("{}: cancelled while running", s.kind.name()));
                            // The host may have gone on: say so, not hide it.
                            if s.kind == StepKind::Profile {
                                added.push(
                                    "profile had started on the host and may have finished \
                                     there: probe the host to see (R, or deploytui status)"
                                        .into(),
                                );
                            }
                            if s.kind == StepKind::Activate {
                                added.push(
                                    "activate goes on on the host, detached: stopping deploytui \
                                     does not stop it (journalctl -fu on its unit, named above, \
                                     follows it there; R or deploytui status shows the result)"
                                        .into(),
                                );
                            }
                        }
                        StepState::Waiting => s.state = StepState::Skipped,
                        _ => {}
                    }
                }
                self.ended = Some(now);
                added.push("deploy cancelled".into());
            }
        }
        for line in &added {
            self.log.push_line(line);
        }
        added
    }

    /// A step ended (done, failed or not known): the steps after a failure
    /// will not run, and the deploy is over when none waits or runs.
    fn end_step(&mut self, kind: StepKind, state: StepState, now: SystemTime) {
        if let Some(s) = self.step_mut(kind) {
            s.ended = Some(now);
            s.state = state;
        }
        if self.failed() {
            for s in &mut self.steps {
                if s.state == StepState::Waiting {
                    s.state = StepState::Skipped;
                }
            }
        }
        if self
            .steps
            .iter()
            .all(|s| !matches!(s.state, StepState::Waiting | StepState::Running))
        {
            self.ended = Some(now);
        }
    }

    /// A step could not tell how it went (verify could not reach the host).
    pub fn unknown(&self) -> bool {
        self.steps
            .iter()
            .any(|s| matches!(s.state, StepState::Unknown(_)))
    }

    pub fn failed(&self) -> bool {
        self.steps
            .iter()
            .any(|s| matches!(s.state, StepState::Failed(_)))
    }

    pub fn finished(&self) -> bool {
        self.ended.is_some()
    }

    /// The step running now, if any.
    pub fn current(&self) -> Option<&Step> {
        self.steps.iter().find(|s| s.state == StepState::Running)
    }

    /// One line: where the deploy is, or how it ended.
    pub fn verdict(&self) -> String {
        if let Some(s) = self
            .steps
            .iter()
            .find(|s| matches!(s.state, StepState::Failed(_)))
        {
            if s.state == StepState::Failed("cancelled".into()) {
                return format!("cancelled at {}", s.kind.name());
            }
            return format!("failed at {}", s.kind.name());
        }
        if self.finished() {
            if let Some(r) = &self.plan.rollback {
                return format!("rolled back to generation {}", r.to.number);
            }
            let done = match self.plan.action {
                SwitchAction::DryActivate => "dry run done".to_string(),
                a => format!("{} done", a.as_str()),
            };
            if self.unknown() {
                return format!("{done}, not verified: the host could not be reached");
            }
            return done;
        }
        match self.current() {
            Some(s) => format!("{}…", self.step_words(s.kind)),
            None if self.awaiting_yes => "waiting for your yes to activate".into(),
            None if self.waiting => "waiting for a free slot…".into(),
            None => "starting…".into(),
        }
    }

    /// What a running step is doing, with nix's counts when it has them.
    pub fn step_words(&self, kind: StepKind) -> String {
        let p = &self.progress;
        match kind {
            StepKind::Build if p.builds.expected > 0 => {
                format!("building {}/{}", p.builds.done, p.builds.expected)
            }
            StepKind::Build if self.plan.rebuild_argv().is_some() => {
                "nixos-rebuild building".into()
            }
            StepKind::Build => "evaluating".into(),
            StepKind::Copy if p.copies.expected > 0 => {
                format!("copying {}/{}", p.copies.done, p.copies.expected)
            }
            other => other.name().into(),
        }
    }
}

#[cfg(test)]
mod tests;
