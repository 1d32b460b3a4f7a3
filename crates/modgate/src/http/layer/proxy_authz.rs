//! The access decision for reverse-proxied requests, with `[auth]`: the caller authenticated
//! and held to its rate exactly as for module traffic, then authorized by the policy's path
//! rules on the checked path the route matched — read for GET and HEAD, write for the rest.

use super::authz::{authenticate, refusal};
use super::request_id::RequestId;
use crate::auth::{Action, Auth};
use crate::errors::ServeError;
use crate::revproxy::forward::Routed;
use axum::response::{IntoResponse, Response};
use http::{Method, Request};
use std::sync::Arc;

fn decide<B>(auth: &Auth, req: &Request<B>) -> Result<(), ServeError> {
    let request_id = RequestId::of(req);
    let who = authenticate(auth, req, request_id)?;
    let Some(routed) = req.extensions().get::<Routed>() else {
        return Err(ServeError::BadRequest("the request was not routed".into()));
    };
    let path = routed.path.as_ref().map_err(|why| ServeError::BadRequest(why.clone()))?;
    let action = if matches!(*req.method(), Method::GET | Method::HEAD) { Action::Read } else { Action::Write };
    let allowed = auth.authorize_path(&who, routed.host.as_deref(), &path.matched, action, request_id);
    auth.metrics().decided(allowed, "path_policy");
    if allowed {
        return Ok(());
    }
    Err(refusal(auth, &who, "", format!("{} may not {} {}", who.name, action.name(), path.matched)))
}

/// The access decision for every proxied request, when `[auth]` is configured.
#[derive(Clone)]
pub struct ProxyAuthorize {
    pub auth: Option<Arc<Auth>>,
}

impl super::Gate for ProxyAuthorize {
    fn check<B>(&self, req: &mut Request<B>) -> Option<Response> {
        let auth = self.auth.as_ref()?;
        decide(auth, req).err().map(IntoResponse::into_response)
    }
}
