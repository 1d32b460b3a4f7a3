//! UTC times as the GOPROXY protocol writes them (`2006-01-02T15:04:05Z`), from civil-date
//! arithmetic: no time-zone database needed.

use std::time::{SystemTime, UNIX_EPOCH};

/// (year, month, day, hour, minute, second) of a Unix time, in UTC.
fn civil(t: i64) -> (i64, i64, i64, i64, i64, i64) {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    (y, m, d, secs / 3600, secs % 3600 / 60, secs % 60)
}

/// `2006-01-02T15:04:05Z` for a Unix time.
pub fn rfc3339(t: i64) -> String {
    let (y, mo, d, h, mi, s) = civil(t);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// `20060102150405` for a Unix time: the timestamp of a pseudo-version.
pub fn compact(t: i64) -> String {
    let (y, mo, d, h, mi, s) = civil(t);
    format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}")
}

/// The current time in RFC 3339 UTC form.
pub fn now_rfc3339() -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    rfc3339(i64::try_from(now.as_secs()).unwrap_or(i64::MAX))
}

/// An RFC 3339 UTC time (`2006-01-02T15:04:05Z`) from RFC 3339 or HTTP-date input.
pub fn parse_utc(t: &str) -> Option<String> {
    let t = t.trim();
    if let Ok(st) = httpdate::parse_http_date(t) {
        let secs = st.duration_since(UNIX_EPOCH).ok()?.as_secs();
        return Some(rfc3339(i64::try_from(secs).ok()?));
    }
    let b = t.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    let punct = |i: usize, c: u8| b.get(i) == Some(&c);
    let shape = b.len() == 20
        && digits(0..4)
        && punct(4, b'-')
        && digits(5..7)
        && punct(7, b'-')
        && digits(8..10)
        && punct(10, b'T')
        && digits(11..13)
        && punct(13, b':')
        && digits(14..16)
        && punct(16, b':')
        && digits(17..19)
        && punct(19, b'Z');
    shape.then(|| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_136_214_245), "2006-01-02T15:04:05Z");
        assert_eq!(compact(1_136_214_245), "20060102150405");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn parsed_times() {
        assert_eq!(parse_utc("2006-01-02T15:04:05Z").as_deref(), Some("2006-01-02T15:04:05Z"));
        assert_eq!(parse_utc("Mon, 02 Jan 2006 15:04:05 GMT").as_deref(), Some("2006-01-02T15:04:05Z"));
        assert_eq!(parse_utc(" 2000-02-29T00:00:00Z ").as_deref(), Some("2000-02-29T00:00:00Z"));
        for bad in ["2006-01-02", "2006-01-02T15:04:05+01:00", "yesterday", ""] {
            assert!(parse_utc(bad).is_none(), "{bad}");
        }
    }
}
