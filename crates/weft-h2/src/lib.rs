//! WebSocket over HTTP/2 (RFC 8441) for weft: the parts the client and the server share.
//!
//! HTTP/2 itself (frames, HPACK, flow control, the mitigations for the known HTTP/2 attacks)
//! is the job of hyperium's [`h2`]; the opening handshake's decisions (extended CONNECT,
//! subprotocols, extensions, origins) are `weft-handshake`'s. This crate holds what lies
//! between, used by both `weft-client` and `weft-server` (feature `http2`):
//!
//! - [`H2Stream`]: one HTTP/2 stream as the `AsyncRead + AsyncWrite` byte stream a
//!   `WebSocket` runs over, with flow control as backpressure, `END_STREAM` as the end of the
//!   data and `RST_STREAM` as an abnormal closure;
//! - [`Http2Limits`]: the bounds on one connection (streams, windows, header list size,
//!   reset floods, idle time), applied to h2's builders with extended CONNECT enabled;
//! - [`detect_preface`] and [`Prefixed`]: HTTP/2 with prior knowledge (h2c) on a port that
//!   also serves HTTP/1.1.
//!
//! ```no_run
//! # async fn demo(tcp: tokio::net::TcpStream) -> Result<(), Box<dyn std::error::Error>> {
//! use weft_h2::{H2Stream, Http2Limits};
//!
//! // A server connection: every extended CONNECT stream becomes a byte stream.
//! let mut connection = Http2Limits::default().server_builder().handshake(tcp).await?;
//! while let Some(accepted) = connection.accept().await {
//!     let (request, mut respond) = accepted?;
//!     let send = respond.send_response(http::Response::new(()), false)?;
//!     let stream = H2Stream::new(send, request.into_body());
//!     // ... run a WebSocket over `stream` on a task of its own ...
//!     # drop(stream);
//! }
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod limits;
mod preface;
mod stream;

pub use h2;
pub use limits::Http2Limits;
pub use preface::{PREFACE, Preface, Prefixed, detect_preface};
pub use stream::{H2Stream, io_error};
