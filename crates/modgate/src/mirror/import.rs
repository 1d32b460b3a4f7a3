//! `mirror import`: reads a bundle, checks every file of it before anything is committed — its
//! SHA-256 and size against the manifest, each go.mod's and zip's go.sum hash (the zip checked
//! in full by the module zip rules, its go.mod equal to the version's), each `.info` naming its
//! version, the go.sum equal to the manifest's — and refuses the whole bundle, naming the entry,
//! when one fails. Then it commits the objects create-only (an object already stored is left
//! as it is; a different one is reported) and adds the tagged versions to their modules' lists.
//! Importing a bundle twice changes nothing the second time.

use super::bundle::{self, Manifest, Progress};
use crate::store::{Commit, MetaStore, ObjectStore};
use futures::StreamExt;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What an import did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Imported {
    pub versions: usize,
    pub created: usize,
    pub already: usize,
    /// Objects the store already held with other bytes (the stored ones stand).
    pub conflicts: Vec<String>,
}

/// Reads and checks the bundle into `scratch`; returns its manifest and where each file is.
/// With `trusted` keys, the bundle must carry a signature by one of them over its manifest.
pub fn unpack(
    bundle_path: &Path,
    scratch: &Path,
    trusted: &[gomod::sumdb::note::Verifier],
) -> Result<(Manifest, HashMap<String, PathBuf>), String> {
    let file = std::fs::File::open(bundle_path).map_err(|e| format!("{}: {e}", bundle_path.display()))?;
    let mut tar = tar::Archive::new(std::io::BufReader::new(file));
    let mut entries = tar.entries().map_err(|e| format!("not a bundle: {e}"))?;
    let mut next = || -> Result<Option<tar::Entry<'_, _>>, String> {
        entries.next().transpose().map_err(|e| format!("the bundle is damaged: {e}"))
    };
    let raw = match next()? {
        Some(mut e) if e.path_bytes().as_ref() == bundle::MANIFEST.as_bytes() => read_small(&mut e, 256 << 20)?,
        _ => return Err(format!("not a bundle: the first entry is not {}", bundle::MANIFEST)),
    };
    let manifest: Manifest = serde_json::from_slice(&raw).map_err(|e| format!("{}: {e}", bundle::MANIFEST))?;
    if manifest.format != bundle::FORMAT {
        return Err(format!("{}: format {:?}, want {:?}", bundle::MANIFEST, manifest.format, bundle::FORMAT));
    }
    let mut second = next()?;
    let signature = match second.as_mut() {
        Some(e) if e.path_bytes().as_ref() == bundle::SIGNATURE.as_bytes() => {
            let sig = read_small(e, 64 << 10)?;
            second = next()?;
            Some(sig)
        }
        _ => None,
    };
    check_signature(&raw, signature.as_deref(), trusted)?;
    match second {
        Some(mut e) if e.path_bytes().as_ref() == bundle::GO_SUM.as_bytes() => {
            if read_small(&mut e, 256 << 20)? != manifest.go_sum().as_bytes() {
                return Err(format!("{}: differs from the hashes in {}", bundle::GO_SUM, bundle::MANIFEST));
            }
        }
        _ => return Err(format!("not a bundle: the second entry is not {}", bundle::GO_SUM)),
    }
    std::fs::create_dir_all(scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
    let mut found: HashMap<String, PathBuf> = HashMap::new();
    let progress = Progress::new("read", manifest.files().count());
    while let Some(mut e) = next()? {
        let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        let Some((_, want)) = manifest.file(&name) else { return Err(format!("{name}: not in the manifest")) };
        if found.contains_key(&name) {
            return Err(format!("{name}: twice in the bundle"));
        }
        progress.step(found.len() + 1, &name);
        let at = scratch.join(format!("{}", found.len()));
        let mut out = std::fs::File::create(&at).map_err(|e| format!("{}: {e}", at.display()))?;
        let (mut sha, mut size, mut buf) = (Sha256::new(), 0u64, vec![0u8; 64 << 10]);
        loop {
            let n = e.read(&mut buf).map_err(|e| format!("{name}: {e}"))?;
            if n == 0 {
                break;
            }
            sha.update(&buf[..n]);
            size += n as u64;
            out.write_all(&buf[..n]).map_err(|e| format!("{}: {e}", at.display()))?;
        }
        if size != want.size || hex::encode(sha.finalize()) != want.sha256 {
            return Err(format!("{name}: its bytes differ from the manifest's size and SHA-256 (tampered or damaged)"));
        }
        found.insert(name, at);
    }
    progress.finish();
    if let Some((_, f)) = manifest.files().find(|(_, f)| !found.contains_key(&f.name)) {
        return Err(format!("{}: in the manifest but not in the bundle", f.name));
    }
    check(&manifest, &found)?;
    Ok((manifest, found))
}

/// With trusted keys: a signature by one of them over exactly this manifest.
fn check_signature(
    manifest: &[u8],
    signature: Option<&[u8]>,
    trusted: &[gomod::sumdb::note::Verifier],
) -> Result<(), String> {
    if trusted.is_empty() {
        return Ok(());
    }
    let sig = signature
        .ok_or_else(|| format!("{}: the bundle is not signed, and a trusted key is required", bundle::SIGNATURE))?;
    let note = gomod::sumdb::note::open(sig, trusted)
        .map_err(|e| format!("{}: not signed by a trusted key ({e})", bundle::SIGNATURE))?;
    if note.text != bundle::signed_text(manifest) {
        return Err(format!("{}: signs another manifest than this one", bundle::SIGNATURE));
    }
    Ok(())
}

fn read_small(r: &mut impl Read, limit: u64) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    r.take(limit + 1).read_to_end(&mut out).map_err(|e| format!("the bundle is damaged: {e}"))?;
    if out.len() as u64 > limit {
        return Err("a bundle entry is too large".into());
    }
    Ok(out)
}

/// Every version's files against the go.sum hashes and the module rules.
fn check(manifest: &Manifest, found: &HashMap<String, PathBuf>) -> Result<(), String> {
    let progress = Progress::new("check", manifest.entries.len());
    for (i, e) in manifest.entries.iter().enumerate() {
        let at = format!("{}@{}", e.path, e.version);
        progress.step(i + 1, &at);
        gomod::path::check_canonical(&e.path, &e.version).map_err(|err| format!("{at}: {err}"))?;
        let named = |f: &bundle::File, ext| {
            (bundle::name(&e.path, &e.version, ext).as_deref() == Some(f.name.as_str()))
                .then_some(())
                .ok_or_else(|| format!("{}: not where {at}'s .{ext} belongs", f.name))
        };
        named(&e.go_mod, "mod")?;
        let go_mod = std::fs::read(&found[&e.go_mod.name]).map_err(|err| err.to_string())?;
        if e.go_mod.h1.as_deref() != Some(gomod::dirhash::hash_go_mod(&go_mod).as_str()) {
            return Err(format!("{}: its go.sum hash differs from the manifest's", e.go_mod.name));
        }
        if let Some(info) = &e.info {
            named(info, "info")?;
            let data = std::fs::read(&found[&info.name]).map_err(|err| err.to_string())?;
            if crate::proxy::info_version(&data).map_err(|err| format!("{}: {err}", info.name))? != e.version {
                return Err(format!("{}: does not name {}", info.name, e.version));
            }
        }
        if let Some(zip) = &e.zip {
            named(zip, "zip")?;
            let f = std::fs::File::open(&found[&zip.name]).map_err(|err| err.to_string())?;
            let checked =
                gomod::zipcheck::check_zip(f, &e.path, &e.version).map_err(|err| format!("{}: {err}", zip.name))?;
            if zip.h1.as_deref() != Some(checked.h1.as_str()) {
                return Err(format!("{}: its go.sum hash is {}, the manifest says {:?}", zip.name, checked.h1, zip.h1));
            }
            if checked.go_mod.is_some_and(|m| m != go_mod) {
                return Err(format!("{}: its go.mod differs from {}", zip.name, e.go_mod.name));
            }
        }
    }
    progress.finish();
    Ok(())
}

/// Commits every checked file, then adds the tagged versions to their modules' lists.
pub async fn commit(
    manifest: &Manifest,
    found: &HashMap<String, PathBuf>,
    objects: &Arc<dyn ObjectStore>,
    meta: &Arc<dyn MetaStore>,
) -> Result<Imported, String> {
    let mut done = Imported { versions: manifest.entries.len(), ..Default::default() };
    let files: Vec<_> = manifest.files().collect();
    let progress = Progress::new("commit", files.len());
    for (i, (_, f)) in files.iter().enumerate() {
        progress.step(i + 1, &f.name);
        let key = f.name.trim_start_matches("cache/");
        let mut staged = objects.stage().await.map_err(|e| format!("staging {key}: {e}"))?;
        let mut src = tokio::fs::File::open(&found[&f.name]).await.map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; 256 << 10];
        loop {
            let n = tokio::io::AsyncReadExt::read(&mut src, &mut buf).await.map_err(|e| e.to_string())?;
            if n == 0 {
                break;
            }
            staged.write(&buf[..n]).await.map_err(|e| format!("{key}: {e}"))?;
        }
        match staged.commit(key).await.map_err(|e| format!("{key}: {e}"))? {
            Commit::Created => done.created += 1,
            Commit::AlreadyExists if stored_sha256(objects, key).await?.as_deref() == Some(f.sha256.as_str()) => {
                done.already += 1
            }
            Commit::AlreadyExists => done.conflicts.push(key.to_string()),
        }
    }
    progress.finish();
    add_to_lists(manifest, meta).await?;
    Ok(done)
}

async fn stored_sha256(objects: &Arc<dyn ObjectStore>, key: &str) -> Result<Option<String>, String> {
    let Some(obj) = objects.open(key).await.map_err(|e| format!("{key}: {e}"))? else { return Ok(None) };
    let mut sha = Sha256::new();
    let mut body = obj.body.range(0, obj.len);
    while let Some(chunk) = body.next().await {
        sha.update(&chunk.map_err(|e| format!("{key}: {e}"))?);
    }
    Ok(Some(hex::encode(sha.finalize())))
}

/// Each module's list answer, with its tagged versions from the bundle added (an offline server
/// answers `list` from it).
async fn add_to_lists(manifest: &Manifest, meta: &Arc<dyn MetaStore>) -> Result<(), String> {
    let mut tagged: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for e in manifest.entries.iter().filter(|e| !gomod::pseudo::is_pseudo_version(&e.version)) {
        tagged.entry(e.path.as_str()).or_default().push(e.version.as_str());
    }
    for (module, versions) in tagged {
        let key = format!("{}/@v/list", gomod::path::escape_path(module).map_err(|e| e.to_string())?);
        let before = meta.answer(&key).await.map_err(|e| format!("{key}: {e}"))?;
        let mut all: Vec<String> = before
            .map(|(d, _)| String::from_utf8_lossy(&d).split_whitespace().map(str::to_string).collect())
            .unwrap_or_default();
        let grew = versions.iter().any(|v| !all.iter().any(|a| a == v));
        if !grew {
            continue;
        }
        all.extend(versions.iter().map(|v| v.to_string()));
        all.sort_by(|a, b| gomod::semver::compare(a, b));
        all.dedup();
        let text: String = all.iter().map(|v| format!("{v}\n")).collect();
        meta.put_answer(&key, text.as_bytes()).await.map_err(|e| format!("{key}: {e}"))?;
    }
    Ok(())
}
