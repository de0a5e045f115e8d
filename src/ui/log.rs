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

/// Rows the step list and the diagnosis card take above a deploy's log in
/// a pane `width` columns wide and `height` rows high (inside its border).
pub fn step_rows(state: &State, width: u16, height: u16) -> u16 {
    state.shown_deploy().map_or(0, |d| {
        let steps = u16::try_from(d.steps.len() + 1).unwrap_or(0);
        steps + card_rows(d, state, width, height.saturating_sub(steps))
    })
}

/// Rows the card may take at least, and at most half of what is left
/// under the steps beyond that: the log below keeps the rest.
const CARD_ROWS: usize = 8;

fn card_most(room: u16) -> usize {
    CARD_ROWS.max(usize::from(room) / 2)
}

fn card_rows(deploy: &Deploy, state: &State, width: u16, room: u16) -> u16 {
    let theme = Theme::new(state.config.theme);
    let lines = card_lines(deploy, state, &theme, width, card_most(room));
    u16::try_from(lines.len()).unwrap_or(0)
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

/// The diagnoses of an ended deploy, `width` columns wide and at most
/// `most` rows: what happened, the fix and its key right under it (so a
/// short pane still shows it), then the evidence; wrapped lines hang under
/// their first. What the HTTP check serves comes last. When it all does
/// not fit, evidence goes first (from the end), said in one line: the
/// titles, the fixes and the HTTP check are never cut.
fn card_lines(
    deploy: &Deploy,
    state: &State,
    theme: &Theme,
    width: u16,
    most: usize,
) -> Vec<Line<'static>> {
    let key = state.config.keymap.keys_of(crate::keymap::Action::Fix);
    // Each line, and whether it is evidence (cut first).
    let mut lines: Vec<(Line<'static>, bool)> = Vec::new();
    for d in &deploy.diagnoses {
        for l in wrapped(&format!("⚠ {}", d.title), width, "", "  ") {
            lines.push((Line::styled(l, theme.error), false));
        }
        if let Some(fix) = &d.fix {
            let text = format!("{key} fix: {}", fix.words());
            for (i, l) in wrapped(&text, width, "  ", "    ").into_iter().enumerate() {
                let line = match l.strip_prefix(&format!("  {key}")) {
                    Some(after) if i == 0 => Line::from(vec![
                        Span::raw("  "),
                        Span::styled(key.clone(), theme.key),
                        Span::raw(after.to_string()),
                    ]),
                    _ => Line::raw(l),
                };
                lines.push((line, false));
            }
        }
        for e in &d.evidence {
            lines.extend(
                wrapped(e, width, "  ", "    ")
                    .into_iter()
                    .map(|l| (Line::raw(l), true)),
            );
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
            lines.push((Line::styled(l, style), false));
        }
    }
    fit_card(lines, most, theme)
}

/// Drops evidence lines from the end until the card fits `most` rows,
/// with one line in their place saying how many.
fn fit_card(
    mut lines: Vec<(Line<'static>, bool)>,
    most: usize,
    theme: &Theme,
) -> Vec<Line<'static>> {
    if lines.len() > most {
        let evidence = lines.iter().filter(|(_, e)| *e).count();
        let cut = (lines.len() + 1 - most).min(evidence);
        let mut left = cut;
        let mut at = None;
        for i in (0..lines.len()).rev() {
            if left > 0 && lines[i].1 {
                lines.remove(i);
                left -= 1;
                at = Some(i);
            }
        }
        if let Some(at) = at.filter(|_| cut > 0) {
            let note = format!(
                "  … {}: a taller window shows them",
                crate::text::count(cut as u64, "more line", "more lines")
            );
            lines.insert(at, (Line::styled(note, theme.dim), false));
        }
    }
    lines.into_iter().map(|(l, _)| l).take(most).collect()
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
        let room = inner
            .height
            .saturating_sub(u16::try_from(d.steps.len() + 1).unwrap_or(0));
        let [steps, card, rest] = Layout::vertical([
            Constraint::Length(u16::try_from(d.steps.len() + 1).unwrap_or(0)),
            Constraint::Length(card_rows(d, state, inner.width, room)),
            Constraint::Fill(1),
        ])
        .areas(inner);
        frame.render_widget(Paragraph::new(step_lines(d, state.now, theme)), steps);
        frame.render_widget(
            Paragraph::new(card_lines(d, state, theme, inner.width, card_most(room))),
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

    /// A host's state and a deploy of it, not started.
    fn one_deploy() -> (State, Deploy) {
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
        (state, Deploy::new(plan, std::time::UNIX_EPOCH))
    }

    #[test]
    fn a_card_puts_its_fix_under_its_title_and_wrapped_lines_hang() {
        use crate::deploy::diagnosis::{Diagnosis, Fix, Kind};
        let (state, mut d) = one_deploy();
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
        let text: Vec<String> = card_lines(&d, &state, &theme, 40, 8)
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

    /// A card longer than its rows loses evidence, said in one line; its
    /// title, fix and HTTP check stay whole.
    #[test]
    fn a_long_card_cuts_evidence_never_the_fix_or_the_http_check() {
        use crate::deploy::diagnosis::{Diagnosis, Fix, Kind};
        let (state, mut d) = one_deploy();
        d.diagnosed(vec![Diagnosis {
            kind: Kind::StaleServices,
            title: "nginx is still running the previous configuration".into(),
            evidence: (1..=10).map(|i| format!("evidence {i}")).collect(),
            fix: Some(Fix::Restart {
                units: vec!["nginx.service".into()],
            }),
        }]);
        d.served = Some(crate::deploy::http_check::Served {
            url: "http://127.0.0.1:8080/".into(),
            expected: Some("commit 68548a7".into()),
            ok: false,
            said: "version 1.0.0 (commit 2b891b6)".into(),
            not_compared: false,
        });
        assert_eq!(
            d.log.raw_line(d.log.len() - 1),
            Some("⚠ nginx is still running the previous configuration"),
            "the log marks it once, by its title"
        );
        let theme = Theme::new(state.config.theme);
        let text: Vec<String> = card_lines(&d, &state, &theme, 60, 8)
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect();
        assert_eq!(
            text,
            [
                "⚠ nginx is still running the previous configuration",
                "  f fix: restart nginx.service",
                "  evidence 1",
                "  evidence 2",
                "  … 8 more lines: a taller window shows them",
                "http check: ✗ http://127.0.0.1:8080/ serves `version 1.0.0",
                "  (commit 2b891b6)`, not `commit 68548a7`: not what was",
                "  deployed",
            ]
        );
        // With room, all of it.
        assert_eq!(card_lines(&d, &state, &theme, 60, 20).len(), 15);
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
