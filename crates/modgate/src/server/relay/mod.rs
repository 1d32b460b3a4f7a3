//! The HTTP/1 relay: plain HTTP/1.1 connections of a server with `[[proxy]]` routes are read
//! here first, and a request a route takes is relayed to a plain-HTTP backend by hand — its
//! head checked strictly (`strict::check_head`), read once with `httparse`, rewritten by the
//! same functions as `revproxy::forward`, and the answer's body copied by its framing — with
//! no hyper connection, task or body type in between. That is what keeps a proxied request's
//! cost near nginx's `proxy_pass`.
//!
//! Everything else is handed over, with the bytes read so far, to the general path (the
//! framing guard and hyper) for the rest of the connection: HTTP/2, module traffic, requests
//! with a body, upgrades, `Expect`, routes with a TLS member, heads that fail a check (the
//! guard refuses them exactly as without the relay), and all requests while tracing is on.
//! A hand-over happens only between requests, so each request has exactly one reader.

mod answer;
mod backend;
mod chunks;
mod clock;
mod exchange;
mod request;
mod rewind;
pub mod workers;

use super::front::Front;
use crate::config::Limits;
use bytes::BytesMut;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::Watcher;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::watch;

/// The client's connection and the bytes read from it that no request has used yet.
pub(super) struct Client {
    io: TcpStream,
    buf: BytesMut,
    /// The request being answered is a `HEAD`: its answer has no body.
    head_request: bool,
    /// The limit on the wait under way: for the next head, for the backend's answer.
    deadline: clock::Deadline,
    /// Room for the heads the relay writes (a request's to the backend, an answer's to the
    /// client), kept from request to request.
    scratch: Vec<u8>,
    /// Where the headers of the backend's answer lie in its head, kept likewise.
    fields: Vec<backend::Field>,
    /// Longest a write to the client may wait for it to take any byte (`send_timeout`).
    send_timeout: std::time::Duration,
    /// An empty header map with room, for the next request's headers.
    headers: http::HeaderMap,
}

impl Client {
    /// Writes all of `bytes` to the client. A write that waits longer than the send limit for
    /// the client to take any byte breaks off: a stalled reader does not hold the connection,
    /// nor the backend's behind it.
    async fn write_all(&mut self, mut bytes: &[u8]) -> std::io::Result<()> {
        use std::io::ErrorKind;
        while !bytes.is_empty() {
            match self.io.try_write(bytes) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => {
                    bytes = &bytes[n..];
                    continue;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            self.deadline.set(tokio::time::Instant::now() + self.send_timeout);
            tokio::select! {
                biased;
                ready = self.io.writable() => ready?,
                _ = self.deadline.expired() => {
                    tracing::debug!(peer = ?self.io.peer_addr().ok(), "the client took none of the answer in time (send_timeout)");
                    return Err(ErrorKind::TimedOut.into());
                }
            }
        }
        Ok(())
    }

    /// Keeps `buf` as the scratch buffer unless a large body grew it.
    fn keep_scratch(&mut self, buf: Vec<u8>) {
        if buf.capacity() <= 16 * 1024 {
            self.scratch = buf;
        }
    }
}

/// What the connection does after a request.
enum Next {
    KeepAlive,
    Close,
    Handover,
}

enum Head {
    /// A whole head ends at this offset of the buffer.
    Complete(usize),
    Closed,
    Handover,
}

/// What a connection needs besides its socket: how to serve it when handed over, the drain
/// watcher, the shutdown signal, the serving runtime, and what it holds until it ends (its
/// connection slot and count).
pub(super) struct Conn<H> {
    pub front: Front,
    pub builder: auto::Builder<TokioExecutor>,
    pub watcher: Watcher,
    pub stop: watch::Receiver<bool>,
    pub main: tokio::runtime::Handle,
    pub held: H,
}

/// Serves one plain connection: relays what it can, hands the rest of the connection over to
/// hyper on the serving runtime when a request is not for the relay. `stop` turns true when
/// the server shuts down; the relay then closes the connection between requests.
pub(super) async fn serve<H: Send + 'static>(io: TcpStream, conn: Conn<H>) {
    let Conn { front, builder, watcher, stop, main, held } = conn;
    let mut stop = workers::local_stop(stop);
    let limits = front.app.limits.load_full();
    let deadline = clock::Deadline::new(tokio::time::Instant::now() + limits.header_read_timeout);
    let mut c = Client {
        io,
        buf: BytesMut::with_capacity(8 * 1024),
        head_request: false,
        deadline,
        scratch: Vec::new(),
        fields: Vec::new(),
        send_timeout: limits.send_timeout,
        headers: http::HeaderMap::new(),
    };
    loop {
        let end = match read_head(&mut c, &limits, &mut stop).await {
            Head::Complete(end) => end,
            Head::Closed => return,
            Head::Handover => break,
        };
        match exchange::one(&front, &mut c, end, limits.max_headers).await {
            Next::KeepAlive => continue,
            Next::Close => return,
            Next::Handover => break,
        }
    }
    let peer = front.conn.peer;
    let socket = match c.io.into_std() {
        Ok(s) => s,
        Err(e) => return tracing::debug!(?peer, error = %e, "cannot hand the connection over"),
    };
    let read = c.buf.freeze();
    main.spawn(async move {
        let io = match TcpStream::from_std(socket) {
            Ok(io) => io,
            Err(e) => return tracing::debug!(?peer, error = %e, "cannot hand the connection over"),
        };
        let io = super::stall::SendLimit::new(io, limits.send_timeout);
        let io = super::framing::guard(rewind::Rewind::new(read, io), &front.app);
        let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), front).into_owned();
        if let Err(e) = watcher.watch(conn).await {
            tracing::debug!(?peer, error = %e, "connection ended with an error");
        }
        drop(held);
    });
}

/// Every parser of the relay over the same bytes (for `fuzz/fuzz_targets/relay.rs`): a
/// request head, an answer head, and a chunked body fed in pieces of every size up to 8. None
/// may panic, whatever the bytes.
#[doc(hidden)]
pub fn fuzz_parsers(data: &[u8]) {
    let end = head_end(data, 0).unwrap_or(data.len());
    let _ = not_for_relay(data);
    if let Some(req) = request::parse(&bytes::Bytes::copy_from_slice(&data[..end]), 100, http::HeaderMap::new()) {
        let _ = request::wants_close(req.headers());
        // The head written straight from the request is the one its header map gives, for
        // each forwarding mode (chosen by the input's length).
        let mut s = fuzz_route().clone();
        s.forwarded = match data.len() % 3 {
            0 => crate::config::ForwardedMode::Replace,
            1 => crate::config::ForwardedMode::Append { trusted_hops: None },
            _ => crate::config::ForwardedMode::Append { trusted_hops: Some(1) },
        };
        s.preserve_host = data.len().is_multiple_of(2);
        s.via = data.len().is_multiple_of(7);
        s.forwarded_headers = crate::config::ForwardingHeader::EACH
            .iter()
            .enumerate()
            .filter(|(i, _)| data.first().is_some_and(|b| b & (1 << i) != 0))
            .fold(crate::config::ForwardedHeaders::NONE, |set, (_, &(h, _))| set.with(h));
        let (parts, ()) = req.into_parts();
        let conn = crate::revproxy::outgoing::ConnInfo { peer: Some(([10, 0, 0, 9], 5000).into()), tls: false };
        if let Some((direct, map, [raw_direct, raw_map])) =
            exchange::both_heads(&s, &parts, data.len().is_multiple_of(5), conn)
        {
            assert_eq!(
                direct,
                map,
                "the direct head differs:\n{}\nthe map's:\n{}",
                String::from_utf8_lossy(&raw_direct),
                String::from_utf8_lossy(&raw_map)
            );
        }
    }
    let _ = backend::parse_for_fuzz(data);
    for piece in 1..=8 {
        let mut scan = chunks::ChunkScan::new();
        for part in data.chunks(piece) {
            if !matches!(scan.feed(part), Ok(None)) {
                break;
            }
        }
    }
}

/// A head's headers as the other side reads them: each name (in lower case) with its values in
/// order; the order of different names means nothing. For the comparisons of the fuzz target
/// and the tests.
type ByName = std::collections::BTreeMap<String, Vec<Vec<u8>>>;

fn by_name(headers: &[httparse::Header<'_>]) -> ByName {
    let mut fields = ByName::new();
    for h in headers {
        fields.entry(h.name.to_ascii_lowercase()).or_default().push(h.value.to_vec());
    }
    fields
}

/// A route as `[[proxy]]` gives it by default, for the fuzz target and the tests.
fn fuzz_route() -> &'static crate::config::ProxyRoute {
    static ROUTE: std::sync::OnceLock<crate::config::ProxyRoute> = std::sync::OnceLock::new();
    ROUTE.get_or_init(|| {
        let text = "[[proxy]]\npath = \"/\"\nto = \"http://127.0.0.1:9\"\n";
        let path = std::path::Path::new("fuzz.toml");
        let over = crate::config::Overrides::default();
        match crate::config::load_text(Some((path, text)), &over, &crate::config::Defaults::default()) {
            Ok(c) if !c.proxies.is_empty() => c.proxies[0].clone(),
            other => panic!("the fuzz route does not load: {:?}", other.err()),
        }
    })
}

/// For the tests that draw their cases: a pick among `n` (xorshift, from `seed`: the same cases
/// on every run).
#[cfg(test)]
fn pick_with(mut seed: u64) -> impl FnMut(usize) -> usize {
    move |n| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    }
}

/// Where the head in `buf` ends (after its CRLF CRLF), looking from `from` on.
fn head_end(buf: &[u8], from: usize) -> Option<usize> {
    let start = from.saturating_sub(3);
    buf.get(start..)?.windows(4).position(|w| w == b"\r\n\r\n").map(|p| start + p + 4)
}

/// Whether the bytes can only be for the general path: the HTTP/2 preface, or a line ending
/// in a bare LF, which the framing guard refuses at once (the relay would wait for a CRLF).
fn not_for_relay(buf: &[u8]) -> bool {
    buf.starts_with(b"PRI ") || buf.iter().enumerate().any(|(i, &b)| b == b'\n' && (i == 0 || buf[i - 1] != b'\r'))
}

/// Reads until the buffer holds a whole request head. The head must come within the header
/// timeout (waiting between requests included, as hyper counts it); a server shutting down
/// closes a connection that has no request under way.
async fn read_head(c: &mut Client, limits: &Limits, stop: &mut watch::Receiver<bool>) -> Head {
    c.deadline.set(tokio::time::Instant::now() + limits.header_read_timeout);
    let mut scanned = 0;
    loop {
        if let Some(end) = head_end(&c.buf, scanned) {
            return Head::Complete(end);
        }
        scanned = c.buf.len();
        if c.buf.len() > limits.max_header_bytes.max(8192) || not_for_relay(&c.buf) {
            return Head::Handover;
        }
        c.buf.reserve(4096);
        let idle = c.buf.is_empty();
        let read = tokio::select! {
            biased;
            r = c.io.read_buf(&mut c.buf) => r,
            _ = stop.wait_for(|s| *s), if idle => return Head::Closed,
            _ = c.deadline.expired() => return Head::Closed,
        };
        match read {
            Ok(0) | Err(_) => return Head::Closed,
            Ok(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_end_at_the_empty_line_wherever_the_reads_split_it() {
        let head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET";
        assert_eq!(head_end(head, 0), Some(27));
        assert_eq!(head_end(head, 25), Some(27), "the search backs up over a split CRLF CRLF");
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: a\r\n", 0), None);
    }

    #[test]
    fn bare_line_feeds_and_http2_go_to_the_general_path() {
        assert!(not_for_relay(b"GET / HTTP/1.1\nHost: a\n\n"));
        assert!(not_for_relay(b"\nGET"));
        assert!(not_for_relay(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
        assert!(!not_for_relay(b"GET / HTTP/1.1\r\nHost: a\r\n"));
    }
}
