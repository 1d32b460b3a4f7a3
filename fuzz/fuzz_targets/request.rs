//! The request target: classification, percent-decoding and GOPROXY-path parsing.
#![no_main]
use libfuzzer_sys::fuzz_target;
use modgate::request;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let (path, query) = match s.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (s, None),
    };
    let _ = request::Target::classify(path, query);
    let _ = request::decode_path(path);
    if let Ok(r) = request::parse(path, query) {
        let _ = (r.rel(), r.display(), r.escaped_module(), r.is_immutable());
    }
    let _ = request::parse_publish(path, query);
});
