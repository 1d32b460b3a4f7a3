//! Security events of the checksum side: a checksum mismatch, a misbehaving database, a
//! version that changed after it was first served.

use std::sync::Arc;

/// Where security events go: an error line in the log (target `modgate::audit`) and, with
/// `[auth] audit_log`, a line in the audit log.
#[derive(Clone, Default)]
pub struct Alarm {
    pub auth: Option<Arc<crate::auth::Auth>>,
}

impl Alarm {
    pub fn raise(&self, event: &str, detail: serde_json::Value) {
        tracing::error!(target: "modgate::audit", event, detail = %detail, "SECURITY: {event}");
        if let Some(a) = &self.auth {
            a.security_event(event, &detail);
        }
    }
}
