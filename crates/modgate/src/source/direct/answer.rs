//! GOPROXY answers from a repository: the version list, `@latest`, a query's or version's
//! `.info`, and a version's `.mod` and `.zip`.

use super::location::Location;
use super::Direct;
use crate::request::{Endpoint, ModuleRequest};
use crate::source::{Body, FetchError};
use gomod::{path, vcs, zipcreate};
use std::collections::HashMap;
use std::path::Path;

fn info_json(version: &str, time: i64) -> Body {
    Body::from_bytes(format!("{{\"Version\":\"{version}\",\"Time\":\"{}\"}}\n", crate::time::rfc3339(time)))
}

impl Direct {
    /// Answers one request from the module's repository.
    pub(super) async fn answer(&self, req: &ModuleRequest, loc: &Location) -> Result<Body, FetchError> {
        let dir = self.mirror(&loc.repo_url).await?;
        match req.endpoint {
            Endpoint::List => self.list(&dir, loc).await,
            Endpoint::Latest => self.latest(&dir, loc, &req.module).await,
            Endpoint::Info => self.info(&dir, loc, req).await,
            Endpoint::Mod | Endpoint::Zip => self.object(&dir, loc, req).await,
        }
    }

    async fn list(&self, dir: &Path, loc: &Location) -> Result<Body, FetchError> {
        let tags = self.tags(dir).await?;
        let prefix = vcs::tag_prefix(&loc.code_dir);
        // First pass: which versions would the +incompatible rules ask about? (Answering
        // "no go.mod" asks the most.) Then one batched git call answers them all.
        let mut asked = Vec::new();
        vcs::list_versions(&tags, &loc.code_dir, &loc.path_major, |v| {
            asked.push(v.to_string());
            Ok::<_, FetchError>(false)
        })?;
        let objects: Vec<String> =
            asked.iter().map(|v| format!("refs/tags/{prefix}{v}^{{commit}}:{prefix}go.mod")).collect();
        let answers = self.batch_exists(dir, &objects).await?;
        let has: HashMap<&str, bool> = asked.iter().map(String::as_str).zip(answers).collect();
        let list = vcs::list_versions(&tags, &loc.code_dir, &loc.path_major, |v| {
            Ok::<_, FetchError>(has.get(v).copied().unwrap_or(false))
        })?;
        Ok(Body::from_bytes(list.iter().map(|v| format!("{v}\n")).collect::<String>()))
    }

    async fn latest(&self, dir: &Path, loc: &Location, module: &str) -> Result<Body, FetchError> {
        let tags = self.tags(dir).await?;
        let list = vcs::list_versions(&tags, &loc.code_dir, &loc.path_major, |_| Ok::<_, FetchError>(false))?;
        let best = list.iter().rev().find(|v| gomod::semver::prerelease(v).is_empty()).or(list.last()).cloned();
        let (version, time) = match best {
            Some(v) => self.resolve(dir, loc, module, &v).await?,
            None => self.resolve(dir, loc, module, "HEAD").await?,
        };
        Ok(info_json(&version, time))
    }

    async fn info(&self, dir: &Path, loc: &Location, req: &ModuleRequest) -> Result<Body, FetchError> {
        let query = req.version.as_deref().unwrap_or("HEAD");
        let (version, time) = self.resolve(dir, loc, &req.module, query).await?;
        if path::check_canonical(&req.module, &version).is_err() {
            return Err(FetchError::not_found(format!(
                "{}@{query}: resolves to {version}, not a version of this module",
                req.module
            )));
        }
        // A version query names that version (or its +incompatible form), never a
        // pseudo-version of the commit it points at.
        let plain_version = query != version && version != format!("{query}+incompatible");
        if path::is_canonical_version(query) && !gomod::pseudo::is_pseudo_version(query) && plain_version {
            return Err(FetchError::not_found(format!(
                "{}@{query}: no such version (the revision is {version})",
                req.module
            )));
        }
        Ok(info_json(&version, time))
    }

    /// A version's `.mod` (the raw go.mod blob, or a synthesized one) or `.zip`.
    async fn object(&self, dir: &Path, loc: &Location, req: &ModuleRequest) -> Result<Body, FetchError> {
        let version = req.version.as_deref().unwrap_or_default();
        let (resolved, _) = self.resolve(dir, loc, &req.module, version).await?;
        if resolved != version && !gomod::pseudo::is_pseudo_version(version) {
            return Err(FetchError::not_found(format!("{}@{version}: no such version", req.module)));
        }
        let commit = self.commit_of(dir, loc, version).await?;
        let mdir = self.module_dir(dir, loc, &req.module, &commit).await?;
        let go_mod = self.blob(dir, &format!("{commit}:{mdir}go.mod")).await?;
        if go_mod.is_some() {
            if version.ends_with("+incompatible") {
                return Err(FetchError::not_found(format!(
                    "{}@{version}: invalid version: has a go.mod, so not +incompatible",
                    req.module
                )));
            }
        } else if !mdir.is_empty() || !loc.path_major.is_empty() {
            return Err(FetchError::not_found(format!("{}@{version}: no go.mod in {mdir:?}", req.module)));
        }
        if req.endpoint == Endpoint::Mod {
            return Ok(Body::from_bytes(go_mod.unwrap_or_else(|| zipcreate::synthesize_go_mod(&req.module))));
        }
        let zip = self.zip(dir, &req.module, version, &commit, &mdir).await?;
        Ok(Body::from_file(tokio::fs::File::from_std(zip)))
    }
}
