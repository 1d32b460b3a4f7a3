//! Idle keep-alive connections to a route's plain-HTTP members, for the HTTP/1 relay
//! (`server::relay`): a connection goes back when its answer ended cleanly on a connection the
//! backend keeps open, and is taken again while it is fresh and the backend has not closed it.

use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// Idle connections kept per member, and for how long.
const MAX_IDLE: usize = 256;
const IDLE_FOR: Duration = Duration::from_secs(60);

pub struct Idle {
    members: Vec<Mutex<Vec<(TcpStream, Instant)>>>,
}

impl Idle {
    pub fn new(members: usize) -> Self {
        Self { members: (0..members).map(|_| Mutex::new(Vec::new())).collect() }
    }

    /// A kept connection to member `i` that is still open as far as can be seen without
    /// waiting: the reactor has seen no end of it (a closed one reads 0 bytes at once).
    pub fn take(&self, i: usize) -> Option<TcpStream> {
        let list = self.members.get(i)?;
        loop {
            let (conn, since) = list.lock().unwrap_or_else(|p| p.into_inner()).pop()?;
            if since.elapsed() >= IDLE_FOR {
                continue;
            }
            let mut probe = [0u8; 1];
            match conn.try_read(&mut probe) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Some(conn),
                // Closed, failed, or bytes nobody asked for: not reusable.
                _ => continue,
            }
        }
    }

    pub fn put(&self, i: usize, conn: TcpStream) {
        let Some(list) = self.members.get(i) else { return };
        let mut list = list.lock().unwrap_or_else(|p| p.into_inner());
        if list.len() < MAX_IDLE {
            list.push((conn, Instant::now()));
        }
    }
}
