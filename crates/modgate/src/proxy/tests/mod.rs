//! The module service through its seams, in process: a fake source that counts, holds and
//! fails on demand, the in-memory stores, and a checksum hook that refuses on demand.

mod answers;
mod fake;
mod fills;
mod verification;
