//! [`RawPeer`]: a peer that writes exactly the bytes a test gives it, and [`RawServer`], which
//! accepts connections for one.

use std::io;
use std::net::SocketAddr;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use weft_codec::{FrameHeader, OpCode, apply_mask};
use weft_handshake::{ClientHandshake, Parsed};

use crate::TIMEOUT;

/// A frame written by hand: any opcode, any flag bits, any mask, and a length field that may lie.
///
/// ```
/// use weft_harness::RawFrame;
/// let bytes = RawFrame::text("hi").unmasked().encode();
/// assert_eq!(bytes, b"\x81\x02hi");
/// let lying = RawFrame::binary(vec![]).announce_len((1 << 63) - 1).encode();
/// assert_eq!(lying.len(), 2 + 8 + 4);
/// ```
#[derive(Clone, Debug)]
pub struct RawFrame {
    fin: bool,
    rsv: u8,
    opcode: u8,
    mask: Option<[u8; 4]>,
    payload: Vec<u8>,
    announced: Option<u64>,
}

impl RawFrame {
    /// A final frame with `opcode` (any 4-bit value) and `payload`, masked as a client's.
    pub fn new(opcode: u8, payload: impl Into<Vec<u8>>) -> Self {
        Self {
            fin: true,
            rsv: 0,
            opcode,
            mask: Some([0x1F, 0x2E, 0x3D, 0x4C]),
            payload: payload.into(),
            announced: None,
        }
    }

    /// A text frame (the bytes need not be UTF-8).
    pub fn text(payload: impl Into<Vec<u8>>) -> Self {
        Self::new(0x1, payload)
    }

    /// A binary frame.
    pub fn binary(payload: impl Into<Vec<u8>>) -> Self {
        Self::new(0x2, payload)
    }

    /// A continuation frame.
    pub fn continuation(payload: impl Into<Vec<u8>>) -> Self {
        Self::new(0x0, payload)
    }

    /// A ping.
    pub fn ping(payload: impl Into<Vec<u8>>) -> Self {
        Self::new(0x9, payload)
    }

    /// A pong.
    pub fn pong(payload: impl Into<Vec<u8>>) -> Self {
        Self::new(0xA, payload)
    }

    /// A close frame with `code` and `reason` (any bytes).
    pub fn close(code: u16, reason: impl AsRef<[u8]>) -> Self {
        let mut payload = code.to_be_bytes().to_vec();
        payload.extend_from_slice(reason.as_ref());
        Self::new(0x8, payload)
    }

    /// Sets the FIN bit.
    pub fn fin(mut self, fin: bool) -> Self {
        self.fin = fin;
        self
    }

    /// Sets the RSV bits (wire positions: `0x40`, `0x20`, `0x10`).
    pub fn rsv(mut self, rsv: u8) -> Self {
        self.rsv = rsv & 0x70;
        self
    }

    /// Masks with `key` (or not at all).
    pub fn mask(mut self, key: Option<[u8; 4]>) -> Self {
        self.mask = key;
        self
    }

    /// Sends without a mask, as a server does.
    pub fn unmasked(self) -> Self {
        self.mask(None)
    }

    /// Announces `len` in the header whatever the payload's real length.
    pub fn announce_len(mut self, len: u64) -> Self {
        self.announced = Some(len);
        self
    }

    /// The bytes on the wire.
    #[expect(
        clippy::cast_possible_truncation,
        reason = "each arm's range fits its cast"
    )]
    pub fn encode(&self) -> Vec<u8> {
        let len = self.announced.unwrap_or(self.payload.len() as u64);
        let mut out = vec![u8::from(self.fin) << 7 | self.rsv | (self.opcode & 0x0F)];
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        match len {
            0..=125 => out.push(mask_bit | len as u8),
            126..=0xFFFF => {
                out.push(mask_bit | 126);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                out.push(mask_bit | 127);
                out.extend_from_slice(&len.to_be_bytes());
            }
        }
        let mut payload = self.payload.clone();
        if let Some(key) = self.mask {
            out.extend_from_slice(&key);
            apply_mask(&mut payload, key, 0);
        }
        out.extend_from_slice(&payload);
        out
    }
}

/// A frame read back from the peer, unmasked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedFrame {
    /// The header as received.
    pub header: FrameHeader,
    /// The unmasked payload.
    pub payload: Vec<u8>,
}

impl ReceivedFrame {
    /// For a close frame: its code, or `None` for an empty close.
    pub fn close_code(&self) -> Option<u16> {
        (self.header.opcode == OpCode::Close && self.payload.len() >= 2)
            .then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }
}

/// A peer that writes exact bytes and reads back what weft answers.
#[derive(Debug)]
pub struct RawPeer<S> {
    io: S,
    buf: BytesMut,
}

impl RawPeer<TcpStream> {
    /// Connects over TCP.
    pub async fn connect(addr: SocketAddr) -> io::Result<Self> {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        Ok(Self::new(tcp))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> RawPeer<S> {
    /// A raw peer over `io`.
    pub fn new(io: S) -> Self {
        Self {
            io,
            buf: BytesMut::new(),
        }
    }

    /// The stream.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.io
    }

    /// Writes `bytes` as they are.
    pub async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.io.write_all(bytes).await?;
        self.io.flush().await
    }

    /// Writes one frame.
    pub async fn send_frame(&mut self, frame: &RawFrame) -> io::Result<()> {
        self.send(&frame.encode()).await
    }

    /// Sends a valid upgrade request for `path` and reads the `101`; a refusal is an error
    /// carrying the status.
    pub async fn handshake(&mut self, path: &str) -> io::Result<http::Response<()>> {
        self.handshake_offering(path, &[]).await
    }

    /// As [`handshake`](Self::handshake), offering `extensions` (e.g. permessage-deflate).
    pub async fn handshake_offering(
        &mut self,
        path: &str,
        extensions: &[weft_handshake::Extension],
    ) -> io::Result<http::Response<()>> {
        let mut builder = ClientHandshake::builder(&format!("ws://localhost{path}"));
        for extension in extensions {
            builder = builder.extension(extension.clone());
        }
        let mut handshake = builder.build().map_err(io::Error::other)?;
        self.send(&handshake.to_vec()).await?;
        loop {
            match handshake
                .parse_response(&self.buf)
                .map_err(io::Error::other)?
            {
                Parsed::Complete { value, consumed } => {
                    self.buf.advance(consumed);
                    return Ok(value.into_parts().0);
                }
                Parsed::Partial => self.fill().await?,
            }
        }
    }

    /// Reads an HTTP response head and its `Content-Length` body (for refusals and plain HTTP).
    pub async fn read_response(&mut self) -> io::Result<http::Response<Vec<u8>>> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut response = httparse::Response::new(&mut headers);
            if let httparse::Status::Complete(head) =
                response.parse(&self.buf).map_err(io::Error::other)?
            {
                let mut builder = http::Response::builder().status(response.code.unwrap_or(0));
                let mut body_len = 0;
                for header in response.headers.iter() {
                    if header.name.eq_ignore_ascii_case("content-length") {
                        body_len = std::str::from_utf8(header.value)
                            .ok()
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0);
                    }
                    builder = builder.header(header.name, header.value);
                }
                while self.buf.len() < head + body_len {
                    self.fill().await?;
                }
                let body = self.buf[head..head + body_len].to_vec();
                self.buf.advance(head + body_len);
                return builder.body(body).map_err(io::Error::other);
            }
            self.fill().await?;
        }
    }

    /// Reads the next frame; `None` at a clean end of stream.
    pub async fn read_frame(&mut self) -> io::Result<Option<ReceivedFrame>> {
        loop {
            if let Some((header, used)) =
                FrameHeader::decode(&self.buf).map_err(io::Error::other)?
            {
                let len = usize::try_from(header.payload_len).map_err(io::Error::other)?;
                if self.buf.len() >= used + len {
                    self.buf.advance(used);
                    let mut payload = self.buf.split_to(len).to_vec();
                    if self.buf.is_empty() {
                        // Keep no large allocation around: memory tests measure the peer too.
                        self.buf = BytesMut::new();
                    }
                    if let Some(key) = header.mask {
                        apply_mask(&mut payload, key, 0);
                    }
                    return Ok(Some(ReceivedFrame { header, payload }));
                }
            }
            match self.fill().await {
                Ok(()) => {}
                Err(err) if err.kind() == io::ErrorKind::UnexpectedEof && self.buf.is_empty() => {
                    return Ok(None);
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// Reads frames until a close frame; returns its code (`None` for an empty close).
    /// Fails if the stream ends first.
    pub async fn read_close(&mut self) -> io::Result<Option<u16>> {
        while let Some(frame) = self.read_frame().await? {
            if frame.header.opcode == OpCode::Close {
                return Ok(frame.close_code());
            }
        }
        Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "stream ended without a close frame",
        ))
    }

    /// Reads and discards until the end of the stream; fails on timeout.
    pub async fn read_to_end(&mut self) -> io::Result<usize> {
        let mut total = self.buf.len();
        self.buf.clear();
        loop {
            match self.fill().await {
                Ok(()) => {
                    total += self.buf.len();
                    self.buf.clear();
                }
                Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => return Ok(total),
                // A reset after our data was sent also ends the stream.
                Err(err) if err.kind() == io::ErrorKind::ConnectionReset => return Ok(total),
                Err(err) => return Err(err),
            }
        }
    }

    async fn fill(&mut self) -> io::Result<()> {
        self.buf.reserve(8192);
        match tokio::time::timeout(TIMEOUT, self.io.read_buf(&mut self.buf)).await {
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "peer sent nothing in time",
            )),
            Ok(Ok(0)) => Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(err)) => Err(err),
        }
    }
}

/// A server that answers exactly what a test writes: it accepts connections on `127.0.0.1`
/// (a port the OS chose), reads each upgrade request, and hands the test a [`RawPeer`] over
/// the connection with the request, to play a hostile server against a client.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use weft_harness::{RawFrame, RawServer};
///
/// let server = RawServer::bind().await?;
/// let url = server.url();
/// let client = tokio::spawn(async move { weft_client::connect(&url).await.map(|_| ()) });
/// let (mut peer, request) = server.accept().await?;
/// // A masked frame: servers must not mask.
/// peer.send(request.accept_response("").as_bytes()).await?;
/// peer.send_frame(&RawFrame::text("masked")).await?;
/// # drop(client);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct RawServer {
    listener: TcpListener,
}

impl RawServer {
    /// Listens on `127.0.0.1` on a port the OS chooses.
    pub async fn bind() -> io::Result<Self> {
        Ok(Self {
            listener: TcpListener::bind("127.0.0.1:0").await?,
        })
    }

    /// `ws://` and the address.
    pub fn url(&self) -> String {
        let addr = self
            .listener
            .local_addr()
            .map_or_else(|_| "127.0.0.1:0".to_owned(), |addr| addr.to_string());
        format!("ws://{addr}/")
    }

    /// Accepts the next connection and reads its request head (within the harness timeout).
    pub async fn accept(&self) -> io::Result<(RawPeer<TcpStream>, UpgradeRequestHead)> {
        let (tcp, _) = tokio::time::timeout(TIMEOUT, self.listener.accept())
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no client connected"))??;
        tcp.set_nodelay(true)?;
        let mut peer = RawPeer::new(tcp);
        while !peer.buf.windows(4).any(|w| w == b"\r\n\r\n") {
            peer.fill().await?;
        }
        let end = peer
            .buf
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(0, |at| at + 4);
        let head = peer.buf.split_to(end).to_vec();
        Ok((peer, UpgradeRequestHead { head }))
    }
}

/// The head of an upgrade request a [`RawServer`] read.
#[derive(Clone, Debug)]
pub struct UpgradeRequestHead {
    /// The bytes as they came.
    pub head: Vec<u8>,
}

impl UpgradeRequestHead {
    /// The value of the first header called `name` (case-insensitive), if any.
    pub fn header(&self, name: &str) -> Option<String> {
        String::from_utf8_lossy(&self.head)
            .lines()
            .find_map(|line| {
                let (key, value) = line.split_once(':')?;
                key.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| value.trim().to_owned())
            })
    }

    /// The `Sec-WebSocket-Accept` value the request's key calls for.
    pub fn accept_key(&self) -> String {
        weft_handshake::accept_key(
            self.header("sec-websocket-key")
                .unwrap_or_default()
                .as_bytes(),
        )
    }

    /// A valid `101` response, with `extra_headers` (each ending in `\r\n`) added.
    pub fn accept_response(&self, extra_headers: &str) -> String {
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\n{extra_headers}\r\n",
            self.accept_key()
        )
    }
}
