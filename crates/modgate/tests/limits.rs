//! Limits against slow, greedy and oversized clients: slowloris, header count and size, the
//! connection cap, and per-key rate limiting.

mod common;
use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

fn start(extra: &str) -> (tempfile::TempDir, Process) {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("modgate.toml");
    std::fs::write(&cfg, format!("upstream = \"off\"\ndata_dir = \"{}\"\n{extra}", tmp.path().join("data").display()))
        .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_modgate"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--config"]).arg(&cfg);
    let p = Process::start_with(cmd);
    (tmp, p)
}

/// Reads until the server closes the connection or `limit` passes; returns what arrived and
/// whether the server closed it.
fn read_until_closed(s: &mut TcpStream, limit: Duration) -> (Vec<u8>, bool) {
    s.set_read_timeout(Some(limit)).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => return (buf, true),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return (buf, true),
            Err(_) => return (buf, false),
        }
    }
}

#[test]
fn slow_and_oversized_headers_are_cut_off() {
    let (_tmp, mg) = start("[limits]\nheader_read_timeout = \"1s\"\nmax_headers = 20\nmax_header_kb = 2\n");
    // Slowloris: a request line and one header, then nothing.
    let t = Instant::now();
    let mut s = TcpStream::connect(mg.addr).unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").unwrap();
    let (_, closed) = read_until_closed(&mut s, Duration::from_secs(15));
    assert!(closed, "a client that never finishes its headers is disconnected");
    assert!(t.elapsed() < Duration::from_secs(10), "and soon: {:?}", t.elapsed());
    // A kept-alive connection that goes quiet is closed too.
    let mut s = TcpStream::connect(mg.addr).unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let (got, closed) = read_until_closed(&mut s, Duration::from_secs(15));
    assert!(String::from_utf8_lossy(&got).starts_with("HTTP/1.1 200"), "{}", String::from_utf8_lossy(&got));
    assert!(closed, "an idle kept-alive connection is closed");
    // Too many header fields, and too many header bytes.
    let many: String = (0..50).map(|i| format!("X-H{i}: v\r\n")).collect();
    let r = raw(mg.addr, format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{many}Connection: close\r\n\r\n").as_bytes());
    assert!(r.as_ref().map(|r| r.status == 431).unwrap_or(true), "{:?}", r.map(|r| r.status));
    let big = "a".repeat(16 * 1024);
    let r = raw(
        mg.addr,
        format!("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    assert!(r.as_ref().map(|r| r.status == 431).unwrap_or(true), "{:?}", r.map(|r| r.status));
    // Still serving.
    assert_eq!(get(mg.addr, "/healthz", &[]).status, 200);
}

/// The default header-count limit (100) is left to hyper's own check rather than configured,
/// which is cheaper per request; it must still hold exactly.
#[test]
fn the_default_header_count_limit_holds() {
    let (_tmp, mg) = start("");
    let headers = |n: usize| -> String { (0..n).map(|i| format!("X-H{i}: v\r\n")).collect() };
    // Host and Connection count too: 98 + 2 = 100 fields is the most allowed.
    let r = raw(
        mg.addr,
        format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{}Connection: close\r\n\r\n", headers(98)).as_bytes(),
    );
    assert_eq!(r.map(|r| r.status).ok(), Some(200));
    let r = raw(
        mg.addr,
        format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{}Connection: close\r\n\r\n", headers(99)).as_bytes(),
    );
    assert!(r.as_ref().map(|r| r.status == 431).unwrap_or(true), "{:?}", r.map(|r| r.status));
    assert_eq!(get(mg.addr, "/healthz", &[]).status, 200);
}

#[test]
fn connections_beyond_the_cap_wait_their_turn() {
    let (_tmp, mg) = start("[limits]\nmax_connections = 2\n");
    let mut a = TcpStream::connect(mg.addr).unwrap();
    let mut b = TcpStream::connect(mg.addr).unwrap();
    // Both are being served (each answers a request and stays open).
    for s in [&mut a, &mut b] {
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = [0u8; 512];
        let n = s.read(&mut buf).unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    }
    // A third connection is accepted by the kernel but not served...
    let mut c = TcpStream::connect(mg.addr).unwrap();
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let (got, _) = read_until_closed(&mut c, Duration::from_millis(1500));
    assert!(got.is_empty(), "the third connection waits: {}", String::from_utf8_lossy(&got));
    // ...until a slot frees.
    drop(a);
    let (got, _) = read_until_closed(&mut c, Duration::from_secs(10));
    assert!(got.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&got));
}

#[test]
fn each_key_has_a_request_rate() {
    let tmp = tempfile::tempdir().unwrap();
    let keys = tmp.path().join("keys.toml");
    let add = |name: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_modgate"))
            .args(["keys", "add", "--file"])
            .arg(&keys)
            .args(["--name", name, "--groups", "devs"])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let (k1, k2) = (add("one"), add("two"));
    let policy = tmp.path().join("policy.toml");
    std::fs::write(&policy, "[[rule]]\nmodules = \"*\"\nread = [\"devs\"]\n").unwrap();
    let (_t, mg) = start(&format!(
        "[limits]\nkey_rate = 1\nkey_burst = 3\n[auth]\nkeys_file = \"{}\"\npolicy_file = \"{}\"\n",
        keys.display(),
        policy.display()
    ));
    let path = "/example.com/m/@v/list";
    let statuses: Vec<u16> =
        (0..6).map(|_| get(mg.addr, path, &[("Authorization", &format!("Bearer {k1}"))]).status).collect();
    // The burst passes the guard (404: nothing is upstream), then 429.
    assert_eq!(&statuses[..3], &[404, 404, 404], "{statuses:?}");
    assert!(statuses[3..].contains(&429), "{statuses:?}");
    let r = get(mg.addr, path, &[("Authorization", &format!("Bearer {k1}"))]);
    if r.status == 429 {
        assert_eq!(r.header("retry-after"), Some("1"));
    }
    // Another key is not slowed by the first.
    assert_eq!(get(mg.addr, path, &[("X-API-Key", &k2)]).status, 404);
}
