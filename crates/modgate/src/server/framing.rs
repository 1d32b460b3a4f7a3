//! The HTTP/1 framing guard, in front of hyper on connections of a server with `[[proxy]]`
//! routes: every request head, chunk-size line and trailer is checked strictly before hyper
//! sees a byte of it, so a message whose framing a backend could read differently (request
//! smuggling) never reaches a backend.
//!
//! Refused: `Content-Length` together with `Transfer-Encoding`, more than one length (even
//! equal ones), a length that is not plain digits, a transfer coding other than `chunked`, or
//! one on HTTP/1.0; chunk sizes that are not 1–16 hex digits, chunk data not followed by CRLF;
//! obs-fold, bare CR or LF, control bytes in values, whitespace before a colon, a bad name;
//! no `Host` or more than one. hyper is then handed, in place of the refused request, a
//! request for `/-/refused` that modgate answers with 400 and the reason, and the connection
//! ends. When the refused part belongs to a body whose head already went on, the connection is
//! broken off instead, which aborts the forwarded request.
//!
//! The checks themselves are `strict`'s, which the relay shares.
//!
//! HTTP/2 connections (the preface) pass untouched: their framing is not text. After a `101`
//! answer the connection belongs to the upgraded protocol and passes untouched too.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Longest request head or chunk line the guard holds while checking it.
use super::strict::{check_head, chunk_size, header_line};

const MAX_ELEMENT: usize = 64 * 1024;
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n";

/// The path hyper is handed for a refused request, with the reason in `X-Modgate-Refused`.
pub const REFUSED_PATH: &str = "/-/refused";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for (or reading) a request head.
    Head,
    /// `n` more bytes of a `Content-Length` body.
    Length(u64),
    /// A chunk-size line next.
    ChunkSize,
    /// `n` more bytes of chunk data, then CRLF.
    ChunkData(u64),
    ChunkEnd,
    /// Trailer lines up to the empty one.
    Trailers,
    /// The request asked to switch protocols: hold its bytes until the answer shows whether
    /// it did.
    AwaitUpgrade,
    /// HTTP/2, or after a switch of protocols, or after a refusal: no more checks.
    Pass,
}

pub struct Guarded<T> {
    inner: T,
    state: State,
    /// Bytes read and not yet checked.
    raw: Vec<u8>,
    /// Checked bytes not yet handed to hyper.
    ready: Vec<u8>,
    /// Where in `ready` the head of the request being checked starts, while it is there.
    head_at: Option<usize>,
    /// The first bytes of the connection are still to be looked at (HTTP/2 preface).
    first: bool,
    /// Nothing more is read: a refusal was handed over.
    done: bool,
    eof: bool,
    /// The reader waiting for an upgrade's answer.
    parked: Option<Waker>,
    /// The request being checked asks to switch protocols.
    upgrade: bool,
}

impl<T> Guarded<T> {
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            state: State::Head,
            raw: Vec::new(),
            ready: Vec::new(),
            head_at: None,
            first: true,
            done: false,
            eof: false,
            parked: None,
            upgrade: false,
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The first line ending in `raw` (the index of its `\n`), or why the line is refused: a bare
/// LF or a bare CR.
fn line_end(raw: &[u8]) -> Result<Option<usize>, &'static str> {
    for (i, &b) in raw.iter().enumerate() {
        match b {
            b'\n' if i == 0 || raw[i - 1] != b'\r' => return Err("a bare LF"),
            b'\n' => return Ok(Some(i)),
            b'\r' if raw.get(i + 1).is_some_and(|&n| n != b'\n') => return Err("a bare CR"),
            _ => {}
        }
    }
    Ok(None)
}

impl<T> Guarded<T> {
    /// A connection with no checks at all (a server without proxy routes).
    pub fn passthrough(inner: T) -> Self {
        Self { state: State::Pass, first: false, ..Self::new(inner) }
    }

    fn after_body(&mut self, upgrade: bool) {
        self.state = if upgrade { State::AwaitUpgrade } else { State::Head };
    }

    /// Moves the checked part of `raw` to `ready`.
    fn advance(&mut self) -> Result<(), &'static str> {
        loop {
            if self.raw.is_empty() {
                return Ok(());
            }
            if self.first {
                let n = self.raw.len().min(H2_PREFACE.len());
                if self.raw[..n] != H2_PREFACE[..n] {
                    self.first = false;
                } else if n == H2_PREFACE.len() {
                    self.first = false;
                    self.state = State::Pass;
                } else {
                    return Ok(());
                }
            }
            match self.state {
                State::Pass => {
                    self.ready.append(&mut self.raw);
                    return Ok(());
                }
                State::AwaitUpgrade => return Ok(()),
                State::Head => {
                    if !self.head()? {
                        return Ok(());
                    }
                }
                State::Length(n) => {
                    let left = self.pass_on(n);
                    if left == 0 {
                        self.after_body(self.upgrade);
                    } else {
                        self.state = State::Length(left);
                    }
                }
                State::ChunkSize | State::Trailers => {
                    if !self.chunk_line()? {
                        return Ok(());
                    }
                }
                State::ChunkData(n) => {
                    let left = self.pass_on(n);
                    self.state = if left == 0 { State::ChunkEnd } else { State::ChunkData(left) };
                }
                State::ChunkEnd => {
                    if self.raw.len() < 2 {
                        return Ok(());
                    }
                    if &self.raw[..2] != b"\r\n" {
                        return Err("chunk data not followed by CRLF");
                    }
                    self.ready.extend(self.raw.drain(..2));
                    self.state = State::ChunkSize;
                }
            }
        }
    }

    /// Hands on up to `n` body bytes as they are (their length is known); what is left of `n`.
    fn pass_on(&mut self, n: u64) -> u64 {
        let k = n.min(self.raw.len() as u64) as usize;
        self.ready.extend(self.raw.drain(..k));
        n - k as u64
    }

    /// Checks the request head at the start of `raw`; `false` when it is not whole yet.
    fn head(&mut self) -> Result<bool, &'static str> {
        // Empty lines before a request line are ignored (RFC 9112 §2.2).
        if self.raw.starts_with(b"\r\n") {
            self.raw.drain(..2);
            return Ok(true);
        }
        let Some(end) = find(&self.raw, b"\r\n\r\n") else {
            line_end(&self.raw)?;
            let bare_lf = self.raw.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r');
            if bare_lf || self.raw.first() == Some(&b'\n') {
                return Err("a bare LF");
            }
            if self.raw.len() > MAX_ELEMENT {
                // hyper refuses an oversized head itself (431).
                self.state = State::Pass;
                return Ok(true);
            }
            return Ok(false);
        };
        let head: Vec<u8> = self.raw.drain(..end + 4).collect();
        let f = check_head(&head)?;
        self.head_at = Some(self.ready.len());
        self.ready.extend_from_slice(&head);
        self.state = match (f.chunked, f.length) {
            (true, _) => State::ChunkSize,
            (false, Some(n)) if n > 0 => State::Length(n),
            _ if f.upgrade => State::AwaitUpgrade,
            _ => State::Head,
        };
        self.upgrade = f.upgrade;
        Ok(true)
    }

    /// Checks a chunk-size or trailer line at the start of `raw`; `false` when it is not whole yet.
    fn chunk_line(&mut self) -> Result<bool, &'static str> {
        let Some(end) = line_end(&self.raw)? else {
            if self.raw.len() > MAX_ELEMENT {
                return Err("a chunk line or trailer too long");
            }
            return Ok(false);
        };
        let line: Vec<u8> = self.raw.drain(..=end).collect();
        let text = &line[..line.len() - 2];
        if self.state == State::ChunkSize {
            let n = chunk_size(text)?;
            self.state = if n == 0 { State::Trailers } else { State::ChunkData(n) };
        } else if text.is_empty() {
            self.after_body(self.upgrade);
        } else {
            header_line(text)?;
        }
        self.ready.extend_from_slice(&line);
        Ok(true)
    }

    /// Hands hyper a refusal in place of the request being checked, or breaks the connection
    /// off when part of that request already went on.
    fn refuse(&mut self, why: &'static str) -> io::Result<()> {
        tracing::warn!(reason = why, "request refused: its framing is ambiguous (request smuggling)");
        let in_head = self.state == State::Head;
        self.raw.clear();
        self.done = true;
        self.state = State::Pass;
        let at = match (in_head, self.head_at) {
            (true, _) => self.ready.len(),
            (false, Some(at)) => at,
            (false, None) => return Err(io::Error::new(io::ErrorKind::InvalidData, why)),
        };
        self.ready.truncate(at);
        let refusal = format!(
            "GET {REFUSED_PATH} HTTP/1.1\r\nhost: modgate\r\nconnection: close\r\nx-modgate-refused: {why}\r\n\r\n"
        );
        self.ready.extend_from_slice(refusal.as_bytes());
        Ok(())
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Guarded<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if !this.ready.is_empty() {
                let k = this.ready.len().min(buf.remaining());
                buf.put_slice(&this.ready[..k]);
                this.ready.drain(..k);
                // A head partly handed over can no longer be replaced by a refusal.
                this.head_at = match this.head_at {
                    Some(at) if at >= k => Some(at - k),
                    _ => None,
                };
                return Poll::Ready(Ok(()));
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            if this.done {
                // An end of input would end the connection before the refusal is answered
                // (hyper does not half-close); the refusal's `Connection: close` ends it after.
                return Poll::Pending;
            }
            if this.state == State::Pass && this.raw.is_empty() {
                return Pin::new(&mut this.inner).poll_read(cx, buf);
            }
            if this.state == State::AwaitUpgrade {
                this.parked = Some(cx.waker().clone());
                return Poll::Pending;
            }
            // Read straight into `raw`'s spare room (uninitialized: no zeroing per read).
            this.raw.reserve(16 * 1024);
            let len = this.raw.len();
            let mut rb = ReadBuf::uninit(this.raw.spare_capacity_mut());
            std::task::ready!(Pin::new(&mut this.inner).poll_read(cx, &mut rb))?;
            let n = rb.filled().len();
            if n == 0 {
                // What is left unchecked is an unfinished element: hyper sees the end.
                this.eof = true;
                continue;
            }
            // SAFETY: the reader initialized the first `n` bytes of the spare capacity.
            unsafe { this.raw.set_len(len + n) };
            if let Err(why) = this.advance() {
                this.refuse(why)?;
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> Guarded<T> {
    /// An answer going out: after a request that asked to switch protocols, it decides
    /// whether the connection still carries HTTP/1.
    fn answering(&mut self, first: &[u8]) {
        if self.state != State::AwaitUpgrade {
            return;
        }
        self.state = if first.starts_with(b"HTTP/1.1 101") { State::Pass } else { State::Head };
        if let Err(why) = self.advance() {
            // The answer is on its way; the next request is refused after it.
            let _ = self.refuse(why);
        }
        if let Some(w) = self.parked.take() {
            w.wake();
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Guarded<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.answering(buf);
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.state == State::AwaitUpgrade {
            let first = bufs.iter().find(|b| !b.is_empty()).map(|b| b.to_vec()).unwrap_or_default();
            self.answering(&first);
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The connection, behind the HTTP/1 framing guard when requests may be forwarded.
pub fn guard<T>(io: T, app: &crate::app::App) -> Guarded<T> {
    if app.revproxy.get().is_some() {
        Guarded::new(io)
    } else {
        Guarded::passthrough(io)
    }
}
