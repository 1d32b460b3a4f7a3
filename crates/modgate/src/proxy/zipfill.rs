//! Zips: one fill per zip, streamed from the source into a staged object, checked in full
//! (zip rules, the go.mod equal to the version's `.mod`, the checksum hook), and only then
//! committed. Clients waiting for a large cold zip follow the staged bytes as they arrive; the
//! last byte waits for the commit.

use super::progress::{FillState, Joined, Progress};
use super::replicas::MyTurn;
use super::reply::Reply;
use super::service::{fetch_error, ModuleService};
use super::verify::{self, Checked, Committed};
use crate::errors::ServeError;
use crate::request::{Endpoint, ModuleRequest};
use crate::source::SharedSource;
use crate::store::{Commit, Staged};
use gomod::limits::{MAX_GO_MOD, MAX_ZIP_FILE};
use std::sync::Arc;
use tokio::sync::watch;
use tracing::Instrument;

/// How many newly written bytes of a filling zip wake its streaming readers.
const PUBLISH_STEP: u64 = 256 * 1024;

/// Cold zips announced smaller than this are verified before the first byte is sent.
pub const STREAM_MIN: u64 = 1 << 20;

impl ModuleService {
    pub(super) async fn zip(
        self: &Arc<Self>,
        req: &ModuleRequest,
        source: &SharedSource,
        may_stream: bool,
    ) -> Result<Reply, ServeError> {
        let key = req.rel();
        // A fill still downloading is joined without asking the store first: a herd of requests
        // would otherwise queue hundreds of file opens on the blocking pool and delay everyone's
        // first byte. Past its download, the fill may have committed already (it still syncs
        // the directory before it ends), so the store is asked first and a committed zip is a hit.
        let mut rx = match self.zip_fills.running(key).filter(|rx| !rx.borrow().downloaded) {
            Some(rx) => {
                self.fill_metrics.joined.inc();
                crate::obs::trace::joined(key);
                rx
            }
            None => {
                if let Some(reply) = self.stored(req).await? {
                    return Ok(reply);
                }
                if let Some(e) = self.known_missing(key).await {
                    return Err(e);
                }
                self.start_zip_fill(req, source)
            }
        };
        if may_stream {
            // As soon as the source answered (the staged reader exists), follow it.
            let p = rx.wait_for(|p| p.reader.is_some() || !p.state.is_running()).await.map(|p| p.clone());
            if let Ok(Progress { reader: Some(reader), total, state: FillState::Running, .. }) = p {
                // A small zip is not worth streaming unverified: waiting keeps a clean error
                // status and message for the client if it turns out bad.
                if total.is_none_or(|t| t >= STREAM_MIN) {
                    return Ok(Reply::Stream { reader, progress: rx, total });
                }
            }
        }
        let done = rx.wait_for(|p| !p.state.is_running()).await.map(|p| p.state.clone());
        match done {
            Ok(FillState::Failed(e)) => return Err(e),
            Err(_) => return Err(ServeError::BadGateway(format!("{}: the fill was abandoned", req.display()))),
            Ok(_) => {}
        }
        self.committed(req).await
    }

    /// Joins the fill of a zip, starting it (on the fill runtime) if none runs.
    pub(super) fn start_zip_fill(
        self: &Arc<Self>,
        req: &ModuleRequest,
        source: &SharedSource,
    ) -> watch::Receiver<Progress> {
        let key = req.rel().to_string();
        let (tx, rx) = match self.zip_fills.join_or_start(&key) {
            Joined::Running(rx) => {
                self.fill_metrics.joined.inc();
                crate::obs::trace::joined(&key);
                return rx;
            }
            Joined::Started { tx, rx } => (tx, rx),
        };
        let (this, r, source, own) = (Arc::clone(self), req.clone(), Arc::clone(source), rx.clone());
        let span = crate::obs::trace::fill_span(&key);
        self.spawn_fill(Instrument::instrument(
            async move {
                let memory = crate::rt::memory::FillMemory::start();
                // Held until the outcome is remembered, so that a replica waiting on it sees it.
                let mut lease = None;
                let res = if this.is_cached(&r).await {
                    Ok(())
                } else {
                    match this.my_turn(&r).await {
                        // Another replica filled it: one copy here serves all who wait here.
                        MyTurn::Ended(Ok(())) => {
                            if let Err(e) = this.objects.prepare(r.rel()).await {
                                tracing::debug!(object = %r.rel(), error = %e, "not copied here: read from the bucket");
                            }
                            Ok(())
                        }
                        MyTurn::Ended(res) => res,
                        MyTurn::Fill(held) => {
                            lease = held;
                            let start = std::time::Instant::now();
                            let res = this.fill_zip(&r, &source, &tx).await;
                            let (took, size) = (start.elapsed(), res.as_ref().ok().copied());
                            this.fill_metrics.ended("zip", super::fill::outcome(&res), took, size);
                            res.map(|_| ())
                        }
                    }
                };
                crate::obs::trace::outcome(&tracing::Span::current(), &res);
                match &res {
                    Err(e @ ServeError::NotFound { .. }) => {
                        this.remember_not_found(&key, e).await;
                        tracing::debug!(object = %key, error = %e, "not found at the sources");
                    }
                    Err(e) => tracing::warn!(object = %key, error = %e, "fill failed"),
                    Ok(()) => {}
                }
                drop(lease);
                // Leave the map before announcing the end: a client that has seen this fill fail and
                // asks again at once (the fill runs on another thread) must start a new fill, not
                // find this one. Only our own entry is removed.
                this.zip_fills.end(&key, &own);
                tx.send_modify(|p| {
                    p.state = match res {
                        Ok(()) => FillState::Committed,
                        Err(e) => FillState::Failed(e),
                    }
                });
                drop(memory);
            },
            span,
        ));
        rx
    }

    /// Streams the zip into a staged object, checks it completely, and only then commits it.
    async fn fill_zip(
        self: &Arc<Self>,
        req: &ModuleRequest,
        source: &SharedSource,
        progress: &watch::Sender<Progress>,
    ) -> Result<u64, ServeError> {
        // The .mod is needed only to verify the zip at the end: fetch it alongside.
        let mod_req = req.with_endpoint(Endpoint::Mod);
        let mod_fill = tokio::spawn(self.fill_immutable(&mod_req, source).in_current_span());
        // The staged object exists before the source answers, so nothing stands between the
        // first byte and the first write.
        let mut staged = self.objects.stage().await?;
        let written = self.download(req, source, staged.as_mut(), progress).await?;
        match mod_fill.await {
            Ok(r) => r?,
            Err(e) => return Err(ServeError::BadGateway(format!("{}: .mod fill failed: {e}", req.display()))),
        }
        let go_mod = self
            .read_small(mod_req.rel(), MAX_GO_MOD)
            .await?
            .ok_or_else(|| ServeError::Storage(format!("{} vanished after fill", mod_req.rel())))?;
        let checked = verify::check_zip(staged.reader()?, written, req).await?.map_err(|e| {
            self.refused("invalid_zip");
            ServeError::BadGateway(format!("{}: upstream sent an invalid zip: {e}", req.display()))
        })?;
        if checked.go_mod.as_ref().is_some_and(|zip_go_mod| zip_go_mod != &go_mod) {
            self.refused("go_mod_mismatch");
            return Err(ServeError::BadGateway(format!(
                "{}: the zip's go.mod differs from the version's .mod",
                req.display()
            )));
        }
        let version = req.version.as_deref().unwrap_or_default();
        verify::consult(self.checksums.as_ref(), &Checked::Zip { module: &req.module, version, h1: &checked.h1 }, req)
            .await
            .inspect_err(|_| self.refused("checksum"))?;
        let outcome = staged.commit(req.rel()).await?;
        tracing::info!(object = %req.rel(), bytes = written, h1 = %checked.h1, created = (outcome == Commit::Created), "zip committed");
        let mod_h1 = gomod::dirhash::hash_go_mod(&go_mod);
        let done = Committed { module: &req.module, version, zip_h1: &checked.h1, mod_h1: &mod_h1 };
        if let Err(e) = self.checksums.committed(&done).await {
            tracing::error!(object = %req.rel(), error = %e, "the committed version could not be logged");
        }
        Ok(written)
    }

    /// Copies the source's body into `staged`, telling followers how far it has come. Returns
    /// the number of bytes written.
    async fn download(
        &self,
        req: &ModuleRequest,
        source: &SharedSource,
        staged: &mut dyn Staged,
        progress: &watch::Sender<Progress>,
    ) -> Result<u64, ServeError> {
        let reader = staged.reader()?;
        let mut body = source.fetch(req).await.map_err(|e| fetch_error(req, e))?;
        progress.send_modify(|p| {
            p.reader = Some(reader);
            p.total = body.len_hint();
        });
        let (mut written, mut published) = (0u64, 0u64);
        // Network chunks are small (a TLS record, an HTTP/2 frame): they are gathered and written
        // PUBLISH_STEP at a time, one trip to the store instead of dozens.
        let mut pending = bytes::BytesMut::new();
        while let Some(chunk) = body.next_chunk().await.map_err(|e| fetch_error(req, e))? {
            written += chunk.len() as u64;
            if written > MAX_ZIP_FILE {
                return Err(ServeError::BadGateway(format!("{}: zip larger than {MAX_ZIP_FILE} bytes", req.display())));
            }
            pending.extend_from_slice(&chunk);
            // Waiting readers are woken for the first bytes and then every PUBLISH_STEP bytes:
            // fewer, larger reads for them and far fewer wake-ups for a big herd. Flushed bytes
            // are readable.
            if written - published >= PUBLISH_STEP || published == 0 {
                staged.write(&pending).await?;
                pending.clear();
                staged.flush().await?;
                progress.send_modify(|p| p.written = written);
                published = written;
            }
        }
        if !pending.is_empty() {
            staged.write(&pending).await?;
        }
        staged.flush().await?;
        progress.send_modify(|p| {
            p.written = written;
            p.downloaded = true;
        });
        Ok(written)
    }
}
