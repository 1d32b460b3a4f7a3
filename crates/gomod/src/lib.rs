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
//! against the vectors in `shared/spec/go-modules.md`.

pub mod dirhash;
pub mod glob;
pub mod goimport;
pub mod modfile;
pub mod path;
pub mod proxylist;
pub mod pseudo;
pub mod semver;
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
