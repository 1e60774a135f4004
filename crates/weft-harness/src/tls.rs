//! [`TestCa`]: a private certificate authority made at test time.

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

/// A private certificate authority, and server certificates it signs, generated when the test
/// runs (nothing is committed, nothing expires unless asked to).
///
/// ```
/// let ca = weft_harness::TestCa::new();
/// let (chain, key) = ca.issue(&["localhost", "127.0.0.1"], false);
/// let server = weft_server::TlsConfig::from_pem(chain.as_bytes(), key.as_bytes()).unwrap();
/// let client = ca.client_tls();
/// # let _ = (server, client);
/// ```
#[derive(Debug)]
pub struct TestCa {
    params: CertificateParams,
    key: KeyPair,
    pem: String,
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}

impl TestCa {
    /// A new CA with a fresh key.
    pub fn new() -> Self {
        let mut params =
            CertificateParams::new(Vec::<String>::new()).expect("empty names are valid");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "weft test CA");
        let key = KeyPair::generate().expect("key generation");
        let pem = params.self_signed(&key).expect("self-signed CA").pem();
        Self { params, key, pem }
    }

    /// The CA certificate, as PEM.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// A server certificate for `names` (DNS names or IP addresses), as (chain PEM, key PEM);
    /// `expired` makes one that expired in 2021.
    pub fn issue(&self, names: &[&str], expired: bool) -> (String, String) {
        let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
        let mut params = CertificateParams::new(names).expect("valid names");
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let key = KeyPair::generate().expect("key generation");
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer).expect("signing");
        (cert.pem(), key.serialize_pem())
    }

    /// A server TLS configuration for `names`.
    pub fn server_tls(&self, names: &[&str]) -> weft_server::TlsConfig {
        let (chain, key) = self.issue(names, false);
        weft_server::TlsConfig::from_pem(chain.as_bytes(), key.as_bytes())
            .expect("a certificate this CA issued")
    }

    /// A bare rustls server configuration for `names` (ring provider, no ALPN), for test
    /// servers that are not weft's: a TLS front for a proxy, a server following a script.
    pub fn rustls_server_config(&self, names: &[&str]) -> std::sync::Arc<rustls::ServerConfig> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};

        let (chain, key) = self.issue(names, false);
        let chain = CertificateDer::pem_slice_iter(chain.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("the chain this CA issued");
        let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("the key it issued");
        let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("the provider's default versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("a certificate that fits its key");
        std::sync::Arc::new(config)
    }

    /// Client TLS settings that trust this CA.
    pub fn client_tls(&self) -> weft_client::ClientTls {
        weft_client::ClientTls::default()
            .add_root_pem(self.pem.as_bytes())
            .expect("this CA's PEM")
    }
}
