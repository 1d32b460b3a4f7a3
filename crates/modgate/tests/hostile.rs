//! Hostile and malformed requests: each gets its status before any upstream is asked, and the
//! server keeps serving after every one.

mod common;
use common::*;

fn line(method: &str, target: &str) -> Vec<u8> {
    format!("{method} {target} HTTP/1.1\r\nHost: modgate.test\r\nConnection: close\r\n\r\n").into_bytes()
}

#[test]
fn hostile_request_table() {
    let fx = fixture(12);
    let data = tempfile::tempdir().unwrap();
    let mg = InProcess::start(test_config(&fx.upstream.url(), data.path()));
    let plain = fx.graph.module("plain").unwrap().path.clone();
    let long_path = format!("/{}/@v/list", "a".repeat(5000));
    let long_header = format!(
        "GET /{plain}/@v/list HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "b".repeat(100_000)
    );
    let many_headers = {
        let mut s = format!("GET /{plain}/@v/list HTTP/1.1\r\nHost: x\r\n");
        for i in 0..200 {
            s.push_str(&format!("X-H{i}: v\r\n"));
        }
        s.push_str("Connection: close\r\n\r\n");
        s
    };
    // (description, raw request, acceptable statuses)
    let cases: Vec<(&str, Vec<u8>, &[u16])> = vec![
        ("dot-dot", line("GET", "/example.com/../etc/passwd/@v/list"), &[400]),
        ("encoded dot-dot", line("GET", "/example.com/%2e%2e/m/@v/list"), &[400]),
        ("encoded dot-dot upper", line("GET", "/example.com/%2E%2E/m/@v/list"), &[400]),
        ("dot-dot in version", line("GET", "/example.com/m/@v/..%2F..%2Fetc.info"), &[400]),
        ("encoded slash in module", line("GET", "/example.com%2Fm/@v/list"), &[400]),
        ("encoded slash in version", line("GET", "/example.com/m/@v/v1%2f0.info"), &[400]),
        ("NUL", line("GET", "/example.com/m%00/@v/list"), &[400]),
        ("NUL in version", line("GET", "/example.com/m/@v/v1.0.0%00.zip"), &[400]),
        ("control char", line("GET", "/example.com/m%0a/@v/list"), &[400]),
        ("bad percent", line("GET", "/example.com/m%zz/@v/list"), &[400]),
        ("truncated percent", line("GET", "/example.com/m/@v/list%2"), &[400]),
        ("invalid utf-8", line("GET", "/example.com/m%ff/@v/list"), &[400]),
        ("backslash", line("GET", "/example.com/m%5c..%5c/@v/list"), &[400]),
        ("raw uppercase", line("GET", "/example.com/Upper/@v/list"), &[400]),
        ("raw uppercase host", line("GET", "/EXAMPLE.com/m/@v/list"), &[400]),
        ("bang before digit", line("GET", "/example.com/!0x/@v/list"), &[400]),
        ("trailing bang", line("GET", "/example.com/m!/@v/list"), &[400]),
        ("double bang", line("GET", "/example.com/!!m/@v/list"), &[400]),
        ("encoded bang before upper", line("GET", "/example.com/%21M/@v/list"), &[400]),
        ("bang in version", line("GET", "/example.com/m/@v/v1.0.0!.info"), &[400]),
        ("double slash", line("GET", "/example.com//m/@v/list"), &[400]),
        ("trailing dot element", line("GET", "/example.com/m./@v/list"), &[400]),
        ("no dot in host", line("GET", "/localhost/m/@v/list"), &[400]),
        ("wrong extension", line("GET", &format!("/{plain}/@v/v1.0.0.tar.gz")), &[404]),
        ("no extension", line("GET", &format!("/{plain}/@v/v1.0.0")), &[404]),
        ("non-canonical .zip", line("GET", &format!("/{plain}/@v/v1.0.zip")), &[400]),
        ("non-canonical .mod", line("GET", &format!("/{plain}/@v/v1.0.0+meta.mod")), &[400]),
        ("branch .zip", line("GET", &format!("/{plain}/@v/master.zip")), &[400]),
        ("incompatible major .mod", line("GET", &format!("/{plain}/@v/v3.0.0.mod")), &[404]),
        ("query string", line("GET", &format!("/{plain}/@v/list?go-get=1")), &[400]),
        ("empty query", line("GET", &format!("/{plain}/@v/list?")), &[400]),
        ("absolute-form", line("GET", &format!("http://evil.example/{plain}/@v/list")), &[400]),
        ("absolute-form to self", line("GET", &format!("http://{}/{plain}/@v/list", mg.addr)), &[400]),
        ("asterisk form", line("OPTIONS", "*"), &[400, 405]),
        ("CONNECT", line("CONNECT", "evil.example:443"), &[400, 405]),
        ("POST", line("POST", &format!("/{plain}/@v/list")), &[405]),
        ("PUT", line("PUT", &format!("/{plain}/@v/v9.9.9.zip")), &[405]),
        ("DELETE", line("DELETE", &format!("/{plain}/@v/v1.0.0.zip")), &[405]),
        ("overlong path", line("GET", &long_path), &[400, 414]),
        ("overlong header", long_header.into_bytes(), &[400, 431]),
        ("too many headers", many_headers.into_bytes(), &[400, 431]),
        ("garbage request line", b"\x16\x03\x01\x02\x00garbage\r\n\r\n".to_vec(), &[400]),
        ("empty version", line("GET", "/example.com/m/@v/.info"), &[400]),
        ("empty module", line("GET", "//@v/list"), &[400]),
        ("not a module endpoint", line("GET", "/example.com/m/@x/list"), &[404]),
        ("windows device name", line("GET", "/example.com/aux/@v/list"), &[400]),
        ("tilde short name", line("GET", "/example.com/progra~1/@v/list"), &[400]),
        ("unicode element", line("GET", "/example.com/%D0%B8/@v/list"), &[400]),
    ];
    assert!(cases.len() >= 30);
    let before = fx.upstream.total();
    for (what, req, want) in &cases {
        match raw(mg.addr, req) {
            Ok(r) => {
                assert!(want.contains(&r.status), "{what}: got {} ({}), want {want:?}", r.status, r.text());
                if r.status != 405 && r.status != 431 && r.status != 414 {
                    assert!(
                        r.header("content-type").is_none_or(|c| c.starts_with("text/plain")),
                        "{what}: content type {:?}",
                        r.header("content-type")
                    );
                }
                assert!(!r.text().contains('\n') || r.text().trim_end().lines().count() <= 1, "{what}: one line");
            }
            // hyper may close the connection for requests it cannot parse; that is acceptable
            // only for malformed HTTP, never for a well-formed request.
            Err(e) => assert!(want.contains(&431) || *what == "garbage request line", "{what}: connection failed: {e}"),
        }
        // Still serving.
        assert_eq!(get(mg.addr, "/healthz", &[]).status, 200, "after {what}");
    }
    assert_eq!(fx.upstream.total(), before, "no hostile request reached the upstream");
    // And real requests still work.
    let r = get(mg.addr, &format!("/{plain}/@v/list"), &[]);
    assert_eq!(r.status, 200);
}
