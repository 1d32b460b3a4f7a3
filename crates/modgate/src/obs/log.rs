//! Structured logs with levels, as text or JSON lines, to standard error. The level can change
//! while the process runs (a reload); the format is chosen once.

use crate::config::LogFormat;
use std::sync::OnceLock;
use tracing_subscriber::EnvFilter;

type SetLevel = Box<dyn Fn(EnvFilter) -> Result<(), String> + Send + Sync>;

/// How to change the level of the subscriber `init` installed.
static LEVEL: OnceLock<SetLevel> = OnceLock::new();

fn filter(level: &str) -> EnvFilter {
    EnvFilter::new(format!("{level},hyper=warn,h2=warn,rustls=warn,hyper_util=warn"))
}

/// Installs the global tracing subscriber for the given level and format.
pub fn init(level: &str, format: LogFormat) {
    let base = tracing_subscriber::fmt().with_env_filter(filter(level)).with_writer(std::io::stderr).with_target(true);
    let set: SetLevel = match format {
        LogFormat::Text => {
            let builder = base.with_ansi(false).with_filter_reloading();
            let handle = builder.reload_handle();
            if builder.try_init().is_err() {
                return;
            }
            Box::new(move |f| handle.reload(f).map_err(|e| e.to_string()))
        }
        LogFormat::Json => {
            let builder = base.json().flatten_event(true).with_filter_reloading();
            let handle = builder.reload_handle();
            if builder.try_init().is_err() {
                return;
            }
            Box::new(move |f| handle.reload(f).map_err(|e| e.to_string()))
        }
    };
    let _ = LEVEL.set(set);
}

/// Changes the level of the installed subscriber (none installed: nothing to change).
pub fn set_level(level: &str) -> Result<(), String> {
    match LEVEL.get() {
        Some(set) => set(filter(level)),
        None => Ok(()),
    }
}
