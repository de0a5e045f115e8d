//! Hosts pane: every configured host and what is known about it.

use ratatui::prelude::*;
use ratatui::widgets::{List, ListItem, ListState};

use super::{pane_block, Theme};
use crate::app::{HostStatus, Pane, State};

pub fn draw(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let block = pane_block(Pane::Hosts, state, theme, format!("{} ", state.hosts.len()));
    let items: Vec<ListItem> = state
        .hosts
        .iter()
        .map(|h| {
            let status = match h.status {
                HostStatus::NotProbed => Span::styled("not probed yet", theme.dim),
            };
            ListItem::new(vec![
                Line::from(vec![
                    Span::styled(h.name.clone(), theme.title),
                    Span::raw("  "),
                    Span::styled(h.target.clone(), theme.dim),
                ]),
                Line::from(vec![Span::raw("  "), status]),
            ])
        })
        .collect();
    let list = List::new(items)
        .block(block)
        .highlight_style(theme.selected)
        .highlight_symbol("▶ ");
    let mut list_state = ListState::default().with_selected(Some(state.selected_host));
    frame.render_stateful_widget(list, area, &mut list_state);
}
