//! Benchmark: the idle cost of the flake pane with many hosts. Every tick
//! (1 s) the TUI checks every host's flake; in a monorepo all of them ask
//! the same repository. It measures one tick for 1 host (the baseline) and
//! for 50 hosts, each flake in its own folder of one repository, the way
//! the TUI's checker runs them (one shared `RepoCache`, reused for a tick),
//! beside the way it ran them before (each check asking git on its own).
//! Steady state: HEAD and the locks do not change, the last reports are
//! given. Run: `cargo bench --bench flake_tick`.

mod common;

use common::git;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use deploytui::config::FlakeRef;
use deploytui::nix::check::{self, FlakeReport, RepoCache};

/// A monorepo with `hosts` host flakes, each locking the repository itself
/// one commit behind HEAD (the brief's stale self-reference).
fn monorepo(repo: &Path, hosts: usize) -> Vec<FlakeRef> {
    git(repo, &["init", "-q", "-b", "main"]);
    git(repo, &["config", "user.email", "bench@deploytui.invalid"]);
    git(repo, &["config", "user.name", "bench"]);
    std::fs::write(repo.join("app.txt"), "1\n").expect("write");
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-q", "-m", "first"]);
    let locked = git(repo, &["rev-parse", "HEAD"]);
    let mut flakes = Vec::new();
    for i in 1..=hosts {
        let dir: PathBuf = repo.join(format!("infra/hosts/server{i}"));
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("flake.nix"), "{ outputs = _: { }; }\n").expect("write");
        common::write_self_lock(&dir, repo, &locked);
        flakes.push(FlakeRef {
            path: dir,
            attr: format!("server{i}"),
        });
    }
    std::fs::write(repo.join("app.txt"), "2\n").expect("write");
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-q", "-m", "second"]);
    flakes
}

/// One tick over `flakes`: with one cache shared by all (`shared`), or a
/// fresh one each (as before).
fn tick(
    rt: &tokio::runtime::Runtime,
    flakes: &[FlakeRef],
    previous: &[FlakeReport],
    shared: Option<&mut RepoCache>,
) -> Duration {
    let t = Instant::now();
    rt.block_on(async {
        let mut shared = shared;
        for (flake, prev) in flakes.iter().zip(previous) {
            let mut own = RepoCache::default();
            let repos = match shared.as_deref_mut() {
                Some(c) => c,
                None => &mut own,
            };
            let report = check::check_with(flake, None, Some(prev), repos)
                .await
                .expect("check");
            assert_eq!(report.inputs[0].behind, Some(1));
        }
    });
    t.elapsed()
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() {
    let (hosts, runs) = (common::size(50, 3), common::size(15, 1));
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = dir.path().join("monorepo");
    std::fs::create_dir_all(&repo).expect("mkdir");
    let flakes = monorepo(&repo, hosts);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let previous: Vec<FlakeReport> = flakes
        .iter()
        .map(|f| rt.block_on(check::check(f, None, None)).expect("check"))
        .collect();
    let (mut one, mut before, mut now) = (Vec::new(), Vec::new(), Vec::new());
    // As the TUI's checker keeps it: roots learnt once, states per tick.
    let mut cache = RepoCache::fresh_for(Duration::from_millis(500));
    // Paired and alternating: the machine's noise falls on all three.
    for _ in 0..runs {
        one.push(tick(&rt, &flakes[..1], &previous[..1], None));
        before.push(tick(&rt, &flakes, &previous, None));
        // A new tick: what git said of the repository is asked again.
        cache.forget_states();
        now.push(tick(&rt, &flakes, &previous, Some(&mut cache)));
    }
    let (one, before, now) = (median(one), median(before), median(now));
    let ratio = |d: Duration| d.as_secs_f64() / one.as_secs_f64();
    println!("flake tick, 1 host: median {one:.1?}");
    println!(
        "flake tick, {hosts} hosts of one monorepo, each asking git on its own (before): median {before:.1?} ({:.1}x one host; {:.0}% of a core at one tick a second)",
        ratio(before),
        before.as_secs_f64() * 100.0
    );
    println!(
        "flake tick, {hosts} hosts of one monorepo, one look at git a tick (now): median {now:.1?} ({:.1}x one host; {:.0}% of a core at one tick a second)",
        ratio(now),
        now.as_secs_f64() * 100.0
    );
}
