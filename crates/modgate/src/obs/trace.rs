//! OpenTelemetry traces, exported over OTLP/HTTP when `[tracing]` is on.
//!
//! Spans are `tracing` spans with the target [`TARGET`]; only the OpenTelemetry layer listens
//! to that target, and the log layer ignores it. With tracing off no layer listens at all, so
//! every span macro is one check of a cached "never" and builds nothing, the request path
//! skips the request span entirely ([`on`]), and no `traceparent` is added to what modgate
//! sends (a client's own header still passes through the reverse proxy untouched).
//!
//! With tracing on, a request's span continues the caller's W3C `traceparent` when there is
//! one; fills, upstream calls, git commands and checksum lookups are its children, and every
//! request modgate makes carries the `traceparent` of the span that makes it.

use crate::config::TracingConfig;
use bytes::Bytes;
use http::HeaderMap;
use http_body_util::BodyExt;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_http::{HeaderExtractor, HeaderInjector, HttpError};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider};
use std::sync::atomic::{AtomicBool, Ordering};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The target of every span meant for OpenTelemetry.
pub const TARGET: &str = "modgate_trace";

static ON: AtomicBool = AtomicBool::new(false);

/// Whether traces are being exported (the request path asks before it builds anything).
pub fn on() -> bool {
    ON.load(Ordering::Relaxed)
}

/// The running export: flushed and stopped by [`Pipeline::shutdown`].
pub struct Pipeline {
    provider: SdkTracerProvider,
}

/// The layer that turns spans into OpenTelemetry spans.
pub type OtelLayer<S> = tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::Tracer>;

impl Pipeline {
    /// Builds the exporter; its HTTP requests run on `rt`.
    pub fn start<S>(cfg: &TracingConfig, rt: tokio::runtime::Handle) -> Result<(Self, OtelLayer<S>), String>
    where
        S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    {
        let client = ExportClient::new(rt, cfg.timeout);
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(client)
            .with_endpoint(cfg.endpoint.clone())
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_timeout(cfg.timeout)
            .with_headers(cfg.headers.iter().cloned().collect())
            .build()
            .map_err(|e| format!("tracing: {e}"))?;
        let batch = BatchConfigBuilder::default().with_scheduled_delay(cfg.export_delay).build();
        let processor = BatchSpanProcessor::builder(exporter).with_batch_config(batch).build();
        let resource = opentelemetry_sdk::Resource::builder().with_service_name(cfg.service_name.clone()).build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(cfg.sample_ratio))))
            .with_resource(resource)
            .build();
        let tracer = provider.tracer("modgate");
        let layer = tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_threads(false)
            .with_location(false)
            .with_target(false)
            .with_level(false);
        ON.store(true, Ordering::Relaxed);
        Ok((Self { provider }, layer))
    }

    /// Sends the spans still waiting and stops the export (blocks: call it off the runtime).
    pub fn shutdown(&self) {
        ON.store(false, Ordering::Relaxed);
        if let Err(e) = self.provider.shutdown() {
            tracing::warn!(error = %e, "tracing: the last spans could not be sent");
        }
    }
}

/// The exporter's HTTP client: hyper, its requests run on the serving runtime (the exporter
/// itself runs on a thread of its own).
#[derive(Debug)]
struct ExportClient {
    client: hyper_util::client::legacy::Client<
        hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
        http_body_util::Full<Bytes>,
    >,
    rt: tokio::runtime::Handle,
    timeout: std::time::Duration,
}

impl ExportClient {
    fn new(rt: tokio::runtime::Handle, timeout: std::time::Duration) -> Self {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .unwrap_or_else(|_| hyper_rustls::HttpsConnectorBuilder::new().with_webpki_roots())
            .https_or_http()
            .enable_http1()
            .build();
        let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build(https);
        Self { client, rt, timeout }
    }
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for ExportClient {
    async fn send_bytes(&self, req: http::Request<Bytes>) -> Result<http::Response<Bytes>, HttpError> {
        let client = self.client.clone();
        let limit = self.timeout;
        let send = async move {
            let resp = client.request(req.map(http_body_util::Full::new)).await?;
            let (parts, body) = resp.into_parts();
            let body = http_body_util::Limited::new(body, 1 << 20).collect().await?.to_bytes();
            Ok::<_, HttpError>(http::Response::from_parts(parts, body))
        };
        let task = self.rt.spawn(async move {
            tokio::time::timeout(limit, send).await.map_err(|_| HttpError::from("no answer in time"))?
        });
        task.await.map_err(|e| HttpError::from(e.to_string()))?
    }
}

/// Whether the code running is part of a traced request: work outside any (health checks,
/// background warming) starts no trace of its own.
fn in_trace() -> bool {
    on() && !Span::current().is_none()
}

/// The span of one request, continuing the caller's `traceparent` when it sent one.
/// `name` is what the request is (`GET zip`, say).
pub fn request_span(name: &str, method: &http::Method, path: &str, headers: &HeaderMap) -> Span {
    let span = tracing::info_span!(
        target: TARGET,
        "request",
        otel.name = name,
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        otel.status_description = tracing::field::Empty,
        http.request.method = %method,
        url.path = %crate::errors::one_line(path),
        http.response.status_code = tracing::field::Empty,
        modgate.cache = tracing::field::Empty,
        modgate.request_id = tracing::field::Empty,
    );
    if headers.contains_key("traceparent") {
        let parent = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
        if parent.span().span_context().is_valid() {
            let _ = span.set_parent(parent);
        }
    }
    span
}

/// The span of a call to another server (an upstream, a backend, a checksum database); `url`
/// without credentials, formatted only when the span is built.
pub fn client_span(what: &'static str, method: &str, url: impl std::fmt::Display) -> Span {
    if !in_trace() {
        return Span::none();
    }
    tracing::info_span!(
        target: TARGET,
        "call",
        otel.name = what,
        otel.kind = "client",
        otel.status_code = tracing::field::Empty,
        otel.status_description = tracing::field::Empty,
        http.request.method = method,
        url.full = %url,
        http.response.status_code = tracing::field::Empty,
    )
}

/// The span of a fill of one object (its storage key), from the sources into the cache.
pub fn fill_span(object: &str) -> Span {
    if !in_trace() {
        return Span::none();
    }
    tracing::info_span!(
        target: TARGET,
        "fill",
        otel.status_code = tracing::field::Empty,
        otel.status_description = tracing::field::Empty,
        modgate.object = object,
    )
}

/// The span of one git command (its subcommand only: arguments may name credentials).
pub fn git_span(subcommand: &str) -> Span {
    if !in_trace() {
        return Span::none();
    }
    tracing::info_span!(
        target: TARGET,
        "git",
        otel.name = %format_args!("git {subcommand}"),
        otel.status_code = tracing::field::Empty,
        otel.status_description = tracing::field::Empty,
        modgate.git.command = subcommand,
    )
}

/// The span of a checksum-database lookup of `module@version`.
pub fn checksum_span(database: &str, module: &str, version: &str) -> Span {
    if !in_trace() {
        return Span::none();
    }
    tracing::info_span!(
        target: TARGET,
        "checksum lookup",
        otel.status_code = tracing::field::Empty,
        otel.status_description = tracing::field::Empty,
        modgate.checksum_db = database,
        modgate.module = module,
        modgate.version = version,
    )
}

/// Notes, on the span of the work that asked, that it waits for a fill of `object` already
/// running (whose spans are in the trace of the request that started it).
pub fn joined(object: &str) {
    tracing::event!(target: TARGET, tracing::Level::INFO, modgate.object = object, "joined a fill in flight");
}

/// Notes the outcome of work done in `span` (an error is noted only while tracing is on).
pub fn outcome<T, E: std::fmt::Display>(span: &Span, res: &Result<T, E>) {
    if let (true, Err(e)) = (on(), res) {
        failed(span, &e.to_string());
    }
}

/// Notes a call's answer on its span (an error status for 5xx).
pub fn answered(span: &Span, status: u16) {
    span.record("http.response.status_code", status);
    if status >= 500 {
        span.record("otel.status_code", "ERROR");
    }
}

/// Notes a failure on a span.
pub fn failed(span: &Span, why: &str) {
    span.record("otel.status_code", "ERROR");
    span.record("otel.status_description", why);
}

/// Adds `span`'s `traceparent` to headers modgate sends (nothing when tracing is off).
pub fn inject(span: &Span, headers: &mut HeaderMap) {
    if !on() || span.is_none() {
        return;
    }
    TraceContextPropagator::new().inject_context(&span.context(), &mut HeaderInjector(headers));
}

/// The trace id of the current span, for the access log.
pub fn current_trace_id() -> Option<String> {
    if !on() {
        return None;
    }
    let cx = Span::current().context();
    let span = cx.span();
    let sc = span.span_context();
    sc.is_valid().then(|| sc.trace_id().to_string())
}
