//! A zip body that outlives its member: when the member's answer breaks off mid-way, the rest
//! is asked of the pool's other members with `Range: bytes=<received>-`, and taken only from
//! one that answers 206 for exactly that range of an object of the same length, with the same
//! validators as the first answer (a strong `ETag`, `Last-Modified`; sent as `If-Range`, so a
//! member holding another version answers 200 and is passed over). The fill
//! still checks the whole zip (and its hash) before anything is committed, so a member with
//! other bytes under the same name cannot slip a splice in; it only fails the fill.

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
    let state =
        Resuming { validators, current: body.into_chunks(), received: 0, len, others: others.into(), http, report };
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
                    return Some((Ok(chunk), Some(st)));
                }
                Some(Err(e)) => loop {
                    if let Some(f) = st.report.take() {
                        f(false);
                    }
                    let Some(url) = st.others.pop_front() else { return Some((Err(e), None)) };
                    match rest_of(&st.http, &url, (st.received, st.len), &st.validators).await {
                        Ok(rest) => {
                            tracing::info!(url = %crate::net::redact(&url), from = st.received, error = %e.reason(), "zip resumed from another pool member");
                            st.current = rest;
                            break;
                        }
                        Err(why) => {
                            tracing::debug!(url = %crate::net::redact(&url), %why, "cannot resume the zip here")
                        }
                    }
                },
            }
        }
    });
    Body::from_stream(chunks, Some(len))
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
