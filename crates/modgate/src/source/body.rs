//! A body arriving from a source: chunks as they come, never the whole object at once unless
//! the caller collects it within a limit.

use super::FetchError;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;

pub struct Body {
    chunks: BoxStream<'static, Result<Bytes, FetchError>>,
    len: Option<u64>,
    validators: Validators,
}

/// What identifies the version of an object a server sent: a strong `ETag`, `Last-Modified`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

impl Validators {
    /// A response's validators (a weak ETag cannot vouch for bytes, so it is left out).
    pub fn of(headers: &http::HeaderMap) -> Self {
        let text = |name| headers.get(name).and_then(|v: &http::HeaderValue| v.to_str().ok()).map(str::to_string);
        Self {
            etag: text(http::header::ETAG).filter(|e| !e.starts_with("W/")),
            last_modified: text(http::header::LAST_MODIFIED),
        }
    }

    /// The value for `If-Range`: the ETag, else the date.
    pub fn if_range(&self) -> Option<&str> {
        self.etag.as_deref().or(self.last_modified.as_deref())
    }

    /// Whether another answer is the same object as far as both sides say: every validator
    /// this one has, the other has equal.
    pub fn agree(&self, other: &Validators) -> bool {
        let same = |a: &Option<String>, b: &Option<String>| a.is_none() || a == b;
        same(&self.etag, &other.etag) && same(&self.last_modified, &other.last_modified)
    }
}

/// How much of a file one chunk reads.
const FILE_CHUNK: usize = 256 * 1024;

impl Body {
    /// A body whose bytes are already at hand.
    pub fn from_bytes(data: impl Into<Bytes>) -> Self {
        let data: Bytes = data.into();
        let len = Some(data.len() as u64);
        Self { chunks: futures::stream::once(async move { Ok(data) }).boxed(), len, validators: Validators::default() }
    }

    /// A body of chunks, with the length the source announced, if it did.
    pub fn from_stream(
        chunks: impl futures::Stream<Item = Result<Bytes, FetchError>> + Send + 'static,
        len: Option<u64>,
    ) -> Self {
        Self { chunks: chunks.boxed(), len, validators: Validators::default() }
    }

    /// The body, with the validators its server sent.
    pub fn with_validators(mut self, v: Validators) -> Self {
        self.validators = v;
        self
    }

    pub fn validators(&self) -> &Validators {
        &self.validators
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

    #[test]
    fn validators_agree_only_on_what_the_first_answer_said() {
        let mut h = http::HeaderMap::new();
        h.insert("etag", "\"a\"".parse().unwrap());
        h.insert("last-modified", "Mon, 30 Nov 2026 10:00:00 GMT".parse().unwrap());
        let first = Validators::of(&h);
        assert_eq!(first.if_range(), Some("\"a\""));
        assert!(first.agree(&first.clone()));
        assert!(!first.agree(&Validators { etag: Some("\"b\"".into()), ..first.clone() }));
        assert!(!first.agree(&Validators::default()), "a member that says nothing does not vouch");
        assert!(Validators::default().agree(&first), "nothing to compare: the length decides");
        let mut weak = http::HeaderMap::new();
        weak.insert("etag", "W/\"a\"".parse().unwrap());
        assert_eq!(Validators::of(&weak).etag, None, "a weak ETag cannot vouch for bytes");
    }
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
