//! In-process caches in front of the stores.

pub mod memory;

pub use memory::{MemCache, MemObject};
