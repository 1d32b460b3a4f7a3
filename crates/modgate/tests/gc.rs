//! Garbage collection on a real server: a reader keeps reading a zip evicted under it; published
//! and private versions are never evicted; `modgate gc --dry-run` lists what would go.

mod common;
use common::*;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use testkit::upstream::FakeUpstream;

const POLICY: &str = r#"
admin = ["ops"]
[[rule]]
modules = "corp.example"
read = ["*", "public"]
write = ["ci"]
[[rule]]
modules = "*"
read = ["*", "public"]
"#;

struct Gc {
    graph: testkit::graph::Graph,
    _upstream_dir: tempfile::TempDir,
    upstream: FakeUpstream,
    data: tempfile::TempDir,
    ops: String,
    ci: String,
    mg: InProcess,
}

/// A server with `[cache] max_size` tiny (everything upstream-cached may go), the first module
/// of the graph private, and a 24 MiB module besides.
fn gc_server() -> Gc {
    let mut graph = testkit::graph::generate(6, 9);
    graph.modules.push(testkit::graph::big_module("example.com/big", "v1.0.0", 24 << 20, 3));
    let upstream_dir = tempfile::tempdir().unwrap();
    graph.write_proxy_dir(upstream_dir.path()).unwrap();
    let upstream = FakeUpstream::start(upstream_dir.path());
    let data = tempfile::tempdir().unwrap();
    let mut cfg = test_config(&upstream.url(), &data.path().join("data"));
    cfg.cache_max_bytes = Some(1000);
    cfg.checksum_db.private = graph.modules[0].path.clone();
    let keys = with_auth(&mut cfg, data.path(), POLICY);
    if let Some(a) = cfg.auth.as_mut() {
        a.anonymous_group = Some("public".into());
    }
    let ops = new_key(&keys, "oncall", "ops");
    let ci = new_key(&keys, "ci", "ci");
    let mg = InProcess::start(cfg);
    Gc { graph, _upstream_dir: upstream_dir, upstream, data, ops, ci, mg }
}

fn post_gc(g: &Gc, dry_run: bool) -> Value {
    let req = format!(
        "POST /-/admin/gc?dry_run={dry_run} HTTP/1.1\r\nHost: m\r\nX-API-Key: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        g.ops
    );
    let r = raw(g.mg.addr, req.as_bytes()).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    serde_json::from_slice(&r.body).unwrap()
}

fn stored(g: &Gc, rel: &str) -> std::path::PathBuf {
    stored_path(&g.data.path().join("data"), rel.trim_start_matches('/'))
}

#[test]
fn a_reader_keeps_reading_a_zip_evicted_under_it() {
    let g = gc_server();
    let big = obj_path("example.com/big", "v1.0.0", ".zip");
    let whole = get(g.mg.addr, &big, &[]).body;
    assert_eq!(
        whole.len() as u64,
        g.graph.modules.last().unwrap().versions[0].zip_bytes("example.com/big").len() as u64
    );
    g.mg.settle();
    assert!(stored(&g, &big).exists());

    // A slow reader: the head and the first bytes, then nothing while the zip is evicted.
    let mut s = TcpStream::connect(g.mg.addr).unwrap();
    write!(s, "GET {big} HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n").unwrap();
    let mut r = BufReader::new(s);
    let mut len = 0usize;
    loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap();
        }
        if line == "\r\n" {
            break;
        }
    }
    assert_eq!(len, whole.len());
    let mut first = vec![0u8; 64 * 1024];
    r.read_exact(&mut first).unwrap();

    let report = post_gc(&g, false);
    let evicted: Vec<&str> = report["evicted"].as_array().unwrap().iter().map(|v| v["key"].as_str().unwrap()).collect();
    assert!(evicted.contains(&big.trim_start_matches('/')), "{report}");
    assert!(!stored(&g, &big).exists(), "the zip is gone from the store");

    let mut rest = Vec::new();
    r.read_to_end(&mut rest).unwrap();
    first.extend_from_slice(&rest);
    assert_eq!(first.len(), len, "the body ends where it said it would");
    assert_eq!(Sha256::digest(&first), Sha256::digest(&whole), "every byte as before the eviction");

    // The next request is a miss, fetched again.
    assert_eq!(get(g.mg.addr, &big, &[]).body.len(), whole.len());
    assert_eq!(g.upstream.count(&big), 2);
}

#[test]
fn published_and_private_versions_are_never_evicted() {
    let g = gc_server();
    // Everything the upstream has, and one version published here.
    for m in &g.graph.modules {
        for v in &m.versions {
            assert_eq!(get(g.mg.addr, &obj_path(&m.path, &v.version, ".zip"), &[]).status, 200);
        }
    }
    let zip = module_zip(&g.data.path().join("pub"), "corp.example/lib", "v1.0.0", "ours");
    let r = put(g.mg.addr, "/-/publish/corp.example/lib/@v/v1.0.0", &g.ci, &zip);
    assert_eq!(r.status, 201, "{}", r.text());
    g.mg.settle();
    let private = &g.graph.modules[0];
    let private_zip = obj_path(&private.path, &private.versions[0].version, ".zip");
    let published_zip = obj_path("corp.example/lib", "v1.0.0", ".zip");

    let dry = post_gc(&g, true);
    assert!(dry["evicted_objects"].as_u64().unwrap() >= 6, "{dry}");
    let listed = dry.to_string();
    assert!(!listed.contains(&private.path) && !listed.contains("corp.example/lib"), "{dry}");
    assert!(stored(&g, &obj_path("example.com/big", "v1.0.0", ".zip")).exists(), "a dry run evicts nothing");

    // The command line asks the server the same.
    let out = Command::new(env!("CARGO_BIN_EXE_modgate"))
        .args(["gc", "--dry-run", "--server", &g.mg.url(), "--key", &g.ops])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("example.com/big/@v/v1.0.0.zip") && text.contains("would evict"), "{text}");

    let done = post_gc(&g, false);
    assert_eq!(done["evicted_objects"], dry["evicted_objects"], "{done}");
    for m in g.graph.modules.iter().skip(1) {
        for v in &m.versions {
            let p = obj_path(&m.path, &v.version, ".zip");
            assert!(!stored(&g, &p).exists(), "{p} evicted");
        }
    }
    assert!(stored(&g, &private_zip).exists(), "private: never evicted");
    assert!(stored(&g, &published_zip).exists(), "published: never evicted");
    assert_eq!(get(g.mg.addr, &published_zip, &[]).body, zip);

    // What was evicted shows in the admin view and the metrics.
    let req = format!("GET /-/admin/gc HTTP/1.1\r\nHost: m\r\nX-API-Key: {}\r\nConnection: close\r\n\r\n", g.ops);
    let view: Value = serde_json::from_slice(&raw(g.mg.addr, req.as_bytes()).unwrap().body).unwrap();
    assert_eq!(view["evicted_objects"], done["evicted_objects"], "{view}");
    let metrics = get(g.mg.addr, "/metrics", &[("X-API-Key", &g.ops)]).text();
    let line = metrics.lines().find(|l| l.starts_with("modgate_gc_evicted_objects_total")).unwrap_or_default();
    assert!(line.ends_with(&format!(" {}", done["evicted_objects"])), "{line}");
}
