//! Log pane: the activity log, or a followed journal. Only the visible rows
//! are styled, whatever the log's length.

use ratatui::prelude::*;
use ratatui::widgets::{Paragraph, Wrap};

use super::{pane_block, Theme};
use std::time::SystemTime;

use crate::app::{Pane, State};
use crate::deploy::{Deploy, StepState};

/// Error lines in the error colour, warnings in the warning colour (the
/// colours a line brings itself win): what failed stands out in a flood.
fn marked(lines: Vec<Line<'static>>, state: &State, theme: &Theme) -> Vec<Line<'static>> {
    // Lines that match the search stand out whole.
    let needle = state
        .search
        .as_ref()
        .map(|(text, _)| text.to_lowercase())
        .filter(|t| !t.is_empty());
    lines
        .into_iter()
        .map(|line| {
            let text: String = line.spans.iter().map(|s| s.content.as_ref()).collect();
            if needle
                .as_ref()
                .is_some_and(|n| text.to_lowercase().contains(n.as_str()))
            {
                let base = theme.selected.patch(line.style);
                return line.style(base);
            }
            let style = match severity(&text) {
                Some(Severity::Error) => theme.error,
                Some(Severity::Warning) => theme.warn,
                None => return line,
            };
            let base = style.patch(line.style);
            line.style(base)
        })
        .collect()
}

#[derive(Debug, PartialEq, Eq)]
enum Severity {
    Error,
    Warning,
}

/// Whether a log line reports an error or a warning, as nix, systemd,
/// switch-to-configuration and deploytui word them.
fn severity(text: &str) -> Option<Severity> {
    let lower = text.to_lowercase();
    let error = ["error:", "error ", "failed", "✗ "];
    let warning = ["warning:", "warn:"];
    if error.iter().any(|e| lower.contains(e)) {
        Some(Severity::Error)
    } else if warning.iter().any(|w| lower.contains(w)) {
        Some(Severity::Warning)
    } else {
        None
    }
}

/// Rows the step list and the diagnosis card take above a deploy's log,
/// `width` columns wide.
pub fn step_rows(state: &State, width: u16) -> u16 {
    state.shown_deploy().map_or(0, |d| {
        u16::try_from(d.steps.len() + 1).unwrap_or(0) + card_rows(d, state, width)
    })
}

/// Most rows the diagnosis card takes: the log below keeps the rest.
const CARD_ROWS: usize = 8;

fn card_rows(deploy: &Deploy, state: &State, width: u16) -> u16 {
    let lines = card_lines(deploy, state, &Theme::new(state.config.theme), width);
    u16::try_from(lines.len().min(CARD_ROWS)).unwrap_or(0)
}

/// `text` wrapped to `width` columns between words, the first line after
/// `first`, the others after `rest` (a hanging indent).
fn wrapped(text: &str, width: u16, first: &str, rest: &str) -> Vec<String> {
    let options = textwrap::Options::new(usize::from(width.max(8)))
        .initial_indent(first)
        .subsequent_indent(rest);
    textwrap::wrap(text, options)
        .into_iter()
        .map(|l| l.into_owned())
        .collect()
}

/// The diagnoses of an ended deploy, `width` columns wide: what happened,
/// the fix and its key right under it (so a short pane still shows it),
/// then the evidence; wrapped lines hang under their first.
fn card_lines(deploy: &Deploy, state: &State, theme: &Theme, width: u16) -> Vec<Line<'static>> {
    let key = state.config.keymap.keys_of(crate::keymap::Action::Fix);
    let mut lines = Vec::new();
    for d in &deploy.diagnoses {
        for l in wrapped(&format!("⚠ {}", d.title), width, "", "  ") {
            lines.push(Line::styled(l, theme.error));
        }
        if let Some(fix) = &d.fix {
            let text = format!("{key} fix: {}", fix.words());
            for (i, l) in wrapped(&text, width, "  ", "    ").into_iter().enumerate() {
                match l.strip_prefix(&format!("  {key}")) {
                    Some(after) if i == 0 => lines.push(Line::from(vec![
                        Span::raw("  "),
                        Span::styled(key.clone(), theme.key),
                        Span::raw(after.to_string()),
                    ])),
                    _ => lines.push(Line::raw(l)),
                }
            }
        }
        for e in &d.evidence {
            lines.extend(wrapped(e, width, "  ", "    ").into_iter().map(Line::raw));
        }
    }
    // What the HTTP check serves, as last fetched (after a restart too).
    if let Some(served) = deploy.served.as_ref().filter(|_| deploy.diagnosed) {
        let style = match (served.ok, served.not_compared) {
            (true, false) => theme.ok,
            (true, true) => theme.warn,
            (false, _) => theme.error,
        };
        let text = format!("http check: {}", served.line());
        for l in wrapped(&text, width, "", "  ") {
            lines.push(Line::styled(l, style));
        }
    }
    lines
}

/// One line per step: its mark, name, time and what it did or does.
fn step_lines(deploy: &Deploy, now: SystemTime, theme: &Theme) -> Vec<Line<'static>> {
    const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
    let frame = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| (d.as_millis() / 100) as usize);
    let mut lines: Vec<Line> = deploy
        .steps
        .iter()
        .map(|s| {
            let secs = s.started.map(|a| {
                s.ended
                    .unwrap_or(now)
                    .duration_since(a)
                    .unwrap_or_default()
                    .as_secs()
            });
            let time = secs.map_or(String::new(), |t| format!("{t}s"));
            let (mark, style, words) = match &s.state {
                StepState::Waiting => ("·".to_string(), theme.dim, String::new()),
                StepState::Running => (
                    SPINNER[frame % SPINNER.len()].to_string(),
                    theme.warn,
                    deploy.step_words(s.kind),
                ),
                StepState::Done(what) => ("✓".into(), theme.ok, what.clone()),
                StepState::Failed(why) => ("✗".into(), theme.error, why.clone()),
                StepState::Unknown(why) => ("?".into(), theme.warn, why.clone()),
                StepState::Skipped => ("-".into(), theme.dim, "not run".into()),
            };
            Line::from(vec![
                Span::styled(format!("{mark} {:<9}", s.kind.name()), style),
                Span::styled(format!("{time:>5}  "), theme.dim),
                Span::raw(words),
            ])
        })
        .collect();
    // What is building now, and the last line it printed.
    let building = deploy
        .progress
        .building
        .iter()
        .map(|(_, name, last)| match last {
            Some(l) => format!("{name}: {}", crate::text::plain(l)),
            None => name.clone(),
        })
        .collect::<Vec<_>>()
        .join(" · ");
    lines.push(Line::styled(building, theme.dim));
    lines
}

pub fn draw(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let view = state.log_view;
    let deploy = state.shown_deploy();
    let source = match &state.journal {
        None if state.past.is_some() => state
            .past
            .as_ref()
            .map_or(String::new(), |p| format!("past deploy: {}", p.title)),
        None if deploy.is_some() => deploy.map_or(String::new(), |d| {
            format!(
                "deploy {} ({}) · {}",
                d.plan.host_name,
                d.plan.action.as_str(),
                d.verdict()
            )
        }),
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
    let mut inner = block.inner(area);
    let mut area = area;
    if let Some(d) = deploy {
        // The steps above the log, the block around both.
        frame.render_widget(block.clone(), area);
        let [steps, card, rest] = Layout::vertical([
            Constraint::Length(u16::try_from(d.steps.len() + 1).unwrap_or(0)),
            Constraint::Length(card_rows(d, state, inner.width)),
            Constraint::Fill(1),
        ])
        .areas(inner);
        frame.render_widget(Paragraph::new(step_lines(d, state.now, theme)), steps);
        frame.render_widget(
            Paragraph::new(card_lines(d, state, theme, inner.width)),
            card,
        );
        inner = rest;
        area = rest;
    }
    let block = if deploy.is_some() {
        ratatui::widgets::Block::default()
    } else {
        block
    };
    let rows = usize::from(inner.height);
    let log = state.shown_log();
    let end = log.len().saturating_sub(view.from_bottom);
    let start = end.saturating_sub(rows);
    if view.wrap {
        // The newest line at the bottom, whole: wrapped lines take more
        // rows than one, so scroll the top ones out of view.
        let lines = marked(log.styled_lines(start, end - start, 0), state, theme);
        let paragraph = Paragraph::new(lines).wrap(Wrap { trim: false });
        let overflow = paragraph.line_count(inner.width).saturating_sub(rows);
        let scroll = u16::try_from(overflow).unwrap_or(u16::MAX);
        frame.render_widget(paragraph.scroll((scroll, 0)).block(block), area);
        return;
    }
    let lines = marked(log.styled_lines(start, end - start, view.x), state, theme);
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_card_puts_its_fix_under_its_title_and_wrapped_lines_hang() {
        use crate::deploy::diagnosis::{Diagnosis, Fix, Kind};
        let config = crate::config::parse(
            "[[hosts]]\nname = \"s1\"\ntarget = \"root@s1\"\nflake = \"/srv/infra#s1\"\n",
            std::path::Path::new("/t.toml"),
            crate::config::FoundBy::Flag,
        )
        .unwrap();
        let state = State::new(config);
        let plan = crate::deploy::Plan::new(
            0,
            &state.config.hosts[0],
            crate::deploy::SwitchAction::Switch,
            Vec::new(),
        )
        .unwrap();
        let mut d = Deploy::new(plan, std::time::UNIX_EPOCH);
        d.diagnosed(vec![Diagnosis {
            kind: Kind::StaleServices,
            title: "nginx is still running the previous configuration".into(),
            evidence: vec![
                "nginx.service has run since 12:03:11, before this system was activated".into(),
            ],
            fix: Some(Fix::Restart {
                units: vec!["nginx.service".into()],
            }),
        }]);
        let theme = Theme::new(state.config.theme);
        let text: Vec<String> = card_lines(&d, &state, &theme, 40)
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect();
        assert_eq!(
            text,
            [
                "⚠ nginx is still running the previous",
                "  configuration",
                "  f fix: restart nginx.service",
                "  nginx.service has run since 12:03:11,",
                "    before this system was activated",
            ]
        );
    }

    #[test]
    fn errors_and_warnings_are_told_apart() {
        for e in [
            "error: hash mismatch in fixed-output derivation",
            "build FAILED: nix exited with 1",
            "warning: the following units failed: webapp.service",
            "server1: ✗ copy: nix exited with 1",
        ] {
            assert_eq!(severity(e), Some(Severity::Error), "{e}");
        }
        assert_eq!(
            severity("warning: Git tree '/r' is dirty"),
            Some(Severity::Warning)
        );
        assert_eq!(severity("building '/nix/store/x.drv'"), None);
        assert_eq!(
            severity("restarting the following units: webapp.service"),
            None
        );
    }
}
