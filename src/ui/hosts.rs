//! Hosts pane: every configured host and what its last probe found.

use ratatui::prelude::*;
use ratatui::widgets::{List, ListItem, ListState};

use super::{ago, pane_block, short_store_path, Theme};
use crate::app::{HostState, HostStatus, Pane, State};

/// The index of `h` among the hosts.
fn index_of(state: &State, h: &HostState) -> usize {
    state
        .hosts
        .iter()
        .position(|x| std::ptr::eq(x, h))
        .unwrap_or(usize::MAX)
}

/// Lines the hosts pane needs for `h` at `width` columns of text.
pub fn line_count(h: &HostState, state: &State, width: usize) -> usize {
    rows(h, state, &Theme::new(state.config.theme), width).len()
}

pub fn draw(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let block = pane_block(Pane::Hosts, state, theme, format!("{} ", state.hosts.len()));
    let width = usize::from(area.width.saturating_sub(4));
    let all: Vec<Vec<Line>> = state
        .hosts
        .iter()
        .map(|h| rows(h, state, theme, width))
        .collect();
    // Short of rows, every host but the selected one keeps its first line
    // (name, state, target), so none drops out of sight.
    let fits =
        all.iter().map(Vec::len).sum::<usize>() <= usize::from(area.height.saturating_sub(2));
    let items: Vec<ListItem> = all
        .into_iter()
        .enumerate()
        .map(|(i, mut lines)| {
            if !fits && i != state.selected_host {
                lines.truncate(1);
            }
            ListItem::new(lines)
        })
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
    // A deploy says where it is, in place of the state until it ends.
    let (badge, badge_style) = match state.deploys.get(&index_of(state, h)) {
        Some(d) if !d.finished() => (format!("⟳ {}", d.verdict()), theme.warn),
        Some(d) if d.failed() => (format!("{badge} · ✗ deploy {}", d.verdict()), theme.error),
        _ => (badge, badge_style),
    };
    // The badge before the target: when the pane is narrow, the target is
    // what gets cut, and it says so with an ellipsis.
    let room = width
        .saturating_sub(2)
        .saturating_sub(h.name.chars().count() + 1 + badge.chars().count() + 2);
    let mark = if state.marked.contains(&index_of(state, h)) {
        "◆ "
    } else {
        ""
    };
    let mut lines = vec![Line::from(vec![
        Span::styled(mark, theme.key),
        Span::styled(h.name.as_str(), theme.title),
        Span::raw(" "),
        Span::styled(badge, badge_style),
        Span::raw("  "),
        Span::styled(super::fit(&h.target, room), theme.dim),
    ])];
    match &h.status {
        HostStatus::NotProbed => {}
        HostStatus::Unreachable {
            reason, last_good, ..
        } => {
            lines.push(Line::from(vec![
                Span::raw("  "),
                Span::styled(super::fit(reason, width.saturating_sub(2)), theme.error),
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
    for (mark, kind) in [
        ("⚠ stale", crate::probe::Staleness::OldUnit),
        ("? maybe stale", crate::probe::Staleness::SystemChanged),
    ] {
        let units: Vec<&str> = probe
            .stale_services()
            .filter(|(_, s)| *s == kind)
            .map(|(u, _)| u.id.trim_end_matches(".service"))
            .collect();
        if !units.is_empty() {
            problems.push(Span::styled(
                format!("{mark}: {}", units.join(", ")),
                theme.warn,
            ));
        }
    }
    match probe.failed_units {
        Some(0) => {}
        Some(n) => problems.push(Span::styled(
            format!("✗ {}", crate::text::count(n, "failed unit", "failed units")),
            theme.error,
        )),
        None => problems.push(Span::styled("failed units ?", theme.dim)),
    }
    if probe.reboot_pending() == Some(true) {
        problems.push(Span::styled("↻ reboot pending", theme.warn));
    }
    if probe.runs_boot_default() == Some(false) {
        problems.push(Span::styled("⚠ not its boot default", theme.warn));
    }
    if problems.is_empty() {
        lines.push(Line::from(vec![
            Span::raw("  "),
            Span::styled("✓ services current", theme.ok),
        ]));
        return lines;
    }
    // As many lines as the problems need: none is cut off at the border.
    let mut line = vec![Span::raw("  ")];
    let mut used = 2;
    for p in problems {
        let w = p.width();
        if used > 2 && used + 3 + w > width {
            lines.push(Line::from(std::mem::replace(
                &mut line,
                vec![Span::raw("  ")],
            )));
            used = 2;
        }
        if used > 2 {
            line.push(Span::styled(" · ", theme.dim));
            used += 3;
        }
        line.push(p);
        used += w;
    }
    lines.push(Line::from(line));
    lines
}
