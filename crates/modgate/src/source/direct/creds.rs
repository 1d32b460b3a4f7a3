//! Credentials for git, per host: an `Authorization` header for HTTP(S) (through
//! `GIT_CONFIG_*` variables, so the secret is in no command line), a netrc login, or an SSH
//! key with the server's key pinned.

use super::Direct;
use crate::config::GitAuth;

impl Direct {
    /// Environment for git commands that talk to `url`'s host: an `Authorization` header scoped
    /// to that host (through GIT_CONFIG_* variables, so the secret is in no command line), or an
    /// SSH key. Nothing for hosts without credentials.
    pub(super) fn auth_env(&self, url: &str) -> Vec<(String, String)> {
        let (scheme, host_port, host) = url_host(url);
        let Some(cred) = self.settings.credentials.iter().find(|c| c.host == host_port || c.host == host) else {
            return if scheme == "ssh" { self.ssh_env(None, None) } else { Vec::new() };
        };
        let basic = |user: &str, secret: &str| {
            use base64::Engine as _;
            let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"));
            vec![
                ("GIT_CONFIG_COUNT".to_string(), "1".to_string()),
                ("GIT_CONFIG_KEY_0".to_string(), format!("http.{scheme}://{host_port}/.extraHeader")),
                ("GIT_CONFIG_VALUE_0".to_string(), format!("Authorization: Basic {token}")),
            ]
        };
        match &cred.auth {
            GitAuth::Basic { username, secret } if scheme.starts_with("http") => basic(username, secret),
            GitAuth::Netrc(path) if scheme.starts_with("http") => match netrc_login(path, &host) {
                Some((user, pass)) => basic(&user, &pass),
                None => Vec::new(),
            },
            GitAuth::SshKey { key, known_hosts } if scheme == "ssh" => self.ssh_env(Some(key), known_hosts.as_deref()),
            _ => Vec::new(),
        }
    }

    /// ssh for git: never prompting, the configured key only, and the server's key pinned by
    /// the configured known-hosts file or else trusted on first use and remembered in the data
    /// dir (never in the user's ~/.ssh).
    fn ssh_env(&self, key: Option<&std::path::Path>, known_hosts: Option<&std::path::Path>) -> Vec<(String, String)> {
        let hosts = match known_hosts {
            Some(f) => format!("-o StrictHostKeyChecking=yes -o UserKnownHostsFile='{}'", f.display()),
            None => format!(
                "-o StrictHostKeyChecking=accept-new -o UserKnownHostsFile='{}'",
                self.settings.root.join("known_hosts").display()
            ),
        };
        let identity = match key {
            Some(k) => format!("-i '{}' -o IdentitiesOnly=yes ", k.display()),
            None => String::new(),
        };
        vec![("GIT_SSH_COMMAND".to_string(), format!("ssh {identity}-o BatchMode=yes {hosts}"))]
    }
}

/// (scheme, host[:port], host) of a git URL, scp-like `user@host:path` included.
fn url_host(url: &str) -> (String, String, String) {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (s.to_ascii_lowercase(), r),
        None => ("ssh".to_string(), url),
    };
    let authority = if scheme == "ssh" && !url.contains("://") {
        rest.split(':').next().unwrap_or("")
    } else {
        rest.split('/').next().unwrap_or("")
    };
    let host_port = authority.rsplit_once('@').map(|(_, h)| h).unwrap_or(authority).to_string();
    let host = host_port.split(':').next().unwrap_or("").to_string();
    (scheme, host_port, host)
}

/// The login and password of `machine host` (or `default`) in a netrc file.
fn netrc_login(path: &std::path::Path, host: &str) -> Option<(String, String)> {
    let text = std::fs::read_to_string(path).ok()?;
    let tokens: Vec<&str> = text.split_whitespace().collect();
    let (mut i, mut found, mut default) = (0, None, None);
    while i < tokens.len() {
        let matches = match tokens[i] {
            "machine" => {
                i += 1;
                tokens.get(i).is_some_and(|m| *m == host)
            }
            "default" => true,
            _ => {
                i += 1;
                continue;
            }
        };
        let is_default = tokens[i] == "default";
        i += 1;
        let (mut login, mut password) = (None, None);
        while i < tokens.len() && tokens[i] != "machine" && tokens[i] != "default" {
            match tokens[i] {
                "login" => login = tokens.get(i + 1).map(|s| s.to_string()),
                "password" => password = tokens.get(i + 1).map(|s| s.to_string()),
                _ => {}
            }
            i += 2;
        }
        if let (true, Some(l), Some(p)) = (matches, login, password) {
            if is_default {
                default = default.or(Some((l, p)));
            } else {
                found = found.or(Some((l, p)));
            }
        }
    }
    found.or(default)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn hosts_and_netrc() {
        assert_eq!(
            url_host("https://bot:x@git.corp.example:8443/a.git"),
            ("https".into(), "git.corp.example:8443".into(), "git.corp.example".into())
        );
        assert_eq!(
            url_host("git@git.corp.example:team/a.git"),
            ("ssh".into(), "git.corp.example".into(), "git.corp.example".into())
        );
        assert_eq!(url_host("ssh://git@h.example/x"), ("ssh".into(), "h.example".into(), "h.example".into()));
        let dir = tempfile_dir();
        let p = dir.join("netrc");
        std::fs::write(&p, "machine other.example login a password b\nmachine git.corp.example\n  login bot\n  password s3\ndefault login d password dp\n").unwrap();
        assert_eq!(netrc_login(&p, "git.corp.example"), Some(("bot".into(), "s3".into())));
        assert_eq!(netrc_login(&p, "unknown.example"), Some(("d".into(), "dp".into())));
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn tempfile_dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("modgate-netrc-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
