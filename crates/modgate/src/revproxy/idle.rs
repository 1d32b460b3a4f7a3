//! Idle keep-alive connections to a route's plain-HTTP members, for the HTTP/1 relay
//! (`server::relay`): a connection goes back when its answer ended cleanly on a connection the
//! backend keeps open, and is taken again while it is fresh and the backend has not closed it.
//! Each relay thread keeps its own (a connection belongs to the runtime it was opened on).

use bytes::BytesMut;
use crossbeam_utils::CachePadded;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// Idle connections kept per member, and for how long.
const MAX_IDLE: usize = 256;
const IDLE_FOR: Duration = Duration::from_secs(60);

/// How many relay threads there are (one per core), and so lists per member.
pub fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A kept connection and its read buffer (empty, its room kept for the next answer).
pub type Kept = (TcpStream, BytesMut);

pub struct Idle {
    /// Member `m`'s connections of relay thread `t` at `m * threads + t`.
    lists: Vec<List>,
    threads: usize,
}

/// One thread's list, on cache lines of its own: each relay thread locks its own list on
/// every request, and two lists on one line would pass it from core to core each time.
type List = CachePadded<Mutex<Vec<(Kept, Instant)>>>;

impl Idle {
    pub fn new(members: usize) -> Self {
        let threads = threads();
        Self { lists: (0..members * threads).map(|_| CachePadded::new(Mutex::new(Vec::new()))).collect(), threads }
    }

    fn list(&self, i: usize, thread: usize) -> Option<&Mutex<Vec<(Kept, Instant)>>> {
        self.lists.get(i * self.threads + thread % self.threads).map(|l| &**l)
    }

    /// A kept connection of relay thread `thread` to member `i` that is still open as far as can be seen without
    /// waiting: the reactor has seen no end of it (a closed one reads 0 bytes at once).
    /// `now` is the caller's reading of the clock (a request reads it once).
    pub fn take(&self, i: usize, thread: usize, now: Instant) -> Option<Kept> {
        let list = self.list(i, thread)?;
        loop {
            let (conn, since) = list.lock().unwrap_or_else(|p| p.into_inner()).pop()?;
            if now.saturating_duration_since(since) >= IDLE_FOR {
                continue;
            }
            let mut probe = [0u8; 1];
            match conn.0.try_read(&mut probe) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Some(conn),
                // Closed, failed, or bytes nobody asked for: not reusable.
                _ => continue,
            }
        }
    }

    /// `now`: when the connection's last answer came (close enough to when it went idle).
    pub fn put(&self, i: usize, thread: usize, conn: Kept, now: Instant) {
        let Some(list) = self.list(i, thread) else { return };
        let mut list = list.lock().unwrap_or_else(|p| p.into_inner());
        if list.len() < MAX_IDLE {
            list.push((conn, now));
        }
    }
}
