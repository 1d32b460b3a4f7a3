//! `[storage]`: where immutable objects live — the local disk under `data_dir` (the default),
//! or an S3-compatible bucket shared by several replicas.

use super::file::{CoordinationSection, StorageSection};
use super::loader::{duration, fail, Loader};
use super::ConfigError;
use std::time::Duration;
use toml::Spanned;

/// Where committed objects are kept.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Storage {
    /// `data_dir/cache` on the local disk.
    #[default]
    Local,
    S3(Box<S3Settings>),
}

/// An S3-compatible bucket. Credentials not written here come from the environment
/// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, web identity) or the
/// instance's profile, as the AWS tools find them.
#[derive(Clone, PartialEq)]
pub struct S3Settings {
    pub bucket: String,
    /// Keys are written under this prefix (no leading or trailing `/`; empty: the bucket's root).
    pub prefix: String,
    /// The server's URL; none: AWS's own endpoint for the region.
    pub endpoint: Option<String>,
    pub region: String,
    /// `https://host/bucket/key` rather than `https://bucket.host/key`.
    pub path_style: bool,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    /// How a large object is committed create-only: `multipart` (S3's conditional complete),
    /// or `header: NAME: VALUE` for stores that take a header on a copy instead.
    pub copy_if_not_exists: String,
    /// Limit for the bucket to start answering a request.
    pub timeout: Duration,
    /// Objects up to this size go up in one conditional PUT; larger ones in parts of this size.
    pub part_bytes: usize,
    /// Bytes of objects kept on the local disk in front of the bucket (0: none).
    pub local_cache_bytes: u64,
}

impl std::fmt::Debug for S3Settings {
    // Secrets never reach a Debug print (and so never a log line).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("path_style", &self.path_style)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &self.secret_access_key.as_ref().map(|_| "<secret>"))
            .field("session_token", &self.session_token.as_ref().map(|_| "<secret>"))
            .field("copy_if_not_exists", &self.copy_if_not_exists)
            .field("timeout", &self.timeout)
            .field("part_bytes", &self.part_bytes)
            .field("local_cache_bytes", &self.local_cache_bytes)
            .finish()
    }
}

pub(super) fn load(l: &Loader<'_>, section: &Option<Spanned<StorageSection>>) -> Result<Storage, ConfigError> {
    let Some(section) = section else { return Ok(Storage::Local) };
    let at = l.at(section.span().start);
    let s = section.get_ref();
    match l.pick_file(&s.kind, "local").0 {
        "local" => {
            if let Some(b) = &s.bucket {
                return Err(fail("storage.bucket", l.at(b.span().start), "a bucket needs kind = \"s3\""));
            }
            Ok(Storage::Local)
        }
        "s3" => s3(l, s, section.span().start),
        other => {
            let origin = s.kind.as_ref().map_or(at, |k| l.at(k.span().start));
            Err(fail("storage.kind", origin, format!("{other:?} is not a storage kind; write \"local\" or \"s3\"")))
        }
    }
}

fn s3(l: &Loader<'_>, s: &StorageSection, start: usize) -> Result<Storage, ConfigError> {
    let Some(bucket) = &s.bucket else {
        return Err(fail("storage.bucket", l.at(start), "kind = \"s3\" needs a bucket"));
    };
    let name = bucket.get_ref();
    let valid = (3..=63).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    if !valid {
        return Err(fail(
            "storage.bucket",
            l.at(bucket.span().start),
            format!("{name:?} is not a bucket name (3 to 63 lowercase letters, digits, '-' and '.')"),
        ));
    }
    let prefix = s.prefix.as_ref().map(|p| p.get_ref().trim_matches('/').to_string()).unwrap_or_default();
    if prefix.split('/').any(|p| p == "." || p == ".." || (p.is_empty() && !prefix.is_empty())) {
        let origin = l.at(s.prefix.as_ref().map_or(start, |p| p.span().start));
        return Err(fail("storage.prefix", origin, format!("{prefix:?} is not a key prefix like \"modgate/cache\"")));
    }
    let endpoint = match &s.endpoint {
        None => None,
        Some(e) => {
            let v = e.get_ref().trim_end_matches('/');
            let ok = (v.starts_with("https://") || v.starts_with("http://")) && v.parse::<http::Uri>().is_ok();
            if !ok {
                return Err(fail("storage.endpoint", l.at(e.span().start), format!("{v:?} is not an http(s) URL")));
            }
            Some(v.to_string())
        }
    };
    let env_region = std::env::var("AWS_REGION").or_else(|_| std::env::var("AWS_DEFAULT_REGION")).ok();
    let region = match &s.region {
        Some(r) => r.get_ref().clone(),
        None => env_region.unwrap_or_else(|| "us-east-1".into()),
    };
    let copy = l.pick_file(&s.copy_if_not_exists, "multipart");
    let copy_ok = copy.0 == "multipart" || copy.0.trim_start().starts_with("header:");
    if !copy_ok {
        let msg = format!("{:?} is not \"multipart\" or \"header: NAME: VALUE\"", copy.0);
        return Err(fail("storage.copy_if_not_exists", copy.1, msg));
    }
    let part_mb = l.int("storage.part_mb", &s.part_mb, 8, 5, 1024)?;
    let cache_mb = l.int("storage.local_cache_mb", &s.local_cache_mb, 1024, 0, 1 << 24)?;
    Ok(Storage::S3(Box::new(S3Settings {
        bucket: name.clone(),
        prefix,
        path_style: s.path_style.unwrap_or(endpoint.is_some()),
        endpoint,
        region,
        access_key_id: s.access_key_id.clone(),
        secret_access_key: s.secret_access_key.clone(),
        session_token: s.session_token.clone(),
        copy_if_not_exists: copy.0.to_string(),
        timeout: duration("storage.timeout", l.pick_file(&s.timeout, "30s"))?,
        part_bytes: part_mb as usize * (1 << 20),
        local_cache_bytes: cache_mb as u64 * (1 << 20),
    })))
}

/// `[coordination]`: the Redis that replicas share — who fills what, and the mutable answers.
#[derive(Clone, PartialEq)]
pub struct Coordination {
    /// `redis://[user:password@]host:port[/db]` or `rediss://…` (TLS).
    pub redis: String,
    /// Every key modgate writes starts with `<prefix>:`.
    pub prefix: String,
    /// How long a replica's claim on a fill lasts without being renewed (it is renewed while
    /// the fill runs): how long others wait for a replica that died mid-fill.
    pub lease: Duration,
    /// Limit for one Redis command; past it the replica carries on alone.
    pub timeout: Duration,
}

impl std::fmt::Debug for Coordination {
    // The URL's password never reaches a Debug print.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coordination")
            .field("redis", &crate::redact::redact(&self.redis))
            .field("prefix", &self.prefix)
            .field("lease", &self.lease)
            .field("timeout", &self.timeout)
            .finish()
    }
}

pub(super) fn coordination(
    l: &Loader<'_>,
    section: &Option<Spanned<CoordinationSection>>,
) -> Result<Option<Coordination>, ConfigError> {
    let Some(section) = section else { return Ok(None) };
    let s = section.get_ref();
    let Some(url) = &s.redis else {
        return Err(fail(
            "coordination.redis",
            l.at(section.span().start),
            "a [coordination] section needs redis = \"redis://host:6379\"",
        ));
    };
    let v = url.get_ref();
    if let Err(e) = redis::Client::open(v.as_str()) {
        let shown = crate::redact::redact(v);
        return Err(fail("coordination.redis", l.at(url.span().start), format!("{shown:?} is not a Redis URL ({e})")));
    }
    let prefix = l.pick_file(&s.prefix, "modgate");
    if prefix.0.is_empty() || prefix.0.contains(char::is_whitespace) {
        return Err(fail("coordination.prefix", prefix.1, format!("{:?} is not a key prefix", prefix.0)));
    }
    let lease = duration("coordination.lease", l.pick_file(&s.lease, "30s"))?;
    if lease < Duration::from_secs(1) {
        let origin = l.at(s.lease.as_ref().map_or(section.span().start, |v| v.span().start));
        return Err(fail("coordination.lease", origin, "must be at least 1s"));
    }
    Ok(Some(Coordination {
        redis: v.clone(),
        prefix: prefix.0.to_string(),
        lease,
        timeout: duration("coordination.timeout", l.pick_file(&s.timeout, "1s"))?,
    }))
}
