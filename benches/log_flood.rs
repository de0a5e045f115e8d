//! Benchmark: a deploy whose build prints a flood of lines. Output reaches
//! `update` in chunks (as the runner sends it), each line is read as nix's
//! internal-json and kept; a frame is then drawn. The TUI must keep up with
//! any rebuild. Run: `cargo bench --bench log_flood`.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use deploytui::app::{update, Effect, Msg, State};
use deploytui::config::{parse, FoundBy};
use deploytui::deploy::{Event, StepKind};

const CHUNK: usize = 500;

fn key(s: &mut State, c: char) -> Vec<Effect> {
    update(
        s,
        Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)),
    )
}

/// The app with one deploy started and its build step running.
fn deploying() -> (State, deploytui::app::JobId) {
    let config = parse(
        "[[hosts]]\nname = \"s1\"\ntarget = \"local\"\nflake = \"/srv/infra#s1\"\n",
        Path::new("/bench/deploytui.toml"),
        FoundBy::Flag,
    )
    .expect("config");
    let mut s = State::new(config);
    update(
        &mut s,
        Msg::Resize {
            width: 200,
            height: 60,
        },
    );
    key(&mut s, 'd');
    let fx = key(&mut s, 'y');
    let Some(Effect::Deploy { id, .. }) = fx.first() else {
        panic!("no deploy: {fx:?}")
    };
    let id = *id;
    update(
        &mut s,
        Msg::Deploy {
            id,
            event: Event::Started(StepKind::Build),
        },
    );
    (s, id)
}

fn main() {
    let lines_count = common::size(200_000, 2_000);
    let (mut s, id) = deploying();
    // What nix 2.8 prints for a builder's line, with a colour now and then.
    let lines: Vec<String> = (0..lines_count)
        .map(|i| {
            let text = if i % 10 == 0 {
                format!("\\u001b[31mwarning {i}\\u001b[0m: something to read")
            } else {
                format!("compiling module {i} of the web app, a line of a typical length")
            };
            format!(r#"@nix {{"action":"result","fields":["{text}"],"id":42,"type":101}}"#)
        })
        .collect();
    // What the deploy's own task does now: read nix's JSON (off the
    // screen's thread); what the screen's thread then folds.
    let started = Instant::now();
    let parsed: Vec<Vec<deploytui::nix::internal_json::Event>> = lines
        .chunks(CHUNK)
        .map(|chunk| {
            chunk
                .iter()
                .map(|l| deploytui::nix::internal_json::parse_line(l))
                .collect()
        })
        .collect();
    let read = started.elapsed();
    let started = Instant::now();
    for chunk in parsed {
        update(
            &mut s,
            Msg::Deploy {
                id,
                event: Event::Nix(StepKind::Build, chunk),
            },
        );
    }
    let folded = started.elapsed();
    // Before: the screen's thread read the JSON too (the same lines again,
    // into a second deploy's log, for the comparison).
    let (mut before_state, before_id) = deploying();
    let started = Instant::now();
    for chunk in lines.chunks(CHUNK) {
        update(
            &mut before_state,
            Msg::Deploy {
                id: before_id,
                event: Event::Output(StepKind::Build, chunk.to_vec()),
            },
        );
    }
    let folded_raw = started.elapsed();
    let kept = s.deploys[&0].log.len();
    // A frame of the app with the deploy in the log pane, as the runtime draws it.
    let mut terminal =
        ratatui::Terminal::new(ratatui::backend::TestBackend::new(200, 60)).expect("terminal");
    let mut frames = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        terminal.draw(|f| deploytui::ui::view(&s, f)).expect("draw");
        frames.push(t.elapsed());
    }
    frames.sort();
    let per_line = folded / u32::try_from(lines_count).unwrap_or(1);
    println!(
        "{lines_count} lines in chunks of {CHUNK}, on the screen's thread: {folded:?} ({per_line:?} a line, {:.0} lines/s); \
         reading nix's JSON, in the deploy's task: {read:?}; before, both on the screen's thread: {folded_raw:?}",
        lines_count as f64 / folded.as_secs_f64()
    );
    println!("lines kept: {kept}");
    println!(
        "frame at 200x60 with the deploy shown: median {:?}, worst {:?}",
        frames[frames.len() / 2],
        frames.last().copied().unwrap_or(Duration::ZERO)
    );
}
