//! Upstream module proxies: the GOPROXY-list chain (`,` moves on after 404/410, `|` after any
//! error), over HTTP(S) with a pooled client or over a `file://` directory in GOPROXY layout.

use bytes::Bytes;
use gomod::proxylist::{Entry, ProxySpec};
use http_body_util::BodyExt;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// Why a fetch produced no body.
#[derive(Debug, Clone)]
pub enum FetchError {
    /// 404 or 410: "not here"; the go command falls through to its next proxy.
    NotFound { status: u16, reason: String },
    /// Any other failure: bad status, transport error, invalid answer.
    Failed(String),
    /// The upstream did not answer in time.
    Timeout(String),
}

impl FetchError {
    pub fn reason(&self) -> &str {
        match self {
            FetchError::NotFound { reason, .. } | FetchError::Failed(reason) | FetchError::Timeout(reason) => reason,
        }
    }
}

/// A body arriving from a source, read chunk by chunk.
pub enum Body {
    Http {
        body: hyper::body::Incoming,
        idle: Duration,
        origin: String,
    },
    File(tokio::fs::File),
    /// Bytes already at hand (direct mode); `None` once taken.
    Memory(Option<Bytes>),
}

impl Body {
    /// The body's length, when the source announced it.
    pub fn len_hint(&self) -> Option<u64> {
        match self {
            Body::Http { body, .. } => http_body::Body::size_hint(body).exact(),
            Body::File(_) => None,
            Body::Memory(b) => b.as_ref().map(|b| b.len() as u64),
        }
    }

    /// The next chunk, `None` at the end.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, FetchError> {
        match self {
            Body::Http { body, idle, origin } => loop {
                match tokio::time::timeout(*idle, body.frame()).await {
                    Err(_) => return Err(FetchError::Timeout(format!("{origin}: body stalled for {idle:?}"))),
                    Ok(None) => return Ok(None),
                    Ok(Some(Err(e))) => return Err(FetchError::Failed(format!("{origin}: reading body: {e}"))),
                    Ok(Some(Ok(frame))) => {
                        if let Ok(data) = frame.into_data() {
                            if !data.is_empty() {
                                return Ok(Some(data));
                            }
                        }
                    }
                }
            },
            Body::Memory(b) => Ok(b.take()),
            Body::File(f) => {
                let mut buf = vec![0u8; 256 * 1024];
                let n = f.read(&mut buf).await.map_err(|e| FetchError::Failed(format!("reading file: {e}")))?;
                if n == 0 {
                    return Ok(None);
                }
                buf.truncate(n);
                Ok(Some(Bytes::from(buf)))
            }
        }
    }

    /// Reads the whole body, refusing more than `limit` bytes.
    pub async fn collect(mut self, limit: u64) -> Result<Bytes, FetchError> {
        let mut out = Vec::new();
        while let Some(chunk) = self.next_chunk().await? {
            if (out.len() + chunk.len()) as u64 > limit {
                return Err(FetchError::Failed(format!("answer larger than {limit} bytes")));
            }
            out.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(out))
    }
}

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, http_body_util::Empty<Bytes>>;

/// The configured chain of upstream proxies.
pub struct Upstreams {
    chain: Vec<ProxySpec>,
    direct: Option<Arc<crate::direct::Direct>>,
    client: HttpsClient,
    timeout: Duration,
    idle: Duration,
}

impl Upstreams {
    pub fn new(
        chain: Vec<ProxySpec>,
        timeout: Duration,
        idle: Duration,
        direct: Option<Arc<crate::direct::Direct>>,
    ) -> anyhow::Result<Self> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(timeout));
        http.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            // A machine without a system trust store still gets the public web's roots.
            .unwrap_or_else(|_| hyper_rustls::HttpsConnectorBuilder::new().with_webpki_roots())
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(64)
            .build(https);
        Ok(Self { chain, direct, client, timeout, idle })
    }

    /// Whether any entry can answer at all (not only `off`).
    pub fn has_sources(&self) -> bool {
        self.chain.iter().any(|s| matches!(s.entry, Entry::Url(_) | Entry::Direct))
    }

    /// Fetches `rel` (an escaped `module/@v/...` path) through the chain: the first 200 wins;
    /// 404/410 moves on; other errors move on only after a `|` separator.
    pub async fn fetch(&self, req: &crate::route::ModuleRequest) -> Result<Body, FetchError> {
        let rel = req.rel();
        let mut last = FetchError::NotFound { status: 404, reason: "no upstream is configured".into() };
        for spec in &self.chain {
            let res = match &spec.entry {
                Entry::Off => {
                    Err(FetchError::NotFound { status: 404, reason: "module lookup disabled by upstream=off".into() })
                }
                Entry::Direct => match &self.direct {
                    Some(d) => d.fetch(req).await,
                    None => Err(FetchError::NotFound { status: 404, reason: "direct mode is not configured".into() }),
                },
                Entry::Url(base) => self.fetch_one(base, rel).await,
            };
            match res {
                Ok(body) => return Ok(body),
                Err(e @ FetchError::NotFound { .. }) => last = e,
                Err(e) => {
                    if spec.fall_back_on_error {
                        last = e;
                    } else {
                        return Err(e);
                    }
                }
            }
            if matches!(spec.entry, Entry::Off | Entry::Direct) {
                break;
            }
        }
        Err(last)
    }

    async fn fetch_one(&self, base: &str, rel: &str) -> Result<Body, FetchError> {
        if let Some(dir) = base.strip_prefix("file://") {
            return fetch_file(dir, rel).await;
        }
        let mut url = format!("{base}/{rel}");
        let first_authority = authority_of(&url).to_string();
        // Redirects are followed like the go command does: at most 10, never from https to http,
        // and credentials only go to the host they were configured for.
        for _ in 0..=MAX_REDIRECTS {
            let origin = redact(&url);
            let uri: hyper::Uri = url.parse().map_err(|e| FetchError::Failed(format!("{origin}: bad URL: {e}")))?;
            let mut req = hyper::Request::get(strip_userinfo(&uri))
                .header("user-agent", concat!("modgate/", env!("CARGO_PKG_VERSION")));
            if let Some(auth) = basic_auth(&uri) {
                if authority_of(&url) == first_authority {
                    req = req.header("authorization", auth);
                }
            }
            let req =
                req.body(http_body_util::Empty::new()).map_err(|e| FetchError::Failed(format!("{origin}: {e}")))?;
            let resp = match tokio::time::timeout(self.timeout, self.client.request(req)).await {
                Err(_) => return Err(FetchError::Timeout(format!("{origin}: no answer within {:?}", self.timeout))),
                Ok(Err(e)) => return Err(FetchError::Failed(format!("{origin}: {}", error_chain(&e)))),
                Ok(Ok(r)) => r,
            };
            let status = resp.status().as_u16();
            if status == 200 {
                return Ok(Body::Http { body: resp.into_body(), idle: self.idle, origin });
            }
            if matches!(status, 301 | 302 | 303 | 307 | 308) {
                let loc = resp.headers().get(hyper::header::LOCATION).and_then(|v| v.to_str().ok()).map(str::to_string);
                let Some(loc) = loc else {
                    return Err(FetchError::Failed(format!("{origin}: {status} without a Location")));
                };
                let next = resolve_location(&url, &loc);
                if url.starts_with("https://") && !next.starts_with("https://") {
                    return Err(FetchError::Failed(format!(
                        "{origin}: refusing a redirect from https to {}",
                        redact(&next)
                    )));
                }
                if !next.starts_with("https://") && !next.starts_with("http://") {
                    return Err(FetchError::Failed(format!("{origin}: refusing a redirect to {}", redact(&next))));
                }
                url = next;
                continue;
            }
            // Keep the upstream's one-line reason when it sends a short text body.
            let body = Body::Http { body: resp.into_body(), idle: self.idle, origin: origin.clone() };
            let detail = match tokio::time::timeout(self.timeout, body.collect(4096)).await {
                Ok(Ok(b)) => first_line(&b),
                _ => String::new(),
            };
            if status == 404 || status == 410 {
                return Err(FetchError::NotFound {
                    status,
                    reason: if detail.is_empty() { "not found".into() } else { detail },
                });
            }
            let reason =
                if detail.is_empty() { format!("{origin}: {status}") } else { format!("{origin}: {status}: {detail}") };
            return Err(FetchError::Failed(reason));
        }
        Err(FetchError::Failed(format!("{}: more than {MAX_REDIRECTS} redirects", redact(&url))))
    }
}

const MAX_REDIRECTS: usize = 10;

fn authority_of(url: &str) -> &str {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let auth = rest.split('/').next().unwrap_or("");
    auth.rsplit_once('@').map(|(_, h)| h).unwrap_or(auth)
}

fn basic_auth(uri: &hyper::Uri) -> Option<String> {
    use base64::Engine as _;
    let (userinfo, _) = uri.authority()?.as_str().rsplit_once('@')?;
    let decoded = percent_encoding::percent_decode_str(userinfo).decode_utf8_lossy().into_owned();
    Some(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(decoded)))
}

fn strip_userinfo(uri: &hyper::Uri) -> hyper::Uri {
    let Some(auth) = uri.authority() else { return uri.clone() };
    let Some((_, host)) = auth.as_str().rsplit_once('@') else { return uri.clone() };
    let mut parts = uri.clone().into_parts();
    parts.authority = host.parse().ok();
    hyper::Uri::from_parts(parts).unwrap_or_else(|_| uri.clone())
}

/// Resolves a `Location` header against the URL it came from.
fn resolve_location(current: &str, loc: &str) -> String {
    if loc.contains("://") {
        return loc.to_string();
    }
    let (scheme, rest) = current.split_once("://").unwrap_or(("https", current));
    if let Some(net) = loc.strip_prefix("//") {
        return format!("{scheme}://{net}");
    }
    let authority = rest.split('/').next().unwrap_or("");
    if loc.starts_with('/') {
        return format!("{scheme}://{authority}{loc}");
    }
    let path = &rest[authority.len()..];
    let dir = match path.rfind('/') {
        Some(i) => &path[..=i],
        None => "/",
    };
    format!("{scheme}://{authority}{dir}{loc}")
}

fn first_line(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    let line = s.lines().next().unwrap_or("").trim();
    line.chars().filter(|c| !c.is_control()).take(300).collect()
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Any text with the credentials of every URL in it removed (`scheme://user:pass@host` →
/// `scheme://host`), for messages that quote URLs, such as git's.
pub fn redact_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        out.push_str(&rest[..i + 3]);
        rest = &rest[i + 3..];
        let end = rest.find(|c: char| c == '/' || c.is_whitespace() || c == '\'' || c == '"').unwrap_or(rest.len());
        if let Some(at) = rest[..end].rfind('@') {
            rest = &rest[at + 1..];
        }
    }
    out.push_str(rest);
    out
}

/// The URL without any credentials, for logs and error bodies.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s && !url[s + 3..at].contains('/') => {
            format!("{}://{}", &url[..s], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

async fn fetch_file(dir: &str, rel: &str) -> Result<Body, FetchError> {
    let path = PathBuf::from(dir).join(rel);
    match tokio::fs::File::open(&path).await {
        Ok(f) => {
            let is_file = f.metadata().await.map(|m| m.is_file()).unwrap_or(false);
            if !is_file {
                return Err(FetchError::NotFound { status: 404, reason: "not found".into() });
            }
            Ok(Body::File(f))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(FetchError::NotFound { status: 404, reason: "not found".into() })
        }
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            Err(FetchError::Failed(format!("file://{dir}: permission denied")))
        }
        Err(e) => Err(FetchError::Failed(format!("file://{dir}: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction() {
        assert_eq!(redact("https://user:secret@proxy.example/x"), "https://proxy.example/x");
        assert_eq!(redact("https://proxy.example/a@b"), "https://proxy.example/a@b");
        assert_eq!(
            redact_text("fatal: unable to access 'https://bot:tok3n@git.example/r.git/': refused; see ssh://git@h/x"),
            "fatal: unable to access 'https://git.example/r.git/': refused; see ssh://h/x"
        );
        assert_eq!(redact_text("no urls here"), "no urls here");
    }

    #[test]
    fn locations() {
        let cur = "https://p.example/base/m/@v/v1.0.0.zip";
        assert_eq!(resolve_location(cur, "https://cdn.example/x"), "https://cdn.example/x");
        assert_eq!(resolve_location(cur, "//cdn.example/x"), "https://cdn.example/x");
        assert_eq!(resolve_location(cur, "/blob/1"), "https://p.example/blob/1");
        assert_eq!(resolve_location(cur, "v1.0.0.bin"), "https://p.example/base/m/@v/v1.0.0.bin");
        assert_eq!(authority_of("https://u:p@p.example:8443/x"), "p.example:8443");
        let uri: hyper::Uri = "https://u:p%40ss@p.example/x".parse().unwrap();
        assert_eq!(basic_auth(&uri).unwrap(), "Basic dTpwQHNz");
        assert_eq!(strip_userinfo(&uri).to_string(), "https://p.example/x");
    }
}
