//! Real git servers on 127.0.0.1 for direct-mode tests, each the genuine program behind a
//! listener the test owns (so no port is ever guessed):
//! - [`GitHttp`]: `git http-backend` as CGI behind a small HTTP server, with optional Basic auth,
//!   that also answers `?go-get=1` with pages the test sets;
//! - [`GitDaemon`]: `git daemon --inetd`, one process per connection;
//! - [`Sshd`]: OpenSSH's `sshd -i`, one process per connection, with a fresh host key and a
//!   client key that is the only one authorised;
//! - [`ForwardProxy`]: an HTTP forward proxy that sends named hosts to local servers, so module
//!   paths under made-up domains reach them (CONNECT is refused).

use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

/// A parsed HTTP/1.1 request head.
struct Head {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

fn read_head(r: &mut impl BufRead) -> Result<Option<Head>> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else { bail!("bad request line {line:?}") };
    let (method, target) = (method.to_string(), target.to_string());
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    Ok(Some(Head { method, target, headers }))
}

fn read_body(r: &mut impl BufRead, head: &Head) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    if head.header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            r.read_line(&mut size)?;
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or(""), 16)?;
            if n == 0 {
                let mut end = String::new();
                r.read_line(&mut end)?;
                break;
            }
            let mut chunk = vec![0; n];
            r.read_exact(&mut chunk)?;
            body.extend_from_slice(&chunk);
            let mut crlf = [0; 2];
            r.read_exact(&mut crlf)?;
        }
    } else if let Some(n) = head.header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.resize(n, 0);
        r.read_exact(&mut body)?;
    }
    Ok(body)
}

fn respond(w: &mut impl Write, status: &str, headers: &[(String, String)], body: &[u8]) -> std::io::Result<()> {
    let mut out = format!("HTTP/1.1 {status}\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n", body.len()));
    w.write_all(out.as_bytes())?;
    w.write_all(body)?;
    w.flush()
}

fn serve(listener: TcpListener, handler: impl Fn(TcpStream) + Send + Sync + 'static) {
    let handler = Arc::new(handler);
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let h = Arc::clone(&handler);
            std::thread::spawn(move || h(conn));
        }
    });
}

#[derive(Default)]
struct HttpState {
    pages: HashMap<String, String>,
    /// "METHOD host/path?query user" per request, in order.
    log: Vec<String>,
    /// Bytes of git answers sent so far (bodies of http-backend responses).
    sent: u64,
}

/// `git http-backend` over the repositories under a root, plus `?go-get=1` pages.
pub struct GitHttp {
    addr: SocketAddr,
    state: Arc<Mutex<HttpState>>,
}

impl GitHttp {
    /// Serves the repositories under `root` (`/<path relative to root>`), requiring Basic auth
    /// with `auth` when given.
    pub fn start(root: &Path, auth: Option<(&str, &str)>) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(HttpState::default()));
        let root = root.to_path_buf();
        let want = auth.map(|(u, p)| basic(u, p));
        let st = Arc::clone(&state);
        serve(listener, move |conn| {
            let _ = handle_git_http(conn, &root, want.as_deref(), &st);
        });
        Ok(Self { addr, state })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Answers `GET /<path>?go-get=1` for Host `host` with `html`; `host_path` is `host/path`.
    pub fn set_page(&self, host_path: &str, html: &str) {
        self.state.lock().unwrap().pages.insert(host_path.to_string(), html.to_string());
    }

    /// Bytes of git answers (http-backend response bodies) sent so far.
    pub fn sent_bytes(&self) -> u64 {
        self.state.lock().unwrap().sent
    }

    /// Every request so far: `METHOD host/target user`.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().log.clone()
    }
}

fn basic(user: &str, pass: &str) -> String {
    use std::fmt::Write as _;
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = format!("{user}:{pass}").into_bytes();
    let mut out = String::from("Basic ");
    for c in b.chunks(3) {
        let n = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                let _ = out.write_char(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn handle_git_http(conn: TcpStream, root: &Path, want: Option<&str>, state: &Mutex<HttpState>) -> Result<()> {
    let mut r = BufReader::new(conn.try_clone()?);
    let mut w = conn;
    let Some(head) = read_head(&mut r)? else { return Ok(()) };
    let body = read_body(&mut r, &head)?;
    let host = head.header("host").unwrap_or("").split(':').next().unwrap_or("").to_string();
    let (path, query) = head.target.split_once('?').unwrap_or((&head.target, ""));
    let authorized = want.is_none_or(|w| head.header("authorization") == Some(w));
    let user = if want.is_some() && authorized { "user" } else { "-" };
    state.lock().unwrap().log.push(format!("{} {host}{} {user}", head.method, head.target));
    if query.split('&').any(|kv| kv == "go-get=1") {
        let page = state.lock().unwrap().pages.get(&format!("{host}{}", path.trim_end_matches('/'))).cloned();
        match page {
            Some(html) => respond(&mut w, "200 OK", &[("Content-Type".into(), "text/html".into())], html.as_bytes())?,
            None => respond(&mut w, "404 Not Found", &[], b"not found\n")?,
        }
        return Ok(());
    }
    if !authorized {
        let challenge = [("WWW-Authenticate".to_string(), "Basic realm=\"git\"".to_string())];
        respond(&mut w, "401 Unauthorized", &challenge, b"")?;
        return Ok(());
    }
    let mut cmd = Command::new("git");
    cmd.arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("REQUEST_METHOD", &head.method)
        .env("PATH_INFO", percent_encoding::percent_decode_str(path).decode_utf8_lossy().as_ref())
        .env("QUERY_STRING", query)
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("REMOTE_USER", user)
        .env("CONTENT_LENGTH", body.len().to_string());
    for (h, var) in [
        ("content-type", "CONTENT_TYPE"),
        ("git-protocol", "GIT_PROTOCOL"),
        ("content-encoding", "HTTP_CONTENT_ENCODING"),
    ] {
        if let Some(v) = head.header(h) {
            cmd.env(var, v);
        }
    }
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null()).spawn()?;
    let mut stdin = child.stdin.take().context("stdin")?;
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&body);
    });
    let out = child.wait_with_output()?;
    let _ = feeder.join();
    // CGI: headers, a blank line, the body.
    let split = out.stdout.windows(4).position(|w| w == b"\r\n\r\n").map(|p| (p, 4));
    let split = split.or_else(|| out.stdout.windows(2).position(|w| w == b"\n\n").map(|p| (p, 2)));
    let Some((end, sep)) = split else {
        return Ok(respond(&mut w, "500 Internal Server Error", &[], b"bad CGI output\n")?);
    };
    let mut status = "200 OK".to_string();
    let mut headers = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout[..end]).lines() {
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("status") {
                status = v.trim().to_string();
            } else {
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
    }
    let body = &out.stdout[end + sep..];
    state.lock().unwrap().sent += body.len() as u64;
    Ok(respond(&mut w, &status, &headers, body)?)
}

/// Hands a connected socket to a child as its stdin and stdout (inetd style).
fn spawn_on(conn: TcpStream, cmd: &mut Command) -> Result<()> {
    let fd: OwnedFd = conn.into();
    let out = fd.try_clone()?;
    let mut child = cmd.stdin(Stdio::from(fd)).stdout(Stdio::from(out)).stderr(Stdio::null()).spawn()?;
    std::thread::spawn(move || {
        let _ = child.wait();
    });
    Ok(())
}

/// `git daemon` serving every repository under a base path: `git://127.0.0.1:<port>/<rel>`.
pub struct GitDaemon {
    addr: SocketAddr,
}

impl GitDaemon {
    pub fn start(base: &Path) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let base = base.to_path_buf();
        serve(listener, move |conn| {
            let mut cmd = Command::new("git");
            cmd.args(["daemon", "--inetd", "--export-all", "--informative-errors"])
                .arg(format!("--base-path={}", base.display()))
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .env("GIT_CONFIG_GLOBAL", "/dev/null");
            let _ = spawn_on(conn, &mut cmd);
        });
        Ok(Self { addr })
    }

    pub fn url(&self, rel: &str) -> String {
        format!("git://{}/{}", self.addr, rel.trim_start_matches('/'))
    }
}

/// OpenSSH's sshd, accepting only the generated client key.
pub struct Sshd {
    addr: SocketAddr,
    pub client_key: PathBuf,
    user: String,
}

/// Where sshd is, if it is installed.
pub fn sshd_binary() -> Option<PathBuf> {
    ["/usr/sbin/sshd", "/usr/local/sbin/sshd", "/sbin/sshd"].iter().map(PathBuf::from).find(|p| p.exists())
}

impl Sshd {
    /// Starts sshd with its keys and configuration under `dir`.
    pub fn start(dir: &Path) -> Result<Self> {
        let sshd = sshd_binary().context("sshd is not installed (Debian: openssh-server)")?;
        std::fs::create_dir_all(dir)?;
        let keygen = |path: &Path| -> Result<()> {
            let st = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", "modgate-test", "-f"])
                .arg(path)
                .stdin(Stdio::null())
                .status()?;
            if !st.success() {
                bail!("ssh-keygen failed");
            }
            Ok(())
        };
        let host_key = dir.join("host_key");
        let client_key = dir.join("client_key");
        keygen(&host_key)?;
        keygen(&client_key)?;
        std::fs::copy(dir.join("client_key.pub"), dir.join("authorized_keys"))?;
        let user = String::from_utf8(Command::new("id").arg("-un").output()?.stdout)?.trim().to_string();
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "HostKey {}\nAuthorizedKeysFile {}\nStrictModes no\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nPubkeyAuthentication yes\nUsePAM no\nPermitRootLogin prohibit-password\n\
                 PidFile none\nLogLevel ERROR\n",
                host_key.display(),
                dir.join("authorized_keys").display()
            ),
        )?;
        // sshd insists on its privilege-separation directory.
        let _ = std::fs::create_dir_all("/run/sshd");
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        serve(listener, move |conn| {
            let mut cmd = Command::new(&sshd);
            cmd.arg("-i").arg("-f").arg(&config);
            let _ = spawn_on(conn, &mut cmd);
        });
        Ok(Self { addr, client_key, user })
    }

    /// `ssh://user@127.0.0.1:port/<absolute path>` of a repository on this machine.
    pub fn url(&self, repo: &Path) -> String {
        format!("ssh://{}@{}{}", self.user, self.addr, repo.display())
    }
}

/// An HTTP forward proxy that sends requests for named hosts to local servers and answers 502
/// for every other host and for CONNECT. It records what it was asked.
pub struct ForwardProxy {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl ForwardProxy {
    pub fn start(routes: HashMap<String, SocketAddr>) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let l = Arc::clone(&log);
        serve(listener, move |conn| {
            let _ = forward(conn, &routes, &l);
        });
        Ok(Self { addr, log })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request so far: `METHOD target`.
    pub fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

fn forward(conn: TcpStream, routes: &HashMap<String, SocketAddr>, log: &Mutex<Vec<String>>) -> Result<()> {
    let mut r = BufReader::new(conn.try_clone()?);
    let mut w = conn;
    let Some(head) = read_head(&mut r)? else { return Ok(()) };
    log.lock().unwrap().push(format!("{} {}", head.method, head.target));
    let bad = |w: &mut TcpStream| respond(w, "502 Bad Gateway", &[], b"no route\n");
    if head.method == "CONNECT" {
        return Ok(bad(&mut w)?);
    }
    let Some(rest) = head.target.strip_prefix("http://") else { return Ok(bad(&mut w)?) };
    let (authority, path) = rest.split_once('/').map(|(a, p)| (a, format!("/{p}"))).unwrap_or((rest, "/".into()));
    let host = authority.split(':').next().unwrap_or("");
    let Some(backend) = routes.get(host) else { return Ok(bad(&mut w)?) };
    let body = read_body(&mut r, &head)?;
    let mut up = TcpStream::connect(backend)?;
    let mut out = format!("{} {path} HTTP/1.1\r\n", head.method);
    for (k, v) in &head.headers {
        let k_l = k.to_ascii_lowercase();
        if k_l.starts_with("proxy-") || k_l == "connection" || k_l == "transfer-encoding" || k_l == "content-length" {
            continue;
        }
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n", body.len()));
    up.write_all(out.as_bytes())?;
    up.write_all(&body)?;
    // The answer goes back with `Connection: close`, so the client never reuses this socket.
    let mut ur = BufReader::new(up);
    let mut status = String::new();
    ur.read_line(&mut status)?;
    let mut resp = status;
    loop {
        let mut h = String::new();
        if ur.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
        if !h.to_ascii_lowercase().starts_with("connection:") {
            resp.push_str(&h);
        }
    }
    resp.push_str("Connection: close\r\n\r\n");
    w.write_all(resp.as_bytes())?;
    std::io::copy(&mut ur, &mut w)?;
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn basic_auth_header() {
        assert_eq!(super::basic("bot", "tok"), "Basic Ym90OnRvaw==");
        assert_eq!(super::basic("a", "bc"), "Basic YTpiYw==");
        assert_eq!(super::basic("ab", "cd"), "Basic YWI6Y2Q=");
    }
}
