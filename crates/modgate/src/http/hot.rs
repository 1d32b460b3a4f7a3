//! The hot path: a plain GET or HEAD of a warm `.info`/`.mod` held in memory, answered without
//! the layers, the path parser or a single allocation for the path. It takes a request only
//! when the answer is certain to be what the full path would give:
//! - the target is origin-form, has no query, and needs no percent-decoding, so the path after
//!   its `/` is byte for byte the storage key that a full parse of it would compute — and every
//!   key in memory was put there by a request that passed that parse;
//! - the object's prefetch hooks have already run, the module's route allows it, and the
//!   version is not quarantined;
//!
//! and then it decides access with the same functions as the full path
//! (`layer::authz::{authenticate, authorize}`), using the module and version the object was
//! stored for, and finishes the response the same way (`layer::finish`). Everything else
//! (`None`) goes through the layers and the full checks.

use super::layer::access_log::log_line;
use super::layer::authz::{authenticate, authorize};
use super::layer::finish::finish;
use super::layer::measure::module_answer;
use super::layer::request_id::new_request_id;
use super::layer::target::is_absolute_form;
use super::respond::object::{object_response, ObjectData};
use super::respond::X_REQUEST_ID;
use crate::app::App;
use crate::auth::Action;
use crate::obs::metrics::method_label;
use crate::proxy::CacheStatus;
use axum::response::{IntoResponse, Response};
use http::{Method, Request};
use std::sync::Arc;
use std::time::Instant;

pub fn fast_hit<B>(app: &App, req: &Request<B>) -> Option<Response> {
    let method = req.method();
    if (method != Method::GET && method != Method::HEAD) || is_absolute_form(req) || req.uri().query().is_some() {
        return None;
    }
    let path = req.uri().path();
    let key = path.strip_prefix('/')?;
    if key.starts_with("-/") || key.starts_with("sumdb/") || !crate::request::is_plain(key) {
        return None;
    }
    let obj = app.modules.memory_hit(key)?;
    if !obj.prefetch_seen.load(std::sync::atomic::Ordering::Relaxed)
        || app.modules.routes().resolve(&obj.module).is_err()
        || app.modules.quarantined(&obj.module, &obj.version).is_some()
    {
        return None;
    }
    let start = Instant::now();
    let id = new_request_id(req.headers());
    let head = method == Method::HEAD;
    let mut who = None;
    let allowed = match &app.auth {
        Some(auth) => {
            let rid = id.to_str().unwrap_or("-");
            authenticate(auth, req, rid).and_then(|p| {
                let ok = authorize(auth, &p, &obj.module, Some(&obj.version), Action::Read, rid);
                who = Some(p);
                ok
            })
        }
        None => Ok(()),
    };
    let mut resp = match allowed {
        Ok(()) => {
            let ct = obj.content_type;
            object_response(ObjectData::Memory(Arc::clone(&obj)), ct, CacheStatus::Hit, req.headers(), head)
        }
        Err(e) => e.into_response(),
    };
    finish(&mut resp, head);
    log_line(&resp, Some(&id), method, req.uri(), start);
    super::handler::goproxy::count(app, &obj.module, Some(&obj.version), who.as_ref(), &resp);
    let kind = if key.ends_with(".mod") { "mod" } else { "info" };
    module_answer(&app.metrics, kind, method_label(method), start, &resp);
    resp.headers_mut().insert(X_REQUEST_ID, id);
    Some(resp)
}
