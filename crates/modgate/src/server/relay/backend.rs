//! One try on one member: the request head written on a kept connection (or a new one), and
//! the answer's head read and parsed. A kept connection the backend closed just as it was
//! taken costs nothing for a request that may be sent again: it goes on a new connection.

use super::clock::Deadline;
use crate::errors::ServeError;
use crate::revproxy::headers::{self, Kind};
use crate::revproxy::outgoing::Outgoing;
use crate::revproxy::Route;
use bytes::Bytes;
use bytes::BytesMut;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Longest answer head read from a backend, and most headers in it.
const MAX_HEAD: usize = 64 * 1024;
const MAX_HEADERS: usize = 128;

pub struct Backend {
    pub io: TcpStream,
    /// Bytes read past the answer's head.
    pub buf: BytesMut,
    /// Longest the backend may go quiet while its answer's body is read.
    pub idle: Duration,
    /// When the answer's head was read: the request's latency, and when the connection last
    /// answered (for the idle list).
    pub answered: std::time::Instant,
}

/// How the answer's body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    Length(u64),
    Chunked,
    /// Until the backend closes.
    Close,
}

pub struct Answer {
    pub status: StatusCode,
    /// The head as the backend wrote it.
    pub raw: Bytes,
    /// The declared body length.
    pub length: Option<u64>,
    pub body: Body,
    /// The backend keeps the connection open after this answer.
    pub keep_alive: bool,
}

/// One header of an answer head, as httparse read it: where its name and value lie in
/// `Answer::raw`, and its kind. The connection's list of them is kept from answer to answer
/// (`Client::fields`), so that neither an allocation nor a large `Answer` is paid per answer.
#[derive(Clone, Copy)]
pub struct Field {
    name: (u32, u32),
    value: (u32, u32),
    kind: Kind,
}

enum Fail {
    /// Nothing came back on a kept connection: the backend closed it.
    Stale,
    Broken(String),
}

/// The request's head for member `authority`, in `head`.
pub fn request_head(out: &Outgoing, authority: &str, head: &mut Vec<u8>) {
    head.clear();
    head.reserve(256 + out.headers.len() * 32);
    head.extend_from_slice(out.method.as_str().as_bytes());
    head.push(b' ');
    head.extend_from_slice(out.path_and_query.as_bytes());
    head.extend_from_slice(b" HTTP/1.1\r\n");
    if !out.headers.contains_key(http::header::HOST) {
        head.extend_from_slice(b"host: ");
        head.extend_from_slice(authority.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    for (name, value) in &out.headers {
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
}

/// Sends `head` to member `i` and reads the answer's head within the route's timeout from
/// `asked` (the caller's reading of the clock). `replay`: the request may be sent again (it
/// has no body and is idempotent).
#[allow(clippy::too_many_arguments)]
pub async fn ask(
    route: &Route,
    i: usize,
    authority: &str,
    head: &[u8],
    replay: bool,
    asked: std::time::Instant,
    deadline: &mut Deadline,
    fields: &mut Vec<Field>,
) -> Result<(Backend, Answer), ServeError> {
    let name = &route.settings.name;
    let timeout = route.settings.timeout;
    let mut kept = route.idle.take(i, super::workers::current(), asked);
    loop {
        let reused = kept.is_some();
        let (io, buf) = match kept.take() {
            Some(kept) => kept,
            None => {
                let io = connect(authority, timeout.min(Duration::from_secs(10))).await.map_err(|e| {
                    tracing::debug!(route = %name, error = %e, "backend connect failed");
                    ServeError::BadGateway(format!("proxy {name}: the backend could not be reached"))
                })?;
                (io, BytesMut::with_capacity(8 * 1024))
            }
        };
        let mut b = Backend { io, buf, idle: timeout, answered: asked };
        deadline.set(tokio::time::Instant::from_std(asked) + timeout);
        let exchanged = tokio::select! {
            biased;
            r = exchange(&mut b, head, fields) => r,
            _ = deadline.expired() => {
                return Err(ServeError::Timeout(format!("proxy {name}: the backend did not answer in time")));
            }
        };
        match exchanged {
            Ok(answer) => {
                b.answered = std::time::Instant::now();
                return Ok((b, answer));
            }
            Err(Fail::Stale) if reused && replay => continue,
            Err(Fail::Stale) => {
                tracing::debug!(route = %name, "backend closed the connection before answering");
            }
            Err(Fail::Broken(e)) => tracing::debug!(route = %name, error = %e, "backend request failed"),
        }
        return Err(ServeError::BadGateway(format!("proxy {name}: the backend could not be reached")));
    }
}

async fn connect(authority: &str, timeout: Duration) -> std::io::Result<TcpStream> {
    let tcp = tokio::time::timeout(timeout, TcpStream::connect(authority))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    let _ = tcp.set_nodelay(true);
    Ok(tcp)
}

async fn exchange(b: &mut Backend, head: &[u8], fields: &mut Vec<Field>) -> Result<Answer, Fail> {
    b.io.write_all(head).await.map_err(|_| Fail::Stale)?;
    loop {
        if let Some((len, mut answer)) = parse(&b.buf, fields)? {
            // The head's bytes leave the buffer without a copy; the buffer is whole again (for
            // the connection's next answer) once the head is dropped, at the end of `pass`.
            answer.raw = b.buf.split_to(len).freeze();
            // Interim answers (100, 103) are this hop's: the final one follows.
            if answer.status.is_informational() && answer.status != StatusCode::SWITCHING_PROTOCOLS {
                continue;
            }
            if answer.status == StatusCode::SWITCHING_PROTOCOLS {
                return Err(Fail::Broken("the backend switched protocols unasked".into()));
            }
            return Ok(answer);
        }
        if b.buf.len() > MAX_HEAD {
            return Err(Fail::Broken("the answer's head is too large".into()));
        }
        b.buf.reserve(8 * 1024);
        match b.io.read_buf(&mut b.buf).await {
            Ok(0) | Err(_) if b.buf.is_empty() => return Err(Fail::Stale),
            Ok(0) => return Err(Fail::Broken("the connection closed inside the answer's head".into())),
            Err(e) => return Err(Fail::Broken(e.to_string())),
            Ok(_) => {}
        }
    }
}

/// The answer head at the start of `buf` and its length, once it is all there (`raw` is left
/// empty for the caller to fill); its headers in `fields`.
fn parse(buf: &[u8], fields: &mut Vec<Field>) -> Result<Option<(usize, Answer)>, Fail> {
    let mut slots = slots();
    let mut r = httparse::Response::new(&mut []);
    let len = match httparse::ParserConfig::default().parse_response_with_uninit_headers(&mut r, buf, &mut slots) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(Fail::Broken(format!("a malformed answer: {e}"))),
    };
    let status =
        r.code.and_then(|c| StatusCode::from_u16(c).ok()).ok_or_else(|| Fail::Broken("a bad status".into()))?;
    let http11 = r.version == Some(1);
    let (mut length, mut lengths, mut chunked, mut coded, mut close) = (None, 0, false, false, !http11);
    fields.clear();
    // The parser's slices lie inside `buf`: their offsets are where they lie in the head.
    let at = |part: &[u8]| {
        let start = part.as_ptr() as usize - buf.as_ptr() as usize;
        (start as u32, (start + part.len()) as u32)
    };
    for h in r.headers.iter() {
        let name = h.name.as_bytes();
        let kind = headers::kind(name);
        fields.push(Field { name: at(name), value: at(h.value), kind });
        if kind == Kind::Length {
            let n = std::str::from_utf8(h.value).ok().and_then(|v| v.trim().parse::<u64>().ok());
            let n = n.ok_or_else(|| Fail::Broken("a bad length".into()))?;
            if length.is_some_and(|l| l != n) {
                return Err(Fail::Broken("two different lengths".into()));
            }
            length = Some(n);
            lengths += 1;
        } else if kind == Kind::Coding {
            coded = true;
            let last = h.value.rsplit(|&b| b == b',').next().map(<[u8]>::trim_ascii);
            chunked = last.is_some_and(|c| c.eq_ignore_ascii_case(b"chunked"));
        } else if kind == Kind::Connection {
            for t in crate::revproxy::headers::tokens(h.value) {
                if t.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if t.eq_ignore_ascii_case(b"keep-alive") && !http11 {
                    close = false;
                }
            }
        }
    }
    if coded && lengths > 0 {
        return Err(Fail::Broken("both Content-Length and Transfer-Encoding".into()));
    }
    let body = match (chunked, coded, length) {
        (true, _, _) => Body::Chunked,
        (false, true, _) => Body::Close,
        (false, false, Some(n)) => Body::Length(n),
        (false, false, None) => Body::Close,
    };
    let keep_alive = !close && body != Body::Close;
    Ok(Some((len, Answer { status, raw: Bytes::new(), length, body, keep_alive })))
}

/// The answer whose whole head is `head` (for tests).
#[cfg(test)]
pub fn answer_of(head: &[u8]) -> Option<(Answer, Vec<Field>)> {
    let mut fields = Vec::new();
    match parse(head, &mut fields) {
        Ok(Some((len, mut answer))) if len == head.len() => {
            answer.raw = Bytes::copy_from_slice(head);
            Some((answer, fields))
        }
        _ => None,
    }
}

/// `parse` on any bytes, for the fuzz target: whether it found a whole head (whose every
/// header must lie inside it).
pub fn parse_for_fuzz(buf: &[u8]) -> bool {
    let mut fields = Vec::new();
    let Ok(Some((len, _))) = parse(buf, &mut fields) else { return false };
    let inside = |(a, b): (u32, u32)| a <= b && b as usize <= len;
    assert!(fields.iter().all(|f| inside(f.name) && inside(f.value)), "a header outside the head");
    true
}

/// Where the status line starts: httparse lets empty lines come before it.
pub fn status_line_start(raw: &[u8]) -> usize {
    raw.iter().take_while(|&&b| b == b'\r' || b == b'\n').count()
}

impl Answer {
    /// The headers (`fields`, as `parse` found them): name, value (without the spaces around
    /// it) and kind, in order.
    pub fn fields<'a>(&'a self, fields: &'a [Field]) -> impl Iterator<Item = (&'a [u8], &'a [u8], Kind)> + 'a {
        let part = |(a, b): (u32, u32)| self.raw.get(a as usize..b as usize).unwrap_or_default();
        fields.iter().map(move |f| (part(f.name), part(f.value), f.kind))
    }

    /// The headers as a map, for the route's rewrite rules.
    pub fn header_map(&self, fields: &[Field]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value, _) in self.fields(fields) {
            if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
                map.append(n, v);
            }
        }
        map
    }
}

type Slot<'a> = std::mem::MaybeUninit<httparse::Header<'a>>;

/// Room for a head's headers, left uninitialised (the parser writes what it uses).
fn slots<'a>() -> [Slot<'a>; MAX_HEADERS] {
    [const { std::mem::MaybeUninit::uninit() }; MAX_HEADERS]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(raw: &[u8]) -> Answer {
        match parse(raw, &mut Vec::new()) {
            Ok(Some((n, a))) => {
                assert_eq!(n, raw.len());
                a
            }
            _ => panic!("no answer in {}", String::from_utf8_lossy(raw)),
        }
    }

    #[test]
    fn framing_and_keep_alive_are_read_from_the_head() {
        let a = answer(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
        assert_eq!((a.status.as_u16(), a.body, a.keep_alive), (200, Body::Length(5), true));
        let a = answer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n");
        assert_eq!((a.body, a.keep_alive), (Body::Chunked, false));
        let a = answer(b"HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!((a.body, a.keep_alive), (Body::Close, false));
        let a = answer(b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\n");
        assert!(a.keep_alive);
        let a = answer(b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n");
        assert!(!a.keep_alive);
        assert!(matches!(parse(b"HTTP/1.1 200 OK\r\nContent-Le", &mut Vec::new()), Ok(None)));
    }

    #[test]
    fn each_header_is_found_where_the_parser_found_it() {
        for (raw, want) in [
            (
                &b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 5\r\n\r\n"[..],
                &[("Server", "nginx"), ("Content-Length", "5")][..],
            ),
            (b"HTTP/1.1 200 OK\nA: b\nC:d\n\n", &[("A", "b"), ("C", "d")]),
            (
                b"HTTP/1.1 204 \r\nX-Empty:\r\nX-Spaces: \t spaced out \t \r\nX-Colon: a:b\r\n\r\n",
                &[("X-Empty", ""), ("X-Spaces", "spaced out"), ("X-Colon", "a:b")],
            ),
            (b"HTTP/1.1 200 OK\r\n\r\n", &[]),
            // Empty lines before the status line (found by the fuzz target).
            (b"\r\n\nHTTP/1.0 204 No Content\r\nA: b\r\n\r\n", &[("A", "b")]),
        ] {
            let (a, fields) = answer_of(raw).unwrap();
            let found: Vec<_> = a.fields(&fields).map(|(n, v, _)| (n.to_vec(), v.to_vec())).collect();
            let want: Vec<_> = want.iter().map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec())).collect();
            assert_eq!(found, want, "{}", String::from_utf8_lossy(raw));
        }
        let (a, fields) = answer_of(b"HTTP/1.1 200 OK\r\nX-High: \xff\xfe\r\nConnection: close\r\n\r\n").unwrap();
        let kinds: Vec<_> = a.fields(&fields).map(|(_, v, k)| (v.to_vec(), k)).collect();
        assert_eq!(kinds, [(b"\xff\xfe".to_vec(), Kind::Plain), (b"close".to_vec(), Kind::Connection)]);
    }

    #[test]
    fn ambiguous_answers_are_refused() {
        for raw in [
            &b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
            b"HTTP/1.1 2000 OK\r\n\r\n",
        ] {
            assert!(parse(raw, &mut Vec::new()).is_err(), "{}", String::from_utf8_lossy(raw));
        }
    }
}
