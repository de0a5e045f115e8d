//! The status bar (config in use, last notice, running tasks) and the key hints.

use ratatui::prelude::*;
use ratatui::widgets::Paragraph;

use super::Theme;
use crate::app::State;

pub fn draw_status(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let config = format!(
        " config: {} ({}) ",
        state.config.path.display(),
        state.config.found_by
    );
    let jobs = if state.jobs.is_empty() {
        String::new()
    } else {
        format!(" {} running ", state.jobs.len())
    };
    let notice = state.notice.clone().unwrap_or_default();
    let line = Line::from(vec![
        Span::styled(config, theme.bar),
        Span::raw(" "),
        Span::raw(notice),
    ]);
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
    let mut spans = vec![Span::raw(" ")];
    for (key, label) in crate::app::modes::footer(state) {
        spans.push(Span::styled(key, theme.key));
        spans.push(Span::raw(format!(" {label}  ")));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
