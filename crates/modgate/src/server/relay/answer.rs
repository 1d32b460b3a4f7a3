//! Answers written to the client: the backend's (its head rewritten, its body copied by its
//! framing, its connection kept when the answer ended cleanly on it) and modgate's own
//! (refusals, bad gateways).
//!
//! A route without response rewrite rules writes the backend's head straight from its bytes:
//! the hop-by-hop headers (and whatever `Connection` names) left out, `Via` and `X-Request-Id`
//! added — what `revproxy::headers` does to a header map, without building one. A route with
//! rules goes through the map and those functions.

use super::backend::{status_line_start, Answer, Backend, Body, Field};
use super::chunks::ChunkScan;
use super::clock::Deadline;
use super::{Client, Next};
use crate::config::HeaderRules;
use crate::http::respond::X_REQUEST_ID;
use crate::revproxy::headers::{self, Kind};
use crate::revproxy::Route;
use axum::response::Response;
use bytes::Buf;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use http_body_util::BodyExt;
use smallvec::SmallVec;
use tokio::io::AsyncReadExt;

/// What was answered, for the log line and the metrics.
pub struct Answered {
    pub status: u16,
    /// The declared body length.
    pub length: Option<u64>,
    pub next: Next,
    /// When the answer's head was ready (a backend's; `None` for modgate's own, written at once).
    pub head: Option<std::time::Instant>,
}

fn status_line(out: &mut Vec<u8>, status: StatusCode, reason: Option<&[u8]>) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason.unwrap_or(status.canonical_reason().unwrap_or("").as_bytes()));
    out.extend_from_slice(b"\r\n");
}

/// The reason phrase of a backend's status line (`HTTP/1.x NNN reason`).
fn reason_of(raw: &[u8]) -> Option<&[u8]> {
    let raw = &raw[status_line_start(raw)..];
    let line = raw.split(|&b| b == b'\n').next()?.strip_suffix(b"\r")?;
    line.get(13..).filter(|r| !r.is_empty())
}

fn header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.reserve(name.len() + value.len() + 4);
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// The end of a head: a `Date` when there was none, the framing the relay sends,
/// `Connection: close` when the connection ends after this answer.
fn end_head(out: &mut Vec<u8>, dated: bool, framing: Option<&str>, close: bool) {
    if !dated {
        header(out, b"date", httpdate::fmt_http_date(std::time::SystemTime::now()).as_bytes());
    }
    if let Some(f) = framing {
        out.extend_from_slice(f.as_bytes());
    }
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

fn map_head(
    out: &mut Vec<u8>,
    status: StatusCode,
    reason: Option<&[u8]>,
    h: &HeaderMap,
    framing: Option<&str>,
    close: bool,
) {
    status_line(out, status, reason);
    for (name, value) in h {
        header(out, name.as_str().as_bytes(), value.as_bytes());
    }
    end_head(out, h.contains_key(http::header::DATE), framing, close);
}

/// The backend's head, written from its bytes without its hop-by-hop headers.
fn direct_head(
    out: &mut Vec<u8>,
    a: &Answer,
    fields: &[Field],
    id: &HeaderValue,
    via: bool,
    framing: Option<&str>,
    close: bool,
) {
    status_line(out, a.status, reason_of(&a.raw));
    // What `Connection` names is this hop's too (`keep-alive`, `close`, or any header).
    let mut named = SmallVec::<[&[u8]; 4]>::new();
    // `TE: trailers` passes as `headers::strip_hop_by_hop` lets it; any other `TE` stays behind.
    let mut te_trailers = true;
    for (_, value, k) in a.fields(fields) {
        match k {
            Kind::Connection => named.extend(headers::tokens(value)),
            Kind::Te => te_trailers &= value.eq_ignore_ascii_case(b"trailers"),
            _ => {}
        }
    }
    let mut dated = false;
    for (name, value, k) in a.fields(fields) {
        let hop = match k {
            Kind::HopByHop | Kind::Connection | Kind::Coding | Kind::RequestId => true,
            Kind::Te => !te_trailers,
            _ => false,
        };
        if !hop && !named.iter().any(|t| t.eq_ignore_ascii_case(name)) {
            dated |= k == Kind::Date;
            header(out, name, value);
        }
    }
    if via {
        header(out, b"via", headers::via_value(http::Version::HTTP_11).as_bytes());
    }
    header(out, X_REQUEST_ID.as_str().as_bytes(), id.as_bytes());
    end_head(out, dated, framing, close);
}

/// The backend's head through a header map: its hop-by-hop headers removed, `Via` added when
/// the route says so, then the route's rewrite rules.
fn head_by_map(
    out: &mut Vec<u8>,
    a: &Answer,
    fields: &[Field],
    id: &HeaderValue,
    (via, rules): (bool, &HeaderRules),
    framing: Option<&str>,
    close: bool,
) {
    let mut h = a.header_map(fields);
    headers::strip_hop_by_hop(&mut h, false);
    if via {
        headers::via(&mut h, http::Version::HTTP_11);
    }
    headers::rewrite(&mut h, rules);
    h.insert(X_REQUEST_ID, id.clone());
    map_head(out, a.status, reason_of(&a.raw), &h, framing, close);
}

/// An answer modgate gives itself (a refusal, a bad gateway), written whole (its body left
/// out for a `HEAD`, its length kept).
pub async fn write_error(c: &mut Client, resp: Response, id: &HeaderValue, close: bool) -> Answered {
    let (mut parts, body) = resp.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    parts.headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    parts.headers.insert(X_REQUEST_ID, id.clone());
    let mut out = Vec::with_capacity(256 + body.len());
    map_head(&mut out, parts.status, None, &parts.headers, None, close);
    if !c.head_request {
        out.extend_from_slice(&body);
    }
    let next = match c.write_all(&out).await {
        Ok(()) if !close => Next::KeepAlive,
        _ => Next::Close,
    };
    Answered { status: parts.status.as_u16(), length: Some(body.len() as u64), next, head: None }
}

/// The backend's answer to the client; then the backend's connection kept when the answer
/// ended cleanly on it. The flag says whether the body came whole from the backend.
#[allow(clippy::too_many_arguments)]
pub async fn pass(
    c: &mut Client,
    mut b: Backend,
    answer: Answer,
    route: &Route,
    i: usize,
    method: &Method,
    id: &HeaderValue,
    close: bool,
) -> (Answered, bool) {
    let status = answer.status;
    let bodiless = *method == Method::HEAD || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED;
    let body = if bodiless { Body::Length(0) } else { answer.body };
    let close = close || body == Body::Close;
    let framing = (body == Body::Chunked).then_some("transfer-encoding: chunked\r\n");
    // Room for the body bytes already read, which go out with the head.
    let early = match body {
        Body::Length(n) => (b.buf.len() as u64).min(n) as usize,
        Body::Chunked => b.buf.len(),
        Body::Close => 0,
    };
    // The connection's own buffer, its room kept from answer to answer.
    let mut out = std::mem::take(&mut c.scratch);
    out.clear();
    out.reserve(answer.raw.len() + 160 + early);
    let s = &route.settings;
    match s.response_headers.is_empty() {
        true => direct_head(&mut out, &answer, &c.fields, id, s.via, framing, close),
        false => head_by_map(&mut out, &answer, &c.fields, id, (s.via, &s.response_headers), framing, close),
    }
    let head = Some(b.answered);
    let answered = |next| Answered { status: status.as_u16(), length: answer.length, next, head };
    let copied = match body {
        Body::Length(n) => copy_length(c, &mut b, &mut out, n).await,
        Body::Chunked => copy_chunked(c, &mut b, &mut out).await,
        Body::Close => copy_to_end(c, &mut b, &out).await,
    };
    c.keep_scratch(out);
    match copied {
        Ok(()) => {
            if answer.keep_alive && b.buf.is_empty() && body != Body::Close {
                // A buffer a large body grew does not wait in the pool at that size.
                let buf = if b.buf.capacity() > 16 * 1024 { bytes::BytesMut::with_capacity(8 * 1024) } else { b.buf };
                route.idle.put(i, super::workers::current(), (b.io, buf), b.answered);
            }
            (answered(if close { Next::Close } else { Next::KeepAlive }), true)
        }
        // The client went away: not the backend's fault.
        Err(Broke::Client) => (answered(Next::Close), true),
        Err(Broke::Backend) => (answered(Next::Close), false),
    }
}

/// Which side broke a body off.
enum Broke {
    Client,
    Backend,
}

/// Reads more of the answer's body into the backend's buffer.
/// A backend that sends nothing for its route's `timeout` in the middle of a body has broken
/// it off (as nginx's `proxy_read_timeout`): the client's connection is not held open for it.
async fn fill(b: &mut Backend, deadline: &mut Deadline) -> Result<usize, Broke> {
    b.buf.reserve(64 * 1024);
    deadline.set(tokio::time::Instant::now() + b.idle);
    let read = tokio::select! {
        biased;
        r = b.io.read_buf(&mut b.buf) => r,
        _ = deadline.expired() => {
            tracing::debug!("the backend sent nothing of the body in time");
            return Err(Broke::Backend);
        }
    };
    read.map_err(|_| Broke::Backend)
}

async fn send(c: &mut Client, bytes: &[u8]) -> Result<(), Broke> {
    c.write_all(bytes).await.map_err(|_| Broke::Client)
}

/// A body of `n` bytes: what came with the head goes out with it, in one write.
async fn copy_length(c: &mut Client, b: &mut Backend, head: &mut Vec<u8>, mut n: u64) -> Result<(), Broke> {
    let first = (b.buf.len() as u64).min(n) as usize;
    head.extend_from_slice(&b.buf[..first]);
    b.buf.advance(first);
    n -= first as u64;
    send(c, head).await?;
    while n > 0 {
        if fill(b, &mut c.deadline).await? == 0 {
            return Err(Broke::Backend);
        }
        let take = (b.buf.len() as u64).min(n) as usize;
        send(c, &b.buf[..take]).await?;
        b.buf.advance(take);
        n -= take as u64;
    }
    Ok(())
}

/// A chunked body, passed on as the backend framed it, up to its last chunk and trailers.
async fn copy_chunked(c: &mut Client, b: &mut Backend, head: &mut Vec<u8>) -> Result<(), Broke> {
    let mut scan = ChunkScan::new();
    let mut pending = Some(head);
    loop {
        let end = scan.feed(&b.buf).map_err(|_| Broke::Backend)?;
        let take = end.unwrap_or(b.buf.len());
        match pending.take() {
            Some(h) => {
                h.extend_from_slice(&b.buf[..take]);
                send(c, h).await?;
            }
            None if take > 0 => send(c, &b.buf[..take]).await?,
            None => {}
        }
        b.buf.advance(take);
        if end.is_some() {
            return Ok(());
        }
        if fill(b, &mut c.deadline).await? == 0 {
            return Err(Broke::Backend);
        }
    }
}

/// A body that ends when the backend closes; the client's connection ends with it.
async fn copy_to_end(c: &mut Client, b: &mut Backend, head: &[u8]) -> Result<(), Broke> {
    send(c, head).await?;
    loop {
        if !b.buf.is_empty() {
            send(c, &b.buf).await?;
            b.buf.clear();
        }
        if fill(b, &mut c.deadline).await? == 0 {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HeaderRules;

    /// An answer head as a client reads it: the status line, and each name's values in order.
    fn read(head: &[u8]) -> (String, super::super::ByName) {
        let mut slots = [httparse::EMPTY_HEADER; 64];
        let mut r = httparse::Response::new(&mut slots);
        assert!(matches!(r.parse(head), Ok(httparse::Status::Complete(n)) if n == head.len()));
        (format!("{} {}", r.code.unwrap(), r.reason.unwrap_or("")), super::super::by_name(r.headers))
    }

    /// Answer headers chosen among at random.
    const POOL: &[&[u8]] = &[
        b"Connection: keep-alive",
        b"Connection: close",
        b"Connection: X-Secret, Keep-Alive",
        b"connection: te",
        b"X-Secret: 1",
        b"Keep-Alive: timeout=5",
        b"TE: trailers",
        b"te: gzip",
        b"Transfer-Encoding: chunked",
        b"Upgrade: h2c",
        b"Proxy-Authenticate: Basic",
        b"X-Request-Id: backend-id",
        b"Date: Tue, 01 Dec 2026 10:00:00 GMT",
        b"Via: 1.0 inner",
        b"Server: nginx",
        b"Content-Length: 5",
        b"ETag: \"x\"",
        b"Set-Cookie: a=1",
        b"Set-Cookie: b=2",
        b"X-Empty:",
        b"X-High: caf\xc3\xa9",
    ];

    #[test]
    fn answer_heads_written_directly_are_the_heads_the_header_map_gives() {
        let mut next = super::super::pick_with(0x2545_f491_4f6c_dd1d);
        let id = HeaderValue::from_static("req-1");
        for case in 0..5_000 {
            let mut raw =
                [&b"HTTP/1.1 200 OK\r\n"[..], b"HTTP/1.1 404 Gone Away\r\n", b"HTTP/1.0 204 \r\n"][next(3)].to_vec();
            for _ in 0..next(8) {
                raw.extend_from_slice(POOL[next(POOL.len())]);
                raw.extend_from_slice(b"\r\n");
            }
            raw.extend_from_slice(b"\r\n");
            let Some((a, fields)) = super::super::backend::answer_of(&raw) else { continue };
            let framing = [None, Some("transfer-encoding: chunked\r\n")][next(2)];
            let close = next(2) == 0;
            let via = next(2) == 0;
            let mut direct = Vec::new();
            direct_head(&mut direct, &a, &fields, &id, via, framing, close);
            let mut by_map = Vec::new();
            head_by_map(&mut by_map, &a, &fields, &id, (via, &HeaderRules::default()), framing, close);
            let (mut direct_read, mut map_read) = (read(&direct), read(&by_map));
            // A missing `Date` is added at the time of writing: the two may differ by a second.
            for r in [&mut direct_read, &mut map_read] {
                if let Some(d) = r.1.get_mut("date") {
                    d.iter_mut().for_each(|v| v.truncate(5));
                }
            }
            assert_eq!(
                direct_read,
                map_read,
                "case {case}:\n{}\ndirect:\n{}\nmap:\n{}",
                String::from_utf8_lossy(&raw),
                String::from_utf8_lossy(&direct),
                String::from_utf8_lossy(&by_map)
            );
        }
    }

    #[test]
    fn the_backends_reason_phrase_is_kept() {
        assert_eq!(reason_of(b"HTTP/1.1 200 Fine Indeed\r\nA: b\r\n\r\n"), Some(&b"Fine Indeed"[..]));
        assert_eq!(reason_of(b"HTTP/1.1 204 \r\n\r\n"), None);
        assert_eq!(reason_of(b"HTTP/1.1 204\r\n\r\n"), None);
        assert_eq!(reason_of(b"\r\nHTTP/1.1 200 Fine\r\n\r\n"), Some(&b"Fine"[..]));
    }
}
