//! Work done on this machine: flake checks against git, lock updates and
//! commits. Each runs as its own task and reports back as a message.

use tokio::process::Command;
use tokio::sync::mpsc;

use crate::app::{FileCommit, JobId, LockDiff, LockUpdate, Msg};
use crate::config::FlakeRef;
use crate::nix::{check, git, lock};

/// One host's flake check, as `update` asks for it.
pub struct FlakeCheck {
    pub host: usize,
    pub flake: FlakeRef,
    pub running_rev: Option<String>,
    pub previous: Option<Box<check::FlakeReport>>,
}

/// How long what git said about a repository is reused: within one tick,
/// every host of a monorepo shares one look at its HEAD and changes.
const REPO_FRESH_FOR: std::time::Duration = std::time::Duration::from_millis(500);

/// The task that checks flakes, one after the other, sharing what git said
/// (see `check::RepoCache`); each report goes back as `FlakeChecked`.
pub fn flake_checker(tx: mpsc::UnboundedSender<Msg>) -> mpsc::UnboundedSender<FlakeCheck> {
    let (requests, mut rx) = mpsc::unbounded_channel::<FlakeCheck>();
    tokio::spawn(async move {
        let mut repos = check::RepoCache::fresh_for(REPO_FRESH_FOR);
        while let Some(c) = rx.recv().await {
            let result = check::check_with(
                &c.flake,
                c.running_rev.as_deref(),
                c.previous.as_deref(),
                &mut repos,
            )
            .await
            .map_err(|e| e.to_string());
            if tx
                .send(Msg::FlakeChecked {
                    host: c.host,
                    result,
                })
                .is_err()
            {
                break;
            }
        }
    });
    requests
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

/// The lock file's bytes and what it pins for the input.
fn lock_now(update: &LockUpdate) -> (Option<Vec<u8>>, String) {
    let bytes = std::fs::read(update.flake_dir.join("flake.lock")).ok();
    let pinned = lock::read(&update.flake_dir)
        .ok()
        .and_then(|inputs| inputs.into_iter().find(|i| i.path == update.input))
        .map_or_else(|| "(not locked)".to_string(), |i| i.pinned());
    (bytes, pinned)
}

pub fn update_lock(id: JobId, update: LockUpdate, tx: mpsc::UnboundedSender<Msg>) {
    tokio::spawn(async move {
        let (old_bytes, old) = lock_now(&update);
        if let Some(rewrite) = update.rewrite.clone() {
            let written = tokio::task::spawn_blocking(move || {
                crate::nix::hash_fix::write_site(&rewrite.repo, &rewrite.site)
            })
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r);
            if let Err(e) = written {
                let _ = tx.send(Msg::LockUpdated { id, result: Err(e) });
                return;
            }
        }
        let (program, args) = match update.argv.split_first() {
            Some(split) => split,
            None => return,
        };
        let result = match Command::new(program)
            .args(args)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
        {
            Ok(out) => {
                // nix's own words, every line, in the activity log: its
                // error is often many lines long and the first is not the cause.
                for line in String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                {
                    let _ = tx.send(Msg::Log(format!("nix: {}", crate::text::clean(line))));
                }
                if out.status.success() {
                    let (new_bytes, new) = lock_now(&update);
                    Ok(LockDiff {
                        input: update.input.clone(),
                        old,
                        new,
                        changed: old_bytes != new_bytes,
                    })
                } else {
                    Err(nix_failure(program, &out))
                }
            }
            Err(e) => Err(format!("cannot run {program}: {e}")),
        };
        let _ = tx.send(Msg::LockUpdated { id, result });
    });
}

/// One line for the status bar: the exit status and nix's last `error:`
/// line (its whole output is in the log).
fn nix_failure(program: &str, out: &std::process::Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let cause = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .rfind(|l| l.starts_with("error:"))
        .or_else(|| stderr.lines().map(str::trim).rfind(|l| !l.is_empty()))
        .unwrap_or("no message");
    let code = out
        .status
        .code()
        .map_or_else(|| "was killed".to_string(), |c| format!("exited with {c}"));
    format!(
        "{program} {code}: {} (all of nix's output is in the log)",
        crate::text::quote(cause)
    )
}

/// Finds the one line of the flake's flake.nix that names `url` (quoted,
/// as `git+file://`, `git+file:` or `path:`), and the same line naming
/// `relative` instead: the rewrite to ask about.
pub fn find_relative_site(
    mut update: LockUpdate,
    repo: std::path::PathBuf,
    url: String,
    relative: String,
    tx: mpsc::UnboundedSender<Msg>,
) {
    tokio::task::spawn_blocking(move || {
        let result = (|| {
            let rel = update
                .flake_dir
                .strip_prefix(&repo)
                .map_err(|_| "the flake is not inside its repository".to_string())?
                .join("flake.nix");
            let path = crate::nix::hash_fix::inside(&repo, &rel)?;
            let text =
                std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", rel.display()))?;
            let names = [
                format!("\"git+file://{url}\""),
                format!("\"git+file:{url}\""),
                format!("\"path:{url}\""),
            ];
            let found: Vec<(usize, &str, &String)> = text
                .lines()
                .enumerate()
                .filter_map(|(i, l)| {
                    names
                        .iter()
                        .find(|n| l.contains(n.as_str()))
                        .map(|n| (i, l, n))
                })
                .collect();
            let [(at, line, name)] = found.as_slice() else {
                return Err(format!(
                    "{} names {url} on {} lines, not one: write url = \"{relative}\"; there by hand",
                    rel.display(),
                    found.len()
                ));
            };
            update.rewrite = Some(crate::app::Rewrite {
                repo: repo.clone(),
                site: crate::nix::hash_fix::Site {
                    file: rel.clone(),
                    line: at + 1,
                    old: line.to_string(),
                    new: line.replacen(name.as_str(), &format!("\"{relative}\""), 1),
                },
            });
            Ok(update)
        })();
        let _ = tx.send(Msg::RelativeSiteFound(result));
    });
}

pub fn commit_files_job(id: JobId, commit: FileCommit, tx: mpsc::UnboundedSender<Msg>) {
    tokio::spawn(async move {
        let outcome = commit_files(&commit).await;
        let _ = tx.send(Msg::JobFinished { id, outcome });
    });
}

/// Runs the commit; its first line of output, or git's error. A `git
/// status` running elsewhere at that moment holds git's index lock: the
/// commit is tried again for a couple of seconds rather than failed at once.
async fn commit_files(commit: &FileCommit) -> Result<String, String> {
    let argv = commit.argv();
    // `git::git` adds `-C <repo>` itself: the rest of the same argv.
    let args: Vec<&str> = argv[3..].iter().map(String::as_str).collect();
    let mut tries = 0;
    loop {
        match git::git(&commit.repo, &args).await {
            Ok(out) => return Ok(out.lines().next().unwrap_or("committed").to_string()),
            Err(e) if e.contains("index.lock") && tries < 10 => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The "out of date" dance, as a user does it by hand: blank the hash at
/// `site` (the diff was shown), build to make nix say the right one, and
/// read it. When nix gives none, the blank is taken back.
pub fn learn_hash(
    host: usize,
    repo: std::path::PathBuf,
    site: crate::nix::hash_fix::Site,
    argv: Vec<String>,
    tx: mpsc::UnboundedSender<Msg>,
) {
    use crate::nix::hash_fix;
    tokio::spawn(async move {
        let result = async {
            let write = |s: hash_fix::Site| {
                let repo = repo.clone();
                tokio::task::spawn_blocking(move || hash_fix::write_site(&repo, &s))
            };
            write(site.clone()).await.map_err(|e| e.to_string())??;
            let (program, args) = argv.split_first().ok_or("no build command")?;
            let out = Command::new(program)
                .args(args)
                .stdin(std::process::Stdio::null())
                .kill_on_drop(true)
                .output()
                .await
                .map_err(|e| format!("cannot run {program}: {e}"))?;
            // nix speaks internal-json: its error messages, read whole.
            let mut progress = crate::nix::internal_json::Progress::default();
            let mut text = String::new();
            for line in String::from_utf8_lossy(&out.stderr).lines() {
                if let Some(shown) = progress.apply(&crate::nix::internal_json::parse_line(line)) {
                    text.push_str(&shown);
                    text.push('\n');
                }
            }
            let learned = hash_fix::learned(&site, &text);
            if learned.is_err() {
                // Nothing learned: the file as it was.
                let _ = write(site.reversed()).await;
            }
            learned
        }
        .await;
        let _ = tx.send(Msg::HashLearned {
            host,
            repo,
            blanked: site,
            result,
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    /// Another git holding the index lock for a moment does not fail the
    /// commit: it waits for the lock, then commits.
    #[tokio::test]
    async fn a_commit_waits_out_a_brief_index_lock() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path();
        let git = |args: &[&str]| {
            let ok = std::process::Command::new("git")
                .arg("-C")
                .arg(repo)
                .args(["-c", "user.name=t", "-c", "user.email=t@t.invalid"])
                .args(args)
                .status()
                .unwrap()
                .success();
            assert!(ok, "git {args:?}");
        };
        git(&["init", "-q"]);
        // The repository's own identity, as a user's git config gives one.
        git(&["config", "user.name", "t"]);
        git(&["config", "user.email", "t@t.invalid"]);
        std::fs::write(repo.join("flake.lock"), "{}\n").unwrap();
        git(&["add", "flake.lock"]);
        git(&["commit", "-q", "-m", "first"]);
        std::fs::write(repo.join("flake.lock"), "{ }\n").unwrap();
        let lock = repo.join(".git/index.lock");
        std::fs::write(&lock, "").unwrap();
        let held = lock.clone();
        let release = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(500));
            std::fs::remove_file(held).unwrap();
        });
        let commit = FileCommit {
            repo: repo.to_path_buf(),
            files: vec![repo.join("flake.lock")],
            message: "flake.lock: update".into(),
            then_deploy: None,
        };
        let outcome = commit_files(&commit).await;
        release.join().unwrap();
        assert!(outcome.is_ok(), "{outcome:?}");
    }

    #[test]
    fn a_nix_failure_names_the_error_line_not_the_first_line() {
        let out = std::process::Output {
            status: std::process::ExitStatus::from_raw(1 << 8),
            stdout: Vec::new(),
            stderr: b"warning: Git tree '/r' is dirty\n\
                      error: getting status of '/r/lib': No such file or directory\n\
                      (use '--show-trace' to show detailed location information)\n"
                .to_vec(),
        };
        assert_eq!(
            nix_failure("nix", &out),
            "nix exited with 1: error: getting status of '/r/lib': No such file or directory \
             (all of nix's output is in the log)"
        );
        let killed = std::process::Output {
            status: std::process::ExitStatus::from_raw(9),
            stdout: Vec::new(),
            stderr: b"\x1b[31mbuilding\x1b[0m\n".to_vec(),
        };
        assert_eq!(
            nix_failure("nix", &killed),
            "nix was killed: \\x1b[31mbuilding\\x1b[0m (all of nix's output is in the log)"
        );
    }
}
