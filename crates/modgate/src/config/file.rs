//! The TOML file's shape, as serde reads it. Values keep their spans so that every error can
//! name its line.

use serde::Deserialize;
use std::path::PathBuf;
use toml::Spanned;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileConfig {
    pub listen: Option<Spanned<String>>,
    pub data_dir: Option<Spanned<String>>,
    pub upstream: Option<Spanned<String>>,
    pub log_level: Option<Spanned<String>>,
    pub log_format: Option<Spanned<String>>,
    pub upstream_timeout: Option<Spanned<String>>,
    pub upstream_idle_timeout: Option<Spanned<String>>,
    pub shutdown_timeout: Option<Spanned<String>>,
    pub cache: Option<CacheSection>,
    pub prefetch: Option<PrefetchSection>,
    pub direct: Option<DirectSection>,
    pub egress: Option<EgressSection>,
    pub tls: Option<Spanned<TlsSection>>,
    pub auth: Option<Spanned<AuthSection>>,
    pub publish: Option<PublishSection>,
    pub limits: Option<LimitsSection>,
    pub checksum_db: Option<ChecksumDbSection>,
    pub metrics: Option<MetricsSection>,
    pub tracing: Option<TracingSection>,
    pub storage: Option<Spanned<StorageSection>>,
    pub coordination: Option<Spanned<CoordinationSection>>,
    #[serde(default)]
    pub route: Vec<Spanned<RouteEntry>>,
    #[serde(default)]
    pub pool: Vec<Spanned<PoolEntry>>,
    #[serde(default)]
    pub proxy: Vec<Spanned<ProxyEntry>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ProxyEntry {
    pub name: Option<String>,
    pub host: Option<String>,
    pub path: Option<String>,
    pub to: String,
    #[serde(default)]
    pub strip_prefix: bool,
    pub add_prefix: Option<String>,
    #[serde(default)]
    pub preserve_host: bool,
    pub forwarded: Option<String>,
    pub trusted_hops: Option<u32>,
    pub forwarded_headers: Option<Vec<String>>,
    pub via: Option<bool>,
    pub timeout: Option<String>,
    #[serde(default)]
    pub encoded_slashes: bool,
    pub request_headers: Option<HeaderRulesEntry>,
    pub response_headers: Option<HeaderRulesEntry>,
    pub tls: Option<BackendTlsEntry>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HeaderRulesEntry {
    #[serde(default)]
    pub set: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub add: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub remove: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BackendTlsEntry {
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub server_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PoolEntry {
    pub name: String,
    pub balance: Option<String>,
    #[serde(default)]
    pub members: Vec<PoolMemberEntry>,
    pub health: Option<PoolHealthEntry>,
    pub eject_after: Option<u32>,
    pub eject_for: Option<String>,
    pub slow_start: Option<String>,
    pub retries: Option<u32>,
    pub timeout: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PoolMemberEntry {
    pub url: String,
    pub weight: Option<u32>,
    pub max_in_flight: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PoolHealthEntry {
    pub path: Option<String>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub healthy: Option<u32>,
    pub unhealthy: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RouteEntry {
    pub modules: String,
    pub source: String,
    #[serde(default = "yes")]
    pub verify_checksums: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LimitsSection {
    pub max_connections: Option<Spanned<i64>>,
    pub header_read_timeout: Option<Spanned<String>>,
    pub send_timeout: Option<Spanned<String>>,
    pub max_headers: Option<Spanned<i64>>,
    pub max_header_kb: Option<Spanned<i64>>,
    pub key_rate: Option<Spanned<i64>>,
    pub key_burst: Option<Spanned<i64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PublishSection {
    pub max_mb: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AuthSection {
    pub keys_file: PathBuf,
    pub policy_file: PathBuf,
    pub anonymous_group: Option<String>,
    #[serde(default)]
    pub hide_denied: bool,
    pub audit_log: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TlsSection {
    pub cert: PathBuf,
    pub key: PathBuf,
    #[serde(default)]
    pub sni: Vec<CertEntry>,
    pub min_version: Option<String>,
    #[serde(default)]
    pub cipher_suites: Vec<String>,
    pub client_ca: Option<PathBuf>,
    pub client_auth: Option<String>,
    pub plain_listen: Option<String>,
    pub redirect_plain: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CertEntry {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EgressSection {
    pub proxy: Option<Spanned<String>>,
    pub no_proxy: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DirectSection {
    pub timeout: Option<Spanned<String>>,
    pub mirror_idle: Option<Spanned<String>>,
    pub insecure: Option<String>,
    #[serde(default)]
    pub repo: Vec<Spanned<RepoEntry>>,
    #[serde(default)]
    pub credentials: Vec<Spanned<CredentialEntry>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CredentialEntry {
    pub host: String,
    pub username: Option<String>,
    pub token: Option<String>,
    pub password: Option<String>,
    pub ssh_key: Option<PathBuf>,
    pub known_hosts: Option<PathBuf>,
    pub netrc: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RepoEntry {
    pub prefix: String,
    pub url: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PrefetchSection {
    pub enabled: Option<bool>,
    pub zips: Option<bool>,
    pub concurrency: Option<Spanned<i64>>,
    pub depth: Option<Spanned<i64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MetricsSection {
    pub enabled: Option<bool>,
    pub open: Option<bool>,
    pub listen: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TracingSection {
    pub enabled: Option<bool>,
    pub endpoint: Option<Spanned<String>>,
    pub service_name: Option<Spanned<String>>,
    pub sample_ratio: Option<Spanned<f64>>,
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    pub timeout: Option<Spanned<String>>,
    pub export_delay: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CacheSection {
    pub list_ttl: Option<Spanned<String>>,
    pub negative_ttl: Option<Spanned<String>>,
    pub memory_mb: Option<Spanned<i64>>,
    pub max_size: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ChecksumDbSection {
    pub database: Option<Spanned<String>>,
    #[serde(default)]
    pub proxied: Vec<Spanned<String>>,
    pub private: Option<String>,
    pub verify: Option<bool>,
    pub fresh: Option<Spanned<String>>,
    pub own: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StorageSection {
    pub kind: Option<Spanned<String>>,
    pub bucket: Option<Spanned<String>>,
    pub prefix: Option<Spanned<String>>,
    pub endpoint: Option<Spanned<String>>,
    pub region: Option<Spanned<String>>,
    pub path_style: Option<bool>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    pub copy_if_not_exists: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
    pub part_mb: Option<Spanned<i64>>,
    pub local_cache_mb: Option<Spanned<i64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CoordinationSection {
    pub redis: Option<Spanned<String>>,
    pub prefix: Option<Spanned<String>>,
    pub lease: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
}
