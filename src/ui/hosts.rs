//! Hosts pane: every configured host and what its last probe found.

use ratatui::prelude::*;
use ratatui::widgets::{List, ListItem, ListState};

use super::{ago, pane_block, short_store_path, Theme};
use crate::app::{HostState, HostStatus, Pane, State};

pub fn draw(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let block = pane_block(Pane::Hosts, state, theme, format!("{} ", state.hosts.len()));
    let width = usize::from(area.width.saturating_sub(4));
    let items: Vec<ListItem> = state
        .hosts
        .iter()
        .map(|h| ListItem::new(rows(h, state, theme, width)))
        .collect();
    let list = List::new(items)
        .block(block)
        .highlight_style(theme.selected)
        .highlight_symbol("▶ ");
    let mut list_state = ListState::default().with_selected(Some(state.selected_host));
    frame.render_stateful_widget(list, area, &mut list_state);
}

fn rows<'a>(h: &'a HostState, state: &State, theme: &Theme, width: usize) -> Vec<Line<'a>> {
    let (badge, badge_style) = match &h.status {
        HostStatus::NotProbed if h.probe.in_flight => ("◌ connecting".to_string(), theme.dim),
        HostStatus::NotProbed => ("not probed yet".to_string(), theme.dim),
        HostStatus::Up(p) => (format!("● up {}ms", p.latency.as_millis()), theme.ok),
        HostStatus::Unreachable {
            timed_out: true,
            since,
            ..
        } => (
            format!(
                "✗ not answering since {} ago",
                ago(state
                    .now
                    .duration_since(*since)
                    .unwrap_or_default()
                    .as_secs())
            ),
            theme.error,
        ),
        HostStatus::Unreachable { .. } => ("✗ unreachable".to_string(), theme.error),
    };
    // The badge before the target: when the pane is narrow, the target is what gets cut.
    let mut lines = vec![Line::from(vec![
        Span::styled(h.name.as_str(), theme.title),
        Span::raw(" "),
        Span::styled(badge, badge_style),
        Span::raw("  "),
        Span::styled(h.target.as_str(), theme.dim),
    ])];
    match &h.status {
        HostStatus::NotProbed => {}
        HostStatus::Unreachable {
            reason, last_good, ..
        } => {
            lines.push(Line::from(vec![
                Span::raw("  "),
                Span::styled(reason.clone(), theme.error),
            ]));
            // What it last said, marked stale with its age: old data never looks live.
            if let Some(p) = last_good {
                let age = ago(state.now.duration_since(p.at).unwrap_or_default().as_secs());
                let mut stale = probe_lines(p, state, theme, width);
                let first = stale.remove(0);
                let mut spans = vec![Span::styled(
                    format!("  last answer {age} ago: "),
                    theme.dim,
                )];
                spans.extend(
                    first
                        .spans
                        .into_iter()
                        .skip(1)
                        .map(|s| Span::styled(s.content, theme.dim)),
                );
                lines.push(Line::from(spans));
            }
        }
        HostStatus::Up(p) => lines.extend(probe_lines(p, state, theme, width)),
    }
    lines
}

/// What a probe found: generation and activation, then the problems.
fn probe_lines<'a>(
    p: &crate::app::Probed,
    state: &State,
    theme: &Theme,
    width: usize,
) -> Vec<Line<'a>> {
    let mut lines = Vec::new();
    let probe = &p.probe;
    let generation = probe
        .generation
        .map_or("gen ?".to_string(), |g| format!("gen {g}"));
    let since = probe
        .activated_at
        .and_then(|t| p.ago(t, state.now))
        .map_or("activated ?".to_string(), |s| {
            format!("activated {} ago", ago(s))
        });
    let used = 2 + generation.chars().count() + 3 + since.chars().count() + 3;
    let mut line = vec![
        Span::raw("  "),
        Span::raw(generation),
        Span::styled(" · ", theme.dim),
        Span::raw(since),
    ];
    // The store path only where there is room for a useful part of it.
    if let Some(path) = probe
        .current_system
        .as_deref()
        .filter(|_| width >= used + 12)
    {
        line.push(Span::styled(" · ", theme.dim));
        line.push(Span::styled(
            short_store_path(path, width - used),
            theme.dim,
        ));
    }
    lines.push(Line::from(line));
    let mut problems: Vec<Span> = Vec::new();
    // A watched service that is not running is the first thing to see.
    let down: Vec<String> = probe
        .down_services()
        .map(|(u, why)| format!("{} {why}", u.id.trim_end_matches(".service")))
        .collect();
    if !down.is_empty() {
        problems.push(Span::styled(format!("✗ {}", down.join(", ")), theme.error));
    }
    let stale: Vec<&str> = probe
        .stale_services()
        .map(|u| u.id.trim_end_matches(".service"))
        .collect();
    if !stale.is_empty() {
        problems.push(Span::styled(
            format!("⚠ stale: {}", stale.join(", ")),
            theme.warn,
        ));
    }
    match probe.failed_units {
        Some(0) => {}
        Some(n) => problems.push(Span::styled(format!("✗ {n} failed unit(s)"), theme.error)),
        None => problems.push(Span::styled("failed units ?", theme.dim)),
    }
    if probe.reboot_pending() == Some(true) {
        problems.push(Span::styled("↻ reboot pending", theme.warn));
    }
    let mut line = vec![Span::raw("  ")];
    if problems.is_empty() {
        line.push(Span::styled("✓ services current", theme.ok));
    } else {
        for (i, p) in problems.into_iter().enumerate() {
            if i > 0 {
                line.push(Span::styled(" · ", theme.dim));
            }
            line.push(p);
        }
    }
    lines.push(Line::from(line));
    lines
}
