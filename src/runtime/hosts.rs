//! One worker task per host owns that host's ssh session: it connects on
//! first use, reconnects after the session breaks, and runs each request as
//! its own task so a long follow never blocks a probe. Results go back to
//! the app as messages.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use tokio::sync::{mpsc, Semaphore};
use tokio::task::{AbortHandle, JoinHandle, JoinSet};

use crate::app::{JobId, Msg};
use crate::config::Host;
use crate::probe;
use crate::remote::{RemoteError, SshSettings, Transport};
use crate::secret::Secret;

/// What a host worker is asked to do.
pub enum Request {
    Probe {
        units: Vec<String>,
    },
    Run {
        id: JobId,
        argv: Vec<String>,
        password: Option<Secret>,
    },
    Follow {
        id: JobId,
        argv: Vec<String>,
    },
    StopFollow {
        id: JobId,
    },
    Deploy {
        id: JobId,
        plan: Box<crate::deploy::Plan>,
        password: Option<Secret>,
    },
    StopDeploy {
        id: JobId,
    },
    /// Read the system generations (for a rollback).
    Generations,
    /// Fetch the HTTP check's page on the host.
    HttpCheck {
        check: crate::config::HttpCheck,
        rev: Option<String>,
    },
    /// The user's answer to a deploy waiting for a yes (confirm_activation).
    Approve {
        id: JobId,
        yes: bool,
    },
}

/// The app's handle on one host's worker.
pub struct HostHandle {
    pub requests: mpsc::UnboundedSender<Request>,
    pub task: JoinHandle<()>,
}

/// How many hosts are probed, and how many deployed, at once across the fleet.
#[derive(Clone)]
pub struct Slots {
    pub probes: Arc<Semaphore>,
    pub deploys: Arc<Semaphore>,
}

/// Starts the worker for host `index`.
pub fn spawn(
    index: usize,
    host: Host,
    settings: SshSettings,
    slots: Slots,
    msgs: mpsc::UnboundedSender<Msg>,
) -> HostHandle {
    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(worker(index, host, settings, slots, msgs, rx));
    HostHandle { requests: tx, task }
}

async fn worker(
    index: usize,
    host: Host,
    settings: SshSettings,
    slots: Slots,
    msgs: mpsc::UnboundedSender<Msg>,
    mut requests: mpsc::UnboundedReceiver<Request>,
) {
    let mut transport: Option<Transport> = None;
    // Every task this worker starts, so none outlives it holding the session.
    let mut tasks: JoinSet<()> = JoinSet::new();
    let mut follows: HashMap<JobId, AbortHandle> = HashMap::new();
    let mut deploys: HashMap<JobId, AbortHandle> = HashMap::new();
    let mut approvals: HashMap<JobId, tokio::sync::oneshot::Sender<bool>> = HashMap::new();
    while let Some(request) = requests.recv().await {
        while tasks.try_join_next().is_some() {}
        follows.retain(|_, task| !task.is_finished());
        deploys.retain(|_, task| !task.is_finished());
        approvals.retain(|_, answer| !answer.is_closed());
        match request {
            Request::Approve { id, yes } => {
                if let Some(answer) = approvals.remove(&id) {
                    let _ = answer.send(yes);
                }
            }
            Request::StopDeploy { id } => {
                // Dropping the runner stops nix's process group here and
                // closes the channel of the command on the host.
                if let Some(task) = deploys.remove(&id) {
                    task.abort();
                    let _ = msgs.send(Msg::Deploy {
                        id,
                        event: crate::deploy::Event::Cancelled,
                    });
                    let _ = msgs.send(Msg::DeployEnded { id, ok: false });
                }
            }
            Request::StopFollow { id } => {
                if let Some(task) = follows.remove(&id) {
                    task.abort();
                }
            }
            Request::Probe { units } => {
                // Connecting takes no slot: a host that hangs until the
                // connect timeout never holds up the probes of the others.
                let t = match session(&mut transport, &host, &settings).await {
                    Ok(t) => t,
                    Err(e) => {
                        let _ = msgs.send(Msg::ProbeDone {
                            host: index,
                            result: Err(e),
                            at: SystemTime::now(),
                        });
                        continue;
                    }
                };
                let msgs = msgs.clone();
                let limit = settings.command_timeout;
                let slots = slots.probes.clone();
                tasks.spawn(async move {
                    let _permit = slots.acquire_owned().await;
                    let started = Instant::now();
                    let result = probe::fetch(&t, &units, limit)
                        .await
                        .map(|p| (p, started.elapsed()));
                    let _ = msgs.send(Msg::ProbeDone {
                        host: index,
                        result,
                        at: SystemTime::now(),
                    });
                });
            }
            Request::Run { id, argv, password } => {
                let t = match session(&mut transport, &host, &settings).await {
                    Ok(t) => t,
                    Err(e) => {
                        let _ = msgs.send(Msg::UnitActionDone { id, result: Err(e) });
                        continue;
                    }
                };
                let msgs = msgs.clone();
                let limit = settings.action_timeout;
                tasks.spawn(async move {
                    let result = t.output(&argv, password.as_ref(), limit).await;
                    drop(password);
                    let _ = msgs.send(Msg::UnitActionDone { id, result });
                });
            }
            Request::Generations => {
                let result = match session(&mut transport, &host, &settings).await {
                    Ok(t) => t
                        .output(
                            &crate::deploy::generations::command(),
                            None,
                            settings.command_timeout,
                        )
                        .await
                        .map_err(|e| e.to_string())
                        .and_then(|out| {
                            crate::deploy::generations::current_and_previous(&out.stdout)
                        }),
                    Err(e) => Err(e.to_string()),
                };
                let _ = msgs.send(Msg::GenerationsRead {
                    host: index,
                    result,
                });
            }
            Request::HttpCheck { check, rev } => {
                let served = match session(&mut transport, &host, &settings).await {
                    Ok(t) => {
                        let msgs = msgs.clone();
                        tasks.spawn(async move {
                            let served =
                                crate::deploy::native::http_check(&t, &check, rev.as_deref()).await;
                            let _ = msgs.send(Msg::HttpChecked {
                                host: index,
                                served,
                            });
                        });
                        continue;
                    }
                    Err(e) => {
                        crate::deploy::http_check::Served::not_fetched(&check, rev.as_deref(), e)
                    }
                };
                let _ = msgs.send(Msg::HttpChecked {
                    host: index,
                    served,
                });
            }
            Request::Deploy { id, plan, password } => {
                let t = match session(&mut transport, &host, &settings).await {
                    Ok(t) => t,
                    Err(e) => {
                        let _ = msgs.send(Msg::Deploy {
                            id,
                            event: crate::deploy::Event::Finished(
                                crate::deploy::StepKind::Build,
                                Err(format!("cannot reach the host: {e}")),
                            ),
                        });
                        let _ = msgs.send(Msg::DeployEnded { id, ok: false });
                        continue;
                    }
                };
                let msgs = msgs.clone();
                let sshopts = t.nix_sshopts(&host, &settings);
                let (command_timeout, action_timeout) =
                    (settings.command_timeout, settings.action_timeout);
                let deploy_slots = slots.deploys.clone();
                // To connect again if the session is lost during activation.
                let again = (host.clone(), settings.clone());
                let (yes_tx, yes_rx) = tokio::sync::oneshot::channel();
                approvals.insert(id, yes_tx);
                let task = tasks.spawn(async move {
                    // At most `parallel` deploys at once: the others wait, and say so.
                    let permit = match deploy_slots.clone().try_acquire_owned() {
                        Ok(p) => p,
                        Err(_) => {
                            let _ = msgs.send(Msg::Deploy {
                                id,
                                event: crate::deploy::Event::Waiting,
                            });
                            match deploy_slots.acquire_owned().await {
                                Ok(p) => p,
                                Err(_) => return,
                            }
                        }
                    };
                    let (events_tx, mut events_rx) = crate::deploy::Events::channel();
                    let forward = {
                        let msgs = msgs.clone();
                        async move {
                            while let Some(event) = events_rx.recv().await {
                                let _ = msgs.send(Msg::Deploy { id, event });
                            }
                        }
                    };
                    let run = async {
                        let cx = crate::deploy::Context {
                            transport: &t,
                            reconnect: Some((&again.0, &again.1)),
                            reconnect_for: crate::deploy::activate::RECONNECT_FOR,
                            nix_sshopts: sshopts,
                            password: password.as_ref(),
                            command_timeout,
                            action_timeout,
                        };
                        let ok = crate::deploy::run(&plan, &cx, &events_tx, Some(yes_rx)).await;
                        drop(events_tx);
                        ok
                    };
                    let (ok, ()) = tokio::join!(run, forward);
                    drop(password);
                    drop(permit);
                    let _ = msgs.send(Msg::DeployEnded { id, ok });
                });
                deploys.insert(id, task);
            }
            Request::Follow { id, argv } => {
                let t = match session(&mut transport, &host, &settings).await {
                    Ok(t) => t,
                    Err(e) => {
                        let _ = msgs.send(Msg::FollowEnded {
                            id,
                            reason: e.to_string(),
                        });
                        continue;
                    }
                };
                let msgs = msgs.clone();
                follows.insert(
                    id,
                    tasks.spawn(async move {
                        let (lines_tx, mut lines_rx) = crate::remote::Transport::lines_channel();
                        let forward = {
                            let msgs = msgs.clone();
                            async move {
                                while let Some(line) = lines_rx.recv().await {
                                    let _ = msgs.send(Msg::FollowLine { id, line });
                                }
                            }
                        };
                        let (result, ()) = tokio::join!(t.stream(&argv, lines_tx), forward);
                        let reason = match result {
                            Ok(end) => end.to_string(),
                            Err(e) => format!("the connection broke: {e}"),
                        };
                        let _ = msgs.send(Msg::FollowEnded { id, reason });
                    }),
                );
            }
        }
    }
    // The app is gone: stop every task, then close the session and its master.
    tasks.shutdown().await;
    if let Some(t) = transport {
        t.close().await;
    }
}

/// The host's session, (re)connected if there is none or it broke.
async fn session(
    slot: &mut Option<Transport>,
    host: &Host,
    settings: &SshSettings,
) -> Result<Transport, RemoteError> {
    if let Some(t) = slot {
        if !t.check(settings.connect_timeout).await {
            if let Some(old) = slot.take() {
                old.close().await;
            }
        }
    }
    if let Some(t) = slot {
        return Ok(t.clone());
    }
    let t = Transport::connect(host, settings).await?;
    *slot = Some(t.clone());
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// With one probe slot, a host whose ssh handshake hangs (a port that
    /// accepts and never speaks) does not hold up the probe of another:
    /// connecting takes no slot.
    #[tokio::test]
    async fn a_host_that_hangs_while_connecting_holds_up_no_other_probe() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        // Accepted and held, never answered.
        let _held = std::thread::spawn(move || {
            let conns: Vec<_> = listener.incoming().take(4).collect();
            std::thread::sleep(Duration::from_secs(30));
            drop(conns);
        });
        let text = format!(
            "[[hosts]]\nname = \"hangs\"\ntarget = \"me@127.0.0.1\"\nport = {port}\n\
             [[hosts]]\nname = \"here\"\ntarget = \"local\"\n"
        );
        let config = crate::config::parse(
            &text,
            std::path::Path::new("/t.toml"),
            crate::config::FoundBy::Flag,
        )
        .unwrap();
        let control = tempfile::tempdir().unwrap();
        let settings = SshSettings {
            control_dir: control.path().to_path_buf(),
            connect_timeout: Duration::from_secs(2),
            keepalive: Duration::from_secs(1),
            idle_exit: Duration::from_secs(10),
            command_timeout: Duration::from_secs(10),
            action_timeout: Duration::from_secs(10),
        };
        let slots = Slots {
            probes: Arc::new(Semaphore::new(1)),
            deploys: Arc::new(Semaphore::new(1)),
        };
        let (tx, mut rx) = mpsc::unbounded_channel();
        let workers: Vec<HostHandle> = config
            .hosts
            .iter()
            .enumerate()
            .map(|(i, h)| spawn(i, h.clone(), settings.clone(), slots.clone(), tx.clone()))
            .collect();
        for w in &workers {
            w.requests
                .send(Request::Probe { units: Vec::new() })
                .unwrap();
            // The hanging host asks first.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let first = loop {
            match rx.recv().await {
                Some(Msg::ProbeDone { host, .. }) => break host,
                Some(_) => continue,
                None => panic!("no probe ended"),
            }
        };
        assert_eq!(first, 1, "the local host's probe ended first");
        let second = loop {
            match rx.recv().await {
                Some(Msg::ProbeDone { host, result, .. }) => break (host, result.is_err()),
                Some(_) => continue,
                None => panic!("no probe ended"),
            }
        };
        assert_eq!(second, (0, true), "the hanging host fails, in its own time");
    }
}
