//! deploytui: a terminal deploy console for NixOS machines run from a git monorepo.
//!
//! `app` holds the state, messages and the pure update; `ui` only draws;
//! `runtime` owns the terminal, the event loop and the tasks.
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod app;
pub mod cli;
pub mod config;
pub mod demo;
pub mod deploy;
pub mod fleet;
pub mod headless;
pub mod init;
pub mod keymap;
pub mod local_command;
pub mod logbuf;
pub mod logging;
pub mod nix;
pub mod paths;
pub mod probe;
pub mod remote;
pub mod runtime;
pub mod secret;
pub mod systemd;
pub mod text;
pub mod ui;
