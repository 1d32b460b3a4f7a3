//! Coordination between replicas through Redis (`[coordination]`): who fills an object
//! (`lease`: one replica at a time, the others wait for its commit), and the mutable state they
//! share (`meta`: answers that age, not-found answers, the published-versions index).
//!
//! Redis is a help, never a dependency: every command has a short limit, a failure marks Redis
//! down (one warning), and until a probe finds it again each replica carries on alone — its
//! own single flight, its own metadata on the local disk — so a client never fails because
//! Redis blinked.

pub mod lease;
pub mod meta;
pub mod redis;

pub use self::lease::{Lease, Leases, Turn};
pub use self::meta::SharedMeta;
pub use self::redis::Redis;
