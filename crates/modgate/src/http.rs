//! The HTTP surface: the router, the request-id and access-log layer, and turning service
//! replies into responses (validators, ranges, cache headers).

use crate::auth::Action;
use crate::errors::ServeError;
use crate::route;
use crate::service::{CacheStatus, MemObject, Reply, Service};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use std::sync::Arc;
use std::time::Instant;

/// Our own response headers, named once (a name given as a string is parsed on every insert).
const X_REQUEST_ID: header::HeaderName = header::HeaderName::from_static("x-request-id");
const X_MODGATE_CACHE: header::HeaderName = header::HeaderName::from_static("x-modgate-cache");

/// Chunk size when streaming a zip.
const STREAM_CHUNK: usize = 64 * 1024;

pub fn router(svc: Arc<Service>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/-/publish/{*target}", axum::routing::put(publish))
        .route("/-/admin/status", get(admin_status))
        .fallback(module)
        .with_state(Arc::clone(&svc))
        .layer(middleware::from_fn_with_state(svc, access))
}

async fn healthz() -> Response {
    text(StatusCode::OK, "ok\n")
}

async fn readyz(State(svc): State<Arc<Service>>) -> Response {
    match svc.store.check_ready().await {
        Ok(()) => text(StatusCode::OK, "ready\n"),
        Err(e) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("storage not ready: {}\n", crate::errors::one_line(&e.to_string())),
        ),
    }
}

fn text(status: StatusCode, body: &str) -> Response {
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The caller's `X-Request-Id` when it is sane, else 16 random hex digits.
fn new_request_id(headers: &HeaderMap) -> HeaderValue {
    if let Some(v) = headers.get(&X_REQUEST_ID) {
        let b = v.as_bytes();
        if !b.is_empty()
            && b.len() <= 64
            && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.')
        {
            return v.clone();
        }
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut n = rand::random::<u64>();
    let mut out = [0u8; 16];
    for c in out.iter_mut().rev() {
        *c = HEX[(n & 15) as usize];
        n >>= 4;
    }
    HeaderValue::from_bytes(&out).unwrap_or_else(|_| HeaderValue::from_static("0000000000000000"))
}

/// Request id, the checks every request gets (method, request-target form), and one access-log
/// line per request.
async fn access(State(svc): State<Arc<Service>>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let id = new_request_id(req.headers());
    let method = req.method().clone();
    // A cheap handle on the target (shared bytes); it is formatted only if the line is written.
    let uri = req.uri().clone();
    let resp = if is_absolute_form(&req) {
        ServeError::BadRequest("absolute-form request targets are not accepted; send an origin-form path".into())
            .into_response()
    } else if method != Method::GET
        && method != Method::HEAD
        && !(method == Method::PUT && uri.path().starts_with(route::PUBLISH_PREFIX))
    {
        ServeError::MethodNotAllowed.into_response()
    } else if let Some(auth) = &svc.auth {
        match guard(auth, &req, id.to_str().unwrap_or("-")) {
            Ok(()) => next.run(req).await,
            Err(e) => e.into_response(),
        }
    } else {
        next.run(req).await
    };
    logged(resp, id, &method, &uri, start)
}

/// HTTP/2 always carries the scheme and authority (pseudo-headers); only an HTTP/1 request
/// line can be in absolute form.
fn is_absolute_form<B>(req: &http::Request<B>) -> bool {
    req.version() < http::Version::HTTP_2 && (req.uri().scheme().is_some() || req.uri().authority().is_some())
}

/// Every response's last step: its request id, and the access-log line when someone will
/// read it.
fn logged(mut resp: Response, id: HeaderValue, method: &Method, uri: &http::Uri, start: Instant) -> Response {
    let status = resp.status().as_u16();
    let level_on = if status >= 500 {
        tracing::enabled!(target: "access", tracing::Level::WARN)
    } else {
        tracing::enabled!(target: "access", tracing::Level::INFO)
    };
    if level_on {
        let bytes = resp.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).unwrap_or("-");
        let cache = resp.headers().get(&X_MODGATE_CACHE).and_then(|v| v.to_str().ok()).unwrap_or("-");
        let dur_ms = start.elapsed().as_secs_f64() * 1000.0;
        let path = crate::errors::one_line(uri.path());
        let id = id.to_str().unwrap_or("-");
        if status >= 500 {
            tracing::warn!(target: "access", request_id = %id, method = %method, path = %path, status, bytes = %bytes, duration_ms = dur_ms, cache, "request");
        } else {
            tracing::info!(target: "access", request_id = %id, method = %method, path = %path, status, bytes = %bytes, duration_ms = dur_ms, cache, "request");
        }
    }
    resp.headers_mut().insert(X_REQUEST_ID, id);
    resp
}

/// The hot path: a plain GET or HEAD of a warm `.info`/`.mod` held in memory, answered without
/// the router, the path parser or a single allocation for the path. It takes a request only
/// when the answer is certain to be what the full path would give:
/// - the target is origin-form, has no query, and needs no percent-decoding, so the path after
///   its `/` is byte for byte the storage key that a full parse of it would compute — and every
///   key in memory was put there by a request that passed that parse;
/// - the object's prefetch hooks have already run, and the module's route allows it;
///
/// and then it decides access with the same functions as the full path (`authenticate`,
/// `authorize`), using the module and version the object was stored for. Everything else
/// (`None`) goes through the router and the full checks.
pub fn fast_hit<B>(svc: &Service, req: &http::Request<B>) -> Option<Response> {
    let method = req.method();
    if (method != Method::GET && method != Method::HEAD) || is_absolute_form(req) || req.uri().query().is_some() {
        return None;
    }
    let path = req.uri().path();
    let key = path.strip_prefix('/')?;
    if key.starts_with("-/") || key.starts_with("sumdb/") || !route::is_plain(key) {
        return None;
    }
    let obj = svc.memory_hit(key)?;
    if !obj.prefetch_seen.load(std::sync::atomic::Ordering::Relaxed) || svc.chain_for(&obj.module).is_err() {
        return None;
    }
    let start = Instant::now();
    let id = new_request_id(req.headers());
    let allowed = match &svc.auth {
        Some(auth) => authenticate(auth, req, id.to_str().unwrap_or("-")).and_then(|who| {
            authorize(auth, &who, &obj.module, Some(&obj.version), Action::Read, id.to_str().unwrap_or("-"))
        }),
        None => Ok(()),
    };
    let resp = match allowed {
        Ok(()) => {
            let ct = obj.content_type;
            object_response(Source::Memory(obj), ct, CacheStatus::Hit, req.headers(), method == Method::HEAD)
        }
        Err(e) => e.into_response(),
    };
    Some(logged(resp, id, method, req.uri(), start))
}

/// Who is asking (or why nobody acceptable is), within their rate limit.
fn authenticate<B>(
    auth: &crate::auth::Auth,
    req: &http::Request<B>,
    request_id: &str,
) -> Result<crate::auth::Principal, ServeError> {
    use crate::auth::Authn;
    let who = match auth.authenticate(req.headers(), req.extensions().get::<crate::tls::ClientCert>()) {
        Authn::Ok(p) => p,
        Authn::Missing => return Err(ServeError::Unauthorized("authentication required".into())),
        Authn::Invalid => {
            auth.record_refusal("invalid-credentials", "unknown, revoked or malformed credentials", request_id);
            return Err(ServeError::Unauthorized("invalid credentials".into()));
        }
    };
    if !auth.rate_ok(&who) {
        return Err(ServeError::TooManyRequests(format!("{}: too many requests; slow down", who.name)));
    }
    Ok(who)
}

/// Whether `who` may do `action` on the module, and how a refusal is answered.
fn authorize(
    auth: &crate::auth::Auth,
    who: &crate::auth::Principal,
    module: &str,
    version: Option<&str>,
    action: Action,
    request_id: &str,
) -> Result<(), ServeError> {
    let (ok, _) = auth.authorize(who, module, version, action, request_id);
    if ok {
        return Ok(());
    }
    if auth.hide_denied() {
        return Err(ServeError::not_found(format!("{module}: not found")));
    }
    if who.anonymous {
        return Err(ServeError::Unauthorized(format!("{module}: authentication required")));
    }
    match action {
        Action::Admin => Err(ServeError::Forbidden(format!("{} may not use admin endpoints", who.name))),
        Action::Write => Err(ServeError::Forbidden(format!("{module}: {} may not publish this module", who.name))),
        Action::Read => Err(ServeError::Forbidden(format!("{module}: {} may not read this module", who.name))),
    }
}

/// Authentication, then authorization on the canonical, unescaped module path the handler
/// itself will use — decided by the same parser, for every endpoint alike. Health checks are
/// open; everything else needs a principal.
fn guard(auth: &crate::auth::Auth, req: &Request, request_id: &str) -> Result<(), ServeError> {
    let path = req.uri().path();
    if path == "/healthz" || path == "/readyz" {
        return Ok(());
    }
    let who = authenticate(auth, req, request_id)?;
    // Checksum-database paths: a lookup names a module; the tree tiles and signed heads do not.
    let mut action = Action::Read;
    let (module, version) = if path.starts_with("/-/admin/") {
        action = Action::Admin;
        (String::new(), None)
    } else if path.starts_with(route::PUBLISH_PREFIX) {
        let parsed = route::parse_publish(path, req.uri().query())?;
        action = Action::Write;
        (parsed.module.clone(), parsed.version.clone())
    } else if let Some(rest) = path.strip_prefix("/sumdb/") {
        match rest.split_once("/lookup/") {
            Some((_, target)) => {
                let decoded = percent_encoding::percent_decode_str(target)
                    .decode_utf8()
                    .map_err(|_| ServeError::BadRequest("invalid checksum-database lookup".into()))?;
                let (m, v) = decoded
                    .rsplit_once('@')
                    .ok_or_else(|| ServeError::BadRequest("invalid checksum-database lookup".into()))?;
                let m = gomod::path::unescape_path(m)
                    .map_err(|_| ServeError::BadRequest("invalid checksum-database lookup".into()))?;
                (m, Some(v.to_string()))
            }
            None => return Ok(()),
        }
    } else {
        let parsed = route::parse(path, req.uri().query())?;
        (parsed.module.clone(), parsed.version.clone())
    };
    authorize(auth, &who, &module, version.as_deref(), action, request_id)
}

/// `GET /-/admin/status`: what this server is and runs with (secrets redacted). Admin only.
async fn admin_status(State(svc): State<Arc<Service>>) -> Response {
    if svc.auth.is_none() {
        return ServeError::Forbidden("admin endpoints need [auth] with an admin group".into()).into_response();
    }
    let body = serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "upstream": svc.upstream_summary(),
        "routes": svc.route_summary(),
        "auth": true,
    });
    let mut r = Response::new(Body::from(format!("{body}\n")));
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// `PUT /-/publish/{module}/@v/{version}`: the body is the module zip; `X-Module-Time`
/// (RFC 3339 or HTTP date) sets the `.info` time, else now. Publishing needs `[auth]`: the
/// guard has already checked the caller's `write` permission.
async fn publish(State(svc): State<Arc<Service>>, req: Request) -> Response {
    if svc.auth.is_none() {
        return ServeError::Forbidden("publishing needs [auth] with write rules".into()).into_response();
    }
    let parsed = match route::parse_publish(req.uri().path(), req.uri().query()) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    if req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .is_some_and(|n| n > svc.publish_max_bytes)
    {
        return ServeError::TooLarge(format!("publish: the zip is larger than {} bytes", svc.publish_max_bytes))
            .into_response();
    }
    let time = req.headers().get("x-module-time").and_then(|v| v.to_str().ok()).map(str::to_string);
    let body = req.into_body().into_data_stream();
    match svc.publish(&parsed, body, time).await {
        Ok(h1) => {
            let mut r = text(StatusCode::CREATED, &format!("published {} {h1}\n", parsed.display()));
            if let Ok(v) = HeaderValue::from_str(&h1) {
                r.headers_mut().insert("x-module-h1", v);
            }
            r
        }
        Err(e) => e.into_response(),
    }
}

async fn module(State(svc): State<Arc<Service>>, req: Request) -> Response {
    let head = req.method() == Method::HEAD;
    let parsed = match route::parse(req.uri().path(), req.uri().query()) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let cache_only = req
        .headers()
        .get("disable-module-fetch")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let may_stream = !head && !req.headers().contains_key(header::RANGE);
    let answer = if cache_only { svc.serve_cached(&parsed).await } else { svc.serve(&parsed, may_stream).await };
    let reply = match answer {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let ct = parsed.endpoint.content_type();
    match reply {
        Reply::Object { obj, cache } => object_response(Source::File(obj), ct, cache, req.headers(), head),
        Reply::Memory { obj, cache } => object_response(Source::Memory(obj), ct, cache, req.headers(), head),
        Reply::Stream { file, progress, total } => filling_response(file, progress, total, ct),
        Reply::Mutable { data, cache } => {
            let mut resp = Response::new(if head { Body::empty() } else { Body::from(data.clone()) });
            let h = resp.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(data.len()));
            let max_age = if cache == CacheStatus::Stale { 0 } else { svc.list_ttl().as_secs() };
            if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
                h.insert(header::CACHE_CONTROL, v);
            }
            h.insert(X_MODGATE_CACHE, HeaderValue::from_static(cache.as_str()));
            if cache == CacheStatus::Stale {
                h.insert(header::WARNING, HeaderValue::from_static("110 modgate \"Response is Stale\""));
            }
            resp
        }
    }
}

/// A committed file's bytes `[start, start+count)` in chunks, read with positioned reads on the
/// worker thread. The files are in the page cache in steady state, where a 64 KiB read is a
/// memory copy of a few microseconds; going through the blocking pool instead cost two context
/// switches and an extra copy per chunk, which dominated the warm-zip profile.
fn file_chunks(
    file: std::fs::File,
    start: u64,
    count: u64,
) -> impl futures::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static {
    futures::stream::unfold((file, start, start + count), |(file, pos, end)| async move {
        if pos >= end {
            return None;
        }
        let want = ((end - pos) as usize).min(STREAM_CHUNK);
        let mut buf = bytes::BytesMut::zeroed(want);
        match read_at(&file, &mut buf, pos) {
            Ok(0) => Some((Err(std::io::Error::other("file shorter than expected")), (file, end, end))),
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(buf.freeze()), (file, pos + n as u64, end)))
            }
            Err(e) => Some((Err(e), (file, end, end))),
        }
    })
}

fn read_at(file: &std::fs::File, buf: &mut [u8], pos: u64) -> std::io::Result<usize> {
    #[cfg(unix)]
    return std::os::unix::fs::FileExt::read_at(file, buf, pos);
    #[cfg(windows)]
    return std::os::windows::fs::FileExt::seek_read(file, buf, pos);
}

/// A zip that is still being filled: its bytes follow the temporary file as the fill writes
/// it. The last byte is withheld until the zip is verified and committed; if verification
/// fails the body ends in an error, which aborts the connection, so no client ever holds a
/// complete copy of an unverified zip.
fn filling_response(
    file: std::fs::File,
    progress: tokio::sync::watch::Receiver<crate::service::Progress>,
    total: Option<u64>,
    ct: &'static str,
) -> Response {
    use crate::service::FillState;
    struct Follow {
        file: std::fs::File,
        progress: tokio::sync::watch::Receiver<crate::service::Progress>,
        total: Option<u64>,
        pos: u64,
        finished: bool,
    }
    let st = Follow { file, progress, total, pos: 0, finished: false };
    let stream = futures::stream::unfold(st, |mut st| async move {
        if st.finished {
            return None;
        }
        loop {
            let (written, state) = {
                let p = st.progress.borrow_and_update();
                (p.written, p.state.clone())
            };
            let limit = match &state {
                FillState::Failed(e) => {
                    st.finished = true;
                    return Some((Err(std::io::Error::other(format!("fill failed: {e}"))), st));
                }
                FillState::Committed => written,
                FillState::Running => match st.total {
                    Some(t) => written.min(t.saturating_sub(1)),
                    None => written,
                },
            };
            if st.pos < limit {
                // Positioned reads of bytes the fill has just written (page cache), with a
                // fresh buffer per chunk handed to hyper without a copy.
                let want = ((limit - st.pos) as usize).min(STREAM_CHUNK);
                let mut buf = bytes::BytesMut::zeroed(want);
                match read_at(&st.file, &mut buf, st.pos) {
                    Ok(0) => {
                        st.finished = true;
                        return Some((Err(std::io::Error::other("temporary file ended early")), st));
                    }
                    Ok(n) => {
                        st.pos += n as u64;
                        buf.truncate(n);
                        return Some((Ok(buf.freeze()), st));
                    }
                    Err(e) => {
                        st.finished = true;
                        return Some((Err(e), st));
                    }
                }
            }
            if matches!(state, FillState::Committed) {
                return None;
            }
            if st.progress.changed().await.is_err() {
                st.finished = true;
                return Some((Err(std::io::Error::other("fill abandoned")), st));
            }
        }
    });
    let mut r = Response::new(Body::from_stream(stream));
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable"));
    h.insert(X_MODGATE_CACHE, HeaderValue::from_static("miss"));
    if let Some(t) = total {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(t));
    }
    r
}

/// A single byte range, resolved against the object length.
#[derive(Debug, PartialEq, Eq)]
enum RangeReq {
    Full,
    Partial(u64, u64),
    Unsatisfiable,
}

fn parse_range(value: &str, len: u64) -> RangeReq {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return RangeReq::Full;
    };
    if spec.contains(',') {
        // Several ranges: answering with the whole object is allowed and simpler.
        return RangeReq::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeReq::Full;
    };
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        let Ok(n) = b.parse::<u64>() else {
            return RangeReq::Full;
        };
        if n == 0 || len == 0 {
            return RangeReq::Unsatisfiable;
        }
        return RangeReq::Partial(len.saturating_sub(n), len - 1);
    }
    let Ok(start) = a.parse::<u64>() else {
        return RangeReq::Full;
    };
    let end = if b.is_empty() {
        len.saturating_sub(1)
    } else {
        match b.parse::<u64>() {
            Ok(e) if e >= start => e.min(len.saturating_sub(1)),
            _ => return RangeReq::Full,
        }
    };
    if start >= len {
        return RangeReq::Unsatisfiable;
    }
    RangeReq::Partial(start, end)
}

/// Where an immutable object's bytes come from.
enum Source {
    File(crate::storage::StoredObject),
    Memory(Arc<MemObject>),
}

fn object_response(src: Source, ct: &'static str, cache: CacheStatus, req_headers: &HeaderMap, head: bool) -> Response {
    let (etag, last_modified, len) = match &src {
        Source::Memory(m) => (m.etag.clone(), m.last_modified.clone(), m.data.len() as u64),
        Source::File(f) => {
            match (HeaderValue::from_str(&f.etag), HeaderValue::from_str(&httpdate::fmt_http_date(f.modified))) {
                (Ok(e), Ok(l)) => (e, l, f.len),
                _ => return ServeError::Storage("unrepresentable validator".into()).into_response(),
            }
        }
    };
    let mut base = HeaderMap::with_capacity(10);
    base.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    base.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable"));
    base.insert(header::ETAG, etag.clone());
    base.insert(header::LAST_MODIFIED, last_modified.clone());
    base.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    base.insert(X_MODGATE_CACHE, HeaderValue::from_static(cache.as_str()));

    let finish = |status: StatusCode, body: Body, mut headers: HeaderMap| {
        let mut r = Response::new(body);
        *r.status_mut() = status;
        std::mem::swap(r.headers_mut(), &mut headers);
        r
    };
    if let Some(inm) = req_headers.get(header::IF_NONE_MATCH) {
        let inm = inm.as_bytes();
        if inm == b"*" || inm.split(|&b| b == b',').any(|t| t.trim_ascii() == etag.as_bytes()) {
            return finish(StatusCode::NOT_MODIFIED, Body::empty(), base);
        }
    }
    let mut range = match req_headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(v) => parse_range(v, len),
        None => RangeReq::Full,
    };
    if range != RangeReq::Full {
        // If-Range: only a matching strong validator keeps the range.
        if let Some(ir) = req_headers.get(header::IF_RANGE) {
            let ir = ir.as_bytes().trim_ascii();
            if ir != etag.as_bytes() && ir != last_modified.as_bytes() {
                range = RangeReq::Full;
            }
        }
    }
    let (status, start, count) = match range {
        RangeReq::Full => (StatusCode::OK, 0, len),
        RangeReq::Partial(s, e) => (StatusCode::PARTIAL_CONTENT, s, e - s + 1),
        RangeReq::Unsatisfiable => {
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                base.insert(header::CONTENT_RANGE, v);
            }
            base.insert(header::CONTENT_LENGTH, HeaderValue::from(0));
            return finish(StatusCode::RANGE_NOT_SATISFIABLE, Body::empty(), base);
        }
    };
    let body = if head || count == 0 {
        Body::empty()
    } else {
        match src {
            Source::Memory(m) => Body::from(m.data.slice(start as usize..(start + count) as usize)),
            Source::File(f) => Body::from_stream(file_chunks(f.file, start, count)),
        }
    };
    base.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    if status == StatusCode::PARTIAL_CONTENT {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{len}", start + count - 1)) {
            base.insert(header::CONTENT_RANGE, v);
        }
    }
    finish(status, body, base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), RangeReq::Partial(0, 9));
        assert_eq!(parse_range("bytes=90-", 100), RangeReq::Partial(90, 99));
        assert_eq!(parse_range("bytes=-10", 100), RangeReq::Partial(90, 99));
        assert_eq!(parse_range("bytes=50-500", 100), RangeReq::Partial(50, 99));
        assert_eq!(parse_range("bytes=100-", 100), RangeReq::Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), RangeReq::Unsatisfiable);
        assert_eq!(parse_range("bytes=5-1", 100), RangeReq::Full);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), RangeReq::Full);
        assert_eq!(parse_range("items=0-1", 100), RangeReq::Full);
        assert_eq!(parse_range("bytes=x-", 100), RangeReq::Full);
    }
}
