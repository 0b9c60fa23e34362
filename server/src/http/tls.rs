//! HTTPS for the cluster's listeners (storage nodes, metadata service):
//! a certificate chain and its private key in PEM files become a rustls
//! [`TlsAcceptor`] that [`super::serve::serve_tls`] wraps each accepted
//! connection in. Clients ([`crate::cluster::auth::ClusterClient`], the
//! players) verify the certificate against the platform's trust store, plus
//! `--cluster-ca` when given.

use std::{path::Path, sync::Arc};

use tokio_rustls::{
    TlsAcceptor,
    rustls::{
        ServerConfig,
        pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
    },
};

/// A certificate or key that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate file does not hold a PEM certificate.
    #[error("{path}: no PEM certificate in it ({why})")]
    Cert {
        /// The file.
        path: String,
        /// What the reader said.
        why: String,
    },
    /// The key file does not hold a PEM private key.
    #[error("{path}: no PEM private key in it ({why})")]
    Key {
        /// The file.
        path: String,
        /// What the reader said.
        why: String,
    },
    /// rustls refused the pair (key not matching the certificate, …).
    #[error("the certificate and key do not make a TLS server: {0}")]
    Config(String),
}

/// The acceptor for `cert` (PEM chain, leaf first) and `key` (PEM PKCS#8,
/// PKCS#1 or SEC1). Reads the files; call it at start-up, before serving.
/// ALPN offers `h2` and `http/1.1`.
///
/// # Errors
/// [`TlsError`] naming the file that is unusable.
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError::Cert {
            path: cert.display().to_string(),
            why: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Cert {
            path: cert.display().to_string(),
            why: "empty".into(),
        });
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
        path: key.display().to_string(),
        why: e.to_string(),
    })?;
    let mut config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
