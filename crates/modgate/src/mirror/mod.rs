//! Air-gapped mirrors: `export` writes what builds need into a bundle (a tar with a manifest
//! and the go.sum lines), `import` checks a bundle whole and commits it into a store, so an
//! offline modgate serves it. The bundle's format is in `bundle`.

pub mod bundle;
pub mod export;
pub mod import;

use crate::config::{Config, Storage};
use crate::store::local::LocalObjects;
use crate::store::local_meta::LocalMeta;
use crate::store::s3::S3Objects;
use crate::store::{MetaStore, ObjectStore};
use std::path::Path;
use std::sync::Arc;

/// An object store and a metadata store.
pub type Stores = (Arc<dyn ObjectStore>, Arc<dyn MetaStore>);

/// The stores an import commits into, as `cfg` names them, opened beside a server that may be
/// running on them (nothing it is staging is touched; a bucket's staging goes to `scratch`).
pub fn stores(cfg: &Config, scratch: &Path) -> Result<Stores, String> {
    let dir = &cfg.data_dir;
    let objects: Arc<dyn ObjectStore> = match &cfg.storage {
        Storage::Local => Arc::new(LocalObjects::attach(dir).map_err(|e| format!("{}: {e}", dir.display()))?),
        Storage::S3(s) => {
            Arc::new(S3Objects::open(s, scratch, &cfg.egress).map_err(|e| format!("bucket {}: {e}", s.bucket))?)
        }
    };
    let meta: Arc<dyn MetaStore> = Arc::new(LocalMeta::open(dir).map_err(|e| format!("{}: {e}", dir.display()))?);
    let meta = match &cfg.coordination {
        Some(c) => {
            let redis = crate::coord::Redis::connect(c).map_err(|e| e.to_string())?;
            Arc::new(crate::coord::SharedMeta::new(redis, meta)) as Arc<dyn MetaStore>
        }
        None => meta,
    };
    Ok((objects, meta))
}
