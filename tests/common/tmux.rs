//! A private tmux server to drive the real binary as a person would:
//! type keys, read the screen.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub const PROMPT: &str = "E2E-PROMPT$";

pub struct Tmux {
    socket: PathBuf,
    server_pid: Option<u32>,
    _dir: tempfile::TempDir,
}

/// deploytui on `config` in a fresh `width`x`height` window whose
/// `XDG_DATA_HOME` is the returned folder (keep it for as long as the window).
pub fn open_deploytui(config: &Path, width: u16, height: u16) -> (Tmux, tempfile::TempDir) {
    let data = tempfile::tempdir().expect("tempdir");
    let t = Tmux::start(
        width,
        height,
        &[("XDG_DATA_HOME", &data.path().to_string_lossy())],
    );
    t.run_deploytui(config);
    (t, data)
}

/// deploytui on `config` with `NIX_CONFIG` set to `nix_config` in its shell
/// (lock updates and deploys run nix).
pub fn open_deploytui_with_nix(
    config: &Path,
    width: u16,
    height: u16,
    nix_config: &str,
) -> (Tmux, tempfile::TempDir) {
    open_deploytui_after(config, width, height, nix_config, &[])
}

/// As `open_deploytui_with_nix`, after typing `setup` (shell lines) first.
#[allow(dead_code)] // Not every test file uses it.
pub fn open_deploytui_after(
    config: &Path,
    width: u16,
    height: u16,
    nix_config: &str,
    setup: &[String],
) -> (Tmux, tempfile::TempDir) {
    let data = tempfile::tempdir().expect("tempdir");
    let t = shell_with_nix(
        width,
        height,
        nix_config,
        &[("XDG_DATA_HOME", &data.path().to_string_lossy())],
    );
    for line in setup {
        t.type_line(line);
    }
    t.run_deploytui(config);
    (t, data)
}

/// A bash in tmux with `env` and `NIX_CONFIG` set to `nix_config`.
pub fn shell_with_nix(width: u16, height: u16, nix_config: &str, env: &[(&str, &str)]) -> Tmux {
    let escaped = nix_config.replace('\n', "\\n");
    let mut all = env.to_vec();
    all.push(("NIX_CONFIG", &escaped));
    let t = Tmux::start(width, height, &all);
    // tmux -e cannot carry newlines: let bash turn \n back into them.
    t.type_line("export NIX_CONFIG=$(printf \"$NIX_CONFIG\")");
    t
}

impl Tmux {
    /// `d` on the selected host (server1), `Enter` on its plan, and
    /// `password` typed into the sudo prompt; returns the plan as shown.
    #[allow(dead_code)] // Not every test file deploys.
    pub fn deploy_server1(&self, password: &str, limit: Duration) -> String {
        self.keys(&["d"]);
        let plan = self.wait_for("the plan", limit, |s| s.contains("Deploy server1"));
        self.answer_deploy(password, limit);
        plan
    }

    /// Yes to the deploy question open now, and `password` in the sudo prompt.
    pub fn answer_deploy(&self, password: &str, limit: Duration) {
        self.keys(&["Enter"]);
        self.wait_for("the password prompt", limit, |s| {
            s.contains("to deploy (switch)")
        });
        self.type_line(password);
    }

    /// Types the command that runs deploytui on `config`; the shell prints
    /// `EXIT=<code>` when it ends.
    pub fn run_deploytui(&self, config: &Path) {
        self.type_line(&format!(
            "{} --config {}; echo EXIT=$?",
            super::bin().display(),
            config.display()
        ));
    }

    /// Starts a tmux server with one `width`x`height` window running a plain bash.
    pub fn start(width: u16, height: u16, env: &[(&str, &str)]) -> Tmux {
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = dir.path().join("tmux.sock");
        let mut cmd = Command::new("tmux");
        cmd.arg("-S")
            .arg(&socket)
            .args(["-f", "/dev/null", "new-session", "-d"]);
        cmd.args(["-x", &width.to_string(), "-y", &height.to_string()]);
        cmd.args(["-e", &format!("PS1={PROMPT} ")]);
        for (k, v) in env {
            cmd.args(["-e", &format!("{k}={v}")]);
        }
        cmd.args(["bash", "--norc", "--noprofile"]);
        let out = cmd.output().expect("run tmux");
        assert!(
            out.status.success(),
            "tmux new-session: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut t = Tmux {
            socket,
            server_pid: None,
            _dir: dir,
        };
        t.server_pid = t.query("#{pid}").parse().ok();
        t.wait_for("shell prompt", Duration::from_secs(10), |s| {
            s.contains(PROMPT)
        });
        t
    }

    fn tmux(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux")
    }

    /// A tmux format value of the window (`#{pane_pid}`, ...).
    pub fn query(&self, format: &str) -> String {
        let out = self.tmux(&["display-message", "-p", format]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Types text literally, then Enter.
    pub fn type_line(&self, text: &str) {
        self.tmux(&["send-keys", "-l", text]);
        self.tmux(&["send-keys", "Enter"]);
    }

    /// Sends tmux key names (`q`, `Tab`, `BTab`, `Escape`, `?`).
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys"];
        args.extend(keys);
        self.tmux(&args);
    }

    pub fn resize(&self, width: u16, height: u16) {
        self.tmux(&[
            "resize-window",
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
        ]);
    }

    pub fn screen(&self) -> String {
        let out = self.tmux(&["capture-pane", "-p"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Everything the window showed, history included.
    pub fn scrollback(&self) -> String {
        let out = self.tmux(&["capture-pane", "-p", "-S", "-"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the screen satisfies `ok`; panics with the last screen otherwise.
    pub fn wait_for(&self, what: &str, timeout: Duration, ok: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if ok(&screen) {
                // A capture can land while a frame is half written (a dialog
                // drawn over the log): the screen returned is one taken a
                // moment later that still says what was waited for.
                std::thread::sleep(Duration::from_millis(60));
                let settled = self.screen();
                if ok(&settled) {
                    return settled;
                }
                continue;
            }
            if start.elapsed() > timeout {
                panic!("timed out after {timeout:?} waiting for {what}; screen:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Pids of the processes started from the window's shell.
    pub fn shell_children(&self) -> Vec<u32> {
        let pid = self.query("#{pane_pid}");
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.tmux(&["kill-server"]);
        if let Some(pid) = self.server_pid {
            // By pid, in case kill-server could not reach it.
            let _ = Command::new("kill").arg(pid.to_string()).output();
        }
    }
}

/// Whether a process still exists (and is not a zombie).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}
