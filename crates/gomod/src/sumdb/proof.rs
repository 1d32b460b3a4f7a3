//! RFC 6962 proofs over the log: that a record is in a tree (an audit path), and that an
//! older tree is a prefix of a newer one (a consistency proof). Proofs are built from stored
//! hashes and checked against signed roots.

use super::tlog::{node_hash, range_hash, split_point, Hash, HashReader};
use super::SumdbError;

fn fail(what: &str) -> SumdbError {
    SumdbError::Proof(what.to_string())
}

/// The audit path of record `n` in the tree of `t` records, deepest sibling first.
pub fn prove_record(t: i64, n: i64, r: &dyn HashReader) -> Result<Vec<Hash>, SumdbError> {
    if n < 0 || n >= t {
        return Err(SumdbError::NotInTree(n));
    }
    let mut proof = Vec::new();
    audit_path(n, 0, t, r, &mut proof)?;
    Ok(proof)
}

fn audit_path(m: i64, lo: i64, hi: i64, r: &dyn HashReader, out: &mut Vec<Hash>) -> Result<(), SumdbError> {
    if hi - lo <= 1 {
        return Ok(());
    }
    let k = split_point(hi - lo);
    if m < lo + k {
        audit_path(m, lo, lo + k, r, out)?;
        out.push(range_hash(lo + k, hi, r)?);
    } else {
        audit_path(m, lo + k, hi, r, out)?;
        out.push(range_hash(lo, lo + k, r)?);
    }
    Ok(())
}

/// Checks that `leaf` is record `n` of the tree of `t` records whose root is `root`.
pub fn check_record(proof: &[Hash], t: i64, root: &Hash, n: i64, leaf: &Hash) -> Result<(), SumdbError> {
    if n < 0 || n >= t {
        return Err(SumdbError::NotInTree(n));
    }
    match root_from_path(proof, n, 0, t, leaf) {
        Some(h) if h == *root => Ok(()),
        Some(_) => Err(fail("the record is not in the signed tree")),
        None => Err(fail("malformed record proof")),
    }
}

fn root_from_path(proof: &[Hash], m: i64, lo: i64, hi: i64, leaf: &Hash) -> Option<Hash> {
    if hi - lo <= 1 {
        return proof.is_empty().then_some(*leaf);
    }
    let (last, rest) = proof.split_last()?;
    let k = split_point(hi - lo);
    if m < lo + k {
        Some(node_hash(&root_from_path(rest, m, lo, lo + k, leaf)?, last))
    } else {
        Some(node_hash(last, &root_from_path(rest, m, lo + k, hi, leaf)?))
    }
}

/// The proof that the tree of `n` records is a prefix of the tree of `t` records.
pub fn prove_tree(t: i64, n: i64, r: &dyn HashReader) -> Result<Vec<Hash>, SumdbError> {
    if n < 0 || n > t {
        return Err(fail("the older tree is larger"));
    }
    let mut proof = Vec::new();
    if n > 0 && n < t {
        sub_proof(n, 0, t, true, r, &mut proof)?;
    }
    Ok(proof)
}

fn sub_proof(m: i64, lo: i64, hi: i64, whole: bool, r: &dyn HashReader, out: &mut Vec<Hash>) -> Result<(), SumdbError> {
    if m == hi {
        if !whole {
            out.push(range_hash(lo, hi, r)?);
        }
        return Ok(());
    }
    let k = split_point(hi - lo);
    if m <= lo + k {
        sub_proof(m, lo, lo + k, whole, r, out)?;
        out.push(range_hash(lo + k, hi, r)?);
    } else {
        sub_proof(m, lo + k, hi, false, r, out)?;
        out.push(range_hash(lo, lo + k, r)?);
    }
    Ok(())
}

/// Checks that the tree of `n` records with root `old` is a prefix of the tree of `t`
/// records with root `new`.
pub fn check_tree(proof: &[Hash], t: i64, new: &Hash, n: i64, old: &Hash) -> Result<(), SumdbError> {
    if n < 0 || n > t {
        return Err(fail("the older tree is larger"));
    }
    if n == t {
        return if proof.is_empty() && old == new { Ok(()) } else { Err(fail("two different trees of one size")) };
    }
    if n == 0 {
        return Ok(());
    }
    match roots_from_proof(proof, n, 0, t, true, old) {
        Some((o, nw)) if o == *old && nw == *new => Ok(()),
        Some(_) => Err(fail("the older tree is not a prefix of the newer one")),
        None => Err(fail("malformed consistency proof")),
    }
}

/// The (older, newer) hashes of leaves `lo..hi` rebuilt from a consistency proof.
fn roots_from_proof(proof: &[Hash], m: i64, lo: i64, hi: i64, whole: bool, old: &Hash) -> Option<(Hash, Hash)> {
    if m == hi {
        return match (whole, proof) {
            (true, []) => Some((*old, *old)),
            (false, [h]) => Some((*h, *h)),
            _ => None,
        };
    }
    let (last, rest) = proof.split_last()?;
    let k = split_point(hi - lo);
    if m <= lo + k {
        let (o, nw) = roots_from_proof(rest, m, lo, lo + k, whole, old)?;
        Some((o, node_hash(&nw, last)))
    } else {
        let (o, nw) = roots_from_proof(rest, m, lo + k, hi, false, old)?;
        Some((node_hash(last, &o), node_hash(last, &nw)))
    }
}
