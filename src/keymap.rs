//! The key table: every binding is data (action, keys, where it applies, what it
//! does). The footer hints and the help overlay are both read from it, and the
//! config's `[keys]` table overrides it, so what is shown is what works.

use crokey::KeyCombination;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Where a binding applies, and the mode a key is read in. `Global`
/// bindings work in every pane and in the help window; in a dialog or the
/// password prompt only that mode's own keys work (the rest is text or
/// nothing), so what the footer shows there is all that acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Global,
    Hosts,
    Services,
    Flake,
    Log,
    /// A yes/no question.
    Dialog,
    /// The masked sudo password prompt: every other key is text.
    Password,
    /// The help window.
    Help,
    /// A question with choices (the deploy's action).
    Choice,
    /// Every pane (but not the help or a question).
    Panes,
    /// A list to pick from (past deploys).
    Pick,
    /// A line of text being typed (the log search): every other key is text.
    Input,
}

impl Scope {
    /// The modes a binding of this scope acts in.
    pub fn modes(self) -> &'static [Scope] {
        match self {
            Scope::Global => &[
                Scope::Hosts,
                Scope::Services,
                Scope::Flake,
                Scope::Log,
                Scope::Help,
                Scope::Pick,
            ],
            // Esc (cancel) also closes the help; Enter picks from a list.
            Scope::Dialog => &[Scope::Dialog, Scope::Help, Scope::Pick],
            Scope::Hosts => &[Scope::Hosts],
            Scope::Services => &[Scope::Services],
            Scope::Flake => &[Scope::Flake],
            Scope::Log => &[Scope::Log],
            Scope::Password => &[Scope::Password],
            Scope::Help => &[Scope::Help],
            Scope::Choice => &[Scope::Dialog],
            Scope::Panes => &[Scope::Hosts, Scope::Services, Scope::Flake, Scope::Log],
            Scope::Pick => &[Scope::Pick],
            Scope::Input => &[Scope::Input],
        }
    }

    /// Whether a binding of this scope acts in `mode`.
    pub fn acts_in(self, mode: Scope) -> bool {
        self.modes().contains(&mode)
    }

    /// Whether one key could mean two things in these two scopes.
    fn overlaps(self, other: Scope) -> bool {
        self.modes().iter().any(|m| other.acts_in(*m))
    }

    /// The heading of this scope's part of the help and the README.
    pub fn heading(self) -> &'static str {
        match self {
            Scope::Global => "Everywhere",
            Scope::Hosts => "Hosts pane",
            Scope::Services => "Services pane",
            Scope::Flake => "Flake pane",
            Scope::Log => "Log pane",
            Scope::Dialog => "Questions (yes / no)",
            Scope::Password => "Sudo password prompt",
            Scope::Help => "Help window",
            Scope::Choice => "Deploy question",
            Scope::Panes => "Every pane",
            Scope::Pick => "Past deploys",
            Scope::Input => "Search box",
        }
    }

    /// In the order the help lists them.
    pub const ALL: [Scope; 10] = [
        Scope::Global,
        Scope::Panes,
        Scope::Hosts,
        Scope::Services,
        Scope::Flake,
        Scope::Log,
        Scope::Dialog,
        Scope::Choice,
        Scope::Password,
        Scope::Input,
    ];
}

/// Everything a key can ask for. The update function decides what it means in
/// the current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Quit,
    Help,
    FocusNext,
    FocusPrev,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    NextHost,
    PrevHost,
    Follow,
    Confirm,
    Cancel,
    Refresh,
    Restart,
    Reload,
    Start,
    Stop,
    Journal,
    CloseJournal,
    UpdateLock,
    CommitLock,
    /// The selected self-referential input as a relative path (nix 2.26+).
    RelativeInput,
    ScrollLeft,
    ScrollRight,
    /// Enter on a host: its services.
    Open,
    WrapLog,
    PasswordSend,
    PasswordRemember,
    PasswordCancel,
    Deploy,
    /// In a question with choices (the deploy's action): the next one.
    NextChoice,
    PrevChoice,
    AddOverrides,
    /// The log pane: the selected host's deploy, or the activity log.
    ToggleDeployLog,
    /// Stop the selected host's running deploy (asks first).
    StopDeploy,
    /// The list of past deploys.
    History,
    /// Mark the selected host (d then deploys every marked host).
    Mark,
    Search,
    NextMatch,
    PrevMatch,
    SearchGo,
    SearchCancel,
    /// Answer a deploy that waits for a yes before activating.
    AnswerActivation,
    /// The log shown, whole, in $PAGER.
    Pager,
    /// The fix a deploy's diagnosis offers.
    Fix,
    /// Switch the host back to its previous generation (asks first).
    Rollback,
}

/// One row of the key table.
#[derive(Debug, Clone)]
pub struct Binding {
    pub action: Action,
    pub keys: Vec<KeyCombination>,
    pub scope: Scope,
    /// Short label for the footer; `None` keeps it out of the footer (still in help).
    pub hint: Option<&'static str>,
    pub description: &'static str,
}

/// Name used in the config's `[keys]` table, description, scope, footer label, default keys.
type Row = (
    Action,
    &'static str,
    Scope,
    Option<&'static str>,
    &'static str,
    &'static [&'static str],
);

#[rustfmt::skip]
const DEFAULTS: &[Row] = &[
    (Action::Quit, "quit", Scope::Global, Some("quit"), "Quit deploytui (asks first while a task runs)", &["q", "ctrl-c"]),
    (Action::Help, "help", Scope::Global, Some("help"), "Show or hide this help", &["?", "f1"]),
    (Action::FocusNext, "focus_next", Scope::Global, Some("pane"), "Move focus to the next pane", &["tab"]),
    (Action::FocusPrev, "focus_prev", Scope::Global, None, "Move focus to the previous pane", &["backtab"]),
    (Action::Up, "up", Scope::Global, Some("move"), "Move up (in the log and the help: scroll)", &["up", "k"]),
    (Action::Down, "down", Scope::Global, Some("move"), "Move down (in the log and the help: scroll)", &["down", "j"]),
    (Action::PageUp, "page_up", Scope::Global, None, "A page up", &["pageup", "ctrl-u"]),
    (Action::PageDown, "page_down", Scope::Global, None, "A page down", &["pagedown", "ctrl-d"]),
    (Action::Top, "top", Scope::Global, None, "The first row (in the log: the oldest line)", &["home", "g"]),
    (Action::Bottom, "bottom", Scope::Global, None, "The last row (in the log: the newest, following)", &["end", "shift-g"]),
    (Action::PrevHost, "prev_host", Scope::Global, Some("host"), "Select the previous host from any pane", &["["]),
    (Action::NextHost, "next_host", Scope::Global, Some("host"), "Select the next host from any pane", &["]"]),
    (Action::Refresh, "refresh", Scope::Global, Some("refresh"), "Probe every host now", &["shift-r"]),
    (Action::History, "history", Scope::Global, Some("history"), "Past deploys, newest first; Enter opens one's log in the log pane", &["shift-h"]),
    (Action::AnswerActivation, "activate", Scope::Panes, Some("activate?"), "Answer the selected host's deploy that waits for a yes (confirm_activation)", &["shift-a"]),
    (Action::StopDeploy, "stop_deploy", Scope::Panes, Some("stop deploy"), "Stop the selected host's running deploy (asks first)", &["esc"]),
    (Action::Open, "open", Scope::Hosts, Some("services"), "Show the selected host's services", &["enter"]),
    (Action::Rollback, "rollback", Scope::Hosts, Some("rollback"), "Switch the selected host back to its previous generation (shows both first)", &["b"]),
    (Action::Fix, "fix", Scope::Hosts, Some("fix"), "Apply the fix the selected host's last deploy's diagnosis offers (shows it first)", &["f"]),
    (Action::Mark, "mark", Scope::Hosts, Some("mark"), "Mark or unmark the selected host; d deploys every marked host", &["space"]),
    (Action::Deploy, "deploy", Scope::Hosts, Some("deploy"), "Deploy the selected host, or the marked ones: shows exactly what will run first", &["d"]),
    (Action::Restart, "restart", Scope::Services, Some("restart"), "Restart the selected service (asks first)", &["r"]),
    (Action::Reload, "reload", Scope::Services, Some("reload"), "Reload the selected service (asks first)", &["e"]),
    (Action::Start, "start", Scope::Services, Some("start"), "Start the selected service (asks first)", &["s"]),
    (Action::Stop, "stop", Scope::Services, Some("stop"), "Stop the selected service (asks first)", &["x"]),
    (Action::Journal, "journal", Scope::Services, Some("journal"), "Follow the selected service's journal in the log pane", &["l"]),
    (Action::UpdateLock, "update_lock", Scope::Flake, Some("update lock"), "Update the selected input in flake.lock (asks first)", &["u"]),
    (Action::CommitLock, "commit_lock", Scope::Flake, Some("commit"), "Commit what deploytui changed, those files alone: an updated flake.lock, a hash `f` wrote (asks first)", &["c"]),
    (Action::RelativeInput, "relative_input", Scope::Flake, Some("make relative"), "Make the selected self-referential input relative (path:../..; nix 2.26+): the permanent fix of a stale lock (shows the diff first)", &["p"]),
    (Action::Follow, "follow", Scope::Log, Some("follow"), "Follow new lines, or stop following", &["f"]),
    (Action::WrapLog, "wrap", Scope::Log, Some("wrap"), "Wrap long lines, or cut them and scroll sideways", &["w"]),
    (Action::ScrollLeft, "scroll_left", Scope::Log, Some("scroll"), "Scroll left", &["left"]),
    (Action::ScrollRight, "scroll_right", Scope::Log, Some("scroll"), "Scroll right, to read long lines", &["right"]),
    (Action::CloseJournal, "close_journal", Scope::Log, Some("activity log"), "Stop the journal and show the activity log", &["a"]),
    (Action::Search, "search", Scope::Log, Some("search"), "Search the log shown (plain text, any case)", &["/"]),
    (Action::NextMatch, "next_match", Scope::Log, Some("next match"), "The next older line that matches", &["n"]),
    (Action::PrevMatch, "prev_match", Scope::Log, None, "The next newer line that matches", &["shift-n"]),
    (Action::Pager, "pager", Scope::Log, Some("pager"), "Open the log shown, whole, in $PAGER (less -R if unset)", &["o"]),
    (Action::ToggleDeployLog, "deploy_log", Scope::Log, Some("deploy log"), "Show the selected host's deploy log, or the activity log", &["v"]),
    (Action::Confirm, "confirm", Scope::Dialog, Some("yes"), "Yes: do it", &["y", "enter"]),
    (Action::Cancel, "cancel", Scope::Dialog, Some("no"), "No: cancel (also closes the help)", &["esc", "n"]),
    (Action::NextChoice, "next_choice", Scope::Choice, Some("action"), "The next switch action (switch, boot, test, dry-activate)", &["tab", "right"]),
    (Action::PrevChoice, "prev_choice", Scope::Choice, None, "The previous switch action", &["backtab", "left"]),
    (Action::AddOverrides, "add_overrides", Scope::Choice, Some("override"), "Override the stale inputs it warns of with their local checkout, for this deploy", &["o"]),
    (Action::PasswordSend, "password_send", Scope::Password, Some("send"), "Send the password to sudo", &["enter"]),
    (Action::PasswordRemember, "password_remember", Scope::Password, Some("remember"), "Keep it in memory for this session, or not", &["tab"]),
    (Action::PasswordCancel, "password_cancel", Scope::Password, Some("cancel"), "Cancel (nothing runs)", &["esc"]),
    (Action::SearchGo, "search_go", Scope::Input, Some("search"), "Find the text, newest match first", &["enter"]),
    (Action::SearchCancel, "search_cancel", Scope::Input, Some("cancel"), "Close the search box", &["esc"]),
];

/// Looks up an action by its config name.
pub fn action_by_name(name: &str) -> Option<Action> {
    DEFAULTS.iter().find(|r| r.1 == name).map(|r| r.0)
}

/// All config names, for error messages.
pub fn action_names() -> Vec<&'static str> {
    DEFAULTS.iter().map(|r| r.1).collect()
}

/// Parses a key as written in the config ("q", "ctrl-c", "shift-tab", "R").
/// A lone capital letter means that letter with shift, as users write it.
pub fn parse_key(raw: &str) -> Result<KeyCombination, String> {
    let trimmed = raw.trim();
    let mut chars = trimmed.chars();
    let spelled = match (chars.next(), chars.next()) {
        (Some(c), None) if c.is_ascii_uppercase() => format!("shift-{}", c.to_ascii_lowercase()),
        _ => trimmed.to_string(),
    };
    let spelled = match spelled.to_ascii_lowercase().as_str() {
        "shift-tab" => "backtab".to_string(),
        _ => spelled,
    };
    let key = crokey::parse(&spelled).map_err(|e| e.to_string())?;
    if !key.is_ansi_compatible() {
        return Err(format!(
            "{raw:?} presses several keys at once, which terminals cannot report"
        ));
    }
    Ok(normalize(key.normalized()))
}

/// Terminals disagree on whether `?` arrives with SHIFT; for keys that are not
/// letters the modifier carries no meaning, so drop it on both sides.
/// BackTab is shift-tab by definition, whether or not SHIFT is reported.
fn normalize(mut key: KeyCombination) -> KeyCombination {
    match key.codes.iter().next() {
        Some(KeyCode::Char(c)) if !c.is_ascii_alphabetic() => {
            key.modifiers.remove(KeyModifiers::SHIFT)
        }
        Some(KeyCode::BackTab) => key.modifiers.insert(KeyModifiers::SHIFT),
        _ => {}
    }
    key
}

/// Short, readable name of a key for the footer and help ("q", "S-Tab", "↑").
pub fn display_key(key: &KeyCombination) -> String {
    let code = key.codes.iter().next().copied();
    let shift = key.modifiers.contains(KeyModifiers::SHIFT);
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let alt = key.modifiers.contains(KeyModifiers::ALT);
    let base = match code {
        Some(KeyCode::BackTab) => return "S-Tab".into(),
        Some(KeyCode::Up) => "↑".to_string(),
        Some(KeyCode::Down) => "↓".to_string(),
        Some(KeyCode::Left) => "←".to_string(),
        Some(KeyCode::Right) => "→".to_string(),
        Some(KeyCode::PageUp) => "PgUp".to_string(),
        Some(KeyCode::PageDown) => "PgDn".to_string(),
        Some(KeyCode::Tab) => "Tab".to_string(),
        Some(KeyCode::Char(c)) if shift && c.is_ascii_alphabetic() && !ctrl && !alt => {
            return c.to_ascii_uppercase().to_string()
        }
        _ => {
            return crokey::KeyCombinationFormat::default()
                .with_control("C-")
                .with_alt("M-")
                .with_shift("S-")
                .to_string(*key)
        }
    };
    let mut out = String::new();
    if ctrl {
        out.push_str("C-");
    }
    if alt {
        out.push_str("M-");
    }
    if shift {
        out.push_str("S-");
    }
    out + &base
}

/// The effective key table: defaults with the config's overrides applied.
#[derive(Debug, Clone)]
pub struct Keymap {
    bindings: Vec<Binding>,
}

impl Default for Keymap {
    fn default() -> Self {
        let bindings = DEFAULTS
            .iter()
            .map(|&(action, _, scope, hint, description, keys)| Binding {
                action,
                keys: keys
                    .iter()
                    .map(|k| parse_key(k).unwrap_or_else(|e| panic!("built-in key {k:?}: {e}")))
                    .collect(),
                scope,
                hint,
                description,
            })
            .collect();
        Keymap { bindings }
    }
}

impl Keymap {
    /// Replaces the keys of `action`. Keys that were bound to another action in
    /// an overlapping scope are taken away from it so one key never means two things.
    pub fn rebind(&mut self, action: Action, keys: Vec<KeyCombination>) {
        let Some(scope) = self
            .bindings
            .iter()
            .find(|b| b.action == action)
            .map(|b| b.scope)
        else {
            return;
        };
        for b in &mut self.bindings {
            if b.action != action && b.scope.overlaps(scope) {
                b.keys.retain(|k| !keys.contains(k));
            }
        }
        if let Some(b) = self.bindings.iter_mut().find(|b| b.action == action) {
            b.keys = keys;
        }
    }

    /// The action a key press means in `mode`.
    pub fn action_for(&self, event: &KeyEvent, mode: Scope) -> Option<Action> {
        let pressed = normalize(KeyCombination::from(*event));
        self.bindings
            .iter()
            .filter(|b| b.scope.acts_in(mode))
            .find(|b| b.keys.contains(&pressed))
            .map(|b| b.action)
    }

    /// The binding of one action.
    pub fn binding(&self, action: Action) -> Option<&Binding> {
        self.bindings.iter().find(|b| b.action == action)
    }

    pub fn bindings(&self) -> &[Binding] {
        &self.bindings
    }

    /// Footer hints for `mode`: each labelled binding that acts there and
    /// that `works` says does something now, with its first key.
    pub fn hints(
        &self,
        mode: Scope,
        works: impl Fn(Action) -> bool,
    ) -> Vec<(String, &'static str, Action)> {
        self.bindings
            .iter()
            .filter(|b| b.scope.acts_in(mode) && works(b.action))
            .filter_map(|b| Some((display_key(b.keys.first()?), b.hint?, b.action)))
            .collect()
    }

    /// The key reference as a Markdown table, for the README (a test keeps
    /// the README equal to it).
    pub fn markdown(&self) -> String {
        let mut out = String::from("| where | action | keys | what it does |\n|---|---|---|---|\n");
        for scope in Scope::ALL {
            for b in self.bindings.iter().filter(|b| b.scope == scope) {
                let name = DEFAULTS
                    .iter()
                    .find(|r| r.0 == b.action)
                    .map_or("?", |r| r.1);
                let keys: Vec<String> = b
                    .keys
                    .iter()
                    .map(|k| format!("`{}`", display_key(k).replace('|', "\\|")))
                    .collect();
                out.push_str(&format!(
                    "| {} | `{name}` | {} | {} |\n",
                    scope.heading(),
                    keys.join(" "),
                    b.description
                ));
            }
        }
        out
    }

    /// The keys of one action, for messages such as "press ? for help".
    pub fn keys_of(&self, action: Action) -> String {
        self.bindings
            .iter()
            .find(|b| b.action == action)
            .and_then(|b| b.keys.first())
            .map(display_key)
            .unwrap_or_else(|| "(unbound)".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    #[test]
    fn defaults_resolve() {
        let km = Keymap::default();
        assert_eq!(
            km.action_for(&press(KeyCode::Char('q'), KeyModifiers::NONE), Scope::Hosts),
            Some(Action::Quit)
        );
        assert_eq!(
            km.action_for(
                &press(KeyCode::Char('c'), KeyModifiers::CONTROL),
                Scope::Log
            ),
            Some(Action::Quit)
        );
        // Terminals send `?` both with and without SHIFT.
        for m in [KeyModifiers::NONE, KeyModifiers::SHIFT] {
            assert_eq!(
                km.action_for(&press(KeyCode::Char('?'), m), Scope::Hosts),
                Some(Action::Help)
            );
        }
        for m in [KeyModifiers::NONE, KeyModifiers::SHIFT] {
            assert_eq!(
                km.action_for(&press(KeyCode::BackTab, m), Scope::Hosts),
                Some(Action::FocusPrev)
            );
        }
        assert_eq!(
            km.action_for(
                &press(KeyCode::Char('G'), KeyModifiers::SHIFT),
                Scope::Hosts
            ),
            Some(Action::Bottom)
        );
        assert_eq!(
            km.action_for(&press(KeyCode::Char('r'), KeyModifiers::NONE), Scope::Hosts),
            None
        );
    }

    #[test]
    fn log_bindings_only_in_the_log_pane() {
        let km = Keymap::default();
        let f = press(KeyCode::Char('f'), KeyModifiers::NONE);
        assert_eq!(km.action_for(&f, Scope::Log), Some(Action::Follow));
        assert_eq!(km.action_for(&f, Scope::Services), None);
        // The same key means the diagnosis's fix in the hosts pane.
        assert_eq!(km.action_for(&f, Scope::Hosts), Some(Action::Fix));
    }

    #[test]
    fn rebinding_moves_a_key() {
        let mut km = Keymap::default();
        km.rebind(Action::Help, vec![parse_key("q").unwrap()]);
        let q = press(KeyCode::Char('q'), KeyModifiers::NONE);
        assert_eq!(km.action_for(&q, Scope::Hosts), Some(Action::Help));
        assert_eq!(km.keys_of(Action::Quit), "C-c", "quit keeps its other key");
    }

    #[test]
    fn parses_and_displays_keys() {
        assert_eq!(display_key(&parse_key("R").unwrap()), "R");
        assert_eq!(display_key(&parse_key("shift-tab").unwrap()), "S-Tab");
        assert_eq!(display_key(&parse_key("ctrl-c").unwrap()), "C-c");
        assert_eq!(display_key(&parse_key("?").unwrap()), "?");
        assert_eq!(display_key(&parse_key("up").unwrap()), "↑");
        assert_eq!(display_key(&parse_key("f1").unwrap()), "F1");
        assert!(parse_key("ctrl-").is_err());
        assert!(parse_key("bogus").is_err());
        assert!(
            parse_key("a-b").is_err(),
            "chords cannot be typed in a terminal"
        );
    }

    #[test]
    fn every_action_has_a_unique_config_name() {
        let names = action_names();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(names.len(), sorted.len());
        for n in names {
            assert!(action_by_name(n).is_some());
        }
    }
}
