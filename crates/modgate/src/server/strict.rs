//! The strict reading of HTTP/1 request heads and chunk-size lines that the framing guard and
//! the relay share: what is refused, and why (see `framing`).

use crate::revproxy::headers::has_control;

/// What a request head says about its body.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Framing {
    pub length: Option<u64>,
    pub chunked: bool,
    pub upgrade: bool,
}

/// The token characters of RFC 9110 §5.6.2, as a table (a header name's every byte is looked up).
const TCHAR: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric()
            || matches!(c, b'!' | b'#'..=b'\'' | b'*' | b'+' | b'-' | b'.' | b'^'..=b'`' | b'|' | b'~');
        b += 1;
    }
    t
};

fn is_tchar(b: u8) -> bool {
    TCHAR[b as usize]
}

/// Checks one header line (without its CRLF): `Err` says why it is refused.
pub(crate) fn header_line(line: &[u8]) -> Result<(&[u8], &[u8]), &'static str> {
    if line.first().is_some_and(|&b| b == b' ' || b == b'\t') {
        return Err("obs-fold (a header line starting with whitespace)");
    }
    let colon = line.iter().position(|&b| b == b':').ok_or("a header line without a colon")?;
    let (name, value) = (&line[..colon], &line[colon + 1..]);
    if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
        return Err("a header name with characters outside the token set (or whitespace before the colon)");
    }
    if has_control(value) {
        return Err("a control character in a header value");
    }
    Ok((name, value.trim_ascii()))
}

/// Checks a whole request head (CRLF-terminated lines, ending with an empty one).
pub(crate) fn check_head(head: &[u8]) -> Result<Framing, &'static str> {
    // Without the final empty line and the last LF, every line ends with its CR.
    let body = head.strip_suffix(b"\n\r\n").ok_or("a head that does not end with CRLF CRLF")?;
    let mut lines = body.split(|&b| b == b'\n');
    let mut framing = Framing { length: None, chunked: false, upgrade: false };
    let request_line = lines.next().ok_or("an empty head")?;
    let http10 = request_line.ends_with(b" HTTP/1.0\r");
    let (mut lengths, mut codings, mut hosts) = (0, 0, 0);
    let (mut connection_upgrade, mut upgrade_header) = (false, false);
    for (i, line) in std::iter::once(request_line).chain(lines).enumerate() {
        // Every line ended with CRLF: a bare LF leaves a line without its CR, a bare CR stays inside one.
        let line = line.strip_suffix(b"\r").ok_or("a bare LF")?;
        if line.contains(&b'\r') {
            return Err("a bare CR");
        }
        if i == 0 {
            check_request_line(line)?;
            continue;
        }
        let (name, value) = header_line(line)?;
        if name.eq_ignore_ascii_case(b"content-length") {
            lengths += 1;
            if value.is_empty() || value.len() > 18 || !value.iter().all(u8::is_ascii_digit) {
                return Err("a Content-Length that is not plain digits");
            }
            framing.length = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok());
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            codings += 1;
            if !value.eq_ignore_ascii_case(b"chunked") {
                return Err("a Transfer-Encoding other than chunked");
            }
            framing.chunked = true;
        } else if name.eq_ignore_ascii_case(b"host") {
            hosts += 1;
        } else if name.eq_ignore_ascii_case(b"connection") {
            connection_upgrade |= crate::revproxy::headers::has_token(value, "upgrade");
        } else if name.eq_ignore_ascii_case(b"upgrade") {
            upgrade_header = true;
        }
    }
    match () {
        _ if lengths > 1 => Err("more than one Content-Length"),
        _ if codings > 1 => Err("more than one Transfer-Encoding"),
        _ if lengths > 0 && codings > 0 => Err("both Content-Length and Transfer-Encoding"),
        _ if codings > 0 && http10 => Err("Transfer-Encoding on HTTP/1.0"),
        _ if hosts > 1 => Err("more than one Host"),
        _ if hosts == 0 && !http10 => Err("no Host"),
        _ => {
            framing.upgrade = connection_upgrade && upgrade_header && !http10;
            Ok(framing)
        }
    }
}

fn check_request_line(line: &[u8]) -> Result<(), &'static str> {
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("a request line that is not METHOD SP target SP version");
    };
    let target_ok = !target.is_empty() && target.iter().all(|&b| b > 0x20 && b != 0x7f);
    if method.is_empty() || !method.iter().all(|&b| is_tchar(b)) || !target_ok {
        return Err("a malformed request line");
    }
    if version != b"HTTP/1.1" && version != b"HTTP/1.0" {
        return Err("an HTTP version other than 1.0 or 1.1");
    }
    Ok(())
}

/// A chunk-size line (without CRLF): 1–16 hex digits, optional extensions.
pub(crate) fn chunk_size(line: &[u8]) -> Result<u64, &'static str> {
    let (size, ext) = match line.iter().position(|&b| b == b';') {
        Some(i) => (&line[..i], &line[i..]),
        None => (line, &b""[..]),
    };
    if size.is_empty() || size.len() > 16 || !size.iter().all(u8::is_ascii_hexdigit) {
        return Err("an invalid chunk size");
    }
    if has_control(ext) {
        return Err("a control character in a chunk extension");
    }
    let text = std::str::from_utf8(size).map_err(|_| "an invalid chunk size")?;
    u64::from_str_radix(text, 16).map_err(|_| "an invalid chunk size")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_table_holds_the_token_characters() {
        for b in 0..=255u8 {
            let tchar = b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
            assert_eq!(is_tchar(b), tchar, "byte {b:#04x}");
            assert_eq!(has_control(&[b'a', b, b'z']), (b < 0x20 && b != b'\t') || b == 0x7f, "byte {b:#04x}");
        }
    }
}
