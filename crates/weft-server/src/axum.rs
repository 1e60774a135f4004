//! The axum 0.8 extractor (feature `axum`): [`WebSocketUpgrade`], with the shape of axum's
//! own (`ws.protocols([..]).on_upgrade(|socket| ..)`) and weft's WebSocket underneath:
//! permessage-deflate, weft's limits and keepalive, and the same decision as weft's server
//! for every request ([`Acceptor::decide`], or [`Acceptor::decide_extended_connect`] for
//! WebSockets over HTTP/2, which `axum::serve` enables).
//!
//! The [`Acceptor`] comes from the request's extensions, so one is set for a router (or a
//! route) with `.layer(axum::Extension(acceptor))`; without one, [`Acceptor::default`].
//!
//! ```no_run
//! use axum::Router;
//! use axum::routing::{any, get};
//! use weft_server::axum::WebSocketUpgrade;
//! use weft_server::{Acceptor, Message};
//!
//! async fn chat(ws: WebSocketUpgrade) -> axum::response::Response {
//!     ws.protocols(["chat.v2", "chat.v1"]).on_upgrade(|mut socket| async move {
//!         while let Some(Ok(message)) = socket.next().await {
//!             if message.is_text() && socket.send(message).await.is_err() {
//!                 break;
//!             }
//!         }
//!     })
//! }
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let acceptor = Acceptor::builder().build()?;
//! let app = Router::new()
//!     .route("/", get(|| async { "hello" }))
//!     // `any`: an HTTP/1.1 upgrade is a GET, an HTTP/2 one a CONNECT.
//!     .route("/chat", any(chat))
//!     .layer(axum::Extension(acceptor));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```

use std::future::Future;
use std::sync::OnceLock;

use axum_core::body::Body;
use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;
use hyper::upgrade::OnUpgrade;
use weft_codec::tokio::WebSocket;

use crate::hyper::{Refused, Upgrade, UpgradedStream, upgrade_parts};
use crate::{Acceptor, Error};

/// The acceptor of requests that carry none.
fn default_acceptor() -> &'static Acceptor {
    static DEFAULT: OnceLock<Acceptor> = OnceLock::new();
    DEFAULT.get_or_init(Acceptor::default)
}

/// Extracts a WebSocket upgrade; [`on_upgrade`](Self::on_upgrade) answers it and runs the
/// connection. A request that is not a valid upgrade is refused with the status weft's
/// server gives (see [`Refused`]); as `Option<WebSocketUpgrade>`, a request that does not
/// ask for a WebSocket at all is `None`, so one route can serve a page and its WebSocket.
///
/// See [the module](self) for an example.
#[must_use]
pub struct WebSocketUpgrade<F = DefaultOnFailedUpgrade> {
    upgrade: Upgrade,
    on_failed_upgrade: F,
}

impl<F> std::fmt::Debug for WebSocketUpgrade<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocketUpgrade")
            .field("upgrade", &self.upgrade)
            .finish_non_exhaustive()
    }
}

impl<F> WebSocketUpgrade<F> {
    /// The subprotocols this route speaks, in order of preference: the first the client
    /// offered is chosen (and none if it offered none of them), replacing the acceptor's
    /// choice.
    ///
    /// ```
    /// use axum::response::Response;
    /// use weft_server::axum::WebSocketUpgrade;
    ///
    /// async fn graphql(ws: WebSocketUpgrade) -> Response {
    ///     ws.protocols(["graphql-transport-ws", "graphql-ws"]).on_upgrade(|_socket| async {})
    /// }
    /// # let _ = axum::Router::<()>::new().route("/graphql", axum::routing::any(graphql));
    /// ```
    pub fn protocols<I>(mut self, protocols: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        self.upgrade.pending_mut().select_protocol(protocols);
        self
    }

    /// The subprotocol chosen, if any.
    ///
    /// ```
    /// use axum::response::{IntoResponse, Response};
    /// use weft_server::axum::WebSocketUpgrade;
    ///
    /// async fn chat(ws: WebSocketUpgrade) -> Response {
    ///     let ws = ws.protocols(["chat.v2", "chat.v1"]);
    ///     if ws.selected_protocol().is_none() {
    ///         return (http::StatusCode::BAD_REQUEST, "offer chat.v1 or chat.v2").into_response();
    ///     }
    ///     ws.on_upgrade(|_socket| async {})
    /// }
    /// # let _ = axum::Router::<()>::new().route("/chat", axum::routing::any(chat));
    /// ```
    pub fn selected_protocol(&self) -> Option<&str> {
        self.upgrade.pending().protocol()
    }

    /// The subprotocols the client offered, in its order.
    ///
    /// ```
    /// use axum::response::Response;
    /// use weft_server::axum::WebSocketUpgrade;
    ///
    /// async fn chat(ws: WebSocketUpgrade) -> Response {
    ///     let offered: Vec<String> = ws.requested_protocols().map(str::to_owned).collect();
    ///     ws.on_upgrade(move |_socket| async move { println!("the client offered {offered:?}") })
    /// }
    /// # let _ = axum::Router::<()>::new().route("/chat", axum::routing::any(chat));
    /// ```
    pub fn requested_protocols(&self) -> impl Iterator<Item = &str> {
        self.upgrade
            .pending()
            .offered_protocols()
            .iter()
            .map(String::as_str)
    }

    /// Calls `callback` if hyper fails to hand over the connection after the response was
    /// sent (the client went away, say); by default such failures are ignored.
    ///
    /// ```
    /// use axum::response::Response;
    /// use weft_server::axum::WebSocketUpgrade;
    ///
    /// async fn chat(ws: WebSocketUpgrade) -> Response {
    ///     ws.on_failed_upgrade(|err| eprintln!("the upgrade did not complete: {err}"))
    ///         .on_upgrade(|_socket| async {})
    /// }
    /// # let _ = axum::Router::<()>::new().route("/chat", axum::routing::any(chat));
    /// ```
    pub fn on_failed_upgrade<C: OnFailedUpgrade>(self, callback: C) -> WebSocketUpgrade<C> {
        WebSocketUpgrade {
            upgrade: self.upgrade,
            on_failed_upgrade: callback,
        }
    }

    /// Answers the upgrade and runs `callback` with the WebSocket on a task of its own, once
    /// hyper has handed over the connection. Return the response from the handler.
    ///
    /// ```
    /// use axum::response::Response;
    /// use weft_server::axum::WebSocketUpgrade;
    ///
    /// async fn echo(ws: WebSocketUpgrade) -> Response {
    ///     ws.on_upgrade(|mut socket| async move {
    ///         while let Some(Ok(message)) = socket.next().await {
    ///             if socket.send(message).await.is_err() {
    ///                 break;
    ///             }
    ///         }
    ///     })
    /// }
    /// # let _ = axum::Router::<()>::new().route("/echo", axum::routing::any(echo));
    /// ```
    #[must_use = "to set up the WebSocket connection, this response must be returned"]
    pub fn on_upgrade<C, Fut>(self, callback: C) -> Response
    where
        C: FnOnce(WebSocket<UpgradedStream>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
        F: OnFailedUpgrade,
    {
        let span = self.upgrade.span().clone();
        let (response, websocket) = self.upgrade.into_parts::<Body>();
        let on_failed_upgrade = self.on_failed_upgrade;
        let connection = async move {
            match websocket.await {
                Ok((socket, _accepted)) => callback(socket).await,
                Err(err) => on_failed_upgrade.call(err),
            }
        };
        tokio::spawn(crate::trace::instrument(connection, &span));
        response
    }
}

impl<S: Send + Sync> FromRequestParts<S> for WebSocketUpgrade<DefaultOnFailedUpgrade> {
    type Rejection = Refused;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Refused> {
        let acceptor = parts
            .extensions
            .get::<Acceptor>()
            .unwrap_or_else(|| default_acceptor())
            .clone();
        // The upgrade is taken out: only one extractor may answer it.
        let on_upgrade = parts.extensions.remove::<OnUpgrade>();
        let upgrade = upgrade_parts(&acceptor, parts.clone(), on_upgrade)?;
        Ok(Self {
            upgrade,
            on_failed_upgrade: DefaultOnFailedUpgrade,
        })
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for WebSocketUpgrade<DefaultOnFailedUpgrade> {
    type Rejection = Refused;

    /// `None` for a request that does not ask for a WebSocket; a request that asks for one
    /// but is not valid is still refused.
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Option<Self>, Refused> {
        let mut head = http::Request::new(());
        *head.method_mut() = parts.method.clone();
        *head.version_mut() = parts.version;
        *head.headers_mut() = parts.headers.clone();
        if !weft_handshake::is_upgrade_request(&head) {
            return Ok(None);
        }
        <Self as FromRequestParts<S>>::from_request_parts(parts, state)
            .await
            .map(Some)
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        Refused::into_response::<Body>(self)
    }
}

/// What to do when hyper fails to hand over an upgraded connection; see
/// [`WebSocketUpgrade::on_failed_upgrade`].
///
/// ```
/// use weft_server::{Error, axum::OnFailedUpgrade};
///
/// /// Counts upgrades that never completed.
/// struct CountFailures(std::sync::Arc<std::sync::atomic::AtomicU64>);
///
/// impl OnFailedUpgrade for CountFailures {
///     fn call(self, _error: Error) {
///         self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
///     }
/// }
/// ```
pub trait OnFailedUpgrade: Send + 'static {
    /// Called with the failure.
    fn call(self, error: Error);
}

impl<F> OnFailedUpgrade for F
where
    F: FnOnce(Error) + Send + 'static,
{
    fn call(self, error: Error) {
        self(error);
    }
}

/// The default [`OnFailedUpgrade`]: the failure is ignored.
///
/// ```
/// use weft_server::axum::{DefaultOnFailedUpgrade, OnFailedUpgrade};
/// // What `WebSocketUpgrade` does unless told otherwise: nothing.
/// DefaultOnFailedUpgrade::default().call(weft_server::Error::Closed);
/// ```
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct DefaultOnFailedUpgrade;

impl OnFailedUpgrade for DefaultOnFailedUpgrade {
    fn call(self, _error: Error) {}
}
