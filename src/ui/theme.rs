//! Colours and text styles. `mono` (or `NO_COLOR`) uses only bold, dim and reverse.

use ratatui::style::{Color, Modifier, Style};

use crate::config::ThemeName;

#[derive(Debug, Clone, Copy)]
pub struct Theme {
    pub border: Style,
    pub focused_border: Style,
    pub title: Style,
    pub selected: Style,
    pub dim: Style,
    pub ok: Style,
    pub warn: Style,
    pub error: Style,
    pub key: Style,
    pub bar: Style,
}

impl Theme {
    pub fn new(name: ThemeName) -> Self {
        match name {
            ThemeName::Default => Theme {
                border: Style::new().fg(Color::DarkGray),
                focused_border: Style::new().fg(Color::Cyan),
                title: Style::new().add_modifier(Modifier::BOLD),
                selected: Style::new()
                    .bg(Color::DarkGray)
                    .add_modifier(Modifier::BOLD),
                dim: Style::new().fg(Color::Gray).add_modifier(Modifier::DIM),
                ok: Style::new().fg(Color::Green),
                warn: Style::new().fg(Color::Yellow),
                error: Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
                key: Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
                bar: Style::new().bg(Color::Black).fg(Color::White),
            },
            ThemeName::Mono => Theme {
                border: Style::new(),
                focused_border: Style::new().add_modifier(Modifier::BOLD),
                title: Style::new().add_modifier(Modifier::BOLD),
                selected: Style::new().add_modifier(Modifier::REVERSED),
                dim: Style::new().add_modifier(Modifier::DIM),
                ok: Style::new(),
                warn: Style::new().add_modifier(Modifier::BOLD),
                error: Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
                key: Style::new().add_modifier(Modifier::BOLD),
                bar: Style::new().add_modifier(Modifier::REVERSED),
            },
        }
    }
}
