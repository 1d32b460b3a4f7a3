//! The relay's threads: one per core, each running its connections on a runtime of its own
//! (as nginx runs its workers), so a relayed request's wake-ups stay on one thread instead of
//! crossing the serving runtime's work-stealing scheduler. A connection comes from the accept
//! loop as a socket, and leaves for the serving runtime again when it is handed over to hyper.
//! Each thread keeps its own backend connections (`revproxy::idle` lists per thread).

use futures::future::BoxFuture;
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

/// A connection for a relay thread, and what serves it there.
type Job = (std::net::TcpStream, Box<dyn FnOnce(TcpStream) -> BoxFuture<'static, ()> + Send>);

struct Workers {
    queues: Vec<mpsc::UnboundedSender<Job>>,
    next: AtomicUsize,
}

static WORKERS: OnceLock<Workers> = OnceLock::new();

thread_local! {
    /// Which relay thread this is (0 on any other thread).
    static WORKER: Cell<usize> = const { Cell::new(0) };
    /// Each server's stop signal as this thread passes it on to its connections (`local_stop`).
    static STOPS: std::cell::RefCell<Vec<(watch::Receiver<bool>, watch::Receiver<bool>)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// A server's stop signal for a connection served on this thread. A connection waits for it
/// between requests; on the server's own channel that wait would take and release a lock
/// every core shares, on every request. This thread's copy is passed on by one task here, and
/// only this thread's connections wait on it.
pub fn local_stop(server: watch::Receiver<bool>) -> watch::Receiver<bool> {
    let found = STOPS.with(|s| s.borrow().iter().find(|(g, _)| g.same_channel(&server)).map(|(_, l)| l.clone()));
    if let Some(local) = found {
        return local;
    }
    let (tx, local) = watch::channel(*server.borrow());
    STOPS.with(|s| s.borrow_mut().push((server.clone(), local.clone())));
    let mut server = server;
    tokio::spawn(async move {
        // The server stopping, or gone (its sender dropped): either way its connections end.
        let _ = server.wait_for(|stop| *stop).await;
        let _ = tx.send(true);
        STOPS.with(|s| s.borrow_mut().retain(|(g, _)| !g.same_channel(&server)));
    });
    local
}

/// How many relay threads there are: one per core.
pub fn count() -> usize {
    crate::revproxy::idle::threads()
}

/// The relay thread the caller runs on (0 elsewhere).
pub fn current() -> usize {
    WORKER.with(Cell::get)
}

fn start() -> Workers {
    let mut queues = Vec::new();
    for i in 0..count() {
        let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
        let spawned = std::thread::Builder::new().name(format!("modgate-relay-{i}")).spawn(move || {
            WORKER.with(|w| w.set(i));
            let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => return tracing::error!(error = %e, "relay thread: no runtime"),
            };
            rt.block_on(async move {
                while let Some((socket, serve)) = rx.recv().await {
                    match TcpStream::from_std(socket) {
                        Ok(io) => drop(tokio::spawn(serve(io))),
                        Err(e) => tracing::debug!(error = %e, "relay thread: cannot take a connection"),
                    }
                }
            });
        });
        match spawned {
            Ok(_) => queues.push(tx),
            Err(e) => tracing::error!(error = %e, "cannot start a relay thread"),
        }
    }
    Workers { queues, next: AtomicUsize::new(0) }
}

/// Serves `io` with `serve` on the next relay thread, or here when there is none.
pub fn run(io: TcpStream, serve: impl FnOnce(TcpStream) -> BoxFuture<'static, ()> + Send + 'static) {
    let workers = WORKERS.get_or_init(start);
    if workers.queues.is_empty() {
        return drop(tokio::spawn(serve(io)));
    }
    let socket = match io.into_std() {
        Ok(s) => s,
        Err(e) => return tracing::debug!(error = %e, "cannot pass a connection to a relay thread"),
    };
    let i = workers.next.fetch_add(1, Ordering::Relaxed) % workers.queues.len();
    if let Err(mpsc::error::SendError((socket, serve))) = workers.queues[i].send((socket, Box::new(serve))) {
        // The thread is gone: serve it here.
        if let Ok(io) = TcpStream::from_std(socket) {
            tokio::spawn(serve(io));
        }
    }
}
