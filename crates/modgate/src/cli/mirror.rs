//! `modgate mirror export|import`: carrying modules into a network with no connection.
//!
//! - `export --out B [--proxy LIST] [--file go.sum|go.mod|go.work]... [--list F] [--cache DIR]
//!   [MODULE@VERSION]...` fetches what those name (a go.mod's or a module's whole requirement
//!   graph; a go.sum's lines exactly; a cache's every version) and writes the bundle.
//! - `import B [--trust VKEY]... [--config F] [--data-dir D]` checks the whole bundle (and,
//!   with trusted keys, its signature), then commits it into the store the configuration names.
//! - `keygen --name N --out F` makes a key pair for signing bundles (`export --sign F`).
//!
//! Progress shows on a terminal; in a pipe only the summary line is printed.

use super::serve::ServeArgs;
use gomod::gosum::{self, Kind, Needed};
use modgate::mirror::{bundle, export, import};
use std::path::{Path, PathBuf};

#[derive(clap::Subcommand)]
pub enum MirrorCommand {
    /// Write a bundle of modules for an air-gapped modgate.
    Export(ExportArgs),
    /// Check a bundle and commit it into this modgate's store.
    Import(ImportArgs),
    /// Make a key for signing bundles: the signer key goes to --out (readable by its owner
    /// only), the verifier key (for `import --trust`) is printed.
    Keygen {
        /// A name for the key (shown in signatures), e.g. corp-mirror.
        #[arg(long)]
        name: String,
        /// Where the signer key goes.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(clap::Args)]
pub struct ExportArgs {
    /// Module versions (`path@version`); each with its whole requirement graph.
    modules: Vec<String>,
    /// Where the bundle goes.
    #[arg(long)]
    out: PathBuf,
    /// Where to fetch from, in GOPROXY syntax (URLs and file:// directories).
    #[arg(long, env = "MODGATE_EXPORT_PROXY", default_value = "http://127.0.0.1:8080")]
    proxy: String,
    /// go.sum, go.work.sum, go.mod or go.work files (repeatable).
    #[arg(long = "file")]
    files: Vec<PathBuf>,
    /// A file of `path@version` lines.
    #[arg(long)]
    list: Option<PathBuf>,
    /// A whole cache: a modgate data directory (its `cache/`) or any directory in GOPROXY
    /// layout; its objects are read from there.
    #[arg(long)]
    cache: Option<PathBuf>,
    /// Every version the modgate at --proxy has cached (read from its admin API's catalog, with
    /// --key): a whole cache, wherever it is stored.
    #[arg(long)]
    all: bool,
    /// An API key of an admin group (for --all).
    #[arg(long, env = "MODGATE_KEY", hide_env_values = true)]
    key: Option<String>,
    /// Sign the bundle with this signer key (`mirror keygen`).
    #[arg(long)]
    sign: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct ImportArgs {
    /// The bundle.
    bundle: PathBuf,
    /// Accept only a bundle signed by this verifier key (repeatable; `mirror keygen` prints it).
    #[arg(long, env = "MODGATE_MIRROR_TRUST", value_delimiter = ',')]
    trust: Vec<String>,
    #[command(flatten)]
    serve: ServeArgs,
}

pub fn run(c: MirrorCommand) -> Result<String, String> {
    match c {
        MirrorCommand::Export(a) => run_export(a),
        MirrorCommand::Import(a) => run_import(a),
        MirrorCommand::Keygen { name, out } => keygen(&name, &out),
    }
}

fn keygen(name: &str, out: &Path) -> Result<String, String> {
    let (skey, vkey) = gomod::sumdb::note::Signer::generate(name).map_err(|e| format!("--name {name:?}: {e}"))?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(out).map_err(|e| format!("{}: {e}", out.display()))?;
    std::io::Write::write_all(&mut f, format!("{skey}\n").as_bytes()).map_err(|e| format!("{}: {e}", out.display()))?;
    eprintln!("modgate: signer key written to {}; import with --trust the key below", out.display());
    Ok(vkey)
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().map_err(|e| e.to_string())
}

/// A scratch directory beside `near`, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn beside(near: &Path, what: &str) -> Self {
        let name =
            format!(".{}.{what}-{}", near.file_name().and_then(|n| n.to_str()).unwrap_or("bundle"), std::process::id());
        Self(near.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).join(name))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run_export(a: ExportArgs) -> Result<String, String> {
    let mut wanted = export::Wanted { needed: Vec::new(), sums: Default::default(), walk: false };
    for f in &a.files {
        let text = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
        let kind = Kind::of(f.to_str(), &text);
        wanted.needed.extend(gosum::needed(kind, &text).map_err(|e| format!("{}: {e}", f.display()))?);
        match kind {
            Kind::Sum => {
                for l in gosum::parse_sum(&text).map_err(|e| format!("{}: {e}", f.display()))? {
                    wanted.sums.insert((l.path, l.version, l.go_mod), l.hash);
                }
            }
            _ => wanted.walk = true,
        }
    }
    let mut named = a.modules.clone();
    if let Some(l) = &a.list {
        let text = std::fs::read_to_string(l).map_err(|e| format!("{}: {e}", l.display()))?;
        named.extend(text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_string));
    }
    for m in named {
        let (path, version) = m.split_once('@').ok_or_else(|| format!("{m}: want path@version"))?;
        gomod::path::check_canonical(path, version).map_err(|e| format!("{m}: {e}"))?;
        wanted.needed.push(Needed { path: path.into(), version: version.into(), zip: true });
        wanted.walk = true;
    }
    let mut proxy = a.proxy.clone();
    if let Some(dir) = &a.cache {
        let root = if dir.join("cache").is_dir() { dir.join("cache") } else { dir.clone() };
        wanted.needed.extend(cached_versions(&root)?);
        let root = std::fs::canonicalize(&root).map_err(|e| format!("{}: {e}", root.display()))?;
        proxy = format!("file://{}", root.display());
    }
    let rt = runtime()?;
    if a.all {
        let catalog = rt.block_on(catalog(&proxy, a.key.as_deref()))?;
        wanted.needed.extend(catalog);
    }
    if wanted.needed.is_empty() {
        return Err("nothing to export: name modules, --file, --list, --cache or --all".into());
    }
    let specs = gomod::proxylist::parse(&proxy).map_err(|e| format!("--proxy {proxy:?}: {e}"))?;
    let signer = match &a.sign {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| format!("--sign {}: {e}", p.display()))?;
            Some(gomod::sumdb::note::Signer::parse(text.trim()).map_err(|e| format!("--sign {}: {e}", p.display()))?)
        }
        None => None,
    };
    let scratch = Scratch::beside(&a.out, "export");
    let manifest = rt.block_on(async {
        let http = std::sync::Arc::new(super::client(std::time::Duration::from_secs(300)));
        let source = std::sync::Arc::new(modgate::source::list::Chain::build(&specs, &http, None, &[]));
        export::export(source, wanted, &scratch.0, &a.out, signer.as_ref()).await
    })?;
    let zips = manifest.entries.iter().filter(|e| e.zip.is_some()).count();
    Ok(format!("exported {} versions ({zips} zips) to {}", manifest.entries.len(), a.out.display()))
}

/// Every version a modgate has cached, page by page from its admin API's catalog (a go.mod
/// for each, the zip where one is cached).
async fn catalog(server: &str, key: Option<&str>) -> Result<Vec<Needed>, String> {
    let client = super::client(std::time::Duration::from_secs(300));
    let headers: Vec<(&str, String)> = key.iter().map(|k| ("x-api-key", k.to_string())).collect();
    let mut out = Vec::new();
    for page in 1.. {
        let url = format!("{}/-/admin/catalog?per_page=500&page={page}", server.trim_end_matches('/'));
        let (status, body) = client
            .call("GET", &url, bytes::Bytes::new(), &headers, 256 << 20)
            .await
            .map_err(|e| e.reason().to_string())?;
        if status != 200 {
            return Err(format!("--all: {url}: {status}: {}", String::from_utf8_lossy(&body).trim()));
        }
        let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| format!("--all: {url}: {e}"))?;
        let modules = v["modules"].as_array().cloned().unwrap_or_default();
        for m in &modules {
            let path = m["path"].as_str().unwrap_or_default();
            for ver in m["versions"].as_array().into_iter().flatten().filter(|x| x["mod"] == true) {
                let version = ver["version"].as_str().unwrap_or_default();
                out.push(Needed { path: path.into(), version: version.into(), zip: ver["zip"] == true });
            }
        }
        if modules.is_empty() || (page * 500) as u64 >= v["total"].as_u64().unwrap_or(0) {
            break;
        }
    }
    Ok(out)
}

/// Every version under a GOPROXY-layout directory that has a go.mod (with its zip if there).
fn cached_versions(root: &Path) -> Result<Vec<Needed>, String> {
    let keys = modgate::store::local::list_under(root, "").map_err(|e| format!("{}: {e}", root.display()))?;
    let zips: std::collections::HashSet<&str> = keys.iter().filter_map(|k| k.strip_suffix(".zip")).collect();
    Ok(keys
        .iter()
        .filter_map(|k| {
            let (module, version, ext) = modgate::admin::catalog::parse_key(k)?;
            let zip = zips.contains(k.strip_suffix(".mod")?);
            (ext == modgate::admin::catalog::Ext::Mod).then_some(Needed { path: module, version, zip })
        })
        .collect())
}

fn run_import(a: ImportArgs) -> Result<String, String> {
    let cfg = a.serve.load()?;
    let rt = runtime()?;
    let scratch = Scratch::beside(&a.bundle, "import");
    let trusted = a
        .trust
        .iter()
        .map(|k| gomod::sumdb::note::Verifier::parse(k.trim()).map_err(|e| format!("--trust {k:?}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let (manifest, found) = import::unpack(&a.bundle, &scratch.0.join("files"), &trusted)
        .map_err(|e| format!("{}: refused: {e}; nothing was imported", a.bundle.display()))?;
    let done = rt.block_on(async {
        let (objects, meta) = modgate::mirror::stores(&cfg, &scratch.0.join("stage"))?;
        import::commit(&manifest, &found, &objects, &meta).await
    })?;
    let mut msg = format!(
        "imported {} versions from {}: {} objects added, {} already there",
        done.versions,
        a.bundle.display(),
        done.created,
        done.already
    );
    if !done.conflicts.is_empty() {
        return Err(format!("{msg}; the store already holds different bytes for: {}", done.conflicts.join(", ")));
    }
    if bundle::on_terminal() {
        msg.push_str(" (checked: every SHA-256, go.sum hash and zip)");
    }
    Ok(msg)
}
