//! What modgate's tests and benchmarks stand on:
//! - [`graph`]: synthetic module graphs written in GOPROXY layout, with the tricky cases;
//! - [`upstream`]: a fake upstream proxy over such a directory, with latency, faults and
//!   per-path request counters;
//! - [`gorun`]: the real `go` command, run hermetically;
//! - [`backend`]: an HTTP backend for reverse-proxy tests, with faults;
//! - [`otlp`]: an OpenTelemetry collector that keeps the spans it receives.

pub mod backend;
pub mod gitrepo;
pub mod gitserve;
pub mod gorun;
pub mod graph;
pub mod nginx;
pub mod otlp;
pub mod redis;
pub mod s3;
pub mod sumdb;
pub mod tlsgen;
pub mod upstream;
