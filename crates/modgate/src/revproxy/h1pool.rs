//! Plain HTTP/1.1 connections to backends, driven inline: the backend connection is polled by
//! the task that serves the client's request (while waiting for the answer, then by the
//! answer's body), not by a task of its own. A proxied request then costs no cross-task
//! hand-offs — the cost that kept a spawned-connection client well behind nginx's
//! `proxy_pass` — and a connection goes back to the pool when its answer's body ends.
//!
//! TLS backends and upgrades go through the route's general client (`client`), which speaks
//! HTTP/2 where the backend offers it.

use super::client::OutBody;
use bytes::Bytes;
use http_body::{Body as _, Frame};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, Connection, SendRequest};
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

type Conn = Connection<TokioIo<TcpStream>, OutBody>;

/// Idle connections kept per backend, and for how long.
const MAX_IDLE: usize = 256;
const IDLE_FOR: Duration = Duration::from_secs(60);

struct Idle {
    sender: SendRequest<OutBody>,
    conn: Pin<Box<Conn>>,
    since: Instant,
}

#[derive(Default)]
pub struct H1Pool {
    idle: Mutex<HashMap<String, Vec<Idle>>>,
}

/// Why a request got no answer.
#[derive(Debug)]
pub enum SendError {
    Connect(std::io::Error),
    Http(hyper::Error),
    /// The connection ended before an answer came.
    Closed,
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Connect(e) => write!(f, "connect: {e}"),
            SendError::Http(e) => write!(f, "{}", crate::net::error_chain(e)),
            SendError::Closed => write!(f, "the connection closed before an answer"),
        }
    }
}

/// Whether a connection is still usable: polling it finds nothing to end it.
fn alive(conn: &mut Pin<Box<Conn>>) -> bool {
    let mut cx = Context::from_waker(std::task::Waker::noop());
    matches!(conn.as_mut().poll_without_shutdown(&mut cx), Poll::Pending)
}

impl H1Pool {
    fn checkout(&self, authority: &str) -> Option<(SendRequest<OutBody>, Pin<Box<Conn>>)> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let list = idle.get_mut(authority)?;
        while let Some(mut i) = list.pop() {
            if i.since.elapsed() < IDLE_FOR && !i.sender.is_closed() && alive(&mut i.conn) {
                return Some((i.sender, i.conn));
            }
        }
        None
    }

    fn checkin(&self, authority: &str, sender: SendRequest<OutBody>, conn: Pin<Box<Conn>>) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let list = idle.entry(authority.to_string()).or_default();
        if list.len() < MAX_IDLE {
            list.push(Idle { sender, conn, since: Instant::now() });
        }
    }

    async fn connect(authority: &str, timeout: Duration) -> Result<(SendRequest<OutBody>, Pin<Box<Conn>>), SendError> {
        let tcp = tokio::time::timeout(timeout, TcpStream::connect(authority))
            .await
            .map_err(|_| SendError::Connect(std::io::ErrorKind::TimedOut.into()))?
            .map_err(SendError::Connect)?;
        let _ = tcp.set_nodelay(true);
        let (sender, conn) = http1::Builder::new().handshake(TokioIo::new(tcp)).await.map_err(SendError::Http)?;
        Ok((sender, Box::pin(conn)))
    }

    /// Sends `req` to the backend at `authority` (`host:port`) and returns its answer, whose
    /// body drives the connection to its end and then gives it back to the pool. A kept
    /// connection the backend closed just as it was taken costs nothing: a request it never
    /// sent goes again on a new connection.
    pub async fn send(
        self: &Arc<Self>,
        authority: &str,
        mut req: http::Request<OutBody>,
        connect_timeout: Duration,
    ) -> Result<http::Response<Driven>, SendError> {
        if let Some(kept) = self.checkout(authority) {
            match self.send_on(kept, req, authority).await {
                Ok(resp) => return Ok(resp),
                Err((Some(unsent), _)) => req = unsent,
                Err((None, e)) => return Err(e),
            }
        }
        let fresh = Self::connect(authority, connect_timeout).await?;
        self.send_on(fresh, req, authority).await.map_err(|(_, e)| e)
    }

    /// One request on one connection; on failure, the request back if it was not sent.
    async fn send_on(
        self: &Arc<Self>,
        (mut sender, mut conn): (SendRequest<OutBody>, Pin<Box<Conn>>),
        req: http::Request<OutBody>,
        authority: &str,
    ) -> Result<http::Response<Driven>, (Option<http::Request<OutBody>>, SendError)> {
        let mut ready = false;
        poll_fn(|cx| {
            if let Poll::Ready(r) = sender.poll_ready(cx) {
                ready = r.is_ok();
                return Poll::Ready(());
            }
            conn.as_mut().poll_without_shutdown(cx).map(|_| ())
        })
        .await;
        if !ready {
            return Err((Some(req), SendError::Closed));
        }
        let mut answer = std::pin::pin!(sender.try_send_request(req));
        let mut conn_done = false;
        let resp = poll_fn(|cx| {
            if let Poll::Ready(r) = answer.as_mut().poll(cx) {
                return Poll::Ready(r.map_err(|mut e| (e.take_message(), SendError::Http(e.into_error()))));
            }
            if !conn_done {
                match conn.as_mut().poll_without_shutdown(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err((None, SendError::Http(e)))),
                    // Ended cleanly: the answer may still be in the channel.
                    Poll::Ready(Ok(())) => conn_done = true,
                }
            }
            match answer.as_mut().poll(cx) {
                Poll::Ready(r) => Poll::Ready(r.map_err(|mut e| (e.take_message(), SendError::Http(e.into_error())))),
                Poll::Pending => Poll::Ready(Err((None, SendError::Closed))),
            }
        })
        .await?;
        let back = (!conn_done).then(|| (sender, conn, Arc::clone(self), authority.to_string()));
        let mut driven = resp.map(|body| Driven { body, back });
        if driven.body().body.is_end_stream() {
            driven.body_mut().give_back();
        }
        Ok(driven)
    }
}

use std::future::Future as _;

/// What goes back to the pool when an answer ends: the connection, and where it belongs.
type Back = (SendRequest<OutBody>, Pin<Box<Conn>>, Arc<H1Pool>, String);

/// An answer's body that drives its connection, and returns it to the pool at the end.
pub struct Driven {
    body: Incoming,
    back: Option<Back>,
}

impl Driven {
    /// The answer has been read whole: its connection may carry the next request.
    fn give_back(&mut self) {
        if let Some((sender, conn, pool, authority)) = self.back.take() {
            if !sender.is_closed() {
                pool.checkin(&authority, sender, conn);
            }
        }
    }
}

impl http_body::Body for Driven {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        if let Some((_, conn, _, _)) = &mut this.back {
            match conn.as_mut().poll_without_shutdown(cx) {
                Poll::Pending => {}
                // The connection ended (or failed): the body's channel says the rest.
                Poll::Ready(_) => this.back = None,
            }
        }
        let polled = Pin::new(&mut this.body).poll_frame(cx);
        // hyper stops polling a body that says it has ended, so the end is noticed either way.
        if matches!(polled, Poll::Ready(None)) || this.body.is_end_stream() {
            this.give_back();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
