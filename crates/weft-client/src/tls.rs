//! TLS for `wss://`, through rustls with the ring provider.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::Error;

/// How a client authenticates servers over `wss://`.
///
/// By default: the Mozilla root certificates (webpki-roots), plus the platform's roots with the
/// `native-roots` feature, plus any CA given with [`ClientTls::add_root_pem`]. Or a ready
/// [`rustls::ClientConfig`] for anything else (client certificates, pinning).
///
/// The ring crypto provider is passed to rustls explicitly, so no process-wide provider needs
/// to be installed, and two providers compiled in by other crates cannot make it panic.
///
/// ```
/// use weft_client::ClientTls;
/// let tls = ClientTls::default();
/// # let _ = tls;
/// ```
#[derive(Clone, Debug, Default)]
pub struct ClientTls {
    extra_roots: Vec<CertificateDer<'static>>,
    config: Option<Arc<ClientConfig>>,
}

impl ClientTls {
    /// Trusts the CA certificates in `pem` (one or more `CERTIFICATE` blocks) in addition to
    /// the default roots.
    ///
    /// ```
    /// use weft_client::ClientTls;
    /// # fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let tls = ClientTls::default().add_root_pem(&std::fs::read("ca.pem")?)?;
    /// # let _ = tls;
    /// # Ok(()) }
    /// // Not a certificate:
    /// assert!(ClientTls::default().add_root_pem(b"hello").is_err());
    /// ```
    pub fn add_root_pem(mut self, pem: &[u8]) -> Result<Self, Error> {
        let mut found = false;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert =
                cert.map_err(|err| Error::TlsConfig(format!("invalid PEM certificate: {err}")))?;
            self.extra_roots.push(cert);
            found = true;
        }
        if !found {
            return Err(Error::TlsConfig(
                "no certificate found in the PEM data".into(),
            ));
        }
        Ok(self)
    }

    /// Uses `config` as is, but for its ALPN list, which becomes what the connection offers
    /// (`http/1.1`; `h2` too when HTTP/2 is asked for).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use weft_client::ClientTls;
    /// // A configuration of your own: here one that trusts no CA at all (a client certificate or
    /// // certificate pinning would be set up the same way).
    /// let provider = Arc::new(rustls::crypto::ring::default_provider());
    /// let config = rustls::ClientConfig::builder_with_provider(provider)
    ///     .with_safe_default_protocol_versions()?
    ///     .with_root_certificates(rustls::RootCertStore::empty())
    ///     .with_no_client_auth();
    /// let tls = ClientTls::default().with_config(Arc::new(config));
    /// assert_eq!(tls.to_config()?.alpn_protocols, [b"http/1.1".to_vec()]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_config(mut self, config: Arc<ClientConfig>) -> Self {
        self.config = Some(config);
        self
    }

    /// The rustls configuration these settings describe, offering `http/1.1` by ALPN.
    ///
    /// ```
    /// let config = weft_client::ClientTls::default().to_config()?;
    /// assert_eq!(config.alpn_protocols, [b"http/1.1".to_vec()]);
    /// # Ok::<(), weft_client::Error>(())
    /// ```
    pub fn to_config(&self) -> Result<Arc<ClientConfig>, Error> {
        self.config_with_alpn(&[b"http/1.1"])
    }

    /// The rustls configuration, offering `alpn` by ALPN.
    pub(crate) fn config_with_alpn(&self, alpn: &[&[u8]]) -> Result<Arc<ClientConfig>, Error> {
        if let Some(config) = &self.config {
            if config.alpn_protocols.iter().eq(alpn.iter()) {
                return Ok(config.clone());
            }
            let mut config = (**config).clone();
            config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
            return Ok(Arc::new(config));
        }
        let mut roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        #[cfg(feature = "native-roots")]
        {
            // Unreadable platform certificates are skipped: the others still work.
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
        for cert in &self.extra_roots {
            roots
                .add(cert.clone())
                .map_err(|err| Error::TlsConfig(format!("unusable CA certificate: {err}")))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|err| Error::TlsConfig(err.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
        Ok(Arc::new(config))
    }
}

/// Runs the TLS handshake with `host` (its name for SNI and certificate checks) over `io`: TCP
/// to the server, or a tunnel through a proxy.
pub(crate) async fn connect<IO>(
    config: Arc<ClientConfig>,
    host: &str,
    io: IO,
) -> Result<TlsStream<IO>, Error>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let name = ServerName::try_from(host.to_owned()).map_err(|_| Error::InvalidUrl {
        url: host.to_owned(),
        reason: "not a valid TLS server name",
    })?;
    TlsConnector::from(config)
        .connect(name, io)
        .await
        .map_err(|err| Error::tls(host, err))
}

/// Explains a failed TLS handshake in words a user can act on.
pub(crate) fn describe(host: &str, err: &std::io::Error) -> String {
    use rustls::CertificateError as C;
    let Some(tls) = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    else {
        return format!("TLS handshake with {host} failed: {err}");
    };
    match tls {
        rustls::Error::InvalidCertificate(cert) => match cert {
            C::NotValidForName | C::NotValidForNameContext { .. } => {
                format!("the server's certificate is not valid for the host name {host}")
            }
            C::UnknownIssuer => format!(
                "the server's certificate for {host} is signed by an untrusted certificate authority"
            ),
            C::Expired | C::ExpiredContext { .. } => {
                format!("the server's certificate for {host} has expired")
            }
            C::NotValidYet | C::NotValidYetContext { .. } => {
                format!("the server's certificate for {host} is not valid yet")
            }
            C::Revoked => format!("the server's certificate for {host} was revoked"),
            other => format!("the server's certificate for {host} is invalid: {other:?}"),
        },
        other => format!("TLS handshake with {host} failed: {other}"),
    }
}
