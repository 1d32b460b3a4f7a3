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
    let svc = mg.app();
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

fn fast_takes(svc: &modgate::app::App, r: &http::Request<()>) -> bool {
    modgate::http::fast_hit(svc, r).is_some()
}

/// One request over HTTP/2 (cleartext, prior knowledge) with an optional Bearer key: the
/// status and the body's length; a stream that does not close cleanly fails the test.
async fn h2_request(addr: std::net::SocketAddr, method: &str, path: &str, key: Option<&str>) -> (u16, usize) {
    use http_body_util::BodyExt;
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut send, conn) =
        hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), hyper_util::rt::TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    let mut b = http::Request::builder().method(method).uri(format!("http://{addr}{path}"));
    if let Some(k) = key {
        b = b.header("authorization", format!("Bearer {k}"));
    }
    let resp = send.send_request(b.body(http_body_util::Empty::<bytes::Bytes>::new()).unwrap()).await.unwrap();
    let status = resp.status().as_u16();
    // A body on a HEAD answer is a protocol error that resets the stream: reading fails.
    let body = resp.into_body().collect().await.unwrap_or_else(|e| panic!("{method} {path}: stream reset: {e}"));
    (status, body.to_bytes().len())
}

#[test]
fn refused_heads_over_http2_are_answered_without_a_body() {
    let fx = fixture(4);
    let data = tempfile::tempdir().unwrap();
    let mut cfg = test_config(&fx.upstream.url(), data.path());
    let keys = with_auth(&mut cfg, data.path(), "[[rule]]\nmodules = \"*\"\nread = [\"devs\"]\n");
    let (dev, outsider) = (new_key(&keys, "dev", "devs"), new_key(&keys, "outsider", "contractors"));
    let mg = InProcess::start(cfg);
    let app = mg.app();
    let m = &fx.graph.modules[0];
    let warm = obj_path(&m.path, &m.versions[0].version, ".mod");
    for _ in 0..2 {
        assert_eq!(get(mg.addr, &warm, &[("Authorization", &format!("Bearer {dev}"))]).status, 200);
    }
    let head = |key: &str| {
        let mut b = http::Request::builder().method("HEAD").uri(&warm);
        if !key.is_empty() {
            b = b.header("authorization", format!("Bearer {key}"));
        }
        b.body(()).unwrap()
    };
    assert!(fast_takes(&app, &head("")), "the hot path decides these");
    let cold = obj_path(&fx.graph.modules[1].path, &fx.graph.modules[1].versions[0].version, ".mod");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        for path in [&warm, &cold] {
            assert_eq!(h2_request(mg.addr, "HEAD", path, None).await, (401, 0), "{path}");
            assert_eq!(h2_request(mg.addr, "HEAD", path, Some(&outsider)).await, (403, 0), "{path}");
            let (status, len) = h2_request(mg.addr, "GET", path, Some(&outsider)).await;
            assert!(status == 403 && len > 0, "a GET keeps its reason: {status} {len}");
        }
        assert_eq!(h2_request(mg.addr, "HEAD", &warm, Some(&dev)).await, (200, 0));
    });
    // And over HTTP/1.1 the refused HEAD still carries the length its GET would have.
    let r = request(mg.addr, "HEAD", &warm, &[]);
    assert_eq!(r.status, 401);
    assert!(r.body.is_empty());
    let get_len = get(mg.addr, &warm, &[]).body.len();
    assert_eq!(r.header("content-length"), Some(get_len.to_string().as_str()));
}
