//! `deploytui demo`: a working fleet in one command. Builds the test fleet,
//! makes one commit so the self-referential lock is already stale (the
//! brief's first failure, visible before any key is pressed), then opens the
//! TUI on it, or with `--no-tui` keeps it up for the headless subcommands.
//! The fleet is torn down on every way out.

use std::io::Write;

use anyhow::Context;

use crate::config::{self, FoundBy};
use crate::fleet::{Fleet, SUDO_PASSWORD, SUDO_USER};

pub fn run(hosts: usize, tui: bool) -> anyhow::Result<()> {
    let mut err = std::io::stderr();
    // Every nix that deploytui runs for the demo (lock updates, builds) works
    // offline with the fleet's settings. Set before any thread starts.
    std::env::set_var("NIX_CONFIG", crate::fleet::NIX_CONFIG);
    let _ = writeln!(
        err,
        "deploytui demo: starting {hosts} host(s) (real nix builds, sshd, nginx)..."
    );
    let fleet = Fleet::start(hosts).map_err(|e| anyhow::anyhow!("{e}"))?;
    // The demo's deploys (records and logs) are kept with the fleet and go
    // with it, never mixed with the user's own.
    std::env::set_var("XDG_DATA_HOME", fleet.dir().join("data"));
    // server2 deploys with the brief's own nixos-rebuild line (the fleet's
    // nixos-rebuild, first on PATH: no thread runs yet), server1 with
    // deploytui's own steps: both engines side by side.
    if hosts >= 2 {
        fleet
            .use_nixos_rebuild(&[1])
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let path = std::env::var("PATH").unwrap_or_default();
        std::env::set_var("PATH", format!("{}:{path}", fleet.bin_dir().display()));
    }
    // server1 replays the brief's three failures, one `f` each (after the
    // config is written whole: it takes server1's overrides away).
    fleet
        .replay_the_brief(0)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let _ = writeln!(err, "deploytui demo: fleet in {}", fleet.dir().display());
    let _ = writeln!(
        err,
        "  monorepo: {} (HEAD is one commit past the hosts' flake.lock)",
        fleet.repo.path.display()
    );
    for h in &fleet.hosts {
        let _ = writeln!(
            err,
            "  {}: ssh port {}, nginx http://127.0.0.1:{}/",
            h.name, h.ssh_port, h.nginx_port
        );
    }
    let _ = writeln!(
        err,
        "  server1 logs in as `{SUDO_USER}`; its sudo password is `{SUDO_PASSWORD}`.{}",
        if hosts >= 3 {
            " server3 and on log in as root."
        } else {
            ""
        }
    );
    let _ = writeln!(
        err,
        "  server1 replays the brief: its deploys do not override the stale lock, and HEAD's new npm dependency left npmDepsHash stale.{}",
        if tui { " Press d, then f on each card." } else { "" }
    );
    if hosts >= 2 {
        let _ = writeln!(
            err,
            "  server2 deploys with `{}` (as `{SUDO_USER}`, the same password)",
            fleet.rebuild_line(1)
        );
    }
    let result = if tui {
        let config = config::parse(
            &std::fs::read_to_string(&fleet.config_path)?,
            &fleet.config_path,
            FoundBy::Flag,
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut intro = vec![
            format!("demo fleet in {}", fleet.dir().display()),
            format!("server1: login {SUDO_USER}, sudo password {SUDO_PASSWORD}"),
            "HEAD has a commit the hosts' flake.lock lacks".to_string(),
            "server1 replays the brief's story: d deploys it; f fixes what each card finds"
                .to_string(),
        ];
        if hosts >= 2 {
            intro.push(
                "server2 deploys with nixos-rebuild (the brief's line), as deploy, same password"
                    .into(),
            );
        }
        crate::runtime::run_blocking(config, intro).map(|_| ())
    } else {
        // What deploytui needs from its environment for this fleet (offline
        // nix, the fleet's nixos-rebuild), for the shell the user tries it in.
        let env = fleet.dir().join("env.sh");
        let exe_dir = std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(std::path::Path::to_path_buf));
        let path = demo_path(
            &[Some(fleet.bin_dir()), exe_dir],
            &std::env::var("PATH").unwrap_or_default(),
        );
        std::fs::write(
            &env,
            format!(
                "export NIX_CONFIG={}\nexport PATH={}\nexport XDG_DATA_HOME={}\n",
                shlex::try_quote(crate::fleet::NIX_CONFIG).unwrap_or_default(),
                shlex::try_quote(&path).unwrap_or_default(),
                shlex::try_quote(&fleet.dir().join("data").display().to_string())
                    .unwrap_or_default(),
            ),
        )?;
        println!("{}", fleet.config_path.display());
        let _ = writeln!(
            err,
            "deploytui demo: running. In another shell: `. {}` (offline nix and the fleet's nixos-rebuild), then try `deploytui --config {} doctor`. Ctrl-C stops the fleet.",
            env.display(),
            fleet.config_path.display()
        );
        wait_for_interrupt()
    };
    let dir = fleet.dir().to_path_buf();
    drop(fleet);
    let _ = writeln!(
        err,
        "deploytui demo: fleet stopped, {} removed",
        dir.display()
    );
    result
}

/// `PATH` for the demo's shell: `first` (the fleet's nixos-rebuild,
/// deploytui itself) ahead of `path`, each folder once.
fn demo_path(first: &[Option<std::path::PathBuf>], path: &str) -> String {
    let mut seen: Vec<String> = Vec::new();
    let firsts = first.iter().flatten().map(|p| p.display().to_string());
    for dir in firsts.chain(path.split(':').map(String::from)) {
        if !dir.is_empty() && !seen.contains(&dir) {
            seen.push(dir);
        }
    }
    seen.join(":")
}

fn wait_for_interrupt() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
        let mut hup = signal(SignalKind::hangup()).context("SIGHUP handler")?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.context("Ctrl-C handler")?,
            _ = term.recv() => {}
            _ = hup.recv() => {}
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_path_has_deploytui_and_no_folder_twice() {
        let path = demo_path(
            &[
                Some("/tmp/fleet/bin".into()),
                Some("/src/target/debug".into()),
            ],
            "/tmp/fleet/bin:/usr/bin:/bin:/usr/bin",
        );
        assert_eq!(path, "/tmp/fleet/bin:/src/target/debug:/usr/bin:/bin");
    }
}
