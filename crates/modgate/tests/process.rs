//! The modgate binary as operators run it: crashes, signals, configuration errors, logs.

mod common;
use common::*;
use std::process::Command;
use std::time::Duration;
use testkit::graph::{big_module, Graph};
use testkit::upstream::{FakeUpstream, Fault};

fn big_upstream(size: usize) -> (tempfile::TempDir, FakeUpstream, Graph) {
    let g = Graph { modules: vec![big_module("example.com/big/crash", "v1.0.0", size, 21)] };
    let dir = tempfile::tempdir().unwrap();
    g.write_proxy_dir(dir.path()).unwrap();
    let up = FakeUpstream::start(dir.path());
    (dir, up, g)
}

fn files_under(p: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let path = e.path();
            if path.is_dir() {
                out.extend(files_under(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}

#[test]
fn kill_9_during_fills_leaves_nothing_partial() {
    let (_dir, up, g) = big_upstream(2 << 20);
    let m = &g.modules[0];
    let v = &m.versions[0];
    let zip = v.zip_bytes(&m.path);
    let zip_path = obj_path(&m.path, &v.version, ".zip");
    // The zip drips slowly so the kill lands in the middle of its fill.
    up.fault(".zip", Fault::SlowDrip { chunk: 32 * 1024, every: Duration::from_millis(20) });
    let data = tempfile::tempdir().unwrap();
    let data_arg = data.path().display().to_string();
    let url = up.url();
    let args = ["--data-dir", data_arg.as_str(), "--upstream", url.as_str()];

    for round in 0..3 {
        let mut p = Process::start(&args);
        let addr = p.addr;
        let zp = zip_path.clone();
        let client = std::thread::spawn(move || {
            raw(addr, format!("GET {zp} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        });
        // Wait until a part of the zip sits in the fill's temporary file, then kill -9.
        let tmp = data.path().join("tmp");
        let want = 100_000 * (round + 1) as u64;
        wait_until(Duration::from_secs(30), "a partial fill", || {
            files_under(&tmp).iter().any(|f| std::fs::metadata(f).map(|m| m.len() >= want).unwrap_or(false))
        });
        p.kill9();
        // The client never got a complete zip.
        if let Ok(r) = client.join().unwrap() {
            assert!(!(r.status == 200 && r.body == zip), "a complete zip was served before the kill");
        }
        // No partial object is visible in the cache.
        let stored = data.path().join("cache").join(zip_path.trim_start_matches('/'));
        assert!(!stored.exists(), "round {round}: a partial zip became visible");
        for f in files_under(&data.path().join("cache")) {
            let rel = f.strip_prefix(data.path().join("cache")).unwrap().display().to_string();
            let src = std::fs::read(_dir.path().join(&rel)).unwrap();
            assert_eq!(std::fs::read(&f).unwrap(), src, "{rel} differs from the upstream's bytes");
        }
    }

    // Restart: temporaries are gone, and the next request fills correctly.
    up.clear_faults();
    let p = Process::start(&args);
    assert_eq!(files_under(&data.path().join("tmp")).len(), 0, "restart removes abandoned fills");
    let r = get(p.addr, &zip_path, &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.body == zip);
    assert_eq!(gomod::dirhash::hash_zip(std::io::Cursor::new(r.body)).unwrap(), v.zip_hash(&m.path));
}

#[test]
fn sigterm_lets_in_flight_requests_finish() {
    let (_dir, up, g) = big_upstream(512 * 1024);
    let m = &g.modules[0];
    let v = &m.versions[0];
    let zip = v.zip_bytes(&m.path);
    let zip_path = obj_path(&m.path, &v.version, ".zip");
    up.fault(".zip", Fault::SlowDrip { chunk: 64 * 1024, every: Duration::from_millis(50) });
    let data = tempfile::tempdir().unwrap();
    let data_arg = data.path().display().to_string();
    let url = up.url();
    let mut p = Process::start(&["--data-dir", &data_arg, "--upstream", &url]);
    let addr = p.addr;
    let zp = zip_path.clone();
    let client = std::thread::spawn(move || get(addr, &zp, &[]));
    wait_until(Duration::from_secs(30), "the fill to start", || up.count(&zip_path) == 1);
    p.signal(libc::SIGTERM);
    let r = client.join().unwrap();
    assert_eq!(r.status, 200);
    assert!(r.body == zip, "the in-flight download completed intact");
    let status = p.child.wait().unwrap();
    assert!(status.success(), "clean exit after drain: {status:?}");
    assert!(std::net::TcpStream::connect(addr).is_err(), "no longer accepting");
    // The log reader drains stderr beside the test.
    wait_until(Duration::from_secs(10), "the shutdown log line", || {
        p.logs().iter().any(|l| l.contains("shutting down"))
    });
}

#[test]
fn access_log_and_request_ids() {
    let fx = fixture(12);
    let data = tempfile::tempdir().unwrap();
    let data_arg = data.path().display().to_string();
    let url = fx.upstream.url();
    let p = Process::start(&["--data-dir", &data_arg, "--upstream", &url, "--log-format", "json"]);
    let plain = fx.graph.module("plain").unwrap();
    let path = obj_path(&plain.path, "v1.0.0", ".mod");
    let r1 = get(p.addr, &path, &[("X-Request-Id", "abc-123")]);
    assert_eq!(r1.header("x-request-id"), Some("abc-123"));
    let r2 = get(p.addr, &path, &[]);
    let id2 = r2.header("x-request-id").unwrap().to_string();
    assert_eq!(id2.len(), 16);
    wait_until(Duration::from_secs(10), "access log lines", || {
        p.logs().iter().filter(|l| l.contains("\"target\":\"access\"")).count() >= 2
    });
    let lines: Vec<serde_json::Value> = p
        .logs()
        .iter()
        .filter(|l| l.contains("\"target\":\"access\""))
        .map(|l| serde_json::from_str(l).expect("json log line"))
        .collect();
    let first = lines.iter().find(|l| l["request_id"] == "abc-123").expect("line for abc-123");
    assert_eq!(first["status"], 200);
    assert_eq!(first["method"], "GET");
    assert_eq!(first["path"], path.as_str());
    assert_eq!(first["cache"], "miss");
    assert_eq!(first["level"], "INFO");
    assert!(first["duration_ms"].is_number());
    assert_eq!(first["bytes"], plain.versions[0].go_mod.len().to_string().as_str());
    let second = lines.iter().find(|l| l["request_id"] == id2.as_str()).expect("line for second request");
    assert_eq!(second["cache"], "hit");
}

#[test]
fn configuration_errors_name_the_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("modgate.toml");
    std::fs::write(&cfg, "listen = \"127.0.0.1:0\"\n[cache]\nlist_ttl = \"sometimes\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_modgate")).args(["serve", "--config"]).arg(&cfg).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("modgate.toml:3: cache.list_ttl"), "{err}");

    let out =
        Command::new(env!("CARGO_BIN_EXE_modgate")).args(["serve", "--listen", "not-an-address"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("listen (from --listen or MODGATE_LISTEN)"));

    let out = Command::new(env!("CARGO_BIN_EXE_modgate"))
        .args(["serve"])
        .env("MODGATE_UPSTREAM", "gopher://x")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("upstream"));

    let out = Command::new(env!("CARGO_BIN_EXE_modgate")).args(["config", "check"]).arg(&cfg).output().unwrap();
    assert!(!out.status.success());

    std::fs::write(
        &cfg,
        "listen = \"127.0.0.1:9999\"\nupstream = \"https://proxy.internal.example|file:///srv/mirror\"\n\
         [tracing]\nenabled = true\nendpoint = \"http://otel.internal.example:4318\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_modgate")).args(["config", "check"]).arg(&cfg).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("tracing = on -> http://otel.internal.example:4318/v1/traces"), "{said}");
    assert!(said.contains("metrics = on the main listener"), "{said}");

    let out = Command::new(env!("CARGO_BIN_EXE_modgate")).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("modgate "));
}

#[test]
fn flags_beat_environment_beat_file() {
    let fx = fixture(12);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("modgate.toml");
    // The file names an upstream that does not answer; the environment one does.
    std::fs::write(
        &cfg,
        format!("upstream = \"http://127.0.0.1:9\"\ndata_dir = \"{}\"\n", dir.path().join("d").display()),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_modgate"));
    child
        .args(["serve", "--config"])
        .arg(&cfg)
        .args(["--listen", "127.0.0.1:0"])
        .env("MODGATE_UPSTREAM", fx.upstream.url());
    let p = Process::start_with(child);
    let plain = fx.graph.module("plain").unwrap();
    let r = get(p.addr, &format!("/{}/@v/list", plain.path), &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(dir.path().join("d/meta").exists(), "data_dir from the file");
}

#[test]
fn probe_answers_the_container_health_check() {
    let data = tempfile::tempdir().unwrap();
    let p = Process::start(&["--upstream", "off", "--data-dir", data.path().to_str().unwrap()]);
    let probe = |addr: &str, path: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_modgate"))
            .args(["probe", "--addr", addr, "--path", path, "--timeout", "5"])
            .env_remove("MODGATE_LISTEN")
            .output()
            .expect("modgate probe")
    };
    let addr = p.addr.to_string();
    assert!(probe(&addr, "/healthz").status.success());
    assert!(probe(&format!("0.0.0.0:{}", p.addr.port()), "/readyz").status.success(), "a wildcard means this host");
    let missing = probe(&addr, "/-/nothing");
    assert!(!missing.status.success(), "a 404 is not healthy");
    drop(p);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = listener.local_addr().unwrap().to_string();
    drop(listener);
    let down = probe(&closed, "/healthz");
    assert!(!down.status.success());
    assert!(String::from_utf8_lossy(&down.stderr).contains("probe"), "it says why");
}
