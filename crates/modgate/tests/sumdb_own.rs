//! modgate's own checksum database: the real go command with `GOSUMDB` set to modgate's log
//! verifies public, private and published modules; a zip changed in the data directory after
//! it was first served is refused; the log continues across restarts.

mod common;
use common::*;
use modgate::config::{parse_spec, Config};
use std::path::Path;
use testkit::gorun::GoEnv;
use testkit::sumdb::{generate_key, graph_sums, Options, SumDb};

const PUBLIC: &str = "sum.public-test.invalid";
const OWN: &str = "sum.own-test.invalid";
const PUBLISHED: &str = "corp.example/published";

fn config(fx: &Fixture, data: &Path, db: &SumDb, private: &str) -> Config {
    let mut cfg = test_config(&fx.upstream.url(), data);
    cfg.checksum_db.database = parse_spec(&format!("{} {}", db.vkey, db.url()), &[]).unwrap();
    cfg.checksum_db.private = private.to_string();
    cfg.checksum_db.own = Some(OWN.to_string());
    cfg
}

/// Everyone may read; the "ci" group may publish. Returns a "ci" key.
fn with_publishing(cfg: &mut Config, dir: &Path) -> String {
    let policy = "[[rule]]\nmodules = \"*\"\nread = [\"anon\", \"ci\"]\nwrite = [\"ci\"]\n";
    let keys = with_auth(cfg, dir, policy);
    if let Some(a) = cfg.auth.as_mut() {
        a.anonymous_group = Some("anon".into());
    }
    new_key(&keys, "ci-bot", "ci")
}

fn publish(addr: std::net::SocketAddr, key: &str, module: &str, version: &str, zip: &[u8]) {
    let mut req = format!(
        "PUT /-/publish/{module}/@v/{version} HTTP/1.1\r\nHost: m\r\nAuthorization: Bearer {key}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        zip.len()
    )
    .into_bytes();
    req.extend_from_slice(zip);
    let r = raw(addr, &req).unwrap();
    assert!(r.status == 200 || r.status == 201, "publish: {} {}", r.status, r.text());
}

/// The own log's verifier key, from the running server.
fn own_key(mg: &InProcess) -> String {
    let app = mg.app();
    app.sumdb.as_ref().unwrap().own.as_ref().unwrap().verifier.encode()
}

#[test]
fn the_go_command_verifies_public_private_and_published_modules_against_modgates_log() {
    let fx = fixture(30);
    let private = fx.graph.modules[0].path.clone();
    // The public database knows every module but the private one.
    let sums: String = graph_sums(&fx.graph)
        .lines()
        .filter(|l| !l.starts_with(&format!("{private} ")))
        .map(|l| format!("{l}\n"))
        .collect();
    let public =
        SumDb::start(&generate_key(PUBLIC).unwrap(), &sums, &Options { preload: true, ..Default::default() }).unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut cfg = config(&fx, data.path(), &public, &private);
    let ci = with_publishing(&mut cfg, data.path());
    let mg = InProcess::start(cfg);
    let big = testkit::graph::big_module(PUBLISHED, "v1.0.0", 4096, 7);
    publish(mg.addr, &ci, PUBLISHED, "v1.0.0", &big.versions[0].zip_bytes(PUBLISHED));

    let key = own_key(&mg);
    let mut go = GoEnv::new(&mg.url()).unwrap();
    go.extra.push(("GOSUMDB".into(), key.clone()));
    fx.graph.write_root_module(&go.work(), "example.com/root").unwrap();
    go.run(&go.work(), &["mod", "download", "all"]).unwrap();
    go.run(&go.work(), &["mod", "download", &format!("{PUBLISHED}@v1.0.0")]).unwrap();
    go.run(&go.work(), &["mod", "verify"]).unwrap();
    assert!(go.root().join("gopath/pkg/sumdb").join(OWN).join("latest").exists(), "never verified against the own log");
    let sum = std::fs::read_to_string(go.work().join("go.sum")).unwrap();
    assert!(sum.contains(&format!("{private} ")), "the private module was not verified: {sum}");
    // The private module was never named to the public database.
    let esc = gomod::path::escape_path(&private).unwrap();
    let looked_up = |p: &String| p.starts_with(&format!("/lookup/{esc}@"));
    assert!(!public.requests().unwrap().iter().any(looked_up), "private module looked up publicly");

    // A zip changed on disk after it was first served: the go command refuses it.
    let m = fx.graph.modules.iter().find(|m| m.path != private && !m.versions.is_empty()).unwrap();
    let v = fx.graph.latest(m).unwrap_or(&m.versions[0]);
    let zip_path = data.path().join("cache").join(obj_path(&m.path, &v.version, ".zip").trim_start_matches('/'));
    let go2 = {
        let mut g = GoEnv::new(&mg.url()).unwrap();
        g.extra.push(("GOSUMDB".into(), key.clone()));
        g
    };
    let target = format!("{}@{}", m.path, v.version);
    if !zip_path.exists() {
        go2.run(&go2.work(), &["mod", "download", &target]).unwrap();
    }
    let mut bytes = std::fs::read(&zip_path).unwrap();
    // Rename one file in the central directory (its last occurrence): the hash changes, the
    // zip stays readable.
    let (name, _) = v.files.iter().find(|(n, _)| n.ends_with(".go")).expect("a .go file");
    let full = format!("{}@{}/{name}", m.path, v.version);
    let at = bytes.windows(full.len()).rposition(|w| w == full.as_bytes()).unwrap() + full.len() - 4;
    bytes[at] = if bytes[at] == b'x' { b'y' } else { b'x' };
    std::fs::write(&zip_path, &bytes).unwrap();
    // A restarted modgate (nothing in memory) and a fresh client.
    mg.stop();
    let mut cfg = config(&fx, data.path(), &public, &private);
    with_publishing(&mut cfg, data.path());
    let mg = InProcess::start(cfg);
    let fresh = {
        let mut g = GoEnv::new(&mg.url()).unwrap();
        g.extra.push(("GOSUMDB".into(), key));
        g
    };
    let err = fresh.run_fail(&fresh.work(), &["mod", "download", &target]).unwrap();
    assert!(err.contains("checksum mismatch") || err.contains("SECURITY ERROR"), "{err}");
}

#[test]
fn the_log_continues_across_restarts() {
    let fx = fixture(10);
    let public = SumDb::start(
        &generate_key(PUBLIC).unwrap(),
        &graph_sums(&fx.graph),
        &Options { preload: true, ..Default::default() },
    )
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    let mods: Vec<_> = fx.graph.modules.iter().filter(|m| !m.versions.is_empty()).take(4).collect();
    let mg = InProcess::start(config(&fx, data.path(), &public, ""));
    let key = own_key(&mg);
    let mut go = GoEnv::new(&mg.url()).unwrap();
    go.extra.push(("GOSUMDB".into(), key.clone()));
    std::fs::write(go.work().join("go.mod"), "module example.com/w\n\ngo 1.21\n").unwrap();
    for m in &mods[..2] {
        go.run(&go.work(), &["mod", "download", &format!("{}@{}", m.path, m.versions[0].version)]).unwrap();
    }
    let before = get(mg.addr, &format!("/sumdb/{OWN}/latest"), &[]).text();
    mg.stop();

    let mg = InProcess::start(config(&fx, data.path(), &public, ""));
    go.goproxy = mg.url();
    assert_eq!(own_key(&mg), key, "the key changed across a restart");
    assert_eq!(get(mg.addr, &format!("/sumdb/{OWN}/latest"), &[]).text(), before);
    // The same go client (it kept the old head) verifies new versions: the new heads are
    // consistent with the one it saw before the restart.
    for m in &mods[2..] {
        go.run(&go.work(), &["mod", "download", &format!("{}@{}", m.path, m.versions[0].version)]).unwrap();
    }
    let after = get(mg.addr, &format!("/sumdb/{OWN}/latest"), &[]).text();
    let size = |t: &str| t.lines().nth(1).unwrap().parse::<u64>().unwrap();
    assert!(size(&after) > size(&before), "{before} -> {after}");
}

#[test]
fn a_kill_9_loses_no_signed_record() {
    let fx = fixture(10);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("modgate.toml");
    std::fs::write(
        &cfg,
        format!(
            // No prefetch: only the lookups below commit (and so log) anything.
            "upstream = \"{}\"\ndata_dir = \"{}\"\n[prefetch]\nenabled = false\n[checksum_db]\ndatabase = \"off\"\nown = \"{OWN}\"\n",
            fx.upstream.url(),
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let start = || {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_modgate"));
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--config"]).arg(&cfg);
        Process::start_with(cmd)
    };
    let mut mg = start();
    let mods: Vec<_> = fx.graph.modules.iter().filter(|m| !m.versions.is_empty()).take(6).collect();
    // Lookups fill and log each version; the last head served is what a client would keep.
    let mut last = String::new();
    for m in &mods {
        let v = &m.versions[0].version;
        let path = format!("/sumdb/{OWN}/lookup/{}@{v}", gomod::path::escape_path(&m.path).unwrap());
        let r = get(mg.addr, &path, &[]);
        assert_eq!(r.status, 200, "{}", r.text());
        last = get(mg.addr, &format!("/sumdb/{OWN}/latest"), &[]).text();
    }
    mg.kill9();
    let mg = start();
    let after = get(mg.addr, &format!("/sumdb/{OWN}/latest"), &[]).text();
    assert_eq!(after, last, "the signed head changed across kill -9");
    // Every version is still in the log, with the same id.
    let m = mods[2];
    let path = format!("/sumdb/{OWN}/lookup/{}@{}", gomod::path::escape_path(&m.path).unwrap(), m.versions[0].version);
    assert!(get(mg.addr, &path, &[]).text().starts_with("2\n"));
}
