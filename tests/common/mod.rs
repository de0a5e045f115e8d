//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod tmux;

use std::path::PathBuf;
use std::process::Command;

/// True when every tool is on PATH. Otherwise: under CI (`CI=true`) the test
/// fails, since CI installs them; run by hand, it is skipped with a loud note.
pub fn require_tools(test: &str, tools: &[&str]) -> bool {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| {
            !Command::new("sh")
                .args(["-c", &format!("command -v {t}")])
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false)
        })
        .collect();
    if missing.is_empty() {
        return true;
    }
    let msg = format!(
        "{test}: needs {} (missing); `bash .ci/run` installs it",
        missing.join(", ")
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg}");
    }
    eprintln!("\n!!!!!!!!!! SKIPPED {msg} !!!!!!!!!!\n");
    false
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_deploytui"))
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A running test fleet, or `None` (skipped loudly) when this machine cannot
/// run one and this is not CI; under `CI=true` a missing prerequisite fails.
pub fn fleet(test: &str, hosts: usize) -> Option<deploytui::fleet::Fleet> {
    if let Err(e) = deploytui::fleet::check_prerequisites() {
        let msg = format!("{test}: {e}");
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{msg}");
        }
        eprintln!("\n!!!!!!!!!! SKIPPED {msg} !!!!!!!!!!\n");
        return None;
    }
    Some(
        deploytui::fleet::Fleet::start(hosts)
            .unwrap_or_else(|e| panic!("fleet did not start: {e}")),
    )
}
