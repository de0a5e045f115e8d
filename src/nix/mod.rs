//! Nix facts: flake.lock, how inputs compare with git, and the nix on this machine.

pub mod check;
pub mod git;
pub mod hash_fix;
pub mod internal_json;
pub mod lock;

/// The first output path in `nix build --json` output (nix 2.8 has no
/// `--print-out-paths`; `--json` works on every version).
pub fn parse_build_json(stdout: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(stdout).ok()?;
    v.get(0)?
        .get("outputs")?
        .get("out")?
        .as_str()
        .map(str::to_string)
}
