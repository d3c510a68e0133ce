//! TLS to the database: rustls with ring, trusting the public roots and the operator's own CA.

use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::config::ConfigError;

/// A TLS connector that trusts the public roots, plus the certificates of `ca_cert` (PEM text,
/// or the path of a PEM file).
pub(super) fn connector(ca_cert: Option<&str>) -> Result<MakeRustlsConnect, ConfigError> {
    let invalid = || ConfigError::Invalid("DATABASE_CA_CERT");
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(ca) = ca_cert {
        let pem = if ca.trim_start().starts_with("-----BEGIN") {
            ca.as_bytes().to_vec()
        } else {
            std::fs::read(ca.trim()).map_err(|_| invalid())?
        };
        for certificate in CertificateDer::pem_slice_iter(&pem) {
            roots
                .add(certificate.map_err(|_| invalid())?)
                .map_err(|_| invalid())?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|_| ConfigError::Invalid("TLS settings"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}
