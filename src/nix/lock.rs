//! flake.lock: the versions nix writes (5, 6 and 7), every node reachable
//! from the root with its `follows` resolved, and a readable summary of each
//! input's locked source whatever its type.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Lock file versions this parser reads (those nix itself still reads).
pub const SUPPORTED_VERSIONS: std::ops::RangeInclusive<u64> = 5..=7;

#[derive(Debug, Deserialize)]
struct RawLock {
    nodes: BTreeMap<String, RawNode>,
    root: String,
    version: u64,
}

#[derive(Debug, Deserialize, Default)]
struct RawNode {
    #[serde(default)]
    inputs: BTreeMap<String, InputRef>,
    locked: Option<BTreeMap<String, serde_json::Value>>,
    original: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default = "yes")]
    flake: bool,
    /// nix 2.26+: the input path of the flake a relative `path:` input is
    /// relative to (`[]`: the root flake).
    #[serde(default)]
    parent: Option<Vec<String>>,
}

fn yes() -> bool {
    true
}

/// An input is a node name, or a `follows` path from the root.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum InputRef {
    Node(String),
    Follows(Vec<String>),
}

/// One input as the lock pins it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct LockedInput {
    /// Path from the root: `nixpkgs`, `home-manager/nixpkgs`.
    pub path: String,
    /// Set when this input follows another (`nixpkgs`): it has no lock of its own.
    pub follows: Option<String>,
    /// `git`, `github`, `path`, ... as written; `unknown` when absent.
    pub kind: String,
    /// owner/repo, a URL or a path: where it comes from.
    pub source: String,
    pub rev: Option<String>,
    pub last_modified: Option<u64>,
    pub nar_hash: Option<String>,
    /// A git ref or branch the original asked for.
    pub reference: Option<String>,
    /// The folder on this machine, for `git+file`, `file://` git and `path` inputs.
    pub local_path: Option<PathBuf>,
    /// The flake's folder inside the repository (`?dir=`), if not its top.
    pub dir: Option<String>,
    pub is_flake: bool,
    /// A relative `path:` input (nix 2.26+, `"parent"` in the lock): read
    /// from its parent flake's own tree, so it can never go stale.
    pub relative: bool,
}

impl LockedInput {
    /// What the lock pins, as people read it: a relative input's path, the
    /// short rev, else the start of the narHash (a `path:` input), else
    /// "(nothing)".
    pub fn pinned(&self) -> String {
        if self.relative {
            return format!("path:{}", self.source);
        }
        match (&self.rev, &self.nar_hash) {
            (Some(rev), _) => crate::nix::check::short_rev(rev).to_string(),
            (None, Some(hash)) => format!("{}…", hash.get(..15).unwrap_or(hash)),
            (None, None) => "(nothing)".into(),
        }
    }
}

/// Why a lock file could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockError {
    pub file: PathBuf,
    pub message: String,
}

impl std::fmt::Display for LockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.file.display(), self.message)
    }
}

/// The largest flake.lock read. Real ones are tens of kilobytes; a bigger
/// one is refused rather than parsed every second.
pub const MAX_LOCK_BYTES: u64 = 4 << 20;
/// The most inputs listed from one lock (nested ones included).
pub const MAX_INPUTS: usize = 5_000;

/// Reads `<flake_dir>/flake.lock`.
pub fn read(flake_dir: &Path) -> Result<Vec<LockedInput>, LockError> {
    let file = flake_dir.join("flake.lock");
    let error = |message: String| LockError {
        file: file.clone(),
        message,
    };
    let opened = std::fs::File::open(&file).map_err(|e| {
        error(if e.kind() == std::io::ErrorKind::NotFound {
            "no flake.lock: run `nix flake lock` in this folder, or deploy once".into()
        } else {
            e.to_string()
        })
    })?;
    let size = opened.metadata().map(|m| m.len()).unwrap_or(0);
    if size > MAX_LOCK_BYTES {
        return Err(error(too_big(size)));
    }
    let mut text = String::new();
    // Read at most one byte past the limit: the file may grow while read.
    std::io::Read::read_to_string(
        &mut std::io::Read::take(opened, MAX_LOCK_BYTES + 1),
        &mut text,
    )
    .map_err(|e| error(e.to_string()))?;
    if text.len() as u64 > MAX_LOCK_BYTES {
        return Err(error(too_big(text.len() as u64)));
    }
    parse(&text, flake_dir).map_err(error)
}

fn too_big(size: u64) -> String {
    format!(
        "flake.lock is {:.1} MiB; deploytui reads locks of up to {} MiB (is this really a lock file?)",
        size as f64 / f64::from(1 << 20),
        MAX_LOCK_BYTES >> 20
    )
}

/// Parses lock file text; relative `path` inputs are taken from `flake_dir`.
/// Every string that is shown or passed on is checked here: input names and
/// revs for what they are, everything else made safe to draw.
pub fn parse(text: &str, flake_dir: &Path) -> Result<Vec<LockedInput>, String> {
    let raw: RawLock = serde_json::from_str(text).map_err(|e| {
        format!(
            "not a valid flake.lock: {}",
            crate::text::quote(&e.to_string())
        )
    })?;
    if !SUPPORTED_VERSIONS.contains(&raw.version) {
        return Err(format!(
            "lock file version {} is not supported (deploytui reads versions {} to {})",
            raw.version,
            SUPPORTED_VERSIONS.start(),
            SUPPORTED_VERSIONS.end()
        ));
    }
    let root = raw.nodes.get(&raw.root).ok_or_else(|| {
        format!(
            "the root node `{}` is missing",
            crate::text::quote(&raw.root)
        )
    })?;
    let mut walk = Walk {
        raw: &raw,
        flake_dir,
        out: Vec::new(),
        first_path: BTreeMap::new(),
        stack: vec![raw.root.as_str()],
    };
    walk.node("", root)?;
    Ok(walk.out)
}

/// Whether `name` can be a flake input name: what nix accepts as an
/// attribute name in `inputs`, and nothing an argv could read as an option.
pub fn is_input_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && !name.starts_with(['-', '\''])
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-'".contains(c))
}

/// Whether `dir` names a folder inside a repository: relative, no `..`, and
/// nothing a URL query would read differently.
fn is_subfolder(dir: &str) -> bool {
    !dir.is_empty()
        && !dir.starts_with('/')
        && !dir.contains(['?', '&', '#', '%', '='])
        && Path::new(dir)
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
}

/// Whether `rev` is a git commit id: 40 hex digits (SHA-1), or 64 (SHA-256).
pub fn is_commit_id(rev: &str) -> bool {
    matches!(rev.len(), 40 | 64) && rev.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The input graph, walked once per node: a node reached again is listed
/// as following the path where it was first seen, and a node reached from
/// itself is an error that names the cycle. So a hostile lock costs time
/// and memory in proportion to its size, never exponentially.
struct Walk<'a> {
    raw: &'a RawLock,
    flake_dir: &'a Path,
    out: Vec<LockedInput>,
    /// Node id -> the input path that first reached it.
    first_path: BTreeMap<&'a str, String>,
    /// Node ids from the root to the node being walked.
    stack: Vec<&'a str>,
}

impl<'a> Walk<'a> {
    fn node(&mut self, prefix: &str, node: &'a RawNode) -> Result<(), String> {
        // Each input, then its own inputs right after it (depth first).
        for (name, input) in &node.inputs {
            if !is_input_name(name) {
                return Err(format!(
                    "`{}` is not a flake input name (letters, digits, `_`, `-` and `'`)",
                    crate::text::quote(name)
                ));
            }
            let path = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}/{name}")
            };
            if self.out.len() >= MAX_INPUTS {
                return Err(format!(
                    "more than {MAX_INPUTS} inputs; deploytui does not list locks this large"
                ));
            }
            match input {
                InputRef::Follows(target) => {
                    if let Some(bad) = target.iter().find(|t| !is_input_name(t)) {
                        return Err(format!(
                            "input `{path}` follows `{}`, which is not a flake input name",
                            crate::text::quote(bad)
                        ));
                    }
                    out_push_follows(&mut self.out, path, target);
                }
                InputRef::Node(id) => {
                    let (id, child) = self.raw.nodes.get_key_value(id).ok_or_else(|| {
                        format!(
                            "input `{path}` names a missing node `{}`",
                            crate::text::quote(id)
                        )
                    })?;
                    if let Some(at) = self.stack.iter().position(|n| *n == id.as_str()) {
                        let cycle: Vec<String> = self.stack[at..]
                            .iter()
                            .chain(std::iter::once(&id.as_str()))
                            .map(|n| crate::text::quote(n))
                            .collect();
                        return Err(format!(
                            "the inputs form a cycle: {} (at input `{path}`)",
                            cycle.join(" → ")
                        ));
                    }
                    if let Some(first) = self.first_path.get(id.as_str()) {
                        // Already listed with its inputs: the same node again.
                        let target: Vec<String> = first.split('/').map(str::to_string).collect();
                        out_push_follows(&mut self.out, path, &target);
                        continue;
                    }
                    self.first_path.insert(id, path.clone());
                    let base = self.parent_dir(child);
                    self.out.push(describe(&path, child, base.as_deref())?);
                    self.stack.push(id);
                    self.node(&path, child)?;
                    self.stack.pop();
                }
            }
        }
        Ok(())
    }
}

impl Walk<'_> {
    /// The folder a relative `path:` input of `node` is relative to: the
    /// root flake's, or, for a nested flake's input (`"parent"`), that
    /// flake's own folder, when it is on this machine.
    fn parent_dir(&self, node: &RawNode) -> Option<PathBuf> {
        match node.parent.as_deref() {
            None | Some([]) => Some(self.flake_dir.to_path_buf()),
            Some(parent) => {
                let name = parent.join("/");
                let input = self.out.iter().find(|i| i.path == name)?;
                let folder = input.local_path.clone()?;
                Some(match &input.dir {
                    Some(dir) => folder.join(dir),
                    None => folder,
                })
            }
        }
    }
}

fn out_push_follows(out: &mut Vec<LockedInput>, path: String, target: &[String]) {
    out.push(LockedInput {
        path,
        follows: Some(target.join("/")),
        kind: "follows".into(),
        source: String::new(),
        rev: None,
        last_modified: None,
        nar_hash: None,
        reference: None,
        local_path: None,
        dir: None,
        is_flake: true,
        relative: false,
    });
}

/// A string field of a lock node, made safe to draw.
fn text(map: &BTreeMap<String, serde_json::Value>, key: &str) -> Option<String> {
    map.get(key)
        .and_then(|v| v.as_str())
        .map(|s| crate::text::clean(&crate::text::cap(s, 4096)).into_owned())
}

fn describe(path: &str, node: &RawNode, base: Option<&Path>) -> Result<LockedInput, String> {
    let empty = BTreeMap::new();
    let locked = node.locked.as_ref().unwrap_or(&empty);
    let original = node.original.as_ref().unwrap_or(&empty);
    let kind = text(locked, "type")
        .or_else(|| text(original, "type"))
        .unwrap_or_else(|| "unknown".into());
    let url = text(locked, "url").or_else(|| text(original, "url"));
    let owner_repo = match (text(locked, "owner"), text(locked, "repo")) {
        (Some(o), Some(r)) => Some(format!("{o}/{r}")),
        _ => None,
    };
    let source = match kind.as_str() {
        "github" | "gitlab" | "sourcehut" => {
            let host = text(locked, "host")
                .map(|h| format!("{h}:"))
                .unwrap_or_default();
            format!("{host}{}", owner_repo.unwrap_or_default())
        }
        "path" => text(locked, "path").unwrap_or_default(),
        "indirect" => text(locked, "id")
            .or_else(|| text(original, "id"))
            .unwrap_or_default(),
        _ => url.clone().or(owner_repo).unwrap_or_default(),
    };
    let rev = text(locked, "rev");
    if let Some(rev) = rev.as_deref().filter(|r| !is_commit_id(r)) {
        return Err(format!(
            "input `{path}`: rev `{}` is not a commit id (40 hex digits)",
            crate::text::quote(rev)
        ));
    }
    // Paths as written: one with a control character in it is no folder
    // deploytui will run git in (it could not be shown as it is).
    let raw = |map: &BTreeMap<String, serde_json::Value>, key: &str| {
        map.get(key)
            .and_then(|v| v.as_str())
            .filter(|s| !s.chars().any(crate::text::is_unsafe))
            .map(str::to_string)
    };
    let local_url = raw(locked, "url").or_else(|| raw(original, "url"));
    let local_path = match kind.as_str() {
        "git" => local_url
            .as_deref()
            .and_then(|u| u.strip_prefix("file://"))
            .map(|p| PathBuf::from(p.split('?').next().unwrap_or(p))),
        "path" => raw(locked, "path").and_then(|p| {
            let p = PathBuf::from(p);
            if p.is_absolute() {
                Some(p)
            } else {
                base.map(|b| b.join(p))
            }
        }),
        _ => None,
    };
    let relative = kind == "path"
        && node.parent.is_some()
        && raw(locked, "path").is_some_and(|p| !p.starts_with('/'));
    Ok(LockedInput {
        path: path.to_string(),
        follows: None,
        kind,
        source,
        rev,
        last_modified: locked
            .get("lastModified")
            .and_then(serde_json::Value::as_u64),
        nar_hash: text(locked, "narHash"),
        reference: text(original, "ref").or_else(|| text(locked, "ref")),
        local_path,
        dir: raw(locked, "dir")
            .or_else(|| raw(original, "dir"))
            .filter(|d| is_subfolder(d)),
        is_flake: node.flake,
        relative,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVERY_TYPE: &str = r#"{
      "nodes": {
        "root": { "inputs": {
          "monorepo": "monorepo", "nixpkgs": "nixpkgs", "hm": "hm", "gl": "gl", "srht": "srht",
          "local": "local", "tar": "tar", "file": "file", "reg": "reg", "hg": "hg", "odd": "odd"
        } },
        "monorepo": { "flake": false,
          "locked": { "type": "git", "url": "file:///srv/monorepo", "rev": "c5f221cb27cb3b2f53a151ac25f4e196c202d1d8",
                      "revCount": 2, "lastModified": 1795555231, "narHash": "sha256-AAA=", "ref": "main" },
          "original": { "type": "git", "url": "file:///srv/monorepo" } },
        "nixpkgs": {
          "locked": { "type": "github", "owner": "NixOS", "repo": "nixpkgs", "rev": "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432",
                      "lastModified": 1700000000, "narHash": "sha256-BBB=" },
          "original": { "type": "github", "owner": "NixOS", "repo": "nixpkgs", "ref": "nixos-24.11" } },
        "hm": { "inputs": { "nixpkgs": ["nixpkgs"], "utils": "utils" },
          "locked": { "type": "github", "owner": "nix-community", "repo": "home-manager", "rev": "1111111111111111111111111111111111111111" },
          "original": { "type": "github", "owner": "nix-community", "repo": "home-manager" } },
        "utils": { "locked": { "type": "github", "owner": "numtide", "repo": "flake-utils", "rev": "2222222222222222222222222222222222222222" } },
        "gl": { "locked": { "type": "gitlab", "owner": "me", "repo": "thing", "rev": "3333333333333333333333333333333333333333", "host": "gitlab.example.org" } },
        "srht": { "locked": { "type": "sourcehut", "owner": "~me", "repo": "proj", "rev": "4444444444444444444444444444444444444444" } },
        "local": { "locked": { "type": "path", "path": "../shared", "narHash": "sha256-CCC=" } },
        "tar": { "locked": { "type": "tarball", "url": "https://example.org/x.tar.gz", "narHash": "sha256-DDD=" } },
        "file": { "locked": { "type": "file", "url": "https://example.org/data.json", "narHash": "sha256-EEE=" } },
        "reg": { "original": { "type": "indirect", "id": "nixpkgs" } },
        "hg": { "locked": { "type": "mercurial", "url": "https://hg.example.org/r", "rev": "5555555555555555555555555555555555555555" } },
        "odd": { "locked": { "type": "brand-new", "url": "new://thing" } }
      },
      "root": "root",
      "version": 7
    }"#;

    fn by_path<'a>(inputs: &'a [LockedInput], path: &str) -> &'a LockedInput {
        inputs
            .iter()
            .find(|i| i.path == path)
            .unwrap_or_else(|| panic!("no {path} in {inputs:#?}"))
    }

    /// nix 2.26's relative `path:` inputs: `"parent"` names the flake they
    /// are relative to (the root, or a nested flake), and no narHash.
    #[test]
    fn relative_path_inputs_resolve_against_the_flake_that_names_them() {
        let lock = r#"{
          "nodes": {
            "root": { "inputs": { "monorepo": "monorepo", "lib": "lib" } },
            "monorepo": { "flake": false,
              "locked": { "lastModified": 1, "path": "../../..", "type": "path" },
              "original": { "path": "../../..", "type": "path" },
              "parent": [] },
            "lib": { "inputs": { "shared": "shared" },
              "locked": { "type": "path", "path": "/srv/lib", "narHash": "sha256-X=" } },
            "shared": { "flake": false,
              "locked": { "path": "./shared", "type": "path" },
              "original": { "path": "./shared", "type": "path" },
              "parent": [ "lib" ] }
          },
          "root": "root", "version": 7
        }"#;
        let inputs = parse(lock, Path::new("/srv/mono/infra/hosts/a")).expect("parses");
        let mono = by_path(&inputs, "monorepo");
        assert!(mono.relative && mono.nar_hash.is_none());
        assert_eq!(
            mono.local_path.as_deref(),
            Some(Path::new("/srv/mono/infra/hosts/a/../../.."))
        );
        let shared = by_path(&inputs, "lib/shared");
        assert!(shared.relative);
        assert_eq!(
            shared.local_path.as_deref(),
            Some(Path::new("/srv/lib/./shared")),
            "relative to the nested flake's folder, not the root's"
        );
        assert!(
            !by_path(&inputs, "lib").relative,
            "an absolute path: not relative"
        );
    }

    #[test]
    fn every_input_type() {
        let inputs = parse(EVERY_TYPE, Path::new("/srv/monorepo/infra")).unwrap();
        let mono = by_path(&inputs, "monorepo");
        assert_eq!(
            (mono.kind.as_str(), mono.source.as_str()),
            ("git", "file:///srv/monorepo")
        );
        assert_eq!(mono.local_path.as_deref(), Some(Path::new("/srv/monorepo")));
        assert_eq!(
            mono.rev.as_deref(),
            Some("c5f221cb27cb3b2f53a151ac25f4e196c202d1d8")
        );
        assert_eq!(mono.last_modified, Some(1_795_555_231));
        assert!(!mono.is_flake);
        let np = by_path(&inputs, "nixpkgs");
        assert_eq!(
            (np.kind.as_str(), np.source.as_str()),
            ("github", "NixOS/nixpkgs")
        );
        assert_eq!(np.reference.as_deref(), Some("nixos-24.11"));
        assert_eq!(np.nar_hash.as_deref(), Some("sha256-BBB="));
        assert_eq!(by_path(&inputs, "gl").source, "gitlab.example.org:me/thing");
        assert_eq!(by_path(&inputs, "srht").source, "~me/proj");
        let local = by_path(&inputs, "local");
        assert_eq!(
            local.local_path.as_deref(),
            Some(Path::new("/srv/monorepo/infra/../shared"))
        );
        assert_eq!(
            by_path(&inputs, "tar").source,
            "https://example.org/x.tar.gz"
        );
        assert_eq!(by_path(&inputs, "file").kind, "file");
        let reg = by_path(&inputs, "reg");
        assert_eq!(
            (reg.kind.as_str(), reg.source.as_str()),
            ("indirect", "nixpkgs")
        );
        assert_eq!(by_path(&inputs, "hg").kind, "mercurial");
        let odd = by_path(&inputs, "odd");
        assert_eq!(
            (odd.kind.as_str(), odd.source.as_str()),
            ("brand-new", "new://thing"),
            "unknown types shown as they are"
        );
    }

    #[test]
    fn follows_and_nested_inputs_keep_their_place() {
        let inputs = parse(EVERY_TYPE, Path::new("/")).unwrap();
        let paths: Vec<&str> = inputs.iter().map(|i| i.path.as_str()).collect();
        let hm = paths.iter().position(|p| *p == "hm").unwrap();
        assert_eq!(
            &paths[hm..hm + 3],
            ["hm", "hm/nixpkgs", "hm/utils"],
            "{paths:?}"
        );
        let follows = by_path(&inputs, "hm/nixpkgs");
        assert_eq!(follows.follows.as_deref(), Some("nixpkgs"));
        assert_eq!(follows.rev, None);
        assert_eq!(by_path(&inputs, "hm/utils").source, "numtide/flake-utils");
    }

    #[test]
    fn older_versions_and_bad_files() {
        let v5 = EVERY_TYPE.replace("\"version\": 7", "\"version\": 5");
        assert!(parse(&v5, Path::new("/")).is_ok());
        let v4 = EVERY_TYPE.replace("\"version\": 7", "\"version\": 4");
        assert_eq!(
            parse(&v4, Path::new("/")).unwrap_err(),
            "lock file version 4 is not supported (deploytui reads versions 5 to 7)"
        );
        let e = parse("{ \"nodes\": ", Path::new("/")).unwrap_err();
        assert!(e.starts_with("not a valid flake.lock: EOF"), "{e}");
        let e = parse(
            r#"{"nodes": {"root": {"inputs": {"a": "gone"}}}, "root": "root", "version": 7}"#,
            Path::new("/"),
        )
        .unwrap_err();
        assert_eq!(e, "input `a` names a missing node `gone`");
        let e = parse(
            r#"{"nodes": {}, "root": "root", "version": 7}"#,
            Path::new("/"),
        )
        .unwrap_err();
        assert_eq!(e, "the root node `root` is missing");
    }

    #[test]
    fn a_missing_lock_file_says_how_to_make_one() {
        let dir = tempfile::tempdir().unwrap();
        let e = read(dir.path()).unwrap_err();
        assert!(
            e.to_string()
                .contains("no flake.lock: run `nix flake lock`"),
            "{e}"
        );
    }

    #[test]
    fn a_cycle_is_an_error_that_names_it() {
        let cyclic = r#"{"nodes": {"root": {"inputs": {"a": "a"}}, "a": {"inputs": {"b": "b"}, "locked": {"type": "github", "owner": "o", "repo": "r"}}, "b": {"inputs": {"back": "a"}}}, "root": "root", "version": 7}"#;
        assert_eq!(
            parse(cyclic, Path::new("/")).unwrap_err(),
            "the inputs form a cycle: a → b → a (at input `a/b/back`)"
        );
    }

    #[test]
    fn a_node_that_lists_itself_many_times_costs_one_walk() {
        // Each node lists the next one three times: expanded as a tree this
        // is 3^40 rows; walked once per node it is 3 rows a node.
        let mut nodes = vec![r#""root": {"inputs": {"x": "n0"}}"#.to_string()];
        for i in 0..40 {
            let next = format!("n{}", i + 1);
            nodes.push(format!(
                r#""n{i}": {{"inputs": {{"a": "{next}", "b": "{next}", "c": "{next}"}}, "locked": {{"type": "github", "owner": "o", "repo": "r{i}"}}}}"#
            ));
        }
        nodes.push(r#""n40": {"locked": {"type": "github", "owner": "o", "repo": "end"}}"#.into());
        let text = format!(
            r#"{{"nodes": {{{}}}, "root": "root", "version": 7}}"#,
            nodes.join(",")
        );
        let inputs = parse(&text, Path::new("/")).unwrap();
        assert_eq!(inputs.len(), 1 + 40 * 3);
        let again = by_path(&inputs, "x/b");
        assert_eq!(again.follows.as_deref(), Some("x/a"), "the same node again");
    }

    #[test]
    fn revs_and_names_are_checked_for_what_they_are() {
        let with = |name: &str, rev: &str| {
            format!(
                r#"{{"nodes": {{"root": {{"inputs": {{"{name}": "m"}}}}, "m": {{"locked": {{"type": "git", "url": "file:///r", "rev": "{rev}"}}}}}}, "root": "root", "version": 7}}"#
            )
        };
        let good = "c5f221cb27cb3b2f53a151ac25f4e196c202d1d8";
        assert!(parse(&with("mono", good), Path::new("/")).is_ok());
        assert_eq!(
            parse(&with("mono", "--output=/tmp/x"), Path::new("/")).unwrap_err(),
            "input `mono`: rev `--output=/tmp/x` is not a commit id (40 hex digits)"
        );
        assert!(parse(&with("mono", "HEAD"), Path::new("/")).is_err());
        assert!(parse(&with("mono", &"g".repeat(40)), Path::new("/")).is_err());
        assert_eq!(
            parse(&with("-x", good), Path::new("/")).unwrap_err(),
            "`-x` is not a flake input name (letters, digits, `_`, `-` and `'`)"
        );
        let e = parse(&with("a\\u001b]0;t\\u0007", good), Path::new("/")).unwrap_err();
        assert_eq!(
            e,
            "`a\\x1b]0;t\\x07` is not a flake input name (letters, digits, `_`, `-` and `'`)"
        );
    }

    #[test]
    fn strings_from_the_lock_are_safe_to_draw() {
        let text = r#"{"nodes": {"root": {"inputs": {"m": "m"}}, "m": {"locked": {"type": "git", "url": "file:///r\u001b[2J", "ref": "main\u001b]52;c;eA==\u0007"}}}, "root": "root", "version": 7}"#;
        let inputs = parse(text, Path::new("/")).unwrap();
        assert_eq!(inputs[0].source, "file:///r\\x1b[2J");
        assert_eq!(
            inputs[0].reference.as_deref(),
            Some("main\\x1b]52;c;eA==\\x07")
        );
        assert_eq!(
            inputs[0].local_path, None,
            "no git runs in a folder named so"
        );
    }

    #[test]
    fn huge_locks_are_refused_before_they_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = std::fs::File::create(dir.path().join("flake.lock")).unwrap();
        file.set_len(MAX_LOCK_BYTES + 1).unwrap();
        let e = read(dir.path()).unwrap_err();
        assert!(
            e.message.contains("deploytui reads locks of up to 4 MiB"),
            "{e}"
        );
    }
}
