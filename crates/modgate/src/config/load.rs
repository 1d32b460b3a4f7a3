//! `load`: the file, then each section in turn, then the values flags and the environment may
//! override.

use super::file::{EgressSection, FileConfig, LimitsSection, PrefetchSection, RouteEntry};
use super::loader::{duration, fail, line_of, positive, size, Loader, Origin};
use super::{direct, security, sumdb, PoolSettings};
use super::{
    Config, ConfigError, Defaults, Egress, Limits, LogFormat, Origins, Overrides, PrefetchConfig, RouteRule,
    RouteSource,
};
use gomod::proxylist::ProxySpec;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// Builds the configuration from an optional file, the overrides and the defaults the
/// environment and the go command give.
pub fn load(file: Option<&Path>, over: &Overrides, defaults: &Defaults) -> Result<Config, ConfigError> {
    let text = match file {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .map_err(|e| ConfigError(format!("config: {}: cannot read: {e}", p.display())))?,
        ),
        None => None,
    };
    load_text(file.zip(text.as_deref()), over, defaults)
}

/// [`load`] of a file already read: `file` is its path (for messages) and text.
pub fn load_text(file: Option<(&Path, &str)>, over: &Overrides, defaults: &Defaults) -> Result<Config, ConfigError> {
    let (file_text, mut parsed) = parse(file)?;
    let file = file.map(|(p, _)| p);
    let l = Loader { file_path: file, file_text };
    let cache = parsed.cache.take().unwrap_or_default();
    let direct = parsed.direct.take().unwrap_or_default();
    let direct_repos = direct::repos(&l, &direct)?;
    let git_credentials = direct::credentials(&l, &direct)?;
    let pools = super::pool::load(&l, &parsed.pool)?;
    let routes = routes(&l, &parsed.route, &pools)?;
    let proxies = super::proxy::load(&l, &parsed.proxy, &pools)?;
    let egress = egress(&l, parsed.egress.take().unwrap_or_default())?;
    let tls = security::tls(&l, &parsed.tls)?;
    let storage = super::storage::load(&l, &parsed.storage)?;
    let coordination = super::storage::coordination(&l, &parsed.coordination)?;
    let auth = security::auth(&parsed.auth);
    let origins = origins(&l, &parsed);
    let prefetch = prefetch(&l, parsed.prefetch.take().unwrap_or_default())?;
    let basics = basics(&l, over, &parsed, defaults, &pools)?;
    let checksum_db = sumdb::load(&l, parsed.checksum_db.take().unwrap_or_default(), defaults)?;
    let limits = limits(&l, parsed.limits.take().unwrap_or_default())?;
    let auth = auth.map(|a| super::AuthSettings { key_rate: limits.key_rate, key_burst: limits.key_burst, ..a });
    Ok(Config {
        listen: basics.listen,
        data_dir: basics.data_dir,
        storage,
        coordination,
        upstream_raw: basics.upstream_raw,
        upstream: basics.upstream,
        upstream_origin: basics.upstream_origin,
        checksum_db,
        log_level: basics.log_level,
        log_format: basics.log_format,
        limits,
        list_ttl: duration("cache.list_ttl", l.pick_file(&cache.list_ttl, "60s"))?,
        negative_ttl: duration("cache.negative_ttl", l.pick_file(&cache.negative_ttl, "30s"))?,
        upstream_timeout: duration("upstream_timeout", l.pick_file(&parsed.upstream_timeout, "30s"))?,
        upstream_idle_timeout: duration("upstream_idle_timeout", l.pick_file(&parsed.upstream_idle_timeout, "60s"))?,
        shutdown_timeout: duration("shutdown_timeout", l.pick_file(&parsed.shutdown_timeout, "30s"))?,
        prefetch,
        metrics: super::observe::metrics(&l, parsed.metrics.take().unwrap_or_default())?,
        tracing: super::observe::tracing(&l, parsed.tracing.take().unwrap_or_default())?,
        direct_repos,
        routes,
        pools,
        proxies,
        git_credentials,
        direct_insecure: direct.insecure.clone().unwrap_or_default(),
        egress,
        tls,
        auth,
        git_timeout: duration("direct.timeout", l.pick_file(&direct.timeout, "5m"))?,
        mirror_idle: match l.pick_file(&direct.mirror_idle, "30d") {
            ("off", _) => None,
            picked => Some(duration("direct.mirror_idle", picked)?),
        },
        memory_cache_bytes: l.int("cache.memory_mb", &cache.memory_mb, 128, 0, 1 << 20)? as u64 * (1 << 20),
        cache_max_bytes: size("cache.max_size", l.pick_file(&cache.max_size, "off"))?,
        publish_max_bytes: l.int("publish.max_mb", &parsed.publish.take().unwrap_or_default().max_mb, 500, 1, 500)?
            as u64
            * (1 << 20),
        origins,
    })
}

/// The file's text and its parsed shape (both empty without a file).
fn parse(file: Option<(&Path, &str)>) -> Result<(String, FileConfig), ConfigError> {
    let Some((p, text)) = file else { return Ok((String::new(), FileConfig::default())) };
    let parsed: FileConfig = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(0);
        let msg = e.message().lines().next().unwrap_or("invalid TOML").to_string();
        match e.span().and_then(|s| key_at(text, s.start)) {
            Some(key) => ConfigError(format!("config: {}:{line}: {key}: {msg}", p.display())),
            None => ConfigError(format!("config: {}:{line}: {msg}", p.display())),
        }
    })?;
    Ok((text.to_string(), parsed))
}

/// The key whose value an error at `offset` is about, when its line is a plain `key = value`
/// and the error lies in the value: with its table's name in front (`proxy.via`). The
/// parser's own messages name the type it wanted, not the key. (An error elsewhere, such as
/// an unknown key, names what it is about itself.)
fn key_at(text: &str, offset: usize) -> Option<String> {
    let start = text.get(..offset)?.rfind('\n').map_or(0, |i| i + 1);
    let line = text[start..].lines().next()?;
    let eq = line.find('=')?;
    if offset <= start + eq {
        return None;
    }
    let key = line[..eq].trim();
    let plain = |k: &str| !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
    if !plain(key) {
        return None;
    }
    // The table the line is in: the last header above it.
    let table = text[..start].lines().rev().map(str::trim).find(|l| l.starts_with('['));
    let table = table
        .and_then(|t| t.split('#').next())
        .map(|t| t.trim().trim_matches(|c| c == '[' || c == ']').trim())
        .filter(|t| plain(t));
    Some(match table {
        Some(t) => format!("{t}.{key}"),
        None => key.to_string(),
    })
}

/// Where the sections whose files are read later were written.
fn origins(l: &Loader<'_>, parsed: &FileConfig) -> Origins {
    let Some(path) = l.file_path else { return Origins::default() };
    let mut out = Vec::new();
    if let Some(t) = &parsed.tls {
        out.push(("tls".to_string(), format!("{}:{}", path.display(), l.line(t.span().start))));
    }
    if let Some(a) = &parsed.auth {
        out.push(("auth".to_string(), format!("{}:{}", path.display(), l.line(a.span().start))));
    }
    Origins(out)
}

fn routes(
    l: &Loader<'_>,
    entries: &[Spanned<RouteEntry>],
    pools: &[PoolSettings],
) -> Result<Vec<RouteRule>, ConfigError> {
    let mut out = Vec::new();
    for entry in entries {
        let e = entry.get_ref();
        let origin = || l.at(entry.span().start);
        if e.modules.split(',').all(|g| g.trim().is_empty()) {
            return Err(fail("route.modules", origin(), "names no module pattern"));
        }
        let source = match e.source.trim() {
            "deny" => RouteSource::Deny,
            other => RouteSource::Chain {
                raw: other.to_string(),
                specs: super::pool::parse_list(other, pools).map_err(|err| fail("route.source", origin(), err))?,
            },
        };
        out.push(RouteRule { modules: e.modules.clone(), source, verify_checksums: e.verify_checksums });
    }
    Ok(out)
}

fn egress(l: &Loader<'_>, eg: EgressSection) -> Result<Egress, ConfigError> {
    let proxy = match &eg.proxy {
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
    };
    Ok(Egress { proxy, no_proxy: eg.no_proxy.unwrap_or_default() })
}

fn prefetch(l: &Loader<'_>, pf: PrefetchSection) -> Result<PrefetchConfig, ConfigError> {
    Ok(PrefetchConfig {
        enabled: pf.enabled.unwrap_or(true),
        concurrency: l.int("prefetch.concurrency", &pf.concurrency, 16, 1, 512)? as usize,
        depth: l.int("prefetch.depth", &pf.depth, 8, 0, 64)? as u32,
        zips: pf.zips.unwrap_or(true),
    })
}

fn limits(l: &Loader<'_>, lim: LimitsSection) -> Result<Limits, ConfigError> {
    let key_rate = l.int("limits.key_rate", &lim.key_rate, 0, 0, 1_000_000)? as f64;
    Ok(Limits {
        max_connections: l.int("limits.max_connections", &lim.max_connections, 4096, 1, 1_000_000)? as usize,
        header_read_timeout: duration("limits.header_read_timeout", l.pick_file(&lim.header_read_timeout, "30s"))?,
        send_timeout: positive("limits.send_timeout", l.pick_file(&lim.send_timeout, "60s"))?,
        max_headers: l.int("limits.max_headers", &lim.max_headers, 100, 8, 1000)? as usize,
        max_header_bytes: l.int("limits.max_header_kb", &lim.max_header_kb, 64, 1, 1024)? as usize * 1024,
        key_rate,
        key_burst: l.int("limits.key_burst", &lim.key_burst, (key_rate as i64 * 2).max(1), 1, 10_000_000)? as f64,
    })
}

/// The values flags and the environment may set.
struct Basics {
    listen: SocketAddr,
    data_dir: PathBuf,
    upstream_raw: String,
    upstream: Vec<ProxySpec>,
    upstream_origin: String,
    log_level: String,
    log_format: LogFormat,
}

fn basics(
    l: &Loader<'_>,
    over: &Overrides,
    parsed: &FileConfig,
    defaults: &Defaults,
    pools: &[PoolSettings],
) -> Result<Basics, ConfigError> {
    let (v, o) = l.pick(&over.listen, &parsed.listen, "127.0.0.1:8080");
    let listen: SocketAddr =
        v.parse().map_err(|e| fail("listen", o, format!("{v:?} is not an address like 127.0.0.1:8080 ({e})")))?;

    let (v, o) = l.pick(&over.data_dir, &parsed.data_dir, "./modgate-data");
    if v.trim().is_empty() {
        return Err(fail("data_dir", o, "must not be empty"));
    }
    let data_dir = PathBuf::from(v);

    let (goproxy_default, default_origin) = match &defaults.goproxy {
        Some((v, from)) if !v.trim().is_empty() => (v.as_str(), from.as_str()),
        _ => ("direct", "default"),
    };
    let (v, o) = l.pick(&over.upstream, &parsed.upstream, goproxy_default);
    let upstream_origin = match o {
        Origin::Flag => "--upstream",
        Origin::File { .. } => "config",
        Origin::Default => default_origin,
    }
    .to_string();
    let upstream = super::pool::parse_list(v, pools).map_err(|e| fail("upstream", o, e))?;
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
    Ok(Basics { listen, data_dir, upstream_raw, upstream, upstream_origin, log_level, log_format })
}
