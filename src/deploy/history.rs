//! Deploy history on disk: one folder per deploy under the data dir, with
//! `record.json` (what ran and where each step is, rewritten as each step
//! starts and ends) and `log` (every line, written as it comes and synced
//! at most every second or megabyte, and at every step: a flood of lines
//! costs no fsync each, and a crash or a power loss loses at most that
//! much). Kept up to `history_limit`, the oldest pruned first.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::{Deploy, StepState};

/// Schema name and version of `record.json`.
pub const RECORD_SCHEMA: &str = "deploytui.deploy-record/1";

/// Where the deploys made with the config at `config` are kept:
/// `$XDG_DATA_HOME/deploytui/deploys/<the config's path>`, each config its
/// own folder (a demo's or another config's deploys are not this one's).
pub fn dir_for(config: &Path) -> PathBuf {
    dir_under(&crate::paths::data_dir(), config)
}

/// As `dir_for`, under deploytui's data folder `data_dir`.
pub fn dir_under(data_dir: &Path, config: &Path) -> PathBuf {
    data_dir.join("deploys").join(folder_name(config))
}

/// A config's path as one folder name: its absolute path with `/` as `%`
/// (readable, and the same for the same file on every run), at most 200
/// bytes (its end kept: the file name tells most).
fn folder_name(config: &Path) -> String {
    let absolute = std::path::absolute(config).unwrap_or_else(|_| config.to_path_buf());
    let name = absolute
        .to_string_lossy()
        .trim_start_matches('/')
        .replace('/', "%");
    let mut start = name.len().saturating_sub(200);
    while !name.is_char_boundary(start) {
        start += 1;
    }
    name[start..].to_string()
}

/// What a deploy was and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub schema: String,
    pub host: String,
    pub target: String,
    pub engine: String,
    /// The nixos-rebuild line run (nixos-rebuild engine only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    pub action: String,
    pub installable: String,
    pub overrides: Vec<(String, String)>,
    /// Unix seconds.
    pub started: u64,
    /// `None` while it runs, or when deploytui stopped before it ended.
    pub ended: Option<u64>,
    /// "switch done", "failed at copy", "cancelled at build", …
    pub verdict: String,
    pub ok: Option<bool>,
    /// The system the host ran before, and the one built.
    pub before: Option<String>,
    pub after: Option<String>,
    /// Each step: its name, how it ended, what it said.
    pub steps: Vec<(String, String, String)>,
    /// What went wrong or silently did not happen (see `deploy::diagnosis`).
    #[serde(default)]
    pub diagnoses: Vec<super::diagnosis::Diagnosis>,
    /// What the HTTP check served after the deploy.
    #[serde(default)]
    pub served: Option<super::http_check::Served>,
    /// The folder it is kept in (not stored: where it was read from).
    #[serde(skip)]
    pub folder: PathBuf,
}

impl Record {
    fn of(deploy: &Deploy) -> Record {
        let secs = crate::ui::unix_secs;
        Record {
            schema: RECORD_SCHEMA.into(),
            host: deploy.plan.host_name.clone(),
            target: deploy.plan.target.clone(),
            engine: deploy.plan.engine.name().into(),
            command: deploy.plan.rebuild_argv(),
            action: deploy.plan.action.as_str().into(),
            installable: deploy.plan.installable.clone(),
            overrides: deploy.plan.overrides.clone(),
            started: secs(deploy.started),
            ended: deploy.ended.map(secs),
            verdict: deploy.verdict(),
            ok: deploy.finished().then(|| !deploy.failed()),
            before: deploy.before.clone(),
            after: deploy.built.clone(),
            steps: deploy
                .steps
                .iter()
                .map(|s| {
                    let (state, words) = match &s.state {
                        StepState::Waiting => ("waiting", String::new()),
                        StepState::Running => ("running", String::new()),
                        StepState::Done(w) => ("done", w.clone()),
                        StepState::Failed(w) => ("failed", w.clone()),
                        StepState::Unknown(w) => ("unknown", w.clone()),
                        StepState::Skipped => ("skipped", String::new()),
                    };
                    (s.kind.name().to_string(), state.to_string(), words)
                })
                .collect(),
            diagnoses: deploy.diagnoses.clone(),
            served: deploy.served.clone(),
            folder: PathBuf::new(),
        }
    }

    /// One line for a list: when, where, what, how it ended.
    pub fn line(&self) -> String {
        let when = crate::ui::when(self.started, crate::ui::unix_secs(SystemTime::now()));
        let took = self.ended.map_or(String::new(), |e| {
            format!(", {}s", e.saturating_sub(self.started))
        });
        let verdict = if self.ended.is_none() {
            "unfinished: deploytui stopped before the deploy ended".to_string()
        } else {
            match self.diagnoses.first() {
                // What it found is the news, as it was on screen.
                Some(d) => format!("{} · ⚠ {}", self.verdict, d.title),
                None => self.verdict.clone(),
            }
        };
        format!("{when}  {} ({})  {verdict}{took}", self.host, self.action)
    }
}

/// Writes one deploy's record and log as it goes.
pub struct Writer {
    folder: PathBuf,
    log: File,
    written: usize,
    done: bool,
    /// Bytes written to the log since it was last synced, and when that was.
    unsynced: usize,
    synced_at: std::time::Instant,
    /// The steps' states the record on disk says.
    steps: Vec<StepState>,
    /// How often the log was synced (a flood must not mean a sync a line).
    syncs: u64,
}

/// The log is synced when this much waits, or this long passed.
const SYNC_BYTES: usize = 1 << 20;
const SYNC_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

impl Writer {
    /// A new folder for `deploy` under `base`, its record, an empty log.
    pub fn create(base: &Path, deploy: &Deploy) -> std::io::Result<Writer> {
        // Private to the user: a deploy's log says what its systems hold.
        std::fs::create_dir_all(base)?;
        crate::paths::private_dir(base)?;
        let started = crate::ui::unix_secs(deploy.started);
        // Sorts by time; the host name is checked by the config (no `/`).
        let stem = format!("{started}-{}", deploy.plan.host_name);
        let mut folder = base.join(&stem);
        let mut n = 1;
        while folder.exists() {
            n += 1;
            folder = base.join(format!("{stem}-{n}"));
        }
        std::fs::create_dir(&folder)?;
        crate::paths::private_dir(&folder)?;
        let log = OpenOptions::new()
            .create_new(true)
            .append(true)
            .mode(0o600)
            .open(folder.join("log"))?;
        let mut writer = Writer {
            folder,
            log,
            written: 0,
            done: false,
            unsynced: 0,
            synced_at: std::time::Instant::now(),
            steps: deploy.steps.iter().map(|s| s.state.clone()).collect(),
            syncs: 0,
        };
        writer.write_record(deploy)?;
        Ok(writer)
    }

    pub fn folder(&self) -> &Path {
        &self.folder
    }

    /// Appends the lines the log gained since the last call, and rewrites
    /// the record when the deploy has ended. Returns whether it had ended.
    pub fn sync(&mut self, deploy: &Deploy) -> std::io::Result<bool> {
        let mut batch = String::new();
        while let Some(line) = deploy.log.raw_line(self.written) {
            batch.push_str(line);
            batch.push('\n');
            self.written += 1;
        }
        if !batch.is_empty() {
            self.log.write_all(batch.as_bytes())?;
            self.unsynced += batch.len();
        }
        let steps: Vec<StepState> = deploy.steps.iter().map(|s| s.state.clone()).collect();
        let moved = steps != self.steps;
        let ended = deploy.finished() && deploy.diagnosed && !self.done;
        let due = self.unsynced >= SYNC_BYTES || self.synced_at.elapsed() >= SYNC_EVERY;
        if self.unsynced > 0 && (moved || ended || due) {
            self.log.sync_data()?;
            self.syncs += 1;
            self.unsynced = 0;
            self.synced_at = std::time::Instant::now();
        }
        if moved || ended {
            self.write_record(deploy)?;
            self.steps = steps;
        }
        if ended {
            self.done = true;
        }
        Ok(self.done)
    }

    /// How many times the log was synced so far.
    pub fn syncs(&self) -> u64 {
        self.syncs
    }

    /// The record, replaced whole (written aside, then renamed over).
    fn write_record(&mut self, deploy: &Deploy) -> std::io::Result<()> {
        let text =
            serde_json::to_string_pretty(&Record::of(deploy)).map_err(std::io::Error::other)?;
        let aside = self.folder.join("record.json.new");
        let mut file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&aside)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&aside, self.folder.join("record.json"))
    }
}

/// Every kept deploy, newest first; folders that do not read are skipped.
pub fn list(base: &Path) -> Vec<Record> {
    let mut records: Vec<Record> = std::fs::read_dir(base)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let folder = entry.path();
            let text = std::fs::read_to_string(folder.join("record.json")).ok()?;
            let mut record: Record = serde_json::from_str(&text).ok()?;
            record.folder = folder;
            Some(record)
        })
        .collect();
    records.sort_by(|a, b| b.started.cmp(&a.started).then(b.folder.cmp(&a.folder)));
    records
}

/// Removes the oldest deploys beyond `keep`.
pub fn prune(base: &Path, keep: usize) -> std::io::Result<usize> {
    let mut removed = 0;
    for old in list(base).into_iter().skip(keep) {
        std::fs::remove_dir_all(&old.folder)?;
        removed += 1;
    }
    Ok(removed)
}

/// A kept deploy's whole log.
pub fn read_log(folder: &Path) -> std::io::Result<String> {
    std::fs::read_to_string(folder.join("log"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::{Event, Plan, StepKind, SwitchAction};
    use std::time::{Duration, UNIX_EPOCH};

    fn deploy(host: &str, at: u64) -> Deploy {
        let text = format!(
            "[[hosts]]\nname = \"{host}\"\ntarget = \"root@h\"\nflake = \"/srv/infra#{host}\"\n"
        );
        let config =
            crate::config::parse(&text, Path::new("/t.toml"), crate::config::FoundBy::Flag)
                .unwrap();
        let plan = Plan::new(0, &config.hosts[0], SwitchAction::Switch, Vec::new()).unwrap();
        Deploy::new(plan, UNIX_EPOCH + Duration::from_secs(at))
    }

    /// 20,000 lines, each its own event, as a flooding activation sends
    /// them: written as they come, synced a handful of times, not 20,000;
    /// the record follows every step.
    #[test]
    fn a_flood_of_lines_is_synced_in_batches_and_the_record_follows_each_step() {
        let dir = tempfile::tempdir().unwrap();
        let mut d = deploy("s1", 1_795_000_000);
        let mut w = Writer::create(dir.path(), &d).unwrap();
        let t = UNIX_EPOCH + Duration::from_secs(1_795_000_001);
        d.apply(Event::Started(StepKind::Lock), t);
        w.sync(&d).unwrap();
        assert_eq!(
            list(dir.path())[0].steps[0].1,
            "running",
            "the record follows"
        );
        d.apply(Event::Finished(StepKind::Lock, Ok("held".into())), t);
        d.apply(Event::Started(StepKind::Build), t);
        w.sync(&d).unwrap();
        let before = w.syncs();
        for n in 0..20_000 {
            d.apply(
                Event::Output(StepKind::Build, vec![format!("line {n} of the flood")]),
                t,
            );
            w.sync(&d).unwrap();
        }
        let flood = w.syncs() - before;
        assert!(flood <= 30, "{flood} syncs for 20000 lines");
        let log = read_log(w.folder()).unwrap();
        assert!(
            log.contains("line 19999 of the flood"),
            "every line is written"
        );
        d.apply(Event::Finished(StepKind::Build, Ok("built".into())), t);
        w.sync(&d).unwrap();
        assert_eq!(w.syncs(), before + flood + 1, "synced when the step ended");
        assert_eq!(list(dir.path())[0].steps[1].1, "done");
    }

    #[test]
    fn a_deploy_is_written_as_it_goes_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut d = deploy("s1", 1_795_000_000);
        let mut w = Writer::create(dir.path(), &d).unwrap();
        let t = UNIX_EPOCH + Duration::from_secs(1_795_000_001);
        d.apply(Event::Started(StepKind::Lock), t);
        d.apply(Event::Finished(StepKind::Lock, Ok("held".into())), t);
        d.apply(Event::Started(StepKind::Build), t);
        d.apply(
            Event::Output(StepKind::Build, vec!["\u{1b}[31mred\u{1b}[0m line".into()]),
            t,
        );
        assert!(!w.sync(&d).unwrap());
        // Half way: the log is on disk, the record says it has not ended.
        let log = read_log(w.folder()).unwrap();
        assert!(log.contains("red\u{1b}[0m line"), "{log}");
        let listed = list(dir.path());
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].ended, None);
        assert!(
            listed[0].line().contains("unfinished"),
            "{}",
            listed[0].line()
        );

        d.apply(
            Event::Finished(StepKind::Build, Err("nix exited with 1".into())),
            t,
        );
        // Ended, but complete only with its diagnoses.
        assert!(!w.sync(&d).unwrap());
        d.diagnosed(Vec::new());
        assert!(w.sync(&d).unwrap());
        let r = &list(dir.path())[0];
        assert_eq!(r.schema, RECORD_SCHEMA);
        assert_eq!((r.ok, r.verdict.as_str()), (Some(false), "failed at build"));
        assert_eq!(
            r.steps[..2],
            [
                ("lock".into(), "done".into(), "held".into()),
                ("build".into(), "failed".into(), "nix exited with 1".into())
            ]
        );
        assert_eq!(r.steps[2].1, "skipped");
        assert!(read_log(&r.folder)
            .unwrap()
            .ends_with("build FAILED: nix exited with 1\n"));
    }

    /// Each config keeps its own deploys: another config's (a demo's) are
    /// not listed with them.
    #[test]
    fn each_config_keeps_its_own_deploys() {
        let data = tempfile::tempdir().unwrap();
        let mine = dir_under(
            data.path(),
            Path::new("/home/me/.config/deploytui/config.toml"),
        );
        let demo = dir_under(data.path(), Path::new("/tmp/dtfleet-x/deploytui.toml"));
        assert_ne!(mine, demo);
        assert!(
            mine.ends_with("home%me%.config%deploytui%config.toml"),
            "{}",
            mine.display()
        );
        Writer::create(&mine, &deploy("server1", 1_795_000_000)).unwrap();
        Writer::create(&demo, &deploy("demo1", 1_795_000_001)).unwrap();
        let hosts: Vec<String> = list(&mine).into_iter().map(|r| r.host).collect();
        assert_eq!(hosts, ["server1"]);
        let long = format!("/{}/config.toml", "d".repeat(300));
        let name = folder_name(Path::new(&long));
        assert!(
            name.len() <= 200 && name.ends_with("%config.toml"),
            "{name}"
        );
    }

    #[test]
    fn the_newest_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        for (i, host) in ["a", "b", "c", "d"].iter().enumerate() {
            Writer::create(dir.path(), &deploy(host, 1_795_000_000 + i as u64)).unwrap();
        }
        // Two at the same second do not share a folder.
        Writer::create(dir.path(), &deploy("d", 1_795_000_003)).unwrap();
        assert_eq!(prune(dir.path(), 2).unwrap(), 3);
        let hosts: Vec<String> = list(dir.path()).into_iter().map(|r| r.host).collect();
        assert_eq!(hosts, ["d", "d"]);
    }
}
