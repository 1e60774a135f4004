//! WebSocket upgrades in a hyper 1.x server (feature `hyper`): an HTTP/1.1 `GET` with
//! `Upgrade: websocket`, or an HTTP/2 extended `CONNECT` (RFC 8441, when the server called
//! `enable_connect_protocol()`), judged by [`Acceptor::decide`] and
//! [`Acceptor::decide_extended_connect`] exactly as the built-in server judges them, and
//! completed over hyper's upgraded connection with the acceptor's limits, settings and
//! negotiated extensions.
//!
//! ```no_run
//! use std::convert::Infallible;
//!
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use hyper::body::Incoming;
//! use weft_server::{Acceptor, Message};
//!
//! async fn handle(
//!     acceptor: Acceptor,
//!     request: http::Request<Incoming>,
//! ) -> Result<http::Response<Full<Bytes>>, Infallible> {
//!     if !weft_server::hyper::is_upgrade_request(&request) {
//!         return Ok(http::Response::new(Full::new(Bytes::from_static(b"hello"))));
//!     }
//!     match weft_server::hyper::upgrade(&acceptor, request) {
//!         Ok(upgrade) => {
//!             let (response, websocket) = upgrade.into_parts();
//!             tokio::spawn(async move {
//!                 let Ok((mut ws, _accepted)) = websocket.await else { return };
//!                 while let Some(Ok(message)) = ws.next().await {
//!                     if message.is_text() || message.is_binary() {
//!                         let _ = ws.send(message).await;
//!                     }
//!                 }
//!             });
//!             Ok(response)
//!         }
//!         // 400, 403, 405, 426 (with `Sec-WebSocket-Version: 13`), or the hook's own status.
//!         Err(refused) => Ok(refused.into_response()),
//!     }
//! }
//! ```
//!
//! Serve `handle` with `hyper::server::conn::http1::Builder::serve_connection(..)
//! .with_upgrades()` (without it hyper sends the `101` and then closes the connection, and
//! the WebSocket's future fails with [`Error::Upgrade`]), or with hyper-util's
//! `auto::Builder` and `serve_connection_with_upgrades`, with
//! `http2().enable_connect_protocol()` for WebSockets over HTTP/2.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http::Version;
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use weft_codec::tokio::WebSocket;
use weft_handshake::Rejection;

use crate::acceptor::not_websocket;
use crate::trace::{self, Span};
use crate::{Accepted, Acceptor, Error, PendingWebSocket};

/// Whether `request` asks for a WebSocket at all (an `Upgrade: websocket` header, or an
/// HTTP/2 `CONNECT`), valid or not; route it to [`upgrade`] if so, to plain HTTP if not.
///
/// ```
/// let page = http::Request::get("/").body(())?;
/// assert!(!weft_server::hyper::is_upgrade_request(&page));
/// # Ok::<(), http::Error>(())
/// ```
pub fn is_upgrade_request<B>(request: &http::Request<B>) -> bool {
    weft_handshake::is_upgrade_request(request)
}

/// Judges an upgrade request hyper read: [`Acceptor::decide`] for an HTTP/1.1 upgrade,
/// [`Acceptor::decide_extended_connect`] for an HTTP/2 `CONNECT` (its `:protocol` comes
/// from hyper's `ext::Protocol`). The request's body is dropped (an upgrade has none).
///
/// # Errors
///
/// [`Refused`], the answer to send: the status weft's own server gives (400, 403, 405, 426
/// with `Sec-WebSocket-Version: 13`, 501 for an HTTP/2 `CONNECT` for another protocol, or
/// the request hook's), or 426 when the request carries no `hyper::upgrade::OnUpgrade` (it
/// did not come from a hyper server, or a layer took it), as axum's own extractor answers.
///
/// ```
/// use weft_server::Acceptor;
/// // A request that did not come from a hyper server carries no connection to upgrade.
/// let request = http::Request::get("/chat")
///     .header("host", "example.com")
///     .header("upgrade", "websocket")
///     .header("connection", "upgrade")
///     .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
///     .header("sec-websocket-version", "13")
///     .body(())?;
/// let refused = weft_server::hyper::upgrade(&Acceptor::default(), request).unwrap_err();
/// assert_eq!(refused.status(), http::StatusCode::UPGRADE_REQUIRED);
/// # Ok::<(), http::Error>(())
/// ```
pub fn upgrade<B>(acceptor: &Acceptor, request: http::Request<B>) -> Result<Upgrade, Refused> {
    let (mut parts, _body) = request.into_parts();
    let on_upgrade = parts.extensions.remove::<OnUpgrade>();
    upgrade_parts(acceptor, parts, on_upgrade)
}

/// [`upgrade`] for a request already taken apart (axum's extractors see only the parts).
pub(crate) fn upgrade_parts(
    acceptor: &Acceptor,
    parts: http::request::Parts,
    on_upgrade: Option<OnUpgrade>,
) -> Result<Upgrade, Refused> {
    // hyper does not tell the peer's address: the span has none (see `into_websocket`).
    let span = trace::connection_span(None, parts.version);
    let (pending, on_upgrade) = trace::in_scope(&span, || decide(acceptor, parts, on_upgrade))?;
    Ok(Upgrade {
        pending,
        on_upgrade,
        span,
    })
}

/// The acceptor's decision on a request hyper read, and the connection hyper hands over.
fn decide(
    acceptor: &Acceptor,
    parts: http::request::Parts,
    on_upgrade: Option<OnUpgrade>,
) -> Result<(PendingWebSocket, OnUpgrade), Refused> {
    let http2 = parts.version >= Version::HTTP_2;
    let protocol = parts
        .extensions
        .get::<hyper::ext::Protocol>()
        .map(|protocol| protocol.as_str().to_owned());
    let request = http::Request::from_parts(parts, ());
    let refused = |rejection| Refused { rejection, http2 };
    // The acceptor reports its own refusals; these two are made here.
    let refused_here = |rejection| {
        trace::refused(&rejection);
        refused(rejection)
    };
    if !http2 && !weft_handshake::is_upgrade_request(&request) {
        return Err(refused_here(not_websocket()));
    }
    let pending = if http2 {
        acceptor.decide_extended_connect(request, protocol.as_deref())
    } else {
        acceptor.decide(request)
    }
    .map_err(refused)?;
    let on_upgrade = on_upgrade.ok_or_else(|| {
        refused_here(
            Rejection::new(
                http::StatusCode::UPGRADE_REQUIRED,
                "this server cannot upgrade the connection",
            )
            .with_header(
                http::header::UPGRADE,
                http::HeaderValue::from_static("websocket"),
            ),
        )
    })?;
    Ok((pending, on_upgrade))
}

/// A WebSocket handshake the acceptor agreed to, from a request hyper read: send the
/// response from [`into_parts`](Self::into_parts), and the future it comes with resolves to
/// the [`WebSocket`] once hyper has handed over the connection.
///
/// ```no_run
/// # fn demo(acceptor: &weft_server::Acceptor, request: http::Request<hyper::body::Incoming>) {
/// match weft_server::hyper::upgrade(acceptor, request) {
///     Ok(upgrade) => println!("agreed to {:?}", upgrade.pending().protocol()),
///     Err(refused) => println!("refused with {}", refused.status()),
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct Upgrade {
    pending: PendingWebSocket,
    on_upgrade: OnUpgrade,
    /// The connection's span (feature `tracing`), kept by its WebSocket.
    span: Span,
}

impl Upgrade {
    /// The handshake as agreed (response, subprotocol, the client's offers), to look at or
    /// change before the response goes out (see [`PendingWebSocket::select_protocol`]).
    ///
    /// ```no_run
    /// # use bytes::Bytes;
    /// # use http_body_util::Full;
    /// # async fn handle(
    /// #     acceptor: weft_server::Acceptor,
    /// #     request: http::Request<hyper::body::Incoming>,
    /// # ) -> http::Response<Full<Bytes>> {
    /// let Ok(upgrade) = weft_server::hyper::upgrade(&acceptor, request) else {
    ///     return http::Response::new(Full::default()); // see `Refused`
    /// };
    /// println!("the client offered {:?}", upgrade.pending().offered_protocols());
    /// # let (response, _ws) = upgrade.into_parts();
    /// # response
    /// # }
    /// ```
    pub fn pending(&self) -> &PendingWebSocket {
        &self.pending
    }

    /// The handshake as agreed, to change before the response goes out: headers (cookies),
    /// the subprotocol.
    ///
    /// ```no_run
    /// # use bytes::Bytes;
    /// # use http_body_util::Full;
    /// # async fn handle(
    /// #     acceptor: weft_server::Acceptor,
    /// #     request: http::Request<hyper::body::Incoming>,
    /// # ) -> http::Response<Full<Bytes>> {
    /// let Ok(mut upgrade) = weft_server::hyper::upgrade(&acceptor, request) else {
    ///     return http::Response::new(Full::default()); // see `Refused`
    /// };
    /// // This route speaks its own subprotocols.
    /// upgrade.pending_mut().select_protocol(["graphql-transport-ws"]);
    /// # let (response, _ws) = upgrade.into_parts();
    /// # response
    /// # }
    /// ```
    pub fn pending_mut(&mut self) -> &mut PendingWebSocket {
        &mut self.pending
    }

    /// The span the WebSocket will report in.
    #[cfg(feature = "axum")]
    pub(crate) fn span(&self) -> &Span {
        &self.span
    }

    /// The response for hyper to send (`101 Switching Protocols`, or `200` over HTTP/2) with
    /// an empty body of the service's body type, and the WebSocket to come: a future to
    /// spawn, which resolves once hyper has sent the response and handed over the
    /// connection.
    ///
    /// ```no_run
    /// # use bytes::Bytes;
    /// # use http_body_util::Full;
    /// # async fn handle(
    /// #     acceptor: weft_server::Acceptor,
    /// #     request: http::Request<hyper::body::Incoming>,
    /// # ) -> http::Response<Full<Bytes>> {
    /// let upgrade = match weft_server::hyper::upgrade(&acceptor, request) {
    ///     Ok(upgrade) => upgrade,
    ///     Err(refused) => return refused.into_response(),
    /// };
    /// let (response, websocket) = upgrade.into_parts();
    /// tokio::spawn(async move {
    ///     // Resolves once hyper has sent the 101 and handed the connection over.
    ///     let Ok((mut ws, _accepted)) = websocket.await else { return };
    ///     while let Some(Ok(message)) = ws.next().await {
    ///         let _ = ws.send(message).await;
    ///     }
    /// });
    /// response
    /// # }
    /// ```
    pub fn into_parts<R: Default>(self) -> (http::Response<R>, WebSocketFuture) {
        let head = self.pending.response();
        let mut response = http::Response::new(R::default());
        *response.status_mut() = head.status();
        *response.version_mut() = head.version();
        *response.headers_mut() = head.headers().clone();
        let Upgrade {
            pending,
            on_upgrade,
            span,
        } = self;
        let websocket = async move {
            let upgraded = on_upgrade
                .await
                .map_err(Error::Upgrade)
                .inspect_err(|err| trace::handshake_failed(&span, err))?;
            // hyper keeps bytes it read past the request inside `Upgraded`: nothing is lost.
            let stream = UpgradedStream(TokioIo::new(upgraded));
            Ok(pending.into_websocket_in(stream, BytesMut::new(), span))
        };
        (response, WebSocketFuture(Box::pin(websocket)))
    }
}

/// What a [`WebSocketFuture`] resolves to.
///
/// ```no_run
/// # async fn demo(websocket: weft_server::hyper::WebSocketFuture) {
/// let result: weft_server::hyper::UpgradeResult = websocket.await;
/// if let Err(err) = result {
///     println!("the client went away before the upgrade: {err}");
/// }
/// # }
/// ```
pub type UpgradeResult = Result<(WebSocket<UpgradedStream>, Accepted), Error>;

/// The WebSocket of an [`Upgrade`], once hyper has sent the response and handed over the
/// connection; fails with [`Error::Upgrade`] if it never does (the client went away).
///
/// ```no_run
/// # fn demo(upgrade: weft_server::hyper::Upgrade) -> http::Response<http_body_util::Empty<bytes::Bytes>> {
/// let (response, websocket) = upgrade.into_parts();
/// tokio::spawn(async move {
///     if let Ok((mut ws, _accepted)) = websocket.await {
///         while let Some(Ok(message)) = ws.next().await {
///             let _ = ws.send(message).await;
///         }
///     }
/// });
/// response // for hyper to send: the 101 that makes the future resolve
/// # }
/// ```
#[must_use = "the WebSocket comes only when this future is polled (spawn it)"]
pub struct WebSocketFuture(Pin<Box<dyn Future<Output = UpgradeResult> + Send>>);

impl Future for WebSocketFuture {
    type Output = UpgradeResult;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<UpgradeResult> {
        self.0.as_mut().poll(cx)
    }
}

impl fmt::Debug for WebSocketFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocketFuture").finish_non_exhaustive()
    }
}

/// A refused upgrade: the answer weft's own server would give, to send instead.
///
/// ```
/// let request = http::Request::get("/chat").header("host", "example.com").body(())?;
/// let acceptor = weft_server::Acceptor::default();
/// let refused = weft_server::hyper::upgrade(&acceptor, request).unwrap_err();
/// assert_eq!(refused.status(), http::StatusCode::UPGRADE_REQUIRED);
/// # Ok::<(), http::Error>(())
/// ```
pub struct Refused {
    rejection: Rejection,
    http2: bool,
}

impl Refused {
    /// The status of the answer.
    ///
    /// ```
    /// // A plain GET to a WebSocket endpoint.
    /// let request = http::Request::get("/chat").header("host", "example.com").body(())?;
    /// let acceptor = weft_server::Acceptor::default();
    /// let refused = weft_server::hyper::upgrade(&acceptor, request).unwrap_err();
    /// assert_eq!(refused.status(), http::StatusCode::UPGRADE_REQUIRED);
    /// # Ok::<(), http::Error>(())
    /// ```
    pub fn status(&self) -> http::StatusCode {
        self.rejection.status()
    }

    /// The refusal, with the error that caused it ([`Rejection::cause`]) for a log.
    ///
    /// ```
    /// let request = http::Request::get("/chat")
    ///     .header("host", "example.com")
    ///     .header("upgrade", "websocket")
    ///     .header("connection", "upgrade")
    ///     .header("sec-websocket-version", "13")
    ///     .body(())?; // no Sec-WebSocket-Key
    /// let acceptor = weft_server::Acceptor::default();
    /// let refused = weft_server::hyper::upgrade(&acceptor, request).unwrap_err();
    /// assert_eq!(refused.status(), http::StatusCode::BAD_REQUEST);
    /// if let Some(cause) = refused.rejection().cause() {
    ///     println!("refused: {cause}"); // what the client got wrong, for a log
    /// }
    /// # Ok::<(), http::Error>(())
    /// ```
    pub fn rejection(&self) -> &Rejection {
        &self.rejection
    }

    /// The answer for hyper to send, with the body type of the service (`Full<Bytes>`,
    /// axum's `Body`, …); over HTTP/2 without the headers HTTP/2 forbids.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use http_body_util::Full;
    /// let request = http::Request::get("/chat").header("host", "example.com").body(())?;
    /// let acceptor = weft_server::Acceptor::default();
    /// let refused = weft_server::hyper::upgrade(&acceptor, request).unwrap_err();
    /// let response: http::Response<Full<Bytes>> = refused.into_response();
    /// assert_eq!(response.status(), http::StatusCode::UPGRADE_REQUIRED);
    /// assert_eq!(response.headers()["upgrade"], "websocket");
    /// # Ok::<(), http::Error>(())
    /// ```
    pub fn into_response<R: From<Bytes>>(self) -> http::Response<R> {
        let response = if self.http2 {
            self.rejection.into_http2_response()
        } else {
            self.rejection.into_response()
        };
        response.map(R::from)
    }
}

impl fmt::Debug for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Refused")
            .field("rejection", &self.rejection)
            .field("http2", &self.http2)
            .finish()
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.rejection, f)
    }
}

impl std::error::Error for Refused {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.rejection)
    }
}

/// The connection hyper handed over after the upgrade (an HTTP/1.1 connection, or one
/// HTTP/2 stream), as the byte stream a [`WebSocket`] runs over.
///
/// ```no_run
/// # async fn demo(websocket: weft_server::hyper::WebSocketFuture) -> Result<(), weft_server::Error> {
/// use weft_server::{WebSocket, hyper::UpgradedStream};
/// let (ws, _accepted): (WebSocket<UpgradedStream>, _) = websocket.await?;
/// # drop(ws);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct UpgradedStream(TokioIo<Upgraded>);

impl UpgradedStream {
    /// hyper's upgraded connection.
    ///
    /// ```no_run
    /// # use weft_server::hyper::WebSocketFuture;
    /// # async fn demo(websocket: WebSocketFuture) -> Result<(), weft_server::Error> {
    /// let (ws, _accepted) = websocket.await?;
    /// // Back to hyper's connection, for a protocol of your own after the WebSocket.
    /// let (stream, _connection) = ws.into_parts();
    /// let upgraded: hyper::upgrade::Upgraded = stream.into_inner();
    /// # drop(upgraded);
    /// # Ok(()) }
    /// ```
    pub fn into_inner(self) -> Upgraded {
        self.0.into_inner()
    }
}

impl AsyncRead for UpgradedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for UpgradedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use http::Method;

    use super::*;

    fn upgrade_request(version: &str) -> http::request::Builder {
        http::Request::get("/chat")
            .header("host", "example.com")
            .header("upgrade", "websocket")
            .header("connection", "upgrade")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .header("sec-websocket-version", version)
    }

    fn status(result: Result<Upgrade, Refused>) -> u16 {
        match result {
            Ok(_) => 101,
            Err(refused) => refused.status().as_u16(),
        }
    }

    #[test]
    fn refusals_have_the_built_in_servers_statuses() {
        let acceptor = Acceptor::default();
        let up = |request: http::Request<()>| status(upgrade(&acceptor, request));
        // No OnUpgrade in these requests: a valid one is refused as not upgradable.
        assert_eq!(up(upgrade_request("13").body(()).unwrap()), 426);
        assert_eq!(
            up(http::Request::get("/chat").body(()).unwrap()),
            426,
            "not an upgrade at all"
        );
        let refused = upgrade(&acceptor, upgrade_request("8").body(()).unwrap()).unwrap_err();
        assert_eq!(refused.status(), 426);
        let response: http::Response<Bytes> = refused.into_response();
        assert_eq!(response.headers()["sec-websocket-version"], "13");
        let post = upgrade_request("13").method(Method::POST).body(()).unwrap();
        assert_eq!(up(post), 405);
        let no_key = http::Request::get("/")
            .header("host", "h")
            .header("upgrade", "websocket")
            .header("connection", "upgrade")
            .header("sec-websocket-version", "13")
            .body(())
            .unwrap();
        assert_eq!(up(no_key), 400);
        let http10 = upgrade_request("13")
            .version(Version::HTTP_10)
            .body(())
            .unwrap();
        assert_eq!(up(http10), 400);
    }

    /// An HTTP/2 extended CONNECT for `protocol`, as hyper hands it over.
    fn extended_connect(protocol: &'static str, version: &str) -> http::Request<()> {
        let mut request = http::Request::builder()
            .method(Method::CONNECT)
            .version(Version::HTTP_2)
            .uri("https://example.com/chat")
            .header("sec-websocket-version", version)
            .body(())
            .unwrap();
        request
            .extensions_mut()
            .insert(hyper::ext::Protocol::from_static(protocol));
        request
    }

    #[test]
    fn http2_refusals_leave_out_what_http2_forbids() {
        let acceptor = Acceptor::default();
        let refused = upgrade(&acceptor, extended_connect("websocket", "8")).unwrap_err();
        let response: http::Response<Bytes> = refused.into_response();
        assert_eq!(response.status(), 426);
        assert!(response.headers().get("connection").is_none());
        let other = extended_connect("webtransport", "13");
        assert_eq!(status(upgrade(&acceptor, other)), 501);
    }
}
