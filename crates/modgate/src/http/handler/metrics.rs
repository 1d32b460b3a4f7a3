//! `GET /metrics`: the counts kept as requests pass (`obs::metrics`), then what is read off
//! the server at scrape time — build, process, fills in flight, the memory cache, and each
//! pool member's and proxy backend's health — in the Prometheus text format. Member URLs
//! are shown without credentials.

use crate::app::App;
use crate::errors::ServeError;
use crate::http::respond::uncached;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MemberLabels {
    group: String,
    member: String,
}

pub fn handle(app: &App) -> Response {
    if !app.metrics_config.load().enabled {
        return ServeError::not_found("metrics are off ([metrics] enabled = false)").into_response();
    }
    uncached(StatusCode::OK, CONTENT_TYPE, app.metrics.encode(Some(&readings(app))))
}

fn gauge(r: &mut Registry, name: &str, help: &str, value: i64) {
    let g: Gauge = Gauge::default();
    g.set(value);
    r.register(name, help, g);
}

/// What the server's state says now.
fn readings(app: &App) -> Registry {
    let mut r = Registry::with_prefix("modgate");
    let build: Family<BuildLabels, Gauge> = Family::default();
    build.get_or_create(&BuildLabels { version: env!("CARGO_PKG_VERSION") }).set(1);
    r.register("build_info", "The running build (always 1)", build);
    gauge(&mut r, "fills_in_flight", "Fills running now", app.modules.fills_in_flight() as i64);
    let (bytes, held, evicted) = app.modules.memory_stats();
    gauge(&mut r, "memory_cache_bytes", "Bytes held by the memory cache of small objects", bytes as i64);
    gauge(&mut r, "memory_cache_objects", "Objects held by the memory cache", held as i64);
    let evictions = Counter::<u64>::default();
    evictions.inc_by(evicted);
    r.register("memory_cache_evictions", "Objects evicted from the memory cache to make room", evictions);
    if let Some(u) = app.modules.objects().usage() {
        gauge(
            &mut r,
            "storage_objects",
            "Objects in the cache storage (counted at start, then as created)",
            u.objects as i64,
        );
        gauge(&mut r, "storage_bytes", "Bytes of the objects in the cache storage", u.bytes as i64);
        gauge(
            &mut r,
            "storage_counted",
            "Whether the count of stored objects at start has finished (1) or not (0)",
            u.counted as i64,
        );
        if let (Some(free), Some(size)) = (u.disk_free, u.disk_size) {
            gauge(
                &mut r,
                "storage_disk_free_bytes",
                "Bytes free to modgate on the cache storage's filesystem",
                free as i64,
            );
            gauge(&mut r, "storage_disk_size_bytes", "Size of the cache storage's filesystem", size as i64);
        }
    }
    if let Some(redis) = &app.redis {
        gauge(
            &mut r,
            "coordination_up",
            "Whether Redis answers (1) or each replica works alone (0)",
            redis.is_up() as i64,
        );
        let outages = Counter::<u64>::default();
        outages.inc_by(redis.outages.load(std::sync::atomic::Ordering::Relaxed));
        r.register("coordination_outages", "Times Redis was found unreachable", outages);
    }
    gc(&mut r, app);
    members(&mut r, app);
    process(&mut r);
    r
}

/// What garbage collection has evicted since start.
fn gc(r: &mut Registry, app: &App) {
    let n = &app.admin.gc_counters;
    let read = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    for (name, help, value) in [
        ("gc_runs", "Garbage collections carried out", read(&n.runs)),
        ("gc_evicted_objects", "Objects garbage collection evicted to keep [cache] max_size", read(&n.objects)),
        ("gc_evicted_bytes", "Bytes garbage collection evicted to keep [cache] max_size", read(&n.bytes)),
    ] {
        let c = Counter::<u64>::default();
        c.inc_by(value);
        r.register(name, help, c);
    }
    if let Some(max) = app.admin.gc_settings.load().max_bytes {
        gauge(r, "cache_max_size_bytes", "[cache] max_size", max as i64);
    }
}

/// 1 for a healthy member, 0 for one ejected or failing its checks.
fn members(r: &mut Registry, app: &App) {
    let pools: Family<MemberLabels, Gauge> = Family::default();
    for p in app.pools.load().iter() {
        for (url, ok) in p.health() {
            let labels = MemberLabels { group: p.name().to_string(), member: crate::net::redact(&url) };
            pools.get_or_create(&labels).set(ok as i64);
        }
    }
    r.register("pool_member_healthy", "Whether an upstream pool member is healthy (1) or not (0)", pools);
    let backends: Family<MemberLabels, Gauge> = Family::default();
    if let Some(table) = app.revproxy.get() {
        for route in table.routes() {
            for (url, ok) in route.members.health() {
                let labels = MemberLabels { group: route.settings.name.clone(), member: crate::net::redact(&url) };
                backends.get_or_create(&labels).set(ok as i64);
            }
        }
    }
    r.register("proxy_backend_healthy", "Whether a reverse-proxy route's backend is healthy (1) or not (0)", backends);
}

/// Resident memory and open descriptors, from `/proc` (absent where there is none).
fn process(r: &mut Registry) {
    // SAFETY: sysconf only reads a system constant.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1);
    let rss = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|v| v.parse::<i64>().ok()));
    if let Some(pages) = rss {
        gauge(r, "process_resident_memory_bytes", "Resident memory of the process", pages * page);
    }
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        gauge(r, "process_open_fds", "Open file descriptors of the process", dir.count() as i64);
    }
}
