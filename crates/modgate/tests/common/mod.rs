//! Shared test harness: modgate in-process or as a real process, and a raw HTTP client.
#![allow(dead_code)]

use modgate::config::{self, Config, Overrides};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use testkit::graph::Graph;
use testkit::upstream::FakeUpstream;

/// A graph written to a temporary GOPROXY directory and served by a fake upstream.
pub struct Fixture {
    pub graph: Graph,
    pub dir: tempfile::TempDir,
    pub upstream: FakeUpstream,
}

pub fn fixture(n: usize) -> Fixture {
    let graph = testkit::graph::generate(n, 42);
    let dir = tempfile::tempdir().expect("tempdir");
    graph.write_proxy_dir(dir.path()).expect("write proxy dir");
    let upstream = FakeUpstream::start(dir.path());
    Fixture { graph, dir, upstream }
}

pub fn test_config(upstream: &str, data_dir: &Path) -> Config {
    let over = Overrides {
        listen: Some("127.0.0.1:0".into()),
        data_dir: Some(data_dir.display().to_string()),
        upstream: Some(upstream.into()),
        log_level: Some("debug".into()),
        log_format: None,
    };
    let Some(sections) = shared_backends(data_dir) else {
        return config::load(None, &over, &config::Defaults::default()).expect("test config");
    };
    let path = data_dir.with_extension("toml");
    std::fs::write(&path, &sections).expect("write the configuration");
    config::load_text(Some((&path, &sections)), &over, &config::Defaults::default()).expect("test config")
}

/// The bucket and the Redis of this test process, started on first use and kept until it exits
/// (`MODGATE_TEST_SHARED=1` runs the suite on them).
struct Backends {
    s3: testkit::s3::S3Server,
    redis: testkit::redis::RedisServer,
    _dir: tempfile::TempDir,
}

static BACKENDS: std::sync::OnceLock<Backends> = std::sync::OnceLock::new();

/// The file a committed object `rel` (an escaped path without its leading `/`) of the server
/// whose data directory is `data_dir` lives in: under `data_dir/cache/`, or in the test bucket.
pub fn stored_path(data_dir: &Path, rel: &str) -> std::path::PathBuf {
    match (shared_backends(data_dir), BACKENDS.get()) {
        (Some(_), Some(b)) => b.s3.object_file("suite", &format!("{}/{rel}", unique_prefix(data_dir))),
        _ => data_dir.join("cache").join(rel),
    }
}

fn unique_prefix(data_dir: &Path) -> String {
    let unique: String = data_dir.display().to_string().chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    unique[unique.len().saturating_sub(24)..].to_string()
}

/// With `MODGATE_TEST_SHARED=1`: `[storage]` and `[coordination]` sections that put a test's
/// objects in a real bucket and its metadata in a real Redis, under a prefix of its own (named
/// after its data directory), so that the tests of one process share the servers and nothing
/// else. `None` otherwise: the local disk, as configured.
pub fn shared_backends(data_dir: &Path) -> Option<String> {
    if std::env::var_os("MODGATE_TEST_SHARED").is_none_or(|v| v != "1") {
        return None;
    }
    let b = BACKENDS.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let s3 = testkit::s3::S3Server::start(&dir.path().join("s3"), "suite").expect("the test bucket");
        let redis = testkit::redis::RedisServer::start(&dir.path().join("redis")).expect("the test Redis");
        // Statics are never dropped: the Redis process goes when the test process exits.
        static PID: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);
        extern "C" fn kill_redis() {
            let pid = PID.load(std::sync::atomic::Ordering::Relaxed);
            if pid > 0 {
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        PID.store(redis.pid().map_or(0, |p| p as i32), std::sync::atomic::Ordering::Relaxed);
        unsafe { libc::atexit(kill_redis) };
        Backends { s3, redis, _dir: dir }
    });
    let unique = unique_prefix(data_dir);
    Some(format!("{}{}prefix = \"{unique}\"\n", b.s3.storage_toml("suite", &unique), b.redis.coordination_toml("10s")))
}

/// Turns on `[auth]` for `cfg` with `policy` (policy-file TOML) and an empty keys file in `dir`;
/// returns the keys file, for `new_key`.
pub fn with_auth(cfg: &mut Config, dir: &Path, policy: &str) -> std::path::PathBuf {
    let (keys, policy_file) = (dir.join("keys.toml"), dir.join("policy.toml"));
    std::fs::write(&policy_file, policy).expect("policy");
    cfg.auth = Some(modgate::config::AuthSettings {
        keys_file: keys.clone(),
        policy_file,
        anonymous_group: None,
        hide_denied: false,
        audit_log: None,
        key_rate: 0.0,
        key_burst: 0.0,
    });
    keys
}

/// A policy for admin tests: the `ops` group administers, everyone (and anonymous callers, in
/// the `public` group) reads every module.
pub const ADMIN_POLICY: &str = "admin = [\"ops\"]\n[[rule]]\nmodules = \"*\"\nread = [\"*\", \"public\"]\n";

/// `[auth]` with `ADMIN_POLICY` and anonymous readers; returns the keys file and an `ops` key
/// (named `oncall`).
pub fn with_admin(cfg: &mut Config, dir: &Path) -> (std::path::PathBuf, String) {
    let keys = with_auth(cfg, dir, ADMIN_POLICY);
    if let Some(a) = cfg.auth.as_mut() {
        a.anonymous_group = Some("public".into());
    }
    let ops = new_key(&keys, "oncall", "ops");
    (keys, ops)
}

/// A new API key in `group`, added to the keys file (created if missing).
pub fn new_key(keys: &Path, name: &str, group: &str) -> String {
    let mut f = modgate::auth::KeysFile::load(keys).expect("keys file");
    let key = f.add(name, vec![group.to_string()]);
    f.save(keys).expect("save keys");
    key
}

/// A configuration from TOML text (upstream off unless the text says otherwise), listening on a
/// free loopback port, with its data under `dir`.
pub fn config_from_text(dir: &Path, text: &str) -> Config {
    let mut text = if text.contains("upstream =") { text.to_string() } else { format!("upstream = \"off\"\n{text}\n") };
    if !text.contains("[storage]") {
        if let Some(sections) = shared_backends(dir) {
            text = format!("{text}\n{sections}");
        }
    }
    let path = dir.join("modgate.toml");
    std::fs::write(&path, &text).expect("write the configuration");
    let over = Overrides {
        listen: Some("127.0.0.1:0".into()),
        data_dir: Some(dir.join("data").display().to_string()),
        // Debug lines unless the text names its own level.
        log_level: (!text.contains("log_level =")).then(|| "debug".into()),
        ..Overrides::default()
    };
    config::load_text(Some((&path, &text)), &over, &config::Defaults::default()).expect("configuration")
}

/// modgate running in this process on its own runtime.
pub struct InProcess {
    rt: Option<tokio::runtime::Runtime>,
    running: Option<modgate::server::Running>,
    pub addr: SocketAddr,
}

impl InProcess {
    pub fn start(cfg: Config) -> Self {
        Self::start_with(cfg, None)
    }

    /// `start`, reloadable (`POST /-/admin/reload`) from `source`.
    pub fn start_with(cfg: Config, source: Option<modgate::config::ConfigSource>) -> Self {
        let _ = modgate::init_logging("debug", config::LogFormat::Text, None);
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let running = rt.block_on(modgate::server::start_with(cfg, source)).expect("start modgate");
        let addr = running.addr;
        Self { rt: Some(rt), running: Some(running), addr }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The metrics listener's address (with `[metrics] listen`).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.running.as_ref().and_then(|r| r.metrics_addr)
    }

    /// The running application, for calling its parts directly.
    pub fn app(&self) -> std::sync::Arc<modgate::app::App> {
        std::sync::Arc::clone(&self.running.as_ref().expect("running").app)
    }

    pub fn stop(mut self) {
        self.shutdown();
    }

    /// Waits until the small objects answered from memory are committed to the store.
    pub fn settle(&self) {
        if let (Some(rt), Some(r)) = (self.rt.as_ref(), self.running.as_ref()) {
            rt.block_on(r.app.modules.settle());
        }
    }

    fn shutdown(&mut self) {
        if let (Some(rt), Some(r)) = (self.rt.as_ref(), self.running.take()) {
            rt.block_on(r.stop());
        }
        if let Some(rt) = self.rt.take() {
            rt.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// modgate as a real child process (for signals and kill -9).
pub struct Process {
    pub child: Child,
    pub addr: SocketAddr,
    pub logs: Arc<Mutex<Vec<String>>>,
}

impl Process {
    pub fn start(args: &[&str]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_modgate"));
        cmd.arg("serve").args(["--listen", "127.0.0.1:0"]).args(args);
        Self::start_with(cmd)
    }

    /// Starts a prepared command (which must make modgate listen on some address). Unless the
    /// command names a go command to ask for defaults (`MODGATE_GO`), none is asked and no
    /// checksum database is used unless it sets `GOSUMDB`: the machine's own settings must not
    /// leak in.
    pub fn start_with(mut cmd: Command) -> Self {
        let set = |cmd: &Command, k: &str| cmd.get_envs().any(|(key, _)| key == k);
        if !set(&cmd, "MODGATE_GO") {
            if !set(&cmd, "GOSUMDB") {
                cmd.env("GOSUMDB", "off");
            }
            cmd.env("MODGATE_GO", "/nonexistent/go");
        }
        let mut child = cmd
            .env_remove("GOPROXY")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn modgate");
        let stderr = child.stderr.take().expect("stderr");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let l = logs.clone();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("listening") {
                    let text_form = line.split_whitespace().find_map(|w| w.strip_prefix("addr="));
                    let json_form = line.split("\"addr\":\"").nth(1).and_then(|rest| rest.split('"').next());
                    if let Some(addr) = text_form.or(json_form) {
                        if let Some(t) = tx.take() {
                            let _ = t.send(addr.to_string());
                        }
                    }
                }
                l.lock().unwrap().push(line);
            }
        });
        let addr = rx.recv_timeout(Duration::from_secs(30)).expect("modgate reported its address");
        Self { child, addr: addr.parse().expect("addr"), logs }
    }

    /// `modgate serve` of the configuration `cfg_text` (written into `dir`, also its `HOME`),
    /// with none of the machine's git configuration, proxy or OpenTelemetry variables.
    pub fn start_config(cfg_text: &str, dir: &Path) -> Self {
        let cfg = dir.join("modgate.toml");
        std::fs::write(&cfg, cfg_text).expect("write the configuration");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_modgate"));
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(&cfg)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("HOME", dir);
        for var in [
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "http_proxy",
            "https_proxy",
            "ALL_PROXY",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        ] {
            cmd.env_remove(var);
        }
        Self::start_with(cmd)
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }

    pub fn signal(&self, sig: i32) {
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }

    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A parsed HTTP/1.1 response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends raw bytes and reads the response until the server closes the connection.
pub fn raw(addr: SocketAddr, request: &[u8]) -> std::io::Result<Resp> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    s.write_all(request)?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    parse_response(&buf)
        .ok_or_else(|| std::io::Error::other(format!("unparseable response: {:?}", String::from_utf8_lossy(&buf))))
}

fn parse_response(buf: &[u8]) -> Option<Resp> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&buf[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_string(), v.trim().to_string())).collect();
    let mut body = buf[end + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Some(Resp { status, headers, body })
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(i) = b.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(std::str::from_utf8(&b[..i]).unwrap_or("0").trim(), 16).unwrap_or(0);
        if size == 0 || b.len() < i + 2 + size {
            break;
        }
        out.extend_from_slice(&b[i + 2..i + 2 + size]);
        b = &b[(i + 4 + size).min(b.len())..];
    }
    out
}

/// A GET with `Connection: close` and extra headers.
pub fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Resp {
    request(addr, "GET", path, headers)
}

pub fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Resp {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    raw(addr, req.as_bytes()).unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// Waits for a condition, polling; fails the test after `limit`.
pub fn wait_until(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The escaped request path of an object.
pub fn obj_path(module: &str, version: &str, ext: &str) -> String {
    format!("/{}/@v/{}{ext}", gomod::path::escape_path(module).unwrap(), gomod::path::escape_version(version).unwrap())
}

/// A module zip of `module@version` with a go.mod and one Go file holding `content`, built in
/// `dir` (publishing tests: zips that differ by their content).
pub fn module_zip(dir: &Path, module: &str, version: &str, content: &str) -> Vec<u8> {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("go.mod"), format!("module {module}\n\ngo 1.21\n")).unwrap();
    std::fs::write(dir.join("lib.go"), format!("package lib\n\nconst Content = {content:?}\n")).unwrap();
    gomod::zipcreate::create_from_dir(dir, module, version, std::io::Cursor::new(Vec::new())).unwrap().into_inner()
}

/// `PUT` of `body` to `path` with an API key.
pub fn put(addr: SocketAddr, path: &str, key: &str, body: &[u8]) -> Resp {
    let mut req = format!(
        "PUT {path} HTTP/1.1\r\nHost: m\r\nAuthorization: Bearer {key}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    raw(addr, &req).unwrap()
}
