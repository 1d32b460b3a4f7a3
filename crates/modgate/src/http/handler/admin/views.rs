//! The admin API's questions: what runs, what is cached, what was served, who asked.

use super::{error, failed, json, query, Call};
use crate::admin::catalog::VersionEntry;
use crate::app::App;
use axum::response::Response;
use http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;

/// `GET status`: what this server is and runs with, secrets redacted.
pub fn status(c: &Call) -> Response {
    let app = &c.app;
    let summary = app.summary.load();
    json(&json!({
        "version": env!("CARGO_PKG_VERSION"),
        "upstream": summary.upstream,
        "routes": summary.routes,
        "auth": true,
        "pools": pools(app),
        "proxies": proxies(app),
        "storage": {
            "where": summary.storage,
            "local_cache": app.modules.objects().usage().map(|u| json!({ "objects": u.objects, "bytes": u.bytes })),
        },
        "coordination": coordination(app),
        "quarantined": app.modules.quarantine_list().len(),
        "reload": app.last_reload(),
        // Tasks alive in the runtime: fills, prefetch, connections (a leak shows here first).
        "tasks": tokio::runtime::Handle::try_current().map(|h| h.metrics().num_alive_tasks()).ok(),
    }))
}

/// `GET upstreams`: the health of every pool member, proxied backend and the Redis.
pub fn upstreams(c: &Call) -> Response {
    let app = &c.app;
    json(&json!({
        "upstream": app.summary.load().upstream,
        "pools": pools(app),
        "proxies": proxies(app),
        "coordination": coordination(app),
    }))
}

fn pools(app: &App) -> Vec<Value> {
    let pools = app.pools.load();
    pools.iter().map(|p| json!({ "name": p.name(), "members": members(p.health()) })).collect()
}

fn proxies(app: &App) -> Vec<Value> {
    let Some(t) = app.revproxy.get() else { return Vec::new() };
    t.routes()
        .iter()
        .map(|r| {
            json!({
                "name": r.settings.name,
                "host": r.settings.host,
                "path": r.settings.path,
                "members": members(r.members.health()),
            })
        })
        .collect()
}

fn coordination(app: &App) -> Option<Value> {
    app.redis
        .as_ref()
        .map(|r| json!({ "redis": r.name, "up": r.is_up(), "outages": r.outages.load(Ordering::Relaxed) }))
}

/// Each member's URL (credentials removed) and health.
fn members(health: Vec<(String, bool)>) -> Vec<Value> {
    health.into_iter().map(|(url, up)| json!({ "url": crate::net::redact(&url), "healthy": up })).collect()
}

#[derive(Deserialize)]
struct CatalogQuery {
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    q: String,
    #[serde(default = "one")]
    page: usize,
    #[serde(default = "fifty")]
    per_page: usize,
}

fn one() -> usize {
    1
}

fn fifty() -> usize {
    50
}

/// `GET catalog?prefix=&q=&page=&per_page=`: cached modules and their versions.
pub async fn catalog(c: &Call) -> Response {
    let q: CatalogQuery = match query(c) {
        Ok(q) => q,
        Err(b) => return b.response(),
    };
    if q.page == 0 || !(1..=500).contains(&q.per_page) {
        return error(StatusCode::BAD_REQUEST, "page starts at 1; per_page is 1 to 500");
    }
    let index = match c.app.admin.catalog.index(c.app.modules.objects().as_ref()).await {
        Ok(i) => i,
        Err(e) => return failed(e.into()),
    };
    let matching: Vec<_> = index.search(&q.prefix, &q.q).collect();
    let total = matching.len();
    let mut modules = Vec::new();
    for (path, versions) in matching.into_iter().skip((q.page - 1) * q.per_page).take(q.per_page) {
        modules.push(module_entry(&c.app, path, versions).await);
    }
    json(&json!({
        "total": total,
        "page": q.page,
        "per_page": q.per_page,
        "objects": index.objects,
        "bytes": index.bytes,
        "modules": modules,
    }))
}

async fn module_entry(app: &App, path: &str, versions: &[VersionEntry]) -> Value {
    let published = app.modules.published_versions(path).await.unwrap_or_default();
    let source = if published.is_empty() { app.summary.load().source_of(path).to_string() } else { "published".into() };
    let versions: Vec<Value> = versions.iter().rev().map(|v| version_entry(app, path, v, &published)).collect();
    json!({ "path": path, "source": source, "versions": versions })
}

fn version_entry(app: &App, module: &str, v: &VersionEntry, published: &[String]) -> Value {
    let served = app.admin.activity.served(module, &v.version);
    let rec = app.admin.ledger.get(module, &v.version);
    let when = |t: Option<i64>| t.map(crate::time::rfc3339);
    let cached = v.cached.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).ok();
    json!({
        "version": v.version,
        "info": v.info,
        "mod": v.mod_size.is_some(),
        "zip": v.zip_size.is_some(),
        "size": v.size(),
        "cached": when(cached),
        "source": if published.contains(&v.version) { Some("published") } else { None },
        "first_served": when(served.map(|s| s.first)),
        "last_served": when(served.map(|s| s.last)),
        "served": served.map_or(0, |s| s.count),
        "verification": rec.as_ref().map(|r| r.state),
        "checked": rec.as_ref().and_then(|r| r.checked.clone()),
        "zip_h1": rec.as_ref().and_then(|r| r.zip_h1.clone()),
        "mod_h1": rec.as_ref().and_then(|r| r.mod_h1.clone()),
        "quarantined": app.modules.quarantined(module, &v.version),
    })
}

#[derive(Deserialize)]
struct ModuleQuery {
    path: String,
}

/// `GET module?path=`: one module's versions, its newest go.mod, and who requires it.
pub async fn module(c: &Call) -> Response {
    let q: ModuleQuery = match query(c) {
        Ok(q) => q,
        Err(b) => return b.response(),
    };
    if let Err(e) = gomod::path::check_path(&q.path) {
        return error(StatusCode::BAD_REQUEST, &e.to_string());
    }
    let objects = c.app.modules.objects().as_ref();
    let index = match c.app.admin.catalog.index(objects).await {
        Ok(i) => i,
        Err(e) => return failed(e.into()),
    };
    let Some(versions) = index.modules.get(&q.path) else {
        return error(StatusCode::NOT_FOUND, &format!("{}: nothing cached", q.path));
    };
    let mut entry = module_entry(&c.app, &q.path, versions).await;
    let newest_mod = versions.iter().rev().find(|v| v.mod_size.is_some());
    let go_mod = match newest_mod {
        Some(v) => crate::request::ModuleRequest::for_version(&q.path, &v.version, crate::request::Endpoint::Mod),
        None => None,
    };
    let go_mod = match go_mod {
        Some(r) => objects.read(r.rel(), gomod::limits::MAX_GO_MOD).await.ok().flatten(),
        None => None,
    };
    let dependents = match c.app.admin.catalog.dependents(objects, &q.path).await {
        Ok(d) => d,
        Err(e) => return failed(e.into()),
    };
    let dependents: Vec<Value> =
        dependents.into_iter().map(|(m, v, r)| json!({ "module": m, "version": v, "requires": r })).collect();
    if let Some(obj) = entry.as_object_mut() {
        obj.insert("go_mod".into(), json!(go_mod.map(|d| String::from_utf8_lossy(&d).into_owned())));
        obj.insert("go_mod_version".into(), json!(newest_mod.map(|v| v.version.clone())));
        obj.insert("dependents".into(), json!(dependents));
    }
    json(&entry)
}

#[derive(Deserialize)]
struct StatsQuery {
    #[serde(default = "ten")]
    top: usize,
}

fn ten() -> usize {
    10
}

/// `GET stats?top=`: hits, misses, bytes, the most asked modules and clients, the cache's size.
pub fn stats(c: &Call) -> Response {
    let q: StatsQuery = match query(c) {
        Ok(q) => q,
        Err(b) => return b.response(),
    };
    let stats = c.app.admin.activity.stats(q.top.min(1000));
    let usage = c.app.modules.objects().usage();
    let mut body = json!(stats);
    if let Some(obj) = body.as_object_mut() {
        obj.insert(
            "cache".into(),
            json!(usage.map(|u| json!({ "objects": u.objects, "bytes": u.bytes, "disk_free": u.disk_free }))),
        );
        obj.insert("quarantined".into(), json!(c.app.modules.quarantine_list().len()));
    }
    json(&body)
}

#[derive(Deserialize)]
struct AuditQuery {
    who: Option<String>,
    action: Option<String>,
    event: Option<String>,
    module: Option<String>,
    allowed: Option<bool>,
    #[serde(default = "hundred")]
    limit: usize,
}

fn hundred() -> usize {
    100
}

/// `GET audit?who=&action=&event=&module=&allowed=&limit=`: the audit log's latest lines,
/// newest first (`who` and `module` match a substring).
pub fn audit(c: &Call) -> Response {
    let q: AuditQuery = match query(c) {
        Ok(q) => q,
        Err(b) => return b.response(),
    };
    let Some(auth) = &c.app.auth else { return json(&json!({ "entries": [] })) };
    let text = |l: &Value, k: &str| l.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let has = |l: &Value, k: &str, want: &Option<String>| want.as_ref().is_none_or(|w| text(l, k).contains(w.as_str()));
    let is = |l: &Value, k: &str, want: &Option<String>| want.as_ref().is_none_or(|w| text(l, k) == *w);
    let entries = auth.audit().recent(q.limit.min(10_000), |l| {
        has(l, "who", &q.who)
            && has(l, "module", &q.module)
            && is(l, "action", &q.action)
            && is(l, "event", &q.event)
            && q.allowed.is_none_or(|a| l.get("allowed").and_then(Value::as_bool) == Some(a))
    });
    json(&json!({ "entries": entries }))
}

/// `GET quarantine`: every quarantined version.
pub fn quarantine(c: &Call) -> Response {
    json(&json!({ "quarantined": c.app.modules.quarantine_list() }))
}

/// `GET jobs` and `GET jobs/{id}`: background jobs and their progress.
pub fn jobs(c: &Call, id: Option<&str>) -> Response {
    match id {
        None => json(&json!({ "jobs": c.app.admin.jobs.list() })),
        Some(id) => match c.app.admin.jobs.get(id) {
            Some(j) => json(&j),
            None => error(StatusCode::NOT_FOUND, &format!("no job {id}")),
        },
    }
}

/// `GET keys`: the API keys (never their secrets or hashes).
pub fn keys(c: &Call) -> Response {
    let Some(auth) = &c.app.auth else { return json(&json!({ "keys": [] })) };
    match crate::auth::KeysFile::load(auth.keys_file()) {
        Ok(f) => {
            let keys: Vec<Value> = f
                .keys
                .iter()
                .map(|k| json!({ "id": k.id, "name": k.name, "groups": k.groups, "created": k.created, "revoked": k.revoked }))
                .collect();
            json(&json!({ "keys": keys }))
        }
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, &e),
    }
}

/// `GET gc`: the limit, the totals evicted since start, and the last collection.
pub fn gc(c: &Call) -> Response {
    let admin = &c.app.admin;
    let n = &admin.gc_counters;
    json(&json!({
        "max_size": admin.gc_settings.load().max_bytes,
        "runs": n.runs.load(Ordering::Relaxed),
        "evicted_objects": n.objects.load(Ordering::Relaxed),
        "evicted_bytes": n.bytes.load(Ordering::Relaxed),
        "last": *admin.gc_last.lock().unwrap_or_else(|p| p.into_inner()),
    }))
}
