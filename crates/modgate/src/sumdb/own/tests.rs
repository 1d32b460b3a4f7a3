use super::*;
use gomod::sumdb::proof;

const NAME: &str = "sum.own.example";

fn h(i: usize) -> String {
    format!("h1:{:043}=", i)
}

#[test]
fn appends_survive_a_restart_and_prove_inclusion() {
    let dir = tempfile::tempdir().unwrap();
    let log = OwnLog::open(dir.path(), NAME).unwrap();
    for i in 0..300 {
        log.append(&format!("corp.example/m{i}"), "v1.0.0", &h(i), &h(i + 1000)).unwrap();
    }
    // Appending the same again is a no-op; other hashes for a logged version are refused.
    log.append("corp.example/m7", "v1.0.0", &h(7), &h(1007)).unwrap();
    assert!(log.append("corp.example/m7", "v1.0.0", &h(8), &h(1007)).is_err());
    assert_eq!(log.size(), 300);
    let head = log.serve(&SumdbPath::Latest).unwrap().unwrap();
    drop(log);

    let log = OwnLog::open(dir.path(), NAME).unwrap();
    assert_eq!(log.serve(&SumdbPath::Latest).unwrap().unwrap(), head);
    let path = SumdbPath::Lookup { module: "corp.example/m42".into(), version: "v1.0.0".into(), rel: String::new() };
    let answer = log.serve(&path).unwrap().unwrap();
    let (id, text, signed) = record::parse_record(&answer).unwrap();
    let tree = record::parse_tree(&note::open(signed, std::slice::from_ref(&log.verifier)).unwrap().text).unwrap();
    assert_eq!((id, tree.n), (42, 300));
    let st = log.read();
    let p = proof::prove_record(tree.n, id, &st.hashes).unwrap();
    proof::check_record(&p, tree.n, &tree.hash, id, &tlog::record_hash(text)).unwrap();
    // Tiles: the full first tile, the partial edge, nothing past the tree.
    let full = Tile { h: 8, l: 0, n: 0, w: 256 };
    assert_eq!(st.tile(&full).unwrap().unwrap().len(), 256 * 32);
    assert_eq!(st.tile(&Tile { h: 8, l: 0, n: 1, w: 44 }).unwrap().unwrap().len(), 44 * 32);
    assert!(st.tile(&Tile { h: 8, l: 0, n: 1, w: 45 }).unwrap().is_none());
    assert!(st.tile(&Tile { h: 8, l: 1, n: 0, w: 1 }).unwrap().is_some());
    assert!(st.tile(&Tile { h: 8, l: 63, n: 0, w: 1 }).unwrap().is_none());
    assert!(st.tile(&Tile { h: 8, l: 2, n: i64::MAX / 1000, w: 1 }).unwrap().is_none());
    let data = st.tile(&Tile { h: 8, l: -1, n: 1, w: 2 }).unwrap().unwrap();
    assert!(data.starts_with(b"corp.example/m256 v1.0.0 "), "{:?}", String::from_utf8_lossy(&data));
}

#[test]
fn unsigned_records_are_cut_and_changed_ones_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = OwnLog::open(dir.path(), NAME).unwrap();
        log.append("corp.example/a", "v1.0.0", &h(1), &h(2)).unwrap();
    }
    // A kill -9 after a record was written but before its head was signed.
    let rec = dir.path().join("records");
    let mut bytes = std::fs::read(&rec).unwrap();
    let whole = bytes.len();
    let extra = b"corp.example/b v1.0.0 h1:x=\ncorp.example/b v1.0.0/go.mod h1:y=\n";
    bytes.extend_from_slice(&(extra.len() as u32).to_be_bytes());
    bytes.extend_from_slice(extra);
    bytes.extend_from_slice(&[0, 0, 1]); // and half of the next one
    std::fs::write(&rec, &bytes).unwrap();
    let log = OwnLog::open(dir.path(), NAME).unwrap();
    assert_eq!(log.size(), 1);
    assert!(log.record("corp.example/b", "v1.0.0").is_none());
    assert_eq!(std::fs::metadata(&rec).unwrap().len() as usize, whole);
    drop(log);

    // One byte of a signed record changed: the log would have to change, so it does not open.
    let mut bytes = std::fs::read(&rec).unwrap();
    let at = bytes.len() - 3;
    bytes[at] ^= 1;
    std::fs::write(&rec, &bytes).unwrap();
    let e = OwnLog::open(dir.path(), NAME).err().unwrap();
    assert!(e.contains("will not be rewritten"), "{e}");
    // Records lost: the same.
    std::fs::write(&rec, b"").unwrap();
    let e = OwnLog::open(dir.path(), NAME).err().unwrap();
    assert!(e.contains("will not be rewritten"), "{e}");
}
