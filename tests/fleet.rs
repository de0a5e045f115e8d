//! The test fleet against the real parts: nix builds and copies, sshd hosts
//! in their own namespaces, activation, nginx, sudo. Needs root, nix, sshd,
//! nginx (`bash .ci/install-deps`); skipped loudly by hand without them,
//! failed under CI.

mod common;

use std::time::Duration;

use deploytui::fleet::{Fleet, SUDO_PASSWORD, SUDO_USER};

fn fleet(hosts: usize) -> Option<Fleet> {
    common::fleet("fleet tests", hosts)
}

fn stdout(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "command failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn hosts_are_separate_sshd_with_their_own_keys() {
    let Some(f) = fleet(2) else { return };
    for (i, h) in f.hosts.iter().enumerate() {
        let out = stdout(f.ssh(i, "root", "hostname; id -un").output().expect("ssh"));
        assert_eq!(out, format!("{}\nroot\n", h.name));
        let out = stdout(f.ssh(i, SUDO_USER, "id -un").output().expect("ssh"));
        assert_eq!(out.trim(), SUDO_USER);
    }
    let known = std::fs::read_to_string(&f.known_hosts).expect("known_hosts");
    let keys: Vec<&str> = known
        .lines()
        .map(|l| l.split_whitespace().nth(2).unwrap_or(""))
        .collect();
    assert_eq!(keys.len(), 2);
    assert_ne!(keys[0], keys[1], "each host has its own host key");

    // Host 0's key presented for host 1's port is refused (strict checking).
    let wrong = f.dir().join("wrong_known_hosts");
    let line0 = known.lines().next().expect("line");
    let swapped = line0.replace(
        &format!("]:{} ", f.hosts[0].ssh_port),
        &format!("]:{} ", f.hosts[1].ssh_port),
    );
    std::fs::write(&wrong, swapped).expect("write");
    // ssh takes the first value of an option: put the wrong file in place of the right one.
    let options: Vec<String> = f
        .ssh_options(1)
        .into_iter()
        .map(|o| {
            if o.starts_with("UserKnownHostsFile=") {
                format!("UserKnownHostsFile={}", wrong.display())
            } else {
                o
            }
        })
        .collect();
    let out = std::process::Command::new("ssh")
        .args(options)
        .args(["root@127.0.0.1", "true"])
        .output()
        .expect("ssh");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("HOST IDENTIFICATION HAS CHANGED"));
}

#[test]
fn stale_self_referential_lock_and_override() {
    let Some(f) = fleet(1) else { return };
    let name = &f.hosts[0].name;
    let locked = f.repo.locked_rev(name).expect("locked rev");
    let running = f.build(0, false).expect("build");
    let new_head = f.repo.commit_app_change("Second release").expect("commit");
    assert_ne!(locked, new_head);
    assert_eq!(
        f.repo.locked_rev(name).expect("locked"),
        locked,
        "the lock stays behind HEAD"
    );

    // Without the override nix builds the locked (old) commit: the same system.
    let stale = f.build(0, false).expect("build");
    assert_eq!(stale, running, "a stale lock rebuilds the running system");
    let rev = std::fs::read_to_string(format!("{stale}/configuration-revision")).expect("rev");
    assert_eq!(rev.trim(), locked);

    // With --override-input the build carries HEAD and the new page.
    let fresh = f.build(0, true).expect("build");
    assert_ne!(fresh, running);
    let rev = std::fs::read_to_string(format!("{fresh}/configuration-revision")).expect("rev");
    assert_eq!(rev.trim(), new_head);
    let page =
        std::fs::read_to_string(format!("{fresh}/webapp/share/www/index.html")).expect("page");
    assert!(
        page.contains("Second release") && page.contains(&new_head),
        "{page}"
    );
}

#[test]
fn nix_copy_reaches_one_host_only_and_then_copies_nothing() {
    let Some(f) = fleet(2) else { return };
    f.repo
        .commit_app_change("Only for server1")
        .expect("commit");
    let path = f.build(0, true).expect("build");
    assert!(!f.host_has_path(0, &path) && !f.host_has_path(1, &path));
    let first = f.copy(0, &path).expect("copy");
    assert!(
        first.contains("copying 1 paths")
            || first.contains("copying 2 paths")
            || first.contains("copying 3 paths")
            || first.contains("copying 4 paths"),
        "{first}"
    );
    assert!(f.host_has_path(0, &path), "copied into server1's store");
    assert!(!f.host_has_path(1, &path), "server2's store is separate");
    let again = f.copy(0, &path).expect("copy");
    assert!(again.contains("copying 0 paths"), "{again}");
}

#[test]
fn switch_restarts_changed_units_and_leaves_nginx_serving_old_files() {
    let Some(mut f) = fleet(1) else { return };
    let show = |f: &Fleet| {
        let out = stdout(
            f.ssh(0, "root", "systemctl show --timestamp=unix -p Id,ActiveState,ActiveEnterTimestamp,MainPID nginx webapp")
                .output()
                .expect("ssh"),
        );
        deploytui::systemd::parse_show(&out).0
    };
    let before = show(&f);
    assert_eq!(before.len(), 2);
    assert!(
        before.iter().all(|u| u.active_state == "active"),
        "{before:?}"
    );
    let page = f.fetch_page(0).expect("curl");
    assert!(page.contains("Hello from the demo fleet"), "{page}");

    let old_system = stdout(
        f.ssh(0, "root", "readlink /run/current-system")
            .output()
            .expect("ssh"),
    );
    f.repo.commit_app_change("Fresh page").expect("commit");
    let toplevel = f.build(0, true).expect("build");
    std::thread::sleep(Duration::from_millis(1100)); // start times have 1 s resolution
    let printed = f.activate(0, &toplevel, "switch").expect("switch");
    // switch-to-configuration-ng's lines, in its order: a changed service is
    // stopped first and started after the activation; nginx is left alone.
    assert_lines_in_order(
        &printed,
        &[
            "Checking switch inhibitors... done",
            "updating GRUB 2 menu...",
            "stopping the following units: webapp.service",
            "NOT restarting the following changed units: nginx.service",
            "activating the configuration...",
            "setting up /etc...",
            "restarting sysinit-reactivation.target",
            "starting the following units: webapp.service",
        ],
    );

    let now = stdout(
        f.ssh(
            0,
            "root",
            "readlink /run/current-system; readlink /nix/var/nix/profiles/system",
        )
        .output()
        .expect("ssh"),
    );
    assert_eq!(now, format!("{toplevel}\nsystem-2-link\n"));
    assert_ne!(old_system.trim(), toplevel);

    let after = show(&f);
    let find = |units: &[deploytui::systemd::UnitState], id: &str| {
        units.iter().find(|u| u.id == id).cloned().expect("unit")
    };
    assert_eq!(
        find(&after, "nginx.service").active_enter,
        find(&before, "nginx.service").active_enter,
        "nginx kept running"
    );
    assert!(
        find(&after, "webapp.service").active_enter > find(&before, "webapp.service").active_enter,
        "webapp restarted"
    );
    let page = f.fetch_page(0).expect("curl");
    assert!(
        page.contains("Hello from the demo fleet"),
        "nginx still serves the old files: {page}"
    );

    stdout(
        f.ssh(0, "root", "systemctl restart nginx")
            .output()
            .expect("ssh"),
    );
    let page = f.fetch_page(0).expect("curl");
    assert!(
        page.contains("Fresh page"),
        "after a restart nginx serves the new files: {page}"
    );
}

#[test]
fn stale_npm_hash_fails_with_specified_and_got() {
    let Some(f) = fleet(1) else { return };
    let pinned = f.repo.npm_hash().expect("hash");
    f.repo.add_dependency("leftest-pad@2.0.0").expect("dep");
    f.repo.set_version("1.1.0").expect("version");
    f.repo
        .commit("webapp 1.1.0 with a new dependency")
        .expect("commit");
    let err = f
        .build(0, true)
        .expect_err("the pinned hash is stale")
        .to_string();
    assert!(
        err.contains("hash mismatch in fixed-output derivation"),
        "{err}"
    );
    assert!(err.contains(&format!("specified: {pinned}")), "{err}");
    let got = err
        .lines()
        .find_map(|l| l.trim().strip_prefix("got:"))
        .map(str::trim)
        .expect("got: line")
        .to_string();
    assert_ne!(got, pinned);
    f.repo.set_npm_hash(&got).expect("fix");
    f.repo.commit("webapp: update npmDepsHash").expect("commit");
    f.build(0, true).expect("builds with the got: hash");

    // Same version, another dependency: the old deps are already in the store,
    // so nix does not notice; the app build does, as buildNpmPackage's does.
    f.repo.add_dependency("another-dep@0.1.0").expect("dep");
    f.repo
        .commit("webapp: one more dependency")
        .expect("commit");
    let err = f.build(0, true).expect_err("stale").to_string();
    assert!(err.contains("ERROR: npmDepsHash is out of date"), "{err}");
}

#[test]
fn sudo_with_the_right_password_only() {
    let Some(f) = fleet(1) else { return };
    let sudo = |password: &str| {
        let mut child = f
            .ssh(0, SUDO_USER, "sudo -k -S -p '' -- id -un")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("ssh");
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        writeln!(stdin, "{password}").expect("write");
        drop(stdin);
        child.wait_with_output().expect("wait")
    };
    let ok = sudo(SUDO_PASSWORD);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&ok.stdout).trim(), "root");
    let bad = sudo("not-the-password");
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("incorrect password"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    let out = f.ssh(0, SUDO_USER, "sudo -n true").output().expect("ssh");
    assert!(!out.status.success(), "a password is needed");
}

#[test]
fn dropping_the_fleet_stops_every_process() {
    let Some(f) = fleet(2) else { return };
    let pids = f.pids();
    // unshare, nspawn, systemd, journald, sshd, nginx (master and worker), webapp, per host.
    assert!(pids.len() >= 2 * 8, "{pids:?}");
    let dir = f.dir().to_path_buf();
    drop(f);
    let alive: Vec<u32> = pids
        .iter()
        .copied()
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat")).is_ok_and(|s| !s.contains(") Z "))
        })
        .collect();
    assert!(alive.is_empty(), "still running after drop: {alive:?}");
    assert!(!dir.exists(), "fleet folder removed");
}

#[test]
fn units_and_journals_are_real_systemd() {
    let Some(f) = fleet(1) else { return };
    let sh = |user: &str, cmd: &str| f.ssh(0, user, cmd).output().expect("ssh");

    let out = stdout(sh(
        "root",
        "systemctl show --timestamp=unix -p Id,LoadState,ActiveState,SubState,ActiveEnterTimestamp,MainPID,NRestarts nginx.service nope.service",
    ));
    let (units, warnings) = deploytui::systemd::parse_show(&out);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(units.len(), 2, "{out}");
    assert_eq!(
        (units[0].active_state.as_str(), units[0].sub_state.as_str()),
        ("active", "running")
    );
    assert!(
        units[0].main_pid.is_some() && units[0].active_enter.is_some(),
        "{out}"
    );
    assert_eq!(units[1].load_state, "not-found");

    // The journal has the app's own output, stamped (its lines reach the
    // journal a moment after the unit started, so wait for them).
    let mut journal = String::new();
    for _ in 0..50 {
        journal = stdout(sh("root", "journalctl -u webapp -n 50 -o cat --no-pager"));
        if journal.contains("webapp 1.0.0 alive") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(journal.contains("webapp 1.0.0 alive"), "{journal}");
    let short = stdout(sh("root", "journalctl -u webapp.service -n 50"));
    assert!(
        short
            .lines()
            .any(|l| l.contains(" server1 webapp[") && l.contains("]: webapp 1.0.0")),
        "short format names host and pid: {short}"
    );

    // Reload keeps the process; restart replaces it.
    let pid = units[0].main_pid;
    stdout(sh("root", "systemctl reload nginx"));
    let out = stdout(sh("root", "systemctl show -p MainPID nginx"));
    assert_eq!(deploytui::systemd::parse_show(&out).0[0].main_pid, pid);
    assert!(stdout(sh("root", "journalctl -u nginx -o cat")).contains("Reloaded nginx.service"));
    stdout(sh("root", "systemctl restart nginx"));
    let out = stdout(sh("root", "systemctl show -p MainPID nginx"));
    assert_ne!(deploytui::systemd::parse_show(&out).0[0].main_pid, pid);

    // Stop and is-active.
    stdout(sh("root", "systemctl stop webapp"));
    let out = sh("root", "systemctl is-active webapp");
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "inactive");

    // Without root: reading works, changing does not.
    let out = sh(SUDO_USER, "systemctl restart nginx");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Access denied"));
    stdout(sh(SUDO_USER, "systemctl show -p ActiveState nginx"));

    // Follow mode streams new lines.
    let follow = f
        .ssh(0, "root", "timeout 5 journalctl -u webapp -f -n 0 -o cat")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("ssh");
    // Following once journalctl runs, not after a guessed pause.
    common::wait_until("journalctl -f to follow", Duration::from_secs(10), || {
        sh("root", "pgrep -x journalctl").status.success()
    });
    stdout(sh("root", "systemctl start webapp"));
    let out = follow.wait_with_output().expect("follow");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("webapp 1.0.0 starting"),
        "followed lines: {text}"
    );
}

#[test]
fn every_host_lock_pins_the_same_commit() {
    let Some(f) = fleet(3) else { return };
    let revs: Vec<String> = f
        .hosts
        .iter()
        .map(|h| f.repo.locked_rev(&h.name).expect("locked"))
        .collect();
    assert!(revs.iter().all(|r| r == &revs[0]), "{revs:?}");
    for i in 0..3 {
        let rev = stdout(
            f.ssh(i, "root", "cat /run/current-system/configuration-revision")
                .output()
                .expect("ssh"),
        );
        assert_eq!(
            rev.trim(),
            revs[0],
            "host {i} runs the locked commit, not a dirty tree"
        );
    }
}

/// Every unit list switch-to-configuration-ng prints on a switch, each made
/// to happen with real units: a unit gone from the new system is stopped,
/// one with X-ReloadIfChanged is reloaded, one with X-StopIfChanged=false
/// restarted, a new one started.
#[test]
fn each_unit_list_of_a_switch_comes_from_real_units() {
    let Some(mut f) = fleet(1) else { return };
    let rel = "infra/hosts/server1/host.nix";
    let original = f.repo.read(rel).expect("host.nix");
    let unit = |extra: &str| {
        format!(
            "[Unit]\\nDescription=fleet test unit\\n\\n[Service]\\nExecStart=/usr/bin/sleep infinity\\n{extra}"
        )
    };
    let with_units = |units: &[(&str, String)]| {
        let set: String = units
            .iter()
            .map(|(name, text)| format!("    \"{name}\" = \"{text}\";\n"))
            .collect();
        original.replacen('{', &format!("{{\n  units = {{\n{set}  }};"), 1)
    };
    let mut switch_to = |units: &[(&str, String)], message: &str| {
        f.repo.write(rel, &with_units(units)).expect("write");
        f.repo.commit(message).expect("commit");
        let toplevel = f.build(0, true).expect("build");
        f.activate(0, &toplevel, "switch").expect("switch")
    };
    let first = switch_to(
        &[
            (
                "reloads.service",
                unit("X-ReloadIfChanged=true\\nExecReload=/usr/bin/true\\n"),
            ),
            ("restarts.service", unit("X-StopIfChanged=false\\n")),
            ("goes.service", unit("")),
        ],
        "Three units",
    );
    assert!(
        first.contains(
            "the following new units were started: goes.service, reloads.service, restarts.service"
        ),
        "{first}"
    );
    let printed = switch_to(
        &[
            (
                "reloads.service",
                unit("X-ReloadIfChanged=true\\nExecReload=/usr/bin/true\\nEnvironment=V=2\\n"),
            ),
            (
                "restarts.service",
                unit("X-StopIfChanged=false\\nEnvironment=V=2\\n"),
            ),
            ("comes.service", unit("")),
        ],
        "One unit gone, one new, two changed",
    );
    // Each commit is a new revision of the app too: webapp is stopped and
    // started again, nginx left alone, as always.
    assert_lines_in_order(
        &printed,
        &[
            "stopping the following units: goes.service, webapp.service",
            "activating the configuration...",
            "reloading the following units: reloads.service",
            "restarting the following units: restarts.service",
            "the following new units were started: comes.service",
        ],
    );
    let active = stdout(
        f.ssh(
            0,
            "root",
            "systemctl is-active comes reloads restarts goes; true",
        )
        .output()
        .expect("ssh"),
    );
    assert_eq!(active, "active\nactive\nactive\ninactive\n");
}

/// Each of `lines` is a whole line of `printed`, in this order.
fn assert_lines_in_order(printed: &str, lines: &[&str]) {
    let all: Vec<&str> = printed.lines().collect();
    let at: Vec<usize> = lines
        .iter()
        .map(|line| {
            all.iter()
                .position(|l| l == line)
                .unwrap_or_else(|| panic!("no line `{line}` in:\n{printed}"))
        })
        .collect();
    assert!(
        at.windows(2).all(|w| w[0] < w[1]),
        "out of order:\n{printed}"
    );
}
