//! The WebSocket protocol (RFC 6455) without I/O: frames, masking, close codes, UTF-8
//! validation, and [`Connection`], the state machine of one connection.
//!
//! This crate decides everything about a WebSocket connection that can be decided without a
//! socket or a clock: it takes bytes in and hands bytes and events out, and is told the time.
//! That makes every rule testable with plain data, and lets the same core run under tokio, a
//! different runtime, or a test that feeds it one byte at a time.
//!
//! - [`FrameHeader`] decodes and encodes the three length forms; [`apply_mask`] masks at memory
//!   speed with a running offset.
//! - [`CloseCode`] and [`CloseFrame`] know which codes may travel.
//! - [`Utf8Validator`] fails at the first impossible byte, even across frames.
//! - [`Connection`] reassembles fragments, answers pings, runs the closing handshake with a
//!   timeout, enforces [`Limits`], and maps every violation to its close code
//!   ([`ProtocolError::close_code`]).
//! - [`Extension`] is how permessage-deflate (the `weft-deflate` crate) plugs in.
//! - [`PreparedMessage`] is a message encoded once for many connections (fan-out).
//!
//! # Driving a connection
//!
//! ```
//! use bytes::{Buf, BytesMut};
//! use weft_codec::{CloseCode, Connection, Event, Message, Role, State};
//!
//! /// Moves everything `from` has queued into `to`, as a socket would.
//! fn deliver(from: &mut Connection, to: &mut Connection) {
//!     let mut wire = BytesMut::new();
//!     while let Some(out) = from.poll_transmit() {
//!         let chunk = out.chunk();
//!         wire.extend_from_slice(chunk);
//!         let n = chunk.len();
//!         out.advance(n);
//!     }
//!     to.handle_bytes(&mut wire);
//! }
//!
//! let mut client = Connection::new(Role::Client);
//! let mut server = Connection::new(Role::Server);
//!
//! client.send(Message::text("ping?")).unwrap();
//! deliver(&mut client, &mut server);
//! let Some(Event::Message(msg)) = server.poll_event().unwrap() else { panic!() };
//! server.send(msg).unwrap(); // echo
//! deliver(&mut server, &mut client);
//! assert_eq!(client.poll_event().unwrap(), Some(Event::Message(Message::text("ping?"))));
//!
//! // The closing handshake: the server answers the client's close frame by itself.
//! client.close(CloseCode::NORMAL, "done").unwrap();
//! deliver(&mut client, &mut server);
//! assert!(matches!(server.poll_event().unwrap(), Some(Event::Message(Message::Close(_)))));
//! deliver(&mut server, &mut client);
//! assert!(matches!(client.poll_event().unwrap(), Some(Event::Message(Message::Close(_)))));
//! assert_eq!(server.state(), State::Closed); // the server closes TCP first
//! ```
//!
//! # Features
//!
//! | feature | default | what |
//! | --- | --- | --- |
//! | `tokio` | no | `WebSocket<S>`, an async stream and sink over any tokio I/O type |
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(unsafe_code)] // one exception: `mask::wide`, the runtime-selected SIMD masking

mod close;
mod config;
mod connection;
mod error;
mod extension;
mod frame;
mod mask;
mod message;
mod observer;
mod prepared;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod tokio;
mod transmit;
mod utf8;

pub use close::{CloseCode, CloseFrame};
pub use config::{Config, Limits};
pub use connection::{Connection, Event, Role, State};
pub use error::{Error, ProtocolError};
pub use extension::{Extension, ExtensionError, SharedEncoding};
pub use frame::{FrameHeader, OpCode, Rsv};
pub use mask::apply_mask;
#[doc(hidden)]
pub use mask::{apply_mask_bytewise, apply_mask_portable};
pub use message::{DataKind, Fragment, Message};
pub use observer::Observer;
pub use prepared::PreparedMessage;
pub use transmit::Transmit;
pub use utf8::{Utf8Bytes, Utf8Error, Utf8Validator};

/// Re-exported so users need not name the `bytes` version this crate uses.
pub use bytes;
