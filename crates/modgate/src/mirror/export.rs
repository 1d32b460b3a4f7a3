//! `mirror export`: fetches what a build needs from a module proxy (modgate, another proxy, or a
//! directory in GOPROXY layout), checks it as a fill would (zips in full, hashes against a
//! go.sum when one was given), and writes the bundle. Objects are staged on disk, never held
//! whole in memory.

use super::bundle::{self, Entry, File, Manifest, Progress};
use crate::request::{Endpoint, ModuleRequest};
use crate::source::SharedSource;
use gomod::gosum::Needed;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

/// go.sum hashes by `(module, version, go.mod only)`.
pub type Sums = HashMap<(String, String, bool), String>;

/// What to export.
pub struct Wanted {
    pub needed: Vec<Needed>,
    pub sums: Sums,
    /// Walk the requirements of every go.mod fetched: every go.mod of the graph, and the zip
    /// of the highest version of each module (its build list, by minimal version selection).
    pub walk: bool,
}

/// Fetches every version `wanted` names from `source`, staging under `scratch`, and writes the
/// bundle to `out`, signed by `signer` when given. Returns the manifest written.
pub async fn export(
    source: SharedSource,
    mut wanted: Wanted,
    scratch: &Path,
    out: &Path,
    signer: Option<&gomod::sumdb::note::Signer>,
) -> Result<Manifest, String> {
    std::fs::create_dir_all(scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
    let mut entries: BTreeMap<(String, String), Entry> = BTreeMap::new();
    let mut queue = std::mem::take(&mut wanted.needed);
    let mut highest: BTreeMap<String, String> = BTreeMap::new();
    let mut progress_total = queue.len();
    let mut done = 0;
    while let Some(n) = queue.pop() {
        let key = (n.path.clone(), n.version.clone());
        let have_zip = entries.get(&key).is_some_and(|e| e.zip.is_some());
        if entries.contains_key(&key) && (have_zip || !n.zip) {
            continue;
        }
        done += 1;
        Progress::new("export", progress_total).step(done, &format!("{}@{}", n.path, n.version));
        if !entries.contains_key(&key) {
            let entry = fetch_version(&source, &n, &wanted.sums, scratch).await?;
            if wanted.walk {
                let go_mod = std::fs::read(scratch.join(&entry.go_mod.name)).map_err(|e| e.to_string())?;
                for (p, v) in gomod::modfile::requires(&go_mod) {
                    let up = highest.get(&p).is_none_or(|h| gomod::semver::compare(&v, h).is_gt());
                    if up {
                        highest.insert(p.clone(), v.clone());
                    }
                    queue.push(Needed { path: p, version: v, zip: false });
                    progress_total += 1;
                }
            }
            entries.insert(key.clone(), entry);
        }
        if n.zip {
            let zip = fetch_zip(&source, &n, &wanted.sums, scratch).await?;
            if let Some(e) = entries.get_mut(&key) {
                e.zip = Some(zip);
            }
        }
        if wanted.walk && queue.is_empty() {
            // The build list: the highest version of every module the graph names, zipped.
            for (p, v) in std::mem::take(&mut highest) {
                if entries.get(&(p.clone(), v.clone())).is_none_or(|e| e.zip.is_none()) {
                    queue.push(Needed { path: p, version: v, zip: true });
                    progress_total += 1;
                }
            }
        }
    }
    Progress::new("export", 0).finish();
    let manifest = Manifest {
        format: bundle::FORMAT.into(),
        created: crate::time::now_rfc3339(),
        entries: entries.into_values().collect(),
    };
    write_tar(&manifest, signer, scratch, out)?;
    Ok(manifest)
}

/// A version's go.mod (hashed, checked against the go.sum) and `.info` (naming the version).
async fn fetch_version(source: &SharedSource, n: &Needed, sums: &Sums, scratch: &Path) -> Result<Entry, String> {
    let at = format!("{}@{}", n.path, n.version);
    let req = ModuleRequest::for_version(&n.path, &n.version, Endpoint::Mod)
        .ok_or_else(|| format!("{at}: not a canonical version"))?;
    let go_mod = fetch_small(source, &req, gomod::limits::MAX_GO_MOD).await?;
    let h1 = gomod::dirhash::hash_go_mod(&go_mod);
    if let Some(want) = sums.get(&(n.path.clone(), n.version.clone(), true)) {
        if *want != h1 {
            return Err(format!("{at}/go.mod: the go.sum has {want}, the proxy sent {h1}"));
        }
    }
    let go_mod = save(scratch, &n.path, &n.version, "mod", &go_mod, Some(h1))?;
    let data = fetch_small(source, &req.with_endpoint(Endpoint::Info), 64 << 10).await?;
    let named = serde_json::from_slice::<serde_json::Value>(&data)
        .ok()
        .and_then(|v| v.get("Version").and_then(|v| v.as_str()).map(str::to_string));
    if named.as_deref() != Some(n.version.as_str()) {
        return Err(format!("{at}: the .info names {named:?}"));
    }
    let info = Some(save(scratch, &n.path, &n.version, "info", &data, None)?);
    Ok(Entry { path: n.path.clone(), version: n.version.clone(), info, go_mod, zip: None })
}

/// A small object, whole.
async fn fetch_small(source: &SharedSource, req: &ModuleRequest, limit: u64) -> Result<Vec<u8>, String> {
    let mut body = source.fetch(req).await.map_err(|e| format!("{}: {}", req.display(), e.reason()))?;
    let mut out = Vec::new();
    while let Some(chunk) = body.next_chunk().await.map_err(|e| format!("{}: {}", req.display(), e.reason()))? {
        out.extend_from_slice(&chunk);
        if out.len() as u64 > limit {
            return Err(format!("{}: larger than {limit} bytes", req.display()));
        }
    }
    Ok(out)
}

/// A zip, streamed to disk, then checked in full and hashed.
async fn fetch_zip(source: &SharedSource, n: &Needed, sums: &Sums, scratch: &Path) -> Result<File, String> {
    let at = format!("{}@{}", n.path, n.version);
    let req = ModuleRequest::for_version(&n.path, &n.version, Endpoint::Zip)
        .ok_or_else(|| format!("{at}: not a canonical version"))?;
    let name = bundle::name(&n.path, &n.version, "zip").ok_or_else(|| format!("{at}: cannot be escaped"))?;
    let path = scratch.join(&name);
    create_parent(&path)?;
    let mut file = std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut body = source.fetch(&req).await.map_err(|e| format!("{at}.zip: {}", e.reason()))?;
    let (mut sha, mut size) = (Sha256::new(), 0u64);
    while let Some(chunk) = body.next_chunk().await.map_err(|e| format!("{at}.zip: {}", e.reason()))? {
        sha.update(&chunk);
        size += chunk.len() as u64;
        if size > gomod::limits::MAX_ZIP_FILE {
            return Err(format!(
                "{at}.zip: larger than the go command accepts ({} bytes)",
                gomod::limits::MAX_ZIP_FILE
            ));
        }
        file.write_all(&chunk).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    drop(file);
    let f = std::fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let checked = gomod::zipcheck::check_zip(f, &n.path, &n.version).map_err(|e| format!("{at}.zip: {e}"))?;
    if let Some(want) = sums.get(&(n.path.clone(), n.version.clone(), false)) {
        if *want != checked.h1 {
            return Err(format!("{at}: the go.sum has {want}, the proxy sent a zip hashing to {}", checked.h1));
        }
    }
    Ok(File { name, size, sha256: hex::encode(sha.finalize()), h1: Some(checked.h1) })
}

fn create_parent(path: &Path) -> Result<(), String> {
    match path.parent() {
        Some(dir) => std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display())),
        None => Ok(()),
    }
}

fn save(
    scratch: &Path,
    module: &str,
    version: &str,
    ext: &str,
    data: &[u8],
    h1: Option<String>,
) -> Result<File, String> {
    let name = bundle::name(module, version, ext).ok_or_else(|| format!("{module}@{version}: cannot be escaped"))?;
    let path: PathBuf = scratch.join(&name);
    create_parent(&path)?;
    std::fs::write(&path, data).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(File { name, size: data.len() as u64, sha256: hex::encode(Sha256::digest(data)), h1 })
}

/// The tar: the manifest, the go.sum, then every file from `scratch` (written to a temporary
/// name beside `out`, renamed over it when whole).
fn write_tar(
    manifest: &Manifest,
    signer: Option<&gomod::sumdb::note::Signer>,
    scratch: &Path,
    out: &Path,
) -> Result<(), String> {
    let err = |e: std::io::Error| format!("{}: {e}", out.display());
    let tmp = out.with_extension("partial");
    let file = std::fs::File::create(&tmp).map_err(err)?;
    let mut tar = tar::Builder::new(std::io::BufWriter::new(file));
    let json = serde_json::to_vec_pretty(manifest).map_err(|e| e.to_string())?;
    append(&mut tar, bundle::MANIFEST, json.len() as u64, json.as_slice()).map_err(err)?;
    if let Some(signer) = signer {
        let sig = signer.sign(&bundle::signed_text(&json)).map_err(|e| format!("signing the manifest: {e}"))?;
        append(&mut tar, bundle::SIGNATURE, sig.len() as u64, sig.as_slice()).map_err(err)?;
    }
    let sum = manifest.go_sum();
    append(&mut tar, bundle::GO_SUM, sum.len() as u64, sum.as_bytes()).map_err(err)?;
    let files: Vec<&File> = manifest.files().map(|(_, f)| f).collect();
    let progress = Progress::new("bundle", files.len());
    for (i, f) in files.iter().enumerate() {
        progress.step(i + 1, &f.name);
        let data = std::fs::File::open(scratch.join(&f.name)).map_err(err)?;
        append(&mut tar, &f.name, f.size, data).map_err(err)?;
    }
    progress.finish();
    let w = tar.into_inner().map_err(err)?;
    let file = w.into_inner().map_err(|e| err(e.into_error()))?;
    file.sync_all().map_err(err)?;
    std::fs::rename(&tmp, out).map_err(err)
}

fn append<W: Write, R: std::io::Read>(
    tar: &mut tar::Builder<W>,
    name: &str,
    size: u64,
    data: R,
) -> std::io::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut h, name, data)
}
