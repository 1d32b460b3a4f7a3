//! The HTTP layer's hot path for warm small objects (`http::fast_hit`): which requests it
//! takes, and that what it answers is what the full path answers.

mod common;
use common::*;

fn req(method: &str, target: &str, headers: &[(&str, &str)]) -> http::Request<()> {
    let mut b = http::Request::builder().method(method).uri(target);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(()).unwrap()
}

/// The headers that must agree between two answers for one object (not the per-request ones).
fn stable_headers(r: &Resp) -> Vec<(String, String)> {
    let mut h: Vec<_> = r.headers.iter().filter(|(k, _)| k != "date" && k != "x-request-id").cloned().collect();
    h.sort();
    h
}

#[test]
fn warm_plain_requests_take_the_hot_path_and_answer_like_the_full_path() {
    let fx = fixture(4);
    let data = tempfile::tempdir().unwrap();
    let mg = InProcess::start(test_config(&fx.upstream.url(), data.path()));
    let svc = mg.service();
    let m = &fx.graph.modules[0];
    let v = &m.versions[0].version;
    let mod_path = obj_path(&m.path, v, ".mod");
    let info_path = obj_path(&m.path, v, ".info");
    let cold = |path: &str| fast_takes(&svc, &req("GET", path, &[]));
    // Nothing is taken before the object is in memory and its first (full) answer ran the hooks.
    assert!(!cold(&mod_path) && !cold(&info_path));
    let first_mod = get(mg.addr, &mod_path, &[]);
    let first_info = get(mg.addr, &info_path, &[]);
    assert_eq!((first_mod.status, first_info.status), (200, 200));

    // Now both are taken, and answered as the full path answers the same object. The full path
    // is reached with a percent-encoded `@`, which the hot path leaves alone.
    for (path, first) in [(&mod_path, &first_mod), (&info_path, &first_info)] {
        assert!(fast_takes(&svc, &req("GET", path, &[])), "{path}");
        let fast = get(mg.addr, path, &[]);
        let full_path = path.replace("/@v/", "/%40v/");
        assert!(!fast_takes(&svc, &req("GET", &full_path, &[])), "{full_path}");
        let full = get(mg.addr, &full_path, &[]);
        assert_eq!(fast.status, 200);
        assert_eq!(fast.body, first.body);
        assert_eq!(fast.body, full.body);
        assert_eq!(stable_headers(&fast), stable_headers(&full), "{path}");
        assert_eq!(fast.header("x-modgate-cache"), Some("hit"));
        assert!(fast.header("x-request-id").is_some());
        let etag = fast.header("etag").unwrap().to_string();
        // Validators, ranges and HEAD on the hot path.
        let r = get(mg.addr, path, &[("If-None-Match", &etag)]);
        assert_eq!((r.status, r.body.len()), (304, 0));
        let r = get(mg.addr, path, &[("Range", "bytes=0-3")]);
        assert_eq!((r.status, &r.body[..]), (206, &first.body[..4]));
        let r = request(mg.addr, "HEAD", path, &[]);
        assert_eq!(r.status, 200);
        assert!(r.body.is_empty());
        assert_eq!(r.header("content-length"), Some(first.body.len().to_string().as_str()));
    }

    // What the hot path leaves to the full path, warm object or not.
    let absolute = format!("http://{}{mod_path}", mg.addr);
    for (what, r) in [
        ("a query", req("GET", &format!("{mod_path}?x=1"), &[])),
        ("percent-encoding", req("GET", &mod_path.replace(".mod", "%2Emod"), &[])),
        ("an absolute-form target", req("GET", &absolute, &[])),
        ("another method", req("POST", &mod_path, &[])),
        ("a doubled slash", req("GET", &mod_path.replacen('/', "//", 1), &[])),
        ("a list", req("GET", &format!("/{}/@v/list", m.path), &[])),
        ("a zip", req("GET", &obj_path(&m.path, v, ".zip"), &[])),
        (
            "a cold object",
            req("GET", &obj_path(&fx.graph.modules[1].path, &fx.graph.modules[1].versions[0].version, ".mod"), &[]),
        ),
    ] {
        assert!(!fast_takes(&svc, &r), "the hot path must leave {what} alone");
    }
    // And those still get the full path's answers.
    assert_eq!(get(mg.addr, &format!("{mod_path}?x=1"), &[]).status, 400);
    assert_eq!(request(mg.addr, "POST", &mod_path, &[]).status, 405);
}

fn fast_takes(svc: &modgate::service::Service, r: &http::Request<()>) -> bool {
    modgate::http::fast_hit(svc, r).is_some()
}
