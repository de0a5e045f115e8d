//! The native engine: build here, copy the closure over the host's ssh
//! session, set the system profile and switch on the host with sudo, then
//! check that the host runs what was built. Each step reports `Event`s.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;

use super::{Event, Plan, StepKind, SwitchAction};
use crate::remote::{self, CommandOutput, Transport};
use crate::secret::Secret;

/// Output is sent at most this often (or when this many lines wait).
pub(super) const FLUSH_EVERY: Duration = Duration::from_millis(50);
pub(super) const FLUSH_LINES: usize = 500;

/// What the runner needs besides the plan.
#[derive(Clone)]
pub struct Context<'a> {
    pub transport: &'a Transport,
    /// The host and ssh settings, to connect again when the session is lost
    /// during activation (`None`: no second try).
    pub reconnect: Option<(&'a crate::config::Host, &'a crate::remote::SshSettings)>,
    /// How long to try (`activate::RECONNECT_FOR` but in tests).
    pub reconnect_for: Duration,
    /// `NIX_SSHOPTS` for `nix copy` (through the host's ssh master).
    pub nix_sshopts: Option<String>,
    pub password: Option<&'a Secret>,
    /// Deadline of a quick remote command (readlink).
    pub command_timeout: Duration,
    /// Deadline of the profile and activation commands.
    pub action_timeout: Duration,
}

impl<'a> Context<'a> {
    /// The same context over another session (one made after a reconnect).
    pub fn over<'b>(&self, transport: &'b Transport) -> Context<'b>
    where
        'a: 'b,
    {
        Context {
            transport,
            ..self.clone()
        }
    }
}

/// Runs every step of `plan`, stopping at the first that fails. Returns
/// whether all of them worked.
pub async fn run(
    plan: &Plan,
    cx: &Context<'_>,
    events: &crate::deploy::Events,
    approval: Option<tokio::sync::oneshot::Receiver<bool>>,
) -> bool {
    // Held until this returns: one deploy per host, whoever starts it.
    let Some(_lock) = super::host_lock::step(plan, cx, events).await else {
        return false;
    };
    let before = current_system(cx).await;
    events.send(Event::Before(before.clone())).await;

    // A rollback builds and copies nothing: the generation is on the host.
    let built = match &plan.rollback {
        Some(r) => {
            events.send(Event::Built(r.to.path.clone())).await;
            r.to.path.clone()
        }
        None => match build_and_copy(plan, cx, before.as_deref(), events).await {
            Some(built) => built,
            None => return false,
        },
    };

    events.send(Event::Started(StepKind::Changes)).await;
    let result = changes(cx, before.as_deref(), &built, events)
        .await
        .or_else(|why| Ok::<_, String>(format!("not known: {why}")));
    events
        .send(Event::Finished(StepKind::Changes, result))
        .await;

    // confirm_activation: nothing changes on the host without a yes.
    if plan.confirm_activation {
        events.send(Event::AwaitingYes).await;
        let yes = match approval {
            Some(answer) => answer.await.unwrap_or(false),
            None => false,
        };
        if !yes {
            let next = plan
                .steps()
                .into_iter()
                .find(|s| matches!(s, StepKind::Profile | StepKind::Activate))
                .unwrap_or(StepKind::Activate);
            events
                .send(Event::Finished(
                    next,
                    Err("not activated: no yes was given (confirm_activation)".into()),
                ))
                .await;
            return false;
        }
    }

    if plan.action.sets_profile() {
        events.send(Event::Started(StepKind::Profile)).await;
        let result = remote_step(cx, &plan.profile_argv(&built), StepKind::Profile, events)
            .await
            .map(|_| "system profile set".to_string());
        let ok = result.is_ok();
        events
            .send(Event::Finished(StepKind::Profile, result))
            .await;
        if !ok {
            return false;
        }
    }

    events.send(Event::Started(StepKind::Activate)).await;
    // Detached on the host: a dropped connection does not half-activate it.
    let (result, fresh) = super::activate::run(plan, cx, &built, events).await;
    let ok = result.is_ok();
    // The words come from what switch-to-configuration said (see `Deploy::apply`).
    events
        .send(Event::Finished(
            StepKind::Activate,
            result.map(|_| String::new()),
        ))
        .await;
    if !ok {
        if let Some(t) = fresh {
            t.close().await;
        }
        return false;
    }
    // After a reconnect, the new session for what follows.
    let reconnected = fresh.as_ref().map(|t| cx.over(t));
    let cx = reconnected.as_ref().unwrap_or(cx);

    events.send(Event::Started(StepKind::Verify)).await;
    let (verified, again) = verify(plan, cx, &built, before.as_deref(), events).await;
    let ok = !verified.is_failure();
    events.send(verified.event()).await;
    let reconnected_again = again.as_ref().map(|t| cx.over(t));
    let cx = reconnected_again.as_ref().unwrap_or(cx);
    look_after(plan, cx, events).await;
    for t in [fresh, again].into_iter().flatten() {
        t.close().await;
    }
    ok
}

/// Probes the host after the deploy (its system, activation time and
/// watched services), for the diagnoses. Quietly nothing when it fails:
/// the deploy's steps have said what they did.
pub(super) async fn look_after(plan: &Plan, cx: &Context<'_>, events: &crate::deploy::Events) {
    let Ok(probe) = crate::probe::fetch(cx.transport, &plan.services, cx.command_timeout).await
    else {
        return;
    };
    let rev = probe.configuration_revision.clone();
    events.send(Event::After(Box::new(probe))).await;
    if let Some(check) = &plan.http_check {
        let served = http_check(cx.transport, check, rev.as_deref()).await;
        events.send(Event::Served(served)).await;
    }
}

/// Fetches the check's page on the host and judges it.
pub async fn http_check(
    transport: &Transport,
    check: &crate::config::HttpCheck,
    rev: Option<&str>,
) -> super::http_check::Served {
    use super::http_check::{argv, judge, Served, CURL_SECS};
    let limit = Duration::from_secs(CURL_SECS + 5);
    match transport.output(&argv(check), None, limit).await {
        Ok(out) => judge(check, rev, &out),
        Err(e) => Served::not_fetched(check, rev, e),
    }
}

/// Builds the system here and copies it to the host; its store path, or
/// `None` when a step failed (it said why).
async fn build_and_copy(
    plan: &Plan,
    cx: &Context<'_>,
    before: Option<&str>,
    events: &crate::deploy::Events,
) -> Option<String> {
    events.send(Event::Started(StepKind::Build)).await;
    let built = match local(&plan.build_argv(), None, StepKind::Build, events).await {
        Ok((stdout, _)) => match crate::nix::parse_build_json(stdout.as_bytes()) {
            Some(path) if crate::probe::is_store_path(&path) => path,
            _ => {
                events
                    .send(Event::Finished(
                        StepKind::Build,
                        Err(format!(
                            "nix build printed no store path: {}",
                            crate::text::quote(stdout.trim())
                        )),
                    ))
                    .await;
                return None;
            }
        },
        Err(why) => {
            events
                .send(Event::Finished(StepKind::Build, Err(why)))
                .await;
            return None;
        }
    };
    events.send(Event::Built(built.clone())).await;
    let same = before == Some(built.as_str());
    events
        .send(Event::Finished(
            StepKind::Build,
            Ok(if same {
                format!("{} (what the host runs already)", name(&built))
            } else {
                name(&built)
            }),
        ))
        .await;

    if plan.remote {
        events.send(Event::Started(StepKind::Copy)).await;
        let env = cx.nix_sshopts.clone().map(|o| ("NIX_SSHOPTS", o));
        match local(&plan.copy_argv(&built), env, StepKind::Copy, events).await {
            Ok(_) => {
                events
                    .send(Event::Finished(
                        StepKind::Copy,
                        Ok(format!("to {}", plan.target)),
                    ))
                    .await
            }
            Err(why) => {
                events.send(Event::Finished(StepKind::Copy, Err(why))).await;
                return None;
            }
        }
    }

    Some(built)
}

/// What the built system changes on the host against what it runs: the
/// versions nix's diff-closures names, and the store paths that are new
/// (or gone) in the closure. Informational: its failure does not stop the deploy.
pub(super) async fn changes(
    cx: &Context<'_>,
    before: Option<&str>,
    built: &str,
    events: &crate::deploy::Events,
) -> Result<String, String> {
    let Some(before) = before else {
        return Ok("the host runs no system deploytui can read: all of it is new".into());
    };
    if before == built {
        return Ok("nothing: the host runs this very system".into());
    }
    let mut lines = Vec::new();
    let diff = cx
        .transport
        .output(&super::diff_argv(before, built), None, cx.action_timeout)
        .await;
    let versions: Vec<String> = match &diff {
        Ok(out) if out.success() => out
            .stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| crate::text::clean(l).into_owned())
            .collect(),
        _ => Vec::new(),
    };
    lines.extend(versions.iter().map(|l| format!("version: {l}")));
    let closure = |path: &str| {
        let argv: Vec<String> = ["nix-store", "--query", "--requisites", "--", path]
            .map(String::from)
            .to_vec();
        async move {
            cx.transport
                .output(&argv, None, cx.action_timeout)
                .await
                .ok()
                .filter(|o| o.success())
                .map(|o| {
                    o.stdout
                        .lines()
                        .filter(|l| crate::probe::is_store_path(l))
                        .map(str::to_string)
                        .collect::<std::collections::BTreeSet<String>>()
                })
        }
    };
    let (old, new) = tokio::join!(closure(before), closure(built));
    let (Some(old), Some(new)) = (old, new) else {
        events.send(Event::Output(StepKind::Changes, lines)).await;
        return Err("the host did not list the two closures".into());
    };
    let (listed, words) = closure_changes(&old, &new, versions.len());
    lines.extend(listed);
    events.send(Event::Output(StepKind::Changes, lines)).await;
    Ok(words)
}

/// Two closures compared by store name: rebuilt (the name in both, a new
/// path: new contents), new, and gone; the log's lines and one line of words.
fn closure_changes(
    old: &std::collections::BTreeSet<String>,
    new: &std::collections::BTreeSet<String>,
    versions: usize,
) -> (Vec<String>, String) {
    use std::collections::BTreeSet;
    let names = |set: &BTreeSet<String>, other: &BTreeSet<String>| -> BTreeSet<String> {
        set.difference(other)
            .map(|p| store_name(p).to_string())
            .collect()
    };
    let (came, went) = (names(new, old), names(old, new));
    let rebuilt: Vec<&str> = came.intersection(&went).map(String::as_str).collect();
    let added: Vec<&str> = came.difference(&went).map(String::as_str).collect();
    let gone: Vec<&str> = went.difference(&came).map(String::as_str).collect();
    let mut lines: Vec<String> = rebuilt.iter().map(|n| format!("rebuilt: {n}")).collect();
    lines.extend(added.iter().map(|n| format!("new: {n}")));
    lines.extend(gone.iter().map(|n| format!("gone: {n}")));
    let mut words = Vec::new();
    for (list, what) in [(&rebuilt, "rebuilt"), (&added, "new"), (&gone, "gone")] {
        if !list.is_empty() {
            words.push(format!("{} {what} ({})", list.len(), shortened(list)));
        }
    }
    if words.is_empty() {
        words.push("the same store paths".into());
    }
    words.push(if versions == 0 {
        "no version changed".into()
    } else {
        crate::text::count(versions as u64, "version changed", "versions changed")
    });
    (lines, words.join(" · "))
}

fn store_name(path: &str) -> &str {
    crate::nix::internal_json::store_name(path)
}

/// The first few names, and how many more.
fn shortened(names: &[&str]) -> String {
    const SHOWN: usize = 3;
    let mut text = names
        .iter()
        .take(SHOWN)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        text.push_str(&format!(", +{} more", names.len() - SHOWN));
    }
    text
}

/// `/nix/store/<hash>-nixos-system-server1-1.0.0` → `nixos-system-server1-1.0.0`.
fn name(path: &str) -> String {
    crate::nix::internal_json::store_name(path).to_string()
}

pub(super) async fn current_system(cx: &Context<'_>) -> Option<String> {
    read_link(cx.transport, "/run/current-system", cx.command_timeout)
        .await
        .ok()
        .flatten()
}

/// Where a link on the host points: `Ok(None)` when it is not a store
/// path; `Err` when the host could not be asked.
async fn read_link(
    transport: &Transport,
    link: &str,
    limit: Duration,
) -> Result<Option<String>, String> {
    let argv = vec![
        "readlink".to_string(),
        "-f".into(),
        "--".into(),
        link.into(),
    ];
    let out = transport
        .output(&argv, None, limit)
        .await
        .map_err(|e| e.to_string())?;
    let path = out.stdout.trim().to_string();
    Ok((out.success() && crate::probe::is_store_path(&path)).then_some(path))
}

/// Reads a link after activation, when the session may be gone (the new
/// system restarted the network, the master died idle during a flood): a
/// failed read reconnects, as activation does, and tries once more. The
/// new session, if one was made, is for what follows.
pub(super) async fn read_link_after(
    cx: &Context<'_>,
    link: &str,
    step: StepKind,
    events: &crate::deploy::Events,
) -> (Result<Option<String>, String>, Option<Transport>) {
    let first = match read_link(cx.transport, link, cx.command_timeout).await {
        Err(why) => why,
        read => return (read, None),
    };
    if cx.reconnect.is_none() {
        return (Err(first), None);
    }
    events
        .send(Event::Output(
            step,
            vec![format!("cannot reach the host ({first}): reconnecting…")],
        ))
        .await;
    match super::activate::reconnect(cx).await {
        Some(t) => (read_link(&t, link, cx.command_timeout).await, Some(t)),
        None => (
            Err(format!(
                "{first}; the host did not answer for {}s",
                cx.reconnect_for.as_secs()
            )),
            None,
        ),
    }
}

/// How a verify ended. `Unknown` is not a failure: the host could not be
/// asked, so what it runs is not known (it may well run the new system).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    Yes(String),
    No(String),
    Unknown(String),
}

impl Verified {
    pub(super) fn from_read(
        read: Result<Option<String>, String>,
        judge: impl FnOnce(Option<String>) -> Result<String, String>,
    ) -> Verified {
        match read {
            Ok(path) => match judge(path) {
                Ok(what) => Verified::Yes(what),
                Err(why) => Verified::No(why),
            },
            Err(why) => Verified::Unknown(format!(
                "cannot reach the host to check what it runs ({why}): R or `deploytui status` shows it"
            )),
        }
    }

    pub fn is_failure(&self) -> bool {
        matches!(self, Verified::No(_))
    }

    /// The step's end, as the deploy folds it in.
    pub fn event(self) -> Event {
        match self {
            Verified::Yes(what) => Event::Finished(StepKind::Verify, Ok(what)),
            Verified::No(why) => Event::Finished(StepKind::Verify, Err(why)),
            Verified::Unknown(why) => Event::Unknown(StepKind::Verify, why),
        }
    }
}

/// The host runs (or will boot) what was built; with the new session, if
/// the first was lost and another made.
pub async fn verify(
    plan: &Plan,
    cx: &Context<'_>,
    built: &str,
    before: Option<&str>,
    events: &crate::deploy::Events,
) -> (Verified, Option<Transport>) {
    let (link, what) = match plan.action {
        SwitchAction::Switch | SwitchAction::Test | SwitchAction::DryActivate => {
            ("/run/current-system", "runs")
        }
        SwitchAction::Boot => (super::SYSTEM_PROFILE, "boots next"),
    };
    let (read, fresh) = read_link_after(cx, link, StepKind::Verify, events).await;
    let verified = Verified::from_read(read, |path| {
        if plan.action == SwitchAction::DryActivate {
            return if path.as_deref() == before {
                Ok("nothing changed (dry run)".into())
            } else {
                Err("the running system changed during a dry run".into())
            };
        }
        match path {
            Some(path) if path == built => Ok(format!("the host {what} {}", name(built))),
            Some(path) => Err(format!(
                "the host {what} {}, not the built {}",
                name(&path),
                name(built)
            )),
            None => Err(format!("{link} on the host is not a store path")),
        }
    });
    (verified, fresh)
}

/// A command on the host as root: its output into the step's log.
async fn remote_step(
    cx: &Context<'_>,
    argv: &[String],
    step: StepKind,
    events: &crate::deploy::Events,
) -> Result<CommandOutput, String> {
    let out = cx
        .transport
        .output(argv, cx.password, cx.action_timeout)
        .await
        .map_err(|e| e.to_string())?;
    let lines: Vec<String> = out
        .stdout
        .lines()
        .chain(out.stderr.lines())
        .filter(|l| !l.trim().is_empty())
        .map(|l| crate::text::clean(l).into_owned())
        .collect();
    if !lines.is_empty() {
        events.send(Event::Output(step, lines)).await;
    }
    if remote::is_wrong_password(&out) {
        return Err("wrong sudo password".into());
    }
    match out.code {
        Some(0) => Ok(out),
        // switch-to-configuration's own meanings.
        Some(code) if step == StepKind::Activate => {
            super::activation::exit_status(code).map(|()| out)
        }
        Some(code) => Err(format!("exit {code}")),
        None => Err("killed by a signal".into()),
    }
}

/// Runs a command here, its stderr streamed as the step's output in
/// chunks; returns its stdout, or why it failed.
async fn local(
    argv: &[String],
    env: Option<(&str, String)>,
    step: StepKind,
    events: &crate::deploy::Events,
) -> Result<(String, ()), String> {
    let (program, args) = argv.split_first().ok_or("empty command")?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, stopped as a whole on cancel (see GroupGuard);
        // not killed outright on drop: nix must get to stop its builders.
        .process_group(0);
    if let Some((key, value)) = env {
        cmd.env(key, value);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    let mut group = GroupGuard(child.id());
    let mut stdout = child.stdout.take().ok_or("no stdout")?;
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let read_stdout = async move {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text).await;
        text
    };
    // nix speaks internal-json on stderr: read here, in the deploy's own
    // task, so the screen's thread only folds what was already read.
    let send = |batch: Vec<String>| {
        let event = match step {
            StepKind::Build | StepKind::Copy => Event::Nix(
                step,
                batch
                    .iter()
                    .map(|l| crate::nix::internal_json::parse_line(l))
                    .collect(),
            ),
            _ => Event::Output(step, batch),
        };
        events.send(event)
    };
    let stream_stderr = async {
        let mut lines = BufReader::new(stderr).lines();
        let mut batch = Vec::new();
        let mut tick = tokio::time::interval(FLUSH_EVERY);
        loop {
            tokio::select! {
                line = lines.next_line() => match line {
                    Ok(Some(line)) => {
                        batch.push(line);
                        if batch.len() >= FLUSH_LINES {
                            send(std::mem::take(&mut batch)).await;
                        }
                    }
                    _ => break,
                },
                _ = tick.tick() => {
                    if !batch.is_empty() {
                        send(std::mem::take(&mut batch)).await;
                    }
                }
            }
        }
        if !batch.is_empty() {
            send(batch).await;
        }
    };
    let (text, ()) = tokio::join!(read_stdout, stream_stderr);
    let status = child.wait().await.map_err(|e| format!("{program}: {e}"))?;
    // Ended by itself: nothing of its group to stop (and the id may be reused).
    group.0 = None;
    if status.success() {
        Ok((text, ()))
    } else {
        Err(status.code().map_or_else(
            || format!("{program} was killed"),
            |c| format!("{program} exited with {c}"),
        ))
    }
}

/// How long nix gets to stop its builders before its group is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Stops a process group when dropped (a cancelled deploy drops the future
/// running nix). nix runs each builder in a session of its own, so only
/// nix can stop them: it gets SIGTERM first, which it answers by killing
/// its builds, and SIGKILL for the whole group a few seconds later.
pub(super) struct GroupGuard(pub(super) Option<u32>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        use rustix::process::{kill_process_group, Pid, Signal};
        let Some(group) = self
            .0
            .and_then(|id| i32::try_from(id).ok())
            .and_then(Pid::from_raw)
        else {
            return;
        };
        // Gone already is fine.
        if kill_process_group(group, Signal::TERM).is_ok() {
            std::thread::spawn(move || {
                std::thread::sleep(STOP_GRACE);
                let _ = kill_process_group(group, Signal::KILL);
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(paths: &[&str]) -> std::collections::BTreeSet<String> {
        paths.iter().map(|p| format!("/nix/store/{p}")).collect()
    }

    #[test]
    fn closures_compare_by_name_rebuilt_new_and_gone() {
        let old = set(&["aaa-webapp-1.0.0", "bbb-nginx.conf", "ccc-old-tool-1"]);
        let new = set(&["ddd-webapp-1.0.0", "bbb-nginx.conf", "eee-new-tool-2"]);
        let (lines, words) = closure_changes(&old, &new, 0);
        assert_eq!(
            lines,
            [
                "rebuilt: webapp-1.0.0",
                "new: new-tool-2",
                "gone: old-tool-1"
            ]
        );
        assert_eq!(
            words,
            "1 rebuilt (webapp-1.0.0) · 1 new (new-tool-2) · 1 gone (old-tool-1) · no version changed"
        );
        let (_, same) = closure_changes(&old, &old, 0);
        assert_eq!(same, "the same store paths · no version changed");
    }
}
