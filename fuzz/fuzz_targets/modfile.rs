//! go.mod files: the lax parse and the module-line scan, on arbitrary bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(f) = gomod::modfile::parse_lax(data) {
        let _ = f.go_1_24();
        for r in &f.require {
            assert!(gomod::path::is_canonical_version(&r.version));
        }
    }
    let _ = gomod::modfile::module_path(data);
    let _ = gomod::zipcreate::go_1_24(Some(data));
});
