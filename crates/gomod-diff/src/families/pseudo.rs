//! `golang.org/x/mod/module` pseudo-versions: recognition, base, revision, time, generation.

use super::{b, Case, Family};
use crate::gen::{mutate_pick, pick};
use crate::oracle::Request;
use gomod::pseudo;
use rand::rngs::SmallRng;
use rand::Rng;

const SAMPLES: &[&str] = &[
    "v0.0.0-20191109021931-daa7c04131f5",
    "v1.0.0-20191109021931-daa7c04131f5",
    "v2.0.0-20191109021931-daa7c04131f5+incompatible",
    "v1.2.4-0.20191109021931-daa7c04131f5",
    "v1.2.3-pre.0.20060102150405-abcdefabcdef",
    "v1.2.3-pre.0.20060102150405-abcdefabcdef+build",
    "v2.0.1-0.20200722182040-012345abcdef+incompatible",
    "v0.0.1-0.20000101000000-000000000000",
    "v1.0.0-0.20000101000000-000000000000",
    "v1.2.3-rc.1.0.20240229235959-abcdefabcdef",
    "v0.0.0-20230230120000-abcdefabcdef",
    "v0.0.0-20231231240000-abcdefabcdef",
    "v0.0.0-20231231235960-abcdefabcdef",
    "v0.0.0-00000101000000-abcdefabcdef",
    "v1.2.3-0.20191109021931-",
    "v1.9.0-0.20191109021931-x",
];

const ALPHABET: &[char] = &['0', '1', '2', '9', '-', '.', 'v', 'a', '+'];

fn pseudo_case(rng: &mut SmallRng, _i: u64) -> Case {
    let v = mutate_pick(rng, SAMPLES, ALPHABET);
    let opt = |o: Option<String>| o.map(|s| format!("ok {s}")).unwrap_or_else(|| "err".into());
    let ours = [
        b(pseudo::is_pseudo_version(&v)).to_string(),
        b(pseudo::is_zero_pseudo_version(&v)).to_string(),
        opt(pseudo::base_version(&v)),
        opt(pseudo::rev(&v).map(str::to_string)),
        opt(pseudo::time(&v)),
    ]
    .join("\n");
    Case { req: Request::new("pseudo", &[v.as_bytes()]), ours: ours.into_bytes() }
}

fn timestamp(rng: &mut SmallRng) -> String {
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        rng.random_range(1970..2100),
        rng.random_range(1..=12),
        rng.random_range(1..=28),
        rng.random_range(0..24),
        rng.random_range(0..60),
        rng.random_range(0..60)
    )
}

const OLDER: &[&str] = &[
    "",
    "v0.0.0",
    "v1.2.3",
    "v1.2.99999999999999999",
    "v1.2.3-pre",
    "v1.3.0-pre",
    "v0.0.0--",
    "v2.0.0+incompatible",
    "v2.3.0-pre+incompatible",
    "v1.0.0+meta",
    "v1.2",
    "v1",
    "v1.2.3-",
    "1.2.3",
    "v1.2.9",
    "v1.9.9",
];

fn make_case(rng: &mut SmallRng, _i: u64) -> Case {
    let major = pick(rng, &["", "v0", "v1", "v2", "v10"]).to_string();
    let older = if rng.random_bool(0.6) { pick(rng, OLDER).to_string() } else { mutate_pick(rng, OLDER, ALPHABET) };
    let ts = timestamp(rng);
    let rev = pick(rng, &["abcdefabcdef", "hash", "0123456789ab", ""]).to_string();
    let ours = pseudo::pseudo_version(&major, &older, &ts, &rev);
    Case {
        req: Request::new("pseudo.make", &[major.as_bytes(), older.as_bytes(), ts.as_bytes(), rev.as_bytes()]),
        ours: ours.into_bytes(),
    }
}

pub const PSEUDO: Family = Family {
    name: "pseudo",
    what: "IsPseudoVersion, IsZeroPseudoVersion, PseudoVersionBase, PseudoVersionRev, PseudoVersionTime",
    case: pseudo_case,
    cost: 1,
    at_least: 0,
    known: None,
};
pub const MAKE: Family =
    Family { name: "pseudo-make", what: "PseudoVersion", case: make_case, cost: 1, at_least: 0, known: None };
