//! The nixos-rebuild engine: runs the user's own `nixos-rebuild` line (with
//! the flake pane's overrides and the chosen action), answers its sudo
//! password prompt from the password given to deploytui, and turns what it
//! prints into the same steps the native engine reports.
//!
//! nixos-rebuild asks for the password on its terminal (`getpass` opens
//! `/dev/tty`), so it runs with a pseudo-terminal of its own: the prompt
//! arrives there, the password is written there, and echo is off on it from
//! the start, so the password is never printed back. Its stdout and stderr
//! are pipes, so nix prints plain lines rather than a progress bar.

use std::os::fd::AsFd;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use super::native::{self, Context, GroupGuard, FLUSH_EVERY, FLUSH_LINES};
use super::{Event, Plan, StepKind};

mod flags;
mod words;
pub use flags::{fits, read_help, Help, Kind};
pub use words::{action_of, option_value, prompt_in, step_of_line, Prompt};

/// How long an unfinished line must stay as it is before it is taken for a
/// prompt (a line can arrive in pieces).
const PROMPT_SETTLE: Duration = Duration::from_millis(150);
/// How long an unanswered prompt waits before the log says so.
const WAITING_FOR_INPUT: Duration = Duration::from_secs(20);

/// Runs the plan's nixos-rebuild line and then deploytui's own checks
/// (verify, changes). Returns whether everything worked.
pub async fn run(plan: &Plan, cx: &Context<'_>, events: &crate::deploy::Events) -> bool {
    let (Some(written), Some(argv)) = (plan.rebuild_command(), plan.rebuild_argv()) else {
        events
            .send(Event::Finished(
                StepKind::Build,
                Err("this host's engine is not nixos-rebuild".into()),
            ))
            .await;
        return false;
    };
    // Held until this returns: one deploy per host, whoever starts it.
    let Some(_lock) = super::host_lock::step(plan, cx, events).await else {
        return false;
    };
    let before = native::current_system(cx).await;
    events.send(Event::Before(before.clone())).await;
    let mut steps = Steps::new(plan.steps());
    steps.start(StepKind::Build, events).await;
    // Which nixos-rebuild this is decides how it asks for the password; a
    // flag it does not have fails the line before anything runs.
    let kind = match which_nixos_rebuild(written).await {
        Ok(kind) => kind,
        Err(why) => {
            steps.fail(why, events).await;
            return false;
        }
    };
    let result = run_command(&argv, kind, cx, &mut steps, events).await;
    let built = match result {
        Ok(built) => {
            steps.finish_all(events).await;
            built
        }
        Err(why) => {
            steps.fail(why, events).await;
            return false;
        }
    };
    if let Some(path) = &built {
        events.send(Event::Built(path.clone())).await;
    }

    events.send(Event::Started(StepKind::Verify)).await;
    let (verified, again) = match &built {
        Some(path) => native::verify(plan, cx, path, before.as_deref(), events).await,
        None => verify_without_path(plan, cx, before.as_deref(), events).await,
    };
    let ok = !verified.is_failure();
    events.send(verified.event()).await;
    let reconnected = again.as_ref().map(|t| cx.over(t));
    let cx = reconnected.as_ref().unwrap_or(cx);
    native::look_after(plan, cx, events).await;

    // What changed, after the fact: nixos-rebuild activates without a pause.
    events.send(Event::Started(StepKind::Changes)).await;
    let now = match &built {
        Some(path) => Some(path.clone()),
        None => native::current_system(cx).await,
    };
    let result = match now {
        Some(now) => native::changes(cx, before.as_deref(), &now, events)
            .await
            .or_else(|why| Ok(format!("not known: {why}"))),
        None => Ok("not known: the host's system cannot be read".into()),
    };
    events
        .send(Event::Finished(StepKind::Changes, result))
        .await;
    if let Some(t) = again {
        t.close().await;
    }
    ok
}

/// The kind of the line's nixos-rebuild, from its `--help` (`None` when
/// that cannot be read); Err when the line (as the config writes it) uses
/// a sudo flag it lacks.
async fn which_nixos_rebuild(argv: &[String]) -> Result<Option<Kind>, String> {
    let program = argv.first().cloned().unwrap_or_default();
    let help = tokio::task::spawn_blocking(move || read_help(&program))
        .await
        .map_err(|e| e.to_string())?;
    match help {
        Ok(help) => fits(argv, &help).map(|()| help.kind()),
        Err(_) => Ok(None),
    }
}

/// When nixos-rebuild did not say what it built: what the host runs now,
/// and whether that changed.
async fn verify_without_path(
    plan: &Plan,
    cx: &Context<'_>,
    before: Option<&str>,
    events: &crate::deploy::Events,
) -> (native::Verified, Option<crate::remote::Transport>) {
    let link = "/run/current-system";
    let (read, again) = native::read_link_after(cx, link, StepKind::Verify, events).await;
    let verified = native::Verified::from_read(read, |now| {
        let now = now.ok_or(format!("{link} on the host is not a store path"))?;
        let name = crate::nix::internal_json::store_name(&now);
        if !plan.action.changes_running() {
            return Ok(format!(
                "the host runs {name} (nixos-rebuild did not say what it built)"
            ));
        }
        if before == Some(now.as_str()) {
            Err(format!(
                "the host runs {name}, as before the deploy (nixos-rebuild did not say what it built)"
            ))
        } else {
            Ok(format!("the host runs {name} (new)"))
        }
    });
    (verified, again)
}

/// The steps nixos-rebuild goes through on its own (build, copy, activate),
/// advanced by what it prints.
struct Steps {
    order: Vec<StepKind>,
    /// Index in `order` of the running step.
    at: usize,
}

impl Steps {
    fn new(plan_steps: Vec<StepKind>) -> Steps {
        let order = plan_steps
            .into_iter()
            .filter(|s| matches!(s, StepKind::Build | StepKind::Copy | StepKind::Activate))
            .collect();
        Steps { order, at: 0 }
    }

    fn current(&self) -> StepKind {
        self.order[self.at]
    }

    async fn start(&self, kind: StepKind, events: &crate::deploy::Events) {
        events.send(Event::Started(kind)).await;
    }

    /// Moves on to `kind` when it comes later: every step before it is done.
    async fn advance(&mut self, kind: StepKind, events: &crate::deploy::Events) -> bool {
        let Some(to) = self.order.iter().position(|s| *s == kind) else {
            return false;
        };
        if to <= self.at {
            return false;
        }
        while self.at < to {
            let done = self.current();
            events
                .send(Event::Finished(done, Ok(done_words(done))))
                .await;
            self.at += 1;
            self.start(self.current(), events).await;
        }
        true
    }

    /// nixos-rebuild ended well: every step it runs is done.
    async fn finish_all(&mut self, events: &crate::deploy::Events) {
        let last = *self.order.last().unwrap_or(&StepKind::Build);
        self.advance(last, events).await;
        // The activation's words are what switch-to-configuration said.
        let words = if last == StepKind::Activate {
            String::new()
        } else {
            done_words(last)
        };
        events.send(Event::Finished(last, Ok(words))).await;
    }

    async fn fail(&self, why: String, events: &crate::deploy::Events) {
        events.send(Event::Finished(self.current(), Err(why))).await;
    }
}

fn done_words(step: StepKind) -> String {
    match step {
        StepKind::Build => "built by nixos-rebuild".into(),
        StepKind::Copy => "copied by nixos-rebuild".into(),
        other => format!("{} done", other.name()),
    }
}

/// One output stream of the command: bytes until a newline, whole lines out.
struct Stream {
    partial: Vec<u8>,
    done: bool,
    /// When the unfinished line last changed.
    changed: Instant,
    /// The unfinished line was said to wait for input.
    told: bool,
}

impl Stream {
    fn new() -> Stream {
        Stream {
            partial: Vec::new(),
            done: false,
            changed: Instant::now(),
            told: false,
        }
    }

    /// Takes `bytes`, returns the lines they finish.
    fn take(&mut self, bytes: &[u8]) -> Vec<String> {
        self.partial.extend_from_slice(bytes);
        self.changed = Instant::now();
        self.told = false;
        let mut lines = Vec::new();
        while let Some(end) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            let text = String::from_utf8_lossy(&line[..end]);
            lines.push(text.trim_end_matches('\r').to_string());
        }
        lines
    }

    fn tail(&self) -> String {
        String::from_utf8_lossy(&self.partial).into_owned()
    }
}

/// What the command printed, on its way to the log: each line goes to the
/// step it belongs to, in batches.
struct Lines<'a> {
    batch: Vec<String>,
    events: &'a crate::deploy::Events,
    /// The store path it printed on stdout (`Done. The new configuration is …`).
    built: Option<String>,
    wrong_password: bool,
}

impl Lines<'_> {
    async fn push(&mut self, line: &str, from_stdout: bool, steps: &mut Steps) {
        let clean = crate::text::clean(line).into_owned();
        // What it built, alone on stdout: the `built` line says it.
        if from_stdout && crate::probe::is_store_path(clean.trim()) {
            self.built = Some(clean.trim().to_string());
            return;
        }
        if crate::remote::says_wrong_password(&clean) {
            self.wrong_password = true;
        }
        if let Some(step) = step_of_line(&clean) {
            if steps.order.contains(&step) && step != steps.current() {
                self.flush(steps.current()).await;
                steps.advance(step, self.events).await;
            }
        }
        if !line.trim().is_empty() {
            self.batch.push(line.to_string());
        }
        if self.batch.len() >= FLUSH_LINES {
            self.flush(steps.current()).await;
        }
    }

    async fn flush(&mut self, step: StepKind) {
        if !self.batch.is_empty() {
            self.events
                .send(Event::Output(step, std::mem::take(&mut self.batch)))
                .await;
        }
    }
}

/// Runs the command on a terminal of its own; returns the store path it
/// said it built (if it said), or why it failed.
async fn run_command(
    argv: &[String],
    kind: Option<Kind>,
    cx: &Context<'_>,
    steps: &mut Steps,
    events: &crate::deploy::Events,
) -> Result<Option<String>, String> {
    let (program, args) = argv.split_first().ok_or("empty rebuild_command")?;
    let (pty, pts) = pty_process::open().map_err(|e| format!("cannot open a terminal: {e}"))?;
    // No echo, ever: whatever is typed there (the password) is not printed back.
    no_echo(&pts).map_err(|e| format!("cannot set up the terminal: {e}"))?;
    let mut cmd = pty_process::Command::new(program)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(ours) = &cx.nix_sshopts {
        // Ours first: ssh takes the first value of an option. nixos-rebuild-ng
        // puts these before its own ControlPath on its ssh commands, which then
        // reuse deploytui's master; NixOS 25.05/25.11's puts its own first for
        // nix-copy-closure, whose copy then connects anew with our port and keys.
        let theirs = std::env::var("NIX_SSHOPTS").unwrap_or_default();
        cmd = cmd.env("NIX_SSHOPTS", format!("{ours} {theirs}").trim_end());
    }
    let mut child = cmd.spawn(pts).map_err(|e| match e {
        pty_process::Error::Io(io) if io.kind() == std::io::ErrorKind::NotFound => {
            format!("cannot run `{program}`: not found on PATH")
        }
        other => format!("cannot run `{program}`: {other}"),
    })?;
    // A session of its own, so its group is its id: stopped as a whole on cancel.
    let mut group = GroupGuard(child.id());
    let mut stdout = child.stdout.take().ok_or("no stdout")?;
    let mut stderr = child.stderr.take().ok_or("no stderr")?;
    let (mut pty_read, mut pty_write) = pty.into_split();

    let mut lines = Lines {
        batch: Vec::new(),
        events,
        built: None,
        wrong_password: false,
    };
    let (mut out, mut err, mut term) = (Stream::new(), Stream::new(), Stream::new());
    let mut answers = 0u32;
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    let (mut b1, mut b2, mut b3) = ([0u8; 8192], [0u8; 8192], [0u8; 4096]);
    let failure: Option<String> = loop {
        if out.done && err.done {
            break None;
        }
        tokio::select! {
            n = read(&mut stdout, &mut b1), if !out.done => match n {
                Some(n) => for l in out.take(&b1[..n]) { lines.push(&l, true, steps).await },
                None => out.done = true,
            },
            n = read(&mut stderr, &mut b2), if !err.done => match n {
                Some(n) => for l in err.take(&b2[..n]) { lines.push(&l, false, steps).await },
                None => err.done = true,
            },
            // The terminal ends with an error (EIO) once nobody holds it.
            n = read(&mut pty_read, &mut b3), if !term.done => match n {
                Some(n) => for l in term.take(&b3[..n]) { lines.push(&l, false, steps).await },
                None => term.done = true,
            },
            _ = tick.tick() => {
                lines.flush(steps.current()).await;
                // A prompt is an unfinished line that stays as it is.
                let settled = |s: &Stream| !s.partial.is_empty() && s.changed.elapsed() >= PROMPT_SETTLE;
                // The bash nixos-rebuild's `ssh -t` brings the host's terminal,
                // and its sudo prompts, to stdout.
                let stdout_prompts = kind == Some(Kind::Bash);
                let asking = [(&mut term, true), (&mut err, true), (&mut out, stdout_prompts)]
                    .into_iter()
                    .filter_map(|(s, may_ask)| may_ask.then_some(s))
                    .find(|s| settled(s) && prompt_in(&s.tail()).is_some());
                if let Some(stream) = asking {
                    let tail = stream.tail();
                    stream.partial.clear();
                    let asked = Asked {
                        prompt: prompt_in(&tail),
                        kind,
                        answers,
                        said_wrong: lines.wrong_password,
                    };
                    match (reply(&asked, cx.password.is_some()), cx.password) {
                        (Reply::Answer, Some(password)) => {
                            answers += 1;
                            lines.push(&format!("{} (answered by deploytui)", tail.trim_end()), false, steps).await;
                            let line = crate::remote::secret_line(password);
                            if let Err(e) = pty_write.write_all(&line).await {
                                break Some(format!("cannot answer its password prompt: {e}"));
                            }
                        }
                        (Reply::Answer, None) => unreachable!("answered only with a password"),
                        (Reply::Stop(why), _) => {
                            lines.push(tail.trim_end(), false, steps).await;
                            break Some(why);
                        }
                    }
                } else {
                    for s in [&mut term, &mut err, &mut out] {
                        if !s.partial.is_empty() && !s.told && s.changed.elapsed() >= WAITING_FOR_INPUT {
                            s.told = true;
                            events.send(Event::Output(steps.current(), vec![format!(
                                "nixos-rebuild waits for input deploytui does not answer: {} (Esc stops it)",
                                crate::text::quote(s.tail().trim_end())
                            )])).await;
                        }
                    }
                }
            }
        }
    };
    for s in [&mut out, &mut err, &mut term] {
        let mut tail = s.tail();
        // `Done. The new configuration is ` (stderr) ends with the path (stdout).
        if let (true, Some(path)) = (tail.ends_with(" is "), &lines.built) {
            tail.push_str(path);
        }
        if !tail.trim().is_empty() {
            lines.push(&tail, false, steps).await;
        }
    }
    lines.flush(steps.current()).await;
    if let Some(why) = failure {
        // `group` stops what is left of it.
        return Err(why);
    }
    let status = child.wait().await.map_err(|e| format!("{program}: {e}"))?;
    // Ended by itself: nothing of its group to stop (and the id may be reused).
    group.0 = None;
    if lines.wrong_password {
        return Err("wrong sudo password".into());
    }
    match status.code() {
        Some(0) => Ok(lines.built),
        // nixos-rebuild exits with switch-to-configuration's own code (it
        // comes back through systemd-run --pipe and ssh unchanged).
        // The bash nixos-rebuild turns every failed switch into exit 1.
        Some(1) if steps.current() == StepKind::Activate && kind == Some(Kind::Bash) => Err(
            "switch-to-configuration failed (the bash nixos-rebuild reports every failure \
             as exit 1: its lines say why)"
                .into(),
        ),
        Some(code) if steps.current() == StepKind::Activate => {
            super::activation::exit_status(code).map(|()| lines.built)
        }
        Some(code) => Err(format!("{program} exited with {code}")),
        None => Err(format!("{program} was killed")),
    }
}

/// A prompt nixos-rebuild showed, and what came before it.
struct Asked {
    prompt: Option<Prompt>,
    kind: Option<Kind>,
    /// Prompts answered so far in this deploy.
    answers: u32,
    /// sudo said the password was wrong (`Sorry, try again.`).
    said_wrong: bool,
}

enum Reply {
    /// Send the password typed into deploytui.
    Answer,
    /// Stop the deploy, for this reason.
    Stop(String),
}

/// The bash nixos-rebuild runs sudo on the host once per command (the
/// profile, a systemd-run check, the switch): each asks anew. More than
/// this is not a deploy's worth of commands.
const MOST_ANSWERS: u32 = 6;

/// What to do about a prompt: the sudo password goes only to sudo's own
/// prompt, again only to the bash nixos-rebuild (ng asks once), and never
/// once sudo said it was wrong.
fn reply(asked: &Asked, have_password: bool) -> Reply {
    let stop = |why: &str| Reply::Stop(why.to_string());
    match asked.prompt {
        Some(Prompt::Sudo) if !have_password => Reply::Stop(if asked.kind == Some(Kind::Bash) {
            "the host's sudo asked for a password (--use-remote-sudo), and this host has none: \
             set sudo = \"password\""
                .into()
        } else {
            "it asked for a sudo password, and this host has none: \
             set sudo = \"password\" (or add --ask-sudo-password)"
                .into()
        }),
        Some(Prompt::Sudo) if asked.said_wrong => {
            stop("wrong sudo password: sudo refused it and asked again")
        }
        Some(Prompt::Sudo) if asked.answers == 0 => Reply::Answer,
        Some(Prompt::Sudo) if asked.kind != Some(Kind::Bash) => {
            stop("wrong sudo password: it asked for it again")
        }
        Some(Prompt::Sudo) if asked.answers < MOST_ANSWERS => Reply::Answer,
        Some(Prompt::Sudo) => Reply::Stop(format!(
            "it asked for the sudo password more than {MOST_ANSWERS} times: stopped"
        )),
        Some(Prompt::Login) => stop(
            "ssh asked for a login password: deploytui logs in with keys only; \
             check identity_file and that deploytui reached the host",
        ),
        Some(Prompt::Passphrase) | None => {
            stop("ssh asked for a key passphrase: load the key into ssh-agent first")
        }
    }
}

/// Reads what is there; `None` at the end (or on an error: a terminal
/// nobody holds any more reads as EIO).
async fn read<R: AsyncRead + Unpin>(reader: &mut R, buf: &mut [u8]) -> Option<usize> {
    match reader.read(buf).await {
        Ok(0) | Err(_) => None,
        Ok(n) => Some(n),
    }
}

fn no_echo(pts: &impl AsFd) -> rustix::io::Result<()> {
    use rustix::termios::{tcgetattr, tcsetattr, LocalModes, OptionalActions};
    let mut modes = tcgetattr(pts)?;
    modes.local_modes.remove(LocalModes::ECHO);
    tcsetattr(pts, OptionalActions::Now, &modes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_gives_whole_lines_and_keeps_the_rest() {
        let mut s = Stream::new();
        assert_eq!(s.take(b"one\r\ntw"), ["one"]);
        assert_eq!(s.tail(), "tw");
        assert_eq!(s.take(b"o\n[sudo] password for x: "), ["two"]);
        assert_eq!(prompt_in(&s.tail()), Some(Prompt::Sudo));
    }

    /// ng asks once; the bash nixos-rebuild's host asks once per command,
    /// each answered, until sudo says the password was wrong.
    #[test]
    fn sudo_prompts_are_answered_as_each_nixos_rebuild_asks() {
        let asked = |kind, answers, said_wrong| Asked {
            prompt: Some(Prompt::Sudo),
            kind,
            answers,
            said_wrong,
        };
        let answer = |a: &Asked| matches!(reply(a, true), Reply::Answer);
        let stop = |a: &Asked, have: bool| match reply(a, have) {
            Reply::Stop(why) => why,
            Reply::Answer => panic!("answered"),
        };
        for kind in [None, Some(Kind::Ng), Some(Kind::Bash)] {
            assert!(answer(&asked(kind, 0, false)), "{kind:?}: the first prompt");
            assert!(stop(&asked(kind, 1, true), true).contains("sudo refused it"));
        }
        assert!(stop(&asked(Some(Kind::Ng), 1, false), true).contains("asked for it again"));
        assert!(
            answer(&asked(Some(Kind::Bash), 2, false)),
            "bash: the third command"
        );
        assert!(stop(&asked(Some(Kind::Bash), MOST_ANSWERS, false), true).contains("more than"));
        assert!(stop(&asked(Some(Kind::Bash), 0, false), false)
            .contains("(--use-remote-sudo), and this host has none"));
        let login = Asked {
            prompt: Some(Prompt::Login),
            ..asked(Some(Kind::Bash), 0, false)
        };
        assert!(stop(&login, true).contains("login password"));
    }
}
