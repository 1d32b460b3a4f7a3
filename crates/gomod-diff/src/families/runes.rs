//! The Unicode facts gomod keeps in tables of Go's (`unicode.IsLetter`, `IsPrint`, `IsSpace`
//! and zip's simple case folding), for every scalar value.

use super::{Case, Family};
use crate::oracle::Request;
use gomod::uni;
use rand::rngs::SmallRng;
use rand::Rng;

/// How many Unicode scalar values there are (surrogates are not `char`s).
const SCALARS: u64 = 0x11_0000 - 0x800;

/// Every scalar value once (surrogates are not `char`s), then random ones.
fn scalar(rng: &mut SmallRng, i: u64) -> char {
    let n = if i < 0xD800 { i } else { i + 0x800 };
    char::from_u32(n as u32).unwrap_or_else(|| char::from_u32(rng.random_range(0..0xD800)).unwrap_or('a'))
}

fn rune_case(rng: &mut SmallRng, i: u64) -> Case {
    let c = scalar(rng, i);
    let ours = format!("{} {} {} {}", uni::is_letter(c), uni::is_print(c), uni::is_space(c), uni::fold(c) as u32);
    let mut buf = [0u8; 4];
    Case { req: Request::new("rune", &[c.encode_utf8(&mut buf).as_bytes()]), ours: ours.into_bytes() }
}

pub const RUNES: Family = Family {
    name: "unicode",
    what: "unicode.IsLetter, IsPrint, IsSpace, zip's simple folding",
    case: rune_case,
    cost: 1,
    at_least: SCALARS,
    known: None,
};
