//! A throwaway certificate authority for TLS tests: server certificates for given names, client
//! certificates with a common name, all as PEM files the tests point modgate and the go command at
//! (`SSL_CERT_FILE` for go).

use anyhow::Result;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use std::path::{Path, PathBuf};

pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

/// A certificate and its key, written to files.
pub struct Issued {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TestCa {
    pub fn new(name: &str) -> Result<Self> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        Ok(Self { pem: cert.pem(), issuer: Issuer::new(params, key) })
    }

    /// The CA certificate, PEM.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// Writes the CA certificate to `path` (for `SSL_CERT_FILE` or `tls.client_ca`).
    pub fn write(&self, path: &Path) -> Result<PathBuf> {
        std::fs::write(path, &self.pem)?;
        Ok(path.to_path_buf())
    }

    fn issue(&self, params: CertificateParams, dir: &Path, stem: &str) -> Result<Issued> {
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        let issued = Issued { cert: dir.join(format!("{stem}.crt")), key: dir.join(format!("{stem}.key")) };
        // The chain: leaf first, then the CA (what a server sends).
        std::fs::write(&issued.cert, format!("{}{}", cert.pem(), self.pem))?;
        std::fs::write(&issued.key, key.serialize_pem())?;
        Ok(issued)
    }

    /// A server certificate for DNS names and IP addresses (`127.0.0.1`).
    pub fn server(&self, names: &[&str], dir: &Path, stem: &str) -> Result<Issued> {
        let mut params = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())?;
        params.distinguished_name.push(DnType::CommonName, names.first().copied().unwrap_or("server"));
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        self.issue(params, dir, stem)
    }

    /// A client certificate with the given common name and organisation.
    pub fn client(&self, cn: &str, org: &str, dir: &Path, stem: &str) -> Result<Issued> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CommonName, cn);
        params.distinguished_name.push(DnType::OrganizationName, org);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        self.issue(params, dir, stem)
    }
}
