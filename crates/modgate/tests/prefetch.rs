//! Dependency-aware prefetch: serving a go.mod warms its requirements, transitively.

mod common;
use common::*;
use std::time::Duration;

#[test]
fn serving_a_go_mod_warms_its_requirements_transitively() {
    let fx = fixture(60);
    let data = tempfile::tempdir().unwrap();
    let mg = InProcess::start(test_config(&fx.upstream.url(), data.path()));
    // The module with the most requirements, at its latest version.
    let (m, v) =
        fx.graph.selected().into_iter().max_by_key(|(_, v)| gomod::modfile::requires(&v.go_mod).len()).unwrap();
    let reqs = gomod::modfile::requires(&v.go_mod);
    assert!(reqs.len() >= 2, "fixture has a module with requirements");
    let r = get(mg.addr, &obj_path(&m.path, &v.version, ".mod"), &[]);
    assert_eq!(r.status, 200);

    // Every direct requirement's .mod and .info arrive without any client asking...
    for (p, ver) in &reqs {
        let (mp, ip) = (obj_path(p, ver, ".mod"), obj_path(p, ver, ".info"));
        wait_until(Duration::from_secs(20), &format!("prefetch of {p}@{ver}"), || {
            fx.upstream.count(&mp) == 1 && fx.upstream.count(&ip) == 1
        });
    }
    // ...and so do theirs.
    let second: Vec<(String, String)> = reqs
        .iter()
        .flat_map(|(p, ver)| {
            let dep = fx.graph.modules.iter().find(|m| &m.path == p).unwrap();
            let dv = dep.versions.iter().find(|x| &x.version == ver).unwrap();
            gomod::modfile::requires(&dv.go_mod)
        })
        .collect();
    for (p, ver) in &second {
        let mp = obj_path(p, ver, ".mod");
        wait_until(Duration::from_secs(20), &format!("second-level prefetch of {p}@{ver}"), || {
            fx.upstream.count(&mp) == 1
        });
    }
    // The client's next requests are cache hits; zips were never pulled.
    let (p, ver) = &reqs[0];
    let r = get(mg.addr, &obj_path(p, ver, ".mod"), &[]);
    assert_eq!(r.header("x-modgate-cache"), Some("hit"));
    assert_eq!(fx.upstream.count_suffix(".zip"), 0);
}

#[test]
fn prefetch_can_be_switched_off() {
    let fx = fixture(60);
    let data = tempfile::tempdir().unwrap();
    let mut cfg = test_config(&fx.upstream.url(), data.path());
    cfg.prefetch.enabled = false;
    let mg = InProcess::start(cfg);
    let (m, v) =
        fx.graph.selected().into_iter().max_by_key(|(_, v)| gomod::modfile::requires(&v.go_mod).len()).unwrap();
    assert_eq!(get(mg.addr, &obj_path(&m.path, &v.version, ".mod"), &[]).status, 200);
    let (p, ver) = &gomod::modfile::requires(&v.go_mod)[0];
    let r = get(mg.addr, &obj_path(p, ver, ".mod"), &[]);
    assert_eq!(r.header("x-modgate-cache"), Some("miss"));
}
