//! A short command on this machine, run to completion within a deadline
//! from code that is not async (reading the config, `check`): `ssh -G`,
//! `nixos-rebuild --help`. Both pipes are read while it runs, so a chatty
//! program cannot block on a full pipe, and each is capped.

use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The most of each stream kept; the rest is read and dropped.
const MOST_BYTES: u64 = 4 << 20;

/// What a command printed and how it ended.
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `cmd` (stdin closed) until it exits or `limit` passes; then it is
/// killed and Err says so. Err also when it cannot start.
pub fn run_within(cmd: &mut Command, limit: Duration) -> Result<Finished, String> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = (&mut pipe).take(MOST_BYTES).read_to_end(&mut bytes);
                let _ = std::io::copy(&mut pipe, &mut std::io::sink());
            }
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < limit => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) | Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{program} gave no answer within {}s",
                    limit.as_secs()
                ));
            }
        }
    };
    Ok(Finished {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_that_hangs_is_killed_at_the_deadline() {
        let started = Instant::now();
        let err = run_within(Command::new("sleep").arg("30"), Duration::from_millis(200))
            .err()
            .expect("a deadline");
        assert!(err.contains("sleep gave no answer within 0s"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
        let done = run_within(
            Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]),
            Duration::from_secs(5),
        )
        .expect("runs");
        assert_eq!(
            (done.stdout.as_str(), done.stderr.as_str()),
            ("out\n", "err\n")
        );
        assert_eq!(done.status.code(), Some(3));
        assert!(
            run_within(&mut Command::new("/nonexistent/x"), Duration::from_secs(1))
                .err()
                .expect("no such program")
                .starts_with("cannot run /nonexistent/x")
        );
    }
}
