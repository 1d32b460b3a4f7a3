//! Versions published into modgate itself (`PUT /-/publish/...`), answered from the stores:
//! their objects live in the object store like fetched ones, and the published index (in the
//! meta store) is what makes them a source for `list` and `@latest`.

use super::{Body, FetchError, Source};
use crate::request::{Endpoint, ModuleRequest};
use crate::store::{MetaStore, ObjectStore};
use futures::StreamExt;
use std::sync::Arc;

/// Largest `.info` read back for `@latest`.
const MAX_INFO: u64 = 4 << 20;

pub struct Published {
    meta: Arc<dyn MetaStore>,
    objects: Arc<dyn ObjectStore>,
}

impl Published {
    pub fn new(meta: Arc<dyn MetaStore>, objects: Arc<dyn ObjectStore>) -> Self {
        Self { meta, objects }
    }
}

/// The highest release, else the highest pre-release.
fn latest(versions: &[String]) -> Option<&String> {
    let order = |a: &&String, b: &&String| gomod::semver::compare(a, b);
    let releases = versions.iter().filter(|v| gomod::semver::prerelease(v).is_empty());
    releases.max_by(order).or_else(|| versions.iter().max_by(order))
}

#[async_trait::async_trait]
impl Source for Published {
    async fn fetch(&self, req: &ModuleRequest) -> Result<Body, FetchError> {
        let storage = |e: std::io::Error| FetchError::Failed(format!("published index: {e}"));
        let mut versions = self.meta.published(req.escaped_module()).await.map_err(storage)?;
        let not_here = || FetchError::not_found(format!("{}: not published here", req.display()));
        match req.endpoint {
            Endpoint::List => {
                if versions.is_empty() {
                    return Err(not_here());
                }
                versions.sort_by(|a, b| gomod::semver::compare(a, b));
                versions.dedup();
                Ok(Body::from_bytes(versions.iter().map(|v| format!("{v}\n")).collect::<String>()))
            }
            Endpoint::Latest => {
                let best = latest(&versions).ok_or_else(not_here)?;
                let info = ModuleRequest::for_version(&req.module, best, Endpoint::Info).ok_or_else(not_here)?;
                match self.objects.read(info.rel(), MAX_INFO).await.map_err(storage)? {
                    Some(data) => Ok(Body::from_bytes(data)),
                    None => Err(FetchError::Failed(format!("{}: published but missing", info.rel()))),
                }
            }
            Endpoint::Info | Endpoint::Mod | Endpoint::Zip => {
                if !req.version.as_ref().is_some_and(|v| versions.contains(v)) {
                    return Err(not_here());
                }
                let obj = self.objects.open(req.rel()).await.map_err(storage)?.ok_or_else(not_here)?;
                let len = obj.len;
                let chunks = obj.body.range(0, len).map(|c| c.map_err(|e| FetchError::Failed(format!("reading: {e}"))));
                Ok(Body::from_stream(chunks, Some(len)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::{MemoryMeta, MemoryObjects};

    #[tokio::test]
    async fn published_versions_answer_list_latest_and_objects() {
        let (meta, objects) = (Arc::new(MemoryMeta::new()), Arc::new(MemoryObjects::new()));
        let src = Published::new(meta.clone(), objects.clone());
        let list = crate::request::parse("/corp.example/m/@v/list", None).unwrap();
        assert!(matches!(src.fetch(&list).await, Err(FetchError::NotFound { .. })));
        for v in ["v1.2.0", "v1.10.0-rc.1", "v1.9.0"] {
            meta.add_published("corp.example/m", v).await.unwrap();
            let info = format!("{{\"Version\":\"{v}\"}}\n");
            objects.put(&format!("corp.example/m/@v/{v}.info"), info.as_bytes()).await.unwrap();
        }
        let text = src.fetch(&list).await.unwrap().collect(1 << 20).await.unwrap();
        assert_eq!(text, "v1.2.0\nv1.9.0\nv1.10.0-rc.1\n");
        let latest = crate::request::parse("/corp.example/m/@latest", None).unwrap();
        let info = src.fetch(&latest).await.unwrap().collect(1 << 20).await.unwrap();
        assert_eq!(info, "{\"Version\":\"v1.9.0\"}\n", "a release beats a higher pre-release");
        let one = crate::request::parse("/corp.example/m/@v/v1.2.0.info", None).unwrap();
        assert!(src.fetch(&one).await.is_ok());
        let other = crate::request::parse("/corp.example/m/@v/v1.3.0.info", None).unwrap();
        assert!(matches!(src.fetch(&other).await, Err(FetchError::NotFound { .. })));
    }
}
