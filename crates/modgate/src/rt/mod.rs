//! Where work runs: the fill runtime (zip fills and upstream connections on a thread of their
//! own) and the single flight that lets concurrent misses share one fill.

pub mod fill;
pub mod flight;

pub use fill::{FillRuntime, Spawner};
pub use flight::Flights;
