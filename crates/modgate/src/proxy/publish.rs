//! Publishing a module version into modgate: canonical versions only, create-only (409 when
//! any of the version's objects exists), the zip checked completely before anything is
//! committed, and the version added to the published index so `list` and `@latest` see it.

use super::service::ModuleService;
use super::verify::{self, Checked, Committed};
use crate::errors::ServeError;
use crate::request::{Endpoint, ModuleRequest};
use crate::store::{Commit, Staged};
use bytes::Bytes;
use std::sync::Arc;

impl ModuleService {
    /// Publishes a module version from a zip body; `time` (RFC 3339 or HTTP date) is the
    /// `.info` time, else now. Returns the zip's `h1:` hash.
    pub async fn publish<S, E>(&self, req: &ModuleRequest, body: S, time: Option<String>) -> Result<String, ServeError>
    where
        S: futures::Stream<Item = Result<Bytes, E>> + Unpin + Send,
        E: std::fmt::Display,
    {
        let version = req.version.clone().unwrap_or_default();
        let (mod_req, info_req) = (req.with_endpoint(Endpoint::Mod), req.with_endpoint(Endpoint::Info));
        let keys = [req.rel(), mod_req.rel(), info_req.rel()];
        let conflict =
            || ServeError::Conflict(format!("{}: this version exists; versions are never overwritten", req.display()));
        if self.any_stored(&keys).await? {
            return Err(conflict());
        }
        let time = match time {
            None => crate::time::now_rfc3339(),
            Some(t) => crate::time::parse_utc(&t)
                .ok_or_else(|| ServeError::BadRequest(format!("publish: {t:?} is not an RFC 3339 time")))?,
        };
        let mut staged = self.objects.stage().await?;
        let written = self.receive(body, staged.as_mut()).await?;
        let checked = verify::check_zip(staged.reader()?, written, req)
            .await?
            .map_err(|e| ServeError::BadRequest(format!("publish: {}: invalid module zip: {e}", req.display())))?;
        let go_mod = go_mod_for(req, checked.go_mod.clone())?;
        for what in [
            Checked::GoMod { module: &req.module, version: &version, data: &go_mod },
            Checked::Zip { module: &req.module, version: &version, h1: &checked.h1 },
        ] {
            self.checksums.check_published(&what).await.map_err(|reason| {
                ServeError::BadRequest(format!("publish: {}: checksum verification failed: {reason}", req.display()))
            })?;
        }
        let lock = {
            let mut locks = self.publish_locks.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(locks.entry(req.escaped_module().to_string()).or_default())
        };
        let _held = lock.lock().await;
        if self.any_stored(&keys).await? {
            return Err(conflict());
        }
        // The zip decides: its create-only commit fails for every publisher but the first.
        if staged.commit(req.rel()).await? == Commit::AlreadyExists {
            return Err(conflict());
        }
        self.objects.put(mod_req.rel(), &go_mod).await?;
        let info = format!("{{\"Version\":\"{version}\",\"Time\":\"{time}\"}}\n");
        self.objects.put(info_req.rel(), info.as_bytes()).await?;
        self.meta.add_published(req.escaped_module(), &version).await?;
        // Lists and @latest answers learn of the new version at once.
        for r in [req.with_endpoint(Endpoint::List), req.with_endpoint(Endpoint::Latest)] {
            self.meta.forget_not_found(r.rel()).await;
        }
        tracing::info!(object = %req.rel(), bytes = written, h1 = %checked.h1, "published");
        let mod_h1 = gomod::dirhash::hash_go_mod(&go_mod);
        let done = Committed { module: &req.module, version: &version, zip_h1: &checked.h1, mod_h1: &mod_h1 };
        if let Err(e) = self.checksums.committed(&done).await {
            tracing::error!(object = %req.rel(), error = %e, "the published version could not be logged");
        }
        Ok(checked.h1)
    }

    /// The body into `staged`, within the publish limit; the number of bytes.
    async fn receive<S, E>(&self, mut body: S, staged: &mut dyn Staged) -> Result<u64, ServeError>
    where
        S: futures::Stream<Item = Result<Bytes, E>> + Unpin + Send,
        E: std::fmt::Display,
    {
        use futures::StreamExt;
        let max = self.settings.load().publish_max_bytes;
        let mut written = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| ServeError::BadRequest(format!("publish: reading the body: {e}")))?;
            written += chunk.len() as u64;
            if written > max {
                return Err(ServeError::TooLarge(format!("publish: the zip is larger than {max} bytes")));
            }
            staged.write(&chunk).await?;
        }
        staged.flush().await?;
        Ok(written)
    }

    async fn any_stored(&self, keys: &[&str]) -> Result<bool, ServeError> {
        for k in keys {
            if self.objects.contains(k).await? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// The version's go.mod: the zip's own, else (for a path without a major-version suffix) the
/// one the go command synthesizes; it must declare the module being published.
fn go_mod_for(req: &ModuleRequest, from_zip: Option<Vec<u8>>) -> Result<Vec<u8>, ServeError> {
    let (_, major) = gomod::path::split_path_version(&req.module).unwrap_or((&req.module, ""));
    let go_mod = match from_zip {
        Some(g) => g,
        None if major.is_empty() => gomod::zipcreate::synthesize_go_mod(&req.module),
        None => {
            return Err(ServeError::BadRequest(format!(
                "publish: {}: a {major} module needs a go.mod in its zip",
                req.display()
            )))
        }
    };
    if let Some(declared) = gomod::modfile::module_path(&go_mod) {
        if declared != req.module {
            return Err(ServeError::BadRequest(format!(
                "publish: {}: the zip's go.mod declares {declared:?}",
                req.display()
            )));
        }
    }
    Ok(go_mod)
}
