//! Input generators: every short string over a small alphabet (shortlex order), and random
//! edits of valid samples with characters chosen to sit on the rules' corners.

use rand::rngs::SmallRng;
use rand::Rng;

/// Characters that sit on corners of the rules: ASCII punctuation the file-name rules split,
/// letters Rust and Go's Unicode tables disagree on (Roman numerals, circled letters, combining
/// and spacing marks), case-folding oddities (Kelvin sign, long s, dotted I, sharp s, sigmas),
/// spaces of several kinds, a BOM, and control characters.
pub const TRICKY: &[char] = &[
    'a',
    'z',
    'A',
    'Z',
    '0',
    '1',
    '9',
    '.',
    '/',
    '-',
    '_',
    '~',
    '+',
    '!',
    '@',
    '#',
    '$',
    '%',
    '&',
    '(',
    ')',
    ',',
    '=',
    '[',
    ']',
    '^',
    '{',
    '}',
    ' ',
    '"',
    '\'',
    '*',
    '<',
    '>',
    '?',
    '`',
    '|',
    ':',
    ';',
    '\\',
    '\t',
    '\n',
    '\r',
    '\0',
    '\u{7f}',
    '\u{85}',
    '\u{a0}',
    'é',
    'É',
    'ß',
    'ſ',
    'K',
    'İ',
    'ı',
    'Σ',
    'σ',
    'ς',
    'Ⅰ',
    'ⅰ',
    'Ⓐ',
    'ⓐ',
    'ा',
    '\u{301}',
    '\u{feff}',
    '\u{200b}',
    '\u{2028}',
    '\u{3000}',
    'Ａ',
    'ａ',
    '本',
    '😀',
    '\u{1e900}',
    '\u{1e922}',
    'ǅ',
    'ǆ',
    'Ǆ',
    '\u{10fffd}',
    '\u{e000}',
    'ꟊ',
    'Ɤ',
    '\u{16fe4}',
    '\u{31350}',
    '\u{1b132}',
    '\u{1df25}',
];

/// The `i`-th string over `alphabet` in shortlex order (the empty string first), or `None`
/// past the strings of length `max_len`.
pub fn shortlex(alphabet: &[char], max_len: u32, mut i: u64) -> Option<String> {
    let k = alphabet.len() as u64;
    let mut len = 0u32;
    let mut count = 1u64;
    while i >= count {
        i -= count;
        len += 1;
        if len > max_len {
            return None;
        }
        count = count.checked_mul(k)?;
    }
    let mut out = vec![alphabet[0]; len as usize];
    for slot in out.iter_mut().rev() {
        *slot = alphabet[(i % k) as usize];
        i /= k;
    }
    Some(out.into_iter().collect())
}

/// How many strings `shortlex` yields for `alphabet` up to `max_len`.
pub fn shortlex_count(alphabet: &[char], max_len: u32) -> u64 {
    let k = alphabet.len() as u64;
    (0..=max_len).map(|l| k.pow(l)).sum()
}

pub fn pick<'a, T>(rng: &mut SmallRng, from: &'a [T]) -> &'a T {
    &from[rng.random_range(0..from.len())]
}

/// A few random edits of `sample`: insert, delete, replace or duplicate characters, with new
/// characters from `alphabet` (and now and then from [`TRICKY`]).
pub fn mutate(rng: &mut SmallRng, sample: &str, alphabet: &[char]) -> String {
    let mut c: Vec<char> = sample.chars().collect();
    let edits = rng.random_range(0..4);
    for _ in 0..edits {
        let ch = if rng.random_bool(0.2) { *pick(rng, TRICKY) } else { *pick(rng, alphabet) };
        let at = rng.random_range(0..=c.len());
        match rng.random_range(0..4) {
            0 => c.insert(at, ch),
            1 if at < c.len() => {
                c.remove(at);
            }
            2 if at < c.len() => c[at] = ch,
            3 if at < c.len() => {
                let end = rng.random_range(at..=c.len());
                let dup: Vec<char> = c[at..end].to_vec();
                c.splice(at..at, dup);
            }
            _ => c.push(ch),
        }
    }
    c.into_iter().collect()
}

/// [`mutate`] of a sample picked from `samples`.
pub fn mutate_pick(rng: &mut SmallRng, samples: &[&str], alphabet: &[char]) -> String {
    let s = *pick(rng, samples);
    mutate(rng, s, alphabet)
}

/// A random string of up to `max` characters from `alphabet`.
pub fn random_string(rng: &mut SmallRng, alphabet: &[char], max: usize) -> String {
    let n = rng.random_range(0..=max);
    (0..n).map(|_| *pick(rng, alphabet)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortlex_enumerates_every_string_once() {
        let a = ['x', 'y'];
        let all: Vec<String> = (0..shortlex_count(&a, 2)).map(|i| shortlex(&a, 2, i).unwrap()).collect();
        assert_eq!(all, ["", "x", "y", "xx", "xy", "yx", "yy"]);
        assert_eq!(shortlex(&a, 2, 7), None);
    }
}
