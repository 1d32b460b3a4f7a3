//! A fake upstream module proxy over a GOPROXY-layout directory, written on raw TCP so that it
//! can misbehave precisely: latency, error statuses, connection resets, truncated bodies, slow
//! drips and hangs, chosen per path. It counts requests per path.
//!
//! It runs on its own thread and runtime, so tests can call it from plain synchronous code.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// A way to misbehave.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status and a short text body.
    Status(u16),
    /// Close the connection without answering.
    Reset,
    /// Promise the full length, send this many bytes, then close.
    Truncate(usize),
    /// Send the body in chunks of `chunk` bytes, waiting `every` between chunks.
    SlowDrip { chunk: usize, every: Duration },
    /// Send the headers, then nothing, until the connection is dropped.
    Hang,
    /// Answer 200 with these bytes instead of the file's.
    Body(Vec<u8>),
    /// Answer 302 to this location (absolute, or a path on this server).
    Redirect(String),
}

#[derive(Default)]
struct State {
    latency: Duration,
    /// An `ETag` sent with every body (and compared with `If-Range`).
    etag: Option<String>,
    /// (path suffix, fault)
    faults: Vec<(String, Fault)>,
    counts: HashMap<String, usize>,
    /// Every n-th request (of any path) misbehaves, in turn, in one of these ways.
    every: Option<(usize, Vec<Fault>)>,
    seen: usize,
    /// Wall-clock time (µs since the Unix epoch) the first body byte of a path was sent.
    first_body_byte: HashMap<String, u128>,
    /// The last `traceparent` header each path came with.
    traceparents: HashMap<String, String>,
}

/// A running fake upstream.
pub struct FakeUpstream {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeUpstream {
    /// Serves `dir` on 127.0.0.1 (a free port).
    pub fn start(dir: impl Into<PathBuf>) -> Self {
        Self::start_on(dir, "127.0.0.1:0".parse().expect("loopback address"))
    }

    /// Serves `dir` on a given address (to restart on the same port).
    pub fn start_on(dir: impl Into<PathBuf>, addr: SocketAddr) -> Self {
        let dir = dir.into();
        let state = Arc::new(Mutex::new(State::default()));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let st = state.clone();
        let thread = std::thread::spawn(move || {
            let rt =
                tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
            rt.block_on(async move {
                let listener = TcpListener::bind(addr).await.expect("bind fake upstream");
                addr_tx.send(listener.local_addr().expect("local addr")).expect("report addr");
                let mut stop_rx = stop_rx;
                loop {
                    tokio::select! {
                        a = listener.accept() => {
                            if let Ok((s, _)) = a {
                                let (dir, st) = (dir.clone(), st.clone());
                                tokio::spawn(async move { let _ = handle(s, dir, st).await; });
                            }
                        }
                        _ = &mut stop_rx => break,
                    }
                }
            });
            // Dropping the runtime aborts every connection task.
            rt.shutdown_timeout(Duration::from_millis(100));
        });
        let addr = addr_rx.recv().expect("fake upstream started");
        Self { addr, state, stop: Some(stop_tx), thread: Some(thread) }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Adds latency before every answer.
    pub fn set_latency(&self, d: Duration) {
        self.lock().latency = d;
    }

    /// Sends this `ETag` with every body; a range whose `If-Range` differs gets the whole body.
    pub fn set_etag(&self, etag: &str) {
        self.lock().etag = Some(etag.to_string());
    }

    /// Misbehaves for every request whose path ends with `suffix`.
    pub fn fault(&self, suffix: &str, fault: Fault) {
        self.lock().faults.push((suffix.to_string(), fault));
    }

    /// Every `n`-th request misbehaves, taking the faults of `list` in turn (a flaky upstream).
    pub fn fault_every(&self, n: usize, list: Vec<Fault>) {
        self.lock().every = Some((n, list));
    }

    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// Requests seen for an exact path (as sent, e.g. `/example.com/m/@v/v1.0.0.zip`).
    pub fn count(&self, path: &str) -> usize {
        self.lock().counts.get(path).copied().unwrap_or(0)
    }

    /// Requests seen for paths ending with `suffix`.
    pub fn count_suffix(&self, suffix: &str) -> usize {
        self.lock().counts.iter().filter(|(p, _)| p.ends_with(suffix)).map(|(_, n)| n).sum()
    }

    pub fn total(&self) -> usize {
        self.lock().counts.values().sum()
    }

    /// The `traceparent` the last request for `path` came with, if it had one.
    pub fn traceparent(&self, path: &str) -> Option<String> {
        self.lock().traceparents.get(path).cloned()
    }

    /// When the first body byte for `path` was sent (µs since the Unix epoch), if it was.
    pub fn first_body_byte_us(&self, path: &str) -> Option<u128> {
        self.lock().first_body_byte.get(path).copied()
    }

    /// Every path's request count, as JSON (for benchmark scripts).
    pub fn stats_json(&self) -> String {
        stats_json(&self.lock())
    }

    pub fn reset_counts(&self) {
        self.lock().counts.clear();
    }

    /// Stops accepting and closes every connection.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn decode(p: &str) -> String {
    percent_encoding::percent_decode_str(p).decode_utf8_lossy().into_owned()
}

async fn handle(stream: TcpStream, dir: PathBuf, state: Arc<Mutex<State>>) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let target = parts.next().unwrap_or("/").to_string();
        // Headers: only `Range: bytes=N-`, `If-Range` and `traceparent` are read.
        let mut range_from: Option<usize> = None;
        let mut if_range: Option<String> = None;
        let mut traceparent: Option<String> = None;
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).await? == 0 {
                return Ok(());
            }
            if h == "\r\n" || h == "\n" {
                break;
            }
            if let Some((name, value)) = h.split_once(':') {
                if name.eq_ignore_ascii_case("range") {
                    range_from = value.trim().strip_prefix("bytes=").and_then(|v| v.strip_suffix('-')?.parse().ok());
                }
                if name.eq_ignore_ascii_case("if-range") {
                    if_range = Some(value.trim().to_string());
                }
                if name.eq_ignore_ascii_case("traceparent") {
                    traceparent = Some(value.trim().to_string());
                }
            }
        }
        let path = decode(target.split('?').next().unwrap_or("/"));
        if path == "/-/stats" {
            let body = stats_json(&state.lock().unwrap_or_else(|p| p.into_inner()));
            respond(&mut w, 200, "application/json", body.as_bytes(), false).await?;
            continue;
        }
        let etag_value = state.lock().unwrap_or_else(|p| p.into_inner()).etag.clone();
        let etag = etag_value.as_ref().map(|e| format!("ETag: {e}\r\n")).unwrap_or_default();
        let range_ok = if_range.is_none() || if_range == etag_value;
        let (latency, fault) = {
            let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
            *st.counts.entry(path.clone()).or_default() += 1;
            if let Some(t) = traceparent.take() {
                st.traceparents.insert(path.clone(), t);
            }
            st.seen += 1;
            let mut fault = st.faults.iter().rev().find(|(s, _)| path.ends_with(s.as_str())).map(|(_, f)| f.clone());
            if let Some((n, list)) = &st.every {
                if fault.is_none() && *n > 0 && st.seen.is_multiple_of(*n) && !list.is_empty() {
                    fault = Some(list[(st.seen / n) % list.len()].clone());
                }
            }
            (st.latency, fault)
        };
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let file = if path.split('/').any(|e| e == "..") {
            None
        } else {
            std::fs::read(dir.join(path.trim_start_matches('/'))).ok()
        };
        let head_only = method == "HEAD";
        match (fault, file) {
            (Some(Fault::Status(code)), _) => {
                let body = format!("injected fault {code}\n");
                respond(&mut w, code, "text/plain; charset=utf-8", body.as_bytes(), head_only).await?;
            }
            (Some(Fault::Reset), _) => {
                let s = w.reunite(r.into_inner()).map_err(|_| std::io::Error::other("reunite"))?;
                #[allow(deprecated)] // a zero linger never blocks; it makes the close a reset
                let _ = s.set_linger(Some(Duration::ZERO));
                drop(s);
                return Ok(());
            }
            (Some(Fault::Hang), _) => {
                w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n").await?;
                std::future::pending::<()>().await;
            }
            (Some(Fault::Body(b)), _) => respond(&mut w, 200, "application/octet-stream", &b, head_only).await?,
            (Some(Fault::Redirect(loc)), _) => {
                w.write_all(format!("HTTP/1.1 302 Found\r\nLocation: {loc}\r\nContent-Length: 0\r\n\r\n").as_bytes())
                    .await?;
                w.flush().await?;
            }
            (Some(Fault::Truncate(n)), Some(data)) => {
                w.write_all(format!("HTTP/1.1 200 OK\r\n{etag}Content-Length: {}\r\n\r\n", data.len()).as_bytes())
                    .await?;
                w.write_all(&data[..n.min(data.len())]).await?;
                w.flush().await?;
                return Ok(());
            }
            (Some(Fault::SlowDrip { chunk, every }), Some(data)) => {
                w.write_all(format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", data.len()).as_bytes()).await?;
                for (i, c) in data.chunks(chunk.max(1)).enumerate() {
                    if i == 0 {
                        note_first_byte(&state, &path);
                    }
                    w.write_all(c).await?;
                    w.flush().await?;
                    tokio::time::sleep(every).await;
                }
            }
            (None, Some(data)) if range_from.is_some_and(|f| f < data.len()) && range_ok => {
                // The rest of the file from the asked offset.
                let from = range_from.unwrap_or_default();
                let head = format!(
                    "HTTP/1.1 206 Partial Content\r\n{etag}Content-Type: {}\r\nContent-Range: bytes {from}-{}/{}\r\nContent-Length: {}\r\n\r\n",
                    content_type(&path),
                    data.len() - 1,
                    data.len(),
                    data.len() - from
                );
                w.write_all(head.as_bytes()).await?;
                w.write_all(&data[from..]).await?;
                w.flush().await?;
            }
            (_, Some(data)) if data.len() > 64 * 1024 && !head_only => {
                // Large bodies: the head alone, then the body, timestamped as it starts to leave.
                let head = format!(
                    "HTTP/1.1 200 OK\r\n{etag}Content-Type: {}\r\nContent-Length: {}\r\n\r\n",
                    content_type(&path),
                    data.len()
                );
                w.write_all(head.as_bytes()).await?;
                note_first_byte(&state, &path);
                w.write_all(&data).await?;
                w.flush().await?;
            }
            (_, Some(data)) => {
                if !head_only && !data.is_empty() {
                    note_first_byte(&state, &path);
                }
                respond(&mut w, 200, content_type(&path), &data, head_only).await?
            }
            (_, None) => {
                respond(
                    &mut w,
                    404,
                    "text/plain; charset=utf-8",
                    b"not found: no such file in the fake upstream\n",
                    head_only,
                )
                .await?
            }
        }
    }
}

fn stats_json(st: &State) -> String {
    let counts: serde_json::Map<String, serde_json::Value> =
        st.counts.iter().map(|(k, v)| (k.clone(), serde_json::Value::from(*v))).collect();
    let first: serde_json::Map<String, serde_json::Value> =
        st.first_body_byte.iter().map(|(k, v)| (k.clone(), serde_json::Value::from(*v as u64))).collect();
    serde_json::json!({ "counts": counts, "first_body_byte_us": first }).to_string()
}

fn note_first_byte(state: &Mutex<State>, path: &str) {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros()).unwrap_or(0);
    state.lock().unwrap_or_else(|p| p.into_inner()).first_body_byte.entry(path.to_string()).or_insert(now);
}

fn content_type(path: &str) -> &'static str {
    if path.ends_with(".zip") {
        "application/zip"
    } else if path.ends_with(".info") || path.ends_with("@latest") {
        "application/json"
    } else {
        "text/plain; charset=utf-8"
    }
}

async fn respond(
    w: &mut tokio::net::tcp::OwnedWriteHalf,
    code: u16,
    ct: &str,
    body: &[u8],
    head_only: bool,
) -> std::io::Result<()> {
    let reason = match code {
        200 => "OK",
        404 => "Not Found",
        410 => "Gone",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let mut msg = format!("HTTP/1.1 {code} {reason}\r\nContent-Type: {ct}\r\nContent-Length: {}\r\n\r\n", body.len())
        .into_bytes();
    if !head_only {
        msg.extend_from_slice(body);
    }
    w.write_all(&msg).await?;
    w.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, Write};

    /// The status of one request on a new connection (the fake keeps connections open, so only
    /// the status line is read).
    fn status(addr: SocketAddr, path: &str) -> String {
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").expect("send");
        let mut line = String::new();
        let _ = std::io::BufReader::new(s).read_line(&mut line);
        line.split_whitespace().nth(1).unwrap_or("none").to_string()
    }

    #[test]
    fn every_nth_request_fails_in_turn() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("x"), b"hello").expect("write");
        let up = FakeUpstream::start(dir.path());
        up.fault_every(2, vec![Fault::Status(503), Fault::Status(500)]);
        let got: Vec<String> = (0..4).map(|_| status(up.addr(), "/x")).collect();
        assert_eq!(got, ["200", "500", "200", "503"]);
    }
}
