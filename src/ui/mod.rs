//! Drawing. Every function here reads the state and draws; none changes it.

mod dialogs;
pub(crate) mod flake;
pub(crate) mod help;
pub(crate) mod hosts;
pub mod layout;
pub(crate) mod log;
pub(crate) mod services;
mod statusbar;
mod theme;

pub use theme::Theme;

use ratatui::prelude::*;
use ratatui::widgets::{Block, BorderType, Borders, Paragraph, Wrap};

use crate::app::{Overlay, Pane, State};

/// Below this the panes cannot show their content; a message says so instead.
pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

/// Whether a terminal of this size is below the smallest that is drawn.
pub fn too_small_for(width: u16, height: u16) -> bool {
    width < MIN_WIDTH || height < MIN_HEIGHT
}

/// Draws the whole screen.
pub fn view(state: &State, frame: &mut Frame) {
    let theme = Theme::new(state.config.theme);
    let area = frame.area();
    if too_small_for(area.width, area.height) {
        too_small(frame, area, state, &theme);
        return;
    }
    let a = layout::areas(area, state);
    hosts::draw(frame, a.hosts, state, &theme);
    services::draw(frame, a.services, state, &theme);
    flake::draw(frame, a.flake, state, &theme);
    log::draw(frame, a.log, state, &theme);
    statusbar::draw_status(frame, a.status, state, &theme);
    statusbar::draw_footer(frame, a.footer, state, &theme);
    match &state.overlay {
        Some(Overlay::Help { scroll }) => help::draw(frame, area, state, &theme, *scroll),
        Some(Overlay::ConfirmQuit) => dialogs::confirm_quit(frame, area, state, &theme),
        Some(Overlay::Confirm(pending)) => {
            dialogs::confirm_action(frame, area, state, &theme, pending)
        }
        Some(Overlay::Password(prompt)) => dialogs::password(frame, area, state, &theme, prompt),
        Some(Overlay::UpdateLock(update)) => {
            dialogs::confirm_lock_update(frame, area, state, &theme, update)
        }
        Some(Overlay::CommitLock(commit)) => {
            dialogs::confirm_lock_commit(frame, area, state, &theme, commit)
        }
        Some(Overlay::Search(input)) => dialogs::search(frame, area, &theme, input),
        Some(Overlay::History { records, cursor }) => {
            dialogs::history(frame, area, &theme, records, *cursor)
        }
        Some(Overlay::ConfirmActivation(host)) => {
            dialogs::confirm_activation(frame, area, state, &theme, *host)
        }
        Some(Overlay::ConfirmStopDeploy(host)) => {
            dialogs::confirm_stop_deploy(frame, area, state, &theme, *host)
        }
        Some(Overlay::DeployPreview(plan)) => {
            dialogs::deploy_preview(frame, area, state, &theme, plan.as_slice())
        }
        Some(Overlay::HashFix(fix)) => dialogs::hash_fix(frame, area, state, &theme, fix),
        Some(Overlay::PickJournal { units, chosen, .. }) => {
            dialogs::pick_journal(frame, area, state, &theme, units, *chosen)
        }
        None => {}
    }
}

/// A pane's frame: its title, an extra label, and a bright border when focused.
fn pane_block(pane: Pane, state: &State, theme: &Theme, extra: String) -> Block<'static> {
    let focused = state.focus == pane && state.overlay.is_none();
    let mut title = vec![Span::styled(format!(" {} ", pane.title()), theme.title)];
    if !extra.is_empty() {
        title.push(Span::styled(extra, theme.dim));
    }
    Block::default()
        .borders(Borders::ALL)
        .border_type(if focused {
            BorderType::Thick
        } else {
            BorderType::Rounded
        })
        .border_style(if focused {
            theme.focused_border
        } else {
            theme.border
        })
        .title(Line::from(title))
}

/// A centred rectangle of at most `w`x`h` inside `area`.
fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

fn too_small(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let text = vec![
        Line::styled("Terminal too small", theme.warn),
        Line::raw(format!(
            "{}x{}, needs at least {MIN_WIDTH}x{MIN_HEIGHT}",
            area.width, area.height
        )),
        if matches!(state.overlay, Some(crate::app::Overlay::ConfirmQuit)) {
            Line::styled(
                format!(
                    "{} running: quit anyway? {} yes, {} no",
                    crate::text::count(state.jobs.len() as u64, "task", "tasks"),
                    state.config.keymap.keys_of(crate::keymap::Action::Confirm),
                    state.config.keymap.keys_of(crate::keymap::Action::Cancel)
                ),
                theme.warn,
            )
        } else {
            Line::raw(format!(
                "{} quits; nothing else works until the terminal is larger",
                state.config.keymap.keys_of(crate::keymap::Action::Quit)
            ))
        },
    ];
    let rect = centered(area, area.width, 3);
    frame.render_widget(
        Paragraph::new(text)
            .alignment(Alignment::Center)
            .wrap(Wrap { trim: true }),
        rect,
    );
}

/// `3s`, `12m`, `5h`, `2d`: how long ago, in the largest whole unit.
pub fn ago(secs: u64) -> String {
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m", secs / 60),
        3600..=86_399 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86_400),
    }
}

/// A time as unix seconds (0 for a time before 1970, which no clock here gives).
pub fn unix_secs(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A moment as people read it, with how long ago: `12:03:11, 3m ago` on
/// the same day (local time), `2026-11-24 12:03:11, 2d ago` before.
pub fn when(t: u64, now: u64) -> String {
    let zone = jiff::tz::TimeZone::system();
    let zoned = |secs: u64| {
        jiff::Timestamp::from_second(i64::try_from(secs).ok()?)
            .ok()
            .map(|ts| ts.to_zoned_datetime(zone.clone()))
    };
    let (Some(at), Some(today)) = (zoned(t), zoned(now)) else {
        return format!("@{t}");
    };
    let clock = if at.date() == today.date() {
        at.strftime("%H:%M:%S").to_string()
    } else {
        at.strftime("%Y-%m-%d %H:%M:%S").to_string()
    };
    if t > now {
        // The host's clock is ahead of ours.
        format!("{clock}, {} from now", ago(t - now))
    } else {
        format!("{clock}, {} ago", ago(now - t))
    }
}

/// `text` cut to `width` columns, with `…` where it was cut.
pub fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    if width > 0 {
        cut.push('…');
    }
    cut
}

/// A store path shortened to fit `width`: the hash cut to 7 characters (what
/// tells systems apart), then the name cut at the end if still too long.
pub fn short_store_path(path: &str, width: usize) -> String {
    let base = path.strip_prefix("/nix/store/").unwrap_or(path);
    let short = match base.split_once('-') {
        Some((hash, name)) if hash.len() > 7 => format!("{}…-{name}", &hash[..7]),
        _ => base.to_string(),
    };
    let width = width.max(9);
    if short.chars().count() <= width {
        short
    } else {
        format!("{}…", short.chars().take(width - 1).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times() {
        assert_eq!(ago(5), "5s");
        assert_eq!(ago(125), "2m");
        assert_eq!(ago(7300), "2h");
        assert_eq!(ago(200_000), "2d");
    }

    #[test]
    fn moments_read_as_clock_times_with_their_age() {
        let now = 1_795_609_567;
        let today = when(now - 180, now);
        assert!(today.ends_with(", 3m ago"), "{today}");
        assert_eq!(today.len(), "12:03:11, 3m ago".len(), "{today}");
        let older = when(now - 3 * 86_400, now);
        assert!(
            older.contains("2026-11-2") && older.ends_with(", 3d ago"),
            "{older}"
        );
        assert!(when(now + 5, now).ends_with(", 5s from now"));
    }

    #[test]
    fn store_paths_are_shortened() {
        let p = "/nix/store/mishfibwd0cvxa49ybd0ra950j38i1i5-nixos-system-server1-1.0.0";
        assert_eq!(
            short_store_path(p, 80),
            "mishfib…-nixos-system-server1-1.0.0"
        );
        assert_eq!(short_store_path(p, 14), "mishfib…-nixo…");
    }
}
