//! The reverse proxy against real nginx backends: request smuggling refused before anything
//! reaches the backend (its own access log is the witness), and TLS to a backend that wants a
//! client certificate and offers HTTP/2.

mod common;
use common::*;
use testkit::nginx::{free_port, Nginx};

/// Requests whose framing a backend could read differently from modgate.
const SMUGGLING: &[(&str, &[u8])] = &[
    ("CL then TE", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG"),
    ("TE then CL", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 6\r\n\r\n0\r\n\r\nG"),
    ("two different lengths", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"),
    ("two equal lengths", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello"),
    ("a length list", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello"),
    ("a signed length", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello"),
    ("a negative length", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n"),
    ("a hex length", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\nhello"),
    ("a spaced length", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 5\r\n\r\nhello"),
    ("chunked then identity", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n"),
    ("identity then chunked", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\n"),
    ("a lookalike coding", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"),
    (
        "two codings",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ),
    ("a coding on HTTP/1.0", b"POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    ("space before the colon", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n"),
    ("a vertical tab", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n"),
    (
        "a chunk size that is not hex",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    ),
    (
        "an overflowing chunk size",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000005\r\nhello\r\n0\r\n\r\n",
    ),
    (
        "a negative chunk size",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n",
    ),
    (
        "a spaced chunk size",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n",
    ),
    (
        "chunk data overrunning its size",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n",
    ),
    (
        "a chunk line ending in a bare LF",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n",
    ),
    ("obs-fold", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: a\r\n Transfer-Encoding: chunked\r\n\r\n"),
    ("a bare LF request", b"GET / HTTP/1.1\nHost: a\n\n"),
    ("a bare LF header line", b"GET / HTTP/1.1\r\nHost: a\nX-A: b\r\n\r\n"),
    ("a bare CR in a value", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: a\rTransfer-Encoding: chunked\r\n\r\n"),
    ("a NUL in a value", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x00b\r\n\r\n"),
    ("a space in a name", b"GET / HTTP/1.1\r\nHost: a\r\nX A: b\r\n\r\n"),
    ("two hosts", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
    ("no host", b"GET / HTTP/1.1\r\nX-A: b\r\n\r\n"),
    ("a double space in the request line", b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n"),
];

#[test]
fn smuggling_attempts_get_400_and_never_reach_the_backend() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let server = format!("server {{ listen 127.0.0.1:{port}; location / {{ return 200 \"ok $request_uri\\n\"; }} }}");
    let nginx = Nginx::start(&tmp.path().join("nginx"), &server, &[port]).unwrap();
    let text = format!("[[proxy]]\nto = \"http://127.0.0.1:{port}\"\n");
    let mg = InProcess::start(config_from_text(tmp.path(), &text));
    assert!(SMUGGLING.len() >= 20);
    for (what, req) in SMUGGLING {
        let r = raw(mg.addr, req).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(r.status, 400, "{what}: {}", r.text());
    }
    assert_eq!(nginx.access_log(), Vec::<String>::new(), "the backend saw a smuggling attempt");
    // A good request before a smuggled one on the same connection: the first is answered, the
    // second refused, and only the first reaches the backend.
    let two = b"GET /first HTTP/1.1\r\nHost: a\r\n\r\n\
                POST /second HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    let mut s = std::net::TcpStream::connect(mg.addr).unwrap();
    std::io::Write::write_all(&mut s, two).unwrap();
    let mut all = String::new();
    std::io::Read::read_to_string(&mut s, &mut all).unwrap();
    assert!(all.starts_with("HTTP/1.1 200"), "{all}");
    assert!(all.contains("HTTP/1.1 400"), "{all}");
    wait_until(std::time::Duration::from_secs(10), "nginx logs the good request", || !nginx.access_log().is_empty());
    assert_eq!(nginx.access_log(), ["GET /first HTTP/1.1 200 \"-\""]);
}

#[test]
fn tls_backends_are_verified_and_shown_a_client_certificate_over_h2() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = testkit::tlsgen::TestCa::new("backend CA").unwrap();
    let ca_file = ca.write(&tmp.path().join("ca.pem")).unwrap();
    let server = ca.server(&["backend.test", "127.0.0.1"], tmp.path(), "server").unwrap();
    let client = ca.client("modgate-proxy", "Corp", tmp.path(), "client").unwrap();
    let port = free_port().unwrap();
    let block = format!(
        "server {{ listen 127.0.0.1:{port} ssl http2; ssl_certificate {}; ssl_certificate_key {};\n\
         ssl_client_certificate {}; ssl_verify_client on;\n\
         location / {{ return 200 \"$server_protocol $ssl_client_s_dn\\n\"; }} }}",
        server.cert.display(),
        server.key.display(),
        ca_file.display()
    );
    let nginx = Nginx::start(&tmp.path().join("nginx"), &block, &[port]).unwrap();
    let text = format!(
        "[[proxy]]\npath = \"/secure\"\nto = \"https://127.0.0.1:{port}\"\n\
         [proxy.tls]\nca_file = \"{}\"\ncert_file = \"{}\"\nkey_file = \"{}\"\n\
         [[proxy]]\npath = \"/nocert\"\nto = \"https://127.0.0.1:{port}\"\n[proxy.tls]\nca_file = \"{}\"\n\
         [[proxy]]\npath = \"/untrusted\"\nto = \"https://127.0.0.1:{port}\"\n",
        ca_file.display(),
        client.cert.display(),
        client.key.display(),
        ca_file.display()
    );
    let mg = InProcess::start(config_from_text(tmp.path(), &text));
    let r = get(mg.addr, "/secure/x", &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.text();
    assert!(body.starts_with("HTTP/2.0 "), "h2 where the backend offers it: {body}");
    assert!(body.contains("CN=modgate-proxy"), "the client certificate: {body}");
    assert_eq!(get(mg.addr, "/nocert/x", &[]).status, 400, "nginx refuses a missing client certificate with 400");
    assert_eq!(get(mg.addr, "/untrusted/x", &[]).status, 502, "a backend signed by an unknown CA is not trusted");
    let log = nginx.access_log();
    assert_eq!(log.len(), 2, "{log:?}");
}
