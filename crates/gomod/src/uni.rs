//! Unicode as the go command sees it: `unicode.IsLetter`, `unicode.IsPrint`,
//! `unicode.IsSpace` and the simple case folding of zip's collision check, from the tables of
//! the Go release in [`gounicode`](crate::gounicode) rather than Rust's, whose newer Unicode
//! version calls more characters letters.

use crate::gounicode::{FOLD, LETTER, PRINT, SPACE};

fn in_table(table: &[(u32, u32)], c: char) -> bool {
    let c = c as u32;
    table
        .binary_search_by(|&(lo, hi)| {
            if hi < c {
                std::cmp::Ordering::Less
            } else if lo > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// `unicode.IsLetter`.
pub fn is_letter(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphabetic();
    }
    in_table(LETTER, c)
}

/// `unicode.IsPrint`: letters, marks, numbers, punctuation, symbols and the ASCII space.
pub fn is_print(c: char) -> bool {
    if c.is_ascii() {
        return (' '..='~').contains(&c);
    }
    in_table(PRINT, c)
}

/// `unicode.IsSpace`.
pub fn is_space(c: char) -> bool {
    in_table(SPACE, c)
}

/// The representative of `c`'s simple-folding orbit: the smallest character of the orbit,
/// with `A`–`Z` taken as `a`–`z` (x/mod's `strToFold`). Two names collide in a module zip when
/// their characters fold alike.
pub fn fold(c: char) -> char {
    match FOLD.binary_search_by_key(&(c as u32), |&(from, _)| from) {
        Ok(i) => char::from_u32(FOLD[i].1).unwrap_or(c),
        Err(_) => c,
    }
}

/// [`fold`] over a string.
pub fn fold_str(s: &str) -> String {
    if s.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) {
        return s.to_string();
    }
    s.chars().map(fold).collect()
}

/// `utf8.DecodeRune`: the first character of `s` and its length; U+FFFD and 1 for a byte
/// that does not start a valid encoding; `('\0', 0)` for empty input.
pub fn decode_rune(s: &[u8]) -> (char, usize) {
    if s.is_empty() {
        return ('\0', 0);
    }
    if s[0] < 0x80 {
        return (s[0] as char, 1);
    }
    let chunk = &s[..s.len().min(4)];
    let valid = match std::str::from_utf8(chunk) {
        Ok(v) => v,
        Err(e) => std::str::from_utf8(&chunk[..e.valid_up_to()]).unwrap_or(""),
    };
    match valid.chars().next() {
        Some(c) => (c, c.len_utf8()),
        None => ('\u{FFFD}', 1),
    }
}

/// `bytes.TrimSpace`: without leading and trailing Go white space.
pub fn trim_space(mut s: &[u8]) -> &[u8] {
    loop {
        let (c, n) = decode_rune(s);
        if n == 0 || !is_space(c) || (c == '\u{FFFD}' && n == 1) {
            break;
        }
        s = &s[n..];
    }
    'outer: while !s.is_empty() {
        for k in 1..=3.min(s.len()) {
            if let Ok(t) = std::str::from_utf8(&s[s.len() - k..]) {
                let mut chars = t.chars();
                if let (Some(c), None) = (chars.next(), chars.next()) {
                    if is_space(c) {
                        s = &s[..s.len() - k];
                        continue 'outer;
                    }
                    break 'outer;
                }
            }
        }
        break;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_tables_not_rust_ones() {
        // Letters to Rust (alphabetic: Nl, Other_Alphabetic) but not to Go's unicode.IsLetter.
        for c in ['\u{2160}', '\u{24b6}', '\u{93e}'] {
            assert!(c.is_alphabetic() && !is_letter(c), "{c:?}");
        }
        assert!(is_letter('é') && is_letter('本') && !is_letter('1') && !is_letter('_'));
        assert!(is_print(' ') && !is_print('\u{a0}') && !is_print('\t') && is_print('\u{301}'));
        assert!(is_space('\u{85}') && is_space('\u{3000}') && !is_space('\u{200b}'));
        assert_eq!(fold('\u{212a}'), 'k');
        assert_eq!(fold('K'), 'k');
        assert_eq!(fold('\u{17f}'), 's');
        assert_eq!(fold('\u{130}'), '\u{130}');
        assert_eq!(fold('\u{3c2}'), fold('\u{3a3}'));
        assert_eq!(fold('\u{df}'), '\u{df}');
        assert_eq!(fold_str("Go.MOD"), "go.mod");
    }
}
