//! The WebSocket opening handshake (RFC 6455 §4), without I/O.
//!
//! This crate turns bytes into `http` types and back, and decides everything about the
//! handshake that can be decided without a socket: what a client sends, whether a request
//! is a valid upgrade, what a server answers (101 or the precise 4xx), whether a response
//! completes the handshake, and which subprotocol and extensions both sides agreed to.
//! The caller reads and writes the bytes; the async crates of weft are thin loops over it.
//!
//! Parsers are incremental: hand them the connection's buffer after every read and they
//! answer [`Parsed::Partial`] until a message head is complete, then say how many bytes it
//! took. The bytes after it are the WebSocket stream. Every cap on what a peer can make us
//! buffer is in [`Limits`], with a safe default.
//!
//! # Server
//!
//! 1. [`Server::parser`] → [`RequestParser::parse`] until complete: a [`Request`].
//! 2. [`Request::Plain`] is ordinary HTTP to answer as you like (RFC 6455 §1.5: one port
//!    for both). [`Request::Upgrade`] goes to [`Server::validate`]: an [`UpgradeRequest`].
//! 3. [`Server::accept`] picks the subprotocol and extensions and builds the 101: write
//!    [`Accept::to_vec`].
//!
//! Any step can fail with a [`Rejection`] (400, 403, 405, 414, 426, 431): write
//! [`Rejection::to_vec`], then close.
//!
//! ```
//! use weft_handshake::{Parsed, Request, Server};
//!
//! let server = Server::builder().protocols(["chat"]).build()?;
//! let mut parser = server.parser();
//! let mut buf = Vec::new();
//! let mut out = Vec::new();
//!
//! // Bytes arrive in pieces; the last piece carries the first frame too.
//! let pieces: [&[u8]; 2] = [
//!     b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n",
//!     b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
//!       Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Version: 13\r\n\r\n\x81\x80",
//! ];
//! for piece in pieces {
//!     buf.extend_from_slice(piece);
//!     let (request, consumed) = match parser.parse(&buf) {
//!         Ok(Parsed::Partial) => continue,
//!         Ok(Parsed::Complete { value, consumed }) => (value, consumed),
//!         Err(rejection) => {
//!             out.extend(rejection.to_vec());
//!             break;
//!         }
//!     };
//!     match request {
//!         Request::Upgrade(request) => match server.validate(request) {
//!             Ok(request) => out.extend(server.accept(&request).to_vec()),
//!             Err(rejection) => out.extend(rejection.to_vec()),
//!         },
//!         Request::Plain(_) => out.extend(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
//!         _ => {}
//!     }
//!     buf.drain(..consumed); // what is left is the WebSocket stream
//! }
//! assert!(out.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
//! assert_eq!(buf, b"\x81\x80");
//! # Ok::<(), weft_handshake::Error>(())
//! ```
//!
//! # Client
//!
//! 1. [`ClientHandshake::builder`] with a `ws://` or `wss://` URI, subprotocols, extension
//!    offers and headers → [`ClientBuilder::build`]: write [`ClientHandshake::to_vec`].
//! 2. [`ClientHandshake::parse_response`] until complete: an [`Upgraded`] with the agreed
//!    subprotocol and extensions. A status other than 101 is [`Error::Refused`], with the
//!    headers and body so the user can see why; [`ClientHandshake::parse_response_eof`]
//!    gives the answer when the connection closes first.
//!
//! ```
//! use weft_handshake::{ClientHandshake, Error, Extension, Parsed, accept_key};
//!
//! let mut handshake = ClientHandshake::builder("ws://example.com:8080/chat?room=7")
//!     .protocols(["chat.v2", "chat.v1"])
//!     .extension(Extension::new("permessage-deflate")?)
//!     .build()?;
//! let request = handshake.to_vec();
//! assert!(request.starts_with(b"GET /chat?room=7 HTTP/1.1\r\nHost: example.com:8080\r\n"));
//!
//! // What the server might answer, arriving in two reads.
//! let response = format!(
//!     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
//!      Sec-WebSocket-Accept: {}\r\nSec-WebSocket-Protocol: chat.v1\r\n\r\n",
//!     accept_key(handshake.key().as_bytes())
//! );
//! let (first, _) = response.split_at(20);
//! assert!(matches!(handshake.parse_response(first.as_bytes())?, Parsed::Partial));
//! let Parsed::Complete { value, consumed } = handshake.parse_response(response.as_bytes())? else {
//!     unreachable!("the head is complete")
//! };
//! assert_eq!(consumed, response.len());
//! assert_eq!(value.negotiated().protocol(), Some("chat.v1"));
//! assert!(value.negotiated().extensions().is_empty()); // the server declined deflate
//! # Ok::<(), Error>(())
//! ```
//!
//! # HTTP/2 (RFC 8441)
//!
//! Over HTTP/2 a WebSocket is one stream of a shared connection, opened with an extended
//! CONNECT (`:method` CONNECT, `:protocol` websocket) and accepted with `200`; there is no
//! key, no `Upgrade` and no `101`. HTTP/2 itself (frames, HPACK, flow control) is the `h2`
//! crate's job; this crate makes the same decisions as for HTTP/1.1 on the `http` types:
//!
//! - Server: [`Server::validate_extended_connect`] (with the `:protocol` value, which the
//!   `http` types do not carry) → [`UpgradeRequest`] → [`Server::accept`] gives the `200`.
//!   Subprotocol, extensions and origin policy are decided exactly as for HTTP/1.1; a
//!   refusal goes out through [`Rejection::into_http2_response`].
//! - Client: [`ClientBuilder::build_extended_connect`] gives the request and an
//!   [`ExtendedConnect`] that checks the response.
//!
//! ```
//! use weft_handshake::{ClientBuilder, ExtendedConnect, Server};
//!
//! let server = Server::builder().protocols(["chat"]).build()?;
//! let (request, check) = ClientBuilder::new("wss://example.com/chat")
//!     .protocol("chat")
//!     .build_extended_connect()?;
//! // ... the request travels as HEADERS with :protocol = websocket ...
//! let request = server
//!     .validate_extended_connect(request, Some(ExtendedConnect::PROTOCOL))
//!     .map_err(|rejection| rejection.to_string())?;
//! let (response, _agreed) = server.accept(&request).into_parts();
//! assert_eq!(response.status(), 200);
//! // ... and the response comes back as HEADERS.
//! let upgraded = check.check_response(response)?;
//! assert_eq!(upgraded.negotiated().protocol(), Some("chat"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Extensions
//!
//! The crate knows no extension. It parses and writes the `Sec-WebSocket-Extensions`
//! grammar of RFC 6455 §9.1 ([`parse_extensions`], [`format_extensions`], [`Extension`]),
//! and lets an extension crate negotiate through [`ExtensionNegotiator`] on the server; on
//! the client, [`Negotiated::extensions`] hands the agreed parameters to that crate.

#![forbid(unsafe_code)]

mod client;
mod error;
mod extensions;
mod head;
mod headers;
mod key;
mod limits;
mod origin;
mod server;
mod write;

pub use client::{ClientBuilder, ClientHandshake, ExtendedConnect, Upgraded};
pub use error::Error;
pub use extensions::{
    Extension, ExtensionNegotiator, ExtensionParam, format_extensions, parse_extension_list,
    parse_extensions,
};
pub use head::{Parsed, ResponseParser};
pub use key::{accept_key, generate_key};
pub use limits::Limits;
pub use origin::OriginPolicy;
pub use server::{
    Accept, Negotiated, Rejection, Request, RequestParser, Server, ServerBuilder, UpgradeRequest,
    is_upgrade_request,
};
pub use write::{write_request, write_response};

// The README's examples are compiled as doctests, so they cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
