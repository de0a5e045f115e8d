//! The status bar (config in use, last notice, running tasks) and the key hints.

use ratatui::prelude::*;
use ratatui::widgets::Paragraph;

use super::Theme;
use crate::app::State;

pub fn draw_status(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let jobs = if state.jobs.is_empty() {
        String::new()
    } else {
        format!(" {} running ", state.jobs.len())
    };
    let room = usize::from(area.width).saturating_sub(jobs.chars().count() + 1);
    // The notice first: it is what just happened. The config in use when
    // there is none.
    let line = match &state.notice {
        Some(notice) => Line::raw(format!(" {}", super::fit(notice, room.saturating_sub(1)))),
        None => Line::styled(
            super::fit(
                &format!(
                    " config: {} ({})",
                    state.config.path.display(),
                    state.config.found_by
                ),
                room,
            ),
            theme.dim,
        ),
    };
    frame.render_widget(Paragraph::new(line), area);
    if !jobs.is_empty() {
        let w = u16::try_from(jobs.chars().count())
            .unwrap_or(area.width)
            .min(area.width);
        let right = Rect::new(area.right() - w, area.y, w, 1);
        frame.render_widget(Paragraph::new(Span::styled(jobs, theme.warn)), right);
    }
}

pub fn draw_footer(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let entries = crate::app::modes::footer(state);
    let help = state.config.keymap.keys_of(crate::keymap::Action::Help);
    // Whole entries only; when some do not fit, the help key says where they are.
    let more = format!("… {help} all keys");
    let width = usize::from(area.width);
    let mut spans = vec![Span::raw(" ")];
    let mut used = 1;
    for (i, (key, label)) in entries.iter().enumerate() {
        let size = key.chars().count() + 1 + label.chars().count() + 2;
        let last = i + 1 == entries.len();
        let room = if last {
            width
        } else {
            width.saturating_sub(more.chars().count())
        };
        if used + size > room {
            spans.push(Span::styled(more, theme.dim));
            break;
        }
        spans.push(Span::styled(key.clone(), theme.key));
        spans.push(Span::raw(format!(" {label}  ")));
        used += size;
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
