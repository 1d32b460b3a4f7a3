//! The function families compared. Each makes case number `i` of a run: the request for the
//! oracle and gomod's answer in the oracle's answer format.

use crate::oracle::Request;
use rand::rngs::SmallRng;

mod modfile;
mod paths;
mod pseudo;
mod runes;
mod semver;
mod zips;

/// One generated case: the question for Go and gomod's answer to it.
pub struct Case {
    pub req: Request,
    pub ours: Vec<u8>,
}

/// Names the documented reason when a disagreement (Go's answer, gomod's) is an intentional
/// difference.
pub type Known = fn(go: &[u8], ours: &[u8]) -> Option<&'static str>;

/// A family of functions compared together.
pub struct Family {
    pub name: &'static str,
    /// What it compares, for reports.
    pub what: &'static str,
    pub case: fn(&mut SmallRng, u64) -> Case,
    /// Cases cost more than a string check (files on disk): runs use `count / cost`.
    pub cost: u64,
    /// Runs compare at least this many cases (exhaustive families: every input once).
    pub at_least: u64,
    /// Documented intentional differences: names the reason when a disagreement is one.
    pub known: Option<Known>,
}

pub fn zips_scratch() -> std::path::PathBuf {
    zips::scratch_root()
}

pub const ALL: &[Family] = &[
    semver::SEMVER,
    semver::COMPARE,
    semver::SORT,
    paths::PATHS,
    paths::MAJOR,
    paths::CHECK,
    paths::GLOB,
    pseudo::PSEUDO,
    pseudo::MAKE,
    modfile::MODFILE,
    runes::RUNES,
    zips::HASH1,
    zips::ZIP,
    zips::ZIP_BYTES,
    zips::FILES,
    zips::DIR,
];

pub(crate) fn b(x: bool) -> &'static str {
    if x {
        "true"
    } else {
        "false"
    }
}

pub(crate) fn val_err<T: std::fmt::Display, E>(r: Result<T, E>) -> String {
    match r {
        Ok(v) => format!("ok {v}"),
        Err(_) => "err".into(),
    }
}

pub(crate) fn ok_err<T, E>(r: Result<T, E>) -> &'static str {
    if r.is_ok() {
        "ok"
    } else {
        "err"
    }
}

impl Family {
    /// How many cases a run of `count` makes of this family.
    pub fn cases(&self, count: u64) -> u64 {
        (count / self.cost).max(self.at_least).max(1)
    }
}
