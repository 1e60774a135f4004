//! The bodies of the fuzz targets in `fuzz/`, here so that the regression test
//! (`tests/fuzz_regressions.rs`) replays saved inputs through exactly the same checks.
//!
//! Each function takes arbitrary bytes and panics only when weft misbehaves: a panic inside
//! weft, a broken invariant (a round trip that does not round-trip, memory held beyond the
//! limits, a protocol error without its close frame).

use bytes::{Buf, BytesMut};
use weft_codec::{Config, Connection, Error, Event, FrameHeader, Limits, OpCode, Role, apply_mask};
use weft_handshake::{ClientHandshake, Parsed, RequestParser};

/// Frame header decoding: anything decoded re-encodes to the same bytes (we only accept the
/// minimal length form, and encode only that).
pub fn frame_header(data: &[u8]) {
    if let Ok(Some((header, used))) = FrameHeader::decode(data) {
        assert!(used <= data.len() && used <= FrameHeader::MAX_SIZE);
        let mut out = [0u8; FrameHeader::MAX_SIZE];
        let len = header.encode(&mut out);
        assert_eq!(
            &out[..len],
            &data[..used],
            "decode then encode is the identity"
        );
    }
}

/// The limits used when fuzzing a connection: small, so that they are reached.
pub const FUZZ_MAX_FRAME: usize = 4096;
/// See [`FUZZ_MAX_FRAME`].
pub const FUZZ_MAX_MESSAGE: usize = 16384;

/// A connection fed arbitrary bytes in arbitrary chunks. The first two bytes choose the role,
/// the receive mode and the chunk size; the rest is the input.
pub fn connection(data: &[u8]) {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let Some((&chunk, input)) = rest.split_first() else {
        return;
    };
    let role = if control & 1 == 0 {
        Role::Server
    } else {
        Role::Client
    };
    let config = Config::default()
        .receive_fragments(control & 2 != 0)
        .auto_pong(control & 4 == 0);
    let limits = Limits::default()
        .max_frame_size(FUZZ_MAX_FRAME)
        .max_message_size(FUZZ_MAX_MESSAGE)
        .max_fragments(64);
    let mut conn = Connection::new(role)
        .with_config(config)
        .with_limits(limits);
    let bound = FUZZ_MAX_FRAME + FUZZ_MAX_MESSAGE + 125 + FrameHeader::MAX_SIZE;
    let mut sent = Vec::new();
    let mut protocol_error = None;
    for piece in input.chunks(usize::from(chunk).max(1)) {
        let mut buf = BytesMut::from(piece);
        conn.handle_bytes(&mut buf);
        loop {
            match conn.poll_event() {
                Ok(Some(Event::Message(_) | Event::Fragment(_))) => {}
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(Error::Protocol(err)) => {
                    assert!(protocol_error.is_none(), "a second protocol error: {err}");
                    protocol_error = Some(err.close_code());
                }
                Err(other) => panic!("unexpected error before EOF: {other}"),
            }
        }
        assert!(
            conn.buffered_input() <= bound,
            "holding {} > {bound}",
            conn.buffered_input()
        );
        drain(&mut conn, &mut sent);
        // Our own sends must stay possible or be refused cleanly.
        let _ = conn.send(weft_codec::Message::text("x"));
    }
    conn.handle_eof();
    while let Ok(Some(_)) = conn.poll_event() {}
    assert!(conn.is_finished(), "after EOF the connection is finished");
    drain(&mut conn, &mut sent);
    if let Some(code) = protocol_error {
        let first_close = frames(&sent, role)
            .into_iter()
            .find(|(op, _)| *op == OpCode::Close);
        let (_, payload) = first_close.expect("a protocol error queues a close frame");
        assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), code.as_u16());
    }
}

fn drain(conn: &mut Connection, into: &mut Vec<u8>) {
    while let Some(out) = conn.poll_transmit() {
        let chunk = out.chunk();
        into.extend_from_slice(chunk);
        let n = chunk.len();
        out.advance(n);
    }
}

/// Our own output, decoded: (opcode, unmasked payload) per frame.
fn frames(mut wire: &[u8], role: Role) -> Vec<(OpCode, Vec<u8>)> {
    let mut out = Vec::new();
    while !wire.is_empty() {
        let (header, used) = FrameHeader::decode(wire)
            .expect("our output decodes")
            .expect("our output is whole frames");
        assert_eq!(
            header.mask.is_some(),
            role == Role::Client,
            "masking follows the role"
        );
        let end = used + usize::try_from(header.payload_len).expect("small frames");
        let mut payload = wire[used..end].to_vec();
        if let Some(key) = header.mask {
            apply_mask(&mut payload, key, 0);
        }
        out.push((header.opcode, payload));
        wire = &wire[end..];
    }
    out
}

/// Request parsing: fed whole and split at a point the input chooses, the answer is the same,
/// never consumes more than given, and never holds more than the cap while partial.
pub fn handshake_request(data: &[u8]) {
    let Some((&cut, input)) = data.split_first() else {
        return;
    };
    let limits = weft_handshake::Limits::default()
        .with_max_start_line(256)
        .with_max_header_bytes(1024)
        .with_max_headers(16);
    let whole = RequestParser::new(limits).parse(input);
    let mut split = RequestParser::new(limits);
    let at = usize::from(cut).min(input.len());
    let first = split.parse(&input[..at]);
    if let Ok(Parsed::Partial) = first {
        assert!(at <= limits.max_buffered(), "partial beyond the cap");
    }
    let second = match first {
        Ok(Parsed::Partial) => split.parse(input),
        other => other,
    };
    match (&whole, &second) {
        (Ok(Parsed::Complete { consumed: a, .. }), Ok(Parsed::Complete { consumed: b, .. })) => {
            assert_eq!(a, b);
            assert!(*a <= input.len());
        }
        (Ok(Parsed::Partial), Ok(Parsed::Partial)) => {
            assert!(
                input.len() <= limits.max_buffered(),
                "partial beyond the cap"
            );
        }
        (Err(a), Err(b)) => assert_eq!(a.status(), b.status()),
        // A cut inside the input may complete a request the whole input would also complete.
        (a, b) => panic!("whole and split disagree: {a:?} / {b:?}"),
    }
    if let Ok(Parsed::Complete {
        value: weft_handshake::Request::Upgrade(request),
        ..
    }) = whole
    {
        let server = weft_handshake::Server::default();
        if let Ok(upgrade) = server.validate(request) {
            let _ = server.accept(&upgrade).to_vec();
        }
    }
}

/// Response parsing on the client: arbitrary bytes never panic and never consume more than
/// given.
pub fn handshake_response(data: &[u8]) {
    let Ok(mut handshake) = ClientHandshake::builder("ws://example.com/")
        .protocol("p")
        .build()
    else {
        return;
    };
    match handshake.parse_response(data) {
        Ok(Parsed::Complete { consumed, .. }) => assert!(consumed <= data.len()),
        Ok(Parsed::Partial) | Err(_) => {}
    }
    let _ = handshake.parse_response_eof(data);
}

/// `Sec-WebSocket-Extensions` parsing: what parses, formats and parses back the same.
pub fn extensions_header(data: &[u8]) {
    if let Ok(offers) = weft_handshake::parse_extension_list(data) {
        let text = weft_handshake::format_extensions(&offers);
        let again =
            weft_handshake::parse_extension_list(text.as_bytes()).expect("our output parses");
        assert_eq!(offers, again);
    }
}

/// The output budget of [`inflate`]: small, so that the fuzzer reaches it.
pub const FUZZ_INFLATE_BUDGET: usize = 64 << 10;

/// permessage-deflate decoding: arbitrary bytes as the compressed payload of a message, fed in
/// chunks; decoding either fails cleanly or stays within its output budget. The first byte
/// chooses the window bits, context takeover and chunk size.
pub fn inflate(data: &[u8]) {
    use weft_codec::Extension as _;
    let Some((&control, input)) = data.split_first() else {
        return;
    };
    let bits = 9 + (control & 7).min(6);
    let takeover = if control & 8 == 0 {
        ""
    } else {
        "; client_no_context_takeover"
    };
    let response = format!("permessage-deflate; client_max_window_bits={bits}{takeover}");
    let Ok(agreed) = weft_handshake::parse_extension_list(response.as_bytes()) else {
        return;
    };
    let config = weft_deflate::DeflateConfig::default();
    let Ok(Some(mut deflate)) = config.server_extension(&agreed) else {
        panic!("the server's own answer builds: {response}")
    };
    let chunk = usize::from(control >> 4) * 17 + 1;
    // Two messages from the same bytes: the second exercises context takeover (or its reset).
    for _ in 0..2 {
        let mut out = BytesMut::new();
        let pieces: Vec<&[u8]> = input.chunks(chunk).collect();
        let last = pieces.len().saturating_sub(1);
        if pieces.is_empty() {
            let _ = deflate.decode(&[], true, &mut out, FUZZ_INFLATE_BUDGET);
        }
        for (i, piece) in pieces.into_iter().enumerate() {
            let room = FUZZ_INFLATE_BUDGET - out.len();
            if deflate.decode(piece, i == last, &mut out, room).is_err() {
                return;
            }
            assert!(out.len() <= FUZZ_INFLATE_BUDGET, "decoded past the budget");
        }
    }
}
