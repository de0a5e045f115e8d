//! Services pane: the watched units of the selected host.

use ratatui::prelude::*;
use ratatui::widgets::{Paragraph, Row, Table, TableState, Wrap};

use super::{pane_block, Theme};
use crate::app::{Pane, ServiceStatus, State};

pub fn draw(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let host = state.selected();
    let name = host.map(|h| h.name.as_str()).unwrap_or("");
    let block = pane_block(Pane::Services, state, theme, format!("{name} "));
    let Some(host) = host.filter(|h| !h.services.is_empty()) else {
        let hint = Paragraph::new(vec![
            Line::styled("No services watched on this host.", theme.dim),
            Line::styled(
                "Add services = [\"nginx\", …] to its [[hosts]] entry.",
                theme.dim,
            ),
        ])
        .wrap(Wrap { trim: true })
        .block(block);
        frame.render_widget(hint, area);
        return;
    };
    let rows = host.services.iter().map(|s| {
        let status = match s.state {
            ServiceStatus::NotProbed => Span::styled("not probed yet", theme.dim),
        };
        Row::new(vec![Line::raw(s.unit.clone()), Line::from(status)])
    });
    let table = Table::new(rows, [Constraint::Fill(1), Constraint::Length(14)])
        .header(Row::new(["Unit", "State"]).style(theme.title))
        .row_highlight_style(theme.selected)
        .block(block);
    let focused = state.focus == Pane::Services;
    let mut table_state =
        TableState::default().with_selected(focused.then_some(state.service_cursor));
    frame.render_stateful_widget(table, area, &mut table_state);
}
