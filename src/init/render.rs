//! What `init` proposes: a host entry for each configuration found, with
//! its target as the user's ssh config reads it, and the commented TOML
//! that says where every value came from and marks what is not known.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::discover::{FlakeFound, HostFound};
use crate::config::ssh_destination::{resolve, Endpoint};

/// Everything found, ready to write.
#[derive(Debug, Clone)]
pub struct Proposal {
    pub repo: PathBuf,
    pub ssh_config: Option<PathBuf>,
    pub hosts: Vec<Proposed>,
    /// Configurations that did not evaluate, with their flake folder.
    pub failed: Vec<(PathBuf, HostFound)>,
    /// Flakes nix could not list at all, with why.
    pub unreadable: Vec<(PathBuf, String)>,
}

/// One host entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposed {
    pub name: String,
    /// `dir#attr`, relative to the repository.
    pub flake: String,
    pub target: String,
    /// Where the target came from, or what is not known of it.
    pub target_note: String,
    /// No ssh config entry and no deploy tool names the host.
    pub unknown: bool,
    /// `none` for root, `password` otherwise.
    pub sudo: &'static str,
    pub services: Vec<String>,
}

/// The proposal for what `flakes` hold.
pub fn proposal(repo: &Path, ssh_config: Option<&Path>, flakes: Vec<FlakeFound>) -> Proposal {
    let mut hosts: Vec<Proposed> = Vec::new();
    let mut failed = Vec::new();
    let mut unreadable = Vec::new();
    for flake in flakes {
        if let Some(e) = flake.error {
            unreadable.push((flake.dir, e));
            continue;
        }
        for host in flake.hosts {
            if host.error.is_some() {
                failed.push((flake.dir.clone(), host));
                continue;
            }
            let name = unique_name(&host.attr, &hosts);
            hosts.push(propose_host(name, &flake.dir, &host, ssh_config));
        }
    }
    // In the order people name them, whichever flake each came from.
    hosts.sort_by(|a, b| a.name.cmp(&b.name));
    Proposal {
        repo: repo.to_path_buf(),
        ssh_config: ssh_config.map(Path::to_path_buf),
        hosts,
        failed,
        unreadable,
    }
}

/// A config name for `attr`: its letters, digits, `-`, `_` and `.`, and a
/// number after it when another host has it already.
fn unique_name(attr: &str, taken: &[Proposed]) -> String {
    let base: String = attr
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let base = if base.is_empty() { "host".into() } else { base };
    let free = |n: &str| !taken.iter().any(|h| h.name == n);
    if free(&base) {
        return base;
    }
    (2..)
        .map(|i| format!("{base}-{i}"))
        .find(|n| free(n))
        .unwrap_or(base)
}

fn propose_host(name: String, dir: &Path, host: &HostFound, ssh_config: Option<&Path>) -> Proposed {
    let flake = format!("{}#{}", super::shown_dir(dir), host.attr);
    // Where it is: what a deploy tool already says, else its host name,
    // else its attribute, each as ssh reads it.
    let (given_user, destination, from) = match &host.target_hint {
        Some((t, tool)) => match t.split_once('@') {
            Some((u, h)) => (Some(u.to_string()), h.to_string(), tool.to_string()),
            None => (None, t.clone(), tool.to_string()),
        },
        None => match &host.host_name {
            Some(n) => (None, n.clone(), format!("networking.hostName `{n}`")),
            None => (
                None,
                host.attr.clone(),
                format!(
                    "the attribute name `{}` (no networking.hostName)",
                    host.attr
                ),
            ),
        },
    };
    let read = resolve(&destination, None, given_user.as_deref(), ssh_config);
    let bare = resolve(
        &destination,
        None,
        given_user.as_deref(),
        Some(Path::new("/dev/null")),
    );
    let (user, target_note, unknown) = match (&read, &bare) {
        (Ok(e), _) if host.target_hint.is_some() => {
            (e.user.clone(), format!("{from}: {}", seen(e)), false)
        }
        (Ok(e), Ok(b)) if e != b => (
            e.user.clone(),
            format!("{from}, as your ssh config reads it: {}", seen(e)),
            false,
        ),
        (Ok(e), _) => (
            e.user.clone(),
            format!(
                "TODO: {from}, but no ssh config entry names `{destination}`: ssh would try {} \
                 as is. Set target (user@host) and port to what reaches it, or add a Host entry \
                 to your ssh config",
                seen(e)
            ),
            true,
        ),
        (Err(why), _) => (
            String::new(),
            format!("TODO: {from}; ssh cannot say where it leads: {why}"),
            true,
        ),
    };
    let target = if user.is_empty() {
        destination
    } else {
        format!("{user}@{destination}")
    };
    Proposed {
        name,
        flake,
        target,
        target_note,
        unknown,
        sudo: if user == "root" { "none" } else { "password" },
        services: host.services.clone(),
    }
}

fn seen(e: &Endpoint) -> String {
    format!("user {}, {} port {}", e.user, e.hostname, e.port)
}

/// Outside text (names from the repository, nix's words) as one line of a
/// comment or the terminal: no newline ends the comment, no escape reaches
/// the screen.
fn clean(s: &str) -> String {
    crate::text::clean(s).into_owned()
}

/// A TOML string.
fn quoted(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// The config file, every choice explained in a comment.
pub fn render(p: &Proposal) -> String {
    let mut t = String::new();
    t.push_str("# deploytui config, written by `deploytui init` from what the repository and\n");
    t.push_str("# your ssh config say. Lines marked TODO need a look. Every field is explained\n");
    t.push_str("# in deploytui's config.example.toml; `deploytui check` validates this file.\n\n");
    t.push_str("# The monorepo: each host's flake path below is relative to it.\n");
    t.push_str(&format!(
        "repo = {}\n",
        quoted(&p.repo.display().to_string())
    ));
    if let Some(c) = &p.ssh_config {
        t.push_str("\n[defaults]\n");
        t.push_str(
            "# The ssh config the hosts were found through (read instead of ~/.ssh/config).\n",
        );
        t.push_str(&format!(
            "ssh_config = {}\n",
            quoted(&c.display().to_string())
        ));
    }
    for h in &p.hosts {
        t.push_str("\n[[hosts]]\n");
        t.push_str(&format!("name = {}\n", quoted(&h.name)));
        t.push_str(&format!(
            "# nixosConfigurations.{}\n",
            clean(h.flake.split_once('#').map_or("", |x| x.1))
        ));
        t.push_str(&format!("flake = {}\n", quoted(&h.flake)));
        t.push_str(&format!("# {}\n", clean(&h.target_note)));
        t.push_str(&format!("target = {}\n", quoted(&h.target)));
        t.push_str(match h.sudo {
            "none" => "# root logs in: no sudo needed\n",
            _ => {
                "# not root: sudo asks for the password (use \"nopasswd\" if sudoers needs none)\n"
            }
        });
        t.push_str(&format!("sudo = {}\n", quoted(h.sudo)));
        if h.services.is_empty() {
            t.push_str(
                "# TODO: no web server enabled and no service defined by this repository's own\n",
            );
            t.push_str("# modules: list the units worth watching\n");
            t.push_str("services = []\n");
        } else {
            t.push_str("# web servers it enables, and the services its own modules define\n");
            let list: Vec<String> = h.services.iter().map(|s| quoted(s)).collect();
            t.push_str(&format!("services = [{}]\n", list.join(", ")));
        }
    }
    for (dir, host) in &p.failed {
        t.push_str(&format!(
            "\n# nixosConfigurations.{} in {} did not evaluate, so it is left out:\n",
            clean(&host.attr),
            clean(&super::shown_dir(dir))
        ));
        for line in host.error.as_deref().unwrap_or("").lines() {
            t.push_str(&format!("#   {}\n", clean(line)));
        }
    }
    for (dir, why) in &p.unreadable {
        t.push_str(&format!(
            "\n# {}: nix could not list its hosts:\n#   {}\n",
            clean(&super::shown_dir(dir)),
            clean(why)
        ));
    }
    t
}

/// The hosts found, numbered (the numbers the "leave out" question takes),
/// and those that could not be read.
pub fn say_hosts(p: &Proposal, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(out, "\nHosts found in {}:", p.repo.display())?;
    for (i, h) in p.hosts.iter().enumerate() {
        let services = if h.services.is_empty() {
            "no services found".to_string()
        } else {
            h.services.join(", ")
        };
        let mark = if h.unknown {
            "  ⚠ no ssh config names it"
        } else {
            ""
        };
        writeln!(
            out,
            "  {}. {}  {}  {}  ({services}){mark}",
            i + 1,
            clean(&h.name),
            clean(&h.flake),
            clean(&h.target)
        )?;
    }
    say_failures(p, out)
}

/// The configurations and flakes that could not be read, with nix's words.
pub fn say_failures(p: &Proposal, out: &mut impl Write) -> std::io::Result<()> {
    for (dir, host) in &p.failed {
        writeln!(
            out,
            "  ✗ {} in {} does not evaluate: {}",
            clean(&host.attr),
            clean(&super::shown_dir(dir)),
            clean(host.error.as_deref().unwrap_or(""))
        )?;
    }
    for (dir, why) in &p.unreadable {
        writeln!(
            out,
            "  ✗ {}: nix could not list its hosts: {}",
            clean(&super::shown_dir(dir)),
            clean(why)
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(attr: &str) -> HostFound {
        HostFound {
            attr: attr.into(),
            host_name: Some(format!("{attr}.lan")),
            target_hint: None,
            services: vec!["nginx".into(), "webapp".into()],
            error: None,
        }
    }

    /// The written file is a config deploytui reads, with each host as the
    /// ssh config leads to it, and the host no entry names marked TODO.
    #[test]
    fn the_proposal_is_a_valid_commented_config() {
        let dir = tempfile::tempdir().unwrap();
        let ssh_config = dir.path().join("ssh_config");
        std::fs::write(
            &ssh_config,
            "Host web.lan\n  User deploy\n  Port 2201\n  HostName 127.0.0.1\n",
        )
        .unwrap();
        let mut broken = host("broken");
        broken.error = Some("error: broken on purpose".into());
        let flakes = vec![
            FlakeFound {
                dir: "infra/hosts/web".into(),
                hosts: vec![host("web")],
                error: None,
            },
            FlakeFound {
                dir: "infra".into(),
                hosts: vec![host("db"), broken, host("web")],
                error: None,
            },
        ];
        let p = proposal(Path::new("/srv/mono"), Some(&ssh_config), flakes);
        let names: Vec<&str> = p.hosts.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["db", "web", "web-2"], "by name, a clash numbered");
        let (db, web) = (&p.hosts[0], &p.hosts[1]);
        assert_eq!(web.target, "deploy@web.lan");
        assert_eq!(web.sudo, "password");
        assert!(!web.unknown);
        assert!(web.target_note.contains("port 2201"), "{}", web.target_note);
        assert!(db.unknown);
        assert!(db.target_note.starts_with("TODO: "));
        assert_eq!(p.failed.len(), 1);
        let text = render(&p);
        assert!(text.contains("#   error: broken on purpose"), "{text}");
        assert!(text.contains("flake = \"infra/hosts/web#web\""), "{text}");
        let config = crate::config::parse(
            &text,
            &dir.path().join("c.toml"),
            crate::config::FoundBy::Flag,
        )
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(config.hosts.len(), 3);
        assert_eq!(config.hosts[0].services.len(), 2);
    }

    /// A folder name (git's, outside input) never ends a comment: nothing
    /// it holds becomes a line of the config, or reaches the terminal.
    #[test]
    fn names_from_the_repository_stay_inside_their_comments() {
        let mut broken = host("broken");
        broken.error = Some("error: \u{1b}[2Jno".into());
        let flakes = vec![FlakeFound {
            dir: "infra/x\ninjected = true\n#".into(),
            hosts: vec![broken],
            error: None,
        }];
        let p = proposal(Path::new("/srv/mono"), None, flakes);
        let text = render(&p);
        assert!(!text.lines().any(|l| l == "injected = true"), "{text}");
        assert!(!text.contains('\u{1b}'), "{text}");
        let mut said = Vec::new();
        say_failures(&p, &mut said).unwrap();
        let said = String::from_utf8(said).unwrap();
        assert!(
            !said.contains('\u{1b}') && said.lines().count() == 1,
            "{said}"
        );
    }
}
