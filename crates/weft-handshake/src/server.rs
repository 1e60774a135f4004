//! The server side: parse a request, validate it (RFC 6455 §4.2.1), answer it (§4.2.2).

use std::fmt;

use bytes::{BufMut, Bytes};
use http::header::{
    ALLOW, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HeaderName, HeaderValue, SEC_WEBSOCKET_ACCEPT,
    SEC_WEBSOCKET_EXTENSIONS, SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION, UPGRADE,
};
use http::{Method, StatusCode, Version};

use crate::extensions::{Extension, ExtensionNegotiator, format_extensions, parse_extensions};
use crate::head::{self, HeadScanner, Parsed};
use crate::headers::{
    at_most_one, is_token, list_contains, list_elements, require_upgrade_tokens, trim_ows,
};
use crate::{Error, Limits, OriginPolicy, accept_key, key, write_response};

/// Parses a client's request head incrementally, within [`Limits`].
///
/// Give it the connection's buffer each time bytes arrive (the same buffer, grown); it
/// answers [`Parsed::Partial`] until the head is complete, then hands back the request and
/// how many bytes it took. Requests that ask for a WebSocket upgrade come back as
/// [`Request::Upgrade`]; any other request comes back as [`Request::Plain`], so a server can
/// answer plain HTTP on the same port (RFC 6455 §1.5). A head that breaks a cap or is not
/// HTTP/1.x is a [`Rejection`] (400, 414 or 431) to write back before closing.
///
/// After a complete parse or an error the parser starts afresh, ready for the next request
/// on a kept-alive connection once the caller has dropped the `consumed` bytes.
///
/// # Example
///
/// ```
/// use weft_handshake::{Parsed, Request, RequestParser};
///
/// let mut parser = RequestParser::default();
/// let buf = b"GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n\x81\x00";
/// let Parsed::Complete { value, consumed } = parser.parse(buf)? else { unreachable!() };
/// assert!(matches!(value, Request::Upgrade(_)));
/// assert_eq!(&buf[consumed..], b"\x81\x00"); // the first WebSocket frame
/// # Ok::<(), weft_handshake::Rejection>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct RequestParser {
    limits: Limits,
    scanner: HeadScanner,
}

impl RequestParser {
    /// A parser with these caps.
    ///
    /// # Example
    ///
    /// ```
    /// use weft_handshake::{Limits, RequestParser};
    ///
    /// let parser = RequestParser::new(Limits::default().with_max_headers(16));
    /// assert_eq!(parser.limits().max_headers(), 16);
    /// ```
    pub fn new(limits: Limits) -> Self {
        RequestParser {
            limits,
            scanner: HeadScanner::default(),
        }
    }

    /// The caps this parser applies.
    ///
    /// # Example
    ///
    /// ```
    /// assert_eq!(weft_handshake::RequestParser::default().limits().max_headers(), 64);
    /// ```
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Parses the request head at the start of `buf`.
    ///
    /// `buf` must begin with the bytes given to the previous call, if it answered `Partial`.
    /// While it answers `Partial`, `buf` is at most [`Limits::max_buffered`] long.
    ///
    /// # Errors
    ///
    /// A [`Rejection`] with status 414 if the request line exceeds
    /// [`Limits::max_start_line`], 431 if the header section exceeds
    /// [`Limits::max_header_bytes`] or [`Limits::max_headers`], 400 if the bytes are not an
    /// HTTP/1.x request.
    ///
    /// # Example
    ///
    /// ```
    /// use http::StatusCode;
    /// use weft_handshake::RequestParser;
    ///
    /// let rejection = RequestParser::default().parse(b"\x16\x03\x01 TLS hello\r\n").unwrap_err();
    /// assert_eq!(rejection.status(), StatusCode::BAD_REQUEST);
    /// ```
    pub fn parse(&mut self, buf: &[u8]) -> Result<Parsed<Request>, Rejection> {
        match head::parse_request(&mut self.scanner, buf, &self.limits) {
            Ok(Parsed::Partial) => Ok(Parsed::Partial),
            Ok(Parsed::Complete { value, consumed }) => {
                self.scanner = HeadScanner::default();
                let value = if is_upgrade_request(&value) {
                    Request::Upgrade(value)
                } else {
                    Request::Plain(value)
                };
                Ok(Parsed::Complete { value, consumed })
            }
            Err(err) => {
                self.scanner = HeadScanner::default();
                Err(Rejection::from(err))
            }
        }
    }
}

/// Whether `request` asks for a WebSocket at all, valid or not: over HTTP/1.1 its `Upgrade`
/// header lists `websocket`; over HTTP/2 it is a `CONNECT` (a `:protocol` is for
/// [`Server::validate_extended_connect`] to judge). This is how [`RequestParser`] tells
/// [`Request::Upgrade`] from [`Request::Plain`], and how another HTTP stack can route a
/// request to the WebSocket handshake or to its plain HTTP handler.
///
/// # Example
///
/// ```
/// use weft_handshake::is_upgrade_request;
///
/// let page = http::Request::get("/chat").body(())?;
/// assert!(!is_upgrade_request(&page));
/// let upgrade = http::Request::get("/chat").header("upgrade", "WebSocket").body(())?;
/// assert!(is_upgrade_request(&upgrade));
/// # Ok::<(), http::Error>(())
/// ```
pub fn is_upgrade_request<B>(request: &http::Request<B>) -> bool {
    if request.version() >= Version::HTTP_2 {
        request.method() == Method::CONNECT
    } else {
        list_contains(request.headers(), "upgrade", "websocket")
    }
}

/// A parsed request head: a WebSocket upgrade to validate, or plain HTTP to answer.
///
/// # Example
///
/// ```
/// use weft_handshake::{Parsed, Request, RequestParser};
///
/// let buf = b"GET /index.html HTTP/1.1\r\nHost: a\r\n\r\n";
/// let Parsed::Complete { value, .. } = RequestParser::default().parse(buf)? else {
///     unreachable!()
/// };
/// assert!(!value.is_upgrade());
/// assert_eq!(value.request().uri(), "/index.html");
/// # Ok::<(), weft_handshake::Rejection>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Request {
    /// The request's `Upgrade` header names `websocket`; pass it to [`Server::validate`].
    Upgrade(http::Request<()>),
    /// Any other request. Its body, if it has one, follows the head in the stream.
    Plain(http::Request<()>),
}

impl Request {
    /// Whether the request asks for a WebSocket upgrade.
    ///
    /// # Example
    ///
    /// ```
    /// let request = weft_handshake::Request::Plain(http::Request::new(()));
    /// assert!(!request.is_upgrade());
    /// ```
    pub fn is_upgrade(&self) -> bool {
        matches!(self, Request::Upgrade(_))
    }

    /// The request, whichever kind it is.
    ///
    /// # Example
    ///
    /// ```
    /// let request = weft_handshake::Request::Upgrade(http::Request::new(()));
    /// assert_eq!(request.request().method(), http::Method::GET);
    /// ```
    pub fn request(&self) -> &http::Request<()> {
        match self {
            Request::Upgrade(request) | Request::Plain(request) => request,
        }
    }

    /// Takes the request out, whichever kind it is.
    ///
    /// # Example
    ///
    /// ```
    /// let request = weft_handshake::Request::Plain(http::Request::new(()));
    /// let request: http::Request<()> = request.into_request();
    /// assert_eq!(request.uri(), "/");
    /// ```
    pub fn into_request(self) -> http::Request<()> {
        match self {
            Request::Upgrade(request) | Request::Plain(request) => request,
        }
    }
}

// A server is shared by every connection task of a listener, and rejections travel back
// through async code; both must cross threads.
const _: fn() = || {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Server>();
    send_sync::<Rejection>();
    send_sync::<UpgradeRequest>();
};

/// Chooses a subprotocol for a request; see [`ServerBuilder::select_protocol`].
type ProtocolSelector = dyn Fn(&UpgradeRequest) -> Option<String> + Send + Sync;

/// The server side of the opening handshake: its caps, subprotocols, origin policy and
/// extension negotiation. Build one per listener and share it (it is `Send + Sync`).
///
/// # Call order
///
/// 1. [`Server::parser`], then [`RequestParser::parse`] on the connection's bytes until it
///    completes: a [`Request`] and the number of bytes its head took.
/// 2. [`Request::Plain`]: answer it as HTTP. [`Request::Upgrade`]: [`Server::validate`] it,
///    which checks RFC 6455 §4.2.1 and the origin policy, giving an [`UpgradeRequest`].
/// 3. [`Server::accept`] it: the 101 response with the agreed subprotocol and extensions.
///    Write [`Accept::to_vec`] to the peer; the bytes after the head are WebSocket frames.
///
/// Any step may instead give a [`Rejection`]: write [`Rejection::to_vec`] and close.
///
/// # Example
///
/// ```
/// use weft_handshake::{Parsed, Request, Server};
///
/// let server = Server::builder().protocols(["chat"]).build()?;
/// let bytes = b"GET /chat HTTP/1.1\r\n\
///     Host: server.example.com\r\n\
///     Upgrade: websocket\r\n\
///     Connection: Upgrade\r\n\
///     Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
///     Sec-WebSocket-Protocol: chat, superchat\r\n\
///     Sec-WebSocket-Version: 13\r\n\r\n";
///
/// let mut parser = server.parser();
/// let Ok(Parsed::Complete { value: Request::Upgrade(request), consumed }) = parser.parse(bytes)
/// else {
///     panic!("not an upgrade");
/// };
/// assert_eq!(consumed, bytes.len());
/// let request = server.validate(request).map_err(|rejection| rejection.to_string())?;
/// let accept = server.accept(&request);
/// assert_eq!(accept.negotiated().protocol(), Some("chat"));
/// assert_eq!(
///     String::from_utf8(accept.to_vec())?,
///     "HTTP/1.1 101 Switching Protocols\r\n\
///      Upgrade: websocket\r\n\
///      Connection: Upgrade\r\n\
///      Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
///      Sec-WebSocket-Protocol: chat\r\n\r\n"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Server {
    limits: Limits,
    protocols: Vec<String>,
    select_protocol: Option<Box<ProtocolSelector>>,
    origin_policy: OriginPolicy,
    negotiator: Option<Box<dyn ExtensionNegotiator>>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("limits", &self.limits)
            .field("protocols", &self.protocols)
            .field(
                "select_protocol",
                &self.select_protocol.as_ref().map(|_| "Fn"),
            )
            .field("origin_policy", &self.origin_policy)
            .field(
                "negotiator",
                &self.negotiator.as_ref().map(|_| "ExtensionNegotiator"),
            )
            .finish()
    }
}

impl Default for Server {
    /// Default caps, no subprotocols, [`OriginPolicy::SameHost`], no extensions.
    fn default() -> Self {
        Server {
            limits: Limits::default(),
            protocols: Vec::new(),
            select_protocol: None,
            origin_policy: OriginPolicy::default(),
            negotiator: None,
        }
    }
}

impl Server {
    /// Starts configuring a server.
    ///
    /// # Example
    ///
    /// ```
    /// use weft_handshake::{OriginPolicy, Server};
    ///
    /// let server = Server::builder().origin_policy(OriginPolicy::Any).build()?;
    /// assert_eq!(server.origin_policy(), &OriginPolicy::Any);
    /// # Ok::<(), weft_handshake::Error>(())
    /// ```
    pub fn builder() -> ServerBuilder {
        ServerBuilder {
            server: Server::default(),
        }
    }

    /// A request parser with this server's caps, for one connection.
    ///
    /// # Example
    ///
    /// ```
    /// let server = weft_handshake::Server::default();
    /// assert_eq!(server.parser().limits(), server.limits());
    /// ```
    pub fn parser(&self) -> RequestParser {
        RequestParser::new(self.limits)
    }

    /// The caps the server's parsers apply.
    ///
    /// # Example
    ///
    /// ```
    /// assert_eq!(weft_handshake::Server::default().limits().max_headers(), 64);
    /// ```
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The origin policy [`Server::validate`] applies.
    ///
    /// # Example
    ///
    /// ```
    /// use weft_handshake::{OriginPolicy, Server};
    ///
    /// assert_eq!(Server::default().origin_policy(), &OriginPolicy::SameHost);
    /// ```
    pub fn origin_policy(&self) -> &OriginPolicy {
        &self.origin_policy
    }

    /// Checks an upgrade request against RFC 6455 §4.2.1 and the origin policy.
    ///
    /// The checks run in this order, and the first failure is the answer: method GET (else
    /// 405 with `Allow: GET`); HTTP/1.1 or later (400); one non-empty `Host` (400);
    /// `Upgrade` lists `websocket` (400); `Connection` lists `upgrade` (400);
    /// `Sec-WebSocket-Version: 13` (else 426 with `Sec-WebSocket-Version: 13`, or 400 if the
    /// header is repeated); one `Sec-WebSocket-Key` of 16 bytes in base64 (400); the origin
    /// policy (403); `Sec-WebSocket-Protocol` is a list of tokens (400).
    ///
    /// A malformed `Sec-WebSocket-Extensions` header does not fail the request: the server
    /// declines every extension instead, and [`UpgradeRequest::extensions_error`] says why.
    ///
    /// # Errors
    ///
    /// A [`Rejection`] with the status above.
    ///
    /// # Example
    ///
    /// ```
    /// use http::StatusCode;
    /// use weft_handshake::Server;
    ///
    /// let request = http::Request::get("/")
    ///     .header("host", "a")
    ///     .header("upgrade", "websocket")
    ///     .header("connection", "upgrade")
    ///     .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
    ///     .header("sec-websocket-version", "8")
    ///     .body(())?;
    /// let rejection = Server::default().validate(request).unwrap_err();
    /// assert_eq!(rejection.status(), StatusCode::UPGRADE_REQUIRED);
    /// assert_eq!(rejection.headers()["sec-websocket-version"], "13");
    /// # Ok::<(), http::Error>(())
    /// ```
    pub fn validate(&self, request: http::Request<()>) -> Result<UpgradeRequest, Rejection> {
        self.check(request).map_err(Rejection::from)
    }

    fn check(&self, request: http::Request<()>) -> Result<UpgradeRequest, Error> {
        if request.method() != Method::GET {
            return Err(Error::MethodNotAllowed {
                method: request.method().clone(),
            });
        }
        if request.version() < Version::HTTP_11 {
            return Err(Error::UnsupportedHttpVersion {
                version: request.version(),
            });
        }
        let headers = request.headers();
        match at_most_one(headers, "host", "Host")? {
            None => return Err(Error::MissingHeader { name: "Host" }),
            Some(host) if trim_ows(host.as_bytes()).is_empty() => {
                return Err(Error::InvalidHeader {
                    name: "Host",
                    reason: "is empty",
                });
            }
            Some(_) => {}
        }
        require_upgrade_tokens(headers)?;
        check_version(headers)?;
        let key = at_most_one(headers, "sec-websocket-key", "Sec-WebSocket-Key")?.ok_or(
            Error::MissingHeader {
                name: "Sec-WebSocket-Key",
            },
        )?;
        let key = trim_ows(key.as_bytes());
        if !key::is_valid_key(key) {
            let reason = "is not 16 bytes in base64";
            return Err(Error::InvalidHeader {
                name: "Sec-WebSocket-Key",
                reason,
            });
        }
        // Valid base64 is ASCII.
        let key = String::from_utf8_lossy(key).into_owned();
        self.check_offers(request, Some(key))
    }

    /// Checks an HTTP/2 extended CONNECT request (RFC 8441 §4 and §5) against the same rules
    /// as an HTTP/1.1 upgrade, and the origin policy.
    ///
    /// `protocol` is the request's `:protocol` pseudo-header, which the `http` types do not
    /// carry (`h2::ext::Protocol` and `hyper::ext::Protocol` hold it in the request's
    /// extensions). The stream that carried the request becomes the WebSocket; there is no
    /// `Sec-WebSocket-Key` and no `Sec-WebSocket-Accept` on this path.
    ///
    /// The checks run in this order, and the first failure is the answer: method CONNECT
    /// (else 405); a `:protocol` (else 405: a CONNECT without one asks for a TCP tunnel, which
    /// a WebSocket server does not offer); `:protocol` is `websocket` (else 501); HTTP/2 or
    /// later (400); `:scheme` is `http` or `https`, and `:path` and `:authority` are present
    /// (400); no `Connection` or `Upgrade` header, which HTTP/2 forbids (400); then, as for
    /// HTTP/1.1, `Sec-WebSocket-Version: 13` (426), the origin policy (403) and the
    /// subprotocol list (400). `:authority` stands for `Host` in the origin policy.
    ///
    /// # Errors
    ///
    /// A [`Rejection`] with the status above. Send it with
    /// [`Rejection::into_http2_response`], which leaves out the headers HTTP/2 forbids.
    ///
    /// # Example
    ///
    /// ```
    /// use http::{Method, StatusCode, Version};
    /// use weft_handshake::Server;
    ///
    /// let server = Server::builder().protocols(["chat"]).build()?;
    /// let request = http::Request::builder()
    ///     .method(Method::CONNECT)
    ///     .version(Version::HTTP_2)
    ///     .uri("https://example.com/chat")
    ///     .header("sec-websocket-version", "13")
    ///     .header("sec-websocket-protocol", "chat")
    ///     .body(())?;
    /// let request = server
    ///     .validate_extended_connect(request, Some("websocket"))
    ///     .map_err(|rejection| rejection.to_string())?;
    /// let accept = server.accept(&request);
    /// assert_eq!(accept.response().status(), StatusCode::OK);
    /// assert_eq!(accept.negotiated().protocol(), Some("chat"));
    ///
    /// // Any other protocol is refused, not served.
    /// let other = http::Request::builder()
    ///     .method(Method::CONNECT)
    ///     .version(Version::HTTP_2)
    ///     .uri("https://example.com/chat")
    ///     .body(())?;
    /// let rejection = server.validate_extended_connect(other, Some("webtransport")).unwrap_err();
    /// assert_eq!(rejection.status(), StatusCode::NOT_IMPLEMENTED);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn validate_extended_connect(
        &self,
        request: http::Request<()>,
        protocol: Option<&str>,
    ) -> Result<UpgradeRequest, Rejection> {
        self.check_extended_connect(request, protocol)
            .map_err(Rejection::from)
    }

    fn check_extended_connect(
        &self,
        request: http::Request<()>,
        protocol: Option<&str>,
    ) -> Result<UpgradeRequest, Error> {
        if request.method() != Method::CONNECT {
            return Err(Error::MethodNotAllowed {
                method: request.method().clone(),
            });
        }
        match protocol {
            None => return Err(Error::PlainConnect),
            Some(protocol) if !protocol.eq_ignore_ascii_case("websocket") => {
                return Err(Error::UnsupportedProtocol {
                    protocol: protocol.to_owned(),
                });
            }
            Some(_) => {}
        }
        if request.version() < Version::HTTP_2 {
            return Err(Error::UnsupportedHttpVersion {
                version: request.version(),
            });
        }
        let uri = request.uri();
        match uri.scheme_str() {
            None => return Err(Error::MissingHeader { name: ":scheme" }),
            Some(scheme)
                if !scheme.eq_ignore_ascii_case("http")
                    && !scheme.eq_ignore_ascii_case("https") =>
            {
                return Err(Error::InvalidHeader {
                    name: ":scheme",
                    reason: "must be http or https",
                });
            }
            Some(_) => {}
        }
        if uri
            .path_and_query()
            .is_none_or(|path| path.as_str().is_empty())
        {
            return Err(Error::MissingHeader { name: ":path" });
        }
        if uri
            .authority()
            .is_none_or(|authority| authority.as_str().is_empty())
        {
            return Err(Error::MissingHeader { name: ":authority" });
        }
        for name in ["Connection", "Upgrade"] {
            if request.headers().contains_key(name) {
                return Err(Error::InvalidHeader {
                    name,
                    reason: "is not allowed in HTTP/2 (RFC 9113 §8.2.2)",
                });
            }
        }
        check_version(request.headers())?;
        self.check_offers(request, None)
    }

    /// The checks both HTTP versions share, after the version-specific ones: the origin
    /// policy, and the subprotocol and extension offers.
    fn check_offers(
        &self,
        request: http::Request<()>,
        key: Option<String>,
    ) -> Result<UpgradeRequest, Error> {
        let headers = request.headers();
        if !self.origin_policy.allows(&request) {
            let origin = headers
                .get_all("origin")
                .iter()
                .map(|o| o.as_bytes())
                .collect::<Vec<_>>();
            let origin = String::from_utf8_lossy(&origin.join(&b", "[..])).into_owned();
            return Err(Error::OriginRefused { origin });
        }
        let mut protocols = Vec::new();
        for element in list_elements(headers, "sec-websocket-protocol") {
            if !is_token(element) {
                let reason = "lists a subprotocol that is not a token";
                return Err(Error::InvalidHeader {
                    name: "Sec-WebSocket-Protocol",
                    reason,
                });
            }
            protocols.push(String::from_utf8_lossy(element).into_owned());
        }
        let (extensions, extensions_error) =
            match parse_extensions(headers.get_all(SEC_WEBSOCKET_EXTENSIONS)) {
                Ok(extensions) => (extensions, None),
                Err(err) => (Vec::new(), Some(err)),
            };
        Ok(UpgradeRequest {
            request,
            key,
            protocols,
            extensions,
            extensions_error,
        })
    }

    /// Accepts a validated request: chooses the subprotocol and extensions and builds the
    /// response: `101 Switching Protocols` for an HTTP/1.1 upgrade, `200 OK` for an HTTP/2
    /// extended CONNECT (RFC 8441 §5).
    ///
    /// The subprotocol is the selector's choice if [`ServerBuilder::select_protocol`] set
    /// one, else the first of [`ServerBuilder::protocols`] the client offered, else none.
    /// A choice the client did not offer is dropped, since the client would fail the
    /// connection (RFC 6455 §4.1). The extensions are what the
    /// [`ExtensionNegotiator`] agreed to, less any the client did not offer.
    ///
    /// # Example
    ///
    /// ```
    /// use weft_handshake::Server;
    ///
    /// let server = Server::builder().protocols(["v2", "v1"]).build()?;
    /// let request = http::Request::get("/")
    ///     .header("host", "a")
    ///     .header("upgrade", "websocket")
    ///     .header("connection", "upgrade")
    ///     .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
    ///     .header("sec-websocket-version", "13")
    ///     .header("sec-websocket-protocol", "v1, v2")
    ///     .body(())?;
    /// let request = server.validate(request).map_err(|r| r.to_string())?;
    /// let accept = server.accept(&request);
    /// assert_eq!(accept.negotiated().protocol(), Some("v2"));
    /// assert_eq!(accept.response().headers()["sec-websocket-protocol"], "v2");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn accept(&self, request: &UpgradeRequest) -> Accept {
        let offered = |protocol: &String| request.protocols.contains(protocol);
        let protocol = match &self.select_protocol {
            Some(select) => select(request).filter(offered),
            None => self
                .protocols
                .iter()
                .find(|protocol| offered(protocol))
                .cloned(),
        };
        let extensions = match &self.negotiator {
            Some(negotiator) if !request.extensions.is_empty() => negotiator
                .negotiate(&request.extensions)
                .into_iter()
                .filter(|agreed| {
                    request
                        .extensions
                        .iter()
                        .any(|offer| offer.name() == agreed.name())
                })
                .collect(),
            _ => Vec::new(),
        };

        let mut response = http::Response::new(());
        let headers = response.headers_mut();
        match &request.key {
            Some(key) => {
                headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
                headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
                let accept = HeaderValue::try_from(accept_key(key.as_bytes()))
                    .expect("base64 is a valid header value");
                headers.insert(SEC_WEBSOCKET_ACCEPT, accept);
                *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
            }
            // RFC 8441 §5: the stream is the WebSocket once the server answers 200.
            None => *response.version_mut() = request.request.version(),
        }
        let headers = response.headers_mut();
        if let Some(protocol) = &protocol {
            // Offered protocols were checked to be tokens, which are valid header values.
            if let Ok(value) = HeaderValue::try_from(protocol.as_str()) {
                headers.insert(SEC_WEBSOCKET_PROTOCOL, value);
            }
        }
        if !extensions.is_empty() {
            // Extensions hold only tokens, which are valid header values.
            if let Ok(value) = HeaderValue::try_from(format_extensions(&extensions)) {
                headers.insert(SEC_WEBSOCKET_EXTENSIONS, value);
            }
        }
        Accept {
            response,
            negotiated: Negotiated {
                protocol,
                extensions,
            },
        }
    }
}

/// `Sec-WebSocket-Version: 13`, once (RFC 6455 §4.2.1 item 6).
fn check_version(headers: &http::HeaderMap) -> Result<(), Error> {
    match at_most_one(headers, "sec-websocket-version", "Sec-WebSocket-Version")? {
        Some(version) if trim_ows(version.as_bytes()) == b"13" => Ok(()),
        version => {
            let version = version.map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
            Err(Error::UnsupportedWebSocketVersion { version })
        }
    }
}

/// Configures a [`Server`]. Every method consumes and returns the builder.
///
/// # Example
///
/// ```
/// use weft_handshake::{Extension, Limits, OriginPolicy, Server};
///
/// let server = Server::builder()
///     .limits(Limits::default().with_max_headers(32))
///     .protocols(["chat.v2", "chat.v1"])
///     .origin_policy(OriginPolicy::allow_list(["https://app.example"]))
///     .extensions(|offers: &[Extension]| Vec::new())
///     .build()?;
/// assert_eq!(server.limits().max_headers(), 32);
/// # Ok::<(), weft_handshake::Error>(())
/// ```
#[derive(Debug)]
pub struct ServerBuilder {
    server: Server,
}

impl ServerBuilder {
    /// Sets the caps on request heads.
    ///
    /// # Example
    ///
    /// ```
    /// use weft_handshake::{Limits, Server};
    ///
    /// let limits = Limits::default().with_max_start_line(1024);
    /// let server = Server::builder().limits(limits).build()?;
    /// assert_eq!(server.limits().max_start_line(), 1024);
    /// # Ok::<(), weft_handshake::Error>(())
    /// ```
    #[must_use]
    pub fn limits(mut self, limits: Limits) -> Self {
        self.server.limits = limits;
        self
    }

    /// Sets the subprotocols the server speaks, most preferred first. The server picks the
    /// first of these the client offered.
    ///
    /// # Example
    ///
    /// ```
    /// let server = weft_handshake::Server::builder().protocols(["mqtt", "wamp.2.json"]).build()?;
    /// # Ok::<(), weft_handshake::Error>(())
    /// ```
    #[must_use]
    pub fn protocols<I, S>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.server.protocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// Sets a function that picks the subprotocol, seeing the whole request (its path, its
    /// offers in [`UpgradeRequest::protocols`]). It replaces the [`protocols`] list.
    ///
    /// [`protocols`]: ServerBuilder::protocols
    ///
    /// # Example
    ///
    /// ```
    /// use weft_handshake::{Server, UpgradeRequest};
    ///
    /// // The last offer, on /legacy only.
    /// let server = Server::builder()
    ///     .select_protocol(|request: &UpgradeRequest| {
    ///         (request.request().uri().path() == "/legacy")
    ///             .then(|| request.protocols().last().cloned())
    ///             .flatten()
    ///     })
    ///     .build()?;
    /// # Ok::<(), weft_handshake::Error>(())
    /// ```
    #[must_use]
    pub fn select_protocol<F>(mut self, select: F) -> Self
    where
        F: Fn(&UpgradeRequest) -> Option<String> + Send + Sync + 'static,
    {
        self.server.select_protocol = Some(Box::new(select));
        self
    }

    /// Sets which origins may connect. The default is [`OriginPolicy::SameHost`].
    ///
    /// # Example
    ///
    /// ```
    /// use weft_handshake::{OriginPolicy, Server};
    ///
    /// let server = Server::builder().origin_policy(OriginPolicy::Any).build()?;
    /// # Ok::<(), weft_handshake::Error>(())
    /// ```
    #[must_use]
    pub fn origin_policy(mut self, policy: OriginPolicy) -> Self {
        self.server.origin_policy = policy;
        self
    }

    /// Sets the extension negotiation (e.g. weft-deflate's). Without one, the server
    /// declines every extension.
    ///
    /// # Example
    ///
    /// ```
    /// use weft_handshake::{Extension, Server};
    ///
    /// // Agree to every offer of x-trace, as offered.
    /// let server = Server::builder()
    ///     .extensions(|offers: &[Extension]| {
    ///         offers.iter().filter(|offer| offer.name() == "x-trace").take(1).cloned().collect()
    ///     })
    ///     .build()?;
    /// # Ok::<(), weft_handshake::Error>(())
    /// ```
    #[must_use]
    pub fn extensions(mut self, negotiator: impl ExtensionNegotiator + 'static) -> Self {
        self.server.negotiator = Some(Box::new(negotiator));
        self
    }

    /// Finishes the configuration.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidToken`] if a subprotocol is not an HTTP token.
    ///
    /// # Example
    ///
    /// ```
    /// use weft_handshake::{Error, Server};
    ///
    /// let err = Server::builder().protocols(["two words"]).build().unwrap_err();
    /// assert!(matches!(err, Error::InvalidToken { what: "subprotocol", .. }));
    /// ```
    pub fn build(self) -> Result<Server, Error> {
        if let Some(bad) = self
            .server
            .protocols
            .iter()
            .find(|p| !is_token(p.as_bytes()))
        {
            return Err(Error::InvalidToken {
                what: "subprotocol",
                value: bad.clone(),
            });
        }
        Ok(self.server)
    }
}

/// An upgrade request that passed [`Server::validate`], with its offers parsed.
///
/// # Example
///
/// ```
/// use weft_handshake::Server;
///
/// let request = http::Request::get("/feed")
///     .header("host", "a")
///     .header("upgrade", "websocket")
///     .header("connection", "upgrade")
///     .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
///     .header("sec-websocket-version", "13")
///     .header("sec-websocket-protocol", "a, b")
///     .header("sec-websocket-extensions", "x; y=1")
///     .body(())?;
/// let request = Server::default().validate(request).map_err(|r| r.to_string())?;
/// assert_eq!(request.request().uri(), "/feed");
/// assert_eq!(request.key(), Some("dGhlIHNhbXBsZSBub25jZQ=="));
/// assert_eq!(request.protocols(), ["a", "b"]);
/// assert_eq!(request.extensions()[0].to_string(), "x; y=1");
/// assert!(request.extensions_error().is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct UpgradeRequest {
    request: http::Request<()>,
    /// `None` for an HTTP/2 extended CONNECT, which has no key.
    key: Option<String>,
    protocols: Vec<String>,
    extensions: Vec<Extension>,
    extensions_error: Option<Error>,
}

impl UpgradeRequest {
    /// The request as parsed.
    ///
    /// # Example
    ///
    /// See [`UpgradeRequest`].
    ///
    /// ```
    /// # let request = weft_handshake::Server::default().validate(http::Request::get("/")
    /// #     .header("host", "a").header("upgrade", "websocket").header("connection", "upgrade")
    /// #     .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
    /// #     .header("sec-websocket-version", "13").body(()).unwrap()).unwrap();
    /// assert_eq!(request.request().headers()["host"], "a");
    /// ```
    pub fn request(&self) -> &http::Request<()> {
        &self.request
    }

    /// Takes the request out.
    ///
    /// # Example
    ///
    /// ```
    /// # let request = weft_handshake::Server::default().validate(http::Request::get("/")
    /// #     .header("host", "a").header("upgrade", "websocket").header("connection", "upgrade")
    /// #     .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
    /// #     .header("sec-websocket-version", "13").body(()).unwrap()).unwrap();
    /// let request: http::Request<()> = request.into_request();
    /// assert_eq!(request.uri(), "/");
    /// ```
    pub fn into_request(self) -> http::Request<()> {
        self.request
    }

    /// The client's `Sec-WebSocket-Key`; `None` for an HTTP/2 extended CONNECT, which has
    /// none.
    ///
    /// # Example
    ///
    /// ```
    /// # let request = weft_handshake::Server::default().validate(http::Request::get("/")
    /// #     .header("host", "a").header("upgrade", "websocket").header("connection", "upgrade")
    /// #     .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
    /// #     .header("sec-websocket-version", "13").body(()).unwrap()).unwrap();
    /// let key = request.key().unwrap();
    /// assert_eq!(weft_handshake::accept_key(key.as_bytes()), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    /// ```
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// Whether the request is an HTTP/2 extended CONNECT (RFC 8441) rather than an HTTP/1.1
    /// upgrade; [`Server::accept`] then answers `200` instead of `101`.
    ///
    /// # Example
    ///
    /// ```
    /// # let request = weft_handshake::Server::default().validate(http::Request::get("/")
    /// #     .header("host", "a").header("upgrade", "websocket").header("connection", "upgrade")
    /// #     .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
    /// #     .header("sec-websocket-version", "13").body(()).unwrap()).unwrap();
    /// assert!(!request.is_extended_connect());
    /// ```
    pub fn is_extended_connect(&self) -> bool {
        self.key.is_none()
    }

    /// The subprotocols the client offered, most preferred first.
    ///
    /// # Example
    ///
    /// ```
    /// # let request = weft_handshake::Server::default().validate(http::Request::get("/")
    /// #     .header("host", "a").header("upgrade", "websocket").header("connection", "upgrade")
    /// #     .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
    /// #     .header("sec-websocket-version", "13").body(()).unwrap()).unwrap();
    /// assert!(request.protocols().is_empty());
    /// ```
    pub fn protocols(&self) -> &[String] {
        &self.protocols
    }

    /// The extensions the client offered, in order; empty if its header was malformed.
    ///
    /// # Example
    ///
    /// ```
    /// # let request = weft_handshake::Server::default().validate(http::Request::get("/")
    /// #     .header("host", "a").header("upgrade", "websocket").header("connection", "upgrade")
    /// #     .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
    /// #     .header("sec-websocket-extensions", "x;")
    /// #     .header("sec-websocket-version", "13").body(()).unwrap()).unwrap();
    /// assert!(request.extensions().is_empty());
    /// ```
    pub fn extensions(&self) -> &[Extension] {
        &self.extensions
    }

    /// Why the client's `Sec-WebSocket-Extensions` header was ignored, if it was malformed.
    ///
    /// # Example
    ///
    /// ```
    /// # let request = weft_handshake::Server::default().validate(http::Request::get("/")
    /// #     .header("host", "a").header("upgrade", "websocket").header("connection", "upgrade")
    /// #     .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
    /// #     .header("sec-websocket-extensions", "x;")
    /// #     .header("sec-websocket-version", "13").body(()).unwrap()).unwrap();
    /// let err = request.extensions_error().unwrap();
    /// assert!(matches!(err, weft_handshake::Error::MalformedExtensions { position: 2, .. }));
    /// ```
    pub fn extensions_error(&self) -> Option<&Error> {
        self.extensions_error.as_ref()
    }
}

/// What both sides agreed to in the handshake: the subprotocol and the extensions with
/// their response parameters.
///
/// # Example
///
/// ```
/// let negotiated = weft_handshake::Negotiated::default();
/// assert_eq!(negotiated.protocol(), None);
/// assert!(negotiated.extensions().is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Negotiated {
    pub(crate) protocol: Option<String>,
    pub(crate) extensions: Vec<Extension>,
}

impl Negotiated {
    /// The subprotocol in use, if any.
    ///
    /// # Example
    ///
    /// ```
    /// assert_eq!(weft_handshake::Negotiated::default().protocol(), None);
    /// ```
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The extensions in use, in the order the server listed them (the order in which they
    /// apply to data, RFC 6455 §9.1).
    ///
    /// # Example
    ///
    /// ```
    /// assert!(weft_handshake::Negotiated::default().extensions().is_empty());
    /// ```
    pub fn extensions(&self) -> &[Extension] {
        &self.extensions
    }
}

/// The server's 101 answer to an upgrade, from [`Server::accept`].
///
/// Add headers (cookies, say) through [`Accept::response_mut`] before writing it.
///
/// # Example
///
/// ```
/// use http::HeaderValue;
/// use weft_handshake::Server;
///
/// # let server = Server::default();
/// # let request = server.validate(http::Request::get("/")
/// #     .header("host", "a").header("upgrade", "websocket").header("connection", "upgrade")
/// #     .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
/// #     .header("sec-websocket-version", "13").body(()).unwrap()).unwrap();
/// let mut accept = server.accept(&request);
/// accept.response_mut().headers_mut().insert("set-cookie", HeaderValue::from_static("id=1"));
/// let bytes = accept.to_vec();
/// assert!(bytes.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
/// assert!(bytes.ends_with(b"Set-Cookie: id=1\r\n\r\n"));
/// ```
#[derive(Debug)]
pub struct Accept {
    response: http::Response<()>,
    negotiated: Negotiated,
}

impl Accept {
    /// The 101 response.
    ///
    /// # Example
    ///
    /// ```
    /// # let server = weft_handshake::Server::default();
    /// # let request = server.validate(http::Request::get("/")
    /// #     .header("host", "a").header("upgrade", "websocket").header("connection", "upgrade")
    /// #     .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
    /// #     .header("sec-websocket-version", "13").body(()).unwrap()).unwrap();
    /// let accept = server.accept(&request);
    /// assert_eq!(accept.response().status(), http::StatusCode::SWITCHING_PROTOCOLS);
    /// ```
    pub fn response(&self) -> &http::Response<()> {
        &self.response
    }

    /// The 101 response, to add headers to. Changing the handshake headers breaks the
    /// handshake.
    ///
    /// # Example
    ///
    /// See [`Accept`].
    ///
    /// ```
    /// # let server = weft_handshake::Server::default();
    /// # let request = server.validate(http::Request::get("/")
    /// #     .header("host", "a").header("upgrade", "websocket").header("connection", "upgrade")
    /// #     .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
    /// #     .header("sec-websocket-version", "13").body(()).unwrap()).unwrap();
    /// let mut accept = server.accept(&request);
    /// accept.response_mut().headers_mut().insert("server", "weft".parse()?);
    /// # Ok::<(), http::header::InvalidHeaderValue>(())
    /// ```
    pub fn response_mut(&mut self) -> &mut http::Response<()> {
        &mut self.response
    }

    /// The agreed subprotocol and extensions.
    ///
    /// # Example
    ///
    /// ```
    /// # let server = weft_handshake::Server::default();
    /// # let request = server.validate(http::Request::get("/")
    /// #     .header("host", "a").header("upgrade", "websocket").header("connection", "upgrade")
    /// #     .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
    /// #     .header("sec-websocket-version", "13").body(()).unwrap()).unwrap();
    /// assert_eq!(server.accept(&request).negotiated().protocol(), None);
    /// ```
    pub fn negotiated(&self) -> &Negotiated {
        &self.negotiated
    }

    /// Appends the response head to `dst`.
    ///
    /// # Example
    ///
    /// ```
    /// # let server = weft_handshake::Server::default();
    /// # let request = server.validate(http::Request::get("/")
    /// #     .header("host", "a").header("upgrade", "websocket").header("connection", "upgrade")
    /// #     .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
    /// #     .header("sec-websocket-version", "13").body(()).unwrap()).unwrap();
    /// let mut out = bytes::BytesMut::new();
    /// server.accept(&request).write_to(&mut out);
    /// assert!(out.ends_with(b"\r\n\r\n"));
    /// ```
    pub fn write_to<B: BufMut + ?Sized>(&self, dst: &mut B) {
        write_response(&self.response, dst);
    }

    /// The response head as bytes.
    ///
    /// # Example
    ///
    /// ```
    /// # let server = weft_handshake::Server::default();
    /// # let request = server.validate(http::Request::get("/")
    /// #     .header("host", "a").header("upgrade", "websocket").header("connection", "upgrade")
    /// #     .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
    /// #     .header("sec-websocket-version", "13").body(()).unwrap()).unwrap();
    /// assert!(server.accept(&request).to_vec().starts_with(b"HTTP/1.1 101"));
    /// ```
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(160);
        self.write_to(&mut out);
        out
    }

    /// Splits into the response and what was agreed.
    ///
    /// # Example
    ///
    /// ```
    /// # let server = weft_handshake::Server::default();
    /// # let request = server.validate(http::Request::get("/")
    /// #     .header("host", "a").header("upgrade", "websocket").header("connection", "upgrade")
    /// #     .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
    /// #     .header("sec-websocket-version", "13").body(()).unwrap()).unwrap();
    /// let (response, negotiated) = server.accept(&request).into_parts();
    /// assert_eq!(response.status(), 101);
    /// assert!(negotiated.extensions().is_empty());
    /// ```
    pub fn into_parts(self) -> (http::Response<()>, Negotiated) {
        (self.response, self.negotiated)
    }
}

/// A server's refusal of a request: the response to write back, and why.
///
/// Every rejection has a short plain-text body saying what was wrong (never echoing what the
/// peer sent), `Content-Length`, and `Connection: close`: after a refused handshake the
/// connection is closed, since a malformed head leaves no way to find the next request.
/// A 405 carries `Allow: GET`; a 426 carries `Sec-WebSocket-Version: 13` and
/// `Upgrade: websocket`.
///
/// # Example
///
/// ```
/// use http::StatusCode;
/// use weft_handshake::{Error, Rejection};
///
/// let rejection = Rejection::from(Error::MethodNotAllowed { method: http::Method::POST });
/// assert_eq!(rejection.status(), StatusCode::METHOD_NOT_ALLOWED);
/// assert_eq!(rejection.headers()["allow"], "GET");
/// assert_eq!(
///     String::from_utf8(rejection.to_vec())?,
///     "HTTP/1.1 405 Method Not Allowed\r\n\
///      Content-Type: text/plain; charset=utf-8\r\n\
///      Content-Length: 33\r\n\
///      Connection: close\r\n\
///      Allow: GET\r\n\r\n\
///      a WebSocket upgrade must use GET\n"
/// );
/// # Ok::<(), std::string::FromUtf8Error>(())
/// ```
#[derive(Debug)]
pub struct Rejection {
    // Boxed because rejections are rare and a `Result` carrying one inline would make every
    // successful parse move a few hundred bytes.
    inner: Box<RejectionInner>,
}

#[derive(Debug)]
struct RejectionInner {
    response: http::Response<Bytes>,
    cause: Option<Error>,
}

impl Rejection {
    /// A rejection of the caller's own, e.g. 401 from an authentication hook or 404 for an
    /// unknown path; `reason` becomes the plain-text body.
    ///
    /// # Example
    ///
    /// ```
    /// use http::StatusCode;
    /// use weft_handshake::Rejection;
    ///
    /// let rejection = Rejection::new(StatusCode::NOT_FOUND, "no such feed");
    /// assert_eq!(rejection.body().as_ref(), b"no such feed\n");
    /// assert!(rejection.cause().is_none());
    /// ```
    pub fn new(status: StatusCode, reason: &str) -> Self {
        let mut body = String::with_capacity(reason.len() + 1);
        body.push_str(reason);
        body.push('\n');
        let mut response = http::Response::new(Bytes::from(body));
        *response.status_mut() = status;
        let length = response.body().len();
        let headers = response.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        headers.insert(CONTENT_LENGTH, HeaderValue::from(length));
        headers.insert(CONNECTION, HeaderValue::from_static("close"));
        Rejection {
            inner: Box::new(RejectionInner {
                response,
                cause: None,
            }),
        }
    }

    /// Adds a header, e.g. `WWW-Authenticate` to a 401.
    ///
    /// # Example
    ///
    /// ```
    /// use http::{HeaderValue, StatusCode, header::WWW_AUTHENTICATE};
    /// use weft_handshake::Rejection;
    ///
    /// let rejection = Rejection::new(StatusCode::UNAUTHORIZED, "log in first")
    ///     .with_header(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    /// assert_eq!(rejection.headers()["www-authenticate"], "Bearer");
    /// ```
    #[must_use]
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.inner.response.headers_mut().append(name, value);
        self
    }

    /// The response status.
    ///
    /// # Example
    ///
    /// ```
    /// let rejection = weft_handshake::Rejection::new(http::StatusCode::FORBIDDEN, "no");
    /// assert_eq!(rejection.status(), 403);
    /// ```
    pub fn status(&self) -> StatusCode {
        self.inner.response.status()
    }

    /// The response headers.
    ///
    /// # Example
    ///
    /// ```
    /// let rejection = weft_handshake::Rejection::new(http::StatusCode::FORBIDDEN, "no");
    /// assert_eq!(rejection.headers()["connection"], "close");
    /// ```
    pub fn headers(&self) -> &http::HeaderMap {
        self.inner.response.headers()
    }

    /// The plain-text body.
    ///
    /// # Example
    ///
    /// ```
    /// let rejection = weft_handshake::Rejection::new(http::StatusCode::FORBIDDEN, "no");
    /// assert_eq!(rejection.body().as_ref(), b"no\n");
    /// ```
    pub fn body(&self) -> &Bytes {
        self.inner.response.body()
    }

    /// The whole response.
    ///
    /// # Example
    ///
    /// ```
    /// let rejection = weft_handshake::Rejection::new(http::StatusCode::FORBIDDEN, "no");
    /// assert_eq!(rejection.response().version(), http::Version::HTTP_11);
    /// ```
    pub fn response(&self) -> &http::Response<Bytes> {
        &self.inner.response
    }

    /// Takes the response out, e.g. to send it through another HTTP stack.
    ///
    /// # Example
    ///
    /// ```
    /// let rejection = weft_handshake::Rejection::new(http::StatusCode::FORBIDDEN, "no");
    /// let response: http::Response<bytes::Bytes> = rejection.into_response();
    /// assert_eq!(response.status(), 403);
    /// ```
    pub fn into_response(self) -> http::Response<Bytes> {
        self.inner.response
    }

    /// The error that caused the rejection, with the peer's details for a log; `None` for a
    /// rejection made with [`Rejection::new`].
    ///
    /// # Example
    ///
    /// ```
    /// use weft_handshake::{Error, Rejection};
    ///
    /// let rejection = Rejection::from(Error::MissingHeader { name: "Host" });
    /// assert!(matches!(rejection.cause(), Some(Error::MissingHeader { name: "Host" })));
    /// ```
    pub fn cause(&self) -> Option<&Error> {
        self.inner.cause.as_ref()
    }

    /// Takes the response out for an HTTP/2 stream: without the headers HTTP/2 forbids
    /// (`Connection`, `Upgrade`, RFC 9113 §8.2.2), which a 426 or any refusal carries for
    /// HTTP/1.1. What is left (status, `Sec-WebSocket-Version`, `Allow`, the body) means the
    /// same on both.
    ///
    /// # Example
    ///
    /// ```
    /// use weft_handshake::{Error, Rejection};
    ///
    /// let rejection = Rejection::from(Error::UnsupportedWebSocketVersion { version: None });
    /// let response = rejection.into_http2_response();
    /// assert_eq!(response.status(), 426);
    /// assert_eq!(response.headers()["sec-websocket-version"], "13");
    /// assert!(response.headers().get("connection").is_none());
    /// assert!(response.headers().get("upgrade").is_none());
    /// ```
    pub fn into_http2_response(self) -> http::Response<Bytes> {
        let mut response = self.inner.response;
        let headers = response.headers_mut();
        for name in [CONNECTION, UPGRADE, HeaderName::from_static("keep-alive")] {
            headers.remove(name);
        }
        *response.version_mut() = Version::HTTP_2;
        response
    }

    /// Appends the whole response, head and body, to `dst`.
    ///
    /// # Example
    ///
    /// ```
    /// let rejection = weft_handshake::Rejection::new(http::StatusCode::FORBIDDEN, "no");
    /// let mut out = bytes::BytesMut::new();
    /// rejection.write_to(&mut out);
    /// assert!(out.ends_with(b"\r\n\r\nno\n"));
    /// ```
    pub fn write_to<B: BufMut + ?Sized>(&self, dst: &mut B) {
        write_response(&self.inner.response, dst);
        dst.put_slice(self.inner.response.body());
    }

    /// The whole response, head and body, as bytes.
    ///
    /// # Example
    ///
    /// ```
    /// let rejection = weft_handshake::Rejection::new(http::StatusCode::FORBIDDEN, "no");
    /// assert!(rejection.to_vec().starts_with(b"HTTP/1.1 403 Forbidden\r\n"));
    /// ```
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(160 + self.inner.response.body().len());
        self.write_to(&mut out);
        out
    }
}

impl From<Error> for Rejection {
    /// The response for an error met while reading a request. An error that has no server
    /// status (a client-side error) becomes a 500, since passing one here is a bug.
    fn from(error: Error) -> Self {
        let status = error.status().unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut rejection = Rejection::new(status, &error.reason());
        let headers = rejection.inner.response.headers_mut();
        match &error {
            Error::MethodNotAllowed { .. } | Error::PlainConnect => {
                headers.insert(ALLOW, HeaderValue::from_static("GET"));
            }
            Error::UnsupportedWebSocketVersion { .. } => {
                headers.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
                // RFC 9110 §15.5.22: a 426 names the protocol to upgrade to, and an Upgrade
                // header must be listed in Connection.
                headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
                headers.insert(CONNECTION, HeaderValue::from_static("Upgrade, close"));
            }
            _ => {}
        }
        rejection.inner.cause = Some(error);
        rejection
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner.cause {
            Some(cause) => write!(f, "rejected with {}: {cause}", self.status()),
            None => write!(f, "rejected with {}", self.status()),
        }
    }
}

impl std::error::Error for Rejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner.cause.as_ref().map(|cause| cause as _)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upgrade() -> http::request::Builder {
        http::Request::get("/")
            .header("host", "example.com")
            .header("upgrade", "websocket")
            .header("connection", "Upgrade")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .header("sec-websocket-version", "13")
    }

    fn status_of(server: &Server, request: http::request::Builder) -> StatusCode {
        match server.validate(request.body(()).unwrap()) {
            Ok(_) => StatusCode::SWITCHING_PROTOCOLS,
            Err(rejection) => rejection.status(),
        }
    }

    /// An HTTP/2 extended CONNECT for a WebSocket, as Chromium sends it.
    fn extended_connect() -> http::request::Builder {
        http::Request::builder()
            .method(Method::CONNECT)
            .version(Version::HTTP_2)
            .uri("https://example.com/chat?room=1")
            .header("sec-websocket-version", "13")
            .header("origin", "https://example.com")
    }

    fn h2_status_of(
        server: &Server,
        request: http::request::Builder,
        protocol: Option<&str>,
    ) -> StatusCode {
        match server.validate_extended_connect(request.body(()).unwrap(), protocol) {
            Ok(_) => StatusCode::OK,
            Err(rejection) => rejection.status(),
        }
    }

    #[test]
    fn an_extended_connect_is_answered_200_without_upgrade_headers() {
        let server = Server::builder()
            .protocols(["chat"])
            .extensions(|offers: &[Extension]| offers.to_vec())
            .build()
            .unwrap();
        let request = extended_connect()
            .header("sec-websocket-protocol", "other, chat")
            .header("sec-websocket-extensions", "permessage-deflate")
            .body(())
            .unwrap();
        let request = server
            .validate_extended_connect(request, Some("websocket"))
            .unwrap();
        assert!(request.is_extended_connect());
        assert_eq!(request.key(), None);
        let accept = server.accept(&request);
        let response = accept.response();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.version(), Version::HTTP_2);
        assert_eq!(response.headers()["sec-websocket-protocol"], "chat");
        assert_eq!(
            response.headers()["sec-websocket-extensions"],
            "permessage-deflate"
        );
        for forbidden in ["upgrade", "connection", "sec-websocket-accept"] {
            assert!(response.headers().get(forbidden).is_none(), "{forbidden}");
        }
    }

    #[test]
    fn extended_connect_refusals_have_the_rfc_statuses_in_the_documented_order() {
        let server = Server::default();
        let ok = Some("websocket");
        let cases: [(http::request::Builder, Option<&str>, StatusCode); 11] = [
            (extended_connect(), ok, StatusCode::OK),
            (extended_connect(), Some("WebSocket"), StatusCode::OK),
            // A plain CONNECT asks for a tunnel.
            (
                http::Request::builder()
                    .method(Method::CONNECT)
                    .version(Version::HTTP_2)
                    .uri("example.com:443"),
                None,
                StatusCode::METHOD_NOT_ALLOWED,
            ),
            (
                extended_connect(),
                Some("webtransport"),
                StatusCode::NOT_IMPLEMENTED,
            ),
            // The protocol is checked before the version: any other protocol is 501.
            (
                extended_connect().version(Version::HTTP_11),
                Some("webtransport"),
                StatusCode::NOT_IMPLEMENTED,
            ),
            (
                extended_connect().version(Version::HTTP_11),
                ok,
                StatusCode::BAD_REQUEST,
            ),
            (
                extended_connect().uri("ftp://example.com/chat"),
                ok,
                StatusCode::BAD_REQUEST,
            ),
            (extended_connect().uri("/chat"), ok, StatusCode::BAD_REQUEST),
            (
                extended_connect().header("upgrade", "websocket"),
                ok,
                StatusCode::BAD_REQUEST,
            ),
            (
                http::Request::builder()
                    .method(Method::CONNECT)
                    .version(Version::HTTP_2)
                    .uri("https://example.com/"),
                ok,
                StatusCode::UPGRADE_REQUIRED,
            ),
            // A second Origin fails the default SameHost policy.
            (
                extended_connect().header("origin", "https://evil.example"),
                ok,
                StatusCode::FORBIDDEN,
            ),
        ];
        for (i, (request, protocol, expected)) in cases.into_iter().enumerate() {
            assert_eq!(
                h2_status_of(&server, request, protocol),
                expected,
                "case {i}"
            );
        }
    }

    #[test]
    fn extended_connect_rejections_carry_their_headers_and_causes() {
        let server = Server::default();
        let version = server
            .validate_extended_connect(
                extended_connect()
                    .header("sec-websocket-version", "8")
                    .body(())
                    .unwrap(),
                Some("websocket"),
            )
            .unwrap_err();
        assert!(matches!(
            version.cause(),
            Some(Error::InvalidHeader { .. }) // two Sec-WebSocket-Version headers
        ));
        let unknown = server
            .validate_extended_connect(extended_connect().body(()).unwrap(), Some("mqtt"))
            .unwrap_err();
        assert!(matches!(
            unknown.cause(),
            Some(Error::UnsupportedProtocol { protocol }) if protocol == "mqtt"
        ));
        let plain = server
            .validate_extended_connect(extended_connect().body(()).unwrap(), None)
            .unwrap_err();
        assert!(matches!(plain.cause(), Some(Error::PlainConnect)));
        let response = plain.into_http2_response();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert!(response.headers().get("connection").is_none());
    }

    #[test]
    fn same_host_compares_the_origin_with_the_authority_over_http2() {
        let server = Server::default();
        assert_eq!(
            h2_status_of(
                &server,
                extended_connect().uri("https://example.com:8443/chat"),
                Some("websocket")
            ),
            StatusCode::FORBIDDEN,
            "another port is another origin"
        );
        let allowed = http::Request::builder()
            .method(Method::CONNECT)
            .version(Version::HTTP_2)
            .uri("https://example.com:8443/chat")
            .header("sec-websocket-version", "13")
            .header("origin", "https://example.com:8443");
        assert_eq!(
            h2_status_of(&server, allowed, Some("websocket")),
            StatusCode::OK
        );
    }

    #[test]
    fn a_valid_request_is_accepted() {
        assert_eq!(
            status_of(&Server::default(), upgrade()),
            StatusCode::SWITCHING_PROTOCOLS
        );
    }

    #[test]
    fn checks_come_in_the_documented_order() {
        let server = Server::default();
        // A POST that is also HTTP/1.0 gets the 405: the method is checked first.
        let request = upgrade().method("POST").version(Version::HTTP_10);
        assert_eq!(status_of(&server, request), StatusCode::METHOD_NOT_ALLOWED);
        // A wrong version with a bad key gets the 426: version before key.
        let mut request = upgrade().body(()).unwrap();
        request
            .headers_mut()
            .insert("sec-websocket-version", HeaderValue::from_static("8"));
        request
            .headers_mut()
            .insert("sec-websocket-key", HeaderValue::from_static("short"));
        let rejection = server.validate(request).unwrap_err();
        assert_eq!(rejection.status(), StatusCode::UPGRADE_REQUIRED);
        // A bad key from a refused origin gets the 400: well-formedness before policy.
        let mut request = upgrade()
            .header("origin", "https://elsewhere")
            .body(())
            .unwrap();
        request
            .headers_mut()
            .insert("sec-websocket-key", HeaderValue::from_static("short"));
        let rejection = server.validate(request).unwrap_err();
        assert_eq!(rejection.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn protocol_selection_prefers_the_server_order() {
        let server = Server::builder().protocols(["b", "a"]).build().unwrap();
        let request = upgrade()
            .header("sec-websocket-protocol", "a, b")
            .body(())
            .unwrap();
        let request = server.validate(request).unwrap();
        assert_eq!(server.accept(&request).negotiated().protocol(), Some("b"));
    }

    #[test]
    fn a_selector_cannot_pick_an_unoffered_protocol() {
        let server = Server::builder()
            .select_protocol(|_| Some("never-offered".into()))
            .build()
            .unwrap();
        let request = upgrade()
            .header("sec-websocket-protocol", "a")
            .body(())
            .unwrap();
        let request = server.validate(request).unwrap();
        let accept = server.accept(&request);
        assert_eq!(accept.negotiated().protocol(), None);
        assert!(
            !accept
                .response()
                .headers()
                .contains_key(SEC_WEBSOCKET_PROTOCOL)
        );
    }

    #[test]
    fn a_negotiator_cannot_agree_to_an_unoffered_extension() {
        let server = Server::builder()
            .extensions(|_: &[Extension]| {
                vec![Extension::new("a").unwrap(), Extension::new("b").unwrap()]
            })
            .build()
            .unwrap();
        let request = upgrade()
            .header("sec-websocket-extensions", "a; x")
            .body(())
            .unwrap();
        let request = server.validate(request).unwrap();
        let accept = server.accept(&request);
        let names: Vec<_> = accept
            .negotiated()
            .extensions()
            .iter()
            .map(Extension::name)
            .collect();
        assert_eq!(names, ["a"]);
        assert_eq!(accept.response().headers()[SEC_WEBSOCKET_EXTENSIONS], "a");
    }

    #[test]
    fn a_malformed_extension_header_declines_all_without_calling_the_hook() {
        let server = Server::builder()
            .extensions(|_: &[Extension]| -> Vec<Extension> { panic!("hook called") })
            .build()
            .unwrap();
        let request = upgrade()
            .header("sec-websocket-extensions", "a; =")
            .body(())
            .unwrap();
        let request = server.validate(request).unwrap();
        assert!(request.extensions_error().is_some());
        assert!(server.accept(&request).negotiated().extensions().is_empty());
    }

    #[test]
    fn rejection_display_and_source() {
        let rejection = Rejection::from(Error::OriginRefused {
            origin: "https://x".into(),
        });
        assert_eq!(
            rejection.to_string(),
            "rejected with 403 Forbidden: origin \"https://x\" refused by the origin policy"
        );
        assert!(std::error::Error::source(&rejection).is_some());
        assert_eq!(rejection.body().as_ref(), b"origin not allowed\n");
    }

    #[test]
    fn client_errors_become_500() {
        let rejection = Rejection::from(Error::UnexpectedEof);
        assert_eq!(rejection.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
