//! The client side: build the upgrade request (RFC 6455 §4.1), validate the response.

use bytes::BufMut;
use http::header::{
    CONNECTION, HOST, HeaderMap, HeaderName, HeaderValue, SEC_WEBSOCKET_ACCEPT,
    SEC_WEBSOCKET_EXTENSIONS, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION,
    UPGRADE,
};
use http::{Method, StatusCode, Uri, Version};

use crate::extensions::{Extension, format_extensions, parse_extensions};
use crate::head::{self, HeadScanner, Parsed};
use crate::headers::{at_most_one, is_token, require_upgrade_tokens, trim_ows};
use crate::{Error, Limits, Negotiated, accept_key, generate_key, write_request};

/// Headers the handshake sets itself; a caller's value would break it or go unchecked.
const RESERVED: [HeaderName; 7] = [
    UPGRADE,
    CONNECTION,
    SEC_WEBSOCKET_KEY,
    SEC_WEBSOCKET_VERSION,
    SEC_WEBSOCKET_PROTOCOL,
    SEC_WEBSOCKET_EXTENSIONS,
    SEC_WEBSOCKET_ACCEPT,
];

/// Configures a client handshake. Every method consumes and returns the builder; problems
/// are reported by [`ClientBuilder::build`].
///
/// # Example
///
/// ```
/// use http::{HeaderName, HeaderValue};
/// use weft_handshake::{ClientBuilder, Extension};
///
/// let handshake = ClientBuilder::new("wss://chat.example:8443/rooms/1?token=abc")
///     .protocols(["chat.v2", "chat.v1"])
///     .extension(Extension::new("permessage-deflate")?.with_param("client_max_window_bits", None)?)
///     .header(HeaderName::from_static("origin"), HeaderValue::from_static("https://chat.example"))
///     .build()?;
/// let request = handshake.request();
/// assert_eq!(request.headers()["host"], "chat.example:8443");
/// assert_eq!(request.headers()["sec-websocket-protocol"], "chat.v2, chat.v1");
/// assert!(handshake.to_vec().starts_with(b"GET /rooms/1?token=abc HTTP/1.1\r\n"));
/// # Ok::<(), weft_handshake::Error>(())
/// ```
#[derive(Debug)]
pub struct ClientBuilder {
    uri: Result<Uri, Error>,
    protocols: Vec<String>,
    extensions: Vec<Extension>,
    headers: Vec<(HeaderName, HeaderValue)>,
    limits: Limits,
}

impl ClientBuilder {
    /// Starts a handshake for a `ws://` or `wss://` URI.
    ///
    /// # Example
    ///
    /// ```
    /// let handshake = weft_handshake::ClientBuilder::new("ws://[::1]:9001").build()?;
    /// assert_eq!(handshake.request().headers()["host"], "[::1]:9001");
    /// # Ok::<(), weft_handshake::Error>(())
    /// ```
    pub fn new(uri: &str) -> Self {
        let uri = uri.parse::<Uri>().map_err(|_| Error::InvalidUri {
            uri: uri.to_owned(),
            reason: "not a valid URI",
        });
        ClientBuilder::with_uri(uri)
    }

    /// Starts a handshake for a `ws://` or `wss://` URI already parsed.
    ///
    /// # Example
    ///
    /// ```
    /// let uri: http::Uri = "ws://example.com/feed".parse()?;
    /// let handshake = weft_handshake::ClientBuilder::from_uri(uri).build()?;
    /// assert_eq!(handshake.request().uri(), "ws://example.com/feed");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_uri(uri: Uri) -> Self {
        ClientBuilder::with_uri(Ok(uri))
    }

    fn with_uri(uri: Result<Uri, Error>) -> Self {
        ClientBuilder {
            uri,
            protocols: Vec::new(),
            extensions: Vec::new(),
            headers: Vec::new(),
            limits: Limits::default(),
        }
    }

    /// Offers a subprotocol, after those already offered. Offering one twice offers it once.
    ///
    /// # Example
    ///
    /// ```
    /// let handshake =
    ///     weft_handshake::ClientBuilder::new("ws://a").protocol("v2").protocol("v1").build()?;
    /// assert_eq!(handshake.request().headers()["sec-websocket-protocol"], "v2, v1");
    /// # Ok::<(), weft_handshake::Error>(())
    /// ```
    #[must_use]
    pub fn protocol(mut self, protocol: impl Into<String>) -> Self {
        self.protocols.push(protocol.into());
        self
    }

    /// Offers subprotocols, most preferred first, after those already offered.
    ///
    /// # Example
    ///
    /// ```
    /// let handshake = weft_handshake::ClientBuilder::new("ws://a").protocols(["x", "y"]).build()?;
    /// assert_eq!(handshake.request().headers()["sec-websocket-protocol"], "x, y");
    /// # Ok::<(), weft_handshake::Error>(())
    /// ```
    #[must_use]
    pub fn protocols<I, S>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.protocols.extend(protocols.into_iter().map(Into::into));
        self
    }

    /// Offers an extension, after those already offered. The same extension may be offered
    /// several times with different parameters, most preferred first.
    ///
    /// # Example
    ///
    /// ```
    /// use weft_handshake::{ClientBuilder, Extension};
    ///
    /// let handshake = ClientBuilder::new("ws://a")
    ///     .extension(Extension::new("permessage-deflate")?.with_param("server_max_window_bits", Some("10"))?)
    ///     .extension(Extension::new("permessage-deflate")?)
    ///     .build()?;
    /// assert_eq!(
    ///     handshake.request().headers()["sec-websocket-extensions"],
    ///     "permessage-deflate; server_max_window_bits=10, permessage-deflate"
    /// );
    /// # Ok::<(), weft_handshake::Error>(())
    /// ```
    #[must_use]
    pub fn extension(mut self, offer: Extension) -> Self {
        self.extensions.push(offer);
        self
    }

    /// Adds a header to the request (`Origin`, `Authorization`, `Cookie`, …). A `Host`
    /// header replaces the one derived from the URI. The handshake's own headers (`Upgrade`,
    /// `Connection` and the `Sec-WebSocket-*` ones) are refused by
    /// [`build`](ClientBuilder::build): use the dedicated methods.
    ///
    /// # Example
    ///
    /// ```
    /// use http::header::{AUTHORIZATION, HeaderValue};
    ///
    /// let handshake = weft_handshake::ClientBuilder::new("ws://a")
    ///     .header(AUTHORIZATION, HeaderValue::from_static("Bearer t"))
    ///     .build()?;
    /// assert_eq!(handshake.request().headers()["authorization"], "Bearer t");
    /// # Ok::<(), weft_handshake::Error>(())
    /// ```
    #[must_use]
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// Sets the caps on the server's response head.
    ///
    /// # Example
    ///
    /// ```
    /// use weft_handshake::{ClientBuilder, Limits};
    ///
    /// let handshake = ClientBuilder::new("ws://a")
    ///     .limits(Limits::default().with_max_refusal_body(64 * 1024))
    ///     .build()?;
    /// # Ok::<(), weft_handshake::Error>(())
    /// ```
    #[must_use]
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Builds the request, with a fresh random key.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidUri`] for a URI that is not `ws://` or `wss://` with a host (and no
    /// user information); [`Error::InvalidToken`] for a subprotocol that is not a token;
    /// [`Error::ReservedHeader`] for a header the handshake sets itself.
    ///
    /// # Example
    ///
    /// ```
    /// use weft_handshake::{ClientBuilder, Error};
    ///
    /// let err = ClientBuilder::new("https://example.com").build().unwrap_err();
    /// assert!(matches!(err, Error::InvalidUri { reason: "scheme must be ws or wss", .. }));
    /// ```
    pub fn build(self) -> Result<ClientHandshake, Error> {
        let checked = self.check()?;
        let key = generate_key();
        let mut headers = HeaderMap::with_capacity(7 + checked.headers.len());
        headers.insert(HOST, checked.host);
        headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
        headers.insert(SEC_WEBSOCKET_KEY, header_value(&key)?);
        checked.offers.write_headers(&mut headers)?;
        let mut host_given = false;
        for (name, value) in checked.headers {
            if name == HOST && !host_given {
                // The caller's Host replaces ours in place, keeping it first.
                host_given = true;
                headers.insert(name, value);
            } else {
                headers.append(name, value);
            }
        }

        let mut request = http::Request::new(());
        *request.method_mut() = Method::GET;
        *request.uri_mut() = checked.uri;
        *request.version_mut() = Version::HTTP_11;
        *request.headers_mut() = headers;
        Ok(ClientHandshake {
            request,
            key,
            protocols: checked.offers.protocols,
            extensions: checked.offers.extensions,
            limits: checked.limits,
            scanner: HeadScanner::default(),
            refusal: None,
        })
    }

    /// Builds the HTTP/2 extended CONNECT request (RFC 8441 §5) for the same WebSocket: the
    /// request to send on a new stream, and an [`ExtendedConnect`] to check the answer with.
    ///
    /// The request has method CONNECT, version HTTP/2, and a URI that gives `:scheme`
    /// (`https` for `wss://`, `http` for `ws://`), `:authority` and `:path`; the caller sends
    /// it with `:protocol` set to [`ExtendedConnect::PROTOCOL`] (for the `h2` crate, an
    /// `h2::ext::Protocol` in the request's extensions). It carries
    /// `Sec-WebSocket-Version`, the subprotocol and extension offers and the caller's
    /// headers, and no `Host`, `Upgrade`, `Connection` or `Sec-WebSocket-Key` (HTTP/2 has
    /// none of them; a `Host` given to the builder becomes the `:authority`).
    ///
    /// # Errors
    ///
    /// As [`ClientBuilder::build`].
    ///
    /// # Example
    ///
    /// ```
    /// use http::{Method, Version};
    /// use weft_handshake::ClientBuilder;
    ///
    /// let (request, _check) = ClientBuilder::new("wss://chat.example/rooms/1?token=abc")
    ///     .protocol("chat")
    ///     .build_extended_connect()?;
    /// assert_eq!(request.method(), Method::CONNECT);
    /// assert_eq!(request.version(), Version::HTTP_2);
    /// assert_eq!(request.uri(), "https://chat.example/rooms/1?token=abc");
    /// assert_eq!(request.headers()["sec-websocket-version"], "13");
    /// assert_eq!(request.headers()["sec-websocket-protocol"], "chat");
    /// assert!(request.headers().get("sec-websocket-key").is_none());
    /// # Ok::<(), weft_handshake::Error>(())
    /// ```
    pub fn build_extended_connect(self) -> Result<(http::Request<()>, ExtendedConnect), Error> {
        let checked = self.check()?;
        let mut authority = checked.host;
        let mut headers = HeaderMap::with_capacity(3 + checked.headers.len());
        checked.offers.write_headers(&mut headers)?;
        for (name, value) in checked.headers {
            if name == HOST {
                authority = value;
            } else {
                headers.append(name, value);
            }
        }
        let scheme = if checked
            .uri
            .scheme_str()
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("wss"))
        {
            "https"
        } else {
            "http"
        };
        let path = checked
            .uri
            .path_and_query()
            .map_or("/", http::uri::PathAndQuery::as_str);
        let invalid = |_| Error::InvalidUri {
            uri: checked.uri.to_string(),
            reason: "the host is not a valid :authority",
        };
        let authority = authority.to_str().map_err(|_| invalid(()))?;
        let uri = Uri::builder()
            .scheme(scheme)
            .authority(authority)
            .path_and_query(path)
            .build()
            .map_err(|_| invalid(()))?;
        let mut request = http::Request::new(());
        *request.method_mut() = Method::CONNECT;
        *request.uri_mut() = uri;
        *request.version_mut() = Version::HTTP_2;
        *request.headers_mut() = headers;
        Ok((
            request,
            ExtendedConnect {
                offers: checked.offers,
            },
        ))
    }

    /// What both request forms share: a usable URI and its host, unique token subprotocols,
    /// and no header the handshake sets itself.
    fn check(self) -> Result<Checked, Error> {
        let uri = self.uri?;
        let host = host_header(&uri)?;

        let mut protocols: Vec<String> = Vec::with_capacity(self.protocols.len());
        for protocol in self.protocols {
            if !is_token(protocol.as_bytes()) {
                return Err(Error::InvalidToken {
                    what: "subprotocol",
                    value: protocol,
                });
            }
            // RFC 6455 §4.1 asks for unique values; a repeat adds nothing.
            if !protocols.contains(&protocol) {
                protocols.push(protocol);
            }
        }
        if let Some((name, _)) = self
            .headers
            .iter()
            .find(|(name, _)| RESERVED.contains(name))
        {
            return Err(Error::ReservedHeader { name: name.clone() });
        }
        Ok(Checked {
            uri,
            host,
            offers: Offers {
                protocols,
                extensions: self.extensions,
            },
            headers: self.headers,
            limits: self.limits,
        })
    }
}

/// A builder's settings, checked.
struct Checked {
    uri: Uri,
    host: HeaderValue,
    offers: Offers,
    headers: Vec<(HeaderName, HeaderValue)>,
    limits: Limits,
}

/// What a client offers: subprotocols and extensions.
#[derive(Debug)]
struct Offers {
    protocols: Vec<String>,
    extensions: Vec<Extension>,
}

impl Offers {
    /// `Sec-WebSocket-Version`, and the subprotocol and extension offers if any.
    fn write_headers(&self, headers: &mut HeaderMap) -> Result<(), Error> {
        headers.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        if !self.protocols.is_empty() {
            headers.insert(
                SEC_WEBSOCKET_PROTOCOL,
                header_value(&self.protocols.join(", "))?,
            );
        }
        if !self.extensions.is_empty() {
            let offers = format_extensions(&self.extensions);
            headers.insert(SEC_WEBSOCKET_EXTENSIONS, header_value(&offers)?);
        }
        Ok(())
    }
}

/// An HTTP/2 extended CONNECT handshake in progress (RFC 8441): what it takes to check the
/// server's response to the request [`ClientBuilder::build_extended_connect`] built.
///
/// # Call order
///
/// 1. Send the request on a new stream of an HTTP/2 connection whose server advertised
///    `SETTINGS_ENABLE_CONNECT_PROTOCOL`, with `:protocol` = [`ExtendedConnect::PROTOCOL`].
/// 2. When the response head arrives, [`ExtendedConnect::check_response`]: a 2xx with what
///    was agreed, and the stream is the WebSocket; any other status is [`Error::Refused`]
///    (read up to [`Limits::max_refusal_body`] of its body first, to show why).
///
/// # Example
///
/// ```
/// use weft_handshake::{ClientBuilder, Error};
///
/// let (_request, check) = ClientBuilder::new("ws://a/chat").protocol("chat").build_extended_connect()?;
/// let response = http::Response::builder()
///     .version(http::Version::HTTP_2)
///     .header("sec-websocket-protocol", "chat")
///     .body(())?;
/// let upgraded = check.check_response(response)?;
/// assert_eq!(upgraded.negotiated().protocol(), Some("chat"));
///
/// let refused = http::Response::builder().status(403).body(())?;
/// assert!(matches!(check.check_response(refused), Err(Error::Refused { .. })));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ExtendedConnect {
    offers: Offers,
}

impl ExtendedConnect {
    /// The `:protocol` of a WebSocket's extended CONNECT.
    pub const PROTOCOL: &'static str = "websocket";

    /// Checks the response head: a 2xx (RFC 9113 §8.5: a CONNECT succeeds with any 2xx;
    /// RFC 8441 servers send 200) whose subprotocol and extensions were offered.
    ///
    /// # Errors
    ///
    /// [`Error::Refused`] for any other status, with an empty body (the caller may read the
    /// stream's body and put it in); [`Error::ProtocolNotOffered`],
    /// [`Error::ExtensionNotOffered`] or a header error as for HTTP/1.1.
    ///
    /// # Example
    ///
    /// See [`ExtendedConnect`].
    ///
    /// ```
    /// # let (_request, check) = weft_handshake::ClientBuilder::new("ws://a").build_extended_connect()?;
    /// let response = http::Response::builder().header("sec-websocket-protocol", "x").body(())?;
    /// assert!(check.check_response(response).is_err()); // "x" was not offered
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn check_response(&self, response: http::Response<()>) -> Result<Upgraded, Error> {
        if !response.status().is_success() {
            return Err(Error::Refused {
                response: Box::new(response.map(|()| bytes::Bytes::new())),
                body_complete: false,
            });
        }
        let negotiated = check_negotiation(
            &self.offers.protocols,
            &self.offers.extensions,
            response.headers(),
        )?;
        Ok(Upgraded {
            response,
            negotiated,
        })
    }
}

// A handshake may be driven from any task of a multi-threaded runtime.
const _: fn() = || {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<ClientHandshake>();
    send_sync::<Upgraded>();
};

/// The `Host` header for a WebSocket URI (RFC 6455 §4.1 items 2 and 4): the host, with the
/// port unless it is the scheme's default. IPv6 literals keep their brackets.
fn host_header(uri: &Uri) -> Result<HeaderValue, Error> {
    let invalid = |reason| Error::InvalidUri {
        uri: uri.to_string(),
        reason,
    };
    let default_port = match uri.scheme_str() {
        Some(scheme) if scheme.eq_ignore_ascii_case("ws") => 80,
        Some(scheme) if scheme.eq_ignore_ascii_case("wss") => 443,
        _ => return Err(invalid("scheme must be ws or wss")),
    };
    let authority = uri.authority().ok_or_else(|| invalid("missing host"))?;
    if authority.as_str().contains('@') {
        return Err(invalid(
            "user information is not supported; send an Authorization header",
        ));
    }
    let host = authority.host();
    if host.is_empty() {
        return Err(invalid("missing host"));
    }
    let value = match authority.port_u16() {
        Some(port) if port != default_port => format!("{host}:{port}"),
        Some(_) => host.to_owned(),
        // `http::Uri` reports no port both for an empty one (`host:`, which RFC 3986 §3.2.3
        // says means the default) and for one out of range, which names no endpoint.
        None if authority.as_str().len() > host.len() => {
            let port = &authority.as_str()[host.len()..];
            if port == ":" {
                host.to_owned()
            } else {
                return Err(invalid("invalid port"));
            }
        }
        None => host.to_owned(),
    };
    header_value(&value)
}

fn header_value(value: &str) -> Result<HeaderValue, Error> {
    // Every value built here is ASCII without control characters; this cannot fail.
    HeaderValue::try_from(value).map_err(|_| Error::MalformedHttp {
        reason: "invalid header value",
    })
}

/// A client's opening handshake in progress: the request to send, and what it takes to check
/// the server's response (the key, the offers).
///
/// # Call order
///
/// 1. [`ClientBuilder::build`] (or [`ClientHandshake::builder`]), then write
///    [`ClientHandshake::to_vec`] to the connection.
/// 2. Read into a buffer and call [`ClientHandshake::parse_response`] with the whole buffer
///    after each read, until it completes: an [`Upgraded`] and the number of bytes the
///    response head took; the bytes after it are WebSocket frames.
/// 3. If the connection closes first, [`ClientHandshake::parse_response_eof`] gives the
///    final answer (a refusal with the body that arrived, or [`Error::UnexpectedEof`]).
///
/// A status other than 101 is [`Error::Refused`], carrying the status, headers and (up to
/// [`Limits::max_refusal_body`]) the body, so a caller can show why the server said no.
///
/// # Example
///
/// ```
/// use weft_handshake::{ClientHandshake, Parsed, accept_key};
///
/// let mut handshake = ClientHandshake::builder("ws://example.com/chat").protocol("chat").build()?;
/// let request = handshake.to_vec(); // write this to the connection
///
/// let mut response = format!(
///     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
///      Sec-WebSocket-Accept: {}\r\nSec-WebSocket-Protocol: chat\r\n\r\n",
///     accept_key(handshake.key().as_bytes()),
/// )
/// .into_bytes();
/// response.extend_from_slice(b"\x81\x00"); // a frame sent right behind the response
/// let Parsed::Complete { value, consumed } = handshake.parse_response(&response)? else {
///     unreachable!()
/// };
/// assert_eq!(value.negotiated().protocol(), Some("chat"));
/// assert_eq!(&response[consumed..], b"\x81\x00");
/// # Ok::<(), weft_handshake::Error>(())
/// ```
#[derive(Debug)]
pub struct ClientHandshake {
    request: http::Request<()>,
    key: String,
    protocols: Vec<String>,
    extensions: Vec<Extension>,
    limits: Limits,
    scanner: HeadScanner,
    /// A refusal's head, kept while its body arrives, and the head's length.
    refusal: Option<(http::Response<()>, usize)>,
}

impl ClientHandshake {
    /// Starts building a handshake for a `ws://` or `wss://` URI; same as
    /// [`ClientBuilder::new`].
    ///
    /// # Example
    ///
    /// ```
    /// let handshake = weft_handshake::ClientHandshake::builder("ws://a/b").build()?;
    /// assert_eq!(handshake.request().uri().path(), "/b");
    /// # Ok::<(), weft_handshake::Error>(())
    /// ```
    pub fn builder(uri: &str) -> ClientBuilder {
        ClientBuilder::new(uri)
    }

    /// The upgrade request. Its URI is the full `ws://`/`wss://` URI, for the caller to
    /// know where to connect; the written request line carries only the path and query.
    ///
    /// # Example
    ///
    /// ```
    /// let handshake = weft_handshake::ClientHandshake::builder("wss://a/b").build()?;
    /// assert_eq!(handshake.request().uri().scheme_str(), Some("wss"));
    /// assert_eq!(handshake.request().headers()["sec-websocket-version"], "13");
    /// # Ok::<(), weft_handshake::Error>(())
    /// ```
    pub fn request(&self) -> &http::Request<()> {
        &self.request
    }

    /// The `Sec-WebSocket-Key` sent, fresh for each handshake.
    ///
    /// # Example
    ///
    /// ```
    /// let handshake = weft_handshake::ClientHandshake::builder("ws://a").build()?;
    /// assert_eq!(handshake.key().len(), 24);
    /// # Ok::<(), weft_handshake::Error>(())
    /// ```
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Appends the request head to `dst`.
    ///
    /// # Example
    ///
    /// ```
    /// let handshake = weft_handshake::ClientHandshake::builder("ws://a").build()?;
    /// let mut out = bytes::BytesMut::new();
    /// handshake.write_to(&mut out);
    /// assert!(out.starts_with(b"GET / HTTP/1.1\r\nHost: a\r\n"));
    /// # Ok::<(), weft_handshake::Error>(())
    /// ```
    pub fn write_to<B: BufMut + ?Sized>(&self, dst: &mut B) {
        write_request(&self.request, dst);
    }

    /// The request head as bytes.
    ///
    /// # Example
    ///
    /// ```
    /// let handshake = weft_handshake::ClientHandshake::builder("ws://a").build()?;
    /// assert!(handshake.to_vec().ends_with(b"Sec-WebSocket-Version: 13\r\n\r\n"));
    /// # Ok::<(), weft_handshake::Error>(())
    /// ```
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        self.write_to(&mut out);
        out
    }

    /// Parses the server's response at the start of `buf`, and validates it.
    ///
    /// `buf` must begin with the bytes given to the previous call. While it answers
    /// `Partial`, `buf` is at most [`Limits::max_buffered`] plus
    /// [`Limits::max_refusal_body`] long.
    ///
    /// # Errors
    ///
    /// [`Error::Refused`] for a status other than 101, once its body has arrived (or the
    /// cap is reached); an error naming the broken rule for a 101 that does not complete the
    /// handshake (RFC 6455 §4.1): `Upgrade` and `Connection` tokens, the accept key, a
    /// subprotocol or an extension that was not offered; a size or syntax error for a head
    /// that is not HTTP/1.x within the caps.
    ///
    /// # Example
    ///
    /// ```
    /// use weft_handshake::{ClientHandshake, Error};
    ///
    /// let mut handshake = ClientHandshake::builder("ws://a").build()?;
    /// let response = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 14\r\n\r\norigin refused";
    /// match handshake.parse_response(response) {
    ///     Err(Error::Refused { response, body_complete: true }) => {
    ///         assert_eq!(response.status(), 403);
    ///         assert_eq!(response.body().as_ref(), b"origin refused");
    ///     }
    ///     other => panic!("{other:?}"),
    /// }
    /// # Ok::<(), Error>(())
    /// ```
    pub fn parse_response(&mut self, buf: &[u8]) -> Result<Parsed<Upgraded>, Error> {
        self.parse(buf, false)
    }

    /// Gives the final answer when the connection closed after the bytes in `buf`.
    ///
    /// # Errors
    ///
    /// As [`ClientHandshake::parse_response`]; a refusal keeps whatever body arrived, and a
    /// response head cut short is [`Error::UnexpectedEof`].
    ///
    /// # Example
    ///
    /// ```
    /// use weft_handshake::{ClientHandshake, Error, Parsed};
    ///
    /// let mut handshake = ClientHandshake::builder("ws://a").build()?;
    /// // No Content-Length: the body runs until the connection closes.
    /// let response = b"HTTP/1.1 503 Service Unavailable\r\n\r\ntry later";
    /// assert!(matches!(handshake.parse_response(response), Ok(Parsed::Partial)));
    /// match handshake.parse_response_eof(response) {
    ///     Err(Error::Refused { response, .. }) => {
    ///         assert_eq!(response.body().as_ref(), b"try later");
    ///     }
    ///     other => panic!("{other:?}"),
    /// }
    /// assert!(matches!(handshake.parse_response_eof(b"HTTP/1.1 101"), Err(Error::UnexpectedEof)));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn parse_response_eof(&mut self, buf: &[u8]) -> Result<(Upgraded, usize), Error> {
        match self.parse(buf, true)? {
            Parsed::Complete { value, consumed } => Ok((value, consumed)),
            Parsed::Partial => Err(Error::UnexpectedEof),
        }
    }

    fn parse(&mut self, buf: &[u8], eof: bool) -> Result<Parsed<Upgraded>, Error> {
        let (response, head_len) = match self.refusal.take() {
            Some(refusal) => refusal,
            None => match head::parse_response(&mut self.scanner, buf, &self.limits, eof) {
                Ok(Parsed::Partial) => return Ok(Parsed::Partial),
                Ok(Parsed::Complete { value, consumed }) => {
                    self.scanner = HeadScanner::default();
                    (value, consumed)
                }
                Err(err) => {
                    self.scanner = HeadScanner::default();
                    return Err(err);
                }
            },
        };
        if response.status() == StatusCode::SWITCHING_PROTOCOLS {
            let negotiated = self.check(&response)?;
            return Ok(Parsed::Complete {
                value: Upgraded {
                    response,
                    negotiated,
                },
                consumed: head_len,
            });
        }
        let framing = head::body_framing(&response);
        let raw = buf.get(head_len..).unwrap_or_default();
        match head::refusal_body(framing, raw, self.limits.max_refusal_body(), eof) {
            Some((body, body_complete)) => Err(Error::Refused {
                response: Box::new(response.map(|()| body)),
                body_complete,
            }),
            None => {
                self.refusal = Some((response, head_len));
                Ok(Parsed::Partial)
            }
        }
    }

    /// Checks a 101 against RFC 6455 §4.1, in the order the RFC lists the checks.
    fn check(&self, response: &http::Response<()>) -> Result<Negotiated, Error> {
        if response.version() != Version::HTTP_11 {
            return Err(Error::UnsupportedHttpVersion {
                version: response.version(),
            });
        }
        let headers = response.headers();
        require_upgrade_tokens(headers)?;
        let expected = accept_key(self.key.as_bytes());
        let accept = at_most_one(headers, "sec-websocket-accept", "Sec-WebSocket-Accept")?.ok_or(
            Error::MissingHeader {
                name: "Sec-WebSocket-Accept",
            },
        )?;
        if trim_ows(accept.as_bytes()) != expected.as_bytes() {
            let received = String::from_utf8_lossy(accept.as_bytes()).into_owned();
            return Err(Error::AcceptMismatch { expected, received });
        }
        check_negotiation(&self.protocols, &self.extensions, headers)
    }
}

/// Checks what a server agreed to against what the client offered (RFC 6455 §4.1, items 5
/// and 6 of the response checks): extensions offered, and at most one subprotocol, offered.
fn check_negotiation(
    protocols: &[String],
    offers: &[Extension],
    headers: &HeaderMap,
) -> Result<Negotiated, Error> {
    let extensions = parse_extensions(headers.get_all(SEC_WEBSOCKET_EXTENSIONS))?;
    if let Some(agreed) = extensions
        .iter()
        .find(|agreed| !offers.iter().any(|offer| offer.name() == agreed.name()))
    {
        return Err(Error::ExtensionNotOffered {
            name: agreed.name().to_owned(),
        });
    }
    // The server chooses one subprotocol or none (RFC 6455 §4.2.2 step 4): one header
    // holding one token.
    let exactly_one = Error::InvalidHeader {
        name: "Sec-WebSocket-Protocol",
        reason: "must name exactly one subprotocol",
    };
    let protocol = match at_most_one(headers, "sec-websocket-protocol", "") {
        Err(_) => return Err(exactly_one),
        Ok(None) => None,
        Ok(Some(value)) => {
            let value = trim_ows(value.as_bytes());
            if !is_token(value) {
                return Err(exactly_one);
            }
            let protocol = String::from_utf8_lossy(value).into_owned();
            if !protocols.contains(&protocol) {
                return Err(Error::ProtocolNotOffered { protocol });
            }
            Some(protocol)
        }
    };
    Ok(Negotiated {
        protocol,
        extensions,
    })
}

/// A server's 101 that completed the handshake: the response, and what was agreed.
///
/// # Example
///
/// ```
/// use weft_handshake::{ClientHandshake, Extension, Parsed, accept_key};
///
/// let mut handshake = ClientHandshake::builder("ws://a")
///     .extension(Extension::new("permessage-deflate")?)
///     .build()?;
/// let response = format!(
///     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\
///      Sec-WebSocket-Accept: {}\r\n\
///      Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n\r\n",
///     accept_key(handshake.key().as_bytes()),
/// );
/// let Parsed::Complete { value, .. } = handshake.parse_response(response.as_bytes())? else {
///     unreachable!()
/// };
/// let agreed = &value.negotiated().extensions()[0];
/// assert!(agreed.param("server_no_context_takeover").is_some());
/// # Ok::<(), weft_handshake::Error>(())
/// ```
#[derive(Debug)]
pub struct Upgraded {
    response: http::Response<()>,
    negotiated: Negotiated,
}

impl Upgraded {
    /// The server's 101 response (e.g. to read cookies it set).
    ///
    /// # Example
    ///
    /// See [`Upgraded`].
    ///
    /// ```
    /// # use weft_handshake::{ClientHandshake, Parsed, accept_key};
    /// # let mut handshake = ClientHandshake::builder("ws://a").build()?;
    /// # let response = format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
    /// #     Connection: upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
    /// #     accept_key(handshake.key().as_bytes()));
    /// # let Parsed::Complete { value, .. } = handshake.parse_response(response.as_bytes())? else {
    /// #     unreachable!()
    /// # };
    /// assert_eq!(value.response().status(), 101);
    /// # Ok::<(), weft_handshake::Error>(())
    /// ```
    pub fn response(&self) -> &http::Response<()> {
        &self.response
    }

    /// The agreed subprotocol and extensions.
    ///
    /// # Example
    ///
    /// ```
    /// # use weft_handshake::{ClientHandshake, Parsed, accept_key};
    /// # let mut handshake = ClientHandshake::builder("ws://a").build()?;
    /// # let response = format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
    /// #     Connection: upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
    /// #     accept_key(handshake.key().as_bytes()));
    /// # let Parsed::Complete { value, .. } = handshake.parse_response(response.as_bytes())? else {
    /// #     unreachable!()
    /// # };
    /// assert_eq!(value.negotiated().protocol(), None);
    /// # Ok::<(), weft_handshake::Error>(())
    /// ```
    pub fn negotiated(&self) -> &Negotiated {
        &self.negotiated
    }

    /// Splits into the response and what was agreed.
    ///
    /// # Example
    ///
    /// ```
    /// # use weft_handshake::{ClientHandshake, Parsed, accept_key};
    /// # let mut handshake = ClientHandshake::builder("ws://a").build()?;
    /// # let response = format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
    /// #     Connection: upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
    /// #     accept_key(handshake.key().as_bytes()));
    /// # let Parsed::Complete { value, .. } = handshake.parse_response(response.as_bytes())? else {
    /// #     unreachable!()
    /// # };
    /// let (response, negotiated) = value.into_parts();
    /// assert!(negotiated.extensions().is_empty());
    /// # Ok::<(), weft_handshake::Error>(())
    /// ```
    pub fn into_parts(self) -> (http::Response<()>, Negotiated) {
        (self.response, self.negotiated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host_of(uri: &str) -> Result<String, Error> {
        let handshake = ClientBuilder::new(uri).build()?;
        Ok(handshake.request().headers()[HOST]
            .to_str()
            .unwrap()
            .to_owned())
    }

    #[test]
    fn extended_connect_requests_map_the_websocket_uri_to_pseudo_headers() {
        let (request, _) = ClientBuilder::new("ws://example.com:8080/a?b=c")
            .header(
                HeaderName::from_static("authorization"),
                HeaderValue::from_static("Bearer x"),
            )
            .extension(Extension::new("permessage-deflate").unwrap())
            .build_extended_connect()
            .unwrap();
        assert_eq!(request.uri(), "http://example.com:8080/a?b=c");
        let headers = request.headers();
        assert_eq!(headers["authorization"], "Bearer x");
        assert_eq!(headers["sec-websocket-extensions"], "permessage-deflate");
        for absent in ["host", "upgrade", "connection", "sec-websocket-key"] {
            assert!(headers.get(absent).is_none(), "{absent}");
        }
        // The default port is left out of :authority, as it is of Host; a Host given to the
        // builder becomes the :authority.
        let (request, _) = ClientBuilder::new("wss://example.com:443")
            .build_extended_connect()
            .unwrap();
        assert_eq!(request.uri(), "https://example.com/");
        let (request, _) = ClientBuilder::new("wss://10.0.0.1/x")
            .header(HOST, HeaderValue::from_static("chat.example"))
            .build_extended_connect()
            .unwrap();
        assert_eq!(request.uri(), "https://chat.example/x");
        assert!(request.headers().get(HOST).is_none());
    }

    #[test]
    fn extended_connect_responses_are_checked_like_upgrades() {
        let (_, check) = ClientBuilder::new("ws://a")
            .protocol("v1")
            .extension(Extension::new("permessage-deflate").unwrap())
            .build_extended_connect()
            .unwrap();
        let response = |status: u16, headers: &[(&str, &str)]| {
            let mut response = http::Response::builder()
                .status(status)
                .version(Version::HTTP_2);
            for (name, value) in headers {
                response = response.header(*name, *value);
            }
            response.body(()).unwrap()
        };
        assert!(check.check_response(response(200, &[])).is_ok());
        assert!(check.check_response(response(204, &[])).is_ok());
        let refused = check.check_response(response(426, &[("sec-websocket-version", "13")]));
        assert!(
            matches!(&refused, Err(Error::Refused { response, .. }) if response.status() == 426)
        );
        assert!(matches!(
            check.check_response(response(200, &[("sec-websocket-protocol", "v2")])),
            Err(Error::ProtocolNotOffered { .. })
        ));
        assert!(matches!(
            check.check_response(response(200, &[("sec-websocket-extensions", "x-other")])),
            Err(Error::ExtensionNotOffered { .. })
        ));
        let agreed = check
            .check_response(response(
                200,
                &[
                    ("sec-websocket-protocol", "v1"),
                    ("sec-websocket-extensions", "permessage-deflate"),
                ],
            ))
            .unwrap();
        assert_eq!(agreed.negotiated().protocol(), Some("v1"));
        assert_eq!(
            refused.unwrap_err().to_string(),
            "server answered 426 Upgrade Required instead of 200 OK"
        );
    }

    fn uri_error(uri: &str) -> &'static str {
        match ClientBuilder::new(uri).build() {
            Err(Error::InvalidUri { reason, .. }) => reason,
            other => panic!("{uri}: {other:?}"),
        }
    }

    #[test]
    fn host_header_omits_default_ports_only() {
        assert_eq!(host_of("ws://example.com").unwrap(), "example.com");
        assert_eq!(host_of("ws://example.com:80/").unwrap(), "example.com");
        assert_eq!(host_of("wss://example.com:443/").unwrap(), "example.com");
        assert_eq!(host_of("ws://example.com:443/").unwrap(), "example.com:443");
        assert_eq!(host_of("wss://example.com:80/").unwrap(), "example.com:80");
        assert_eq!(
            host_of("WS://example.com:8080").unwrap(),
            "example.com:8080"
        );
        assert_eq!(host_of("ws://[::1]").unwrap(), "[::1]");
        assert_eq!(host_of("ws://[fe80::1]:9001/x").unwrap(), "[fe80::1]:9001");
        assert_eq!(host_of("ws://example.com:/").unwrap(), "example.com");
    }

    #[test]
    fn bad_uris() {
        assert_eq!(uri_error("http://example.com"), "scheme must be ws or wss");
        assert_eq!(uri_error("/relative"), "scheme must be ws or wss");
        assert_eq!(uri_error("ws://example.com:99999/"), "invalid port");
        assert_eq!(uri_error("ws://example.com:x/"), "invalid port");
        assert_eq!(
            uri_error("ws://user:pw@example.com/"),
            "user information is not supported; send an Authorization header"
        );
        assert_eq!(uri_error("ws:// spaces"), "not a valid URI");
    }

    #[test]
    fn each_handshake_has_a_fresh_key() {
        let a = ClientBuilder::new("ws://a").build().unwrap();
        let b = ClientBuilder::new("ws://a").build().unwrap();
        assert_ne!(a.key(), b.key());
        assert_eq!(a.request().headers()[SEC_WEBSOCKET_KEY], a.key());
    }

    #[test]
    fn reserved_headers_are_refused() {
        for name in RESERVED {
            let err = ClientBuilder::new("ws://a")
                .header(name.clone(), HeaderValue::from_static("x"))
                .build()
                .unwrap_err();
            assert!(matches!(&err, Error::ReservedHeader { name: refused } if *refused == name));
        }
    }

    #[test]
    fn a_caller_host_replaces_the_derived_one_in_place() {
        let handshake = ClientBuilder::new("ws://10.0.0.1:8080/")
            .header(
                HeaderName::from_static("x-a"),
                HeaderValue::from_static("1"),
            )
            .header(HOST, HeaderValue::from_static("service.internal"))
            .build()
            .unwrap();
        let names: Vec<_> = handshake
            .request()
            .headers()
            .keys()
            .map(HeaderName::as_str)
            .collect();
        assert_eq!(names[0], "host");
        assert_eq!(handshake.request().headers()[HOST], "service.internal");
        assert_eq!(
            handshake.request().headers().get_all(HOST).iter().count(),
            1
        );
    }

    #[test]
    fn repeated_protocols_are_offered_once_and_bad_ones_refused() {
        let handshake = ClientBuilder::new("ws://a")
            .protocols(["a", "b", "a"])
            .build()
            .unwrap();
        assert_eq!(
            handshake.request().headers()[SEC_WEBSOCKET_PROTOCOL],
            "a, b"
        );
        let err = ClientBuilder::new("ws://a")
            .protocol("a,b")
            .build()
            .unwrap_err();
        assert!(matches!(
            err,
            Error::InvalidToken {
                what: "subprotocol",
                ..
            }
        ));
    }
}
