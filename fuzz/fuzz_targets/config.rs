//! The configuration loader on arbitrary TOML: a clear error or a configuration, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use modgate::config::{load_text, Overrides};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let _ = load_text(Some((std::path::Path::new("fuzz.toml"), s)), &Overrides::default(), &Default::default());
});
