//! The fleet's git monorepo: an app and per-host flakes that take the
//! monorepo itself as an input, exactly the self-referential setup that
//! leaves a deployed system on an old commit.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{nix, run, FleetError};

const FILES: &[(&str, &str)] = &[
    (
        "app/package.json",
        include_str!("../../assets/fleet/monorepo/app/package.json"),
    ),
    (
        "app/deps.lock",
        include_str!("../../assets/fleet/monorepo/app/deps.lock"),
    ),
    (
        "app/index.html",
        include_str!("../../assets/fleet/monorepo/app/index.html"),
    ),
    (
        "app/message.txt",
        include_str!("../../assets/fleet/monorepo/app/message.txt"),
    ),
    (
        "infra/pkgs/webapp.nix",
        include_str!("../../assets/fleet/monorepo/infra/pkgs/webapp.nix"),
    ),
    (
        "infra/lib/system.nix",
        include_str!("../../assets/fleet/monorepo/infra/lib/system.nix"),
    ),
    (
        "infra/lib/configuration.nix",
        include_str!("../../assets/fleet/monorepo/infra/lib/configuration.nix"),
    ),
    (
        "infra/lib/switch-to-configuration.sh",
        include_str!("../../assets/fleet/monorepo/infra/lib/switch-to-configuration.sh"),
    ),
];
const HOST_FLAKE: &str = include_str!("../../assets/fleet/monorepo/infra/host-flake.nix.in");
const HASH_PLACEHOLDER: &str = "@NPM_DEPS_HASH@";
/// The file that holds `npmDepsHash`, relative to the repo.
pub const NPM_HASH_FILE: &str = "infra/pkgs/webapp.nix";

pub struct Monorepo {
    pub path: PathBuf,
    hosts: Vec<String>,
}

impl Monorepo {
    /// Lays out the repo, pins the npm dependencies' hash the way a user
    /// would (build with an empty hash, take nix's `got:`), locks every host
    /// flake and commits each step.
    pub(super) fn create(path: &Path, hosts: &[(String, u16)]) -> Result<Monorepo, FleetError> {
        std::fs::create_dir_all(path)?;
        let repo = Monorepo {
            path: path.to_path_buf(),
            hosts: hosts.iter().map(|(n, _)| n.clone()).collect(),
        };
        for (rel, text) in FILES {
            repo.write(rel, &text.replace(HASH_PLACEHOLDER, ""))?;
        }
        super::set_mode(&path.join("infra/lib/switch-to-configuration.sh"), 0o755)?;
        for (name, nginx_port) in hosts {
            let dir = format!("infra/hosts/{name}");
            repo.write(
                &format!("{dir}/flake.nix"),
                &HOST_FLAKE
                    .replace("@HOST@", name)
                    .replace("@REPO@", &path.display().to_string()),
            )?;
            repo.write(
                &format!("{dir}/host.nix"),
                &format!("{{\n  name = \"{name}\";\n  nginxPort = {nginx_port};\n}}\n"),
            )?;
        }
        repo.git(&["init", "-q", "-b", "main"])?;
        repo.git(&["config", "user.email", "fleet@deploytui.invalid"])?;
        repo.git(&["config", "user.name", "deploytui fleet"])?;
        repo.commit("Initial monorepo: webapp and the servers' NixOS configs")?;

        let got = repo.learn_npm_hash()?;
        repo.set_npm_hash(&got)?;
        repo.commit("webapp: pin npmDepsHash")?;
        // Each lock must be taken on a clean tree (a dirty one locks no rev),
        // so the new lock files wait outside the repo until all are taken.
        let aside = path.with_extension("locks");
        std::fs::create_dir_all(&aside)?;
        for name in &repo.hosts {
            run(
                &format!("nix flake lock of {name}"),
                nix()
                    .arg("flake")
                    .arg("lock")
                    .arg(repo.host_flake_dir(name)),
            )?;
            std::fs::rename(
                repo.host_flake_dir(name).join("flake.lock"),
                aside.join(name),
            )?;
            // nix 2.26 adds a new lock file to git's index (intent to add):
            // out of the index too, or the tree stays dirty.
            repo.git(&[
                "reset",
                "-q",
                "--",
                &format!("infra/hosts/{name}/flake.lock"),
            ])?;
        }
        for name in &repo.hosts {
            std::fs::rename(
                aside.join(name),
                repo.host_flake_dir(name).join("flake.lock"),
            )?;
        }
        std::fs::remove_dir(&aside)?;
        repo.commit("Lock the host flakes")?;
        Ok(repo)
    }

    fn git(&self, args: &[&str]) -> Result<String, FleetError> {
        let out = run(
            &format!("git {}", args.join(" ")),
            Command::new("git").arg("-C").arg(&self.path).args(args),
        )?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    pub fn write(&self, rel: &str, text: &str) -> Result<(), FleetError> {
        let file = self.path.join(rel);
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(file, text)?;
        Ok(())
    }

    pub fn read(&self, rel: &str) -> Result<String, FleetError> {
        Ok(std::fs::read_to_string(self.path.join(rel))?)
    }

    /// `git+file://` URL of the repo, as the host flakes name it.
    pub fn url(&self) -> String {
        format!("git+file://{}", self.path.display())
    }

    pub fn host_flake_dir(&self, host: &str) -> PathBuf {
        self.path.join("infra/hosts").join(host)
    }

    /// Commits everything; returns the new HEAD.
    pub fn commit(&self, message: &str) -> Result<String, FleetError> {
        self.git(&["add", "-A"])?;
        self.git(&["commit", "-q", "-m", message])?;
        self.head()
    }

    /// What `git status --porcelain` says (empty: a clean tree).
    pub fn status(&self) -> Result<String, FleetError> {
        self.git(&["status", "--porcelain"])
    }

    pub fn head(&self) -> Result<String, FleetError> {
        self.git(&["rev-parse", "HEAD"])
    }

    /// The rev host `host`'s flake.lock pins the monorepo at.
    pub fn locked_rev(&self, host: &str) -> Result<String, FleetError> {
        let lock = std::fs::read_to_string(self.host_flake_dir(host).join("flake.lock"))?;
        let v: serde_json::Value = serde_json::from_str(&lock)
            .map_err(|e| FleetError::Step(format!("flake.lock of {host}: {e}")))?;
        v["nodes"]["monorepo"]["locked"]["rev"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| FleetError::Step(format!("flake.lock of {host} pins no monorepo rev")))
    }

    /// Changes the message the web page shows and commits; returns HEAD.
    pub fn commit_app_change(&self, message: &str) -> Result<String, FleetError> {
        self.write("app/message.txt", &format!("{message}\n"))?;
        self.commit(&format!("webapp: {message}"))
    }

    /// Makes the web app's builder run `snippet` (shell) first (uncommitted):
    /// a slow build, or one that prints what a test needs.
    pub fn add_to_builder(&self, snippet: &str) -> Result<(), FleetError> {
        let rel = "infra/pkgs/webapp.nix";
        let text = self.read(rel)?;
        let anchor = "export PATH=/usr/bin:/bin";
        let at = text
            .rfind(anchor)
            .ok_or_else(|| FleetError::Step(format!("{rel} has no `{anchor}`")))?;
        let with = format!(
            "{}{anchor}; {snippet}\n{}",
            &text[..at],
            &text[at + anchor.len()..]
        );
        self.write(rel, &with)
    }

    /// Adds `setting` (a line of Nix, e.g. `nginxRestartIfChanged = true;`)
    /// to `host`'s host.nix (uncommitted).
    pub fn add_to_host(&self, host: &str, setting: &str) -> Result<(), FleetError> {
        let rel = format!("infra/hosts/{host}/host.nix");
        let text = self.read(&rel)?;
        self.write(&rel, &text.replacen('{', &format!("{{\n  {setting}"), 1))
    }

    /// Gives `host` another kernel version (uncommitted): its next system
    /// needs a reboot to run it.
    pub fn set_kernel(&self, host: &str, version: &str) -> Result<(), FleetError> {
        let rel = format!("infra/hosts/{host}/host.nix");
        let text = self.read(&rel)?;
        let without: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("kernel ="))
            .map(|l| format!("{l}\n"))
            .collect();
        let text = without.replacen('{', &format!("{{\n  kernel = \"{version}\";"), 1);
        self.write(&rel, &text)
    }

    /// Sets the app's version in package.json (uncommitted).
    pub fn set_version(&self, version: &str) -> Result<(), FleetError> {
        let mut pkg: serde_json::Value = serde_json::from_str(&self.read("app/package.json")?)
            .map_err(|e| FleetError::Step(format!("app/package.json: {e}")))?;
        pkg["version"] = serde_json::Value::String(version.to_string());
        let text =
            serde_json::to_string_pretty(&pkg).map_err(|e| FleetError::Step(e.to_string()))?;
        self.write("app/package.json", &format!("{text}\n"))
    }

    /// Adds an "npm" dependency to the lock file (uncommitted): the pinned
    /// npmDepsHash no longer matches.
    pub fn add_dependency(&self, dep: &str) -> Result<(), FleetError> {
        let mut lock = self.read("app/deps.lock")?;
        lock.push_str(&format!("{dep}\n"));
        self.write("app/deps.lock", &lock)
    }

    /// The npmDepsHash written in the repo.
    pub fn npm_hash(&self) -> Result<String, FleetError> {
        let text = self.read(NPM_HASH_FILE)?;
        text.lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix("npmDepsHash = \"")?
                    .split('"')
                    .next()
                    .map(str::to_string)
            })
            .ok_or_else(|| FleetError::Step(format!("{NPM_HASH_FILE} has no npmDepsHash line")))
    }

    /// Writes `hash` ("" for empty) as npmDepsHash (uncommitted).
    pub fn set_npm_hash(&self, hash: &str) -> Result<(), FleetError> {
        let old = self.npm_hash()?;
        let text = self.read(NPM_HASH_FILE)?;
        self.write(
            NPM_HASH_FILE,
            &text.replace(
                &format!("npmDepsHash = \"{old}\""),
                &format!("npmDepsHash = \"{hash}\""),
            ),
        )
    }

    /// Builds the first host's system from the working tree and returns the
    /// `got:` hash nix reports for the npm dependencies.
    fn learn_npm_hash(&self) -> Result<String, FleetError> {
        let host = self
            .hosts
            .first()
            .ok_or_else(|| FleetError::Step("a fleet needs a host".into()))?;
        let out = nix()
            .args(["build", "--no-link", "--no-write-lock-file"])
            .arg(format!(
                "{}#nixosConfigurations.{host}.config.system.build.toplevel",
                self.host_flake_dir(host).display()
            ))
            .args(["--override-input", "monorepo", &self.url()])
            .output()?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        stderr
            .lines()
            .find_map(|l| l.trim().strip_prefix("got:").map(|h| h.trim().to_string()))
            .ok_or_else(|| {
                FleetError::Step(format!(
                    "expected a hash mismatch with an empty npmDepsHash, got:\n{stderr}"
                ))
            })
    }
}
