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
