//! `mirror export`: fetches what a build needs from a module proxy (modgate, another proxy, or a
//! directory in GOPROXY layout), checks it as a fill would (zips in full, hashes against a
//! go.sum when one was given), and writes the bundle. Objects are staged on disk, never held
//! whole in memory.

use super::bundle::{self, Entry, File, Manifest, Progress};
use crate::request::{Endpoint, ModuleRequest};
use crate::source::SharedSource;
use gomod::gosum::{GraphWalk, Needed};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap};
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
    wanted: Wanted,
    scratch: &Path,
    out: &Path,
    signer: Option<&gomod::sumdb::note::Signer>,
) -> Result<Manifest, String> {
    std::fs::create_dir_all(scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
    let mut entries: BTreeMap<(String, String), Entry> = BTreeMap::new();
    let mut zips: BTreeSet<(String, String)> =
        wanted.needed.iter().filter(|n| n.zip).map(|n| (n.path.clone(), n.version.clone())).collect();
    // Every go.mod named (with `walk`, every go.mod of their graph), then the zips.
    let mut walk = GraphWalk::from_roots(wanted.needed.iter().map(|n| (n.path.clone(), n.version.clone())));
    let mut read = 0;
    while let Some((path, version)) = walk.next_version() {
        read += 1;
        Progress::new("export go.mod", walk.versions().count()).step(read, &format!("{path}@{version}"));
        let entry = fetch_version(&source, &path, &version, &wanted.sums, scratch).await?;
        if wanted.walk {
            let go_mod = std::fs::read(scratch.join(&entry.go_mod.name)).map_err(|e| e.to_string())?;
            walk.read(&go_mod);
        } else {
            walk.skip();
        }
        entries.insert((path, version), entry);
    }
    if wanted.walk {
        zips.extend(walk.build_list());
    }
    let progress = Progress::new("export zip", zips.len());
    for (i, key) in zips.into_iter().enumerate() {
        progress.step(i + 1, &format!("{}@{}", key.0, key.1));
        if !entries.contains_key(&key) {
            let entry = fetch_version(&source, &key.0, &key.1, &wanted.sums, scratch).await?;
            entries.insert(key.clone(), entry);
        }
        let zip = fetch_zip(&source, &key.0, &key.1, &wanted.sums, scratch).await?;
        if let Some(e) = entries.get_mut(&key) {
            e.zip = Some(zip);
        }
    }
    progress.finish();
    let manifest = Manifest {
        format: bundle::FORMAT.into(),
        created: crate::time::now_rfc3339(),
        entries: entries.into_values().collect(),
    };
    write_tar(&manifest, signer, scratch, out)?;
    Ok(manifest)
}

/// A version's go.mod (hashed, checked against the go.sum) and `.info` (naming the version).
async fn fetch_version(
    source: &SharedSource,
    path: &str,
    version: &str,
    sums: &Sums,
    scratch: &Path,
) -> Result<Entry, String> {
    let at = format!("{path}@{version}");
    let req = ModuleRequest::for_version(path, version, Endpoint::Mod)
        .ok_or_else(|| format!("{at}: not a canonical version"))?;
    let go_mod = fetch_small(source, &req, gomod::limits::MAX_GO_MOD).await?;
    let h1 = gomod::dirhash::hash_go_mod(&go_mod);
    if let Some(want) = sums.get(&(path.to_string(), version.to_string(), true)) {
        if *want != h1 {
            return Err(format!("{at}/go.mod: the go.sum has {want}, the proxy sent {h1}"));
        }
    }
    let go_mod = save(scratch, path, version, "mod", &go_mod, Some(h1))?;
    let data = fetch_small(source, &req.with_endpoint(Endpoint::Info), 64 << 10).await?;
    let named = crate::proxy::info_version(&data).map_err(|e| format!("{at}.info: {e}"))?;
    if named != version {
        return Err(format!("{at}: the .info names {named:?}"));
    }
    let info = Some(save(scratch, path, version, "info", &data, None)?);
    Ok(Entry { path: path.to_string(), version: version.to_string(), info, go_mod, zip: None })
}

/// A small object, whole.
async fn fetch_small(source: &SharedSource, req: &ModuleRequest, limit: u64) -> Result<bytes::Bytes, String> {
    let body = source.fetch(req).await.map_err(|e| format!("{}: {}", req.display(), e.reason()))?;
    body.collect(limit).await.map_err(|e| format!("{}: {}", req.display(), e.reason()))
}

/// A zip, streamed to disk, then checked in full and hashed.
async fn fetch_zip(
    source: &SharedSource,
    path: &str,
    version: &str,
    sums: &Sums,
    scratch: &Path,
) -> Result<File, String> {
    let at = format!("{path}@{version}");
    let req = ModuleRequest::for_version(path, version, Endpoint::Zip)
        .ok_or_else(|| format!("{at}: not a canonical version"))?;
    let name = bundle::name(path, version, "zip").ok_or_else(|| format!("{at}: cannot be escaped"))?;
    let staged = scratch.join(&name);
    create_parent(&staged)?;
    let mut file = std::fs::File::create(&staged).map_err(|e| format!("{}: {e}", staged.display()))?;
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
        file.write_all(&chunk).map_err(|e| format!("{}: {e}", staged.display()))?;
    }
    drop(file);
    let f = std::fs::File::open(&staged).map_err(|e| format!("{}: {e}", staged.display()))?;
    let checked = gomod::zipcheck::check_zip(f, path, version).map_err(|e| format!("{at}.zip: {e}"))?;
    if let Some(want) = sums.get(&(path.to_string(), version.to_string(), false)) {
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
