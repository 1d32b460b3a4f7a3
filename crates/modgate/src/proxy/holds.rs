//! The quarantine applied: requests for a quarantined version refused, lists and `@latest`
//! answers screened, and the set read and changed through the metadata store.

use super::quarantine::{gone, Quarantined, STATE};
use super::reply::Reply;
use super::service::ModuleService;
use crate::errors::ServeError;
use crate::request::{Endpoint, ModuleRequest};
use bytes::Bytes;

impl ModuleService {
    /// The quarantine entry of `module@version`, if it is quarantined.
    pub fn quarantined(&self, module: &str, version: &str) -> Option<Quarantined> {
        self.quarantine.get(module, version)
    }

    /// Every quarantined version, sorted.
    pub fn quarantine_list(&self) -> Vec<Quarantined> {
        self.quarantine.list()
    }

    /// Reads the set from the metadata store (at start, and to see other replicas' changes).
    pub async fn load_quarantine(&self) -> std::io::Result<()> {
        let list = self.read_quarantine().await?;
        self.quarantine.replace(list);
        Ok(())
    }

    async fn read_quarantine(&self) -> std::io::Result<Vec<Quarantined>> {
        match self.meta.state(STATE).await? {
            Some(data) => serde_json::from_slice(&data).map_err(std::io::Error::other),
            None => Ok(Vec::new()),
        }
    }

    /// Adds (`Some`) or releases (`None` entry, by module and version) a version; returns the
    /// entry that was there before. The change is written before it takes effect here.
    pub async fn set_quarantine(
        &self,
        module: &str,
        version: &str,
        entry: Option<Quarantined>,
    ) -> std::io::Result<Option<Quarantined>> {
        let _one = self.quarantine.change.lock().await;
        let mut list = self.read_quarantine().await?;
        let before = list.iter().position(|q| q.module == module && q.version == version).map(|i| list.remove(i));
        list.extend(entry);
        let data = serde_json::to_vec_pretty(&list).map_err(std::io::Error::other)?;
        self.quarantine.replace(list);
        self.meta.put_state(STATE, &data).await?;
        Ok(before)
    }

    /// Refuses a request for a quarantined version before anything is looked up.
    pub(super) fn check_quarantine(&self, req: &ModuleRequest) -> Result<(), ServeError> {
        match req.version.as_deref().and_then(|v| self.quarantine.get(&req.module, v)) {
            Some(q) if req.endpoint != Endpoint::List => Err(gone(&q)),
            _ => Ok(()),
        }
    }

    /// A mutable answer with the quarantine applied: a list without the quarantined versions;
    /// an `@latest` or query answer that names one refused.
    pub(super) fn screen(&self, req: &ModuleRequest, reply: Result<Reply, ServeError>) -> Result<Reply, ServeError> {
        if self.quarantine.is_empty() {
            return reply;
        }
        let Ok(Reply::Mutable { data, cache }) = reply else { return reply };
        if req.endpoint == Endpoint::List {
            let text = String::from_utf8_lossy(&data);
            let kept: String = text
                .lines()
                .filter(|v| self.quarantine.get(&req.module, v.trim()).is_none())
                .map(|v| format!("{v}\n"))
                .collect();
            return Ok(Reply::Mutable { data: Bytes::from(kept), cache });
        }
        if let Ok(version) = super::verify::info_version(&data) {
            if let Some(q) = self.quarantine.get(&req.module, &version) {
                return Err(gone(&q));
            }
        }
        Ok(Reply::Mutable { data, cache })
    }
}
