//! Nix facts: flake.lock, how inputs compare with git, and the nix on this machine.

pub mod check;
pub mod git;
pub mod internal_json;
pub mod lock;
