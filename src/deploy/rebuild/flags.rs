//! Which nixos-rebuild this machine has, read from its own `--help` (both
//! the bash one and nixos-rebuild-ng print their man page), and whether a
//! line's sudo flags are ones it takes. The bash nixos-rebuild, still the
//! default on NixOS 25.05, has no `--sudo`: the brief's own line fails there
//! at once, so such a line is refused with the line to write instead.

use std::process::Command;
use std::time::Duration;

/// `man` renders the page; on a slow machine that takes a moment.
const DEADLINE: Duration = Duration::from_secs(10);

/// The two nixos-rebuilds in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// nixos-rebuild.sh (NixOS 25.05 and before): `--use-remote-sudo`, and
    /// `ssh -t HOST sudo …` for each remote command, so the host's sudo asks
    /// for the password on the remote terminal, once per command.
    Bash,
    /// nixos-rebuild-ng: `--sudo`, `--ask-sudo-password` (newer ones also
    /// `--elevate TOOL`, `--ask-elevate-password`); asks once, locally.
    Ng,
}

/// The words of a nixos-rebuild's help.
#[derive(Debug, Clone)]
pub struct Help {
    text: String,
}

/// Flags that say how a line elevates on the host.
const ELEVATION: [&str; 6] = [
    "--sudo",
    "--ask-sudo-password",
    "--use-remote-sudo",
    "--elevate",
    "--ask-elevate-password",
    "-S",
];

impl Help {
    /// The help as printed: man's overstrikes and typographic dashes made
    /// plain, so `--use-remote-sudo` reads as typed.
    pub fn new(printed: &str) -> Help {
        let mut text = String::with_capacity(printed.len());
        for c in printed.chars() {
            match c {
                // `x\bx` (bold) and `_\bx` (underline): keep what comes after.
                '\u{8}' => {
                    text.pop();
                }
                '\u{2010}' | '\u{2011}' | '\u{2212}' => text.push('-'),
                c => text.push(c),
            }
        }
        Help { text }
    }

    /// Whether the help names `flag` as a whole word (`--sudo` is not in
    /// `--use-remote-sudo`).
    pub fn has(&self, flag: &str) -> bool {
        let word = |c: char| c.is_ascii_alphanumeric() || c == '-';
        self.text.match_indices(flag).any(|(at, _)| {
            let before = self.text[..at].chars().next_back();
            let after = self.text[at + flag.len()..].chars().next();
            !before.is_some_and(word) && !after.is_some_and(word)
        })
    }

    /// Which nixos-rebuild printed it; `None` when it does not read as
    /// nixos-rebuild's help at all (then nothing is refused on its word).
    pub fn kind(&self) -> Option<Kind> {
        if !self.has("--target-host") {
            None
        } else if self.has("--sudo") {
            Some(Kind::Ng)
        } else if self.has("--use-remote-sudo") {
            Some(Kind::Bash)
        } else {
            None
        }
    }
}

/// `program --help`, bounded, its page printed plain. Err: why it could
/// not be read (no man page, no `man`, the deadline).
pub fn read_help(program: &str) -> Result<Help, String> {
    let mut cmd = Command::new(program);
    cmd.arg("--help")
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .env("MANWIDTH", "200");
    let done = crate::local_command::run_within(&mut cmd, DEADLINE)?;
    Ok(Help::new(&done.stdout))
}

/// Whether this machine's nixos-rebuild takes the line's sudo flags; if
/// not, why, with the line (and sudo setting) to write instead.
pub fn fits(line: &[String], help: &Help) -> Result<(), String> {
    let Some(kind) = help.kind() else {
        return Ok(());
    };
    let flag_of = |w: &str| -> Option<&'static str> {
        let name = w.split_once('=').map_or(w, |(name, _)| name);
        ELEVATION.iter().copied().find(|f| *f == name)
    };
    let missing = line
        .iter()
        .skip(1)
        .filter_map(|w| flag_of(w))
        .find(|flag| !help.has(flag));
    let Some(missing) = missing else {
        return Ok(());
    };
    let asks = line.iter().any(|w| {
        matches!(
            flag_of(w),
            Some("--ask-sudo-password" | "--ask-elevate-password" | "-S")
        )
    });
    let mut replacement: Vec<&str> = match kind {
        Kind::Bash => vec!["--use-remote-sudo"],
        Kind::Ng => vec!["--sudo"],
    };
    if asks && kind == Kind::Ng {
        replacement.push("--ask-sudo-password");
    }
    let written = rewrite(line, &replacement);
    Err(match kind {
        Kind::Bash => format!(
            "this machine's nixos-rebuild has no {missing}: it is the bash nixos-rebuild \
             (NixOS 25.05 and before), which takes --use-remote-sudo and asks for the sudo \
             password on the host, once per command (deploytui answers each). Write \
             rebuild_command = \"{written}\"{}",
            if asks {
                " with sudo = \"password\""
            } else {
                ""
            }
        ),
        Kind::Ng => format!(
            "this machine's nixos-rebuild has no {missing} (an older nixos-rebuild-ng). \
             Write rebuild_command = \"{written}\""
        ),
    })
}

/// The line with its elevation flags (and `--elevate`'s tool) replaced by
/// `replacement`, where the first of them was.
fn rewrite(line: &[String], replacement: &[&str]) -> String {
    let mut out: Vec<&str> = Vec::with_capacity(line.len());
    let mut placed = false;
    let mut words = line.iter().map(String::as_str);
    while let Some(w) = words.next() {
        let name = w.split_once('=').map_or(w, |(name, _)| name);
        if !ELEVATION.contains(&name) {
            out.push(w);
            continue;
        }
        if w == "--elevate" {
            words.next();
        }
        if !placed {
            out.extend(replacement);
            placed = true;
        }
    }
    crate::remote::display_command(&out.iter().map(|w| w.to_string()).collect::<Vec<_>>())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bash nixos-rebuild's man page as `man` prints it (SYNOPSIS and
    /// the sudo option of nixos-rebuild.8 in nixpkgs before 25.11), with the
    /// bold overstrikes and the typographic hyphens a UTF-8 terminal gets.
    const BASH_MAN: &str =
        "NIXOS-REBUILD(8)\n\nSYNOPSIS\n     nixos-rebuild {switch | boot | test}\n     \
        [-\u{8}--\u{8}-f\u{8}fl\u{8}la\u{8}ak\u{8}ke\u{8}e flake-uri]\n     \
        [\u{2010}\u{2010}build\u{2010}host host] [\u{2010}\u{2010}target\u{2010}host host] \
        [\u{2010}\u{2010}use\u{2010}remote\u{2010}sudo]\n";

    /// nixos-rebuild-ng's argparse help (25.05/25.11: no --elevate yet).
    const NG_HELP: &str = "usage: nixos-rebuild [--verbose] [--target-host TARGET_HOST] \
        [--ask-sudo-password] [--sudo] [--use-remote-sudo] [--no-ssh-tty]\n  \
        --sudo                Prefixes activation commands with sudo\n  \
        --use-remote-sudo     Deprecated, use '--sudo' instead\n";

    fn words(line: &str) -> Vec<String> {
        shlex::split(line).unwrap()
    }

    const BRIEF: &str = "nixos-rebuild switch --flake /r/infra/hosts/server1#server1 \
        --target-host deploy@server1 --sudo --ask-sudo-password";

    #[test]
    fn tells_the_bash_nixos_rebuild_from_ng_by_their_help() {
        let bash = Help::new(BASH_MAN);
        assert!(bash.has("--flake") && bash.has("--use-remote-sudo"));
        assert!(!bash.has("--sudo"), "--sudo is not in --use-remote-sudo");
        assert_eq!(bash.kind(), Some(Kind::Bash));
        assert_eq!(Help::new(NG_HELP).kind(), Some(Kind::Ng));
        assert_eq!(
            Help::new("No manual entry for nixos-rebuild\n").kind(),
            None
        );
    }

    /// The brief's line on the bash nixos-rebuild: refused, with the line
    /// that works there; the line that works passes.
    #[test]
    fn the_briefs_line_on_the_bash_nixos_rebuild_gets_the_line_to_write() {
        let bash = Help::new(BASH_MAN);
        let why = fits(&words(BRIEF), &bash).expect_err("--sudo on bash");
        assert!(
            why.contains(
                "has no --sudo: it is the bash nixos-rebuild (NixOS 25.05 and before), which takes \
                 --use-remote-sudo"
            ) && why.contains(
                "Write rebuild_command = \"nixos-rebuild switch --flake \
                 '/r/infra/hosts/server1#server1' --target-host deploy@server1 \
                 --use-remote-sudo\" with sudo = \"password\""
            ),
            "{why}"
        );
        let fixed = "nixos-rebuild switch --flake /r/infra/hosts/server1#server1 \
                     --target-host deploy@server1 --use-remote-sudo";
        assert_eq!(fits(&words(fixed), &bash), Ok(()));
        let elevate = fits(
            &words("nixos-rebuild switch --elevate sudo --target-host h"),
            &bash,
        )
        .expect_err("--elevate on bash");
        assert!(
            elevate.contains("\"nixos-rebuild switch --use-remote-sudo --target-host h\"")
                && !elevate.contains("sudo = \"password\""),
            "{elevate}"
        );
    }

    /// An ng from before `--elevate`: its spelling is refused with the one
    /// it has; the brief's line passes; a help that is not nixos-rebuild's
    /// refuses nothing.
    #[test]
    fn an_older_ng_gets_its_own_spelling() {
        let ng = Help::new(NG_HELP);
        assert_eq!(fits(&words(BRIEF), &ng), Ok(()));
        let why = fits(
            &words("nixos-rebuild switch --target-host h --elevate=sudo --ask-elevate-password"),
            &ng,
        )
        .expect_err("--elevate on an older ng");
        assert!(
            why.contains("has no --elevate (an older nixos-rebuild-ng)")
                && why.contains(
                    "\"nixos-rebuild switch --target-host h --sudo --ask-sudo-password\""
                ),
            "{why}"
        );
        assert_eq!(fits(&words(BRIEF), &Help::new("")), Ok(()));
    }
}
