//! The server of `cargo xtask bench --compare`'s client-side scenarios: it pushes text
//! messages to a client as fast as the client takes them (`/push/SIZE`), or takes what a client
//! sends and discards it (`/sink`), so that the client's CPU per message is what is measured.
//!
//! ```sh
//! cargo run --release -p weft-benches --example push_server -- 127.0.0.1:9110
//! ```
//!
//! It answers the upgrade with weft-handshake (agreeing to permessage-deflate with weft's
//! defaults when the client offers it, and compressing every message, however small), then:
//!
//! - `/push/SIZE`: encodes a ring of messages of SIZE bytes (JSON-like text, each different)
//!   once, as frames, with the agreed compression (context takeover included), and writes that
//!   ring again and again. Repeating the bytes of a compressed ring is still a valid stream:
//!   the ring's first message was compressed with no history, and every later one refers back
//!   only to messages before it in the ring, which the client has just inflated again. The
//!   server does no work per message, so the client is the limit.
//! - `/sink`: reads into a buffer and drops it, parsing nothing.
//!
//! Like the `echo_*` examples: the listen address is the first argument (port 0 picks one),
//! `listening on ADDR` is printed once bound, and the runtime is tokio's `current_thread`.

use std::io;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use weft_benches::EchoArgs;
use weft_codec::{Connection, Message, Role};
use weft_deflate::DeflateConfig;
use weft_handshake::Parsed;

/// The ring of pushed messages holds at least this many bytes of frames, and this many
/// messages at least, so that a client never sees the same message twice in a row.
const RING_BYTES: usize = 256 << 10;
const MIN_RING: usize = 16;

fn main() -> io::Result<()> {
    weft_benches::serve_echo(EchoArgs::from_env("127.0.0.1:9110", &[])?, serve, serve)
}

async fn serve(mut tcp: impl AsyncRead + AsyncWrite + Unpin) -> io::Result<()> {
    let deflate = DeflateConfig::default().threshold(0);
    let handshake = weft_handshake::Server::builder()
        .extensions(deflate.clone())
        .build()
        .map_err(io::Error::other)?;
    let mut input = BytesMut::with_capacity(4096);
    let mut parser = handshake.parser();
    let (request, head_len) = loop {
        if tcp.read_buf(&mut input).await? == 0 {
            return Ok(());
        }
        match parser.parse(&input).map_err(io::Error::other)? {
            Parsed::Complete { value, consumed } => break (value, consumed),
            Parsed::Partial => {}
        }
    };
    let upgrade = handshake
        .validate(request.into_request())
        .map_err(io::Error::other)?;
    let path = upgrade.request().uri().path().to_owned();
    let accept = handshake.accept(&upgrade);
    tcp.write_all(&accept.to_vec()).await?;
    input.advance(head_len);
    let mut conn = Connection::new(Role::Server);
    if let Some(extension) = deflate
        .server_extension(accept.negotiated().extensions())
        .map_err(io::Error::other)?
    {
        conn = conn.with_extension(Box::new(extension));
    }
    match path.strip_prefix("/push/") {
        Some(size) => {
            let size = size.parse().map_err(io::Error::other)?;
            let ring = encode_ring(&mut conn, size)?;
            loop {
                tcp.write_all(&ring).await?;
            }
        }
        None => {
            let mut sink = vec![0u8; 256 << 10];
            while tcp.read(&mut sink).await? > 0 {}
            Ok(())
        }
    }
}

/// Frames of messages of `size` bytes, one after the other, encoded by `conn` (with its
/// compression, if any).
fn encode_ring(conn: &mut Connection, size: usize) -> io::Result<Vec<u8>> {
    let mut ring = Vec::new();
    let mut index = 0;
    while ring.len() < RING_BYTES || index < MIN_RING {
        conn.send(Message::text(payload(size, index)))
            .map_err(io::Error::other)?;
        while let Some(out) = conn.poll_transmit() {
            let chunk = out.chunk();
            ring.extend_from_slice(chunk);
            let n = chunk.len();
            out.advance(n);
        }
        index += 1;
    }
    Ok(ring)
}

/// `size` bytes of JSON-like text, different for each `index` (its number comes first): a
/// tick, then as many order-book levels as fit, padded with spaces.
fn payload(size: usize, index: usize) -> String {
    let mut text = format!(
        r#"{{"q":{index},"s":"BTC-USD","p":{}.{:02}"#,
        60_000 + index % 977,
        index % 100
    );
    let mut level = 0;
    while text.len() + 24 < size {
        text.push_str(&format!(
            r#","l{level}":[{}.{:02},{}]"#,
            60_000 + (index + level) % 991,
            (index * 7 + level) % 100,
            (index * 13 + level * 7) % 1000
        ));
        level += 1;
    }
    text.truncate(size);
    while text.len() < size {
        text.push(' ');
    }
    text
}
