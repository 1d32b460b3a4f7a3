//! One file per kind of endpoint: the GOPROXY protocol, checksum databases, publishing, health,
//! admin, and the web console's files.

pub mod admin;
pub mod goproxy;
pub mod health;
pub mod metrics;
pub mod publish;
pub mod sumdb;
pub mod ui;
