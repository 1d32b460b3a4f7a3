//! The jobs: warming the cache with what a go.sum, go.mod or go.work says a build needs, and
//! re-verifying cached versions. Both run in the background, a few items at a time, through
//! the module service (so routes, access to sources, checks and single flight all apply).

use super::jobs::{Job, JobView};
use super::ledger::{Record, State};
use super::Admin;
use crate::errors::ServeError;
use crate::proxy::{ModuleService, Reply};
use crate::request::{Endpoint, ModuleRequest};
use futures::StreamExt;
use gomod::gosum::{self, GraphWalk, Kind, Needed};
use std::collections::HashMap;
use std::sync::Arc;

/// Items a job works on at once.
const AT_ONCE: usize = 4;

/// go.sum hashes by `(module, version, go.mod only)`.
type Sums = HashMap<(String, String, bool), String>;

impl Admin {
    /// Starts warming the cache from a go.sum, go.mod or go.work (`name` picks the kind when
    /// given, else the text does); refused when the file does not parse.
    pub fn warm(
        self: &Arc<Self>,
        modules: &Arc<ModuleService>,
        by: &str,
        name: Option<&str>,
        text: &str,
    ) -> Result<JobView, String> {
        let kind = Kind::of(name, text);
        let needed = gosum::needed(kind, text).map_err(|e| format!("{}: {e}", name.unwrap_or("the file")))?;
        if needed.is_empty() {
            let hint = if kind == Kind::Work {
                " (a go.work's use lines are local directories: send its go.work.sum)"
            } else {
                ""
            };
            return Err(format!("{}: names no module version{hint}", name.unwrap_or("the file")));
        }
        let sums: Sums = match kind {
            Kind::Sum => gosum::parse_sum(text)
                .map_err(|e| e.to_string())?
                .into_iter()
                .map(|l| ((l.path, l.version, l.go_mod), l.hash))
                .collect(),
            _ => Sums::new(),
        };
        let job = self.jobs.start("warm", by, needed.len() as u64);
        let view = job.view();
        let (me, modules) = (Arc::clone(self), Arc::clone(modules));
        tokio::spawn(async move {
            // A go.sum names every version; a go.mod or go.work names the roots of a graph.
            let needed = match kind {
                Kind::Sum => needed,
                _ => walk_graph(&modules, &job, needed).await,
            };
            futures::stream::iter(needed)
                .for_each_concurrent(AT_ONCE, |n| {
                    let (me, modules, job, sums) = (&me, &modules, &job, &sums);
                    async move { job.item(me.warm_one(modules, &n, sums).await.err()) }
                })
                .await;
            me.catalog.invalidate();
            job.finish();
        });
        Ok(view)
    }

    /// Fetches one version's go.mod (and zip), comparing their hashes with the go.sum's.
    async fn warm_one(&self, modules: &Arc<ModuleService>, n: &Needed, sums: &Sums) -> Result<(), String> {
        let at = format!("{}@{}", n.path, n.version);
        let (mod_req, go_mod) = go_mod_of(modules, &n.path, &n.version).await?;
        let key = |go_mod| (n.path.clone(), n.version.clone(), go_mod);
        if let Some(want) = sums.get(&key(true)) {
            let have = gomod::dirhash::hash_go_mod(&go_mod);
            if *want != have {
                return Err(format!("{at}/go.mod: go.sum has {want}, the cache has {have}"));
            }
        }
        if !n.zip {
            return Ok(());
        }
        let zip_req = mod_req.with_endpoint(Endpoint::Zip);
        modules.serve(&zip_req, false).await.map_err(|e| e.to_string())?;
        if let Some(want) = sums.get(&key(false)) {
            let have = match self.ledger.get(&n.path, &n.version).and_then(|r| r.zip_h1) {
                Some(h) => h,
                None => modules.reverify(&n.path, &n.version).await.map_err(|e| e.to_string())?.0.unwrap_or_default(),
            };
            if *want != have {
                return Err(format!("{at}: go.sum has {want}, the cache has {have}"));
            }
        }
        Ok(())
    }
}

/// A version's go.mod, through the module service (cached, or filled and checked).
async fn go_mod_of(
    modules: &Arc<ModuleService>,
    path: &str,
    version: &str,
) -> Result<(ModuleRequest, Vec<u8>), String> {
    let at = format!("{path}@{version}");
    let req = ModuleRequest::for_version(path, version, Endpoint::Mod)
        .ok_or_else(|| format!("{at}: not a canonical version"))?;
    let data = match modules.serve(&req, false).await.map_err(|e| e.to_string())? {
        Reply::Memory { obj, .. } => obj.data.to_vec(),
        Reply::Object { obj, .. } => {
            obj.body.read_all(gomod::limits::MAX_GO_MOD).await.map_err(|e| format!("{at}: {e}"))?
        }
        _ => return Err(format!("{at}: unexpected answer for a go.mod")),
    };
    Ok((req, data))
}

/// Reads the go.mod of every version of the graph from `roots` (each an item of the job) and
/// returns the build list: the highest version of each module, whose zips the build needs.
async fn walk_graph(modules: &Arc<ModuleService>, job: &Job, roots: Vec<Needed>) -> Vec<Needed> {
    let mut walk = GraphWalk::from_roots(roots.into_iter().map(|n| (n.path, n.version)));
    while let Some((path, version)) = walk.next_version() {
        match go_mod_of(modules, &path, &version).await {
            Ok((_, data)) => {
                walk.read(&data);
                job.item(None);
            }
            Err(e) => {
                walk.skip();
                job.item(Some(e));
            }
        }
        job.total.store(walk.versions().count() as u64, std::sync::atomic::Ordering::Relaxed);
    }
    let list: Vec<Needed> =
        walk.build_list().into_iter().map(|(path, version)| Needed { path, version, zip: true }).collect();
    job.total.fetch_add(list.len() as u64, std::sync::atomic::Ordering::Relaxed);
    list
}

impl Admin {
    /// Re-verifies one cached version now and records the outcome in the ledger.
    pub async fn reverify_one(
        &self,
        modules: &ModuleService,
        module: &str,
        version: &str,
    ) -> Result<Record, ServeError> {
        let before = self.ledger.get(module, version);
        let outcome = match modules.reverify(module, version).await {
            Err(e @ ServeError::BadRequest(_)) => return Err(e),
            o => o,
        };
        let mut rec = before.clone().unwrap_or(Record {
            module: module.to_string(),
            version: version.to_string(),
            zip_h1: None,
            mod_h1: None,
            committed: None,
            state: State::VerifiedAtFill,
            checked: None,
            detail: None,
        });
        rec.checked = Some(crate::time::now_rfc3339());
        match outcome {
            Ok((None, None)) => return Err(ServeError::not_found(format!("{module}@{version}: not cached"))),
            Ok((zip, md)) => {
                let differs = |kept: &Option<String>, now: &Option<String>, what: &str| match (kept, now) {
                    (Some(k), Some(n)) if k != n => Some(format!("{what}: recorded {k}, stored now {n}")),
                    _ => None,
                };
                let diffs: Vec<String> = [differs(&rec.zip_h1, &zip, "zip"), differs(&rec.mod_h1, &md, "go.mod")]
                    .into_iter()
                    .flatten()
                    .collect();
                if diffs.is_empty() {
                    rec.state = State::Reverified;
                    rec.detail = Some(format!(
                        "zip {}, go.mod {}; the checksum checks agree",
                        zip.as_deref().unwrap_or("not cached"),
                        md.as_deref().unwrap_or("not cached")
                    ));
                    rec.zip_h1 = rec.zip_h1.or(zip);
                    rec.mod_h1 = rec.mod_h1.or(md);
                } else {
                    rec.state = State::Mismatch;
                    rec.detail = Some(diffs.join("; "));
                }
            }
            Err(e) => {
                rec.state = State::Mismatch;
                rec.detail = Some(e.to_string());
            }
        }
        self.ledger.put(rec.clone());
        Ok(rec)
    }

    /// Starts re-verifying every cached version.
    pub async fn reverify_all(self: &Arc<Self>, modules: &Arc<ModuleService>, by: &str) -> Result<JobView, ServeError> {
        let index = self.catalog.index(modules.objects().as_ref()).await?;
        let versions: Vec<(String, String)> = index
            .modules
            .iter()
            .flat_map(|(m, vs)| {
                vs.iter()
                    .filter(|v| v.zip_size.is_some() || v.mod_size.is_some())
                    .map(|v| (m.clone(), v.version.clone()))
            })
            .collect();
        let job = self.jobs.start("verify", by, versions.len() as u64);
        let view = job.view();
        let (me, modules) = (Arc::clone(self), Arc::clone(modules));
        tokio::spawn(async move {
            futures::stream::iter(versions)
                .for_each_concurrent(AT_ONCE / 2, |(m, v)| {
                    let (me, modules, job): (&Arc<Admin>, &Arc<ModuleService>, &Arc<Job>) = (&me, &modules, &job);
                    async move {
                        let problem = match me.reverify_one(modules, &m, &v).await {
                            Ok(r) if r.state == State::Mismatch => {
                                Some(format!("{m}@{v}: {}", r.detail.unwrap_or_default()))
                            }
                            Ok(_) => None,
                            Err(e) => Some(format!("{m}@{v}: {e}")),
                        };
                        job.item(problem);
                    }
                })
                .await;
            job.finish();
        });
        Ok(view)
    }
}
