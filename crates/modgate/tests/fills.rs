//! Fills: single flight, verification before commit, faults from the upstream, negative
//! caching, and the HTTP validators on cached objects.

mod common;
use common::*;
use std::time::Duration;
use testkit::graph::{big_module, Graph};
use testkit::upstream::{FakeUpstream, Fault};

struct Big {
    dir: tempfile::TempDir,
    upstream: FakeUpstream,
    module: String,
    version: String,
    zip: Vec<u8>,
    h1: String,
}

fn big(size: usize) -> Big {
    let m = big_module("example.com/big/blob", "v1.0.0", size, 11);
    let g = Graph { modules: vec![m] };
    let dir = tempfile::tempdir().unwrap();
    g.write_proxy_dir(dir.path()).unwrap();
    let v = &g.modules[0].versions[0];
    let zip = v.zip_bytes(&g.modules[0].path);
    let h1 = v.zip_hash(&g.modules[0].path);
    let upstream = FakeUpstream::start(dir.path());
    Big { upstream, module: g.modules[0].path.clone(), version: v.version.clone(), zip, h1, dir }
}

fn zip_h1(bytes: &[u8]) -> String {
    gomod::dirhash::hash_zip(std::io::Cursor::new(bytes.to_vec())).unwrap()
}

#[test]
fn hundred_concurrent_misses_for_one_zip_make_one_upstream_request() {
    let b = big(3 << 20);
    // Latency keeps the fill open while the herd arrives; correctness does not depend on it.
    b.upstream.set_latency(Duration::from_millis(300));
    let data = tempfile::tempdir().unwrap();
    let mg = InProcess::start(test_config(&b.upstream.url(), data.path()));
    let path = obj_path(&b.module, &b.version, ".zip");
    let addr = mg.addr;
    let handles: Vec<_> = (0..100)
        .map(|_| {
            let p = path.clone();
            std::thread::spawn(move || get(addr, &p, &[]))
        })
        .collect();
    let mut misses = 0;
    for h in handles {
        let r = h.join().unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.body.len(), b.zip.len());
        assert!(r.body == b.zip, "bytes differ from the upstream's");
        if r.header("x-modgate-cache") == Some("miss") {
            misses += 1;
        }
    }
    assert_eq!(b.upstream.count(&path), 1, "upstream zip requests");
    assert_eq!(b.upstream.count(&obj_path(&b.module, &b.version, ".mod")), 1, "upstream mod requests");
    assert!(misses >= 1);
    assert_eq!(zip_h1(&b.zip), b.h1);
    let _ = &b.dir;
}

#[test]
fn mod_and_info_requests_never_pull_the_zip() {
    let fx = fixture(12);
    let data = tempfile::tempdir().unwrap();
    let mut cfg = test_config(&fx.upstream.url(), data.path());
    cfg.prefetch.zips = false;
    let mg = InProcess::start(cfg);
    let m = fx.graph.module("plain").unwrap();
    for ext in [".info", ".mod"] {
        let r = get(mg.addr, &obj_path(&m.path, "v1.0.0", ext), &[]);
        assert_eq!(r.status, 200);
    }
    assert_eq!(fx.upstream.count(&obj_path(&m.path, "v1.0.0", ".zip")), 0);
    let r = get(mg.addr, &obj_path(&m.path, "v1.0.0", ".info"), &[]);
    assert_eq!(r.header("x-modgate-cache"), Some("hit"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("cache-control"), Some("public, max-age=31536000, immutable"));
    let r = get(mg.addr, &obj_path(&m.path, "v1.0.0", ".mod"), &[]);
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
}

#[test]
fn a_served_info_warms_its_zip_in_the_background() {
    let fx = fixture(12);
    let data = tempfile::tempdir().unwrap();
    let mg = InProcess::start(test_config(&fx.upstream.url(), data.path()));
    let m = fx.graph.module("plain").unwrap();
    let zip = obj_path(&m.path, "v1.0.0", ".zip");
    // The zip's upstream answer is slow; the .info reply does not wait for it.
    fx.upstream.fault(".zip", Fault::SlowDrip { chunk: 256, every: Duration::from_millis(5) });
    let r = get(mg.addr, &obj_path(&m.path, "v1.0.0", ".info"), &[]);
    assert_eq!(r.status, 200);
    let stored = stored_path(data.path(), zip.trim_start_matches('/'));
    wait_until(Duration::from_secs(30), "the zip prefetched", || stored.exists());
    fx.upstream.clear_faults();
    let r = get(mg.addr, &zip, &[]);
    assert_eq!((r.status, r.header("x-modgate-cache")), (200, Some("hit")));
    assert_eq!(fx.upstream.count(&zip), 1, "fetched once, by the prefetch");
    assert_eq!(r.body, m.versions[0].zip_bytes(&m.path));
}

#[test]
fn broken_upstream_zips_are_never_committed() {
    let b = big(256 << 10);
    let data = tempfile::tempdir().unwrap();
    let mut cfg = test_config(&b.upstream.url(), data.path());
    cfg.upstream_idle_timeout = Duration::from_secs(1);
    cfg.negative_ttl = Duration::ZERO;
    let mg = InProcess::start(cfg);
    let path = obj_path(&b.module, &b.version, ".zip");
    let stored = stored_path(data.path(), path.trim_start_matches('/'));

    // A zip of another module, garbage, a truncated body, a reset, a hang and a 500.
    let other = big_module("example.com/big/other", "v1.0.0", 1000, 3);
    let wrong_prefix = other.versions[0].zip_bytes(&other.path);
    let cases: Vec<(Fault, u16, &str)> = vec![
        (Fault::Body(wrong_prefix), 502, "invalid zip"),
        (Fault::Body(b"this is not a zip".to_vec()), 502, "invalid zip"),
        (Fault::Truncate(100_000), 502, "upstream failed"),
        (Fault::Reset, 502, "upstream failed"),
        (Fault::Hang, 504, "timed out"),
        (Fault::Status(500), 502, "500"),
    ];
    for (fault, status, reason) in cases {
        b.upstream.clear_faults();
        b.upstream.fault(".zip", fault.clone());
        let r = get(mg.addr, &path, &[]);
        assert_eq!(r.status, status, "{fault:?}: {}", r.text());
        assert!(r.text().contains(reason), "{fault:?}: {}", r.text());
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
        assert!(!stored.exists(), "{fault:?} left an object behind");
        // The version's .mod, verified, may still be being committed beside the answer; once
        // that ends, nothing of the failed zip fill is left.
        let tmp = data.path().join("tmp");
        wait_until(Duration::from_secs(10), &format!("no temporary left after {fault:?}"), || {
            std::fs::read_dir(&tmp).unwrap().count() == 0
        });
    }

    // A zip whose go.mod differs from the version's .mod.
    b.upstream.clear_faults();
    let gm = tempfile::tempdir().unwrap();
    let mut mism = big_module(&b.module, &b.version, 1000, 5);
    mism.versions[0].files[0].1 = b"module example.com/big/blob\n\ngo 1.22\n".to_vec();
    let mism_zip = mism.versions[0].zip_bytes(&b.module);
    b.upstream.fault(".zip", Fault::Body(mism_zip));
    let r = get(mg.addr, &path, &[]);
    assert_eq!(r.status, 502);
    assert!(r.text().contains("go.mod differs"), "{}", r.text());
    assert!(!stored.exists());
    drop(gm);
    // Each refusal is counted by its reason.
    let metrics = get(mg.addr, "/metrics", &[]).text();
    for line in [
        r#"modgate_verification_failures_total{reason="invalid_zip"} 2"#,
        r#"modgate_verification_failures_total{reason="go_mod_mismatch"} 1"#,
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }

    // Once the upstream behaves, the next request fills correctly.
    b.upstream.clear_faults();
    let r = get(mg.addr, &path, &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.body == b.zip);
    assert!(stored.exists());
}

#[test]
fn bad_info_answers_are_refused() {
    let b = big(1000);
    let data = tempfile::tempdir().unwrap();
    let mg = InProcess::start(test_config(&b.upstream.url(), data.path()));
    b.upstream.fault("v1.0.0.info", Fault::Body(b"{\"Version\":\"v1.0.1\"}".to_vec()));
    let r = get(mg.addr, &obj_path(&b.module, "v1.0.0", ".info"), &[]);
    assert_eq!(r.status, 502);
    assert!(r.text().contains("instead of the requested version"), "{}", r.text());
    b.upstream.fault("master.info", Fault::Body(b"<html>".to_vec()));
    let r = get(mg.addr, &obj_path(&b.module, "master", ".info"), &[]);
    assert_eq!(r.status, 502, "{}", r.text());
    b.upstream.fault("@latest", Fault::Body(b"{\"Version\":\"v2.0.0\"}".to_vec()));
    let r = get(mg.addr, &format!("/{}/@latest", b.module), &[]);
    assert_eq!(r.status, 502, "an incompatible version must not be passed on: {}", r.text());
}

#[test]
fn not_found_is_cached_briefly_and_passed_on() {
    let fx = fixture(12);
    let data = tempfile::tempdir().unwrap();
    let mg = InProcess::start(test_config(&fx.upstream.url(), data.path()));
    let p = "/example.com/missing/mod/@v/list";
    for _ in 0..3 {
        let r = get(mg.addr, p, &[]);
        assert_eq!(r.status, 404);
        assert!(r.text().contains("not found"), "{}", r.text());
    }
    assert_eq!(fx.upstream.count(p), 1, "404 is remembered");
    fx.upstream.fault("/example.com/gone/mod/@v/v1.0.0.info", Fault::Status(410));
    let r = get(mg.addr, "/example.com/gone/mod/@v/v1.0.0.info", &[]);
    assert_eq!(r.status, 410);
}

#[test]
fn a_policy_refusal_upstream_is_passed_on_never_cached_and_never_falls_through() {
    let fx = fixture(12);
    let other = fixture(12);
    let plain = fx.graph.module("plain").unwrap();
    let v = &plain.versions[0].version;
    let info = obj_path(&plain.path, v, ".info");
    let list = format!("/{}/@v/list", plain.path);
    // A mirror that blocks the module (as real mirrors answer for blocked modules).
    for p in [&info, &list] {
        fx.upstream.fault(p, Fault::Status(403));
    }
    let data = tempfile::tempdir().unwrap();
    // `,`: only 404/410 move on, so the second upstream is never asked.
    let mg = InProcess::start(test_config(&format!("{},{}", fx.upstream.url(), other.upstream.url()), data.path()));
    for _ in 0..2 {
        let r = get(mg.addr, &info, &[]);
        assert_eq!(r.status, 403, "{}", r.text());
        assert!(r.text().contains("refused") && r.text().contains(&plain.path), "{}", r.text());
    }
    assert_eq!(fx.upstream.count(&info), 2, "a refusal is not remembered as a module answer");
    assert_eq!(other.upstream.count(&info), 0, "fell through past a `,` on 403");
    mg.stop();
    // `|`: any error moves on.
    let data = tempfile::tempdir().unwrap();
    let mg = InProcess::start(test_config(&format!("{}|{}", fx.upstream.url(), other.upstream.url()), data.path()));
    assert_eq!(get(mg.addr, &info, &[]).status, 200);
    // A list cached before the refusal is not served over it.
    fx.upstream.clear_faults();
    let data = tempfile::tempdir().unwrap();
    let mut cfg = test_config(&fx.upstream.url(), data.path());
    cfg.list_ttl = Duration::ZERO;
    let mg = InProcess::start(cfg);
    assert_eq!(get(mg.addr, &list, &[]).status, 200);
    fx.upstream.fault(&list, Fault::Status(403));
    assert_eq!(get(mg.addr, &list, &[]).status, 403);
}

#[test]
fn validators_ranges_and_head() {
    let b = big(200_000);
    let data = tempfile::tempdir().unwrap();
    let mg = InProcess::start(test_config(&b.upstream.url(), data.path()));
    let path = obj_path(&b.module, &b.version, ".zip");
    let full = get(mg.addr, &path, &[]);
    assert_eq!(full.status, 200);
    let len = b.zip.len();
    assert_eq!(full.header("content-length"), Some(len.to_string().as_str()));
    assert_eq!(full.header("content-type"), Some("application/zip"));
    assert_eq!(full.header("accept-ranges"), Some("bytes"));
    assert!(full.header("content-encoding").is_none());
    let etag = full.header("etag").unwrap().to_string();
    assert!(etag.starts_with('"') && !etag.starts_with("W/"), "strong etag: {etag}");

    let head = request(mg.addr, "HEAD", &path, &[]);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some(len.to_string().as_str()));
    assert!(head.body.is_empty());

    let r = get(mg.addr, &path, &[("Range", "bytes=1000-")]);
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), Some(format!("bytes 1000-{}/{len}", len - 1).as_str()));
    assert!(r.body == b.zip[1000..]);

    let r = get(mg.addr, &path, &[("Range", "bytes=10-19"), ("If-Range", &etag)]);
    assert_eq!(r.status, 206);
    assert!(r.body == b.zip[10..20]);

    let r = get(mg.addr, &path, &[("Range", "bytes=10-19"), ("If-Range", "\"other\"")]);
    assert_eq!(r.status, 200, "a changed validator means the whole object");
    assert_eq!(r.body.len(), len);

    let r = get(mg.addr, &path, &[("Range", &format!("bytes={len}-"))]);
    assert_eq!(r.status, 416);
    assert_eq!(r.header("content-range"), Some(format!("bytes */{len}").as_str()));

    let r = get(mg.addr, &path, &[("If-None-Match", &etag)]);
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());

    // Small objects come from memory after the first read, with the same validators.
    let mod_path = obj_path(&b.module, &b.version, ".mod");
    let first = get(mg.addr, &mod_path, &[]);
    let second = get(mg.addr, &mod_path, &[]);
    assert_eq!(first.body, second.body);
    assert_eq!(second.header("x-modgate-cache"), Some("hit"));
    let metag = second.header("etag").unwrap().to_string();
    assert_eq!(first.header("etag"), Some(metag.as_str()));
    assert_eq!(get(mg.addr, &mod_path, &[("If-None-Match", &metag)]).status, 304);
    let r = get(mg.addr, &mod_path, &[("Range", "bytes=0-5")]);
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &first.body[..6]);
    let head = request(mg.addr, "HEAD", &mod_path, &[]);
    assert_eq!(head.header("content-length"), Some(first.body.len().to_string().as_str()));
    assert!(head.body.is_empty());

    let list = get(mg.addr, &format!("/{}/@v/list", b.module), &[]);
    assert_eq!(list.status, 200);
    assert_eq!(list.text(), "v1.0.0\n");
    assert_eq!(list.header("cache-control"), Some("public, max-age=60"));
    let head = request(mg.addr, "HEAD", &format!("/{}/@v/list", b.module), &[]);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("7"));
    let _ = &b.dir;
}

#[test]
fn health_and_readiness() {
    let data = tempfile::tempdir().unwrap();
    let mg = InProcess::start(test_config("off", data.path()));
    assert_eq!(get(mg.addr, "/healthz", &[]).status, 200);
    assert_eq!(get(mg.addr, "/readyz", &[]).status, 200);
    // Storage taken away: not ready, but alive.
    std::fs::remove_dir_all(data.path()).unwrap();
    std::fs::write(data.path(), b"not a directory").unwrap();
    assert_eq!(get(mg.addr, "/readyz", &[]).status, 503);
    assert_eq!(get(mg.addr, "/healthz", &[]).status, 200);
    let r = get(mg.addr, "/example.com/m/@v/list", &[]);
    assert!(r.status == 503 || r.status == 404, "{} {}", r.status, r.text());
    let _ = std::fs::remove_file(data.path());
}

#[test]
fn upstream_redirects_are_followed() {
    let b = big(50_000);
    let data = tempfile::tempdir().unwrap();
    let mg = InProcess::start(test_config(&b.upstream.url(), data.path()));
    let path = obj_path(&b.module, &b.version, ".zip");
    // The zip lives elsewhere on the upstream; the .mod redirects with an absolute URL.
    let blob = b.dir.path().join("blobs");
    std::fs::create_dir_all(&blob).unwrap();
    std::fs::write(blob.join("z1"), &b.zip).unwrap();
    b.upstream.fault(&path, Fault::Redirect("/blobs/z1".into()));
    let mod_path = obj_path(&b.module, &b.version, ".mod");
    std::fs::copy(b.dir.path().join(mod_path.trim_start_matches('/')), blob.join("m1")).unwrap();
    b.upstream.fault(&mod_path, Fault::Redirect(format!("{}/blobs/m1", b.upstream.url())));
    let r = get(mg.addr, &path, &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.body == b.zip);
    assert_eq!(b.upstream.count("/blobs/z1"), 1);
    assert_eq!(b.upstream.count("/blobs/m1"), 1);
    // A redirect loop ends with a gateway error.
    b.upstream.fault("loop.info", Fault::Redirect("loop.info".into()));
    let r = get(mg.addr, &format!("/{}/@v/loop.info", b.module), &[]);
    assert_eq!(r.status, 502, "{}", r.text());
    assert!(r.text().contains("redirects"), "{}", r.text());
}

#[test]
fn disable_module_fetch_answers_from_cache_only() {
    let fx = fixture(12);
    let data = tempfile::tempdir().unwrap();
    let mg = InProcess::start(test_config(&fx.upstream.url(), data.path()));
    let m = fx.graph.module("plain").unwrap();
    let p = obj_path(&m.path, "v1.0.0", ".mod");
    let r = get(mg.addr, &p, &[("Disable-Module-Fetch", "true")]);
    assert_eq!(r.status, 404);
    assert_eq!(fx.upstream.total(), 0);
    assert_eq!(get(mg.addr, &p, &[]).status, 200);
    let r = get(mg.addr, &p, &[("Disable-Module-Fetch", "true")]);
    assert_eq!(r.status, 200);
    assert_eq!(fx.upstream.count(&p), 1);
}

#[test]
fn cold_zips_stream_to_clients_while_they_fill() {
    let b = big(3 << 20);
    // Slow enough that the first bytes arrive long before the fill can complete.
    b.upstream.fault(".zip", Fault::SlowDrip { chunk: 64 * 1024, every: Duration::from_millis(30) });
    let data = tempfile::tempdir().unwrap();
    let mg = InProcess::start(test_config(&b.upstream.url(), data.path()));
    let path = obj_path(&b.module, &b.version, ".zip");
    let stored = stored_path(data.path(), path.trim_start_matches('/'));
    let mut s = std::net::TcpStream::connect(mg.addr).unwrap();
    use std::io::{Read, Write};
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes()).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    while got.len() < 200_000 {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "connection closed early");
        got.extend_from_slice(&buf[..n]);
    }
    assert!(!stored.exists(), "bytes reached the client before the zip was committed");
    s.read_to_end(&mut got).unwrap();
    let end = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&got[..end]).to_string();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.to_ascii_lowercase().contains(&format!("content-length: {}", b.zip.len())), "{head}");
    assert!(got[end..] == b.zip[..], "streamed bytes equal the upstream's");
    assert!(stored.exists());
    assert_eq!(b.upstream.count(&path), 1);
}

#[test]
fn a_bad_cold_zip_never_reaches_a_client_whole() {
    let b = big(3 << 20);
    // A large zip that is not a valid zip: streaming starts, verification fails at the end.
    let mut bad = b.zip.clone();
    let n = bad.len();
    bad[n - 100..].fill(0);
    b.upstream.fault(".zip", Fault::Body(bad));
    let data = tempfile::tempdir().unwrap();
    let mg = InProcess::start(test_config(&b.upstream.url(), data.path()));
    let path = obj_path(&b.module, &b.version, ".zip");
    let r = raw(mg.addr, format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes());
    if let Ok(r) = r {
        let declared: usize = r.header("content-length").map(|v| v.parse().unwrap()).unwrap_or(usize::MAX);
        assert!(r.status != 200 || r.body.len() < declared, "a client received the whole unverified zip");
    }
    let stored = stored_path(data.path(), path.trim_start_matches('/'));
    assert!(!stored.exists());
    // The next request sees the failure cleanly or retries; the upstream fixed, it fills.
    b.upstream.clear_faults();
    let r = get(mg.addr, &path, &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.body == b.zip);
}
