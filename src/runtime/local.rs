//! Work done on this machine: flake checks against git, lock updates and
//! commits. Each runs as its own task and reports back as a message.

use tokio::process::Command;
use tokio::sync::mpsc;

use crate::app::{JobId, LockCommit, LockDiff, LockUpdate, Msg};
use crate::config::FlakeRef;
use crate::nix::{check, git, lock};

pub fn check_flake(
    host: usize,
    flake: FlakeRef,
    running_rev: Option<String>,
    previous: Option<Box<check::FlakeReport>>,
    tx: mpsc::UnboundedSender<Msg>,
) {
    tokio::spawn(async move {
        let result = check::check(&flake, running_rev.as_deref(), previous.as_deref())
            .await
            .map_err(|e| e.to_string());
        let _ = tx.send(Msg::FlakeChecked { host, result });
    });
}

/// Asks the nix on this machine for its version (it decides how to update one input).
pub fn detect_nix(tx: mpsc::UnboundedSender<Msg>) {
    tokio::spawn(async move {
        if let Ok(out) = Command::new("nix").arg("--version").output().await {
            if let Some(v) = check::parse_nix_version(&String::from_utf8_lossy(&out.stdout)) {
                let _ = tx.send(Msg::NixVersion(v));
            }
        }
    });
}

fn rev_of(update: &LockUpdate) -> Option<String> {
    lock::read(&update.flake_dir)
        .ok()?
        .into_iter()
        .find(|i| i.path == update.input)?
        .rev
}

pub fn update_lock(id: JobId, update: LockUpdate, tx: mpsc::UnboundedSender<Msg>) {
    tokio::spawn(async move {
        let old_rev = rev_of(&update);
        let (program, args) = match update.argv.split_first() {
            Some(split) => split,
            None => return,
        };
        let result = match Command::new(program).args(args).output().await {
            Ok(out) if out.status.success() => {
                for line in String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                {
                    let _ = tx.send(Msg::Log(format!("nix: {line}")));
                }
                Ok(LockDiff {
                    input: update.input.clone(),
                    old_rev,
                    new_rev: rev_of(&update),
                })
            }
            Ok(out) => Err(format!(
                "{} exited with {}: {}",
                program,
                out.status,
                crate::text::quote_lines(String::from_utf8_lossy(&out.stderr).trim())
            )),
            Err(e) => Err(format!("cannot run {program}: {e}")),
        };
        let _ = tx.send(Msg::LockUpdated { id, result });
    });
}

pub fn commit_lock(id: JobId, commit: LockCommit, tx: mpsc::UnboundedSender<Msg>) {
    tokio::spawn(async move {
        let file = commit.lock_file.display().to_string();
        let outcome = git::git(
            &commit.repo,
            &["commit", "-m", &commit.message, "--", &file],
        )
        .await
        .map(|out| out.lines().next().unwrap_or("committed").to_string());
        let _ = tx.send(Msg::JobFinished { id, outcome });
    });
}
