//! The fill runtime: zip fills and every upstream connection run on a thread of their own.
//!
//! A thundering herd is hundreds of requests arriving at once for one cold object. On the
//! serving runtime the fill that all of them wait for was queued behind their accepts and
//! parses, and each step of it (a body frame from the upstream connection, a write to the
//! temporary file) went back to the end of that queue: the first byte reached the first client
//! 3–26 ms after the upstream sent it with 500 clients, against ~1 ms with 50. On its own thread
//! the fill is scheduled by the kernel beside the serving workers instead of behind their
//! queue. Serving tasks still await fills and upstream answers as before; only where the work
//! runs changes.
//!
//! One thread is enough: the heavy steps of a fill (verifying a zip, building one from git)
//! run on this runtime's blocking pool, and what stays on the thread (reading bodies, TLS
//! decryption, at well over 1 GB/s per core) is far above what upstreams deliver.

use std::future::Future;

/// A current-thread runtime on a dedicated thread; stopped when dropped.
pub struct FillRuntime {
    handle: tokio::runtime::Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl FillRuntime {
    pub fn start() -> std::io::Result<Self> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().thread_name("modgate-fill-io").build()?;
        let handle = rt.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new().name("modgate-fill".into()).spawn(move || {
            rt.block_on(async {
                let _ = stopped.await;
            });
            // Fills still running are abandoned like on the serving runtime at shutdown; their
            // temporaries are never committed and are swept at the next start.
            rt.shutdown_background();
        })?;
        Ok(Self { handle, stop: Some(stop) })
    }

    pub fn spawner(&self) -> Spawner {
        Spawner(Some(self.handle.clone()))
    }

    pub fn spawn<F>(&self, fut: F)
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(fut);
    }
}

impl Drop for FillRuntime {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// Where an HTTP client's connection tasks run: on the fill runtime, or (`Spawner::current`)
/// on whatever runtime makes the request.
#[derive(Clone)]
pub struct Spawner(Option<tokio::runtime::Handle>);

impl Spawner {
    pub fn current() -> Self {
        Spawner(None)
    }
}

impl<F> hyper::rt::Executor<F> for Spawner
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, fut: F) {
        match &self.0 {
            Some(h) => {
                h.spawn(fut);
            }
            None => {
                tokio::spawn(fut);
            }
        }
    }
}
