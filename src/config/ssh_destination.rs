//! Where an ssh destination really leads, as ssh itself reads it (`ssh -G`):
//! host aliases, users and ports from the user's ssh config included. Two
//! spellings lead to the same host only if ssh would log in as the same
//! user, at the same address, on the same port.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// What ssh would connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    pub user: String,
    pub hostname: String,
    pub port: String,
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}:{}", self.user, self.hostname, self.port)
    }
}

/// `ssh -G` can run `Match exec` commands from the user's config: it gets
/// this long before it is killed and the destination called unknown.
const DEADLINE: Duration = Duration::from_secs(5);

/// Where `destination` leads with `ssh [-F config] [-p port] [-l user]`.
/// Err: why ssh could not say (no ssh, a broken config, the deadline).
pub(crate) fn resolve(
    destination: &str,
    port: Option<u16>,
    user: Option<&str>,
    ssh_config: Option<&Path>,
) -> Result<Endpoint, String> {
    let mut ssh = Command::new("ssh");
    ssh.arg("-G");
    if let Some(config) = ssh_config {
        ssh.arg("-F").arg(config);
    }
    if let Some(port) = port {
        ssh.args(["-p", &port.to_string()]);
    }
    if let Some(user) = user {
        ssh.args(["-l", user]);
    }
    ssh.args(["--", destination]);
    let done = crate::local_command::run_within(&mut ssh, DEADLINE)?;
    if !done.status.success() {
        let first = done.stderr.lines().next().unwrap_or("no reason given");
        return Err(format!(
            "ssh -G failed: {}",
            crate::text::quote(first.trim())
        ));
    }
    parse(&done.stdout).ok_or_else(|| "ssh -G did not name a user, hostname and port".into())
}

/// The endpoint in `ssh -G`'s output (`user x`, `hostname y`, `port z`).
fn parse(output: &str) -> Option<Endpoint> {
    let value = |key: &str| {
        output.lines().find_map(|line| {
            let (k, v) = line.split_once(' ')?;
            (k == key).then(|| v.trim().to_string())
        })
    };
    Some(Endpoint {
        user: value("user")?,
        hostname: value("hostname")?,
        port: value("port")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_endpoint_from_ssh_minus_g() {
        let out = "host server1\nuser deploy\nhostname 127.0.0.1\nport 2222\naddressfamily any\n";
        assert_eq!(
            parse(out),
            Some(Endpoint {
                user: "deploy".into(),
                hostname: "127.0.0.1".into(),
                port: "2222".into()
            })
        );
        assert_eq!(parse("user deploy\nport 22\n"), None);
    }

    /// An alias in an ssh config leads where its HostName and Port say;
    /// `-p` and `-l` on the command line win over the file.
    #[test]
    fn an_alias_resolves_through_the_ssh_config() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("ssh_config");
        std::fs::write(
            &config,
            "Host server1\n  HostName 127.0.0.1\n  Port 2222\n  User deploy\n",
        )
        .unwrap();
        let alias = resolve("server1", None, None, Some(&config)).unwrap();
        assert_eq!(alias.to_string(), "deploy@127.0.0.1:2222");
        let direct = resolve("127.0.0.1", Some(2222), Some("deploy"), Some(&config)).unwrap();
        assert_eq!(alias, direct);
        let other = resolve("lane@server1", None, None, Some(&config)).unwrap();
        assert_eq!(other.to_string(), "lane@127.0.0.1:2222");
        let broken = resolve("server1", None, None, Some(&dir.path().join("missing")));
        assert!(broken.unwrap_err().starts_with("ssh -G failed"));
    }
}
