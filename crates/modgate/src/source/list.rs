//! A GOPROXY list as a source made of sources: the first 200 wins; 404/410 moves on to the
//! next entry; other errors move on only after a `|` separator. `off` answers nothing, and
//! nothing after `off` or `direct` is asked.

use super::direct::Direct;
use super::file::FileDir;
use super::goproxy::GoProxy;
use super::pool::Pool;
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
    /// The chain a GOPROXY list names, sharing the HTTP client, the direct-mode source and the
    /// pools (`pool:NAME` entries).
    pub fn build(
        specs: &[ProxySpec],
        http: &Arc<HttpClient>,
        direct: Option<&Arc<Direct>>,
        pools: &[Arc<Pool>],
    ) -> Self {
        let links = specs
            .iter()
            .map(|spec| {
                let source: SharedSource = match &spec.entry {
                    Entry::Off => Arc::new(Off::new("module lookup disabled by upstream=off")),
                    Entry::Direct => match direct {
                        Some(d) => Arc::clone(d) as SharedSource,
                        None => Arc::new(Off::new("direct mode is not configured")),
                    },
                    Entry::Url(base) => match (base.strip_prefix("file://"), crate::config::pool_of(base)) {
                        (Some(dir), _) => Arc::new(FileDir::new(dir)),
                        (None, Some(name)) => match pools.iter().find(|p| p.name() == name) {
                            Some(p) => Arc::clone(p) as SharedSource,
                            None => Arc::new(Off::new("the pool is not configured")),
                        },
                        (None, None) => Arc::new(GoProxy::new(base, Arc::clone(http))),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Answers every request the same way, and counts them.
    struct Fixed(Result<&'static str, FetchError>, AtomicUsize);

    #[async_trait::async_trait]
    impl Source for Fixed {
        async fn fetch(&self, _req: &ModuleRequest) -> Result<Body, FetchError> {
            self.1.fetch_add(1, Ordering::SeqCst);
            self.0.clone().map(Body::from_bytes)
        }
    }

    fn fixed(answer: Result<&'static str, FetchError>) -> Arc<Fixed> {
        Arc::new(Fixed(answer, AtomicUsize::new(0)))
    }

    fn link(source: &Arc<Fixed>, fall_back_on_error: bool, last: bool) -> Link {
        Link { source: Arc::clone(source) as SharedSource, fall_back_on_error, last }
    }

    async fn first_answer(links: Vec<Link>) -> Result<String, FetchError> {
        let req = crate::request::parse("/example.com/m/@v/list", None).unwrap();
        let body = Chain { links }.fetch(&req).await?;
        Ok(String::from_utf8(body.collect(1024).await?.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn goproxy_list_semantics() {
        let (missing, gone) = (
            fixed(Err(FetchError::not_found("no"))),
            fixed(Err(FetchError::NotFound { status: 410, reason: "gone".into() })),
        );
        let (broken, good) = (fixed(Err(FetchError::Failed("500".into()))), fixed(Ok("v1.0.0\n")));
        // 404 and 410 move on after `,`.
        let got =
            first_answer(vec![link(&missing, false, false), link(&gone, false, false), link(&good, false, false)])
                .await;
        assert_eq!(got.unwrap(), "v1.0.0\n");
        // Another error stops a `,` list, and moves on after `|`.
        let got = first_answer(vec![link(&broken, false, false), link(&good, false, false)]).await;
        assert_eq!(got.unwrap_err(), FetchError::Failed("500".into()));
        let got = first_answer(vec![link(&broken, true, false), link(&good, false, false)]).await;
        assert_eq!(got.unwrap(), "v1.0.0\n");
        // Nothing after `off` or `direct` is asked; the last "not here" is the answer.
        let before = good.1.load(Ordering::SeqCst);
        let got = first_answer(vec![link(&gone, false, true), link(&good, false, false)]).await;
        assert!(matches!(got, Err(FetchError::NotFound { status: 410, .. })), "{got:?}");
        assert_eq!(good.1.load(Ordering::SeqCst), before);
        assert!(!Chain { links: vec![] }.can_answer());
        assert!(!Chain {
            links: vec![Link { source: Arc::new(Off::new("off")), fall_back_on_error: false, last: true }]
        }
        .can_answer());
    }
}
