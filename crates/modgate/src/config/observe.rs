//! `[metrics]` and `[tracing]`: where metrics answer, and where traces go.

use super::file::{MetricsSection, TracingSection};
use super::loader::{duration, fail, Loader, Origin};
use super::{ConfigError, MetricsConfig};
use std::time::Duration;

/// `[tracing]`: OpenTelemetry traces exported over OTLP/HTTP (protobuf). Off by default.
#[derive(Debug, Clone, PartialEq)]
pub struct TracingConfig {
    pub enabled: bool,
    /// The collector's traces URL (`…/v1/traces`).
    pub endpoint: String,
    pub service_name: String,
    /// The share of the traces modgate starts that are kept; a caller's `traceparent` decides
    /// for the traces it carries.
    pub sample_ratio: f64,
    /// Extra headers on every export (a collector's token, say).
    pub headers: Vec<(String, String)>,
    /// Limit for one export.
    pub timeout: Duration,
    /// How long a finished span waits to be sent with others.
    pub export_delay: Duration,
}

impl Default for TracingConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            endpoint: String::new(),
            service_name: "modgate".into(),
            sample_ratio: 1.0,
            headers: Vec::new(),
            timeout: Duration::from_secs(10),
            export_delay: Duration::from_secs(5),
        }
    }
}

pub(super) fn metrics(l: &Loader<'_>, m: MetricsSection) -> Result<MetricsConfig, ConfigError> {
    let listen = match &m.listen {
        None => None,
        Some(v) => {
            let origin = l.at(v.span().start);
            Some(v.get_ref().parse().map_err(|e| {
                fail("metrics.listen", origin, format!("{:?} is not an address like 127.0.0.1:9464 ({e})", v.get_ref()))
            })?)
        }
    };
    let enabled = m.enabled.unwrap_or(true);
    if let (false, Some(v)) = (enabled, &m.listen) {
        return Err(fail(
            "metrics.listen",
            l.at(v.span().start),
            "metrics are off (enabled = false): nothing would answer",
        ));
    }
    Ok(MetricsConfig { enabled, open: m.open.unwrap_or(false), listen })
}

/// The traces URL for an endpoint: a URL without a path gets OTLP's `/v1/traces`.
fn traces_url(endpoint: &str) -> Result<String, String> {
    let uri: http::Uri = endpoint.parse().map_err(|e| format!("{endpoint:?} is not a URL ({e})"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
        return Err(format!("{endpoint:?} is not an http:// or https:// URL"));
    }
    if uri.path() == "/" && !endpoint.ends_with('/') {
        return Ok(format!("{endpoint}/v1/traces"));
    }
    if uri.path() == "/" {
        return Ok(format!("{endpoint}v1/traces"));
    }
    Ok(endpoint.to_string())
}

/// The endpoint when the file names none: OpenTelemetry's own variables, else a collector on
/// this machine (the default of every OTLP exporter).
fn default_endpoint() -> String {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    if let Some(v) = var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
        return v;
    }
    if let Some(v) = var("OTEL_EXPORTER_OTLP_ENDPOINT") {
        return format!("{}/v1/traces", v.trim_end_matches('/'));
    }
    "http://localhost:4318/v1/traces".into()
}

pub(super) fn tracing(l: &Loader<'_>, t: TracingSection) -> Result<TracingConfig, ConfigError> {
    let d = TracingConfig::default();
    let endpoint = match &t.endpoint {
        Some(v) => traces_url(v.get_ref()).map_err(|e| fail("tracing.endpoint", l.at(v.span().start), e))?,
        None => traces_url(&default_endpoint()).map_err(|e| fail("tracing.endpoint", Origin::Default, e))?,
    };
    let service_name = match &t.service_name {
        Some(v) if v.get_ref().trim().is_empty() => {
            return Err(fail("tracing.service_name", l.at(v.span().start), "must not be empty"))
        }
        Some(v) => v.get_ref().clone(),
        None => d.service_name,
    };
    let sample_ratio = match &t.sample_ratio {
        Some(v) if !(0.0..=1.0).contains(v.get_ref()) => {
            return Err(fail("tracing.sample_ratio", l.at(v.span().start), "must be within 0.0..=1.0"))
        }
        Some(v) => *v.get_ref(),
        None => d.sample_ratio,
    };
    let mut headers = Vec::new();
    for (k, v) in &t.headers {
        let ok = http::HeaderName::from_bytes(k.as_bytes()).is_ok() && http::HeaderValue::from_str(v).is_ok();
        if !ok {
            return Err(fail("tracing.headers", Origin::Default, format!("{k:?} is not a valid header")));
        }
        headers.push((k.clone(), v.clone()));
    }
    Ok(TracingConfig {
        enabled: t.enabled.unwrap_or(false),
        endpoint,
        service_name,
        sample_ratio,
        headers,
        timeout: duration("tracing.timeout", l.pick_file(&t.timeout, "10s"))?,
        export_delay: duration("tracing.export_delay", l.pick_file(&t.export_delay, "5s"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::traces_url;

    #[test]
    fn endpoints() {
        assert_eq!(traces_url("http://127.0.0.1:4318").unwrap(), "http://127.0.0.1:4318/v1/traces");
        assert_eq!(traces_url("http://127.0.0.1:4318/").unwrap(), "http://127.0.0.1:4318/v1/traces");
        assert_eq!(
            traces_url("https://otel.corp.example/custom/traces").unwrap(),
            "https://otel.corp.example/custom/traces"
        );
        assert!(traces_url("grpc://127.0.0.1:4317").is_err());
        assert!(traces_url("127.0.0.1:4318").is_err());
    }
}
