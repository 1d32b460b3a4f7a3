//! Upstream module proxies: the GOPROXY-list chain (`,` moves on after 404/410, `|` after any
//! error), over HTTP(S) with a pooled client or over a `file://` directory in GOPROXY layout.

use crate::httpclient::{Answer, HttpClient};
use bytes::Bytes;
use gomod::proxylist::{Entry, ProxySpec};
use http_body_util::BodyExt;
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

/// The configured chain of upstream proxies.
pub struct Upstreams {
    chain: Vec<ProxySpec>,
    direct: Option<Arc<crate::direct::Direct>>,
    http: Arc<HttpClient>,
}

impl Upstreams {
    pub fn new(chain: Vec<ProxySpec>, http: Arc<HttpClient>, direct: Option<Arc<crate::direct::Direct>>) -> Self {
        Self { chain, direct, http }
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
        fetch_http(&self.http, &format!("{base}/{rel}")).await
    }
}

/// One object from a GOPROXY-protocol server: 200 gives the body; 404/410 are "not here", with
/// the server's one-line reason kept when it sends a short text body.
pub async fn fetch_http(http: &HttpClient, url: &str) -> Result<Body, FetchError> {
    let Answer { url: origin, response } = http.get(url).await?;
    let status = response.status().as_u16();
    let body = Body::Http { body: response.into_body(), idle: http.idle, origin: origin.clone() };
    if status == 200 {
        return Ok(body);
    }
    let detail = match tokio::time::timeout(http.timeout, body.collect(4096)).await {
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
    Err(FetchError::Failed(reason))
}

fn first_line(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    let line = s.lines().next().unwrap_or("").trim();
    line.chars().filter(|c| !c.is_control()).take(300).collect()
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
}
