//! Structured logs with levels, as text or JSON lines, to standard error, and (with
//! `[tracing]`) the OpenTelemetry layer beside them. The level can change while the process
//! runs (a reload); the format and the tracing export are chosen once.

use super::trace::{OtelLayer, Pipeline, TARGET};
use crate::config::{LogFormat, TracingConfig};
use std::sync::OnceLock;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Layer, Registry};

type SetLevel = Box<dyn Fn(EnvFilter) -> Result<(), String> + Send + Sync>;

/// How to change the level of the subscriber `init` installed.
static LEVEL: OnceLock<SetLevel> = OnceLock::new();

fn filter(level: &str) -> EnvFilter {
    // Spans for OpenTelemetry are never the log's business.
    EnvFilter::new(format!(
        "{level},hyper=warn,h2=warn,rustls=warn,hyper_util=warn,opentelemetry=warn,opentelemetry_sdk=warn,{TARGET}=off"
    ))
}

/// Installs the global tracing subscriber for the given level and format. With `otel`, traces
/// are exported too, their requests running on `otel`'s runtime; the pipeline returned is to
/// be shut down before the process ends.
pub fn init(
    level: &str,
    format: LogFormat,
    otel: Option<(&TracingConfig, tokio::runtime::Handle)>,
) -> Result<Option<Pipeline>, String> {
    match otel {
        Some((cfg, rt)) if cfg.enabled => with_traces(level, format, cfg, rt).map(Some),
        _ => {
            logs_only(level, format);
            Ok(None)
        }
    }
}

/// The log layer alone, its level a global filter: what the hot path's level checks cost least
/// against (per-layer filters add a few microseconds to every request).
fn logs_only(level: &str, format: LogFormat) {
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

/// The log layer and the OpenTelemetry layer, each with its own filter.
fn with_traces(
    level: &str,
    format: LogFormat,
    cfg: &TracingConfig,
    rt: tokio::runtime::Handle,
) -> Result<Pipeline, String> {
    let (level_filter, handle) = reload::Layer::<EnvFilter, Registry>::new(filter(level));
    let base = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_target(true);
    let log: Box<dyn Layer<Registry> + Send + Sync> = match format {
        LogFormat::Text => base.with_ansi(false).boxed(),
        LogFormat::Json => base.json().flatten_event(true).boxed(),
    };
    let (pipeline, otel): (Pipeline, OtelLayer<Registry>) = Pipeline::start(cfg, rt)?;
    let layers = vec![
        log.with_filter(level_filter).boxed(),
        otel.with_filter(tracing_subscriber::filter::filter_fn(for_traces)).boxed(),
    ];
    if tracing_subscriber::registry().with(layers).try_init().is_ok() {
        let _ = LEVEL.set(Box::new(move |f| handle.reload(f).map_err(|e| e.to_string())));
    }
    Ok(pipeline)
}

/// What the OpenTelemetry layer sees: modgate's spans, their own events, and the warnings and
/// errors logged inside them (as span events).
fn for_traces(m: &tracing::Metadata<'_>) -> bool {
    m.target() == TARGET || (m.is_event() && *m.level() <= tracing::Level::WARN)
}

/// Changes the level of the installed subscriber (none installed: nothing to change).
pub fn set_level(level: &str) -> Result<(), String> {
    match LEVEL.get() {
        Some(set) => set(filter(level)),
        None => Ok(()),
    }
}
