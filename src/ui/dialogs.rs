//! Dialogs: confirmations and the masked sudo password prompt.

use ratatui::prelude::*;
use ratatui::widgets::{Block, BorderType, Clear, Paragraph, Wrap};

use super::{centered, Theme};
use crate::app::{LockCommit, LockUpdate, PasswordPrompt, PendingAction, State};
use crate::keymap::Action;

fn frame_dialog(
    frame: &mut Frame,
    area: Rect,
    theme: &Theme,
    title: String,
    lines: Vec<Line>,
    style: Style,
) {
    let width = 72.min(area.width);
    // Wrapped lines need more rows than lines; a rough count is enough.
    let rows: usize = lines
        .iter()
        .map(|l| l.width() / usize::from(width.saturating_sub(2).max(1)) + 1)
        .sum();
    let height = u16::try_from(rows + 2).unwrap_or(u16::MAX);
    let rect = centered(area, width, height);
    frame.render_widget(Clear, rect);
    let block = Block::bordered()
        .border_type(BorderType::Double)
        .border_style(style)
        .title(Span::styled(title, theme.title));
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block),
        rect,
    );
}

fn answer_keys(state: &State, theme: &Theme, yes: &str, no: &str) -> Line<'static> {
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
        "{} task(s) still running:",
        state.jobs.len()
    ))];
    lines.extend(
        state
            .jobs
            .values()
            .map(|j| Line::raw(format!("  {}: {}", j.host, j.what))),
    );
    lines.push(Line::raw(""));
    lines.push(Line::raw(
        "Quitting stops following them; remote commands may go on.",
    ));
    lines.push(answer_keys(state, theme, "quit", "keep running"));
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
    let lines = vec![
        Line::from(vec![
            Span::raw(format!("{} ", capitalise(p.action.verb()))),
            Span::styled(p.unit.clone(), theme.title),
            Span::raw(" on "),
            Span::styled(host.to_string(), theme.title),
            Span::raw("? It runs:"),
        ]),
        Line::raw(""),
        Line::styled(format!("  {}", p.command), theme.key),
        Line::raw(""),
        answer_keys(state, theme, p.action.verb(), "cancel"),
    ];
    frame_dialog(
        frame,
        area,
        theme,
        format!(" {} a service ", capitalise(p.action.verb())),
        lines,
        theme.warn,
    );
}

pub fn password(
    frame: &mut Frame,
    area: Rect,
    state: &State,
    theme: &Theme,
    prompt: &PasswordPrompt,
) {
    let host = state.hosts.get(prompt.pending.host);
    let host_name = host.map_or("?", |h| h.name.as_str());
    let target = host.map_or("?", |h| h.target.as_str());
    let mut lines = vec![Line::raw(format!(
        "sudo password for {target} ({host_name}), to {} {}:",
        prompt.pending.action.verb(),
        prompt.pending.unit
    ))];
    if let Some(error) = &prompt.error {
        lines.push(Line::styled(error.clone(), theme.error));
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled("password:", theme.title)); // the input follows the label
    lines.push(Line::raw(""));
    lines.push(Line::from(vec![
        Span::styled("Tab", theme.key),
        Span::raw(format!(
            " [{}] remember for this session (in memory only)",
            if prompt.remember { "x" } else { " " }
        )),
    ]));
    lines.push(Line::from(vec![
        Span::styled("Enter", theme.key),
        Span::raw(" send   "),
        Span::styled("Esc", theme.key),
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

pub fn confirm_lock_update(
    frame: &mut Frame,
    area: Rect,
    state: &State,
    theme: &Theme,
    u: &LockUpdate,
) {
    let lines = vec![
        Line::from(vec![
            Span::raw("Update "),
            Span::styled(u.input.clone(), theme.title),
            Span::raw(" in flake.lock? It runs here:"),
        ]),
        Line::raw(""),
        Line::styled(
            format!("  {}", crate::remote::display_command(&u.argv)),
            theme.key,
        ),
        Line::raw(""),
        Line::raw("The lock file changes; nothing is committed until you say so."),
        answer_keys(state, theme, "update", "cancel"),
    ];
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
    c: &LockCommit,
) {
    let lines = vec![
        Line::raw(format!(
            "Commit {} alone, in {}:",
            c.lock_file.display(),
            c.repo.display()
        )),
        Line::raw(""),
        Line::styled(
            format!("  git commit -m '{}' -- flake.lock", c.message),
            theme.key,
        ),
        Line::raw(""),
        answer_keys(state, theme, "commit", "cancel"),
    ];
    frame_dialog(
        frame,
        area,
        theme,
        " Commit flake.lock ".into(),
        lines,
        theme.warn,
    );
}
