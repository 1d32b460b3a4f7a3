//! A GOPROXY list as a source made of sources: the first 200 wins; 404/410 moves on to the
//! next entry; other errors move on only after a `|` separator. `off` answers nothing, and
//! nothing after `off` or `direct` is asked.

use super::direct::Direct;
use super::file::FileDir;
use super::goproxy::GoProxy;
use super::{Body, FetchError, SharedSource, Source};
use crate::net::HttpClient;
use crate::request::ModuleRequest;
use gomod::proxylist::{Entry, ProxySpec};
use std::sync::Arc;

/// `off`, or an entry that cannot be used here: "not found", with the reason.
pub struct Off {
    reason: &'static str,
}

impl Off {
    pub fn new(reason: &'static str) -> Self {
        Self { reason }
    }
}

#[async_trait::async_trait]
impl Source for Off {
    async fn fetch(&self, _req: &ModuleRequest) -> Result<Body, FetchError> {
        Err(FetchError::not_found(self.reason))
    }

    fn can_answer(&self) -> bool {
        false
    }
}

struct Link {
    source: SharedSource,
    /// `|` after this entry: move on after any error, not only 404/410.
    fall_back_on_error: bool,
    /// `off` and `direct` end the list.
    last: bool,
}

pub struct Chain {
    links: Vec<Link>,
}

impl Chain {
    /// The chain a GOPROXY list names, sharing the HTTP client and the direct-mode source.
    pub fn build(specs: &[ProxySpec], http: &Arc<HttpClient>, direct: Option<&Arc<Direct>>) -> Self {
        let links = specs
            .iter()
            .map(|spec| {
                let source: SharedSource = match &spec.entry {
                    Entry::Off => Arc::new(Off::new("module lookup disabled by upstream=off")),
                    Entry::Direct => match direct {
                        Some(d) => Arc::clone(d) as SharedSource,
                        None => Arc::new(Off::new("direct mode is not configured")),
                    },
                    Entry::Url(base) => match base.strip_prefix("file://") {
                        Some(dir) => Arc::new(FileDir::new(dir)),
                        None => Arc::new(GoProxy::new(base, Arc::clone(http))),
                    },
                };
                let last = matches!(spec.entry, Entry::Off | Entry::Direct);
                Link { source, fall_back_on_error: spec.fall_back_on_error, last }
            })
            .collect();
        Self { links }
    }

    /// A chain of sources built elsewhere (tests, embedding), each followed by `,`.
    pub fn of(sources: Vec<SharedSource>) -> Self {
        Self {
            links: sources.into_iter().map(|source| Link { source, fall_back_on_error: false, last: false }).collect(),
        }
    }
}

#[async_trait::async_trait]
impl Source for Chain {
    async fn fetch(&self, req: &ModuleRequest) -> Result<Body, FetchError> {
        let mut last = FetchError::not_found("no upstream is configured");
        for link in &self.links {
            match link.source.fetch(req).await {
                Ok(body) => return Ok(body),
                Err(e @ FetchError::NotFound { .. }) => last = e,
                Err(e) if link.fall_back_on_error => last = e,
                Err(e) => return Err(e),
            }
            if link.last {
                break;
            }
        }
        Err(last)
    }

    fn can_answer(&self) -> bool {
        self.links.iter().any(|l| l.source.can_answer())
    }
}
