//! What is checked before anything is committed: `.info` answers name the version asked for,
//! mutable answers are usable, zips obey the module zip rules in full, and — through the
//! checksum hook — `.mod` and `.zip` hashes agree with whatever the checksum policy trusts.
//! Nothing that fails a check is ever committed.

use crate::errors::ServeError;
use crate::request::{Endpoint, ModuleRequest};
use crate::store::{ReadAt, ReadAtCursor};
use gomod::zipcheck::{CheckedZip, ZipError};
use std::sync::Arc;

/// What is about to be committed, for the checksum hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked<'a> {
    /// A version's go.mod file (go.sum's `module version/go.mod h1:...` line hashes it).
    GoMod { module: &'a str, version: &'a str, data: &'a [u8] },
    /// A version's zip, with its `h1:` hash (go.sum's `module version h1:...` line).
    Zip { module: &'a str, version: &'a str, h1: &'a str },
}

/// A version whose zip is committed, with both of its go.sum hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committed<'a> {
    pub module: &'a str,
    pub version: &'a str,
    pub zip_h1: &'a str,
    pub mod_h1: &'a str,
}

/// Called before every commit of a `.mod` or `.zip`, fetched or published: `Err(reason)`
/// refuses the object, and nothing is committed. After a zip is committed, `committed` tells
/// the hook the version's hashes (a log of what was served keeps them).
#[async_trait::async_trait]
pub trait ChecksumHook: Send + Sync {
    async fn check(&self, what: &Checked<'_>) -> Result<(), String>;

    /// A fill of `module@version` is starting: a hook that asks a remote service may start
    /// asking now, alongside the fill, so that `check` finds the answer waiting.
    fn prepare(&self, _module: &str, _version: &str) {}

    /// The check for a version being published here: such a module is private by definition,
    /// so a hook that would name it to a public checksum database skips it.
    async fn check_published(&self, what: &Checked<'_>) -> Result<(), String> {
        self.check(what).await
    }

    async fn committed(&self, _version: &Committed<'_>) -> Result<(), String> {
        Ok(())
    }
}

/// Several hooks: every one must agree, and every one hears of each commit.
pub struct Hooks(pub Vec<std::sync::Arc<dyn ChecksumHook>>);

#[async_trait::async_trait]
impl ChecksumHook for Hooks {
    async fn check(&self, what: &Checked<'_>) -> Result<(), String> {
        for h in &self.0 {
            h.check(what).await?;
        }
        Ok(())
    }

    fn prepare(&self, module: &str, version: &str) {
        for h in &self.0 {
            h.prepare(module, version);
        }
    }

    async fn check_published(&self, what: &Checked<'_>) -> Result<(), String> {
        for h in &self.0 {
            h.check_published(what).await?;
        }
        Ok(())
    }

    async fn committed(&self, version: &Committed<'_>) -> Result<(), String> {
        for h in &self.0 {
            h.committed(version).await?;
        }
        Ok(())
    }
}

/// Accepts everything (no checksum database configured).
pub struct NoChecksums;

#[async_trait::async_trait]
impl ChecksumHook for NoChecksums {
    async fn check(&self, _what: &Checked<'_>) -> Result<(), String> {
        Ok(())
    }
}

/// Asks the hook, and turns a refusal into a gateway error naming the object.
pub(super) async fn consult(
    hook: &dyn ChecksumHook,
    what: &Checked<'_>,
    req: &ModuleRequest,
) -> Result<(), ServeError> {
    hook.check(what)
        .await
        .map_err(|reason| ServeError::BadGateway(format!("{}: checksum verification failed: {reason}", req.display())))
}

/// The `Version` of an `.info` JSON object.
pub fn info_version(data: &[u8]) -> Result<String, String> {
    #[derive(serde::Deserialize)]
    struct Info {
        #[serde(rename = "Version")]
        version: String,
    }
    let info: Info = serde_json::from_slice(data).map_err(|e| format!("not an .info JSON object: {e}"))?;
    Ok(info.version)
}

/// A canonical version's `.info` from a source: valid, and for the version asked for.
pub(super) fn check_info(req: &ModuleRequest, data: &[u8]) -> Result<(), ServeError> {
    let v = info_version(data)
        .map_err(|e| ServeError::BadGateway(format!("{}: upstream sent a bad .info: {e}", req.display())))?;
    if Some(&v) != req.version.as_ref() {
        return Err(ServeError::BadGateway(format!(
            "{}: upstream returned info for version {v} instead of the requested version",
            req.display()
        )));
    }
    Ok(())
}

/// A mutable answer from a source: a list is text; `@latest` and queries name a version that
/// fits the module path.
pub(super) fn check_answer(req: &ModuleRequest, data: &[u8]) -> Result<(), ServeError> {
    if req.endpoint == Endpoint::List {
        return match std::str::from_utf8(data) {
            Ok(_) => Ok(()),
            Err(_) => Err(ServeError::BadGateway(format!("{}: upstream list is not UTF-8 text", req.display()))),
        };
    }
    let v = info_version(data)
        .map_err(|e| ServeError::BadGateway(format!("{}: upstream sent a bad answer: {e}", req.display())))?;
    if let Err(e) = gomod::path::check_canonical(&req.module, &v) {
        return Err(ServeError::BadGateway(format!(
            "{}: upstream resolved to an unusable version: {e}",
            req.display()
        )));
    }
    Ok(())
}

/// Checks the first `len` staged bytes as the zip of `req` (blocking work, off the runtime).
/// The outer error is the store's; the inner one is the zip's own verdict.
pub(super) async fn check_zip(
    reader: Arc<dyn ReadAt>,
    len: u64,
    req: &ModuleRequest,
) -> Result<Result<CheckedZip, ZipError>, ServeError> {
    let (module, version) = (req.module.clone(), req.version.clone().unwrap_or_default());
    tokio::task::spawn_blocking(move || gomod::zipcheck::check_zip(ReadAtCursor::new(reader, len), &module, &version))
        .await
        .map_err(|e| ServeError::Storage(format!("zip check task: {e}")))
}
