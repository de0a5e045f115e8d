//! A wrong fixed-output hash, found and fixed: nix's `hash mismatch …
//! specified: … got: …` read from a build's output, the places in the
//! repository that hold the stale hash (in whatever form they write it, or
//! an empty or fake hash), and the edit that puts the right one there.
//! Reading is pure; finding and writing touch only files inside the repo.

use std::path::{Path, PathBuf};

use base64::Engine;
use serde::{Deserialize, Serialize};

/// nix's words for a fixed-output derivation that built to another hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mismatch {
    pub drv: String,
    pub specified: String,
    pub got: String,
}

/// What a failed build says about a stale fixed-output hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stale {
    /// nix built it and got another hash.
    Mismatch(Mismatch),
    /// The builder found the pinned dependencies stale (`ERROR: npmDepsHash
    /// is out of date`): nix did not rebuild them, their path was valid.
    OutOfDate { attr: String },
}

/// The stale hash a failed build's output tells of, if any.
pub fn read_stale(text: &str) -> Option<Stale> {
    parse_mismatch(text)
        .map(Stale::Mismatch)
        .or_else(|| out_of_date(text).map(|attr| Stale::OutOfDate { attr }))
}

/// What a search of the repository found: the places, and the files it
/// did not read for their size (named, so the user knows where not looked).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    pub sites: Vec<Site>,
    pub too_big: Vec<PathBuf>,
}

/// Where it is: the places holding the stale hash (a mismatch), or setting
/// the attribute (out of date), each with its edit.
pub fn find(repo: &Path, stale: &Stale) -> Result<Found, String> {
    match stale {
        Stale::Mismatch(m) => find_sites(repo, m),
        Stale::OutOfDate { attr } => attribute_sites(repo, attr),
    }
}

/// After a build with the hash blanked at `blanked`: the edit that puts
/// the hash nix got there, from the build's output.
pub fn learned(blanked: &Site, build_output: &str) -> Result<Site, String> {
    let m = parse_mismatch(build_output)
        .ok_or("the build with the blank hash did not fail on it, so nix gave no hash to learn")?;
    if !blanked.new.contains("\"\"") {
        return Err(format!("{} has no blank hash to fill", blanked.place()));
    }
    Ok(Site {
        file: blanked.file.clone(),
        line: blanked.line,
        old: blanked.new.clone(),
        new: blanked.new.replacen("\"\"", &format!("\"{}\"", m.got), 1),
    })
}

impl Site {
    /// The edit that undoes this one.
    pub fn reversed(&self) -> Site {
        Site {
            file: self.file.clone(),
            line: self.line,
            old: self.new.clone(),
            new: self.old.clone(),
        }
    }
}

/// The attributes that hold fixed-output hashes in nixpkgs builders.
const HASH_ATTRS: [&str; 6] = [
    "npmDepsHash",
    "cargoHash",
    "vendorHash",
    "outputHash",
    "hash",
    "sha256",
];

/// `lib.fakeHash` and `lib.fakeSha256` as written, and their values.
const FAKE: [&str; 4] = [
    "lib.fakeHash",
    "lib.fakeSha256",
    "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    "0000000000000000000000000000000000000000000000000000",
];

/// Reads nix's hash mismatch from its output (colours and line breaks
/// as nix prints them are fine).
pub fn parse_mismatch(text: &str) -> Option<Mismatch> {
    let text = crate::text::plain(text);
    let at = text.find("hash mismatch in fixed-output derivation")?;
    let rest = &text[at..];
    let drv = rest.split('\'').nth(1)?.to_string();
    let word_after = |key: &str| -> Option<String> {
        let from = rest.find(key)? + key.len();
        rest[from..].split_whitespace().next().map(str::to_string)
    };
    let (specified, got) = (word_after("specified:")?, word_after("got:")?);
    // A hash is one word of base-32/64/16 characters, with its algorithm.
    let ok = |h: &str| {
        !h.is_empty()
            && h.chars()
                .all(|c| c.is_ascii_alphanumeric() || "+/=:-".contains(c))
    };
    (ok(&specified) && ok(&got)).then_some(Mismatch {
        drv,
        specified,
        got,
    })
}

/// buildNpmPackage's (and friends') `ERROR: npmDepsHash is out of date`:
/// the attribute named, when the old dependencies are still in the store.
pub fn out_of_date(text: &str) -> Option<String> {
    let text = crate::text::plain(text);
    let at = text.find(" is out of date")?;
    let attr = text[..at].rsplit(|c: char| c.is_whitespace()).next()?;
    HASH_ATTRS
        .iter()
        .find(|a| attr == **a || attr.starts_with(*a))
        .map(|a| a.to_string())
}

/// A line in the repository that holds the stale hash, and that line fixed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Site {
    /// Relative to the repository.
    pub file: PathBuf,
    /// 1-based.
    pub line: usize,
    pub old: String,
    pub new: String,
}

impl Site {
    /// `infra/pkgs/webapp.nix:7`.
    pub fn place(&self) -> String {
        format!("{}:{}", self.file.display(), self.line)
    }
}

/// The ways a file may write `hash` (SRI `sha256-<base64>`): as is, as
/// `sha256:<base32>`, bare base-32, bare base-16. Each with how `got` is
/// written in that form.
fn forms(specified: &str, got: &str) -> Vec<(String, String)> {
    let mut forms = vec![(specified.to_string(), got.to_string())];
    let (Some(old), Some(new)) = (sri_bytes(specified), sri_bytes(got)) else {
        return forms;
    };
    let (old32, new32) = (nix_base32(&old), nix_base32(&new));
    forms.push((format!("sha256:{old32}"), format!("sha256:{new32}")));
    forms.push((old32, new32));
    forms.push((hex(&old), hex(&new)));
    forms
}

fn sri_bytes(hash: &str) -> Option<Vec<u8>> {
    let b64 = hash.strip_prefix("sha256-")?;
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// nix's base-32 (its own alphabet, last byte first), as `nix hash to-base32`.
pub fn nix_base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789abcdfghijklmnpqrsvwxyz";
    let len = (bytes.len() * 8).div_ceil(5);
    (0..len)
        .rev()
        .map(|n| {
            let b = n * 5;
            let (i, j) = (b / 8, b % 8);
            let low = u16::from(bytes[i]) >> j;
            let high = bytes.get(i + 1).map_or(0, |h| u16::from(*h) << (8 - j));
            ALPHABET[usize::from((low | high) & 0x1f)] as char
        })
        .collect()
}

/// Biggest file read while looking: hashes live in small source files.
const MAX_FILE: u64 = 1 << 20;

/// The lines of the repository's files (tracked and not ignored) that hold
/// `m.specified` in any form; when none does, the hash attributes set to an
/// empty or fake hash (a user's first step when a hash changes). Files that
/// are symlinks are passed over: their target may be outside the repo.
pub fn find_sites(repo: &Path, m: &Mismatch) -> Result<Found, String> {
    let forms = forms(&m.specified, &m.got);
    let files = repo_files(repo)?;
    let mut sites = Vec::new();
    let too_big = for_each_line(repo, &files, |file, n, line| {
        if let Some((old, new)) = forms.iter().find(|(old, _)| line.contains(old.as_str())) {
            sites.push(Site {
                file: file.to_path_buf(),
                line: n,
                old: line.to_string(),
                new: line.replace(old.as_str(), new),
            });
        }
    });
    if sites.is_empty() {
        sites = placeholder_sites(repo, &files, &m.got, None);
    }
    // The one preselected is the likeliest: a hash attribute's assignment
    // (`npmDepsHash = "…";`) before a mention elsewhere (a note, a test).
    sites.sort_by_key(|s| assigned(&s.old, None).is_none());
    Ok(Found { sites, too_big })
}

/// The lines that set a hash attribute (`attr`, or any of them) to an
/// empty or fake hash, and each with `got` written in.
fn placeholder_sites(repo: &Path, files: &[PathBuf], got: &str, attr: Option<&str>) -> Vec<Site> {
    let mut sites = Vec::new();
    // The same files as the first pass: those too big were named there.
    let _ = for_each_line(repo, files, |file, n, line| {
        let Some(value) = assigned(line, attr) else {
            return;
        };
        let fake = value.trim_matches('"');
        let is_placeholder = value == "\"\"" || FAKE.contains(&fake);
        if is_placeholder {
            sites.push(Site {
                file: file.to_path_buf(),
                line: n,
                old: line.to_string(),
                new: line.replacen(value, &format!("\"{got}\""), 1),
            });
        }
    });
    sites
}

/// The lines that set `attr` to any hash, for the "out of date" case:
/// the value to blank and learn again.
pub fn attribute_sites(repo: &Path, attr: &str) -> Result<Found, String> {
    let files = repo_files(repo)?;
    let mut sites = Vec::new();
    let too_big = for_each_line(repo, &files, |file, n, line| {
        if let Some(value) = assigned(line, Some(attr)) {
            sites.push(Site {
                file: file.to_path_buf(),
                line: n,
                old: line.to_string(),
                new: line.replacen(value, "\"\"", 1),
            });
        }
    });
    Ok(Found { sites, too_big })
}

/// `  npmDepsHash = "sha256-…";` → `"sha256-…"` (or `lib.fakeHash`) when
/// the line sets `attr` (or any hash attribute).
fn assigned<'a>(line: &'a str, attr: Option<&str>) -> Option<&'a str> {
    let (left, right) = line.split_once('=')?;
    let name = left.trim().rsplit('.').next()?;
    let wanted = match attr {
        Some(a) => name == a,
        None => HASH_ATTRS.contains(&name),
    };
    if !wanted {
        return None;
    }
    let value = right.trim().trim_end_matches(';').trim();
    let is_string = value.len() >= 2 && value.starts_with('"') && value.ends_with('"');
    (is_string || value.starts_with("lib.fake")).then_some(value)
}

fn repo_files(repo: &Path) -> Result<Vec<PathBuf>, String> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(repo)
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "git ls-files in {}: {}",
            repo.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(out
        .stdout
        .split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| PathBuf::from(String::from_utf8_lossy(p).into_owned()))
        .collect())
}

/// Calls `each(file, line number, line)` for the text lines of small,
/// regular (not symlinked) files; returns the files too big to read.
fn for_each_line(
    repo: &Path,
    files: &[PathBuf],
    mut each: impl FnMut(&Path, usize, &str),
) -> Vec<PathBuf> {
    let mut too_big = Vec::new();
    for file in files {
        let path = repo.join(file);
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        if meta.len() > MAX_FILE {
            too_big.push(file.clone());
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        for (i, line) in text.lines().enumerate() {
            each(file, i + 1, line);
        }
    }
    too_big
}

/// Writes the fix: the site's line replaced, the rest of the file as it
/// was. Refuses a file outside the repository (through `..` or a symlink)
/// and a line that is no longer what was shown.
pub fn write_site(repo: &Path, site: &Site) -> Result<(), String> {
    let path = inside(repo, &site.file)?;
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
    let Some(at) = site.line.checked_sub(1).filter(|i| *i < lines.len()) else {
        return Err(format!("{} has no line {}", site.file.display(), site.line));
    };
    let current = lines[at];
    let ending = &current[current.trim_end_matches(['\n', '\r']).len()..];
    if current.trim_end_matches(['\n', '\r']) != site.old {
        return Err(format!(
            "{} changed since it was read: line {} is not what the diff showed",
            site.file.display(),
            site.line
        ));
    }
    let replaced = format!("{}{ending}", site.new);
    lines[at] = &replaced;
    // Written aside, then renamed over: never half a file. The aside file
    // is made new (whatever had its name is unlinked first, never followed):
    // a symlink placed there cannot send the write outside the repository.
    let aside = path.with_extension("deploytui-new");
    let _ = std::fs::remove_file(&aside);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&aside)
        .map_err(|e| format!("{}: {e}", aside.display()))?;
    std::io::Write::write_all(&mut file, lines.concat().as_bytes())
        .map_err(|e| format!("{}: {e}", aside.display()))?;
    drop(file);
    // The file stays whose it was, with its mode (deploytui may run as root).
    if let Ok(meta) = std::fs::metadata(&path) {
        use std::os::unix::fs::MetadataExt;
        let _ = std::fs::set_permissions(&aside, meta.permissions());
        let _ = std::os::unix::fs::chown(&aside, Some(meta.uid()), Some(meta.gid()));
    }
    std::fs::rename(&aside, &path).map_err(|e| format!("{}: {e}", path.display()))
}

/// `repo/rel` when it is a regular file inside `repo`, not reached through
/// a symlink or `..`.
pub fn inside(repo: &Path, rel: &Path) -> Result<PathBuf, String> {
    let refuse = || {
        format!(
            "{} is outside the repository {}: deploytui writes only inside it",
            rel.display(),
            repo.display()
        )
    };
    if rel.is_absolute()
        || rel
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return Err(refuse());
    }
    let root = repo
        .canonicalize()
        .map_err(|e| format!("{}: {e}", repo.display()))?;
    let path = root.join(rel);
    let meta = std::fs::symlink_metadata(&path).map_err(|e| format!("{}: {e}", rel.display()))?;
    let real = path
        .canonicalize()
        .map_err(|e| format!("{}: {e}", rel.display()))?;
    if !meta.is_file() || !real.starts_with(&root) {
        return Err(refuse());
    }
    Ok(path)
}

#[cfg(test)]
mod tests;
