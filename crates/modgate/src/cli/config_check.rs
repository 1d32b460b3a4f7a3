//! `modgate config check FILE`: validate a configuration file (and the files it names) and
//! print the effective settings, secrets removed.

use modgate::config::{Config, Overrides};
use std::path::Path;
use std::process::ExitCode;

pub fn run(file: &Path) -> ExitCode {
    match super::load_checked(Some(file), &Overrides::default()) {
        Ok(c) => {
            println!("{}: ok", file.display());
            print_settings(&c);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("modgate: {e}");
            ExitCode::from(2)
        }
    }
}

fn print_settings(c: &Config) {
    println!("listen = {}", c.listen);
    println!("data_dir = {}", c.data_dir.display());
    print_shared(c);
    println!("upstream = {} (from {})", modgate::net::redact(&c.upstream_raw), c.upstream_origin);
    let db = &c.checksum_db;
    match &db.database {
        Some(d) => println!(
            "checksum_db.database = {} (from {}; key {}; verify {}; via {})",
            d.name,
            db.origin,
            if d.key.is_some() { "known" } else { "unknown: proxied only" },
            db.verify,
            d.url.as_deref().unwrap_or("the upstream chain's /sumdb/, else https://<name>")
        ),
        None => println!("checksum_db.database = off (from {})", db.origin),
    }
    if let Some(own) = &db.own {
        println!("checksum_db.own = {own} (key in {})", c.data_dir.join("sumdb-own").display());
    }
    println!("log_level = {}, log_format = {:?}", c.log_level, c.log_format);
    println!("cache.list_ttl = {:?}, cache.negative_ttl = {:?}", c.list_ttl, c.negative_ttl);
    match c.cache_max_bytes {
        Some(n) => println!("cache.max_size = {n} bytes (garbage collection keeps upstream-cached objects under it)"),
        None => println!("cache.max_size = off"),
    }
    match &c.tls {
        Some(t) => println!(
            "tls = on ({} certificate(s), min {}, client certificates {})",
            t.certificates.len(),
            t.min_version,
            match &t.client_ca {
                None => "off".to_string(),
                Some((_, mode)) => format!("{mode:?}").to_lowercase(),
            }
        ),
        None => println!("tls = off"),
    }
    match &c.auth {
        Some(a) => println!(
            "auth = on (keys {}, policy {}, anonymous {})",
            a.keys_file.display(),
            a.policy_file.display(),
            a.anonymous_group.as_deref().unwrap_or("refused")
        ),
        None => println!("auth = off (everyone may read; publishing is refused)"),
    }
    println!("routes = {}, direct mappings = {}", c.routes.len(), c.direct_repos.len());
    println!("pools = {}, proxy routes = {}", c.pools.len(), c.proxies.len());
    for p in &c.proxies {
        let to = p.backends.members.iter().map(|m| modgate::net::redact(&m.url)).collect::<Vec<_>>().join(" ");
        println!("  proxy {}{} -> {to}", p.host.as_deref().unwrap_or("*"), p.path);
    }
    let m = &c.metrics;
    match (m.enabled, m.listen) {
        (false, _) => println!("metrics = off"),
        (true, Some(at)) => println!("metrics = on {at} (open = {})", m.open),
        (true, None) => println!("metrics = on the main listener (open = {})", m.open),
    }
    let t = &c.tracing;
    match t.enabled {
        true => println!(
            "tracing = on -> {} (service {}, sample_ratio {})",
            modgate::net::redact(&t.endpoint),
            t.service_name,
            t.sample_ratio
        ),
        false => println!("tracing = off"),
    }
}

/// Where objects live and how replicas coordinate.
fn print_shared(c: &Config) {
    match &c.storage {
        modgate::config::Storage::Local => println!("storage = local ({})", c.data_dir.join("cache").display()),
        modgate::config::Storage::S3(s) => println!(
            "storage = s3://{}/{} at {} (region {}, {}; credentials from {})",
            s.bucket,
            s.prefix,
            s.endpoint.as_deref().unwrap_or("AWS"),
            s.region,
            if s.path_style { "path-style" } else { "virtual-hosted" },
            if s.access_key_id.is_some() { "the file" } else { "the environment or the instance profile" },
        ),
    }
    match &c.coordination {
        Some(co) => println!(
            "coordination = {} (keys {}:…, lease {:?}, command limit {:?})",
            modgate::net::redact(&co.redis),
            co.prefix,
            co.lease,
            co.timeout
        ),
        None => println!("coordination = off (this replica fills and remembers alone)"),
    }
}
