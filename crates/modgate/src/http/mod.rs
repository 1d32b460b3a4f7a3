//! The HTTP surface: the hot path for warm small objects, then the layered stack (request id,
//! access log, finishing, target checks, parse once, access decision) around the dispatch to
//! the handlers, which turn the module service's replies into responses.

pub mod dispatch;
pub mod handler;
pub mod hot;
pub mod layer;
pub mod proxy;
pub mod respond;

pub use hot::fast_hit;
pub use proxy::{proxy_stack, ProxyStack};

use crate::app::App;
use layer::access_log::AccessLog;
use layer::authz::Authorize;
use layer::finish::Finish;
use layer::measure::Measure;
use layer::parse::Parse;
use layer::request_id::Identify;
use layer::target::TargetCheck;
use layer::{AroundLayer, AroundService, GateLayer, GateService};
use std::sync::Arc;
use tower_layer::Layer;

/// Every request that the hot path leaves, in the order the layers see it.
pub type Stack = AroundService<
    Identify,
    AroundService<
        Measure,
        AroundService<
            AccessLog,
            AroundService<
                Finish,
                GateService<TargetCheck, GateService<Parse, GateService<Authorize, dispatch::Dispatch>>>,
            >,
        >,
    >,
>;

/// The layered service for an application.
pub fn stack(app: Arc<App>) -> Stack {
    let inner = dispatch::Dispatch { app: Arc::clone(&app) };
    let inner = GateLayer(Authorize { auth: app.auth.clone(), metrics: Arc::clone(&app.metrics_config) }).layer(inner);
    let metrics = Arc::clone(&app.metrics);
    let inner = GateLayer(Parse { app }).layer(inner);
    let inner = GateLayer(TargetCheck).layer(inner);
    let inner = AroundLayer(Finish).layer(inner);
    let inner = AroundLayer(AccessLog).layer(inner);
    let inner = AroundLayer(Measure { metrics: Arc::clone(&metrics) }).layer(inner);
    AroundLayer(Identify).layer(inner)
}
