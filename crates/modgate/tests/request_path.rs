//! The layered request path: each request's target is parsed once and its module routed once,
//! whatever layers look at it (with `[auth]` on, the access decision and the handler both need
//! the module path).

mod common;
use common::*;

#[test]
fn each_request_is_parsed_once_and_routed_once() {
    let fx = fixture(4);
    let data = tempfile::tempdir().unwrap();
    let mut cfg = test_config(&fx.upstream.url(), data.path());
    // Prefetch routes the modules it warms; off, every decision counted is a request's.
    cfg.prefetch.enabled = false;
    let keys = with_auth(&mut cfg, data.path(), "[[rule]]\nmodules = \"*\"\nread = [\"devs\"]\n");
    let key = new_key(&keys, "dev", "devs");
    let mg = InProcess::start(cfg);
    let app = mg.app();
    let counts = || (app.parses(), app.modules.routes().lookups());
    let auth = format!("Bearer {key}");
    let m = &fx.graph.modules[0];
    let v = &m.versions[0].version;
    let mut last = counts();
    let mut step = |what: &str, path: &str, want: (u64, u64)| {
        let r = get(mg.addr, path, &[("Authorization", &auth)]);
        assert_eq!(r.status, 200, "{what}: {}", r.text());
        let now = counts();
        assert_eq!((now.0 - last.0, now.1 - last.1), want, "{what}: (parses, route decisions)");
        last = now;
    };
    // A cold zip: parsed once (not by the access layer and again by the handler), routed once
    // (its .mod fill included).
    step("a cold .zip", &obj_path(&m.path, v, ".zip"), (1, 1));
    step("a cold .info", &obj_path(&m.path, v, ".info"), (1, 1));
    step("a list", &format!("/{}/@v/list", m.path), (1, 1));
    step("the .mod the zip fill stored, read from disk", &obj_path(&m.path, v, ".mod"), (1, 1));
    // Warm in memory: the hot path parses nothing and routes once.
    step("a warm .mod on the hot path", &obj_path(&m.path, v, ".mod"), (0, 1));
    // Health checks are classified, never routed.
    let r = get(mg.addr, "/healthz", &[]);
    assert_eq!(r.status, 200);
    assert_eq!((app.parses() - last.0, app.modules.routes().lookups() - last.1), (1, 0));
}
