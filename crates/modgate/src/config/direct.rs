//! `[direct]`: how direct mode finds repositories and authenticates to their hosts.

use super::file::DirectSection;
use super::loader::{fail, Loader};
use super::ConfigError;
use std::path::PathBuf;

/// A module path prefix whose modules live in one git repository (`[[direct.repo]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoMapping {
    pub prefix: String,
    pub url: String,
}

/// How direct mode authenticates to one git host (`[[direct.credentials]]`).
#[derive(Clone, PartialEq, Eq)]
pub enum GitAuth {
    /// HTTP(S) Basic auth: a token (user defaults to `x-access-token`) or a password.
    Basic { username: String, secret: String },
    /// An SSH private key file for `ssh://` and `user@host:path` URLs, and the known-hosts file
    /// that pins the server's key (none: the key is trusted on first use and remembered under
    /// the data dir).
    SshKey { key: PathBuf, known_hosts: Option<PathBuf> },
    /// A netrc file whose `machine` entries give HTTP(S) logins.
    Netrc(PathBuf),
}

impl std::fmt::Debug for GitAuth {
    // Secrets never reach a Debug print (and so never a log line).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GitAuth::Basic { username, .. } => write!(f, "Basic({username}, <secret>)"),
            GitAuth::SshKey { key, .. } => write!(f, "SshKey({})", key.display()),
            GitAuth::Netrc(p) => write!(f, "Netrc({})", p.display()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitCredential {
    /// The host, with `:port` when the repository URL has one.
    pub host: String,
    pub auth: GitAuth,
}

/// `[[direct.repo]]` mappings, longest prefix first.
pub(super) fn repos(l: &Loader<'_>, direct: &DirectSection) -> Result<Vec<RepoMapping>, ConfigError> {
    let mut out = Vec::new();
    for entry in &direct.repo {
        let e = entry.get_ref();
        let origin = || l.at(entry.span().start);
        let prefix = e.prefix.trim_end_matches('/');
        if let Err(err) = gomod::path::check_import_path(prefix) {
            return Err(fail("direct.repo.prefix", origin(), err));
        }
        let scheme_ok = ["https://", "http://", "ssh://", "git://", "file://"].iter().any(|s| e.url.starts_with(s))
            || (e.url.contains('@') && e.url.contains(':') && !e.url.contains("://"));
        if !scheme_ok {
            return Err(fail(
                "direct.repo.url",
                origin(),
                format!("{:?} is not a git URL (https://, ssh://, git://, file:// or user@host:path)", e.url),
            ));
        }
        out.push(RepoMapping { prefix: prefix.to_string(), url: e.url.clone() });
    }
    out.sort_by_key(|m| std::cmp::Reverse(m.prefix.len()));
    Ok(out)
}

/// `[[direct.credentials]]`, each with exactly one kind of secret.
pub(super) fn credentials(l: &Loader<'_>, direct: &DirectSection) -> Result<Vec<GitCredential>, ConfigError> {
    let mut out = Vec::new();
    for entry in &direct.credentials {
        let e = entry.get_ref();
        let origin = || l.at(entry.span().start);
        if e.host.is_empty() || e.host.contains(['/', '@', ' ']) {
            return Err(fail("direct.credentials.host", origin(), format!("{:?} is not a host[:port]", e.host)));
        }
        let kinds = [e.token.is_some() || e.password.is_some(), e.ssh_key.is_some(), e.netrc.is_some()];
        if kinds.iter().filter(|k| **k).count() != 1 || (e.token.is_some() && e.password.is_some()) {
            return Err(fail(
                "direct.credentials",
                origin(),
                "give exactly one of token, password (with username), ssh_key or netrc",
            ));
        }
        if e.known_hosts.is_some() && e.ssh_key.is_none() {
            return Err(fail("direct.credentials.known_hosts", origin(), "goes with ssh_key"));
        }
        let auth = if let Some(secret) = e.token.clone().or(e.password.clone()) {
            if e.password.is_some() && e.username.is_none() {
                return Err(fail("direct.credentials.username", origin(), "a password needs a username"));
            }
            GitAuth::Basic { username: e.username.clone().unwrap_or_else(|| "x-access-token".into()), secret }
        } else if let Some(k) = &e.ssh_key {
            for (key, p) in
                [("direct.credentials.ssh_key", Some(k)), ("direct.credentials.known_hosts", e.known_hosts.as_ref())]
            {
                if p.is_some_and(|p| p.to_string_lossy().contains('\'')) {
                    return Err(fail(key, origin(), "the path must not contain a quote"));
                }
            }
            GitAuth::SshKey { key: k.clone(), known_hosts: e.known_hosts.clone() }
        } else {
            GitAuth::Netrc(e.netrc.clone().unwrap_or_default())
        };
        out.push(GitCredential { host: e.host.clone(), auth });
    }
    Ok(out)
}
