//! The module zip checker, on arbitrary bytes and on well-formed archives whose entries are
//! chosen by the input (names, contents, lying sizes and CRCs, duplicates).
#![no_main]
use gomod_diff::rawzip::{self, RawEntry};
use libfuzzer_sys::fuzz_target;
use std::io::Cursor;

fn structured(data: &[u8]) -> Vec<u8> {
    let mut entries = Vec::new();
    for chunk in data.split(|&b| b == 0) {
        let (flags, rest) = chunk.split_first().unwrap_or((&0, &[]));
        let (name, content) = match rest.iter().position(|&b| b == b'=') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &[][..]),
        };
        let mut full = b"example.com/m@v1.0.0/".to_vec();
        full.extend_from_slice(name);
        let mut e = RawEntry::new(full, content.to_vec());
        if flags & 1 != 0 {
            e.declared = Some(u32::from(*flags));
        }
        if flags & 2 != 0 {
            e.crc = Some(u32::from(*flags) * 7919);
        }
        entries.push(e);
    }
    rawzip::write(&entries)
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let bytes = if mode & 1 == 0 { rest.to_vec() } else { structured(rest) };
    let checked = gomod::zipcheck::check_zip(Cursor::new(&bytes), "example.com/m", "v1.0.0");
    let hashed = gomod::dirhash::hash_zip(Cursor::new(&bytes));
    if let (Ok(c), Ok(h)) = (&checked, &hashed) {
        assert_eq!(&c.h1, h, "a checked zip hashes the same either way");
    }
});
