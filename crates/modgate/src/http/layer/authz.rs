//! The access decision: with `[auth]`, every request but the health checks is authenticated
//! (API key, client certificate, or the anonymous group), held to its key's rate, and
//! authorized on the canonical, unescaped module path the handler itself will use — the same
//! parse, for every endpoint alike. The hot path calls `authenticate` and `authorize` too.

use super::parse::Parsed;
use super::request_id::RequestId;
use crate::auth::{Action, Auth, Authn, ClientCert, Principal};
use crate::errors::ServeError;
use crate::request::{SumdbPath, Target};
use axum::response::{IntoResponse, Response};
use http::Request;
use std::sync::Arc;

/// Who is asking (or why nobody acceptable is), within their rate limit.
pub fn authenticate<B>(auth: &Auth, req: &Request<B>, request_id: &str) -> Result<Principal, ServeError> {
    let who = match auth.authenticate(req.headers(), req.extensions().get::<ClientCert>()) {
        Authn::Ok(p) => p,
        Authn::Missing => {
            auth.metrics().decided(false, "no_credentials");
            return Err(ServeError::Unauthorized("authentication required".into()));
        }
        Authn::Invalid => {
            auth.metrics().decided(false, "invalid_credentials");
            auth.record_refusal("invalid-credentials", "unknown, revoked or malformed credentials", request_id);
            return Err(ServeError::Unauthorized("invalid credentials".into()));
        }
    };
    if !auth.rate_ok(&who) {
        auth.metrics().rate_limited.inc();
        auth.metrics().decided(false, "rate_limited");
        return Err(ServeError::TooManyRequests(format!("{}: too many requests; slow down", who.name)));
    }
    Ok(who)
}

/// Whether `who` may do `action` on the module, and how a refusal is answered.
pub fn authorize(
    auth: &Auth,
    who: &Principal,
    module: &str,
    version: Option<&str>,
    action: Action,
    request_id: &str,
) -> Result<(), ServeError> {
    let (ok, _) = auth.authorize(who, module, version, action, request_id);
    auth.metrics().decided(ok, "policy");
    if ok {
        return Ok(());
    }
    let forbidden = match action {
        Action::Admin => format!("{} may not use admin endpoints", who.name),
        Action::Write => format!("{module}: {} may not publish this module", who.name),
        Action::Read => format!("{module}: {} may not read this module", who.name),
    };
    Err(refusal(auth, who, &format!("{module}: "), forbidden))
}

/// How a refused request is answered: 404 with `hide_denied` (nothing is said to exist), 401
/// for an anonymous caller (credentials might help), else 403 with `forbidden`. `subject`
/// (e.g. `"<module>: "`) starts the first two messages.
pub fn refusal(auth: &Auth, who: &Principal, subject: &str, forbidden: String) -> ServeError {
    if auth.hide_denied() {
        return ServeError::not_found(format!("{subject}not found"));
    }
    if who.anonymous {
        return ServeError::Unauthorized(format!("{subject}authentication required"));
    }
    ServeError::Forbidden(forbidden)
}

/// The decision for one parsed request, and who made it (when anyone was asked).
fn decide<B>(auth: &Auth, req: &Request<B>, metrics_open: bool) -> Result<Option<Principal>, ServeError> {
    let parsed = req.extensions().get::<Parsed>().map(|p| &p.0);
    match parsed {
        Some(Ok(Target::Health | Target::Ready | Target::Ui(_))) => return Ok(None),
        Some(Ok(Target::Metrics)) if metrics_open => return Ok(None),
        _ => {}
    }
    let request_id = RequestId::of(req);
    let who = authenticate(auth, req, request_id)?;
    let target = match parsed {
        Some(Ok(t)) => t,
        Some(Err(e)) => return Err(e.clone()),
        None => return Err(ServeError::BadRequest("the request target was not parsed".into())),
    };
    let (module, version, action) = match target {
        Target::Health | Target::Ready | Target::Ui(_) => return Ok(None),
        Target::Admin | Target::Metrics => ("", None, Action::Admin),
        Target::Publish(r) => (r.module.as_str(), r.version.as_deref(), Action::Write),
        Target::Module(r) => (r.module.as_str(), r.version.as_deref(), Action::Read),
        // Checksum-database lookups name a module; tiles and signed heads do not.
        Target::Sumdb { path: SumdbPath::Lookup { module, version, .. }, .. } => {
            (module.as_str(), Some(version.as_str()), Action::Read)
        }
        Target::Sumdb { .. } => return Ok(Some(who)),
    };
    authorize(auth, &who, module, version, action, request_id)?;
    Ok(Some(who))
}

/// The access decision for every request, when `[auth]` is configured.
#[derive(Clone)]
pub struct Authorize {
    /// `None` when `[auth]` is not configured: everyone may read.
    pub auth: Option<Arc<Auth>>,
    /// `[metrics]` (`open`: `/metrics` answers everyone, not only the admin groups).
    pub metrics: Arc<arc_swap::ArcSwap<crate::config::MetricsConfig>>,
}

impl super::Gate for Authorize {
    fn check<B>(&self, req: &mut Request<B>) -> Option<Response> {
        let auth = self.auth.as_ref()?;
        match decide(auth, req, self.metrics.load().open) {
            Ok(who) => {
                // The handlers see who is asking (the admin API audits it, the activity counts it).
                if let Some(who) = who {
                    req.extensions_mut().insert(who);
                }
                None
            }
            Err(e) => {
                let mut r = e.into_response();
                // A caller that sent an API key is challenged for one: a Basic challenge would
                // make a browser (the console) open its password dialog.
                let bearer = req
                    .headers()
                    .get(http::header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.get(..7).is_some_and(|s| s.eq_ignore_ascii_case("bearer ")));
                if r.status() == http::StatusCode::UNAUTHORIZED && (bearer || req.headers().contains_key("x-api-key")) {
                    r.headers_mut().insert(
                        http::header::WWW_AUTHENTICATE,
                        http::HeaderValue::from_static("Bearer realm=\"modgate\""),
                    );
                }
                Some(r)
            }
        }
    }
}
