//! The shipped dashboard and alert rules against a real Prometheus: it scrapes a modgate that
//! uses every part the metrics describe (a pool with a member out, a broken route, direct mode,
//! a proxy route, TLS, keys and a rate limit) under a short load; then every expression of
//! `deploy/grafana/modgate.json` and `deploy/prometheus/alerts.yml` must evaluate and return
//! series, and `promtool check rules` must pass.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use testkit::backend::Backend;
use testkit::gitrepo::Repo;
use testkit::tlsgen::TestCa;
use testkit::upstream::{FakeUpstream, Fault};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

struct Prometheus {
    child: Child,
    addr: std::net::SocketAddr,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    fn start(dir: &Path, target: std::net::SocketAddr) -> Self {
        let port = testkit::nginx::free_port().expect("a free port");
        let rules = repo_root().join("deploy/prometheus/alerts.yml");
        let cfg = dir.join("prometheus.yml");
        std::fs::write(
            &cfg,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\n\
                 scrape_configs:\n  - job_name: modgate\n    static_configs:\n      - targets: [\"{target}\"]\n",
                rules.display()
            ),
        )
        .expect("prometheus.yml");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("tsdb").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log")).expect("log"))
            .spawn()
            .expect("prometheus (scripts/test.sh installs the prometheus package)");
        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("address");
        let p = Self { child, addr };
        wait_until(Duration::from_secs(30), "prometheus ready", || {
            raw(addr, b"GET /-/ready HTTP/1.1\r\nHost: p\r\nConnection: close\r\n\r\n").is_ok_and(|r| r.status == 200)
        });
        p
    }

    /// An instant query: `Ok(number of series)` or the error Prometheus gave.
    fn series(&self, expr: &str) -> Result<usize, String> {
        let q = percent_encoding::utf8_percent_encode(expr, percent_encoding::NON_ALPHANUMERIC).to_string();
        let r = get(self.addr, &format!("/api/v1/query?query={q}"), &[]);
        let v: serde_json::Value = serde_json::from_slice(&r.body).map_err(|e| format!("{e}: {}", r.text()))?;
        if v["status"] != "success" {
            return Err(format!("{}: {}", v["errorType"], v["error"]));
        }
        Ok(v["data"]["result"].as_array().map_or(0, |a| a.len()))
    }
}

/// Every PromQL expression of the dashboard, with Grafana's rate interval filled in.
fn dashboard_exprs() -> Vec<String> {
    let text = std::fs::read_to_string(repo_root().join("deploy/grafana/modgate.json")).expect("dashboard");
    let v: serde_json::Value = serde_json::from_str(&text).expect("dashboard JSON");
    let mut out = Vec::new();
    for panel in v["panels"].as_array().expect("panels") {
        for t in panel["targets"].as_array().into_iter().flatten() {
            out.push(t["expr"].as_str().expect("expr").replace("$__rate_interval", "30s"));
        }
    }
    out
}

/// Each alert's expression, and its query without the final comparison with a threshold.
fn alert_exprs() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo_root().join("deploy/prometheus/alerts.yml")).expect("rules");
    let mut out = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(first) = line.trim_start().strip_prefix("expr:") else { continue };
        let mut expr = first.trim().trim_start_matches(">-").trim().to_string();
        // A folded block: the indented lines that follow.
        while let Some(next) = lines.peek() {
            let t = next.trim();
            if t.is_empty() || t.contains(':') && !t.contains('(') && !t.contains('{') {
                break;
            }
            expr.push(' ');
            expr.push_str(t);
            lines.next();
        }
        let expr = expr.trim().to_string();
        let (query, _) = expr.rsplit_once(['<', '>', '=']).expect("a comparison");
        let query = query.trim_end_matches(['<', '>', '=', '!', ' ']).to_string();
        out.push((expr, query));
    }
    out
}

/// The modgate under scrape: every part the metrics describe in use.
struct Scene {
    mg: Process,
    plain: std::net::SocketAddr,
    ca: PathBuf,
    key: String,
    /// Each module of the graph with its first version.
    modules: Vec<(String, String)>,
    _keep: (Fixture, FakeUpstream, Backend, tempfile::TempDir),
}

fn scene() -> Scene {
    let fx = fixture(4);
    let flaky = FakeUpstream::start(fx.dir.path());
    flaky.fault("/health-check", Fault::Status(503));
    let backend = Backend::start();
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo_dir = tmp.path().join("tools");
    let mut repo = Repo::init(&repo_dir).expect("repo");
    repo.write("go.mod", b"module git.corp.example/tools\n\ngo 1.21\n").expect("write");
    repo.write("tools.go", b"package tools\n").expect("write");
    repo.commit("one").expect("commit");
    repo.tag("v1.0.0").expect("tag");
    let ca = TestCa::new("modgate test CA").expect("CA");
    let ca_path = ca.write(&tmp.path().join("ca.pem")).expect("CA file");
    let cert = ca.server(&["127.0.0.1"], tmp.path(), "server").expect("certificate");
    std::fs::write(tmp.path().join("policy.toml"), "admin = [\"ops\"]\n[[rule]]\nmodules = \"*\"\nread = [\"*\", \"anon\"]\n[[path]]\nprefix = \"/app\"\nread = [\"*\", \"anon\"]\n")
        .expect("policy");
    let keys = tmp.path().join("keys.toml");
    let key = new_key(&keys, "ci", "ci");
    let plain = testkit::nginx::free_port().expect("a free port");
    let text = format!(
        "upstream = \"pool:mirrors\"\ndata_dir = \"{data}\"\n\
         [[pool]]\nname = \"mirrors\"\nmembers = [{{ url = \"{good}\" }}, {{ url = \"{flaky}\" }}]\n\
         [pool.health]\npath = \"/health-check\"\ninterval = \"200ms\"\nunhealthy = 1\n\
         [[route]]\nmodules = \"broken.example\"\nsource = \"http://127.0.0.1:1\"\n\
         [[route]]\nmodules = \"git.corp.example\"\nsource = \"direct\"\n\
         [[direct.repo]]\nprefix = \"git.corp.example/tools\"\nurl = \"file://{repo}\"\n\
         [[proxy]]\nname = \"web\"\npath = \"/app/\"\nto = \"{web}\"\n\
         [tls]\ncert = \"{cert}\"\nkey = \"{certkey}\"\nplain_listen = \"127.0.0.1:{plain}\"\nredirect_plain = false\n\
         [auth]\nkeys_file = \"{keys}\"\npolicy_file = \"{policy}\"\nanonymous_group = \"anon\"\n\
         [limits]\nkey_rate = 1\nkey_burst = 1\n\
         [metrics]\nopen = true\n",
        data = tmp.path().join("data").display(),
        good = fx.upstream.url(),
        flaky = flaky.url(),
        repo = repo_dir.display(),
        web = backend.url(),
        cert = cert.cert.display(),
        certkey = cert.key.display(),
        keys = keys.display(),
        policy = tmp.path().join("policy.toml").display(),
    );
    let cfg = tmp.path().join("modgate.toml");
    std::fs::write(&cfg, text).expect("config");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_modgate"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--config"]).arg(&cfg);
    let mg = Process::start_with(cmd);
    let modules = fx.graph.modules.iter().map(|m| (m.path.clone(), m.versions[0].version.clone())).collect();
    Scene {
        mg,
        plain: format!("127.0.0.1:{plain}").parse().expect("address"),
        ca: ca_path,
        key,
        modules,
        _keep: (fx, flaky, backend, tmp),
    }
}

/// One request over TLS to the main listener (a handshake for the TLS metrics).
fn tls_healthz(addr: std::net::SocketAddr, ca: &Path) {
    use rustls::pki_types::pem::PemObject;
    use std::io::{Read, Write};
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_file_iter(ca).expect("CA") {
        roots.add(c.expect("CA certificate")).expect("root");
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(cfg), name).expect("client");
    let mut tls = rustls::StreamOwned::new(conn, std::net::TcpStream::connect(addr).expect("connect"));
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").expect("request");
    let mut buf = Vec::new();
    let _ = tls.read_to_end(&mut buf);
    assert!(buf.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&buf));
}

/// A short load touching everything the dashboard shows: hits and misses, a 404, a refused
/// zip, a route whose upstream is unreachable (502), direct mode, the proxy route, bad
/// credentials, a key over its rate, and a TLS handshake.
fn load(s: &Scene, garbled: &str) {
    let at = s.plain;
    for _ in 0..2 {
        for (m, v) in &s.modules {
            for ext in [".info", ".mod", ".zip"] {
                let path = obj_path(m, v, ext);
                let r = get(at, &path, &[]);
                assert!(r.status == 200 || path == garbled, "{path}: {}", r.status);
            }
            let r = get(at, &format!("/{}/@v/list", gomod::path::escape_path(m).expect("escape")), &[]);
            assert_eq!(r.status, 200, "{m}: {}", r.text());
        }
    }
    assert_eq!(get(at, garbled, &[]).status, 502, "the garbled zip is refused");
    assert_eq!(get(at, "/example.com/none/@v/v1.0.0.info", &[]).status, 404);
    assert_eq!(get(at, "/broken.example/m/@v/list", &[]).status, 502);
    assert_eq!(get(at, "/git.corp.example/tools/@v/v1.0.0.info", &[]).status, 200);
    assert_eq!(get(at, "/app/page", &[]).status, 200);
    assert_eq!(get(at, "/example.com/none/@v/list", &[("Authorization", "Bearer nope")]).status, 401);
    // A key allowed one request a second: three at once, and the rest are refused.
    let auth = format!("Bearer {}", s.key);
    let list = format!("/{}/@v/list", gomod::path::escape_path(&s.modules[0].0).expect("escape"));
    let statuses: Vec<u16> = (0..3).map(|_| get(at, &list, &[("Authorization", &auth)]).status).collect();
    assert!(statuses.contains(&429), "{statuses:?}");
    tls_healthz(s.mg.addr, &s.ca);
}

#[test]
fn every_dashboard_and_alert_expression_returns_series_from_a_real_prometheus() {
    let promtool = Command::new("promtool")
        .args(["check", "rules"])
        .arg(repo_root().join("deploy/prometheus/alerts.yml"))
        .output()
        .expect("promtool (scripts/test.sh installs the prometheus package)");
    assert!(promtool.status.success(), "{}", String::from_utf8_lossy(&promtool.stdout));

    let s = scene();
    let dir = tempfile::tempdir().expect("tempdir");
    let prom = Prometheus::start(dir.path(), s.plain);
    let garbled = obj_path(&s.modules[1].0, &s.modules[1].1, ".zip");
    s._keep.0.upstream.fault(&garbled, Fault::Body(b"not a zip".to_vec()));
    s._keep.1.fault(&garbled, Fault::Body(b"not a zip".to_vec()));
    load(&s, &garbled);
    // Enough scrapes after the load for every rate over 30 s.
    wait_until(Duration::from_secs(60), "four scrapes of modgate", || {
        prom.series("count_over_time(modgate_build_info[30s]) >= 4") == Ok(1)
    });
    let mut failures = Vec::new();
    for expr in dashboard_exprs() {
        match prom.series(&expr) {
            Ok(0) => failures.push(format!("dashboard: no series: {expr}")),
            Ok(_) => {}
            Err(e) => failures.push(format!("dashboard: {e}: {expr}")),
        }
    }
    let alerts = alert_exprs();
    assert!(alerts.len() >= 10, "{alerts:?}");
    for (expr, query) in alerts {
        if let Err(e) = prom.series(&expr) {
            failures.push(format!("alert: {e}: {expr}"));
        }
        match prom.series(&query) {
            Ok(0) => failures.push(format!("alert: no series: {query}")),
            Ok(_) => {}
            Err(e) => failures.push(format!("alert: {e}: {query}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
