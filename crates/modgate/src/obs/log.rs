//! Structured logs with levels, as text or JSON lines, to standard error.

use crate::config::LogFormat;

/// Installs the global tracing subscriber for the given level and format.
pub fn init(level: &str, format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::new(format!("{level},hyper=warn,h2=warn,rustls=warn,hyper_util=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(true);
    let _ = match format {
        LogFormat::Text => builder.with_ansi(false).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
