//! The audit log (`[auth] audit_log`): one JSON line per access decision — who, module,
//! version, action, allowed or denied, reason, request id — apart from the access log; and one
//! per security event (a checksum mismatch, a misbehaving checksum database) or admin call,
//! with `event`. The latest lines are also kept in memory for the admin API's audit view.

use super::principal::Action;
use std::collections::VecDeque;
use std::io::Write;
use std::sync::Mutex;
use std::time::SystemTime;

/// Lines kept in memory for `GET /-/admin/audit`.
const RECENT: usize = 10_000;

pub struct Audit {
    /// `None`: no `audit_log` configured; lines are only kept in memory.
    out: Option<Mutex<Box<dyn Write + Send>>>,
    recent: Mutex<VecDeque<serde_json::Value>>,
}

/// One decision, as recorded.
pub struct Entry<'a> {
    pub who: &'a str,
    pub module: &'a str,
    /// The host and path of a reverse-proxied request.
    pub path: Option<&'a str>,
    pub version: Option<&'a str>,
    pub action: Action,
    pub allowed: bool,
    pub reason: &'a str,
    pub request_id: &'a str,
}

impl Audit {
    /// `stdout` (or `-`), or a file appended to.
    pub fn open(target: &str) -> Result<Self, String> {
        let out: Box<dyn Write + Send> = match target {
            "stdout" | "-" => Box::new(std::io::stdout()),
            path => Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| format!("audit log {path}: {e}"))?,
            ),
        };
        Ok(Self { out: Some(Mutex::new(out)), recent: Mutex::new(VecDeque::new()) })
    }

    /// Lines kept in memory only.
    pub fn in_memory() -> Self {
        Self { out: None, recent: Mutex::new(VecDeque::new()) }
    }

    fn write(&self, line: serde_json::Value) {
        if let Some(out) = &self.out {
            let mut w = out.lock().unwrap_or_else(|p| p.into_inner());
            let _ = writeln!(w, "{line}");
            let _ = w.flush();
        }
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        if recent.len() == RECENT {
            recent.pop_front();
        }
        recent.push_back(line);
    }

    /// The latest lines that `keep` accepts, newest first, at most `limit`.
    pub fn recent(&self, limit: usize, keep: impl Fn(&serde_json::Value) -> bool) -> Vec<serde_json::Value> {
        let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        recent.iter().rev().filter(|l| keep(l)).take(limit).cloned().collect()
    }

    /// A security event: `{"time", "event", ...detail}`.
    pub fn event(&self, event: &str, detail: &serde_json::Value) {
        let mut line = serde_json::json!({ "time": httpdate::fmt_http_date(SystemTime::now()), "event": event });
        if let (Some(out), Some(more)) = (line.as_object_mut(), detail.as_object()) {
            out.extend(more.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        self.write(line);
    }

    pub fn record(&self, e: &Entry<'_>) {
        let line = serde_json::json!({
            "time": httpdate::fmt_http_date(SystemTime::now()),
            "who": e.who,
            "module": e.module,
            "path": e.path,
            "version": e.version,
            "action": e.action,
            "allowed": e.allowed,
            "reason": e.reason,
            "request_id": e.request_id,
        });
        self.write(line);
    }
}
