//! One fleet host: a Debian 13 root booted by `systemd-nspawn` with systemd
//! as PID 1, sharing this machine's loopback. The root is shared read-only by
//! every host (see `assets/fleet/make-root`); each host mounts its own
//! overlay on it, in a mount namespace of its own, so its changes (accounts,
//! sshd config, units, journal) stay in its folder, and binds its own `/nix`.
//! sshd, nix-daemon, nginx and the web app are real systemd units; transient
//! units, journals and `systemctl` are systemd's own. Units get NixOS's
//! default PATH: systemd's own tools and nothing else.

use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::{run, set_mode, FleetError, SUDO_PASSWORD, SUDO_USER};

/// uid of the sudo user inside the hosts.
const SUDO_UID: u32 = 4242;
/// NixOS's default unit PATH, as the shared root lays it out: a folder of
/// systemd's own tools (nixpkgs patches systemd's default PATH to its `bin/`).
pub const UNIT_PATH: &str = "/usr/lib/deploytui-fleet/systemd-bin";

/// What runs as the host's PID 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Init {
    /// systemd, as on NixOS: every test but those of the fallback.
    Systemd,
    /// No systemd: nspawn's own stub init, then sshd and nix-daemon
    /// alone, for the tests of what deploytui does on such a host.
    Plain,
}

pub struct FleetHost {
    pub name: String,
    pub ssh_port: u16,
    pub nginx_port: u16,
    /// The host's own folder; its `nix/` is the host's /nix, its `upper/`
    /// what the host changed of the shared root.
    pub dir: PathBuf,
    /// System profile generations activated so far.
    pub generation: u32,
    /// `unshare`, whose child is `systemd-nspawn`; killing it ends the host.
    process: Option<Child>,
    /// Its machine name, unique on this machine (its cgroups are named after it).
    machine: String,
}

impl FleetHost {
    pub(super) fn start(
        init: Init,
        root: &Path,
        dir: &Path,
        machine: &str,
        name: &str,
        nginx_port: u16,
        client_pubkey: &str,
    ) -> Result<FleetHost, FleetError> {
        for sub in ["nix/store", "nix/var/nix", "upper", "work", "root"] {
            std::fs::create_dir_all(dir.join(sub))?;
        }
        set_mode(dir, 0o755)?;
        let upper = dir.join("upper");
        run(
            "ssh-keygen (host key)",
            Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
                .arg(dir.join("ssh_host_ed25519_key")),
        )?;
        seed(
            root,
            &upper,
            name,
            client_pubkey,
            &dir.join("ssh_host_ed25519_key"),
        )?;

        // The port was free a moment ago; another fleet may take it first, so retry.
        let mut last_error = String::new();
        for _ in 0..5 {
            let ssh_port = super::free_port()?;
            write(&upper, "etc/ssh/sshd_config", &sshd_config(ssh_port), 0o644)?;
            let log = std::fs::File::create(dir.join("host.log"))?;
            // In mount and PID namespaces of its own: the overlay goes with
            // the host, and when nspawn dies (even by SIGKILL, which leaves a
            // container running) so does every process below it. pdeathsig:
            // if whoever started the fleet dies without dropping it (SIGKILL,
            // a crash), the kernel kills unshare, and so nspawn and the host.
            let pid1 = match init {
                Init::Systemd => "-b",
                Init::Plain => {
                    "--as-pid2 /bin/sh -c 'mkdir -p /run/sshd; /usr/bin/nix-daemon & exec /usr/sbin/sshd -D -e'"
                }
            };
            // A cgroup of its own, in each hierarchy a container uses: with
            // --keep-unit nspawn puts the container below the caller's cgroup,
            // and hosts sharing one mixed their units (a stop in one waited
            // for another's processes, seen as hangs in final-sigterm).
            let cgroup = cgroup_dirs(machine)
                .iter()
                .map(|d| {
                    format!(
                        "mkdir -p {d} && echo 0 > {d}/cgroup.procs && ",
                        d = d.display()
                    )
                })
                .collect::<String>();
            let boot = format!(
                "{cgroup}mount -t overlay overlay -o lowerdir={root},upperdir={d}/upper,workdir={d}/work {d}/root && \
                 exec systemd-nspawn -q -D {d}/root --register=no --keep-unit --console=passive \
                 --machine={machine} --hostname={name} --bind={d}/nix:/nix --resolv-conf=off --timezone=off \
                 {pid1}",
                root = root.display(),
                d = dir.display(),
            );
            let child = Command::new("setpriv")
                .args([
                    "--pdeathsig",
                    "KILL",
                    "--",
                    "unshare",
                    "--mount",
                    "--pid",
                    "--fork",
                ])
                .args(["--kill-child", "--propagation", "private"])
                .args(["sh", "-c", &boot])
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()
                .map_err(|e| {
                    FleetError::Step(format!("cannot start systemd-nspawn for {name}: {e}"))
                })?;
            let mut host = FleetHost {
                name: name.to_string(),
                ssh_port,
                nginx_port,
                dir: dir.to_path_buf(),
                generation: 0,
                process: Some(child),
                machine: machine.to_string(),
            };
            match host.wait_listening(Duration::from_secs(60)) {
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

    /// The pids of unshare, systemd-nspawn and every process of the host.
    pub fn pids(&self) -> Vec<u32> {
        let Some(root) = self.process.as_ref().map(Child::id) else {
            return Vec::new();
        };
        descendants(root)
    }

    /// The host's PID 1 (systemd), as this machine sees it: the process
    /// that is pid 1 in the innermost namespace (nspawn is pid 1 in the
    /// namespace of unshare, one level up).
    fn init_pid(&self) -> Option<u32> {
        self.pids().into_iter().skip(2).find(|p| {
            std::fs::read_to_string(format!("/proc/{p}/status")).is_ok_and(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("NSpid:"))
                    .and_then(|ns| ns.split_whitespace().last())
                    == Some("1")
            })
        })
    }

    /// `argv` run inside the host as root, as its PID 1's children are (all
    /// its namespaces), with the environment of a root login and not this
    /// process's.
    pub fn exec(&self, argv: &[&str]) -> Result<Output, FleetError> {
        let pid = self
            .init_pid()
            .ok_or_else(|| FleetError::Step(format!("{}: the host is not running", self.name)))?;
        run(
            &format!("{} on {}", argv.join(" "), self.name),
            Command::new("nsenter")
                .args(["-t", &pid.to_string(), "-a", "--", "env", "-i"])
                .args([
                    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "HOME=/root",
                ])
                .args(argv)
                .stdin(Stdio::null()),
        )
    }

    /// Stops the host: systemd is asked to power off (SIGTERM to nspawn),
    /// and everything is killed when that takes more than a few seconds
    /// (unshare's PID namespace goes, and every process in it); then reaped.
    pub fn stop(&mut self) {
        let every = self.pids();
        self.stop_nspawn();
        // A PID namespace's processes die after its init, not with it: wait
        // until every one is gone (or a zombie), so a stopped host is gone.
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until && every.iter().any(|p| running(*p)) {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.remove_cgroups();
    }

    /// The host's cgroups, emptied once it stopped: removed, deepest first.
    fn remove_cgroups(&self) {
        fn remove(dir: &Path) {
            if let Ok(entries) = std::fs::read_dir(dir) {
                for entry in entries.flatten() {
                    if entry.file_type().is_ok_and(|t| t.is_dir()) {
                        remove(&entry.path());
                    }
                }
            }
            let _ = std::fs::remove_dir(dir);
        }
        for dir in cgroup_dirs(&self.machine) {
            remove(&dir);
        }
    }

    fn stop_nspawn(&mut self) {
        if let Some(mut child) = self.process.take() {
            let nspawn = descendants(child.id()).get(1).copied();
            if let Some(pid) = nspawn
                .and_then(|p| i32::try_from(p).ok())
                .and_then(rustix::process::Pid::from_raw)
            {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            }
            let until = Instant::now() + Duration::from_secs(5);
            while Instant::now() < until {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Cuts every ssh connection to the host and keeps sshd down (the
    /// host and everything else on it go on) until [`FleetHost::restore_ssh`].
    pub fn cut_ssh(&self) -> Result<(), FleetError> {
        self.exec(&["systemctl", "stop", "ssh.service"])?;
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
        Ok(())
    }

    /// Starts sshd again, and waits until it listens.
    pub fn restore_ssh(&mut self) -> Result<(), FleetError> {
        self.exec(&["systemctl", "start", "ssh.service"])?;
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

/// Where a host's cgroups go: below the root of the unified hierarchy, and,
/// on a machine with v1 hierarchies beside it, of systemd's named one too.
fn cgroup_dirs(machine: &str) -> Vec<PathBuf> {
    let base = Path::new("/sys/fs/cgroup");
    let name = format!("deploytui-{machine}");
    if base.join("cgroup.procs").exists() {
        return vec![base.join(name)];
    }
    ["unified", "systemd"]
        .iter()
        .map(|h| base.join(h))
        .filter(|h| h.join("cgroup.procs").exists())
        .map(|h| h.join(&name))
        .collect()
}

/// Whether `pid` runs (exists and is no zombie).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
    })
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

fn sshd_config(port: u16) -> String {
    format!(
        "Port {port}\nListenAddress 127.0.0.1\nHostKey /etc/ssh/ssh_host_ed25519_key\n\
         StrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM yes\n\
         PermitRootLogin prohibit-password\nMaxSessions 20\nMaxStartups 50\n\
         Subsystem sftp internal-sftp\n"
    )
}

/// Writes `rel` under `upper` (the host's layer over the shared root).
fn write(upper: &Path, rel: &str, text: &str, mode: u32) -> Result<(), FleetError> {
    let path = upper.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&path, text)?;
    set_mode(&path, mode)
}

/// The host's own parts, laid in its layer before it boots: accounts (the
/// sudo user, whose sudo asks for its password), the client's key, the host
/// key, nix's settings and daemon, and NixOS's unit PATH.
fn seed(
    root: &Path,
    upper: &Path,
    name: &str,
    client_pubkey: &str,
    host_key: &Path,
) -> Result<(), FleetError> {
    let hash = sha512_crypt(SUDO_PASSWORD)?;
    let read = |rel: &str| std::fs::read_to_string(root.join(rel));
    let mut passwd = read("etc/passwd")?;
    let mut shadow = read("etc/shadow")?;
    let mut group = read("etc/group")?;
    passwd.push_str(&format!(
        "{SUDO_USER}:x:{SUDO_UID}:{SUDO_UID}:deploytui fleet:/home/{SUDO_USER}:/bin/bash\n"
    ));
    shadow.push_str(&format!("{SUDO_USER}:{hash}:19000:0:99999:7:::\n"));
    group.push_str(&format!("{SUDO_USER}:x:{SUDO_UID}:\n"));
    // As a NixOS admin in `extraGroups = [ "systemd-journal" ]`: reads journals.
    group = group
        .lines()
        .map(|l| match l.strip_prefix("systemd-journal:") {
            Some(rest) if rest.ends_with(':') => format!("{l}{SUDO_USER}\n"),
            Some(_) => format!("{l},{SUDO_USER}\n"),
            None => format!("{l}\n"),
        })
        .collect();
    write(upper, "etc/passwd", &passwd, 0o644)?;
    write(upper, "etc/shadow", &shadow, 0o640)?;
    write(upper, "etc/group", &group, 0o644)?;
    write(
        upper,
        "etc/sudoers.d/deploytui-fleet",
        &format!("{SUDO_USER} ALL=(ALL:ALL) ALL\n"),
        0o440,
    )?;
    write(upper, "etc/hostname", &format!("{name}\n"), 0o644)?;
    // The host plays NixOS: switch-to-configuration refuses any other system.
    write(upper, "etc/NIXOS", "", 0o644)?;
    // The host plays NixOS: switch-to-configuration refuses any other system.
    write(upper, "etc/NIXOS", "", 0o644)?;
    // sudo looks up the host's own name.
    write(
        upper,
        "etc/hosts",
        &format!("127.0.0.1 localhost\n127.0.1.1 {name}\n::1 localhost\n"),
        0o644,
    )?;
    write(upper, "root/.ssh/authorized_keys", client_pubkey, 0o600)?;
    set_mode(&upper.join("root"), 0o700)?;
    let home = format!("home/{SUDO_USER}");
    write(
        upper,
        &format!("{home}/.ssh/authorized_keys"),
        client_pubkey,
        0o600,
    )?;
    for rel in [
        home.clone(),
        format!("{home}/.ssh"),
        format!("{home}/.ssh/authorized_keys"),
    ] {
        std::os::unix::fs::chown(upper.join(rel), Some(SUDO_UID), Some(SUDO_UID))?;
    }
    for (from, to, mode) in [
        (
            "ssh_host_ed25519_key",
            "etc/ssh/ssh_host_ed25519_key",
            0o600,
        ),
        (
            "ssh_host_ed25519_key.pub",
            "etc/ssh/ssh_host_ed25519_key.pub",
            0o644,
        ),
    ] {
        let key = std::fs::read_to_string(host_key.with_file_name(from))?;
        write(upper, to, &key, mode)?;
    }
    // As on NixOS: a nix-daemon owns the store, and the login user is a
    // trusted user, so `nix copy --to ssh://<user>@host` works without root.
    write(
        upper,
        "etc/nix/nix.conf",
        &format!(
            "experimental-features = nix-command flakes\nsandbox = false\nbuild-users-group =\n\
             substituters =\ntrusted-users = root {SUDO_USER}\n"
        ),
        0o644,
    )?;
    // Debian's nix-bin has no unit: one of the host's own, beside Debian's
    // units, as NixOS's is not part of what a deploy changes here.
    write(
        upper,
        "usr/lib/systemd/system/nix-daemon.service",
        "[Unit]\nDescription=Nix Daemon\n\n[Service]\nExecStart=/usr/bin/nix-daemon\nKillMode=process\n\n\
         [Install]\nWantedBy=multi-user.target\n",
        0o644,
    )?;
    let wants = upper.join("etc/systemd/system/multi-user.target.wants");
    std::fs::create_dir_all(&wants)?;
    std::os::unix::fs::symlink(
        "/usr/lib/systemd/system/nix-daemon.service",
        wants.join("nix-daemon.service"),
    )?;
    write(
        upper,
        "etc/systemd/system.conf.d/nixos-unit-path.conf",
        &format!("# NixOS's default unit PATH: systemd's own tools only.\n[Manager]\nDefaultEnvironment=PATH={UNIT_PATH}\n"),
        0o644,
    )?;
    Ok(())
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
