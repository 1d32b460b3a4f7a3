//! Where work runs: the fill runtime (zip fills and upstream connections on a thread of their
//! own), the single flight that lets concurrent misses share one fill, and handing a fill's
//! freed memory back to the system.

pub mod fill;
pub mod flight;
pub mod memory;

pub use fill::{FillRuntime, Spawner};
pub use flight::Flights;
