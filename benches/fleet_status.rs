//! Benchmark: `deploytui status` across a fleet, end to end on the test
//! fleet (real sshd and systemd in containers; needs root, as the demo).
//! Two figures, each against its baseline in the same run, paired and
//! alternating:
//! - 8 hosts against 1 (every handshake and probe, fanned out);
//! - the 8 reachable hosts with 25 hanging ones beside them (ports that
//!   accept and never answer), against the 8 alone: how long until every
//!   reachable host is reported (`status` itself ends with the hanging
//!   ones' connect timeout, which is what they cost; the figure is when
//!   the reachable ones are known).
//!
//! Run: `cargo bench --bench fleet_status` (as root; a few minutes).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use deploytui::config::{self, Config, FoundBy};
use deploytui::fleet::Fleet;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn config_of(text: &str, path: &std::path::Path) -> Config {
    config::parse(text, path, FoundBy::Flag).expect("config")
}

fn main() {
    let (hosts, hanging_hosts, runs) =
        (common::size(8, 2), common::size(25, 2), common::size(7, 1));
    if !rustix::process::geteuid().is_root() {
        eprintln!("fleet_status: needs root (the fleet's hosts are containers); skipped");
        return;
    }
    let fleet = Fleet::start(hosts).expect("fleet");
    let text = std::fs::read_to_string(&fleet.config_path).expect("config");
    let all = config_of(&text, &fleet.config_path);
    // Ports that accept and never speak: an ssh handshake that hangs.
    let listeners: Vec<std::net::TcpListener> = (0..hanging_hosts)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind"))
        .collect();
    let mut hanging = text.clone();
    for (i, l) in listeners.iter().enumerate() {
        hanging.push_str(&format!(
            "\n[[hosts]]\nname = \"hangs{i}\"\ntarget = \"me@127.0.0.1\"\nport = {}\n",
            l.local_addr().expect("addr").port()
        ));
    }
    let with_hanging = config_of(&hanging, &fleet.config_path);
    let held = Arc::new(std::sync::Mutex::new(Vec::new()));
    for l in listeners {
        let held = held.clone();
        std::thread::spawn(move || {
            for conn in l.incoming().flatten() {
                held.lock().expect("held").push(conn);
            }
        });
    }
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    // Every host of `config` probed as `status` probes them; the time at
    // which the last reachable one was reported.
    let status = |config: &Config, names: &[String]| -> Duration {
        let hosts: Vec<&config::Host> = config
            .hosts
            .iter()
            .filter(|h| names.is_empty() || names.contains(&h.name))
            .collect();
        let started = Instant::now();
        let reachable = rt.block_on(async {
            let settings =
                deploytui::remote::SshSettings::for_config(config, Duration::from_secs(30))
                    .expect("settings");
            let limit = Arc::new(tokio::sync::Semaphore::new(config.parallel));
            let each = hosts.iter().map(|h| {
                let (settings, limit) = (settings.clone(), limit.clone());
                async move {
                    let report = deploytui::headless::probe_one(h, &settings, &limit).await;
                    (report.reachable, started.elapsed())
                }
            });
            futures::future::join_all(each).await
        });
        reachable
            .iter()
            .filter(|(up, _)| *up)
            .map(|(_, at)| *at)
            .max()
            .expect("a reachable host")
    };
    let first = vec![fleet.hosts[0].name.clone()];
    let (mut one, mut eight, mut beside) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        one.push(status(&all, &first));
        eight.push(status(&all, &[]));
        beside.push(status(&with_hanging, &[]));
    }
    let (one, eight, beside) = (median(one), median(eight), median(beside));
    println!(
        "status, 1 host: {one:.1?}; {hosts} hosts: {eight:.1?} ({:.2}x); parallel = {}",
        eight.as_secs_f64() / one.as_secs_f64(),
        all.parallel
    );
    println!(
        "status, {hosts} reachable hosts all reported: alone {eight:.1?}, beside {hanging_hosts} hanging hosts {beside:.1?} ({:.2}x)",
        beside.as_secs_f64() / eight.as_secs_f64()
    );
}
