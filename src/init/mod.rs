//! `deploytui init`: from a repository to a config with no hand editing.
//! It finds the hosts the repository's flakes define (`discover`), reaches
//! each through the user's own ssh config (`ssh -G`, as `ssh NAME` would),
//! shows the config it would write, commented, and writes it on a yes;
//! then it probes every host and says what stands in the way.

mod discover;
mod render;

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

pub use discover::{FlakeFound, HostFound};
pub use render::{render, Proposal, Proposed};

/// What the command line asked for.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The repository (default: the one holding the current directory).
    pub repo: Option<PathBuf>,
    /// An ssh config read instead of ~/.ssh/config (written to the config).
    pub ssh_config: Option<PathBuf>,
    /// Where to write (default: the XDG config file deploytui reads).
    pub output: Option<PathBuf>,
    /// Write without asking (every host found).
    pub yes: bool,
    /// Print the config and write nothing.
    pub print: bool,
}

/// The top folder of the git repository holding `dir`.
pub fn repo_of(dir: &Path) -> Result<PathBuf, String> {
    let out = crate::local_command::run_within(
        std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["rev-parse", "--show-toplevel"]),
        std::time::Duration::from_secs(10),
    )?;
    if !out.status.success() {
        return Err(format!(
            "{} is not inside a git repository: deploytui init looks for the flakes of one",
            dir.display()
        ));
    }
    Ok(PathBuf::from(out.stdout.trim()))
}

/// Where the config goes unless `--output` says: the file deploytui reads
/// from the XDG config dir.
pub fn default_output() -> Result<PathBuf, String> {
    crate::paths::project_dirs()
        .map(|d| d.config_dir().join("config.toml"))
        .ok_or_else(|| "no home folder to put the config in: pass --output PATH".into())
}

/// Finds the hosts of `repo`, saying on `progress` what it looks at.
pub fn propose(
    repo: &Path,
    ssh_config: Option<&Path>,
    progress: &mut impl Write,
) -> Result<Proposal, String> {
    let _ = writeln!(progress, "looking for flakes in {}…", repo.display());
    let (dirs, without) = discover::flake_dirs(repo)?;
    let _ = writeln!(
        progress,
        "{} with nixosConfigurations{}",
        crate::text::count(dirs.len() as u64, "flake", "flakes"),
        match without.len() {
            0 => String::new(),
            n => format!(
                " ({} without, skipped)",
                crate::text::count(n as u64, "other", "others")
            ),
        }
    );
    let mut flakes = Vec::new();
    for (i, dir) in dirs.iter().enumerate() {
        let _ = writeln!(
            progress,
            "asking nix for the hosts of {} ({} of {})…",
            shown_dir(dir),
            i + 1,
            dirs.len()
        );
        flakes.push(discover::hosts_of(repo, dir));
    }
    Ok(render::proposal(repo, ssh_config, flakes))
}

/// A flake folder as people read it: `.` for the top.
pub fn shown_dir(dir: &Path) -> String {
    if dir.as_os_str().is_empty() {
        ".".into()
    } else {
        dir.display().to_string()
    }
}

/// The whole command: find, show, ask, write, probe. The exit code: 0 when
/// written (or printed), 1 when nothing was written.
pub fn run(options: &Options) -> anyhow::Result<u8> {
    let cwd = std::env::current_dir()?;
    let repo = repo_of(options.repo.as_deref().unwrap_or(&cwd)).map_err(anyhow::Error::msg)?;
    let mut err = std::io::stderr();
    let mut proposal =
        propose(&repo, options.ssh_config.as_deref(), &mut err).map_err(anyhow::Error::msg)?;
    if proposal.hosts.is_empty() {
        let mut out = std::io::stdout().lock();
        render::say_failures(&proposal, &mut out)?;
        anyhow::bail!(
            "no host to deploy found in {}: deploytui looks for flakes git tracks whose \
             flake.nix defines nixosConfigurations",
            repo.display()
        );
    }
    if options.print {
        print!("{}", render(&proposal));
        return Ok(0);
    }
    let output = match &options.output {
        Some(p) => p.clone(),
        None => default_output().map_err(anyhow::Error::msg)?,
    };
    let stdin = std::io::stdin();
    let mut answers = stdin.lock().lines();
    let mut ask = |question: &str| -> Option<String> {
        eprint!("{question}");
        let _ = std::io::stderr().flush();
        answers.next().and_then(Result::ok)
    };
    let mut out = std::io::stdout().lock();
    render::say_hosts(&proposal, &mut out)?;
    if !options.yes && proposal.hosts.len() > 1 {
        let answer = ask("Leave any out? Their numbers, separated by spaces (Enter keeps all): ")
            .unwrap_or_default();
        match leave_out(&answer, proposal.hosts.len()) {
            Ok(out_of) => {
                let mut i = 0;
                proposal.hosts.retain(|_| {
                    i += 1;
                    !out_of.contains(&i)
                });
            }
            Err(e) => anyhow::bail!("{e}: nothing written"),
        }
    }
    let text = render(&proposal);
    writeln!(out, "\n{text}")?;
    if output.exists() {
        writeln!(out, "{} exists already.", output.display())?;
    }
    if let Some(why) = inside_repo(&repo, &output) {
        writeln!(out, "⚠ {why}")?;
    }
    drop(out);
    let write = if options.yes {
        !output.exists()
    } else {
        ask(&format!("Write it to {}? [y/N] ", output.display()))
            .is_some_and(|a| a.trim().eq_ignore_ascii_case("y"))
    };
    if !write {
        eprintln!(
            "nothing written{}",
            if options.yes && output.exists() {
                " (it would replace a config: remove it or pass --output PATH)"
            } else {
                ""
            }
        );
        return Ok(1);
    }
    if let Some(parent) = output.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&output, &text)?;
    println!("wrote {}", output.display());
    probe_written(&output)?;
    Ok(0)
}

/// The host numbers (1-based) a "leave out" answer names.
fn leave_out(answer: &str, hosts: usize) -> Result<Vec<usize>, String> {
    answer
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .map(|w| match w.parse::<usize>() {
            Ok(n) if (1..=hosts).contains(&n) => Ok(n),
            _ => Err(format!(
                "`{}` is not a host number (1 to {hosts})",
                crate::text::clean(w)
            )),
        })
        .collect()
}

/// Why writing the config at `output` inside the repository is a bad
/// idea, if it is there.
fn inside_repo(repo: &Path, output: &Path) -> Option<String> {
    let absolute = if output.is_absolute() {
        output.to_path_buf()
    } else {
        std::env::current_dir().ok()?.join(output)
    };
    absolute.starts_with(repo).then(|| {
        format!(
            "{} is inside the repository: a file there that git does not ignore makes every \
             build \"dirty\" (the system then names no commit). Keep it out, or add it to \
             .gitignore.",
            output.display()
        )
    })
}

/// Probes every host of the written config at once, and says for each
/// whether deploytui reaches it, or what to do (an unknown host key: the
/// exact ssh line that trusts it).
fn probe_written(path: &Path) -> anyhow::Result<()> {
    let config = crate::config::load(Some(path)).map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "probing {}…",
        crate::text::count(config.hosts.len() as u64, "host", "hosts")
    );
    let hosts: Vec<&crate::config::Host> = config.hosts.iter().collect();
    let report =
        tokio::runtime::Runtime::new()?.block_on(crate::headless::status(&config, &hosts))?;
    for h in &report.hosts {
        if h.reachable {
            println!("  ✓ {} ({}) answers", h.name, h.target);
        } else {
            println!(
                "  ✗ {} ({}): {}",
                h.name,
                h.target,
                h.error.as_deref().unwrap_or("no answer")
            );
            if let Some(manual) = &h.manual {
                println!("      try: {manual}");
            }
        }
    }
    println!("next: deploytui (it reads {})", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_leave_hosts_out_and_anything_else_is_refused() {
        assert_eq!(leave_out("", 3), Ok(vec![]));
        assert_eq!(leave_out("1 3", 3), Ok(vec![1, 3]));
        assert_eq!(leave_out("2,3", 3), Ok(vec![2, 3]));
        assert!(leave_out("4", 3)
            .unwrap_err()
            .contains("`4` is not a host number"));
        assert!(leave_out("all", 3).is_err());
    }

    #[test]
    fn a_config_inside_the_repository_is_warned_of() {
        assert!(inside_repo(Path::new("/r"), Path::new("/r/deploytui.toml"))
            .unwrap()
            .contains("dirty"));
        assert_eq!(
            inside_repo(Path::new("/r"), Path::new("/home/me/.config/x.toml")),
            None
        );
    }
}
