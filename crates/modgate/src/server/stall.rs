//! A client that stops taking an answer's bytes is let go (`[limits] send_timeout`, as nginx's
//! `send_timeout`): when a write to its socket has made no progress for the limit, the write
//! fails with `TimedOut`, hyper drops the connection, and whatever fed the answer (a cached
//! file, a fill, a backend's body) is let go with it. A client that reads slowly but steadily
//! is not cut: the limit is on a write that waits, and starts again with each byte taken.
//!
//! It wraps the TCP stream, under TLS, so that what counts is what the client's kernel takes.
//! The timer is armed only when a write has to wait: a client that keeps up costs nothing.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

pub struct SendLimit<T> {
    inner: T,
    limit: Duration,
    /// Goes off `limit` after the write that waits began to.
    timer: Option<Pin<Box<Sleep>>>,
    /// Whether the timer stands for the write that waits now (else it is a spent one, kept
    /// to be reset rather than allocated again).
    armed: bool,
}

impl<T> SendLimit<T> {
    pub fn new(inner: T, limit: Duration) -> Self {
        Self { inner, limit, timer: None, armed: false }
    }

    /// A write had to wait: still waiting, or the limit has passed since it began to.
    fn waiting<R>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<R>> {
        let limit = self.limit;
        let timer = match (&mut self.timer, self.armed) {
            (Some(t), true) => t,
            (Some(t), false) => {
                t.as_mut().reset(Instant::now() + limit);
                t
            }
            (slot @ None, _) => slot.insert(Box::pin(tokio::time::sleep(limit))),
        };
        self.armed = true;
        match timer.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => {
                let why = format!("the client took none of the answer for {:?} (send_timeout)", self.limit);
                Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, why)))
            }
        }
    }

    /// What a write gave: progress (or an error) disarms the timer; a wait arms it.
    fn settle<R>(&mut self, cx: &mut Context<'_>, polled: Poll<io::Result<R>>) -> Poll<io::Result<R>> {
        match polled {
            Poll::Pending => self.waiting(cx),
            ready => {
                self.armed = false;
                ready
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for SendLimit<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for SendLimit<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.settle(cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.settle(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        self.settle(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.settle(cx, polled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(start_paused = true)]
    async fn a_reader_that_takes_nothing_fails_the_write_after_the_limit() {
        let (near, mut far) = tokio::io::duplex(1024);
        let mut w = SendLimit::new(near, Duration::from_secs(60));
        let start = Instant::now();
        let err = w.write_all(&[7u8; 64 * 1024]).await.expect_err("nobody reads: the write must fail");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(Instant::now() - start, Duration::from_secs(60));
        // What the reader had taken before is still there.
        let mut got = vec![0u8; 1024];
        far.read_exact(&mut got).await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_but_steady_reader_gets_everything() {
        let (near, mut far) = tokio::io::duplex(1024);
        let mut w = SendLimit::new(near, Duration::from_secs(60));
        let reader = tokio::spawn(async move {
            let mut total = 0;
            let mut chunk = [0u8; 1024];
            loop {
                // A kilobyte every 50 s: each write waits less than the limit, all of them far more.
                tokio::time::sleep(Duration::from_secs(50)).await;
                match far.read(&mut chunk).await.unwrap() {
                    0 => return total,
                    n => total += n,
                }
            }
        });
        w.write_all(&[7u8; 8 * 1024]).await.expect("every wait is under the limit");
        w.shutdown().await.unwrap();
        drop(w);
        assert_eq!(reader.await.unwrap(), 8 * 1024);
    }
}
