//! The runtime: owns the terminal, the event loop and background tasks.
//! Terminal events, task results and a tick meet in one `select!`; every one
//! becomes a `Msg` for `update`, and the screen is redrawn at most once a frame.

mod hosts;
mod local;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use crossterm::event::{Event, EventStream};
use futures::StreamExt;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::app::{update, Effect, Msg, State};
use crate::config::Config;
use crate::remote::SshSettings;
use crate::ui;

/// How long a signal to leave waits for running deploys to stop and be kept.
const TERMINATED_GRACE: Duration = Duration::from_secs(10);
/// How long quitting waits for sessions to close before giving up.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// At most ~60 redraws a second however fast messages arrive.
const FRAME: Duration = Duration::from_millis(16);
/// Relative times ("3m ago") move on even when nothing else happens.
const TICK: Duration = Duration::from_secs(1);

/// Logs panics to the log file too; ratatui's hook (installed after this one)
/// restores the terminal first and then calls this.
pub fn install_panic_logging() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        tracing::error!("panic: {info}");
        previous(info);
    }));
}

/// Runs the TUI on a runtime of its own and returns as soon as the user
/// quits: work still running in the background (a flake check, a git walk)
/// is abandoned after a short grace, never waited for.
/// `Ok(Some(code))`: a signal stopped running work on the way out; the
/// process should exit with `code` (128 + the signal's number).
pub fn run_blocking(config: Config, intro: Vec<String>) -> anyhow::Result<Option<u8>> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let result = runtime.block_on(run(config, intro));
    runtime.shutdown_timeout(Duration::from_millis(200));
    result
}

/// Runs the TUI until the user quits. `intro` lines open the activity log.
pub async fn run(config: Config, intro: Vec<String>) -> anyhow::Result<Option<u8>> {
    let mut terminal = ratatui::try_init().context("cannot set up the terminal")?;
    let result = event_loop(&mut terminal, config, intro).await;
    ratatui::restore();
    // What ended while deploytui waited to quit, on the terminal it leaves.
    let (unseen, stopped_by) = result?;
    let mut err = std::io::stderr();
    for line in unseen {
        let _ = std::io::Write::write_all(
            &mut err,
            format!("deploytui: {}\n", crate::text::clean(&line)).as_bytes(),
        );
    }
    Ok(stopped_by.map(|signal| match signal {
        "SIGHUP" => 129,
        _ => 143,
    }))
}

async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    config: Config,
    intro: Vec<String>,
) -> anyhow::Result<(Vec<String>, Option<&'static str>)> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
    let settings = ssh_settings(&config)?;
    // Probes and deploys each run on at most `parallel` hosts at once, apart:
    // a long deploy never holds up a probe.
    let slots = hosts::Slots {
        probes: Arc::new(tokio::sync::Semaphore::new(config.parallel)),
        deploys: Arc::new(tokio::sync::Semaphore::new(config.parallel)),
    };
    let workers: Vec<hosts::HostHandle> = config
        .hosts
        .iter()
        .enumerate()
        .map(|(i, h)| hosts::spawn(i, h.clone(), settings.clone(), slots.clone(), tx.clone()))
        .collect();
    let runners = Runners {
        workers,
        flakes: local::flake_checker(tx.clone()),
    };
    let mut state = State::new(config);
    local::detect_nix(tx.clone());
    for line in intro {
        update(&mut state, Msg::Log(line));
    }
    let result = select_loop(terminal, &mut state, &tx, &mut rx, &runners).await;
    shutdown(runners.workers).await;
    let dir = settings.control_dir.clone();
    let _ = tokio::task::spawn_blocking(move || crate::remote::end_masters(&dir)).await;
    result.map(|()| (std::mem::take(&mut state.unseen), state.stopped_by))
}

/// Masters are in use every refresh; one left idle for two refreshes belongs to a killed deploytui.
fn ssh_settings(config: &Config) -> anyhow::Result<SshSettings> {
    SshSettings::for_config(config, (config.refresh * 2).max(Duration::from_secs(60)))
        .context("creating the ssh control directory")
}

/// The tasks effects are handed to: one worker per host, and the flake
/// checker (shared by every host).
struct Runners {
    workers: Vec<hosts::HostHandle>,
    flakes: mpsc::UnboundedSender<local::FlakeCheck>,
}

/// Closes every host's session (and so its ssh master), within a grace period.
async fn shutdown(workers: Vec<hosts::HostHandle>) {
    let tasks: Vec<_> = workers
        .into_iter()
        .map(|w| {
            drop(w.requests);
            w.task
        })
        .collect();
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, futures::future::join_all(tasks)).await;
}

async fn select_loop(
    terminal: &mut ratatui::DefaultTerminal,
    state: &mut State,
    tx: &mpsc::UnboundedSender<Msg>,
    rx: &mut mpsc::UnboundedReceiver<Msg>,
    runners: &Runners,
) -> anyhow::Result<()> {
    let mut events = EventStream::new();
    let mut tick = tokio::time::interval(TICK);
    // `kill` or a closed terminal window: leave like `q` does, terminal restored.
    let mut sigterm = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let mut sighup = signal(SignalKind::hangup()).context("SIGHUP handler")?;
    let size = terminal.size()?;
    update(
        state,
        Msg::Resize {
            width: size.width,
            height: size.height,
        },
    );

    let mut dirty = true;
    let mut last_draw = Instant::now() - FRAME;
    // Activity lines already copied to the log file.
    let mut persisted = 0;
    let mut history = History::default();
    // A signal to leave: running deploys get this long to stop and be kept.
    let mut leave_by: Option<Instant> = None;
    loop {
        if leave_by.is_some_and(|t| Instant::now() >= t) {
            return Ok(());
        }
        if dirty && last_draw.elapsed() >= FRAME {
            terminal.draw(|frame| ui::view(state, frame))?;
            dirty = false;
            last_draw = Instant::now();
        }
        let msg = tokio::select! {
            event = events.next() => match event {
                Some(Ok(event)) => match translate(event) {
                    Some(msg) => msg,
                    None => continue,
                },
                Some(Err(e)) => return Err(e).context("reading terminal input"),
                None => return Ok(()),
            },
            Some(msg) = rx.recv() => msg,
            _ = tick.tick() => Msg::Tick(SystemTime::now()),
            _ = sigterm.recv() => {
                // A second one: leave now.
                if leave_by.is_some() { return Ok(()); }
                leave_by = Some(Instant::now() + TERMINATED_GRACE);
                Msg::Terminated("SIGTERM")
            }
            _ = sighup.recv() => {
                if leave_by.is_some() { return Ok(()); }
                leave_by = Some(Instant::now() + TERMINATED_GRACE);
                Msg::Terminated("SIGHUP")
            }
            _ = tokio::time::sleep_until(last_draw + FRAME), if dirty => continue,
        };
        let mut effects = update(state, msg);
        // Take everything already queued before drawing again.
        while let Ok(msg) = rx.try_recv() {
            effects.extend(update(state, msg));
        }
        dirty = true;
        // The activity log also goes to the log file, so it outlives the session.
        while let Some(line) = state.log.raw_line(persisted) {
            tracing::info!(target: "deploytui::activity", "{line}");
            persisted += 1;
        }
        // Every deploy's lines go to disk as they come.
        history.sync(state, tx);
        for effect in effects {
            if let Effect::Pager { text } = effect {
                // The pager needs the terminal and its keys: the event
                // stream stops (it reads the terminal in a thread of its
                // own) and starts again after.
                drop(events);
                ratatui::restore();
                let outcome = pager(&text).await;
                *terminal = ratatui::try_init().context("cannot set up the terminal again")?;
                terminal.clear()?;
                events = EventStream::new();
                if let Err(e) = outcome {
                    let _ = tx.send(Msg::Log(format!("the pager did not run: {e:#}")));
                }
                continue;
            }
            if run_effect(effect, runners, tx) {
                return Ok(());
            }
        }
    }
}

/// Runs `$PAGER` (or `less -R`) on a private temp file holding `text`.
async fn pager(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut file = tempfile::Builder::new()
        .prefix("deploytui-log-")
        .tempfile()
        .context("a temp file for the pager")?;
    file.write_all(text.as_bytes())?;
    file.flush()?;
    let spelled = std::env::var("PAGER")
        .ok()
        .filter(|p| !p.trim().is_empty())
        .unwrap_or_else(|| "less -R".into());
    let mut argv = shlex::split(&spelled)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| anyhow::anyhow!("PAGER={spelled:?} is not a command line"))?;
    argv.push(file.path().display().to_string());
    let status = tokio::process::Command::new(&argv[0])
        .args(&argv[1..])
        .status()
        .await
        .with_context(|| format!("cannot run {}", argv[0]))?;
    if !status.success() {
        anyhow::bail!("{} ended with {status}", argv[0]);
    }
    Ok(())
}

/// The deploys being written to the history, by host and start.
#[derive(Default)]
struct History {
    writers: std::collections::HashMap<(usize, SystemTime), crate::deploy::history::Writer>,
    /// Written whole, or refused: not started again.
    done: std::collections::HashSet<(usize, SystemTime)>,
}

impl History {
    fn sync(&mut self, state: &State, tx: &mpsc::UnboundedSender<Msg>) {
        use crate::deploy::history;
        let base = history::dir_for(&state.config.path);
        for (host, deploy) in &state.deploys {
            let key = (*host, deploy.started);
            if self.done.contains(&key) {
                continue;
            }
            if let std::collections::hash_map::Entry::Vacant(slot) = self.writers.entry(key) {
                match history::Writer::create(&base, deploy) {
                    Ok(w) => {
                        slot.insert(w);
                    }
                    Err(e) => {
                        self.done.insert(key);
                        let _ = tx.send(Msg::Warn(format!(
                            "{}: the deploy's log cannot be kept in {}: {e} (the deploy goes on)",
                            deploy.plan.host_name,
                            base.display()
                        )));
                        continue;
                    }
                }
            }
            let Some(w) = self.writers.get_mut(&key) else {
                continue;
            };
            match w.sync(deploy) {
                Ok(false) => {}
                Ok(true) => {
                    self.writers.remove(&key);
                    self.done.insert(key);
                    let _ = history::prune(&base, state.config.history_limit);
                }
                Err(e) => {
                    let _ = tx.send(Msg::Warn(format!(
                        "{}: writing the deploy's log to {} failed: {e} (the deploy goes on; \
                         its log pane is all there is)",
                        deploy.plan.host_name,
                        w.folder().display()
                    )));
                    self.writers.remove(&key);
                    self.done.insert(key);
                }
            }
        }
    }
}

/// Hands an effect to the task that does it; true means quit.
fn run_effect(effect: Effect, runners: &Runners, tx: &mpsc::UnboundedSender<Msg>) -> bool {
    let workers = &runners.workers;
    let send = |host: usize, request: hosts::Request| {
        if let Some(w) = workers.get(host) {
            let _ = w.requests.send(request);
        }
    };
    match effect {
        Effect::Quit => return true,
        Effect::Probe { host, units } => send(host, hosts::Request::Probe { units }),
        Effect::ReadGenerations { host } => send(host, hosts::Request::Generations),
        Effect::HttpCheck { host, check, rev } => {
            send(host, hosts::Request::HttpCheck { check, rev })
        }
        Effect::UnitAction {
            id,
            host,
            argv,
            password,
        } => send(host, hosts::Request::Run { id, argv, password }),
        Effect::Follow { id, host, argv } => send(host, hosts::Request::Follow { id, argv }),
        // Run by the loop itself: it needs the terminal.
        Effect::Pager { .. } => {}
        Effect::ListHistory { dir } => {
            let tx = tx.clone();
            tokio::task::spawn_blocking(move || {
                let records = crate::deploy::history::list(&dir);
                let _ = tx.send(Msg::HistoryListed(records));
            });
        }
        Effect::LearnHash {
            host,
            repo,
            site,
            argv,
        } => local::learn_hash(host, repo, site, argv, tx.clone()),
        Effect::FindHashSites { host, repo, stale } => {
            let tx = tx.clone();
            tokio::task::spawn_blocking(move || {
                let result = crate::nix::hash_fix::find(&repo, &stale);
                let _ = tx.send(Msg::HashSitesFound { host, repo, result });
            });
        }
        Effect::WriteHash {
            host,
            repo,
            site,
            fix,
        } => {
            let tx = tx.clone();
            tokio::task::spawn_blocking(move || {
                let result = crate::nix::hash_fix::write_site(&repo, &site);
                let _ = tx.send(Msg::HashWritten {
                    host,
                    repo,
                    site,
                    fix,
                    result,
                });
            });
        }
        Effect::LoadHistory { folder, title } => {
            let tx = tx.clone();
            tokio::task::spawn_blocking(move || {
                let result = crate::deploy::history::read_log(&folder).map_err(|e| e.to_string());
                let _ = tx.send(Msg::HistoryLoaded { title, result });
            });
        }
        Effect::Approve { id, host, yes } => send(host, hosts::Request::Approve { id, yes }),
        Effect::StopDeploy { id, host } => send(host, hosts::Request::StopDeploy { id }),
        Effect::Deploy { id, plan, password } => {
            send(plan.host, hosts::Request::Deploy { id, plan, password })
        }
        Effect::StopFollow { id } => {
            for w in workers {
                let _ = w.requests.send(hosts::Request::StopFollow { id });
            }
        }
        Effect::CheckFlake {
            host,
            flake,
            running_rev,
            previous,
        } => {
            let _ = runners.flakes.send(local::FlakeCheck {
                host,
                flake,
                running_rev,
                previous,
            });
        }
        Effect::UpdateLock { id, update } => local::update_lock(id, update, tx.clone()),
        Effect::FindRelativeSite {
            update,
            repo,
            url,
            relative,
        } => local::find_relative_site(update, repo, url, relative, tx.clone()),
        Effect::CommitLock { id, commit } => local::commit_files_job(id, commit, tx.clone()),
        Effect::Later { after, msg } => {
            let tx = tx.clone();
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                let _ = tx.send(msg.into());
            });
        }
    }
    false
}

fn translate(event: Event) -> Option<Msg> {
    match event {
        Event::Key(key) => Some(Msg::Key(key)),
        Event::Resize(width, height) => Some(Msg::Resize { width, height }),
        _ => None,
    }
}
