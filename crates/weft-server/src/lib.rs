//! The WebSocket server of weft, for tokio.
//!
//! - [`accept`] runs the server handshake over one stream you accepted yourself;
//!   [`Acceptor`] configures it (subprotocols, origin policy, a request hook, limits,
//!   handshake timeout).
//! - [`Server`] listens: it hands each upgraded connection to your handler, answers plain
//!   HTTP on the same port, refuses connections over its cap with `503` (by default, as many
//!   as the file-descriptor limit allows), and shuts down gracefully (close 1001 to every
//!   peer, bounded wait).
//! - [`topics`]: publish a message once to every connection subscribed to a topic, with
//!   bounded per-connection queues and a policy for slow subscribers; `redis` (feature
//!   `redis`) spans topics over every node through Redis pub/sub.
//! - [`Stats`] reads the server's counters: connections open and refused, WebSockets closed
//!   by code, limits broken by kind, bytes in and out.
//!
//! # Crate features
//!
//! | feature | default | what |
//! | --- | --- | --- |
//! | `rustls` | no | `wss://` termination through rustls |
//! | `deflate` | no | permessage-deflate (RFC 7692) |
//! | `http2` | no | WebSocket over HTTP/2 (RFC 8441) |
//! | `hyper` | no | accept upgrades a hyper server read (`hyper` module) |
//! | `axum` | no | the `WebSocketUpgrade` extractor for axum (`axum` module) |
//! | `redis` | no | `redis::RedisBridge`: topics across nodes through Redis pub/sub |
//! | `tracing` | no | `tracing` events (the Redis bridge's losses, gaps and dropped messages) |
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use tokio::net::TcpListener;
//! use weft_server::{Message, accept};
//!
//! let listener = TcpListener::bind("127.0.0.1:9001").await?;
//! loop {
//!     let (tcp, _) = listener.accept().await?;
//!     tokio::spawn(async move {
//!         let Ok((mut ws, _accepted)) = accept(tcp).await else { return };
//!         while let Some(Ok(message)) = ws.next().await {
//!             if message.is_text() || message.is_binary() {
//!                 let _ = ws.send(message).await;
//!             }
//!         }
//!     });
//! }
//! # }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]

mod acceptor;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;
mod capacity;
mod error;
#[cfg(feature = "http2")]
mod http2;
#[cfg(feature = "hyper")]
#[cfg_attr(docsrs, doc(cfg(feature = "hyper")))]
pub mod hyper;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub mod redis;
mod server;
mod stats;
mod stream;
mod threads;
#[cfg(feature = "rustls")]
mod tls;
pub mod topics;
mod trace;

use tokio::io::{AsyncRead, AsyncWrite};

pub use acceptor::{Accepted, Acceptor, AcceptorBuilder, PendingWebSocket};
pub use error::Error;
pub use server::{Server, ServerBuilder, ShutdownHandle};
pub use stats::{Stats, StatsSnapshot};
pub use stream::ServerStream;
pub use threads::ServerThreads;
#[cfg(feature = "rustls")]
#[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
pub use tls::TlsConfig;
pub use weft_codec::tokio::WebSocket;
pub use weft_codec::{CloseCode, CloseFrame, Config, Limits, Message, PreparedMessage};
#[cfg(feature = "deflate")]
#[cfg_attr(docsrs, doc(cfg(feature = "deflate")))]
pub use weft_deflate::DeflateConfig;
#[cfg(feature = "http2")]
#[cfg_attr(docsrs, doc(cfg(feature = "http2")))]
pub use weft_h2::Http2Limits;
pub use weft_handshake::{OriginPolicy, Rejection};

/// Runs the server handshake over `stream` with the default [`Acceptor`].
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:9001").await?;
/// let (tcp, _) = listener.accept().await?;
/// let (mut ws, accepted) = weft_server::accept(tcp).await?;
/// println!("{} connected", accepted.request.uri());
/// while let Some(Ok(message)) = ws.next().await {
///     ws.send(message).await?;
/// }
/// # Ok(()) }
/// ```
pub async fn accept<S>(stream: S) -> Result<(WebSocket<S>, Accepted), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    Acceptor::default().accept(stream).await
}
