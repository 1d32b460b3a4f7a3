//! GOPROXY list syntax (spec §1.6): entries separated by `,` (fall back on not-found only) or `|`
//! (fall back on any error), with the keywords `direct` and `off`.

use thiserror::Error;

/// One entry of a GOPROXY list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// An `http://`, `https://` or `file://` base URL without a trailing `/`.
    Url(String),
    /// Fetch from the module's own repository.
    Direct,
    /// Every lookup fails.
    Off,
}

/// An entry and how the list moves past it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxySpec {
    pub entry: Entry,
    /// `true` when the separator after the entry was `|`: any error moves on, not only 404/410.
    pub fall_back_on_error: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProxyListError {
    #[error("GOPROXY list is not the empty string, but contains no entries")]
    NoEntries,
    #[error("invalid proxy URL {0:?}: scheme must be https, http or file")]
    BadScheme(String),
    #[error("invalid proxy URL {0:?}: {1}")]
    BadUrl(String, &'static str),
}

/// Parses a GOPROXY value. Entries after `direct` or `off` are checked but dropped, since the
/// list ends there. `noproxy` (the go command's internal marker) is skipped.
pub fn parse(value: &str) -> Result<Vec<ProxySpec>, ProxyListError> {
    let mut out = Vec::new();
    let mut ended = false;
    let mut rest = value;
    while !rest.is_empty() {
        let (raw, fall_back_on_error) = match rest.find([',', '|']) {
            Some(i) => {
                let fb = rest.as_bytes()[i] == b'|';
                let raw = &rest[..i];
                rest = &rest[i + 1..];
                (raw, fb)
            }
            None => {
                let raw = rest;
                rest = "";
                (raw, false)
            }
        };
        let raw = raw.trim();
        if raw.is_empty() || raw == "noproxy" {
            continue;
        }
        let entry = match raw {
            "off" => Entry::Off,
            "direct" => Entry::Direct,
            _ => Entry::Url(normalize_url(raw)?),
        };
        if !ended {
            ended = matches!(entry, Entry::Off | Entry::Direct);
            out.push(ProxySpec { entry, fall_back_on_error });
        }
    }
    if out.is_empty() && !value.trim().is_empty() {
        return Err(ProxyListError::NoEntries);
    }
    if out.is_empty() {
        return Err(ProxyListError::NoEntries);
    }
    Ok(out)
}

fn normalize_url(raw: &str) -> Result<String, ProxyListError> {
    let mut url = raw.to_string();
    if raw.contains(['.', ':', '/']) && !raw.contains(":/") && !raw.starts_with('/') {
        url = format!("https://{raw}");
    }
    let scheme_end = url.find("://").ok_or_else(|| ProxyListError::BadScheme(raw.to_string()))?;
    let scheme = url[..scheme_end].to_ascii_lowercase();
    if !matches!(scheme.as_str(), "http" | "https" | "file") {
        return Err(ProxyListError::BadScheme(raw.to_string()));
    }
    let rest = &url[scheme_end + 3..];
    if scheme != "file" && (rest.is_empty() || rest.starts_with('/')) {
        return Err(ProxyListError::BadUrl(raw.to_string(), "missing host"));
    }
    if url.contains(char::is_whitespace) {
        return Err(ProxyListError::BadUrl(raw.to_string(), "contains whitespace"));
    }
    while url.ends_with('/') && url.len() > scheme_end + 3 + 1 {
        url.pop();
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(u: &str, fb: bool) -> ProxySpec {
        ProxySpec { entry: Entry::Url(u.into()), fall_back_on_error: fb }
    }

    #[test]
    fn lists() {
        assert_eq!(
            parse("https://a.example/,http://b.example|file:///srv/mirror , direct").unwrap(),
            vec![
                url("https://a.example", false),
                url("http://b.example", true),
                url("file:///srv/mirror", false),
                ProxySpec { entry: Entry::Direct, fall_back_on_error: false },
            ]
        );
        assert_eq!(parse("proxy.corp.example/go").unwrap(), vec![url("https://proxy.corp.example/go", false)]);
        assert_eq!(
            parse("off,https://ignored.example").unwrap(),
            vec![ProxySpec { entry: Entry::Off, fall_back_on_error: false }]
        );
        assert_eq!(parse(",,a.example,,").unwrap(), vec![url("https://a.example", false)]);
        assert_eq!(parse(" , ").unwrap_err(), ProxyListError::NoEntries);
        assert!(matches!(parse("ftp://x.example"), Err(ProxyListError::BadScheme(_))));
        assert!(matches!(parse("bogus"), Err(ProxyListError::BadScheme(_))));
        assert!(matches!(parse("https://"), Err(ProxyListError::BadUrl(..))));
    }
}
