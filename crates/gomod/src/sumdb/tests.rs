use super::note::{open, Signer, Verifier};
use super::proof::{check_record, check_tree, prove_record, prove_tree};
use super::record::{format_tree, parse_record, parse_tree, Tree};
use super::tile::{read_tile_data, tile_for_index, Tile, TileReader, HEIGHT};
use super::tlog::*;
use std::collections::BTreeMap;

const SKEY: &str = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const TEXT: &str =
    "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

#[test]
fn note_vector_signs_and_opens() {
    let signer = Signer::parse(SKEY).unwrap();
    let signed = signer.sign(TEXT).unwrap();
    assert_eq!(String::from_utf8(signed.clone()).unwrap(), format!("{TEXT}\n{SIG}"));
    let v = Verifier::parse(VKEY).unwrap();
    assert_eq!(signer.verifier(), v);
    assert_eq!(v.encode(), VKEY);
    let note = open(&signed, std::slice::from_ref(&v)).unwrap();
    assert_eq!(note.text, TEXT);
    // One flipped bit of the text: the known key's signature fails.
    let mut bad = signed.clone();
    bad[3] ^= 1;
    assert!(matches!(open(&bad, std::slice::from_ref(&v)), Err(super::SumdbError::InvalidSignature(_))));
    // Only unknown keys: unverified.
    let (_, other) = Signer::generate("Other").unwrap();
    assert!(matches!(open(&signed, &[Verifier::parse(&other).unwrap()]), Err(super::SumdbError::Unverified(_))));
}

#[test]
fn keys_are_checked() {
    assert!(Verifier::parse("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW").is_err());
    assert!(Verifier::parse("Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW").is_err());
    assert!(Verifier::parse("PeterNeumann+c74f20a3").is_err());
    assert!(Signer::parse("PRIVATE+KEY+PeterNeumann+c74f20a4+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz").is_err());
    let (s, v) = Signer::generate("modgate.example").unwrap();
    let signer = Signer::parse(&s).unwrap();
    assert_eq!(signer.verifier().encode(), v);
    let signed = signer.sign("hello\n").unwrap();
    assert!(open(&signed, &[Verifier::parse(&v).unwrap()]).is_ok());
    // Malformed notes.
    for m in ["hello\n", "hello\n\n", "hello\n\n\u{2014} x\n", "a\x01\n\n\u{2014} modgate.example AAAAAAAA\n"] {
        assert!(open(m.as_bytes(), &[Verifier::parse(&v).unwrap()]).is_err(), "{m:?}");
    }
    assert!(signer.sign("no newline").is_err());
}

#[test]
fn tile_paths() {
    for (n, digits) in [(1, "001"), (123456078, "x123/x456/078"), (3057500, "x003/x057/500"), (0, "000")] {
        let t = Tile { h: 8, l: 2, n, w: 256 };
        assert_eq!(t.path(), format!("tile/8/2/{digits}"));
        assert_eq!(Tile::parse(&t.path()).unwrap(), t);
    }
    let t = Tile { h: 8, l: -1, n: 5, w: 17 };
    assert_eq!(t.path(), "tile/8/data/005.p/17");
    assert_eq!(Tile::parse("tile/8/data/005.p/17").unwrap(), t);
    for bad in [
        "tile/8/0/5",
        "tile/8/0/x000/005",
        "tile/8/0/005.p/256",
        "tile/8/0/005.p/0",
        "tile/0/0/005",
        "tile/8/-1/005",
        "tile/8/0/005.p/017",
        "tile/8/0/x999/x999/x999/x999/x999/x999/x999/999",
        "tile/8/0",
        "tiles/8/0/000",
    ] {
        assert!(Tile::parse(bad).is_err(), "{bad}");
    }
}

/// A log of `n` records, its stored hashes, and each record's leaf hash.
fn log(n: i64) -> (Vec<Hash>, Vec<Hash>) {
    let mut stored: Vec<Hash> = Vec::new();
    let mut leaves = Vec::new();
    for i in 0..n {
        let leaf = record_hash(format!("record {i}\n").as_bytes());
        leaves.push(leaf);
        let add = stored_hashes_for_record(i, leaf, &stored).unwrap();
        stored.extend(add);
    }
    (stored, leaves)
}

/// RFC 6962's MTH straight from the leaves.
fn mth(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_tree_hash(),
        1 => leaves[0],
        n => {
            let k = n.next_power_of_two() / 2;
            node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

#[test]
fn stored_hash_layout() {
    let (stored, _) = log(600);
    assert_eq!(stored.len() as i64, stored_hash_count(600));
    for index in 0..stored.len() as i64 {
        let (level, n) = split_stored_hash_index(index);
        assert_eq!(stored_hash_index(level, n), index);
    }
    assert_eq!(stored_hash_index(0, 0), 0);
    assert_eq!(stored_hash_index(0, 1), 1);
    assert_eq!(stored_hash_index(1, 0), 2);
    assert_eq!(stored_hash_index(0, 2), 3);
}

#[test]
fn tree_hashes_and_proofs() {
    let (stored, leaves) = log(300);
    for t in [1i64, 2, 3, 7, 8, 9, 100, 255, 256, 257, 300] {
        let root = tree_hash(t, &stored).unwrap();
        assert_eq!(root, mth(&leaves[..t as usize]), "tree {t}");
        for n in [0, t / 3, t / 2, t - 1] {
            let proof = prove_record(t, n, &stored).unwrap();
            check_record(&proof, t, &root, n, &leaves[n as usize]).unwrap();
            assert!(check_record(&proof, t, &root, n, &record_hash(b"other\n")).is_err());
        }
        for old in [1, t / 2, t - 1, t] {
            if old < 1 {
                continue;
            }
            let old_root = tree_hash(old, &stored).unwrap();
            let proof = prove_tree(t, old, &stored).unwrap();
            check_tree(&proof, t, &root, old, &old_root).unwrap();
            if old < t {
                let forged = record_hash(b"fork\n");
                assert!(check_tree(&proof, t, &root, old, &forged).is_err(), "{t} {old}");
            }
        }
    }
}

#[test]
fn hashes_read_through_tiles() {
    let (stored, _) = log(70_000);
    for t in [1i64, 255, 256, 257, 65_536, 65_537, 70_000] {
        let all: Vec<i64> = super::tlog::cover(0, t).unwrap();
        let rec = Recorder::default();
        let root_plan = tree_hash(t, &rec).unwrap();
        assert_eq!(root_plan, tree_hash(t, &rec).unwrap());
        let mut tiles = BTreeMap::new();
        for &i in rec.wanted.borrow().iter().chain(all.iter()) {
            let (tile, _) = tile_for_index(HEIGHT, i, t);
            tiles.insert(tile, read_tile_data(&tile, &stored).unwrap());
        }
        let reader = TileReader { tree_size: t, tiles };
        assert_eq!(tree_hash(t, &reader).unwrap(), tree_hash(t, &stored).unwrap(), "tree {t}");
        let proof = prove_record(t, t - 1, &reader);
        // The reader holds only the tree-hash tiles; a record proof may need more.
        if let Ok(p) = proof {
            assert_eq!(p, prove_record(t, t - 1, &stored).unwrap());
        }
    }
}

#[test]
fn tree_notes_and_records() {
    let tree = Tree { n: 5, hash: record_hash(b"x") };
    let text = format_tree(&tree);
    assert_eq!(parse_tree(&text).unwrap(), tree);
    assert_eq!(parse_tree(&format!("{text}extra\n")).unwrap(), tree);
    for bad in ["go.sum database tree\n05\nAAAA\n", "go.sum database tree\n5\n", "tree\n5\nx\n"] {
        assert!(parse_tree(bad).is_err(), "{bad:?}");
    }
    let msg = b"42\nm v1.0.0 h1:x=\nm v1.0.0/go.mod h1:y=\n\ngo.sum database tree\n";
    let (id, text, rest) = parse_record(msg).unwrap();
    assert_eq!((id, text, rest), (42, &b"m v1.0.0 h1:x=\nm v1.0.0/go.mod h1:y=\n"[..], &b"go.sum database tree\n"[..]));
    assert!(parse_record(b"x\na\n\n").is_err());
    assert!(parse_record(b"1\na\x01\n\n").is_err());
}
