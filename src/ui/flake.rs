//! Flake pane: the selected host's flake and its inputs against git HEAD.

use ratatui::prelude::*;
use ratatui::widgets::{Paragraph, Wrap};

use super::{pane_block, Theme};
use crate::app::{FlakeStatus, Pane, State};

pub fn draw(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let block = pane_block(Pane::Flake, state, theme, String::new());
    let flake = state.selected_config().and_then(|h| h.flake.as_ref());
    let mut lines = Vec::new();
    if let Some(flake) = flake {
        lines.push(Line::from(vec![
            Span::styled("flake ", theme.dim),
            Span::raw(flake.to_string()),
        ]));
    }
    match state.selected().map(|h| &h.flake) {
        Some(FlakeStatus::NotChecked) => {
            lines.push(Line::styled("inputs not checked yet", theme.dim));
        }
        Some(FlakeStatus::NoFlake) | None => {
            lines.push(Line::styled(
                "No flake configured for this host.",
                theme.dim,
            ));
            lines.push(Line::styled(
                "Add flake = \"path#attr\" to its [[hosts]] entry.",
                theme.dim,
            ));
        }
    }
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block),
        area,
    );
}
