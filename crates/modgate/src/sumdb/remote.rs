//! How one checksum database is reached: its own URL when configured, else the first
//! upstream proxy that answers `/sumdb/<name>/supported` with 200 (the way the go command
//! asks its GOPROXY list), else `https://<name>`.

use crate::config::SumdbSpec;
use crate::net::HttpClient;
use crate::source::goproxy::fetch_url;
use crate::source::FetchError;
use bytes::Bytes;
use gomod::proxylist::{Entry, ProxySpec};
use std::sync::{Arc, Mutex};

/// Largest checksum-database answer read (a data tile of 256 records fits many times over).
pub const MAX_ANSWER: u64 = 1 << 20;

pub struct Remote {
    pub spec: SumdbSpec,
    http: Arc<HttpClient>,
    upstream: Vec<ProxySpec>,
    /// The base URL found by asking the upstream chain, once it answered.
    found: Mutex<Option<String>>,
}

impl Remote {
    pub fn new(spec: SumdbSpec, http: Arc<HttpClient>, upstream: Vec<ProxySpec>) -> Self {
        Self { spec, http, upstream, found: Mutex::new(None) }
    }

    /// One path below the database's root (`lookup/...`, `tile/...`, `latest`).
    pub async fn get(&self, rel: &str) -> Result<Bytes, FetchError> {
        let base = self.base().await?;
        let res = async { fetch_url(&self.http, &format!("{base}/{rel}")).await?.collect(MAX_ANSWER).await }.await;
        if matches!(res, Err(FetchError::Failed(_) | FetchError::Timeout(_))) {
            // Ask the chain again next time: the proxy that carried the database may be gone.
            *self.found.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
        res
    }

    async fn base(&self) -> Result<String, FetchError> {
        if let Some(url) = &self.spec.url {
            return Ok(url.clone());
        }
        if let Some(b) = self.found.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            return Ok(b);
        }
        let name = &self.spec.name;
        let mut base = format!("https://{name}");
        for spec in &self.upstream {
            let url = match &spec.entry {
                Entry::Url(u) if u.starts_with("http://") || u.starts_with("https://") => u,
                Entry::Url(_) => continue,
                Entry::Direct | Entry::Off => break,
            };
            match fetch_url(&self.http, &format!("{url}/sumdb/{name}/supported")).await {
                Ok(_) => {
                    base = format!("{url}/sumdb/{name}");
                    break;
                }
                Err(FetchError::NotFound { .. }) => continue,
                Err(_) if spec.fall_back_on_error => continue,
                Err(e) => return Err(e),
            }
        }
        *self.found.lock().unwrap_or_else(|p| p.into_inner()) = Some(base.clone());
        Ok(base)
    }
}
