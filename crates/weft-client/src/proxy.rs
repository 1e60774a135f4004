//! Reaching the server through a proxy, before the TLS and WebSocket handshakes: HTTP
//! `CONNECT` (to the proxy over TCP or TLS) and SOCKS5 (RFC 1928, with RFC 1929
//! username/password). Either way the result is a byte stream to the server, and everything
//! after it (TLS with the server for `wss://`, the handshake, the WebSocket) runs inside it,
//! so `wss://` stays encrypted end to end: the proxy sees only the host and port.
//!
//! The messages of both protocols are built and checked by plain functions
//! (`http_connect`, `socks5`), tested with bytes; the async part only moves them.

mod env;
mod http_connect;
mod socks5;

use std::fmt;
use std::str::FromStr;

use http::Uri;
use percent_encoding::percent_decode_str;
use tokio::net::TcpStream;

use crate::{Error, Target, authority};

/// A proxy to reach WebSocket servers through, given to
/// [`ClientBuilder::proxy`](crate::ClientBuilder::proxy).
///
/// | URL | protocol | default port |
/// | --- | --- | --- |
/// | `http://[user:password@]host[:port]` | HTTP `CONNECT`, with `Proxy-Authorization: Basic` | 80 |
/// | `https://[user:password@]host[:port]` | the same, over TLS to the proxy | 443 |
/// | `socks5h://[user:password@]host[:port]` | SOCKS5; the proxy resolves the server's name | 1080 |
/// | `socks5://[user:password@]host[:port]` | SOCKS5; the client resolves the name, as curl does | 1080 |
///
/// A URL without a scheme is an `http://` proxy. Credentials are percent-decoded
/// (`user%40corp` is `user@corp`). Every connection goes through a tunnel, `ws://` included,
/// and `wss://` runs TLS with the server inside it. The password is never shown: not by
/// `Debug`, not by `Display`, not in errors.
///
/// ```
/// use weft_client::Proxy;
///
/// let proxy: Proxy = "socks5h://alice:s%3Dcret@127.0.0.1:1080".parse()?;
/// assert_eq!(proxy.to_string(), "socks5h://127.0.0.1:1080");
/// assert_eq!(proxy.username(), Some("alice"));
/// let proxy = Proxy::parse("proxy.corp.example:3128")?.with_credentials("bob", "hunter2");
/// assert_eq!(proxy.to_string(), "http://proxy.corp.example:3128");
/// # Ok::<(), weft_client::Error>(())
/// ```
#[derive(Clone)]
pub struct Proxy {
    scheme: Scheme,
    /// The host, IPv6 literals without brackets.
    host: String,
    port: u16,
    credentials: Option<Credentials>,
}

/// The protocols a proxy may speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scheme {
    Http,
    Https,
    /// SOCKS5 with the client resolving the server's name.
    Socks5,
    /// SOCKS5 with the proxy resolving it.
    Socks5h,
}

impl Scheme {
    fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
            Scheme::Socks5 => "socks5",
            Scheme::Socks5h => "socks5h",
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
            Scheme::Socks5 | Scheme::Socks5h => 1080,
        }
    }
}

/// A username and password for the proxy.
#[derive(Clone)]
struct Credentials {
    username: String,
    password: String,
}

impl Proxy {
    /// Reads a proxy URL (see the table above).
    ///
    /// # Errors
    ///
    /// [`Error::UnsupportedProxyScheme`] for a scheme other than `http`, `https`, `socks5` and
    /// `socks5h`; [`Error::InvalidProxy`] for a URL without a host, with a port that is not a
    /// number from 1 to 65535, with a path, or with credentials that are not UTF-8.
    ///
    /// ```
    /// use weft_client::{Error, Proxy};
    ///
    /// assert!(matches!(Proxy::parse("socks4://h:1080"), Err(Error::UnsupportedProxyScheme { .. })));
    /// assert!(matches!(Proxy::parse("http://h:99999"), Err(Error::InvalidProxy { .. })));
    /// ```
    pub fn parse(url: &str) -> Result<Self, Error> {
        let shown = redact(url);
        let invalid = |reason: &str| Error::InvalidProxy {
            url: shown.clone(),
            reason: reason.to_owned(),
        };
        let with_scheme;
        let full = if url.contains("://") {
            url
        } else {
            with_scheme = format!("http://{url}");
            &with_scheme
        };
        let scheme_name = full
            .split_once("://")
            .map_or("", |(scheme, _)| scheme)
            .to_ascii_lowercase();
        let scheme = match scheme_name.as_str() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            "socks5" => Scheme::Socks5,
            "socks5h" => Scheme::Socks5h,
            _ => {
                return Err(Error::UnsupportedProxyScheme {
                    url: shown,
                    scheme: scheme_name,
                });
            }
        };
        let uri: Uri = full.parse().map_err(|_| invalid("not a URL"))?;
        let authority = uri.authority().ok_or_else(|| invalid("no host"))?;
        let host = uri.host().map(authority::bare_host).unwrap_or_default();
        if host.is_empty() {
            return Err(invalid("no host"));
        }
        if uri.path_and_query().is_some_and(|p| p.as_str() != "/") {
            return Err(invalid("a proxy URL has no path or query"));
        }
        let port = authority::port(authority.as_str())
            .map_err(|port| {
                invalid(&format!(
                    "the port {port:?} is not a number from 1 to 65535"
                ))
            })?
            .unwrap_or(scheme.default_port());
        let credentials = match authority.as_str().rsplit_once('@') {
            None => None,
            Some((userinfo, _)) => {
                let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                let decode = |part: &str| {
                    percent_decode_str(part)
                        .decode_utf8()
                        .map(|decoded| decoded.into_owned())
                        .map_err(|_| invalid("the credentials are not UTF-8 once percent-decoded"))
                };
                Some(Credentials {
                    username: decode(user)?,
                    password: decode(password)?,
                })
            }
        };
        let proxy = Proxy {
            scheme,
            host: host.to_owned(),
            port,
            credentials,
        };
        proxy.check_credentials().map_err(invalid)?;
        Ok(proxy)
    }

    /// The proxy the environment names for `url` (a `ws://` or `wss://` URL), as curl and
    /// most HTTP clients read it: `wss://` takes `https_proxy`, `ws://` takes `http_proxy`
    /// (each also in upper case), and both fall back to `all_proxy`; `no_proxy` lists hosts
    /// reached directly (`example.com` covers its subdomains, `10.0.0.0/8` a network, `*`
    /// everything). Lower case wins over upper case; an empty value counts as unset; in a CGI
    /// program (`REQUEST_METHOD` is set) `HTTP_PROXY` is ignored, since a request's `Proxy:`
    /// header would set it.
    ///
    /// [`ClientBuilder::proxy_from_env`](crate::ClientBuilder::proxy_from_env) does this for
    /// every connection; this function shows what it would choose.
    ///
    /// # Errors
    ///
    /// An invalid `url`, or a variable that holds an invalid proxy URL (the error names it).
    ///
    /// ```
    /// // No proxy variables here: a direct connection.
    /// # if std::env::var_os("all_proxy").is_none() && std::env::var_os("ALL_PROXY").is_none()
    /// #     && std::env::var_os("http_proxy").is_none() && std::env::var_os("HTTP_PROXY").is_none() {
    /// assert!(weft_client::Proxy::from_env("ws://127.0.0.1:9001")?.is_none());
    /// # }
    /// # Ok::<(), weft_client::Error>(())
    /// ```
    pub fn from_env(url: &str) -> Result<Option<Self>, Error> {
        let target = Target::parse(url)?;
        env::proxy_for(&target, |name| std::env::var(name).ok())
    }

    /// Uses these credentials: HTTP Basic for an HTTP proxy, RFC 1929 username/password for
    /// SOCKS5. They replace any given in the URL.
    ///
    /// ```
    /// use weft_client::Proxy;
    /// let proxy = Proxy::parse("socks5h://proxy.corp.example:1080")?
    ///     .with_credentials("alice", "s3cret");
    /// assert_eq!(proxy.username(), Some("alice"));
    /// # Ok::<(), weft_client::Error>(())
    /// ```
    pub fn with_credentials(
        mut self,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        self.credentials = Some(Credentials {
            username: username.into(),
            password: password.into(),
        });
        self
    }

    /// The proxy's host name or address (IPv6 without brackets).
    ///
    /// ```
    /// let proxy = weft_client::Proxy::parse("http://[::1]:3128")?;
    /// assert_eq!(proxy.host(), "::1");
    /// # Ok::<(), weft_client::Error>(())
    /// ```
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The proxy's port.
    ///
    /// ```
    /// use weft_client::Proxy;
    /// assert_eq!(Proxy::parse("http://proxy.example")?.port(), 80);
    /// assert_eq!(Proxy::parse("socks5://proxy.example")?.port(), 1080);
    /// # Ok::<(), weft_client::Error>(())
    /// ```
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The username, if credentials were given.
    ///
    /// ```
    /// let proxy = weft_client::Proxy::parse("http://bob%40corp:pw@proxy.example:3128")?;
    /// assert_eq!(proxy.username(), Some("bob@corp")); // percent-decoded
    /// # Ok::<(), weft_client::Error>(())
    /// ```
    pub fn username(&self) -> Option<&str> {
        self.credentials
            .as_ref()
            .map(|credentials| credentials.username.as_str())
    }

    /// Whether the connection to the proxy itself is TLS (`https://`).
    ///
    /// ```
    /// use weft_client::Proxy;
    /// assert!(Proxy::parse("https://proxy.example:443")?.is_tls());
    /// assert!(!Proxy::parse("http://proxy.example:3128")?.is_tls());
    /// # Ok::<(), weft_client::Error>(())
    /// ```
    pub fn is_tls(&self) -> bool {
        self.scheme == Scheme::Https
    }

    /// Credentials SOCKS5 can carry: each part at most 255 bytes, and a username (RFC 1929).
    fn check_credentials(&self) -> Result<(), &'static str> {
        match (&self.credentials, self.scheme) {
            (Some(credentials), Scheme::Socks5 | Scheme::Socks5h) => {
                socks5::check_credentials(&credentials.username, &credentials.password)
            }
            _ => Ok(()),
        }
    }

    /// Opens the tunnel to `target`: connects to the proxy (with TLS for `https://`, using
    /// `tls`), then asks it for the server. The caller bounds the time it takes.
    pub(crate) async fn open(
        &self,
        target: &Target,
        ctx: &TunnelSettings,
    ) -> Result<Tunnel, Error> {
        self.check_credentials()
            .map_err(|reason| Error::InvalidProxy {
                url: self.to_string(),
                reason: reason.to_owned(),
            })?;
        let tcp = self.connect_tcp().await?;
        match self.scheme {
            Scheme::Http => {
                let mut tcp = tcp;
                http_connect::open(&mut tcp, self, target, ctx.head_limits).await?;
                Ok(Tunnel::Tcp(tcp))
            }
            Scheme::Https => self.open_over_tls(tcp, target, ctx).await,
            Scheme::Socks5 | Scheme::Socks5h => {
                let mut tcp = tcp;
                let address = self.socks_address(target).await?;
                socks5::open(&mut tcp, self, &address).await?;
                Ok(Tunnel::Tcp(tcp))
            }
        }
    }

    #[cfg(feature = "rustls")]
    async fn open_over_tls(
        &self,
        tcp: TcpStream,
        target: &Target,
        ctx: &TunnelSettings,
    ) -> Result<Tunnel, Error> {
        let config = ctx.tls.clone().ok_or(Error::TlsUnavailable)?;
        let mut tls =
            crate::tls::connect(config, &self.host, tcp)
                .await
                .map_err(|err| match err {
                    Error::Tls { message, source } => Error::ProxyTls {
                        proxy: self.to_string(),
                        message: format!("with the proxy: {message}"),
                        source,
                    },
                    other => other,
                })?;
        http_connect::open(&mut tls, self, target, ctx.head_limits).await?;
        Ok(Tunnel::Tls(Box::new(tls)))
    }

    #[cfg(not(feature = "rustls"))]
    async fn open_over_tls(
        &self,
        _tcp: TcpStream,
        _target: &Target,
        _ctx: &TunnelSettings,
    ) -> Result<Tunnel, Error> {
        Err(Error::TlsUnavailable)
    }

    /// The server's address as the SOCKS5 request carries it: its name for `socks5h://`, an
    /// address resolved here for `socks5://`.
    async fn socks_address(&self, target: &Target) -> Result<socks5::Address, Error> {
        if self.scheme == Scheme::Socks5h {
            return Ok(socks5::Address::from_host(&target.host, target.port));
        }
        let resolved = tokio::net::lookup_host((target.host.as_str(), target.port))
            .await
            .map_err(|source| Error::Resolve {
                host: target.host.clone(),
                source,
            })?
            .next()
            .ok_or_else(|| Error::Resolve {
                host: target.host.clone(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no addresses"),
            })?;
        Ok(socks5::Address::Ip(resolved))
    }

    /// Connects to the proxy itself (the first of its addresses that answers).
    async fn connect_tcp(&self) -> Result<TcpStream, Error> {
        let unreachable = |source| Error::ProxyUnreachable {
            proxy: self.to_string(),
            source,
        };
        let addrs = tokio::net::lookup_host((self.host.as_str(), self.port))
            .await
            .map_err(unreachable)?;
        let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no addresses");
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(tcp) => {
                    // The WebSocket runs through this socket: small frames must not wait.
                    tcp.set_nodelay(true).map_err(unreachable)?;
                    return Ok(tcp);
                }
                Err(err) => last = err,
            }
        }
        Err(unreachable(last))
    }
}

impl FromStr for Proxy {
    type Err = Error;

    fn from_str(url: &str) -> Result<Self, Error> {
        Proxy::parse(url)
    }
}

impl fmt::Display for Proxy {
    /// `scheme://host:port`, without credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = self.scheme.as_str();
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("url", &self.to_string())
            .field("username", &self.username())
            .field(
                "password",
                &self.credentials.as_ref().map(|_| "<not shown>"),
            )
            .finish()
    }
}

/// What opening a tunnel needs from the builder.
pub(crate) struct TunnelSettings {
    /// The TLS configuration for an `https://` proxy (the client's, so the same roots).
    #[cfg(feature = "rustls")]
    pub(crate) tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    /// The caps on the proxy's response head.
    pub(crate) head_limits: weft_handshake::Limits,
}

/// The connection to the proxy, once the tunnel to the server is open.
pub(crate) enum Tunnel {
    /// Through an HTTP or SOCKS5 proxy, over TCP.
    Tcp(TcpStream),
    /// Through an `https://` proxy: inside TLS with the proxy.
    #[cfg(feature = "rustls")]
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

/// How the builder chooses a proxy.
#[derive(Clone, Debug, Default)]
pub(crate) enum ProxySetting {
    /// No proxy.
    #[default]
    Direct,
    /// This one, for every server.
    Fixed(Proxy),
    /// The one the environment names, read at each connection.
    FromEnv,
}

impl ProxySetting {
    /// The proxy to use for `target`, if any.
    pub(crate) fn for_target(&self, target: &Target) -> Result<Option<Proxy>, Error> {
        match self {
            ProxySetting::Direct => Ok(None),
            ProxySetting::Fixed(proxy) => Ok(Some(proxy.clone())),
            ProxySetting::FromEnv => env::proxy_for(target, |name| std::env::var(name).ok()),
        }
    }
}

/// `url` with the password of its userinfo, if any, replaced by `***`, for messages.
fn redact(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let shown = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{host}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    match scheme {
        Some(scheme) => format!("{scheme}://{shown}{tail}"),
        None => format!("{shown}{tail}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_urls_are_read_as_curl_reads_them() {
        let proxy = Proxy::parse("http://127.0.0.1:8888").unwrap();
        assert_eq!(
            (proxy.scheme, proxy.host.as_str(), proxy.port),
            (Scheme::Http, "127.0.0.1", 8888)
        );
        assert!(proxy.credentials.is_none());
        let proxy = Proxy::parse("proxy.corp:3128").unwrap();
        assert_eq!(proxy.to_string(), "http://proxy.corp:3128");
        let proxy = Proxy::parse("HTTPS://proxy.corp").unwrap();
        assert_eq!(proxy.to_string(), "https://proxy.corp:443");
        assert!(proxy.is_tls());
        let proxy = Proxy::parse("socks5h://us%40er:p%3Ass@[::1]:1080/").unwrap();
        assert_eq!(proxy.to_string(), "socks5h://[::1]:1080");
        assert_eq!(proxy.host(), "::1");
        let credentials = proxy.credentials.as_ref().unwrap();
        assert_eq!(
            (credentials.username.as_str(), credentials.password.as_str()),
            ("us@er", "p:ss")
        );
        let proxy = Proxy::parse("socks5://h").unwrap();
        assert_eq!((proxy.scheme, proxy.port), (Scheme::Socks5, 1080));
        let proxy = Proxy::parse("http://user@h:1").unwrap();
        assert_eq!(proxy.username(), Some("user"));
        assert_eq!(proxy.credentials.unwrap().password, "");
    }

    #[test]
    fn bad_proxy_urls_say_what_is_wrong_without_the_password() {
        for (url, expected) in [
            (
                "http://alice:secret@h:99999",
                "invalid proxy URL \"http://alice:***@h:99999\": the port \"99999\" is not a number from 1 to 65535",
            ),
            (
                "http://h:abc",
                "the port \"abc\" is not a number from 1 to 65535",
            ),
            (
                "http://h:0",
                "the port \"0\" is not a number from 1 to 65535",
            ),
            ("http://", "invalid proxy URL \"http://\""),
            ("http://h:1/path", "a proxy URL has no path or query"),
            ("http://h:1 x", "not a URL"),
            (
                "socks5://alice:pw@h",
                "invalid proxy URL \"socks5://alice:***@h\"",
            ),
            (
                "socks4://alice:secret@h:1080",
                "unsupported proxy scheme \"socks4\" in \"socks4://alice:***@h:1080\": use http, https, socks5 or socks5h",
            ),
            ("ftp://h", "unsupported proxy scheme \"ftp\""),
        ] {
            match Proxy::parse(url) {
                Ok(proxy) if url.starts_with("socks5://alice") => {
                    // Valid: the point is only that Debug and Display hide the password.
                    assert!(!format!("{proxy:?}{proxy}").contains("pw"), "{proxy:?}");
                }
                Ok(proxy) => panic!("{url} was accepted as {proxy:?}"),
                Err(err) => {
                    let text = err.to_string();
                    assert!(text.contains(expected), "{url}: {text}");
                    assert!(!text.contains("secret"), "{text}");
                }
            }
        }
        let long = "x".repeat(256);
        match Proxy::parse(&format!("socks5h://{long}:pw@h")) {
            Err(Error::InvalidProxy { reason, .. }) => {
                assert_eq!(reason, "a SOCKS5 username is at most 255 bytes");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn redaction_keeps_everything_but_the_password() {
        assert_eq!(redact("http://u:p@h:1/x?y"), "http://u:***@h:1/x?y");
        assert_eq!(redact("u:p@h"), "u:***@h");
        assert_eq!(redact("http://u@h"), "http://u@h");
        assert_eq!(redact("http://h/a@b"), "http://h/a@b");
        assert_eq!(redact("http://u:p:q@w@h"), "http://u:***@h");
    }
}
