//! GOPROXY answers from a repository: the version list, `@latest`, a query's or version's
//! `.info`, and a version's `.mod` and `.zip`.

use super::location::Location;
use super::mirror::Mirror;
use super::Direct;
use crate::request::{Endpoint, ModuleRequest};
use crate::source::{Body, FetchError};
use gomod::{path, vcs, zipcreate};
use std::collections::HashMap;

fn info_json(version: &str, time: i64) -> Body {
    Body::from_bytes(format!("{{\"Version\":\"{version}\",\"Time\":\"{}\"}}\n", crate::time::rfc3339(time)))
}

impl Direct {
    /// Answers one request from the module's repository.
    pub(super) async fn answer(&self, req: &ModuleRequest, loc: &Location) -> Result<Body, FetchError> {
        let m = self.mirror(&loc.repo_url);
        match req.endpoint {
            Endpoint::List => self.list(&m, loc).await,
            Endpoint::Latest => self.latest(&m, loc, &req.module).await,
            Endpoint::Info => self.info(&m, loc, req).await,
            Endpoint::Mod | Endpoint::Zip => self.object(&m, loc, req).await,
        }
    }

    /// The server's tags, from its refs alone.
    pub(super) async fn tags(&self, m: &Mirror) -> Result<Vec<String>, FetchError> {
        let refs = m.refs().await?;
        Ok(refs.keys().filter_map(|r| r.strip_prefix("refs/tags/")).map(str::to_string).collect())
    }

    async fn list(&self, m: &Mirror, loc: &Location) -> Result<Body, FetchError> {
        let tags = self.tags(m).await?;
        let prefix = vcs::tag_prefix(&loc.code_dir);
        // First pass: which versions would the +incompatible rules ask about? (Answering
        // "no go.mod" asks the most.) Then one batched git call answers them all.
        let mut asked = Vec::new();
        vcs::list_versions(&tags, &loc.code_dir, &loc.path_major, |v| {
            asked.push(v.to_string());
            Ok::<_, FetchError>(false)
        })?;
        // Their commits, fetched together (the mirror batches fetches that wait side by side).
        let revs: Vec<String> = asked.iter().map(|v| format!("{prefix}{v}")).collect();
        let commits = futures::future::try_join_all(revs.iter().map(|rev| m.stat(rev))).await?;
        let objects: Vec<String> = commits.iter().map(|c| format!("{}:{prefix}go.mod", c.hash)).collect();
        let answers = m.batch_exists(&objects).await?;
        let has: HashMap<&str, bool> = asked.iter().map(String::as_str).zip(answers).collect();
        let list = vcs::list_versions(&tags, &loc.code_dir, &loc.path_major, |v| {
            Ok::<_, FetchError>(has.get(v).copied().unwrap_or(false))
        })?;
        Ok(Body::from_bytes(list.iter().map(|v| format!("{v}\n")).collect::<String>()))
    }

    async fn latest(&self, m: &Mirror, loc: &Location, module: &str) -> Result<Body, FetchError> {
        let tags = self.tags(m).await?;
        let list = vcs::list_versions(&tags, &loc.code_dir, &loc.path_major, |_| Ok::<_, FetchError>(false))?;
        let best = list.iter().rev().find(|v| gomod::semver::prerelease(v).is_empty()).or(list.last()).cloned();
        let r = self.resolve(m, loc, module, best.as_deref().unwrap_or("HEAD")).await?;
        Ok(info_json(&r.version, r.commit.time))
    }

    async fn info(&self, m: &Mirror, loc: &Location, req: &ModuleRequest) -> Result<Body, FetchError> {
        let query = req.version.as_deref().unwrap_or("HEAD");
        let r = self.resolve(m, loc, &req.module, query).await?;
        let version = r.version;
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
        Ok(info_json(&version, r.commit.time))
    }

    /// A version's `.mod` (the raw go.mod blob, or a synthesized one) or `.zip`.
    async fn object(&self, m: &Mirror, loc: &Location, req: &ModuleRequest) -> Result<Body, FetchError> {
        let version = req.version.as_deref().unwrap_or_default();
        let r = self.resolve(m, loc, &req.module, version).await?;
        if r.version != version {
            return Err(FetchError::not_found(format!("{}@{version}: no such version", req.module)));
        }
        // The commit, module directory and go.mod the version resolved at.
        let (commit, mdir, go_mod) = (r.commit.hash, r.dir, r.go_mod);
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
        let zip = self.zip(m, &req.module, version, &commit, &mdir).await?;
        Ok(Body::from_file(tokio::fs::File::from_std(zip)))
    }
}
