//! `strconv.Unquote` for the quoted strings of go.mod files: Go's escapes, raw strings (carriage
//! returns dropped), and the same refusals.

/// `strconv.Unquote`: the bytes a Go string literal (`"…"`, `` `…` `` or `'…'`) stands for,
/// or `None` when `s` is not exactly one well-formed literal.
pub fn unquote(s: &[u8]) -> Option<Vec<u8>> {
    if s.len() < 2 {
        return None;
    }
    let quote = s[0];
    let end = s[1..].iter().position(|&b| b == quote)? + 2;
    match quote {
        b'`' => {
            if end != s.len() {
                return None;
            }
            Some(s[1..end - 1].iter().copied().filter(|&b| b != b'\r').collect())
        }
        b'"' | b'\'' => unquote_escaped(s, quote),
        _ => None,
    }
}

fn unquote_escaped(s: &[u8], quote: u8) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut rest = &s[1..];
    while let Some(&c) = rest.first() {
        if c == quote {
            break;
        }
        if c == b'\n' {
            return None;
        }
        let (bytes, tail) = unquote_char(rest, quote)?;
        out.extend_from_slice(&bytes);
        rest = tail;
        if quote == b'\'' {
            break;
        }
    }
    if rest != [quote] {
        return None;
    }
    Some(out)
}

/// One character of a literal: its bytes and the rest. Invalid UTF-8 decodes to U+FFFD, as
/// Go's slow path does.
fn unquote_char(s: &[u8], quote: u8) -> Option<(Vec<u8>, &[u8])> {
    let c = s[0];
    if c >= 0x80 {
        let (ch, n) = crate::uni::decode_rune(s);
        let mut buf = [0u8; 4];
        return Some((ch.encode_utf8(&mut buf).as_bytes().to_vec(), &s[n..]));
    }
    if c != b'\\' {
        return Some((vec![c], &s[1..]));
    }
    let e = *s.get(1)?;
    let s = &s[2..];
    let simple = |b: u8| Some((vec![b], s));
    match e {
        b'a' => simple(7),
        b'b' => simple(8),
        b'f' => simple(12),
        b'n' => simple(b'\n'),
        b'r' => simple(b'\r'),
        b't' => simple(b'\t'),
        b'v' => simple(11),
        b'\\' => simple(b'\\'),
        b'\'' | b'"' if e == quote => simple(e),
        b'x' | b'u' | b'U' => {
            let n = match e {
                b'x' => 2,
                b'u' => 4,
                _ => 8,
            };
            let digits = std::str::from_utf8(s.get(..n)?).ok()?;
            if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            let v = u32::from_str_radix(digits, 16).ok()?;
            if e == b'x' {
                return Some((vec![v as u8], &s[n..]));
            }
            let ch = char::from_u32(v)?;
            let mut buf = [0u8; 4];
            Some((ch.encode_utf8(&mut buf).as_bytes().to_vec(), &s[n..]))
        }
        b'0'..=b'7' => {
            let d = s.get(..2)?;
            if !d.iter().all(|b| (b'0'..=b'7').contains(b)) {
                return None;
            }
            let v = ((e - b'0') as u32) << 6 | ((d[0] - b'0') as u32) << 3 | (d[1] - b'0') as u32;
            if v > 255 {
                return None;
            }
            Some((vec![v as u8], &s[2..]))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_unquote() {
        let u = |s: &str| unquote(s.as_bytes()).map(|b| String::from_utf8_lossy(&b).into_owned());
        assert_eq!(u(r#""a\x41\101\u00e9\n""#).as_deref(), Some("aAAé\n"));
        assert_eq!(u("`a\r\\b`").as_deref(), Some("a\\b"));
        assert_eq!(u("'a'").as_deref(), Some("a"));
        for bad in [r#""a"#, r#""\'""#, r#""\400""#, r#""\ud800""#, "\"a\nb\"", "`a`b", r#""a"b""#, "'ab'", "x"] {
            assert_eq!(u(bad), None, "{bad:?}");
        }
        assert_eq!(unquote(b"\"\xff\\n\""), Some("\u{FFFD}\n".as_bytes().to_vec()), "slow path: U+FFFD");
        assert_eq!(crate::uni::trim_space(" \t\u{a0}x y\u{3000}\r".as_bytes()), b"x y");
        assert_eq!(crate::uni::trim_space(b"\xffx\xc2"), b"\xffx\xc2");
    }
}
