//! Drawing. Every function here reads the state and draws; none changes it.

mod flake;
mod help;
mod hosts;
mod log;
mod services;
mod statusbar;
mod theme;

pub use theme::Theme;

use ratatui::prelude::*;
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph, Wrap};

use crate::app::{Overlay, Pane, State};

/// Below this the panes cannot show their content; a message says so instead.
pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

/// Where each pane goes on a screen of `area`.
pub struct Areas {
    pub hosts: Rect,
    pub services: Rect,
    pub flake: Rect,
    pub log: Rect,
    pub status: Rect,
    pub footer: Rect,
}

pub fn areas(area: Rect) -> Areas {
    let [main, status, footer] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(40), Constraint::Percentage(60)]).areas(main);
    let [hosts, services] =
        Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(left);
    let [flake, log] =
        Layout::vertical([Constraint::Percentage(40), Constraint::Percentage(60)]).areas(right);
    Areas {
        hosts,
        services,
        flake,
        log,
        status,
        footer,
    }
}

/// Rows of text the log pane shows on a terminal of this size (for paging).
pub fn log_rows(width: u16, height: u16) -> usize {
    let log = areas(Rect::new(0, 0, width, height)).log;
    usize::from(log.height.saturating_sub(2)).max(1)
}

/// Draws the whole screen.
pub fn view(state: &State, frame: &mut Frame) {
    let theme = Theme::new(state.config.theme);
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        too_small(frame, area, state, &theme);
        return;
    }
    let a = areas(area);
    hosts::draw(frame, a.hosts, state, &theme);
    services::draw(frame, a.services, state, &theme);
    flake::draw(frame, a.flake, state, &theme);
    log::draw(frame, a.log, state, &theme);
    statusbar::draw_status(frame, a.status, state, &theme);
    statusbar::draw_footer(frame, a.footer, state, &theme);
    match &state.overlay {
        Some(Overlay::Help { scroll }) => help::draw(frame, area, state, &theme, *scroll),
        Some(Overlay::ConfirmQuit) => confirm_quit(frame, area, state, &theme),
        None => {}
    }
}

/// A pane's frame: its title, an extra label, and a bright border when focused.
fn pane_block(pane: Pane, state: &State, theme: &Theme, extra: String) -> Block<'static> {
    let focused = state.focus == pane && state.overlay.is_none();
    let mut title = vec![Span::styled(format!(" {} ", pane.title()), theme.title)];
    if !extra.is_empty() {
        title.push(Span::styled(extra, theme.dim));
    }
    Block::default()
        .borders(Borders::ALL)
        .border_type(if focused {
            BorderType::Thick
        } else {
            BorderType::Rounded
        })
        .border_style(if focused {
            theme.focused_border
        } else {
            theme.border
        })
        .title(Line::from(title))
}

/// A centred rectangle of at most `w`x`h` inside `area`.
fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

fn too_small(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let text = vec![
        Line::styled("Terminal too small", theme.warn),
        Line::raw(format!(
            "{}x{}, needs at least {MIN_WIDTH}x{MIN_HEIGHT}",
            area.width, area.height
        )),
        Line::raw(format!(
            "{} quits",
            state.config.keymap.keys_of(crate::keymap::Action::Quit)
        )),
    ];
    let rect = centered(area, area.width, 3);
    frame.render_widget(
        Paragraph::new(text)
            .alignment(Alignment::Center)
            .wrap(Wrap { trim: true }),
        rect,
    );
}

fn confirm_quit(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let km = &state.config.keymap;
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
    lines.push(Line::from(vec![
        Span::styled(km.keys_of(crate::keymap::Action::Confirm), theme.key),
        Span::raw(" quit   "),
        Span::styled(km.keys_of(crate::keymap::Action::Cancel), theme.key),
        Span::raw(" keep running"),
    ]));
    let height = u16::try_from(lines.len() + 2).unwrap_or(u16::MAX);
    let rect = centered(area, 64, height);
    frame.render_widget(Clear, rect);
    let block = Block::bordered()
        .border_type(BorderType::Double)
        .border_style(theme.warn)
        .title(Span::styled(" Quit deploytui? ", theme.title));
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block),
        rect,
    );
}
