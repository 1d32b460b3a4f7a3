//! GOPRIVATE-style glob lists and Go's path.Match.
#![no_main]
use gomod::glob;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let (globs, target) = s.split_once('\n').unwrap_or((s, ""));
    let _ = glob::match_prefix_patterns(globs, target);
    let _ = glob::path_match(globs, target);
});
