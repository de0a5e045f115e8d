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

/// The shell the host runs: each `system-N-link` with its system (and
/// `missing` when that system cannot be activated: not in the store, or
/// no switch-to-configuration), then where the profile points.
const SCRIPT: &str = r#"for l in /nix/var/nix/profiles/system-*-link; do
  [ -L "$l" ] || continue
  s=$(readlink -f -- "$l")
  if [ -x "$s/bin/switch-to-configuration" ]; then
    printf 'gen %s %s\n' "${l##*/}" "$s"
  else
    printf 'gen %s %s missing\n' "${l##*/}" "$s"
  fi
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
    current_and(text, None)
}

/// The current generation and the one to roll back to: `to`, or the one
/// before the current. Err when there is none, it is the current one, or
/// its system is not on the host (a rollback would set the profile to a
/// path that is not there, and the activation would fail).
pub fn current_and(text: &str, to: Option<u32>) -> Result<(Generation, Generation), String> {
    let mut all = Vec::new();
    let mut missing = Vec::new();
    let mut current = None;
    for line in text.lines() {
        let mut words = line.split(' ');
        match (words.next(), words.next(), words.next(), words.next()) {
            (Some("gen"), Some(link), Some(path), flag @ (None | Some("missing"))) => {
                if let (Some(number), true) = (number_of(link), crate::probe::is_store_path(path)) {
                    let generation = Generation {
                        number,
                        path: path.to_string(),
                    };
                    if flag.is_some() {
                        missing.push(generation);
                    } else {
                        all.push(generation);
                    }
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
        .chain(&missing)
        .find(|g| g.number == current)
        .cloned()
        .ok_or_else(|| format!("generation {current} has no system on the host"))?;
    let wanted = match to {
        Some(n) if n == current => {
            return Err(format!(
                "generation {n} is the current one: nothing to roll back"
            ))
        }
        Some(n) => n,
        None => all
            .iter()
            .chain(&missing)
            .filter(|g| g.number < current)
            .map(|g| g.number)
            .max()
            .ok_or_else(|| format!("there is no generation before {current} to roll back to"))?,
    };
    if let Some(gone) = missing.iter().find(|g| g.number == wanted) {
        return Err(format!(
            "generation {wanted}'s system {} is not on the host (collected, or not a system): \
             rolling back would point the profile at nothing to activate",
            gone.path
        ));
    }
    let before = all
        .iter()
        .find(|g| g.number == wanted)
        .cloned()
        .ok_or_else(|| format!("the host has no generation {wanted}"))?;
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

    /// `--to N`, and a generation whose system is gone: refused before
    /// anything changes, naming it.
    #[test]
    fn a_chosen_generation_and_a_missing_system() {
        let text = format!(
            "gen system-1-link {A}\ngen system-2-link {B} missing\ngen system-3-link {B}\n\
             current system-3-link\n"
        );
        let e = current_and(&text, None).unwrap_err();
        assert!(
            e.starts_with(&format!("generation 2's system {B} is not on the host")),
            "{e}"
        );
        let (now, to) = current_and(&text, Some(1)).unwrap();
        assert_eq!((now.number, to.number, to.path.as_str()), (3, 1, A));
        assert_eq!(
            current_and(&text, Some(3)).unwrap_err(),
            "generation 3 is the current one: nothing to roll back"
        );
        assert_eq!(
            current_and(&text, Some(7)).unwrap_err(),
            "the host has no generation 7"
        );
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
