//! Dependency-aware prefetch: serving a go.mod warms its requirements, transitively.

mod common;
use common::*;
use std::time::Duration;

/// Whether a go.mod is unpruned (no `go` line, or one below 1.17): the go command then loads
/// the go.mod of every requirement, and of everything below.
fn unpruned(go_mod: &[u8]) -> bool {
    let text = String::from_utf8_lossy(go_mod);
    match text.lines().find_map(|l| l.trim().strip_prefix("go ")) {
        None => true,
        Some(v) => v.trim().split('.').nth(1).and_then(|m| m.parse::<u32>().ok()).is_some_and(|minor| minor < 17),
    }
}

fn requirements_of(fx: &Fixture, p: &str, ver: &str) -> Vec<(String, String)> {
    let dep = fx.graph.modules.iter().find(|m| m.path == p).unwrap();
    let dv = dep.versions.iter().find(|x| x.version == ver).unwrap();
    gomod::modfile::requires(&dv.go_mod)
}

#[test]
fn an_unpruned_go_mod_warms_the_go_mod_files_below_it() {
    let fx = fixture(60);
    let data = tempfile::tempdir().unwrap();
    let mg = InProcess::start(test_config(&fx.upstream.url(), data.path()));
    // The unpruned module with the most requirements, at its latest version.
    let (m, v) = fx
        .graph
        .selected()
        .into_iter()
        .filter(|(_, v)| unpruned(&v.go_mod))
        .max_by_key(|(_, v)| gomod::modfile::requires(&v.go_mod).len())
        .unwrap();
    let reqs = gomod::modfile::requires(&v.go_mod);
    assert!(reqs.len() >= 2, "fixture has an unpruned module with requirements");
    let r = get(mg.addr, &obj_path(&m.path, &v.version, ".mod"), &[]);
    assert_eq!(r.status, 200);

    // Every requirement's go.mod arrives without any client asking, and so does every go.mod
    // below them, pruned or not (the go command loads all of them)...
    let second: Vec<(String, String)> = reqs.iter().flat_map(|(p, ver)| requirements_of(&fx, p, ver)).collect();
    for (p, ver) in reqs.iter().chain(&second) {
        let mp = obj_path(p, ver, ".mod");
        wait_until(Duration::from_secs(20), &format!("prefetch of {p}@{ver}"), || fx.upstream.count(&mp) == 1);
    }
    // ...each once, and no zip (a zip is warmed only when a client asks for its .info).
    for (p, ver) in reqs.iter().chain(&second) {
        assert!(fx.upstream.count(&obj_path(p, ver, ".info")) <= 1, "{p}@{ver}.info fetched twice");
    }
    assert_eq!(fx.upstream.count_suffix(".zip"), 0);
    // The client's next requests are cache hits.
    let (p, ver) = &reqs[0];
    let r = get(mg.addr, &obj_path(p, ver, ".mod"), &[]);
    assert_eq!(r.header("x-modgate-cache"), Some("hit"));
}

#[test]
fn a_pruned_go_mod_warms_its_own_info_and_goes_no_deeper() {
    let fx = fixture(60);
    let data = tempfile::tempdir().unwrap();
    let mg = InProcess::start(test_config(&fx.upstream.url(), data.path()));
    let with_reqs = |pruned: bool| {
        fx.graph
            .selected()
            .into_iter()
            .filter(|(_, v)| unpruned(&v.go_mod) != pruned && gomod::modfile::requires(&v.go_mod).len() >= 2)
            .max_by_key(|(_, v)| gomod::modfile::requires(&v.go_mod).len())
            .unwrap()
    };
    let (m, v) = with_reqs(true);
    assert_eq!(get(mg.addr, &obj_path(&m.path, &v.version, ".mod"), &[]).status, 200);
    // Its own .info (the go command downloads what it reached directly)...
    let info = obj_path(&m.path, &v.version, ".info");
    wait_until(Duration::from_secs(20), "the pruned module's own .info", || fx.upstream.count(&info) == 1);
    // ...and, once an unpruned module served after it has had its requirements warmed, still
    // none of the pruned one's requirements.
    let (u, uv) = with_reqs(false);
    assert_eq!(get(mg.addr, &obj_path(&u.path, &uv.version, ".mod"), &[]).status, 200);
    for (p, ver) in gomod::modfile::requires(&uv.go_mod) {
        let mp = obj_path(&p, &ver, ".mod");
        wait_until(Duration::from_secs(20), &format!("prefetch of {p}@{ver}"), || fx.upstream.count(&mp) == 1);
    }
    // Below the pruned module nothing is expanded: its requirements may be warmed (guesses at
    // what `go mod download all` fetches), their requirements never, unless the unpruned
    // module's expansion reached them.
    let mut below_unpruned: Vec<(String, String)> = gomod::modfile::requires(&uv.go_mod);
    let mut i = 0;
    while i < below_unpruned.len() {
        let (p, ver) = below_unpruned[i].clone();
        below_unpruned.extend(requirements_of(&fx, &p, &ver));
        i += 1;
    }
    let pruned_reqs = gomod::modfile::requires(&v.go_mod);
    for (p, ver) in pruned_reqs.iter().flat_map(|(p, ver)| requirements_of(&fx, p, ver)) {
        if !below_unpruned.contains(&(p.clone(), ver.clone())) && !pruned_reqs.contains(&(p.clone(), ver.clone())) {
            let mp = obj_path(&p, &ver, ".mod");
            assert_eq!(fx.upstream.count(&mp), 0, "{p}@{ver}.mod warmed two levels below a pruned module");
        }
    }
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
