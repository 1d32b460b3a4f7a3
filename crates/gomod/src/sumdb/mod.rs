//! The checksum database's formats (`golang.org/x/mod/sumdb`): signed notes ([`note`]), the
//! transparent log's hashes and tiles ([`tlog`], [`tile`]), proofs that a record is in a tree
//! and that one tree is a prefix of another ([`proof`]), and lookup answers ([`record`]).
//! Pure and synchronous: where hashes must be read from tiles, the caller supplies a
//! [`tlog::HashReader`]; [`tlog::Recorder`] lists the hashes a computation needs first, so
//! the caller can fetch the tiles that hold them.

pub mod note;
pub mod proof;
pub mod record;
pub mod tile;
pub mod tlog;

#[cfg(test)]
mod tests;

/// Why a checksum-database answer, key or tree was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SumdbError {
    #[error("malformed note")]
    MalformedNote,
    #[error("invalid signature for key {0}")]
    InvalidSignature(String),
    #[error("no signature by a known key ({0})")]
    Unverified(String),
    #[error("malformed verifier key")]
    BadVerifierKey,
    #[error("malformed signer key")]
    BadSignerKey,
    #[error("key hash does not match the key")]
    KeyHashMismatch,
    #[error("unknown key algorithm")]
    UnknownAlgorithm,
    #[error("malformed tree note")]
    MalformedTree,
    #[error("malformed record")]
    MalformedRecord,
    #[error("malformed tile path")]
    MalformedTile,
    #[error("tile has {got} bytes, want {want}")]
    ShortTile { got: usize, want: usize },
    #[error("hash index {0} is not in the tree")]
    NotInTree(i64),
    #[error("{0}")]
    Proof(String),
}
