//! The Go module domain, pure and synchronous: no network, no async, no storage.
//!
//! ```
//! use gomod::{path, semver};
//! assert_eq!(path::escape_path("github.com/Azure/x").unwrap(), "github.com/!azure/x");
//! assert!(semver::compare("v1.10.0", "v1.9.0").is_gt());
//! assert_eq!(gomod::dirhash::hash_go_mod(b"module golang.org/x/text\n"),
//!            "h1:NqM8EUOU14njkJ3fqMW+pc6Ldnwhi/IjpwHt7yyuwOQ=");
//! ```
//!
//! Each module mirrors one package of `golang.org/x/mod` (or of the go command) and is tested
//! against the vectors in `shared/spec/go-modules.md`, and differentially against x/mod itself
//! (`crates/gomod-diff`: millions of generated inputs, every answer compared).
//!
//! Unicode questions (`unicode.IsLetter` for file names, `IsPrint`/`IsSpace` for go.mod tokens,
//! the simple case folding of zip collisions) are answered from the tables of the Go release in
//! [`gounicode`] (generated from Go 1.26, Unicode 15.0.0), not from Rust's newer ones.
//!
//! # Intentional differences from x/mod
//!
//! - Functions take `&str` where Go takes any bytes; go.mod text is read as bytes, and a module
//!   path or version that is not UTF-8 after unquoting is returned with U+FFFD replacements
//!   (no such path passes [`path::check_path`]).
//! - [`zipcheck::check_zip`] reads zips with the `zip` crate: on *damaged* archives (a broken
//!   end record, offsets that point nowhere) it may refuse one Go's `archive/zip` reads, or the
//!   other way round. Every archive both read gets the same answer.
//! - [`dirhash::hash_zip`] refuses an archive with two entries of one name (Go hashes the last
//!   of them once per entry; the go command then refuses to extract it). `check_zip` follows Go
//!   exactly there: repeated directories are allowed, repeated files refused.
//! - [`dirhash::Hash1`] hashes each file's own content: Go's `Hash1` opens files by name, so two
//!   files of one name cannot differ there.

pub mod dirhash;
pub mod glob;
pub mod goimport;
pub mod gosum;
#[rustfmt::skip]
pub mod gounicode;
pub mod gover;
pub mod modfile;
pub mod path;
pub mod proxylist;
pub mod pseudo;
pub mod semver;
pub mod sumdb;
pub mod uni;
pub mod vcs;
pub mod zipcheck;
pub mod zipcreate;

/// Module zip and go.mod size limits (spec §4.2).
pub mod limits {
    /// Largest module zip file the go command accepts.
    pub const MAX_ZIP_FILE: u64 = 524_288_000;
    /// Largest go.mod file.
    pub const MAX_GO_MOD: u64 = 16 << 20;
    /// Largest LICENSE file.
    pub const MAX_LICENSE: u64 = 16 << 20;
}
