//! What nixos-rebuild's words mean, pure: where its action is in a command
//! line, what an unfinished line it prints asks for, and which step a
//! line it prints says it has reached.

use crate::deploy::{StepKind, SwitchAction};

/// nixos-rebuild's actions; the four that deploy are `SwitchAction`s.
const ACTIONS: [&str; 13] = [
    "switch",
    "boot",
    "test",
    "dry-activate",
    "build",
    "dry-build",
    "dry-run",
    "edit",
    "repl",
    "build-vm",
    "build-vm-with-bootloader",
    "build-image",
    "list-generations",
];

/// Options of nixos-rebuild (and the nix options it passes on) that take
/// one value, then those that take two: their values are never the action.
const ONE_VALUE: [&str; 19] = [
    "--flake",
    // nixos-rebuild-ng's newer `--elevate sudo|doas|run0|none`.
    "--elevate",
    "--target-host",
    "--build-host",
    "--profile-name",
    "-p",
    "--specialisation",
    "-c",
    "--file",
    "-f",
    "--attr",
    "-A",
    "--image-variant",
    "-I",
    "--include",
    "--max-jobs",
    "-j",
    "--cores",
    "--builders",
];
const TWO_VALUES: [&str; 4] = ["--option", "--override-input", "--arg", "--argstr"];

/// Where the action word is in a nixos-rebuild command line, and which
/// action it is; or why the line cannot deploy.
pub fn action_of(words: &[String]) -> Result<(usize, SwitchAction), String> {
    let mut i = 1;
    while i < words.len() {
        let word = words[i].as_str();
        if ONE_VALUE.contains(&word) {
            i += 2;
            continue;
        }
        if TWO_VALUES.contains(&word) {
            i += 3;
            continue;
        }
        if ACTIONS.contains(&word) {
            return SwitchAction::ALL
                .into_iter()
                .find(|a| a.as_str() == word)
                .map(|a| (i, a))
                .ok_or_else(|| {
                    format!(
                        "its action is `{word}`, which does not deploy; \
                         use switch, boot, test or dry-activate"
                    )
                });
        }
        i += 1;
    }
    Err("names no action; give one of switch, boot, test or dry-activate".into())
}

/// The value of `option` (`--target-host`, …) in a command line, if given.
pub fn option_value<'a>(words: &'a [String], option: &str) -> Option<&'a str> {
    words
        .iter()
        .position(|w| w == option)
        .and_then(|i| words.get(i + 1))
        .map(String::as_str)
}

/// What an unfinished line (a prompt waits for an answer after it) asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    /// sudo's or nixos-rebuild's `[sudo] password for …:`: the sudo password.
    Sudo,
    /// ssh's `user@host's password:`: a login password, never the sudo one.
    Login,
    /// ssh's `Enter passphrase for key …:`.
    Passphrase,
}

/// The prompt an unfinished line is, if it is one.
pub fn prompt_in(tail: &str) -> Option<Prompt> {
    let text = crate::text::clean(tail);
    let text = text.trim_end();
    if !text.ends_with(':') {
        return None;
    }
    let lower = text.to_lowercase();
    if lower.contains("passphrase") {
        Some(Prompt::Passphrase)
    } else if lower.contains("'s password") {
        Some(Prompt::Login)
    } else if lower.contains("password") {
        Some(Prompt::Sudo)
    } else {
        None
    }
}

/// The step a line of nixos-rebuild's output says it has reached, if any:
/// the copy (nix-copy-closure's words) or the activation
/// (switch-to-configuration's). The build is where it starts.
pub fn step_of_line(line: &str) -> Option<StepKind> {
    let line = line.trim_start();
    const ACTIVATING: [&str; 18] = [
        "activating the configuration",
        "restarting sysinit-reactivation.target",
        "would NOT stop the following",
        "would reload the following units",
        "Not checking switch inhibitors",
        "stopping the following units",
        "NOT restarting the following",
        "restarting the following units",
        "reloading the following units",
        "starting the following units",
        "the following new units were started",
        "would stop the following units",
        "would start the following units",
        "would restart the following units",
        "would activate the configuration",
        "setting up /etc",
        "updating GRUB",
        "Checking switch inhibitors",
    ];
    if ACTIVATING.iter().any(|p| line.starts_with(p)) {
        Some(StepKind::Activate)
    } else if line.starts_with("copying ")
        && (line.contains(" paths") || line.contains(" path '") || line.contains("closure"))
    {
        Some(StepKind::Copy)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        shlex::split(line).unwrap()
    }

    #[test]
    fn the_action_is_found_past_option_values() {
        let brief = words("nixos-rebuild switch --flake /r/infra/hosts/server1#server1 --target-host user@server1 --sudo --ask-sudo-password");
        assert_eq!(action_of(&brief), Ok((1, SwitchAction::Switch)));
        // Values that look like actions are values, not the action.
        let tricky =
            words("nixos-rebuild --target-host test --override-input boot x --flake .#h boot");
        assert_eq!(action_of(&tricky), Ok((8, SwitchAction::Boot)));
        let e = action_of(&words("nixos-rebuild build --flake .#h")).unwrap_err();
        assert!(e.contains("`build`, which does not deploy"), "{e}");
        let e = action_of(&words("nixos-rebuild --flake .#h")).unwrap_err();
        assert!(e.contains("names no action"), "{e}");
        assert_eq!(option_value(&brief, "--target-host"), Some("user@server1"));
        assert_eq!(option_value(&brief, "--build-host"), None);
    }

    #[test]
    fn prompts_are_told_apart() {
        assert_eq!(
            prompt_in("[sudo] password for user@server1: "),
            Some(Prompt::Sudo)
        );
        assert_eq!(prompt_in("[sudo] password for deploy:"), Some(Prompt::Sudo));
        // nixos-rebuild-ng's `[NAME] password for …:` and sudo-rs's own.
        assert_eq!(
            prompt_in("[deploy] password for deploy@server1: "),
            Some(Prompt::Sudo)
        );
        assert_eq!(
            prompt_in("[sudo: authenticate] Password: "),
            Some(Prompt::Sudo)
        );
        assert_eq!(prompt_in("Password: "), Some(Prompt::Sudo));
        assert_eq!(
            prompt_in("deploy@server1's password: "),
            Some(Prompt::Login)
        );
        assert_eq!(
            prompt_in("Enter passphrase for key '/root/.ssh/id_ed25519': "),
            Some(Prompt::Passphrase)
        );
        assert_eq!(prompt_in("building the system configuration..."), None);
        assert_eq!(prompt_in("checking password strength"), None);
    }

    #[test]
    fn lines_move_the_steps_on() {
        assert_eq!(step_of_line("copying 3 paths..."), Some(StepKind::Copy));
        assert_eq!(
            step_of_line("copying path '/nix/store/abc-x' to 'ssh://deploy@server1'..."),
            Some(StepKind::Copy)
        );
        assert_eq!(
            step_of_line("stopping the following units: nginx.service"),
            Some(StepKind::Activate)
        );
        assert_eq!(
            step_of_line("activating the configuration..."),
            Some(StepKind::Activate)
        );
        assert_eq!(step_of_line("building the system configuration..."), None);
        assert_eq!(step_of_line("copying the file"), None);
    }
}
