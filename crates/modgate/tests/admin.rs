//! The admin API: catalog, module detail, stats and audit; purge; quarantine with the real go;
//! keys; re-verify; warming from a go.sum; and the OpenAPI file against the routes served.

mod common;
use common::*;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;
use testkit::gorun::GoEnv;

struct Admin {
    fx: Fixture,
    data: tempfile::TempDir,
    keys: std::path::PathBuf,
    ops: String,
    dev: String,
    mg: InProcess,
}

/// modgate over a fake upstream with `n` modules, `[auth]` on: anonymous callers may read,
/// `ops` is the admin group.
fn admin_server(n: usize) -> Admin {
    let fx = fixture(n);
    let data = tempfile::tempdir().unwrap();
    let mut cfg = test_config(&fx.upstream.url(), &data.path().join("data"));
    // What is fetched is what the tests ask for: no guesses beside it.
    cfg.prefetch.enabled = false;
    let (keys, ops) = with_admin(&mut cfg, data.path());
    if let Some(a) = cfg.auth.as_mut() {
        a.audit_log = Some(data.path().join("audit.log").display().to_string());
    }
    let dev = new_key(&keys, "dev", "devs");
    let mg = InProcess::start(cfg);
    Admin { fx, data, keys, ops, dev, mg }
}

/// One call with an API key and an optional body; the answer and its JSON.
fn call(addr: SocketAddr, method: &str, path: &str, key: &str, body: Option<&str>) -> (Resp, Value) {
    let body = body.unwrap_or("");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: m\r\nX-API-Key: {key}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let r = raw(addr, req.as_bytes()).unwrap();
    let v = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    (r, v)
}

fn admin_get(a: &Admin, path: &str) -> Value {
    let (r, v) = call(a.mg.addr, "GET", path, &a.ops, None);
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    v
}

fn download(a: &Admin, what: &[&str]) -> GoEnv {
    let go = GoEnv::new(&a.mg.url()).unwrap();
    a.fx.graph.write_root_module(&go.work(), "example.com/root").unwrap();
    let mut args = vec!["mod", "download"];
    args.extend_from_slice(what);
    go.run(&go.work(), &args).unwrap();
    go
}

/// Polls a job until it is done.
fn finished(a: &Admin, id: &str) -> Value {
    let mut last = Value::Null;
    wait_until(Duration::from_secs(120), "the job to finish", || {
        last = admin_get(a, &format!("/-/admin/jobs/{id}"));
        last["state"] == "done"
    });
    last
}

#[test]
fn catalog_module_stats_and_audit() {
    let a = admin_server(30);
    download(&a, &["all"]);
    for _ in 0..3 {
        let m = &a.fx.graph.modules[0];
        let r = get(a.mg.addr, &obj_path(&m.path, &m.versions[0].version, ".mod"), &[("X-API-Key", &a.dev)]);
        assert_eq!(r.status, 200);
    }
    a.mg.settle();

    let all = admin_get(&a, "/-/admin/catalog?per_page=500");
    let total = all["total"].as_u64().unwrap();
    assert!(total >= 25, "{total} modules cached");
    let page2 = admin_get(&a, "/-/admin/catalog?per_page=5&page=2");
    assert_eq!(page2["modules"].as_array().unwrap().len(), 5);
    assert_eq!(page2["modules"][0]["path"], all["modules"][5]["path"], "pages follow one order");
    let first = all["modules"][0]["path"].as_str().unwrap().to_string();
    let prefix = &first[..first.len() - 1];
    let by_prefix = admin_get(&a, &format!("/-/admin/catalog?prefix={prefix}"));
    assert!(by_prefix["modules"].as_array().unwrap().iter().all(|m| m["path"].as_str().unwrap().starts_with(prefix)));
    let needle = first.rsplit('/').next().unwrap().to_uppercase();
    let by_q = admin_get(&a, &format!("/-/admin/catalog?q={needle}"));
    assert!(by_q["modules"].as_array().unwrap().iter().any(|m| m["path"] == first.as_str()), "{by_q}");

    // A version the go command downloaded: its zip, size, times, and the hashes it was committed with.
    let expected = a.fx.graph.expected_sums();
    let (m, versions) = all["modules"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|m| {
            let zipped: Vec<&Value> = m["versions"].as_array()?.iter().filter(|v| v["zip"] == true).collect();
            (!zipped.is_empty()).then(|| (m["path"].as_str().unwrap().to_string(), zipped))
        })
        .expect("a module with a cached zip");
    let v = versions[0];
    let version = v["version"].as_str().unwrap();
    assert!(v["size"].as_u64().unwrap() > 0 && v["cached"].is_string() && v["last_served"].is_string(), "{v}");
    assert_eq!(v["verification"], "verified_at_fill", "{v}");
    assert_eq!(v["zip_h1"].as_str().unwrap(), expected[&(m.clone(), version.to_string())].0);

    // A module another cached module requires: its go.mod and who depends on it.
    let required =
        a.fx.graph
            .modules
            .iter()
            .flat_map(|m| m.versions.iter().flat_map(|v| gomod::modfile::requires(&v.go_mod)))
            .map(|(p, _)| p)
            .find(|p| all["modules"].as_array().unwrap().iter().any(|m| m["path"] == p.as_str()))
            .expect("a required module is cached");
    let detail = admin_get(&a, &format!("/-/admin/module?path={required}"));
    assert!(detail["go_mod"].as_str().unwrap().starts_with("module "), "{detail}");
    assert!(!detail["dependents"].as_array().unwrap().is_empty(), "{detail}");
    let (r, _) = call(a.mg.addr, "GET", "/-/admin/module?path=nothing.example/x", &a.ops, None);
    assert_eq!(r.status, 404);

    let stats = admin_get(&a, "/-/admin/stats?top=3");
    assert!(stats["misses"].as_u64().unwrap() > 0 && stats["bytes"].as_u64().unwrap() > 0, "{stats}");
    let clients: Vec<&str> =
        stats["top_clients"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert!(clients.contains(&"anonymous") && clients.contains(&"key:dev"), "{stats}");
    assert_eq!(stats["top_modules"].as_array().unwrap().len(), 3);

    // Admins only; unknown calls and wrong methods are told apart.
    let (r, _) = call(a.mg.addr, "GET", "/-/admin/catalog", &a.dev, None);
    assert_eq!(r.status, 403);
    assert_eq!(call(a.mg.addr, "GET", "/-/admin/nothing", &a.ops, None).0.status, 404);
    let (r, _) = call(a.mg.addr, "PUT", "/-/admin/quarantine", &a.ops, None);
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, POST, DELETE"));
    assert_eq!(call(a.mg.addr, "GET", "/-/admin/catalog?page=0", &a.ops, None).0.status, 400);

    // Every admin call is audited, in the log file and in the audit view.
    let audit = admin_get(&a, "/-/admin/audit?event=admin&limit=500");
    let calls: Vec<&str> = audit["entries"].as_array().unwrap().iter().map(|e| e["call"].as_str().unwrap()).collect();
    for c in ["catalog", "module", "stats", "nothing", "quarantine"] {
        assert!(calls.contains(&c), "{c} audited: {calls:?}");
    }
    let denied = admin_get(&a, "/-/admin/audit?allowed=false&who=dev");
    assert!(denied["entries"].as_array().unwrap().iter().any(|e| e["action"] == "admin"), "{denied}");
    let log = std::fs::read_to_string(a.data.path().join("audit.log")).unwrap();
    assert!(log.lines().any(|l| l.contains("\"event\":\"admin\"") && l.contains("\"call\":\"stats\"")), "{log}");
}

#[test]
fn quarantine_is_a_410_for_the_go_command_and_reversible() {
    let a = admin_server(10);
    let m =
        a.fx.graph
            .modules
            .iter()
            .find(|m| m.versions.iter().filter(|v| v.tagged).count() >= 2)
            .expect("a module with two tags");
    let latest = a.fx.graph.latest(m).unwrap().version.clone();
    let at = format!("{}@{latest}", m.path);
    download(&a, &[&at]);
    // Warm in memory: the hot path must refuse it too.
    assert_eq!(get(a.mg.addr, &obj_path(&m.path, &latest, ".mod"), &[]).status, 200);

    let body = json!({ "module": m.path, "version": latest, "reason": "CVE-2026-0001" }).to_string();
    let (r, v) = call(a.mg.addr, "POST", "/-/admin/quarantine", &a.ops, Some(&body));
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(v["by"], "key:oncall");
    for ext in [".info", ".mod", ".zip"] {
        let r = get(a.mg.addr, &obj_path(&m.path, &latest, ext), &[]);
        assert_eq!(r.status, 410, "{ext}: {}", r.text());
        assert!(r.text().contains("CVE-2026-0001"), "{}", r.text());
    }
    let list = get(a.mg.addr, &format!("/{}/@v/list", gomod::path::escape_path(&m.path).unwrap()), &[]);
    assert!(!list.text().lines().any(|l| l == latest), "the list leaves it out: {}", list.text());

    let go = GoEnv::new(&a.mg.url()).unwrap();
    std::fs::create_dir_all(go.work()).unwrap();
    let err = go.run_fail(&go.work(), &["mod", "download", &at]).unwrap();
    assert!(err.contains("410") || err.contains("quarantined"), "{err}");
    let out = go.run(&go.work(), &["list", "-m", "-versions", &m.path]).unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&latest), "go list -versions hides it");

    let q = admin_get(&a, "/-/admin/quarantine");
    assert_eq!(q["quarantined"][0]["version"], latest.as_str());
    let path = format!("/-/admin/quarantine?module={}&version={latest}", m.path);
    assert_eq!(call(a.mg.addr, "DELETE", &path, &a.ops, None).0.status, 200);
    assert_eq!(call(a.mg.addr, "DELETE", &path, &a.ops, None).0.status, 404, "released once");
    go.run(&go.work(), &["mod", "download", &at]).unwrap();
    assert_eq!(get(a.mg.addr, &obj_path(&m.path, &latest, ".mod"), &[]).status, 200);
    let (r, _) = call(
        a.mg.addr,
        "POST",
        "/-/admin/quarantine",
        &a.ops,
        Some(&json!({ "module": m.path, "version": "v1" }).to_string()),
    );
    assert_eq!(r.status, 400, "not canonical");
}

#[test]
fn a_quarantine_survives_a_restart() {
    let fx = fixture(5);
    let data = tempfile::tempdir().unwrap();
    let start = || {
        let mut cfg = test_config(&fx.upstream.url(), &data.path().join("data"));
        let keys = with_auth(&mut cfg, data.path(), ADMIN_POLICY);
        (keys, cfg)
    };
    let (keys, cfg) = start();
    let ops = new_key(&keys, "oncall", "ops");
    let m = &fx.graph.modules[0];
    let v = &m.versions[0].version;
    let mg = InProcess::start(cfg);
    let body = json!({ "module": m.path, "version": v, "reason": "held" }).to_string();
    assert_eq!(call(mg.addr, "POST", "/-/admin/quarantine", &ops, Some(&body)).0.status, 201);
    mg.stop();
    let mg = InProcess::start(start().1);
    let r = get(mg.addr, &obj_path(&m.path, v, ".mod"), &[("X-API-Key", &ops)]);
    assert_eq!(r.status, 410, "{}", r.text());
}

#[test]
fn purge_forgets_a_modules_lists() {
    let a = admin_server(5);
    let m = &a.fx.graph.modules[0];
    let list = format!("/{}/@v/list", gomod::path::escape_path(&m.path).unwrap());
    assert_eq!(get(a.mg.addr, &list, &[]).status, 200);
    assert_eq!(get(a.mg.addr, &list, &[]).status, 200);
    assert_eq!(a.fx.upstream.count(&list), 1, "the second list came from the cache");
    let (r, v) = call(a.mg.addr, "POST", "/-/admin/purge", &a.ops, Some(&json!({ "module": m.path }).to_string()));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(v["purged"], 1);
    assert_eq!(get(a.mg.addr, &list, &[]).status, 200);
    assert_eq!(a.fx.upstream.count(&list), 2, "asked again after the purge");
    let (r, _) = call(a.mg.addr, "POST", "/-/admin/purge", &a.ops, Some("{\"module\": \"../etc\"}"));
    assert_eq!(r.status, 400);
}

#[test]
fn keys_are_added_shown_once_and_revoked() {
    let a = admin_server(3);
    let m = &a.fx.graph.modules[0];
    let list = format!("/{}/@v/list", gomod::path::escape_path(&m.path).unwrap());
    let body = json!({ "name": "robot", "groups": ["devs"] }).to_string();
    let (r, v) = call(a.mg.addr, "POST", "/-/admin/keys", &a.ops, Some(&body));
    assert_eq!(r.status, 201, "{}", r.text());
    let key = v["key"].as_str().unwrap().to_string();
    let id = v["id"].as_str().unwrap().to_string();
    assert_eq!(get(a.mg.addr, &list, &[("X-API-Key", &key)]).status, 200, "in force at once");
    let (_, listed) = call(a.mg.addr, "GET", "/-/admin/keys", &a.ops, None);
    let text = listed.to_string();
    assert!(text.contains("robot") && !text.contains(&key[key.len() - 20..]) && !text.contains("sha256"), "{text}");
    assert_eq!(call(a.mg.addr, "POST", "/-/admin/keys", &a.ops, Some(&body)).0.status, 400, "one live key per name");
    assert_eq!(call(a.mg.addr, "DELETE", &format!("/-/admin/keys/{id}"), &a.ops, None).0.status, 200);
    assert_eq!(get(a.mg.addr, &list, &[("X-API-Key", &key)]).status, 401, "revoked at once");
    assert!(std::fs::read_to_string(&a.keys).unwrap().contains("revoked = true"));
    let audit = std::fs::read_to_string(a.data.path().join("audit.log")).unwrap();
    assert!(!audit.contains(&key[key.len() - 20..]), "the secret is never logged");
}

#[test]
fn reverify_finds_a_tampered_zip() {
    let a = admin_server(8);
    let m = a.fx.graph.modules.iter().find(|m| !m.versions.is_empty()).unwrap();
    let v = a.fx.graph.latest(m).unwrap_or(&m.versions[0]).version.clone();
    download(&a, &["all"]);
    download(&a, &[&format!("{}@{v}", m.path)]);
    a.mg.settle();
    let one = json!({ "module": m.path, "version": v }).to_string();
    let (r, rec) = call(a.mg.addr, "POST", "/-/admin/verify", &a.ops, Some(&one));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(rec["state"], "reverified", "{rec}");

    // Another valid zip of the same version put in its place on disk.
    let zip = module_zip(&a.data.path().join("other"), &m.path, &v, "tampered");
    let file = stored_path(&a.data.path().join("data"), obj_path(&m.path, &v, ".zip").trim_start_matches('/'));
    std::fs::remove_file(&file).unwrap();
    std::fs::write(&file, zip).unwrap();
    let (_, rec) = call(a.mg.addr, "POST", "/-/admin/verify", &a.ops, Some(&one));
    assert_eq!(rec["state"], "mismatch", "{rec}");
    assert!(rec["detail"].as_str().unwrap().contains("zip: recorded h1:"), "{rec}");

    let (r, job) = call(a.mg.addr, "POST", "/-/admin/verify", &a.ops, Some("{}"));
    assert_eq!(r.status, 202, "{}", r.text());
    let done = finished(&a, job["id"].as_str().unwrap());
    assert!(done["total"].as_u64().unwrap() >= 5, "{done}");
    assert_eq!(done["failed"], 1, "{done}");
    assert!(done["problems"][0].as_str().unwrap().contains(&m.path), "{done}");
    let (r, _) = call(a.mg.addr, "POST", "/-/admin/verify", &a.ops, Some(&json!({ "module": m.path }).to_string()));
    assert_eq!(r.status, 400);
}

#[test]
fn warm_from_a_go_sum_fetches_and_checks_hashes() {
    let a = admin_server(12);
    let sums = a.fx.graph.expected_sums();
    let mut go_sum = String::new();
    let picked: Vec<_> = sums.iter().take(6).collect();
    for ((m, v), (zip_h1, mod_h1)) in &picked[..5] {
        go_sum.push_str(&format!("{m} {v} {zip_h1}\n{m} {v}/go.mod {mod_h1}\n"));
    }
    let ((bad_m, bad_v), (_, _)) = picked[5];
    go_sum.push_str(&format!("{bad_m} {bad_v}/go.mod h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"));

    let (r, job) = call(a.mg.addr, "POST", "/-/admin/warm?name=go.sum", &a.ops, Some(&go_sum));
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(job["total"], 6);
    let done = finished(&a, job["id"].as_str().unwrap());
    assert_eq!((done["done"].as_u64(), done["failed"].as_u64()), (Some(6), Some(1)), "{done}");
    assert!(done["problems"][0].as_str().unwrap().contains(&format!("{bad_m}@{bad_v}/go.mod: go.sum has")), "{done}");
    a.mg.settle();
    for ((m, v), _) in &picked[..5] {
        let rel = obj_path(m, v, ".zip");
        assert!(stored_path(&a.data.path().join("data"), rel.trim_start_matches('/')).exists(), "{rel} cached");
        assert_eq!(a.fx.upstream.count(&rel), 1);
    }
    assert_eq!(a.fx.upstream.count(&obj_path(bad_m, bad_v, ".zip")), 0, "a go.mod line needs no zip");

    let (r, v) = call(a.mg.addr, "POST", "/-/admin/warm?name=go.sum", &a.ops, Some("x.example/m v1.0\n"));
    assert_eq!(r.status, 400);
    assert!(v["error"].as_str().unwrap().contains("line 1"), "{v}");
    let (r, v) = call(a.mg.addr, "POST", "/-/admin/warm?name=go.work", &a.ops, Some("go 1.22\n\nuse ./app\n"));
    assert_eq!(r.status, 400);
    assert!(v["error"].as_str().unwrap().contains("go.work.sum"), "{v}");
}

#[test]
fn the_openapi_file_documents_every_route() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json")).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut documented = std::collections::BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let rel = path.strip_prefix("/-/admin/").unwrap_or_else(|| panic!("{path} is not an admin path"));
        for method in item.as_object().unwrap().keys().filter(|k| *k != "parameters") {
            documented.insert((method.to_uppercase(), rel.to_string()));
        }
    }
    let served: std::collections::BTreeSet<(String, String)> =
        modgate::http::handler::admin::ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    assert_eq!(documented, served, "docs/openapi.json and the routes served differ");
}

#[test]
fn the_console_files_are_served_to_anyone_with_a_strict_policy() {
    let a = admin_server(1);
    let page = get(a.mg.addr, "/-/ui/", &[]);
    assert_eq!(page.status, 200);
    assert!(page.text().contains("<script src=\"app.js\" defer>"), "{}", page.text());
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"), "{csp}");
    let etag = page.header("etag").unwrap().to_string();
    let bare = get(a.mg.addr, "/-/ui", &[]);
    assert_eq!(
        (bare.status, bare.header("location")),
        (301, Some("/-/ui/")),
        "the page's links are relative to /-/ui/"
    );
    assert_eq!(get(a.mg.addr, "/-/ui/", &[("If-None-Match", &etag)]).status, 304);
    assert!(get(a.mg.addr, "/-/ui/app.js", &[]).header("content-type").unwrap().starts_with("text/javascript"));
    let around = get(a.mg.addr, "/-/ui/../admin/status", &[]);
    assert_eq!(around.status, 404, "no way around the admin check: {}", around.text());
    assert_eq!(get(a.mg.addr, "/-/ui/secrets.toml", &[]).status, 404);
    // A caller with an API key is not offered a Basic challenge (a browser would prompt).
    let r = get(a.mg.addr, "/-/admin/status", &[("X-API-Key", "mg_no_such")]);
    assert_eq!((r.status, r.header("www-authenticate")), (401, Some("Bearer realm=\"modgate\"")));
    assert_eq!(get(a.mg.addr, "/-/admin/status", &[]).header("www-authenticate"), Some("Basic realm=\"modgate\""));
}

#[test]
fn warm_from_a_go_mod_walks_the_graph_to_its_build_list() {
    let a = admin_server(20);
    let dir = a.data.path().join("project");
    a.fx.graph.write_root_module_walking(&dir, "example.com/root").unwrap();
    let go_mod = std::fs::read_to_string(dir.join("go.mod")).unwrap();
    let (r, job) = call(a.mg.addr, "POST", "/-/admin/warm?name=go.mod", &a.ops, Some(&go_mod));
    assert_eq!(r.status, 202, "{}", r.text());
    let done = finished(&a, job["id"].as_str().unwrap());
    assert_eq!(done["failed"], 0, "{done}");
    assert_eq!(done["done"], done["total"], "{done}");
    // The go command's view of the build: its downloads are what the warm job fetched.
    let go = GoEnv::new(&a.mg.url()).unwrap();
    std::fs::create_dir_all(go.work()).unwrap();
    std::fs::copy(dir.join("go.mod"), go.work().join("go.mod")).unwrap();
    std::fs::write(go.work().join("main.go"), "package main\n\nfunc main() {}\n").unwrap();
    let out = go.run(&go.work(), &["list", "-m", "all"]).unwrap();
    let listed = String::from_utf8_lossy(&out.stdout).to_string();
    let mut checked = 0;
    for line in listed.lines().skip(1) {
        let mut f = line.split_whitespace();
        let (Some(m), Some(v)) = (f.next(), f.next()) else { continue };
        let zip = obj_path(m, v, ".zip");
        assert_eq!(a.fx.upstream.count(&zip), 1, "{zip}: the build list's zip was warmed ({listed})");
        checked += 1;
    }
    assert!(checked >= 5, "{listed}");
}
