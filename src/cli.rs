//! Command line: one clap tree for the TUI and every headless subcommand.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "deploytui",
    version,
    about = "A terminal deploy console for NixOS machines run from a git monorepo",
    long_about = "Shows your hosts, flake inputs against git HEAD, live build logs and service \
                  states, and deploys or restarts services over ssh.\n\n\
                  Without a subcommand, opens the terminal UI."
)]
pub struct Cli {
    /// Config file (otherwise $DEPLOYTUI_CONFIG, ./deploytui.toml, then the XDG config dir)
    #[arg(long, short = 'c', global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load and validate the config, print the resolved hosts
    Check,
    /// Probe hosts over ssh: running system, generation, services (exit 3 if any is unreachable)
    Status {
        /// Hosts to probe (default: all)
        hosts: Vec<String>,
        /// Print JSON (schema deploytui.status/1, see the README)
        #[arg(long)]
        json: bool,
    },
    /// Compare every flake input with git HEAD (exit 2 if an input from a local repo is stale)
    Flake {
        /// Host whose flake to check (default: every host with a flake)
        host: Option<String>,
        /// Print JSON (schema deploytui.flake/1, see the README)
        #[arg(long)]
        json: bool,
    },
    /// Every check that needs no deploy, for a pre-deploy hook (exit 1 on a
    /// problem, 3 if a host is unreachable)
    Doctor {
        /// Hosts to check (default: all)
        hosts: Vec<String>,
        /// Print JSON (schema deploytui.doctor/1, see the README)
        #[arg(long)]
        json: bool,
    },
    /// Restart one service on one host, with the host's sudo setting
    Restart {
        host: String,
        /// Unit name (`nginx` means `nginx.service`)
        unit: String,
        /// Read the sudo password from the first line of stdin instead of the terminal
        #[arg(long)]
        sudo_password_stdin: bool,
    },
    /// Deploy hosts: build here, copy, switch on the host, verify (exit 1 if
    /// any failed, 2 if one shipped nothing new, 3 if a service is not live)
    Deploy {
        /// Hosts to deploy (at least one)
        #[arg(required = true)]
        hosts: Vec<String>,
        /// What switch-to-configuration does [default: switch, or the action
        /// in a nixos-rebuild host's rebuild_command]
        #[arg(long, value_enum)]
        action: Option<crate::deploy::SwitchAction>,
        /// Also override this flake input with its local checkout, for this
        /// deploy (as a card's fix does); repeatable
        #[arg(long = "override-input", value_name = "NAME")]
        override_inputs: Vec<String>,
        /// Print one JSON event per line (schema deploytui.deploy/1, see the README)
        #[arg(long)]
        json: bool,
        /// Read the sudo password from the first line of stdin instead of the terminal
        #[arg(long)]
        sudo_password_stdin: bool,
    },
    /// Switch a host back to an earlier generation of its system: the one
    /// before the current, or `--to N` (exit codes as for deploy)
    Rollback {
        /// The host
        host: String,
        /// The generation to go back to (default: the one before the current)
        #[arg(long)]
        to: Option<u32>,
        /// Print one JSON event per line (schema deploytui.deploy/1, see the README)
        #[arg(long)]
        json: bool,
        /// Read the sudo password from the first line of stdin instead of the terminal
        #[arg(long)]
        sudo_password_stdin: bool,
    },
    /// Find the hosts in a git monorepo (its flakes' nixosConfigurations) and
    /// write a config for them: each reached as your ssh config reads its
    /// host name; shows the config and asks before writing
    Init {
        /// The repository (default: the one holding the current directory)
        repo: Option<std::path::PathBuf>,
        /// An ssh config to read instead of ~/.ssh/config (written into the config)
        #[arg(long, value_name = "FILE")]
        ssh_config: Option<std::path::PathBuf>,
        /// Where to write (default: ~/.config/deploytui/config.toml)
        #[arg(long, value_name = "FILE")]
        output: Option<std::path::PathBuf>,
        /// Write every host found without asking (never replaces a config)
        #[arg(long)]
        yes: bool,
        /// Print the config and write nothing
        #[arg(long)]
        print: bool,
    },
    /// Start a 2-host demo fleet (real nix, real sshd; needs root) and open deploytui on it
    Demo {
        /// Do not open the TUI: print the fleet's config path and keep the fleet
        /// running until interrupted, to try the headless subcommands against it
        #[arg(long)]
        no_tui: bool,
        /// Number of hosts
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=16))]
        hosts: u16,
    },
    /// Print a shell completion script
    Completions {
        /// bash, zsh, fish, elvish or powershell
        shell: clap_complete::Shell,
    },
}
