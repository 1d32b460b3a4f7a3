//! Configuration: defaults, overridden by a TOML file, by `MODGATE_*` environment variables, and
//! by command-line flags, in that order. Every problem is reported as one line naming the key
//! (and, for the file, its line).

use gomod::proxylist::{self, ProxySpec};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;
use toml::Spanned;

/// A configuration problem, ready to print as one line.
#[derive(Debug, Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The validated configuration the server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// The upstream chain, as written (for logs) and parsed.
    pub upstream_raw: String,
    pub upstream: Vec<ProxySpec>,
    pub log_level: String,
    pub log_format: LogFormat,
    /// How long `list`, `@latest` and query answers are fresh.
    pub list_ttl: Duration,
    /// How long a 404/410 from the sources is remembered.
    pub negative_ttl: Duration,
    /// Limit for an upstream to start answering (connect + response headers).
    pub upstream_timeout: Duration,
    /// Limit between two chunks of an upstream body.
    pub upstream_idle_timeout: Duration,
    /// How long in-flight requests may run after SIGTERM/SIGINT.
    pub shutdown_timeout: Duration,
    pub prefetch: PrefetchConfig,
    /// Bytes of small immutable objects (`.info`, `.mod`) kept in memory.
    pub memory_cache_bytes: u64,
    /// Direct mode: explicit module prefix → repository mappings, longest prefix first.
    pub direct_repos: Vec<RepoMapping>,
    /// Longest a git command of direct mode may run.
    pub git_timeout: Duration,
    pub routes: Vec<RouteRule>,
    pub git_credentials: Vec<GitCredential>,
    /// Direct mode: module patterns (GOINSECURE syntax) whose discovery may fall back to plain
    /// HTTP and whose repositories may use `http://` or `git://`.
    pub direct_insecure: String,
    /// Outbound traffic: straight out or through a forward proxy.
    pub egress: crate::httpclient::Egress,
    /// TLS termination on `listen`, when configured.
    pub tls: Option<crate::tls::TlsSettings>,
    /// API keys, access policy and audit, when configured.
    pub auth: Option<crate::auth::AuthSettings>,
    /// Largest zip a publish may send.
    pub publish_max_bytes: u64,
    pub limits: Limits,
}

/// Protection against slow, greedy or oversized clients (`[limits]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// Longest a client may take to send a request's headers (slowloris), including the wait
    /// for the next request on a kept-alive connection.
    pub header_read_timeout: Duration,
    /// Request header fields, and their total bytes.
    pub max_headers: usize,
    pub max_header_bytes: usize,
    /// Requests per second per API key or client certificate (token bucket); 0 is off.
    pub key_rate: f64,
    /// Bucket size: how many requests a key may make in a burst.
    pub key_burst: f64,
}

/// Where the modules a route matches come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteSource {
    /// Refused: 403 on every endpoint.
    Deny,
    /// An upstream chain in GOPROXY syntax (`direct` included).
    Chain { raw: String, specs: Vec<ProxySpec> },
}

/// An ordered routing rule (`[[route]]`): modules matching `modules` (GOPRIVATE syntax) are
/// served from `source`; the first matching rule wins, the `upstream` chain serves the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteRule {
    pub modules: String,
    pub source: RouteSource,
    /// Reserved for checksum-database verification per route.
    pub verify_checksums: bool,
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

/// A module path prefix whose modules live in one git repository (`[[direct.repo]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoMapping {
    pub prefix: String,
    pub url: String,
}

/// Dependency-aware prefetch: serving a go.mod warms its requirements' `.mod` and `.info`.
#[derive(Debug, Clone)]
pub struct PrefetchConfig {
    pub enabled: bool,
    /// Upstream fetches in flight for prefetching at once.
    pub concurrency: usize,
    /// How many levels of requirements below a served go.mod are warmed.
    pub depth: u32,
    /// Whether serving a version's `.info` warms its zip.
    pub zips: bool,
}

/// Values given on the command line or in the environment (clap folds the two together).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<String>,
    pub data_dir: Option<String>,
    pub upstream: Option<String>,
    pub log_level: Option<String>,
    pub log_format: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<Spanned<String>>,
    data_dir: Option<Spanned<String>>,
    upstream: Option<Spanned<String>>,
    log_level: Option<Spanned<String>>,
    log_format: Option<Spanned<String>>,
    upstream_timeout: Option<Spanned<String>>,
    upstream_idle_timeout: Option<Spanned<String>>,
    shutdown_timeout: Option<Spanned<String>>,
    cache: Option<CacheSection>,
    prefetch: Option<PrefetchSection>,
    direct: Option<DirectSection>,
    egress: Option<EgressSection>,
    tls: Option<Spanned<TlsSection>>,
    auth: Option<Spanned<AuthSection>>,
    publish: Option<PublishSection>,
    limits: Option<LimitsSection>,
    #[serde(default)]
    route: Vec<Spanned<RouteEntry>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteEntry {
    modules: String,
    source: String,
    #[serde(default = "yes")]
    verify_checksums: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsSection {
    max_connections: Option<Spanned<i64>>,
    header_read_timeout: Option<Spanned<String>>,
    max_headers: Option<Spanned<i64>>,
    max_header_kb: Option<Spanned<i64>>,
    key_rate: Option<Spanned<i64>>,
    key_burst: Option<Spanned<i64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PublishSection {
    max_mb: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthSection {
    keys_file: PathBuf,
    policy_file: PathBuf,
    anonymous_group: Option<String>,
    #[serde(default)]
    hide_denied: bool,
    audit_log: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsSection {
    cert: PathBuf,
    key: PathBuf,
    #[serde(default)]
    sni: Vec<CertEntry>,
    min_version: Option<String>,
    #[serde(default)]
    cipher_suites: Vec<String>,
    client_ca: Option<PathBuf>,
    client_auth: Option<String>,
    plain_listen: Option<String>,
    redirect_plain: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CertEntry {
    cert: PathBuf,
    key: PathBuf,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct EgressSection {
    proxy: Option<Spanned<String>>,
    no_proxy: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DirectSection {
    timeout: Option<Spanned<String>>,
    insecure: Option<String>,
    #[serde(default)]
    repo: Vec<Spanned<RepoEntry>>,
    #[serde(default)]
    credentials: Vec<Spanned<CredentialEntry>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialEntry {
    host: String,
    username: Option<String>,
    token: Option<String>,
    password: Option<String>,
    ssh_key: Option<PathBuf>,
    known_hosts: Option<PathBuf>,
    netrc: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RepoEntry {
    prefix: String,
    url: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PrefetchSection {
    enabled: Option<bool>,
    zips: Option<bool>,
    concurrency: Option<Spanned<i64>>,
    depth: Option<Spanned<i64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CacheSection {
    list_ttl: Option<Spanned<String>>,
    negative_ttl: Option<Spanned<String>>,
    memory_mb: Option<Spanned<i64>>,
}

/// Where a value came from, for error messages.
enum Origin<'a> {
    Default,
    Flag,
    File { path: &'a Path, line: usize },
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].bytes().filter(|&b| b == b'\n').count() + 1
}

struct Loader<'a> {
    file_path: Option<&'a Path>,
    file_text: String,
}

impl Loader<'_> {
    fn pick<'v>(
        &'v self,
        flag: &'v Option<String>,
        file: &'v Option<Spanned<String>>,
        default: &'v str,
    ) -> (&'v str, Origin<'v>) {
        if let Some(v) = flag {
            return (v, Origin::Flag);
        }
        if let (Some(v), Some(p)) = (file, self.file_path) {
            return (v.get_ref(), Origin::File { path: p, line: line_of(&self.file_text, v.span().start) });
        }
        (default, Origin::Default)
    }

    fn pick_file<'v>(&'v self, file: &'v Option<Spanned<String>>, default: &'v str) -> (&'v str, Origin<'v>) {
        self.pick(&None, file, default)
    }

    /// The file position of a value that starts at byte `offset` of the file.
    fn at(&self, offset: usize) -> Origin<'_> {
        Origin::File { path: self.file_path.unwrap_or(Path::new("")), line: line_of(&self.file_text, offset) }
    }
}

fn fail(key: &str, origin: Origin<'_>, reason: impl std::fmt::Display) -> ConfigError {
    match origin {
        Origin::Default => ConfigError(format!("config: {key}: {reason}")),
        Origin::Flag => ConfigError(format!(
            "config: {key} (from --{} or MODGATE_{}): {reason}",
            key.replace('_', "-"),
            key.to_ascii_uppercase()
        )),
        Origin::File { path, line } => ConfigError(format!("config: {}:{line}: {key}: {reason}", path.display())),
    }
}

fn duration(key: &str, (v, origin): (&str, Origin<'_>)) -> Result<Duration, ConfigError> {
    let d = humantime::parse_duration(v)
        .map_err(|e| fail(key, origin, format!("{v:?} is not a duration ({e}); write e.g. \"60s\" or \"5m\"")))?;
    Ok(d)
}

/// Builds the configuration from an optional file, the overrides and the `GOPROXY` variable.
pub fn load(file: Option<&Path>, over: &Overrides, goproxy_env: Option<String>) -> Result<Config, ConfigError> {
    let (file_text, parsed) = match file {
        None => (String::new(), FileConfig::default()),
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| ConfigError(format!("config: {}: cannot read: {e}", p.display())))?;
            let parsed: FileConfig = toml::from_str(&text).map_err(|e| {
                let line = e.span().map(|s| line_of(&text, s.start)).unwrap_or(0);
                let msg = e.message().lines().next().unwrap_or("invalid TOML").to_string();
                ConfigError(format!("config: {}:{line}: {msg}", p.display()))
            })?;
            (text, parsed)
        }
    };
    let l = Loader { file_path: file, file_text };
    let cache = parsed.cache.unwrap_or_default();
    let direct = parsed.direct.unwrap_or_default();
    let mut direct_repos = Vec::new();
    for entry in &direct.repo {
        let e = entry.get_ref();
        let origin = l.at(entry.span().start);
        let prefix = e.prefix.trim_end_matches('/');
        if let Err(err) = gomod::path::check_import_path(prefix) {
            return Err(fail("direct.repo.prefix", origin, err));
        }
        let scheme_ok = ["https://", "http://", "ssh://", "git://", "file://"].iter().any(|s| e.url.starts_with(s))
            || (e.url.contains('@') && e.url.contains(':') && !e.url.contains("://"));
        if !scheme_ok {
            return Err(fail(
                "direct.repo.url",
                origin,
                format!("{:?} is not a git URL (https://, ssh://, git://, file:// or user@host:path)", e.url),
            ));
        }
        direct_repos.push(RepoMapping { prefix: prefix.to_string(), url: e.url.clone() });
    }
    direct_repos.sort_by_key(|m| std::cmp::Reverse(m.prefix.len()));
    let mut git_credentials = Vec::new();
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
        git_credentials.push(GitCredential { host: e.host.clone(), auth });
    }
    let mut routes = Vec::new();
    for entry in &parsed.route {
        let e = entry.get_ref();
        let origin = || l.at(entry.span().start);
        if e.modules.split(',').all(|g| g.trim().is_empty()) {
            return Err(fail("route.modules", origin(), "names no module pattern"));
        }
        let source = match e.source.trim() {
            "deny" => RouteSource::Deny,
            other => RouteSource::Chain {
                raw: other.to_string(),
                specs: proxylist::parse(other).map_err(|err| fail("route.source", origin(), err))?,
            },
        };
        routes.push(RouteRule { modules: e.modules.clone(), source, verify_checksums: e.verify_checksums });
    }
    let eg = parsed.egress.unwrap_or_default();
    let egress = crate::httpclient::Egress {
        proxy: match &eg.proxy {
            None => None,
            Some(p) => {
                let v = p.get_ref().trim();
                let ok = (v.starts_with("http://") || v.starts_with("https://"))
                    && v.parse::<http::Uri>().is_ok_and(|u| u.host().is_some_and(|h| !h.is_empty()));
                if !ok {
                    return Err(fail(
                        "egress.proxy",
                        l.at(p.span().start),
                        format!("{v:?} is not a proxy URL like http://proxy.corp.example:3128"),
                    ));
                }
                Some(v.to_string())
            }
        },
        no_proxy: eg.no_proxy.unwrap_or_default(),
    };
    let tls = match &parsed.tls {
        None => None,
        Some(t) => {
            let origin = || l.at(t.span().start);
            let t = t.get_ref();
            let min_version = t.min_version.clone().unwrap_or_else(|| "1.2".into());
            if !matches!(min_version.as_str(), "1.2" | "1.3") {
                return Err(fail("tls.min_version", origin(), format!("{min_version:?} is not \"1.2\" or \"1.3\"")));
            }
            let known = crate::tls::known_suites();
            if let Some(bad) = t.cipher_suites.iter().find(|s| !known.contains(s)) {
                return Err(fail("tls.cipher_suites", origin(), format!("{bad:?} is not one of {}", known.join(", "))));
            }
            let client_ca = match (&t.client_ca, t.client_auth.as_deref()) {
                (None, None) => None,
                (None, Some(_)) => return Err(fail("tls.client_auth", origin(), "needs tls.client_ca")),
                (Some(ca), mode) => {
                    let mode = match mode.unwrap_or("required") {
                        "required" => crate::tls::ClientAuth::Required,
                        "optional" => crate::tls::ClientAuth::Optional,
                        other => {
                            return Err(fail(
                                "tls.client_auth",
                                origin(),
                                format!("{other:?} is not \"required\" or \"optional\""),
                            ))
                        }
                    };
                    Some((ca.clone(), mode))
                }
            };
            let mut certificates = vec![crate::tls::CertFiles { cert: t.cert.clone(), key: t.key.clone() }];
            certificates
                .extend(t.sni.iter().map(|c| crate::tls::CertFiles { cert: c.cert.clone(), key: c.key.clone() }));
            let plain_listen = match &t.plain_listen {
                None => None,
                Some(v) => Some(v.parse::<SocketAddr>().map_err(|e| {
                    fail("tls.plain_listen", origin(), format!("{v:?} is not an address like 0.0.0.0:80 ({e})"))
                })?),
            };
            let settings = crate::tls::TlsSettings {
                certificates,
                min_version,
                cipher_suites: t.cipher_suites.clone(),
                client_ca,
                plain_listen,
                redirect_plain: t.redirect_plain.unwrap_or(true),
            };
            // The files must load now: a server that cannot terminate TLS must not start.
            crate::tls::build(&settings).map_err(|e| fail("tls", origin(), e))?;
            Some(settings)
        }
    };
    let auth = match &parsed.auth {
        None => None,
        Some(a) => {
            let origin = || l.at(a.span().start);
            let a = a.get_ref();
            let settings = crate::auth::AuthSettings {
                keys_file: a.keys_file.clone(),
                policy_file: a.policy_file.clone(),
                anonymous_group: a.anonymous_group.clone().filter(|g| !g.trim().is_empty()),
                hide_denied: a.hide_denied,
                audit_log: a.audit_log.clone(),
                key_rate: 0.0,
                key_burst: 0.0,
            };
            // Both files must load now: a guard that cannot read its rules must not start.
            crate::auth::KeysFile::load(&settings.keys_file).map_err(|e| fail("auth.keys_file", origin(), e))?;
            crate::auth::Policy::load(&settings.policy_file).map_err(|e| fail("auth.policy_file", origin(), e))?;
            Some(settings)
        }
    };
    let pf = parsed.prefetch.unwrap_or_default();
    let int = |key: &str, v: &Option<Spanned<i64>>, default: i64, lo: i64, hi: i64| -> Result<i64, ConfigError> {
        match v {
            None => Ok(default),
            Some(s) if (lo..=hi).contains(s.get_ref()) => Ok(*s.get_ref()),
            Some(s) => {
                let line = line_of(&l.file_text, s.span().start);
                let path = l.file_path.map(|p| p.display().to_string()).unwrap_or_default();
                Err(ConfigError(format!("config: {path}:{line}: {key}: {} is outside {lo}..={hi}", s.get_ref())))
            }
        }
    };
    let prefetch = PrefetchConfig {
        enabled: pf.enabled.unwrap_or(true),
        concurrency: int("prefetch.concurrency", &pf.concurrency, 16, 1, 512)? as usize,
        depth: int("prefetch.depth", &pf.depth, 8, 0, 64)? as u32,
        zips: pf.zips.unwrap_or(true),
    };

    let (v, o) = l.pick(&over.listen, &parsed.listen, "127.0.0.1:8080");
    let listen: SocketAddr =
        v.parse().map_err(|e| fail("listen", o, format!("{v:?} is not an address like 127.0.0.1:8080 ({e})")))?;

    let (v, o) = l.pick(&over.data_dir, &parsed.data_dir, "./modgate-data");
    if v.trim().is_empty() {
        return Err(fail("data_dir", o, "must not be empty"));
    }
    let data_dir = PathBuf::from(v);

    let goproxy_default = goproxy_env.filter(|s| !s.trim().is_empty()).unwrap_or_else(|| "direct".to_string());
    let (v, o) = l.pick(&over.upstream, &parsed.upstream, &goproxy_default);
    let upstream = proxylist::parse(v).map_err(|e| fail("upstream", o, e))?;
    let upstream_raw = v.to_string();

    let (v, o) = l.pick(&over.log_level, &parsed.log_level, "info");
    let log_level = v.to_ascii_lowercase();
    if !matches!(log_level.as_str(), "trace" | "debug" | "info" | "warn" | "error") {
        return Err(fail("log_level", o, format!("{v:?} is not one of debug, info, warn, error")));
    }

    let (v, o) = l.pick(&over.log_format, &parsed.log_format, "text");
    let log_format = match v {
        "text" => LogFormat::Text,
        "json" => LogFormat::Json,
        _ => return Err(fail("log_format", o, format!("{v:?} is not text or json"))),
    };

    let lim = parsed.limits.unwrap_or_default();
    let key_rate = int("limits.key_rate", &lim.key_rate, 0, 0, 1_000_000)? as f64;
    let limits = Limits {
        max_connections: int("limits.max_connections", &lim.max_connections, 4096, 1, 1_000_000)? as usize,
        header_read_timeout: duration("limits.header_read_timeout", l.pick_file(&lim.header_read_timeout, "30s"))?,
        max_headers: int("limits.max_headers", &lim.max_headers, 100, 8, 1000)? as usize,
        max_header_bytes: int("limits.max_header_kb", &lim.max_header_kb, 64, 1, 1024)? as usize * 1024,
        key_rate,
        key_burst: int("limits.key_burst", &lim.key_burst, (key_rate as i64 * 2).max(1), 1, 10_000_000)? as f64,
    };
    let auth = auth.map(|a| crate::auth::AuthSettings { key_rate: limits.key_rate, key_burst: limits.key_burst, ..a });
    Ok(Config {
        limits,
        listen,
        data_dir,
        upstream_raw,
        upstream,
        log_level,
        log_format,
        list_ttl: duration("cache.list_ttl", l.pick_file(&cache.list_ttl, "60s"))?,
        negative_ttl: duration("cache.negative_ttl", l.pick_file(&cache.negative_ttl, "30s"))?,
        upstream_timeout: duration("upstream_timeout", l.pick_file(&parsed.upstream_timeout, "30s"))?,
        upstream_idle_timeout: duration("upstream_idle_timeout", l.pick_file(&parsed.upstream_idle_timeout, "60s"))?,
        shutdown_timeout: duration("shutdown_timeout", l.pick_file(&parsed.shutdown_timeout, "30s"))?,
        prefetch,
        direct_repos,
        routes,
        git_credentials,
        direct_insecure: direct.insecure.clone().unwrap_or_default(),
        egress,
        tls,
        auth,
        git_timeout: duration("direct.timeout", l.pick_file(&direct.timeout, "5m"))?,
        memory_cache_bytes: int("cache.memory_mb", &cache.memory_mb, 128, 0, 1 << 20)? as u64 * (1 << 20),
        publish_max_bytes: int("publish.max_mb", &parsed.publish.unwrap_or_default().max_mb, 500, 1, 500)? as u64
            * (1 << 20),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    #[test]
    fn defaults() {
        let c = load(None, &Overrides::default(), None).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.data_dir, PathBuf::from("./modgate-data"));
        assert_eq!(c.upstream_raw, "direct");
        assert_eq!(c.list_ttl, Duration::from_secs(60));
        assert_eq!(c.negative_ttl, Duration::from_secs(30));
    }

    #[test]
    fn precedence_flag_over_file_over_env_goproxy() {
        let f = file("listen = \"127.0.0.1:9000\"\nupstream = \"http://file.example\"\n[cache]\nlist_ttl = \"5m\"\n");
        let c = load(Some(f.path()), &Overrides::default(), Some("http://env.example".into())).unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.upstream_raw, "http://file.example");
        assert_eq!(c.list_ttl, Duration::from_secs(300));
        let over = Overrides { listen: Some("127.0.0.1:9100".into()), ..Default::default() };
        let c = load(Some(f.path()), &over, None).unwrap();
        assert_eq!(c.listen.port(), 9100);
        let c = load(None, &Overrides::default(), Some("http://env.example".into())).unwrap();
        assert_eq!(c.upstream_raw, "http://env.example");
    }

    #[test]
    fn errors_name_key_and_line() {
        let f = file("listen = \"127.0.0.1:9000\"\n\nlog_level = \"loud\"\n");
        let e = load(Some(f.path()), &Overrides::default(), None).unwrap_err().0;
        assert!(e.contains(":3: log_level:"), "{e}");
        assert!(!e.contains('\n'));
        let f = file("listen = \"nowhere\"\n");
        let e = load(Some(f.path()), &Overrides::default(), None).unwrap_err().0;
        assert!(e.contains(":1: listen:"), "{e}");
        let f = file("a = 1\nlistne = \"x\"\n");
        let e = load(Some(f.path()), &Overrides::default(), None).unwrap_err().0;
        assert!(e.contains("unknown field") && e.contains(":1:"), "{e}");
        let f = file("[cache]\nlist_ttl = \"soon\"\n");
        let e = load(Some(f.path()), &Overrides::default(), None).unwrap_err().0;
        assert!(e.contains(":2: cache.list_ttl:"), "{e}");
        let over = Overrides { upstream: Some("ftp://x".into()), ..Default::default() };
        let e = load(None, &over, None).unwrap_err().0;
        assert!(e.contains("--upstream or MODGATE_UPSTREAM"), "{e}");
        let f = file("[prefetch]\nenabled = false\nconcurrency = 0\n");
        let e = load(Some(f.path()), &Overrides::default(), None).unwrap_err().0;
        assert!(e.contains(":3: prefetch.concurrency"), "{e}");
        let f = file("[prefetch]\nenabled = false\ndepth = 2\n");
        let c = load(Some(f.path()), &Overrides::default(), None).unwrap();
        assert!(!c.prefetch.enabled);
        assert_eq!(c.prefetch.depth, 2);
        let f = file("[direct]\ntimeout = \"2m\"\n[[direct.repo]]\nprefix = \"corp.example/tools\"\nurl = \"https://git.corp.example/tools.git\"\n[[direct.repo]]\nprefix = \"corp.example\"\nurl = \"git@git.corp.example:all.git\"\n");
        let c = load(Some(f.path()), &Overrides::default(), None).unwrap();
        assert_eq!(c.direct_repos[0].prefix, "corp.example/tools", "longest prefix first");
        assert_eq!(c.git_timeout, Duration::from_secs(120));
        let f = file("[[route]]\nmodules = \"corp.example/*\"\nsource = \"direct\"\n[[route]]\nmodules = \"evil.example\"\nsource = \"deny\"\n");
        let c = load(Some(f.path()), &Overrides::default(), None).unwrap();
        assert_eq!(c.routes.len(), 2);
        assert_eq!(c.routes[1].source, RouteSource::Deny);
        let f = file("[[route]]\nmodules = \"x.example\"\nsource = \"gopher://x\"\n");
        let e = load(Some(f.path()), &Overrides::default(), None).unwrap_err().0;
        assert!(e.contains(":1: route.source"), "{e}");
        let f = file("[[direct.repo]]\nprefix = \"corp.example/x\"\nurl = \"ftp://nope\"\n");
        let e = load(Some(f.path()), &Overrides::default(), None).unwrap_err().0;
        assert!(e.contains(":1: direct.repo.url"), "{e}");
        let e = load(Some(Path::new("/nonexistent/modgate.toml")), &Overrides::default(), None).unwrap_err().0;
        assert!(e.contains("cannot read"), "{e}");
    }
}
