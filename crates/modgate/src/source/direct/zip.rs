//! The module zip, built the way the go command builds it: `git archive` of the module
//! directory with export-ignore/export-subst disabled and `core.autocrlf=input`, `core.eol=lf`
//! (so only explicit eol attributes convert line endings), then the module zip rules over that
//! file set, plus the repository's root LICENSE for subdirectory modules. The archive and the
//! zip live in temporary files in the scratch directory, never whole in memory.

use super::mirror::Mirror;
use super::Direct;
use crate::source::FetchError;
use gomod::zipcreate::{self, FileKind, TreeFile};
use std::fs::File;
use std::path::PathBuf;

fn io(e: std::io::Error) -> FetchError {
    FetchError::Failed(format!("direct zip: {e}"))
}

fn archive_error(e: zip::result::ZipError) -> FetchError {
    FetchError::Failed(format!("reading git archive: {e}"))
}

/// Removes the temporaries however the build ends.
struct Cleanup(Vec<PathBuf>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// What the blocking half of a zip build works from.
struct Build {
    archive: PathBuf,
    out: PathBuf,
    /// The module's directory in the repository, without a trailing slash ("" at the root).
    sub: String,
    module: String,
    version: String,
    license: Option<Vec<u8>>,
}

impl Direct {
    /// The zip of `module@version` at `commit`, whose module directory is `mdir`. The returned
    /// file is already unlinked.
    pub(super) async fn zip(
        &self,
        m: &Mirror,
        module: &str,
        version: &str,
        commit: &str,
        mdir: &str,
    ) -> Result<File, FetchError> {
        let dir = &m.dir;
        let attrs = dir.join("info").join("attributes");
        if !attrs.exists() {
            std::fs::create_dir_all(dir.join("info")).map_err(io)?;
            std::fs::write(&attrs, "* -export-subst -export-ignore\n").map_err(io)?;
        }
        std::fs::create_dir_all(&self.scratch).map_err(io)?;
        let stem = format!("{}-{:016x}", std::process::id(), rand::random::<u64>());
        let archive = self.scratch.join(format!("{stem}.archive.zip"));
        let out = self.scratch.join(format!("{stem}.module.zip"));
        let _cleanup = Cleanup(vec![archive.clone(), out.clone()]);
        let sub = mdir.trim_end_matches('/').to_string();
        let output = format!("--output={}", archive.display());
        let mut args =
            vec!["-c", "core.autocrlf=input", "-c", "core.eol=lf", "archive", "--format=zip", "--prefix=prefix/"];
        args.extend([output.as_str(), commit]);
        if !sub.is_empty() {
            args.push(&sub);
        }
        m.git().run(dir, &args).await?;
        let license = if sub.is_empty() { None } else { m.blob(&format!("{commit}:LICENSE")).await? };
        let build = Build { archive, out, sub, module: module.to_string(), version: version.to_string(), license };
        // Reading and writing zips is blocking work.
        tokio::task::spawn_blocking(move || build.run())
            .await
            .map_err(|e| FetchError::Failed(format!("direct zip task: {e}")))?
    }
}

impl Build {
    fn run(self) -> Result<File, FetchError> {
        let bad = |e: zipcreate::CreateError| FetchError::not_found(format!("{}@{}: {e}", self.module, self.version));
        let mut z = zip::ZipArchive::new(File::open(&self.archive).map_err(io)?).map_err(archive_error)?;
        let (files, index) = self.tree(&mut z)?;
        let root_go_mod = match files.iter().position(|f| f.path == "go.mod").and_then(|i| index[i]) {
            Some(i) => {
                let mut buf = Vec::new();
                let entry = z.by_index(i).map_err(archive_error)?;
                std::io::Read::read_to_end(&mut std::io::Read::take(entry, gomod::limits::MAX_GO_MOD + 1), &mut buf)
                    .map_err(io)?;
                Some(buf)
            }
            None => None,
        };
        let plan = zipcreate::plan(&files, root_go_mod.as_deref()).map_err(bad)?;
        let out = std::fs::OpenOptions::new().create_new(true).read(true).write(true).open(&self.out).map_err(io)?;
        let mut w =
            zipcreate::ZipWriter::new(std::io::BufWriter::new(out), &self.module, &self.version).map_err(bad)?;
        for &i in &plan.include {
            let f = &files[i];
            match index[i] {
                Some(ai) => w.add(&f.path, f.size, z.by_index(ai).map_err(archive_error)?).map_err(bad)?,
                None => w.add(&f.path, f.size, self.license.as_deref().unwrap_or_default()).map_err(bad)?,
            }
        }
        let mut out = w.finish().map_err(bad)?.into_inner().map_err(|e| io(e.into_error()))?;
        // Unlinked now; the open handle still reads it.
        let _ = std::fs::remove_file(&self.out);
        std::io::Seek::rewind(&mut out).map_err(io)?;
        Ok(out)
    }

    /// The module's files in the archive, with each one's index in it (`None` for the root
    /// LICENSE that a subdirectory module gets).
    #[allow(clippy::type_complexity)]
    fn tree(&self, z: &mut zip::ZipArchive<File>) -> Result<(Vec<TreeFile>, Vec<Option<usize>>), FetchError> {
        let strip = if self.sub.is_empty() { "prefix/".to_string() } else { format!("prefix/{}/", self.sub) };
        let mut files = Vec::new();
        let mut index = Vec::new();
        for i in 0..z.len() {
            let e = z.by_index_raw(i).map_err(archive_error)?;
            let name = String::from_utf8_lossy(e.name_raw()).into_owned();
            let Some(rel) = name.strip_prefix(&strip) else { continue };
            if rel.is_empty() || rel.ends_with('/') {
                continue;
            }
            let kind = match e.unix_mode().map(|m| m & 0o170000) {
                Some(0o120000) => FileKind::Symlink,
                Some(0o100000) | None => FileKind::Regular,
                Some(_) => FileKind::Other,
            };
            files.push(TreeFile { path: rel.to_string(), kind, size: e.size() });
            index.push(Some(i));
        }
        if let Some(lic) = &self.license {
            if !files.iter().any(|f| f.path == "LICENSE") {
                files.push(TreeFile { path: "LICENSE".into(), kind: FileKind::Regular, size: lic.len() as u64 });
                index.push(None);
            }
        }
        Ok((files, index))
    }
}
