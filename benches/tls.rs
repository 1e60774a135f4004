//! The TLS every comparison server terminates `wss://` with, so that the libraries, not their
//! TLS settings, are what differs: one rustls `ServerConfig` (ring provider, rustls' safe
//! default protocol versions, ALPN `http/1.1`, the settings of weft's `TlsConfig::from_pem`),
//! built from the same PEM files for every server.
//!
//! The certificates are throwaway ones made with rcgen: a CA, and a leaf for `localhost` and
//! `127.0.0.1` signed by it. `weft bench --ca ca.pem` trusts the CA.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A CA and a server certificate it signed, as PEM.
#[derive(Debug, Clone)]
pub struct Certificates {
    /// The CA certificate, for the client to trust.
    pub ca: String,
    /// The server's certificate chain (its leaf).
    pub cert: String,
    /// The server certificate's private key.
    pub key: String,
}

/// Where [`write_certificates`] put each file.
#[derive(Debug, Clone)]
pub struct CertificateFiles {
    /// `ca.pem`.
    pub ca: PathBuf,
    /// `cert.pem`.
    pub cert: PathBuf,
    /// `key.pem`.
    pub key: PathBuf,
}

/// Makes a new CA and a certificate for `localhost` and `127.0.0.1` signed by it.
///
/// ```
/// let certs = weft_benches::tls::generate()?;
/// assert!(certs.ca.starts_with("-----BEGIN CERTIFICATE-----"));
/// let config = weft_benches::tls::server_config_from_pem(&certs.cert, &certs.key)?;
/// assert_eq!(config.alpn_protocols, [b"http/1.1".to_vec()]);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn generate() -> io::Result<Certificates> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(io::Error::other)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "weft bench CA");
    let ca_key = KeyPair::generate().map_err(io::Error::other)?;
    let ca = ca_params.self_signed(&ca_key).map_err(io::Error::other)?;

    let leaf_params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .map_err(io::Error::other)?;
    let leaf_key = KeyPair::generate().map_err(io::Error::other)?;
    let issuer = Issuer::from_params(&ca_params, &ca_key);
    let leaf = leaf_params
        .signed_by(&leaf_key, &issuer)
        .map_err(io::Error::other)?;
    Ok(Certificates {
        ca: ca.pem(),
        cert: leaf.pem(),
        key: leaf_key.serialize_pem(),
    })
}

/// [`generate`]s certificates into `dir` (created if missing) as `ca.pem`, `cert.pem` and
/// `key.pem`.
pub fn write_certificates(dir: &Path) -> io::Result<CertificateFiles> {
    let certs = generate()?;
    std::fs::create_dir_all(dir)?;
    let files = CertificateFiles {
        ca: dir.join("ca.pem"),
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    std::fs::write(&files.ca, certs.ca)?;
    std::fs::write(&files.cert, certs.cert)?;
    std::fs::write(&files.key, certs.key)?;
    Ok(files)
}

/// The comparison servers' TLS settings, with the certificate chain and key in PEM files.
pub fn server_config(cert: &Path, key: &Path) -> io::Result<Arc<ServerConfig>> {
    let read = |path: &Path| {
        std::fs::read_to_string(path)
            .map_err(|err| io::Error::new(err.kind(), format!("{}: {err}", path.display())))
    };
    server_config_from_pem(&read(cert)?, &read(key)?)
}

/// The comparison servers' TLS settings, with the certificate chain and key as PEM.
pub fn server_config_from_pem(cert: &str, key: &str) -> io::Result<Arc<ServerConfig>> {
    let chain = CertificateDer::pem_slice_iter(cert.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(io::Error::other)?;
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).map_err(io::Error::other)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(io::Error::other)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
