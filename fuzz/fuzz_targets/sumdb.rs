//! Checksum-database answers: signed notes, lookup records, tree notes, tile paths and keys,
//! and proofs checked over arbitrary hashes. Everything a database or a client can send.
#![no_main]
use gomod::sumdb::{note, proof, record, tile::Tile, tlog::Hash};
use libfuzzer_sys::fuzz_target;

const VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";

fuzz_target!(|data: &[u8]| {
    let Ok(v) = note::Verifier::parse(VKEY) else { return };
    let _ = note::open(data, std::slice::from_ref(&v));
    if let Ok((id, text, rest)) = record::parse_record(data) {
        let _ = record::hash_in_record(text, "m", "v1.0.0");
        let _ = (id, note::open(rest, std::slice::from_ref(&v)));
    }
    let s = String::from_utf8_lossy(data);
    let _ = record::parse_tree(&s);
    if let Ok(t) = Tile::parse(&s) {
        assert_eq!(t.path(), s);
    }
    let _ = note::Verifier::parse(&s);
    let _ = note::Signer::parse(&s);
    // Proofs over whatever hashes the bytes make: never a panic, never an accepted forgery
    // of an empty proof for a tree of more than one record.
    if data.len() >= 16 {
        let t = i64::from(u32::from_le_bytes([data[0], data[1], data[2], 0]));
        let n = i64::from(u32::from_le_bytes([data[3], data[4], data[5], 0]));
        let hashes: Vec<Hash> = data[6..].chunks_exact(32).map(|c| c.try_into().unwrap_or([0; 32])).collect();
        let root = hashes.first().copied().unwrap_or([0; 32]);
        let leaf = hashes.last().copied().unwrap_or([1; 32]);
        let _ = proof::check_record(&hashes, t, &root, n, &leaf);
        let _ = proof::check_tree(&hashes, t, &root, n, &leaf);
    }
});
