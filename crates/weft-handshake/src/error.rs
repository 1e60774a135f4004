//! The crate's one error type.

use std::fmt;

use bytes::Bytes;
use http::{Method, StatusCode, Version};

/// Everything that can go wrong in an opening handshake, on either side.
///
/// Errors found while reading a client's request know the HTTP status a server answers with
/// ([`Error::status`]); [`Rejection`](crate::Rejection) turns them into a response. Errors a
/// client finds in a server's response, or in its own configuration, have no status.
///
/// # Example
///
/// ```
/// use http::StatusCode;
/// use weft_handshake::{Error, Limits, RequestParser};
///
/// let mut parser = RequestParser::new(Limits::default().with_max_start_line(16));
/// let rejection = parser.parse(b"GET /a/very/long/path HTTP/1.1\r\n").unwrap_err();
/// assert_eq!(rejection.status(), StatusCode::URI_TOO_LONG);
/// let cause = rejection.cause().unwrap();
/// assert!(matches!(cause, Error::StartLineTooLong { limit: 16 }));
/// assert_eq!(cause.status(), Some(StatusCode::URI_TOO_LONG));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The request line (or, on a client, the status line) is longer than
    /// [`Limits::max_start_line`](crate::Limits::max_start_line). A server answers 414.
    StartLineTooLong {
        /// The limit that was exceeded, in bytes.
        limit: usize,
    },
    /// The header section is longer than
    /// [`Limits::max_header_bytes`](crate::Limits::max_header_bytes). A server answers 431.
    HeaderSectionTooLarge {
        /// The limit that was exceeded, in bytes.
        limit: usize,
    },
    /// There are more header lines than [`Limits::max_headers`](crate::Limits::max_headers).
    /// A server answers 431.
    TooManyHeaders {
        /// The limit that was exceeded, in header lines.
        limit: usize,
    },
    /// The bytes are not an HTTP/1.x message head. A server answers 400.
    MalformedHttp {
        /// What was wrong, e.g. "invalid header name".
        reason: &'static str,
    },
    /// The peer closed the connection before a complete response head arrived.
    UnexpectedEof,
    /// An upgrade request used a method other than GET. A server answers 405 with `Allow: GET`.
    MethodNotAllowed {
        /// The method the client used.
        method: Method,
    },
    /// An upgrade was attempted over HTTP/1.0 (or a 101 came back over it). A server answers 400.
    UnsupportedHttpVersion {
        /// The version of the message.
        version: Version,
    },
    /// A header the handshake needs is absent. A server answers 400.
    MissingHeader {
        /// The header's name.
        name: &'static str,
    },
    /// A header the handshake needs is present but wrong. A server answers 400.
    InvalidHeader {
        /// The header's name.
        name: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An HTTP/2 CONNECT request without `:protocol`: it asks for a TCP tunnel (RFC 9113
    /// §8.5), which a WebSocket server does not offer. A server answers 405.
    PlainConnect,
    /// An HTTP/2 extended CONNECT (RFC 8441) for a protocol other than `websocket`. A server
    /// answers 501.
    UnsupportedProtocol {
        /// The `:protocol` the client asked for.
        protocol: String,
    },
    /// The client asked for a WebSocket version other than 13, or none. A server answers 426
    /// with `Sec-WebSocket-Version: 13`.
    UnsupportedWebSocketVersion {
        /// The version the client asked for, if it sent the header.
        version: Option<String>,
    },
    /// The [`OriginPolicy`](crate::OriginPolicy) refused the request's `Origin`. A server
    /// answers 403.
    OriginRefused {
        /// The `Origin` the client sent.
        origin: String,
    },
    /// A `Sec-WebSocket-Extensions` value does not follow RFC 6455 §9.1.
    ///
    /// A server never rejects for this: it declines every extension instead. A client fails
    /// the handshake, since it cannot know what the server agreed to.
    MalformedExtensions {
        /// The header value, lossily decoded.
        value: String,
        /// Byte offset in `value` where parsing stopped.
        position: usize,
        /// What was expected there.
        reason: &'static str,
    },
    /// A subprotocol or extension name or parameter given to a builder is not an HTTP token.
    InvalidToken {
        /// What the string was meant to be, e.g. "subprotocol".
        what: &'static str,
        /// The string.
        value: String,
    },
    /// The URI given to the client cannot be used for a WebSocket connection.
    InvalidUri {
        /// The URI as given.
        uri: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A header given to the client builder is one the handshake sets itself.
    ReservedHeader {
        /// The header's name.
        name: http::HeaderName,
    },
    /// The server answered with a status other than 101.
    ///
    /// The response carries the headers and as much of the body as arrived, up to
    /// [`Limits::max_refusal_body`](crate::Limits::max_refusal_body), so a caller can show
    /// why the server refused.
    Refused {
        /// The server's response; its body holds what arrived of the server's body.
        response: Box<http::Response<Bytes>>,
        /// Whether `response` holds the whole body (false if it was cut at the limit or the
        /// connection closed early).
        body_complete: bool,
    },
    /// The server's `Sec-WebSocket-Accept` does not match the key the client sent.
    AcceptMismatch {
        /// The value the key calls for.
        expected: String,
        /// The value the server sent, lossily decoded.
        received: String,
    },
    /// The server chose a subprotocol the client did not offer.
    ProtocolNotOffered {
        /// The subprotocol the server chose, lossily decoded.
        protocol: String,
    },
    /// The server agreed to an extension the client did not offer.
    ExtensionNotOffered {
        /// The extension's name.
        name: String,
    },
}

impl Error {
    /// The HTTP status a server answers with when this error rejects a client's request.
    ///
    /// `None` for errors only a client meets (a bad response, a bad URI, a bad builder
    /// argument).
    ///
    /// # Example
    ///
    /// ```
    /// use http::StatusCode;
    /// use weft_handshake::Error;
    ///
    /// let err = Error::UnsupportedWebSocketVersion { version: Some("8".into()) };
    /// assert_eq!(err.status(), Some(StatusCode::UPGRADE_REQUIRED));
    /// assert_eq!(Error::UnexpectedEof.status(), None);
    /// ```
    pub fn status(&self) -> Option<StatusCode> {
        let status = match self {
            Error::StartLineTooLong { .. } => StatusCode::URI_TOO_LONG,
            Error::HeaderSectionTooLarge { .. } | Error::TooManyHeaders { .. } => {
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
            }
            Error::MalformedHttp { .. }
            | Error::UnsupportedHttpVersion { .. }
            | Error::MissingHeader { .. }
            | Error::InvalidHeader { .. }
            | Error::MalformedExtensions { .. } => StatusCode::BAD_REQUEST,
            Error::MethodNotAllowed { .. } | Error::PlainConnect => StatusCode::METHOD_NOT_ALLOWED,
            Error::UnsupportedProtocol { .. } => StatusCode::NOT_IMPLEMENTED,
            Error::UnsupportedWebSocketVersion { .. } => StatusCode::UPGRADE_REQUIRED,
            Error::OriginRefused { .. } => StatusCode::FORBIDDEN,
            Error::UnexpectedEof
            | Error::InvalidToken { .. }
            | Error::InvalidUri { .. }
            | Error::ReservedHeader { .. }
            | Error::Refused { .. }
            | Error::AcceptMismatch { .. }
            | Error::ProtocolNotOffered { .. }
            | Error::ExtensionNotOffered { .. } => return None,
        };
        Some(status)
    }

    /// A short reason for a rejection body. It never repeats what the peer sent, so a
    /// rejection cannot reflect attacker-chosen text back to a browser.
    pub(crate) fn reason(&self) -> String {
        match self {
            Error::StartLineTooLong { limit } => {
                format!("request line longer than {limit} bytes")
            }
            Error::HeaderSectionTooLarge { limit } => {
                format!("request header section longer than {limit} bytes")
            }
            Error::TooManyHeaders { limit } => format!("more than {limit} request headers"),
            Error::MalformedHttp { reason } => format!("malformed HTTP request: {reason}"),
            Error::MethodNotAllowed { .. } => "a WebSocket upgrade must use GET".to_owned(),
            Error::PlainConnect => "this server opens no tunnels; CONNECT needs :protocol \
                                    websocket"
                .to_owned(),
            Error::UnsupportedProtocol { .. } => {
                "this server speaks no protocol but websocket over CONNECT".to_owned()
            }
            Error::UnsupportedHttpVersion { .. } => {
                "a WebSocket upgrade needs HTTP/1.1 or later".to_owned()
            }
            Error::MissingHeader { name } => format!("missing {name} header"),
            Error::InvalidHeader { name, reason } => format!("invalid {name} header: {reason}"),
            Error::UnsupportedWebSocketVersion { .. } => {
                "unsupported Sec-WebSocket-Version; this server speaks version 13".to_owned()
            }
            Error::OriginRefused { .. } => "origin not allowed".to_owned(),
            Error::MalformedExtensions { reason, .. } => {
                format!("malformed Sec-WebSocket-Extensions header: {reason}")
            }
            other => format!("handshake failed: {}", other.status_free_reason()),
        }
    }

    /// A fallback for client-only errors turned into a rejection by mistake: no peer data.
    fn status_free_reason(&self) -> &'static str {
        match self {
            Error::UnexpectedEof => "connection closed early",
            Error::InvalidToken { .. } => "invalid token",
            Error::InvalidUri { .. } => "invalid URI",
            Error::ReservedHeader { .. } => "reserved header",
            _ => "internal error",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::StartLineTooLong { limit } => {
                write!(f, "start line exceeds max_start_line of {limit} bytes")
            }
            Error::HeaderSectionTooLarge { limit } => {
                write!(
                    f,
                    "header section exceeds max_header_bytes of {limit} bytes"
                )
            }
            Error::TooManyHeaders { limit } => {
                write!(f, "more header lines than max_headers of {limit}")
            }
            Error::MalformedHttp { reason } => write!(f, "malformed HTTP message head: {reason}"),
            Error::UnexpectedEof => {
                f.write_str("connection closed before the handshake response was complete")
            }
            Error::MethodNotAllowed { method } => {
                write!(
                    f,
                    "WebSocket upgrade with method {method}; only GET is allowed"
                )
            }
            Error::PlainConnect => f.write_str(
                "CONNECT without :protocol asks for a tunnel; only :protocol websocket is served",
            ),
            Error::UnsupportedProtocol { protocol } => write!(
                f,
                "extended CONNECT for protocol {protocol:?}; only websocket is served"
            ),
            Error::UnsupportedHttpVersion { version } => {
                write!(
                    f,
                    "WebSocket handshake over {version:?}; HTTP/1.1 or later is required"
                )
            }
            Error::MissingHeader { name } => write!(f, "missing {name} header"),
            Error::InvalidHeader { name, reason } => write!(f, "invalid {name} header: {reason}"),
            Error::UnsupportedWebSocketVersion {
                version: Some(version),
            } => write!(
                f,
                "client asked for Sec-WebSocket-Version {version:?}; only 13 is supported"
            ),
            Error::UnsupportedWebSocketVersion { version: None } => {
                f.write_str("missing Sec-WebSocket-Version header; version 13 is required")
            }
            Error::OriginRefused { origin } => {
                write!(f, "origin {origin:?} refused by the origin policy")
            }
            Error::MalformedExtensions {
                value,
                position,
                reason,
            } => write!(
                f,
                "malformed Sec-WebSocket-Extensions header {value:?} at byte {position}: {reason}"
            ),
            Error::InvalidToken { what, value } => {
                write!(f, "{what} {value:?} is not a valid HTTP token")
            }
            Error::InvalidUri { uri, reason } => {
                write!(f, "invalid WebSocket URI {uri:?}: {reason}")
            }
            Error::ReservedHeader { name } => write!(
                f,
                "header {name} is set by the handshake itself; use the builder's dedicated method \
                 or leave it out"
            ),
            Error::Refused {
                response,
                body_complete,
            } => {
                let expected = if response.version() >= Version::HTTP_2 {
                    "200 OK"
                } else {
                    "101 Switching Protocols"
                };
                write!(
                    f,
                    "server answered {} instead of {expected}",
                    response.status()
                )?;
                if !response.body().is_empty() {
                    let kept = if *body_complete { "" } else { " (truncated)" };
                    write!(f, " with a {}-byte body{kept}", response.body().len())?;
                }
                Ok(())
            }
            Error::AcceptMismatch { expected, received } => write!(
                f,
                "server sent Sec-WebSocket-Accept {received:?}, but the key calls for {expected:?}"
            ),
            Error::ProtocolNotOffered { protocol } => {
                write!(
                    f,
                    "server chose subprotocol '{protocol}' that was not offered"
                )
            }
            Error::ExtensionNotOffered { name } => {
                write!(
                    f,
                    "server agreed to extension '{name}' that was not offered"
                )
            }
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_say_what_happened() {
        let err = Error::ProtocolNotOffered {
            protocol: "x".into(),
        };
        assert_eq!(
            err.to_string(),
            "server chose subprotocol 'x' that was not offered"
        );
        let err = Error::HeaderSectionTooLarge { limit: 8192 };
        assert_eq!(
            err.to_string(),
            "header section exceeds max_header_bytes of 8192 bytes"
        );
    }

    #[test]
    fn rejection_reasons_do_not_echo_peer_input() {
        let err = Error::OriginRefused {
            origin: "<script>".into(),
        };
        assert!(!err.reason().contains("<script>"));
        let err = Error::UnsupportedWebSocketVersion {
            version: Some("<b>".into()),
        };
        assert!(!err.reason().contains("<b>"));
    }

    #[test]
    fn client_only_errors_have_no_status() {
        assert_eq!(Error::UnexpectedEof.status(), None);
        assert_eq!(
            Error::ExtensionNotOffered { name: "x".into() }.status(),
            None
        );
        assert_eq!(
            Error::MethodNotAllowed {
                method: Method::POST
            }
            .status(),
            Some(StatusCode::METHOD_NOT_ALLOWED)
        );
    }
}
