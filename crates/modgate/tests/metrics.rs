//! `/metrics`: what module traffic, fills, upstreams, proxied requests and access decisions
//! count, what is read off the server at scrape time, who may scrape, and that Prometheus's
//! own checker accepts the exposition.

mod common;
use common::*;
use std::collections::HashMap;
use testkit::backend::Backend;

/// The samples of an exposition: `name{labels}` → value.
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

fn scrape(addr: std::net::SocketAddr, headers: &[(&str, &str)]) -> HashMap<String, f64> {
    let r = get(addr, "/metrics", headers);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    samples(&r.text())
}

fn value(s: &HashMap<String, f64>, key: &str) -> f64 {
    *s.get(key).unwrap_or_else(|| {
        let mut names: Vec<_> = s.keys().filter(|k| k.starts_with(key.split('{').next().unwrap_or(key))).collect();
        names.sort();
        panic!("no sample {key}; of that name: {names:?}")
    })
}

#[test]
fn module_traffic_fills_and_upstreams_are_counted() {
    let fx = fixture(3);
    let data = tempfile::tempdir().unwrap();
    let mg = InProcess::start(test_config(&fx.upstream.url(), data.path()));
    let m = &fx.graph.modules[0];
    let v = &m.versions[0].version;
    let mod_path = obj_path(&m.path, v, ".mod");
    let before = scrape(mg.addr, &[]);
    assert!(!before.contains_key(r#"modgate_requests_total{kind="mod",method="GET",status="200",cache="miss"}"#));
    let first = get(mg.addr, &mod_path, &[]);
    assert_eq!((first.status, first.header("x-modgate-cache")), (200, Some("miss")));
    // Warm: the hot path answers, and is counted too.
    for _ in 0..3 {
        assert_eq!(get(mg.addr, &mod_path, &[]).header("x-modgate-cache"), Some("hit"));
    }
    let zip = get(mg.addr, &obj_path(&m.path, v, ".zip"), &[]);
    assert_eq!(zip.status, 200);
    assert_eq!(get(mg.addr, &format!("/{}/@v/list", m.path), &[]).status, 200);
    assert_eq!(get(mg.addr, "/example.com/nothing/here/@v/v1.0.0.info", &[]).status, 404);
    assert_eq!(request(mg.addr, "HEAD", &mod_path, &[]).status, 200);

    let s = scrape(mg.addr, &[]);
    let req = |kind: &str, method: &str, status: u16, cache: &str| {
        value(
            &s,
            &format!(r#"modgate_requests_total{{kind="{kind}",method="{method}",status="{status}",cache="{cache}"}}"#),
        )
    };
    assert_eq!(req("mod", "GET", 200, "miss"), 1.0);
    assert_eq!(req("mod", "GET", 200, "hit"), 3.0);
    assert_eq!(req("mod", "HEAD", 200, "hit"), 1.0);
    assert_eq!(req("zip", "GET", 200, "miss"), 1.0);
    assert_eq!(req("list", "GET", 200, "miss"), 1.0);
    assert_eq!(req("info", "GET", 404, "none"), 1.0);
    assert_eq!(req("metrics", "GET", 200, "none"), 1.0, "the first scrape");
    let mod_len = first.body.len() as f64;
    assert!(value(&s, r#"modgate_response_bytes_total{kind="mod"}"#) >= 4.0 * mod_len, "HEAD sends no body");
    assert_eq!(value(&s, r#"modgate_response_bytes_total{kind="zip"}"#), zip.body.len() as f64);
    assert_eq!(value(&s, r#"modgate_request_duration_seconds_count{kind="mod"}"#), 5.0);

    assert_eq!(value(&s, r#"modgate_fills_total{kind="zip",outcome="ok"}"#), 1.0);
    assert_eq!(value(&s, r#"modgate_fills_total{kind="mod",outcome="ok"}"#), 1.0);
    assert_eq!(value(&s, r#"modgate_fills_total{kind="info",outcome="not_found"}"#), 1.0);
    assert_eq!(value(&s, r#"modgate_fill_size_bytes_sum{kind="zip"}"#), zip.body.len() as f64);
    assert_eq!(value(&s, "modgate_fills_in_flight"), 0.0);
    let upstream = fx.upstream.url();
    let upstream = upstream.trim_end_matches('/');
    let ok = value(&s, &format!(r#"modgate_upstream_requests_total{{upstream="{upstream}",outcome="ok"}}"#));
    assert!(ok >= 3.0, "mod, zip and list at least: {ok}");
    let missing =
        value(&s, &format!(r#"modgate_upstream_requests_total{{upstream="{upstream}",outcome="not_found"}}"#));
    assert!(missing >= 1.0);
    assert!(value(&s, r#"modgate_memory_cache_objects"#) >= 1.0);
    assert_eq!(value(&s, &format!(r#"modgate_build_info{{version="{}"}}"#, env!("CARGO_PKG_VERSION"))), 1.0);
    assert!(value(&s, "modgate_process_resident_memory_bytes") > 1e6);
    assert!(value(&s, "modgate_process_open_fds") > 3.0);
    assert!(value(&s, "modgate_connections_total") >= 10.0, "one connection per request here");
    assert!(value(&s, "modgate_connections_open") >= 1.0, "the scrape's own");
    assert!(value(&s, "modgate_storage_disk_size_bytes") >= value(&s, "modgate_storage_disk_free_bytes"));
    // The .mod, .zip and .info (fetched beside the zip) on disk; small objects commit just after
    // their answer, so the count may lag it a moment.
    let zip_len = zip.body.len() as f64;
    wait_until(std::time::Duration::from_secs(10), "the stored objects counted", || {
        let s = scrape(mg.addr, &[]);
        value(&s, "modgate_storage_counted") == 1.0
            && value(&s, "modgate_storage_objects") >= 2.0
            && value(&s, "modgate_storage_bytes") > zip_len
    });
}

#[test]
fn proxied_requests_are_counted_by_route_and_backends_show_their_health() {
    let backend = Backend::start();
    let tmp = tempfile::tempdir().unwrap();
    let text = format!("[[proxy]]\nname = \"web\"\npath = \"/app/\"\nto = \"{}\"\n", backend.url());
    let mg = InProcess::start(config_from_text(tmp.path(), &text));
    for _ in 0..4 {
        assert_eq!(get(mg.addr, "/app/x", &[]).status, 200);
    }
    assert_eq!(request(mg.addr, "DELETE", "/app/y", &[]).status, 200);
    let s = scrape(mg.addr, &[]);
    assert_eq!(value(&s, r#"modgate_proxy_requests_total{route="web",method="GET",status="200"}"#), 4.0);
    assert_eq!(value(&s, r#"modgate_proxy_requests_total{route="web",method="DELETE",status="200"}"#), 1.0);
    assert_eq!(value(&s, r#"modgate_proxy_request_duration_seconds_count{route="web"}"#), 5.0);
    let healthy = format!(r#"modgate_proxy_backend_healthy{{group="web",member="{}"}}"#, backend.url());
    assert_eq!(value(&s, &healthy), 1.0);
    assert!(
        !s.keys().any(|k| k.starts_with("modgate_requests_total{kind=\"other\"")),
        "proxied requests are not module traffic"
    );
}

#[test]
fn with_auth_only_admins_scrape_unless_metrics_are_open() {
    let fx = fixture(1);
    let data = tempfile::tempdir().unwrap();
    let mut cfg = test_config(&fx.upstream.url(), data.path());
    let keys = with_auth(&mut cfg, data.path(), "admin = [\"ops\"]\n");
    let ops = new_key(&keys, "ops-bot", "ops");
    let dev = new_key(&keys, "dev", "devs");
    let mg = InProcess::start(cfg.clone());
    assert_eq!(get(mg.addr, "/metrics", &[]).status, 401);
    assert_eq!(get(mg.addr, "/metrics", &[("Authorization", &format!("Bearer {dev}"))]).status, 403);
    let s = scrape(mg.addr, &[("Authorization", &format!("Bearer {ops}"))]);
    assert_eq!(value(&s, r#"modgate_auth_decisions_total{decision="denied",reason="no_credentials"}"#), 1.0);
    assert_eq!(value(&s, r#"modgate_auth_decisions_total{decision="denied",reason="policy"}"#), 1.0);
    assert!(!s.keys().any(|k| k.contains("dev") || k.contains("ops-bot")), "never a key or principal as a label");
    mg.stop();

    cfg.metrics.open = true;
    let mg = InProcess::start(cfg.clone());
    assert_eq!(get(mg.addr, "/metrics", &[]).status, 200, "open: no credentials needed");
    assert_eq!(get(mg.addr, "/-/admin/status", &[]).status, 401, "the admin endpoints stay closed");
    mg.stop();

    cfg.metrics.enabled = false;
    let mg = InProcess::start(cfg);
    assert_eq!(get(mg.addr, "/metrics", &[]).status, 404);
}

#[test]
fn a_metrics_listener_of_its_own_answers_metrics_and_health_only() {
    let fx = fixture(1);
    let data = tempfile::tempdir().unwrap();
    let mut cfg = test_config(&fx.upstream.url(), data.path());
    let keys = with_auth(&mut cfg, data.path(), "admin = [\"ops\"]\n[[rule]]\nmodules = \"*\"\nread = [\"ops\"]\n");
    let ops = new_key(&keys, "ops-bot", "ops");
    let bearer = format!("Bearer {ops}");
    cfg.metrics.listen = Some("127.0.0.1:0".parse().unwrap());
    let mg = InProcess::start(cfg);
    let side = mg.metrics_addr().expect("a metrics listener");
    assert_ne!(side, mg.addr);
    let m = &fx.graph.modules[0];
    let info = obj_path(&m.path, &m.versions[0].version, ".info");
    assert_eq!(get(mg.addr, &info, &[("Authorization", &bearer)]).status, 200);

    // The same access rules on the metrics listener; module traffic is counted there.
    assert_eq!(get(side, "/metrics", &[]).status, 401);
    let s = scrape(side, &[("Authorization", &bearer)]);
    assert!(value(&s, r#"modgate_requests_total{kind="info",method="GET",status="200",cache="miss"}"#) >= 1.0);
    assert_eq!(get(side, "/healthz", &[]).status, 200);
    assert_eq!(get(side, "/readyz", &[]).status, 200);
    // Nothing else answers there, and the main listener no longer answers /metrics.
    assert_eq!(get(side, &info, &[("Authorization", &bearer)]).status, 404);
    assert_eq!(get(side, "/-/admin/status", &[("Authorization", &bearer)]).status, 404);
    assert_eq!(get(mg.addr, "/metrics", &[("Authorization", &bearer)]).status, 404);
    assert_eq!(get(mg.addr, "/healthz", &[]).status, 200);
}

#[test]
fn promtool_accepts_the_exposition() {
    let Ok(promtool) = which("promtool") else {
        // test.sh installs Prometheus; a run without it says so rather than passing silently.
        panic!("promtool is not installed (scripts/test.sh installs the prometheus package)");
    };
    let fx = fixture(2);
    let data = tempfile::tempdir().unwrap();
    let mg = InProcess::start(test_config(&fx.upstream.url(), data.path()));
    let m = &fx.graph.modules[0];
    for ext in [".mod", ".info", ".zip"] {
        assert_eq!(get(mg.addr, &obj_path(&m.path, &m.versions[0].version, ext), &[]).status, 200);
    }
    let text = get(mg.addr, "/metrics", &[]).body;
    let mut child = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool");
    std::io::Write::write_all(child.stdin.as_mut().expect("stdin"), &text).expect("feed promtool");
    drop(child.stdin.take());
    let out = child.wait_with_output().expect("promtool output");
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "promtool check metrics: {said}");
    assert!(!said.contains("error"), "{said}");
}

fn which(name: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or(())
}

#[test]
fn requests_joining_a_running_zip_fill_are_counted() {
    let fx = fixture(1);
    fx.upstream.set_latency(std::time::Duration::from_millis(400));
    let data = tempfile::tempdir().unwrap();
    let mg = InProcess::start(test_config(&fx.upstream.url(), data.path()));
    let m = &fx.graph.modules[0];
    let zip = obj_path(&m.path, &m.versions[0].version, ".zip");
    let addr = mg.addr;
    let herd: Vec<_> = (0..4)
        .map(|_| {
            let zip = zip.clone();
            std::thread::spawn(move || get(addr, &zip, &[]).status)
        })
        .collect();
    for h in herd {
        assert_eq!(h.join().unwrap(), 200);
    }
    let s = scrape(mg.addr, &[]);
    assert_eq!(value(&s, r#"modgate_fills_total{kind="zip",outcome="ok"}"#), 1.0, "one fill for the herd");
    assert_eq!(fx.upstream.count_suffix(".zip"), 1);
    assert!(value(&s, "modgate_fill_joins_total") >= 3.0, "the other three joined it");
}
