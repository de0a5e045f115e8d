//! The host's HTTP check: a page fetched on the host (over ssh, so it works
//! behind a firewall) after a deploy and after a restart, and whether it
//! serves what was deployed. Reading the answer is pure.

use serde::{Deserialize, Serialize};

use crate::config::HttpCheck;
use crate::remote::CommandOutput;

/// How long the host's curl may take.
pub const CURL_SECS: u64 = 5;

/// What the page served, judged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Served {
    pub url: String,
    /// The text looked for (`{rev}` filled in), if any.
    pub expected: Option<String>,
    pub ok: bool,
    /// The line that matters of what it served, or why nothing was.
    pub said: String,
    /// `expect` names `{rev}` and the host's system names no commit (built
    /// from a dirty tree): the page was not compared, only fetched.
    #[serde(default)]
    pub not_compared: bool,
}

/// `curl` on the host: fails on HTTP errors, says why on stderr.
pub fn argv(check: &HttpCheck) -> Vec<String> {
    [
        "curl",
        "-fsS",
        "--max-time",
        &CURL_SECS.to_string(),
        "--",
        &check.url,
    ]
    .map(String::from)
    .to_vec()
}

/// The text the page must contain: `expect` with `{rev}` as the commit the
/// host's system was built from. A system that names no commit (built from
/// a dirty tree) leaves nothing to compare: only the answer counts then.
pub fn expected(check: &HttpCheck, rev: Option<&str>) -> Option<String> {
    let expect = check.expect.as_ref()?;
    match rev {
        _ if !expect.contains("{rev}") => Some(expect.clone()),
        Some(rev) => Some(expect.replace("{rev}", rev)),
        None => None,
    }
}

/// Judges what curl got.
pub fn judge(check: &HttpCheck, rev: Option<&str>, out: &CommandOutput) -> Served {
    let expected = expected(check, rev);
    let not_compared = expected.is_none() && check.expect.is_some();
    if !out.success() {
        let why = match out.code {
            Some(127) => "curl is not on the host".to_string(),
            _ => crate::text::clean(out.stderr.trim()).into_owned(),
        };
        return Served {
            url: check.url.clone(),
            expected,
            ok: false,
            said: format!("no answer: {why}"),
            not_compared,
        };
    }
    let text: Vec<String> = out
        .stdout
        .lines()
        .map(strip_tags)
        .filter(|l| !l.trim().is_empty())
        .collect();
    let (ok, line) = match &expected {
        Some(want) => match text.iter().find(|l| l.contains(want.as_str())) {
            Some(l) => (true, Some(l)),
            None => (false, None),
        },
        None => (true, None),
    };
    // The matching line, or the first that names a version or a number.
    let line = line
        .or_else(|| text.iter().find(|l| l.chars().any(|c| c.is_ascii_digit())))
        .or(text.first())
        .map_or("(an empty page)".to_string(), |l| {
            crate::ui::fit(crate::text::clean(l.trim()).as_ref(), 100)
        });
    Served {
        url: check.url.clone(),
        expected,
        ok,
        said: line,
        not_compared,
    }
}

/// `<p id="version">version 1.0.0</p>` → `version 1.0.0`.
fn strip_tags(line: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in line.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

impl Served {
    /// The page could not be fetched at all: why.
    pub fn not_fetched(
        check: &HttpCheck,
        rev: Option<&str>,
        why: impl std::fmt::Display,
    ) -> Served {
        Served {
            url: check.url.clone(),
            expected: expected(check, rev),
            ok: false,
            said: format!("not fetched: {why}"),
            not_compared: false,
        }
    }

    /// One line: what the URL serves, and whether it is what was deployed.
    pub fn line(&self) -> String {
        if self.not_compared && self.ok {
            return format!(
                "? {} serves `{}` (the host's system names no commit, built from a dirty tree: not compared)",
                self.url, self.said
            );
        }
        match (&self.expected, self.ok) {
            (Some(want), true) => format!("✓ {} serves `{}` (has `{want}`)", self.url, self.said),
            (Some(want), false) => format!(
                "✗ {} serves `{}`, not `{want}`: not what was deployed",
                self.url, self.said
            ),
            (None, true) => format!("✓ {} answers: `{}`", self.url, self.said),
            (None, false) => format!("✗ {}: {}", self.url, self.said),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(expect: Option<&str>) -> HttpCheck {
        HttpCheck {
            url: "http://127.0.0.1:8080/".into(),
            expect: expect.map(String::from),
        }
    }

    fn out(code: i32, stdout: &str, stderr: &str) -> CommandOutput {
        CommandOutput {
            code: Some(code),
            stdout: stdout.into(),
            stderr: stderr.into(),
        }
    }

    const PAGE: &str = "<html>\n<h1>webapp</h1>\n<p id=\"version\">version 1.0.0 (commit 1111111aaaa)</p>\n</html>\n";

    #[test]
    fn rev_is_the_hosts_commit_and_the_line_that_matters_is_shown() {
        let c = check(Some("commit {rev}"));
        let served = judge(&c, Some("1111111aaaa"), &out(0, PAGE, ""));
        assert!(served.ok);
        assert_eq!(served.said, "version 1.0.0 (commit 1111111aaaa)");
        // The old page, after a deploy of 2222222: it says what it serves.
        let stale = judge(&c, Some("2222222bbbb"), &out(0, PAGE, ""));
        assert!(!stale.ok);
        assert_eq!(
            stale.line(),
            "✗ http://127.0.0.1:8080/ serves `version 1.0.0 (commit 1111111aaaa)`, not `commit 2222222bbbb`: not what was deployed"
        );
        assert_eq!(
            argv(&c),
            [
                "curl",
                "-fsS",
                "--max-time",
                "5",
                "--",
                "http://127.0.0.1:8080/"
            ]
        );
    }

    #[test]
    fn a_system_that_names_no_commit_is_not_compared() {
        let c = check(Some("commit {rev}"));
        let served = judge(&c, None, &out(0, PAGE, ""));
        assert!(served.ok, "not a problem");
        assert_eq!(served.expected, None);
        assert_eq!(
            served.line(),
            "? http://127.0.0.1:8080/ serves `version 1.0.0 (commit 1111111aaaa)` (the host's system names no commit, built from a dirty tree: not compared)"
        );
    }

    #[test]
    fn no_answer_says_why() {
        let c = check(None);
        let refused = judge(&c, None, &out(7, "", "curl: (7) Failed to connect\n"));
        assert!(!refused.ok);
        assert!(refused.said.contains("Failed to connect"), "{refused:?}");
        let missing = judge(&c, None, &out(127, "", ""));
        assert_eq!(missing.said, "no answer: curl is not on the host");
        assert!(judge(&c, None, &out(0, PAGE, "")).ok);
    }
}
