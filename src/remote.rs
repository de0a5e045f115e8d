//! Running commands on a host: over one reused openssh session (native mux),
//! or locally for `target = "local"`. Commands are argv lists; openssh quotes
//! every word for the remote shell, so nothing from the config or the screen
//! is pasted into a shell unescaped.

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use openssh::{ControlPersist, KnownHosts, Session, SessionBuilder};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use crate::config::{Host, HostKeyPolicy, SudoMode, Target};
use crate::secret::Secret;

/// How ssh sessions are opened.
#[derive(Debug, Clone)]
pub struct SshSettings {
    /// Where the control sockets go (short: socket paths are limited to ~108 bytes).
    pub control_dir: PathBuf,
    pub connect_timeout: Duration,
    pub keepalive: Duration,
    /// A master left without clients (deploytui killed) exits after this.
    pub idle_exit: Duration,
}

impl SshSettings {
    /// The config's timeouts, this process's control dir, and `idle_exit`.
    pub fn for_config(
        config: &crate::config::Config,
        idle_exit: Duration,
    ) -> std::io::Result<Self> {
        Ok(SshSettings {
            control_dir: control_dir()?,
            connect_timeout: config.connect_timeout,
            keepalive: config.keepalive,
            idle_exit,
        })
    }
}

/// A way to run commands on one host.
#[derive(Clone)]
pub enum Transport {
    Local,
    Ssh(Arc<Session>),
}

/// Why a command did not run to completion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteError {
    /// No session: the reason, and the ssh command that shows the problem by hand.
    Connect { reason: String, manual: String },
    /// The session broke or the command could not be started.
    Run(String),
}

impl std::fmt::Display for RemoteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RemoteError::Connect { reason, manual } => write!(f, "{reason} (try: {manual})"),
            RemoteError::Run(reason) => f.write_str(reason),
        }
    }
}

/// A finished command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutput {
    /// `None` when killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl CommandOutput {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// The control directory for this process: `<base>/<pid>`. Directories of
/// processes that are gone are removed, after asking their masters to exit.
pub fn control_dir() -> std::io::Result<PathBuf> {
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_dir())
        .unwrap_or_else(std::env::temp_dir)
        .join(format!("deploytui-{}", crate::paths::uid()));
    std::fs::create_dir_all(&base)?;
    restrict(&base)?;
    if let Ok(entries) = std::fs::read_dir(&base) {
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            if !Path::new(&format!("/proc/{pid}")).exists() {
                stop_masters(&entry.path());
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    let dir = base.join(std::process::id().to_string());
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn restrict(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// Asks every ssh master with a socket below `dir` to exit.
fn stop_masters(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let socket = entry.path().join("master");
        if socket.exists() {
            let _ = std::process::Command::new("ssh")
                .arg("-S")
                .arg(&socket)
                .args(["-O", "exit", "deploytui-stale"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// The ssh command a user can run by hand to see why a host does not answer.
pub fn manual_ssh_command(host: &Host, settings: &SshSettings) -> String {
    let mut argv: Vec<String> = vec!["ssh".into()];
    if let Some(port) = host.port {
        argv.extend(["-p".into(), port.to_string()]);
    }
    if let Some(key) = &host.identity_file {
        argv.extend(["-i".into(), key.display().to_string()]);
    }
    if let Some(known) = &host.known_hosts {
        argv.extend([
            "-o".into(),
            format!("UserKnownHostsFile={}", known.display()),
        ]);
    }
    let policy = match host.host_key_policy {
        HostKeyPolicy::Strict => "yes",
        HostKeyPolicy::AcceptNew => "accept-new",
    };
    argv.extend([
        "-o".into(),
        format!("StrictHostKeyChecking={policy}"),
        "-o".into(),
        format!("ConnectTimeout={}", settings.connect_timeout.as_secs()),
        host.target.to_string(),
        "true".into(),
    ]);
    shlex::try_join(argv.iter().map(String::as_str)).unwrap_or_else(|_| argv.join(" "))
}

impl Transport {
    /// Opens the host's session (ssh master in BatchMode: a passphrase or an
    /// unknown host key fails here with a reason instead of asking).
    pub async fn connect(host: &Host, settings: &SshSettings) -> Result<Transport, RemoteError> {
        let Target::Ssh {
            user,
            host: address,
        } = &host.target
        else {
            return Ok(Transport::Local);
        };
        let mut b = SessionBuilder::default();
        if let Some(user) = user {
            b.user(user.clone());
        }
        if let Some(port) = host.port {
            b.port(port);
        }
        if let Some(key) = &host.identity_file {
            b.keyfile(key);
        }
        if let Some(known) = &host.known_hosts {
            b.user_known_hosts_file(known);
        }
        b.known_hosts_check(match host.host_key_policy {
            HostKeyPolicy::Strict => KnownHosts::Strict,
            HostKeyPolicy::AcceptNew => KnownHosts::Accept,
        });
        b.connect_timeout(settings.connect_timeout);
        b.server_alive_interval(settings.keepalive);
        b.control_directory(&settings.control_dir);
        let idle = usize::try_from(settings.idle_exit.as_secs()).unwrap_or(60);
        b.control_persist(ControlPersist::IdleFor(
            NonZeroUsize::new(idle).unwrap_or(NonZeroUsize::MIN),
        ));
        // ssh's own timeout covers the TCP connect; this covers a stalled handshake.
        let limit = settings.connect_timeout + Duration::from_secs(5);
        let manual = || manual_ssh_command(host, settings);
        match tokio::time::timeout(limit, b.connect_mux(address)).await {
            Ok(Ok(session)) => Ok(Transport::Ssh(Arc::new(session))),
            Ok(Err(e)) => Err(RemoteError::Connect {
                reason: describe_ssh_error(&e),
                manual: manual(),
            }),
            Err(_) => Err(RemoteError::Connect {
                reason: format!("no answer within {}s", limit.as_secs()),
                manual: manual(),
            }),
        }
    }

    /// Runs `argv` to completion. `stdin`, if given, is written with a newline
    /// and then closed (how sudo -S reads a password).
    pub async fn output(
        &self,
        argv: &[String],
        stdin: Option<&Secret>,
    ) -> Result<CommandOutput, RemoteError> {
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| RemoteError::Run("empty command".into()))?;
        match self {
            Transport::Local => {
                let mut child = tokio::process::Command::new(program)
                    .args(args)
                    .stdin(if stdin.is_some() {
                        Stdio::piped()
                    } else {
                        Stdio::null()
                    })
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .kill_on_drop(true)
                    .spawn()
                    .map_err(|e| RemoteError::Run(format!("cannot run {program}: {e}")))?;
                if let (Some(secret), Some(mut pipe)) = (stdin, child.stdin.take()) {
                    write_secret(&mut pipe, secret).await;
                }
                let (stdout, stderr) = drain(child.stdout.take(), child.stderr.take()).await;
                let status = child
                    .wait()
                    .await
                    .map_err(|e| RemoteError::Run(e.to_string()))?;
                Ok(CommandOutput {
                    code: status.code(),
                    stdout,
                    stderr,
                })
            }
            Transport::Ssh(session) => {
                let mut cmd = session.clone().arc_command(program.as_str());
                cmd.args(args)
                    .stdin(if stdin.is_some() {
                        openssh::Stdio::piped()
                    } else {
                        openssh::Stdio::null()
                    })
                    .stdout(openssh::Stdio::piped())
                    .stderr(openssh::Stdio::piped());
                let mut child = cmd
                    .spawn()
                    .await
                    .map_err(|e| RemoteError::Run(describe_ssh_error(&e)))?;
                if let (Some(secret), Some(mut pipe)) = (stdin, child.stdin().take()) {
                    write_secret(&mut pipe, secret).await;
                }
                // Both streams to EOF before wait(), or a full pipe stalls the command.
                let (stdout, stderr) = drain(child.stdout().take(), child.stderr().take()).await;
                match child.wait().await {
                    Ok(status) => Ok(CommandOutput {
                        code: status.code(),
                        stdout,
                        stderr,
                    }),
                    // openssh reports a remote exit 127 as an error, not a status.
                    Err(openssh::Error::Remote(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                        Ok(CommandOutput {
                            code: Some(127),
                            stdout,
                            stderr,
                        })
                    }
                    Err(e) => Err(RemoteError::Run(describe_ssh_error(&e))),
                }
            }
        }
    }

    /// Runs `argv` and sends each line of its stdout and stderr to `lines`
    /// until it ends. The command's stdin stays open while this runs; wrap a
    /// command with [`until_stdin_closes`] so that dropping this future (when
    /// the follow is stopped) ends it on the host too.
    pub async fn stream(
        &self,
        argv: &[String],
        lines: mpsc::UnboundedSender<String>,
    ) -> Result<Option<i32>, RemoteError> {
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| RemoteError::Run("empty command".into()))?;
        match self {
            Transport::Local => {
                let mut child = tokio::process::Command::new(program)
                    .args(args)
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    // Not killed on drop: closing its stdin ends it, as on a host.
                    .spawn()
                    .map_err(|e| RemoteError::Run(format!("cannot run {program}: {e}")))?;
                let _stdin = child.stdin.take();
                forward_lines(child.stdout.take(), child.stderr.take(), &lines).await;
                let status = child
                    .wait()
                    .await
                    .map_err(|e| RemoteError::Run(e.to_string()))?;
                Ok(status.code())
            }
            Transport::Ssh(session) => {
                let mut cmd = session.clone().arc_command(program.as_str());
                cmd.args(args)
                    .stdin(openssh::Stdio::piped())
                    .stdout(openssh::Stdio::piped())
                    .stderr(openssh::Stdio::piped());
                let mut child = cmd
                    .spawn()
                    .await
                    .map_err(|e| RemoteError::Run(describe_ssh_error(&e)))?;
                let _stdin = child.stdin().take();
                forward_lines(child.stdout().take(), child.stderr().take(), &lines).await;
                match child.wait().await {
                    Ok(status) => Ok(status.code()),
                    Err(openssh::Error::Remote(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                        Ok(Some(127))
                    }
                    Err(e) => Err(RemoteError::Run(describe_ssh_error(&e))),
                }
            }
        }
    }

    /// Ends the session and its master. If a clone is still held somewhere,
    /// the master is told to exit through its socket.
    pub async fn close(self) {
        if let Transport::Ssh(session) = self {
            match Arc::try_unwrap(session) {
                Ok(session) => {
                    let _ = session.close().await;
                }
                Err(shared) => {
                    let _ = tokio::process::Command::new("ssh")
                        .arg("-S")
                        .arg(shared.control_socket())
                        .args(["-O", "exit", "deploytui"])
                        .stdin(Stdio::null())
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status()
                        .await;
                }
            }
        }
    }
}

/// Wraps `argv` so it is killed when its stdin closes: the remote side of a
/// follow (journalctl -f) must end when deploytui stops following.
pub fn until_stdin_closes(argv: &[String]) -> Vec<String> {
    let mut wrapped = vec![
        "sh".to_string(),
        "-c".into(),
        "\"$@\" </dev/null & pid=$!; cat >/dev/null; kill $pid 2>/dev/null; wait $pid".into(),
        "deploytui-follow".into(),
    ];
    wrapped.extend(argv.iter().cloned());
    wrapped
}

/// `argv` as root on a host with this sudo mode. With a password, sudo
/// reads it from stdin (`-S`), prints no prompt (`-p ''`) and forgets any
/// cached credential (`-k`) so the password is always what is checked.
pub fn privileged(sudo: SudoMode, argv: &[String]) -> Vec<String> {
    let prefix: &[&str] = match sudo {
        SudoMode::None => &[],
        SudoMode::Nopasswd => &["sudo", "-n", "--"],
        SudoMode::Password => &["sudo", "-k", "-S", "-p", "", "--"],
    };
    prefix
        .iter()
        .map(|s| s.to_string())
        .chain(argv.iter().cloned())
        .collect()
}

/// Whether sudo refused the password it was given.
pub fn is_wrong_password(output: &CommandOutput) -> bool {
    !output.success()
        && (output.stderr.contains("incorrect password attempt")
            || output.stderr.contains("Sorry, try again"))
}

/// How a command is shown to the user: exactly as the remote shell gets it.
pub fn display_command(argv: &[String]) -> String {
    shlex::try_join(argv.iter().map(String::as_str)).unwrap_or_else(|_| argv.join(" "))
}

async fn write_secret<W: tokio::io::AsyncWrite + Unpin>(pipe: &mut W, secret: &Secret) {
    let mut bytes = zeroize::Zeroizing::new(Vec::with_capacity(secret.expose().len() + 1));
    bytes.extend_from_slice(secret.expose().as_bytes());
    bytes.push(b'\n');
    // A command that exits before reading its stdin is not an error here.
    let _ = pipe.write_all(&bytes).await;
    let _ = pipe.shutdown().await;
}

async fn drain<O, E>(stdout: Option<O>, stderr: Option<E>) -> (String, String)
where
    O: AsyncRead + Unpin,
    E: AsyncRead + Unpin,
{
    async fn read_all<R: AsyncRead + Unpin>(r: Option<R>) -> String {
        let mut buf = Vec::new();
        if let Some(mut r) = r {
            let _ = r.read_to_end(&mut buf).await;
        }
        String::from_utf8_lossy(&buf).into_owned()
    }
    tokio::join!(read_all(stdout), read_all(stderr))
}

async fn forward_lines<O, E>(
    stdout: Option<O>,
    stderr: Option<E>,
    tx: &mpsc::UnboundedSender<String>,
) where
    O: AsyncRead + Unpin,
    E: AsyncRead + Unpin,
{
    async fn pump<R: AsyncRead + Unpin>(r: Option<R>, tx: &mpsc::UnboundedSender<String>) {
        let Some(r) = r else { return };
        let mut lines = BufReader::new(r).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if tx.send(line).is_err() {
                return;
            }
        }
    }
    tokio::join!(pump(stdout, tx), pump(stderr, tx));
}

/// One line that says what went wrong, from openssh's error and ssh's log.
fn describe_ssh_error(e: &openssh::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    if text.contains("REMOTE HOST IDENTIFICATION HAS CHANGED") {
        return "host key mismatch: the host's key differs from the one in known_hosts (refusing to connect)".into();
    }
    if text.contains("Host key verification failed")
        || text.contains("No ED25519 host key is known")
    {
        return "host key not trusted: the host is not in known_hosts (add it with ssh first, or set host_key_policy = \"accept-new\")".into();
    }
    if text.contains("Permission denied") {
        return "login refused: the key was not accepted (or a passphrase is needed and no agent has it)".into();
    }
    // openssh's own wording adds nothing to ssh's.
    for prefix in [
        "failed to connect to the remote host: ",
        "failed to connect to the remote host",
    ] {
        if let Some(rest) = text.strip_prefix(prefix) {
            text = rest.trim_start_matches("ssh: ").to_string();
            break;
        }
    }
    // The most specific part is the last; ssh's banners come first.
    text.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("ssh failed")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn sudo_prefixes() {
        let cmd = argv(&["systemctl", "restart", "nginx.service"]);
        assert_eq!(privileged(SudoMode::None, &cmd), cmd);
        assert_eq!(
            display_command(&privileged(SudoMode::Nopasswd, &cmd)),
            "sudo -n -- systemctl restart nginx.service"
        );
        assert_eq!(
            display_command(&privileged(SudoMode::Password, &cmd)),
            "sudo -k -S -p '' -- systemctl restart nginx.service"
        );
    }

    #[test]
    fn wrong_password_is_recognised() {
        let out = |code, stderr: &str| CommandOutput {
            code: Some(code),
            stdout: String::new(),
            stderr: stderr.into(),
        };
        assert!(is_wrong_password(&out(1, "Sorry, try again.\nsudo: no password was provided\nsudo: 1 incorrect password attempt\n")));
        assert!(!is_wrong_password(&out(
            1,
            "Failed to restart x.service: Unit x.service not found."
        )));
        assert!(!is_wrong_password(&out(0, "")));
    }

    #[tokio::test]
    async fn local_transport_runs_argv_without_a_shell() {
        let t = Transport::Local;
        let out = t
            .output(&argv(&["printf", "%s|", "a b", "$(id)", ";rm"]), None)
            .await
            .unwrap();
        assert_eq!(
            out.stdout, "a b|$(id)|;rm|",
            "words arrive as given, nothing is expanded"
        );
        let out = t
            .output(
                &argv(&["sh", "-c", "read x; echo got-$x"]),
                Some(&Secret::new("pw".into())),
            )
            .await
            .unwrap();
        assert_eq!(out.stdout.trim(), "got-pw");
        let out = t
            .output(&argv(&["sh", "-c", "echo err >&2; exit 3"]), None)
            .await
            .unwrap();
        assert_eq!((out.code, out.stderr.as_str()), (Some(3), "err\n"));
    }

    #[tokio::test]
    async fn follow_ends_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let (tx, mut rx) = mpsc::unbounded_channel();
        let script = format!("echo $$ > {}; echo first; exec sleep 30", pidfile.display());
        let cmd = until_stdin_closes(&argv(&["sh", "-c", &script]));
        let task = tokio::spawn(async move { Transport::Local.stream(&cmd, tx).await });
        assert_eq!(rx.recv().await.as_deref(), Some("first"));
        let pid = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .to_string();
        assert!(Path::new(&format!("/proc/{pid}")).exists());
        task.abort();
        let _ = task.await;
        for _ in 0..100 {
            let gone = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map_or(true, |s| s.contains(") Z "));
            if gone {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the followed command ({pid}) still runs after the follow was dropped");
    }
}
