//! Outbound traffic: the one HTTP client every source shares (connection pools, timeouts,
//! redirects the go command's way), the egress proxy, and credential redaction for anything
//! that quotes a URL.

pub mod body;
pub mod client;
pub mod egress;
pub mod objects;

pub use crate::redact::{redact, redact_text, Redacted};
pub use client::{Answer, HttpClient};

/// Why an outbound request produced no usable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetError {
    /// A transport failure, a bad URL or redirect, an unreadable body.
    Failed(String),
    /// No answer (or no next chunk of one) in time.
    Timeout(String),
}

impl NetError {
    pub fn reason(&self) -> &str {
        match self {
            NetError::Failed(r) | NetError::Timeout(r) => r,
        }
    }
}

/// An error and its sources, one line.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
