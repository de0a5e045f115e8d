//! The config file: where it is looked up, its TOML schema, and validation that
//! points at `file:line:col` and names the field.

mod rebuild_line;
pub(crate) mod ssh_destination;

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::keymap::{self, Keymap};
use crate::systemd;

/// Environment variable naming the config file (second in the search order).
pub const CONFIG_ENV: &str = "DEPLOYTUI_CONFIG";
/// File name looked for in the current directory.
pub const LOCAL_FILE: &str = "deploytui.toml";

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from.
    pub path: PathBuf,
    /// How that file was found (for the status bar and `check`).
    pub found_by: FoundBy,
    /// The monorepo; relative flake paths are taken from here.
    pub repo: Option<PathBuf>,
    pub refresh: Duration,
    pub connect_timeout: Duration,
    pub keepalive: Duration,
    /// Deadline of each short remote command (the probe).
    pub command_timeout: Duration,
    /// Deadline of a service action (restart, stop, ...).
    pub action_timeout: Duration,
    /// How many hosts are probed or deployed at once.
    pub parallel: usize,
    /// How many past deploys (their records and logs) are kept.
    pub history_limit: usize,
    pub theme: ThemeName,
    pub keymap: Keymap,
    pub hosts: Vec<Host>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FoundBy {
    Flag,
    Env,
    CurrentDir,
    XdgConfig,
}

impl fmt::Display for FoundBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FoundBy::Flag => "--config",
            FoundBy::Env => CONFIG_ENV,
            FoundBy::CurrentDir => "current directory",
            FoundBy::XdgConfig => "config directory",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ThemeName {
    Default,
    /// No colours, for terminals or users that want none (also chosen by `NO_COLOR`).
    Mono,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub name: String,
    pub target: Target,
    pub port: Option<u16>,
    pub identity_file: Option<PathBuf>,
    /// `None`: ssh's default (the user's `~/.ssh/known_hosts`).
    pub known_hosts: Option<PathBuf>,
    /// An ssh config file read instead of `~/.ssh/config` (`ssh -F`), by
    /// deploytui's ssh and by every ssh that nix or nixos-rebuild runs.
    pub ssh_config: Option<PathBuf>,
    pub host_key_policy: HostKeyPolicy,
    pub flake: Option<FlakeRef>,
    /// Canonical unit names (`nginx` becomes `nginx.service`).
    pub services: Vec<String>,
    pub engine: Engine,
    pub sudo: SudoMode,
    pub override_inputs: OverrideInputs,
    /// A deploy pauses before anything changes on the host (after showing
    /// what will change) until the user says yes.
    pub confirm_activation: bool,
    /// What the host serves after a deploy, fetched on the host.
    pub http_check: Option<HttpCheck>,
}

/// A page the host serves and what it must contain once deployed: fetched
/// on the host over ssh (`curl`), so it works behind a firewall.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HttpCheck {
    pub url: String,
    /// Text the page must contain; `{rev}` is the commit the host's system
    /// was built from. `None`: any successful answer will do.
    pub expect: Option<String>,
}

/// Where commands for a host run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// This machine, without ssh.
    Local,
    Ssh {
        user: Option<String>,
        host: String,
    },
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Local => f.write_str("local"),
            Target::Ssh {
                user: Some(u),
                host,
            } => write!(f, "{u}@{host}"),
            Target::Ssh { user: None, host } => f.write_str(host),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostKeyPolicy {
    /// Only hosts already in known_hosts (the default).
    Strict,
    /// Trust a host seen for the first time, refuse a changed key.
    AcceptNew,
}

/// `path#attr`, with the path made absolute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlakeRef {
    pub path: PathBuf,
    pub attr: String,
}

impl fmt::Display for FlakeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.path.display(), self.attr)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Engine {
    /// nix build, nix copy, switch-to-configuration: each a visible step.
    Native,
    /// The user's own nixos-rebuild command line, split into words.
    NixosRebuild { command: Vec<String> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SudoMode {
    /// Log in as root; no sudo.
    None,
    /// sudo without a password.
    Nopasswd,
    /// sudo asks for a password; deploytui asks the user once.
    Password,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OverrideInputs {
    /// Override every input that points at the repository holding the flake.
    Auto,
    List(Vec<String>),
}

/// A setting as the config spells it, for `check` and the UI.
pub fn spelled<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

impl fmt::Display for OverrideInputs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OverrideInputs::Auto => f.write_str("auto"),
            OverrideInputs::List(names) => f.write_str(&names.join(", ")),
        }
    }
}

/// Why a config could not be used.
#[derive(Debug)]
pub enum ConfigError {
    NotFound {
        /// Each place looked in, described.
        looked: Vec<String>,
    },
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    Invalid(Box<Invalid>),
}

/// A rejected config, pointing at the exact place.
#[derive(Debug)]
pub struct Invalid {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
    pub field: String,
    pub message: String,
    pub source_line: String,
}

impl std::error::Error for ConfigError {}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::NotFound { looked } => {
                writeln!(f, "no deploytui config found. Looked in:")?;
                for place in looked {
                    writeln!(f, "  {place}")?;
                }
                write!(
                    f,
                    "To start: run `deploytui init` in your monorepo (it finds the hosts its \
                     flakes define and writes a config), or `deploytui demo` for a working demo \
                     fleet; or pass --config PATH."
                )
            }
            ConfigError::Read { path, error } => {
                write!(f, "cannot read config {}: {error}", path.display())
            }
            ConfigError::Invalid(e) => {
                // The config is outside text too: what it quotes is shown, never obeyed.
                let clean = |s: &str| crate::text::clean(s).into_owned();
                write!(
                    f,
                    "{}:{}:{}: {}: {}",
                    e.path.display(),
                    e.line,
                    e.column,
                    clean(&e.field),
                    clean(&e.message)
                )?;
                if !e.source_line.is_empty() {
                    let gutter = e.line.to_string();
                    write!(
                        f,
                        "\n{:w$} |\n{gutter} | {}\n{:w$} | {:>c$}",
                        "",
                        clean(&crate::text::cap(&e.source_line, crate::text::QUOTE_MAX)),
                        "",
                        "^",
                        w = gutter.len(),
                        c = e.column
                    )?;
                }
                Ok(())
            }
        }
    }
}

/// Finds the config file: `--config`, then `$DEPLOYTUI_CONFIG`, then
/// `./deploytui.toml`, then the XDG config dir.
pub fn locate(flag: Option<&Path>) -> Result<(PathBuf, FoundBy), ConfigError> {
    if let Some(p) = flag {
        return Ok((p.to_path_buf(), FoundBy::Flag));
    }
    if let Some(p) = std::env::var_os(CONFIG_ENV).filter(|v| !v.is_empty()) {
        return Ok((PathBuf::from(p), FoundBy::Env));
    }
    let mut looked = vec![(PathBuf::from(LOCAL_FILE), FoundBy::CurrentDir)];
    if let Some(dirs) = crate::paths::project_dirs() {
        looked.push((dirs.config_dir().join("config.toml"), FoundBy::XdgConfig));
    }
    if let Some((path, how)) = looked.iter().find(|(p, _)| p.is_file()) {
        return Ok((path.clone(), *how));
    }
    let mut looked_all = vec![format!("${CONFIG_ENV} (not set)")];
    looked_all.extend(
        looked
            .iter()
            .map(|(p, how)| format!("{} ({how})", p.display())),
    );
    Err(ConfigError::NotFound { looked: looked_all })
}

/// Finds, reads and validates the config.
pub fn load(flag: Option<&Path>) -> Result<Config, ConfigError> {
    let (path, found_by) = locate(flag)?;
    let text = std::fs::read_to_string(&path).map_err(|error| ConfigError::Read {
        path: path.clone(),
        error,
    })?;
    parse(&text, &path, found_by)
}

// ---- the file as written -------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    repo: Option<Spanned<String>>,
    refresh_secs: Option<Spanned<u64>>,
    connect_timeout_secs: Option<Spanned<u64>>,
    keepalive_secs: Option<Spanned<u64>>,
    command_timeout_secs: Option<Spanned<u64>>,
    action_timeout_secs: Option<Spanned<u64>>,
    parallel: Option<Spanned<usize>>,
    history_limit: Option<Spanned<usize>>,
    theme: Option<ThemeName>,
    #[serde(default)]
    keys: BTreeMap<Spanned<String>, Spanned<KeyList>>,
    defaults: Option<RawHost>,
    #[serde(default)]
    hosts: Vec<RawHost>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum KeyList {
    One(String),
    Many(Vec<String>),
}

/// A `[[hosts]]` entry, also the shape of `[defaults]` (minus name and target).
#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct RawHost {
    name: Option<Spanned<String>>,
    target: Option<Spanned<String>>,
    port: Option<u16>,
    identity_file: Option<Spanned<String>>,
    known_hosts: Option<Spanned<String>>,
    ssh_config: Option<Spanned<String>>,
    host_key_policy: Option<HostKeyPolicy>,
    flake: Option<Spanned<String>>,
    services: Option<Vec<Spanned<String>>>,
    engine: Option<Spanned<String>>,
    rebuild_command: Option<Spanned<String>>,
    sudo: Option<SudoMode>,
    override_inputs: Option<Spanned<RawOverride>>,
    confirm_activation: Option<bool>,
    http_check: Option<Spanned<RawHttpCheck>>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct RawHttpCheck {
    url: String,
    expect: Option<String>,
}

#[derive(Deserialize, Clone)]
#[serde(untagged)]
enum RawOverride {
    Word(String),
    List(Vec<String>),
}

impl RawHost {
    /// This entry with `[defaults]` filling what it leaves out.
    fn or(self, d: &RawHost) -> RawHost {
        RawHost {
            name: self.name,
            target: self.target,
            port: self.port.or(d.port),
            identity_file: self.identity_file.or_else(|| d.identity_file.clone()),
            known_hosts: self.known_hosts.or_else(|| d.known_hosts.clone()),
            ssh_config: self.ssh_config.or_else(|| d.ssh_config.clone()),
            host_key_policy: self.host_key_policy.or(d.host_key_policy),
            flake: self.flake.or_else(|| d.flake.clone()),
            services: self.services.or_else(|| d.services.clone()),
            engine: self.engine.or_else(|| d.engine.clone()),
            rebuild_command: self.rebuild_command.or_else(|| d.rebuild_command.clone()),
            sudo: self.sudo.or(d.sudo),
            override_inputs: self.override_inputs.or_else(|| d.override_inputs.clone()),
            confirm_activation: self.confirm_activation.or(d.confirm_activation),
            http_check: self.http_check.or_else(|| d.http_check.clone()),
        }
    }
}

// ---- validation ---------------------------------------------------------

/// Builds errors that point into one file.
struct Source<'a> {
    text: &'a str,
    path: &'a Path,
}

impl Source<'_> {
    fn error(
        &self,
        span: Range<usize>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> ConfigError {
        let start = span.start.min(self.text.len());
        let before = &self.text[..start];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = self.text[line_start..start].chars().count() + 1;
        let source_line = self.text[line_start..]
            .lines()
            .next()
            .unwrap_or("")
            .to_string();
        ConfigError::Invalid(Box::new(Invalid {
            path: self.path.to_path_buf(),
            line,
            column,
            field: field.into(),
            message: message.into(),
            source_line,
        }))
    }

    /// The dotted name of the key at `offset` (`hosts[1].port`), read from the
    /// table headers above it, for parse errors that do not name one.
    fn field_at(&self, offset: usize) -> String {
        let offset = offset.min(self.text.len());
        let line_start = self.text[..offset].rfind('\n').map_or(0, |i| i + 1);
        let line = self.text[line_start..].lines().next().unwrap_or("");
        let key = line
            .split_once('=')
            .map(|(k, _)| k.trim().trim_matches('"').to_string())
            .filter(|k| !k.is_empty() && !k.starts_with('['));
        let mut table = String::new();
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for header in self.text[..line_start].lines().map(str::trim) {
            if let Some(name) = header.strip_prefix("[[").and_then(|h| h.split("]]").next()) {
                let n = counts.entry(name.trim().to_string()).or_insert(0);
                table = format!("{}[{}]", name.trim(), *n);
                *n += 1;
            } else if let Some(name) = header.strip_prefix('[').and_then(|h| h.split(']').next()) {
                table = name.trim().to_string();
            }
        }
        match (table.is_empty(), key) {
            (true, Some(k)) => k,
            (false, Some(k)) => format!("{table}.{k}"),
            (true, None) => "config".into(),
            (false, None) => table,
        }
    }
}

/// For serde's "unknown field `servics`, expected one of `name`, …": the
/// expected field nearest to the one written, when one is near enough.
fn did_you_mean(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let (written, rest) = rest.split_once('`')?;
    let expected = rest.split_once("expected")?.1;
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|field| (strsim::damerau_levenshtein(written, field), field))
        .filter(|(d, field)| *d <= 2.max(field.len() / 4) && *d < field.len())
        .min()
        .map(|(_, field)| field.to_string())
}

/// Why a host's flake folder cannot be built from, if it cannot: it does
/// not exist, or holds no flake.nix (checked by `check`, not when the
/// config loads: a repository may be cloned after the config is written).
pub fn flake_folder_problem(flake: &FlakeRef) -> Option<String> {
    if !flake.path.is_dir() {
        return Some(format!(
            "the folder {} does not exist (a flake path is relative to `repo`)",
            flake.path.display()
        ));
    }
    (!flake.path.join("flake.nix").is_file())
        .then(|| format!("{} has no flake.nix", flake.path.display()))
}

/// Parses and validates config text read from `path`.
pub fn parse(text: &str, path: &Path, found_by: FoundBy) -> Result<Config, ConfigError> {
    let src = Source { text, path };
    let raw: RawConfig = toml::from_str(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        let message = e.message().trim();
        let message = match did_you_mean(message) {
            Some(near) => format!("{message}; did you mean `{near}`?"),
            None => message.to_string(),
        };
        src.error(span.clone(), src.field_at(span.start), &message)
    })?;
    let base_dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let base_dir = std::path::absolute(&base_dir).unwrap_or(base_dir);

    let repo = raw
        .repo
        .as_ref()
        .map(|r| {
            if r.get_ref().trim().is_empty() {
                Err(src.error(r.span(), "repo", "is empty; give the path of your monorepo"))
            } else {
                Ok(resolve_path(r.get_ref(), &base_dir))
            }
        })
        .transpose()?;

    let secs = |v: &Option<Spanned<u64>>,
                field: &str,
                default: u64,
                min: u64|
     -> Result<Duration, ConfigError> {
        match v {
            None => Ok(Duration::from_secs(default)),
            Some(s) if *s.get_ref() < min => {
                Err(src.error(s.span(), field, format!("must be at least {min}")))
            }
            Some(s) => Ok(Duration::from_secs(*s.get_ref())),
        }
    };
    let refresh = secs(&raw.refresh_secs, "refresh_secs", 30, 1)?;
    let connect_timeout = secs(&raw.connect_timeout_secs, "connect_timeout_secs", 10, 1)?;
    let keepalive = secs(&raw.keepalive_secs, "keepalive_secs", 15, 1)?;
    let command_timeout = secs(&raw.command_timeout_secs, "command_timeout_secs", 20, 1)?;
    let action_timeout = secs(&raw.action_timeout_secs, "action_timeout_secs", 120, 1)?;
    let parallel = match &raw.parallel {
        None => 4,
        Some(p) if *p.get_ref() == 0 => {
            return Err(src.error(p.span(), "parallel", "must be at least 1"))
        }
        Some(p) => *p.get_ref(),
    };
    let history_limit = match &raw.history_limit {
        None => 100,
        Some(h) if *h.get_ref() == 0 => {
            return Err(src.error(
                h.span(),
                "history_limit",
                "must be at least 1 (the deploy running now is kept)",
            ))
        }
        Some(h) => *h.get_ref(),
    };

    let mut keymap = Keymap::default();
    for (action_name, keys) in &raw.keys {
        let field = format!("keys.{}", action_name.get_ref());
        let action = keymap::action_by_name(action_name.get_ref()).ok_or_else(|| {
            src.error(
                action_name.span(),
                field.clone(),
                format!(
                    "unknown action; known actions: {}",
                    keymap::action_names().join(", ")
                ),
            )
        })?;
        let words = match keys.get_ref() {
            KeyList::One(k) => vec![k.clone()],
            KeyList::Many(ks) => ks.clone(),
        };
        if words.is_empty() {
            return Err(src.error(keys.span(), field, "needs at least one key"));
        }
        let parsed = words
            .iter()
            .map(|w| keymap::parse_key(w))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| src.error(keys.span(), field.clone(), e))?;
        keymap.rebind(action, parsed);
    }

    let defaults = raw.defaults.unwrap_or_default();
    for (present, name) in [(&defaults.name, "name"), (&defaults.target, "target")] {
        if let Some(v) = present {
            return Err(src.error(
                v.span(),
                format!("defaults.{name}"),
                "belongs in each [[hosts]] entry, not in [defaults]",
            ));
        }
    }

    if raw.hosts.is_empty() {
        return Err(src.error(
            text.len()..text.len(),
            "hosts",
            "no [[hosts]] entries; add at least one (see config.example.toml)",
        ));
    }

    let mut hosts: Vec<Host> = Vec::new();
    let mut first_seen: BTreeMap<String, usize> = BTreeMap::new();
    for (i, entry) in raw.hosts.into_iter().enumerate() {
        let host = validate_host(
            &src,
            i,
            entry.or(&defaults),
            repo.as_deref(),
            &base_dir,
            &mut first_seen,
        )?;
        hosts.push(host);
    }

    Ok(Config {
        path: std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
        found_by,
        repo,
        refresh,
        connect_timeout,
        keepalive,
        command_timeout,
        action_timeout,
        parallel,
        history_limit,
        theme: raw.theme.unwrap_or(ThemeName::Default),
        keymap,
        hosts,
    })
}

fn validate_host(
    src: &Source,
    i: usize,
    raw: RawHost,
    repo: Option<&Path>,
    base_dir: &Path,
    first_seen: &mut BTreeMap<String, usize>,
) -> Result<Host, ConfigError> {
    let at = |f: &str| format!("hosts[{i}].{f}");
    // A missing key has no span of its own: point at the entry's first key.
    let entry_span = [
        raw.name.as_ref().map(Spanned::span),
        raw.target.as_ref().map(Spanned::span),
    ]
    .into_iter()
    .flatten()
    .min_by_key(|s| s.start)
    .unwrap_or(0..0);

    let name = raw.name.ok_or_else(|| {
        src.error(
            entry_span.clone(),
            at("name"),
            "missing; every host needs a name",
        )
    })?;
    let name_str = name.get_ref().trim().to_string();
    if name_str.is_empty() {
        return Err(src.error(name.span(), at("name"), "is empty"));
    }
    if let Some(bad) = name_str
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "-_.".contains(*c)))
    {
        return Err(src.error(
            name.span(),
            at("name"),
            format!(
                "`{}` contains `{}`; use letters, digits, `-`, `_` and `.`",
                crate::text::quote(&name_str),
                crate::text::clean(&bad.to_string())
            ),
        ));
    }
    let line_of = |offset: usize| src.text[..offset.min(src.text.len())].matches('\n').count() + 1;
    if let Some(first) = first_seen.get(&name_str) {
        return Err(src.error(
            name.span(),
            at("name"),
            format!(
                "duplicate host name `{name_str}` (first defined on line {})",
                line_of(*first)
            ),
        ));
    }
    first_seen.insert(name_str.clone(), name.span().start);

    let target_raw = raw.target.ok_or_else(|| {
        src.error(
            name.span(),
            at("target"),
            "missing; give `user@host` or `local`",
        )
    })?;
    let target = parse_target(target_raw.get_ref())
        .map_err(|m| src.error(target_raw.span(), at("target"), m))?;

    let ssh_config = raw
        .ssh_config
        .as_ref()
        .map(|p| {
            let path = resolve_path(p.get_ref(), base_dir);
            if path.is_file() {
                Ok(path)
            } else {
                Err(src.error(
                    p.span(),
                    at("ssh_config"),
                    format!(
                        "{}: no such file",
                        crate::text::quote(&path.display().to_string())
                    ),
                ))
            }
        })
        .transpose()?;

    let mut services = Vec::new();
    for (j, unit) in raw.services.unwrap_or_default().iter().enumerate() {
        let canonical = systemd::normalize_unit_name(unit.get_ref())
            .map_err(|m| src.error(unit.span(), at(&format!("services[{j}]")), m))?;
        if services.contains(&canonical) {
            return Err(src.error(
                unit.span(),
                at(&format!("services[{j}]")),
                format!("`{canonical}` is listed twice"),
            ));
        }
        services.push(canonical);
    }

    let flake = raw
        .flake
        .as_ref()
        .map(|f| {
            parse_flake(f.get_ref(), &name_str, repo.unwrap_or(base_dir))
                .map_err(|m| src.error(f.span(), at("flake"), m))
        })
        .transpose()?;

    let engine = match raw
        .engine
        .as_ref()
        .map(|e| (e.get_ref().as_str(), e.span()))
    {
        None | Some(("native", _)) => {
            if let Some(cmd) = &raw.rebuild_command {
                return Err(src.error(
                    cmd.span(),
                    at("rebuild_command"),
                    "only used with engine = \"nixos-rebuild\"",
                ));
            }
            Engine::Native
        }
        Some(("nixos-rebuild", span)) => {
            let command = match &raw.rebuild_command {
                Some(cmd) => {
                    let words = shlex::split(cmd.get_ref()).ok_or_else(|| {
                        src.error(
                            cmd.span(),
                            at("rebuild_command"),
                            "unbalanced quotes or a trailing backslash",
                        )
                    })?;
                    if words.is_empty() {
                        return Err(src.error(cmd.span(), at("rebuild_command"), "is empty"));
                    }
                    // It runs without a shell, so expand `~/` as a shell would have.
                    words.into_iter().map(|w| expand_tilde(&w)).collect()
                }
                None => {
                    let flake = flake.as_ref().ok_or_else(|| {
                        src.error(
                            span.clone(),
                            at("engine"),
                            "nixos-rebuild needs `flake` (or a full `rebuild_command`)",
                        )
                    })?;
                    rebuild_line::default_command(flake, &target, raw.sudo)
                }
            };
            rebuild_line::check(
                &command,
                &rebuild_line::HostSays {
                    target: &target,
                    port: raw.port,
                    ssh_config: ssh_config.as_deref(),
                    flake: flake.as_ref(),
                    sudo: raw.sudo,
                    confirm_activation: raw.confirm_activation,
                    written: raw.rebuild_command.is_some(),
                },
            )
            .map_err(|m| match &raw.rebuild_command {
                Some(cmd) => src.error(cmd.span(), at("rebuild_command"), m),
                None => src.error(span.clone(), at("engine"), m),
            })?;
            Engine::NixosRebuild { command }
        }
        Some((other, span)) => {
            return Err(src.error(
                span,
                at("engine"),
                format!("unknown engine `{other}`; expected \"native\" or \"nixos-rebuild\""),
            ))
        }
    };

    let override_inputs = match raw
        .override_inputs
        .as_ref()
        .map(|o| (o.get_ref(), o.span()))
    {
        None => OverrideInputs::Auto,
        Some((RawOverride::Word(w), _)) if w == "auto" => OverrideInputs::Auto,
        Some((RawOverride::Word(w), span)) => {
            return Err(src.error(
                span,
                at("override_inputs"),
                format!("`{w}` is not allowed; use \"auto\" or a list of input names"),
            ))
        }
        Some((RawOverride::List(names), span)) => {
            if let Some(bad) = names.iter().find(|n| !is_input_path(n)) {
                return Err(src.error(
                    span,
                    at("override_inputs"),
                    format!("`{bad}` is not a flake input name"),
                ));
            }
            OverrideInputs::List(names.clone())
        }
    };

    let http_check = raw
        .http_check
        .as_ref()
        .map(|c| {
            parse_http_check(c.get_ref()).map_err(|m| src.error(c.span(), at("http_check"), m))
        })
        .transpose()?;
    let root_login = matches!(&target, Target::Ssh { user: Some(u), .. } if u == "root");
    let sudo = raw.sudo.unwrap_or(match &engine {
        // What the line itself does with sudo.
        Engine::NixosRebuild { command } => rebuild_line::sudo(command),
        Engine::Native if root_login || target == Target::Local => SudoMode::None,
        Engine::Native => SudoMode::Password,
    });
    Ok(Host {
        name: name_str,
        port: raw.port,
        identity_file: raw
            .identity_file
            .map(|p| resolve_path(p.get_ref(), base_dir)),
        known_hosts: raw.known_hosts.map(|p| resolve_path(p.get_ref(), base_dir)),
        ssh_config,
        host_key_policy: raw.host_key_policy.unwrap_or(HostKeyPolicy::Strict),
        flake,
        services,
        engine,
        sudo,
        override_inputs,
        confirm_activation: raw.confirm_activation.unwrap_or(false),
        http_check,
        target,
    })
}

/// An http(s) URL that reaches curl as one plain argument, and expected
/// text without control characters.
fn parse_http_check(raw: &RawHttpCheck) -> Result<HttpCheck, String> {
    let url = raw.url.trim();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(format!(
            "url `{}` is not http:// or https://",
            crate::text::quote(url)
        ));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("url has spaces or control characters".into());
    }
    if let Some(expect) = &raw.expect {
        if expect.is_empty() || expect.chars().any(char::is_control) {
            return Err("expect is empty or has control characters".into());
        }
    }
    Ok(HttpCheck {
        url: url.to_string(),
        expect: raw.expect.clone(),
    })
}

fn parse_target(raw: &str) -> Result<Target, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err("is empty; give `user@host` or `local`".into());
    }
    if raw == "local" {
        return Ok(Target::Local);
    }
    let shown = crate::text::quote(raw);
    let (user, host) = match raw.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, raw),
    };
    if user == Some("") || host.is_empty() {
        return Err(format!("`{shown}` is not `user@host`"));
    }
    // Each part reaches ssh as one argument: neither may look like an
    // option, and only what user and host names are made of is allowed.
    if let Some(user) = user {
        if user.starts_with('-') {
            return Err(format!(
                "`{shown}`: the user `{}` starts with `-`, which ssh would read as an option",
                crate::text::quote(user)
            ));
        }
        if let Some(bad) = user
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "._-".contains(*c)))
        {
            return Err(format!(
                "`{shown}`: `{}` is not allowed in a user name (letters, digits, `.`, `_`, `-`)",
                crate::text::clean(&bad.to_string())
            ));
        }
    }
    if host.starts_with('-') {
        return Err(format!(
            "`{shown}`: the host `{}` starts with `-`, which ssh would read as an option",
            crate::text::quote(host)
        ));
    }
    // A DNS name, an IPv4 address, or an IPv6 address (with a zone after `%`).
    if let Some(bad) = host
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || ".-_:%".contains(*c)))
    {
        return Err(format!(
            "`{shown}`: `{}` is not allowed in a host name; give `user@host` or `local`",
            crate::text::clean(&bad.to_string())
        ));
    }
    Ok(Target::Ssh {
        user: user.map(str::to_string),
        host: host.to_string(),
    })
}

fn parse_flake(raw: &str, host: &str, base: &Path) -> Result<FlakeRef, String> {
    let (path, attr) = match raw.split_once('#') {
        Some((p, a)) => (p, a),
        None => (raw, host),
    };
    if path.trim().is_empty() {
        return Err("has no path before `#`".into());
    }
    if attr.is_empty() {
        return Err("has nothing after `#`; name the nixosConfigurations attribute".into());
    }
    if path.contains("://")
        || path.contains(':') && !path.starts_with('/') && !path.starts_with('.')
    {
        return Err(format!(
            "`{path}` is not a local path; deploytui builds from your checkout, give its path"
        ));
    }
    Ok(FlakeRef {
        path: resolve_path(path, base),
        attr: attr.to_string(),
    })
}

/// An input path as `--override-input` takes it: input names joined by `/`
/// (`nixpkgs`, `home-manager/nixpkgs`), each one as a lock names inputs.
fn is_input_path(n: &str) -> bool {
    n.split('/').all(crate::nix::lock::is_input_name)
}

/// `~/x` as the home folder's `x`; anything else as it is.
fn expand_tilde(raw: &str) -> String {
    match (raw.strip_prefix("~/"), crate::paths::home_dir()) {
        (Some(rest), Some(home)) => home.join(rest).to_string_lossy().into_owned(),
        _ if raw == "~" => crate::paths::home_dir()
            .map_or_else(|| raw.to_string(), |h| h.to_string_lossy().into_owned()),
        _ => raw.to_string(),
    }
}

/// Expands `~/` and makes relative paths relative to `base` (the config's folder).
fn resolve_path(raw: &str, base: &Path) -> PathBuf {
    let expanded = PathBuf::from(expand_tilde(raw));
    if expanded.is_absolute() {
        expanded
    } else {
        base.join(expanded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Config, ConfigError> {
        parse(text, Path::new("/etc/deploytui/test.toml"), FoundBy::Flag)
    }

    fn invalid(text: &str) -> Invalid {
        match parse_str(text) {
            Err(ConfigError::Invalid(e)) => *e,
            Err(other) => panic!("expected Invalid, got {other}"),
            Ok(_) => panic!("expected an error for:\n{text}"),
        }
    }

    const MINIMAL: &str = r#"
[[hosts]]
name = "server1"
target = "me@server1"
"#;

    #[test]
    fn minimal_config_gets_defaults() {
        let c = parse_str(MINIMAL).unwrap();
        assert_eq!(c.hosts.len(), 1);
        let h = &c.hosts[0];
        assert_eq!(
            h.target,
            Target::Ssh {
                user: Some("me".into()),
                host: "server1".into()
            }
        );
        assert_eq!(h.sudo, SudoMode::Password);
        assert_eq!(h.engine, Engine::Native);
        assert_eq!(h.override_inputs, OverrideInputs::Auto);
        assert_eq!(h.host_key_policy, HostKeyPolicy::Strict);
        assert_eq!(c.refresh, Duration::from_secs(30));
        assert_eq!(c.parallel, 4);
    }

    #[test]
    fn full_host_with_defaults_section() {
        let c = parse_str(
            r#"
repo = "/srv/monorepo"
refresh_secs = 5
theme = "mono"
[keys]
quit = ["x", "ctrl-q"]
[defaults]
sudo = "nopasswd"
services = ["nginx"]
[[hosts]]
name = "server1"
target = "root@10.0.0.1"
port = 2222
flake = "infra/hosts/server1#server1"
engine = "nixos-rebuild"
override_inputs = ["monorepo"]
[[hosts]]
name = "box"
target = "local"
services = ["app.service", "nix-gc.timer"]
flake = "/etc/nixos"
"#,
        )
        .unwrap();
        let s1 = &c.hosts[0];
        assert_eq!(s1.port, Some(2222));
        assert_eq!(s1.services, vec!["nginx.service"]);
        assert_eq!(s1.sudo, SudoMode::Nopasswd);
        let flake = s1.flake.as_ref().unwrap();
        assert_eq!(
            flake.path,
            PathBuf::from("/srv/monorepo/infra/hosts/server1")
        );
        assert_eq!(flake.attr, "server1");
        assert_eq!(
            s1.engine,
            Engine::NixosRebuild {
                command: "nixos-rebuild switch --flake /srv/monorepo/infra/hosts/server1#server1 --target-host root@10.0.0.1 --sudo"
                    .split(' ')
                    .map(String::from)
                    .collect()
            }
        );
        assert_eq!(
            s1.override_inputs,
            OverrideInputs::List(vec!["monorepo".into()])
        );
        let bx = &c.hosts[1];
        assert_eq!(bx.target, Target::Local);
        assert_eq!(bx.services, vec!["app.service", "nix-gc.timer"]);
        assert_eq!(
            bx.flake.as_ref().unwrap().attr,
            "box",
            "attr defaults to the host name"
        );
        assert_eq!(c.theme, ThemeName::Mono);
        assert_eq!(c.keymap.keys_of(crate::keymap::Action::Quit), "x");
    }

    #[test]
    fn unknown_field_names_file_line_column_and_field() {
        let e = invalid("[[hosts]]\nname = \"a\"\ntarget = \"local\"\nprot = 22\n");
        assert_eq!((e.line, e.column), (4, 1));
        assert_eq!(e.field, "hosts[0].prot");
        assert!(e.message.contains("unknown field `prot`"), "{}", e.message);
        let shown = ConfigError::Invalid(Box::new(e)).to_string();
        assert!(
            shown.starts_with("/etc/deploytui/test.toml:4:1: hosts[0].prot: unknown field `prot`"),
            "{shown}"
        );
        assert!(shown.contains("4 | prot = 22"), "{shown}");
        assert!(e_message_ends(&shown, "did you mean `port`?"), "{shown}");
    }

    fn e_message_ends(shown: &str, end: &str) -> bool {
        shown.lines().next().is_some_and(|l| l.ends_with(end))
    }

    /// A misspelt key is answered with the nearest one; a key like no
    /// other gets the list alone.
    #[test]
    fn a_misspelt_key_gets_did_you_mean() {
        let e = invalid("[[hosts]]\nname = \"a\"\ntarget = \"local\"\nservics = []\n");
        assert!(
            e.message.ends_with("did you mean `services`?"),
            "{}",
            e.message
        );
        let e = invalid("refersh_secs = 3\n");
        assert!(
            e.message.ends_with("did you mean `refresh_secs`?"),
            "{}",
            e.message
        );
        let e = invalid("[[hosts]]\nname = \"a\"\ntarget = \"local\"\nzzz = 1\n");
        assert!(!e.message.contains("did you mean"), "{}", e.message);
        assert!(e.message.contains("expected one of"), "{}", e.message);
    }

    #[test]
    fn unknown_top_level_field() {
        let e = invalid("colour = \"red\"\n[[hosts]]\nname = \"a\"\ntarget = \"local\"\n");
        assert_eq!((e.line, e.column, e.field.as_str()), (1, 1, "colour"));
    }

    #[test]
    fn second_host_unknown_field_is_indexed() {
        let e = invalid(&format!(
            "{MINIMAL}\n[[hosts]]\nname = \"b\"\ntarget = \"local\"\nbogus = 1\n"
        ));
        assert_eq!(e.field, "hosts[1].bogus");
        assert_eq!(e.line, 9);
    }

    #[test]
    fn duplicate_host_names() {
        let e = invalid(&format!("{MINIMAL}{MINIMAL}"));
        assert_eq!(e.field, "hosts[1].name");
        assert_eq!((e.line, e.column), (7, 8));
        assert!(
            e.message
                .contains("duplicate host name `server1` (first defined on line 3)"),
            "{}",
            e.message
        );
    }

    #[test]
    fn empty_and_bad_targets() {
        let e = invalid("[[hosts]]\nname = \"a\"\ntarget = \"\"\n");
        assert_eq!(
            (e.field.as_str(), e.line, e.column),
            ("hosts[0].target", 3, 10)
        );
        assert!(e.message.contains("is empty"));
        for bad in [
            "-oProxyCommand=x",
            "root@-oProxyCommand=nc evil 22",
            "-lroot@host",
            "me@",
            "a b",
            "me@host;reboot",
            "@host",
            "me@host\\u001b]0;t\\u0007",
        ] {
            let e = invalid(&format!("[[hosts]]\nname = \"a\"\ntarget = \"{bad}\"\n"));
            assert_eq!(e.field, "hosts[0].target", "{bad}");
        }
        let e = invalid("[[hosts]]\nname = \"a\"\n");
        assert!(e.message.contains("missing"), "{}", e.message);
    }

    #[test]
    fn invalid_unit_names() {
        let e = invalid(
            "[[hosts]]\nname = \"a\"\ntarget = \"local\"\nservices = [\"nginx\", \"ngin x\"]\n",
        );
        assert_eq!(e.field, "hosts[0].services[1]");
        assert_eq!((e.line, e.column), (4, 22));
        assert!(
            e.message.contains("not a valid systemd unit name"),
            "{}",
            e.message
        );
        let e = invalid("[[hosts]]\nname = \"a\"\ntarget = \"local\"\nservices = [\"nginx\", \"nginx.service\"]\n");
        assert!(e.message.contains("listed twice"));
    }

    #[test]
    fn bad_values_are_named() {
        let cases: &[(&str, &str)] = &[
            ("port = 70000", "hosts[0].port"),
            ("port = \"22\"", "hosts[0].port"),
            ("sudo = \"maybe\"", "hosts[0].sudo"),
            ("engine = \"colmena\"", "hosts[0].engine"),
            ("engine = \"nixos-rebuild\"", "hosts[0].engine"),
            ("flake = \"#server1\"", "hosts[0].flake"),
            ("flake = \"github:me/repo#x\"", "hosts[0].flake"),
            ("override_inputs = \"all\"", "hosts[0].override_inputs"),
            ("override_inputs = [\"a b\"]", "hosts[0].override_inputs"),
            (
                "rebuild_command = \"nixos-rebuild switch\"",
                "hosts[0].rebuild_command",
            ),
            ("host_key_policy = \"yolo\"", "hosts[0].host_key_policy"),
            ("name = \"a/b\"", "hosts[0].name"),
        ];
        for (line, field) in cases {
            let text = if line.starts_with("name") {
                format!("[[hosts]]\n{line}\ntarget = \"local\"\n")
            } else {
                format!("[[hosts]]\nname = \"a\"\ntarget = \"local\"\n{line}\n")
            };
            let e = invalid(&text);
            assert_eq!(&e.field, field, "for `{line}`: {}", e.message);
        }
        let e = invalid("[[hosts]]\nname = \"a\"\ntarget = \"local\"\nengine = \"nixos-rebuild\"\nrebuild_command = \"nixos-rebuild 'switch\"\n");
        assert!(e.message.contains("unbalanced quotes"));
    }

    #[test]
    fn top_level_values_and_keys() {
        let e = invalid(&format!("refresh_secs = 0\n{MINIMAL}"));
        assert_eq!(e.field, "refresh_secs");
        let e = invalid(&format!("parallel = 0\n{MINIMAL}"));
        assert_eq!(e.field, "parallel");
        let e = invalid(&format!("[keys]\nlaunch = \"l\"\n{MINIMAL}"));
        assert_eq!(e.field, "keys.launch");
        assert!(e.message.contains("known actions: quit"));
        let e = invalid(&format!("[keys]\nquit = \"hyper-q\"\n{MINIMAL}"));
        assert_eq!(e.field, "keys.quit");
        let e = invalid(&format!("[defaults]\nname = \"x\"\n{MINIMAL}"));
        assert_eq!(e.field, "defaults.name");
        let e = invalid("repo = \"/x\"\n");
        assert_eq!(e.field, "hosts");
        let e = invalid("[[hosts]\nname = \"a\"\n");
        assert_eq!(e.line, 1);
    }

    #[test]
    fn not_found_says_where_it_looked_and_how_to_start() {
        let e = ConfigError::NotFound {
            looked: vec!["deploytui.toml (current directory)".into()],
        };
        let s = e.to_string();
        assert!(s.contains("deploytui.toml (current directory)"));
        assert!(s.contains("deploytui demo"));
        assert!(s.contains("run `deploytui init` in your monorepo"), "{s}");
        assert!(
            !s.contains("config.example.toml"),
            "a file only the source has: {s}"
        );
    }

    #[test]
    fn the_example_config_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let c = parse(&text, &path, FoundBy::Flag).unwrap_or_else(|e| panic!("{e}"));
        let s1 = c
            .hosts
            .iter()
            .find(|h| h.name == "server1")
            .expect("server1 in example");
        assert!(s1.services.contains(&"nginx.service".to_string()));
        assert_eq!(s1.sudo, SudoMode::Password);
    }
}
