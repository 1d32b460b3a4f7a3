//! The admin API's actions. Each says what it did in its answer and in its audit line.

use super::{body, error, failed, json, json_status, query, Bad, Call, Detail};
use crate::errors::ServeError;
use crate::proxy::Quarantined;
use axum::response::Response;
use http::StatusCode;
use serde::Deserialize;
use serde_json::json;

/// `detail` for the call's audit line.
fn noted(mut r: Response, detail: String) -> Response {
    r.extensions_mut().insert(Detail(detail));
    r
}

/// `POST reload`: reads the configuration again and applies it; 200 with the report when it
/// is in force, 400 with the report (and the reason) when it was refused.
pub async fn reload(c: &Call) -> Response {
    let report = c.app.reload_in_background("admin").await;
    let status = if report.applied { StatusCode::OK } else { StatusCode::BAD_REQUEST };
    json_status(status, &report)
}

#[derive(Deserialize)]
struct ModuleBody {
    module: String,
}

/// `POST purge {"module"}`: forgets the module's lists, `@latest`, query answers and
/// not-found answers; the next request asks its source. Canonical objects stay.
pub async fn purge(c: &Call) -> Response {
    let b: ModuleBody = match body(c) {
        Ok(b) => b,
        Err(b) => return b.response(),
    };
    if let Err(e) = gomod::path::check_path(&b.module) {
        return error(StatusCode::BAD_REQUEST, &e.to_string());
    }
    match c.app.modules.purge(&b.module).await {
        Ok(n) => noted(json(&json!({ "module": b.module, "purged": n })), format!("purged {} ({n} answers)", b.module)),
        Err(e) => failed(e.into()),
    }
}

#[derive(Deserialize)]
struct VersionBody {
    module: String,
    version: String,
    #[serde(default)]
    reason: String,
}

fn version_body(c: &Call, from_query: bool) -> Result<VersionBody, Bad> {
    let b: VersionBody = if from_query { query(c)? } else { body(c)? };
    gomod::path::check_canonical(&b.module, &b.version).map_err(|e| Bad(e.to_string()))?;
    Ok(b)
}

/// `POST quarantine {"module","version","reason"}`: the version is answered 410 Gone from now
/// on (201; 200 when it was already quarantined, with the new reason).
pub async fn quarantine(c: &Call) -> Response {
    let b = match version_body(c, false) {
        Ok(b) => b,
        Err(b) => return b.response(),
    };
    if b.reason.trim().is_empty() {
        return error(StatusCode::BAD_REQUEST, "a quarantine needs a reason");
    }
    let entry = Quarantined {
        module: b.module.clone(),
        version: b.version.clone(),
        reason: b.reason.trim().to_string(),
        by: c.who.clone(),
        at: crate::time::now_rfc3339(),
    };
    match c.app.modules.set_quarantine(&b.module, &b.version, Some(entry.clone())).await {
        Ok(before) => {
            let status = if before.is_some() { StatusCode::OK } else { StatusCode::CREATED };
            let what = format!("quarantined {}@{}: {}", b.module, b.version, entry.reason);
            noted(json_status(status, &entry), what)
        }
        Err(e) => failed(ServeError::Storage(format!("the quarantine could not be kept: {e}"))),
    }
}

/// `DELETE quarantine?module=&version=`: serves the version again (404 when it was not
/// quarantined).
pub async fn release(c: &Call) -> Response {
    let b = match version_body(c, true) {
        Ok(b) => b,
        Err(b) => return b.response(),
    };
    match c.app.modules.set_quarantine(&b.module, &b.version, None).await {
        Ok(Some(was)) => noted(json(&json!({ "released": was })), format!("released {}@{}", b.module, b.version)),
        Ok(None) => error(StatusCode::NOT_FOUND, &format!("{}@{} is not quarantined", b.module, b.version)),
        Err(e) => failed(ServeError::Storage(format!("the quarantine could not be kept: {e}"))),
    }
}

#[derive(Deserialize, Default)]
struct VerifyBody {
    module: Option<String>,
    version: Option<String>,
}

/// `POST verify {"module","version"}`: re-verifies one cached version now (200 with the
/// ledger record); `POST verify {}`: every cached version, in a background job (202).
pub async fn verify(c: &Call) -> Response {
    let b: VerifyBody = if c.body.is_empty() {
        VerifyBody::default()
    } else {
        match body(c) {
            Ok(b) => b,
            Err(b) => return b.response(),
        }
    };
    let admin = &c.app.admin;
    match (b.module, b.version) {
        (Some(m), Some(v)) => match admin.reverify_one(&c.app.modules, &m, &v).await {
            Ok(rec) => noted(json(&rec), format!("re-verified {m}@{v}: {:?}", rec.state)),
            Err(e) => failed(e),
        },
        (None, None) => match admin.reverify_all(&c.app.modules, &c.who).await {
            Ok(job) => noted(json_status(StatusCode::ACCEPTED, &job), format!("job {}", job.id)),
            Err(e) => failed(e),
        },
        _ => error(StatusCode::BAD_REQUEST, "give both module and version, or neither (everything)"),
    }
}

#[derive(Deserialize, Default)]
struct WarmQuery {
    /// `go.sum`, `go.mod`, `go.work` or `go.work.sum` (else the text decides).
    name: Option<String>,
}

/// `POST warm?name=go.sum` with the file as the body: fetches what the build needs in a
/// background job (202), comparing hashes with a go.sum's.
pub fn warm(c: &Call) -> Response {
    let q: WarmQuery = match query(c) {
        Ok(q) => q,
        Err(b) => return b.response(),
    };
    let Ok(text) = std::str::from_utf8(&c.body) else {
        return error(StatusCode::BAD_REQUEST, "the file is not UTF-8 text");
    };
    if text.trim().is_empty() {
        return error(StatusCode::BAD_REQUEST, "send a go.sum, go.mod or go.work as the body");
    }
    match c.app.admin.warm(&c.app.modules, &c.who, q.name.as_deref(), text) {
        Ok(job) => noted(json_status(StatusCode::ACCEPTED, &job), format!("job {} ({} versions)", job.id, job.total)),
        Err(e) => error(StatusCode::BAD_REQUEST, &e),
    }
}

#[derive(Deserialize)]
struct KeyBody {
    name: String,
    #[serde(default)]
    groups: Vec<String>,
}

/// `POST keys {"name","groups"}`: a new key (201); its secret is in this answer only.
pub async fn add_key(c: &Call) -> Response {
    let Some(auth) = &c.app.auth else { return error(StatusCode::FORBIDDEN, "no [auth]") };
    let b: KeyBody = match body(c) {
        Ok(b) => b,
        Err(b) => return b.response(),
    };
    let added = auth.edit_keys(|f| {
        let key = f.add_checked(&b.name, b.groups.clone())?;
        let id = f.keys.last().map(|k| k.id.clone()).unwrap_or_default();
        Ok((id, key))
    });
    match added {
        Ok((id, key)) => {
            let body = json!({ "id": id, "name": b.name, "groups": b.groups, "key": key,
                               "note": "the key is shown once; store it now" });
            noted(json_status(StatusCode::CREATED, &body), format!("added key {id} for {}", b.name))
        }
        Err(e) => error(StatusCode::BAD_REQUEST, &e),
    }
}

/// `DELETE keys/{id}`: revokes a key (by id or name) at once.
pub async fn revoke_key(c: &Call, id: &str) -> Response {
    let Some(auth) = &c.app.auth else { return error(StatusCode::FORBIDDEN, "no [auth]") };
    let id = percent_encoding::percent_decode_str(id).decode_utf8_lossy().into_owned();
    let revoked = auth.edit_keys(|f| Ok(f.revoke(&id)));
    match revoked {
        Ok(true) => noted(json(&json!({ "revoked": id })), format!("revoked key {id}")),
        Ok(false) => error(StatusCode::NOT_FOUND, &format!("no key with id or name {id:?}")),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, &e),
    }
}

#[derive(Deserialize, Default)]
struct GcQuery {
    #[serde(default)]
    dry_run: bool,
}

/// `POST gc?dry_run=`: collects now (or says what would go) and answers the report.
pub async fn gc(c: &Call) -> Response {
    let q: GcQuery = match query(c) {
        Ok(q) => q,
        Err(b) => return b.response(),
    };
    match c.app.admin.collect(&c.app.modules, q.dry_run).await {
        Ok(r) => {
            let what = format!(
                "gc{}: {} objects, {} bytes",
                if q.dry_run { " (dry run)" } else { "" },
                r.evicted_objects,
                r.evicted_bytes
            );
            noted(json(&r), what)
        }
        Err(e) => failed(e.into()),
    }
}
