//! Who is asking, and what they may do.
//!
//! - **Keys** (`keys`): API keys stored as hashes, accepted as `X-API-Key`, Bearer, or the
//!   password of Basic auth.
//! - **Policy** (`policy`): ordered rules on canonical module paths deciding `read`, `write`
//!   (publish) and `admin`.
//! - **Audit** (`audit`): one JSON line per decision.
//! - **Rates** (`rate`): a token bucket per key or client certificate.
//!
//! `access::Auth` holds them together and reloads them; the HTTP layer asks it once per
//! request (`http::layer::authz`, and the hot path with the same functions).

pub mod access;
pub mod audit;
pub mod keys;
pub mod policy;
pub mod principal;
pub mod rate;

pub use access::{check_files, Auth};
pub use keys::KeysFile;
pub use policy::Policy;
pub use principal::{Action, Authn, ClientCert, Principal};
