//! [`Acceptor`]: the server side of the opening handshake over one stream.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use http::{HeaderName, HeaderValue, StatusCode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use weft_codec::tokio::WebSocket;
use weft_codec::{Config, Connection, Limits, Role};
use weft_handshake::{
    OriginPolicy, Parsed, Rejection, Request, Server as Handshake, UpgradeRequest,
};

use crate::stats::{Count, Counters, Stats};
use crate::trace::{self, Span};
use crate::{Error, ServerStream};

/// A hook that sees every upgrade request and may refuse it.
type RequestHook = dyn Fn(&http::Request<()>) -> Result<(), Rejection> + Send + Sync;

/// What a successful handshake agreed to.
///
/// ```no_run
/// # async fn demo(server: weft_server::Server) -> std::io::Result<()> {
/// server
///     .serve(|_ws, accepted| async move {
///         let room = accepted.request.uri().path().trim_start_matches("/rooms/").to_owned();
///         println!("{room}: {:?} over {:?}", accepted.protocol, accepted.http_version());
///     })
///     .await
/// # }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct Accepted {
    /// The client's upgrade request: a GET over HTTP/1.1, or a CONNECT over HTTP/2 (see
    /// [`Accepted::http_version`]).
    pub request: http::Request<()>,
    /// The response that was sent: `101 Switching Protocols` over HTTP/1.1, `200 OK` over
    /// HTTP/2.
    pub response: http::Response<()>,
    /// The subprotocol both sides agreed to, if any.
    pub protocol: Option<String>,
}

impl Accepted {
    /// The HTTP version that carried the handshake: `HTTP_11` for an upgraded connection,
    /// `HTTP_2` for a WebSocket on one stream of an HTTP/2 connection (RFC 8441).
    ///
    /// ```
    /// # fn demo(accepted: &weft_server::Accepted) {
    /// if accepted.http_version() == http::Version::HTTP_2 {
    ///     println!("multiplexed with other WebSockets on one connection");
    /// }
    /// # }
    /// ```
    pub fn http_version(&self) -> http::Version {
        self.request.version()
    }
}

/// A WebSocket handshake the acceptor agreed to, before its response went out: send
/// [`response`](Self::response) by whatever carried the request, then turn the stream into
/// the [`WebSocket`] with [`into_websocket`](Self::into_websocket).
///
/// This is how a request that reached the server through another HTTP stack (hyper, axum,
/// an HTTP/2 stream) is judged exactly like one read by the built-in server: same
/// validation, request hook, subprotocol and extension negotiation, limits, keepalive.
///
/// ```
/// use weft_server::Acceptor;
///
/// let request = http::Request::get("/chat")
///     .header("host", "example.com")
///     .header("upgrade", "websocket")
///     .header("connection", "upgrade")
///     .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
///     .header("sec-websocket-version", "13")
///     .body(())?;
/// let pending = Acceptor::default().decide(request).map_err(|rejection| rejection.to_string())?;
/// assert_eq!(pending.response().status(), 101);
/// // ... send the response, then: let (ws, accepted) = pending.into_websocket(stream, rest);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct PendingWebSocket {
    response: http::Response<()>,
    request: http::Request<()>,
    protocol: Option<String>,
    /// The subprotocols the client offered, in its order.
    offered: Vec<String>,
    connection: Connection,
    counters: Arc<Counters>,
}

impl PendingWebSocket {
    /// The subprotocol agreed to, if any.
    ///
    /// ```
    /// # let request = http::Request::get("/chat")
    /// #     .header("host", "example.com")
    /// #     .header("upgrade", "websocket")
    /// #     .header("connection", "upgrade")
    /// #     .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
    /// #     .header("sec-websocket-version", "13")
    /// #     .header("sec-websocket-protocol", "chat.v2, chat.v1")
    /// #     .body(())?;
    /// use weft_server::Acceptor;
    /// let acceptor = Acceptor::builder().protocols(["chat.v1"]).build()?;
    /// let pending = acceptor.decide(request).map_err(|refused| refused.to_string())?;
    /// assert_eq!(pending.protocol(), Some("chat.v1"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The subprotocols the client offered (`Sec-WebSocket-Protocol`), in its order.
    ///
    /// ```
    /// # let request = http::Request::get("/chat")
    /// #     .header("host", "example.com")
    /// #     .header("upgrade", "websocket")
    /// #     .header("connection", "upgrade")
    /// #     .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
    /// #     .header("sec-websocket-version", "13")
    /// #     .header("sec-websocket-protocol", "chat.v2, chat.v1")
    /// #     .body(())?;
    /// let pending = weft_server::Acceptor::default().decide(request).map_err(|r| r.to_string())?;
    /// assert_eq!(pending.offered_protocols(), ["chat.v2", "chat.v1"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn offered_protocols(&self) -> &[String] {
        &self.offered
    }

    /// Chooses the subprotocol again, replacing the acceptor's choice: the first of
    /// `preferences` the client offered, or none. For an endpoint that speaks subprotocols of
    /// its own (axum's `WebSocketUpgrade::protocols`); the response is updated to match.
    ///
    /// ```
    /// use weft_server::Acceptor;
    ///
    /// let request = http::Request::get("/graphql")
    ///     .header("host", "example.com")
    ///     .header("upgrade", "websocket")
    ///     .header("connection", "upgrade")
    ///     .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
    ///     .header("sec-websocket-version", "13")
    ///     .header("sec-websocket-protocol", "graphql-ws, graphql-transport-ws")
    ///     .body(())?;
    /// let mut pending = Acceptor::default().decide(request).map_err(|r| r.to_string())?;
    /// assert_eq!(pending.protocol(), None);
    /// pending.select_protocol(["graphql-transport-ws", "graphql-ws"]);
    /// assert_eq!(pending.protocol(), Some("graphql-transport-ws"));
    /// assert_eq!(pending.response().headers()["sec-websocket-protocol"], "graphql-transport-ws");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn select_protocol<I>(&mut self, preferences: I)
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        self.protocol = preferences
            .into_iter()
            .find(|wanted| self.offered.iter().any(|offer| offer == wanted.as_ref()))
            .map(|chosen| chosen.as_ref().to_owned());
        let headers = self.response.headers_mut();
        // Offered protocols were checked to be tokens, which are valid header values.
        match self
            .protocol
            .as_deref()
            .and_then(|protocol| HeaderValue::from_str(protocol).ok())
        {
            Some(value) => headers.insert(http::header::SEC_WEBSOCKET_PROTOCOL, value),
            None => headers.remove(http::header::SEC_WEBSOCKET_PROTOCOL),
        };
    }

    /// The response to send: `101` for an HTTP/1.1 upgrade, `200` for an HTTP/2 extended
    /// CONNECT.
    ///
    /// ```
    /// # let request = http::Request::get("/chat")
    /// #     .header("host", "example.com")
    /// #     .header("upgrade", "websocket")
    /// #     .header("connection", "upgrade")
    /// #     .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
    /// #     .header("sec-websocket-version", "13")
    /// #     .header("sec-websocket-protocol", "chat.v2, chat.v1")
    /// #     .body(())?;
    /// let pending = weft_server::Acceptor::default().decide(request).map_err(|r| r.to_string())?;
    /// let response = pending.response();
    /// assert_eq!(response.status(), http::StatusCode::SWITCHING_PROTOCOLS);
    /// assert_eq!(response.headers()["sec-websocket-accept"], "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn response(&self) -> &http::Response<()> {
        &self.response
    }

    /// The response, to add headers (cookies, say) before sending it.
    ///
    /// ```
    /// # let request = http::Request::get("/chat")
    /// #     .header("host", "example.com")
    /// #     .header("upgrade", "websocket")
    /// #     .header("connection", "upgrade")
    /// #     .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
    /// #     .header("sec-websocket-version", "13")
    /// #     .header("sec-websocket-protocol", "chat.v2, chat.v1")
    /// #     .body(())?;
    /// let acceptor = weft_server::Acceptor::default();
    /// let mut pending = acceptor.decide(request).map_err(|refused| refused.to_string())?;
    /// pending
    ///     .response_mut()
    ///     .headers_mut()
    ///     .insert("set-cookie", http::HeaderValue::from_static("session=1; HttpOnly"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn response_mut(&mut self) -> &mut http::Response<()> {
        &mut self.response
    }

    /// The WebSocket over `stream`, once the response was sent; `read_ahead` holds bytes the
    /// HTTP layer read past the request (the client's first frames), if any.
    ///
    /// With the `tracing` feature the WebSocket gets a `websocket` span without the peer's
    /// address, which this stream's owner knows: record it with
    /// `ws.span().record("peer_addr", ..)`.
    ///
    /// ```
    /// # let request = http::Request::get("/chat")
    /// #     .header("host", "example.com")
    /// #     .header("upgrade", "websocket")
    /// #     .header("connection", "upgrade")
    /// #     .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
    /// #     .header("sec-websocket-version", "13")
    /// #     .header("sec-websocket-protocol", "chat.v2, chat.v1")
    /// #     .body(())?;
    /// # let (stream, _client) = tokio::io::duplex(1024);
    /// let acceptor = weft_server::Acceptor::builder().protocols(["chat.v2"]).build()?;
    /// let pending = acceptor.decide(request).map_err(|refused| refused.to_string())?;
    /// // ... the HTTP stack that read the request sends `pending.response()`, then:
    /// let (ws, accepted) = pending.into_websocket(stream, bytes::BytesMut::new());
    /// assert_eq!(accepted.protocol.as_deref(), Some("chat.v2"));
    /// # drop(ws);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn into_websocket<S>(self, stream: S, read_ahead: BytesMut) -> (WebSocket<S>, Accepted)
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let span = trace::connection_span(None, self.request.version());
        self.into_websocket_in(stream, read_ahead, span)
    }

    /// [`into_websocket`](Self::into_websocket), the connection reporting in `span`.
    pub(crate) fn into_websocket_in<S>(
        self,
        stream: S,
        read_ahead: BytesMut,
        span: Span,
    ) -> (WebSocket<S>, Accepted)
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        // Counted from here, as upgraded and open, until the connection is dropped.
        let connection = self
            .connection
            .with_observer(self.counters.observe_websocket());
        let mut ws = WebSocket::from_parts(stream, connection, read_ahead);
        trace::accepted(
            span,
            &mut ws,
            &self.request,
            &self.response,
            self.protocol.as_deref(),
        );
        let accepted = Accepted {
            request: self.request,
            response: self.response,
            protocol: self.protocol,
        };
        (ws, accepted)
    }
}

/// The outcome of reading one request on a connection that serves both HTTP and WebSocket.
pub(crate) enum Incoming<S> {
    /// The handshake completed.
    WebSocket(Box<WebSocket<S>>, Accepted),
    /// A plain HTTP request, with the stream and the bytes read after the request head.
    Http(S, http::Request<()>, BytesMut),
    /// The peer closed the connection before sending a request.
    Closed,
}

/// Accepts WebSocket connections: validates the upgrade request, chooses a subprotocol, and
/// answers `101` or the precise refusal (400, 403, 405, 414, 426, 431).
///
/// | setting | default |
/// | --- | --- |
/// | [`handshake_timeout`](AcceptorBuilder::handshake_timeout) (first byte to `101`) | 10 s |
/// | [`handshake_limits`](AcceptorBuilder::handshake_limits) | 8 KiB request line, 8 KiB header section, 64 headers |
/// | [`origin_policy`](AcceptorBuilder::origin_policy) | any origin |
/// | [`limits`](AcceptorBuilder::limits), [`config`](AcceptorBuilder::config) | [`Limits::default`], [`Config::default`] |
///
/// Cloning is cheap; one acceptor serves any number of connections.
///
/// ```no_run
/// # async fn demo(tcp: tokio::net::TcpStream) -> Result<(), weft_server::Error> {
/// use weft_server::{Acceptor, OriginPolicy};
///
/// let acceptor = Acceptor::builder()
///     .protocols(["chat.v2", "chat.v1"])
///     .origin_policy(OriginPolicy::allow_list(["https://example.com"]))
///     .build()?;
/// let (ws, accepted) = acceptor.accept(tcp).await?;
/// println!("{} speaks {:?}", accepted.request.uri(), accepted.protocol);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Acceptor {
    inner: Arc<Inner>,
}

struct Inner {
    handshake: Handshake,
    on_request: Option<Box<RequestHook>>,
    limits: Limits,
    config: Config,
    handshake_timeout: Duration,
    #[cfg(feature = "rustls")]
    tls: Option<TlsAcceptors>,
    #[cfg(feature = "deflate")]
    deflate: weft_deflate::DeflateConfig,
    /// `None` when HTTP/2 is switched off.
    #[cfg(feature = "http2")]
    http2: Option<weft_h2::Http2Limits>,
    counters: Arc<Counters>,
}

/// The TLS acceptors of one configuration: ALPN `http/1.1` only, and the one a [`Server`]
/// uses, which offers `h2` first when HTTP/2 is on.
///
/// [`Server`]: crate::Server
#[cfg(feature = "rustls")]
struct TlsAcceptors {
    http1: tokio_rustls::TlsAcceptor,
    any: tokio_rustls::TlsAcceptor,
}

impl fmt::Debug for Acceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acceptor")
            .field("handshake", &self.inner.handshake)
            .field("limits", &self.inner.limits)
            .field("config", &self.inner.config)
            .field("handshake_timeout", &self.inner.handshake_timeout)
            .finish_non_exhaustive()
    }
}

impl Default for Acceptor {
    /// Any origin, no subprotocols, permessage-deflate when compiled in, default limits and
    /// timeouts.
    fn default() -> Self {
        Self::builder().build().unwrap_or_else(|_| {
            // Building fails only for an invalid subprotocol name, and the defaults have none;
            // were it to fail, a handshake without subprotocols or extensions is the default.
            Self::builder().assemble(Handshake::default())
        })
    }
}

/// See [`AcceptorBuilder::handshake_timeout`].
const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

impl Acceptor {
    /// A builder with the defaults.
    ///
    /// ```
    /// use std::time::Duration;
    /// use weft_server::{Acceptor, Limits};
    /// let acceptor = Acceptor::builder()
    ///     .protocols(["chat.v1"])
    ///     .limits(Limits::default().max_message_size(1 << 20))
    ///     .handshake_timeout(Duration::from_secs(5))
    ///     .build()?;
    /// assert_eq!(acceptor.handshake_timeout(), Duration::from_secs(5));
    /// # Ok::<(), weft_server::Error>(())
    /// ```
    pub fn builder() -> AcceptorBuilder {
        AcceptorBuilder {
            handshake: Handshake::builder(),
            on_request: None,
            limits: Limits::default(),
            config: Config::default(),
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            #[cfg(feature = "rustls")]
            tls: None,
            #[cfg(feature = "deflate")]
            deflate: weft_deflate::DeflateConfig::default(),
            #[cfg(feature = "http2")]
            http2: Some(weft_h2::Http2Limits::default()),
        }
    }

    /// The HTTP/2 limits, or `None` when HTTP/2 is switched off.
    #[cfg(feature = "http2")]
    pub(crate) fn http2(&self) -> Option<&weft_h2::Http2Limits> {
        self.inner.http2.as_ref()
    }

    /// The time allowed from the first byte of the request to the `101`.
    ///
    /// ```
    /// use std::time::Duration;
    /// assert_eq!(weft_server::Acceptor::default().handshake_timeout(), Duration::from_secs(10));
    /// ```
    pub fn handshake_timeout(&self) -> Duration {
        self.inner.handshake_timeout
    }

    /// The counters of every connection this acceptor (and the [`Server`](crate::Server)
    /// using it) handled: handshakes, how WebSockets ended, the limits peers broke.
    ///
    /// ```
    /// let acceptor = weft_server::Acceptor::default();
    /// assert_eq!(acceptor.stats().snapshot().handshakes_rejected, 0);
    /// ```
    pub fn stats(&self) -> Stats {
        Stats(Arc::clone(&self.inner.counters))
    }

    pub(crate) fn counters(&self) -> &Arc<Counters> {
        &self.inner.counters
    }

    /// Counts a handshake that timed out, and says so.
    pub(crate) fn timed_out(&self) -> Error {
        self.inner.counters.add(Count::HandshakeTimeouts);
        Error::Timeout {
            after: self.inner.handshake_timeout,
        }
    }

    /// Judges an HTTP/1.1 upgrade request that another HTTP stack read (hyper, axum): RFC 6455
    /// validation, the origin policy, the request hook, subprotocol and extensions. The
    /// answer is the handshake to complete, or the refusal to send (400, 403, 405, 426, or
    /// the hook's own).
    ///
    /// # Errors
    ///
    /// The [`Rejection`] to send instead of the `101`.
    ///
    /// ```
    /// use http::StatusCode;
    /// use weft_server::Acceptor;
    ///
    /// // A client that speaks an older WebSocket version.
    /// let request = http::Request::get("/chat")
    ///     .header("host", "example.com")
    ///     .header("upgrade", "websocket")
    ///     .header("connection", "upgrade")
    ///     .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
    ///     .header("sec-websocket-version", "8")
    ///     .body(())?;
    /// let refused = Acceptor::default().decide(request).expect_err("only version 13");
    /// assert_eq!(refused.status(), StatusCode::UPGRADE_REQUIRED);
    /// assert_eq!(refused.headers()["sec-websocket-version"], "13");
    /// // Send `refused.into_response()` through the HTTP stack that read the request.
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn decide(&self, request: http::Request<()>) -> Result<PendingWebSocket, Rejection> {
        self.complete(self.inner.handshake.validate(request))
            .inspect_err(trace::refused)
    }

    /// Judges an HTTP/2 extended CONNECT (RFC 8441) whose `:protocol` is `protocol`, with
    /// the same rules as [`decide`](Self::decide); the response is a `200`.
    ///
    /// # Errors
    ///
    /// The [`Rejection`] to send instead, with the RFC's status (405 for a plain CONNECT,
    /// 501 for another protocol, 400, 403, 426); send it with
    /// [`Rejection::into_http2_response`].
    ///
    /// ```
    /// use http::{Method, Version};
    /// use weft_server::Acceptor;
    ///
    /// let request = http::Request::builder()
    ///     .method(Method::CONNECT)
    ///     .version(Version::HTTP_2)
    ///     .uri("https://example.com/chat")
    ///     .header("sec-websocket-version", "13")
    ///     .body(())?;
    /// let pending = Acceptor::default()
    ///     .decide_extended_connect(request, Some("websocket"))
    ///     .map_err(|rejection| rejection.to_string())?;
    /// assert_eq!(pending.response().status(), 200);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn decide_extended_connect(
        &self,
        request: http::Request<()>,
        protocol: Option<&str>,
    ) -> Result<PendingWebSocket, Rejection> {
        self.complete(
            self.inner
                .handshake
                .validate_extended_connect(request, protocol),
        )
        .inspect_err(trace::refused)
    }

    /// After validation: the request hook, then subprotocol and extensions, and the
    /// connection with this acceptor's limits, settings and agreed extensions.
    fn complete(
        &self,
        validated: Result<UpgradeRequest, Rejection>,
    ) -> Result<PendingWebSocket, Rejection> {
        let pending = self.negotiate(validated);
        if pending.is_err() {
            self.inner.counters.add(Count::HandshakesRejected);
        }
        pending
    }

    fn negotiate(
        &self,
        validated: Result<UpgradeRequest, Rejection>,
    ) -> Result<PendingWebSocket, Rejection> {
        let inner = &self.inner;
        let upgrade = validated?;
        if let Some(hook) = &inner.on_request {
            hook(upgrade.request())?;
        }
        let accept = inner.handshake.accept(&upgrade);
        #[allow(unused_mut, reason = "only extensions change it")]
        let mut connection = Connection::new(Role::Server)
            .with_limits(inner.limits.clone())
            .with_config(inner.config.clone());
        #[cfg(feature = "deflate")]
        match inner
            .deflate
            .server_extension(accept.negotiated().extensions())
        {
            Ok(Some(deflate)) => connection = connection.with_extension(Box::new(deflate)),
            Ok(None) => {}
            // What we agreed to always builds; if it ever did not, refuse rather than lie.
            Err(err) => {
                return Err(Rejection::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &err.to_string(),
                ));
            }
        }
        let (response, negotiated) = accept.into_parts();
        let offered = upgrade.protocols().to_vec();
        Ok(PendingWebSocket {
            response,
            request: upgrade.into_request(),
            protocol: negotiated.protocol().map(str::to_owned),
            offered,
            connection,
            counters: Arc::clone(&inner.counters),
        })
    }

    /// Runs TLS (when the acceptor has a [`TlsConfig`](crate::TlsConfig)) and the WebSocket
    /// handshake over a freshly accepted TCP connection, both within the handshake timeout.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use weft_server::Acceptor;
    /// let acceptor = Acceptor::builder().protocols(["chat.v1"]).build()?;
    /// let listener = tokio::net::TcpListener::bind("0.0.0.0:9001").await?;
    /// loop {
    ///     let (tcp, _) = listener.accept().await?;
    ///     let acceptor = acceptor.clone();
    ///     tokio::spawn(async move {
    ///         // TLS (when the acceptor has a `TlsConfig`) and the handshake, within the
    ///         // handshake timeout.
    ///         let Ok((mut ws, _accepted)) = acceptor.accept_tcp(tcp).await else { return };
    ///         while let Some(Ok(message)) = ws.next().await {
    ///             let _ = ws.send(message).await;
    ///         }
    ///     });
    /// }
    /// # }
    /// ```
    pub async fn accept_tcp(
        &self,
        tcp: tokio::net::TcpStream,
    ) -> Result<(WebSocket<ServerStream>, Accepted), Error> {
        let timeout = self.inner.handshake_timeout;
        let span = trace::connection_span(None, http::Version::HTTP_11);
        trace::record_peer(&span, || tcp.peer_addr().ok());
        let accepted = tokio::time::timeout(timeout, async {
            let stream = self.secure(tcp, false).await?;
            self.accept_upgrade(stream, &span).await
        });
        trace::instrument(accepted, &span)
            .await
            .unwrap_or_else(|_| Err(self.timed_out()))
            .inspect_err(|err| trace::handshake_failed(&span, err))
    }

    /// Wraps a freshly accepted TCP connection, running the TLS handshake when configured;
    /// `h2` lets ALPN choose HTTP/2 (when it is on).
    pub(crate) async fn secure(
        &self,
        tcp: tokio::net::TcpStream,
        h2: bool,
    ) -> Result<ServerStream, Error> {
        let _ = tcp.set_nodelay(true);
        let counters = Arc::clone(&self.inner.counters);
        #[cfg(feature = "rustls")]
        if let Some(tls) = &self.inner.tls {
            let acceptor = if h2 { &tls.any } else { &tls.http1 };
            let stream = acceptor.accept(tcp).await.map_err(|err| {
                counters.add(Count::TlsFailures);
                Error::Tls(err)
            })?;
            return Ok(ServerStream::tls(stream, counters));
        }
        let _ = h2;
        Ok(ServerStream::plain(tcp, counters))
    }

    /// Runs the server handshake over `stream` (already decrypted: for TLS, see
    /// [`accept_tcp`](Self::accept_tcp)). A request that is not an upgrade is answered
    /// `426 Upgrade Required`.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use weft_server::Acceptor;
    /// // WebSockets over a Unix socket.
    /// let acceptor = Acceptor::builder().protocols(["events.v1"]).build()?;
    /// let listener = tokio::net::UnixListener::bind("/run/app/ws.sock")?;
    /// let (stream, _) = listener.accept().await?;
    /// let (ws, accepted) = acceptor.accept(stream).await?;
    /// println!("{} speaks {:?}", accepted.request.uri(), accepted.protocol);
    /// # drop(ws);
    /// # Ok(()) }
    /// ```
    pub async fn accept<S>(&self, stream: S) -> Result<(WebSocket<S>, Accepted), Error>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let timeout = self.inner.handshake_timeout;
        let span = trace::connection_span(None, http::Version::HTTP_11);
        let accepted = tokio::time::timeout(timeout, self.accept_upgrade(stream, &span));
        trace::instrument(accepted, &span)
            .await
            .unwrap_or_else(|_| Err(self.timed_out()))
            .inspect_err(|err| trace::handshake_failed(&span, err))
    }

    async fn accept_upgrade<S>(
        &self,
        stream: S,
        span: &Span,
    ) -> Result<(WebSocket<S>, Accepted), Error>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        match self.read(stream, BytesMut::new(), span).await? {
            Incoming::WebSocket(ws, accepted) => Ok((*ws, accepted)),
            Incoming::Http(mut stream, _, _) => {
                let rejection = not_websocket();
                trace::refused(&rejection);
                self.inner.counters.add(Count::HandshakesRejected);
                refuse(&mut stream, &rejection).await;
                Err(Error::Rejected(rejection))
            }
            Incoming::Closed => Err(Error::Closed),
        }
    }

    /// Reads one request from `stream` (after the bytes already in `buf`) and completes the
    /// handshake if it is an upgrade; the WebSocket reports in `span`. Refusals are written
    /// before the error is returned.
    pub(crate) async fn read<S>(
        &self,
        mut stream: S,
        mut buf: BytesMut,
        span: &Span,
    ) -> Result<Incoming<S>, Error>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let inner = &self.inner;
        let mut parser = inner.handshake.parser();
        let request = loop {
            match parser.parse(&buf) {
                Ok(Parsed::Complete { value, consumed }) => {
                    buf.advance(consumed);
                    break value;
                }
                Ok(Parsed::Partial) => {}
                Err(rejection) => {
                    trace::refused(&rejection);
                    inner.counters.add(Count::HandshakesRejected);
                    refuse(&mut stream, &rejection).await;
                    return Err(Error::Rejected(rejection));
                }
            }
            if stream.read_buf(&mut buf).await? == 0 {
                return if buf.is_empty() {
                    Ok(Incoming::Closed)
                } else {
                    Err(Error::Closed)
                };
            }
        };
        let request = match request {
            Request::Upgrade(request) => request,
            other => return Ok(Incoming::Http(stream, other.into_request(), buf)),
        };
        let pending = match self.decide(request) {
            Ok(pending) => pending,
            Err(rejection) => {
                refuse(&mut stream, &rejection).await;
                return Err(Error::Rejected(rejection));
            }
        };
        let mut head = Vec::with_capacity(256);
        weft_handshake::write_response(pending.response(), &mut head);
        stream.write_all(&head).await?;
        stream.flush().await?;
        let (ws, accepted) = pending.into_websocket_in(stream, buf, span.clone());
        Ok(Incoming::WebSocket(Box::new(ws), accepted))
    }
}

/// The answer to a request that does not ask for a WebSocket, on an endpoint that speaks
/// nothing else: `426 Upgrade Required`, naming `websocket`.
pub(crate) fn not_websocket() -> Rejection {
    Rejection::new(
        StatusCode::UPGRADE_REQUIRED,
        "this endpoint only speaks WebSocket",
    )
    .with_header(http::header::UPGRADE, HeaderValue::from_static("websocket"))
    .with_header(
        http::header::CONNECTION,
        HeaderValue::from_static("Upgrade"),
    )
}

/// Writes a refusal and closes the write side; errors are moot, the connection is over.
pub(crate) async fn refuse<S>(stream: &mut S, rejection: &Rejection)
where
    S: AsyncWrite + Unpin,
{
    let _ = stream.write_all(&rejection.to_vec()).await;
    let _ = stream.shutdown().await;
}

/// Configures an [`Acceptor`].
///
/// ```
/// let acceptor = weft_server::Acceptor::builder().protocols(["chat.v1"]).build()?;
/// # let _ = acceptor;
/// # Ok::<(), weft_server::Error>(())
/// ```
pub struct AcceptorBuilder {
    handshake: weft_handshake::ServerBuilder,
    on_request: Option<Box<RequestHook>>,
    limits: Limits,
    config: Config,
    handshake_timeout: Duration,
    #[cfg(feature = "rustls")]
    tls: Option<crate::TlsConfig>,
    #[cfg(feature = "deflate")]
    deflate: weft_deflate::DeflateConfig,
    #[cfg(feature = "http2")]
    http2: Option<weft_h2::Http2Limits>,
}

impl fmt::Debug for AcceptorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcceptorBuilder")
            .field("limits", &self.limits)
            .field("config", &self.config)
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

impl AcceptorBuilder {
    /// The subprotocols this server speaks, in order of preference: the first one the client
    /// also offered is chosen.
    ///
    /// ```
    /// use weft_server::Acceptor;
    /// // The newest first: a client that offers both gets chat.v2.
    /// let acceptor = Acceptor::builder().protocols(["chat.v2", "chat.v1"]).build()?;
    /// # let _ = acceptor;
    /// # Ok::<(), weft_server::Error>(())
    /// ```
    pub fn protocols<I, S>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.handshake = self.handshake.protocols(protocols);
        self
    }

    /// Chooses the subprotocol with a function instead of a list (it sees the request and the
    /// client's offers; `None` chooses none).
    ///
    /// ```
    /// use weft_server::Acceptor;
    /// // Any version of the chat protocol, the client's first choice.
    /// let acceptor = Acceptor::builder()
    ///     .select_protocol(|request| {
    ///         request.protocols().iter().find(|offer| offer.starts_with("chat.")).cloned()
    ///     })
    ///     .build()?;
    /// # let _ = acceptor;
    /// # Ok::<(), weft_server::Error>(())
    /// ```
    pub fn select_protocol<F>(mut self, select: F) -> Self
    where
        F: Fn(&UpgradeRequest) -> Option<String> + Send + Sync + 'static,
    {
        self.handshake = self.handshake.select_protocol(select);
        self
    }

    /// Which `Origin`s may connect (browsers send one; other clients may not). Refused
    /// origins get `403`.
    ///
    /// ```
    /// use weft_server::{Acceptor, OriginPolicy};
    /// // Browsers on other sites are refused with 403; clients that send no Origin are let in.
    /// let acceptor = Acceptor::builder()
    ///     .origin_policy(OriginPolicy::allow_list([
    ///         "https://example.com",
    ///         "https://app.example.com",
    ///     ]))
    ///     .build()?;
    /// # let _ = acceptor;
    /// # Ok::<(), weft_server::Error>(())
    /// ```
    pub fn origin_policy(mut self, policy: OriginPolicy) -> Self {
        self.handshake = self.handshake.origin_policy(policy);
        self
    }

    /// Sees every valid upgrade request (path, headers, cookies) and may refuse it with a
    /// [`Rejection`] of any status.
    ///
    /// ```
    /// use http::StatusCode;
    /// use weft_server::{Acceptor, Rejection};
    ///
    /// let acceptor = Acceptor::builder()
    ///     .on_request(|request| match request.uri().path() {
    ///         "/chat" => Ok(()),
    ///         _ => Err(Rejection::new(StatusCode::NOT_FOUND, "no such endpoint")),
    ///     })
    ///     .build()
    ///     .unwrap();
    /// ```
    pub fn on_request<F>(mut self, hook: F) -> Self
    where
        F: Fn(&http::Request<()>) -> Result<(), Rejection> + Send + Sync + 'static,
    {
        self.on_request = Some(Box::new(hook));
        self
    }

    /// Agrees to extensions through `negotiator` (permessage-deflate plugs in here).
    ///
    /// ```
    /// use weft_handshake::Extension;
    /// use weft_server::Acceptor;
    /// // Agree to a private extension as the client offered it.
    /// let builder = Acceptor::builder().extensions(|offers: &[Extension]| {
    ///     offers.iter().filter(|offer| offer.name() == "x-example").take(1).cloned().collect()
    /// });
    /// // With the `deflate` feature, permessage-deflate's negotiator replaces this one unless
    /// // it is switched off.
    /// #[cfg(feature = "deflate")]
    /// let builder = builder.deflate(weft_server::DeflateConfig::default().enabled(false));
    /// let acceptor = builder.build()?;
    /// # let _ = acceptor;
    /// # Ok::<(), weft_server::Error>(())
    /// ```
    pub fn extensions(
        mut self,
        negotiator: impl weft_handshake::ExtensionNegotiator + 'static,
    ) -> Self {
        self.handshake = self.handshake.extensions(negotiator);
        self
    }

    /// The caps on the request head (414 and 431 beyond them).
    ///
    /// ```
    /// use weft_server::Acceptor;
    /// // Requests with large cookies: allow a 32 KiB header section (431 beyond it).
    /// let acceptor = Acceptor::builder()
    ///     .handshake_limits(weft_handshake::Limits::default().with_max_header_bytes(32 << 10))
    ///     .build()?;
    /// # let _ = acceptor;
    /// # Ok::<(), weft_server::Error>(())
    /// ```
    pub fn handshake_limits(mut self, limits: weft_handshake::Limits) -> Self {
        self.handshake = self.handshake.limits(limits);
        self
    }

    /// The limits on what clients may send over the connection.
    ///
    /// ```
    /// use weft_server::{Acceptor, Limits};
    /// // A chat server: no message over 64 KiB (close 1009 beyond it).
    /// let acceptor = Acceptor::builder()
    ///     .limits(Limits::default().max_message_size(64 << 10))
    ///     .build()?;
    /// # let _ = acceptor;
    /// # Ok::<(), weft_server::Error>(())
    /// ```
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The connections' behaviour (timeouts, keepalive, buffering).
    ///
    /// ```
    /// use std::time::Duration;
    /// use weft_server::{Acceptor, Config};
    /// // Ping quiet clients every 20 s and drop those that do not answer within 10 s.
    /// let acceptor = Acceptor::builder()
    ///     .config(
    ///         Config::default()
    ///             .ping_interval(Some(Duration::from_secs(20)))
    ///             .ping_timeout(Duration::from_secs(10)),
    ///     )
    ///     .build()?;
    /// # let _ = acceptor;
    /// # Ok::<(), weft_server::Error>(())
    /// ```
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// permessage-deflate settings; `DeflateConfig::default().enabled(false)` accepts none.
    ///
    /// ```
    /// use weft_server::{Acceptor, DeflateConfig};
    /// // Compress, but keep no context between messages: less memory per connection.
    /// let acceptor = Acceptor::builder()
    ///     .deflate(DeflateConfig::default().server_no_context_takeover(true))
    ///     .build()?;
    /// # let _ = acceptor;
    /// # Ok::<(), weft_server::Error>(())
    /// ```
    #[cfg(feature = "deflate")]
    #[cfg_attr(docsrs, doc(cfg(feature = "deflate")))]
    pub fn deflate(mut self, deflate: weft_deflate::DeflateConfig) -> Self {
        self.deflate = deflate;
        self
    }

    /// Whether a [`Server`](crate::Server) speaks HTTP/2 to clients that want it (on by
    /// default): ALPN `h2` over TLS, the HTTP/2 preface on plain TCP (h2c with prior
    /// knowledge), with `SETTINGS_ENABLE_CONNECT_PROTOCOL` so that browsers open WebSockets as
    /// streams of their HTTP/2 connection (RFC 8441). Off, every connection speaks HTTP/1.1.
    ///
    /// ```
    /// let acceptor = weft_server::Acceptor::builder().http2(false).build().unwrap();
    /// # let _ = acceptor;
    /// ```
    #[cfg(feature = "http2")]
    #[cfg_attr(docsrs, doc(cfg(feature = "http2")))]
    pub fn http2(mut self, enabled: bool) -> Self {
        self.http2 = enabled.then(|| self.http2.take().unwrap_or_default());
        self
    }

    /// The bounds on each HTTP/2 connection (streams, flow-control windows, header list size,
    /// reset floods, idle time); see [`Http2Limits`](weft_h2::Http2Limits) for the defaults.
    /// Each WebSocket on a stream has the same [`limits`](Self::limits) and
    /// [`config`](Self::config) as one on its own connection.
    ///
    /// ```
    /// use weft_server::{Acceptor, Http2Limits};
    ///
    /// let acceptor = Acceptor::builder()
    ///     .http2_limits(Http2Limits::default().max_concurrent_streams(1000))
    ///     .build()
    ///     .unwrap();
    /// # let _ = acceptor;
    /// ```
    #[cfg(feature = "http2")]
    #[cfg_attr(docsrs, doc(cfg(feature = "http2")))]
    pub fn http2_limits(mut self, limits: weft_h2::Http2Limits) -> Self {
        self.http2 = Some(limits);
        self
    }

    /// Serves `wss://` (and `https://` for plain requests) with this certificate.
    ///
    /// ```no_run
    /// # fn demo() -> Result<(), weft_server::Error> {
    /// use weft_server::{Acceptor, TlsConfig};
    /// let acceptor = Acceptor::builder()
    ///     .tls(TlsConfig::from_pem_files(
    ///         "/etc/ssl/example.com/fullchain.pem",
    ///         "/etc/ssl/example.com/key.pem",
    ///     )?)
    ///     .build()?;
    /// # let _ = acceptor;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "rustls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
    pub fn tls(mut self, tls: crate::TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// The time allowed from accepting the connection (TLS included) to the `101`: a client
    /// that sends its request one byte a second is cut off.
    ///
    /// ```
    /// use std::time::Duration;
    /// let acceptor = weft_server::Acceptor::builder()
    ///     .handshake_timeout(Duration::from_secs(3))
    ///     .build()?;
    /// assert_eq!(acceptor.handshake_timeout(), Duration::from_secs(3));
    /// # Ok::<(), weft_server::Error>(())
    /// ```
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Builds the acceptor; fails if a subprotocol name is not an HTTP token.
    ///
    /// ```
    /// use weft_server::{Acceptor, Error};
    /// assert!(Acceptor::builder().protocols(["chat.v1"]).build().is_ok());
    /// // A subprotocol name must be an HTTP token.
    /// let refused = Acceptor::builder().protocols(["chat v1"]).build();
    /// assert!(matches!(refused, Err(Error::Config(_))));
    /// ```
    pub fn build(mut self) -> Result<Acceptor, Error> {
        let handshake = std::mem::replace(&mut self.handshake, Handshake::builder());
        #[cfg(feature = "deflate")]
        let handshake = if self.deflate.get_enabled() {
            handshake.extensions(self.deflate.clone())
        } else {
            handshake
        };
        let handshake = handshake.build().map_err(Error::Config)?;
        Ok(self.assemble(handshake))
    }

    /// The acceptor with these settings and a built `handshake` (which replaces the builder's).
    fn assemble(self, handshake: Handshake) -> Acceptor {
        Acceptor {
            inner: Arc::new(Inner {
                handshake,
                on_request: self.on_request,
                limits: self.limits,
                config: self.config,
                handshake_timeout: self.handshake_timeout,
                #[cfg(feature = "rustls")]
                tls: self.tls.map(|tls| {
                    #[cfg(feature = "http2")]
                    let h2 = self.http2.is_some();
                    #[cfg(not(feature = "http2"))]
                    let h2 = false;
                    TlsAcceptors {
                        http1: tls.acceptor(false),
                        any: tls.acceptor(h2),
                    }
                }),
                #[cfg(feature = "deflate")]
                deflate: self.deflate,
                #[cfg(feature = "http2")]
                http2: self.http2,
                counters: Arc::default(),
            }),
        }
    }
}

/// Adds `name: value` to a response, replacing an earlier value.
pub(crate) fn set_header(
    response: &mut http::Response<bytes::Bytes>,
    name: HeaderName,
    value: HeaderValue,
) {
    response.headers_mut().insert(name, value);
}
