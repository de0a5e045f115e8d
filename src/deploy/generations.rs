//! The host's system generations, for a rollback: read from the profile's
//! links on the host (hostile text: every number and store path checked),
//! and the one before the current.

use serde::{Deserialize, Serialize};

/// One generation: its number and the system it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Generation {
    pub number: u32,
    pub path: String,
}

/// The shell the host runs: each `system-N-link` with its system, then
/// where the profile points (`system-N-link`).
const SCRIPT: &str = r#"for l in /nix/var/nix/profiles/system-*-link; do
  [ -L "$l" ] && printf 'gen %s %s\n' "${l##*/}" "$(readlink -f -- "$l")"
done
printf 'current %s\n' "$(readlink -- /nix/var/nix/profiles/system)""#;

pub fn command() -> Vec<String> {
    vec!["sh".into(), "-c".into(), SCRIPT.into()]
}

/// `system-12-link` → 12.
fn number_of(link: &str) -> Option<u32> {
    let n = link.strip_prefix("system-")?.strip_suffix("-link")?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok()
}

/// The current generation and the one before it, from the script's output.
pub fn current_and_previous(text: &str) -> Result<(Generation, Generation), String> {
    let mut all = Vec::new();
    let mut current = None;
    for line in text.lines() {
        let mut words = line.split(' ');
        match (words.next(), words.next(), words.next(), words.next()) {
            (Some("gen"), Some(link), Some(path), None) => {
                if let (Some(number), true) = (number_of(link), crate::probe::is_store_path(path)) {
                    all.push(Generation {
                        number,
                        path: path.to_string(),
                    });
                }
            }
            (Some("current"), Some(link), None, None) => current = number_of(link),
            _ => {}
        }
    }
    let current = current.ok_or(
        "the host's system profile does not point at a generation (/nix/var/nix/profiles/system)",
    )?;
    let this = all
        .iter()
        .find(|g| g.number == current)
        .cloned()
        .ok_or_else(|| format!("generation {current} has no system on the host"))?;
    let before = all
        .iter()
        .filter(|g| g.number < current)
        .max_by_key(|g| g.number)
        .cloned()
        .ok_or_else(|| format!("there is no generation before {current} to roll back to"))?;
    Ok((this, before))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-nixos-system-s1-1.0.0";
    const B: &str = "/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-nixos-system-s1-1.0.0";

    #[test]
    fn the_one_before_the_current_even_with_gaps_and_junk() {
        let text = format!(
            "gen system-1-link {A}\ngen system-3-link {B}\ngen system-4-link /etc/passwd\n\
             gen system-x-link {A}\ngen system-9-link {A} extra\ncurrent system-3-link\n"
        );
        let (now, before) = current_and_previous(&text).unwrap();
        assert_eq!((now.number, now.path.as_str()), (3, B));
        assert_eq!((before.number, before.path.as_str()), (1, A));
    }

    #[test]
    fn no_profile_or_nothing_before_is_said() {
        let e = current_and_previous(&format!("gen system-1-link {A}\ncurrent system-1-link\n"))
            .unwrap_err();
        assert_eq!(e, "there is no generation before 1 to roll back to");
        let e = current_and_previous("").unwrap_err();
        assert!(e.contains("does not point at a generation"), "{e}");
    }
}
