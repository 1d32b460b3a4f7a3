//! `[[pool]]`: named groups of upstream module proxies, usable in any GOPROXY list as
//! `pool:NAME`. The list syntax is Go's (gomod parses it); a pool entry stands in it as a URL
//! under the reserved `.invalid` domain, which no real host can have, and the source layer
//! turns that back into the pool.

use super::file::PoolEntry;
use super::loader::{duration, fail, Loader};
use super::ConfigError;
use gomod::proxylist::{self, ProxySpec};
use std::time::Duration;
use toml::Spanned;

/// How a pool spreads requests over its members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Balance {
    RoundRobin,
    /// Smooth weighted round robin (nginx's).
    Weighted,
    /// Fewest requests in flight per unit of weight.
    LeastConn,
    /// Power of two random choices over a latency EWMA.
    P2c,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolMember {
    pub url: String,
    pub weight: u32,
    /// Requests the member may have in flight at once (`None`: no limit); a member at its
    /// limit is skipped like one that is out.
    pub max_in_flight: Option<u32>,
}

/// Active checks: `GET <member><path>` every `interval`; an answer below 500 within `timeout`
/// counts as a pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    pub path: String,
    pub interval: Duration,
    pub timeout: Duration,
    /// Passes in a row that bring a member back.
    pub healthy: u32,
    /// Failures in a row that take it out.
    pub unhealthy: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolSettings {
    pub name: String,
    pub balance: Balance,
    pub members: Vec<PoolMember>,
    pub health: Option<HealthCheck>,
    /// Failed requests in a row (5xx, timeouts, resets) that eject a member.
    pub eject_after: u32,
    /// How long the first ejection lasts; each further one in a row doubles it (up to 8×).
    pub eject_for: Duration,
    /// How long a returning member takes to reach its full weight.
    pub slow_start: Duration,
    /// Other members a failed idempotent request may be tried on.
    pub retries: u32,
    /// Longest a member may take to start answering before the request moves on (`None`: the
    /// upstream timeout).
    pub timeout: Option<Duration>,
}

const SUFFIX: &str = ".pool.modgate.invalid";

/// The stand-in URL of pool `name` inside a parsed GOPROXY list.
pub fn stand_in(name: &str) -> String {
    format!("https://{name}{SUFFIX}")
}

/// The pool a URL of a parsed list stands for, if it is a stand-in.
pub fn pool_of(url: &str) -> Option<&str> {
    url.strip_prefix("https://")?.strip_suffix(SUFFIX)
}

/// Parses a GOPROXY list in which `pool:NAME` may stand for a configured pool.
pub fn parse_list(raw: &str, pools: &[PoolSettings]) -> Result<Vec<ProxySpec>, String> {
    let mut text = String::new();
    let mut entry = String::new();
    let flush = |entry: &mut String, text: &mut String| -> Result<(), String> {
        let e = entry.trim();
        match e.strip_prefix("pool:") {
            Some(name) if pools.iter().any(|p| p.name == name) => text.push_str(&stand_in(name)),
            Some(name) => return Err(format!("pool:{name} names no [[pool]]")),
            None if pool_of(e).is_some() => return Err(format!("{e:?} is reserved for pools")),
            None => text.push_str(e),
        }
        entry.clear();
        Ok(())
    };
    for c in raw.chars() {
        if c == ',' || c == '|' {
            flush(&mut entry, &mut text)?;
            text.push(c);
        } else {
            entry.push(c);
        }
    }
    flush(&mut entry, &mut text)?;
    proxylist::parse(&text).map_err(|e| e.to_string())
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// Every `[[pool]]`, checked: a valid unique name, at least one member with an `http(s)` URL
/// and a weight of at least 1, a known balance, sane durations and counts.
pub(super) fn load(l: &Loader<'_>, entries: &[Spanned<PoolEntry>]) -> Result<Vec<PoolSettings>, ConfigError> {
    let mut out: Vec<PoolSettings> = Vec::new();
    for entry in entries {
        let e = entry.get_ref();
        let origin = || l.at(entry.span().start);
        if !valid_name(&e.name) {
            return Err(fail("pool.name", origin(), format!("{:?}: use lowercase letters, digits and '-'", e.name)));
        }
        if out.iter().any(|p| p.name == e.name) {
            return Err(fail("pool.name", origin(), format!("{:?} is defined twice", e.name)));
        }
        let balance = match e.balance.as_deref().unwrap_or("round_robin") {
            "round_robin" => Balance::RoundRobin,
            "weighted" => Balance::Weighted,
            "least_conn" => Balance::LeastConn,
            "p2c" => Balance::P2c,
            other => {
                return Err(fail(
                    "pool.balance",
                    origin(),
                    format!("{other:?} is not round_robin, weighted, least_conn or p2c"),
                ))
            }
        };
        if e.members.is_empty() {
            return Err(fail("pool.members", origin(), "a pool needs at least one member"));
        }
        let mut members = Vec::new();
        for m in &e.members {
            let url = m.url.trim_end_matches('/');
            if !(url.starts_with("http://") || url.starts_with("https://")) || pool_of(url).is_some() {
                return Err(fail("pool.members.url", origin(), format!("{:?} is not an http(s) URL", m.url)));
            }
            if m.weight == Some(0) {
                return Err(fail("pool.members.weight", origin(), "a weight is at least 1"));
            }
            if m.max_in_flight == Some(0) {
                return Err(fail("pool.members.max_in_flight", origin(), "a limit is at least 1"));
            }
            members.push(PoolMember {
                url: url.to_string(),
                weight: m.weight.unwrap_or(1),
                max_in_flight: m.max_in_flight,
            });
        }
        let dur =
            |key: &str, v: &Option<String>, default: &str| duration(key, (v.as_deref().unwrap_or(default), origin()));
        let health = match &e.health {
            None => None,
            Some(h) => Some(HealthCheck {
                path: h.path.clone().unwrap_or_else(|| "/".into()),
                interval: dur("pool.health.interval", &h.interval, "5s")?,
                timeout: dur("pool.health.timeout", &h.timeout, "2s")?,
                healthy: h.healthy.unwrap_or(2).max(1),
                unhealthy: h.unhealthy.unwrap_or(2).max(1),
            }),
        };
        out.push(PoolSettings {
            name: e.name.clone(),
            balance,
            members,
            health,
            eject_after: e.eject_after.unwrap_or(3).max(1),
            eject_for: dur("pool.eject_for", &e.eject_for, "10s")?,
            slow_start: dur("pool.slow_start", &e.slow_start, "10s")?,
            retries: e.retries.unwrap_or(2),
            timeout: match &e.timeout {
                None => None,
                Some(_) => Some(dur("pool.timeout", &e.timeout, "30s")?),
            },
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(name: &str) -> PoolSettings {
        PoolSettings {
            name: name.into(),
            balance: Balance::RoundRobin,
            members: vec![PoolMember { url: "http://a".into(), weight: 1, max_in_flight: None }],
            health: None,
            eject_after: 3,
            eject_for: Duration::from_secs(10),
            slow_start: Duration::from_secs(10),
            retries: 2,
            timeout: None,
        }
    }

    #[test]
    fn pools_stand_in_lists_as_reserved_urls() {
        let specs = parse_list("pool:mirrors|https://b.example,direct", &[pool("mirrors")]).unwrap();
        assert_eq!(specs.len(), 3);
        match &specs[0].entry {
            gomod::proxylist::Entry::Url(u) => assert_eq!(pool_of(u), Some("mirrors")),
            other => panic!("{other:?}"),
        }
        assert!(specs[0].fall_back_on_error);
        assert!(parse_list("pool:nope", &[pool("mirrors")]).unwrap_err().contains("names no [[pool]]"));
        assert!(parse_list(&stand_in("mirrors"), &[pool("mirrors")]).unwrap_err().contains("reserved"));
        assert_eq!(pool_of("https://proxy.example"), None);
    }
}
