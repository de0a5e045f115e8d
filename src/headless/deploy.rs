//! `deploytui deploy`: the same plan and engine as the TUI, printed as
//! step lines (or one JSON event per line) for scripts and CI.

use std::io::Write;

use serde::Serialize;

use super::{read_password, settings, PasswordSource};
use crate::config::{Config, Host, SudoMode};
use crate::deploy::diagnosis::{Fix, Kind};
use crate::deploy::{Deploy, Event, Plan, StepKind, StepState, SwitchAction};
use crate::nix::check::FlakeReport;
use crate::remote::Transport;
use crate::secret::Secret;

/// JSON schema name and version of `deploy --json` events.
pub const DEPLOY_SCHEMA: &str = "deploytui.deploy/1";

/// One line of `deploy --json`.
#[derive(Debug, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
enum JsonEvent<'a> {
    Plan {
        schema: &'static str,
        host: &'a str,
        plan: &'a Plan,
    },
    Started {
        host: &'a str,
        step: StepKind,
    },
    Output {
        host: &'a str,
        step: StepKind,
        line: &'a str,
    },
    Finished {
        host: &'a str,
        step: StepKind,
        ok: bool,
        /// `done`, `failed`, or `unknown` (it could not tell: verify could
        /// not reach the host).
        state: &'a str,
        detail: &'a str,
    },
    Built {
        host: &'a str,
        path: &'a str,
    },
    /// What the HTTP check served after the deploy.
    Served {
        host: &'a str,
        served: &'a crate::deploy::http_check::Served,
    },
    /// What went wrong or silently did not happen (before `done`).
    Diagnosis {
        host: &'a str,
        diagnosis: &'a crate::deploy::diagnosis::Diagnosis,
    },
    Done {
        host: &'a str,
        ok: bool,
        verdict: &'a str,
        /// `shipped`, `nothing-new`, `services-stale`, `unverified` or
        /// `failed`: what the exit code says, for this host.
        outcome: Outcome,
        before: Option<&'a str>,
        after: Option<&'a str>,
        /// The folder the record and the whole log are kept in.
        log: Option<&'a str>,
    },
}

/// `deploy`'s exit code when every deploy ran, but one shipped nothing new.
pub const EXIT_NOTHING_NEW: u8 = 2;
/// `deploy`'s exit code when every deploy ran, but watched services run the
/// previous system or are down after it.
pub const EXIT_SERVICES: u8 = 3;
/// `deploy`'s exit code when a deploy activated but what the host runs
/// could not be checked (it could not be reached afterwards).
pub const EXIT_UNVERIFIED: u8 = 4;

/// Deploys the hosts; the exit code: 0 when every deploy worked and shipped
/// something new, 1 when one failed, `EXIT_NOTHING_NEW` when one built only
/// what its host ran already, `EXIT_SERVICES` when services are not live.
/// How `deploy` deploys: the action, inputs to override beyond the
/// config's, and whether it speaks JSON.
pub struct How {
    pub action: Option<SwitchAction>,
    /// Flake inputs overridden with their local checkout for this deploy
    /// (`--override-input NAME`), besides `override_inputs`.
    pub extra_overrides: Vec<String>,
    pub json: bool,
}

pub async fn deploy(
    config: &Config,
    hosts: &[&Host],
    how: &How,
    source: PasswordSource,
) -> anyhow::Result<u8> {
    let json = how.json;
    // Every plan shown and every password asked first, one host after the
    // other (a terminal or stdin has one line at a time); then the deploys
    // run together, at most `parallel` at once.
    let mut ready = Vec::new();
    for host in hosts {
        ready.push(prepare(config, host, how, &source).await?);
    }
    let stop = stop_on_signals();
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(config.parallel));
    let runs = ready.into_iter().map(|(host, plan, password, report)| {
        let (slots, stop) = (slots.clone(), stop.clone());
        async move {
            let _slot = slots.acquire().await;
            deploy_one(config, host, plan, password, report, json, stop).await
        }
    });
    let mut worst = Outcome::Shipped;
    for result in futures::future::join_all(runs).await {
        worst = worst.max(result?);
    }
    Ok(stopped_code(&stop).unwrap_or(worst.code()))
}

/// Watches for SIGINT and SIGTERM while deploys run: each then stops as the
/// TUI's Esc stops one (nix's process groups ended, the step marked
/// cancelled, the record kept, `done` said), and the command exits 130 or
/// 143 as a shell expects of a process stopped by that signal.
fn stop_on_signals() -> tokio::sync::watch::Receiver<Option<u8>> {
    use tokio::signal::unix::{signal, SignalKind};
    let (tx, rx) = tokio::sync::watch::channel(None);
    if let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        tokio::spawn(async move {
            let code = tokio::select! {
                _ = int.recv() => 130,
                _ = term.recv() => 143,
            };
            let _ = tx.send(Some(code));
        });
    }
    rx
}

/// The exit code of the signal that stopped the deploys, if one did.
fn stopped_code(stop: &tokio::sync::watch::Receiver<Option<u8>>) -> Option<u8> {
    let code = (*stop.borrow())?;
    eprintln!(
        "deploytui: stopped by {}: deploys still running were cancelled (see each host's last lines)",
        if code == 130 { "SIGINT" } else { "SIGTERM" }
    );
    Some(code)
}

/// How one host's deploy ended, the worst last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
enum Outcome {
    Shipped,
    /// It worked, but watched services run the old system, are down, or
    /// the page is not what was deployed.
    #[serde(rename = "services-stale")]
    ServicesNotLive,
    /// It worked, and built only what the host ran already.
    NothingNew,
    /// It activated, but the host could not be reached to check it.
    Unverified,
    Failed,
}

impl Outcome {
    /// The exit code it makes.
    fn code(self) -> u8 {
        match self {
            Outcome::Shipped => 0,
            Outcome::ServicesNotLive => EXIT_SERVICES,
            Outcome::NothingNew => EXIT_NOTHING_NEW,
            Outcome::Unverified => EXIT_UNVERIFIED,
            Outcome::Failed => 1,
        }
    }
}

/// The host's plan, printed, and its sudo password when it needs one.
async fn prepare<'a>(
    config: &Config,
    host: &'a Host,
    how: &How,
    source: &PasswordSource,
) -> anyhow::Result<(&'a Host, Plan, Option<Secret>, Option<FlakeReport>)> {
    let (action, json) = (how.action, how.json);
    let index = index_of(config, host);
    let flake = host
        .flake
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("{} has no flake = \"…#…\" in the config", host.name))?;
    // The overrides the flake pane shows: the same check, the same rule.
    let report = crate::nix::check::check(flake, None, None)
        .await
        .map_err(|e| anyhow::anyhow!("{}: {e}", host.name))?;
    let mut overrides = crate::nix::check::overrides(&host.override_inputs, &report);
    for name in &how.extra_overrides {
        let wanted = crate::config::OverrideInputs::List(vec![name.clone()]);
        let found = crate::nix::check::overrides(&wanted, &report);
        if found.is_empty() {
            anyhow::bail!(
                "{}: input {} cannot be overridden with a local checkout (not a top-level \
                 input of its flake.lock, not from a local repository, or relative)",
                host.name,
                crate::text::quote(name)
            );
        }
        for (input, url) in found {
            if !overrides.iter().any(|(i, _)| *i == input) {
                overrides.push((input, url));
            }
        }
    }
    let action = action.unwrap_or_else(|| crate::deploy::default_action(host));
    let plan = Plan::new(index, host, action, overrides).map_err(|e| anyhow::anyhow!(e))?;
    show_plan(&plan, &host.name, json);
    // The password before anything runs: with none there is nothing to do.
    let password = password_for(host, source)?;
    Ok((host, plan, password, Some(report)))
}

/// `deploytui rollback HOST [--to N]`: reads the host's generations,
/// refuses one whose system is not there before anything changes, then
/// runs the rollback's plan as a deploy (kept, diagnosed, the same codes).
pub async fn rollback(
    config: &Config,
    host: &Host,
    to: Option<u32>,
    json: bool,
    source: PasswordSource,
) -> anyhow::Result<u8> {
    let name = host.name.as_str();
    let settings = settings(config)?;
    let transport = Transport::connect(host, &settings)
        .await
        .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    let read = transport
        .output(
            &crate::deploy::generations::command(),
            None,
            settings.command_timeout,
        )
        .await;
    transport.close().await;
    let text = read.map_err(|e| anyhow::anyhow!("{name}: cannot read its generations: {e}"))?;
    let (from, to) = crate::deploy::generations::current_and(&text.stdout, to)
        .map_err(|e| anyhow::anyhow!("{name}: no rollback: {e}"))?;
    let index = index_of(config, host);
    let plan = Plan::rollback(index, host, from, to);
    show_plan(&plan, name, json);
    let password = password_for(host, &source)?;
    let stop = stop_on_signals();
    let outcome = deploy_one(config, host, plan, password, None, json, stop.clone()).await?;
    Ok(stopped_code(&stop).unwrap_or(outcome.code()))
}

/// The host's place in the config (plans name hosts by it).
fn index_of(config: &Config, host: &Host) -> usize {
    config
        .hosts
        .iter()
        .position(|h| h.name == host.name)
        .unwrap_or(0)
}

/// The sudo password, asked before anything runs, when the host needs one.
fn password_for(host: &Host, source: &PasswordSource) -> anyhow::Result<Option<Secret>> {
    Ok(match host.sudo {
        SudoMode::Password => Some(read_password(host, source)?),
        _ => None,
    })
}

/// The plan, before anything runs: every command (or the `plan` event).
fn show_plan(plan: &Plan, name: &str, json: bool) {
    let mut out = std::io::stdout().lock();
    if json {
        print_json(
            &mut out,
            &JsonEvent::Plan {
                schema: DEPLOY_SCHEMA,
                host: name,
                plan,
            },
        );
    } else {
        for c in plan.commands() {
            let _ = writeln!(
                out,
                "{name}: {:<8} ({}) {}",
                c.label,
                c.place,
                crate::remote::display_command(&c.argv)
            );
        }
    }
}

async fn deploy_one(
    config: &Config,
    host: &Host,
    plan: Plan,
    password: Option<Secret>,
    report: Option<FlakeReport>,
    json: bool,
    stop: tokio::sync::watch::Receiver<Option<u8>>,
) -> anyhow::Result<Outcome> {
    let name = host.name.as_str();
    let settings = settings(config)?;
    let mut deploy = Deploy::new(plan.clone(), std::time::SystemTime::now());
    // Kept like a deploy from the TUI: record and whole log, as it goes.
    let base = crate::deploy::history::dir_for(&config.path);
    let mut kept = match crate::deploy::history::Writer::create(&base, &deploy) {
        Ok(w) => Some(w),
        Err(e) => {
            eprintln!(
                "deploytui: {name}: this deploy's log cannot be kept in {}: {e} (the deploy goes on)",
                base.display()
            );
            None
        }
    };
    let mut shown = |deploy: &mut Deploy, event: Event| {
        show_event(deploy, event, name, json);
        if let Some(w) = kept.as_mut() {
            if let Err(e) = w.sync(deploy) {
                eprintln!(
                    "deploytui: {name}: writing this deploy's log to {} failed: {e} \
                     (the deploy goes on; what is printed here is all there is)",
                    w.folder().display()
                );
                kept = None;
            }
        }
    };
    let ok = match Transport::connect(host, &settings).await {
        Ok(transport) => {
            let cx = crate::deploy::Context {
                transport: &transport,
                reconnect: Some((host, &settings)),
                reconnect_for: crate::deploy::activate::RECONNECT_FOR,
                nix_sshopts: transport.nix_sshopts(host, &settings),
                password: password.as_ref(),
                command_timeout: settings.command_timeout,
                action_timeout: settings.action_timeout,
            };
            let ok = run_shown(&cx, &plan, name, &mut deploy, &mut shown, stop).await;
            drop(password);
            transport.close().await;
            ok
        }
        // A host that cannot be reached ends as every deploy does: its
        // first step failed, said, kept and diagnosed like any other.
        Err(e) => {
            shown(&mut deploy, Event::Started(StepKind::Lock));
            shown(
                &mut deploy,
                Event::Finished(StepKind::Lock, Err(format!("cannot reach the host: {e}"))),
            );
            false
        }
    };
    let mut found = crate::deploy::diagnosis::diagnose(&deploy, report.as_ref());
    if let Some((repo, stale)) = crate::deploy::diagnosis::hash_search(&deploy, report.as_ref()) {
        let sites = tokio::task::spawn_blocking({
            let repo = repo.clone();
            move || crate::nix::hash_fix::find(&repo, &stale)
        })
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
        crate::deploy::diagnosis::with_sites(&mut found, repo, sites);
    }
    show_diagnoses(&found, name, json);
    let outcome = found
        .iter()
        .map(|d| match d.kind {
            Kind::NothingNew => Outcome::NothingNew,
            Kind::StaleServices | Kind::ServicesDown | Kind::HttpCheck => Outcome::ServicesNotLive,
            Kind::HashMismatch | Kind::HashOutOfDate | Kind::Activation => Outcome::Failed,
        })
        .max()
        .unwrap_or(Outcome::Shipped);
    let outcome = match ok {
        false => Outcome::Failed,
        true if deploy.unknown() => Outcome::Unverified,
        true => outcome,
    };
    deploy.diagnosed(found);
    if let Some(w) = kept.as_mut() {
        let _ = w.sync(&deploy);
        let _ = crate::deploy::history::prune(&base, config.history_limit);
    }
    let folder = kept.as_ref().map(|w| w.folder().display().to_string());
    let verdict = deploy.verdict();
    let mut out = std::io::stdout().lock();
    if json {
        print_json(
            &mut out,
            &JsonEvent::Done {
                host: name,
                ok,
                verdict: &verdict,
                outcome,
                before: deploy.before.as_deref(),
                after: deploy.built.as_deref(),
                log: folder.as_deref(),
            },
        );
    } else {
        let _ = writeln!(out, "{name}: {verdict}");
        if let Some(folder) = folder {
            let _ = writeln!(out, "{name}: log kept in {folder}");
        }
    }
    Ok(outcome)
}

/// Runs the plan on the host, each event shown (and kept) as it comes;
/// with confirm_activation, the yes asked on the terminal.
async fn run_shown(
    cx: &crate::deploy::Context<'_>,
    plan: &Plan,
    name: &str,
    deploy: &mut Deploy,
    shown: &mut impl FnMut(&mut Deploy, Event),
    mut stop: tokio::sync::watch::Receiver<Option<u8>>,
) -> bool {
    let (tx, mut rx) = crate::deploy::Events::channel();
    let (yes_tx, yes_rx) = tokio::sync::oneshot::channel();
    let mut yes_tx = Some(yes_tx);
    let run = async {
        // Stopped by a signal: the runner is dropped, which ends nix's
        // process groups; the deploy says it was cancelled, and where.
        let ok = tokio::select! {
            ok = crate::deploy::run(plan, cx, &tx, Some(yes_rx)) => ok,
            _ = stop.wait_for(Option::is_some) => {
                tx.send(Event::Cancelled).await;
                false
            }
        };
        drop(tx);
        ok
    };
    let show = async {
        while let Some(event) = rx.recv().await {
            let asks = event == Event::AwaitingYes;
            shown(deploy, event);
            if asks {
                let yes = ask_yes(name).await;
                if let Some(answer) = yes_tx.take() {
                    let _ = answer.send(yes);
                }
            }
        }
    };
    let (ok, ()) = tokio::join!(run, show);
    ok
}

fn show_diagnoses(found: &[crate::deploy::diagnosis::Diagnosis], host: &str, json: bool) {
    let mut out = std::io::stdout().lock();
    for diagnosis in found {
        if json {
            print_json(&mut out, &JsonEvent::Diagnosis { host, diagnosis });
            continue;
        }
        let _ = writeln!(out, "{host}: ⚠ {}", diagnosis.title);
        for e in &diagnosis.evidence {
            let _ = writeln!(out, "{host}:   {e}");
        }
        match &diagnosis.fix {
            Some(Fix::Restart { units }) => {
                for unit in units {
                    let _ = writeln!(out, "{host}:   fix: deploytui restart {host} {unit}");
                }
            }
            Some(Fix::Journal { units }) => {
                for unit in units {
                    let _ = writeln!(
                        out,
                        "{host}:   its journal: journalctl -u {unit} on the host (f in the TUI follows it)"
                    );
                }
            }
            Some(Fix::WriteHash { sites, .. }) => {
                for site in sites {
                    let _ = writeln!(
                        out,
                        "{host}:   fix (f in the TUI writes it): {}",
                        site.place()
                    );
                    let _ = writeln!(out, "{host}:     - {}", site.old.trim());
                    let _ = writeln!(out, "{host}:     + {}", site.new.trim());
                }
            }
            Some(Fix::Redeploy { overrides }) => {
                let flags: String = overrides
                    .iter()
                    .map(|(input, _)| format!(" --override-input {input}"))
                    .collect();
                let _ = writeln!(out, "{host}:   fix: deploytui deploy {host}{flags}");
            }
            Some(fix) => {
                let _ = writeln!(out, "{host}:   fix (f in the TUI): {}", fix.words());
            }
            None => {}
        }
    }
}

/// Folds one event into the deploy and prints it: step lines and output
/// for people, or one JSON event per line.
fn show_event(deploy: &mut Deploy, event: Event, host: &str, json: bool) {
    // What the event was, kept before it is folded in.
    let (started, finished, output, built) = match &event {
        Event::Started(step) => (Some(*step), None, None, None),
        Event::Finished(step, _) | Event::Unknown(step, _) => (None, Some(*step), None, None),
        Event::Output(step, _) | Event::Nix(step, _) => (None, None, Some(*step), None),
        // What a cancel says goes out as the stopped step's output.
        Event::Cancelled => (None, None, deploy.current().map(|s| s.kind), None),
        Event::Built(path) => (None, None, None, Some(path.clone())),
        _ => (None, None, None, None),
    };
    let served = matches!(event, Event::Served(_));
    let lines = deploy.apply(event, std::time::SystemTime::now());
    let mut out = std::io::stdout().lock();
    if let Some(step) = started {
        if json {
            print_json(&mut out, &JsonEvent::Started { host, step });
        } else if let Some(s) = deploy.current() {
            let _ = writeln!(out, "{host}: … {}", s.kind.name());
        }
        return;
    }
    if let Some(step) = finished {
        let Some(s) = deploy.steps.iter().find(|s| s.kind == step) else {
            return;
        };
        let (state, mark, detail) = match &s.state {
            StepState::Done(what) => ("done", "✓", what.as_str()),
            StepState::Failed(why) => ("failed", "✗", why.as_str()),
            StepState::Unknown(why) => ("unknown", "?", why.as_str()),
            _ => return,
        };
        if json {
            let finished = JsonEvent::Finished {
                host,
                step,
                ok: state == "done",
                state,
                detail,
            };
            print_json(&mut out, &finished);
        } else {
            let secs = match (s.started, s.ended) {
                (Some(a), Some(b)) => b.duration_since(a).unwrap_or_default().as_secs(),
                _ => 0,
            };
            let _ = writeln!(out, "{host}: {mark} {} ({secs}s): {detail}", step.name());
        }
        return;
    }
    if json {
        if let Some(path) = &built {
            print_json(&mut out, &JsonEvent::Built { host, path });
        }
        if let Some(served) = deploy.served.as_ref().filter(|_| served) {
            print_json(&mut out, &JsonEvent::Served { host, served });
        }
        if let Some(step) = output {
            for line in &lines {
                // What a host or a build printed reaches whoever `jq -r`s
                // it: escapes shown, never passed on (as on a terminal).
                let line = crate::text::plain(line);
                print_json(
                    &mut out,
                    &JsonEvent::Output {
                        host,
                        step,
                        line: &line,
                    },
                );
            }
        }
        return;
    }
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stdout());
    for line in lines {
        let line = if terminal {
            crate::text::AnsiFilter::filter(&line)
        } else {
            crate::text::plain(&line)
        };
        let _ = writeln!(out, "{host}:   {line}");
    }
}

fn print_json(out: &mut impl Write, event: &JsonEvent) {
    if let Ok(line) = serde_json::to_string(event) {
        let _ = writeln!(out, "{line}");
    }
}

/// confirm_activation: the user's yes on the terminal (deploytui's own
/// stdin may hold the sudo password), or no when there is no terminal.
async fn ask_yes(host: &str) -> bool {
    let host = host.to_string();
    tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        let Ok(tty) = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
        else {
            eprintln!("{host}: confirm_activation is set and there is no terminal to answer on: not activated");
            return false;
        };
        let mut prompt = &tty;
        let _ = write!(prompt, "{host}: activate it? [y/N] ");
        let mut line = String::new();
        let _ = std::io::BufReader::new(&tty).read_line(&mut line);
        matches!(line.trim(), "y" | "Y" | "yes")
    })
    .await
    .unwrap_or(false)
}
