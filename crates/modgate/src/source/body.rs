//! A body arriving from a source: chunks as they come, never the whole object at once unless
//! the caller collects it within a limit.

use super::FetchError;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;

pub struct Body {
    chunks: BoxStream<'static, Result<Bytes, FetchError>>,
    len: Option<u64>,
}

/// How much of a file one chunk reads.
const FILE_CHUNK: usize = 256 * 1024;

impl Body {
    /// A body whose bytes are already at hand.
    pub fn from_bytes(data: impl Into<Bytes>) -> Self {
        let data: Bytes = data.into();
        let len = Some(data.len() as u64);
        Self { chunks: futures::stream::once(async move { Ok(data) }).boxed(), len }
    }

    /// A body of chunks, with the length the source announced, if it did.
    pub fn from_stream(
        chunks: impl futures::Stream<Item = Result<Bytes, FetchError>> + Send + 'static,
        len: Option<u64>,
    ) -> Self {
        Self { chunks: chunks.boxed(), len }
    }

    /// A body read from an open file, chunk by chunk.
    pub fn from_file(file: tokio::fs::File) -> Self {
        use tokio::io::AsyncReadExt;
        let chunks = futures::stream::unfold(Some(file), |file| async move {
            let mut file = file?;
            let mut buf = vec![0u8; FILE_CHUNK];
            match file.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok(Bytes::from(buf)), Some(file)))
                }
                Err(e) => Some((Err(FetchError::Failed(format!("reading file: {e}"))), None)),
            }
        });
        Self::from_stream(chunks, None)
    }

    /// The chunks, for a body built over this one.
    pub fn into_chunks(self) -> BoxStream<'static, Result<Bytes, FetchError>> {
        self.chunks
    }

    /// The body's length, when the source announced it.
    pub fn len_hint(&self) -> Option<u64> {
        self.len
    }

    /// The next non-empty chunk, `None` at the end.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, FetchError> {
        while let Some(chunk) = self.chunks.next().await {
            let chunk = chunk?;
            if !chunk.is_empty() {
                return Ok(Some(chunk));
            }
        }
        Ok(None)
    }

    /// Reads the whole body, refusing more than `limit` bytes.
    pub async fn collect(mut self, limit: u64) -> Result<Bytes, FetchError> {
        let mut out = Vec::new();
        while let Some(chunk) = self.next_chunk().await? {
            if (out.len() + chunk.len()) as u64 > limit {
                return Err(FetchError::Failed(format!("answer larger than {limit} bytes")));
            }
            out.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bodies_are_read_within_their_limit() {
        let b = Body::from_bytes(&b"hello"[..]);
        assert_eq!(b.len_hint(), Some(5));
        assert_eq!(b.collect(5).await.unwrap(), "hello");
        let chunks = futures::stream::iter(vec![Ok(Bytes::from("ab")), Ok(Bytes::new()), Ok(Bytes::from("cd"))]);
        let mut b = Body::from_stream(chunks, None);
        assert_eq!(b.next_chunk().await.unwrap().as_deref(), Some(&b"ab"[..]));
        assert_eq!(b.next_chunk().await.unwrap().as_deref(), Some(&b"cd"[..]), "empty chunks are skipped");
        assert_eq!(b.next_chunk().await.unwrap(), None);
        let e = Body::from_bytes(&b"too long"[..]).collect(3).await.unwrap_err();
        assert!(e.reason().contains("larger than 3"), "{e:?}");
    }
}
