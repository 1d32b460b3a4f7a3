//! Mutable answers — `list`, `@latest`, and `.info` of a query — cached for `list_ttl`, fetched
//! by one request at a time, served stale when every source fails, and merged with the versions
//! published here: published modules are a source like any other, and the only one when no
//! upstream knows the module.

use super::fill::MAX_SMALL;
use super::reply::{CacheStatus, Reply};
use super::service::{fetch_error, ModuleService};
use super::verify::{self, info_version};
use crate::errors::ServeError;
use crate::request::{Endpoint, ModuleRequest};
use crate::source::{FetchError, SharedSource, Source};
use bytes::Bytes;
use std::sync::Arc;

impl ModuleService {
    pub(super) async fn mutable(
        self: &Arc<Self>,
        req: &ModuleRequest,
        source: &SharedSource,
    ) -> Result<Reply, ServeError> {
        if !matches!(req.endpoint, Endpoint::List | Endpoint::Latest) {
            return self.mutable_from_sources(req, source).await;
        }
        let published = match self.published.fetch(req).await {
            Ok(body) => body.collect(MAX_SMALL).await.map_err(|e| ServeError::Storage(e.reason().to_string()))?,
            Err(FetchError::NotFound { .. }) => return self.mutable_from_sources(req, source).await,
            Err(e) => return Err(ServeError::Storage(e.reason().to_string())),
        };
        let from_sources = match self.mutable_from_sources(req, source).await {
            Ok(Reply::Mutable { data, cache }) => Some((data, cache)),
            Ok(other) => return Ok(other),
            Err(ServeError::NotFound { .. }) => None,
            Err(e) => {
                tracing::warn!(module = %req.module, error = %e, "sources failed; answering from published versions");
                None
            }
        };
        let cache = from_sources.as_ref().map(|(_, c)| *c).unwrap_or(CacheStatus::Hit);
        if req.endpoint == Endpoint::List {
            let data = merge_lists(&published, from_sources.as_ref().map(|(d, _)| d.as_ref()));
            return Ok(Reply::Mutable { data, cache });
        }
        // `@latest`: a source's answer wins when it is at least as high as the published one.
        if let Some((data, c)) = from_sources {
            let best = info_version(&published).unwrap_or_default();
            if info_version(&data).is_ok_and(|v| gomod::semver::compare(&v, &best).is_ge()) {
                return Ok(Reply::Mutable { data, cache: c });
            }
        }
        Ok(Reply::Mutable { data: published, cache })
    }

    async fn mutable_from_sources(
        self: &Arc<Self>,
        req: &ModuleRequest,
        source: &SharedSource,
    ) -> Result<Reply, ServeError> {
        let key = req.rel().to_string();
        let cached = self.meta.answer(&key).await?;
        if let Some((data, age)) = &cached {
            if *age < self.settings.load().list_ttl {
                return Ok(Reply::Mutable { data: data.clone(), cache: CacheStatus::Hit });
            }
        }
        if let Some(e) = self.known_missing(&key).await {
            return Err(e);
        }
        let (this, r, source) = (Arc::clone(self), req.clone(), Arc::clone(source));
        let res = self
            .answers
            .run(&key, async move {
                let start = std::time::Instant::now();
                let res = this.fetch_answer(&r, &source).await;
                let size = res.as_ref().ok().map(|d| d.len() as u64);
                this.fill_metrics.ended(r.endpoint.name(), super::fill::outcome(&res), start.elapsed(), size);
                if let Err(e) = &res {
                    this.remember_not_found(r.rel(), e).await;
                }
                res
            })
            .await;
        match res {
            Ok(data) => Ok(Reply::Mutable { data, cache: CacheStatus::Miss }),
            // A refusal is the upstream's policy now: no stale answer overrides it.
            Err(e @ (ServeError::NotFound { .. } | ServeError::Refused { .. })) => Err(e),
            Err(e) => match cached {
                Some((data, age)) => {
                    tracing::warn!(object = %key, age_secs = age.as_secs(), error = %e, "every source failed; serving a stale answer");
                    Ok(Reply::Mutable { data, cache: CacheStatus::Stale })
                }
                None => Err(e),
            },
        }
    }

    async fn fetch_answer(&self, req: &ModuleRequest, source: &SharedSource) -> Result<Bytes, ServeError> {
        let body = source.fetch(req).await.map_err(|e| fetch_error(req, e))?;
        let data = body.collect(MAX_SMALL).await.map_err(|e| fetch_error(req, e))?;
        verify::check_answer(req, &data)?;
        self.meta.put_answer(req.rel(), &data).await?;
        Ok(data)
    }
}

/// The union of two version lists, in semver order, without repeats.
fn merge_lists(published: &[u8], from_sources: Option<&[u8]>) -> Bytes {
    let lines = |data: &[u8]| -> Vec<String> {
        String::from_utf8_lossy(data).lines().map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect()
    };
    let mut all = lines(published);
    if let Some(data) = from_sources {
        all.extend(lines(data));
    }
    all.sort_by(|a, b| gomod::semver::compare(a, b));
    all.dedup();
    Bytes::from(all.iter().map(|v| format!("{v}\n")).collect::<String>())
}

#[cfg(test)]
mod tests {
    #[test]
    fn lists_merge_in_semver_order() {
        let merged = super::merge_lists(b"v1.10.0\nv1.2.0\n", Some(b"v1.2.0\n v1.9.0\n\n"));
        assert_eq!(merged, "v1.2.0\nv1.9.0\nv1.10.0\n");
        assert_eq!(super::merge_lists(b"v1.0.0\n", None), "v1.0.0\n");
    }
}
