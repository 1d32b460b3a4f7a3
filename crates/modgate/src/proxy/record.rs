//! Recording a version for a checksum log: its zip and `.mod` committed (filled if need be)
//! and their hashes told to the checksum hook, as a fresh commit tells them. A version cached
//! before the log existed (or whose logging a crash cut short) is hashed from the store and
//! checked like a fill first.

use super::service::ModuleService;
use super::verify::{self, Checked, Committed};
use crate::errors::ServeError;
use crate::request::{Endpoint, ModuleRequest};
use futures::StreamExt;
use gomod::limits::MAX_GO_MOD;
use std::sync::Arc;

impl ModuleService {
    /// Makes sure `module@version`'s zip and `.mod` are committed (through the route, the
    /// cache and the checks of any request); unless `recorded()` then holds (a fresh commit
    /// reported them), reports the stored objects' hashes to the checksum hook.
    pub async fn record_version(
        self: &Arc<Self>,
        module: &str,
        version: &str,
        recorded: &(dyn Fn() -> bool + Sync),
    ) -> Result<(), ServeError> {
        let zip = ModuleRequest::for_version(module, version, Endpoint::Zip)
            .ok_or_else(|| ServeError::not_found(format!("{module}@{version}: not a canonical version")))?;
        let mod_req = zip.with_endpoint(Endpoint::Mod);
        self.serve(&mod_req, false).await?;
        self.serve(&zip, false).await?;
        if recorded() {
            return Ok(());
        }
        let go_mod = self
            .read_small(mod_req.rel(), MAX_GO_MOD)
            .await?
            .ok_or_else(|| ServeError::Storage(format!("{} vanished", mod_req.rel())))?;
        let h1 = self.stored_zip_hash(&zip).await?;
        let mod_h1 = gomod::dirhash::hash_go_mod(&go_mod);
        for what in [Checked::GoMod { module, version, data: &go_mod }, Checked::Zip { module, version, h1: &h1 }] {
            verify::consult(self.checksums.as_ref(), &what, &zip).await?;
        }
        let done = Committed { module, version, zip_h1: &h1, mod_h1: &mod_h1 };
        self.checksums.committed(&done).await.map_err(ServeError::Storage)
    }

    /// Checks a cached version again without filling anything: its stored zip (when there is
    /// one) read and checked in full and hashed, its stored go.mod hashed, and both hashes put
    /// to the checksum hook again (the checksum database and the own log, where configured).
    /// Returns `(zip h1, go.mod h1)` of what is stored; `Err` says what failed.
    pub async fn reverify(&self, module: &str, version: &str) -> Result<(Option<String>, Option<String>), ServeError> {
        let zip = ModuleRequest::for_version(module, version, Endpoint::Zip)
            .ok_or_else(|| ServeError::BadRequest(format!("{module}@{version}: not a canonical version")))?;
        let mod_req = zip.with_endpoint(Endpoint::Mod);
        let stored_mod = match self.objects.open_origin(mod_req.rel()).await? {
            Some(obj) => Some(obj.body.read_all(MAX_GO_MOD).await?),
            None => None,
        };
        let mod_h1 = match stored_mod {
            Some(data) => {
                verify::consult(self.checksums.as_ref(), &Checked::GoMod { module, version, data: &data }, &zip)
                    .await?;
                Some(gomod::dirhash::hash_go_mod(&data))
            }
            None => None,
        };
        let zip_h1 = match self.objects.contains(zip.rel()).await? {
            true => {
                let h1 = self.stored_zip_hash(&zip).await?;
                verify::consult(self.checksums.as_ref(), &Checked::Zip { module, version, h1: &h1 }, &zip).await?;
                Some(h1)
            }
            false => None,
        };
        Ok((zip_h1, mod_h1))
    }

    /// The `h1:` hash of a committed zip as the store of record holds it, checked again in full
    /// (read into a staged copy that is never committed).
    async fn stored_zip_hash(&self, zip: &ModuleRequest) -> Result<String, ServeError> {
        let obj = self
            .objects
            .open_origin(zip.rel())
            .await?
            .ok_or_else(|| ServeError::Storage(format!("{} vanished", zip.rel())))?;
        let mut staged = self.objects.stage().await?;
        let mut body = obj.body.range(0, obj.len);
        let mut written = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            written += chunk.len() as u64;
            staged.write(&chunk).await?;
        }
        staged.flush().await?;
        let checked = verify::check_zip(staged.reader()?, written, zip)
            .await?
            .map_err(|e| ServeError::Storage(format!("{}: the stored zip is invalid: {e}", zip.display())))?;
        Ok(checked.h1)
    }
}
