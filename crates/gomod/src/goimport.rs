//! `?go-get=1` discovery (spec §7.2): the `<meta name="go-import">` tags of an HTML page, the one
//! that answers a module path, and the checks the go command makes before trusting it.
//!
//! The page is read the way the go command's lenient XML decoder reads it: tags and attributes
//! are matched without regard to case, entities in attribute values are decoded, and reading
//! stops at `<body>` or `</head>`.

/// One `go-import` tag: `content="prefix vcs repo-root [subdirectory]"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaImport {
    pub prefix: String,
    pub vcs: String,
    pub repo_root: String,
    /// Go ≥ 1.25's optional fourth field: where in the repository the module tree lives.
    pub subdir: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatchError {
    #[error("no go-import meta tag matches {path}{}", mismatches(.seen))]
    NoMatch { path: String, seen: Vec<String> },
    #[error("multiple go-import meta tags match {0}")]
    Multiple(String),
}

fn mismatches(seen: &[String]) -> String {
    if seen.is_empty() {
        String::new()
    } else {
        format!(" (the page names {})", seen.join(", "))
    }
}

/// The go-import tags of a page, `mod` entries first (module mode prefers them), and without the
/// VCS entries a `mod` entry of the same prefix supersedes.
pub fn parse_meta_go_imports(html: &[u8]) -> Vec<MetaImport> {
    let mut all = Vec::new();
    for tag in Tags::new(html) {
        match tag {
            Tag::Start { name, attrs } => {
                if name.eq_ignore_ascii_case("body") {
                    break;
                }
                if !name.eq_ignore_ascii_case("meta") {
                    continue;
                }
                let attr = |n: &str| attrs.iter().find(|(k, _)| k.eq_ignore_ascii_case(n)).map(|(_, v)| v.as_str());
                if attr("name") != Some("go-import") {
                    continue;
                }
                let fields: Vec<&str> = attr("content").unwrap_or("").split_whitespace().collect();
                if fields.len() == 3 || fields.len() == 4 {
                    all.push(MetaImport {
                        prefix: fields[0].to_string(),
                        vcs: fields[1].to_string(),
                        repo_root: fields[2].to_string(),
                        subdir: fields.get(3).map(|s| s.to_string()).unwrap_or_default(),
                    });
                }
            }
            Tag::End(name) => {
                if name.eq_ignore_ascii_case("head") {
                    break;
                }
            }
        }
    }
    let mod_prefixes: Vec<String> = all.iter().filter(|m| m.vcs == "mod").map(|m| m.prefix.clone()).collect();
    let mut out: Vec<MetaImport> = all.iter().filter(|m| m.vcs == "mod").cloned().collect();
    out.extend(all.into_iter().filter(|m| m.vcs != "mod" && !mod_prefixes.contains(&m.prefix)));
    out
}

/// Whether `prefix` is `path` or a leading run of its elements.
pub fn has_path_prefix(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The tag that answers `path`: the only one whose prefix is a path prefix of it, or the first
/// `mod` entry when both kinds match.
pub fn match_go_import<'a>(imports: &'a [MetaImport], path: &str) -> Result<&'a MetaImport, MatchError> {
    let mut found: Option<&MetaImport> = None;
    let mut seen = Vec::new();
    for im in imports {
        if !has_path_prefix(path, &im.prefix) {
            seen.push(im.prefix.clone());
            continue;
        }
        if let Some(first) = found {
            if first.vcs == "mod" && im.vcs != "mod" {
                break;
            }
            return Err(MatchError::Multiple(path.to_string()));
        }
        found = Some(im);
    }
    found.ok_or_else(|| MatchError::NoMatch { path: path.to_string(), seen })
}

/// The go command's check of a repository root: it needs a scheme, and `file:` is refused.
/// Returns the scheme, lower-cased.
pub fn validate_repo_root(url: &str) -> Result<String, String> {
    let Some((scheme, rest)) = url.split_once(':') else {
        return Err("no scheme".into());
    };
    let valid = scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !valid {
        return Err("no scheme".into());
    }
    let scheme = scheme.to_ascii_lowercase();
    if scheme == "file" {
        return Err("file scheme disallowed".into());
    }
    if url.chars().any(|c| c.is_control() || c == ' ') {
        return Err("invalid character in URL".into());
    }
    let Some(after) = rest.strip_prefix("//") else {
        return Err("no host".into());
    };
    let authority = after.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map(|(_, h)| h).unwrap_or(authority);
    if host.is_empty() {
        return Err("no host".into());
    }
    Ok(scheme)
}

enum Tag {
    Start { name: String, attrs: Vec<(String, String)> },
    End(String),
}

/// A forgiving tag scanner: comments, declarations and processing instructions are skipped,
/// text is ignored, and nothing in the input can make it fail.
struct Tags<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Tags<'a> {
    fn new(s: &'a [u8]) -> Self {
        Self { s, i: 0 }
    }

    fn skip_past(&mut self, end: &[u8]) {
        match self.s[self.i..].windows(end.len()).position(|w| w == end) {
            Some(p) => self.i += p + end.len(),
            None => self.i = self.s.len(),
        }
    }

    fn skip_space(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn name(&mut self) -> String {
        let start = self.i;
        while self.i < self.s.len() {
            let c = self.s[self.i];
            if c.is_ascii_whitespace() || matches!(c, b'>' | b'/' | b'=' | b'<') {
                break;
            }
            self.i += 1;
        }
        String::from_utf8_lossy(&self.s[start..self.i]).into_owned()
    }
}

impl Iterator for Tags<'_> {
    type Item = Tag;

    fn next(&mut self) -> Option<Tag> {
        loop {
            let p = self.s[self.i..].iter().position(|&c| c == b'<')?;
            self.i += p + 1;
            let rest = &self.s[self.i..];
            if rest.starts_with(b"!--") {
                self.skip_past(b"-->");
                continue;
            }
            if rest.starts_with(b"!") || rest.starts_with(b"?") {
                self.skip_past(b">");
                continue;
            }
            if rest.starts_with(b"/") {
                self.i += 1;
                let name = self.name();
                self.skip_past(b">");
                return Some(Tag::End(name));
            }
            let name = self.name();
            if name.is_empty() {
                continue;
            }
            let mut attrs = Vec::new();
            loop {
                self.skip_space();
                match self.s.get(self.i) {
                    None => return Some(Tag::Start { name, attrs }),
                    Some(b'>') => {
                        self.i += 1;
                        return Some(Tag::Start { name, attrs });
                    }
                    Some(b'/') => {
                        self.i += 1;
                        continue;
                    }
                    Some(b'<') => return Some(Tag::Start { name, attrs }),
                    Some(_) => {}
                }
                let key = self.name();
                if key.is_empty() {
                    self.i += 1;
                    continue;
                }
                self.skip_space();
                if self.s.get(self.i) != Some(&b'=') {
                    attrs.push((key.clone(), key));
                    continue;
                }
                self.i += 1;
                self.skip_space();
                let value = match self.s.get(self.i) {
                    Some(&q @ (b'"' | b'\'')) => {
                        self.i += 1;
                        let start = self.i;
                        let end =
                            self.s[start..].iter().position(|&c| c == q).map(|p| start + p).unwrap_or(self.s.len());
                        self.i = (end + 1).min(self.s.len());
                        &self.s[start..end]
                    }
                    _ => {
                        let start = self.i;
                        while self.i < self.s.len() && !self.s[self.i].is_ascii_whitespace() && self.s[self.i] != b'>' {
                            self.i += 1;
                        }
                        &self.s[start..self.i]
                    }
                };
                attrs.push((key, decode_entities(&String::from_utf8_lossy(value))));
            }
        }
    }
}

/// Decodes the character references the go command's decoder knows in attribute values.
fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let Some(semi) = rest.find(';').filter(|&i| i <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..semi];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some('\u{a0}'),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mi(prefix: &str, vcs: &str, root: &str) -> MetaImport {
        MetaImport { prefix: prefix.into(), vcs: vcs.into(), repo_root: root.into(), subdir: String::new() }
    }

    #[test]
    fn parses_like_the_go_command() {
        let page = br#"<!DOCTYPE html><html><HEAD>
            <!-- <meta name="go-import" content="commented.example/x git https://no"> -->
            <Meta NAME="go-import" Content="corp.example/a git https://git.corp.example/a.git"/>
            <meta name='go-import' content='corp.example/b   git
                 https://git.corp.example/b?x=1&amp;y=2'>
            <meta name="go-import" content="too few">
            <meta name="go-source" content="corp.example/a _ _ _">
            <meta name="go-import" content="corp.example/c git https://h.example/c.git sub/dir">
            </head><body><meta name="go-import" content="after.example/x git https://late"></body>"#;
        let got = parse_meta_go_imports(page);
        assert_eq!(
            got,
            vec![
                mi("corp.example/a", "git", "https://git.corp.example/a.git"),
                mi("corp.example/b", "git", "https://git.corp.example/b?x=1&y=2"),
                MetaImport { subdir: "sub/dir".into(), ..mi("corp.example/c", "git", "https://h.example/c.git") },
            ]
        );
        // Reading stops at <body> even without </head>.
        let page = br#"<html><meta name="go-import" content="a.example/x git https://a"><body>
            <meta name="go-import" content="b.example/x git https://b">"#;
        assert_eq!(parse_meta_go_imports(page).len(), 1);
        // Garbage never fails.
        for junk in [&b"<"[..], b"<<<>>>", b"<meta name=", b"<meta name=\"go-import", b"&&&;", b"<!--", b"\xff\xfe<"] {
            let _ = parse_meta_go_imports(junk);
        }
    }

    #[test]
    fn mod_entries_win() {
        let page = br#"<meta name="go-import" content="corp.example/m git https://git.corp.example/m">
            <meta name="go-import" content="corp.example/m mod https://proxy.corp.example">
            <meta name="go-import" content="corp.example git https://git.corp.example/all">"#;
        let imports = parse_meta_go_imports(page);
        // The git entry of the same prefix is superseded; the mod entry comes first.
        assert_eq!(imports[0].vcs, "mod");
        assert_eq!(imports.len(), 2);
        assert_eq!(match_go_import(&imports, "corp.example/m/sub").unwrap().vcs, "mod");
        assert_eq!(match_go_import(&imports, "corp.example/other").unwrap().repo_root, "https://git.corp.example/all");
    }

    #[test]
    fn matching() {
        let imports = vec![mi("corp.example/a", "git", "https://x/a"), mi("corp.example/ab", "git", "https://x/ab")];
        assert_eq!(match_go_import(&imports, "corp.example/a/v2").unwrap().prefix, "corp.example/a");
        assert_eq!(match_go_import(&imports, "corp.example/ab").unwrap().prefix, "corp.example/ab");
        let e = match_go_import(&imports, "corp.example/abc").unwrap_err();
        assert!(matches!(e, MatchError::NoMatch { .. }));
        assert!(e.to_string().contains("corp.example/ab"), "{e}");
        // A tag for somewhere else answers nothing.
        let elsewhere = vec![mi("github.com/evil/x", "git", "https://evil.example/x")];
        assert!(match_go_import(&elsewhere, "corp.example/a").is_err());
        let two = vec![mi("corp.example", "git", "https://x/1"), mi("corp.example/a", "git", "https://x/2")];
        assert_eq!(match_go_import(&two, "corp.example/a").unwrap_err(), MatchError::Multiple("corp.example/a".into()));
        let mods = vec![mi("corp.example", "mod", "https://p/1"), mi("corp.example/a", "mod", "https://p/2")];
        assert!(match_go_import(&mods, "corp.example/a").is_err());
    }

    #[test]
    fn repo_roots() {
        assert_eq!(validate_repo_root("https://git.corp.example/a.git").unwrap(), "https");
        assert_eq!(validate_repo_root("ssh://git@h.example/a").unwrap(), "ssh");
        assert_eq!(validate_repo_root("GIT+SSH://h.example/a").unwrap(), "git+ssh");
        assert!(validate_repo_root("file:///etc").unwrap_err().contains("file"));
        assert!(validate_repo_root("FILE://host/x").is_err());
        assert!(validate_repo_root("git.corp.example/a").is_err());
        assert!(validate_repo_root("//h.example/a").is_err());
        assert!(validate_repo_root("https:///nohost").is_err());
        assert!(validate_repo_root("https://h.example/a b").is_err());
        assert!(validate_repo_root("1http://h.example").is_err());
    }
}
