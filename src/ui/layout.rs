//! Where each pane goes: sized by what it has to show. The hosts pane is as
//! wide as its lines and as tall as its hosts, the services pane as tall as
//! its units, the flake pane as tall as its inputs; the log spans the whole
//! width below them and gets every row they leave.
//!
//! Pure geometry over the state, so `update` uses it too: paging and
//! sideways scrolling move by what the log pane really shows.

use ratatui::layout::{Constraint, Layout, Rect};

use crate::app::{HostStatus, State};

/// Where each pane goes on a screen of `area`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    pub hosts: Rect,
    pub services: Rect,
    pub flake: Rect,
    pub log: Rect,
    pub status: Rect,
    pub footer: Rect,
}

/// The log keeps at least this many rows of text.
const LOG_MIN_ROWS: u16 = 6;
/// The flake pane keeps at least this many columns.
const FLAKE_MIN_WIDTH: u16 = 40;
/// The hosts column is at least this wide, at most this share of the screen.
const LEFT_MIN_WIDTH: u16 = 40;
const LEFT_MAX_PERCENT: u16 = 50;

pub fn areas(area: Rect, state: &State) -> Areas {
    let [main, status, footer] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    // (max then min, not clamp: on a tiny screen the bounds cross.)
    // The flake table whole comes before a whole store path in the hosts.
    let flake_wants = super::flake::wanted_width(state).max(FLAKE_MIN_WIDTH);
    let left = hosts_width(state)
        .min(main.width.saturating_sub(flake_wants))
        .max(LEFT_MIN_WIDTH)
        .min(main.width * LEFT_MAX_PERCENT / 100)
        .min(main.width.saturating_sub(FLAKE_MIN_WIDTH));
    let (hosts_rows, services_rows) = left_rows(state, usize::from(left.saturating_sub(4)));
    let flake_width = main.width.saturating_sub(left);
    let top_wanted =
        (hosts_rows + services_rows).max(cells(super::flake::wanted_rows(state, flake_width)));
    let top = top_wanted
        .max(10)
        .min(main.height.saturating_sub(LOG_MIN_ROWS + 2));
    let [top_area, log] =
        Layout::vertical([Constraint::Length(top), Constraint::Fill(1)]).areas(main);
    let [left_area, flake] =
        Layout::horizontal([Constraint::Length(left), Constraint::Fill(1)]).areas(top_area);
    // The hosts as tall as they need, while the services keep room for
    // every unit (the stale note below them only gets what is left).
    let services_min = cells(2 + 1 + state.selected().map_or(1, |h| h.services.len().max(1)));
    let hosts_height = hosts_rows
        .min(top.saturating_sub(services_min.min(top / 2)))
        .max(3);
    let [hosts, services] =
        Layout::vertical([Constraint::Length(hosts_height), Constraint::Fill(1)]).areas(left_area);
    Areas {
        hosts,
        services,
        flake,
        log,
        status,
        footer,
    }
}

/// Rows (with borders) the hosts and the services pane want, the hosts'
/// lines laid out `width` columns wide.
fn left_rows(state: &State, width: usize) -> (u16, u16) {
    let hosts: usize = state
        .hosts
        .iter()
        .map(|h| super::hosts::line_count(h, state, width))
        .sum();
    let services = super::services::wanted_rows(state, cells(width + 4));
    (cells(hosts + 2), cells(services))
}

/// Columns the hosts pane wants: its widest line, the store path given a
/// useful part (it is cut to fit), plus borders and the cursor mark.
fn hosts_width(state: &State) -> u16 {
    let widest = state
        .hosts
        .iter()
        .map(|h| {
            let badge = match &h.status {
                HostStatus::Up(_) => 12,
                HostStatus::NotProbed => 14,
                HostStatus::Unreachable {
                    timed_out: true, ..
                } => 30,
                HostStatus::Unreachable { .. } => 13,
            };
            let first = h.name.chars().count() + 1 + badge + 2 + h.target.chars().count();
            // "gen 42 · activated 12m ago · " and the store path, whole.
            let path = h
                .last_known()
                .and_then(|p| p.probe.current_system.as_deref())
                .map_or(12, |p| super::short_store_path(p, 200).chars().count());
            let second = 2 + 30 + path;
            first.max(second)
        })
        .max()
        .unwrap_or(0);
    cells(widest + 2 + 2)
}

fn cells(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

/// The log pane's text size (rows, columns) on a screen of `width`x`height`.
pub fn log_size(width: u16, height: u16, state: &State) -> (usize, usize) {
    let log = areas(Rect::new(0, 0, width, height), state).log;
    let steps = super::log::step_rows(
        state,
        log.width.saturating_sub(2),
        log.height.saturating_sub(2),
    );
    (
        usize::from(log.height.saturating_sub(2 + steps)).max(1),
        usize::from(log.width.saturating_sub(2)).max(1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_screen_size_is_laid_out_without_a_panic() {
        let config = crate::config::parse(
            "[[hosts]]\nname = \"a\"\ntarget = \"me@a\"\nservices = [\"nginx\"]\n",
            std::path::Path::new("/t.toml"),
            crate::config::FoundBy::Flag,
        )
        .expect("config");
        let state = State::new(config);
        for width in (0..=220).step_by(3) {
            for height in (0..=70).step_by(2) {
                let a = areas(Rect::new(0, 0, width, height), &state);
                let screen = Rect::new(0, 0, width, height);
                for r in [a.hosts, a.services, a.flake, a.log] {
                    assert!(
                        screen.union(r) == screen || r.area() == 0,
                        "{width}x{height}: {a:?}"
                    );
                }
            }
        }
    }
}
