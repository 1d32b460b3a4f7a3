//! Checksum databases: modgate proxies them for the go command and verifies every fill
//! against one. The database is testkit-sumdb (golang.org/x/mod/sumdb on loopback); the go
//! command reaches it only through modgate (its own name does not resolve).

mod common;
use common::*;
use modgate::config::{parse_spec, Config};
use std::path::Path;
use testkit::gorun::GoEnv;
use testkit::sumdb::{generate_key, graph_sums, Options, SumDb};

const DB: &str = "sum.modgate-test.invalid";

fn keys() -> (String, String) {
    generate_key(DB).expect("testkit-sumdb key (run scripts/oracle.sh)")
}

/// modgate in front of the fixture's upstream, verifying against `db`.
fn config(fx: &Fixture, data: &Path, db: &SumDb) -> Config {
    let mut cfg = test_config(&fx.upstream.url(), data);
    cfg.checksum_db.database = parse_spec(&format!("{} {}", db.vkey, db.url()), &[]).unwrap();
    cfg
}

fn lookups(db: &SumDb) -> Vec<String> {
    db.requests().unwrap().into_iter().filter(|p| p.starts_with("/lookup/")).collect()
}

#[test]
fn go_verifies_through_modgate_with_the_database_reachable_only_through_it() {
    let fx = fixture(60);
    // A database that already holds the graph (as a public one would): its tree does not grow
    // with every lookup, so tiles can be shared.
    let opts = Options { preload: true, ..Default::default() };
    let db = SumDb::start(&keys(), &graph_sums(&fx.graph), &opts).unwrap();
    let data = tempfile::tempdir().unwrap();
    let mg = InProcess::start(config(&fx, data.path(), &db));

    let mut go = GoEnv::new(&mg.url()).unwrap();
    // The go command's defaults: the checksum database on (named by its key only, so the go
    // command finds it through its proxy), nothing private.
    go.extra.push(("GOSUMDB".into(), db.vkey.clone()));
    fx.graph.write_root_module(&go.work(), "example.com/root").unwrap();
    go.run(&go.work(), &["mod", "download", "all"]).unwrap();
    go.run(&go.work(), &["mod", "verify"]).unwrap();
    let sum = std::fs::read_to_string(go.work().join("go.sum")).unwrap();
    assert!(sum.lines().count() > 50, "go.sum has {} lines", sum.lines().count());
    // The go command kept the database's verified head: it spoke to the database.
    let latest = go.root().join("gopath/pkg/sumdb").join(DB).join("latest");
    assert!(latest.exists(), "the go command never verified against the database");

    // Every version was looked up once upstream, however many asked (modgate's own checks
    // and the go command's lookups share one fetch).
    let l = lookups(&db);
    let mut unique = l.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), l.len(), "lookups repeated: {l:?}");
    // Tiles are shared: far fewer tile fetches than lookups.
    let tiles = db.requests().unwrap().iter().filter(|p| p.starts_with("/tile/")).count();
    assert!(tiles <= 12, "{tiles} tile fetches for {} lookups", l.len());

    // Against modgate directly: supported for this database only.
    assert_eq!(get(mg.addr, &format!("/sumdb/{DB}/supported"), &[]).status, 200);
    assert_eq!(get(mg.addr, "/sumdb/other.example/supported", &[]).status, 404);
    let latest = get(mg.addr, &format!("/sumdb/{DB}/latest"), &[]);
    assert_eq!(latest.status, 200);
    let n: u64 = latest.text().lines().nth(1).unwrap().parse().unwrap();
    let w = n.min(256);
    let tile = if w == 256 { "000".to_string() } else { format!("000.p/{w}") };
    let t = get(mg.addr, &format!("/sumdb/{DB}/tile/8/0/{tile}"), &[]);
    assert_eq!((t.status, t.body.len() as u64), (200, w * 32));
}

#[test]
fn a_zip_or_mod_the_database_disagrees_with_is_never_committed() {
    let fx = fixture(12);
    let m = fx.graph.modules.iter().find(|m| m.versions.len() >= 2).expect("a module with two versions");
    let (bad_zip, bad_mod) = (&m.versions[0], &m.versions[1]);
    // The database's record of one zip and of another version's go.mod differ from upstream's.
    let other = "h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let mut sums = String::new();
    for ((p, v), (zip, md)) in fx.graph.expected_sums() {
        let zip = if p == m.path && v == bad_zip.version { other.to_string() } else { zip };
        let md = if p == m.path && v == bad_mod.version { other.to_string() } else { md };
        sums.push_str(&format!("{p} {v} {zip}\n{p} {v}/go.mod {md}\n"));
    }
    let db = SumDb::start(&keys(), &sums, &Options::default()).unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut cfg = config(&fx, data.path(), &db);
    // Everyone may read; every decision and security event goes to the audit log.
    with_auth(&mut cfg, data.path(), "[[rule]]\nmodules = \"*\"\nread = [\"anon\"]\n");
    let audit = data.path().join("audit.jsonl");
    if let Some(a) = cfg.auth.as_mut() {
        a.anonymous_group = Some("anon".into());
        a.audit_log = Some(audit.display().to_string());
    }
    let mg = InProcess::start(cfg);

    for (v, ext) in [(bad_zip, ".zip"), (bad_mod, ".mod")] {
        let path = obj_path(&m.path, &v.version, ext);
        let r = get(mg.addr, &path, &[]);
        assert_eq!(r.status, 502, "{path}: {}", r.text());
        let text = r.text();
        assert!(text.contains("checksum mismatch") && text.contains(&m.path), "{text}");
        assert!(text.contains(other) && text.contains(DB), "{text}");
        assert_eq!(text.lines().count(), 1, "{text}");
        // Nothing was kept: the cache alone has nothing for it.
        let cached = get(mg.addr, &path, &[("Disable-Module-Fetch", "true")]);
        assert_eq!(cached.status, 404, "{path} was committed");
    }
    // The other objects verify and are served.
    let good = obj_path(&m.path, &bad_zip.version, ".mod");
    assert_eq!(get(mg.addr, &good, &[]).status, 200);
    // Each refusal is a security event in the audit log, with both hashes.
    let events: Vec<serde_json::Value> = std::fs::read_to_string(&audit)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|e: &serde_json::Value| e["event"] == "checksum mismatch")
        .collect();
    assert!(events.len() >= 2, "{events:?}");
    assert!(events.iter().all(|e| e["module"] == m.path.as_str() && e["recorded"] == other && e["database"] == DB));
}

#[test]
fn tiles_that_do_not_prove_the_record_are_refused() {
    let fx = fixture(6);
    let opts = Options { corrupt_tiles: true, preload: true };
    let db = SumDb::start(&keys(), &graph_sums(&fx.graph), &opts).unwrap();
    let data = tempfile::tempdir().unwrap();
    let mg = InProcess::start(config(&fx, data.path(), &db));
    let m = &fx.graph.modules[0];
    let path = obj_path(&m.path, &m.versions[0].version, ".mod");
    let r = get(mg.addr, &path, &[]);
    assert_eq!(r.status, 502, "{}", r.text());
    assert!(r.text().contains(DB), "{}", r.text());
    assert_eq!(get(mg.addr, &path, &[("Disable-Module-Fetch", "true")]).status, 404);
}

#[test]
fn a_forked_database_is_refused_across_restarts() {
    let fx = fixture(8);
    let sums = graph_sums(&fx.graph);
    let k = keys();
    let honest = SumDb::start(&k, &sums, &Options { preload: true, ..Default::default() }).unwrap();
    // The same key, the same records in another order: a tree of the same size, another root.
    let mut reversed: Vec<&str> = sums.lines().collect();
    reversed.reverse();
    let mut pairs = Vec::new();
    for chunk in reversed.chunks(2) {
        pairs.push(format!("{}\n{}\n", chunk[1], chunk[0]));
    }
    let forked = SumDb::start(&k, &pairs.concat(), &Options { preload: true, ..Default::default() }).unwrap();

    let data = tempfile::tempdir().unwrap();
    let (a, b, c) = (&fx.graph.modules[0], &fx.graph.modules[1], &fx.graph.modules[2]);
    let mg = InProcess::start(config(&fx, data.path(), &honest));
    assert_eq!(get(mg.addr, &obj_path(&a.path, &a.versions[0].version, ".mod"), &[]).status, 200);
    mg.stop();

    let mg = InProcess::start(config(&fx, data.path(), &forked));
    let r = get(mg.addr, &obj_path(&b.path, &b.versions[0].version, ".mod"), &[]);
    assert_eq!(r.status, 502, "{}", r.text());
    assert!(r.text().contains("SECURITY") && r.text().contains("inconsistent"), "{}", r.text());
    mg.stop();

    // The honest database again: consistent with the head kept from before the restarts.
    let mg = InProcess::start(config(&fx, data.path(), &honest));
    assert_eq!(get(mg.addr, &obj_path(&c.path, &c.versions[0].version, ".mod"), &[]).status, 200);
}

#[test]
fn private_modules_are_never_looked_up() {
    let fx = fixture(6);
    let db = SumDb::start(&keys(), &graph_sums(&fx.graph), &Options::default()).unwrap();
    let data = tempfile::tempdir().unwrap();
    let private = &fx.graph.modules[0];
    let mut cfg = config(&fx, data.path(), &db);
    cfg.checksum_db.private = private.path.clone();
    let mg = InProcess::start(cfg);

    let v = &private.versions[0].version;
    // Filled without a lookup, and a client's lookup is refused without asking upstream.
    assert_eq!(get(mg.addr, &obj_path(&private.path, v, ".mod"), &[]).status, 200);
    let esc = gomod::path::escape_path(&private.path).unwrap();
    let r = get(mg.addr, &format!("/sumdb/{DB}/lookup/{esc}@{v}"), &[]);
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(r.text().contains("private"), "{}", r.text());
    // A public one is looked up.
    let public = &fx.graph.modules[1];
    assert_eq!(get(mg.addr, &obj_path(&public.path, &public.versions[0].version, ".mod"), &[]).status, 200);
    let l = lookups(&db);
    assert!(l.iter().all(|p| !p.starts_with(&format!("/lookup/{esc}@"))), "private module looked up: {l:?}");
    assert!(!l.is_empty(), "the public module was not looked up");
}

#[test]
fn without_a_database_sumdb_paths_are_not_found() {
    let fx = fixture(2);
    let data = tempfile::tempdir().unwrap();
    let mg = InProcess::start(test_config(&fx.upstream.url(), data.path()));
    let r = get(mg.addr, &format!("/sumdb/{DB}/supported"), &[]);
    assert_eq!(r.status, 404);
    assert_eq!(get(mg.addr, &format!("/sumdb/{DB}/lookup/example.com/x@v1.0"), &[]).status, 400);
}

#[test]
fn with_nothing_configured_modgate_uses_what_the_go_command_would() {
    let fx = fixture(4);
    let opts = Options { preload: true, ..Default::default() };
    let db = SumDb::start(&keys(), &graph_sums(&fx.graph), &opts).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // No GOPROXY or GOSUMDB in modgate's environment: only the go command's own settings
    // file names the upstream and the database, as `go env -w` would have written them.
    let goenv = dir.path().join("go.env");
    std::fs::write(&goenv, format!("GOPROXY={}\nGOSUMDB={} {}\n", fx.upstream.url(), db.vkey, db.url())).unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_modgate"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .env("GOENV", &goenv)
        .env("GOTOOLCHAIN", "local")
        .env("MODGATE_GO", testkit::gorun::go_binary());
    let mg = Process::start_with(cmd);
    wait_until(std::time::Duration::from_secs(10), "the listening line", || {
        mg.logs().iter().any(|l| l.contains("upstream_from"))
    });
    let logs = mg.logs().join("\n");
    assert!(
        logs.contains("upstream_from=\"go env GOPROXY\"") || logs.contains("upstream_from=go env GOPROXY"),
        "{logs}"
    );
    assert!(logs.contains("go env GOSUMDB") && logs.contains(DB), "{logs}");

    let m = &fx.graph.modules[0];
    let r = get(mg.addr, &obj_path(&m.path, &m.versions[0].version, ".mod"), &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(!lookups(&db).is_empty(), "the fill was not verified against the go command's database");
}

#[test]
fn a_database_is_found_through_the_upstream_chain() {
    // Two tiers: the edge modgate knows the database by key only; the central one knows its
    // URL. The edge finds it through its upstream's /sumdb/<name>/supported.
    let fx = fixture(6);
    let opts = Options { preload: true, ..Default::default() };
    let db = SumDb::start(&keys(), &graph_sums(&fx.graph), &opts).unwrap();
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let central = InProcess::start(config(&fx, d1.path(), &db));
    let mut cfg = test_config(&central.url(), d2.path());
    cfg.checksum_db.database = parse_spec(&db.vkey, &[]).unwrap();
    let edge = InProcess::start(cfg);
    let m = &fx.graph.modules[1];
    let v = &m.versions[0].version;
    assert_eq!(get(edge.addr, &obj_path(&m.path, v, ".mod"), &[]).status, 200);
    let esc = gomod::path::escape_path(&m.path).unwrap();
    let r = get(edge.addr, &format!("/sumdb/{DB}/lookup/{esc}@{v}"), &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains(&format!("{} {v}/go.mod h1:", m.path)), "{}", r.text());
    // One lookup reached the database, through the central modgate.
    assert_eq!(lookups(&db).iter().filter(|p| **p == format!("/lookup/{esc}@{v}")).count(), 1);
}

#[test]
fn a_stale_answer_is_served_when_the_database_is_down() {
    let fx = fixture(4);
    let opts = Options { preload: true, ..Default::default() };
    let db = SumDb::start(&keys(), &graph_sums(&fx.graph), &opts).unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut cfg = config(&fx, data.path(), &db);
    cfg.checksum_db.fresh = std::time::Duration::ZERO;
    let mg = InProcess::start(cfg);
    let m = &fx.graph.modules[0];
    let v = &m.versions[0].version;
    let path = format!("/sumdb/{DB}/lookup/{}@{v}", gomod::path::escape_path(&m.path).unwrap());
    let first = get(mg.addr, &path, &[]);
    assert_eq!((first.status, first.header("x-modgate-cache")), (200, Some("miss")));
    drop(db);
    let again = get(mg.addr, &path, &[]);
    assert_eq!((again.status, again.header("x-modgate-cache")), (200, Some("stale")));
    assert_eq!(again.body, first.body);
    // Nothing cached, nothing to serve: a clear 502.
    let other = &fx.graph.modules[1];
    let path =
        format!("/sumdb/{DB}/lookup/{}@{}", gomod::path::escape_path(&other.path).unwrap(), other.versions[0].version);
    let r = get(mg.addr, &path, &[]);
    assert_eq!(r.status, 502, "{}", r.text());
    assert!(r.text().contains(DB), "{}", r.text());
}

#[test]
fn a_route_may_turn_verification_off() {
    let fx = fixture(6);
    let m = fx.graph.modules[2].clone();
    let bad = "h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let sums: String = fx
        .graph
        .expected_sums()
        .into_iter()
        .map(|((p, v), (zip, md))| {
            let md = if p == m.path { bad.to_string() } else { md };
            format!("{p} {v} {zip}\n{p} {v}/go.mod {md}\n")
        })
        .collect();
    let db = SumDb::start(&keys(), &sums, &Options::default()).unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut cfg = config(&fx, data.path(), &db);
    let up = fx.upstream.url();
    cfg.routes.push(modgate::config::RouteRule {
        modules: m.path.clone(),
        source: modgate::config::RouteSource::Chain { raw: up.clone(), specs: gomod::proxylist::parse(&up).unwrap() },
        verify_checksums: false,
    });
    let mg = InProcess::start(cfg);
    let r = get(mg.addr, &obj_path(&m.path, &m.versions[0].version, ".mod"), &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    let esc = gomod::path::escape_path(&m.path).unwrap();
    let l = lookups(&db);
    assert!(l.iter().all(|p| !p.contains(&format!("/{esc}@"))), "looked up despite verify_checksums = false: {l:?}");
}

/// Opt-in, off in CI: the go command's defaults through modgate against the real public
/// database, reached through the machine's module proxy. Set MODGATE_REAL_MODULES to three
/// (or more) `module@version` of public modules, comma-separated.
#[test]
fn real_public_database_through_the_machines_proxy() {
    let Ok(list) = std::env::var("MODGATE_REAL_MODULES") else {
        eprintln!("skipped: set MODGATE_REAL_MODULES=module@version,... to run against the network");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_modgate"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .env_remove("GOPROXY")
        .env_remove("GOSUMDB")
        .env("MODGATE_GO", testkit::gorun::go_binary());
    let mg = Process::start_with(cmd);
    let go = GoEnv::new(&mg.url()).unwrap();
    std::fs::write(go.work().join("go.mod"), "module example.com/try\n\ngo 1.21\n").unwrap();
    let mut c = go.command(&go.work(), &["get"]);
    c.args(list.split(',')).env_remove("GOSUMDB").env_remove("GONOSUMDB").env_remove("GOFLAGS");
    let out = c.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut v = go.command(&go.work(), &["mod", "verify"]);
    v.env_remove("GOSUMDB");
    assert!(v.output().unwrap().status.success());
    assert!(mg.logs().iter().any(|l| l.contains("/sumdb/") && l.contains("lookup")), "no lookup through modgate");
}
