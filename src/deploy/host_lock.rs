//! One deploy per host, whoever starts it: a lock taken on the host itself
//! (`flock` on `/run/deploytui/lock`, as root), so every deploytui on every
//! machine sees it, held by a command that ends when deploytui lets go or
//! dies. An activation still running there (deploytui's own, detached, or
//! nixos-rebuild's) also keeps a new deploy out: a deploytui killed mid-way
//! leaves one behind that would otherwise put its system back after the
//! next deploy said "switch done". Taking it checks the sudo password too,
//! before anything is built.

use std::time::Duration;

use crate::config::SudoMode;
use crate::remote::{self, Held, Holding, RemoteError, Transport};
use crate::secret::Secret;

/// What the lock command prints once it holds the lock.
const READY: &str = "deploytui-locked";

/// Exit codes of the script: another holds it, or no `flock` there.
const BUSY: i32 = 75;
const NO_FLOCK: i32 = 69;

/// Where the lock lives on a host: beside the activations' files.
pub const LOCK_DIR: &str = super::activate::RUN_DIR;

/// Runs as root: `sh -c LOCK_SCRIPT deploytui-lock OWNER READY DIR`. It
/// holds the lock on fd 9 until its stdin closes (`cat`). A deploy that
/// finds an activation unit running waits for nothing: it says which and
/// stops.
pub const LOCK_SCRIPT: &str = r#"
d=$3
umask 077
mkdir -p "$d" && chmod 0755 "$d" || exit 70
exec 9>>"$d/lock" || exit 70
command -v flock >/dev/null 2>&1 || { echo "no flock"; exit 69; }
if ! flock -n 9; then
  echo "held by: $(cat "$d/lock.owner" 2>/dev/null)"
  exit 75
fi
if command -v systemctl >/dev/null 2>&1; then
  running=$(systemctl list-units --plain --no-legend --state=activating,active,deactivating,reloading \
    'deploytui-activate-*' nixos-rebuild-switch-to-configuration.service 2>/dev/null | cut -d' ' -f1)
  if [ -n "$running" ]; then
    echo "activating:" $running
    exit 75
  fi
fi
printf '%s\n' "$1" >"$d/lock.owner"
echo "$2"
exec cat >/dev/null
"#;

/// The lock, while held.
pub struct HostLock {
    _held: Held,
}

/// Why the lock was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockRefused {
    /// Another deploy holds it, or an activation runs there: the words say which.
    Busy(String),
    WrongPassword,
    /// The host could not be asked.
    Failed(String),
}

impl std::fmt::Display for LockRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockRefused::Busy(why) => f.write_str(why),
            LockRefused::WrongPassword => f.write_str("wrong sudo password"),
            LockRefused::Failed(why) => write!(f, "cannot take the host's deploy lock: {why}"),
        }
    }
}

/// The lock command as argv, as root with `sudo`, for the lock in `dir`.
pub fn command(sudo: SudoMode, owner: &str, dir: &str) -> Vec<String> {
    remote::privileged(
        sudo,
        &[
            "sh".into(),
            "-c".into(),
            LOCK_SCRIPT.into(),
            "deploytui-lock".into(),
            owner.into(),
            READY.into(),
            dir.into(),
        ],
    )
}

/// Who takes the lock, as another deploytui will show it: this process,
/// user and machine, the action and when.
pub fn owner(action: &str) -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "?".into());
    let machine = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "?".into());
    let since = jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M:%S UTC");
    format!(
        "deploytui (pid {}) of {user}@{machine}, {action}, since {since}",
        std::process::id()
    )
}

/// Takes the host's deploy lock in `dir` ([`LOCK_DIR`] but in tests).
/// `Ok(None)`: the host has no `flock`, so there is no lock to take (the
/// caller says so and goes on).
pub async fn take(
    dir: &str,
    transport: &Transport,
    sudo: SudoMode,
    password: Option<&Secret>,
    owner: &str,
    limit: Duration,
) -> Result<Option<HostLock>, LockRefused> {
    let argv = command(sudo, owner, dir);
    let stdin = match sudo {
        SudoMode::Password => password,
        _ => None,
    };
    match transport
        .hold(&argv, stdin, READY, remote::says_wrong_password, limit)
        .await
    {
        Ok(Holding::Held(held)) => Ok(Some(HostLock { _held: held })),
        Ok(Holding::Ended(out)) => match out.code {
            _ if remote::is_wrong_password(&out) => Err(LockRefused::WrongPassword),
            Some(BUSY) => Err(LockRefused::Busy(busy_words(&out.stdout))),
            Some(NO_FLOCK) => Ok(None),
            code => Err(LockRefused::Failed(format!(
                "{} ({})",
                crate::text::quote(out.stderr.trim()),
                code.map_or("killed".into(), |c| format!("exit {c}"))
            ))),
        },
        Err(RemoteError::TimedOut { after, .. }) => Err(LockRefused::Failed(format!(
            "no answer within {}s",
            after.as_secs()
        ))),
        Err(e) => Err(LockRefused::Failed(e.to_string())),
    }
}

/// The deploy's first step: takes the lock, or says why not. `None`: the
/// deploy stops here (the step failed); the lock (if the host has `flock`)
/// is held while what this returns is kept.
pub async fn step(
    plan: &super::Plan,
    cx: &super::native::Context<'_>,
    events: &crate::deploy::Events,
) -> Option<Option<HostLock>> {
    use super::{Event, StepKind};
    events.send(Event::Started(StepKind::Lock)).await;
    let owner = owner(plan.action.as_str());
    let taken = take(
        LOCK_DIR,
        cx.transport,
        plan.sudo,
        cx.password,
        &owner,
        cx.command_timeout,
    )
    .await;
    let (result, lock) = match taken {
        Ok(Some(lock)) => (
            Ok("this deploy holds the host".to_string()),
            Some(Some(lock)),
        ),
        Ok(None) => (
            Ok("the host has no flock: deploying without a lock".to_string()),
            Some(None),
        ),
        Err(refused) => (Err(refused.to_string()), None),
    };
    events.send(Event::Finished(StepKind::Lock, result)).await;
    lock
}

/// What the script said about who is there, as the reason to refuse.
fn busy_words(stdout: &str) -> String {
    let said = crate::text::quote(stdout.trim());
    if let Some(units) = said.strip_prefix("activating:") {
        format!(
            "an activation is still running on the host ({}): a deploy now would race it; \
             wait for it to end (its log is in the host's journal)",
            units.trim()
        )
    } else if let Some(owner) = said.strip_prefix("held by:") {
        let owner = owner.trim();
        format!(
            "another deploy holds this host: {}",
            if owner.is_empty() {
                "owner unknown"
            } else {
                owner
            }
        )
    } else {
        format!("the host is busy: {said}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn says_who_holds_the_host() {
        assert_eq!(
            busy_words("held by: deploytui (pid 7) of me@laptop, switch, since 10:00:00\n"),
            "another deploy holds this host: deploytui (pid 7) of me@laptop, switch, since 10:00:00"
        );
        assert!(
            busy_words("activating: deploytui-activate-1a2b.service\n").starts_with(
                "an activation is still running on the host (deploytui-activate-1a2b.service)"
            )
        );
        // Whatever the host says is shown safely.
        assert!(!busy_words("held by: \u{1b}]0;x\u{7}").contains('\u{1b}'));
    }

    /// The script on this machine (a lock folder of the test's own): one
    /// holds, the second is refused with the first's name, and the lock is
    /// free again once the first lets go.
    #[tokio::test]
    async fn a_second_taker_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path().join("lock");
        let dir = dir.to_str().unwrap();
        let limit = Duration::from_secs(10);
        let take =
            |owner: &'static str| take(dir, &Transport::Local, SudoMode::None, None, owner, limit);
        let first = take("first taker")
            .await
            .expect("taken")
            .expect("flock is here");
        assert_eq!(
            take("second").await.err(),
            Some(LockRefused::Busy(
                "another deploy holds this host: first taker".into()
            ))
        );
        drop(first);
        let mut again = None;
        for _ in 0..100 {
            match take("third").await {
                Ok(lock) => {
                    again = lock;
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
        assert!(again.is_some(), "free once the first let go");
    }
}
