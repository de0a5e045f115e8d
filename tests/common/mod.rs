//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod tmux;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The one way to skip tests that need root, nix, sshd, nginx or tmux:
/// set this to `1`. Without it a missing prerequisite fails the test, so a
/// green run always means the test ran.
pub const SKIP_ENV: &str = "DEPLOYTUI_SKIP_FLEET";

/// `Ok` runs the test; a problem fails it, unless the person running the
/// tests opted out with `DEPLOYTUI_SKIP_FLEET=1` (then it is skipped loudly).
pub fn prerequisite(test: &str, problem: Option<String>) -> bool {
    let Some(problem) = problem else {
        return true;
    };
    let msg = format!("{test}: {problem}");
    if std::env::var(SKIP_ENV).is_ok_and(|v| v == "1") {
        eprintln!("\n!!!!!!!!!! SKIPPED ({SKIP_ENV}=1) {msg} !!!!!!!!!!\n");
        return false;
    }
    panic!(
        "{msg}\n(`bash .ci/run` installs what is missing; set {SKIP_ENV}=1 to skip these tests)"
    );
}

/// True when every tool is on PATH; a missing one fails the test (see [`SKIP_ENV`]).
pub fn require_tools(test: &str, tools: &[&str]) -> bool {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| {
            !Command::new("sh")
                .args(["-c", &format!("command -v {t}")])
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false)
        })
        .collect();
    prerequisite(
        test,
        (!missing.is_empty()).then(|| format!("needs {} (missing)", missing.join(", "))),
    )
}

/// True when this machine can run the test fleet; otherwise the test fails
/// (see [`SKIP_ENV`]).
pub fn fleet_prerequisites(test: &str) -> bool {
    prerequisite(
        test,
        deploytui::fleet::check_prerequisites()
            .err()
            .map(|e| e.to_string()),
    )
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_deploytui"))
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A running test fleet, or `None` when skipped by [`SKIP_ENV`].
pub fn fleet(test: &str, hosts: usize) -> Option<deploytui::fleet::Fleet> {
    if !fleet_prerequisites(test) {
        return None;
    }
    Some(
        deploytui::fleet::Fleet::start(hosts)
            .unwrap_or_else(|e| panic!("fleet did not start: {e}")),
    )
}

/// A child process a test started: killed (and reaped) when dropped, so a
/// failing assertion never leaves it running. Its stderr goes to a file that
/// [`Spawned::stderr`] reads, so a failure can show why the child died.
pub struct Spawned {
    pub child: Child,
    stderr_file: PathBuf,
    lines: Option<mpsc::Receiver<String>>,
    _dir: tempfile::TempDir,
}

impl Spawned {
    /// Starts `cmd` with stdout piped (read it with [`Spawned::line`]) and
    /// stderr kept in a file.
    pub fn start(cmd: Command) -> Spawned {
        Spawned::start_with_input(cmd, None)
    }

    /// As [`Spawned::start`], with `input` written to its stdin (then closed).
    pub fn start_with_input(mut cmd: Command, input: Option<&[u8]>) -> Spawned {
        let dir = tempfile::tempdir().expect("tempdir");
        let stderr_file = dir.path().join("stderr");
        let err = std::fs::File::create(&stderr_file).expect("stderr file");
        let stdin = if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        };
        let mut child = cmd
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", cmd.get_program()));
        if let (Some(bytes), Some(mut pipe)) = (input, child.stdin.take()) {
            use std::io::Write;
            pipe.write_all(bytes).expect("stdin");
        }
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Spawned {
            child,
            stderr_file,
            lines: Some(rx),
            _dir: dir,
        }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// What the child wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_file).unwrap_or_default()
    }

    /// The next line of stdout within `limit`; fails the test with the
    /// child's stderr when none comes (it died, or hangs).
    pub fn line(&mut self, what: &str, limit: Duration) -> String {
        let rx = self.lines.as_ref().expect("stdout reader");
        match rx.recv_timeout(limit) {
            Ok(line) => line,
            Err(e) => {
                let status = self.child.try_wait().ok().flatten();
                panic!(
                    "no {what} on stdout within {limit:?} ({e}); exit status {status:?}; stderr:\n{}",
                    self.stderr()
                )
            }
        }
    }

    /// The lines of stdout not read yet, once the child ended (or after
    /// `limit` without a new one).
    #[allow(dead_code)] // Not every test file reads the rest.
    pub fn rest(&mut self, limit: Duration) -> Vec<String> {
        let rx = self.lines.as_ref().expect("stdout reader");
        let mut lines = Vec::new();
        while let Ok(line) = rx.recv_timeout(limit) {
            lines.push(line);
        }
        lines
    }

    /// Waits for the child to exit within `limit`; fails with its stderr otherwise.
    pub fn wait(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() > deadline {
                panic!("still running after {limit:?}; stderr:\n{}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Polls `cond` until it holds or `limit` passes; the panic names `what`.
pub fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Live processes whose command line contains `needle`.
#[allow(dead_code)]
pub fn pids_matching(needle: &str) -> Vec<u32> {
    all_pids()
        .into_iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                let line = String::from_utf8_lossy(&c).replace('\0', " ");
                line.contains(needle)
            }) && std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|s| !s.contains(") Z "))
        })
        .collect()
}

/// Every process on the machine (the fleet hosts' namespaces included).
pub fn all_pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .collect()
}

/// Every process below `pid` (not `pid` itself).
pub fn descendants_except(pid: u32) -> Vec<u32> {
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let p = found[i];
        let children = std::fs::read_dir(format!("/proc/{p}/task"))
            .into_iter()
            .flatten()
            .flatten()
            .flat_map(|t| {
                std::fs::read_to_string(t.path().join("children"))
                    .unwrap_or_default()
                    .split_whitespace()
                    .filter_map(|c| c.parse::<u32>().ok())
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>();
        found.extend(children);
        i += 1;
    }
    found.remove(0);
    found
}

/// Whether any regular file below `dir` contains `needle` (a leaked secret).
pub fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let path = entry.path();
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                if let Ok(bytes) = std::fs::read(&path) {
                    if bytes.windows(needle.len()).any(|w| w == needle) {
                        hits.push(path);
                    }
                }
            }
        }
    }
    hits
}

/// Runs `cmd` to its end with `stdin` written to it; past `limit` it is
/// killed and the test fails with what it wrote to stderr.
pub fn output_within(mut cmd: Command, stdin: &[u8], limit: Duration) -> std::process::Output {
    use std::io::{Read, Write};
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", cmd.get_program()));
    if let Some(mut pipe) = child.stdin.take() {
        let _ = pipe.write_all(stdin);
    }
    let reader = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = reader(
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let err = reader(
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = err.join().unwrap_or_default();
            panic!(
                "{:?} still running after {limit:?}; stderr:\n{}",
                cmd.get_program(),
                String::from_utf8_lossy(&stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    std::process::Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

/// The whole app drawn on a `width`x`height` test terminal, after the
/// resize message the runtime sends for that size.
pub fn drawn(
    state: &mut deploytui::app::State,
    width: u16,
    height: u16,
) -> ratatui::backend::TestBackend {
    deploytui::app::update(state, deploytui::app::Msg::Resize { width, height });
    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(width, height))
        .expect("test terminal");
    terminal
        .draw(|f| deploytui::ui::view(state, f))
        .expect("draw");
    terminal.backend().clone()
}

/// The words deploytui's lock update shows for `input` with the local nix
/// (`nix flake update NAME` from nix 2.19 on, `--update-input NAME` before).
pub fn update_words(input: &str) -> String {
    if local_nix_version() >= (2, 19) {
        format!("flake update {input}")
    } else {
        format!("--update-input {input}")
    }
}

/// The version of the `nix` on PATH, as deploytui reads it.
pub fn local_nix_version() -> (u32, u32) {
    let out = Command::new("nix")
        .arg("--version")
        .output()
        .expect("nix --version");
    deploytui::nix::check::parse_nix_version(&String::from_utf8_lossy(&out.stdout))
        .expect("a nix version")
}

/// Fleet host 0's running system and system profile generation, from
/// `deploytui status --json`.
pub fn running(f: &deploytui::fleet::Fleet) -> (String, u64) {
    let mut cmd = Command::new(bin());
    cmd.arg("--config")
        .arg(&f.config_path)
        .args(["status", "--json", "server1"]);
    let out = output_within(cmd, b"", Duration::from_secs(60));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status json");
    let sys = &v["hosts"][0]["system"];
    (
        sys["current"].as_str().unwrap_or_default().to_string(),
        sys["generation"].as_u64().unwrap_or(0),
    )
}

/// `deploytui ARGS` on the fleet's config with its data in `data`, nix set
/// up as the fleet's, the sudo password on stdin.
pub fn deploytui_with_data(
    f: &deploytui::fleet::Fleet,
    args: &[&str],
    data: &Path,
) -> std::process::Output {
    let mut cmd = Command::new(bin());
    cmd.arg("--config")
        .arg(&f.config_path)
        .args(args)
        .env("NIX_CONFIG", deploytui::fleet::NIX_CONFIG)
        .env("XDG_DATA_HOME", data);
    let password = format!("{}\n", deploytui::fleet::SUDO_PASSWORD);
    output_within(cmd, password.as_bytes(), Duration::from_secs(180))
}

/// `deploytui ARGS` on the fleet's config, nix set up as the fleet's, the
/// sudo password on stdin: exit code and what it said (stdout, then
/// stderr after a `--- stderr ---` line when there is any).
pub fn deploytui_on(f: &deploytui::fleet::Fleet, args: &[&str]) -> (Option<i32>, String) {
    let mut cmd = Command::new(bin());
    cmd.arg("--config")
        .arg(&f.config_path)
        .args(args)
        .env("NIX_CONFIG", deploytui::fleet::NIX_CONFIG);
    let password = format!("{}\n", deploytui::fleet::SUDO_PASSWORD);
    let out = output_within(cmd, password.as_bytes(), Duration::from_secs(180));
    let mut said = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.stderr.is_empty() {
        said.push_str("\n--- stderr ---\n");
        said.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    (out.status.code(), said)
}

/// The JSON document `deploytui ARGS` prints (stderr set aside).
pub fn deploytui_json(f: &deploytui::fleet::Fleet, args: &[&str]) -> serde_json::Value {
    let (_, said) = deploytui_on(f, args);
    let json = said.split("\n--- stderr ---\n").next().unwrap_or("");
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {said}"))
}

/// Waits for a child this test started, killing it past `limit`.
pub fn wait_child(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            return child.wait().expect("wait");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Where the deploys made with `config` are kept, for `XDG_DATA_HOME=data`.
#[allow(dead_code)] // Not every test file reads kept deploys.
pub fn kept_deploys(data: &Path, config: &Path) -> PathBuf {
    deploytui::deploy::history::dir_under(&data.join("deploytui"), config)
}
