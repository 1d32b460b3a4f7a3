//! modgate: an enterprise Go module proxy. See `docs/ARCHITECTURE.md` for the map.
//!
//! From the edge to the core: `server` (listeners, TLS, signals) runs an `app::App` (the
//! wiring); `http` (the hot path, the layers, the handlers) serves it; `proxy` (the module
//! service) answers from `cache` and `store`, fills from `source` and checks fills with
//! `sumdb` (which also proxies checksum databases); `request` parses what
//! is asked; `auth`, `net`, `rt`, `config`, `errors`, `time` and `obs` serve them all.

pub mod admin;
pub mod app;
pub mod auth;
pub mod cache;
pub mod config;
pub mod coord;
pub mod errors;
pub mod http;
pub mod lb;
pub mod mirror;
pub mod net;
pub mod obs;
pub mod proxy;
pub mod redact;
pub mod request;
pub mod revproxy;
pub mod rt;
pub mod server;
pub mod source;
pub mod store;
pub mod sumdb;
pub mod time;

pub use obs::log::init as init_logging;
