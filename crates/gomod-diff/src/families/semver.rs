//! `golang.org/x/mod/semver`: validity, canonical form, parts, ordering and sorting.

use super::{b, Case, Family};
use crate::gen::{mutate, mutate_pick, pick, shortlex, shortlex_count};
use crate::oracle::Request;
use gomod::semver;
use rand::rngs::SmallRng;
use rand::Rng;

const ALPHABET: &[char] = &['v', '0', '1', '2', '.', '-', '+', 'a', 'A'];
const MAX_LEN: u32 = 6;

pub(crate) const SAMPLES: &[&str] = &[
    "v1.2.3",
    "v0.0.0",
    "v1",
    "v1.2",
    "v1.2.3-pre",
    "v1.2.3-pre.1",
    "v1.2.3-0.20060102150405-abcdefabcdef",
    "v2.0.0+incompatible",
    "v1.2.3+meta.1",
    "v1.0.0-rc.1+build.5",
    "v1.0.0-alpha.beta",
    "v1.0.0-alpha.1.2-x",
    "v10.20.30",
    "v99999999999999999999.0.0",
    "v1.2.3-01",
    "v1.2.3-x-y-z.-",
    "v0.0.0-20191109021931-daa7c04131f5",
];

/// A version-like string: every short string first, then edits of the samples.
pub(crate) fn version(rng: &mut SmallRng, i: u64) -> String {
    if i < shortlex_count(ALPHABET, MAX_LEN) {
        if let Some(s) = shortlex(ALPHABET, MAX_LEN, i) {
            return s;
        }
    }
    mutate_pick(rng, SAMPLES, ALPHABET)
}

fn random_version(rng: &mut SmallRng) -> String {
    if rng.random_bool(0.5) {
        pick(rng, SAMPLES).to_string()
    } else {
        let i = rng.random_range(0..shortlex_count(ALPHABET, MAX_LEN) * 2);
        version(rng, i)
    }
}

fn semver_case(rng: &mut SmallRng, i: u64) -> Case {
    let v = version(rng, i);
    let ours = [
        b(semver::is_valid(&v)).to_string(),
        semver::canonical(&v),
        semver::major(&v),
        semver::major_minor(&v),
        semver::prerelease(&v).to_string(),
        semver::build(&v).to_string(),
    ]
    .join("\n");
    Case { req: Request::new("semver", &[v.as_bytes()]), ours: ours.into_bytes() }
}

fn compare_case(rng: &mut SmallRng, _i: u64) -> Case {
    let a = random_version(rng);
    let b = if rng.random_bool(0.3) { mutate(rng, &a, ALPHABET) } else { random_version(rng) };
    let ours = (semver::compare(&a, &b) as i8).to_string();
    Case { req: Request::new("semver.cmp", &[a.as_bytes(), b.as_bytes()]), ours: ours.into_bytes() }
}

fn sort_case(rng: &mut SmallRng, _i: u64) -> Case {
    let n = rng.random_range(0..8);
    let mut list: Vec<String> = (0..n).map(|_| random_version(rng)).collect();
    let args: Vec<&[u8]> = list.iter().map(|s| s.as_bytes()).collect();
    let req = Request::new("semver.sort", &args);
    semver::sort(&mut list);
    Case { req, ours: list.join("\n").into_bytes() }
}

pub const SEMVER: Family = Family {
    name: "semver",
    what: "IsValid, Canonical, Major, MajorMinor, Prerelease, Build",
    case: semver_case,
    cost: 1,
    at_least: 0,
    known: None,
};
pub const COMPARE: Family =
    Family { name: "semver-compare", what: "Compare", case: compare_case, cost: 1, at_least: 0, known: None };
pub const SORT: Family =
    Family { name: "semver-sort", what: "Sort", case: sort_case, cost: 1, at_least: 0, known: None };
