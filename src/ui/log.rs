//! Log pane: only the visible rows are styled, whatever the log's length.

use ratatui::prelude::*;
use ratatui::widgets::Paragraph;

use super::{pane_block, Theme};
use crate::app::{Pane, State};

pub fn draw(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let view = state.log_view;
    let title = if view.follow {
        "activity · following ".to_string()
    } else {
        format!("activity · {} newer lines below ", view.from_bottom)
    };
    let block = pane_block(Pane::Log, state, theme, title);
    let inner = block.inner(area);
    let rows = usize::from(inner.height);
    let end = state.log.len().saturating_sub(view.from_bottom);
    let start = end.saturating_sub(rows);
    let lines = state.log.styled_lines(start, end - start);
    frame.render_widget(Paragraph::new(lines).block(block), area);
}
