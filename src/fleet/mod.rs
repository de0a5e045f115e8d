//! The test fleet: a git monorepo with per-host NixOS-shaped flakes, and N
//! hosts, each a Debian 13 root booted by systemd-nspawn with systemd as
//! PID 1, nix 2.26, and sshd on 127.0.0.1 (see `host.rs`). Tests, benchmarks
//! and `deploytui demo` all use it. Needs root, nix, ssh and systemd-nspawn;
//! the shared root is made once per machine by `assets/fleet/make-root`.
//!
//! Everything a fleet starts lives in the hosts' PID namespaces, so dropping
//! the fleet stops each host by the pid of its `systemd-nspawn`, and every
//! process inside goes with it.

mod host;
mod monorepo;

pub use host::{FleetHost, Init};
pub use monorepo::Monorepo;

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Nix settings that work offline and without a daemon or build users.
pub const NIX_CONFIG: &str =
    "experimental-features = nix-command flakes\nsandbox = false\nbuild-users-group =\nsubstituters =";

/// The login user on every host whose sudo asks for a password.
pub const SUDO_USER: &str = "deploy";
/// Its password (a throwaway: it exists only inside the fleet's namespaces).
pub const SUDO_PASSWORD: &str = "deploy-demo";

/// The fleet's stand-in for nixos-rebuild (see the script's header).
const NIXOS_REBUILD: &str = include_str!("../../assets/fleet/nixos-rebuild");
const NIXOS_REBUILD_BASH: &str = include_str!("../../assets/fleet/nixos-rebuild-bash");
/// Makes the root every host boots (see the script's header).
const MAKE_ROOT: &str = include_str!("../../assets/fleet/make-root");
/// Where the shared root is kept, unless `DEPLOYTUI_FLEET_ROOT` says otherwise.
const DEFAULT_ROOT: &str = "/var/cache/deploytui/fleet-root";

/// Why a fleet could not be built.
#[derive(Debug)]
pub enum FleetError {
    /// Something this machine lacks; the message says how to get it.
    Missing(String),
    /// A step failed; the message names it and carries its output.
    Step(String),
}

impl fmt::Display for FleetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FleetError::Missing(m) | FleetError::Step(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for FleetError {}

impl From<std::io::Error> for FleetError {
    fn from(e: std::io::Error) -> Self {
        FleetError::Step(format!("i/o error: {e}"))
    }
}

/// A command that must succeed; otherwise an error naming `what` with its output.
pub(crate) fn run(what: &str, cmd: &mut Command) -> Result<Output, FleetError> {
    let out = cmd.output().map_err(|e| {
        FleetError::Step(format!("{what}: cannot run {:?}: {e}", cmd.get_program()))
    })?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(FleetError::Step(format!(
            "{what} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )))
    }
}

/// `nix` with the fleet's offline settings.
pub fn nix() -> Command {
    let mut cmd = Command::new("nix");
    cmd.env("NIX_CONFIG", NIX_CONFIG);
    cmd
}

/// Checks that this machine can run a fleet, naming exactly what is missing.
pub fn check_prerequisites() -> Result<(), FleetError> {
    let mut problems = Vec::new();
    if crate::paths::euid() != Some(0) {
        problems.push(
            "root: the fleet boots its hosts with systemd-nspawn, which needs root; run as root"
                .to_string(),
        );
    }
    let tools: &[(&str, &str)] = &[
        ("nix", "nix-bin"),
        ("ssh", "openssh-client"),
        ("ssh-keygen", "openssh-client"),
        ("systemd-nspawn", "systemd-container"),
        ("debootstrap", "debootstrap"),
        ("unshare", "util-linux"),
        ("nsenter", "util-linux"),
        ("setpriv", "util-linux"),
        ("git", "git"),
        ("openssl", "openssl"),
        ("curl", "curl"),
    ];
    let mut packages = Vec::new();
    for (tool, package) in tools {
        let found = if tool.starts_with('/') {
            Path::new(tool).exists()
        } else {
            Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .is_ok_and(|o| o.status.success())
        };
        if !found {
            problems.push(format!("{tool} (Debian package {package})"));
            packages.push(*package);
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    packages.dedup();
    let mut msg = format!(
        "the test fleet cannot start; missing:\n  - {}",
        problems.join("\n  - ")
    );
    if !packages.is_empty() {
        msg.push_str(&format!(
            "\nInstall them with `bash .ci/install-deps` (as root) or `apt-get install -y {}`.",
            packages.join(" ")
        ));
    }
    Err(FleetError::Missing(msg))
}

/// Lets the first nix on a fresh machine create the store database and
/// nix's caches (`/nix/var/nix/db`, `~/.cache/nix`) alone, under a lock
/// shared by every process: on a new machine several fleets (parallel tests)
/// would otherwise create them at the same time, and the first run failed
/// where every later one passed.
fn init_nix_once() -> Result<(), FleetError> {
    let home_cache = crate::paths::home_dir().map(|h| h.join(".cache/nix"));
    let ready = || {
        Path::new("/nix/var/nix/db/db.sqlite").exists()
            && home_cache
                .as_ref()
                .is_some_and(|c| c.join("fetcher-cache-v1.sqlite").exists())
    };
    if ready() {
        return Ok(());
    }
    let lock = std::fs::File::create(std::env::temp_dir().join("deploytui-nix-init.lock"))?;
    lock.lock()?;
    if ready() {
        return Ok(());
    }
    // A one-file git flake: locking and evaluating it makes the store, its
    // database and the fetcher and evaluation caches.
    let dir = tempfile::Builder::new().prefix("dtnixinit-").tempdir()?;
    std::fs::write(
        dir.path().join("flake.nix"),
        "{ outputs = { self }: { ok = true; }; }\n",
    )?;
    let git = |args: &[&str]| {
        run(
            "git (nix warm-up)",
            Command::new("git")
                .arg("-C")
                .arg(dir.path())
                .args([
                    "-c",
                    "user.name=deploytui",
                    "-c",
                    "user.email=fleet@deploytui.invalid",
                ])
                .args(args),
        )
    };
    git(&["init", "-q"])?;
    git(&["add", "flake.nix"])?;
    git(&["commit", "-q", "-m", "warm-up"])?;
    run(
        "nix eval (first use of nix on this machine)",
        nix()
            .args(["eval", "--json"])
            .arg(format!("git+file://{}#ok", dir.path().display())),
    )?;
    Ok(())
}

/// The shared root every host boots, made on first use (a minute or two,
/// once per machine) under a lock shared by every fleet, so parallel tests
/// on a fresh machine make it once.
pub fn ensure_root() -> Result<PathBuf, FleetError> {
    let root = std::env::var_os("DEPLOYTUI_FLEET_ROOT")
        .map_or_else(|| PathBuf::from(DEFAULT_ROOT), PathBuf::from);
    if let Some(parent) = root.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let lock = std::fs::File::create(root.with_extension("lock"))?;
    lock.lock()?;
    let script = tempfile::Builder::new().prefix("make-root-").tempfile()?;
    std::fs::write(script.path(), MAKE_ROOT)?;
    let out = Command::new("bash")
        .arg(script.path())
        .arg(&root)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| FleetError::Step(format!("cannot run bash for make-root: {e}")))?;
    if !out.status.success() {
        return Err(FleetError::Step(format!(
            "making the fleet's root in {} failed ({}):\n{}",
            root.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(root)
}

/// A running fleet. Dropping it stops every host and removes its folder.
pub struct Fleet {
    dir: tempfile::TempDir,
    pub repo: Monorepo,
    pub hosts: Vec<FleetHost>,
    /// Private key that logs in as root and as the sudo user on every host.
    pub client_key: PathBuf,
    /// One `[127.0.0.1]:<port>` line per host.
    pub known_hosts: PathBuf,
    /// A deploytui config for this fleet.
    pub config_path: PathBuf,
    /// An ssh config that names each host (`server1`, ...) as a user's
    /// `~/.ssh/config` would: its address, port, key and known_hosts.
    pub ssh_config: PathBuf,
}

impl Fleet {
    /// Builds the monorepo, starts `hosts` hosts and deploys the locked
    /// configuration to each, so every host runs generation 1 with nginx and
    /// the web app up. Host names are `server1`, `server2`, ...
    pub fn start(hosts: usize) -> Result<Fleet, FleetError> {
        Fleet::start_with(hosts, Init::Systemd)
    }

    /// As [`Fleet::start`], with `init` as every host's PID 1.
    pub fn start_with(hosts: usize, init: Init) -> Result<Fleet, FleetError> {
        check_prerequisites()?;
        let root = ensure_root()?;
        init_nix_once()?;
        // Short path: ssh control sockets live below it and are limited to ~108 bytes.
        let dir = tempfile::Builder::new()
            .prefix("dtfleet-")
            .tempdir_in("/tmp")?;
        set_mode(dir.path(), 0o755)?;
        let client_key = dir.path().join("client_key");
        run(
            "ssh-keygen (client key)",
            Command::new("ssh-keygen")
                .args([
                    "-q",
                    "-t",
                    "ed25519",
                    "-N",
                    "",
                    "-C",
                    "deploytui-fleet",
                    "-f",
                ])
                .arg(&client_key),
        )?;
        let names: Vec<String> = (1..=hosts).map(|i| format!("server{i}")).collect();
        let mut specs = Vec::new();
        for name in &names {
            specs.push((name.clone(), free_port()?));
        }
        let repo = Monorepo::create(&dir.path().join("monorepo"), &specs)?;

        let mut started = Vec::new();
        let mut known = String::new();
        let pubkey = std::fs::read_to_string(client_key.with_extension("pub"))?;
        // Machine names unique on this machine: the fleet folder's name is.
        let fleet_id = dir
            .path()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for (name, nginx_port) in &specs {
            let host = FleetHost::start(
                init,
                &root,
                &dir.path().join(name),
                &format!("{fleet_id}-{name}"),
                name,
                *nginx_port,
                &pubkey,
            )?;
            known.push_str(&host.known_hosts_line()?);
            started.push(host);
        }
        let known_hosts = dir.path().join("known_hosts");
        std::fs::write(&known_hosts, known)?;
        let ssh_config = dir.path().join("ssh_config");
        std::fs::write(
            &ssh_config,
            fleet_ssh_config(&started, &client_key, &known_hosts),
        )?;

        let mut fleet = Fleet {
            config_path: dir.path().join("deploytui.toml"),
            ssh_config,
            dir,
            repo,
            hosts: started,
            client_key,
            known_hosts,
        };
        std::fs::write(&fleet.config_path, fleet.config_toml(&[]))?;
        // This machine's nixos-rebuild, for the hosts deployed with it.
        let bin = fleet.bin_dir();
        std::fs::create_dir_all(&bin)?;
        std::fs::write(bin.join("nixos-rebuild"), NIXOS_REBUILD)?;
        set_mode(&bin.join("nixos-rebuild"), 0o755)?;
        let bash_bin = fleet.bash_bin_dir();
        std::fs::create_dir_all(&bash_bin)?;
        std::fs::write(bash_bin.join("nixos-rebuild"), NIXOS_REBUILD_BASH)?;
        set_mode(&bash_bin.join("nixos-rebuild"), 0o755)?;
        for i in 0..fleet.hosts.len() {
            let toplevel = fleet.build(i, false)?;
            fleet.install(i, &toplevel, init)?;
        }
        fleet.hosts.iter_mut().for_each(|h| h.generation = 1);
        Ok(fleet)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Where the fleet's `nixos-rebuild` is: put it first on `PATH` to run
    /// the brief's line as written.
    pub fn bin_dir(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    /// Where the fleet's stand-in for the bash `nixos-rebuild` (NixOS 25.05
    /// and before) is: put it first on `PATH` instead of [`Fleet::bin_dir`].
    pub fn bash_bin_dir(&self) -> PathBuf {
        self.dir.path().join("bin-bash")
    }

    /// The brief's line for host `i`, exactly: `nixos-rebuild switch --flake
    /// <repo>/infra/hosts/<name>#<name> --target-host deploy@<name> --sudo --ask-sudo-password`.
    pub fn rebuild_line(&self, i: usize) -> String {
        let name = &self.hosts[i].name;
        format!(
            "nixos-rebuild switch --flake {}#{name} --target-host {SUDO_USER}@{name} --sudo --ask-sudo-password",
            self.repo.host_flake_dir(name).display()
        )
    }

    /// Host `i`'s deploys stop overriding the monorepo input, as the
    /// brief's did: its stale self-referential lock is built as it is.
    pub fn without_overrides(&self, i: usize) -> Result<(), FleetError> {
        let config = std::fs::read_to_string(&self.config_path)?;
        let name = &self.hosts[i].name;
        let line = format!("flake = \"infra/hosts/{name}#{name}\"");
        if !config.contains(&line) {
            return Err(FleetError::Step(format!(
                "{name} has no `{line}` in the config"
            )));
        }
        std::fs::write(
            &self.config_path,
            config.replace(&line, &format!("{line}\noverride_inputs = []")),
        )?;
        Ok(())
    }

    /// The brief's story, ready to replay on host `i`: its deploys do not
    /// override the stale lock, and HEAD has a release whose new npm
    /// dependency left npmDepsHash stale. A deploy then ships nothing new;
    /// with the override it fails on the hash; fixed, it switches and nginx
    /// keeps serving the old page. Each is a card with its fix.
    pub fn replay_the_brief(&self, i: usize) -> Result<(), FleetError> {
        self.without_overrides(i)?;
        self.repo.set_version("1.1.0")?;
        self.repo.add_dependency("left-pad@1.3.0")?;
        self.repo.write("app/message.txt", "New landing page\n")?;
        self.repo
            .commit("webapp 1.1.0: new landing page, left-pad")?;
        Ok(())
    }

    /// Rewrites the fleet's config so the hosts in `rebuild` are deployed
    /// with the nixos-rebuild engine (the brief's line, as `deploy`).
    pub fn use_nixos_rebuild(&self, rebuild: &[usize]) -> Result<(), FleetError> {
        std::fs::write(&self.config_path, self.config_toml(rebuild))?;
        Ok(())
    }

    /// Options for `ssh` (and `NIX_SSHOPTS`) that reach host `i` with the fleet's key.
    pub fn ssh_options(&self, i: usize) -> Vec<String> {
        vec![
            "-F".into(),
            "/dev/null".into(),
            "-p".into(),
            self.hosts[i].ssh_port.to_string(),
            "-i".into(),
            self.client_key.display().to_string(),
            "-o".into(),
            "IdentitiesOnly=yes".into(),
            "-o".into(),
            format!("UserKnownHostsFile={}", self.known_hosts.display()),
            "-o".into(),
            "StrictHostKeyChecking=yes".into(),
            "-o".into(),
            "BatchMode=yes".into(),
            "-o".into(),
            "ConnectTimeout=10".into(),
        ]
    }

    /// `ssh <user>@127.0.0.1 <remote>` to host `i` (remote is run by the login shell).
    pub fn ssh(&self, i: usize, user: &str, remote: &str) -> Command {
        let mut cmd = Command::new("ssh");
        cmd.args(self.ssh_options(i))
            .arg(format!("{user}@127.0.0.1"))
            .arg(remote);
        cmd
    }

    /// The flake attribute of host `i`'s toplevel, for `nix build`.
    pub fn toplevel_attr(&self, i: usize) -> String {
        let name = &self.hosts[i].name;
        format!(
            "{}#nixosConfigurations.{name}.config.system.build.toplevel",
            self.repo.host_flake_dir(name).display()
        )
    }

    /// Builds host `i`'s system (with `--override-input monorepo` at HEAD when
    /// `override_self`) and returns its store path.
    pub fn build(&self, i: usize, override_self: bool) -> Result<String, FleetError> {
        let mut cmd = nix();
        cmd.args(["build", "--no-link", "--json"])
            .arg(self.toplevel_attr(i));
        if override_self {
            cmd.args(["--override-input", "monorepo", &self.repo.url()]);
        }
        let out = run(&format!("nix build of {}", self.hosts[i].name), &mut cmd)?;
        parse_build_json(&out.stdout).ok_or_else(|| {
            FleetError::Step(format!(
                "nix build printed no output path: {}",
                String::from_utf8_lossy(&out.stdout)
            ))
        })
    }

    /// Copies `path` to host `i` as root; returns nix's stderr (`copying N paths...`).
    pub fn copy(&self, i: usize, path: &str) -> Result<String, FleetError> {
        let out = run(
            &format!("nix copy to {}", self.hosts[i].name),
            nix()
                .args(["copy", "-v", "--to", "ssh://root@127.0.0.1", path])
                .env("NIX_SSHOPTS", self.ssh_options(i).join(" ")),
        )?;
        Ok(String::from_utf8_lossy(&out.stderr).into_owned())
    }

    /// Copies `toplevel` to host `i`, makes it the system profile's newest
    /// generation and runs its `switch-to-configuration <action>` as root.
    /// Returns what switch-to-configuration printed, both streams in order.
    pub fn activate(
        &mut self,
        i: usize,
        toplevel: &str,
        action: &str,
    ) -> Result<String, FleetError> {
        self.copy(i, toplevel)?;
        let remote = format!(
            "nix-env -p /nix/var/nix/profiles/system --set {toplevel} && {toplevel}/bin/switch-to-configuration {action} 2>&1"
        );
        let out = run(
            &format!("activation on {}", self.hosts[i].name),
            &mut self.ssh(i, "root", &remote),
        )?;
        self.hosts[i].generation += 1;
        Ok(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }

    /// Makes `toplevel` host `i`'s first system, as installing NixOS and
    /// booting it does: the profile and bootloader (`switch-to-configuration
    /// boot`), then what stage 2 of the boot does (the activation script,
    /// which makes it the current and booted system) and systemd starting
    /// the default target (on a host whose PID 1 is systemd).
    fn install(&mut self, i: usize, toplevel: &str, init: Init) -> Result<(), FleetError> {
        self.copy(i, toplevel)?;
        let start = match init {
            Init::Systemd => " && systemctl daemon-reload && systemctl start multi-user.target",
            Init::Plain => "",
        };
        let remote = format!(
            "nix-env -p /nix/var/nix/profiles/system --set {toplevel} && {toplevel}/bin/switch-to-configuration boot \
             && {toplevel}/activate {toplevel}{start}"
        );
        run(
            &format!("installing the first system on {}", self.hosts[i].name),
            &mut self.ssh(i, "root", &remote),
        )?;
        Ok(())
    }

    /// Whether host `i`'s private store holds `store_path`.
    pub fn host_has_path(&self, i: usize, store_path: &str) -> bool {
        let rel = store_path.trim_start_matches('/');
        self.hosts[i].dir.join(rel).exists()
    }

    /// What host `i`'s nginx serves at `/` (via curl). A just-restarted nginx
    /// may not listen yet: refused connections are retried for a few seconds.
    pub fn fetch_page(&self, i: usize) -> Result<String, FleetError> {
        let url = format!("http://127.0.0.1:{}/", self.hosts[i].nginx_port);
        let mut last = None;
        for _ in 0..30 {
            match run(
                "curl",
                Command::new("curl").args(["-sS", "--max-time", "5", &url]),
            ) {
                Ok(out) => return Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
                Err(e) => last = Some(e),
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Err(last.unwrap_or_else(|| FleetError::Step(format!("curl {url}: no answer"))))
    }

    /// Pids of every process running for this fleet (each host's unshare and
    /// everything inside its namespace).
    pub fn pids(&self) -> Vec<u32> {
        self.hosts.iter().flat_map(FleetHost::pids).collect()
    }

    fn config_toml(&self, rebuild: &[usize]) -> String {
        let mut s = format!(
            "# deploytui config for the test fleet in {dir}\n\
             repo = \"{repo}\"\n\
             refresh_secs = 5\n\
             connect_timeout_secs = 5\n\n\
             [defaults]\n\
             # Each host by its name, as in a user's ~/.ssh/config.\n\
             ssh_config = \"{ssh_config}\"\n\
             services = [\"nginx\", \"webapp\"]\n",
            dir = self.dir().display(),
            repo = self.repo.path.display(),
            ssh_config = self.ssh_config.display(),
        );
        for (i, h) in self.hosts.iter().enumerate() {
            // The first host logs in as the sudo user with a password, the
            // others as root, so both paths are always on screen. A host on
            // the nixos-rebuild engine logs in as the sudo user too.
            let (user, sudo) = if i == 0 || rebuild.contains(&i) {
                (SUDO_USER, "password")
            } else {
                ("root", "none")
            };
            s.push_str(&format!(
                "\n[[hosts]]\nname = \"{name}\"\ntarget = \"{user}@{name}\"\n\
                 flake = \"infra/hosts/{name}#{name}\"\nsudo = \"{sudo}\"\n\
                 http_check = {{ url = \"http://127.0.0.1:{web}/\", expect = \"commit {{rev}}\" }}\n",
                name = h.name,
                web = h.nginx_port,
            ));
            if rebuild.contains(&i) {
                s.push_str(&format!(
                    "engine = \"nixos-rebuild\"\nrebuild_command = \"{}\"\n",
                    self.rebuild_line(i)
                ));
            }
        }
        s
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for host in &mut self.hosts {
            host.stop();
        }
    }
}

pub use crate::nix::parse_build_json;

/// The fleet's ssh config: `Host serverN` reaches that host's sshd with
/// the fleet's key, checked against the fleet's known_hosts, logging in as
/// the fleet's config does (the first host as the sudo user, the others as
/// root), as a homelab owner's `~/.ssh/config` would say.
fn fleet_ssh_config(hosts: &[FleetHost], key: &Path, known_hosts: &Path) -> String {
    let mut s = String::from("# ssh config of a deploytui test fleet\n");
    for (i, h) in hosts.iter().enumerate() {
        let user = if i == 0 { SUDO_USER } else { "root" };
        s.push_str(&format!(
            "Host {}\n  HostName 127.0.0.1\n  Port {}\n  User {user}\n",
            h.name, h.ssh_port
        ));
    }
    s.push_str(&format!(
        "Host *\n  IdentityFile {}\n  IdentitiesOnly yes\n  UserKnownHostsFile {}\n",
        key.display(),
        known_hosts.display()
    ));
    s
}

/// A port on 127.0.0.1 that was free a moment ago.
pub(crate) fn free_port() -> Result<u16, FleetError> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

pub(crate) fn set_mode(path: &Path, mode: u32) -> Result<(), FleetError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok(())
}
