//! The WebSocket client of weft, for tokio.
//!
//! [`connect`] opens a connection from a `ws://` URL; [`ClientBuilder`] adds headers,
//! subprotocols, limits, timeouts, a [`Proxy`] (HTTP `CONNECT` or SOCKS5, or the one
//! `https_proxy`/`http_proxy`/`all_proxy` name) and redirects;
//! [`ClientBuilder::connect_on`] runs the handshake over a stream you opened yourself (a Unix
//! socket, an in-memory pipe). The result is a [`WebSocket`], a `Stream` and `Sink` of
//! messages, and the server's `101` response.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use weft_client::{Message, connect};
//!
//! let (mut ws, response) = connect("ws://127.0.0.1:9001/chat").await?;
//! println!("connected: {:?}", response.headers().get("sec-websocket-protocol"));
//! ws.send(Message::text("hello")).await?;
//! if let Some(reply) = ws.next().await {
//!     println!("{:?}", reply?);
//! }
//! ws.close(weft_client::CloseCode::NORMAL, "bye").await?;
//! # Ok(()) }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]

mod authority;
mod error;
#[cfg(feature = "http2")]
mod http2;
mod proxy;
mod redirect;
mod stream;
#[cfg(feature = "rustls")]
mod tls;
mod trace;

use std::time::Duration;

use bytes::{Buf, BytesMut};
use http::{HeaderName, HeaderValue, Uri};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use weft_codec::{Connection, Role};
use weft_handshake::{ClientHandshake, Parsed};

use crate::proxy::{ProxySetting, Tunnel, TunnelSettings};
use crate::trace::Span;

pub use error::Error;
#[cfg(feature = "http2")]
#[cfg_attr(docsrs, doc(cfg(feature = "http2")))]
pub use http2::{Http2Connection, Http2Mode};
pub use proxy::Proxy;
pub use stream::ClientStream;
#[cfg(feature = "rustls")]
#[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
pub use tls::ClientTls;
pub use weft_codec::tokio::WebSocket;
pub use weft_codec::{CloseCode, CloseFrame, Config, Limits, Message};
#[cfg(feature = "deflate")]
#[cfg_attr(docsrs, doc(cfg(feature = "deflate")))]
pub use weft_deflate::DeflateConfig;
#[cfg(feature = "http2")]
#[cfg_attr(docsrs, doc(cfg(feature = "http2")))]
pub use weft_h2::Http2Limits;

/// The handshake response: the server's `101 Switching Protocols` head.
///
/// ```no_run
/// # async fn demo() -> Result<(), weft_client::Error> {
/// let (_ws, response): (_, weft_client::Response) =
///     weft_client::connect("ws://example.com").await?;
/// println!("{:?}", response.headers().get("sec-websocket-extensions"));
/// # Ok(()) }
/// ```
pub type Response = http::Response<()>;

/// Opens a WebSocket connection to `url` (`ws://host[:port]/path?query`, or `wss://` with the
/// `rustls` feature) with default settings. See [`ClientBuilder`] for the rest.
///
/// ```no_run
/// # async fn demo() -> Result<(), weft_client::Error> {
/// use weft_client::Message;
/// let (mut ws, _response) = weft_client::connect("wss://example.com/feed").await?;
/// ws.send(Message::text("subscribe ACME")).await?;
/// while let Some(message) = ws.next().await {
///     println!("{:?}", message?);
/// }
/// # Ok(()) }
/// ```
pub async fn connect(url: &str) -> Result<(WebSocket<ClientStream>, Response), Error> {
    ClientBuilder::new(url).connect().await
}

/// Runs the client handshake for `url` over `stream`, which is already connected to the
/// server (the URL supplies the `Host`, path and query).
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// // A WebSocket over a Unix socket: the URL gives the Host header and the path.
/// let socket = tokio::net::UnixStream::connect("/run/app/ws.sock").await?;
/// let (ws, _response) = weft_client::connect_on(socket, "ws://localhost/events").await?;
/// # drop(ws);
/// # Ok(()) }
/// ```
pub async fn connect_on<S>(stream: S, url: &str) -> Result<(WebSocket<S>, Response), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    ClientBuilder::new(url).connect_on(stream).await
}

/// Configures and opens a client connection.
///
/// | setting | default |
/// | --- | --- |
/// | [`connect_timeout`](Self::connect_timeout) (DNS and TCP) | 10 s |
/// | [`handshake_timeout`](Self::handshake_timeout) (request to `101`) | 10 s |
/// | [`limits`](Self::limits), [`config`](Self::config) | [`Limits::default`], [`Config::default`] |
/// | [`handshake_limits`](Self::handshake_limits) (response head size) | [`weft_handshake::Limits::default`] |
/// | `deflate` (with the `deflate` feature) | offered, with `DeflateConfig::default()` |
/// | [`proxy`](Self::proxy), [`proxy_from_env`](Self::proxy_from_env) | none: a direct connection |
/// | [`max_redirects`](Self::max_redirects) | 0: a redirect is an error |
///
/// ```no_run
/// # async fn demo() -> Result<(), weft_client::Error> {
/// use std::time::Duration;
/// use weft_client::{ClientBuilder, Limits};
///
/// let (ws, response) = ClientBuilder::new("ws://example.com/feed")
///     .protocol("feed.v2")
///     .header("authorization", "Bearer abc")?
///     .limits(Limits::default().max_message_size(1 << 20))
///     .handshake_timeout(Duration::from_secs(5))
///     .connect()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    url: String,
    protocols: Vec<String>,
    headers: Vec<(HeaderName, HeaderValue)>,
    limits: Limits,
    config: Config,
    handshake_limits: weft_handshake::Limits,
    connect_timeout: Duration,
    handshake_timeout: Duration,
    proxy: ProxySetting,
    max_redirects: usize,
    #[cfg(feature = "rustls")]
    tls: ClientTls,
    #[cfg(feature = "deflate")]
    deflate: DeflateConfig,
    #[cfg(feature = "http2")]
    http2: Http2Mode,
    #[cfg(feature = "http2")]
    http2_limits: Http2Limits,
}

impl ClientBuilder {
    /// A builder for `url` (checked when connecting).
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), weft_client::Error> {
    /// let (ws, _response) = weft_client::ClientBuilder::new("ws://127.0.0.1:9001/chat")
    ///     .protocol("chat.v1")
    ///     .connect()
    ///     .await?;
    /// # drop(ws);
    /// # Ok(()) }
    /// ```
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            protocols: Vec::new(),
            headers: Vec::new(),
            limits: Limits::default(),
            config: Config::default(),
            handshake_limits: weft_handshake::Limits::default(),
            connect_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            proxy: ProxySetting::Direct,
            max_redirects: 0,
            #[cfg(feature = "rustls")]
            tls: ClientTls::default(),
            #[cfg(feature = "deflate")]
            deflate: DeflateConfig::default(),
            #[cfg(feature = "http2")]
            http2: Http2Mode::Off,
            #[cfg(feature = "http2")]
            http2_limits: Http2Limits::default(),
        }
    }

    /// Whether to open the WebSocket as a stream of an HTTP/2 connection (RFC 8441):
    /// [`Http2Mode::Off`] (the default: an HTTP/1.1 upgrade), [`Http2Mode::Auto`] (HTTP/2
    /// when TLS's ALPN chooses it and the server enables extended CONNECT, else HTTP/1.1) or
    /// [`Http2Mode::Required`] (HTTP/2 or an error; over `ws://`, h2c with prior knowledge).
    /// To open many WebSockets on one connection, see
    /// [`connect_http2`](Self::connect_http2).
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), weft_client::Error> {
    /// use weft_client::{ClientBuilder, Http2Mode};
    ///
    /// let (ws, response) = ClientBuilder::new("wss://example.com/chat")
    ///     .http2(Http2Mode::Auto)
    ///     .connect()
    ///     .await?;
    /// println!("over {:?}", response.version());
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "http2")]
    #[cfg_attr(docsrs, doc(cfg(feature = "http2")))]
    pub fn http2(mut self, mode: Http2Mode) -> Self {
        self.http2 = mode;
        self
    }

    /// The bounds on the HTTP/2 connection (flow-control windows, header list size, reset
    /// floods); see [`Http2Limits`] for the defaults.
    ///
    /// ```
    /// use weft_client::{ClientBuilder, Http2Limits, Http2Mode};
    /// let builder = ClientBuilder::new("wss://example.com/feed")
    ///     .http2(Http2Mode::Auto)
    ///     .http2_limits(Http2Limits::default().stream_window(1 << 20));
    /// # let _ = builder;
    /// ```
    #[cfg(feature = "http2")]
    #[cfg_attr(docsrs, doc(cfg(feature = "http2")))]
    pub fn http2_limits(mut self, limits: Http2Limits) -> Self {
        self.http2_limits = limits;
        self
    }

    /// permessage-deflate settings; `DeflateConfig::default().enabled(false)` offers none.
    ///
    /// ```
    /// use weft_client::{ClientBuilder, DeflateConfig};
    /// // Text that does not compress (already compressed media, say): do not offer it.
    /// let builder = ClientBuilder::new("wss://example.com/media")
    ///     .deflate(DeflateConfig::default().enabled(false));
    /// # let _ = builder;
    /// ```
    #[cfg(feature = "deflate")]
    #[cfg_attr(docsrs, doc(cfg(feature = "deflate")))]
    pub fn deflate(mut self, deflate: DeflateConfig) -> Self {
        self.deflate = deflate;
        self
    }

    /// How `wss://` servers are authenticated (extra CA certificates, or a ready rustls
    /// configuration).
    ///
    /// ```no_run
    /// # fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use weft_client::{ClientBuilder, ClientTls};
    /// // A server with a certificate from the company's own CA.
    /// let ca = std::fs::read("/etc/ssl/company-ca.pem")?;
    /// let builder = ClientBuilder::new("wss://internal.example.com/feed")
    ///     .tls(ClientTls::default().add_root_pem(&ca)?);
    /// # let _ = builder;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "rustls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
    pub fn tls(mut self, tls: ClientTls) -> Self {
        self.tls = tls;
        self
    }

    /// Offers a subprotocol (`Sec-WebSocket-Protocol`), in order of preference.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), weft_client::Error> {
    /// let (ws, response) = weft_client::ClientBuilder::new("wss://example.com/graphql")
    ///     .protocol("graphql-transport-ws")
    ///     .protocol("graphql-ws")
    ///     .connect()
    ///     .await?;
    /// println!("{:?}", response.headers().get("sec-websocket-protocol"));
    /// # drop(ws);
    /// # Ok(()) }
    /// ```
    pub fn protocol(mut self, protocol: impl Into<String>) -> Self {
        self.protocols.push(protocol.into());
        self
    }

    /// Adds a header to the upgrade request (not one the handshake sets itself).
    ///
    /// ```
    /// use weft_client::{ClientBuilder, Error};
    /// let builder = ClientBuilder::new("wss://example.com/feed")
    ///     .header("authorization", "Bearer abc")?;
    /// # let _ = builder;
    /// // Names and values are checked here.
    /// assert!(matches!(
    ///     ClientBuilder::new("wss://example.com").header("bad name", "x"),
    ///     Err(Error::InvalidHeader)
    /// ));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn header<K, V>(mut self, name: K, value: V) -> Result<Self, Error>
    where
        K: TryInto<HeaderName>,
        V: TryInto<HeaderValue>,
    {
        let name = name.try_into().map_err(|_| Error::InvalidHeader)?;
        let value = value.try_into().map_err(|_| Error::InvalidHeader)?;
        self.headers.push((name, value));
        Ok(self)
    }

    /// The limits on what the server may send.
    ///
    /// ```
    /// use weft_client::{ClientBuilder, Limits};
    /// // A feed of small messages: anything over 64 KiB is an attack or a bug.
    /// let builder = ClientBuilder::new("wss://example.com/ticks")
    ///     .limits(Limits::default().max_message_size(64 << 10));
    /// # let _ = builder;
    /// ```
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The connection's behaviour (timeouts, keepalive, buffering).
    ///
    /// ```
    /// use std::time::Duration;
    /// use weft_client::{ClientBuilder, Config};
    /// // Notice a dead server within about 20 s.
    /// let builder = ClientBuilder::new("wss://example.com/feed").config(
    ///     Config::default()
    ///         .ping_interval(Some(Duration::from_secs(10)))
    ///         .ping_timeout(Duration::from_secs(10)),
    /// );
    /// # let _ = builder;
    /// ```
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// The caps on the server's response head.
    ///
    /// ```
    /// let builder = weft_client::ClientBuilder::new("wss://example.com")
    ///     .handshake_limits(weft_handshake::Limits::default().with_max_refusal_body(16 << 10));
    /// # let _ = builder;
    /// ```
    pub fn handshake_limits(mut self, limits: weft_handshake::Limits) -> Self {
        self.handshake_limits = limits;
        self
    }

    /// How long name resolution and the TCP connect may take; through a proxy, everything up
    /// to the open tunnel (TLS with an `https://` proxy and its `CONNECT`, or the SOCKS5
    /// negotiation) counts too.
    ///
    /// ```
    /// use std::time::Duration;
    /// let builder = weft_client::ClientBuilder::new("wss://example.com")
    ///     .connect_timeout(Duration::from_secs(3));
    /// # let _ = builder;
    /// ```
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long the opening handshake may take, from the TLS handshake (for `wss://`) to the
    /// `101`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let builder = weft_client::ClientBuilder::new("wss://example.com")
    ///     .handshake_timeout(Duration::from_secs(5));
    /// # let _ = builder;
    /// ```
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Goes through this proxy to every server (HTTP `CONNECT` or SOCKS5, see [`Proxy`]).
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), weft_client::Error> {
    /// use weft_client::{ClientBuilder, Proxy};
    ///
    /// let (ws, _) = ClientBuilder::new("wss://example.com/feed")
    ///     .proxy(Proxy::parse("http://proxy.corp.example:3128")?.with_credentials("alice", "s3cret"))
    ///     .connect()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn proxy(mut self, proxy: Proxy) -> Self {
        self.proxy = ProxySetting::Fixed(proxy);
        self
    }

    /// Goes through the proxy the environment names for each server, if any (`https_proxy`
    /// for `wss://`, `http_proxy` for `ws://`, `all_proxy` for both, `no_proxy` for the
    /// exceptions; see [`Proxy::from_env`]). The variables are read at each connection.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), weft_client::Error> {
    /// let (ws, _) = weft_client::ClientBuilder::new("wss://example.com/feed")
    ///     .proxy_from_env()
    ///     .connect()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn proxy_from_env(mut self) -> Self {
        self.proxy = ProxySetting::FromEnv;
        self
    }

    /// Follows up to `max` redirects (`301`, `302`, `303`, `307`, `308` with a `Location`) in
    /// answer to the handshake; 0, the default, makes a redirect an error that carries the
    /// response. A `wss://` URL is never left for `ws://` ([`Error::InsecureRedirect`]), and
    /// `Authorization` and `Cookie` headers are not sent on once a redirect leaves the URL's
    /// scheme, host and port. Each attempt has the whole connect and handshake timeouts.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), weft_client::Error> {
    /// let (ws, _) = weft_client::ClientBuilder::new("ws://example.com/old-path")
    ///     .max_redirects(5)
    ///     .connect()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn max_redirects(mut self, max: usize) -> Self {
        self.max_redirects = max;
        self
    }

    /// Connects to the URL's host (through the proxy, if one is set) and runs the handshake
    /// (TLS first, for `wss://`); over HTTP/2 when [`http2`](Self::http2) asks for it and the
    /// server agrees; following redirects when [`max_redirects`](Self::max_redirects) allows.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), weft_client::Error> {
    /// use weft_client::{ClientBuilder, Error};
    /// match ClientBuilder::new("wss://example.com/chat").max_redirects(3).connect().await {
    ///     Ok((_ws, response)) => println!("upgraded: {}", response.status()),
    ///     Err(Error::Timeout { phase, after }) => println!("{phase} took longer than {after:?}"),
    ///     Err(err) => println!("{err}"),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn connect(self) -> Result<(WebSocket<ClientStream>, Response), Error> {
        let span = trace::connection_span(&self.url);
        trace::instrument(self.connect_following(&span), &span)
            .await
            .inspect_err(|err| trace::failed(&span, err))
    }

    /// [`connect`](Self::connect), following redirects, reporting in `span`.
    async fn connect_following(
        self,
        span: &Span,
    ) -> Result<(WebSocket<ClientStream>, Response), Error> {
        let origin = self.url.clone();
        let mut attempt = self;
        let mut followed = 0;
        loop {
            // A copy for the next attempt, only when a redirect may be followed.
            let next = (attempt.max_redirects > 0).then(|| attempt.clone());
            let url = attempt.url.clone();
            let err = match attempt.connect_once(span).await {
                Ok(connected) => return Ok(connected),
                Err(err) => err,
            };
            let Some(mut builder) = next else {
                return Err(err);
            };
            match redirect::next(&url, err, followed, builder.max_redirects) {
                redirect::Next::Follow(location) => {
                    trace::redirected(span, &location);
                    trace::record_server(span, &location);
                    if !redirect::same_origin(&origin, &location) {
                        builder
                            .headers
                            .retain(|(name, _)| !redirect::is_credential(name));
                    }
                    builder.url = location;
                    attempt = builder;
                    followed += 1;
                }
                redirect::Next::Stop(err) => return Err(err),
            }
        }
    }

    /// One attempt at the builder's URL, over HTTP/2 or HTTP/1.1.
    async fn connect_once(self, span: &Span) -> Result<(WebSocket<ClientStream>, Response), Error> {
        #[cfg(feature = "http2")]
        if self.http2 != Http2Mode::Off {
            return http2::connect(self, span).await;
        }
        self.connect_http1(span).await
    }

    /// An HTTP/1.1 upgrade on a new connection.
    async fn connect_http1(
        self,
        span: &Span,
    ) -> Result<(WebSocket<ClientStream>, Response), Error> {
        let (stream, rest) = self.open_transport(Alpn::Http1, span).await?;
        self.handshake_timeout(rest).handshake(stream, span).await
    }

    /// TCP to the URL's host (or a tunnel through the proxy), and TLS for `wss://` offering
    /// the `alpn` protocols; with the part of the handshake timeout the TLS handshake left.
    /// The TCP peer's address goes into `span`.
    async fn open_transport(
        &self,
        alpn: Alpn,
        span: &Span,
    ) -> Result<(ClientStream, Duration), Error> {
        let target = Target::parse(&self.url)?;
        #[cfg(not(feature = "rustls"))]
        let _ = alpn;
        #[cfg(not(feature = "rustls"))]
        if target.secure {
            return Err(Error::TlsUnavailable);
        }
        let proxy = self.proxy.for_target(&target)?;
        let reached = async {
            match &proxy {
                None => connect_tcp(&target).await.map(Tunnel::Tcp),
                Some(proxy) => {
                    let settings = TunnelSettings {
                        // An https:// proxy speaks HTTP/1.1 for CONNECT, and is checked
                        // against the same roots as servers.
                        #[cfg(feature = "rustls")]
                        tls: if proxy.is_tls() {
                            Some(self.tls.config_with_alpn(&[b"http/1.1"])?)
                        } else {
                            None
                        },
                        head_limits: self.handshake_limits,
                    };
                    proxy.open(&target, &settings).await
                }
            }
        };
        let phase = if proxy.is_some() {
            "connect through the proxy"
        } else {
            "connect"
        };
        let tunnel = tokio::time::timeout(self.connect_timeout, reached)
            .await
            .map_err(|_| Error::Timeout {
                phase,
                after: self.connect_timeout,
            })??;
        trace::record_peer(span, || match &tunnel {
            Tunnel::Tcp(tcp) => tcp.peer_addr().ok(),
            #[cfg(feature = "rustls")]
            Tunnel::Tls(tls) => tls.get_ref().0.peer_addr().ok(),
        });
        #[cfg(feature = "rustls")]
        if target.secure {
            let config = self.tls.config_with_alpn(alpn.protocols())?;
            let timeout = self.handshake_timeout;
            let started = tokio::time::Instant::now();
            let secured = async {
                Ok::<_, Error>(match tunnel {
                    Tunnel::Tcp(tcp) => {
                        ClientStream::Tls(Box::new(tls::connect(config, &target.host, tcp).await?))
                    }
                    Tunnel::Tls(proxy_tls) => ClientStream::TlsOverProxyTls(Box::new(
                        tls::connect(config, &target.host, *proxy_tls).await?,
                    )),
                })
            };
            let stream =
                tokio::time::timeout(timeout, secured)
                    .await
                    .map_err(|_| Error::Timeout {
                        phase: "TLS handshake",
                        after: timeout,
                    })??;
            // The TLS handshake counts against the handshake timeout.
            let rest = timeout.saturating_sub(started.elapsed());
            return Ok((stream, rest));
        }
        let stream = match tunnel {
            Tunnel::Tcp(tcp) => ClientStream::Plain(tcp),
            #[cfg(feature = "rustls")]
            Tunnel::Tls(proxy_tls) => ClientStream::ProxyTls(proxy_tls),
        };
        Ok((stream, self.handshake_timeout))
    }

    /// Runs the handshake over `stream`, already connected to the server.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// // A stream opened some other way: here a TCP connection through an SSH tunnel on port 9000.
    /// let tcp = tokio::net::TcpStream::connect("127.0.0.1:9000").await?;
    /// let (ws, _response) = weft_client::ClientBuilder::new("wss://internal.example.com/feed")
    ///     .protocol("feed.v2")
    ///     .connect_on(tcp)
    ///     .await?;
    /// # drop(ws);
    /// # Ok(()) }
    /// ```
    pub async fn connect_on<S>(self, stream: S) -> Result<(WebSocket<S>, Response), Error>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let span = trace::connection_span(&self.url);
        trace::instrument(self.handshake(stream, &span), &span)
            .await
            .inspect_err(|err| trace::failed(&span, err))
    }

    /// [`connect_on`](Self::connect_on), the WebSocket reporting in `span`.
    async fn handshake<S>(self, stream: S, span: &Span) -> Result<(WebSocket<S>, Response), Error>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let handshake = self.handshake_builder(&self.url).build()?;
        let timeout = self.handshake_timeout;
        let (stream, upgraded, rest) =
            tokio::time::timeout(timeout, handshake_on(stream, handshake, &self.url))
                .await
                .map_err(|_| Error::Timeout {
                    phase: "handshake",
                    after: timeout,
                })??;
        let (response, negotiated) = upgraded.into_parts();
        let conn = self.connection(&negotiated)?;
        let mut ws = WebSocket::from_parts(stream, conn, rest);
        trace::accepted(span, &mut ws, &response);
        Ok((ws, response))
    }

    /// The sans-IO handshake for `url` with this builder's offers, headers and caps.
    fn handshake_builder(&self, url: &str) -> weft_handshake::ClientBuilder {
        let mut builder = ClientHandshake::builder(url)
            .protocols(self.protocols.iter().cloned())
            .limits(self.handshake_limits);
        for (name, value) in &self.headers {
            builder = builder.header(name.clone(), value.clone());
        }
        #[cfg(feature = "deflate")]
        for offer in self.deflate.client_offers() {
            builder = builder.extension(offer);
        }
        builder
    }

    /// The client connection for what the handshake agreed: this builder's limits and
    /// settings, and permessage-deflate if agreed.
    #[cfg_attr(
        not(feature = "deflate"),
        allow(
            clippy::unnecessary_wraps,
            reason = "only agreeing to permessage-deflate can fail"
        )
    )]
    fn connection(&self, negotiated: &weft_handshake::Negotiated) -> Result<Connection, Error> {
        #[allow(unused_mut, reason = "only extensions change it")]
        let mut conn = Connection::new(Role::Client)
            .with_limits(self.limits.clone())
            .with_config(self.config.clone());
        #[cfg(feature = "deflate")]
        if let Some(deflate) = self.deflate.client_extension(negotiated.extensions())? {
            conn = conn.with_extension(Box::new(deflate));
        }
        #[cfg(not(feature = "deflate"))]
        let _ = negotiated;
        Ok(conn)
    }
}

/// Sends the request and reads the response; returns the stream, the validated response and
/// the bytes read after it (the first WebSocket frames).
async fn handshake_on<S>(
    mut stream: S,
    mut handshake: ClientHandshake,
    url: &str,
) -> Result<(S, weft_handshake::Upgraded, BytesMut), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    stream.write_all(&handshake.to_vec()).await?;
    stream.flush().await?;
    let mut buf = BytesMut::with_capacity(1024);
    // A TLS server answers an HTTP request with a TLS record (an alert), which is not HTTP.
    let tls_answer = |buf: &BytesMut, err: weft_handshake::Error| {
        if is_tls_record(buf) {
            Error::ServerExpectsTls {
                url: url.to_owned(),
            }
        } else {
            Error::Handshake(err)
        }
    };
    loop {
        match handshake.parse_response(&buf) {
            Ok(Parsed::Complete { value, consumed }) => {
                buf.advance(consumed);
                return Ok((stream, value, buf));
            }
            Ok(Parsed::Partial) => {}
            Err(err) => return Err(tls_answer(&buf, err)),
        }
        if stream.read_buf(&mut buf).await? == 0 {
            let (value, consumed) = handshake
                .parse_response_eof(&buf)
                .map_err(|err| tls_answer(&buf, err))?;
            buf.advance(consumed);
            return Ok((stream, value, buf));
        }
    }
}

/// Whether `buf` starts like a TLS record: an alert or a handshake, of TLS 1.0 to 1.3
/// (RFC 8446 §5.1: content type, then the legacy version 3.x).
fn is_tls_record(buf: &[u8]) -> bool {
    matches!(buf, [0x15 | 0x16, 0x03, 0x00..=0x04, ..])
}

/// What TLS offers by ALPN (RFC 7301).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Alpn {
    /// `http/1.1`: an HTTP/1.1 upgrade.
    Http1,
    /// `h2` first, then `http/1.1`: HTTP/2 if the server speaks it. Even when HTTP/2 is
    /// required, `http/1.1` is offered too, so that a server without HTTP/2 completes the TLS
    /// handshake and the client can say what is missing (rather than a TLS alert).
    #[cfg(feature = "http2")]
    Http2OrHttp1,
}

impl Alpn {
    #[cfg(feature = "rustls")]
    fn protocols(self) -> &'static [&'static [u8]] {
        match self {
            Alpn::Http1 => &[b"http/1.1"],
            #[cfg(feature = "http2")]
            Alpn::Http2OrHttp1 => &[b"h2", b"http/1.1"],
        }
    }
}

/// Where a URL points.
#[derive(Debug)]
pub(crate) struct Target {
    /// The host, an IPv6 literal without brackets.
    pub(crate) host: String,
    pub(crate) port: u16,
    /// `wss://`.
    pub(crate) secure: bool,
}

impl Target {
    pub(crate) fn parse(url: &str) -> Result<Self, Error> {
        let invalid = |reason: &'static str| Error::InvalidUrl {
            url: url.to_owned(),
            reason,
        };
        if !url.contains("://") {
            return Err(invalid("no scheme (ws:// or wss://)"));
        }
        let uri: Uri = url.parse().map_err(|_| invalid("not a URI"))?;
        let secure = match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
            Some("ws") => false,
            Some("wss") => true,
            Some(_) => return Err(invalid("the scheme must be ws or wss")),
            None => return Err(invalid("no scheme (ws:// or wss://)")),
        };
        let host = uri.host().ok_or_else(|| invalid("no host"))?;
        let host = authority::bare_host(host).to_owned();
        if host.is_empty() {
            return Err(invalid("no host"));
        }
        // `Uri` reports a port that is not a `u16` as no port; it must not mean the default.
        let port = uri
            .authority()
            .map_or(Ok(None), |authority| authority::port(authority.as_str()))
            .map_err(|port| Error::InvalidPort {
                url: url.to_owned(),
                port,
            })?
            .unwrap_or(if secure { 443 } else { 80 });
        Ok(Self { host, port, secure })
    }
}

/// Resolves the host and connects to the first address that answers.
async fn connect_tcp(target: &Target) -> Result<TcpStream, Error> {
    let addrs = tokio::net::lookup_host((target.host.as_str(), target.port))
        .await
        .map_err(|source| Error::Resolve {
            host: target.host.clone(),
            source,
        })?;
    let mut last_error = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(tcp) => {
                // Small frames (pings, chat messages) must not wait for Nagle's algorithm.
                tcp.set_nodelay(true)?;
                return Ok(tcp);
            }
            Err(source) => last_error = Some(Error::Connect { addr, source }),
        }
    }
    Err(last_error.unwrap_or_else(|| Error::Resolve {
        host: target.host.clone(),
        source: std::io::Error::new(std::io::ErrorKind::NotFound, "no addresses"),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_target() {
        let t = Target::parse("ws://example.com/chat").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.secure),
            ("example.com", 80, false)
        );
        let t = Target::parse("WSS://[::1]:8443/x?y=z").unwrap();
        assert_eq!((t.host.as_str(), t.port, t.secure), ("::1", 8443, true));
        for (url, reason) in [
            ("http://example.com", "the scheme must be ws or wss"),
            ("example.com/chat", "no scheme (ws:// or wss://)"),
            ("ws://", "not a URI"),
            ("ws:// bad", "not a URI"),
        ] {
            match Target::parse(url) {
                Err(Error::InvalidUrl { reason: got, .. }) => assert_eq!(got, reason, "{url}"),
                other => panic!("{url}: {other:?}"),
            }
        }
    }

    #[test]
    fn an_invalid_port_is_an_error_that_names_it() {
        for (url, port) in [
            ("ws://127.0.0.1:99999", "99999"),
            ("ws://127.0.0.1:65536/x", "65536"),
            ("ws://127.0.0.1:abc", "abc"),
            ("wss://[::1]:0/", "0"),
        ] {
            let err = Target::parse(url).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("invalid URL {url:?}: the port {port:?} is not a number from 1 to 65535")
            );
        }
        assert_eq!(Target::parse("ws://h:65535").unwrap().port, 65535);
        assert_eq!(Target::parse("ws://h:/x").unwrap().port, 80);
    }

    #[test]
    fn tls_records_are_told_from_http() {
        assert!(is_tls_record(b"\x15\x03\x03\x00\x02\x02\x32"));
        assert!(is_tls_record(b"\x16\x03\x01"));
        assert!(!is_tls_record(b"HTTP/1.1 200 OK"));
        assert!(!is_tls_record(b"\x15"));
    }
}
