//! The runtime: owns the terminal, the event loop and background tasks.
//! Terminal events, task results and a tick meet in one `select!`; every one
//! becomes a `Msg` for `update`, and the screen is redrawn at most once a frame.

use std::time::{Duration, SystemTime};

use anyhow::Context;
use crossterm::event::{Event, EventStream};
use futures::StreamExt;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::app::{update, Effect, Msg, State};
use crate::config::Config;
use crate::ui;

/// At most ~60 redraws a second however fast messages arrive.
const FRAME: Duration = Duration::from_millis(16);
/// Relative times ("3m ago") move on even when nothing else happens.
const TICK: Duration = Duration::from_secs(1);

/// Logs panics to the log file too; ratatui's hook (installed after this one)
/// restores the terminal first and then calls this.
pub fn install_panic_logging() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        tracing::error!("panic: {info}");
        previous(info);
    }));
}

/// Runs the TUI until the user quits. `intro` lines open the activity log.
pub async fn run(config: Config, intro: Vec<String>) -> anyhow::Result<()> {
    let mut terminal = ratatui::try_init().context("cannot set up the terminal")?;
    let result = event_loop(&mut terminal, config, intro).await;
    ratatui::restore();
    result
}

async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    config: Config,
    intro: Vec<String>,
) -> anyhow::Result<()> {
    let (_tx, mut rx) = mpsc::unbounded_channel::<Msg>();
    let mut state = State::new(config);
    for line in intro {
        update(&mut state, Msg::Log(line));
    }
    let mut events = EventStream::new();
    let mut tick = tokio::time::interval(TICK);
    // `kill` or a closed terminal window: leave like `q` does, terminal restored.
    let mut sigterm = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let mut sighup = signal(SignalKind::hangup()).context("SIGHUP handler")?;
    let size = terminal.size()?;
    update(
        &mut state,
        Msg::Resize {
            log_rows: ui::log_rows(size.width, size.height),
        },
    );

    let mut dirty = true;
    let mut last_draw = Instant::now() - FRAME;
    loop {
        if dirty && last_draw.elapsed() >= FRAME {
            terminal.draw(|frame| ui::view(&state, frame))?;
            dirty = false;
            last_draw = Instant::now();
        }
        let msg = tokio::select! {
            event = events.next() => match event {
                Some(Ok(event)) => match translate(event) {
                    Some(msg) => msg,
                    None => continue,
                },
                Some(Err(e)) => return Err(e).context("reading terminal input"),
                None => return Ok(()),
            },
            Some(msg) = rx.recv() => msg,
            _ = tick.tick() => Msg::Tick(SystemTime::now()),
            _ = sigterm.recv() => return Ok(()),
            _ = sighup.recv() => return Ok(()),
            _ = tokio::time::sleep_until(last_draw + FRAME), if dirty => continue,
        };
        let mut effects = update(&mut state, msg);
        // Take everything already queued before drawing again.
        while let Ok(msg) = rx.try_recv() {
            effects.extend(update(&mut state, msg));
        }
        dirty = true;
        if effects.contains(&Effect::Quit) {
            return Ok(());
        }
    }
}

fn translate(event: Event) -> Option<Msg> {
    match event {
        Event::Key(key) => Some(Msg::Key(key)),
        Event::Resize(width, height) => Some(Msg::Resize {
            log_rows: ui::log_rows(width, height),
        }),
        _ => None,
    }
}
