//! Dialogs: confirmations and the masked sudo password prompt.

use ratatui::prelude::*;
use ratatui::widgets::{Block, BorderType, Clear, Paragraph, Wrap};

use super::{centered, Theme};
use crate::app::{FileCommit, LockUpdate, PasswordPrompt, PendingAction, State};
use crate::keymap::Action;

fn frame_dialog(
    frame: &mut Frame,
    area: Rect,
    theme: &Theme,
    title: String,
    lines: Vec<Line>,
    style: Style,
) {
    // As wide as the longest line needs (commands are already broken to
    // fit `dialog_width`), as tall as the wrapped text is.
    let widest = lines.iter().map(Line::width).max().unwrap_or(0);
    let width = u16::try_from(widest + 2)
        .unwrap_or(u16::MAX)
        .clamp(40, dialog_width(area));
    let paragraph = Paragraph::new(lines).wrap(Wrap { trim: false });
    let rows = paragraph.line_count(width.saturating_sub(2));
    let height = u16::try_from(rows + 2).unwrap_or(u16::MAX);
    let rect = centered(area, width, height);
    frame.render_widget(Clear, rect);
    let block = Block::bordered()
        .border_type(BorderType::Double)
        .border_style(style)
        .title(Span::styled(title, theme.title));
    frame.render_widget(paragraph.block(block), rect);
}

/// The widest a dialog gets on this screen: room to read a command whole.
fn dialog_width(area: Rect) -> u16 {
    area.width.saturating_sub(4).min(110)
}

/// A command as shell lines that fit `width`: broken between words, with
/// ` \` at each break so it still pastes into a shell. A word longer than
/// a line (a store path, a flake reference) goes on lines of its own,
/// broken after a `/`, `#`, `.` or `=` where one is near the edge (as one
/// reads a path), never in the middle of a name if that can be helped.
pub fn command_lines(argv: &[String], width: usize) -> Vec<String> {
    let words: Vec<String> = argv
        .iter()
        .map(|w| shlex::try_quote(w).map_or_else(|_| w.clone(), std::borrow::Cow::into_owned))
        .collect();
    let indent = "  ";
    let more = "    ";
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::from(indent);
    for word in words {
        let fresh = line.trim().is_empty();
        // Room for the word and, after it, the ` \` of a break.
        if !fresh && line.chars().count() + 1 + word.chars().count() + 2 > width {
            line.push_str(" \\");
            lines.push(std::mem::replace(&mut line, String::from(more)));
        } else if !fresh {
            line.push(' ');
        }
        let room = width.saturating_sub(line.chars().count() + 2).max(8);
        let mut pieces = split_long_word(&word, room, width.saturating_sub(more.len() + 2).max(8));
        let last = pieces.pop().unwrap_or_default();
        for piece in pieces {
            line.push_str(&piece);
            lines.push(std::mem::replace(&mut line, String::from(more)));
        }
        line.push_str(&last);
    }
    lines.push(line);
    lines
}

/// `word` in pieces: the first at most `first` characters, the others at
/// most `rest`, each ending after a path separator when one is in the last
/// third of the room.
fn split_long_word(word: &str, first: usize, rest: usize) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut left: Vec<char> = word.chars().collect();
    let mut room = first;
    while left.len() > room {
        let cut = (room * 2 / 3..room)
            .rev()
            .find(|&i| matches!(left[i - 1], '/' | '#' | '.' | '='))
            .unwrap_or(room);
        pieces.push(left.drain(..cut).collect());
        room = rest;
    }
    pieces.push(left.into_iter().collect());
    pieces
}

fn command(argv: &[String], area: Rect, theme: &Theme) -> Vec<Line<'static>> {
    let width = usize::from(dialog_width(area).saturating_sub(2));
    command_lines(argv, width)
        .into_iter()
        .map(|l| Line::styled(l, theme.key))
        .collect()
}

/// A question: its lines, a blank line, its answers, framed.
fn ask(
    frame: &mut Frame,
    area: Rect,
    state: &State,
    theme: &Theme,
    title: String,
    mut lines: Vec<Line>,
) {
    lines.push(Line::raw(""));
    lines.push(answer_keys(state, theme));
    frame_dialog(frame, area, theme, title, lines, theme.warn);
}

/// The question's answers, worded as the footer words them.
fn answer_keys(state: &State, theme: &Theme) -> Line<'static> {
    let (yes, no) = crate::app::modes::answers(state);
    let km = &state.config.keymap;
    Line::from(vec![
        Span::styled(km.keys_of(Action::Confirm), theme.key),
        Span::raw(format!(" {yes}   ")),
        Span::styled(km.keys_of(Action::Cancel), theme.key),
        Span::raw(format!(" {no}")),
    ])
}

pub fn confirm_quit(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let mut lines = vec![Line::raw(format!(
        "{} still running:",
        crate::text::count(state.jobs.len() as u64, "task", "tasks")
    ))];
    lines.extend(
        state
            .jobs
            .values()
            .map(|j| Line::raw(format!("  {}: {}", j.host, j.what))),
    );
    lines.push(Line::raw(""));
    lines.push(Line::raw(
        "deploytui quits by itself when they end, and prints how each deploy ended. Quitting now stops following them; remote commands may go on.",
    ));
    lines.push(answer_keys(state, theme));
    frame_dialog(
        frame,
        area,
        theme,
        " Quit deploytui? ".into(),
        lines,
        theme.warn,
    );
}

pub fn confirm_action(
    frame: &mut Frame,
    area: Rect,
    state: &State,
    theme: &Theme,
    p: &PendingAction,
) {
    let host = state.hosts.get(p.host).map_or("?", |h| h.name.as_str());
    let argv = shlex::split(&p.command).unwrap_or_else(|| vec![p.command.clone()]);
    let mut lines = vec![
        Line::from(vec![
            Span::raw(format!("{} ", capitalise(p.action.verb()))),
            Span::styled(p.unit.clone(), theme.title),
            Span::raw(" on "),
            Span::styled(host.to_string(), theme.title),
            Span::raw("? It runs:"),
        ]),
        Line::raw(""),
    ];
    lines.extend(command(&argv, area, theme));
    let title = format!(" {} a service ", capitalise(p.action.verb()));
    ask(frame, area, state, theme, title, lines);
}

pub fn password(
    frame: &mut Frame,
    area: Rect,
    state: &State,
    theme: &Theme,
    prompt: &PasswordPrompt,
) {
    let host = state.hosts.get(prompt.pending.host());
    let host_name = host.map_or("?", |h| h.name.as_str());
    let target = host.map_or("?", |h| h.target.as_str());
    let mut lines = vec![Line::raw(format!(
        "sudo password for {target} ({host_name}), to {}:",
        prompt.pending.what()
    ))];
    if let Some(error) = &prompt.error {
        lines.push(Line::styled(error.clone(), theme.error));
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled("password:", theme.title)); // the input follows the label
    lines.push(Line::raw(""));
    let km = &state.config.keymap;
    lines.push(Line::from(vec![
        Span::styled(km.keys_of(Action::PasswordRemember), theme.key),
        Span::raw(format!(
            " [{}] remember for this session (in memory only)",
            if prompt.remember { "x" } else { " " }
        )),
    ]));
    lines.push(Line::from(vec![
        Span::styled(km.keys_of(Action::PasswordSend), theme.key),
        Span::raw(" send   "),
        Span::styled(km.keys_of(Action::PasswordCancel), theme.key),
        Span::raw(" cancel"),
    ]));
    let input_row = lines.len() - 4;
    let width = 72.min(area.width);
    let height = u16::try_from(lines.len() + 2).unwrap_or(u16::MAX);
    let rect = centered(area, width, height);
    frame.render_widget(Clear, rect);
    let block = Block::bordered()
        .border_type(BorderType::Double)
        .border_style(theme.focused_border)
        .title(Span::styled(" sudo password ", theme.title));
    let inner = block.inner(rect);
    frame.render_widget(Paragraph::new(lines).block(block), rect);
    let input_area = Rect::new(
        inner.x + 11,
        inner.y + u16::try_from(input_row).unwrap_or(0),
        inner.width.saturating_sub(12),
        1,
    );
    frame.render_widget(&prompt.input, input_area);
}

fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// The uncommitted files of the repository holding `host`'s flake, said
/// short (`app/index.html, +2 more`), when there are any.
fn dirty_files(state: &State, host: usize) -> Option<String> {
    dirty_besides(state, host, &[])
}

/// The repository's uncommitted files but `these` (paths as git names them
/// or longer), shortly.
fn dirty_besides(state: &State, host: usize, these: &[std::path::PathBuf]) -> Option<String> {
    let crate::app::FlakeStatus::Checked(report) = &state.hosts.get(host)?.flake else {
        return None;
    };
    let others: Vec<&String> = report
        .dirty
        .iter()
        .filter(|d| !these.iter().any(|f| f.ends_with(d.as_str())))
        .collect();
    let (first, rest) = others.split_first()?;
    Some(match rest.len() {
        0 => crate::text::quote(first),
        n => format!("{}, +{n} more", crate::text::quote(first)),
    })
}

pub fn confirm_lock_update(
    frame: &mut Frame,
    area: Rect,
    state: &State,
    theme: &Theme,
    u: &LockUpdate,
) {
    let mut lines = Vec::new();
    if let Some(r) = &u.rewrite {
        // The permanent fix: the input read from this repository's own tree.
        lines.push(Line::from(vec![
            Span::raw("Make "),
            Span::styled(u.input.clone(), theme.title),
            Span::raw(
                " relative (nix 2.26+)? It then follows this repository and never goes stale.",
            ),
        ]));
        lines.push(Line::raw(""));
        lines.push(Line::styled(r.site.place(), theme.title));
        lines.push(Line::styled(
            format!("- {}", r.site.old.trim()),
            theme.error,
        ));
        lines.push(Line::styled(format!("+ {}", r.site.new.trim()), theme.ok));
        lines.push(Line::raw(""));
        lines.push(Line::raw("Then the lock is updated here:"));
    } else {
        lines.push(Line::from(vec![
            Span::raw("Update "),
            Span::styled(u.input.clone(), theme.title),
            Span::raw(" in flake.lock? It runs here:"),
        ]));
        lines.push(Line::raw(""));
    }
    lines.extend(command(&u.argv, area, theme));
    lines.push(Line::raw(""));
    if let Some(dirty) = dirty_files(state, u.host) {
        lines.push(Line::styled(
            format!(
                "⚠ The repository has uncommitted changes ({dirty}): the lock will pin the \
                 working tree as it is, with no commit to compare or deploy by. Commit them first."
            ),
            theme.warn,
        ));
        lines.push(Line::raw(""));
    }
    lines.push(Line::raw(if u.rewrite.is_some() {
        "Only that line and the lock change; nothing is committed until you say so."
    } else {
        "The lock file changes; nothing is committed until you say so."
    }));
    lines.push(answer_keys(state, theme));
    frame_dialog(
        frame,
        area,
        theme,
        " Update flake.lock ".into(),
        lines,
        theme.warn,
    );
}

pub fn confirm_lock_commit(
    frame: &mut Frame,
    area: Rect,
    state: &State,
    theme: &Theme,
    c: &FileCommit,
) {
    let mut lines = vec![
        Line::raw(format!("Commit {} alone? It runs here:", c.names())),
        Line::raw(""),
    ];
    let argv = c.argv();
    lines.extend(command(&argv, area, theme));
    lines.push(Line::raw(""));
    if let Some(dirty) = dirty_besides(state, state.selected_host, &c.files) {
        let why = if c.then_deploy.is_some() {
            "the deploy after it still builds a dirty tree, whose system names no commit"
        } else {
            "a lock taken from a dirty tree pins it with no rev. Commit them, then update \
             the lock again"
        };
        lines.push(Line::styled(
            format!("⚠ Other changes are not committed ({dirty}): {why}."),
            theme.warn,
        ));
        lines.push(Line::raw(""));
    }
    if c.then_deploy.is_some() {
        lines.push(Line::raw("Then the deploy is offered again, either way."));
        lines.push(Line::raw(""));
    }
    lines.push(answer_keys(state, theme));
    frame_dialog(frame, area, theme, " Commit ".into(), lines, theme.warn);
}

/// The deploy question: every command the deploy runs, in order, where
/// it runs, and the action (which Tab changes). Several hosts: the first in
/// full, the others by what differs (their flake attribute and target).
pub fn deploy_preview(
    frame: &mut Frame,
    area: Rect,
    state: &State,
    theme: &Theme,
    plans: &[crate::deploy::Plan],
) {
    let Some(plan) = plans.first() else {
        return;
    };
    let km = &state.config.keymap;
    let sudo = |p: &crate::deploy::Plan| match p.sudo {
        crate::config::SudoMode::None => "as the login user",
        crate::config::SudoMode::Nopasswd => "sudo, no password",
        crate::config::SudoMode::Password => "sudo with a password",
    };
    let mut actions = vec![Span::raw("Action: ")];
    for a in crate::deploy::SwitchAction::ALL {
        if a == plan.action {
            actions.push(Span::styled(format!("[{}]", a.as_str()), theme.title));
        } else {
            actions.push(Span::styled(format!(" {} ", a.as_str()), theme.dim));
        }
        actions.push(Span::raw(" "));
    }
    actions.push(Span::styled(km.keys_of(Action::NextChoice), theme.key));
    actions.push(Span::raw(" changes it"));
    let mut lines = vec![Line::raw(format!(
        "Engine {} · target {} · {}",
        plan.engine.name(),
        plan.target,
        sudo(plan)
    ))];
    // Said before, not after: an input this deploy builds stale.
    for p in plans.iter().filter(|p| p.rollback.is_none()) {
        let can_override = state.overridable(p);
        if let Some(crate::app::FlakeStatus::Checked(report)) =
            state.hosts.get(p.host).map(|h| &h.flake)
        {
            for input in report
                .problems()
                .filter(|i| !p.overrides.iter().any(|(o, _)| *o == i.locked.path))
            {
                let how = if can_override.iter().any(|(o, _)| *o == input.locked.path) {
                    format!(
                        "{} overrides it for this deploy",
                        km.keys_of(Action::AddOverrides)
                    )
                } else {
                    "override_inputs".to_string()
                };
                lines.push(Line::styled(
                    format!(
                        "⚠ {}: input {} is {} and not overridden: this builds the locked {} ({how})",
                        p.host_name,
                        input.locked.path,
                        crate::nix::check::summary(input, false),
                        input
                            .locked
                            .rev
                            .as_deref()
                            .map_or("rev", crate::nix::check::short_rev)
                    ),
                    theme.warn,
                ));
            }
        }
    }
    if let Some(r) = &plan.rollback {
        let generation = |g: &crate::deploy::generations::Generation| {
            Line::raw(format!("  generation {}: {}", g.number, g.path))
        };
        lines.push(Line::styled("Roll back, from", theme.title));
        lines.push(generation(&r.from));
        lines.push(Line::styled("to", theme.title));
        lines.push(generation(&r.to));
    }
    if plans.len() > 1 {
        lines.push(Line::raw(format!(
            "{} hosts, at most {} at once (parallel); each its own steps and log.",
            plans.len(),
            state.config.parallel
        )));
    }
    lines.push(Line::from(actions));
    for c in plan.commands() {
        lines.push(Line::raw(""));
        lines.push(Line::styled(
            format!("{} ({}):", c.label, c.place),
            theme.title,
        ));
        lines.extend(command(&c.argv, area, theme));
    }
    for other in &plans[1..] {
        lines.push(Line::raw(""));
        lines.push(Line::from(vec![
            Span::styled(format!("{}: ", other.host_name), theme.title),
            Span::raw(format!(
                "the same steps for {} on {} ({})",
                other.installable,
                other.target,
                sudo(other)
            )),
        ]));
    }
    let names: Vec<&str> = plans.iter().map(|p| p.host_name.as_str()).collect();
    let verb = if plan.rollback.is_some() {
        "Roll back"
    } else {
        "Deploy"
    };
    ask(
        frame,
        area,
        state,
        theme,
        format!(" {verb} {} ", names.join(", ")),
        lines,
    );
}

/// "Stop this deploy?": where it is, and what stopping does and does not undo.
pub fn confirm_stop_deploy(
    frame: &mut Frame,
    area: Rect,
    state: &State,
    theme: &Theme,
    host: usize,
) {
    let Some(d) = state.deploys.get(&host) else {
        return;
    };
    let lines = vec![
        Line::raw(format!("{} is at: {}", d.plan.host_name, d.verdict())),
        Line::raw(""),
        Line::raw("Stopping ends the build or copy here (nix and every builder it started)."),
        Line::raw(
            "A step already running on the host (profile, activation) may still finish there: \
             the log says which, and the host is probed again.",
        ),
    ];
    ask(
        frame,
        area,
        state,
        theme,
        " Stop the deploy? ".into(),
        lines,
    );
}

/// The kept deploys, newest first, the selected one highlighted.
pub fn history(
    frame: &mut Frame,
    area: Rect,
    theme: &Theme,
    records: &[crate::deploy::history::Record],
    cursor: usize,
) {
    use ratatui::widgets::{List, ListItem, ListState};
    let above = Rect::new(area.x, area.y, area.width, area.height.saturating_sub(2));
    let rect = centered(
        above,
        area.width.saturating_sub(4).min(110),
        u16::try_from(records.len() + 2).unwrap_or(u16::MAX),
    );
    // Borders and the highlight mark take four columns; a longer row ends
    // in `…`, so a cut is seen as one.
    let width = usize::from(rect.width.saturating_sub(4));
    let items: Vec<ListItem> = records
        .iter()
        .map(|r| {
            let style = match r.ok {
                Some(true) => theme.ok,
                Some(false) => theme.error,
                None => theme.warn,
            };
            ListItem::new(Line::styled(super::fit(&r.line(), width), style))
        })
        .collect();
    frame.render_widget(Clear, rect);
    let block = Block::bordered()
        .border_type(BorderType::Double)
        .border_style(theme.focused_border)
        .title(Span::styled(
            format!(" Past deploys ({}) ", records.len()),
            theme.title,
        ));
    let mut list_state = ListState::default().with_selected(Some(cursor));
    frame.render_stateful_widget(
        List::new(items)
            .block(block)
            .highlight_style(theme.selected)
            .highlight_symbol("▶ "),
        rect,
        &mut list_state,
    );
}

/// The search box, over the bottom of the log pane.
pub fn search(
    frame: &mut Frame,
    area: Rect,
    theme: &Theme,
    input: &tui_textarea::TextArea<'static>,
) {
    let width = area.width.saturating_sub(4).min(80);
    let rect = Rect::new(
        area.x + (area.width - width) / 2,
        area.bottom().saturating_sub(5),
        width,
        3,
    );
    frame.render_widget(Clear, rect);
    let block = Block::bordered()
        .border_type(BorderType::Double)
        .border_style(theme.focused_border)
        .title(Span::styled(" Search the log ", theme.title));
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    frame.render_widget(input, inner);
}

/// "Activate it?": what the new system changes on the host, before it does.
pub fn confirm_activation(
    frame: &mut Frame,
    area: Rect,
    state: &State,
    theme: &Theme,
    host: usize,
) {
    let Some(d) = state.deploys.get(&host) else {
        return;
    };
    let changes = d
        .steps
        .iter()
        .find(|s| s.kind == crate::deploy::StepKind::Changes)
        .map(|s| match &s.state {
            crate::deploy::StepState::Done(what) => what.clone(),
            _ => "not known".into(),
        })
        .unwrap_or_default();
    let lines = vec![
        Line::raw(format!(
            "{} is built and copied; nothing has changed on the host yet.",
            d.plan.host_name
        )),
        Line::raw(""),
        Line::from(vec![
            Span::styled("Changes: ", theme.title),
            Span::raw(changes),
        ]),
        Line::raw("(every new store path and version is in the deploy's log)"),
        Line::raw(""),
        Line::raw(format!(
            "Activate it ({})? No stops the deploy here.",
            d.plan.action.as_str()
        )),
    ];
    ask(frame, area, state, theme, " Activate? ".into(), lines);
}

/// "Write the new hash?": the exact diff of the chosen place, the other
/// places when there are several (Tab changes it), and what is not touched.
pub fn hash_fix(
    frame: &mut Frame,
    area: Rect,
    state: &State,
    theme: &Theme,
    fix: &crate::app::HashFix,
) {
    let Some(site) = fix.sites.get(fix.chosen) else {
        return;
    };
    let first = if fix.learn.is_some() {
        "To learn the right hash, deploytui blanks it here (this diff) and builds the host's \
         system: nix then says the hash it gets, and that diff is shown before it is written."
    } else if fix.restore.is_some() {
        "nix built it with the blank hash and gave this one. Cancelling puts the old hash back."
    } else {
        "The build failed on a fixed-output hash: the one pinned here is stale."
    };
    let mut lines = vec![Line::raw(first)];
    if fix.sites.len() > 1 {
        lines.push(Line::raw(""));
        lines.push(Line::from(vec![
            Span::raw(format!("It is in {} places; ", fix.sites.len())),
            Span::styled(state.config.keymap.keys_of(Action::NextChoice), theme.key),
            Span::raw(" picks another:"),
        ]));
        for (i, s) in fix.sites.iter().enumerate() {
            let style = if i == fix.chosen {
                theme.selected
            } else {
                theme.dim
            };
            lines.push(Line::styled(format!("  {}", s.place()), style));
        }
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled(site.place(), theme.title));
    lines.push(Line::styled(format!("- {}", site.old.trim()), theme.error));
    lines.push(Line::styled(format!("+ {}", site.new.trim()), theme.ok));
    lines.push(Line::raw(""));
    lines.push(Line::raw(format!(
        "Only this line changes, in {} (nothing outside it is written). Then the deploy is offered again.",
        fix.repo.display()
    )));
    ask(
        frame,
        area,
        state,
        theme,
        if fix.learn.is_some() {
            " Learn the right hash? ".into()
        } else {
            " Write the new hash? ".into()
        },
        lines,
    );
}

/// "Which unit's journal?": the units a card named, the chosen one
/// highlighted (Tab changes it).
pub fn pick_journal(
    frame: &mut Frame,
    area: Rect,
    state: &State,
    theme: &Theme,
    units: &[String],
    chosen: usize,
) {
    let mut lines = vec![Line::from(vec![
        Span::raw("Follow the journal of ("),
        Span::styled(state.config.keymap.keys_of(Action::NextChoice), theme.key),
        Span::raw(" picks another):"),
    ])];
    for (i, unit) in units.iter().enumerate() {
        let style = if i == chosen {
            theme.selected
        } else {
            theme.dim
        };
        lines.push(Line::styled(format!("  {unit}"), style));
    }
    ask(frame, area, state, theme, " Which journal? ".into(), lines);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_break_between_words_and_still_paste() {
        let argv: Vec<String> = [
            "nix",
            "--extra-experimental-features",
            "nix-command flakes",
            "flake",
            "lock",
            "--update-input",
            "monorepo",
            "/srv/a-rather-long/monorepo/infra/hosts/server1",
        ]
        .map(String::from)
        .to_vec();
        let lines = command_lines(&argv, 50);
        assert!(lines.len() > 1, "{lines:?}");
        for (i, line) in lines.iter().enumerate() {
            assert!(line.chars().count() <= 50, "{line:?}");
            // Each line ends in ` \` but the last, or inside a long word.
            let inside_a_word = line.ends_with('/');
            assert_eq!(
                line.ends_with(" \\") || inside_a_word,
                i + 1 < lines.len(),
                "{lines:?}"
            );
        }
        // Joined back as a shell would read them: the same words.
        let mut joined = String::new();
        for line in &lines {
            joined.push_str(line.trim_start());
            if let Some(word_break) = joined.strip_suffix(" \\") {
                joined = format!("{word_break} ");
            }
        }
        assert_eq!(shlex::split(&joined), Some(argv.clone()));
        // A word longer than the line: broken after a `/` near the edge,
        // never past it, every piece in order.
        let path = "/tmp/dtfleet-fUNT3k/monorepo/infra/hosts/server1#nixosConfigurations.server1.config.system.build.toplevel";
        let long = vec!["nix".to_string(), "build".into(), path.to_string()];
        let lines = command_lines(&long, 50);
        assert!(lines.iter().all(|l| l.chars().count() <= 50), "{lines:#?}");
        assert!(lines[1].trim_end().ends_with('/'), "{lines:#?}");
        let rejoined: String = lines[1..].iter().map(|l| l.trim()).collect();
        assert_eq!(rejoined, format!("'{path}'"), "{lines:#?}");
    }
}
