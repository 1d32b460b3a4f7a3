//! The catalog: what the object store holds, as modules and versions. Built from one listing of
//! the store (sizes and commit times come with it) and kept for a few seconds, so paging
//! through it does not list the store for every page; the reverse dependencies ("who requires
//! this module") are read from the cached go.mod files and kept a little longer.

use crate::store::{Listed, ObjectStore};
use gomod::path::{unescape_path, unescape_version};
use std::collections::{BTreeMap, HashMap};
use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// How long a listing of the store is reused.
const INDEX_AGE: Duration = Duration::from_secs(5);
/// How long the reverse dependencies are reused.
const DEPENDENTS_AGE: Duration = Duration::from_secs(60);

/// One cached version: which of its objects are stored, their sizes, when it was cached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionEntry {
    pub version: String,
    pub info: bool,
    pub mod_size: Option<u64>,
    pub zip_size: Option<u64>,
    /// The newest commit time of its objects.
    pub cached: SystemTime,
}

impl VersionEntry {
    pub fn size(&self) -> u64 {
        self.zip_size.unwrap_or(0) + self.mod_size.unwrap_or(0)
    }
}

/// Everything cached: module path → its versions in semver order.
#[derive(Debug, Default)]
pub struct Index {
    pub modules: BTreeMap<String, Vec<VersionEntry>>,
    pub objects: u64,
    pub bytes: u64,
}

/// Which object of a version a key names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ext {
    Info,
    Mod,
    Zip,
}

/// A store key's module, version and object (`<module>/@v/<version>.<ext>`, escaped); `None`
/// for keys that name no version's object.
pub fn parse_key(key: &str) -> Option<(String, String, Ext)> {
    let (module, file) = key.rsplit_once("/@v/")?;
    let (version, ext) = file.rsplit_once('.')?;
    let ext = match ext {
        "info" => Ext::Info,
        "mod" => Ext::Mod,
        "zip" => Ext::Zip,
        _ => return None,
    };
    Some((unescape_path(module).ok()?, unescape_version(version).ok()?, ext))
}

/// A version that requires another: `(module, version, required version)`.
pub type Dependent = (String, String, String);

impl Index {
    /// Reads store keys (`<module>/@v/<version>.<ext>`, escaped); other keys are not versions.
    pub fn from_listing(listing: Vec<Listed>) -> Self {
        let mut modules: BTreeMap<String, HashMap<String, VersionEntry>> = BTreeMap::new();
        let (mut objects, mut bytes) = (0, 0);
        for l in listing {
            let Some((module, version, ext)) = parse_key(&l.key) else { continue };
            objects += 1;
            bytes += l.size;
            let entry = modules.entry(module).or_default().entry(version.clone()).or_insert(VersionEntry {
                version,
                info: false,
                mod_size: None,
                zip_size: None,
                cached: l.modified,
            });
            entry.cached = entry.cached.max(l.modified);
            match ext {
                Ext::Info => entry.info = true,
                Ext::Mod => entry.mod_size = Some(l.size),
                Ext::Zip => entry.zip_size = Some(l.size),
            }
        }
        let modules = modules
            .into_iter()
            .map(|(m, versions)| {
                let mut v: Vec<VersionEntry> = versions.into_values().collect();
                v.sort_by(|a, b| gomod::semver::compare(&a.version, &b.version));
                (m, v)
            })
            .collect();
        Self { modules, objects, bytes }
    }

    /// The module paths that start with `prefix` and contain `q` (case-insensitively).
    pub fn search<'a>(&'a self, prefix: &'a str, q: &str) -> impl Iterator<Item = (&'a String, &'a Vec<VersionEntry>)> {
        let q = q.to_lowercase();
        self.modules
            .range(prefix.to_string()..)
            .take_while(move |(m, _)| m.starts_with(prefix))
            .filter(move |(m, _)| q.is_empty() || m.to_lowercase().contains(&q))
    }
}

type Reverse = HashMap<String, Vec<Dependent>>;

#[derive(Default)]
pub struct Catalog {
    index: Mutex<Option<(Instant, Arc<Index>)>>,
    reverse: Mutex<Option<(Instant, Arc<Reverse>)>>,
    /// One listing at a time; others wait for it.
    listing: tokio::sync::Mutex<()>,
}

impl Catalog {
    /// The index, listed again when older than a few seconds.
    pub async fn index(&self, objects: &dyn ObjectStore) -> io::Result<Arc<Index>> {
        let fresh = |slot: &Option<(Instant, Arc<Index>)>| {
            slot.as_ref().filter(|(at, _)| at.elapsed() < INDEX_AGE).map(|(_, i)| Arc::clone(i))
        };
        if let Some(i) = fresh(&self.index.lock().unwrap_or_else(|p| p.into_inner())) {
            return Ok(i);
        }
        let _one = self.listing.lock().await;
        if let Some(i) = fresh(&self.index.lock().unwrap_or_else(|p| p.into_inner())) {
            return Ok(i);
        }
        let index = Arc::new(Index::from_listing(objects.entries("").await?));
        *self.index.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), Arc::clone(&index)));
        Ok(index)
    }

    /// Forgets the listing (something was added or removed).
    pub fn invalidate(&self) {
        *self.index.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// The cached versions that require `module`, sorted.
    pub async fn dependents(&self, objects: &dyn ObjectStore, module: &str) -> io::Result<Vec<Dependent>> {
        let reverse = {
            let slot = self.reverse.lock().unwrap_or_else(|p| p.into_inner());
            slot.as_ref().filter(|(at, _)| at.elapsed() < DEPENDENTS_AGE).map(|(_, r)| Arc::clone(r))
        };
        let reverse = match reverse {
            Some(r) => r,
            None => {
                let r = Arc::new(self.read_reverse(objects).await?);
                *self.reverse.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), Arc::clone(&r)));
                r
            }
        };
        Ok(reverse.get(module).cloned().unwrap_or_default())
    }

    /// Reads every cached go.mod and inverts its requirements.
    async fn read_reverse(&self, objects: &dyn ObjectStore) -> io::Result<Reverse> {
        let index = self.index(objects).await?;
        let mut reverse = Reverse::new();
        for (module, versions) in &index.modules {
            for v in versions.iter().filter(|v| v.mod_size.is_some()) {
                let Some(req) =
                    crate::request::ModuleRequest::for_version(module, &v.version, crate::request::Endpoint::Mod)
                else {
                    continue;
                };
                let Some(data) = objects.read(req.rel(), gomod::limits::MAX_GO_MOD).await? else { continue };
                for (path, required) in gomod::modfile::requires(&data) {
                    reverse.entry(path).or_default().push((module.clone(), v.version.clone(), required));
                }
            }
        }
        for list in reverse.values_mut() {
            list.sort();
        }
        Ok(reverse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(key: &str, size: u64) -> Listed {
        Listed { key: key.into(), size, modified: SystemTime::UNIX_EPOCH }
    }

    #[test]
    fn store_keys_become_modules_and_versions() {
        let idx = Index::from_listing(vec![
            listed("github.com/!azure/sdk/@v/v1.10.0.zip", 1000),
            listed("github.com/!azure/sdk/@v/v1.10.0.mod", 20),
            listed("github.com/!azure/sdk/@v/v1.9.0.info", 50),
            listed("github.com/!azure/sdk/sub/@v/v0.1.0.mod", 10),
            listed("golang.org/x/text/@v/v0.3.0.mod", 30),
            listed("golang.org/x/text/@v/list", 30),
            listed("not/escaped/!!/@v/v1.0.0.mod", 30),
        ]);
        assert_eq!(idx.objects, 5);
        let azure = &idx.modules["github.com/Azure/sdk"];
        let versions: Vec<_> = azure.iter().map(|v| v.version.as_str()).collect();
        assert_eq!(versions, ["v1.9.0", "v1.10.0"], "semver order, not text order");
        assert_eq!(azure[1].size(), 1020);
        let found: Vec<_> = idx.search("github.com/Azure/", "").map(|(m, _)| m.as_str()).collect();
        assert_eq!(found, ["github.com/Azure/sdk", "github.com/Azure/sdk/sub"]);
        let found: Vec<_> = idx.search("", "TEXT").map(|(m, _)| m.as_str()).collect();
        assert_eq!(found, ["golang.org/x/text"]);
        assert_eq!(idx.search("github.com/Azure/", "sub").count(), 1);
    }
}
