//! One fleet host: sshd in its own mount, PID and UTS namespace, with a
//! private /nix, /run, passwd/shadow/group/sudoers and the systemctl and
//! journalctl stand-ins bind-mounted over the machine's.

use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{run, set_mode, FleetError, SUDO_PASSWORD, SUDO_USER};

const INIT: &str = include_str!("../../assets/fleet/host/init.sh");
const SYSTEMCTL: &str = include_str!("../../assets/fleet/host/systemctl");
const JOURNALCTL: &str = include_str!("../../assets/fleet/host/journalctl");
const SYSTEMD_RUN: &str = include_str!("../../assets/fleet/host/systemd-run");
/// uid of the sudo user inside the hosts (their passwd is private).
const SUDO_UID: u32 = 4242;

pub struct FleetHost {
    pub name: String,
    pub ssh_port: u16,
    pub nginx_port: u16,
    /// The host's own folder; its `nix/` and `run/` are the host's /nix and /run.
    pub dir: PathBuf,
    /// System profile generations activated so far.
    pub generation: u32,
    /// `unshare`; killing it kills the namespace and everything in it.
    process: Option<Child>,
}

impl FleetHost {
    pub(super) fn start(
        dir: &Path,
        name: &str,
        nginx_port: u16,
        client_pubkey: &str,
    ) -> Result<FleetHost, FleetError> {
        for sub in ["nix", "run", "etc", "bin"] {
            std::fs::create_dir_all(dir.join(sub))?;
        }
        let home = dir.join("home").join(SUDO_USER);
        std::fs::create_dir_all(&home)?;
        std::fs::create_dir_all(dir.join("home/root"))?;
        set_mode(&dir.join("home/root"), 0o700)?;
        set_mode(dir, 0o755)?;
        std::os::unix::fs::chown(&home, Some(SUDO_UID), Some(SUDO_UID))?;

        run(
            "ssh-keygen (host key)",
            Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
                .arg(dir.join("ssh_host_ed25519_key")),
        )?;
        std::fs::write(dir.join("authorized_keys"), client_pubkey)?;
        write_accounts(dir, &home)?;
        for (file, text) in [
            ("bin/systemctl", SYSTEMCTL),
            ("bin/journalctl", JOURNALCTL),
            ("bin/systemd-run", SYSTEMD_RUN),
            ("init.sh", INIT),
        ] {
            std::fs::write(dir.join(file), text)?;
            set_mode(&dir.join(file), 0o755)?;
        }

        // The port was free a moment ago; another fleet may take it first, so retry.
        let mut last_error = String::new();
        for _ in 0..5 {
            let ssh_port = super::free_port()?;
            std::fs::write(dir.join("sshd_config"), sshd_config(dir, ssh_port))?;
            let log = std::fs::File::create(dir.join("host.log"))?;
            // pdeathsig: if whoever started the fleet dies without dropping it
            // (SIGKILL, a crash), the kernel kills unshare and so the host.
            let child = Command::new("setpriv")
                .args(["--pdeathsig", "KILL", "--", "unshare"])
                .args([
                    "--mount",
                    "--pid",
                    "--uts",
                    "--fork",
                    "--mount-proc",
                    "--kill-child",
                    "--propagation",
                    "private",
                ])
                .arg("bash")
                .arg(dir.join("init.sh"))
                .arg(dir)
                .arg(name)
                .arg(SUDO_USER)
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()
                .map_err(|e| {
                    FleetError::Step(format!("cannot start setpriv/unshare for {name}: {e}"))
                })?;
            let mut host = FleetHost {
                name: name.to_string(),
                ssh_port,
                nginx_port,
                dir: dir.to_path_buf(),
                generation: 0,
                process: Some(child),
            };
            match host.wait_listening(Duration::from_secs(10)) {
                Ok(()) => return Ok(host),
                Err(e) => {
                    last_error = e;
                    host.stop();
                }
            }
        }
        Err(FleetError::Step(format!(
            "host {name} did not come up: {last_error}"
        )))
    }

    /// Waits until sshd answers with its banner.
    fn wait_listening(&mut self, timeout: Duration) -> Result<(), String> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Some(child) = self.process.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    let log =
                        std::fs::read_to_string(self.dir.join("host.log")).unwrap_or_default();
                    return Err(format!("exited with {status}:\n{log}"));
                }
            }
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.ssh_port)) {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let mut banner = [0u8; 4];
                if stream.read_exact(&mut banner).is_ok() && &banner == b"SSH-" {
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let log = std::fs::read_to_string(self.dir.join("host.log")).unwrap_or_default();
        Err(format!(
            "sshd not answering on port {} after {timeout:?}:\n{log}",
            self.ssh_port
        ))
    }

    /// This host's line for a known_hosts file.
    pub fn known_hosts_line(&self) -> Result<String, FleetError> {
        let key = std::fs::read_to_string(self.dir.join("ssh_host_ed25519_key.pub"))?;
        let mut fields = key.split_whitespace();
        let (kind, blob) = (
            fields.next().unwrap_or_default(),
            fields.next().unwrap_or_default(),
        );
        Ok(format!("[127.0.0.1]:{} {kind} {blob}\n", self.ssh_port))
    }

    /// The pid of `unshare` and of every process in the host's namespace.
    pub fn pids(&self) -> Vec<u32> {
        let Some(root) = self.process.as_ref().map(Child::id) else {
            return Vec::new();
        };
        descendants(root)
    }

    /// Kills the host's namespace (by the pid of unshare, which takes its
    /// child, the namespace's init, and so every process in it) and reaps it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.process.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Cuts every ssh connection to the host and keeps sshd down (the
    /// host and everything else on it go on) until [`FleetHost::restore_ssh`].
    pub fn cut_ssh(&self) {
        let _ = std::fs::write(self.dir.join("sshd-down"), "");
        for pid in self.pids() {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if comm.starts_with("sshd") {
                if let Some(pid) = i32::try_from(pid)
                    .ok()
                    .and_then(rustix::process::Pid::from_raw)
                {
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                }
            }
        }
    }

    /// Lets the host's sshd start again, and waits until it listens.
    pub fn restore_ssh(&mut self) -> Result<(), FleetError> {
        let _ = std::fs::remove_file(self.dir.join("sshd-down"));
        self.wait_listening(Duration::from_secs(10))
            .map_err(|e| FleetError::Step(format!("{}: sshd did not come back: {e}", self.name)))
    }

    /// Whether the host is running.
    pub fn is_up(&mut self) -> bool {
        self.process
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }
}

/// `root` and all processes below it, from /proc.
fn descendants(root: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // Fields after the command (which may hold spaces) start after the last ')'.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse().ok());
            if let Some(ppid) = ppid {
                parents.push((pid, ppid));
            }
        }
    }
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let p = found[i];
        found.extend(parents.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    found
}

fn sshd_config(dir: &Path, port: u16) -> String {
    format!(
        "Port {port}\nListenAddress 127.0.0.1\nHostKey {dir}/ssh_host_ed25519_key\n\
         AuthorizedKeysFile {dir}/authorized_keys\nPidFile /run/sshd.pid\nStrictModes no\n\
         PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM yes\n\
         PermitRootLogin prohibit-password\nMaxSessions 20\nMaxStartups 50\n\
         Subsystem sftp internal-sftp\n\
         SetEnv \"NIX_CONFIG=build-users-group =\"\n",
        dir = dir.display()
    )
}

/// The password's `$6$` hash for a shadow file. The password goes to
/// openssl on stdin, never in argv, where every process on the machine could
/// read it (the password-leak test samples them all while fleets start).
fn sha512_crypt(password: &str) -> Result<String, FleetError> {
    let mut child = Command::new("openssl")
        .args(["passwd", "-6", "-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| FleetError::Step(format!("openssl passwd: cannot run openssl: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        std::io::Write::write_all(&mut stdin, format!("{password}\n").as_bytes())?;
    }
    let out = child.wait_with_output()?;
    let hash = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || !hash.starts_with("$6$") {
        return Err(FleetError::Step(format!(
            "openssl passwd failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(hash)
}

/// Private passwd, shadow, group and sudoers: the machine's accounts plus the
/// sudo user, whose sudo asks for its password.
fn write_accounts(dir: &Path, home: &Path) -> Result<(), FleetError> {
    let hash = sha512_crypt(SUDO_PASSWORD)?;
    let mut passwd = std::fs::read_to_string("/etc/passwd")?;
    let mut shadow = std::fs::read_to_string("/etc/shadow")?;
    let mut group = std::fs::read_to_string("/etc/group")?;
    // The machine may have its own account by that name: the host's is ours.
    let keep = |text: &str| -> String {
        text.lines()
            .filter(|l| !l.starts_with(&format!("{SUDO_USER}:")))
            .map(|l| format!("{l}\n"))
            .collect()
    };
    passwd = keep(&passwd);
    shadow = keep(&shadow);
    group = keep(&group);
    passwd.push_str(&format!(
        "{SUDO_USER}:x:{SUDO_UID}:{SUDO_UID}:deploytui fleet:{}:/bin/bash\n",
        home.display()
    ));
    shadow.push_str(&format!("{SUDO_USER}:{hash}:19000:0:99999:7:::\n"));
    group.push_str(&format!("{SUDO_USER}:x:{SUDO_UID}:\n"));
    let etc = dir.join("etc");
    std::fs::write(etc.join("passwd"), passwd)?;
    std::fs::write(etc.join("shadow"), shadow)?;
    set_mode(&etc.join("shadow"), 0o640)?;
    std::fs::write(etc.join("group"), group)?;
    std::fs::write(
        etc.join("sudoers"),
        format!(
            "Defaults env_reset\n\
             Defaults env_keep += \"NIX_CONFIG\"\n\
             Defaults secure_path=\"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\"\n\
             root ALL=(ALL:ALL) ALL\n{SUDO_USER} ALL=(ALL:ALL) ALL\n"
        ),
    )?;
    set_mode(&etc.join("sudoers"), 0o440)?;
    // sudo looks up the host's own name.
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    std::fs::write(
        etc.join("hosts"),
        format!("127.0.0.1 localhost\n127.0.1.1 {name}\n::1 localhost\n"),
    )?;
    Ok(())
}
