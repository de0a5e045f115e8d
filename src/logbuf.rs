//! Append-only log store: raw text plus line offsets. Lines keep their ANSI
//! colours and are turned into styled ratatui lines only when they are visible,
//! so a long build log costs memory for its bytes and nothing per frame.
//! What comes in is filtered once, on the way in: colours stay, every other
//! escape sequence goes, and a line longer than [`LINE_MAX`] is cut.

use ansi_to_tui::IntoText;
use ratatui::text::Line;

use crate::text::{AnsiFilter, LINE_MAX};

#[derive(Debug, Default, Clone)]
pub struct LogBuf {
    text: String,
    /// Start of each complete line in `text`.
    starts: Vec<usize>,
    /// A line still being written (no newline yet).
    partial_from: Option<usize>,
    /// Bytes of the current line left out past `LINE_MAX`.
    cut: usize,
    filter: AnsiFilter,
}

impl LogBuf {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a chunk of output; it may end mid-line, mid-sequence or in
    /// the middle of a UTF-8 character.
    pub fn push_bytes(&mut self, chunk: &[u8]) {
        let mut safe = String::with_capacity(chunk.len());
        self.filter.feed(chunk, &mut safe);
        self.append(&safe);
    }

    /// Appends a chunk of text; it may end mid-line.
    pub fn push_str(&mut self, chunk: &str) {
        self.push_bytes(chunk.as_bytes());
    }

    fn append(&mut self, chunk: &str) {
        for piece in chunk.split_inclusive('\n') {
            let start = *self.partial_from.get_or_insert(self.text.len());
            // Carriage returns redraw a line in place (progress bars); keep the
            // last state. Most lines have none: no copy of those.
            let piece: std::borrow::Cow<'_, str> = if piece.contains('\r') {
                piece.replace("\r\n", "\n").into()
            } else {
                piece.into()
            };
            let ends_line = piece.ends_with('\n');
            let body = piece.trim_end_matches('\n');
            let body = match body.rfind('\r') {
                Some(cr) => {
                    self.text.truncate(start);
                    self.cut = 0;
                    &body[cr + 1..]
                }
                None => body,
            };
            let room = LINE_MAX.saturating_sub(self.text.len() - start);
            if body.len() <= room {
                self.text.push_str(body);
            } else {
                let mut end = room;
                while !body.is_char_boundary(end) {
                    end -= 1;
                }
                self.text.push_str(&body[..end]);
                self.cut += body.len() - end;
            }
            if ends_line {
                if self.cut > 0 {
                    self.text
                        .push_str(&format!("… ({} more bytes cut)", self.cut));
                    self.cut = 0;
                }
                self.starts.push(start);
                self.partial_from = None;
            }
        }
    }

    /// Appends one whole line.
    pub fn push_line(&mut self, line: &str) {
        self.push_str(line);
        self.push_str("\n");
    }

    /// Number of lines, counting a partial last line.
    pub fn len(&self) -> usize {
        self.starts.len() + usize::from(self.partial_from.is_some())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The raw text of line `i` (with its ANSI codes).
    pub fn raw_line(&self, i: usize) -> Option<&str> {
        let start = if i < self.starts.len() {
            self.starts[i]
        } else if i == self.starts.len() {
            self.partial_from?
        } else {
            return None;
        };
        let end = self
            .starts
            .get(i + 1)
            .copied()
            .or(self.partial_from.filter(|_| i + 1 == self.starts.len()))
            .unwrap_or(self.text.len());
        Some(&self.text[start..end])
    }

    /// Styled lines `from..from+count` for drawing, each without its first
    /// `skip` characters (horizontal scroll). Bad escape sequences are shown as text.
    pub fn styled_lines(&self, from: usize, count: usize, skip: usize) -> Vec<Line<'static>> {
        (from..self.len().min(from.saturating_add(count)))
            .filter_map(|i| self.raw_line(i))
            .map(|raw| match raw.into_text() {
                Ok(text) => text.lines.into_iter().next().unwrap_or_default(),
                Err(_) => Line::raw(raw.to_string()),
            })
            .map(|line| skip_chars(line, skip))
            .collect()
    }

    /// The longest line's length in characters (escape codes included), to bound scrolling.
    pub fn widest(&self, from: usize, count: usize) -> usize {
        (from..self.len().min(from.saturating_add(count)))
            .filter_map(|i| self.raw_line(i))
            .map(|l| l.chars().count())
            .max()
            .unwrap_or(0)
    }
}

/// `line` without its first `n` characters, styles kept.
fn skip_chars(line: Line<'static>, mut n: usize) -> Line<'static> {
    if n == 0 {
        return line;
    }
    let mut spans = Vec::new();
    for span in line.spans {
        let len = span.content.chars().count();
        if n >= len {
            n -= len;
            continue;
        }
        let rest: String = span.content.chars().skip(n).collect();
        n = 0;
        spans.push(ratatui::text::Span::styled(rest, span.style));
    }
    Line::from(spans)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_across_chunks() {
        let mut b = LogBuf::new();
        b.push_str("building a\nbuil");
        assert_eq!(b.len(), 2);
        assert_eq!(b.raw_line(1), Some("buil"));
        b.push_str("ding b\n");
        assert_eq!(b.len(), 2);
        assert_eq!(b.raw_line(0), Some("building a"));
        assert_eq!(b.raw_line(1), Some("building b"));
        assert_eq!(b.raw_line(2), None);
    }

    #[test]
    fn carriage_return_keeps_last_state() {
        let mut b = LogBuf::new();
        b.push_str("copying 1/3\rcopying 2/3\rcopying 3/3\r\ndone\n");
        assert_eq!(b.raw_line(0), Some("copying 3/3"));
        assert_eq!(b.raw_line(1), Some("done"));
    }

    #[test]
    fn ansi_is_parsed_only_for_drawing() {
        let mut b = LogBuf::new();
        b.push_line("\x1b[31merror:\x1b[0m hash mismatch");
        assert_eq!(b.raw_line(0), Some("\x1b[31merror:\x1b[0m hash mismatch"));
        let lines = b.styled_lines(0, 10, 0);
        assert_eq!(lines.len(), 1);
        let text: String = lines[0].spans.iter().map(|s| s.content.as_ref()).collect();
        assert_eq!(text, "error: hash mismatch");
        assert_eq!(lines[0].spans[0].style.fg, Some(ratatui::style::Color::Red));
    }

    #[test]
    fn horizontal_scroll_keeps_styles() {
        let mut b = LogBuf::new();
        b.push_line("\x1b[31merror:\x1b[0m hash mismatch");
        let line = &b.styled_lines(0, 1, 3)[0];
        let text: String = line.spans.iter().map(|s| s.content.as_ref()).collect();
        assert_eq!(text, "or: hash mismatch");
        assert_eq!(line.spans[0].style.fg, Some(ratatui::style::Color::Red));
        assert!(b.styled_lines(0, 1, 100)[0].spans.is_empty());
    }

    #[test]
    fn only_colours_reach_the_screen() {
        let mut b = LogBuf::new();
        b.push_bytes(b"\x1b]0;pwned\x07\x1b[2J\x1b[32mok\x1b[0m \xff\n");
        assert_eq!(b.raw_line(0), Some("\x1b[32mok\x1b[0m \u{fffd}"));
    }

    #[test]
    fn a_huge_line_is_cut_and_says_so() {
        let mut b = LogBuf::new();
        let big = "y".repeat(LINE_MAX + 5000);
        b.push_str(&big[..LINE_MAX - 10]);
        b.push_str(&big[LINE_MAX - 10..]);
        b.push_str("\nnext\n");
        let first = b.raw_line(0).unwrap();
        assert!(
            first.ends_with("… (5000 more bytes cut)"),
            "{}",
            &first[first.len() - 40..]
        );
        assert!(first.len() < LINE_MAX + 40);
        assert_eq!(b.raw_line(1), Some("next"));
    }

    #[test]
    fn empty_lines_are_kept() {
        let mut b = LogBuf::new();
        b.push_str("a\n\nb\n");
        assert_eq!(b.len(), 3);
        assert_eq!(b.raw_line(1), Some(""));
        assert_eq!(b.styled_lines(0, 100, 0).len(), 3);
    }
}
