//! nix's `--log-format internal-json`: one `@nix {json}` line per event,
//! read by the activity and result type numbers of nix's `logging.hh`
//! (the same on 2.8 and today). Anything else on the stream is a plain
//! line. Unknown types are kept as `Other`, never an error: a newer nix
//! may add some, and deploy-rs 1.0.0 failing on nix 2.8 is exactly what
//! this must not repeat.

use serde::Deserialize;
use serde_json::Value;

/// What kind of work an activity is (`ActivityType` in `logging.hh`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Activity {
    /// 100: one store path copied `[path, from, to]`.
    CopyPath {
        path: String,
    },
    /// 101
    FileTransfer,
    /// 102
    Realise,
    /// 103: all the paths of a copy.
    CopyPaths,
    /// 104: all the builds of a command.
    Builds,
    /// 105: one derivation built `[drv, machine, round, rounds]`.
    Build {
        drv: String,
    },
    /// 108: one path fetched from a substituter.
    Substitute {
        path: String,
    },
    Other(u64),
}

/// What a result reports (`ResultType` in `logging.hh`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// 101: a line the builder printed.
    BuildLogLine(String),
    /// 104: a builder phase began (`unpackPhase`, `buildPhase`, ...).
    SetPhase(String),
    /// 105: `[done, expected, running, failed]` of the activity.
    Progress {
        done: u64,
        expected: u64,
        running: u64,
        failed: u64,
    },
    /// 106: `[activityType, n]`: how many of that kind are expected.
    SetExpected {
        activity: u64,
        expected: u64,
    },
    /// 107: a line of a post-build hook.
    PostBuildLogLine(String),
    Other(u64),
}

/// One line of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Start {
        id: u64,
        parent: Option<u64>,
        activity: Activity,
        text: String,
    },
    Stop {
        id: u64,
    },
    Result {
        id: u64,
        report: Report,
    },
    /// A message, with its level (0 error, 1 warn, 2 notice, 3 info, 4+ chatty).
    Msg {
        level: u8,
        text: String,
    },
    /// Not an `@nix` line, or one that does not parse: shown as it is.
    Plain(String),
}

#[derive(Deserialize)]
struct Raw {
    action: String,
    #[serde(default)]
    id: Option<u64>,
    #[serde(default)]
    parent: Option<u64>,
    #[serde(default, rename = "type")]
    kind: Option<u64>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    fields: Vec<Value>,
    #[serde(default)]
    level: Option<u8>,
    #[serde(default)]
    msg: Option<String>,
}

/// Reads one line (without its newline).
pub fn parse_line(line: &str) -> Event {
    let Some(json) = line.strip_prefix("@nix ") else {
        return Event::Plain(line.to_string());
    };
    let Ok(raw) = serde_json::from_str::<Raw>(json) else {
        return Event::Plain(line.to_string());
    };
    let text = |i: usize| {
        raw.fields
            .get(i)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let number = |i: usize| raw.fields.get(i).and_then(Value::as_u64).unwrap_or(0);
    match (raw.action.as_str(), raw.id) {
        ("start", Some(id)) => Event::Start {
            id,
            parent: raw.parent.filter(|p| *p != 0),
            activity: match raw.kind.unwrap_or(0) {
                100 => Activity::CopyPath { path: text(0) },
                101 => Activity::FileTransfer,
                102 => Activity::Realise,
                103 => Activity::CopyPaths,
                104 => Activity::Builds,
                105 => Activity::Build { drv: text(0) },
                108 => Activity::Substitute { path: text(0) },
                other => Activity::Other(other),
            },
            text: raw.text.clone().unwrap_or_default(),
        },
        ("stop", Some(id)) => Event::Stop { id },
        ("result", Some(id)) => Event::Result {
            id,
            report: match raw.kind.unwrap_or(0) {
                101 => Report::BuildLogLine(text(0)),
                104 => Report::SetPhase(text(0)),
                105 => Report::Progress {
                    done: number(0),
                    expected: number(1),
                    running: number(2),
                    failed: number(3),
                },
                106 => Report::SetExpected {
                    activity: number(0),
                    expected: number(1),
                },
                107 => Report::PostBuildLogLine(text(0)),
                other => Report::Other(other),
            },
        },
        ("msg", _) => Event::Msg {
            level: raw.level.unwrap_or(3),
            text: raw.msg.unwrap_or_default(),
        },
        _ => Event::Plain(line.to_string()),
    }
}

/// The name of a store path or derivation: `/nix/store/<hash>-dep-1.0.drv` → `dep-1.0`.
pub fn store_name(path: &str) -> &str {
    let base = path.rsplit('/').next().unwrap_or(path);
    let name = base.split_once('-').map_or(base, |(_, rest)| rest);
    name.strip_suffix(".drv").unwrap_or(name)
}

/// What a build or copy has done so far, folded from its events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// Derivations: built, expected, building now, failed.
    pub builds: Counts,
    /// Store paths copied: done and expected.
    pub copies: Counts,
    /// Bytes copied of the paths being copied now, when nix says.
    pub bytes: Counts,
    /// Derivations building now (activity id, name) and the last line each printed.
    pub building: Vec<(u64, String, Option<String>)>,
    /// The error messages nix gave (level 0), whole.
    pub errors: Vec<String>,
    builds_id: Option<u64>,
    copies_id: Option<u64>,
    /// Single-path copies under way (nix 2.8 reports no copy progress:
    /// each one that stops is one done).
    copying: Vec<u64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub done: u64,
    pub expected: u64,
    pub running: u64,
    pub failed: u64,
}

impl Progress {
    /// Folds one event in; returns a line for the log pane, if it is worth one.
    pub fn apply(&mut self, event: &Event) -> Option<String> {
        match event {
            Event::Start {
                id, activity, text, ..
            } => match activity {
                Activity::Builds => {
                    self.builds_id = Some(*id);
                    None
                }
                Activity::CopyPaths => {
                    // "copying 4 paths": nix 2.8 says how many only here.
                    if let Some(n) = text
                        .strip_prefix("copying ")
                        .and_then(|t| t.split_whitespace().next())
                        .and_then(|n| n.parse().ok())
                    {
                        self.copies_id = Some(*id);
                        self.copies.expected = n;
                    } else if self.copies_id.is_none() {
                        self.copies_id = Some(*id);
                    }
                    Some(text.clone()).filter(|t| !t.is_empty())
                }
                Activity::Build { drv } => {
                    self.building.push((*id, store_name(drv).to_string(), None));
                    Some(text.clone()).filter(|t| !t.is_empty())
                }
                Activity::CopyPath { .. } => {
                    self.copying.push(*id);
                    Some(text.clone()).filter(|t| !t.is_empty())
                }
                Activity::Substitute { .. } => Some(text.clone()).filter(|t| !t.is_empty()),
                _ => None,
            },
            Event::Stop { id } => {
                self.building.retain(|(b, ..)| b != id);
                if let Some(at) = self.copying.iter().position(|c| c == id) {
                    self.copying.remove(at);
                    self.copies.done += 1;
                }
                None
            }
            Event::Result { id, report } => match report {
                Report::BuildLogLine(line) | Report::PostBuildLogLine(line) => {
                    let name = match self.building.iter_mut().find(|(b, ..)| b == id) {
                        Some((_, name, last)) => {
                            *last = Some(line.clone());
                            name.clone()
                        }
                        None => "build".into(),
                    };
                    Some(format!("{name}> {line}"))
                }
                Report::SetPhase(phase) => {
                    let name = self
                        .building
                        .iter()
                        .find(|(b, ..)| b == id)
                        .map_or("build", |(_, n, _)| n.as_str());
                    Some(format!("{name}> phase {phase}"))
                }
                Report::Progress {
                    done,
                    expected,
                    running,
                    failed,
                } => {
                    let counts = Counts {
                        done: *done,
                        expected: *expected,
                        running: *running,
                        failed: *failed,
                    };
                    if Some(*id) == self.builds_id {
                        self.builds = counts;
                    } else if Some(*id) == self.copies_id {
                        self.copies = counts;
                    } else {
                        // A single path's copy reports its bytes.
                        self.bytes = counts;
                    }
                    None
                }
                _ => None,
            },
            Event::Msg { level, text } => {
                if *level == 0 {
                    self.errors.push(text.clone());
                }
                // Chatty levels (4+: "evaluating file …") stay out of the log.
                (*level <= 3).then(|| text.clone())
            }
            Event::Plain(line) => Some(line.clone()),
        }
    }
}

#[cfg(test)]
mod tests;
