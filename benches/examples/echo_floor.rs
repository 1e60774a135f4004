//! The floor for `cargo xtask bench --compare --servers …,floor`: an echo on the same tokio
//! runtime with as little WebSocket work as an echo can do, so that each library's CPU time per
//! message can be read against what the kernel and tokio cost by themselves.
//!
//! ```sh
//! cargo run --release -p weft-benches --example echo_floor -- 127.0.0.1:9105
//! ```
//!
//! **Not a WebSocket server.** It answers any request carrying a `Sec-WebSocket-Key` with 101,
//! then sends each frame back unmasked, one write per read. It checks nothing: no UTF-8, no
//! limits, no reserved bits, no fragmentation rules, no pings; a close frame is echoed and ends
//! the connection. It trusts its peer (`weft bench`), which no server may do. What it keeps is
//! what every echo must do: read, find the frames, unmask (weft's `apply_mask`, the fastest
//! here), write.
//!
//! Like the other `echo_*` examples: the listen address is the first argument (port 0 picks
//! one), `listening on ADDR` is printed once bound, and the runtime is tokio's `current_thread`.

use bytes::{Buf, BytesMut};
use std::io::{self, IoSlice};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use weft_codec::apply_mask;

/// The largest request head read before giving up on a connection.
const MAX_HEAD: usize = 8 << 10;
/// Room kept free in the read buffer for the next read between frames.
const READ_ROOM: usize = 4 << 10;
/// Room beyond the rest of a frame that has started.
const FRAME_SLACK: usize = 512;

fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9105".to_owned());
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let listener = TcpListener::bind(&addr).await?;
            println!("listening on {}", listener.local_addr()?);
            loop {
                let (tcp, _) = listener.accept().await?;
                tokio::spawn(async move {
                    let _ = echo(tcp).await;
                });
            }
        })
}

async fn echo(mut tcp: TcpStream) -> io::Result<()> {
    tcp.set_nodelay(true)?;
    let mut input = BytesMut::with_capacity(READ_ROOM);
    let head_len = loop {
        if tcp.read_buf(&mut input).await? == 0 {
            return Ok(());
        }
        if let Some(end) = input.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        if input.len() > MAX_HEAD {
            return Err(io::ErrorKind::InvalidData.into());
        }
    };
    let key =
        header_value(&input[..head_len], "sec-websocket-key").ok_or(io::ErrorKind::InvalidData)?;
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        weft_handshake::accept_key(key)
    );
    tcp.write_all(response.as_bytes()).await?;
    input.advance(head_len);

    let mut out = Vec::new();
    loop {
        let mut closed = false;
        // Room for the next read: the rest of a frame that has started (and a little more, for
        // the next header), else `READ_ROOM`. Never more, so a large frame is not copied into
        // a grown buffer.
        let mut room = READ_ROOM;
        while let Some(frame) = Frame::parse(&input) {
            let total = frame.header_len + frame.payload_len;
            if input.len() < total {
                room = total - input.len() + FRAME_SLACK;
                break;
            }
            let mut whole = input.split_to(total);
            let payload = &mut whole[frame.header_len..];
            apply_mask(payload, frame.mask, 0);
            let header = frame.reply_header();
            if out.is_empty() && input.is_empty() {
                // The usual case: the read brought one frame. Header and payload in one
                // vectored write, no copy.
                write_all_vectored(&mut tcp, header.as_slice(), payload).await?;
            } else {
                out.extend_from_slice(header.as_slice());
                out.extend_from_slice(payload);
            }
            if frame.opcode == 0x8 {
                closed = true;
                break;
            }
        }
        if !out.is_empty() {
            tcp.write_all(&out).await?;
            out.clear();
        }
        if closed {
            return Ok(());
        }
        input.reserve(room);
        if tcp.read_buf(&mut input).await? == 0 {
            return Ok(());
        }
    }
}

/// A frame header as the client sent it.
struct Frame {
    first_byte: u8,
    opcode: u8,
    mask: [u8; 4],
    header_len: usize,
    payload_len: usize,
}

impl Frame {
    /// The header at the start of `buf`, once all of it is there.
    fn parse(buf: &[u8]) -> Option<Frame> {
        let [first_byte, second, ..] = *buf else {
            return None;
        };
        let (payload_len, len_bytes) = match second & 0x7f {
            126 => (
                u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?) as usize,
                2,
            ),
            127 => (
                usize::try_from(u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?)).ok()?,
                8,
            ),
            len => (usize::from(len), 0),
        };
        let mask_at = 2 + len_bytes;
        let mask = buf.get(mask_at..mask_at + 4)?.try_into().ok()?;
        Some(Frame {
            first_byte,
            opcode: first_byte & 0x0f,
            mask,
            header_len: mask_at + 4,
            payload_len,
        })
    }

    /// The header of the unmasked echo.
    fn reply_header(&self) -> ReplyHeader {
        let mut bytes = [0; 10];
        bytes[0] = self.first_byte;
        let len = if let Ok(n @ 0..126) = u8::try_from(self.payload_len) {
            bytes[1] = n;
            2
        } else if let Ok(n) = u16::try_from(self.payload_len) {
            bytes[1] = 126;
            bytes[2..4].copy_from_slice(&n.to_be_bytes());
            4
        } else {
            bytes[1] = 127;
            bytes[2..10].copy_from_slice(&(self.payload_len as u64).to_be_bytes());
            10
        };
        ReplyHeader { bytes, len }
    }
}

struct ReplyHeader {
    bytes: [u8; 10],
    len: usize,
}

impl ReplyHeader {
    fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

async fn write_all_vectored(tcp: &mut TcpStream, header: &[u8], payload: &[u8]) -> io::Result<()> {
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

/// The value of header `name` in a request head, trimmed.
fn header_value<'a>(head: &'a [u8], name: &str) -> Option<&'a [u8]> {
    head.split(|&b| b == b'\n').find_map(|line| {
        let colon = line.iter().position(|&b| b == b':')?;
        let (field, value) = line.split_at(colon);
        field
            .eq_ignore_ascii_case(name.as_bytes())
            .then(|| value[1..].trim_ascii())
    })
}
