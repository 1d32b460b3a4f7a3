//! `<meta name="go-import">` tags in arbitrary HTML, and repository roots.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let imports = gomod::goimport::parse_meta_go_imports(data);
    if let Ok(s) = std::str::from_utf8(data) {
        let first = s.lines().next().unwrap_or("");
        let _ = gomod::goimport::match_go_import(&imports, first);
        let _ = gomod::goimport::validate_repo_root(first);
        let _ = gomod::goimport::has_path_prefix(s, first);
    }
});
