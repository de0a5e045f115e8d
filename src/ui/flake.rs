//! Flake pane: the selected host's flake inputs against git HEAD, what the
//! host runs, and what a deploy will override.

use ratatui::prelude::*;
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState, Wrap};

use super::{ago, pane_block, Theme};
use crate::app::{FlakeStatus, Pane, State};
use crate::keymap::Action;
use crate::nix::check::{self, short_rev as short, FlakeReport, InputReport, InputStatus};

/// Rows the flake pane wants at `width` columns (borders included): the
/// table, and the details below it wrapped as they will be drawn.
pub fn wanted_rows(state: &State, width: u16) -> usize {
    let Some(report) = state.selected_flake() else {
        return 6;
    };
    let theme = Theme::new(state.config.theme);
    let details = details(state, report, super::unix_secs(state.now), &theme);
    let detail_rows = Paragraph::new(details)
        .wrap(Wrap { trim: false })
        .line_count(width.saturating_sub(2));
    2 + 1 + report.inputs.len() + 1 + detail_rows
}

/// Columns the flake pane wants (borders included): the wide table whole,
/// each status in full.
pub fn wanted_width(state: &State) -> u16 {
    let Some(report) = state.selected_flake() else {
        return 0;
    };
    let status = report
        .inputs
        .iter()
        .map(|i| check::summary(i, true).chars().count() + 2)
        .max()
        .unwrap_or(0)
        .max(20);
    let name = usize::from(name_width(report, u16::MAX));
    u16::try_from(2 + name + 7 + 7 + 7 + status + 5).unwrap_or(u16::MAX)
}

pub fn draw(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let flake = state.selected_config().and_then(|h| h.flake.as_ref());
    let title = flake.map(|f| format!("#{} ", f.attr)).unwrap_or_default();
    let block = pane_block(Pane::Flake, state, theme, title);
    let status = state.selected().map(|h| &h.flake);
    let report = match status {
        Some(FlakeStatus::Checked(report)) => report,
        Some(FlakeStatus::Failed(error)) => {
            let lines = vec![
                Line::styled("Cannot read the flake's lock:", theme.error),
                Line::raw(error.clone()),
            ];
            frame.render_widget(
                Paragraph::new(lines)
                    .wrap(Wrap { trim: false })
                    .block(block),
                area,
            );
            return;
        }
        Some(FlakeStatus::NotChecked) => {
            let mut lines = vec![Line::styled("inputs not checked yet", theme.dim)];
            if let Some(f) = flake {
                lines.insert(0, Line::styled(f.to_string(), theme.dim));
            }
            frame.render_widget(
                Paragraph::new(lines)
                    .wrap(Wrap { trim: false })
                    .block(block),
                area,
            );
            return;
        }
        Some(FlakeStatus::NoFlake) | None => {
            let lines = vec![
                Line::styled("No flake configured for this host.", theme.dim),
                Line::styled(
                    "Add flake = \"path#attr\" to its [[hosts]] entry.",
                    theme.dim,
                ),
            ];
            frame.render_widget(
                Paragraph::new(lines).wrap(Wrap { trim: true }).block(block),
                area,
            );
            return;
        }
    };
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let now = super::unix_secs(state.now);
    let details = details(state, report, now, theme);
    // The table keeps its header, a row per input and one spare; the details get the rest.
    let table_rows = u16::try_from(report.inputs.len() + 2).unwrap_or(u16::MAX);
    let detail_rows = inner.height.saturating_sub(table_rows);
    let [table_area, detail_area] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(detail_rows)]).areas(inner);

    // The source only where the status keeps room for itself.
    let source_width = if inner.width >= 90 {
        inner.width / 4
    } else {
        0
    };
    let rows: Vec<Row> = report
        .inputs
        .iter()
        .map(|i| input_row(i, now, theme, usize::from(source_width)))
        .collect();
    // Wide when every column fits whole: name, type, rev, age, a status of
    // 20, and the spaces between them.
    let wide = inner.width >= name_width(report, inner.width) + 7 + 7 + 7 + 20 + 5;
    let name = Constraint::Length(name_width(report, inner.width));
    let widths: Vec<Constraint> = if wide {
        vec![
            name,
            Constraint::Length(7),
            Constraint::Length(source_width),
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Min(20),
        ]
    } else {
        vec![name, Constraint::Length(7), Constraint::Fill(1)]
    };
    // The age is the locked revision's: how old the code a deploy builds is.
    let header = if wide {
        Row::new(vec!["Input", "Type", "Source", "Rev", "Rev age", "Status"])
    } else {
        Row::new(vec!["Input", "Rev", "Status"])
    }
    .style(theme.title);
    let rows: Vec<Row> = if wide {
        rows
    } else {
        // Name, a space, the rev, a space: the status gets what is left.
        let status_width = usize::from(inner.width)
            .saturating_sub(usize::from(name_width(report, inner.width)) + 7 + 2);
        report
            .inputs
            .iter()
            .map(|i| narrow_row(i, theme, status_width))
            .collect()
    };
    let focused = state.focus == Pane::Flake;
    let mut table_state =
        TableState::default().with_selected(focused.then_some(state.flake_cursor));
    frame.render_stateful_widget(
        Table::new(rows, widths)
            .header(header)
            .row_highlight_style(theme.selected),
        table_area,
        &mut table_state,
    );
    frame.render_widget(
        Paragraph::new(details).wrap(Wrap { trim: false }),
        detail_area,
    );
}

/// The input column: the longest name (with its `(self)` mark), at most
/// half the pane.
fn name_width(report: &FlakeReport, width: u16) -> u16 {
    let longest = report
        .inputs
        .iter()
        .map(|i| i.locked.path.len() + if i.self_referential { 7 } else { 0 })
        .max()
        .unwrap_or(8);
    u16::try_from(longest).unwrap_or(20).min(width / 2)
}

fn status_span(i: &InputReport, theme: &Theme) -> Span<'static> {
    let words = check::summary(i, true);
    match i.status {
        InputStatus::Current => Span::styled(format!("✓ {words}"), theme.ok),
        InputStatus::Stale | InputStatus::Diverged | InputStatus::UnknownRev => {
            Span::styled(format!("✗ {words}"), theme.error)
        }
        InputStatus::NoRev | InputStatus::Unchecked => {
            Span::styled(format!("⚠ {words}"), theme.warn)
        }
        InputStatus::Remote => Span::styled(words, theme.dim),
        InputStatus::Follows => Span::styled(
            format!("→ {}", i.locked.follows.as_deref().unwrap_or("?")),
            theme.dim,
        ),
    }
}

fn name_cell(i: &InputReport) -> Cell<'static> {
    let depth = i.locked.path.matches('/').count();
    let name = i.locked.path.rsplit('/').next().unwrap_or(&i.locked.path);
    let self_mark = if i.self_referential { " (self)" } else { "" };
    Cell::from(format!("{}{name}{self_mark}", "  ".repeat(depth)))
}

fn age(i: &InputReport, now: u64) -> String {
    i.locked
        .last_modified
        .map_or(String::new(), |t| ago(now.saturating_sub(t)))
}

fn input_row(i: &InputReport, now: u64, theme: &Theme, source_width: usize) -> Row<'static> {
    Row::new(vec![
        name_cell(i),
        Cell::from(Span::styled(i.locked.kind.clone(), theme.dim)),
        Cell::from(Span::styled(
            super::fit(&i.locked.source, source_width),
            theme.dim,
        )),
        Cell::from(i.locked.rev.as_deref().map(short).unwrap_or("").to_string()),
        Cell::from(age(i, now)),
        Cell::from(status_span(i, theme)),
    ])
}

/// Narrow panes drop the type and the age: name, rev and status must fit.
fn narrow_row(i: &InputReport, theme: &Theme, status_width: usize) -> Row<'static> {
    let mut status = status_span(i, theme);
    // Narrow: the count matters more than the word.
    if i.status == InputStatus::Stale {
        if let Some(n) = i.behind.filter(|n| *n > 0) {
            status.content = format!("✗ {n} behind").into();
        }
    }
    let status = Span::styled(super::fit(&status.content, status_width), status.style);
    Row::new(vec![
        name_cell(i),
        Cell::from(i.locked.rev.as_deref().map(short).unwrap_or("").to_string()),
        Cell::from(status),
    ])
}

/// Below the table, most important first (what does not fit is cut from the
/// end): a stale input's consequence, the override a deploy adds, what the
/// host runs, uncommitted work, then the selected input's commits and hash.
fn details(state: &State, report: &FlakeReport, now: u64, theme: &Theme) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let selected = report.inputs.get(state.flake_cursor);
    if let Some(i) = report.inputs.iter().find(|i| i.status.is_problem()) {
        let when = i
            .oldest_missing_at
            .map(|t| format!(" (oldest missing: {} ago)", ago(now.saturating_sub(t))))
            .unwrap_or_default();
        let u = state.config.keymap.keys_of(Action::UpdateLock);
        lines.push(Line::from(vec![
            Span::styled(
                format!(
                    "✗ {} is behind HEAD{when}: without an override a deploy builds old code. ",
                    i.locked.path
                ),
                theme.error,
            ),
            Span::raw(format!("{u} updates the lock")),
        ]));
    }
    if let Some(line) = check::old_nix_and_relative_inputs(state.nix_version, report) {
        lines.push(Line::styled(format!("✗ {line}"), theme.error));
    }
    if let Some(host) = state.selected_config() {
        let overrides = check::overrides(&host.override_inputs, report);
        if !overrides.is_empty() {
            let flags: Vec<String> = overrides
                .iter()
                .map(|(n, u)| format!("--override-input {n} {u}"))
                .collect();
            lines.push(Line::from(vec![
                Span::styled("deploy adds ", theme.dim),
                Span::styled(flags.join(" "), theme.key),
            ]));
        }
    }
    if let (Some(running), Some(head)) = (&report.running, &report.head) {
        let behind = match running.behind {
            Some(0) => Span::styled("runs HEAD", theme.ok),
            Some(n) => Span::styled(
                format!("{} behind", crate::text::count(n, "commit", "commits")),
                theme.warn,
            ),
            None => Span::styled("not in this repo", theme.warn),
        };
        lines.push(Line::from(vec![
            Span::styled("host runs ", theme.dim),
            Span::raw(format!(
                "{}, HEAD is {}: ",
                short(&running.rev),
                short(head)
            )),
            behind,
        ]));
    }
    // A lock file alone is covered by the "not committed" line.
    if report
        .dirty
        .iter()
        .any(|f| !(f == "flake.lock" || f.ends_with("/flake.lock")))
    {
        lines.push(Line::styled(
            format!(
                "⚠ uncommitted: {} (nix builds it, the system cannot name a commit)",
                report.dirty.join(", ")
            ),
            theme.warn,
        ));
    }
    if let Some(commit) = &state.uncommitted {
        let c = state.config.keymap.keys_of(Action::CommitLock);
        lines.push(Line::styled(
            format!("{} changed, not committed: {c} commits it", commit.names()),
            theme.warn,
        ));
    }
    if let Some(i) = selected {
        if let (Some(rev), Some(head)) = (&i.locked.rev, &i.head) {
            let subject = i.locked_subject.clone().unwrap_or_default();
            lines.push(Line::from(vec![
                Span::styled("locked ", theme.dim),
                Span::raw(format!("{} {subject}", short(rev))),
            ]));
            if rev != head {
                lines.push(Line::from(vec![
                    Span::styled("HEAD   ", theme.dim),
                    Span::raw(format!(
                        "{} {}",
                        short(head),
                        i.head_subject.clone().unwrap_or_default()
                    )),
                ]));
            }
        } else if !i.locked.source.is_empty() {
            lines.push(Line::from(vec![
                Span::styled("source ", theme.dim),
                Span::raw(i.locked.source.clone()),
            ]));
        }
        if let Some(hash) = &i.locked.nar_hash {
            lines.push(Line::from(vec![
                Span::styled("narHash ", theme.dim),
                Span::raw(hash.clone()),
            ]));
        }
    }
    lines
}
