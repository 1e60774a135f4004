//! WebSocket over HTTP/2 on the client (RFC 8441): an HTTP/2 connection through `h2`, and
//! each WebSocket an extended CONNECT stream of it.

use std::fmt;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use h2::client::SendRequest;
use http::Uri;
use weft_codec::tokio::WebSocket;
use weft_h2::{H2Stream, Http2Limits};
use weft_handshake::ExtendedConnect;

use crate::trace::{self, Span};
use crate::{Alpn, ClientBuilder, ClientStream, Error, Response, Target};

/// Whether a client opens its WebSocket over HTTP/2; see [`ClientBuilder::http2`].
///
/// ```
/// assert_eq!(weft_client::Http2Mode::default(), weft_client::Http2Mode::Off);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Http2Mode {
    /// An HTTP/1.1 upgrade, as every WebSocket client does.
    #[default]
    Off,
    /// HTTP/2 when it is sure to work: over `wss://`, when ALPN chooses `h2` and the server
    /// advertises `SETTINGS_ENABLE_CONNECT_PROTOCOL`; otherwise an HTTP/1.1 upgrade (on a new
    /// connection, if the HTTP/2 one cannot carry WebSockets). `ws://` always uses HTTP/1.1:
    /// nothing tells whether a cleartext server speaks HTTP/2.
    Auto,
    /// HTTP/2 or an error: ALPN must choose `h2` over `wss://`, HTTP/2 with prior knowledge
    /// (h2c) over `ws://`; [`Error::Http2NotNegotiated`] or [`Error::ExtendedConnectNotEnabled`]
    /// when the server does not speak it.
    Required,
}

/// One HTTP/2 connection to a server that accepts WebSockets over HTTP/2: every
/// [`connect`](Self::connect) opens another WebSocket as a stream of it (multiplexing,
/// RFC 8441), with the settings of the [`ClientBuilder`] it came from.
///
/// Cloning is cheap and shares the connection. It closes (`GOAWAY`) once every clone and
/// every WebSocket on it are dropped. A task on the current tokio runtime drives it.
///
/// ```no_run
/// # async fn demo() -> Result<(), weft_client::Error> {
/// use weft_client::{ClientBuilder, Message};
///
/// let connection = ClientBuilder::new("wss://example.com").connect_http2().await?;
/// let (mut chat, _) = connection.connect("/chat").await?;
/// let (mut feed, _) = connection.connect("/feed?symbol=ACME").await?;
/// chat.send(Message::text("hello")).await?;
/// while let Some(tick) = feed.next().await {
///     println!("{:?}", tick?);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Http2Connection {
    send_request: SendRequest<Bytes>,
    settings: Arc<ClientBuilder>,
    /// `ws://host[:port]` or `wss://host[:port]`, the part of every URL this connection serves.
    origin: String,
    /// The TCP peer, for the spans of the WebSockets on this connection.
    #[cfg(feature = "tracing")]
    peer_addr: Option<std::net::SocketAddr>,
}

impl fmt::Debug for Http2Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Http2Connection")
            .field("origin", &self.origin)
            .field(
                "max_concurrent_streams",
                &self.send_request.current_max_send_streams(),
            )
            .finish_non_exhaustive()
    }
}

impl Http2Connection {
    /// Opens a WebSocket on this connection: `target` is a path with an optional query
    /// (`/chat?room=1`), or a whole URL on the same scheme, host and port. Waits for a free
    /// stream when the server's `SETTINGS_MAX_CONCURRENT_STREAMS` are all in use (within the
    /// handshake timeout).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidUrl`] for a URL of another origin; a refusal or a bad answer as
    /// [`Error::Handshake`]; [`Error::Io`] if the connection failed.
    ///
    /// ```no_run
    /// # use weft_client::Http2Connection;
    /// # async fn demo(connection: Http2Connection) -> Result<(), weft_client::Error> {
    /// // A path on the connection's server, or a whole URL with the same scheme, host and port.
    /// let (quotes, _) = connection.connect("/quotes?symbol=ACME").await?;
    /// let (news, _) = connection.connect("wss://example.com/news").await?;
    /// # drop((quotes, news));
    /// # Ok(()) }
    /// ```
    pub async fn connect(
        &self,
        target: &str,
    ) -> Result<(WebSocket<ClientStream>, Response), Error> {
        let url = if target.starts_with('/') {
            format!("{}{target}", self.origin)
        } else if target.contains("://") {
            let same_origin = Target::parse(target)
                .ok()
                .zip(Target::parse(&self.origin).ok())
                .is_some_and(|(a, b)| {
                    a.secure == b.secure && a.port == b.port && a.host.eq_ignore_ascii_case(&b.host)
                });
            if !same_origin {
                return Err(Error::InvalidUrl {
                    url: target.to_owned(),
                    reason: "not on this HTTP/2 connection's scheme, host and port",
                });
            }
            target.to_owned()
        } else {
            return Err(Error::InvalidUrl {
                url: target.to_owned(),
                reason: "neither a path starting with / nor a ws:// or wss:// URL",
            });
        };
        let span = trace::connection_span(&url);
        #[cfg(feature = "tracing")]
        trace::record_peer(&span, || self.peer_addr);
        trace::instrument(
            open(self.send_request.clone(), &self.settings, &url, &span),
            &span,
        )
        .await
        .inspect_err(|err| trace::failed(&span, err))
    }

    /// How many streams the server lets this client open at once.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), weft_client::Error> {
    /// use weft_client::ClientBuilder;
    /// let connection = ClientBuilder::new("wss://example.com").connect_http2().await?;
    /// println!("up to {} WebSockets at once", connection.max_concurrent_streams());
    /// # Ok(()) }
    /// ```
    pub fn max_concurrent_streams(&self) -> usize {
        self.send_request.current_max_send_streams()
    }
}

impl ClientBuilder {
    /// Opens an HTTP/2 connection to the URL's host (ALPN `h2` over `wss://`, prior
    /// knowledge over `ws://`) on which [`Http2Connection::connect`] opens any number of
    /// WebSockets. The URL's path is not used; each WebSocket names its own.
    ///
    /// # Errors
    ///
    /// [`Error::Http2NotNegotiated`] if TLS did not choose `h2`;
    /// [`Error::ExtendedConnectNotEnabled`] if the server does not accept WebSockets over
    /// HTTP/2; connection, TLS and timeout errors as for [`connect`](Self::connect).
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), weft_client::Error> {
    /// use weft_client::{ClientBuilder, Limits};
    /// // The builder's settings apply to every WebSocket opened on the connection.
    /// let connection = ClientBuilder::new("wss://example.com")
    ///     .limits(Limits::default().max_message_size(1 << 20))
    ///     .connect_http2()
    ///     .await?;
    /// let (ws, response) = connection.connect("/chat").await?;
    /// assert_eq!(response.version(), http::Version::HTTP_2);
    /// # drop(ws);
    /// # Ok(()) }
    /// ```
    pub async fn connect_http2(self) -> Result<Http2Connection, Error> {
        // The connection carries no WebSocket yet: each gets its span when it is opened.
        let span = trace::no_span();
        self.open_http2(&span)
            .await
            .inspect_err(|err| trace::failed(&span, err))
    }

    /// [`connect_http2`](Self::connect_http2).
    async fn open_http2(self, span: &Span) -> Result<Http2Connection, Error> {
        let (stream, rest) = self.open_transport(Alpn::Http2OrHttp1, span).await?;
        if !speaks_h2(&stream) {
            return Err(Error::Http2NotNegotiated);
        }
        #[cfg(feature = "tracing")]
        let peer_addr = stream.tcp().and_then(|tcp| tcp.peer_addr().ok());
        let send_request = start(stream, &self.http2_limits, rest).await?;
        if !send_request.is_extended_connect_protocol_enabled() {
            return Err(Error::ExtendedConnectNotEnabled);
        }
        let target = Target::parse(&self.url)?;
        let origin = origin_of(&self.url).unwrap_or_else(|| {
            let scheme = if target.secure { "wss" } else { "ws" };
            format!("{scheme}://{}:{}", target.host, target.port)
        });
        Ok(Http2Connection {
            send_request,
            settings: Arc::new(self),
            origin,
            #[cfg(feature = "tracing")]
            peer_addr,
        })
    }
}

/// `scheme://authority` of a URL, as written.
fn origin_of(url: &str) -> Option<String> {
    let uri: Uri = url.parse().ok()?;
    Some(format!("{}://{}", uri.scheme_str()?, uri.authority()?))
}

/// [`ClientBuilder::connect`] when HTTP/2 is asked for, reporting in `span`.
pub(crate) async fn connect(
    builder: ClientBuilder,
    span: &Span,
) -> Result<(WebSocket<ClientStream>, Response), Error> {
    let required = builder.http2 == Http2Mode::Required;
    let secure = Target::parse(&builder.url)?.secure;
    if !secure && !required {
        // Auto over ws://: nothing says whether the server speaks cleartext HTTP/2.
        return builder.connect_http1(span).await;
    }
    let (stream, rest) = builder.open_transport(Alpn::Http2OrHttp1, span).await?;
    if !speaks_h2(&stream) {
        if required {
            return Err(Error::Http2NotNegotiated);
        }
        return builder
            .handshake_timeout(rest)
            .handshake(stream, span)
            .await;
    }
    let started = tokio::time::Instant::now();
    let send_request = start(stream, &builder.http2_limits, rest).await?;
    if !send_request.is_extended_connect_protocol_enabled() {
        if required {
            return Err(Error::ExtendedConnectNotEnabled);
        }
        // This connection speaks HTTP/2 but carries no WebSockets: upgrade on another.
        return builder.connect_http1(span).await;
    }
    let builder = builder.handshake_timeout(rest.saturating_sub(started.elapsed()));
    open(send_request, &builder, &builder.url, span).await
}

/// Whether this transport is to carry HTTP/2: TLS chose `h2`, or cleartext (only reached
/// when HTTP/2 with prior knowledge is asked for), directly or through a proxy's tunnel.
fn speaks_h2(stream: &ClientStream) -> bool {
    match stream {
        ClientStream::Plain(_) => true,
        #[cfg(feature = "rustls")]
        ClientStream::ProxyTls(_) => true,
        #[cfg(feature = "rustls")]
        ClientStream::Tls(tls) => tls.get_ref().1.alpn_protocol() == Some(b"h2"),
        #[cfg(feature = "rustls")]
        ClientStream::TlsOverProxyTls(tls) => tls.get_ref().1.alpn_protocol() == Some(b"h2"),
        ClientStream::Http2(_) => false,
    }
}

/// The HTTP/2 handshake, with the connection driven by a task of its own; returns once the
/// server's SETTINGS are known (whether it enables extended CONNECT), within `timeout`.
async fn start(
    stream: ClientStream,
    limits: &Http2Limits,
    timeout: std::time::Duration,
) -> Result<SendRequest<Bytes>, Error> {
    // Over cleartext nothing but the answer to the preface says whether the server speaks
    // HTTP/2: an HTTP/1.1 server refuses the preface as a bad request, or closes.
    let cleartext = !stream.is_tls();
    let handshake = async {
        let (send_request, mut connection) = limits
            .client_builder()
            .handshake::<_, Bytes>(stream)
            .await
            .map_err(weft_h2::io_error)?;
        let ping_pong = connection.ping_pong();
        tokio::spawn(async move {
            // Ends when every handle is dropped (GOAWAY) or the connection fails; streams see
            // the failure in their reads and writes.
            let _ = connection.await;
        });
        // A server's first frame is its SETTINGS (RFC 9113 §3.4) and frames are processed in
        // order: once our PING has come back, the server's settings are in effect.
        if let Some(mut ping_pong) = ping_pong {
            ping_pong
                .ping(h2::Ping::opaque())
                .await
                .map_err(weft_h2::io_error)?;
        }
        Ok::<_, Error>(send_request)
    };
    match tokio::time::timeout(timeout, handshake).await {
        Ok(Err(Error::Io(_))) if cleartext => Err(Error::Http2NotNegotiated),
        Ok(result) => result,
        Err(_) => Err(Error::Timeout {
            phase: "HTTP/2 handshake",
            after: timeout,
        }),
    }
}

/// Opens one WebSocket for `url` as an extended CONNECT stream, within the builder's
/// handshake timeout; it reports in `span`.
async fn open(
    send_request: SendRequest<Bytes>,
    builder: &ClientBuilder,
    url: &str,
    span: &Span,
) -> Result<(WebSocket<ClientStream>, Response), Error> {
    let timeout = builder.handshake_timeout;
    let handshake = async {
        let (mut request, check) = builder.handshake_builder(url).build_extended_connect()?;
        request
            .extensions_mut()
            .insert(h2::ext::Protocol::from_static(ExtendedConnect::PROTOCOL));
        let mut send_request = send_request.ready().await.map_err(weft_h2::io_error)?;
        let (response, send) = send_request
            .send_request(request, false)
            .map_err(weft_h2::io_error)?;
        let (parts, mut body) = response.await.map_err(weft_h2::io_error)?.into_parts();
        let head = http::Response::from_parts(parts, ());
        if !head.status().is_success() {
            let limit = builder.handshake_limits.max_refusal_body();
            let (text, body_complete) = refusal_body(&mut body, limit).await;
            return Err(Error::Handshake(weft_handshake::Error::Refused {
                response: Box::new(head.map(|()| text)),
                body_complete,
            }));
        }
        let (response, negotiated) = check.check_response(head)?.into_parts();
        // A stream has no TIME_WAIT to leave on the server: end it once the closing
        // handshake is over instead of waiting for the server's END_STREAM.
        let config = builder.config.clone().wait_for_server_close(false);
        let conn = builder.connection(&negotiated)?.with_config(config);
        let stream = ClientStream::Http2(Box::new(H2Stream::new(send, body)));
        let mut ws = WebSocket::from_parts(stream, conn, BytesMut::new());
        trace::accepted(span, &mut ws, &response);
        Ok((ws, response))
    };
    tokio::time::timeout(timeout, handshake)
        .await
        .map_err(|_| Error::Timeout {
            phase: "handshake",
            after: timeout,
        })?
}

/// Up to `limit` bytes of a refusal's body, and whether that is all of it.
async fn refusal_body(body: &mut h2::RecvStream, limit: usize) -> (Bytes, bool) {
    let mut text = BytesMut::new();
    while let Some(Ok(data)) = std::future::poll_fn(|cx| body.poll_data(cx)).await {
        let _ = body.flow_control().release_capacity(data.len());
        let room = limit.saturating_sub(text.len());
        text.extend_from_slice(&data[..data.len().min(room)]);
        if data.len() > room {
            return (text.freeze(), false);
        }
    }
    let complete = body.is_end_stream();
    (text.freeze(), complete)
}
