//! One file per kind of endpoint: the GOPROXY protocol, publishing, health, admin.

pub mod admin;
pub mod goproxy;
pub mod health;
pub mod publish;
