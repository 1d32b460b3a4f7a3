//! The HTTP/1 relay's parsers: request heads (with the framing guard's check), answer heads
//! from backends, and the chunked-body scanner fed in pieces.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    modgate::server::relay::fuzz_parsers(data);
});
