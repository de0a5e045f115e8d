//! Running commands on a host: over one reused openssh session (native mux),
//! or locally for `target = "local"`. Commands are argv lists; openssh quotes
//! every word for the remote shell, so nothing from the config or the screen
//! is pasted into a shell unescaped.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use openssh::Session;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use crate::config::{Host, HostKeyPolicy, SudoMode, Target};
use crate::secret::Secret;

mod hold;
pub use hold::{Held, Holding};

/// How ssh sessions are opened.
#[derive(Debug, Clone)]
pub struct SshSettings {
    /// Where the control sockets go (short: socket paths are limited to ~108 bytes).
    pub control_dir: PathBuf,
    pub connect_timeout: Duration,
    pub keepalive: Duration,
    /// A master left without clients (deploytui killed) exits after this.
    pub idle_exit: Duration,
    /// Deadline of a short command (the probe, a journal backlog).
    pub command_timeout: Duration,
    /// Deadline of a service action (a restart may wait for a slow stop).
    pub action_timeout: Duration,
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
            command_timeout: config.command_timeout,
            action_timeout: config.action_timeout,
        })
    }

    /// Keep-alive probes of the master: at most every `keepalive`, and
    /// often enough that three missed answers (ssh's ServerAliveCountMax)
    /// take no longer than the connect timeout, so a dead host is noticed
    /// about as fast as an unreachable one.
    pub fn alive_interval(&self) -> Duration {
        let third = Duration::from_secs((self.connect_timeout.as_secs() / 3).max(1));
        self.keepalive.min(third).max(Duration::from_secs(1))
    }
}

/// A way to run commands on one host.
#[derive(Clone)]
pub enum Transport {
    Local,
    Ssh(Arc<Master>),
}

/// Why a command did not run to completion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteError {
    /// No session: the reason, and the ssh command that shows the problem by hand.
    Connect { reason: String, manual: String },
    /// The session broke or the command could not be started.
    Run(String),
    /// The command did not finish within its deadline.
    TimedOut { what: String, after: Duration },
}

impl std::fmt::Display for RemoteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RemoteError::Connect { reason, manual } => write!(f, "{reason} (try: {manual})"),
            RemoteError::Run(reason) => f.write_str(reason),
            RemoteError::TimedOut { what, after } => {
                write!(f, "{what}: no answer within {}s", after.as_secs())
            }
        }
    }
}

/// How many streamed lines wait for their reader at most (each at most
/// [`crate::text::LINE_MAX`] bytes).
pub const LINES_WAITING: usize = 1024;

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
    crate::paths::private_dir(&base)?;
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

/// Asks every ssh master with a socket below `dir` (`<dir>/s…/m`, as
/// [`Transport::connect`] makes them) to exit, all at once.
fn stop_masters(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let asks: Vec<_> = entries
        .flatten()
        .map(|entry| entry.path().join("m"))
        .filter(|socket| socket.exists())
        .filter_map(|socket| {
            std::process::Command::new("ssh")
                .arg("-S")
                .arg(&socket)
                .args(["-O", "exit", "deploytui-stale"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .ok()
        })
        .collect();
    for mut ask in asks {
        let _ = ask.wait();
    }
}

/// Ends every ssh master this process started that is still there (a
/// session not closed within the quit's grace) and removes its folder:
/// nothing of deploytui's outlives it.
pub fn end_masters(control_dir: &Path) {
    stop_masters(control_dir);
    let _ = std::fs::remove_dir_all(control_dir);
}

/// The ssh command a user can run by hand to see why a host does not answer.
pub fn manual_ssh_command(host: &Host, settings: &SshSettings) -> String {
    ssh_line(host, settings, host_key_option(host.host_key_policy))
}

/// The ssh command that trusts a host not yet in known_hosts: ssh shows
/// its key's fingerprint and asks (a changed key is still refused).
pub fn trust_ssh_command(host: &Host, settings: &SshSettings) -> String {
    ssh_line(host, settings, "ask")
}

fn ssh_line(host: &Host, settings: &SshSettings, policy: &str) -> String {
    let mut argv: Vec<String> = vec!["ssh".into()];
    argv.extend(config_file_args(host));
    if let Some(port) = host.port {
        argv.extend(["-p".into(), port.to_string()]);
    }
    if let Some(key) = &host.identity_file {
        argv.extend(["-i".into(), key.display().to_string()]);
    }
    if let Some(known) = &host.known_hosts {
        argv.extend(["-o".into(), known_hosts_option(known)]);
    }
    argv.extend([
        "-o".into(),
        format!("StrictHostKeyChecking={policy}"),
        "-o".into(),
        format!("ConnectTimeout={}", settings.connect_timeout.as_secs()),
        "--".into(),
        host.target.to_string(),
        "true".into(),
    ]);
    shlex::try_join(argv.iter().map(String::as_str)).unwrap_or_else(|_| argv.join(" "))
}

impl Transport {
    /// Opens the host's session (ssh master in BatchMode: a passphrase or an
    /// unknown host key fails here with a reason instead of asking).
    pub async fn connect(host: &Host, settings: &SshSettings) -> Result<Transport, RemoteError> {
        let Target::Ssh { host: address, .. } = &host.target else {
            return Ok(Transport::Local);
        };
        let dir = tempfile::Builder::new()
            .prefix("s")
            .tempdir_in(&settings.control_dir)
            .map_err(|e| RemoteError::Connect {
                reason: format!("cannot make a control socket folder: {e}"),
                manual: manual_ssh_command(host, settings),
            })?;
        let socket = dir.path().join("m");
        let log = dir.path().join("log");
        let mut ssh = tokio::process::Command::new("ssh");
        ssh.args(master_args(host, settings, &socket, &log))
            .arg("--")
            .arg(address)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // A handshake still going when deploytui leaves (or gives up) ends with it.
            .kill_on_drop(true);
        let manual = || manual_ssh_command(host, settings);
        // ssh's own timeout covers the TCP connect; this covers a stalled handshake.
        let limit = settings.connect_timeout + Duration::from_secs(5);
        let status = match ssh.spawn() {
            Ok(mut child) => tokio::time::timeout(limit, child.wait()).await,
            Err(e) => Ok(Err(e)),
        };
        match status {
            // `-f`: ssh forked into the background once logged in, and exited 0.
            Ok(Ok(status)) if status.success() => {
                let dir = dir.keep();
                let session =
                    Session::resume_mux(socket.into_boxed_path(), Some(log.into_boxed_path()));
                Ok(Transport::Ssh(Arc::new(Master { session, dir })))
            }
            Ok(Ok(_)) => {
                let reason = describe_ssh_log(&std::fs::read_to_string(&log).unwrap_or_default());
                // Not yet trusted: the line that shows the key and trusts it.
                let manual = if reason.starts_with(NOT_TRUSTED) {
                    trust_ssh_command(host, settings)
                } else {
                    manual()
                };
                Err(RemoteError::Connect { reason, manual })
            }
            Ok(Err(e)) => Err(RemoteError::Connect {
                reason: format!("cannot run ssh: {e}"),
                manual: manual(),
            }),
            Err(_) => Err(RemoteError::Connect {
                reason: format!("no answer within {}s", limit.as_secs()),
                manual: manual(),
            }),
        }
    }

    /// Runs `argv` to completion, or gives up after `limit` (the command is
    /// then killed here; over ssh its channel is closed). `stdin`, if given,
    /// is written with a newline and then closed (how sudo -S reads a password).
    pub async fn output(
        &self,
        argv: &[String],
        stdin: Option<&Secret>,
        limit: Duration,
    ) -> Result<CommandOutput, RemoteError> {
        let (program, _) = argv
            .split_first()
            .ok_or_else(|| RemoteError::Run("empty command".into()))?;
        tokio::time::timeout(limit, self.output_unbounded(argv, stdin))
            .await
            .unwrap_or_else(|_| {
                Err(RemoteError::TimedOut {
                    what: crate::text::quote(program),
                    after: limit,
                })
            })
    }

    async fn output_unbounded(
        &self,
        argv: &[String],
        stdin: Option<&Secret>,
    ) -> Result<CommandOutput, RemoteError> {
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| RemoteError::Run("empty command".into()))?;
        let input = || {
            if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            }
        };
        match self {
            Transport::Local => {
                let mut child = spawn_local(program, args, input(), true)?;
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
            Transport::Ssh(master) => {
                let input = if stdin.is_some() {
                    openssh::Stdio::piped()
                } else {
                    openssh::Stdio::null()
                };
                let mut child = master.spawn(program, args, input).await?;
                if let (Some(secret), Some(mut pipe)) = (stdin, child.stdin().take()) {
                    write_secret(&mut pipe, secret).await;
                }
                // Both streams to EOF before wait(), or a full pipe stalls the command.
                let (stdout, stderr) = drain(child.stdout().take(), child.stderr().take()).await;
                Ok(CommandOutput {
                    code: remote_code(child.wait().await)?,
                    stdout,
                    stderr,
                })
            }
        }
    }

    /// A channel for [`Transport::stream`]'s lines, bounded: a command that
    /// prints faster than its lines are read waits, and so does the host.
    pub fn lines_channel() -> (mpsc::Sender<Vec<u8>>, mpsc::Receiver<Vec<u8>>) {
        mpsc::channel(LINES_WAITING)
    }

    /// Runs `argv` and sends each line of its stdout and stderr to `lines`
    /// until it ends. Lines are bytes as the host sent them (invalid UTF-8
    /// and escape sequences included): the log pane filters them. The
    /// command's stdin stays open while this runs; wrap a command with
    /// [`until_stdin_closes`] so that dropping this future (when the follow
    /// is stopped) ends it on the host too. The result says why it ended.
    pub async fn stream(
        &self,
        argv: &[String],
        lines: mpsc::Sender<Vec<u8>>,
    ) -> Result<StreamEnd, RemoteError> {
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| RemoteError::Run("empty command".into()))?;
        match self {
            Transport::Local => {
                // Not killed on drop: closing its stdin ends it, as on a host.
                let mut child = spawn_local(program, args, Stdio::piped(), false)?;
                let _stdin = child.stdin.take();
                let read_error =
                    forward_lines(child.stdout.take(), child.stderr.take(), &lines).await;
                let status = child
                    .wait()
                    .await
                    .map_err(|e| RemoteError::Run(e.to_string()))?;
                Ok(StreamEnd {
                    code: status.code(),
                    read_error,
                })
            }
            Transport::Ssh(master) => {
                let mut child = master.spawn(program, args, openssh::Stdio::piped()).await?;
                let _stdin = child.stdin().take();
                let read_error =
                    forward_lines(child.stdout().take(), child.stderr().take(), &lines).await;
                let code = remote_code(child.wait().await)?;
                Ok(StreamEnd { code, read_error })
            }
        }
    }

    /// Whether the session still works (a quick round trip to the master),
    /// within `limit`.
    pub async fn check(&self, limit: Duration) -> bool {
        match self {
            Transport::Local => true,
            Transport::Ssh(master) => {
                matches!(
                    tokio::time::timeout(limit, master.session.check()).await,
                    Ok(Ok(()))
                )
            }
        }
    }

    /// Ends the session: the master is told to exit through its socket
    /// (within a few seconds; it also exits by itself when idle).
    pub async fn close(self) {
        if let Transport::Ssh(master) = self {
            let exit = tokio::process::Command::new("ssh")
                .arg("-S")
                .arg(master.session.control_socket())
                .args(["-O", "exit", "deploytui"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .status();
            let _ = tokio::time::timeout(Duration::from_secs(3), exit).await;
            let _ = std::fs::remove_dir_all(&master.dir);
        }
    }
}

/// An ssh master deploytui started, and the folder of its socket and log.
pub struct Master {
    session: Session,
    dir: PathBuf,
}

impl Master {
    fn command(self: &Arc<Self>, program: &str) -> openssh::OwningCommand<MasterRef> {
        Session::to_command(MasterRef(self.clone()), program.to_string())
    }

    /// `program args` on the host, stdout and stderr piped.
    async fn spawn(
        self: &Arc<Self>,
        program: &str,
        args: &[String],
        stdin: openssh::Stdio,
    ) -> Result<openssh::Child<MasterRef>, RemoteError> {
        let mut cmd = self.command(program);
        cmd.args(args)
            .stdin(stdin)
            .stdout(openssh::Stdio::piped())
            .stderr(openssh::Stdio::piped());
        cmd.spawn()
            .await
            .map_err(|e| RemoteError::Run(describe_ssh_error(&e)))
    }
}

/// A remote command's exit code from its wait: openssh reports a remote
/// exit 127 (command not found) as an error, not a status.
fn remote_code(
    waited: Result<std::process::ExitStatus, openssh::Error>,
) -> Result<Option<i32>, RemoteError> {
    match waited {
        Ok(status) => Ok(status.code()),
        Err(openssh::Error::Remote(e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(Some(127)),
        Err(e) => Err(RemoteError::Run(describe_ssh_error(&e))),
    }
}

/// A shared master that commands can own while they run.
#[derive(Clone)]
pub struct MasterRef(Arc<Master>);

impl std::ops::Deref for MasterRef {
    type Target = Session;
    fn deref(&self) -> &Session {
        &self.0.session
    }
}

/// How a followed command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEnd {
    /// `None` when killed by a signal.
    pub code: Option<i32>,
    /// Reading its output failed before it ended.
    pub read_error: Option<String>,
}

impl std::fmt::Display for StreamEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.read_error, self.code) {
            (Some(e), _) => write!(f, "reading its output failed: {e}"),
            (None, Some(0)) => f.write_str("the command ended"),
            (None, Some(code)) => write!(f, "the command exited with code {code}"),
            (None, None) => f.write_str("the command was killed"),
        }
    }
}

/// ssh options of a master: one socket, no prompts, the host-key policy,
/// timeouts and keep-alives. The destination follows after `--`.
impl Transport {
    /// `NIX_SSHOPTS` for a nix that copies to this host: through this
    /// session's master (no second handshake, no prompt), with the host's
    /// port, key and known_hosts in case the master is gone. `None` for a
    /// local host. nix 2.26 and later split it as a shell does, so each word
    /// is quoted as a shell would need it, and a path in an `-o` value is
    /// in double quotes too, as ssh reads it: a path with a space survives.
    /// (Older nix splits on blanks alone: such a path cannot work there.)
    pub fn nix_sshopts(&self, host: &Host, settings: &SshSettings) -> Option<String> {
        let Transport::Ssh(master) = self else {
            return None;
        };
        Some(nix_sshopts(&master.dir.join("m"), host, settings))
    }
}

fn master_args(host: &Host, settings: &SshSettings, socket: &Path, log: &Path) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "-E".into(),
        log.display().to_string(),
        "-S".into(),
        socket.display().to_string(),
        "-M".into(),
        "-f".into(),
        "-N".into(),
    ];
    args.extend(config_file_args(host));
    let mut option = |o: String| args.extend(["-o".to_string(), o]);
    option(format!(
        "ControlPersist={}s",
        settings.idle_exit.as_secs().max(1)
    ));
    // No prompt can reach the TUI: a passphrase or an unknown key fails with a reason.
    option("BatchMode=yes".into());
    option(format!(
        "StrictHostKeyChecking={}",
        host_key_option(host.host_key_policy)
    ));
    option(format!(
        "ConnectTimeout={}",
        settings.connect_timeout.as_secs().max(1)
    ));
    option(format!(
        "ServerAliveInterval={}",
        settings.alive_interval().as_secs()
    ));
    option("ServerAliveCountMax=3".into());
    if let Some(known) = &host.known_hosts {
        option(known_hosts_option(known));
    }
    if let Some(key) = &host.identity_file {
        option("IdentitiesOnly=yes".into());
        args.extend(["-i".into(), key.display().to_string()]);
    }
    if let Some(port) = host.port {
        args.extend(["-p".into(), port.to_string()]);
    }
    if let Target::Ssh {
        user: Some(user), ..
    } = &host.target
    {
        args.extend(["-l".into(), user.clone()]);
    }
    args
}

/// ssh's `StrictHostKeyChecking` for a policy. Both refuse a changed key:
/// `accept-new` only adds keys of hosts never seen (never `no`, which
/// would accept a changed key and then send the sudo password to it).
pub fn host_key_option(policy: HostKeyPolicy) -> &'static str {
    match policy {
        HostKeyPolicy::Strict => "yes",
        HostKeyPolicy::AcceptNew => "accept-new",
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
    !output.success() && says_wrong_password(&output.stderr)
}

/// `NIX_SSHOPTS` through the master at `control` (see [`Transport::nix_sshopts`]).
fn nix_sshopts(control: &std::path::Path, host: &Host, settings: &SshSettings) -> String {
    let mut opts = config_file_args(host);
    opts.extend([
        "-o".to_string(),
        format!("ControlPath={}", ssh_path_value(control)),
        "-o".into(),
        "ControlMaster=no".into(),
        "-o".into(),
        "BatchMode=yes".into(),
        "-o".into(),
        format!(
            "StrictHostKeyChecking={}",
            host_key_option(host.host_key_policy)
        ),
        "-o".into(),
        format!(
            "ConnectTimeout={}",
            settings.connect_timeout.as_secs().max(1)
        ),
    ]);
    if let Some(known) = &host.known_hosts {
        opts.extend(["-o".into(), known_hosts_option(known)]);
    }
    if let Some(key) = &host.identity_file {
        opts.extend(["-i".into(), key.display().to_string()]);
    }
    if let Some(port) = host.port {
        opts.extend(["-p".into(), port.to_string()]);
    }
    // Quoted only where a shell needs it (shlex quotes every `=`), so a
    // plain word reads the same to a nix that splits on blanks alone.
    opts.into_iter()
        .map(|w| shell_escape::unix::escape(w.into()).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `-F <file>` when the host names its own ssh config: every ssh that
/// reaches it (the master, the line shown to run by hand, nix's copies)
/// reads the same aliases, users and ports.
fn config_file_args(host: &Host) -> Vec<String> {
    match &host.ssh_config {
        Some(file) => vec!["-F".into(), file.display().to_string()],
        None => Vec::new(),
    }
}

/// `UserKnownHostsFile=<path>`, the path as ssh reads an option's value.
fn known_hosts_option(path: &std::path::Path) -> String {
    format!("UserKnownHostsFile={}", ssh_path_value(path))
}

/// A path as the value of an ssh `-o` option: in double quotes when it
/// holds a blank (ssh splits an option's value on blanks otherwise: a
/// known_hosts path with a space named two files, and the host was unknown).
fn ssh_path_value(path: &std::path::Path) -> String {
    let text = path.display().to_string();
    if text.chars().any(char::is_whitespace) {
        format!("\"{text}\"")
    } else {
        text
    }
}

/// Whether sudo's words in `text` say the password was wrong: classic
/// sudo's ("Sorry, try again.", "3 incorrect password attempts") or
/// sudo-rs's ("Authentication failed, try again.", "maximum 3 incorrect
/// authentication attempts", capitalised before 0.2.11).
pub fn says_wrong_password(text: &str) -> bool {
    [
        "incorrect password attempt",
        "Sorry, try again",
        "Authentication failed, try again",
        "incorrect authentication attempt",
    ]
    .iter()
    .any(|words| text.contains(words))
}

/// How a command is shown to the user: exactly as the remote shell gets it.
pub fn display_command(argv: &[String]) -> String {
    shlex::try_join(argv.iter().map(String::as_str)).unwrap_or_else(|_| argv.join(" "))
}

/// The secret and a newline, as a prompt takes it; zeroed when dropped.
pub fn secret_line(secret: &Secret) -> zeroize::Zeroizing<Vec<u8>> {
    let mut bytes = zeroize::Zeroizing::new(Vec::with_capacity(secret.expose().len() + 1));
    bytes.extend_from_slice(secret.expose().as_bytes());
    bytes.push(b'\n');
    bytes
}

/// A command on this machine (the local transport), its output piped.
fn spawn_local(
    program: &str,
    args: &[String],
    stdin: Stdio,
    kill_on_drop: bool,
) -> Result<tokio::process::Child, RemoteError> {
    tokio::process::Command::new(program)
        .args(args)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(kill_on_drop)
        .spawn()
        .map_err(|e| RemoteError::Run(format!("cannot run {program}: {e}")))
}

async fn write_secret<W: tokio::io::AsyncWrite + Unpin>(pipe: &mut W, secret: &Secret) {
    let bytes = secret_line(secret);
    // A command that exits before reading its stdin is not an error here.
    let _ = pipe.write_all(&bytes).await;
    let _ = pipe.shutdown().await;
}

/// The most of one stream of a command's output that is kept; the rest is
/// read (so the command is not blocked) and counted.
pub const OUTPUT_MAX: usize = 1 << 20;

async fn drain<O, E>(stdout: Option<O>, stderr: Option<E>) -> (String, String)
where
    O: AsyncRead + Unpin,
    E: AsyncRead + Unpin,
{
    async fn read_all<R: AsyncRead + Unpin>(r: Option<R>) -> String {
        let mut kept = Vec::new();
        let mut cut = 0usize;
        if let Some(mut r) = r {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match r.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let room = OUTPUT_MAX.saturating_sub(kept.len()).min(n);
                        kept.extend_from_slice(&buf[..room]);
                        cut += n - room;
                    }
                }
            }
        }
        let mut text = crate::text::lossy(&kept);
        if cut > 0 {
            text.push_str(&format!("\n… ({cut} more bytes cut)\n"));
        }
        text
    }
    let (stdout, stderr) = tokio::join!(read_all(stdout), read_all(stderr));
    // stdout goes to parsers, which check and clean what they keep; stderr
    // is only ever shown, so it is made safe to draw here, where it enters.
    (stdout, crate::text::clean_lines(&stderr))
}

/// Sends every line of both streams (newline removed, at most
/// [`crate::text::LINE_MAX`] bytes plus a note of what was cut) until both
/// end. Returns the read error that ended a stream early, if any.
async fn forward_lines<O, E>(
    stdout: Option<O>,
    stderr: Option<E>,
    tx: &mpsc::Sender<Vec<u8>>,
) -> Option<String>
where
    O: AsyncRead + Unpin,
    E: AsyncRead + Unpin,
{
    async fn pump<R: AsyncRead + Unpin>(
        r: Option<R>,
        tx: &mpsc::Sender<Vec<u8>>,
    ) -> Option<String> {
        let mut reader = BufReader::new(r?);
        let mut line = Vec::new();
        loop {
            line.clear();
            // Bytes, not str: invalid UTF-8 must not end the stream.
            match (&mut reader)
                .take(crate::text::LINE_MAX as u64 + 1)
                .read_until(b'\n', &mut line)
                .await
            {
                Ok(0) => return None,
                Ok(_) => {
                    if line.last() == Some(&b'\n') {
                        line.pop();
                    } else if line.len() > crate::text::LINE_MAX {
                        // Too long: keep the start, skip to the end of the line.
                        let mut skipped = Vec::new();
                        let rest = reader.read_until(b'\n', &mut skipped).await;
                        line.truncate(crate::text::LINE_MAX);
                        line.extend_from_slice(
                            format!("… ({} more bytes cut)", skipped.len() + 1).as_bytes(),
                        );
                        if let Err(e) = rest {
                            let _ = tx.send(std::mem::take(&mut line)).await;
                            return Some(e.to_string());
                        }
                    }
                    // Waits while the reader is behind: the pipe, ssh and
                    // the command on the host wait with it, memory bounded.
                    if tx.send(std::mem::take(&mut line)).await.is_err() {
                        return None;
                    }
                }
                Err(e) => return Some(e.to_string()),
            }
        }
    }
    let (a, b) = tokio::join!(pump(stdout, tx), pump(stderr, tx));
    a.or(b)
}

/// How a host whose key is not in known_hosts is described.
const NOT_TRUSTED: &str = "host key not trusted";

/// What went wrong, from ssh's log (`-E`) of a master that did not start.
fn describe_ssh_log(log: &str) -> String {
    // ssh ends its log lines with "\r\n".
    let text = crate::text::clean_lines(&log.replace('\r', ""));
    if text.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
        || text.contains("Host key verification failed") && text.contains("Offending")
    {
        return "host key mismatch: the host's key differs from the one in known_hosts (refusing to connect)".into();
    }
    if text.contains("Host key verification failed")
        || text.contains("No ED25519 host key is known")
    {
        return format!(
            "{NOT_TRUSTED}: the host is not in known_hosts (the ssh line given shows its key \
             and trusts it on your yes; or set host_key_policy = \"accept-new\")"
        );
    }
    if text.contains("Permission denied") {
        return "login refused: the key was not accepted (or a passphrase is needed and no agent has it)".into();
    }
    // The most specific part is the last; ssh's banners come first.
    let last = text
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("ssh failed without saying why");
    crate::text::quote(last.trim_start_matches("ssh: "))
}

/// One line that says what went wrong, from openssh's error.
fn describe_ssh_error(e: &openssh::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    describe_ssh_log(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: Duration = Duration::from_secs(20);

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
        // sudo-rs, as NixOS can have it (0.2.11 and later; Maximum before).
        assert!(is_wrong_password(&out(
            1,
            "\nsudo: Authentication failed, try again.\n\nsudo: Authentication required but not attempted\n"
        )));
        assert!(is_wrong_password(&out(
            1,
            "sudo: Maximum 3 incorrect authentication attempts\n"
        )));
        assert!(!is_wrong_password(&out(
            1,
            "Failed to restart x.service: Unit x.service not found."
        )));
        assert!(!is_wrong_password(&out(0, "")));
    }

    /// nix 2.26 and later split NIX_SSHOPTS as a shell does: a known_hosts
    /// file, a key and a control socket in folders with spaces come out as
    /// the words ssh needs, each `-o` path value in ssh's own quotes.
    #[test]
    fn nix_sshopts_keep_paths_with_spaces_whole() {
        let config = crate::config::parse(
            "[[hosts]]\nname = \"a\"\ntarget = \"root@a\"\nport = 2222\n\
             identity_file = \"/keys/my key\"\nknown_hosts = \"/etc/my hosts/known\"\n",
            std::path::Path::new("/x/deploytui.toml"),
            crate::config::FoundBy::Flag,
        )
        .expect("config");
        let settings = SshSettings::for_config(&config, Duration::from_secs(5)).expect("settings");
        let opts = nix_sshopts(
            std::path::Path::new("/tmp/dt ctl/m"),
            &config.hosts[0],
            &settings,
        );
        let words = shlex::split(&opts).expect("splits as a shell does");
        for expected in [
            "ControlPath=\"/tmp/dt ctl/m\"",
            "UserKnownHostsFile=\"/etc/my hosts/known\"",
            "/keys/my key",
        ] {
            assert!(
                words.iter().any(|w| w == expected),
                "{expected} in {words:?}"
            );
        }
        let plain = nix_sshopts(
            std::path::Path::new("/tmp/c/m"),
            &config.hosts[0],
            &settings,
        );
        assert!(plain.starts_with("-o ControlPath=/tmp/c/m -o"), "{plain}");
    }

    /// A host's own ssh config reaches every ssh that connects to it: the
    /// master, the line shown to run by hand, and nix's (NIX_SSHOPTS).
    #[test]
    fn the_hosts_ssh_config_reaches_every_ssh() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ssh config");
        std::fs::write(&file, "Host a\n  Port 2222\n").unwrap();
        let config = crate::config::parse(
            "[[hosts]]\nname = \"a\"\ntarget = \"root@a\"\nssh_config = \"ssh config\"\n",
            &dir.path().join("deploytui.toml"),
            crate::config::FoundBy::Flag,
        )
        .expect("config");
        let host = &config.hosts[0];
        let settings = SshSettings::for_config(&config, Duration::from_secs(5)).expect("settings");
        let shown = file.display().to_string();
        let master = master_args(host, &settings, Path::new("/s/m"), Path::new("/s/log"));
        assert!(
            master.windows(2).any(|w| w[0] == "-F" && w[1] == shown),
            "{master:?}"
        );
        let manual = manual_ssh_command(host, &settings);
        assert!(
            manual.starts_with(&format!("ssh -F '{shown}' ")),
            "{manual}"
        );
        let opts = shlex::split(&nix_sshopts(Path::new("/s/m"), host, &settings)).unwrap();
        assert_eq!(opts[..2], ["-F".to_string(), shown]);
    }

    #[tokio::test]
    async fn local_transport_runs_argv_without_a_shell() {
        let t = Transport::Local;
        let out = t
            .output(
                &argv(&["printf", "%s|", "a b", "$(id)", ";rm"]),
                None,
                LIMIT,
            )
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
                LIMIT,
            )
            .await
            .unwrap();
        assert_eq!(out.stdout.trim(), "got-pw");
        let out = t
            .output(&argv(&["sh", "-c", "echo err >&2; exit 3"]), None, LIMIT)
            .await
            .unwrap();
        assert_eq!((out.code, out.stderr.as_str()), (Some(3), "err\n"));
    }

    #[tokio::test]
    async fn a_command_past_its_deadline_is_killed_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let script = format!("echo $$ > {}; exec sleep 30", pidfile.display());
        let started = std::time::Instant::now();
        let e = Transport::Local
            .output(
                &argv(&["sh", "-c", &script]),
                None,
                Duration::from_millis(300),
            )
            .await
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(e.to_string(), "sh: no answer within 0s");
        let pid = std::fs::read_to_string(&pidfile).unwrap();
        wait_gone(pid.trim()).await;
    }

    #[tokio::test]
    async fn a_follow_survives_invalid_utf8_and_huge_lines() {
        let (tx, mut rx) = Transport::lines_channel();
        let script = format!(
            "printf 'ok \\377\\376 bytes\\n'; head -c {} /dev/zero | tr '\\0' y; printf '\\nafter\\n'",
            crate::text::LINE_MAX * 3
        );
        let end = Transport::Local
            .stream(&argv(&["sh", "-c", &script]), tx)
            .await
            .unwrap();
        assert_eq!(end.to_string(), "the command ended");
        assert_eq!(rx.recv().await.unwrap(), b"ok \xff\xfe bytes");
        let long = rx.recv().await.unwrap();
        let cut = format!("… ({} more bytes cut)", crate::text::LINE_MAX * 2 + 1);
        assert!(
            long.ends_with(cut.as_bytes()),
            "{}",
            String::from_utf8_lossy(&long[long.len() - 40..])
        );
        assert_eq!(
            rx.recv().await.unwrap(),
            b"after",
            "the stream goes on after both"
        );
    }

    #[test]
    fn ssh_gets_the_destination_after_the_options_and_never_accepts_a_changed_key() {
        let config = crate::config::parse(
            "[[hosts]]\nname = \"a\"\ntarget = \"me@h1\"\nhost_key_policy = \"accept-new\"\n",
            Path::new("/t.toml"),
            crate::config::FoundBy::Flag,
        )
        .unwrap();
        let settings = SshSettings::for_config(&config, Duration::from_secs(60)).unwrap();
        let args = master_args(
            &config.hosts[0],
            &settings,
            Path::new("/s"),
            Path::new("/l"),
        );
        assert!(
            args.contains(&"StrictHostKeyChecking=accept-new".to_string()),
            "{args:?}"
        );
        assert!(!args.iter().any(|a| a == "StrictHostKeyChecking=no"));
        assert_eq!(host_key_option(HostKeyPolicy::Strict), "yes");
        assert!(args.contains(&"BatchMode=yes".to_string()));
        // Three missed keep-alives fit in the connect timeout (10 s by default).
        assert!(
            args.contains(&"ServerAliveInterval=3".to_string()),
            "{args:?}"
        );
        assert!(manual_ssh_command(&config.hosts[0], &settings).ends_with(" -- me@h1 true"));
    }

    async fn wait_gone(pid: &str) {
        for _ in 0..100 {
            let gone = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map_or(true, |s| s.contains(") Z "));
            if gone {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("process {pid} still runs");
    }

    /// A command that prints faster than its lines are read waits for the
    /// reader: no more than `LINES_WAITING` lines are held, none is lost.
    #[tokio::test]
    async fn a_stream_nobody_reads_holds_the_command_not_the_memory() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("printed-all");
        let script = format!("seq 1 100000; : > {}", marker.display());
        let (tx, mut rx) = Transport::lines_channel();
        let cmd = argv(&["sh", "-c", &script]);
        let task = tokio::spawn(async move { Transport::Local.stream(&cmd, tx).await });
        // The queue fills, then the command waits on its pipe.
        while rx.len() < LINES_WAITING {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(rx.len(), LINES_WAITING);
        assert!(!marker.exists(), "the command went on with nobody reading");
        let mut n = 0u32;
        while let Some(line) = rx.recv().await {
            n += 1;
            assert_eq!(line, n.to_string().into_bytes());
        }
        assert_eq!(n, 100_000);
        assert!(task.await.unwrap().is_ok());
        assert!(marker.exists());
    }

    #[tokio::test]
    async fn follow_ends_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let (tx, mut rx) = Transport::lines_channel();
        let script = format!("echo $$ > {}; echo first; exec sleep 30", pidfile.display());
        let cmd = until_stdin_closes(&argv(&["sh", "-c", &script]));
        let task = tokio::spawn(async move { Transport::Local.stream(&cmd, tx).await });
        assert_eq!(rx.recv().await.as_deref(), Some(&b"first"[..]));
        let pid = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .to_string();
        assert!(Path::new(&format!("/proc/{pid}")).exists());
        task.abort();
        let _ = task.await;
        // Still running after the follow was dropped fails here.
        wait_gone(&pid).await;
    }
}
