//! An upstream module proxy: any server that speaks the GOPROXY protocol over HTTP(S).

use super::{Body, FetchError, Source};
use crate::net::HttpClient;
use crate::request::ModuleRequest;
use futures::StreamExt;
use std::sync::Arc;

pub struct GoProxy {
    /// The proxy's base URL, without a trailing slash.
    base: String,
    /// The base URL without credentials, as a metrics label.
    label: String,
    http: Arc<HttpClient>,
}

impl GoProxy {
    pub fn new(base: &str, http: Arc<HttpClient>) -> Self {
        Self { base: base.to_string(), label: crate::net::redact(base), http }
    }
}

#[async_trait::async_trait]
impl Source for GoProxy {
    async fn fetch(&self, req: &ModuleRequest) -> Result<Body, FetchError> {
        let start = std::time::Instant::now();
        let res = fetch_url(&self.http, &format!("{}/{}", self.base, req.rel())).await;
        let outcome = match &res {
            Ok(_) => "ok",
            Err(FetchError::NotFound { .. }) => "not_found",
            Err(FetchError::Refused { .. }) => "refused",
            Err(FetchError::Timeout(_)) => "timeout",
            Err(FetchError::Failed(_)) => "failed",
        };
        self.http.upstreams.observed(&self.label, outcome, start.elapsed());
        res
    }
}

/// One object from a GOPROXY-protocol server: 200 gives the body; 404/410 are "not here", with
/// the server's one-line reason kept when it sends a short text body.
pub async fn fetch_url(http: &HttpClient, url: &str) -> Result<Body, FetchError> {
    let answer = http.get(url).await?;
    let status = answer.response.status().as_u16();
    let len = http_body::Body::size_hint(answer.response.body()).exact();
    let origin = answer.url;
    if status == 200 {
        let validators = super::body::Validators::of(answer.response.headers());
        let chunks = crate::net::body::chunks(answer.response.into_body(), http.idle, origin);
        return Ok(Body::from_stream(chunks.map(|c| c.map_err(FetchError::from)), len).with_validators(validators));
    }
    let detail = crate::net::body::collect(answer.response.into_body(), http.idle, origin.clone(), 4096);
    let detail = match tokio::time::timeout(http.timeout, detail).await {
        Ok(Ok(b)) => first_line(&b),
        _ => String::new(),
    };
    if status == 404 || status == 410 {
        return Err(FetchError::NotFound {
            status,
            reason: if detail.is_empty() { "not found".into() } else { detail },
        });
    }
    if status == 403 || status == 451 {
        let why = if detail.is_empty() { "refused".to_string() } else { detail };
        return Err(FetchError::Refused { status, reason: format!("upstream refused it: {why}") });
    }
    let reason =
        if detail.is_empty() { format!("{origin}: {status}") } else { format!("{origin}: {status}: {detail}") };
    Err(FetchError::Failed(reason))
}

fn first_line(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    let line = s.lines().next().unwrap_or("").trim();
    line.chars().filter(|c| !c.is_control()).take(300).collect()
}
