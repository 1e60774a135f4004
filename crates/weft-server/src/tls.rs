//! TLS termination for `wss://`, through rustls with the ring provider.

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::Error;

/// The certificate and key a server presents for `wss://` (and `https://` on the same port).
///
/// ```no_run
/// use weft_server::{Acceptor, TlsConfig};
/// let tls = TlsConfig::from_pem_files("cert.pem", "key.pem")?;
/// let acceptor = Acceptor::builder().tls(tls).build()?;
/// # Ok::<(), weft_server::Error>(())
/// ```
#[derive(Clone)]
pub struct TlsConfig {
    config: Arc<ServerConfig>,
    /// Whether ALPN is ours to choose (`from_pem`) or the caller's (`from_rustls`).
    choose_alpn: bool,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig").finish_non_exhaustive()
    }
}

impl TlsConfig {
    /// Reads a certificate chain (leaf first) and its private key from PEM files.
    ///
    /// ```
    /// use weft_server::TlsConfig;
    /// # fn demo() -> Result<(), weft_server::Error> {
    /// let tls = TlsConfig::from_pem_files("/etc/letsencrypt/live/example.com/fullchain.pem",
    ///                                     "/etc/letsencrypt/live/example.com/privkey.pem")?;
    /// # let _ = tls;
    /// # Ok(()) }
    /// // The error names the file:
    /// let missing = TlsConfig::from_pem_files("/nonexistent/cert.pem", "/nonexistent/key.pem");
    /// let err = missing.unwrap_err();
    /// assert!(err.to_string().contains("/nonexistent/cert.pem"));
    /// ```
    pub fn from_pem_files(cert: impl AsRef<Path>, key: impl AsRef<Path>) -> Result<Self, Error> {
        let read = |path: &Path| {
            std::fs::read(path)
                .map_err(|err| Error::TlsConfig(format!("cannot read {}: {err}", path.display())))
        };
        Self::from_pem(&read(cert.as_ref())?, &read(key.as_ref())?)
    }

    /// A certificate chain (leaf first) and its private key (PKCS#8, PKCS#1 or SEC1), as PEM.
    ///
    /// ```
    /// use weft_server::TlsConfig;
    /// # fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// // PEM from anywhere: a secrets store, an environment variable.
    /// let tls = TlsConfig::from_pem(&std::fs::read("cert.pem")?, &std::fs::read("key.pem")?)?;
    /// # let _ = tls;
    /// # Ok(()) }
    /// assert!(TlsConfig::from_pem(b"not PEM", b"not PEM").is_err());
    /// ```
    pub fn from_pem(cert_chain: &[u8], key: &[u8]) -> Result<Self, Error> {
        let chain = CertificateDer::pem_slice_iter(cert_chain)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| Error::TlsConfig(format!("invalid PEM certificate: {err}")))?;
        if chain.is_empty() {
            return Err(Error::TlsConfig(
                "no certificate found in the PEM data".into(),
            ));
        }
        let key = PrivateKeyDer::from_pem_slice(key)
            .map_err(|err| Error::TlsConfig(format!("invalid PEM private key: {err}")))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|err| Error::TlsConfig(err.to_string()))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|err| Error::TlsConfig(format!("certificate and key do not fit: {err}")))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            config: Arc::new(config),
            choose_alpn: true,
        })
    }

    /// Uses a ready rustls configuration (client certificates, several certificates by SNI).
    /// Its ALPN list is used as it is: list `h2` (before `http/1.1`) for a [`Server`](crate::Server)
    /// to speak HTTP/2 over TLS.
    ///
    /// ```
    /// # use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    /// # fn demo(
    /// #     chain: Vec<CertificateDer<'static>>,
    /// #     key: PrivateKeyDer<'static>,
    /// # ) -> Result<(), Box<dyn std::error::Error>> {
    /// use std::sync::Arc;
    /// let provider = Arc::new(rustls::crypto::ring::default_provider());
    /// let mut config = rustls::ServerConfig::builder_with_provider(provider)
    ///     .with_safe_default_protocol_versions()?
    ///     .with_no_client_auth()
    ///     .with_single_cert(chain, key)?;
    /// // HTTP/2 first, so that browsers can open WebSockets as streams (RFC 8441).
    /// config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    /// let tls = weft_server::TlsConfig::from_rustls(Arc::new(config));
    /// # let _ = tls;
    /// # Ok(()) }
    /// ```
    pub fn from_rustls(config: Arc<ServerConfig>) -> Self {
        Self {
            config,
            choose_alpn: false,
        }
    }

    /// The TLS acceptor; with `http2`, ALPN offers `h2` before `http/1.1` (unless the caller
    /// chose the ALPN list).
    pub(crate) fn acceptor(&self, http2: bool) -> TlsAcceptor {
        if http2 && self.choose_alpn {
            let mut config = (*self.config).clone();
            config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
            TlsAcceptor::from(Arc::new(config))
        } else {
            TlsAcceptor::from(self.config.clone())
        }
    }
}
