//! The transparent log's hashing (RFC 6962) and the layout of its stored hashes.
//!
//! Record `n` is leaf `n`; a complete subtree of `2^level` leaves starting at leaf
//! `k * 2^level` is "hash (level, k)". The log stores every such hash once, in the order the
//! records were appended: record `n`'s leaf hash, then each subtree it completed.

use super::SumdbError;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;

pub const HASH_SIZE: usize = 32;

/// A SHA-256 hash of the log.
pub type Hash = [u8; HASH_SIZE];

/// The leaf hash of a record's text: `SHA256(0x00 || data)`.
pub fn record_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// An interior node's hash: `SHA256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The hash of the tree with no records.
pub fn empty_tree_hash() -> Hash {
    Sha256::digest([]).into()
}

/// Where hash (level, n) sits in the list of stored hashes.
pub fn stored_hash_index(level: u32, n: i64) -> i64 {
    // The hash is stored with the last record of its subtree, right after the hashes of the
    // lower levels that record completed.
    let last = ((n + 1) << level) - 1;
    stored_hash_count(last) + level as i64
}

/// How many hashes records `0..n` store: each record stores its leaf and one hash for each
/// subtree it completes, so the count is `sum(n >> j)` for `j >= 0`, i.e. `2n - popcount(n)`.
pub fn stored_hash_count(n: i64) -> i64 {
    2 * n - i64::from(n.count_ones())
}

/// The (level, n) of the stored hash at `index`.
pub fn split_stored_hash_index(index: i64) -> (u32, i64) {
    // Find the record whose hashes include `index`: record r stores hashes
    // stored_hash_count(r) .. stored_hash_count(r + 1), and stored_hash_count(r) <= 2r.
    let mut r = index / 2;
    while stored_hash_count(r + 1) <= index {
        r += 1;
    }
    while r > 0 && stored_hash_count(r) > index {
        r -= 1;
    }
    let level = (index - stored_hash_count(r)) as u32;
    (level, r >> level)
}

/// Reads stored hashes by index.
pub trait HashReader {
    fn read_hashes(&self, indexes: &[i64]) -> Result<Vec<Hash>, SumdbError>;
}

/// All stored hashes, in order.
impl HashReader for Vec<Hash> {
    fn read_hashes(&self, indexes: &[i64]) -> Result<Vec<Hash>, SumdbError> {
        indexes
            .iter()
            .map(|&i| usize::try_from(i).ok().and_then(|i| self.get(i)).copied().ok_or(SumdbError::NotInTree(i)))
            .collect()
    }
}

/// A reader that answers zero hashes and remembers what was asked: run a computation once
/// with it to learn which hashes (and so which tiles) the real run needs.
#[derive(Default)]
pub struct Recorder {
    pub wanted: std::cell::RefCell<BTreeSet<i64>>,
}

impl HashReader for Recorder {
    fn read_hashes(&self, indexes: &[i64]) -> Result<Vec<Hash>, SumdbError> {
        self.wanted.borrow_mut().extend(indexes.iter().copied());
        Ok(vec![[0u8; HASH_SIZE]; indexes.len()])
    }
}

/// The hashes record `n` (whose leaf hash is `leaf`) adds to the stored list: the leaf and
/// each subtree it completes, read from the hashes stored before it.
pub fn stored_hashes_for_record(n: i64, leaf: Hash, r: &dyn HashReader) -> Result<Vec<Hash>, SumdbError> {
    let completes = (n + 1).trailing_zeros();
    // The left sibling at each level, lowest level first.
    let siblings: Vec<i64> = (0..completes).map(|i| stored_hash_index(i, (n >> i) - 1)).collect();
    let old = r.read_hashes(&siblings)?;
    let mut out = Vec::with_capacity(completes as usize + 1);
    let mut h = leaf;
    out.push(h);
    for left in &old {
        h = node_hash(left, &h);
        out.push(h);
    }
    Ok(out)
}

/// The largest power of two below `n` (n >= 2), and its exponent.
pub(super) fn split_point(n: i64) -> i64 {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// The stored hashes that together cover leaves `lo..hi`, largest subtree first. `lo` must
/// be aligned to the subtrees that make up the range (true for every range RFC 6962 proofs
/// and tree hashes use).
pub fn cover(lo: i64, hi: i64) -> Result<Vec<i64>, SumdbError> {
    let mut out = Vec::new();
    let mut lo = lo;
    while lo < hi {
        let mut level = 0u32;
        while (1i64 << (level + 1)) <= hi - lo {
            level += 1;
        }
        if lo & ((1i64 << level) - 1) != 0 {
            return Err(SumdbError::Proof(format!("range {lo}..{hi} is not aligned")));
        }
        out.push(stored_hash_index(level, lo >> level));
        lo += 1i64 << level;
    }
    Ok(out)
}

/// The hash of leaves `lo..hi` (RFC 6962 MTH), from stored hashes.
pub fn range_hash(lo: i64, hi: i64, r: &dyn HashReader) -> Result<Hash, SumdbError> {
    if lo >= hi {
        return Ok(empty_tree_hash());
    }
    let hashes = r.read_hashes(&cover(lo, hi)?)?;
    let mut iter = hashes.iter().rev();
    let mut h = *iter.next().ok_or_else(|| SumdbError::Proof("no hashes".into()))?;
    for left in iter {
        h = node_hash(left, &h);
    }
    Ok(h)
}

/// The root hash of the tree of the first `n` records.
pub fn tree_hash(n: i64, r: &dyn HashReader) -> Result<Hash, SumdbError> {
    range_hash(0, n, r)
}
