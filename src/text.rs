//! Text from outside (hosts, git, flake.lock, the config, nix) made safe to
//! show, once, where it enters. A terminal obeys escape sequences in whatever
//! it is sent: a unit state holding `ESC ] 0 ; … BEL` would retitle the
//! window, `ESC [ 2 J` would blank it and OSC 52 would write the clipboard.
//! So every control character is shown as a visible escape (`\x1b`), and
//! quotes of remote output are cut to a bounded length that says how much
//! was cut. Log panes keep colours: [`AnsiFilter`] passes SGR sequences
//! only and drops every other one.

use std::borrow::Cow;

/// The longest piece of outside text quoted in one message (a warning, an
/// error, one line of the activity log).
pub const QUOTE_MAX: usize = 400;
/// The longest line a log pane keeps; the rest is counted, not stored.
pub const LINE_MAX: usize = 16 * 1024;

/// Characters a terminal may act on instead of showing: C0 and C1 controls,
/// DEL, and the bidirectional overrides that reorder what is shown.
/// `1 commit`, `2 commits`: a count with its noun.
pub fn count(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}')
}

/// `c` as a visible escape: `\x1b`, `\u{202e}`.
fn escape(c: char, out: &mut String) {
    use std::fmt::Write;
    let n = u32::from(c);
    let _ = if n <= 0xff {
        write!(out, "\\x{n:02x}")
    } else {
        write!(out, "\\u{{{n:x}}}")
    };
}

/// One line of outside text, safe to draw: every control character
/// (newlines too) shown as a visible escape.
pub fn clean(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe(c) {
            escape(c, &mut out);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Several lines of outside text: newlines kept, tabs as a space, every
/// other control character escaped.
pub fn clean_lines(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' => out.push('\n'),
            '\t' => out.push(' '),
            c if is_unsafe(c) => escape(c, &mut out),
            c => out.push(c),
        }
    }
    out
}

/// At most `max` bytes of `s` (cut at a character boundary), saying how
/// many bytes were left out.
pub fn cap(s: &str, max: usize) -> Cow<'_, str> {
    if s.len() <= max {
        return Cow::Borrowed(s);
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}… ({} more bytes cut)", &s[..end], s.len() - end))
}

/// Outside text as it is quoted in a message: one line, cleaned, capped.
pub fn quote(s: &str) -> String {
    clean(&cap(s, QUOTE_MAX)).into_owned()
}

/// Several lines of outside text as quoted in a message (a command's
/// stderr): newlines kept, cleaned, capped at eight one-line quotes.
pub fn quote_lines(s: &str) -> String {
    clean_lines(&cap(s, 8 * QUOTE_MAX))
}

/// Bytes from outside as text: invalid UTF-8 shown as `�`, never an error.
pub fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `text` made safe (see [`AnsiFilter`]) and without colours: for output
/// that is not a terminal.
pub fn plain(text: &str) -> String {
    let safe = AnsiFilter::filter(text);
    let mut out = String::with_capacity(safe.len());
    let mut chars = safe.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // Only SGR sequences are left: ESC [ … m.
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Filters a byte stream for a log pane: printable text, newlines, carriage
/// returns and SGR (colour) sequences pass; tabs become spaces; every other
/// escape sequence (OSC titles and clipboard, cursor moves, screen clears,
/// DCS, …) is dropped; other control characters are shown escaped. It keeps
/// its state between chunks, so a sequence split across reads is still seen.
#[derive(Default)]
pub struct AnsiFilter {
    parser: vte::Parser,
}

impl std::fmt::Debug for AnsiFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AnsiFilter")
    }
}

impl Clone for AnsiFilter {
    /// A copy starts between sequences (a half-read sequence is not copied).
    fn clone(&self) -> Self {
        AnsiFilter::default()
    }
}

impl AnsiFilter {
    /// Appends the safe form of `bytes` to `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut String) {
        let mut sink = Sink { out };
        self.parser.advance(&mut sink, bytes);
    }

    /// The safe form of one complete piece of text.
    pub fn filter(text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        AnsiFilter::default().feed(text.as_bytes(), &mut out);
        out
    }
}

struct Sink<'a> {
    out: &'a mut String,
}

impl vte::Perform for Sink<'_> {
    fn print(&mut self, c: char) {
        if is_unsafe(c) {
            escape(c, self.out);
        } else {
            self.out.push(c);
        }
    }

    fn execute(&mut self, byte: u8) {
        match byte {
            b'\n' | b'\r' => self.out.push(char::from(byte)),
            b'\t' => self.out.push_str("    "),
            other => escape(char::from(other), self.out),
        }
    }

    fn csi_dispatch(&mut self, params: &vte::Params, intermediates: &[u8], ignore: bool, c: char) {
        // Only Select Graphic Rendition: colours and bold, nothing that moves or clears.
        if c != 'm' || ignore || !intermediates.is_empty() {
            return;
        }
        self.out.push_str("\x1b[");
        for (i, param) in params.iter().enumerate() {
            if i > 0 {
                self.out.push(';');
            }
            for (j, sub) in param.iter().enumerate() {
                if j > 0 {
                    self.out.push(':');
                }
                self.out.push_str(&sub.to_string());
            }
        }
        self.out.push('m');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_become_visible() {
        assert_eq!(clean("nginx.service"), "nginx.service");
        assert_eq!(
            clean("running\x1b]0;pwned\x07\x1b[2J"),
            "running\\x1b]0;pwned\\x07\\x1b[2J"
        );
        assert_eq!(clean("a\nb\u{9b}c\u{202e}d"), "a\\x0ab\\x9bc\\u{202e}d");
        assert_eq!(clean_lines("a\tb\nc\x1b"), "a b\nc\\x1b");
    }

    #[test]
    fn caps_say_what_was_cut() {
        assert_eq!(cap("short", 10), "short");
        assert_eq!(cap("abcdef", 4), "abcd… (2 more bytes cut)");
        // Never splits a character.
        assert_eq!(cap("ééé", 3), "é… (4 more bytes cut)");
        let q = quote(&"x".repeat(10_000_000));
        assert!(q.len() < QUOTE_MAX + 40, "{}", q.len());
        assert!(q.ends_with("(9999600 more bytes cut)"), "{q}");
    }

    #[test]
    fn log_filter_keeps_colours_and_drops_every_other_sequence() {
        let f = AnsiFilter::filter;
        assert_eq!(f("\x1b[31;1merror:\x1b[0m x"), "\x1b[31;1merror:\x1b[0m x");
        assert_eq!(f("a\x1b]0;title\x07b"), "ab", "OSC title");
        assert_eq!(f("a\x1b]52;c;aGVsbG8=\x1b\\b"), "ab", "OSC 52 clipboard");
        assert_eq!(
            f("a\x1b[2Jb\x1b[Hc\x1b[?1049h"),
            "abc",
            "clear, home, alt screen"
        );
        assert_eq!(f("a\x1bPqpayload\x1b\\b"), "ab", "DCS");
        assert_eq!(f("a\x1bcb"), "ab", "reset");
        assert_eq!(f("bell\x07\tx\r\n"), "bell\\x07    x\r\n");
        assert_eq!(f("\x1b[38:2:255:0:0mrgb"), "\x1b[38:2:255:0:0mrgb");
    }

    #[test]
    fn a_sequence_split_across_chunks_is_still_dropped() {
        let mut filter = AnsiFilter::default();
        let mut out = String::new();
        filter.feed(b"x\x1b]0;ti", &mut out);
        filter.feed(b"tle\x07y\x1b[3", &mut out);
        filter.feed(b"1mz", &mut out);
        assert_eq!(out, "xy\x1b[31mz");
    }

    #[test]
    fn invalid_utf8_is_shown_not_fatal() {
        let mut out = String::new();
        AnsiFilter::default().feed(b"ok \xff\xfe end\n", &mut out);
        assert!(out.starts_with("ok ") && out.ends_with(" end\n"), "{out:?}");
        assert!(out.contains('\u{fffd}'));
        assert_eq!(lossy(b"a\xffb"), "a\u{fffd}b");
    }
}
