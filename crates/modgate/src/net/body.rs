//! Reading an answer's body: chunk by chunk, each within the idle limit.

use super::NetError;
use bytes::Bytes;
use http_body_util::BodyExt;
use std::time::Duration;

/// The body's data chunks, an error when the next one does not arrive within `idle`.
pub fn chunks(
    body: hyper::body::Incoming,
    idle: Duration,
    origin: String,
) -> impl futures::Stream<Item = Result<Bytes, NetError>> + Send + 'static {
    futures::stream::unfold(Some((body, origin)), move |state| async move {
        let (mut body, origin) = state?;
        loop {
            match tokio::time::timeout(idle, body.frame()).await {
                Err(_) => {
                    return Some((Err(NetError::Timeout(format!("{origin}: body stalled for {idle:?}"))), None));
                }
                Ok(None) => return None,
                Ok(Some(Err(e))) => {
                    return Some((Err(NetError::Failed(format!("{origin}: reading body: {e}"))), None));
                }
                Ok(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        if !data.is_empty() {
                            return Some((Ok(data), Some((body, origin))));
                        }
                    }
                }
            }
        }
    })
}

/// The whole body, refusing more than `limit` bytes.
pub async fn collect(
    body: hyper::body::Incoming,
    idle: Duration,
    origin: String,
    limit: u64,
) -> Result<Bytes, NetError> {
    use futures::StreamExt;
    let mut out = Vec::new();
    let mut chunks = std::pin::pin!(chunks(body, idle, origin));
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk?;
        if (out.len() + chunk.len()) as u64 > limit {
            return Err(NetError::Failed(format!("answer larger than {limit} bytes")));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(out))
}
