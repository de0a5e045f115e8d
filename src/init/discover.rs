//! Finding the hosts a repository defines: every flake git tracks whose
//! flake.nix names `nixosConfigurations`, each asked once by nix what
//! hosts it holds (`assets/init/hosts.nix`). A host whose configuration
//! does not evaluate is kept, with nix's error.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde::Deserialize;

/// The evaluation `init` runs on each flake.
const HOSTS_NIX: &str = include_str!("../../assets/init/hosts.nix");

/// How long one flake's evaluation may take (a real NixOS configuration
/// takes seconds; a first fetch of its inputs longer).
const EVAL_FOR: Duration = Duration::from_secs(300);

/// A flake that defines hosts, or says why it could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlakeFound {
    /// Its folder, relative to the repository ("" for the top).
    pub dir: PathBuf,
    pub hosts: Vec<HostFound>,
    /// Why nix could not list its hosts at all.
    pub error: Option<String>,
}

/// One `nixosConfigurations` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostFound {
    /// The attribute under `nixosConfigurations`.
    pub attr: String,
    /// `networking.hostName`, when the configuration sets one.
    pub host_name: Option<String>,
    /// Where colmena (`deployment.targetHost`) or deploy-rs
    /// (`deploy.nodes.<attr>.hostname`) says it is, and which said it.
    pub target_hint: Option<(String, &'static str)>,
    /// Services worth watching.
    pub services: Vec<String>,
    /// nix's error when the configuration does not evaluate.
    pub error: Option<String>,
}

/// What nix answers (`assets/init/hosts.nix`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Answer {
    hosts: std::collections::BTreeMap<String, Described>,
    deploy_nodes: std::collections::BTreeMap<String, Option<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Described {
    host_name: Option<String>,
    target_host: Option<String>,
    services: Vec<String>,
}

/// The folders (relative to `repo`) of the flakes git tracks there whose
/// flake.nix names `nixosConfigurations`; ignored files and node_modules
/// are never looked at. The second list: flakes that name none.
pub fn flake_dirs(repo: &Path) -> Result<(Vec<PathBuf>, Vec<PathBuf>), String> {
    let out = crate::local_command::run_within(
        Command::new("git").arg("-C").arg(repo).args([
            "ls-files",
            "-z",
            "--cached",
            "--",
            "flake.nix",
            "*/flake.nix",
        ]),
        Duration::from_secs(60),
    )?;
    if !out.status.success() {
        return Err(format!(
            "{} is not a git repository: {}",
            repo.display(),
            crate::text::quote(out.stderr.trim())
        ));
    }
    let mut with = Vec::new();
    let mut without = Vec::new();
    for file in out.stdout.split('\0').filter(|f| !f.is_empty()) {
        let file = Path::new(file);
        if file.components().any(|c| c.as_os_str() == "node_modules") {
            continue;
        }
        let dir = file.parent().unwrap_or(Path::new("")).to_path_buf();
        let text = std::fs::read_to_string(repo.join(file)).unwrap_or_default();
        if text.contains("nixosConfigurations") {
            with.push(dir);
        } else {
            without.push(dir);
        }
    }
    with.sort();
    without.sort();
    Ok((with, without))
}

/// The flake reference of `dir` in `repo`, as nix reads it from git.
pub fn flake_ref(repo: &Path, dir: &Path) -> String {
    let base = format!("git+file://{}", repo.display());
    if dir.as_os_str().is_empty() {
        base
    } else {
        format!("{base}?dir={}", dir.display())
    }
}

/// Asks nix for the hosts of the flake in `dir`: all at once, and when
/// that fails, each alone, so one host that does not evaluate keeps its
/// error and the others are still found.
pub fn hosts_of(repo: &Path, dir: &Path) -> FlakeFound {
    let reference = flake_ref(repo, dir);
    let found = |hosts, error| FlakeFound {
        dir: dir.to_path_buf(),
        hosts,
        error,
    };
    match evaluate(&reference, None) {
        Ok(answer) => found(hosts_from(&answer), None),
        Err(all) => {
            let names = match evaluate_names(&reference) {
                Ok(names) => names,
                Err(_) => return found(Vec::new(), Some(all)),
            };
            let hosts = names
                .into_iter()
                .map(|name| alone(&reference, name))
                .collect();
            found(hosts, None)
        }
    }
}

/// One host of the flake, evaluated by itself.
fn alone(reference: &str, name: String) -> HostFound {
    if let Some(why) = unusable_attr(&name) {
        return failed(name, why);
    }
    match evaluate(reference, Some(&name)) {
        Ok(answer) => hosts_from(&answer)
            .into_iter()
            .next()
            .unwrap_or_else(|| failed(name, "nix said nothing of it".into())),
        Err(e) => failed(name, e),
    }
}

fn failed(attr: String, error: String) -> HostFound {
    HostFound {
        attr,
        host_name: None,
        target_hint: None,
        services: Vec::new(),
        error: Some(error),
    }
}

fn hosts_from(answer: &Answer) -> Vec<HostFound> {
    answer
        .hosts
        .iter()
        .map(|(attr, d)| {
            if let Some(why) = unusable_attr(attr) {
                return failed(attr.clone(), why);
            }
            let colmena = d
                .target_host
                .clone()
                .map(|t| (t, "colmena's deployment.targetHost"));
            let deploy_rs = answer
                .deploy_nodes
                .get(attr)
                .cloned()
                .flatten()
                .map(|t| (t, "deploy-rs's deploy.nodes hostname"));
            HostFound {
                attr: attr.clone(),
                // NixOS's default host name says nothing of this host.
                host_name: d
                    .host_name
                    .clone()
                    .filter(|n| n != "nixos" && plausible_host(n)),
                target_hint: colmena.or(deploy_rs).filter(|(t, _)| plausible_host(t)),
                // Only names systemd takes: the config must load.
                services: d
                    .services
                    .iter()
                    .filter(|u| crate::systemd::normalize_unit_name(u).is_ok())
                    .cloned()
                    .collect(),
                error: None,
            }
        })
        .collect()
}

/// Why a `nixosConfigurations` attribute cannot name a host here (it goes
/// into a flake reference and the config): letters, digits, `-`, `_`, `.`.
fn unusable_attr(attr: &str) -> Option<String> {
    let fine = !attr.is_empty()
        && !attr.starts_with('-')
        && attr
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    (!fine).then(|| {
        format!(
            "the name `{}` is not one deploytui can use (letters, digits, -, _ and .): \
             add this host by hand",
            crate::text::quote(attr)
        )
    })
}

/// A host name or `user@host` as a repository may give one: letters,
/// digits and `.-_@:[]` only (no option, no space, nothing for a terminal),
/// not starting with `-`. What the repository says is outside input.
fn plausible_host(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && !s.starts_with('-')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_@:[]".contains(c))
}

fn nix_eval(reference: &str, only: Option<&str>, apply: Option<&str>) -> Result<String, String> {
    let mut nix = Command::new("nix");
    nix.args(crate::nix::check::NIX_FLAGS)
        .args(["eval", "--json", "--impure", "--expr", HOSTS_NIX])
        .env("DEPLOYTUI_FLAKE", reference)
        .env("DEPLOYTUI_ONLY", only.unwrap_or(""));
    if let Some(apply) = apply {
        nix.args(["--apply", apply]);
    }
    let out = crate::local_command::run_within(&mut nix, EVAL_FOR)?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(nix_error(&out.stderr))
    }
}

fn evaluate(reference: &str, only: Option<&str>) -> Result<Answer, String> {
    let json = nix_eval(reference, only, None)?;
    serde_json::from_str(&json).map_err(|e| format!("nix's answer is not what was asked: {e}"))
}

fn evaluate_names(reference: &str) -> Result<Vec<String>, String> {
    let json = nix_eval(reference, None, Some("r: r.names"))?;
    serde_json::from_str(&json).map_err(|e| format!("nix's answer is not what was asked: {e}"))
}

/// nix's error, shortly: its `error:` lines (the last is the cause), made
/// safe to print.
pub fn nix_error(stderr: &str) -> String {
    let clean = crate::text::clean_lines(stderr);
    let errors: Vec<&str> = clean
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("error:"))
        .collect();
    match errors.last() {
        Some(last) => last.to_string(),
        None => clean
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("nix failed and said nothing")
            .trim()
            .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nixs_last_error_line_is_the_cause() {
        let said = "warning: Git tree is dirty\nerror:\n       … while evaluating\n       error: broken on purpose\n";
        assert_eq!(nix_error(said), "error: broken on purpose");
        // What nix says is outside text: no escape reaches the terminal.
        assert_eq!(
            nix_error("\u{1b}[31mboom\u{1b}[0m\n"),
            "\\x1b[31mboom\\x1b[0m"
        );
    }

    #[test]
    fn the_answer_names_targets_from_colmena_and_deploy_rs() {
        let answer: Answer = serde_json::from_str(
            r#"{"names":["a","b","c"],"hosts":{
                "a":{"hostName":"nixos","targetHost":"root@10.0.0.1","services":["nginx"]},
                "b":{"hostName":"b-host","targetHost":null,"services":[]},
                "c":{"hostName":null,"targetHost":null,"services":["webapp"]}},
              "deployNodes":{"b":"b.example.org"}}"#,
        )
        .unwrap();
        let hosts = hosts_from(&answer);
        assert_eq!(hosts[0].host_name, None, "NixOS's default name is no name");
        assert_eq!(
            hosts[0].target_hint,
            Some(("root@10.0.0.1".into(), "colmena's deployment.targetHost"))
        );
        assert_eq!(hosts[1].host_name.as_deref(), Some("b-host"));
        assert_eq!(
            hosts[1].target_hint.as_ref().map(|t| t.0.as_str()),
            Some("b.example.org")
        );
        assert_eq!(hosts[2].services, ["webapp"]);
    }

    /// What a repository says is outside input: a host name that is an
    /// option or carries a newline or an escape, a unit name systemd
    /// would refuse, are dropped where they come in.
    #[test]
    fn hostile_names_from_a_repository_are_dropped() {
        let answer: Answer = serde_json::from_str(
            r#"{"hosts":{
                "a":{"hostName":"-oProxyCommand=x","targetHost":"x\nsudo = \"none\"","services":["ok", "no way", "\u001b[2J"]},
                "b":{"hostName":"b.lan","targetHost":null,"services":[]}},
              "deployNodes":{}}"#,
        )
        .unwrap();
        let hosts = hosts_from(&answer);
        assert!(unusable_attr("a\nb").is_some() && unusable_attr("-x").is_some());
        assert_eq!(unusable_attr("server-1.lan_2"), None);
        assert_eq!(hosts[0].host_name, None);
        assert_eq!(hosts[0].target_hint, None);
        assert_eq!(hosts[0].services, ["ok"]);
        assert_eq!(hosts[1].host_name.as_deref(), Some("b.lan"));
    }

    #[test]
    fn flakes_are_found_by_git_and_node_modules_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path();
        let git = |args: &[&str]| {
            let out = Command::new("git")
                .arg("-C")
                .arg(repo)
                .args(args)
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
        };
        git(&["init", "-q"]);
        for (path, text) in [
            (
                "infra/a/flake.nix",
                "{ outputs = _: { nixosConfigurations = {}; }; }",
            ),
            ("tools/flake.nix", "{ outputs = _: { packages = {}; }; }"),
            ("app/node_modules/x/flake.nix", "nixosConfigurations"),
            ("ignored/flake.nix", "nixosConfigurations"),
        ] {
            std::fs::create_dir_all(repo.join(path).parent().unwrap()).unwrap();
            std::fs::write(repo.join(path), text).unwrap();
        }
        std::fs::write(repo.join(".gitignore"), "ignored/\n").unwrap();
        git(&["add", "-A"]);
        let (with, without) = flake_dirs(repo).unwrap();
        assert_eq!(with, [PathBuf::from("infra/a")]);
        assert_eq!(without, [PathBuf::from("tools")]);
        assert_eq!(
            flake_ref(Path::new("/r"), Path::new("infra/a")),
            "git+file:///r?dir=infra/a"
        );
        assert_eq!(flake_ref(Path::new("/r"), Path::new("")), "git+file:///r");
    }
}
