//! The user's own nixos-rebuild lines on the test fleet: lines that would
//! deploy another host are refused when the config is read.

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use deploytui::fleet::Fleet;

const LIMIT: Duration = Duration::from_secs(120);

fn fleet(hosts: usize) -> Option<Fleet> {
    common::fleet("rebuild line tests", hosts)
}

fn deploytui(f: &Fleet, args: &[&str], stdin: &str) -> Output {
    let mut cmd = Command::new(common::bin());
    cmd.arg("--config").arg(&f.config_path).args(args);
    common::output_within(cmd, stdin.as_bytes(), LIMIT)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// server1's line as `line` (its brief's line by default), then `check`:
/// what it said on stderr, if it refused.
fn check_with_line(f: &Fleet, edit: impl Fn(String) -> String) -> Option<String> {
    f.use_nixos_rebuild(&[0]).expect("config");
    let config = std::fs::read_to_string(&f.config_path).expect("config");
    let line = f.rebuild_line(0);
    assert!(config.contains(&line), "{config}");
    std::fs::write(&f.config_path, config.replace(&line, &edit(line.clone()))).expect("config");
    let out = deploytui(f, &["check"], "");
    if out.status.success() {
        None
    } else {
        Some(text(&out.stderr))
    }
}

/// The brief's line names `deploy@server1`, an alias of the fleet's ssh
/// config, as the target does: it passes. A line naming server2 (another
/// port behind the same address), another user, the bare address without
/// the port, or server2's configuration is refused, naming both sides.
#[test]
fn a_line_that_names_another_host_or_configuration_is_refused() {
    let Some(f) = fleet(2) else { return };
    assert_eq!(check_with_line(&f, |line| line), None);
    let port = |i: usize| f.hosts[i].ssh_port;

    let server2 = check_with_line(&f, |line| {
        line.replace(
            "--target-host deploy@server1",
            "--target-host deploy@server2",
        )
    })
    .expect("server2's address");
    assert!(
        server2.contains(&format!(
            "deploys to deploy@server2 (--target-host), which ssh reaches as deploy@127.0.0.1:{}, \
             but this host's target deploy@server1 is deploy@127.0.0.1:{}: it would deploy another host",
            port(1),
            port(0)
        )),
        "{server2}"
    );
    assert!(server2.contains("hosts[0].rebuild_command"), "{server2}");

    let user = check_with_line(&f, |line| {
        line.replace("--target-host deploy@server1", "--target-host lane@server1")
    })
    .expect("another user");
    assert!(
        user.contains(&format!("reaches as lane@127.0.0.1:{}", port(0))),
        "{user}"
    );

    let bare = check_with_line(&f, |line| {
        line.replace(
            "--target-host deploy@server1",
            "--target-host deploy@127.0.0.1",
        )
    })
    .expect("the address without the port");
    assert!(bare.contains("reaches as deploy@127.0.0.1:22,"), "{bare}");

    let configuration =
        check_with_line(&f, |line| line.replace("#server1", "#server2")).expect("server2's system");
    assert!(
        configuration.contains("#server2 (--flake), but this host's flake is")
            && configuration.contains("it would deploy another configuration here"),
        "{configuration}"
    );
}
