//! Activation that survives a dropped connection. switch-to-configuration
//! runs on the host detached from the ssh session: as a transient systemd
//! unit with a unique name (as nixos-rebuild-ng does, but a leftover unit
//! never blocks the next deploy), or, on a host without systemd as PID 1,
//! in a session of its own. Its output and exit status go to files under
//! /run/deploytui; deploytui follows them, and when the connection drops it
//! says so, reconnects and follows on from the line it had, then reports
//! what really happened.

use std::time::{Duration, Instant};

use super::native::Context;
use super::{Event, Plan, StepKind};
use crate::remote::Transport;

/// Where deploytui keeps its files on a host (in /run: a reboot clears it):
/// each activation's log, status and pid, and the deploy lock. The shell
/// scripts below name it as it is.
pub const RUN_DIR: &str = "/run/deploytui";

/// How long deploytui tries to reach the host again after losing it.
pub const RECONNECT_FOR: Duration = Duration::from_secs(90);
const RECONNECT_EVERY: Duration = Duration::from_secs(1);

/// The detached job, `sh -c JOB STC ACTION BASE`: runs switch-to-configuration
/// into BASE.log, then writes `<exit code> end` to BASE.status. Shell builtins
/// only: in a transient unit on NixOS, PATH holds systemd's own tools and no
/// coreutils (nixpkgs patches systemd's default PATH), so an `mv` there fails
/// and the status would never come. A reader takes the status only once it
/// ends in `end`, so a half-written file is never read as a code.
const JOB: &str = r#"b=$2; echo $$ > "$b.pid"; exec >>"$b.log" 2>&1 </dev/null; "$0" "$1"; echo "$? end" > "$b.status""#;

/// Starts the activation detached (as root): `sh -c START _ ID STC ACTION JOB`.
const START: &str = r#"id=$1; stc=$2; action=$3; job=$4
dir=/run/deploytui
mkdir -p "$dir" && chmod 755 "$dir" || exit 90
b=$dir/$id
# The log is the login user's alone (sudo says who that is); deploytui
# removes the files once it has read how the activation ended.
: > "$b.log" && chown "${SUDO_UID:-0}" "$b.log" && chmod 600 "$b.log" || exit 90
if [ -d /run/systemd/system ] && command -v systemd-run >/dev/null 2>&1; then
  # systemd expands $$ to $ in a unit's command line (as it does in ExecStart=),
  # so each $ of the job goes doubled.
  unit_job=$(printf '%s\n' "$job" | sed 's/\$/$$/g')
  systemd-run --unit="deploytui-activate-$id" --collect --service-type=exec --quiet -- /bin/sh -c "$unit_job" "$stc" "$action" "$b" || exit 91
  echo "@@started unit deploytui-activate-$id"
else
  setsid /bin/sh -c "$job" "$stc" "$action" "$b" </dev/null >/dev/null 2>&1 &
  echo "@@started setsid"
fi"#;

/// Follows it from line N (as the login user): its new lines as they come,
/// each after a `|` (so nothing the activation prints can pass for a
/// marker), then `@@status CODE`, or `@@status lost` when it ended without one.
const FOLLOW: &str = r#"b=/run/deploytui/$1; n=$2
ended() { s=$(cat "$b.status" 2>/dev/null); case $s in *" end") return 0 ;; esac; return 1; }
while :; do
  fin=0; ended && fin=1
  if [ -e "$b.log" ]; then
    total=$(wc -l < "$b.log")
    if [ "$total" -gt "$n" ]; then sed -n "$((n+1)),${total}s/^/|/p" "$b.log"; n=$total; fi
  fi
  if [ $fin = 1 ]; then echo "@@status ${s% end}"; exit 0; fi
  if [ -s "$b.pid" ] && [ ! -d "/proc/$(cat "$b.pid")" ]; then
    sleep 0.5; ended && continue
    echo "@@status lost"; exit 0
  fi
  sleep 0.2
done"#;

/// A name for this activation, unique on the host: its unit and files.
pub fn unique_id() -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("{millis}-{}", std::process::id())
}

pub fn start_argv(plan: &Plan, id: &str, system: &str) -> Vec<String> {
    crate::remote::privileged(
        plan.sudo,
        &[
            "sh".into(),
            "-c".into(),
            START.into(),
            "deploytui-activate".into(),
            id.into(),
            format!("{system}/bin/switch-to-configuration"),
            plan.action.as_str().into(),
            JOB.into(),
        ],
    )
}

pub fn follow_argv(id: &str, from_line: usize) -> Vec<String> {
    vec![
        "sh".into(),
        "-c".into(),
        FOLLOW.into(),
        "deploytui-follow".into(),
        id.into(),
        from_line.to_string(),
    ]
}

/// How a follow ended.
#[derive(Debug, PartialEq, Eq)]
enum Followed {
    /// switch-to-configuration's exit status.
    Status(i32),
    /// It ended without writing one (killed, or the host went down).
    Lost,
    /// The connection broke first.
    Disconnected,
}

/// Runs the activation; its result in the step's words, and the transport
/// to go on with when the first one was lost and a new one made.
pub async fn run(
    plan: &Plan,
    cx: &Context<'_>,
    system: &str,
    events: &crate::deploy::Events,
) -> (Result<(), String>, Option<Transport>) {
    let say = |line: String| events.send(Event::Output(StepKind::Activate, vec![line]));
    let id = unique_id();
    let started = match cx
        .transport
        .output(
            &start_argv(plan, &id, system),
            cx.password,
            cx.action_timeout,
        )
        .await
    {
        Ok(out) => out,
        Err(e) => return (Err(e.to_string()), None),
    };
    if crate::remote::is_wrong_password(&started) {
        return (Err("wrong sudo password".into()), None);
    }
    match started.stdout.lines().find_map(|l| l.strip_prefix("@@started ")) {
        Some(how) if how.starts_with("unit ") => say(format!(
            "activation runs on the host as the transient unit {} (it goes on if the connection drops)",
            crate::text::clean(&how["unit ".len()..])
        ))
        .await,
        Some(_) => say(
            "the host has no systemd as PID 1: activation runs in a session of its own instead of \
             a transient unit (it goes on if the connection drops)"
                .into(),
        )
        .await,
        None => {
            let why = crate::text::clean(started.stderr.trim()).into_owned();
            return (
                Err(format!(
                    "the activation did not start ({}): {why}",
                    started.code.map_or("killed".into(), |c| format!("exit {c}"))
                )),
                None,
            );
        }
    }

    let mut line = 0usize;
    let mut fresh: Option<Transport> = None;
    loop {
        let transport = fresh.as_ref().unwrap_or(cx.transport);
        match follow(transport, &id, &mut line, events).await {
            Followed::Status(code) => {
                remove_files(plan, cx, transport, &id).await;
                return (super::activation::exit_status(code), fresh);
            }
            Followed::Lost => {
                remove_files(plan, cx, transport, &id).await;
                return (
                    Err("the activation ended on the host without an exit status (killed?)".into()),
                    fresh,
                );
            }
            Followed::Disconnected => {
                say(
                    "connection lost during activation: it goes on on the host; reconnecting…"
                        .into(),
                )
                .await;
                match reconnect(cx).await {
                    Some(t) => {
                        say(format!(
                            "reconnected: following the activation on from line {}",
                            line + 1
                        ))
                        .await;
                        if let Some(old) = fresh.replace(t) {
                            old.close().await;
                        }
                    }
                    None => {
                        return (
                            Err(format!(
                                "connection lost during activation and the host did not answer \
                                 for {}s: what happened there is not known (probe it)",
                                cx.reconnect_for.as_secs()
                            )),
                            fresh,
                        )
                    }
                }
            }
        }
    }
}

/// Follows the activation's files from `line`, counting the lines it sent.
async fn follow(
    transport: &Transport,
    id: &str,
    line: &mut usize,
    events: &crate::deploy::Events,
) -> Followed {
    let (tx, mut rx) = Transport::lines_channel();
    let argv = follow_argv(id, *line);
    let stream = transport.stream(&argv, tx);
    tokio::pin!(stream);
    let mut ended = None;
    let mut result = None;
    loop {
        tokio::select! {
            got = rx.recv() => match got {
                Some(bytes) => {
                    // What else is waiting goes with it: one report a chunk.
                    let mut batch = Vec::new();
                    let mut next = Some(bytes);
                    while let Some(bytes) = next.take() {
                        let text = String::from_utf8_lossy(&bytes).trim_end().to_string();
                        match read_followed(&text) {
                            FollowLine::Log(log) => {
                                *line += 1;
                                batch.push(log.to_string());
                            }
                            FollowLine::Ended(how) => ended = Some(how),
                            FollowLine::Other(said) => batch.push(format!(
                                "(following it: {})",
                                crate::text::quote(said)
                            )),
                        }
                        if batch.len() < super::native::FLUSH_LINES {
                            next = rx.try_recv().ok();
                        }
                    }
                    if !batch.is_empty() {
                        events.send(Event::Output(StepKind::Activate, batch)).await;
                    }
                }
                None => break,
            },
            r = &mut stream, if result.is_none() => result = Some(r),
        }
    }
    ended.unwrap_or(Followed::Disconnected)
}

/// Removes the activation's files on the host once its end was read: its
/// log may say what the system holds, and a flood of it stays in /run
/// (memory) until a reboot otherwise. A failure here changes nothing.
async fn remove_files(plan: &Plan, cx: &Context<'_>, transport: &Transport, id: &str) {
    let b = format!("{RUN_DIR}/{id}");
    let argv = crate::remote::privileged(
        plan.sudo,
        &[
            "rm".into(),
            "-f".into(),
            "--".into(),
            format!("{b}.log"),
            format!("{b}.status"),
            format!("{b}.pid"),
        ],
    );
    let _ = transport
        .output(&argv, cx.password, cx.command_timeout)
        .await;
}

/// One line the follower printed.
#[derive(Debug, PartialEq, Eq)]
enum FollowLine<'a> {
    /// A line of the activation's log (after its `|`).
    Log(&'a str),
    /// The follower's own marker: how the activation ended.
    Ended(Followed),
    /// Something else (the follower's own error, on stderr).
    Other(&'a str),
}

/// Reads a follower line: a log line is whatever comes after `|`, so only
/// the follower itself can say `@@status`.
fn read_followed(text: &str) -> FollowLine<'_> {
    if let Some(log) = text.strip_prefix('|') {
        return FollowLine::Log(log);
    }
    match text.strip_prefix("@@status ") {
        Some("lost") => FollowLine::Ended(Followed::Lost),
        Some(code) => match code.trim().parse() {
            Ok(code) => FollowLine::Ended(Followed::Status(code)),
            Err(_) => FollowLine::Other(text),
        },
        None => FollowLine::Other(text),
    }
}

/// A new session to the host, tried every second for `cx.reconnect_for`.
pub(super) async fn reconnect(cx: &Context<'_>) -> Option<Transport> {
    let (host, settings) = cx.reconnect?;
    let until = Instant::now() + cx.reconnect_for;
    while Instant::now() < until {
        if let Ok(t) = Transport::connect(host, settings).await {
            return Some(t);
        }
        tokio::time::sleep(RECONNECT_EVERY).await;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The activation printing the follower's marker is a log line like
    /// any other: only the follower's own line ends it.
    #[test]
    fn nothing_the_activation_prints_passes_for_the_followers_marker() {
        assert_eq!(read_followed("|@@status 0"), FollowLine::Log("@@status 0"));
        assert_eq!(read_followed("|"), FollowLine::Log(""));
        assert_eq!(
            read_followed("@@status 4"),
            FollowLine::Ended(Followed::Status(4))
        );
        assert_eq!(
            read_followed("@@status lost"),
            FollowLine::Ended(Followed::Lost)
        );
        assert_eq!(
            read_followed("sed: can't read x"),
            FollowLine::Other("sed: can't read x")
        );
    }

    #[test]
    fn ids_name_a_unit_and_files_safely() {
        let id = unique_id();
        assert!(id.chars().all(|c| c.is_ascii_digit() || c == '-'), "{id}");
        use crate::deploy::activation::exit_status;
        assert_eq!(exit_status(0), Ok(()));
        assert!(exit_status(4).unwrap_err().contains("did switch"));
        assert!(exit_status(100).unwrap_err().contains("reboot to activate"));
        assert_eq!(exit_status(1), Err("exit 1".into()));
    }

    /// The scripts run for real here, with `sh`: a detached job writes its
    /// lines and status; the follower sends them from a given line on.
    #[test]
    fn the_follower_sends_new_lines_then_the_status() {
        let dir = tempfile::tempdir().unwrap();
        let b = dir.path().join("x");
        std::fs::write(b.with_extension("log"), "one\ntwo\nthree\n").unwrap();
        std::fs::write(b.with_extension("status"), "4 end\n").unwrap();
        let script = FOLLOW.replace("/run/deploytui", &dir.path().display().to_string());
        let out = std::process::Command::new("sh")
            .args(["-c", &script, "follow", "x", "1"])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "|two\n|three\n@@status 4\n"
        );
    }

    /// The job needs nothing from PATH: run as NixOS runs a unit, with a
    /// PATH that holds no coreutils, it still logs and says its exit code.
    #[test]
    fn the_job_runs_with_no_tools_on_path() {
        let dir = tempfile::tempdir().unwrap();
        let stc = dir.path().join("switch-to-configuration");
        std::fs::write(&stc, "#!/bin/sh\necho \"activating as $1\"\nexit 4\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&stc, std::fs::Permissions::from_mode(0o755)).unwrap();
        let b = dir.path().join("x");
        let out = std::process::Command::new("/bin/sh")
            .env_clear()
            .env("PATH", dir.path().join("no-tools-here"))
            .args(["-c", JOB])
            .arg(&stc)
            .arg("switch")
            .arg(&b)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let read = |ext: &str| std::fs::read_to_string(b.with_extension(ext)).unwrap();
        assert_eq!(read("log"), "activating as switch\n");
        assert_eq!(read("status"), "4 end\n");
        assert!(read("pid").trim().parse::<u32>().is_ok());
    }

    /// A status not yet written whole is no status: with its job gone, the
    /// follower says it was lost rather than read a code from half a file.
    #[test]
    fn a_half_written_status_is_not_read_as_a_code() {
        let dir = tempfile::tempdir().unwrap();
        let b = dir.path().join("x");
        std::fs::write(b.with_extension("log"), "one\n").unwrap();
        std::fs::write(b.with_extension("status"), "1").unwrap();
        // A pid that has ended: this test's own short-lived child.
        let mut gone = std::process::Command::new("true").spawn().unwrap();
        let pid = gone.id();
        gone.wait().unwrap();
        std::fs::write(b.with_extension("pid"), format!("{pid}\n")).unwrap();
        let script = FOLLOW.replace("/run/deploytui", &dir.path().display().to_string());
        let out = std::process::Command::new("sh")
            .args(["-c", &script, "follow", "x", "0"])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "|one\n@@status lost\n"
        );
    }
}
