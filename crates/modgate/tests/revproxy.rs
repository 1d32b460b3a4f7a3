//! The reverse proxy (`[[proxy]]`): routing by host and longest prefix beside module traffic,
//! the forwarded message (path rewrite, forwarding headers, hop-by-hop removal, `Via`, rewrite
//! rules), streaming details (100-continue, chunked uploads, trailers), WebSocket, access rules
//! over path prefixes, and backends that hang, answer 503 or reset.

mod common;
use common::*;
use modgate::config::{self, Overrides};
use std::io::{Read, Write};
use std::time::Duration;
use testkit::backend::{Backend, Mode};

fn json(r: &Resp) -> serde_json::Value {
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.text()))
}

/// The echoed request's header values by name.
fn echoed(v: &serde_json::Value, name: &str) -> Vec<String> {
    v["headers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p[0] == name)
        .map(|p| p[1].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn routes_by_host_and_longest_prefix_beside_module_traffic() {
    let (app, api, site) = (Backend::start(), Backend::start(), Backend::start());
    let tmp = tempfile::tempdir().unwrap();
    let text = format!(
        "[[proxy]]\npath = \"/app/\"\nto = \"{}\"\nstrip_prefix = true\n\
         [[proxy]]\npath = \"/app/api\"\nto = \"{}\"\nadd_prefix = \"/v2\"\n\
         [[proxy]]\nhost = \"site.test\"\nto = \"{}\"\n",
        app.url(),
        api.url(),
        site.url()
    );
    let mg = InProcess::start(config_from_text(tmp.path(), &text));
    let v = json(&get(mg.addr, "/app/x/y?q=1", &[]));
    assert_eq!(v["path"], "/x/y?q=1", "prefix stripped, query kept");
    let v = json(&get(mg.addr, "/app/api/users", &[]));
    assert_eq!(v["path"], "/v2/app/api/users", "the longer prefix wins; add_prefix in front");
    assert_eq!(get(mg.addr, "/apple", &[]).status, 404, "/app does not take /apple: module traffic does");
    let on_site = |path: &str| {
        raw(mg.addr, format!("GET {path} HTTP/1.1\r\nHost: site.test:8080\r\nConnection: close\r\n\r\n").as_bytes())
            .unwrap()
    };
    assert_eq!(json(&on_site("/anything"))["path"], "/anything");
    assert_eq!(on_site("/healthz").status, 200, "modgate's own paths stay its own");
    assert_eq!(site.count(), 1);
    // Paths that could mean something else to a backend never reach one.
    for bad in ["/app/..%2f..%2fetc", "/app/%2e%2e/x", "/app/a%2Fb", "/app/a%00"] {
        assert_eq!(get(mg.addr, bad, &[]).status, 400, "{bad}");
    }
    assert_eq!(app.count(), 1, "{:?}", app.requests());
    let two_hosts = raw(mg.addr, b"GET /app/x HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n").unwrap();
    assert_eq!(two_hosts.status, 400);
}

#[test]
fn the_forwarded_message_is_rewritten_as_configured() {
    let b = Backend::start();
    let tmp = tempfile::tempdir().unwrap();
    let text = format!(
        "[[proxy]]\npath = \"/svc\"\nto = \"{}\"\nforwarded = \"append\"\ntrusted_hops = 1\n\
         [proxy.request_headers]\nset = {{ \"X-Env\" = \"test\" }}\nremove = [\"Cookie\"]\n\
         [proxy.response_headers]\nadd = {{ \"X-Served-By\" = \"modgate\" }}\n\
         [[proxy]]\npath = \"/keep\"\nto = \"{}\"\npreserve_host = true\n\
         [[proxy]]\npath = \"/few\"\nto = \"{}\"\nforwarded_headers = [\"X-Forwarded-For\"]\nvia = false\n",
        b.url(),
        b.url(),
        b.url()
    );
    let mg = InProcess::start(config_from_text(tmp.path(), &text));
    let r = get(
        mg.addr,
        "/svc/a",
        &[
            ("X-Forwarded-For", "6.6.6.6, 10.1.1.1"),
            ("Cookie", "secret"),
            ("Connection", "close, X-Private"),
            ("X-Private", "hop"),
            ("Keep-Alive", "timeout=5"),
            ("X-Request-Id", "trace-me-1"),
        ],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-served-by"), Some("modgate"));
    assert_eq!(r.header("via"), Some("1.1 modgate"));
    let v = json(&r);
    assert_eq!(echoed(&v, "x-forwarded-for"), ["10.1.1.1, 127.0.0.1"], "one trusted hop kept, ours appended");
    assert_eq!(echoed(&v, "x-forwarded-proto"), ["http"]);
    assert_eq!(echoed(&v, "x-forwarded-host"), [mg.addr.to_string()]);
    assert_eq!(echoed(&v, "via"), ["1.1 modgate"]);
    assert_eq!(echoed(&v, "x-env"), ["test"]);
    assert_eq!(echoed(&v, "x-request-id"), ["trace-me-1"], "the request id travels on");
    assert!(echoed(&v, "forwarded")[0].ends_with(&format!("for=127.0.0.1;proto=http;host=\"{}\"", mg.addr)));
    for gone in ["cookie", "x-private", "keep-alive"] {
        assert!(echoed(&v, gone).is_empty(), "{gone} reached the backend");
    }
    assert_eq!(echoed(&v, "host"), [b.addr().to_string()], "the backend's own host by default");
    let v = json(&get(mg.addr, "/keep", &[]));
    assert_eq!(echoed(&v, "host"), [mg.addr.to_string()], "preserve_host");
    // A route that names its forwarding headers and sends no `Via`: the same on the relay (a
    // GET) and on the general path (a request with a body); the client's own go either way.
    let spoofed = [
        ("X-Forwarded-For", "6.6.6.6"),
        ("X-Forwarded-Host", "evil.corp"),
        ("X-Forwarded-Proto", "https"),
        ("Forwarded", "for=6.6.6.6"),
    ];
    let relayed = get(mg.addr, "/few/a", &spoofed);
    let mut head = "PUT /few/b HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n".to_string();
    for (n, v) in spoofed {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    let general = raw(mg.addr, format!("{head}\r\nab").as_bytes()).unwrap();
    for (how, r) in [("relayed", relayed), ("general path", general)] {
        assert_eq!(r.status, 200, "{how}");
        assert_eq!(r.header("via"), None, "{how}: no Via to the client");
        let v = json(&r);
        assert_eq!(echoed(&v, "x-forwarded-for"), ["127.0.0.1"], "{how}");
        for gone in ["x-forwarded-host", "x-forwarded-proto", "forwarded", "via"] {
            assert!(echoed(&v, gone).is_empty(), "{how}: {gone} reached the backend: {v}");
        }
    }
}

#[test]
fn bodies_stream_with_100_continue_chunks_and_trailers() {
    let b = Backend::start();
    let tmp = tempfile::tempdir().unwrap();
    let mg = InProcess::start(config_from_text(tmp.path(), &format!("[[proxy]]\nto = \"{}\"\n", b.url())));
    // Expect: 100-continue: the body is sent only after modgate says so.
    let mut s = std::net::TcpStream::connect(mg.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut first = [0u8; 25];
    s.read_exact(&mut first).unwrap();
    assert!(first.starts_with(b"HTTP/1.1 100 Continue"), "{:?}", String::from_utf8_lossy(&first));
    s.write_all(b"hello").unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    assert!(String::from_utf8_lossy(&rest).ends_with("\r\n\r\n5"), "{}", String::from_utf8_lossy(&rest));
    // A chunked upload arrives whole.
    let r = raw(
        mg.addr,
        b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
          3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\n\r\n",
    )
    .unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "7"));
    // Trailers pass to a client that accepts them.
    let r = raw(mg.addr, b"GET /trailers HTTP/1.1\r\nHost: x\r\nTE: trailers\r\nConnection: close\r\n\r\n").unwrap();
    assert_eq!(r.text(), "hello");
    let mut s = std::net::TcpStream::connect(mg.addr).unwrap();
    s.write_all(b"GET /trailers HTTP/1.1\r\nHost: x\r\nTE: trailers\r\nConnection: close\r\n\r\n").unwrap();
    let mut all = String::new();
    s.read_to_string(&mut all).unwrap();
    assert!(all.to_ascii_lowercase().contains("x-checksum: abc"), "{all}");
}

#[test]
fn websocket_messages_echo_through_the_proxy() {
    let b = Backend::start();
    let tmp = tempfile::tempdir().unwrap();
    let text = format!("[[proxy]]\npath = \"/live\"\nto = \"{}\"\nstrip_prefix = true\n", b.url());
    let mg = InProcess::start(config_from_text(tmp.path(), &text));
    let sent: Vec<String> = (0..20).map(|i| format!("message {i} {}", "x".repeat(i * 100))).collect();
    let got = testkit::backend::ws_roundtrip(mg.addr, "/live/ws", &sent).expect("websocket through modgate");
    assert_eq!(got, sent);
    assert_eq!(b.requests(), ["GET /ws"]);
}

#[test]
fn backends_that_hang_fail_or_reset_are_survived() {
    let (hang, busy, reset, good) = (Backend::start(), Backend::start(), Backend::start(), Backend::start());
    hang.set_mode(Mode::Hang);
    busy.set_mode(Mode::Status(503));
    reset.set_mode(Mode::Reset);
    let tmp = tempfile::tempdir().unwrap();
    let text = format!(
        "[[pool]]\nname = \"web\"\nretries = 3\neject_after = 1\neject_for = \"60s\"\ntimeout = \"1s\"\n\
         members = [{{ url = \"{}\" }}, {{ url = \"{}\" }}, {{ url = \"{}\" }}, {{ url = \"{}\" }}]\n\
         [[proxy]]\npath = \"/pool\"\nto = \"pool:web\"\ntimeout = \"1s\"\n\
         [[proxy]]\npath = \"/hang\"\nto = \"{}\"\ntimeout = \"1s\"\n\
         [[proxy]]\npath = \"/reset\"\nto = \"{}\"\n",
        hang.url(),
        busy.url(),
        reset.url(),
        good.url(),
        hang.url(),
        reset.url()
    );
    let mg = InProcess::start(config_from_text(tmp.path(), &text));
    assert_eq!(get(mg.addr, "/hang", &[]).status, 504, "a backend that never answers");
    assert_eq!(get(mg.addr, "/reset", &[]).status, 502, "a backend that resets");
    let direct = hang.count() + reset.count();
    // Through the pool every GET is answered by the good member, whatever the others do.
    for i in 0..12 {
        let r = get(mg.addr, &format!("/pool/{i}"), &[]);
        assert_eq!(r.status, 200, "request {i}: {}", r.text());
    }
    assert_eq!(good.count(), 12);
    // Each bad member failed once, then was out (eject_after = 1).
    let tried = hang.count() + busy.count() + reset.count() - direct;
    assert!(tried <= 3, "the bad members were tried {tried} times");
    // A POST is never sent twice.
    let before = busy.count() + hang.count() + reset.count() + good.count();
    let r = request(mg.addr, "POST", "/pool/once", &[("content-length", "0")]);
    let after = busy.count() + hang.count() + reset.count() + good.count();
    assert_eq!(after - before, 1, "{}", r.status);
}

#[test]
fn path_rules_decide_reads_and_writes_and_keys_stay_with_modgate() {
    let b = Backend::start();
    let tmp = tempfile::tempdir().unwrap();
    let text = format!("[[proxy]]\npath = \"/app\"\nto = \"{}\"\n", b.url());
    let mut cfg = config_from_text(tmp.path(), &text);
    let policy = "[[path]]\nprefix = \"/app\"\nread = [\"devs\"]\nwrite = [\"ci\"]\n\
                  [[path]]\nprefix = \"/app/admin\"\nread = [\"ops\"]\n";
    let keys = with_auth(&mut cfg, tmp.path(), policy);
    let dev = new_key(&keys, "dana", "devs");
    let ci = new_key(&keys, "robot", "ci");
    let mg = InProcess::start(cfg);
    assert_eq!(get(mg.addr, "/app/x", &[]).status, 401);
    let r = get(mg.addr, "/app/x", &[("x-api-key", &dev)]);
    assert_eq!(r.status, 200);
    let v = json(&r);
    assert!(echoed(&v, "x-api-key").is_empty(), "modgate's key went to the backend");
    let bearer = format!("Bearer {dev}");
    let v = json(&get(mg.addr, "/app/x", &[("authorization", &bearer)]));
    assert!(echoed(&v, "authorization").is_empty(), "the Authorization that carried the key stays");
    assert_eq!(request(mg.addr, "POST", "/app/x", &[("x-api-key", &dev), ("content-length", "0")]).status, 403);
    assert_eq!(request(mg.addr, "POST", "/app/x", &[("x-api-key", &ci), ("content-length", "0")]).status, 200);
    assert_eq!(get(mg.addr, "/app/admin/panel", &[("x-api-key", &dev)]).status, 403, "the longer rule decides");
    assert_eq!(get(mg.addr, "/app/%61dmin/panel", &[("x-api-key", &dev)]).status, 403, "escapes decide nothing");
    assert_eq!(b.count(), 3, "only the allowed requests went on: {:?}", b.requests());
}

#[test]
fn bad_proxy_configuration_names_key_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("m.toml");
    let cases = [
        ("[[proxy]]\npath = \"/-/x\"\nto = \"http://127.0.0.1:1\"\n", "proxy.path"),
        ("[[proxy]]\nto = \"pool:nope\"\n", "proxy.to"),
        ("[[proxy]]\nto = \"http://h/base\"\n", "add_prefix"),
        ("\n[[proxy]]\nto = \"http://h\"\n[proxy.request_headers]\nset = { \"Content-Length\" = \"1\" }\n", ":2:"),
        ("[[proxy]]\nto = \"http://h\"\nforwarded = \"sometimes\"\n", "proxy.forwarded"),
        ("\n[[proxy]]\nto = \"http://h\"\nforwarded_headers = [\"x-real-ip\"]\n", ":2: proxy.forwarded_headers"),
    ];
    for (text, want) in cases {
        std::fs::write(&path, text).unwrap();
        let err = config::load_text(Some((&path, text)), &Overrides::default(), &config::Defaults::default())
            .expect_err(text)
            .to_string();
        assert!(err.contains(want), "{text}: {err}");
    }
}

#[test]
fn sighup_swaps_the_routes_and_a_bad_file_keeps_them() {
    let (a, b) = (Backend::start(), Backend::start());
    let tmp = tempfile::tempdir().unwrap();
    let conf = tmp.path().join("modgate.toml");
    let write = |to: &str| {
        std::fs::write(&conf, format!("upstream = \"off\"\n[[proxy]]\npath = \"/r\"\nto = \"{to}\"\n")).unwrap()
    };
    write(&a.url());
    let data = tmp.path().join("data");
    let mg = Process::start(&["--config", conf.to_str().unwrap(), "--data-dir", data.to_str().unwrap()]);
    assert_eq!(get(mg.addr, "/r/1", &[]).status, 200);
    assert_eq!((a.count(), b.count()), (1, 0));
    write(&b.url());
    mg.signal(libc::SIGHUP);
    wait_until(Duration::from_secs(20), "the new route serves", || {
        get(mg.addr, "/r/2", &[]);
        b.count() > 0
    });
    write("pool:missing");
    mg.signal(libc::SIGHUP);
    wait_until(Duration::from_secs(20), "the bad file is refused", || {
        mg.logs().iter().any(|l| l.contains("configuration refused"))
    });
    let before = b.count();
    assert_eq!(get(mg.addr, "/r/3", &[]).status, 200);
    assert_eq!(b.count(), before + 1, "the routes in force stay");
}

#[test]
fn a_slow_upload_is_not_cut_off_by_the_answer_timeout() {
    let b = Backend::start();
    let tmp = tempfile::tempdir().unwrap();
    let text = format!("[[proxy]]\nto = \"{}\"\ntimeout = \"1s\"\n", b.url());
    let mg = InProcess::start(config_from_text(tmp.path(), &text));
    let mut s = std::net::TcpStream::connect(mg.addr).unwrap();
    s.write_all(b"PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nConnection: close\r\n\r\n").unwrap();
    // Ten bytes over 2.5 s: the upload takes longer than the timeout, but never pauses that long.
    for _ in 0..10 {
        std::thread::sleep(Duration::from_millis(250));
        s.write_all(b"x").unwrap();
    }
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("\r\n\r\n10"), "{answer}");
    // A backend that takes the body and then says nothing still times out.
    b.set_mode(Mode::Hang);
    let r =
        raw(mg.addr, b"PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nab").unwrap();
    assert_eq!(r.status, 504);
}

#[test]
fn http2_clients_are_proxied_to_http1_backends() {
    use http_body_util::BodyExt;
    let b = Backend::start();
    let tmp = tempfile::tempdir().unwrap();
    let mg =
        InProcess::start(config_from_text(tmp.path(), &format!("[[proxy]]\npath = \"/h2\"\nto = \"{}\"\n", b.url())));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (status, body) = rt.block_on(async {
        let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .http2_only(true)
            .build_http::<http_body_util::Full<bytes::Bytes>>();
        let req = http::Request::post(format!("{}/h2/x", mg.url()))
            .body(http_body_util::Full::new(bytes::Bytes::from_static(b"over h2")))
            .unwrap();
        let resp = client.request(req).await.unwrap();
        let status = resp.status();
        (status, resp.into_body().collect().await.unwrap().to_bytes())
    });
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["path"], "/h2/x");
    assert_eq!(v["body_len"], 7);
    assert_eq!(echoed(&v, "via"), ["2 modgate"]);
}
