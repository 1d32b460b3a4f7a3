//! modgate: a caching Go module proxy. See `docs/ARCHITECTURE.md` for the map.

pub mod auth;
pub mod config;
pub mod direct;
pub mod errors;
pub mod fillrt;
pub mod http;
pub mod httpclient;
pub mod memcache;
pub mod prefetch;
pub mod route;
pub mod server;
pub mod service;
pub mod singleflight;
pub mod storage;
pub mod tls;
pub mod upstream;

/// Installs the global tracing subscriber for the given level and format.
pub fn init_logging(level: &str, format: config::LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::new(format!("{level},hyper=warn,h2=warn,rustls=warn,hyper_util=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(true);
    let _ = match format {
        config::LogFormat::Text => builder.with_ansi(false).try_init(),
        config::LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
