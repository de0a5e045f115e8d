//! Log pane: the activity log, or a followed journal. Only the visible rows
//! are styled, whatever the log's length.

use ratatui::prelude::*;
use ratatui::widgets::{Paragraph, Wrap};

use super::{pane_block, Theme};
use crate::app::{Pane, State};

pub fn draw(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let view = state.log_view;
    let source = match &state.journal {
        None => "activity".to_string(),
        Some(j) => {
            let host = state.hosts.get(j.host).map_or("?", |h| h.name.as_str());
            match &j.ended {
                None => format!("journal {host} {}", j.unit),
                Some(why) => format!("journal {host} {} (stopped: {why})", j.unit),
            }
        }
    };
    let mut position = if view.follow {
        "following".to_string()
    } else {
        format!("{} newer lines below", view.from_bottom)
    };
    if view.wrap {
        position.push_str(" · wrapped");
    } else if view.x > 0 {
        position.push_str(&format!(" · from column {}", view.x + 1));
    }
    // Lines cut at the border say so, and how to read them.
    let cut = crate::app::modes::widest_shown(state) > view.x + state.log_width;
    if !view.wrap && cut {
        let km = &state.config.keymap;
        position.push_str(&format!(
            " · long lines: {} or {}",
            km.keys_of(crate::keymap::Action::ScrollRight),
            km.keys_of(crate::keymap::Action::WrapLog)
        ));
    }
    let block = pane_block(Pane::Log, state, theme, format!("{source} · {position} "));
    let inner = block.inner(area);
    let rows = usize::from(inner.height);
    let log = state.shown_log();
    let end = log.len().saturating_sub(view.from_bottom);
    let start = end.saturating_sub(rows);
    if view.wrap {
        // The newest line at the bottom, whole: wrapped lines take more
        // rows than one, so scroll the top ones out of view.
        let lines = log.styled_lines(start, end - start, 0);
        let paragraph = Paragraph::new(lines).wrap(Wrap { trim: false });
        let overflow = paragraph.line_count(inner.width).saturating_sub(rows);
        let scroll = u16::try_from(overflow).unwrap_or(u16::MAX);
        frame.render_widget(paragraph.scroll((scroll, 0)).block(block), area);
        return;
    }
    let lines = log.styled_lines(start, end - start, view.x);
    frame.render_widget(Paragraph::new(lines).block(block), area);
}
