//! Sources: whatever answers a module request that the cache cannot. One trait, [`Source`],
//! and its implementations:
//! - `goproxy`: an upstream module proxy over HTTP(S);
//! - `file`: a directory in GOPROXY layout (`file://`, for air-gapped mirrors);
//! - `direct`: the module's own git repository;
//! - `published`: versions published into modgate itself;
//! - `list`: a GOPROXY list (`,` and `|`) — a Source made of Sources — and `off`.
//!
//! A source answers with a body (a stream of chunks with a length hint) or says why not; the
//! proxy decides what is cached, verified and served.

pub mod body;
pub mod direct;
pub mod file;
pub mod goproxy;
pub mod list;
pub mod pool;
pub mod published;

pub use body::Body;

use crate::net::NetError;
use crate::request::ModuleRequest;
use std::sync::Arc;

/// Why a source produced no body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// 404 or 410: "not here"; the go command falls through to its next proxy.
    NotFound { status: u16, reason: String },
    /// The source refuses the module by policy (403, 451), with its one-line reason: passed on
    /// as that status, never cached, and (like any error) no fall-through past a `,`.
    Refused { status: u16, reason: String },
    /// Any other failure: bad status, transport error, invalid answer.
    Failed(String),
    /// The source did not answer in time.
    Timeout(String),
}

impl FetchError {
    pub fn not_found(reason: impl Into<String>) -> Self {
        FetchError::NotFound { status: 404, reason: reason.into() }
    }

    pub fn reason(&self) -> &str {
        match self {
            FetchError::NotFound { reason, .. }
            | FetchError::Refused { reason, .. }
            | FetchError::Failed(reason)
            | FetchError::Timeout(reason) => reason,
        }
    }
}

impl From<NetError> for FetchError {
    fn from(e: NetError) -> Self {
        match e {
            NetError::Failed(r) => FetchError::Failed(r),
            NetError::Timeout(r) => FetchError::Timeout(r),
        }
    }
}

/// Anything that can answer a GOPROXY request for a module: `list`, `@latest`, a version's
/// `.info`, `.mod` or `.zip`, or a query's `.info`.
#[async_trait::async_trait]
pub trait Source: Send + Sync {
    /// The object's bytes, or why there are none.
    async fn fetch(&self, req: &ModuleRequest) -> Result<Body, FetchError>;

    /// Whether this source can answer anything at all (`off` cannot).
    fn can_answer(&self) -> bool {
        true
    }
}

/// A source shared by every route and fill that uses it.
pub type SharedSource = Arc<dyn Source>;
