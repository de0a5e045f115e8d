//! What switch-to-configuration said it did, from its lines (the wording of
//! switch-to-configuration-ng; under `dry-activate` each line starts with
//! "would", and the changed units it leaves alone are "would NOT stop").
//! A changed service is stopped before the activation and started after it
//! (NixOS's default, `stopIfChanged`): the summary says "restarted".

/// The units an activation touched, by what happened to them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Activation {
    pub stopped: Vec<String>,
    /// Changed but left running (`X-RestartIfChanged=false`): they run old code.
    pub not_restarted: Vec<String>,
    pub restarted: Vec<String>,
    pub reloaded: Vec<String>,
    pub started: Vec<String>,
    pub failed: Vec<String>,
    /// The lines began with "would": nothing was done.
    pub dry: bool,
}

impl Activation {
    /// Reads one line; lines that are not about units are passed over.
    pub fn read_line(&mut self, line: &str) {
        // (what switch says, what dry-activate says after "would ", the list)
        const LISTS: [(&str, &str, u8); 7] = [
            (
                "stopping the following units:",
                "stop the following units:",
                0,
            ),
            (
                "NOT restarting the following changed units:",
                "NOT stop the following changed units:",
                1,
            ),
            (
                "restarting the following units:",
                "restart the following units:",
                2,
            ),
            (
                "reloading the following units:",
                "reload the following units:",
                3,
            ),
            (
                "starting the following units:",
                "start the following units:",
                4,
            ),
            ("the following new units were started:", "", 4),
            ("warning: the following units failed:", "", 5),
        ];
        let line = line.trim();
        let (dry, rest) = match line.strip_prefix("would ") {
            Some(rest) => (true, rest),
            None => (false, line),
        };
        for (done, would, list) in LISTS {
            let prefix = if dry { would } else { done };
            let Some(units) = rest.strip_prefix(prefix).filter(|_| !prefix.is_empty()) else {
                continue;
            };
            let list = match list {
                0 => &mut self.stopped,
                1 => &mut self.not_restarted,
                2 => &mut self.restarted,
                3 => &mut self.reloaded,
                4 => &mut self.started,
                _ => &mut self.failed,
            };
            list.extend(split_units(units));
            self.dry |= dry;
            return;
        }
    }

    /// One line for the step list: "restarted webapp · started x · 1 failed".
    pub fn summary(&self) -> String {
        let verb = |done: &str, would: &str| {
            if self.dry {
                would.to_string()
            } else {
                done.to_string()
            }
        };
        // Stopped, then started again: restarted.
        let both = |u: &String| self.stopped.contains(u) && self.started.contains(u);
        let cycled: Vec<String> = self.stopped.iter().filter(|u| both(u)).cloned().collect();
        let stopped: Vec<String> = self.stopped.iter().filter(|u| !both(u)).cloned().collect();
        let started: Vec<String> = self.started.iter().filter(|u| !both(u)).cloned().collect();
        let restarted: Vec<String> = self.restarted.iter().chain(&cycled).cloned().collect();
        let mut parts = Vec::new();
        for (units, done, would) in [
            (&stopped, "stopped", "would stop"),
            (&restarted, "restarted", "would restart"),
            (&self.reloaded, "reloaded", "would reload"),
            (&started, "started", "would start"),
            (
                &self.not_restarted,
                "left running (changed)",
                "would leave running (changed)",
            ),
            (&self.failed, "FAILED", "would fail"),
        ] {
            if !units.is_empty() {
                parts.push(format!("{} {}", verb(done, would), short_units(units)));
            }
        }
        if parts.is_empty() {
            return "no unit changed".into();
        }
        parts.join(" · ")
    }
}

/// switch-to-configuration's exit status in the step's words, for the codes
/// switch-to-configuration-ng gives a meaning (its `main.rs`): 4 and 100 are
/// not failed switches, and must never read as "did not switch".
pub fn exit_status(code: i32) -> Result<(), String> {
    match code {
        0 => Ok(()),
        2 => Err("exit 2: the activation script failed".into()),
        4 => Err("exit 4: some units failed, but the system did switch".into()),
        100 => Err(
            "exit 100: the new system's init is incompatible with the running one: reboot to activate it"
                .into(),
        ),
        101 => Err("exit 101: switch-to-configuration panicked".into()),
        c => Err(format!("exit {c}")),
    }
}

fn split_units(list: &str) -> impl Iterator<Item = String> + '_ {
    list.split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(|u| crate::text::clean(u).into_owned())
}

/// Units by their short names: `nginx, webapp`.
pub(super) fn short_units(units: &[String]) -> String {
    units
        .iter()
        .map(|u| u.trim_end_matches(".service"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_switch_is_read_unit_by_unit() {
        let mut a = Activation::default();
        for line in [
            "stopping the following units: old.service",
            "NOT restarting the following changed units: nginx.service",
            "activating the configuration...",
            "setting up /etc...",
            "restarting the following units: webapp.service",
            "reloading the following units: dbus.service",
            "starting the following units: new.service, other.service",
            "warning: the following units failed: other.service",
        ] {
            a.read_line(line);
        }
        assert_eq!(a.stopped, ["old.service"]);
        assert_eq!(a.not_restarted, ["nginx.service"]);
        assert_eq!(a.restarted, ["webapp.service"]);
        assert_eq!(a.reloaded, ["dbus.service"]);
        assert_eq!(a.started, ["new.service", "other.service"]);
        assert_eq!(a.failed, ["other.service"]);
        assert!(!a.dry);
        assert_eq!(
            a.summary(),
            "stopped old · restarted webapp · reloaded dbus · started new, other · left running (changed) nginx · FAILED other"
        );
    }

    #[test]
    fn dry_activate_says_would() {
        let mut a = Activation::default();
        a.read_line("would restart the following units: webapp.service");
        a.read_line("would NOT stop the following changed units: nginx.service");
        assert!(a.dry);
        assert_eq!(
            a.summary(),
            "would restart webapp · would leave running (changed) nginx"
        );
        assert_eq!(Activation::default().summary(), "no unit changed");
    }

    /// switch-to-configuration-ng's switch of a changed service, as the
    /// fleet's host prints it: stopped first, started after the activation.
    #[test]
    fn a_service_stopped_and_started_again_was_restarted() {
        let mut a = Activation::default();
        for line in [
            "stopping the following units: webapp.service",
            "NOT restarting the following changed units: nginx.service",
            "activating the configuration...",
            "restarting sysinit-reactivation.target",
            "starting the following units: webapp.service",
            "the following new units were started: api.service",
        ] {
            a.read_line(line);
        }
        assert_eq!(
            a.summary(),
            "restarted webapp · started api · left running (changed) nginx"
        );
        let mut dry = Activation::default();
        dry.read_line("would stop the following units: webapp.service");
        dry.read_line("would start the following units: webapp.service");
        assert_eq!(dry.summary(), "would restart webapp");
    }
}
