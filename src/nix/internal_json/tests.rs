//! The parser on streams the real nix 2.8 wrote on this machine (a build of
//! two derivations, and a fixed-output hash mismatch; their flake.nix is
//! beside them), and on a hand-written stream in the format of newer nix
//! (from `src/libutil/logging.cc` JSONLogger and `logging.hh` in nix 2.24:
//! `raw_msg`, `parent`, setPhase, fetchTree 112, and types nix 2.8 lacks).

use super::*;

const BUILD: &str = include_str!("../../../tests/fixtures/internal-json/nix-2.8-build.ijson");
const MISMATCH: &str =
    include_str!("../../../tests/fixtures/internal-json/nix-2.8-hash-mismatch.ijson");
const COPY: &str = include_str!("../../../tests/fixtures/internal-json/nix-2.8-copy.ijson");
const NEWER: &str =
    include_str!("../../../tests/fixtures/internal-json/nix-2.24-handwritten.ijson");

fn fold(stream: &str) -> (Progress, Vec<String>) {
    let mut progress = Progress::default();
    let lines = stream
        .lines()
        .filter_map(|l| progress.apply(&parse_line(l)))
        .collect();
    (progress, lines)
}

#[test]
fn a_real_nix_2_8_build_folds_into_counts_and_lines() {
    let (p, lines) = fold(BUILD);
    assert_eq!(
        (p.builds.done, p.builds.expected, p.builds.failed),
        (2, 2, 0),
        "{p:?}"
    );
    assert!(p.building.is_empty(), "every build stopped");
    assert!(p.errors.is_empty());
    assert!(
        lines.contains(&"dep-1.0> building dep".to_string()),
        "{lines:#?}"
    );
    assert!(lines.contains(&"dep-1.0> second line".to_string()));
    assert!(
        lines.contains(&"top> \u{1b}[31mred line\u{1b}[0m".to_string()),
        "colours stay for the log pane to draw"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("building '/nix/store/")),
        "{lines:#?}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("evaluating file")),
        "chatty messages stay out"
    );
}

#[test]
fn the_last_line_each_derivation_printed_is_kept_while_it_builds() {
    let mut p = Progress::default();
    for line in BUILD.lines() {
        p.apply(&parse_line(line));
        if line.contains("\"building dep\"") {
            assert_eq!(
                p.building,
                vec![(
                    14328010899460,
                    "dep-1.0".into(),
                    Some("building dep".into())
                )]
            );
        }
    }
}

#[test]
fn a_hash_mismatch_is_an_error_message_whole() {
    let (p, _) = fold(MISMATCH);
    assert_eq!(p.errors.len(), 1, "{p:?}");
    let e = &p.errors[0];
    assert!(
        e.contains("hash mismatch in fixed-output derivation"),
        "{e}"
    );
    assert!(e.contains("specified:") && e.contains("got:"), "{e}");
    assert_eq!(p.builds.failed, 1, "{p:?}");
}

#[test]
fn newer_and_unknown_types_are_read_or_passed_over_never_fatal() {
    let (p, lines) = fold(NEWER);
    assert_eq!((p.builds.done, p.builds.expected), (2, 2));
    assert_eq!((p.bytes.done, p.bytes.expected), (1024, 4096));
    assert!(
        lines.contains(&"webapp-1.2.0> phase buildPhase".to_string()),
        "{lines:#?}"
    );
    assert!(lines.contains(&"webapp-1.2.0> \u{1b}[1mnpm\u{1b}[0m run build".to_string()));
    assert!(lines.contains(&"not json at all".to_string()));
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("@nix {\"action\":\"result\",\"fields\":\"broken\"")),
        "a broken line is shown as it is: {lines:#?}"
    );
    assert_eq!(
        parse_line(r#"@nix {"action":"start","id":1,"type":120,"text":"x"}"#),
        Event::Start {
            id: 1,
            parent: None,
            activity: Activity::Other(120),
            text: "x".into()
        }
    );
    assert_eq!(
        parse_line(r#"@nix {"action":"result","id":1,"type":999,"fields":[]}"#),
        Event::Result {
            id: 1,
            report: Report::Other(999)
        }
    );
}

#[test]
fn store_names_drop_the_hash_and_drv() {
    assert_eq!(
        store_name("/nix/store/ci3gdycm1d98rb2fkfmxcahi634phq3v-dep-1.0.drv"),
        "dep-1.0"
    );
    assert_eq!(
        store_name("/nix/store/3hz48mcwr6dvq7brncs9wl58mk9ddpgj-top"),
        "top"
    );
    assert_eq!(store_name("plain"), "plain");
}

#[test]
fn a_real_nix_2_8_copy_counts_its_paths() {
    let (p, lines) = fold(COPY);
    assert_eq!((p.copies.done, p.copies.expected), (4, 4), "{p:?}");
    assert!(lines.contains(&"copying 4 paths".to_string()), "{lines:#?}");
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("copying path '/nix/store/"))
            .count(),
        4
    );
}
