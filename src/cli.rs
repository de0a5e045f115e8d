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
    /// Print a shell completion script
    Completions {
        /// bash, zsh, fish, elvish or powershell
        shell: clap_complete::Shell,
    },
}
