//! The help window: every binding of the key table, as configured.

use ratatui::prelude::*;
use ratatui::widgets::{Block, BorderType, Clear, Paragraph};

use super::{centered, Theme};
use crate::app::State;
use crate::keymap::{display_key, Action, Scope};

const SECTIONS: [(Scope, &str); 6] = [
    (Scope::Global, "Everywhere"),
    (Scope::Hosts, "Hosts pane"),
    (Scope::Services, "Services pane"),
    (Scope::Flake, "Flake pane"),
    (Scope::Log, "Log pane"),
    (Scope::Dialog, "Dialogs"),
];

pub fn draw(frame: &mut Frame, area: Rect, state: &State, theme: &Theme, scroll: usize) {
    let mut lines = Vec::new();
    for (scope, heading) in SECTIONS {
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
        lines.push(Line::styled(heading, theme.title));
        for b in rows {
            let keys = b
                .keys
                .iter()
                .map(display_key)
                .collect::<Vec<_>>()
                .join(", ");
            lines.push(Line::from(vec![
                Span::styled(format!("  {keys:<16}"), theme.key),
                Span::raw(b.description),
            ]));
        }
    }
    let rect = centered(area, 72, area.height.saturating_sub(4));
    let visible = usize::from(rect.height.saturating_sub(2));
    let scroll = scroll.min(lines.len().saturating_sub(visible));
    let shown: Vec<Line> = lines.into_iter().skip(scroll).take(visible).collect();
    let km = &state.config.keymap;
    let footer = format!(
        " {}/{} scroll · {} or {} close ",
        km.keys_of(Action::Up),
        km.keys_of(Action::Down),
        km.keys_of(Action::Cancel),
        km.keys_of(Action::Help)
    );
    frame.render_widget(Clear, rect);
    let block = Block::bordered()
        .border_type(BorderType::Double)
        .border_style(theme.focused_border)
        .title(Span::styled(" Help: keys ", theme.title))
        .title_bottom(Line::styled(footer, theme.dim).right_aligned());
    frame.render_widget(Paragraph::new(shown).block(block), rect);
}
