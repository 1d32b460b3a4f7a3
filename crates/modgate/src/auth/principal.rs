//! Who is asking and what they want to do: the vocabulary of every access decision.

use serde::Serialize;

/// What a request wants to do with a module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Read,
    Write,
    Admin,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Write => "write",
            Action::Admin => "admin",
        }
    }
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    /// `key:<name>`, `cert:<subject>` or `anonymous`.
    pub name: String,
    pub groups: Vec<String>,
    pub anonymous: bool,
}

impl Principal {
    /// Whether the caller belongs to one of `groups` (`"*"`: anyone who is not anonymous).
    pub fn in_any(&self, groups: &[String]) -> bool {
        groups.iter().any(|g| (g == "*" && !self.anonymous) || self.groups.iter().any(|m| m == g))
    }
}

/// The outcome of authentication.
pub enum Authn {
    Ok(Principal),
    /// No usable credentials: 401.
    Missing,
    /// Credentials that match nothing (unknown, revoked, malformed): 401.
    Invalid,
}

/// The verified subject of a TLS client certificate, carried in request extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCert(pub String);
