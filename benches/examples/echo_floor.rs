//! The floor for `cargo xtask bench --compare --servers …,floor`: an echo on the same tokio
//! runtime with as little WebSocket work as an echo can do, so that each library's CPU time per
//! message can be read against what the kernel and tokio cost by themselves.
//!
//! ```sh
//! cargo run --release -p weft-benches --example echo_floor -- 127.0.0.1:9105
//! ```
//!
//! **Not a WebSocket server.** It answers the upgrade (weft-handshake, outside what is
//! measured), then sends each frame back unmasked, one write per read. It checks nothing beyond
//! what decoding a header needs: no UTF-8, no limits, no reserved bits, no fragmentation rules,
//! no pings; a close frame is echoed and ends the connection. It trusts its peer (`weft bench`),
//! which no server may do. What it keeps is what every echo must do: read, find the frames
//! (weft-codec's `FrameHeader`), unmask (weft's `apply_mask`, the fastest here), write.
//!
//! Like the other `echo_*` examples: the listen address is the first argument (port 0 picks
//! one), `listening on ADDR` is printed once bound, the runtime is tokio's `current_thread`, and
//! `--tls CERT KEY` serves `wss://` through tokio-rustls with the settings every comparison
//! server shares (`weft_benches::tls`); that accept loop is `weft_benches::serve_echo`.

use bytes::{Buf, BytesMut};
use std::io::{self, IoSlice};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use weft_benches::EchoArgs;
use weft_codec::{FrameHeader, OpCode, apply_mask};
use weft_handshake::Parsed;

/// Room kept free in the read buffer for the next read between frames.
const READ_ROOM: usize = 4 << 10;
/// Room beyond the rest of a frame that has started.
const FRAME_SLACK: usize = 512;

fn main() -> io::Result<()> {
    weft_benches::serve_echo(EchoArgs::from_env("127.0.0.1:9105", &[])?, echo, echo)
}

async fn echo(mut tcp: impl AsyncRead + AsyncWrite + Unpin) -> io::Result<()> {
    let mut input = BytesMut::with_capacity(READ_ROOM);
    let handshake = weft_handshake::Server::default();
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
    tcp.write_all(&handshake.accept(&upgrade).to_vec()).await?;
    input.advance(head_len);

    let mut out = Vec::new();
    loop {
        let mut closed = false;
        // Room for the next read: the rest of a frame that has started (and a little more, for
        // the next header), else `READ_ROOM`. Never more, so a large frame is not copied into
        // a grown buffer.
        let mut room = READ_ROOM;
        while let Some((header, header_len)) =
            FrameHeader::decode(&input).map_err(io::Error::other)?
        {
            let payload_len = usize::try_from(header.payload_len).map_err(io::Error::other)?;
            let total = header_len + payload_len;
            if input.len() < total {
                room = total - input.len() + FRAME_SLACK;
                break;
            }
            let mut whole = input.split_to(total);
            let payload = &mut whole[header_len..];
            if let Some(key) = header.mask {
                apply_mask(payload, key, 0);
            }
            let mut reply = [0; FrameHeader::MAX_SIZE];
            let reply_len = FrameHeader {
                mask: None,
                ..header
            }
            .encode(&mut reply);
            let reply = &reply[..reply_len];
            if out.is_empty() && input.is_empty() {
                // The usual case: the read brought one frame. Header and payload in one
                // vectored write, no copy.
                write_all_vectored(&mut tcp, reply, payload).await?;
            } else {
                out.extend_from_slice(reply);
                out.extend_from_slice(payload);
            }
            if header.opcode == OpCode::Close {
                closed = true;
                break;
            }
        }
        if !out.is_empty() {
            tcp.write_all(&out).await?;
            out.clear();
        }
        // A no-op on TCP; over TLS, pushes out records a full socket left in rustls' buffer.
        tcp.flush().await?;
        if closed {
            return Ok(());
        }
        input.reserve(room);
        if tcp.read_buf(&mut input).await? == 0 {
            return Ok(());
        }
    }
}

async fn write_all_vectored(
    tcp: &mut (impl AsyncWrite + Unpin),
    header: &[u8],
    payload: &[u8],
) -> io::Result<()> {
    let (mut header, mut payload) = (header, payload);
    while !header.is_empty() {
        let n = tcp
            .write_vectored(&[IoSlice::new(header), IoSlice::new(payload)])
            .await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        let from_header = n.min(header.len());
        header = &header[from_header..];
        payload = &payload[n - from_header..];
    }
    tcp.write_all(payload).await
}
