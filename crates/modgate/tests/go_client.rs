//! The real `go` command against modgate in front of a fake upstream.

mod common;
use common::*;
use std::time::Instant;
use testkit::gorun::{parse_download_json, GoEnv};

#[test]
fn go_mod_download_all_through_modgate_matches_upstream_hashes() {
    let fx = fixture(120);
    let data = tempfile::tempdir().unwrap();
    let mg = InProcess::start(test_config(&fx.upstream.url(), data.path()));
    let expected = fx.graph.expected_sums();

    let go = GoEnv::new(&mg.url()).unwrap();
    fx.graph.write_root_module(&go.work(), "example.com/root").unwrap();
    let t = Instant::now();
    let out = go.run(&go.work(), &["mod", "download", "-json", "all"]).unwrap();
    let cold = t.elapsed();
    let downloaded = parse_download_json(&out.stdout).unwrap();
    let mut checked = 0;
    for d in &downloaded {
        if d.path == "example.com/root" {
            continue;
        }
        assert!(d.error.is_none(), "{}@{}: {:?}", d.path, d.version, d.error);
        let (zip_h1, mod_h1) = expected
            .get(&(d.path.clone(), d.version.clone()))
            .unwrap_or_else(|| panic!("unexpected {}@{}", d.path, d.version));
        assert_eq!(&d.sum, zip_h1, "zip hash of {}@{}", d.path, d.version);
        assert_eq!(&d.go_mod_sum, mod_h1, "go.mod hash of {}@{}", d.path, d.version);
        checked += 1;
    }
    assert!(checked >= 100, "only {checked} modules downloaded");

    // go.sum, written by the go command from what it downloaded, agrees line by line.
    go.run(&go.work(), &["mod", "download", "all"]).unwrap();
    let sum_lines = std::fs::read_to_string(go.work().join("go.sum")).unwrap_or_default();
    let mut sum_checked = 0;
    for line in sum_lines.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(f.len(), 3, "{line}");
        let (version, is_mod) = match f[1].strip_suffix("/go.mod") {
            Some(v) => (v, true),
            None => (f[1], false),
        };
        let (zip_h1, mod_h1) = &expected[&(f[0].to_string(), version.to_string())];
        assert_eq!(f[2], if is_mod { mod_h1 } else { zip_h1 }, "{line}");
        sum_checked += 1;
    }

    // Warm: a fresh client, everything from modgate's cache.
    let before = fx.upstream.total();
    let go2 = GoEnv::new(&mg.url()).unwrap();
    fx.graph.write_root_module(&go2.work(), "example.com/root").unwrap();
    let t = Instant::now();
    go2.run(&go2.work(), &["mod", "download", "all"]).unwrap();
    let warm = t.elapsed();
    let after = fx.upstream.total();
    // Only mutable answers (lists) may be asked again; no canonical object is fetched twice.
    for m in &fx.graph.modules {
        for v in &m.versions {
            for ext in [".mod", ".zip"] {
                let p = obj_path(&m.path, &v.version, ext);
                assert!(fx.upstream.count(&p) <= 1, "{p} fetched {} times", fx.upstream.count(&p));
            }
        }
    }
    eprintln!(
        "graph: {} modules, {checked} downloaded, {sum_checked} go.sum lines checked; cold {:?}, warm {:?}; upstream requests {before} cold, {} warm",
        fx.graph.modules.len(),
        cold,
        warm,
        after - before
    );
}

#[test]
fn versions_latest_and_branch_queries() {
    let fx = fixture(20);
    let data = tempfile::tempdir().unwrap();
    let mg = InProcess::start(test_config(&fx.upstream.url(), data.path()));
    let go = GoEnv::new(&mg.url()).unwrap();
    std::fs::write(go.work().join("go.mod"), "module example.com/q\n\ngo 1.21\n").unwrap();
    std::fs::write(go.work().join("main.go"), "package main\n\nfunc main() {}\n").unwrap();

    // Uppercase path: escaped as !u in URLs (and %21 on the wire).
    let upper = fx.graph.module("uppercase").unwrap();
    let out = go.run(&go.work(), &["list", "-m", "-versions", &upper.path]).unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("{} v1.0.0 v1.1.0", upper.path));

    // +incompatible versions are listed and resolvable.
    let inc = fx.graph.module("incompatible").unwrap();
    let out = go.run(&go.work(), &["list", "-m", "-versions", &inc.path]).unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("{} v1.0.0 v2.0.0+incompatible", inc.path));

    // latest skips the pre-release.
    let pre = fx.graph.module("prerelease").unwrap();
    go.run(&go.work(), &["get", &format!("{}@latest", pre.path)]).unwrap();
    let gm = std::fs::read_to_string(go.work().join("go.mod")).unwrap();
    assert!(gm.contains(&format!("{} v1.0.0", pre.path)), "{gm}");

    // A branch-like query resolves through the upstream to the canonical pseudo-version.
    let pseudo = fx.graph.module("pseudo").unwrap();
    go.run(&go.work(), &["get", &format!("{}@main", pseudo.path)]).unwrap();
    let gm = std::fs::read_to_string(go.work().join("go.mod")).unwrap();
    let want = &pseudo.queries["main"];
    assert!(gm.contains(&format!("{} {want}", pseudo.path)), "{gm}");
    // A commit-hash query too, through a fresh client so nothing is resolved locally.
    let go_c = GoEnv::new(&mg.url()).unwrap();
    std::fs::write(go_c.work().join("go.mod"), "module example.com/q\n\ngo 1.21\n").unwrap();
    let rev = gomod::pseudo::parse(want).unwrap().rev.to_string();
    let out = go_c.run(&go_c.work(), &["list", "-m", "-json", &format!("{}@{rev}", pseudo.path)]).unwrap();
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(info["Version"], want.as_str());
    assert_eq!(info["Time"], pseudo.versions[1].time.as_str());
    // The query answer is not stored as an immutable object.
    let q = stored_path(data.path(), &format!("{}/@v/main.info", gomod::path::escape_path(&pseudo.path).unwrap()));
    assert!(!q.exists());
    // /vN module via go get.
    let v2 = fx.graph.module("major-v2").unwrap();
    go.run(&go.work(), &["get", &format!("{}@v2.1.0", v2.path)]).unwrap();
}

#[test]
fn not_found_falls_through_to_the_next_proxy() {
    let fx = fixture(12);
    let data = tempfile::tempdir().unwrap();
    let mg = InProcess::start(test_config(&fx.upstream.url(), data.path()));
    // A module only the second proxy has.
    let extra = testkit::graph::generate(12, 99).module("plain").unwrap().clone();
    let g = testkit::graph::Graph {
        modules: vec![testkit::graph::Module {
            path: "example.com/elsewhere/only".into(),
            versions: extra
                .versions
                .iter()
                .map(|v| testkit::graph::Version {
                    go_mod: b"module example.com/elsewhere/only\n\ngo 1.21\n".to_vec(),
                    files: vec![
                        ("go.mod".into(), b"module example.com/elsewhere/only\n\ngo 1.21\n".to_vec()),
                        ("only.go".into(), b"package only\n".to_vec()),
                    ],
                    ..v.clone()
                })
                .collect(),
            queries: Default::default(),
            kind: "plain",
        }],
    };
    let second = tempfile::tempdir().unwrap();
    g.write_proxy_dir(second.path()).unwrap();
    let go = GoEnv::new(&format!("{},file://{}", mg.url(), second.path().display())).unwrap();
    std::fs::write(go.work().join("go.mod"), "module example.com/q\n\ngo 1.21\n").unwrap();
    go.run(&go.work(), &["mod", "download", "example.com/elsewhere/only@v1.1.0"]).unwrap();
    let out = go.run(&go.work(), &["list", "-m", "-versions", "example.com/elsewhere/only"]).unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("v1.0.0 v1.1.0"));
    // modgate answered 404 (not a terminal error) for it.
    let r = get(mg.addr, "/example.com/elsewhere/only/@v/list", &[]);
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
}

#[test]
fn upstream_down_serves_the_cache_and_stale_lists() {
    let fx = fixture(110);
    let data = tempfile::tempdir().unwrap();
    let mut cfg = test_config(&fx.upstream.url(), data.path());
    // Lists are never fresh, so every list after the outage exercises the stale path.
    cfg.list_ttl = std::time::Duration::ZERO;
    let mg = InProcess::start(cfg);
    let go = GoEnv::new(&mg.url()).unwrap();
    fx.graph.write_root_module(&go.work(), "example.com/root").unwrap();
    go.run(&go.work(), &["mod", "download", "all"]).unwrap();
    let upper = fx.graph.module("uppercase").unwrap().clone();
    go.run(&go.work(), &["list", "-m", "-versions", &upper.path]).unwrap();

    let Fixture { upstream, graph, dir: _dir } = fx;
    upstream.stop();

    let go2 = GoEnv::new(&mg.url()).unwrap();
    graph.write_root_module(&go2.work(), "example.com/root").unwrap();
    let out = go2.run(&go2.work(), &["mod", "download", "-json", "all"]).unwrap();
    let n = parse_download_json(&out.stdout).unwrap().len();
    assert!(n >= 100, "{n}");
    let out = go2.run(&go2.work(), &["list", "-m", "-versions", &upper.path]).unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("v1.0.0 v1.1.0"));
    let r = get(mg.addr, &format!("/{}/@v/list", gomod::path::escape_path(&upper.path).unwrap()), &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-modgate-cache"), Some("stale"));
    assert!(r.header("warning").is_some());
    // Something never cached fails with a gateway error, not a 500.
    let r = get(mg.addr, "/example.com/never/seen/@v/list", &[]);
    assert_eq!(r.status, 502, "{}", r.text());
}
