//! A zip that is still being filled: its bytes follow the staged object as the fill writes it.
//! The last byte is withheld until the zip is verified and committed; if verification fails
//! the body ends in an error, which aborts the connection, so no client ever holds a complete
//! copy of an unverified zip.

use super::X_MODGATE_CACHE;
use crate::proxy::{FillState, Progress};
use crate::store::ReadAt;
use axum::body::Body;
use axum::response::Response;
use http::{header, HeaderValue};
use std::sync::Arc;
use tokio::sync::watch;

/// Chunk size when following a fill.
const STREAM_CHUNK: usize = 64 * 1024;

struct Follow {
    reader: Arc<dyn ReadAt>,
    progress: watch::Receiver<Progress>,
    total: Option<u64>,
    pos: u64,
    finished: bool,
}

impl Follow {
    /// The next chunk, `None` at the end of a committed zip.
    async fn next(&mut self) -> Option<std::io::Result<bytes::Bytes>> {
        if self.finished {
            return None;
        }
        loop {
            let (written, state) = {
                let p = self.progress.borrow_and_update();
                (p.written, p.state.clone())
            };
            let limit = match &state {
                FillState::Failed(e) => return self.fail(format!("fill failed: {e}")),
                FillState::Committed => written,
                FillState::Running => match self.total {
                    Some(t) => written.min(t.saturating_sub(1)),
                    None => written,
                },
            };
            if self.pos < limit {
                return Some(self.read(limit));
            }
            if matches!(state, FillState::Committed) {
                return None;
            }
            if self.progress.changed().await.is_err() {
                return self.fail("fill abandoned".into());
            }
        }
    }

    /// Positioned reads of bytes the fill has just written (page cache), with a fresh buffer
    /// per chunk handed to hyper without a copy.
    fn read(&mut self, limit: u64) -> std::io::Result<bytes::Bytes> {
        let want = usize::try_from(limit - self.pos).unwrap_or(usize::MAX).min(STREAM_CHUNK);
        let mut buf = bytes::BytesMut::zeroed(want);
        match self.reader.read_at(&mut buf, self.pos) {
            Ok(0) => {
                self.finished = true;
                Err(std::io::Error::other("staged zip ended early"))
            }
            Ok(n) => {
                self.pos += n as u64;
                buf.truncate(n);
                Ok(buf.freeze())
            }
            Err(e) => {
                self.finished = true;
                Err(e)
            }
        }
    }

    fn fail(&mut self, why: String) -> Option<std::io::Result<bytes::Bytes>> {
        self.finished = true;
        Some(Err(std::io::Error::other(why)))
    }
}

pub fn filling_response(
    reader: Arc<dyn ReadAt>,
    progress: watch::Receiver<Progress>,
    total: Option<u64>,
    ct: &'static str,
) -> Response {
    let st = Follow { reader, progress, total, pos: 0, finished: false };
    let stream = futures::stream::unfold(st, |mut st| async move { st.next().await.map(|c| (c, st)) });
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
