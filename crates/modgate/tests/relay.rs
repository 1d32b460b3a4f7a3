//! The HTTP/1 relay (`server::relay`) on its own corners: pipelined requests and a hand-over to
//! the general path on one connection, a kept backend connection that the backend closed,
//! answers framed by the end of the connection, and chunked answers with trailers — each
//! against a raw backend that writes exactly the bytes a test gives it.

mod common;
use common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use testkit::backend::Backend;

/// A backend that reads one request head per answer and writes `answer`; it closes the
/// connection after `per_conn` answers. Counts the connections it took.
struct RawBackend {
    addr: SocketAddr,
    conns: Arc<AtomicUsize>,
}

impl RawBackend {
    fn start(answer: &'static [u8], per_conn: usize) -> Self {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let conns = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&conns);
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { return };
                counted.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || {
                    for _ in 0..per_conn {
                        if !read_head(&mut s) || s.write_all(answer).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Self { addr, conns }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

fn read_head(s: &mut TcpStream) -> bool {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut b) {
            Ok(1) => head.push(b[0]),
            _ => return false,
        }
    }
    true
}

fn proxy_to(url: &str) -> (tempfile::TempDir, InProcess) {
    let tmp = tempfile::tempdir().unwrap();
    let mg = InProcess::start(config_from_text(tmp.path(), &format!("[[proxy]]\npath = \"/app\"\nto = \"{url}\"\n")));
    (tmp, mg)
}

/// Everything the server writes on one connection until it closes it.
fn exchange(addr: SocketAddr, requests: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(requests).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn pipelined_requests_then_module_traffic_share_one_connection() {
    let b = Backend::start();
    let (_tmp, mg) = proxy_to(&b.url());
    let out = exchange(
        mg.addr,
        b"GET /app/one HTTP/1.1\r\nHost: a\r\n\r\nGET /app/two HTTP/1.1\r\nHost: a\r\n\r\n\
          GET /healthz HTTP/1.1\r\nHost: a\r\n\r\nGET /app/three HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(out.matches("HTTP/1.1 200 ").count(), 4, "{out}");
    let at = |needle: &str| out.find(needle).unwrap_or_else(|| panic!("no {needle} in {out}"));
    assert!(at("\"/app/one\"") < at("\"/app/two\""), "answers in request order: {out}");
    assert!(at("\"/app/two\"") < at("\r\n\r\nok\n"), "modgate's own answer third: {out}");
    assert!(at("\r\n\r\nok\n") < at("\"/app/three\""), "and the last request after the hand-over: {out}");
    assert_eq!(b.count(), 3);
}

#[test]
fn a_kept_connection_the_backend_closed_costs_a_get_nothing() {
    // One answer per connection, then the backend closes it: every kept connection is dead.
    let b = RawBackend::start(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", 1);
    let (_tmp, mg) = proxy_to(&b.url());
    let out = exchange(
        mg.addr,
        b"GET /app/1 HTTP/1.1\r\nHost: a\r\n\r\nGET /app/2 HTTP/1.1\r\nHost: a\r\n\r\n\
          GET /app/3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(out.matches("HTTP/1.1 200 OK").count(), 3, "{out}");
    assert_eq!(out.matches("\r\n\r\nhi").count(), 3, "{out}");
    assert_eq!(b.conns.load(Ordering::SeqCst), 3, "each request on a connection of its own");
}

#[test]
fn an_answer_framed_by_the_end_of_its_connection_ends_the_clients() {
    let b = RawBackend::start(b"HTTP/1.1 200 OK\r\nX-Kind: unframed\r\n\r\nevery byte until the end", 1);
    let (_tmp, mg) = proxy_to(&b.url());
    // The backend thread closes its side after the answer (it takes one request).
    let out = exchange(mg.addr, b"GET /app/x HTTP/1.1\r\nHost: a\r\n\r\nGET /app/y HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(out.matches("HTTP/1.1 200 OK").count(), 1, "the connection ends with the body: {out}");
    assert!(out.to_ascii_lowercase().contains("connection: close"), "{out}");
    assert!(out.ends_with("\r\n\r\nevery byte until the end"), "{out}");
}

#[test]
fn chunked_answers_pass_whole_with_their_trailers_and_the_connection_stays() {
    let b = RawBackend::start(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\nConnection: keep-alive\r\n\r\n\
          5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Sum: 42\r\n\r\n",
        2,
    );
    let (_tmp, mg) = proxy_to(&b.url());
    let out = exchange(
        mg.addr,
        b"GET /app/1 HTTP/1.1\r\nHost: a\r\n\r\nGET /app/2 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(out.matches("5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Sum: 42\r\n\r\n").count(), 2, "{out}");
    let lower = out.to_ascii_lowercase();
    assert_eq!(lower.matches("transfer-encoding: chunked").count(), 2, "{out}");
    assert!(!lower.contains("keep-alive"), "hop-by-hop headers stay behind: {out}");
    assert_eq!(lower.matches("via: 1.1 modgate").count(), 2, "{out}");
    assert_eq!(b.conns.load(Ordering::SeqCst), 1, "both answers on one kept backend connection");
}

#[test]
fn an_answer_of_modgate_s_own_to_a_head_request_has_no_body() {
    // A member nobody listens on: modgate answers 502 itself.
    let gone = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let (_tmp, mg) = proxy_to(&format!("http://{gone}"));
    let out = exchange(
        mg.addr,
        b"HEAD /app/x HTTP/1.1\r\nHost: a\r\n\r\nGET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    );
    assert!(out.starts_with("HTTP/1.1 502 "), "{out}");
    let first_end = out.find("\r\n\r\n").unwrap() + 4;
    assert!(out[first_end..].starts_with("HTTP/1.1 200 "), "no body after the HEAD answer's head: {out}");
    assert!(out.ends_with("\r\n\r\nok\n"), "{out}");
}

#[test]
fn a_backend_quiet_in_the_middle_of_a_body_does_not_hold_the_client() {
    // The backend sends part of the body it announced, then nothing: it waits for a next
    // request that never comes, its connection open.
    let b = RawBackend::start(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part", 2);
    let tmp = tempfile::tempdir().unwrap();
    let text = format!("[[proxy]]\npath = \"/app\"\nto = \"{}\"\ntimeout = \"1s\"\n", b.url());
    let mg = InProcess::start(config_from_text(tmp.path(), &text));
    // The relay takes the GET; the POST, with a body, goes the general path (hyper).
    for request in [
        &b"GET /app/x HTTP/1.1\r\nHost: a\r\n\r\n"[..],
        b"POST /app/x HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi",
    ] {
        let mut s = TcpStream::connect(mg.addr).unwrap();
        // Without the limit, modgate would hold the connection until TCP gives up: this read
        // would time out and the test fail.
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.write_all(request).unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).expect("modgate closes the connection of a body the backend stopped sending");
        let out = String::from_utf8_lossy(&out);
        assert!(out.starts_with("HTTP/1.1 200 "), "{out}");
        assert!(out.ends_with("\r\n\r\nonly part"), "the bytes that came pass, and nothing more: {out}");
    }
}

#[test]
fn a_client_that_stops_reading_is_let_go_and_so_is_the_backend_behind_it() {
    // The backend answers with far more than the sockets between it and the client buffer;
    // it tells the test whether its write broke off (modgate let the answer go) or finished.
    const BODY: usize = 256 << 20;
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let (told, outcome) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            let told = told.clone();
            std::thread::spawn(move || {
                if !read_head(&mut s) {
                    return;
                }
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {BODY}\r\n\r\n");
                let zeros = vec![0u8; 1 << 20];
                let wrote =
                    s.write_all(head.as_bytes()).is_ok() && (0..BODY >> 20).all(|_| s.write_all(&zeros).is_ok());
                let _ = told.send(wrote);
            });
        }
    });
    let tmp = tempfile::tempdir().unwrap();
    let text = format!("[limits]\nsend_timeout = \"1s\"\n\n[[proxy]]\npath = \"/app\"\nto = \"{url}\"\n");
    let mg = InProcess::start(config_from_text(tmp.path(), &text));
    // The relay takes the GET; the POST, with a body, goes the general path (hyper).
    for request in [
        &b"GET /app/big HTTP/1.1\r\nHost: a\r\n\r\n"[..],
        b"POST /app/big HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi",
    ] {
        let mut s = TcpStream::connect(mg.addr).unwrap();
        s.write_all(request).unwrap();
        // The client reads nothing. Without the limit, modgate waits on it for ever, the
        // backend's write with it, and nothing is told.
        let wrote = outcome.recv_timeout(Duration::from_secs(30)).expect("the backend's answer was let go");
        assert!(!wrote, "the backend could not have sent all of {BODY} bytes to a client that reads nothing");
        // What the client's socket had taken is there, and then the end: not the whole body.
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut got = 0usize;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
        }
        assert!(got < BODY, "the connection was cut short: {got} bytes");
    }
}
