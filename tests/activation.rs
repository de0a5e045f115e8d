//! switch-to-configuration's outcomes, each made to happen for real on a
//! fleet host (systemd as PID 1, NixOS's unit PATH): deploytui reports
//! every exit code for what it means, from a native deploy's transient unit.

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use deploytui::fleet::{Fleet, Init, NIX_CONFIG, SUDO_PASSWORD};

const LIMIT: Duration = Duration::from_secs(180);

fn deploy(f: &Fleet, extra: &[&str]) -> (Option<i32>, String) {
    let mut cmd = Command::new(common::bin());
    cmd.arg("--config")
        .arg(&f.config_path)
        .args(["deploy", "server1", "--sudo-password-stdin"])
        .args(extra)
        .env("NIX_CONFIG", NIX_CONFIG);
    let out: Output = common::output_within(cmd, format!("{SUDO_PASSWORD}\n").as_bytes(), LIMIT);
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// server1's host.nix with `setting` added (or as it was, for "").
fn set_host(f: &Fleet, original: &str, setting: &str) {
    let rel = "infra/hosts/server1/host.nix";
    let text = original.replacen('{', &format!("{{\n  {setting}"), 1);
    f.repo.write(rel, &text).expect("write host.nix");
}

#[test]
fn every_switch_to_configuration_exit_code_is_said_for_what_it_means() {
    let Some(f) = common::fleet("activation outcomes", 1) else {
        return;
    };
    let original = f
        .repo
        .read("infra/hosts/server1/host.nix")
        .expect("host.nix");
    for (setting, said, card) in [
        (
            "fail.preSwitchCheck = true;",
            "Pre-switch check 'fleetCheck' failed",
            "a pre-switch check refused the new system (exit 1): the host did not switch",
        ),
        (
            "fail.bootloader = true;",
            "Failed to install bootloader",
            "the bootloader could not be installed (exit 1): the host did not switch",
        ),
        (
            "initInterface = \"systemd 3\";",
            "won't take effect until you reboot the system.",
            "reboot to activate (exit 100): the new system needs a reboot to take effect",
        ),
        (
            "fail.stcPanic = true;",
            "thread 'main' panicked at",
            "switch-to-configuration panicked (exit 101)",
        ),
        // It prints deploytui's own follower marker first: read as a log
        // line like any other, never as how the activation ended.
        (
            "fail.activation = true; activationSays = [ \"@@status 0\" ];",
            "Failed to run activate script",
            "the activation script failed (exit 2)",
        ),
    ] {
        set_host(&f, &original, setting);
        f.repo.commit_app_change(setting).expect("commit");
        let (code, text) = deploy(&f, &[]);
        assert_eq!(code, Some(1), "{setting}:\n{text}");
        assert!(text.contains(said), "{setting}: `{said}` in:\n{text}");
        assert!(text.contains(card), "{setting}: `{card}` in:\n{text}");
        assert!(
            !text.contains("without an exit status"),
            "{setting}: the real code came back:\n{text}"
        );
        if setting.starts_with("initInterface") {
            assert!(!text.contains("did not switch"), "{text}");
        }
    }

    // Another activation holds the lock: said, and nothing switched. (A
    // unit here has NixOS's PATH, without coreutils: tools by their paths.)
    set_host(&f, &original, "");
    f.repo.commit_app_change("Behind a lock").expect("commit");
    let hold = f
        .ssh(
            0,
            "root",
            "mkdir -p /run/nixos && systemd-run --unit=another-activation --quiet \
             /usr/bin/flock /run/nixos/switch-to-configuration.lock /usr/bin/sleep 120 && sleep 0.5",
        )
        .output()
        .expect("ssh");
    assert!(hold.status.success(), "{hold:?}");
    let (code, text) = deploy(&f, &[]);
    let _ = f
        .ssh(0, "root", "systemctl stop another-activation")
        .output();
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("Could not acquire lock"), "{text}");
    assert!(
        text.contains("another activation is running on the host (exit 11)"),
        "{text}"
    );
}

#[test]
fn dry_activate_lists_what_it_would_leave_running_and_changes_nothing() {
    let Some(f) = common::fleet("dry-activate", 1) else {
        return;
    };
    let before = f
        .ssh(0, "root", "readlink /run/current-system")
        .output()
        .expect("ssh");
    f.repo.commit_app_change("Only a look").expect("commit");
    let (code, text) = deploy(&f, &["--action", "dry-activate"]);
    assert!(matches!(code, Some(0 | 3)), "{text}");
    for line in [
        "would stop the following units: webapp.service",
        "would NOT stop the following changed units: nginx.service",
        "would activate the configuration...",
        "would start the following units: webapp.service",
        "would restart webapp · would leave running (changed) nginx",
    ] {
        assert!(text.contains(line), "`{line}` in:\n{text}");
    }
    let after = f
        .ssh(0, "root", "readlink /run/current-system")
        .output()
        .expect("ssh");
    assert_eq!(before.stdout, after.stdout, "dry-activate switched nothing");
}

/// A host without systemd as PID 1: the activation runs in a session of
/// its own instead of a transient unit, and its real exit code comes back
/// (switch-to-configuration-ng cannot reach systemd's D-Bus there: exit 1).
#[test]
fn without_systemd_the_activation_runs_in_its_own_session_and_its_code_comes_back() {
    if !common::fleet_prerequisites("no systemd") {
        return;
    }
    let f = Fleet::start_with(1, Init::Plain).unwrap_or_else(|e| panic!("fleet: {e}"));
    f.repo.commit_app_change("No systemd here").expect("commit");
    let (code, text) = deploy(&f, &[]);
    assert_eq!(code, Some(1), "{text}");
    for line in [
        "the host has no systemd as PID 1: activation runs in a session of its own",
        "Error: Failed to open dbus connection",
        "switch-to-configuration failed (exit 1): the host did not switch",
    ] {
        assert!(text.contains(line), "`{line}` in:\n{text}");
    }
    assert!(!text.contains("without an exit status"), "{text}");
}

/// `boot` makes the new system the boot default and activates nothing;
/// `test` activates it and leaves the boot default alone. Each says so in
/// switch-to-configuration's own words.
#[test]
fn boot_only_installs_and_test_only_activates() {
    let Some(f) = common::fleet("boot and test", 1) else {
        return;
    };
    let sh = |cmd: &str| {
        let out = f.ssh(0, "root", cmd).output().expect("ssh");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let running = sh("readlink /run/current-system");
    f.repo
        .commit_app_change("At the next boot")
        .expect("commit");
    let (code, text) = deploy(&f, &["--action", "boot"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("server1: boot done"), "{text}");
    assert!(
        text.contains("Not checking switch inhibitors (action = boot)")
            && text.contains("updating GRUB 2 menu..."),
        "{text}"
    );
    assert!(!text.contains("activating the configuration"), "{text}");
    let default = sh("readlink -f /nix/var/nix/profiles/system");
    assert_ne!(default, running, "the new system is the boot default");
    assert_eq!(
        sh("readlink /run/current-system"),
        running,
        "and not running"
    );

    f.repo
        .commit_app_change("Only until the next boot")
        .expect("commit");
    let (code, text) = deploy(&f, &["--action", "test"]);
    // 3: nginx runs the previous configuration, as after any switch here.
    assert_eq!(code, Some(3), "{text}");
    assert!(
        text.contains("Checking switch inhibitors... done")
            && text.contains("activating the configuration...")
            && !text.contains("updating GRUB 2 menu..."),
        "{text}"
    );
    let now = sh("readlink /run/current-system");
    assert_ne!(now, running, "test activates the new system");
    assert_eq!(
        sh("readlink -f /nix/var/nix/profiles/system"),
        default,
        "and leaves the boot default alone"
    );
}
