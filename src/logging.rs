//! deploytui's own diagnostics go to a file, never to the screen it draws on.

use std::path::PathBuf;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

/// Variable holding a tracing filter (`debug`, `deploytui=trace`, ...).
pub const LOG_ENV: &str = "DEPLOYTUI_LOG";
pub const LOG_FILE: &str = "deploytui.log";

/// Starts logging to `<data dir>/deploytui.log`. Keep the guard alive until
/// exit so buffered lines are written. Failing to log is not fatal.
pub fn init() -> (Option<WorkerGuard>, PathBuf) {
    let dir = crate::paths::data_dir();
    let path = dir.join(LOG_FILE);
    if std::fs::create_dir_all(&dir).is_err() {
        return (None, path);
    }
    let appender = tracing_appender::rolling::never(&dir, LOG_FILE);
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let filter = EnvFilter::try_from_env(LOG_ENV).unwrap_or_else(|_| EnvFilter::new("info"));
    let ok = tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init()
        .is_ok();
    (ok.then_some(guard), path)
}
