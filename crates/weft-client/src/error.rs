//! The client's error type.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// Why a client connection failed, or failed later.
///
/// A refused handshake carries the server's status, headers and body:
/// [`status`](Self::status) gives the status.
///
/// ```
/// let err = weft_client::Error::Timeout { phase: "handshake", after: std::time::Duration::from_secs(10) };
/// assert_eq!(err.to_string(), "handshake timed out after 10s");
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The URL cannot be used for a WebSocket connection.
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The port in the URL is not a number from 1 to 65535 (`:99999`, `:abc`, `:0`).
    InvalidPort {
        /// The URL as given.
        url: String,
        /// The port as written.
        port: String,
    },
    /// A header given to the builder has an invalid name or value.
    InvalidHeader,
    /// A proxy URL cannot be used (no host, a bad port, credentials the proxy's protocol
    /// cannot carry). The URL is shown without its password.
    InvalidProxy {
        /// The proxy URL, its password replaced by `***`.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A proxy URL names a protocol the client does not speak: `http://`, `https://`,
    /// `socks5://` and `socks5h://` are supported.
    UnsupportedProxyScheme {
        /// The proxy URL, its password replaced by `***`.
        url: String,
        /// The scheme it names.
        scheme: String,
    },
    /// The proxy could not be reached: its name did not resolve, or no address accepted the
    /// TCP connection.
    ProxyUnreachable {
        /// The proxy, as `scheme://host:port`.
        proxy: String,
        /// Why.
        source: std::io::Error,
    },
    /// The TLS handshake with an `https://` proxy failed; the message says why in plain words.
    ProxyTls {
        /// The proxy, as `scheme://host:port`.
        proxy: String,
        /// What went wrong.
        message: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The proxy asks for credentials, or refused the ones given (HTTP `407`, or SOCKS5
    /// authentication).
    ProxyAuth {
        /// The proxy, as `scheme://host:port`.
        proxy: String,
        /// What the proxy said.
        reason: String,
    },
    /// The proxy refused to open a tunnel to the server: an HTTP status other than 2xx, or a
    /// SOCKS5 reply other than success (the target refused, is unreachable, or is not allowed).
    ProxyRefused {
        /// The proxy, as `scheme://host:port`.
        proxy: String,
        /// The server the tunnel was for, as `host:port`.
        target: String,
        /// The proxy's answer (`403 Forbidden`, `connection not allowed by ruleset`).
        reason: String,
    },
    /// The proxy broke its protocol at one step of the negotiation: it answered something that
    /// is not HTTP or SOCKS5, or closed the connection before finishing.
    ProxyProtocol {
        /// The proxy, as `scheme://host:port`.
        proxy: String,
        /// The step: `CONNECT`, or SOCKS5's `greeting`, `authentication`, `connect request`.
        step: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// More redirects than [`ClientBuilder::max_redirects`](crate::ClientBuilder::max_redirects)
    /// allows (a redirect loop, say).
    TooManyRedirects {
        /// The limit.
        limit: usize,
        /// Where the last redirect pointed.
        location: String,
    },
    /// A `wss://` server redirected to `ws://`, which would carry the connection in the clear;
    /// it is never followed.
    InsecureRedirect {
        /// The `wss://` URL that answered with the redirect.
        from: String,
        /// The `ws://` URL it pointed to.
        to: String,
    },
    /// A `ws://` connection reached a server that answers with TLS: the URL should be `wss://`.
    ServerExpectsTls {
        /// The URL as given.
        url: String,
    },
    /// `wss://` needs TLS support, which this build does not have.
    TlsUnavailable,
    /// The TLS settings are unusable (a bad CA certificate).
    TlsConfig(String),
    /// The TLS handshake failed; the message says why in plain words (a certificate for
    /// another host, an untrusted CA, an expired certificate).
    Tls {
        /// What went wrong.
        message: String,
        /// The underlying error (a `rustls::Error` inside an I/O error).
        source: std::io::Error,
    },
    /// The host name did not resolve.
    Resolve {
        /// The host.
        host: String,
        /// Why.
        source: std::io::Error,
    },
    /// No address of the host accepted the TCP connection (the last failure is given).
    Connect {
        /// The address tried last.
        addr: SocketAddr,
        /// Why it failed.
        source: std::io::Error,
    },
    /// A phase did not finish in time.
    Timeout {
        /// `"connect"`, `"connect through the proxy"`, `"TLS handshake"` or `"handshake"`.
        phase: &'static str,
        /// The time allowed.
        after: Duration,
    },
    /// The opening handshake failed: the server refused (see [`status`](Self::status)), or
    /// answered something that does not complete a WebSocket handshake.
    Handshake(weft_handshake::Error),
    /// The server's permessage-deflate answer does not fit what was offered.
    #[cfg(feature = "deflate")]
    #[cfg_attr(docsrs, doc(cfg(feature = "deflate")))]
    Deflate(weft_deflate::Error),
    /// HTTP/2 was required, and the server does not speak it: over TLS, ALPN did not choose
    /// `h2`; over cleartext, the server did not answer the HTTP/2 preface (an HTTP/1.1 server
    /// refuses it as a bad request).
    #[cfg(feature = "http2")]
    #[cfg_attr(docsrs, doc(cfg(feature = "http2")))]
    Http2NotNegotiated,
    /// The server speaks HTTP/2 but does not accept WebSockets over it: it did not advertise
    /// `SETTINGS_ENABLE_CONNECT_PROTOCOL` (RFC 8441 §3).
    #[cfg(feature = "http2")]
    #[cfg_attr(docsrs, doc(cfg(feature = "http2")))]
    ExtendedConnectNotEnabled,
    /// The connection failed after the handshake.
    WebSocket(weft_codec::Error),
    /// Reading or writing failed during the handshake.
    Io(std::io::Error),
}

impl Error {
    #[cfg(feature = "rustls")]
    pub(crate) fn tls(host: &str, source: std::io::Error) -> Self {
        Self::Tls {
            message: crate::tls::describe(host, &source),
            source,
        }
    }

    /// The HTTP status of a refused handshake.
    ///
    /// ```no_run
    /// # async fn demo() {
    /// match weft_client::connect("wss://example.com/chat").await {
    ///     Ok((_ws, _response)) => { /* ... */ }
    ///     Err(err) if err.status() == Some(http::StatusCode::UNAUTHORIZED) => {
    ///         println!("log in first");
    ///     }
    ///     Err(err) => println!("could not connect: {err}"),
    /// }
    /// # }
    /// ```
    pub fn status(&self) -> Option<http::StatusCode> {
        match self {
            Self::Handshake(weft_handshake::Error::Refused { response, .. }) => {
                Some(response.status())
            }
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidUrl { url, reason } => write!(f, "invalid URL {url:?}: {reason}"),
            Self::InvalidPort { url, port } => write!(
                f,
                "invalid URL {url:?}: the port {port:?} is not a number from 1 to 65535"
            ),
            Self::InvalidHeader => f.write_str("invalid header name or value"),
            Self::InvalidProxy { url, reason } => write!(f, "invalid proxy URL {url:?}: {reason}"),
            Self::UnsupportedProxyScheme { url, scheme } => write!(
                f,
                "unsupported proxy scheme {scheme:?} in {url:?}: use http, https, socks5 or socks5h"
            ),
            Self::ProxyUnreachable { proxy, source } => {
                write!(f, "cannot reach the proxy {proxy}: {source}")
            }
            Self::ProxyTls { message, .. } => f.write_str(message),
            Self::ProxyAuth { proxy, reason } => write!(f, "the proxy {proxy} {reason}"),
            Self::ProxyRefused {
                proxy,
                target,
                reason,
            } => write!(
                f,
                "the proxy {proxy} refused to connect to {target}: {reason}"
            ),
            Self::ProxyProtocol {
                proxy,
                step,
                reason,
            } => write!(f, "the proxy {proxy} failed at the {step} step: {reason}"),
            Self::TooManyRedirects { limit, location } => write!(
                f,
                "too many redirects: more than {limit} (the last one to {location})"
            ),
            Self::InsecureRedirect { from, to } => write!(
                f,
                "refused to follow a redirect from {from} to {to}: it would leave TLS"
            ),
            Self::ServerExpectsTls { url } => write!(
                f,
                "the server at {url} answered with TLS: use wss:// instead of ws://"
            ),
            Self::TlsUnavailable => {
                f.write_str("wss:// needs TLS support (weft-client's `rustls` feature)")
            }
            Self::TlsConfig(reason) => write!(f, "invalid TLS settings: {reason}"),
            Self::Tls { message, .. } => f.write_str(message),
            Self::Resolve { host, source } => write!(f, "cannot resolve {host}: {source}"),
            Self::Connect { addr, source } => write!(f, "cannot connect to {addr}: {source}"),
            Self::Timeout { phase, after } => write!(f, "{phase} timed out after {after:?}"),
            Self::Handshake(err) => write!(f, "handshake failed: {err}"),
            #[cfg(feature = "deflate")]
            Self::Deflate(err) => write!(f, "handshake failed: {err}"),
            #[cfg(feature = "http2")]
            Self::Http2NotNegotiated => f.write_str(
                "the server does not speak HTTP/2 (no ALPN h2 over TLS, no answer to the \
                 HTTP/2 preface over cleartext)",
            ),
            #[cfg(feature = "http2")]
            Self::ExtendedConnectNotEnabled => f.write_str(
                "the server speaks HTTP/2 but does not accept WebSockets over it \
                 (no SETTINGS_ENABLE_CONNECT_PROTOCOL)",
            ),
            Self::WebSocket(err) => write!(f, "{err}"),
            Self::Io(err) => write!(f, "I/O error during the handshake: {err}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Resolve { source, .. }
            | Self::Connect { source, .. }
            | Self::Tls { source, .. }
            | Self::ProxyUnreachable { source, .. }
            | Self::ProxyTls { source, .. } => Some(source),
            Self::Handshake(err) => Some(err),
            #[cfg(feature = "deflate")]
            Self::Deflate(err) => Some(err),
            Self::WebSocket(err) => Some(err),
            Self::Io(err) => Some(err),
            _ => None,
        }
    }
}

impl From<weft_handshake::Error> for Error {
    fn from(err: weft_handshake::Error) -> Self {
        Self::Handshake(err)
    }
}

#[cfg(feature = "deflate")]
impl From<weft_deflate::Error> for Error {
    fn from(err: weft_deflate::Error) -> Self {
        Self::Deflate(err)
    }
}

impl From<weft_codec::Error> for Error {
    fn from(err: weft_codec::Error) -> Self {
        Self::WebSocket(err)
    }
}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Self {
        Self::Io(err)
    }
}
