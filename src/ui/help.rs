//! The help window: every binding of the key table, as configured.

use ratatui::prelude::*;
use ratatui::widgets::{Block, BorderType, Clear, Paragraph};

use super::{centered, Theme};
use crate::app::State;
use crate::keymap::{display_key, Scope};

/// The keys column: wide enough for the longest default list ("PgDn, C-d").
const KEYS_WIDTH: usize = 16;

/// Where the help goes on a screen of `area`: above the status bar and footer.
fn help_rect(area: Rect) -> Rect {
    let above = Rect::new(area.x, area.y, area.width, area.height.saturating_sub(2));
    centered(above, area.width.saturating_sub(4).min(96), above.height)
}

/// The furthest the help scrolls on the state's screen: its last page shown.
pub fn max_scroll(state: &State) -> usize {
    let (w, h) = state.screen;
    let rect = help_rect(Rect::new(0, 0, w, h));
    let lines = help_lines(state, &Theme::new(state.config.theme), rect).len();
    lines.saturating_sub(usize::from(rect.height.saturating_sub(2)))
}

/// Every binding by section, descriptions wrapped to the window's width.
fn help_lines(state: &State, theme: &Theme, rect: Rect) -> Vec<Line<'static>> {
    // Descriptions wrap under themselves, never cut at the border.
    let text_width = usize::from(rect.width.saturating_sub(2))
        .saturating_sub(KEYS_WIDTH + 2)
        .max(20);
    let mut lines = Vec::new();
    for scope in Scope::ALL {
        let rows: Vec<_> = state
            .config
            .keymap
            .bindings()
            .iter()
            .filter(|b| b.scope == scope)
            .collect();
        if rows.is_empty() {
            continue;
        }
        if !lines.is_empty() {
            lines.push(Line::raw(""));
        }
        lines.push(Line::styled(scope.heading(), theme.title));
        for b in rows {
            let keys = b
                .keys
                .iter()
                .map(display_key)
                .collect::<Vec<_>>()
                .join(", ");
            for (i, part) in textwrap::wrap(b.description, text_width).iter().enumerate() {
                let keys = if i == 0 { keys.as_str() } else { "" };
                lines.push(Line::from(vec![
                    Span::styled(format!("  {keys:<KEYS_WIDTH$}"), theme.key),
                    Span::raw(part.to_string()),
                ]));
            }
        }
    }
    lines
}

pub fn draw(frame: &mut Frame, area: Rect, state: &State, theme: &Theme, scroll: usize) {
    let rect = help_rect(area);
    let lines = help_lines(state, theme, rect);
    let visible = usize::from(rect.height.saturating_sub(2));
    let scroll = scroll.min(lines.len().saturating_sub(visible));
    let more = lines.len().saturating_sub(scroll + visible);
    let shown: Vec<Line> = lines.into_iter().skip(scroll).take(visible).collect();
    let footer = crate::app::modes::footer(state)
        .into_iter()
        .map(|(key, label)| format!("{key} {label}"))
        .collect::<Vec<_>>()
        .join(" · ");
    let title = if more > 0 {
        format!(" Help: keys ({more} more below) ")
    } else {
        " Help: keys ".to_string()
    };
    frame.render_widget(Clear, rect);
    let block = Block::bordered()
        .border_type(BorderType::Double)
        .border_style(theme.focused_border)
        .title(Span::styled(title, theme.title))
        .title_bottom(Line::styled(format!(" {footer} "), theme.dim).right_aligned());
    frame.render_widget(Paragraph::new(shown).block(block), rect);
}
