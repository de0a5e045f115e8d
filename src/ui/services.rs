//! Services pane: the watched units of the selected host, from its last probe.

use ratatui::prelude::*;
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState, Wrap};

use super::{ago, pane_block, Theme};
use crate::app::{Pane, State};
use crate::probe::Staleness;

/// What the marks on the selected host's services mean, those shown only.
fn stale_note(state: &State) -> String {
    let restart = state.config.keymap.keys_of(crate::keymap::Action::Restart);
    let kinds: Vec<Staleness> = state
        .selected()
        .and_then(|h| h.last_known())
        .map(|p| p.probe.stale_services().map(|(_, s)| s).collect())
        .unwrap_or_default();
    let mut note = Vec::new();
    if kinds.contains(&Staleness::OldUnit) {
        note.push(
            "⚠ stale: its unit changed after it started and it was not restarted, so it runs the old one."
                .to_string(),
        );
    }
    if kinds.contains(&Staleness::SystemChanged) {
        note.push(
            "? maybe stale: its unit is the same, but the system changed under it, so it may serve old files."
                .to_string(),
        );
    }
    note.push(format!("{restart} restarts it."));
    note.join(" ")
}

/// Rows the services pane wants at `width` columns (borders included):
/// a header, the units, and the stale note wrapped as drawn.
pub fn wanted_rows(state: &State, width: u16) -> usize {
    let units = state.selected().map_or(1, |h| h.services.len().max(1));
    let stale = state
        .selected()
        .and_then(|h| h.last_known())
        .is_some_and(|p| p.probe.stale_services().next().is_some());
    let note = if stale {
        Paragraph::new(stale_note(state))
            .wrap(Wrap { trim: true })
            .line_count(width.saturating_sub(2))
    } else {
        0
    };
    2 + 1 + units + note
}

pub fn draw(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let host = state.selected();
    let name = host.map(|h| h.name.as_str()).unwrap_or("");
    // A host that stopped answering shows what it last said, dimmed, with its age.
    let stale_since = host
        .filter(|h| h.probed().is_none())
        .and_then(|h| h.last_known())
        .map(|p| ago(state.now.duration_since(p.at).unwrap_or_default().as_secs()));
    let label = match &stale_since {
        Some(age) => format!("{name} · no answer, states from {age} ago "),
        None => format!("{name} "),
    };
    let block = pane_block(Pane::Services, state, theme, label);
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
    let probed = host.last_known();
    let old = stale_since.is_some();
    // Narrow panes keep the unit, its state and since when; PID and restarts need room.
    // Unit (10 at least), state 16, since 5, restarts 3, PID 7, spaces 4, borders 2.
    let wide = area.width >= 10 + 16 + 5 + 3 + 7 + 4 + 2;
    let mut any_stale = false;
    let rows: Vec<Row> = host
        .services
        .iter()
        .map(|unit| {
            let short = unit.trim_end_matches(".service").to_string();
            let Some(probed) = probed else {
                let why = match host.status {
                    crate::app::HostStatus::Unreachable { .. } => "unreachable",
                    _ => "not probed yet",
                };
                return Row::new(vec![
                    Cell::from(short),
                    Cell::from(Span::styled(why, theme.dim)),
                ]);
            };
            let Some(u) = host.unit(unit) else {
                return Row::new(vec![
                    Cell::from(short),
                    Cell::from(Span::styled("unknown", theme.dim)),
                ]);
            };
            if !u.exists() {
                return Row::new(vec![
                    Cell::from(short),
                    Cell::from(Span::styled("not found", theme.error)),
                ]);
            }
            let style = match u.active_state.as_str() {
                _ if old => theme.dim,
                "active" => theme.ok,
                "activating" | "deactivating" | "reloading" => theme.warn,
                // Failed or stopped: a watched service that does not run.
                _ => theme.error,
            };
            // Wide: "active/running". Narrow: the sub state while active
            // ("running", "exited"), else the active state ("failed").
            let word = if wide {
                format!("{}/{}", u.active_state, u.sub_state)
            } else if u.active_state == "active" {
                u.sub_state.clone()
            } else {
                u.active_state.clone()
            };
            let stale = probed.probe.staleness(u);
            any_stale |= stale.is_some();
            let name = match stale {
                Some(Staleness::OldUnit) => Cell::from(Line::from(vec![
                    Span::styled("⚠ ", theme.warn),
                    Span::raw(short),
                ])),
                Some(Staleness::SystemChanged) => Cell::from(Line::from(vec![
                    Span::styled("? ", theme.warn),
                    Span::raw(short),
                ])),
                None => Cell::from(short),
            };
            let since = u
                .active_enter
                .and_then(|t| probed.ago(t, state.now))
                .map_or("-".to_string(), ago);
            let mut cells = vec![
                name,
                Cell::from(Span::styled(word, style)),
                Cell::from(since),
            ];
            if wide {
                cells.push(Cell::from(
                    u.n_restarts.map_or("?".into(), |n| n.to_string()),
                ));
                cells.push(Cell::from(u.main_pid.map_or("-".into(), |p| p.to_string())));
            }
            Row::new(cells)
        })
        .collect();
    let header = match (probed.is_some(), wide) {
        (false, _) => Row::new(vec!["Unit", "State"]),
        (true, false) => Row::new(vec!["Unit", "State", "Since"]),
        (true, true) => Row::new(vec!["Unit", "State", "Since", "↻", "PID"]),
    }
    .style(theme.title);
    let widths: &[Constraint] = match (probed.is_some(), wide) {
        (false, _) => &[Constraint::Fill(1), Constraint::Length(14)],
        (true, false) => &[
            Constraint::Fill(1),
            Constraint::Length(12),
            Constraint::Length(5),
        ],
        (true, true) => &[
            Constraint::Fill(1),
            Constraint::Length(16),
            Constraint::Length(5),
            Constraint::Length(3),
            Constraint::Length(7),
        ],
    };
    let inner = block.inner(area);
    let table = Table::new(rows, widths.to_vec())
        .header(header)
        .row_highlight_style(theme.selected);
    let focused = state.focus == Pane::Services;
    let mut table_state =
        TableState::default().with_selected(focused.then_some(state.service_cursor));
    frame.render_widget(block, area);
    let note = stale_note(state);
    // As many rows as the wrapped note needs, from what the units leave:
    // they come first.
    let table_rows = u16::try_from(host.services.len() + 1).unwrap_or(u16::MAX);
    let note_rows = if any_stale {
        let rows = Paragraph::new(note.as_str())
            .wrap(Wrap { trim: true })
            .line_count(inner.width);
        u16::try_from(rows)
            .unwrap_or(u16::MAX)
            .min(inner.height.saturating_sub(table_rows))
    } else {
        0
    };
    let [table_area, note_area] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(note_rows)]).areas(inner);
    frame.render_stateful_widget(table, table_area, &mut table_state);
    if any_stale {
        let (mark, rest) = note.split_at("⚠ stale".len());
        let note = Paragraph::new(Line::from(vec![
            Span::styled(mark.to_string(), theme.warn),
            Span::raw(rest.to_string()),
        ]))
        .wrap(Wrap { trim: true });
        frame.render_widget(note, note_area);
    }
}
