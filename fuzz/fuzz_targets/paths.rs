//! Module paths, versions, escaping and pseudo-versions: no input may panic, and what one
//! function builds the other takes back.
#![no_main]
use gomod::{path, pseudo, semver};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let (a, b) = s.split_once('\n').unwrap_or((s, ""));
    let _ = path::check_path(a);
    let _ = path::check_import_path(a);
    let _ = path::check_file_path(a);
    if let Some((prefix, major)) = path::split_path_version(a) {
        assert!(a.starts_with(prefix) && a.ends_with(major));
        let _ = path::check_path_major(b, major);
    }
    let _ = path::check_path_major(b, a);
    let _ = path::check(a, b);
    if let Ok(e) = path::escape_path(a) {
        assert_eq!(path::unescape_path(&e).as_deref(), Ok(a), "escape then unescape");
    }
    if let Ok(e) = path::escape_version(a) {
        assert_eq!(path::unescape_version(&e).as_deref(), Ok(a));
    }
    let _ = path::unescape_path(a);
    let _ = path::unescape_version(a);
    let c = semver::canonical(a);
    if semver::is_valid(a) {
        assert!(semver::is_valid(&c) && semver::compare(a, &c).is_eq());
    }
    let _ = (semver::major(a), semver::major_minor(a), semver::prerelease(a), semver::build(a));
    let _ = semver::compare(a, b);
    let _ = path::canonical_version(a);
    let _ = (pseudo::is_pseudo_version(a), pseudo::base_version(a), pseudo::rev(a), pseudo::time(a));
    let _ = pseudo::is_zero_pseudo_version(a);
    if b.len() == 14 && b.bytes().all(|c| c.is_ascii_digit()) {
        let _ = pseudo::pseudo_version("v1", a, b, "abcdefabcdef");
    }
});
