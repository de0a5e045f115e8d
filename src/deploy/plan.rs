//! The plan of a deploy: exactly what will run, on which host, with which
//! engine, before anything does. Pure: it builds command lines.

use serde::Serialize;

use super::{generations, rebuild, StepKind, SwitchAction};
use crate::config::{Host, SudoMode};

/// What a deploy of `host` does unless told otherwise: `switch`, or the
/// action its nixos-rebuild line names.
pub fn default_action(host: &Host) -> SwitchAction {
    match &host.engine {
        crate::config::Engine::NixosRebuild { command } => rebuild::action_of(command)
            .map(|(_, a)| a)
            .unwrap_or(SwitchAction::Switch),
        crate::config::Engine::Native => SwitchAction::Switch,
    }
}

/// The profile every NixOS system generation is in.
pub const SYSTEM_PROFILE: &str = "/nix/var/nix/profiles/system";

/// Exactly what a deploy of one host runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub host: usize,
    pub host_name: String,
    /// `user@host`, or `local`.
    pub target: String,
    pub remote: bool,
    pub sudo: SudoMode,
    pub action: SwitchAction,
    /// `<flake>#nixosConfigurations.<attr>.config.system.build.toplevel`.
    pub installable: String,
    /// `--override-input` pairs (the flake pane's).
    pub overrides: Vec<(String, String)>,
    /// Wait for the user's yes after showing what will change.
    pub confirm_activation: bool,
    /// The watched services, looked at after the deploy.
    pub services: Vec<String>,
    /// The page fetched on the host after the deploy.
    pub http_check: Option<crate::config::HttpCheck>,
    /// A rollback: no build, no copy; the host's own previous generation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback: Option<Rollback>,
    #[serde(flatten)]
    pub engine: PlanEngine,
}

/// Back from one of the host's generations to an older one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rollback {
    pub from: generations::Generation,
    pub to: generations::Generation,
}

/// Who runs the deploy's steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "engine", rename_all = "kebab-case")]
pub enum PlanEngine {
    /// deploytui, each step a command of its own.
    Native,
    /// The user's nixos-rebuild line, as configured (its action word is
    /// replaced by the plan's action, and the overrides are added).
    NixosRebuild { command: Vec<String> },
}

impl PlanEngine {
    pub fn name(&self) -> &'static str {
        match self {
            PlanEngine::Native => "native",
            PlanEngine::NixosRebuild { .. } => "nixos-rebuild",
        }
    }
}

/// One command of a plan, for the preview: what it is, where it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanCommand {
    pub label: String,
    /// `here`, or the target.
    pub place: String,
    pub argv: Vec<String>,
}

/// The store path the commands that need one are shown with before it is built.
pub const BUILT: &str = "<built system>";
/// The host's running system, as the preview shows it.
pub const RUNNING: &str = "<running system>";

/// `nix store diff-closures OLD NEW` (on the host: both closures are there).
pub fn diff_argv(old: &str, new: &str) -> Vec<String> {
    nix(&["store", "diff-closures", old, new])
}

impl Plan {
    /// The plan for `host`, or why there is none.
    pub fn new(
        index: usize,
        host: &Host,
        action: SwitchAction,
        overrides: Vec<(String, String)>,
    ) -> Result<Plan, String> {
        let flake = host
            .flake
            .as_ref()
            .ok_or_else(|| format!("{} has no flake = \"…#…\" in the config", host.name))?;
        let engine = match &host.engine {
            crate::config::Engine::Native => PlanEngine::Native,
            crate::config::Engine::NixosRebuild { command } => PlanEngine::NixosRebuild {
                command: command.clone(),
            },
        };
        Ok(Plan {
            host: index,
            host_name: host.name.clone(),
            target: host.target.to_string(),
            remote: !matches!(host.target, crate::config::Target::Local),
            sudo: host.sudo,
            action,
            installable: format!(
                "{}#nixosConfigurations.{}.config.system.build.toplevel",
                flake.path.display(),
                flake.attr
            ),
            overrides,
            confirm_activation: host.confirm_activation,
            services: host.services.clone(),
            http_check: host.http_check.clone(),
            rollback: None,
            engine,
        })
    }

    /// Switching `host` back to its generation `to` from `from`, with
    /// deploytui's own steps (whatever the host's engine): what changes,
    /// the profile set to that generation, switch-to-configuration, verify.
    pub fn rollback(
        index: usize,
        host: &Host,
        from: generations::Generation,
        to: generations::Generation,
    ) -> Plan {
        Plan {
            host: index,
            host_name: host.name.clone(),
            target: host.target.to_string(),
            remote: !matches!(host.target, crate::config::Target::Local),
            sudo: host.sudo,
            action: SwitchAction::Switch,
            installable: to.path.clone(),
            overrides: Vec::new(),
            confirm_activation: false,
            services: host.services.clone(),
            http_check: host.http_check.clone(),
            rollback: Some(Rollback { from, to }),
            engine: PlanEngine::Native,
        }
    }

    /// The user's nixos-rebuild line as the config writes it. `None` for the
    /// native engine.
    pub fn rebuild_command(&self) -> Option<&[String]> {
        match &self.engine {
            PlanEngine::NixosRebuild { command } => Some(command),
            PlanEngine::Native => None,
        }
    }

    /// The nixos-rebuild line this plan runs: the user's, with the plan's
    /// action and the overrides. `None` for the native engine.
    pub fn rebuild_argv(&self) -> Option<Vec<String>> {
        let mut argv = self.rebuild_command()?.to_vec();
        if let Ok((at, _)) = rebuild::action_of(&argv) {
            argv[at] = self.action.as_str().into();
        }
        for (input, url) in &self.overrides {
            argv.extend(["--override-input".into(), input.clone(), url.clone()]);
        }
        Some(argv)
    }

    /// `nix build`, machine-readable: the log as internal-json, the path as JSON.
    pub fn build_argv(&self) -> Vec<String> {
        let mut argv = nix(&[
            "build",
            "--no-link",
            "--json",
            "--log-format",
            "internal-json",
            "-v",
        ]);
        argv.push(self.installable.clone());
        for (input, url) in &self.overrides {
            argv.extend(["--override-input".into(), input.clone(), url.clone()]);
        }
        argv
    }

    /// `nix copy` of the built system to the host (run here).
    pub fn copy_argv(&self, path: &str) -> Vec<String> {
        let mut argv = nix(&["copy", "--log-format", "internal-json", "-v", "--to"]);
        argv.push(format!("ssh://{}", self.target));
        argv.push(path.to_string());
        argv
    }

    /// Makes `path` the system profile's newest generation (on the host, as
    /// root); a rollback switches the profile to the generation shown.
    pub fn profile_argv(&self, path: &str) -> Vec<String> {
        let how = match &self.rollback {
            Some(r) => ["--switch-generation".to_string(), r.to.number.to_string()],
            None => ["--set".to_string(), path.to_string()],
        };
        let mut argv = vec!["nix-env".to_string(), "-p".into(), SYSTEM_PROFILE.into()];
        argv.extend(how);
        crate::remote::privileged(self.sudo, &argv)
    }

    /// `<path>/bin/switch-to-configuration <action>` (on the host, as root).
    pub fn activate_argv(&self, path: &str) -> Vec<String> {
        crate::remote::privileged(
            self.sudo,
            &[
                format!("{path}/bin/switch-to-configuration"),
                self.action.as_str().into(),
            ],
        )
    }

    /// The steps this plan goes through, in order.
    pub fn steps(&self) -> Vec<StepKind> {
        if let PlanEngine::NixosRebuild { command } = &self.engine {
            // nixos-rebuild copies only with a target host; it sets the
            // profile on its own. What changed is read afterwards.
            let mut steps = vec![StepKind::Lock, StepKind::Build];
            if rebuild::option_value(command, "--target-host").is_some() {
                steps.push(StepKind::Copy);
            }
            steps.extend([StepKind::Activate, StepKind::Verify, StepKind::Changes]);
            return steps;
        }
        let mut steps = vec![StepKind::Lock];
        if self.rollback.is_none() {
            steps.push(StepKind::Build);
            if self.remote {
                steps.push(StepKind::Copy);
            }
        }
        steps.push(StepKind::Changes);
        if self.action.sets_profile() {
            steps.push(StepKind::Profile);
        }
        steps.extend([StepKind::Activate, StepKind::Verify]);
        steps
    }

    /// Each command the deploy runs, exactly, in order (the store path not
    /// known yet shown as `<built system>`), for the preview.
    pub fn commands(&self) -> Vec<PlanCommand> {
        let on_host = |label: &str, argv: Vec<String>| PlanCommand {
            label: label.into(),
            place: self.target.clone(),
            argv,
        };
        let verify = || {
            on_host(
                "verify",
                vec!["readlink".into(), "/run/current-system".into()],
            )
        };
        let lock = || {
            on_host(
                "lock (held until the deploy ends; also checks the sudo password)",
                super::host_lock::command(self.sudo, "<this deploy>", super::host_lock::LOCK_DIR),
            )
        };
        if let Some(argv) = self.rebuild_argv() {
            return vec![
                lock(),
                PlanCommand {
                    label:
                        "nixos-rebuild (build, copy, activate; deploytui answers its sudo prompt)"
                            .into(),
                    place: "here".into(),
                    argv,
                },
                verify(),
                on_host("changes", diff_argv(RUNNING, BUILT)),
            ];
        }
        // A rollback's system is known: the generation it goes back to.
        let system = self
            .rollback
            .as_ref()
            .map_or(BUILT.to_string(), |r| r.to.path.clone());
        self.steps()
            .into_iter()
            .map(|step| match step {
                StepKind::Lock => lock(),
                StepKind::Build => PlanCommand {
                    label: step.name().into(),
                    place: "here".into(),
                    argv: self.build_argv(),
                },
                StepKind::Copy => PlanCommand {
                    label: step.name().into(),
                    place: "here".into(),
                    argv: self.copy_argv(BUILT),
                },
                StepKind::Changes => on_host(step.name(), diff_argv(RUNNING, &system)),
                StepKind::Profile => on_host(step.name(), self.profile_argv(&system)),
                // Run detached on the host, and followed: see `deploy::activate`.
                StepKind::Activate => on_host(
                    "activate (detached on the host as the unit deploytui-activate-<id>, or in its own session without systemd; followed, and again after a lost connection)",
                    self.activate_argv(&system),
                ),
                StepKind::Verify => verify(),
            })
            .collect()
    }
}

fn nix(args: &[&str]) -> Vec<String> {
    std::iter::once("nix")
        .chain(crate::nix::check::NIX_FLAGS)
        .chain(args.iter().copied())
        .map(String::from)
        .collect()
}
