//! permessage-deflate (RFC 7692) for weft, without I/O: negotiation for both roles, and
//! [`PerMessageDeflate`], a [`weft_codec::Extension`] that compresses and inflates messages
//! within the connection's size limit.
//!
//! DEFLATE is flate2 over zlib-rs, a port of zlib that honours window sizes.
//!
//! # Client
//!
//! 1. [`DeflateConfig::client_offers`]: add each offer, in order, to the handshake request
//!    ([`weft_handshake::ClientBuilder::extension`]).
//! 2. [`DeflateConfig::client_extension`] with the extensions the server agreed to
//!    ([`weft_handshake::Negotiated::extensions`]): checks the response against the offers
//!    and builds the extension, or `None` if the server declined. An error fails the
//!    connection.
//! 3. [`Connection::with_extension`](weft_codec::Connection::with_extension).
//!
//! ```
//! use weft_codec::{Connection, Role};
//! use weft_deflate::DeflateConfig;
//! use weft_handshake::{ClientHandshake, format_extensions, parse_extension_list};
//!
//! let config = DeflateConfig::default().client_max_window_bits(12);
//! let mut builder = ClientHandshake::builder("ws://example.com/");
//! for offer in config.client_offers() {
//!     builder = builder.extension(offer);
//! }
//! let handshake = builder.build()?;
//! assert_eq!(
//!     handshake.request().headers()["sec-websocket-extensions"],
//!     "permessage-deflate; client_max_window_bits=12"
//! );
//!
//! // ... the 101 response agreed to this (Negotiated::extensions):
//! let agreed = parse_extension_list(b"permessage-deflate; client_max_window_bits=10")?;
//! let mut connection = Connection::new(Role::Client);
//! if let Some(deflate) = config.client_extension(&agreed)? {
//!     assert_eq!(deflate.params().client_max_window_bits(), 10);
//!     connection = connection.with_extension(Box::new(deflate));
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Server
//!
//! 1. The [`DeflateConfig`] is the [`ExtensionNegotiator`](weft_handshake::ExtensionNegotiator):
//!    give it to [`weft_handshake::ServerBuilder::extensions`]. It agrees to the first offer
//!    it can honour ([`DeflateConfig::accept_offer`] says why one is declined).
//! 2. [`DeflateConfig::server_extension`] with what the server agreed to (the
//!    [`Accept`](weft_handshake::Accept)'s [`Negotiated::extensions`](weft_handshake::Negotiated::extensions)).
//! 3. [`Connection::with_extension`](weft_codec::Connection::with_extension).
//!
//! ```
//! use weft_codec::{Connection, Role};
//! use weft_deflate::DeflateConfig;
//! use weft_handshake::Server;
//!
//! let config = DeflateConfig::default().server_no_context_takeover(true);
//! let server = Server::builder().extensions(config.clone()).build()?;
//! let request = http::Request::get("/")
//!     .header("host", "example.com")
//!     .header("upgrade", "websocket")
//!     .header("connection", "upgrade")
//!     .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
//!     .header("sec-websocket-version", "13")
//!     .header("sec-websocket-extensions", "permessage-deflate; client_max_window_bits")
//!     .body(())?;
//! let request = server.validate(request).map_err(|r| r.to_string())?;
//! let accept = server.accept(&request);
//! assert_eq!(
//!     accept.response().headers()["sec-websocket-extensions"],
//!     "permessage-deflate; server_no_context_takeover"
//! );
//! let mut connection = Connection::new(Role::Server);
//! if let Some(deflate) = config.server_extension(accept.negotiated().extensions())? {
//!     connection = connection.with_extension(Box::new(deflate));
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Limits
//!
//! Inflating is bounded by the budget the connection passes, what remains of
//! [`Limits::max_message_size`](weft_codec::Limits::max_message_size): a message that would
//! inflate past it stops there and closes the connection with 1009, however small its
//! compressed form. Invalid DEFLATE data closes with 1007. A compressed message is inflated
//! piece by piece as frames arrive, so its compressed bytes are never held whole.
//!
//! # Memory
//!
//! Compression state lives only while it is needed:
//!
//! - **Nothing before use.** A connection allocates nothing for compression until it sends
//!   or receives its first compressed message; an end that only exchanges messages below the
//!   [threshold](DeflateConfig::threshold) never pays.
//! - **No context takeover: nothing between messages.** A whole message that refers to nothing
//!   before it is compressed, or inflated, with state the thread shares between its
//!   connections (one compressor per level, window and memory level in use, one
//!   decompressor). A connection's own state is made only for a message sent or received in
//!   pieces, and dropped when it ends. [`DeflateConfig::low_memory`] asks for this in both
//!   directions: 1 KiB per connection after use (counted in `tests/memory.rs`).
//! - **Context takeover: the compressor until the connection falls quiet.** Our compressor
//!   must keep its window while messages flow, but a fresh one is always readable by the peer
//!   (it refers to nothing earlier), so it is dropped once no message has passed for
//!   [`Config::extension_release_after`](weft_codec::Config::extension_release_after) (5 s,
//!   checked once per period, so 5 to 10 s after the last message). The decompressor stays
//!   while the peer keeps its context: the peer's next message may refer to its last ones.
//!   With the defaults a connection holds about 320 KiB while busy and 46 KiB once quiet.
//!
//! Heap bytes per connection once allocated, counted with a counting global allocator after
//! a first message (zlib-rs 0.6, x86-64; the same at every compression level):
//!
//! | window bits | compressor, memory level 1 | 5 (default) | 8 (zlib's default) | 9 | decompressor |
//! | --- | --- | --- | --- | --- | --- |
//! | 8 (run as 9), 9 | 134 KiB | 147 KiB | 245 KiB | 357 KiB | 46 KiB |
//! | 10 | 136 KiB | 149 KiB | 247 KiB | 359 KiB | 46 KiB |
//! | 11 | 140 KiB | 153 KiB | 251 KiB | 363 KiB | 46 KiB |
//! | 12 | 148 KiB | 161 KiB | 259 KiB | 371 KiB | 46 KiB |
//! | 13 | 164 KiB | 177 KiB | 275 KiB | 387 KiB | 46 KiB |
//! | 14 | 196 KiB | 209 KiB | 307 KiB | 419 KiB | 46 KiB |
//! | 15 (default) | 260 KiB | 273 KiB | 371 KiB | 483 KiB | 46 KiB |
//!
//! The compressor's window is the window bits of this end's role (`server_max_window_bits`
//! on a server) and costs 4 bytes per window byte; the [memory level](DeflateConfig::memory_level)
//! sizes its output and symbol buffers (7 bytes per symbol, 2^(level + 6) symbols); the rest
//! is zlib-rs's hash table, a fixed 128 KiB whatever the settings. So no compressor that keeps
//! context fits in 64 KiB, which is why the compressor is released rather than shrunk.
//! zlib-rs's decompressor always reserves a 32 KiB window, so limiting the peer's window
//! saves the peer memory, not us.
//!
//! # Window bits of 8
//!
//! RFC 7692 allows windows of 8 to 15 bits; zlib cannot compress a raw stream with an 8-bit
//! window. A negotiated 8 is run as 9 when compressing, which an 8-bit peer still inflates
//! correctly, because zlib never refers back further than the window size minus 262 bytes
//! (250 bytes at 9 bits). Inflating always accepts 8-bit streams (it uses at least 9 bits).
//! So every window size from 8 to 15 can be agreed to, in either direction.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]

mod codec;
mod config;
mod error;
mod negotiate;

pub use codec::PerMessageDeflate;
pub use config::DeflateConfig;
pub use error::Error;
pub use negotiate::{DeflateParams, EXTENSION_NAME};

// The README's examples are compiled as doctests, so they cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
