//! Helpers shared by the test modules: hex, wire transfer, negotiation between two configs.

use bytes::{Buf, BytesMut};
use weft_codec::{Connection, Error, Event, FrameHeader, Role, apply_mask};
use weft_deflate::{DeflateConfig, PerMessageDeflate};
use weft_handshake::{ExtensionNegotiator, format_extensions};

/// Hex digits, whitespace ignored.
pub(crate) fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert!(
        digits.len().is_multiple_of(2),
        "odd number of hex digits in {text:?}"
    );
    digits
        .chunks(2)
        .map(|pair| {
            let pair = std::str::from_utf8(pair).expect("ASCII");
            u8::from_str_radix(pair, 16).unwrap_or_else(|_| panic!("bad hex {pair:?}"))
        })
        .collect()
}

/// Lower-case hex with a space between bytes, as the vectors are written.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Everything `conn` has queued for the transport.
pub(crate) fn take_wire(conn: &mut Connection) -> Vec<u8> {
    let mut wire = Vec::new();
    while let Some(out) = conn.poll_transmit() {
        let chunk = out.chunk();
        wire.extend_from_slice(chunk);
        let n = chunk.len();
        out.advance(n);
    }
    wire
}

/// Feeds `wire` to `conn` in pieces of `chunk` bytes, polling after each, and returns the
/// events and the first error.
pub(crate) fn receive(
    conn: &mut Connection,
    wire: &[u8],
    chunk: usize,
) -> (Vec<Event>, Option<Error>) {
    let mut events = Vec::new();
    for piece in wire.chunks(chunk.max(1)) {
        let mut buf = BytesMut::from(piece);
        conn.handle_bytes(&mut buf);
        loop {
            match conn.poll_event() {
                Ok(Some(event)) => events.push(event),
                Ok(None) => break,
                Err(err) => return (events, Some(err)),
            }
        }
    }
    (events, None)
}

/// The frames in `wire`, payloads unmasked.
pub(crate) fn frames(mut wire: &[u8]) -> Vec<(FrameHeader, Vec<u8>)> {
    let mut out = Vec::new();
    while !wire.is_empty() {
        let (header, used) = FrameHeader::decode(wire)
            .expect("a valid header")
            .expect("a whole header");
        let len = usize::try_from(header.payload_len).expect("small payloads");
        let mut payload = wire[used..used + len].to_vec();
        if let Some(key) = header.mask {
            apply_mask(&mut payload, key, 0);
        }
        out.push((header, payload));
        wire = &wire[used + len..];
    }
    out
}

/// The status code of the close frame `conn` queued, if it queued one.
pub(crate) fn sent_close_code(conn: &mut Connection) -> Option<u16> {
    let wire = take_wire(conn);
    frames(&wire)
        .into_iter()
        .find(|(header, _)| header.opcode == weft_codec::OpCode::Close)
        .map(|(_, payload)| u16::from_be_bytes([payload[0], payload[1]]))
}

/// The agreed header and both ends' extensions, negotiated the way a handshake does: the
/// client's offers go to the server's negotiator, its answer back to the client.
pub(crate) fn negotiate(
    client: &DeflateConfig,
    server: &DeflateConfig,
) -> Option<(String, PerMessageDeflate, PerMessageDeflate)> {
    let agreed = server.negotiate(&client.client_offers());
    let client_ext = client
        .client_extension(&agreed)
        .expect("the client accepts what our server answers")?;
    let server_ext = server
        .server_extension(&agreed)
        .expect("the server reads its own answer")
        .expect("agreed");
    Some((format_extensions(&agreed), client_ext, server_ext))
}

/// A connection in `role` with `ext` installed.
pub(crate) fn connection(role: Role, ext: PerMessageDeflate) -> Connection {
    Connection::new(role).with_extension(Box::new(ext))
}

/// A small deterministic generator (xorshift64*), so "random" test data is reproducible.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub(crate) fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64().to_le_bytes()[7]).collect()
    }
}

/// JSON-like text of about `len` bytes: repetitive structure, varying numbers.
pub(crate) fn json_like(len: usize) -> String {
    let mut out = String::with_capacity(len + 128);
    out.push('[');
    let mut i = 0u32;
    while out.len() < len {
        out.push_str(&format!(
            r#"{{"id":{i},"user":"user{}","active":{},"score":{}.{}}},"#,
            i % 97,
            i.is_multiple_of(3),
            i.wrapping_mul(7919) % 1000,
            i % 10
        ));
        i += 1;
    }
    out.push(']');
    out
}
