//! A command kept running on a host for as long as deploytui holds it (the
//! deploy's host lock): it says a ready word on stdout and then waits for
//! its stdin to close. Dropping the [`Held`] closes that stdin, and so does
//! deploytui dying (the channel goes with it), so what it holds on the host
//! is freed either way.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};

use super::{drain, secret_line, CommandOutput, RemoteError, Transport};
use crate::secret::Secret;

/// The running command; its stdin closes when this is dropped.
pub struct Held {
    // Kept only to be dropped: the child's stdin, then the child itself.
    _stdin: Box<dyn Send + Sync>,
    _child: Box<dyn Send + Sync>,
}

/// How holding went.
pub enum Holding {
    /// It said the ready word and now waits.
    Held(Held),
    /// It ended without saying it: its whole output and exit status.
    Ended(CommandOutput),
}

impl Transport {
    /// Runs `argv` with `stdin` (a password line, if given) written and the
    /// pipe left open, until it prints the line `ready` (then it is held)
    /// or ends (then its output says why). When its stderr says what
    /// `give_up` looks for (sudo's "try again": it would wait for another
    /// password on the open pipe), the pipe is closed and it ends. Within
    /// `limit`.
    pub async fn hold(
        &self,
        argv: &[String],
        stdin: Option<&Secret>,
        ready: &str,
        give_up: fn(&str) -> bool,
        limit: Duration,
    ) -> Result<Holding, RemoteError> {
        let program = argv.first().cloned().unwrap_or_default();
        tokio::time::timeout(limit, self.hold_unbounded(argv, stdin, ready, give_up))
            .await
            .unwrap_or_else(|_| {
                Err(RemoteError::TimedOut {
                    what: crate::text::quote(&program),
                    after: limit,
                })
            })
    }

    async fn hold_unbounded(
        &self,
        argv: &[String],
        stdin: Option<&Secret>,
        ready: &str,
        give_up: fn(&str) -> bool,
    ) -> Result<Holding, RemoteError> {
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| RemoteError::Run("empty command".into()))?;
        match self {
            Transport::Local => {
                // Not killed on drop: closing its stdin ends it, as on a host.
                let mut child = super::spawn_local(program, args, Stdio::piped(), false)?;
                let pipe = child.stdin.take().ok_or_else(no_pipe)?;
                let stdout = child.stdout.take().ok_or_else(no_pipe)?;
                let stderr = child.stderr.take().ok_or_else(no_pipe)?;
                match wait_ready(pipe, stdout, stderr, stdin, ready, give_up).await {
                    Ok(pipe) => Ok(Holding::Held(Held {
                        _stdin: Box::new(pipe),
                        _child: Box::new(child),
                    })),
                    Err(said) => {
                        let status = child
                            .wait()
                            .await
                            .map_err(|e| RemoteError::Run(e.to_string()))?;
                        Ok(ended(said, status.code()))
                    }
                }
            }
            Transport::Ssh(master) => {
                let mut child = master.spawn(program, args, openssh::Stdio::piped()).await?;
                let pipe = child.stdin().take().ok_or_else(no_pipe)?;
                let stdout = child.stdout().take().ok_or_else(no_pipe)?;
                let stderr = child.stderr().take().ok_or_else(no_pipe)?;
                match wait_ready(pipe, stdout, stderr, stdin, ready, give_up).await {
                    Ok(pipe) => Ok(Holding::Held(Held {
                        _stdin: Box::new(pipe),
                        _child: Box::new(child),
                    })),
                    Err(said) => Ok(ended(said, super::remote_code(child.wait().await)?)),
                }
            }
        }
    }
}

/// Writes the password (if any) to `pipe` and waits for the ready word:
/// `Ok(pipe)`, still open, once it is said; `Err` with everything the
/// command said once it ended or gave up (the pipe is closed then, so a
/// command that waits on it ends too).
async fn wait_ready<W, O, E>(
    mut pipe: W,
    stdout: O,
    mut stderr: E,
    stdin: Option<&Secret>,
    ready: &str,
    give_up: fn(&str) -> bool,
) -> Result<W, Said>
where
    W: tokio::io::AsyncWrite + Unpin,
    O: AsyncRead + Unpin,
    E: AsyncRead + Unpin,
{
    send(&mut pipe, stdin).await;
    let mut stdout = BufReader::new(stdout);
    let Some(mut said) = until_ready(&mut stdout, &mut stderr, ready, give_up).await else {
        return Ok(pipe);
    };
    drop(pipe);
    let (rest, err_rest) = drain(Some(stdout), Some(stderr)).await;
    said.stdout.push_str(&rest);
    said.stderr.push_str(&err_rest);
    Err(said)
}

fn no_pipe() -> RemoteError {
    RemoteError::Run("the command has no pipe to hold".into())
}

/// The password line, if any, with the pipe left open.
async fn send<W: tokio::io::AsyncWrite + Unpin>(pipe: &mut W, secret: Option<&Secret>) {
    if let Some(secret) = secret {
        // A command that ended before reading it is not an error here.
        let _ = pipe.write_all(&secret_line(secret)).await;
        let _ = pipe.flush().await;
    }
}

/// What was said before the command stopped waiting to be held.
struct Said {
    stdout: String,
    stderr: String,
}

/// Reads stdout lines until one is `ready` (`None`), or to the end, or
/// until stderr says what `give_up` looks for: what was said (`Some`).
async fn until_ready<R: AsyncRead + Unpin, E: AsyncRead + Unpin>(
    out: &mut BufReader<R>,
    err: &mut E,
    ready: &str,
    give_up: fn(&str) -> bool,
) -> Option<Said> {
    let mut said = Said {
        stdout: String::new(),
        stderr: String::new(),
    };
    let mut line = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut err_open = true;
    loop {
        tokio::select! {
            n = out.read_until(b'\n', &mut line) => match n {
                Ok(0) | Err(_) => return Some(said),
                Ok(_) => {
                    let text = crate::text::lossy(&line);
                    line.clear();
                    if text.trim_end() == ready {
                        return None;
                    }
                    // A host that floods before the word is cut short.
                    if said.stdout.len() < super::OUTPUT_MAX {
                        said.stdout.push_str(&text);
                    }
                }
            },
            n = err.read(&mut chunk), if err_open => match n {
                Ok(0) | Err(_) => err_open = false,
                Ok(n) => {
                    if said.stderr.len() < super::OUTPUT_MAX {
                        said.stderr.push_str(&crate::text::lossy(&chunk[..n]));
                    }
                    if give_up(&said.stderr) {
                        return Some(said);
                    }
                }
            },
        }
    }
}

fn ended(said: Said, code: Option<i32>) -> Holding {
    Holding::Ended(CommandOutput {
        code,
        stdout: said.stdout,
        stderr: said.stderr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `sh -c script` held on this machine.
    async fn hold_sh(script: &str, stdin: Option<&Secret>, give_up: fn(&str) -> bool) -> Holding {
        let argv: Vec<String> = ["sh", "-c", script].map(String::from).to_vec();
        Transport::Local
            .hold(&argv, stdin, "ready", give_up, Duration::from_secs(5))
            .await
            .expect("not the deadline")
    }

    /// Held until dropped: the command sees its stdin close then, and not
    /// before; one that ends first gives its whole output.
    #[tokio::test]
    async fn a_held_command_runs_until_it_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("gone");
        let script = format!("echo ready; cat >/dev/null; touch {}", gone.display());
        let Holding::Held(held) = hold_sh(&script, None, |_| false).await else {
            panic!("not held")
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!gone.exists(), "still held");
        drop(held);
        for _ in 0..100 {
            if gone.exists() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(gone.exists(), "its stdin closed when dropped");

        let script = "echo busy; echo since 10:00; echo no >&2; exit 75";
        let Holding::Ended(out) = hold_sh(script, None, |_| false).await else {
            panic!("held")
        };
        assert_eq!(
            (out.code, out.stdout.as_str(), out.stderr.as_str()),
            (Some(75), "busy\nsince 10:00\n", "no\n")
        );
    }

    /// A command that would wait on its open stdin after saying it gave up
    /// (sudo asking again after a wrong password) is let go, and its
    /// output kept.
    #[tokio::test]
    async fn one_that_asks_again_is_let_go() {
        let script = "read -r pw; echo 'Sorry, try again.' >&2; cat >/dev/null; exit 1";
        let wrong = Secret::new("wrong".into());
        let ended = hold_sh(script, Some(&wrong), |err| err.contains("try again")).await;
        let Holding::Ended(out) = ended else {
            panic!("held")
        };
        assert_eq!(
            (out.code, out.stderr.as_str()),
            (Some(1), "Sorry, try again.\n")
        );
    }
}
