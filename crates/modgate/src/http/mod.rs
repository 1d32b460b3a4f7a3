//! The HTTP surface: the hot path for warm small objects, then the layered stack (request id,
//! access log, finishing, target checks, parse once, access decision) around the dispatch to
//! the handlers, which turn the module service's replies into responses.

pub mod dispatch;
pub mod handler;
pub mod hot;
pub mod layer;
pub mod respond;

pub use hot::fast_hit;

use crate::app::App;
use layer::access_log::{AccessLog, AccessLogLayer};
use layer::authz::{Authz, AuthzLayer};
use layer::finish::{Finish, FinishLayer};
use layer::parse::{Parse, ParseLayer};
use layer::request_id::{RequestIdLayer, WithRequestId};
use layer::target::{TargetCheck, TargetLayer};
use std::sync::Arc;
use tower_layer::Layer;

/// Every request that the hot path leaves, in the order the layers see it.
pub type Stack = WithRequestId<AccessLog<Finish<TargetCheck<Parse<Authz<dispatch::Dispatch>>>>>>;

/// The layered service for an application.
pub fn stack(app: Arc<App>) -> Stack {
    let inner = dispatch::Dispatch { app: Arc::clone(&app) };
    let inner = AuthzLayer { auth: app.auth.clone() }.layer(inner);
    let inner = ParseLayer { app }.layer(inner);
    let inner = TargetLayer.layer(inner);
    let inner = FinishLayer.layer(inner);
    let inner = AccessLogLayer.layer(inner);
    RequestIdLayer.layer(inner)
}
