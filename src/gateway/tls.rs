//! Optional HTTPS (`--tls-cert`, `--tls-key`): rustls with the `ring`
//! provider, pure Rust plus `ring`'s bundled C, so it builds anywhere gcc
//! does. The PEM files are read at start, before privileges are dropped, so
//! the key can stay readable by root only.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why the TLS configuration cannot be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The certificate chain could not be read or holds no certificate.
    #[error("cannot read TLS certificate chain '{path}': {reason}")]
    Cert {
        /// The file.
        path: PathBuf,
        /// The cause.
        reason: String,
    },
    /// The private key could not be read.
    #[error("cannot read TLS private key '{path}': {reason}")]
    Key {
        /// The file.
        path: PathBuf,
        /// The cause.
        reason: String,
    },
    /// rustls refused the pair (key does not match, unsupported algorithm).
    #[error("unusable TLS certificate/key pair: {0}")]
    Config(#[from] rustls::Error),
}

/// Loads a PEM certificate chain and private key into a server acceptor
/// offering HTTP/1.1 over ALPN.
pub fn acceptor(cert: &Path, key: &Path) -> Result<tokio_rustls::TlsAcceptor, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| TlsError::Cert {
            path: cert.to_path_buf(),
            reason: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::Cert {
            path: cert.to_path_buf(),
            reason: "no CERTIFICATE block".into(),
        });
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
        path: key.to_path_buf(),
        reason: e.to_string(),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
