//! A small HTTP/1.1 backend for reverse-proxy tests, on raw TCP so that it sees exactly what
//! arrives and can misbehave on purpose: it logs every request head it reads, echoes requests
//! as JSON, streams large bodies out and counts large bodies in, echoes WebSocket messages, and
//! can be told to answer one status, to hang, to reset connections, or to answer late.
//!
//! It runs on its own thread and runtime, so tests can call it from plain synchronous code.
//!
//! Paths: `/bytes/N` answers N bytes; `/upload` reads the body and answers its length;
//! `/trailers` answers a chunked body with a trailer; `/ws` takes a WebSocket upgrade and echoes
//! messages; anything else is echoed: `{"method", "path", "headers": [[name, value]], "body_len"}`.

use futures::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// How the backend answers (paths with a meaning of their own aside).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Echo,
    /// This status, with a short body.
    Status(u16),
    /// Read the request, never answer.
    Hang,
    /// Read the request, then reset the connection.
    Reset,
    /// Wait, then echo.
    Delay(Duration),
}

struct State {
    mode: Mode,
    /// `METHOD target` of every request head read, in order.
    log: Vec<String>,
    /// Body bytes read from all requests.
    body_bytes: u64,
}

pub struct Backend {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Backend {
    pub fn start() -> Self {
        Self::start_on("127.0.0.1:0".parse().expect("loopback address"))
    }

    /// On `addr` (to bring a stopped backend back on its port).
    pub fn start_on(addr: SocketAddr) -> Self {
        let state = Arc::new(Mutex::new(State { mode: Mode::Echo, log: Vec::new(), body_bytes: 0 }));
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let st = Arc::clone(&state);
        let thread = std::thread::spawn(move || {
            let rt =
                tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
            rt.block_on(async move {
                let listener = TcpListener::bind(addr).await.expect("bind the backend");
                addr_tx.send(listener.local_addr().expect("address")).expect("send the address");
                tokio::select! {
                    _ = accept_loop(listener, st) => {}
                    _ = rx => {}
                }
            });
            // Open connections go with the runtime: their peers see them reset or closed.
            rt.shutdown_background();
        });
        let addr = addr_rx.recv().expect("backend address");
        Self { addr, state, stop: Some(tx), thread: Some(thread) }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_mode(&self, mode: Mode) {
        self.state.lock().expect("state").mode = mode;
    }

    /// `METHOD target` of every request head the backend has read.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().expect("state").log.clone()
    }

    pub fn count(&self) -> usize {
        self.state.lock().expect("state").log.len()
    }

    pub fn body_bytes(&self) -> u64 {
        self.state.lock().expect("state").body_bytes
    }

    /// Stops listening and drops every open connection.
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
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.shutdown();
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<Mutex<State>>) {
    while let Ok((stream, _)) = listener.accept().await {
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve(stream, Arc::clone(&state)));
    }
}

struct Head {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn get(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

async fn read_head<R: AsyncRead + Unpin>(r: &mut BufReader<R>) -> Option<Head> {
    let mut line = String::new();
    if r.read_line(&mut line).await.ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).await.ok()? == 0 {
            return None;
        }
        let h = h.trim_end_matches(['\r', '\n']);
        if h.is_empty() {
            return Some(Head { method, target, headers });
        }
        let (n, v) = h.split_once(':')?;
        headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
}

/// Reads (and counts, without keeping) the request body.
async fn read_body<R: AsyncRead + Unpin>(r: &mut BufReader<R>, head: &Head) -> Option<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    if head.get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        let mut total = 0u64;
        loop {
            let mut size = String::new();
            r.read_line(&mut size).await.ok()?;
            let n = u64::from_str_radix(size.trim().split(';').next()?.trim(), 16).ok()?;
            if n == 0 {
                // Trailers, up to the empty line.
                loop {
                    let mut t = String::new();
                    r.read_line(&mut t).await.ok()?;
                    if t.trim().is_empty() {
                        return Some(total);
                    }
                }
            }
            let mut left = n;
            while left > 0 {
                let k = r.read(&mut buf[..left.min(64 * 1024) as usize]).await.ok()?;
                if k == 0 {
                    return None;
                }
                left -= k as u64;
            }
            total += n;
            let mut crlf = String::new();
            r.read_line(&mut crlf).await.ok()?;
        }
    }
    let mut left: u64 = head.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let total = left;
    while left > 0 {
        let k = r.read(&mut buf[..left.min(64 * 1024) as usize]).await.ok()?;
        if k == 0 {
            return None;
        }
        left -= k as u64;
    }
    Some(total)
}

async fn serve(stream: TcpStream, state: Arc<Mutex<State>>) {
    let mut r = BufReader::new(stream);
    loop {
        let Some(head) = read_head(&mut r).await else { return };
        let mode = {
            let mut s = state.lock().expect("state");
            s.log.push(format!("{} {}", head.method, head.target));
            s.mode
        };
        if head.target == "/ws" && head.get("upgrade").is_some_and(|u| u.eq_ignore_ascii_case("websocket")) {
            return websocket(r.into_inner(), &head).await;
        }
        let Some(body_len) = read_body(&mut r, &head).await else { return };
        state.lock().expect("state").body_bytes += body_len;
        let close = head.get("connection").is_some_and(|c| c.eq_ignore_ascii_case("close"));
        let ok = match mode {
            Mode::Hang => return std::future::pending().await,
            Mode::Reset => {
                #[allow(deprecated)] // a zero linger never blocks; it makes the close a reset
                let _ = r.get_ref().set_linger(Some(Duration::ZERO));
                return;
            }
            Mode::Status(s) => answer(r.get_mut(), s, "text/plain", b"backend says no\n").await,
            Mode::Delay(d) => {
                tokio::time::sleep(d).await;
                reply(r.get_mut(), &head, body_len).await
            }
            Mode::Echo => reply(r.get_mut(), &head, body_len).await,
        };
        if !ok || close {
            return;
        }
    }
}

async fn answer(w: &mut TcpStream, status: u16, ctype: &str, body: &[u8]) -> bool {
    let head = format!("HTTP/1.1 {status} X\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\n\r\n", body.len());
    w.write_all(head.as_bytes()).await.is_ok() && w.write_all(body).await.is_ok()
}

async fn reply(w: &mut TcpStream, head: &Head, body_len: u64) -> bool {
    if let Some(n) = head.target.strip_prefix("/bytes/").and_then(|n| n.parse::<u64>().ok()) {
        return stream_bytes(w, n).await;
    }
    match head.target.as_str() {
        "/upload" => answer(w, 200, "text/plain", body_len.to_string().as_bytes()).await,
        "/trailers" => {
            let msg = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ntrailer: x-checksum\r\n\r\n\
                       5\r\nhello\r\n0\r\nx-checksum: abc\r\n\r\n";
            w.write_all(msg.as_bytes()).await.is_ok()
        }
        _ => {
            let body = serde_json::json!({
                "method": head.method,
                "path": head.target,
                "headers": head.headers,
                "body_len": body_len,
            });
            answer(w, 200, "application/json", body.to_string().as_bytes()).await
        }
    }
}

async fn stream_bytes(w: &mut TcpStream, n: u64) -> bool {
    let head = format!("HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: {n}\r\n\r\n");
    if w.write_all(head.as_bytes()).await.is_err() {
        return false;
    }
    let chunk = vec![b'x'; 64 * 1024];
    let mut left = n;
    while left > 0 {
        let k = left.min(chunk.len() as u64) as usize;
        if w.write_all(&chunk[..k]).await.is_err() {
            return false;
        }
        left -= k as u64;
    }
    true
}

/// The server side of a WebSocket handshake, then every message echoed back.
async fn websocket(mut stream: TcpStream, head: &Head) {
    use tokio_tungstenite::tungstenite::{handshake::derive_accept_key, protocol::Role};
    let Some(key) = head.get("sec-websocket-key") else { return };
    let accept = derive_accept_key(key.as_bytes());
    let resp = format!(
        "HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\nsec-websocket-accept: {accept}\r\n\r\n"
    );
    if stream.write_all(resp.as_bytes()).await.is_err() {
        return;
    }
    let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(stream, Role::Server, None).await;
    while let Some(Ok(msg)) = ws.next().await {
        if msg.is_close() {
            return;
        }
        if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
            return;
        }
    }
}

/// A WebSocket client: connects to `addr`, upgrades at `path`, sends each text message and
/// returns what comes back for each.
pub fn ws_roundtrip(addr: SocketAddr, path: &str, messages: &[String]) -> anyhow::Result<Vec<String>> {
    use tokio_tungstenite::tungstenite::Message;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let stream = TcpStream::connect(addr).await?;
        let url = format!("ws://{addr}{path}");
        let (mut ws, _) = tokio_tungstenite::client_async(url, stream).await?;
        let mut out = Vec::new();
        for m in messages {
            ws.send(Message::text(m.clone())).await?;
            match tokio::time::timeout(Duration::from_secs(20), ws.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => out.push(t.to_string()),
                other => anyhow::bail!("no echo for {m:?}: {other:?}"),
            }
        }
        ws.close(None).await?;
        Ok(out)
    })
}
