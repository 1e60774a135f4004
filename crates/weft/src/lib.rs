//! weft: WebSocket (RFC 6455) for Rust, with a sans-IO core and tokio client and server.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use weft::{CloseCode, Message};
//!
//! let (mut ws, _response) = weft::connect("ws://127.0.0.1:9001").await?;
//! ws.send(Message::text("hello")).await?;
//! while let Some(message) = ws.next().await {
//!     match message? {
//!         Message::Text(text) => {
//!             println!("{text}");
//!             break;
//!         }
//!         _ => {}
//!     }
//! }
//! ws.close(CloseCode::NORMAL, "done").await?;
//! # Ok(()) }
//! ```
//!
//! A server that echoes every message and answers plain HTTP with 404:
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! weft::Server::bind("127.0.0.1:9001")
//!     .await?
//!     .serve(|mut ws, _accepted| async move {
//!         while let Some(Ok(message)) = ws.next().await {
//!             if message.is_text() || message.is_binary() {
//!                 let _ = ws.send(message).await;
//!             }
//!         }
//!     })
//!     .await
//! # }
//! ```
//!
//! The [guide](#guide) below takes one task at a time: connecting, accepting, splitting,
//! streaming large messages, permessage-deflate, TLS, limits, keepalive, shutdown, axum,
//! proxies, WebSocket over HTTP/2 and tracing.
//!
//! # Layers
//!
//! | module | crate | what |
//! | --- | --- | --- |
//! | [`codec`] | `weft-codec` | frames, masking, UTF-8, the sans-IO [`Connection`](codec::Connection), and [`WebSocket`] over tokio |
//! | [`handshake`] | `weft-handshake` | the sans-IO opening handshake |
//! | [`deflate`] | `weft-deflate` | permessage-deflate (RFC 7692) |
//! | [`http2`] | `weft-h2` | an HTTP/2 stream as a WebSocket's transport (RFC 8441), HTTP/2 limits |
//! | [`client`] | `weft-client` | [`connect`], [`ClientBuilder`] |
//! | [`server`] | `weft-server` | [`accept`], [`Acceptor`], [`Server`] |
//!
//! # Crate features
//!
//! | feature | default | what |
//! | --- | --- | --- |
//! | `client` | yes | the tokio client: [`connect`], [`ClientBuilder`] |
//! | `server` | yes | the tokio server: [`accept`], [`Acceptor`], [`Server`] |
//! | `rustls` | yes | `wss://` through rustls with the ring provider: Mozilla roots (webpki-roots) for clients, PEM certificates for servers |
//! | `native-roots` | no | clients also trust the platform's root certificates |
//! | `redis` | no | `server::redis::RedisBridge`: topics across nodes through Redis pub/sub |
//! | `deflate` | yes | permessage-deflate: clients offer it and servers accept it, configured with [`DeflateConfig`] |
//! | `http2` | yes | WebSocket over HTTP/2 (RFC 8441): servers speak HTTP/2 to clients that want it (ALPN `h2`, h2c), clients on request ([`ClientBuilder::http2`], [`ClientBuilder::connect_http2`]); bounded by [`Http2Limits`] |
//! | `hyper` | no | [`hyper::upgrade`]: an upgrade request a hyper 1.x server read (HTTP/1.1, or HTTP/2 extended CONNECT) judged and completed as the built-in server does |
//! | `axum` | no | [`axum::WebSocketUpgrade`], the axum 0.8 extractor: `ws.protocols([..]).on_upgrade(\|socket\| ..)` with weft's WebSocket, permessage-deflate included |
//! | `tracing` | no | a `websocket` span per connection (peer address, role, HTTP version, subprotocol, extensions) and events for the handshake's outcome, how the connection closed, limits and timeouts, at `DEBUG`; nothing per message, nothing at all without a subscriber (see [Tracing](#tracing)); the Redis bridge's losses and gaps at `WARN` |
//! | `full` | no | everything |
#![doc = include_str!("guide.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]

#[doc(inline)]
pub use weft_codec::tokio::{WebSocket, WebSocketReader, WebSocketWriter};
#[doc(inline)]
pub use weft_codec::{
    CloseCode, CloseFrame, Config, DataKind, Error, Event, Fragment, Limits, Message,
    PreparedMessage, State, Utf8Bytes,
};

/// Frames, masking, UTF-8 validation and the sans-IO connection state machine
/// (the `weft-codec` crate).
pub mod codec {
    #[doc(inline)]
    pub use weft_codec::*;
}

/// The sans-IO opening handshake (the `weft-handshake` crate).
pub mod handshake {
    #[doc(inline)]
    pub use weft_handshake::*;
}

/// permessage-deflate, RFC 7692 (the `weft-deflate` crate).
#[cfg(feature = "deflate")]
#[cfg_attr(docsrs, doc(cfg(feature = "deflate")))]
pub mod deflate {
    #[doc(inline)]
    pub use weft_deflate::*;
}

#[cfg(feature = "deflate")]
#[cfg_attr(docsrs, doc(cfg(feature = "deflate")))]
#[doc(inline)]
pub use weft_deflate::DeflateConfig;

/// WebSocket over HTTP/2, RFC 8441 (the `weft-h2` crate).
#[cfg(feature = "http2")]
#[cfg_attr(docsrs, doc(cfg(feature = "http2")))]
pub mod http2 {
    #[doc(inline)]
    pub use weft_h2::*;
}

#[cfg(feature = "http2")]
#[cfg_attr(docsrs, doc(cfg(feature = "http2")))]
#[doc(inline)]
pub use weft_h2::Http2Limits;

#[cfg(all(feature = "client", feature = "http2"))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "client", feature = "http2"))))]
#[doc(inline)]
pub use weft_client::{Http2Connection, Http2Mode};

/// The tokio client (the `weft-client` crate).
#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub mod client {
    #[doc(inline)]
    pub use weft_client::*;
}

/// The tokio server (the `weft-server` crate).
#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub mod server {
    #[doc(inline)]
    pub use weft_server::*;
}

#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
#[doc(inline)]
pub use weft_client::{ClientBuilder, ClientStream, Proxy, connect, connect_on};

#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
#[doc(inline)]
pub use weft_server::{
    Accepted, Acceptor, OriginPolicy, PendingWebSocket, Rejection, Server, ServerStream,
    ShutdownHandle, accept,
};

#[cfg(all(feature = "client", feature = "rustls"))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "client", feature = "rustls"))))]
#[doc(inline)]
pub use weft_client::ClientTls;

#[cfg(all(feature = "server", feature = "rustls"))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "server", feature = "rustls"))))]
#[doc(inline)]
pub use weft_server::TlsConfig;

/// WebSocket upgrades in a hyper 1.x server (`weft_server::hyper`).
#[cfg(feature = "hyper")]
#[cfg_attr(docsrs, doc(cfg(feature = "hyper")))]
pub mod hyper {
    #[doc(inline)]
    pub use weft_server::hyper::*;
}

/// The axum 0.8 extractor, [`WebSocketUpgrade`](axum::WebSocketUpgrade) (`weft_server::axum`).
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum {
    #[doc(inline)]
    pub use weft_server::axum::*;
}
