//! Immutable objects in an S3-compatible bucket (`[storage] kind = "s3"`), through the
//! `object_store` crate over modgate's own HTTP connector (`net::objects`).
//!
//! An object is staged in a local temporary file (where clients following the fill read it and
//! the caller verifies it), and goes up only at commit, create-only:
//! - up to `part_bytes`, in one `PUT` with `If-None-Match: *`;
//! - larger, in parts to a staging key under `.staging/`, then copied to its key with a
//!   conditional complete (`copy_if_not_exists`), and the staging key removed.
//!
//! Either way the bucket's key shows all of a verified object or nothing, and a second writer
//! gets `AlreadyExists` and the first one's object stands. Memory stays bounded: a small object
//! is read whole (at most `part_bytes`), a large one a part at a time, two parts in flight.

use super::local::{fresh_tmp, Spool};
use super::{Commit, Listed, ObjectBody, ObjectStore, ReadAt, Staged, StoredObject};
use crate::config::{Egress, S3Settings};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt, TryFutureExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder, S3ConditionalPut, S3CopyIfNotExists};
use object_store::path::Path as Key;
use object_store::ObjectStore as _;
use object_store::{BackoffConfig, RetryConfig};
use object_store::{GetOptions, GetRange, ObjectStoreExt, PutMode, PutOptions, PutPayload, WriteMultipart};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::io::AsyncReadExt;

/// Where large objects wait between their upload and their conditional copy.
const STAGING: &str = ".staging";
/// Where `check_ready` writes its probe.
const READY: &str = ".ready";

pub struct S3Objects {
    bucket: Arc<AmazonS3>,
    /// Key prefix, with its trailing `/` (empty for the bucket's root).
    prefix: String,
    /// Local directory for staged objects.
    tmp: PathBuf,
    part_bytes: usize,
}

fn store_error(e: object_store::Error) -> io::Error {
    match e {
        object_store::Error::NotFound { .. } => io::Error::new(io::ErrorKind::NotFound, e.to_string()),
        object_store::Error::AlreadyExists { .. } => io::Error::new(io::ErrorKind::AlreadyExists, e.to_string()),
        other => io::Error::other(crate::net::error_chain(&other)),
    }
}

impl S3Objects {
    /// The bucket `s`, staging under `data_dir/tmp` (emptied here, as the local store does).
    pub fn open(s: &S3Settings, data_dir: &Path, egress: &Egress) -> io::Result<Self> {
        let mut b = AmazonS3Builder::from_env()
            .with_bucket_name(&s.bucket)
            .with_region(&s.region)
            .with_virtual_hosted_style_request(!s.path_style)
            .with_conditional_put(S3ConditionalPut::ETagMatch)
            .with_http_connector(crate::net::objects::ObjectsHttp::new(egress, s.timeout))
            // A few quick retries within the timeout: a bucket that is down is reported (503)
            // rather than waited on for minutes.
            .with_retry(RetryConfig {
                backoff: BackoffConfig {
                    init_backoff: Duration::from_millis(50),
                    max_backoff: Duration::from_secs(1),
                    base: 2.0,
                },
                max_retries: 3,
                retry_timeout: s.timeout,
            });
        let copy = match s.copy_if_not_exists.as_str() {
            "multipart" => S3CopyIfNotExists::Multipart,
            header => {
                let mut parts = header.trim_start().trim_start_matches("header:").splitn(2, ':');
                let name = parts.next().unwrap_or_default().trim().to_string();
                S3CopyIfNotExists::Header(name, parts.next().unwrap_or_default().trim().to_string())
            }
        };
        b = b.with_copy_if_not_exists(copy);
        if let Some(e) = &s.endpoint {
            b = b.with_endpoint(e).with_allow_http(e.starts_with("http://"));
        }
        if let (Some(id), Some(secret)) = (&s.access_key_id, &s.secret_access_key) {
            b = b.with_access_key_id(id).with_secret_access_key(secret);
        }
        if let Some(t) = &s.session_token {
            b = b.with_token(t);
        }
        let bucket = b.build().map_err(store_error)?;
        let tmp = data_dir.join("tmp");
        fresh_tmp(&tmp)?;
        let prefix = if s.prefix.is_empty() { String::new() } else { format!("{}/", s.prefix) };
        Ok(Self { bucket: Arc::new(bucket), prefix, tmp, part_bytes: s.part_bytes })
    }

    fn key(&self, key: &str) -> io::Result<Key> {
        bucket_key(&self.prefix, key)
    }
}

/// The bucket's key for `key` under `prefix` (which ends in `/`, or is empty).
fn bucket_key(prefix: &str, key: &str) -> io::Result<Key> {
    Key::parse(format!("{prefix}{key}")).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}

/// A create-only write's outcome: created, or another writer's object stands.
fn created<T>(written: object_store::Result<T>) -> io::Result<Commit> {
    match written {
        Ok(_) => Ok(Commit::Created),
        Err(object_store::Error::AlreadyExists { .. }) => Ok(Commit::AlreadyExists),
        Err(e) => Err(store_error(e)),
    }
}

#[async_trait::async_trait]
impl ObjectStore for S3Objects {
    /// One `GET`: a small object's bytes come with the answer; a larger one's body is kept
    /// open for a reader of the whole object (a range asks again).
    async fn open(&self, key: &str) -> io::Result<Option<StoredObject>> {
        let at = self.key(key)?;
        let got = match self.bucket.get_opts(&at, GetOptions::default()).await {
            Ok(g) => g,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(store_error(e)),
        };
        let meta = got.meta.clone();
        let etag = etag_of(&meta);
        let body: Box<dyn ObjectBody> = if meta.size <= SMALL {
            let bytes = got.bytes().await.map_err(store_error)?;
            if bytes.len() as u64 != meta.size {
                return Err(io::Error::other(format!("{key}: the bucket sent {} of {} bytes", bytes.len(), meta.size)));
            }
            Box::new(Whole(bytes))
        } else {
            let first = Some(got.into_stream().map_err(store_error).boxed());
            Box::new(S3Body { bucket: Arc::clone(&self.bucket), at, etag: meta.e_tag.clone(), len: meta.size, first })
        };
        Ok(Some(StoredObject { len: meta.size, etag, modified: SystemTime::from(meta.last_modified), body }))
    }

    async fn validators(&self, key: &str) -> io::Result<Option<(String, SystemTime)>> {
        match self.bucket.head(&self.key(key)?).await {
            Ok(meta) => Ok(Some((etag_of(&meta), SystemTime::from(meta.last_modified)))),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(store_error(e)),
        }
    }

    async fn stage(&self) -> io::Result<Box<dyn Staged>> {
        let spool = Spool::new(&self.tmp).await?;
        Ok(Box::new(S3Staged {
            spool,
            bucket: Arc::clone(&self.bucket),
            prefix: self.prefix.clone(),
            part_bytes: self.part_bytes,
        }))
    }

    async fn delete(&self, key: &str) -> io::Result<Option<u64>> {
        let at = self.key(key)?;
        let size = match self.bucket.head(&at).await {
            Ok(meta) => meta.size,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(store_error(e)),
        };
        self.bucket.delete(&at).await.map_err(store_error)?;
        Ok(Some(size))
    }

    async fn list(&self, prefix: &str) -> io::Result<Vec<String>> {
        Ok(self.entries(prefix).await?.into_iter().map(|l| l.key).collect())
    }

    async fn entries(&self, prefix: &str) -> io::Result<Vec<Listed>> {
        // The listing starts at the last whole segment; the rest of the prefix is matched here.
        let full = format!("{}{prefix}", self.prefix);
        let dir = match full.rfind('/') {
            Some(i) => Some(bucket_key("", &full[..i])?),
            None => None,
        };
        let metas: Vec<_> = self.bucket.list(dir.as_ref()).try_collect().await.map_err(store_error)?;
        let out = metas
            .into_iter()
            .filter_map(|m| {
                let key = m.location.as_ref().strip_prefix(self.prefix.as_str())?.to_string();
                Some(Listed { key, size: m.size, modified: SystemTime::from(m.last_modified) })
            })
            .filter(|l| l.key.starts_with(prefix) && !l.key.starts_with(STAGING) && !l.key.starts_with(READY))
            .collect();
        Ok(out)
    }

    async fn check_ready(&self) -> io::Result<()> {
        let at = self.key(&format!("{READY}/{}", rand::random::<u64>()))?;
        self.bucket.put(&at, PutPayload::from_static(b"ready")).await.map_err(store_error)?;
        let back = self.bucket.get(&at).await.map_err(store_error)?.bytes().await.map_err(store_error);
        let _ = self.bucket.delete(&at).await;
        if back? != Bytes::from_static(b"ready") {
            return Err(io::Error::other("the bucket gave back different bytes"));
        }
        Ok(())
    }
}

struct S3Staged {
    spool: Spool,
    bucket: Arc<AmazonS3>,
    prefix: String,
    part_bytes: usize,
}

impl S3Staged {
    fn key(&self, key: &str) -> io::Result<Key> {
        bucket_key(&self.prefix, key)
    }

    /// The staged bytes in parts to a staging key, then copied create-only to `to`.
    async fn commit_large(&mut self, to: &Key) -> io::Result<Commit> {
        let staging = self.key(&format!("{STAGING}/{:016x}{:016x}", rand::random::<u64>(), rand::random::<u64>()))?;
        let upload = self.bucket.put_multipart(&staging).await.map_err(store_error)?;
        let mut parts = WriteMultipart::new_with_chunk_size(upload, self.part_bytes);
        if let Err(e) = send_parts(&self.spool.tmp.path, &mut parts).await {
            // Nothing of it stays in the bucket (a failed finish aborts by itself).
            let _ = parts.abort().await;
            return Err(e);
        }
        if let Err(e) = parts.finish().await {
            return Err(store_error(e));
        }
        let copied = self.bucket.copy_if_not_exists(&staging, to).await;
        let _ = self.bucket.delete(&staging).await;
        created(copied)
    }
}

/// The staged file into `parts`, a read at a time, with at most two parts in flight.
async fn send_parts(path: &Path, parts: &mut WriteMultipart) -> io::Result<()> {
    let mut file = tokio::fs::File::open(path).await?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        parts.wait_for_capacity(2).await.map_err(store_error)?;
        parts.write(&buf[..n]);
    }
}

#[async_trait::async_trait]
impl Staged for S3Staged {
    async fn write(&mut self, data: &[u8]) -> io::Result<()> {
        self.spool.write(data).await
    }

    async fn flush(&mut self) -> io::Result<()> {
        self.spool.flush().await
    }

    fn reader(&mut self) -> io::Result<Arc<dyn ReadAt>> {
        Ok(self.spool.reader()?)
    }

    async fn commit(mut self: Box<Self>, key: &str) -> io::Result<Commit> {
        self.spool.flush().await?;
        let to = self.key(key)?;
        let len = self.spool.tmp.file.metadata().await?.len();
        if len > self.part_bytes as u64 {
            return self.commit_large(&to).await;
        }
        let data = tokio::fs::read(&self.spool.tmp.path).await?;
        let opts = PutOptions { mode: PutMode::Create, ..Default::default() };
        created(self.bucket.put_opts(&to, PutPayload::from(data), opts).await)
    }
}

/// The object's `ETag` as a quoted strong validator.
fn etag_of(meta: &object_store::ObjectMeta) -> String {
    match meta.e_tag.as_deref() {
        Some(t) if t.starts_with('"') => t.to_string(),
        Some(t) => format!("\"{t}\""),
        None => format!("\"{}-{}\"", meta.size, meta.last_modified.timestamp_nanos_opt().unwrap_or(0)),
    }
}

/// Objects up to this size are read whole by `open` (they go to the memory cache anyway).
const SMALL: u64 = 64 * 1024;

/// A small object, read whole with its `GET`.
struct Whole(Bytes);

impl ObjectBody for Whole {
    fn range(self: Box<Self>, start: u64, count: u64) -> BoxStream<'static, io::Result<Bytes>> {
        let (start, end) = (start.min(self.0.len() as u64) as usize, (start + count).min(self.0.len() as u64) as usize);
        futures::stream::iter([Ok(self.0.slice(start..end))]).boxed()
    }

    fn read_all(self: Box<Self>, limit: u64) -> BoxFuture<'static, io::Result<Vec<u8>>> {
        let out = match self.0.len() as u64 > limit {
            true => Err(io::Error::new(io::ErrorKind::InvalidData, format!("larger than {limit} bytes"))),
            false => Ok(self.0.to_vec()),
        };
        futures::future::ready(out).boxed()
    }

    fn in_memory(&self) -> Option<Bytes> {
        Some(self.0.clone())
    }
}

/// A larger committed object in the bucket: the `GET` that opened it serves a reader of the
/// whole object; a range is read with a ranged `GET` that must match the `ETag` it was opened
/// with (an object is never replaced, so a mismatch means someone else's hand).
struct S3Body {
    bucket: Arc<AmazonS3>,
    at: Key,
    etag: Option<String>,
    len: u64,
    first: Option<BoxStream<'static, io::Result<Bytes>>>,
}

impl S3Body {
    fn options(&self, range: Option<GetRange>) -> GetOptions {
        GetOptions { if_match: self.etag.clone(), range, ..Default::default() }
    }
}

impl ObjectBody for S3Body {
    fn range(mut self: Box<Self>, start: u64, count: u64) -> BoxStream<'static, io::Result<Bytes>> {
        if count == 0 {
            return futures::stream::empty().boxed();
        }
        if let (0, true, Some(whole)) = (start, count == self.len, self.first.take()) {
            return whole;
        }
        let opts = self.options(Some(GetRange::Bounded(start..start + count)));
        async move {
            let got = self.bucket.get_opts(&self.at, opts).await.map_err(store_error)?;
            Ok::<_, io::Error>(got.into_stream().map_err(store_error))
        }
        .try_flatten_stream()
        .boxed()
    }

    fn read_all(mut self: Box<Self>, limit: u64) -> BoxFuture<'static, io::Result<Vec<u8>>> {
        async move {
            if self.len > limit {
                return Err(io::Error::new(io::ErrorKind::InvalidData, format!("larger than {limit} bytes")));
            }
            let mut out = Vec::with_capacity(self.len as usize);
            let len = self.len;
            let mut whole = match self.first.take() {
                Some(s) => s,
                None => Box::new(S3Body { first: None, ..*self }).range(0, len),
            };
            while let Some(chunk) = whole.next().await {
                out.extend_from_slice(&chunk?);
            }
            Ok(out)
        }
        .boxed()
    }
}
