//! The one rustls client configuration: the ring provider (no aws-lc), the system's trusted
//! roots, plus the CA certificates of a `ca_file` (PEM) where one is configured (a chat server
//! behind an office's internal CA). Reads the file; opens no connection.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

/// Why no TLS configuration could be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the CA file {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("the CA file {path} holds no usable CA certificate (expected PEM 'BEGIN CERTIFICATE' blocks)")]
    NoCertificate { path: String },
    #[error(
        "no trusted CA certificates found on this system; install ca-certificates or set a ca_file"
    )]
    NoRoots,
    #[error("TLS setup failed: {0}")]
    Setup(String),
}

/// A rustls client config trusting the system's roots and, when `ca_file` is given (not empty),
/// the certificates in it.
pub fn tls_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = ca_file.filter(|p| !p.as_os_str().is_empty()) {
        let shown = path.display().to_string();
        let pem = std::fs::read(path).map_err(|e| TlsError::Read {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
            .filter_map(Result::ok)
            .collect();
        let (added, _ignored) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(TlsError::NoCertificate { path: shown });
        }
    }
    if roots.is_empty() {
        return Err(TlsError::NoRoots);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Setup(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_without_certificates_is_refused_with_its_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("office-ca.pem");
        std::fs::write(&path, "not a certificate\n").expect("write");
        let err = tls_config(Some(&path)).expect_err("no certificate");
        assert!(err.to_string().contains("office-ca.pem"), "{err}");
        let missing = tls_config(Some(&dir.path().join("absent.pem"))).expect_err("missing");
        assert!(missing.to_string().contains("absent.pem"), "{missing}");
    }
}
