//! `[tls]` and `[auth]`: what the settings say. Their files (certificates, keys, policy) are
//! read by their owners, `server::tls` and `auth`, which report problems against the section's
//! line through `Config::error`.

use super::file::{AuthSection, TlsSection};
use super::loader::{fail, Loader};
use super::ConfigError;
use std::net::SocketAddr;
use std::path::PathBuf;
use toml::Spanned;

/// One certificate chain and its key, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Whether clients must present a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    Optional,
    Required,
}

/// The `[tls]` section, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// The first is the default; the others are chosen when the client's SNI name is one of
    /// theirs.
    pub certificates: Vec<CertFiles>,
    /// "1.2" or "1.3".
    pub min_version: String,
    /// rustls suite names (`TLS13_AES_128_GCM_SHA256`, …); empty: the provider's defaults.
    pub cipher_suites: Vec<String>,
    /// CA bundle that signs client certificates (mTLS), and whether one is required.
    pub client_ca: Option<(PathBuf, ClientAuth)>,
    /// A plain-HTTP listener beside the TLS one, and whether it only redirects to HTTPS.
    pub plain_listen: Option<SocketAddr>,
    pub redirect_plain: bool,
}

impl TlsSettings {
    /// Every file the settings name (what a reload watches).
    pub fn files(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = self.certificates.iter().flat_map(|c| [c.cert.clone(), c.key.clone()]).collect();
        if let Some((ca, _)) = &self.client_ca {
            v.push(ca.clone());
        }
        v
    }
}

/// The `[auth]` section, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthSettings {
    pub keys_file: PathBuf,
    pub policy_file: PathBuf,
    /// Group given to callers without credentials; `None`: they get 401.
    pub anonymous_group: Option<String>,
    /// Answer 404 instead of 403 so private module names do not leak.
    pub hide_denied: bool,
    /// `stdout`, or a file appended to.
    pub audit_log: Option<String>,
    /// Requests per second per key or certificate (0: no limit), and the bucket size.
    pub key_rate: f64,
    pub key_burst: f64,
}

pub(super) fn tls(l: &Loader<'_>, section: &Option<Spanned<TlsSection>>) -> Result<Option<TlsSettings>, ConfigError> {
    let Some(t) = section else { return Ok(None) };
    let origin = || l.at(t.span().start);
    let t = t.get_ref();
    let min_version = t.min_version.clone().unwrap_or_else(|| "1.2".into());
    if !matches!(min_version.as_str(), "1.2" | "1.3") {
        return Err(fail("tls.min_version", origin(), format!("{min_version:?} is not \"1.2\" or \"1.3\"")));
    }
    let client_ca = match (&t.client_ca, t.client_auth.as_deref()) {
        (None, None) => None,
        (None, Some(_)) => return Err(fail("tls.client_auth", origin(), "needs tls.client_ca")),
        (Some(ca), mode) => {
            let mode = match mode.unwrap_or("required") {
                "required" => ClientAuth::Required,
                "optional" => ClientAuth::Optional,
                other => {
                    return Err(fail(
                        "tls.client_auth",
                        origin(),
                        format!("{other:?} is not \"required\" or \"optional\""),
                    ))
                }
            };
            Some((ca.clone(), mode))
        }
    };
    let mut certificates = vec![CertFiles { cert: t.cert.clone(), key: t.key.clone() }];
    certificates.extend(t.sni.iter().map(|c| CertFiles { cert: c.cert.clone(), key: c.key.clone() }));
    let plain_listen = match &t.plain_listen {
        None => None,
        Some(v) => Some(v.parse::<SocketAddr>().map_err(|e| {
            fail("tls.plain_listen", origin(), format!("{v:?} is not an address like 0.0.0.0:80 ({e})"))
        })?),
    };
    Ok(Some(TlsSettings {
        certificates,
        min_version,
        cipher_suites: t.cipher_suites.clone(),
        client_ca,
        plain_listen,
        redirect_plain: t.redirect_plain.unwrap_or(true),
    }))
}

/// `[auth]`; the rate limits come from `[limits]` and are filled in by the caller.
pub(super) fn auth(section: &Option<Spanned<AuthSection>>) -> Option<AuthSettings> {
    let a = section.as_ref()?.get_ref();
    Some(AuthSettings {
        keys_file: a.keys_file.clone(),
        policy_file: a.policy_file.clone(),
        anonymous_group: a.anonymous_group.clone().filter(|g| !g.trim().is_empty()),
        hide_denied: a.hide_denied,
        audit_log: a.audit_log.clone(),
        key_rate: 0.0,
        key_burst: 0.0,
    })
}
