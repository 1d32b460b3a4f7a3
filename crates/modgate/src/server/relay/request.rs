//! A request head as the relay reads it: checked strictly, then parsed once into an
//! `http::Request` that the shared functions (routing, access rules, header rewriting) take.
//! `None` means the request is not the relay's and goes to the general path.

use super::super::strict::check_head;
use crate::obs::trace;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Uri, Version};

/// Most headers the relay parses (the map has room for the forwarding headers on top); a head with more goes to hyper, whose limit answers it.
const MAX_HEADERS: usize = 100;

/// The request in `head` (a whole head, CRLF CRLF included) when the relay may take it: HTTP/1.1,
/// origin-form, no body, no upgrade, no `Expect`, within `max_headers`, and tracing off.
/// The values and the target are slices of `head`, not copies. `headers` is an empty map whose
/// room is used again (a connection keeps one from request to request).
pub fn parse(head: &Bytes, max_headers: usize, mut headers: HeaderMap) -> Option<Request<()>> {
    if trace::on() {
        return None;
    }
    let framing = check_head(head).ok()?;
    if framing.upgrade || framing.chunked || framing.length.is_some_and(|n| n > 0) {
        return None;
    }
    let mut slots = [const { std::mem::MaybeUninit::uninit() }; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut []);
    let room = &mut slots[..max_headers.min(MAX_HEADERS)];
    if !matches!(parsed.parse_with_uninit_headers(head, room), Ok(httparse::Status::Complete(_)))
        || parsed.version != Some(1)
    {
        return None;
    }
    let target = parsed.path.filter(|p| p.starts_with('/'))?;
    let method = Method::from_bytes(parsed.method?.as_bytes()).ok().filter(|m| m != Method::CONNECT)?;
    let uri = Uri::from_maybe_shared(head.slice_ref(target.as_bytes())).ok()?;
    headers.clear();
    headers.reserve(parsed.headers.len() + 8);
    for h in parsed.headers.iter() {
        if h.name.eq_ignore_ascii_case("expect") {
            return None;
        }
        let value = HeaderValue::from_maybe_shared(head.slice_ref(h.value)).ok()?;
        headers.append(HeaderName::from_bytes(h.name.as_bytes()).ok()?, value);
    }
    let mut req = Request::new(());
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    *req.version_mut() = Version::HTTP_11;
    *req.headers_mut() = headers;
    Some(req)
}

/// Whether the client asked to close the connection after this request.
pub fn wants_close(headers: &HeaderMap) -> bool {
    headers.get_all(http::header::CONNECTION).iter().any(|v| crate::revproxy::headers::has_token(v.as_bytes(), "close"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_requests_parse_and_the_rest_are_left_alone() {
        let parse = |head: &[u8], max| super::parse(&Bytes::copy_from_slice(head), max, HeaderMap::new());
        let req = parse(b"GET /app/x?q=1 HTTP/1.1\r\nHost: a\r\nX-Y: z\r\n\r\n", 100).unwrap();
        assert_eq!(req.uri().path(), "/app/x");
        assert_eq!(req.uri().query(), Some("q=1"));
        assert_eq!(req.headers()["x-y"], "z");
        assert!(parse(b"GET /a HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", 100).is_some());
        for refused in [
            &b"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n"[..],
            b"POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"GET /a HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
            b"GET /a HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n",
            b"GET /a HTTP/1.0\r\n\r\n",
            b"GET http://a/a HTTP/1.1\r\nHost: a\r\n\r\n",
            b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET /a HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            b"GET /a HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
        ] {
            assert!(parse(refused, 100).is_none(), "{}", String::from_utf8_lossy(refused));
        }
        assert!(parse(b"GET /a HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n", 2).is_none(), "over max_headers");
    }

    #[test]
    fn connection_close_is_seen_among_other_tokens() {
        let mut h = HeaderMap::new();
        assert!(!wants_close(&h));
        h.append("connection", HeaderValue::from_static("keep-alive, Close"));
        assert!(wants_close(&h));
    }
}
