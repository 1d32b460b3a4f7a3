//! A zip body that outlives its member: when the member's answer breaks off mid-way, the rest
//! is asked of the pool's other members with `Range: bytes=<received>-`, and taken only from
//! one that answers 206 for exactly that range of an object of the same length, with the same
//! validators as the first answer (a strong `ETag`, `Last-Modified`; sent as `If-Range`, so a
//! member holding another version answers 200 and is passed over).
//!
//! A member that cannot resume it (no ranges, other validators — mirrors often tag the same
//! bytes differently) restarts it instead: its whole answer is read, and the part already
//! passed on must match it byte for byte (a CRC-32 of what went out, kept as it goes) before
//! the rest of its answer follows. The fill still checks the whole zip (and its hash) before
//! anything is committed, so a member with other bytes under the same name cannot slip a
//! splice in; it only fails the fill.

use crate::net::HttpClient;
use crate::source::body::Validators;
use crate::source::{Body, FetchError};
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use std::collections::VecDeque;
use std::sync::Arc;

struct Resuming {
    current: BoxStream<'static, Result<Bytes, FetchError>>,
    received: u64,
    len: u64,
    /// `<member>/<module>/@v/<version>.zip` of the members still to ask, in order.
    others: VecDeque<String>,
    http: Arc<HttpClient>,
    /// What the first member said identifies the object.
    validators: Validators,
    /// Told once how the first member's answer ended: whole (`true`) or broken off.
    report: Option<Box<dyn FnOnce(bool) + Send>>,
    /// A CRC-32 of the bytes passed on so far, for a restart to compare with.
    sent: crc32fast::Hasher,
}

/// `body` (of `len` bytes), resumed from the URLs in `others` if it breaks off; `report` is
/// told once how the first member's answer ended.
pub(super) fn resuming(
    body: Body,
    len: u64,
    others: Vec<String>,
    http: Arc<HttpClient>,
    report: impl FnOnce(bool) + Send + 'static,
) -> Body {
    let report: Option<Box<dyn FnOnce(bool) + Send>> = Some(Box::new(report));
    let validators = body.validators().clone();
    let current = body.into_chunks();
    let sent = crc32fast::Hasher::new();
    let state = Resuming { validators, current, received: 0, len, others: others.into(), http, report, sent };
    let chunks = futures::stream::unfold(Some(state), |state| async move {
        let mut st = state?;
        loop {
            match st.current.next().await {
                None => {
                    if let Some(f) = st.report.take() {
                        f(true);
                    }
                    return None;
                }
                Some(Ok(chunk)) => {
                    st.received += chunk.len() as u64;
                    if !st.others.is_empty() {
                        st.sent.update(&chunk);
                    }
                    return Some((Ok(chunk), Some(st)));
                }
                Some(Err(e)) => loop {
                    if let Some(f) = st.report.take() {
                        f(false);
                    }
                    let Some(url) = st.others.pop_front() else { return Some((Err(e), None)) };
                    let resumed = match rest_of(&st.http, &url, (st.received, st.len), &st.validators).await {
                        Ok(rest) => Ok(rest),
                        Err(why) => {
                            tracing::debug!(url = %crate::net::redact(&url), %why, "cannot resume the zip here; restarting it");
                            let sent = (st.received, st.sent.clone().finalize());
                            restart(&st.http, &url, sent, st.len).await
                        }
                    };
                    match resumed {
                        Ok(rest) => {
                            tracing::info!(url = %crate::net::redact(&url), from = st.received, error = %e.reason(), "zip taken up by another pool member");
                            st.current = rest;
                            break;
                        }
                        Err(why) => {
                            tracing::debug!(url = %crate::net::redact(&url), %why, "cannot take the zip up here")
                        }
                    }
                },
            }
        }
    });
    Body::from_stream(chunks, Some(len))
}

/// The whole `len`-byte object at `url` read again: its first `sent.0` bytes must have the
/// CRC-32 `sent.1` of those already passed on; the rest follows.
async fn restart(
    http: &HttpClient,
    url: &str,
    (sent, crc): (u64, u32),
    len: u64,
) -> Result<BoxStream<'static, Result<Bytes, FetchError>>, String> {
    let answer = http.get_from(url, None).await.map_err(|e| FetchError::from(e).reason().to_string())?;
    let status = answer.response.status().as_u16();
    let length = answer.response.headers().get(hyper::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok());
    if status != 200 || length.and_then(|l| l.parse::<u64>().ok()) != Some(len) {
        return Err(format!("answered {status} with length {length:?}, wanted {len}"));
    }
    let mut chunks = crate::net::body::chunks(answer.response.into_body(), http.idle, answer.url).boxed();
    let (mut seen, mut hasher) = (0u64, crc32fast::Hasher::new());
    let mut rest = Bytes::new();
    while seen < sent {
        let mut chunk = match chunks.next().await {
            Some(Ok(c)) => c,
            Some(Err(e)) => return Err(FetchError::from(e).reason().to_string()),
            None => return Err(format!("it ended after {seen} bytes")),
        };
        let take = (sent - seen).min(chunk.len() as u64) as usize;
        hasher.update(&chunk[..take]);
        seen += take as u64;
        rest = chunk.split_off(take);
    }
    if hasher.finalize() != crc {
        return Err(format!("its first {sent} bytes differ from those already passed on"));
    }
    let first = futures::stream::iter((!rest.is_empty()).then_some(Ok(rest)));
    Ok(first.chain(chunks.map(|c| c.map_err(FetchError::from))).boxed())
}

/// The bytes from `from` to the end of a `len`-byte object at `url`, if the server gives
/// exactly that range of the same object.
async fn rest_of(
    http: &HttpClient,
    url: &str,
    (from, len): (u64, u64),
    validators: &Validators,
) -> Result<BoxStream<'static, Result<Bytes, FetchError>>, String> {
    let answer = http
        .get_from(url, Some((from, validators.if_range())))
        .await
        .map_err(|e| FetchError::from(e).reason().to_string())?;
    let status = answer.response.status().as_u16();
    let range = answer.response.headers().get(hyper::header::CONTENT_RANGE).and_then(|v| v.to_str().ok());
    let want = format!("bytes {from}-{}/{len}", len.saturating_sub(1));
    if status != 206 || range != Some(want.as_str()) {
        return Err(format!("answered {status} with range {range:?}, wanted {want}"));
    }
    let theirs = Validators::of(answer.response.headers());
    if !validators.agree(&theirs) {
        return Err(format!("another version of the object: {theirs:?}, first answer {validators:?}"));
    }
    let chunks = crate::net::body::chunks(answer.response.into_body(), http.idle, answer.url);
    Ok(chunks.map(|c| c.map_err(FetchError::from)).boxed())
}
