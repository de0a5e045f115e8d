//! Where deploytui keeps files on this machine (XDG dirs through `directories`).

use directories::{BaseDirs, ProjectDirs};
use std::path::PathBuf;

pub fn project_dirs() -> Option<ProjectDirs> {
    ProjectDirs::from("", "", "deploytui")
}

pub fn home_dir() -> Option<PathBuf> {
    BaseDirs::new().map(|b| b.home_dir().to_path_buf())
}

/// The folder for deploytui's own log file (`$XDG_DATA_HOME/deploytui`).
pub fn data_dir() -> PathBuf {
    project_dirs()
        .map(|d| d.data_dir().to_path_buf())
        .unwrap_or_else(|| std::env::temp_dir().join("deploytui"))
}

/// Makes `dir` the user's alone (0700): control sockets, kept deploys.
pub fn private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// One of the uids in /proc/self/status (`Uid: real effective saved fs`);
/// no unsafe call needed.
fn status_uid(field: usize) -> Option<u32> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find(|l| l.starts_with("Uid:"))?
        .split_whitespace()
        .nth(field)?
        .parse()
        .ok()
}

/// The real uid of this process.
pub fn uid() -> u32 {
    status_uid(1).unwrap_or(0)
}

/// The effective uid, `None` if it cannot be read.
pub fn euid() -> Option<u32> {
    status_uid(2)
}
