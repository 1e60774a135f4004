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
    /// A header given to the builder has an invalid name or value.
    InvalidHeader,
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
        /// `"connect"` or `"handshake"`.
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
            Self::InvalidHeader => f.write_str("invalid header name or value"),
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
            | Self::Tls { source, .. } => Some(source),
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
