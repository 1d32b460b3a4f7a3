//! Credentials never reach a log line or an error body: URLs and texts that quote them are
//! shown without their `user:password@` part.

/// Any text with the credentials of every URL in it removed (`scheme://user:pass@host` →
/// `scheme://host`), for messages that quote URLs, such as git's.
pub fn redact_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        out.push_str(&rest[..i + 3]);
        rest = &rest[i + 3..];
        let end = rest.find(|c: char| c == '/' || c.is_whitespace() || c == '\'' || c == '"').unwrap_or(rest.len());
        if let Some(at) = rest[..end].rfind('@') {
            rest = &rest[at + 1..];
        }
    }
    out.push_str(rest);
    out
}

/// A URL shown without its credentials, redacted only when it is formatted.
pub struct Redacted<'a>(pub &'a str);

impl std::fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redact(self.0))
    }
}

/// The URL without any credentials, for logs and error bodies.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s && !url[s + 3..at].contains('/') => {
            format!("{}://{}", &url[..s], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction() {
        assert_eq!(redact("https://user:secret@proxy.example/x"), "https://proxy.example/x");
        assert_eq!(Redacted("https://user:secret@proxy.example/x").to_string(), "https://proxy.example/x");
        assert_eq!(redact("https://proxy.example/a@b"), "https://proxy.example/a@b");
        assert_eq!(
            redact_text("fatal: unable to access 'https://bot:tok3n@git.example/r.git/': refused; see ssh://git@h/x"),
            "fatal: unable to access 'https://git.example/r.git/': refused; see ssh://h/x"
        );
        assert_eq!(redact_text("no urls here"), "no urls here");
    }
}
