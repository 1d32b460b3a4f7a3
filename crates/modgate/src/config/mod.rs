//! Configuration as plain data: defaults, overridden by a TOML file, by `MODGATE_*`
//! environment variables, and by command-line flags, in that order. Every problem is reported
//! as one line naming the key (and, for the file, its line).
//!
//! Loading reads the configuration file and nothing else: the files that sections name
//! (certificates, API keys, the policy) belong to the parts that use them, which report their
//! problems through [`Config::error`] so the message still points at the section's line.

mod direct;
mod file;
mod load;
mod loader;
mod observe;
mod pool;
mod proxy;
mod security;
mod storage;
mod sumdb;
#[cfg(test)]
mod tests;

pub use direct::{GitAuth, GitCredential, RepoMapping};
pub use load::{load, load_text};
pub use observe::TracingConfig;
pub use pool::{pool_of, Balance, HealthCheck, PoolMember, PoolSettings};
pub use proxy::{BackendTls, ForwardedHeaders, ForwardedMode, ForwardingHeader, HeaderRules, ProxyRoute};
pub use security::{AuthSettings, CertFiles, ClientAuth, TlsSettings};
pub use storage::{Coordination, S3Settings, Storage};
pub use sumdb::{parse_spec, ChecksumDb, SumdbSpec};

use gomod::proxylist::ProxySpec;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use thiserror::Error;

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
    /// `[storage]`: where committed objects live (the local disk unless a bucket is named).
    pub storage: Storage,
    /// `[coordination]`: the Redis replicas share, when there are several.
    pub coordination: Option<Coordination>,
    /// The upstream chain, as written (for logs) and parsed.
    pub upstream_raw: String,
    pub upstream: Vec<ProxySpec>,
    /// Where the upstream chain came from: "--upstream", "config", "$GOPROXY", "go env GOPROXY"
    /// or "default".
    pub upstream_origin: String,
    /// Checksum databases: proxied, and the one fills are verified against.
    pub checksum_db: ChecksumDb,
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
    pub metrics: MetricsConfig,
    pub tracing: TracingConfig,
    /// Bytes of small immutable objects (`.info`, `.mod`) kept in memory.
    pub memory_cache_bytes: u64,
    /// `[cache] max_size`: the bytes of upstream-cached objects kept at most (garbage
    /// collection keeps the store under it); `None`: no limit.
    pub cache_max_bytes: Option<u64>,
    /// Direct mode: explicit module prefix → repository mappings, longest prefix first.
    pub direct_repos: Vec<RepoMapping>,
    /// Longest a git command of direct mode may run.
    pub git_timeout: Duration,
    /// `[direct] mirror_idle`: git mirrors unused this long are removed (`None`: kept).
    pub mirror_idle: Option<Duration>,
    pub routes: Vec<RouteRule>,
    /// `[[pool]]`: named groups of upstream proxies (`pool:NAME` in any list).
    pub pools: Vec<PoolSettings>,
    /// `[[proxy]]`: reverse-proxy routes.
    pub proxies: Vec<ProxyRoute>,
    pub git_credentials: Vec<GitCredential>,
    /// Direct mode: module patterns (GOINSECURE syntax) whose discovery may fall back to plain
    /// HTTP and whose repositories may use `http://` or `git://`.
    pub direct_insecure: String,
    /// Outbound traffic: straight out or through a forward proxy.
    pub egress: Egress,
    /// TLS termination on `listen`, when configured.
    pub tls: Option<TlsSettings>,
    /// API keys, access policy and audit, when configured.
    pub auth: Option<AuthSettings>,
    /// Largest zip a publish may send.
    pub publish_max_bytes: u64,
    pub limits: Limits,
    /// Where sections were written, for errors their owners find later.
    pub origins: Origins,
}

impl Config {
    /// An error about `key` of `section` (e.g. `"tls"`), pointing at the section's line when
    /// it came from the file.
    pub fn error(&self, section: &str, key: &str, reason: impl std::fmt::Display) -> ConfigError {
        match self.origins.0.iter().find(|(s, _)| s == section) {
            Some((_, at)) => ConfigError(format!("config: {at}: {key}: {reason}")),
            None => ConfigError(format!("config: {key}: {reason}")),
        }
    }
}

/// `path:line` of the sections written in the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origins(pub Vec<(String, String)>);

/// Where outbound traffic goes (`[egress]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Egress {
    /// `http://[user:pass@]host:port` of a forward proxy; `None` reads the environment.
    pub proxy: Option<String>,
    /// Hosts and domains (NO_PROXY syntax) reached without the proxy.
    pub no_proxy: String,
}

/// Protection against slow, greedy or oversized clients (`[limits]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// Longest a client may take to send a request's headers (slowloris), including the wait
    /// for the next request on a kept-alive connection.
    pub header_read_timeout: Duration,
    /// Longest a client may go without taking any byte of an answer being written to it (a
    /// stalled or deliberately slow reader): its connection is then closed, and whatever fed
    /// the answer (a file, a backend) let go.
    pub send_timeout: Duration,
    /// Request header fields, and their total bytes.
    pub max_headers: usize,
    pub max_header_bytes: usize,
    /// Requests per second per API key or client certificate (token bucket); 0 is off.
    pub key_rate: f64,
    /// Bucket size: how many requests a key may make in a burst.
    pub key_burst: f64,
}

impl Default for Limits {
    /// The defaults of `[limits]`.
    fn default() -> Self {
        Self {
            max_connections: 4096,
            header_read_timeout: Duration::from_secs(30),
            send_timeout: Duration::from_secs(60),
            max_headers: 100,
            max_header_bytes: 64 * 1024,
            key_rate: 0.0,
            key_burst: 1.0,
        }
    }
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
    /// Whether fills of these modules are verified against the checksum database.
    pub verify_checksums: bool,
}

/// Loads the configuration again (from the same file, flags and environment), for a reload.
pub type ConfigSource = std::sync::Arc<dyn Fn() -> Result<Config, String> + Send + Sync>;

/// `[metrics]`: whether `/metrics` answers, and whether it answers everyone (`open`) or, with
/// `[auth]`, only the admin groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsConfig {
    pub enabled: bool,
    pub open: bool,
    /// A listener of its own for `/metrics` (and the health endpoints), instead of the main one.
    pub listen: Option<SocketAddr>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self { enabled: true, open: false, listen: None }
    }
}

/// Dependency-aware prefetch: serving a go.mod warms its requirements' `.mod` and `.info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefetchConfig {
    pub enabled: bool,
    /// Upstream fetches in flight for prefetching at once.
    pub concurrency: usize,
    /// How many levels of requirements below a served go.mod are warmed.
    pub depth: u32,
    /// Whether serving a version's `.info` warms its zip.
    pub zips: bool,
}

/// What the environment and the go command installed beside modgate say, for the values the
/// configuration leaves out: each value with where it came from.
#[derive(Debug, Clone, Default)]
pub struct Defaults {
    /// The upstream list (GOPROXY syntax).
    pub goproxy: Option<(String, String)>,
    /// The checksum database (GOSUMDB syntax).
    pub gosumdb: Option<(String, String)>,
    /// Verifier keys of the databases the go command knows by name.
    pub known_sumdb_keys: Vec<String>,
}

impl Defaults {
    /// Only `$GOPROXY` (the behaviour of tests and embedders that ask nothing else).
    pub fn goproxy_env(goproxy: Option<String>) -> Self {
        Defaults {
            goproxy: goproxy.filter(|s| !s.trim().is_empty()).map(|v| (v, "$GOPROXY".to_string())),
            ..Default::default()
        }
    }
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
