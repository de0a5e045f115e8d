//! Property tests: arbitrary bytes, and arbitrary values in the right
//! shape, fed to every parser of outside data (flake.lock, `systemctl show`,
//! the probe, the config). None may panic, each ends in bounded time, and
//! nothing it keeps for the screen (or the screen itself) holds a character
//! the terminal would act on.

mod common;

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, UNIX_EPOCH};

use deploytui::app::{update, Msg, State};
use deploytui::config::{parse as parse_config, FoundBy};
use deploytui::nix::lock;
use deploytui::probe;
use deploytui::remote::CommandOutput;
use deploytui::systemd;
use deploytui::text::is_unsafe;
use proptest::prelude::*;

/// Hangs and exponential blow-ups show up as a failure, not a stuck run.
/// Generous: this catches "never ends", it does not time anything.
const LIMIT: Duration = Duration::from_secs(20);

fn within<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(LIMIT) {
        Ok(value) => value,
        // It panicked: fail with its own message.
        Err(mpsc::RecvTimeoutError::Disconnected) => match worker.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("{what} ended without a result"),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what} did not end within {LIMIT:?}"),
    }
}

/// Every string anywhere in a serialized value.
fn strings(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        serde_json::Value::Object(o) => {
            for (k, x) in o {
                out.push(k.clone());
                strings(x, out);
            }
        }
        _ => {}
    }
}

fn assert_safe(what: &str, s: &str) {
    assert!(
        !s.chars().any(is_unsafe),
        "{what} keeps a control character: {s:?}"
    );
}

fn assert_all_safe<T: serde::Serialize>(what: &str, value: &T) {
    let mut all = Vec::new();
    strings(&serde_json::to_value(value).expect("serializes"), &mut all);
    for s in all {
        assert_safe(what, &s);
    }
}

/// Text with plenty of what terminals act on: C0, DEL, C1, bidi overrides,
/// and the escape sequences that retitle, clear or write the clipboard.
fn nasty() -> impl Strategy<Value = String> {
    prop_oneof![
        "(?s).{0,40}",
        "[\\x00-\\x1f\\x7f-\\x9f\u{202a}-\u{202e}a-z0-9=@/.-]{0,40}",
        Just("\x1b]0;pwned\x07".to_string()),
        Just("\x1b[2J\x1b[H".to_string()),
        Just("\x1b]52;c;cHduZWQ=\x07".to_string()),
        Just("--output=/tmp/deploytui-pwned".to_string()),
        Just("\u{fffd}\u{202e}".to_string()),
    ]
}

fn screen_cells(state: &mut State, width: u16, height: u16) -> Vec<String> {
    common::drawn(state, width, height)
        .buffer()
        .content()
        .iter()
        .map(|c| c.symbol().to_string())
        .collect()
}

const CONFIG: &str = r#"
[[hosts]]
name = "server1"
target = "me@server1"
services = ["nginx", "webapp"]
"#;

/// Draws the app after a probe of server1 that said `out`, with the hosts,
/// services and log panes each focused in turn.
fn draw_probe(out: CommandOutput) {
    let config =
        parse_config(CONFIG, Path::new("/x/deploytui.toml"), FoundBy::Flag).expect("valid config");
    let mut state = State::new(config);
    let now = UNIX_EPOCH + Duration::from_secs(1_795_556_100);
    update(&mut state, Msg::Tick(now));
    let units = state.hosts[0].services.clone();
    let result = probe::read(&out, &units).map(|p| (p, Duration::from_millis(5)));
    update(
        &mut state,
        Msg::ProbeDone {
            host: 0,
            result,
            at: now,
        },
    );
    for _ in 0..3 {
        for (w, h) in [(80, 24), (160, 48)] {
            for cell in screen_cells(&mut state, w, h) {
                assert_safe("a drawn cell", &cell);
            }
        }
        update(
            &mut state,
            Msg::Key(crossterm::event::KeyEvent::new(
                crossterm::event::KeyCode::Tab,
                crossterm::event::KeyModifiers::NONE,
            )),
        );
    }
}

const PROBE_KEYS: &[&str] = &[
    "probe",
    "now",
    "current",
    "current_mtime",
    "booted",
    "profile",
    "profile_mtime",
    "uptime",
    "failed_units",
    "nixos_version",
    "nixos_version_json",
];
const SHOW_KEYS: &[&str] = &[
    "Id",
    "LoadState",
    "ActiveState",
    "SubState",
    "ActiveEnterTimestamp",
    "MainPID",
    "NRestarts",
];

/// Probe output in its own shape, with hostile values.
fn probe_text() -> impl Strategy<Value = String> {
    let head = prop::collection::vec((prop::sample::select(PROBE_KEYS), nasty()), 0..14);
    // Mostly the watched units, so the services pane draws what they say.
    let id = prop_oneof![
        3 => prop::sample::select(vec!["nginx.service", "webapp.service"]).prop_map(String::from),
        1 => nasty(),
    ];
    let unit = (
        id,
        prop::collection::vec((prop::sample::select(SHOW_KEYS), nasty()), 0..8),
    );
    let units = prop::collection::vec(unit, 0..4);
    (head, units, any::<bool>()).prop_map(|(head, units, ended)| {
        let mut s = String::from("probe=1\n");
        for (k, v) in head {
            s.push_str(&format!("{k}={v}\n"));
        }
        s.push_str("@@systemctl-show\n");
        let blocks: Vec<String> = units
            .into_iter()
            .map(|(id, fields)| {
                let fields: String = fields
                    .into_iter()
                    .map(|(k, v)| format!("{k}={v}\n"))
                    .collect();
                format!("Id={id}\n{fields}")
            })
            .collect();
        s.push_str(&blocks.join("\n"));
        if ended {
            s.push_str("@@end\n");
        }
        s
    })
}

/// A flake.lock in its own shape: nodes that name each other (cycles and
/// nodes listed many times included), hostile names and values.
fn lock_json() -> impl Strategy<Value = String> {
    let ids = prop::sample::select(vec!["root", "a", "b", "c", "-x", "\u{1b}]0;t\u{7}"]);
    let names = prop::sample::select(vec![
        "nixpkgs",
        "mono",
        "a",
        "b",
        "-o",
        "x\u{1b}[2J",
        "home-manager",
        "",
    ]);
    let input = prop_oneof![
        ids.clone().prop_map(serde_json::Value::from),
        prop::collection::vec(names.clone(), 0..3).prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
    ];
    let rev = prop_oneof![
        Just("c5f221cb27cb3b2f53a151ac25f4e196c202d1d8".to_string()),
        Just("--output=/tmp/deploytui-pwned".to_string()),
        Just("HEAD".to_string()),
        nasty(),
    ];
    let kind = prop::sample::select(vec!["git", "github", "path", "tarball", "w\u{1b}]2;t\u{7}"]);
    let locked = (kind, nasty(), rev, nasty(), nasty()).prop_map(|(kind, url, rev, r, p)| {
        serde_json::json!({
            "type": kind, "url": url, "rev": rev, "ref": r, "path": p,
            "owner": "o", "repo": "r", "narHash": "sha256-x", "lastModified": 1
        })
    });
    let node = (
        prop::collection::btree_map(names, input, 0..4),
        prop::option::of(locked),
    )
        .prop_map(|(inputs, locked)| {
            let mut n = serde_json::json!({ "inputs": inputs });
            if let Some(l) = locked {
                n["locked"] = l.clone();
                n["original"] = l;
            }
            n
        });
    (
        prop::collection::btree_map(ids, node, 0..6),
        prop::sample::select(vec![5u64, 7, 8]),
        prop::sample::select(vec!["root", "a", "nope"]),
    )
        .prop_map(|(nodes, version, root)| {
            serde_json::json!({ "nodes": nodes, "root": root, "version": version }).to_string()
        })
}

fn check_show(text: String) {
    let (units, warnings) = within("parse_show", move || systemd::parse_show(&text));
    assert_all_safe("a unit", &units);
    assert_all_safe("a warning", &warnings);
}

fn check_probe(text: String) -> probe::HostProbe {
    let p = within("probe::parse", move || {
        probe::parse(&text, &["nginx.service".into()])
    });
    assert_all_safe("the probe", &p);
    p
}

fn check_lock(text: String) {
    let result = within("lock::parse", move || lock::parse(&text, Path::new("/r")));
    match result {
        Ok(inputs) => {
            assert!(inputs.len() <= lock::MAX_INPUTS);
            for input in &inputs {
                assert!(lock::is_input_name(
                    input.path.rsplit('/').next().unwrap_or("")
                ));
                if let Some(rev) = &input.rev {
                    assert!(lock::is_commit_id(rev), "rev {rev:?} passed");
                }
            }
            assert_all_safe("a lock input", &inputs);
        }
        Err(message) => assert_safe("a lock error", &message),
    }
}

/// A config in its own shape with hostile values, quoted as TOML strings
/// (JSON's string escapes are TOML's too).
fn config_text() -> impl Strategy<Value = String> {
    let q = |s: String| serde_json::to_string(&s).expect("json string");
    (nasty(), nasty(), nasty(), nasty(), nasty(), nasty()).prop_map(
        move |(name, target, unit, flake, input, key)| {
            format!(
                "[[hosts]]\nname = {}\ntarget = {}\nservices = [{}]\nflake = {}\noverride_inputs = [{}]\n\n[keys]\nquit = [{}]\n",
                q(name), q(target), q(unit), q(flake), q(input), q(key)
            )
        },
    )
}

fn check_config(text: String) {
    let result = within("config::parse", move || {
        parse_config(&text, Path::new("/x/deploytui.toml"), FoundBy::Flag)
            .map_err(|e| e.to_string())
    });
    match result {
        Ok(config) => {
            for host in &config.hosts {
                assert_safe("a host name", &host.name);
                assert_safe("a target", &host.target.to_string());
                for unit in &host.services {
                    assert_safe("a unit", unit);
                }
            }
        }
        Err(message) => {
            for line in message.lines() {
                assert_safe("a config error", line);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn systemctl_show_from_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        check_show(String::from_utf8_lossy(&bytes).into_owned());
    }

    #[test]
    fn systemctl_show_in_its_own_shape(
        blocks in prop::collection::vec(
            prop::collection::vec((prop::sample::select(SHOW_KEYS), nasty()), 0..8), 0..6)
    ) {
        let text: Vec<String> = blocks.into_iter()
            .map(|b| b.into_iter().map(|(k, v)| format!("{k}={v}\n")).collect())
            .collect();
        check_show(text.join("\n"));
    }

    #[test]
    fn probe_from_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        check_probe(String::from_utf8_lossy(&bytes).into_owned());
    }

    #[test]
    fn probe_in_its_own_shape(text in probe_text()) {
        let p = check_probe(text);
        if let Some(path) = &p.current_system {
            prop_assert!(probe::is_store_path(path));
        }
    }

    #[test]
    fn flake_lock_from_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        check_lock(String::from_utf8_lossy(&bytes).into_owned());
    }

    #[test]
    fn flake_lock_in_its_own_shape(text in lock_json()) {
        check_lock(text);
    }

    #[test]
    fn config_from_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        check_config(String::from_utf8_lossy(&bytes).into_owned());
    }

    #[test]
    fn config_in_its_own_shape(text in config_text()) {
        check_config(text);
    }
}

proptest! {
    // Drawing the whole app is slower: fewer cases, the same properties.
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn the_screen_never_holds_a_control_character(
        stdout in probe_text(),
        stderr in nasty(),
        code in prop::option::of(0i32..256),
    ) {
        within("drawing a hostile probe", move || draw_probe(CommandOutput { code, stdout, stderr }));
    }
}
