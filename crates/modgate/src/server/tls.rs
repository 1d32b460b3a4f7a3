//! TLS termination with rustls: PEM chains and keys, several certificates chosen by SNI,
//! TLS 1.2/1.3 with a configurable minimum and cipher-suite list, ALPN `h2` and `http/1.1`,
//! optional client certificates (mTLS), and reloads — on SIGHUP and when a file changes — that
//! swap the configuration for new handshakes without touching open connections. A reload that
//! fails keeps the configuration in force and says why in the log.

use crate::config::{CertFiles, ClientAuth, TlsSettings};
use crate::obs::metrics::{CertExpiry, CertLabels};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

/// The names of the cipher suites this build supports, for configuration errors.
pub fn known_suites() -> Vec<String> {
    rustls::crypto::ring::default_provider().cipher_suites.iter().map(|s| format!("{:?}", s.suite())).collect()
}

fn load_key(files: &CertFiles, provider: &CryptoProvider) -> Result<Arc<CertifiedKey>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| format!("{}: {e}", files.cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", files.cert.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate in the file", files.cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| format!("{}: {e}", files.key.display()))?;
    let signer = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| format!("{}: unusable key: {e}", files.key.display()))?;
    let ck = CertifiedKey::new(certs, signer);
    ck.keys_match().map_err(|e| format!("{} and {} do not match: {e}", files.cert.display(), files.key.display()))?;
    Ok(Arc::new(ck))
}

/// Picks the certificate whose names cover the client's SNI name; the first otherwise.
#[derive(Debug)]
struct SniResolver {
    keys: Vec<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        if let Some(name) = hello.server_name() {
            if let Ok(server_name) = rustls::pki_types::ServerName::try_from(name) {
                for k in &self.keys {
                    let Some(leaf) = k.cert.first() else { continue };
                    let Ok(ee) = webpki::EndEntityCert::try_from(leaf) else { continue };
                    if ee.verify_is_valid_for_subject_name(&server_name).is_ok() {
                        return Some(Arc::clone(k));
                    }
                }
            }
        }
        self.keys.first().cloned()
    }
}

/// Checks the settings and the files they name, as a start-up would; the error names the
/// setting at fault (`tls.cipher_suites` or `tls`).
pub fn check(settings: &TlsSettings) -> Result<(), (&'static str, String)> {
    let known = known_suites();
    if let Some(bad) = settings.cipher_suites.iter().find(|s| !known.contains(s)) {
        return Err(("tls.cipher_suites", format!("{bad:?} is not one of {}", known.join(", "))));
    }
    build(settings).map(|_| ()).map_err(|e| ("tls", e))
}

/// Builds a server configuration from the files as they are now.
pub fn build(settings: &TlsSettings) -> Result<Arc<ServerConfig>, String> {
    let mut provider = rustls::crypto::ring::default_provider();
    if !settings.cipher_suites.is_empty() {
        let mut chosen = Vec::new();
        for name in &settings.cipher_suites {
            match provider.cipher_suites.iter().find(|s| format!("{:?}", s.suite()) == *name) {
                Some(s) => chosen.push(*s),
                None => return Err(format!("unknown cipher suite {name:?} (known: {})", known_suites().join(", "))),
            }
        }
        provider.cipher_suites = chosen;
    }
    let versions: &[&rustls::SupportedProtocolVersion] = match settings.min_version.as_str() {
        "1.3" => &[&rustls::version::TLS13],
        _ => &[&rustls::version::TLS13, &rustls::version::TLS12],
    };
    let keys = settings.certificates.iter().map(|c| load_key(c, &provider)).collect::<Result<Vec<_>, _>>()?;
    let provider = Arc::new(provider);
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(versions)
        .map_err(|e| format!("TLS versions and cipher suites do not fit together: {e}"))?;
    let builder = match &settings.client_ca {
        None => builder.with_no_client_auth(),
        Some((ca, mode)) => {
            let mut roots = rustls::RootCertStore::empty();
            let certs = CertificateDer::pem_file_iter(ca)
                .map_err(|e| format!("{}: {e}", ca.display()))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("{}: {e}", ca.display()))?;
            for c in certs {
                roots.add(c).map_err(|e| format!("{}: {e}", ca.display()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider));
            let verifier = match mode {
                ClientAuth::Optional => verifier.allow_unauthenticated(),
                ClientAuth::Required => verifier,
            };
            builder.with_client_cert_verifier(verifier.build().map_err(|e| format!("{}: {e}", ca.display()))?)
        }
    };
    let mut cfg = builder.with_cert_resolver(Arc::new(SniResolver { keys }));
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// The configuration in force, and what it was built from.
pub struct Tls {
    settings: TlsSettings,
    current: RwLock<Arc<ServerConfig>>,
    stamps: RwLock<Vec<Option<SystemTime>>>,
    /// Each certificate's end of validity (Unix seconds), by file, for `/metrics`.
    expiry: CertExpiry,
}

/// The end of validity of the first certificate in a PEM file (the leaf), in Unix seconds.
fn not_after(path: &Path) -> Option<i64> {
    let first = CertificateDer::pem_file_iter(path).ok()?.next()?.ok()?;
    let (_, cert) = x509_parser::parse_x509_certificate(first.as_ref()).ok()?;
    Some(cert.validity().not_after.timestamp())
}

fn stamps(files: &[PathBuf]) -> Vec<Option<SystemTime>> {
    files.iter().map(|f| std::fs::metadata(f).and_then(|m| m.modified()).ok()).collect()
}

impl Tls {
    pub fn new(settings: TlsSettings, expiry: CertExpiry) -> Result<Arc<Self>, String> {
        let cfg = build(&settings)?;
        let st = stamps(&settings.files());
        let tls = Self { settings, current: RwLock::new(cfg), stamps: RwLock::new(st), expiry };
        tls.note_expiry();
        Ok(Arc::new(tls))
    }

    fn note_expiry(&self) {
        self.expiry.clear();
        for c in &self.settings.certificates {
            if let Some(t) = not_after(&c.cert) {
                self.expiry.get_or_create(&CertLabels { certificate: c.cert.display().to_string() }).set(t);
            }
        }
    }

    /// The configuration for the next handshake.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        let cfg = self.current.read().unwrap_or_else(|p| p.into_inner()).clone();
        tokio_rustls::TlsAcceptor::from(cfg)
    }

    /// Rebuilds from the files; on failure the configuration in force stays.
    pub fn reload(&self, why: &str) {
        let st = stamps(&self.settings.files());
        match build(&self.settings) {
            Ok(cfg) => {
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = cfg;
                *self.stamps.write().unwrap_or_else(|p| p.into_inner()) = st;
                self.note_expiry();
                tracing::info!(reason = why, "TLS certificates reloaded");
            }
            Err(e) => {
                // Remember the stamps anyway, so a broken file is reported once, not every poll.
                *self.stamps.write().unwrap_or_else(|p| p.into_inner()) = st;
                tracing::error!(reason = why, error = %e, "TLS reload refused; the previous certificates stay in force");
            }
        }
    }

    /// Reloads when any file's modification time changed since the last look.
    pub fn reload_if_changed(&self) {
        let now = stamps(&self.settings.files());
        let changed = *self.stamps.read().unwrap_or_else(|p| p.into_inner()) != now;
        if changed {
            self.reload("a certificate file changed");
        }
    }
}

/// The subject of the client's certificate, as `CN=…,O=…` (RFC 4514 order as written by
/// x509-parser), for mapping to an identity.
pub fn peer_subject(conn: &rustls::ServerConnection) -> Option<String> {
    let leaf = conn.peer_certificates()?.first()?;
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref()).ok()?;
    Some(cert.subject().to_string())
}
