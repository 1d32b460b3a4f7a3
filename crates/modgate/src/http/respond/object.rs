//! An immutable object's response: strong validators (`ETag`, `Last-Modified`), conditional
//! requests (`If-None-Match`, `If-Range`), one byte range, `HEAD`, and a year-long immutable
//! cache lifetime.

use super::range::{parse_range, RangeReq};
use super::X_MODGATE_CACHE;
use crate::cache::MemObject;
use crate::errors::ServeError;
use crate::proxy::CacheStatus;
use crate::store::StoredObject;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{header, HeaderMap, HeaderValue, StatusCode};
use std::sync::Arc;

/// Where an immutable object's bytes come from.
pub enum ObjectData {
    Stored(StoredObject),
    Memory(Arc<MemObject>),
}

fn finish(status: StatusCode, body: Body, mut headers: HeaderMap) -> Response {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    std::mem::swap(r.headers_mut(), &mut headers);
    r
}

pub fn object_response(
    src: ObjectData,
    ct: &'static str,
    cache: CacheStatus,
    req_headers: &HeaderMap,
    head: bool,
) -> Response {
    let (etag, last_modified, len) = match &src {
        ObjectData::Memory(m) => (m.etag.clone(), m.last_modified.clone(), m.data.len() as u64),
        ObjectData::Stored(f) => {
            match (HeaderValue::from_str(&f.etag), HeaderValue::from_str(&httpdate::fmt_http_date(f.modified))) {
                (Ok(e), Ok(l)) => (e, l, f.len),
                _ => return ServeError::Storage("unrepresentable validator".into()).into_response(),
            }
        }
    };
    let mut base = HeaderMap::with_capacity(10);
    base.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    base.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable"));
    base.insert(header::ETAG, etag.clone());
    base.insert(header::LAST_MODIFIED, last_modified.clone());
    base.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    base.insert(X_MODGATE_CACHE, HeaderValue::from_static(cache.as_str()));

    if let Some(inm) = req_headers.get(header::IF_NONE_MATCH) {
        let inm = inm.as_bytes();
        if inm == b"*" || inm.split(|&b| b == b',').any(|t| t.trim_ascii() == etag.as_bytes()) {
            return finish(StatusCode::NOT_MODIFIED, Body::empty(), base);
        }
    }
    let mut range = match req_headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(v) => parse_range(v, len),
        None => RangeReq::Full,
    };
    if range != RangeReq::Full {
        // If-Range: only a matching strong validator keeps the range.
        if let Some(ir) = req_headers.get(header::IF_RANGE) {
            let ir = ir.as_bytes().trim_ascii();
            if ir != etag.as_bytes() && ir != last_modified.as_bytes() {
                range = RangeReq::Full;
            }
        }
    }
    let (status, start, count) = match range {
        RangeReq::Full => (StatusCode::OK, 0, len),
        RangeReq::Partial(s, e) => (StatusCode::PARTIAL_CONTENT, s, e - s + 1),
        RangeReq::Unsatisfiable => {
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                base.insert(header::CONTENT_RANGE, v);
            }
            base.insert(header::CONTENT_LENGTH, HeaderValue::from(0));
            return finish(StatusCode::RANGE_NOT_SATISFIABLE, Body::empty(), base);
        }
    };
    let body = if head || count == 0 {
        Body::empty()
    } else {
        match src {
            ObjectData::Memory(m) => Body::from(m.data.slice(start as usize..(start + count) as usize)),
            ObjectData::Stored(f) => Body::from_stream(f.body.range(start, count)),
        }
    };
    base.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    if status == StatusCode::PARTIAL_CONTENT {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{len}", start + count - 1)) {
            base.insert(header::CONTENT_RANGE, v);
        }
    }
    finish(status, body, base)
}
