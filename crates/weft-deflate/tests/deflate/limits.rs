//! What a hostile peer cannot do: inflate past the message limit (1009), send invalid DEFLATE
//! data (1007), or set RSV1 without the extension (1002); and arbitrary bytes never panic or
//! exceed the budget.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::{BufMut, BytesMut};
use flate2::{Compress, Compression, FlushCompress};
use proptest::prelude::*;
use weft_codec::{
    Connection, Error, Event, Extension, ExtensionError, FrameHeader, Limits, Message, OpCode,
    ProtocolError, Role, Rsv,
};
use weft_deflate::{DeflateConfig, DeflateParams, PerMessageDeflate};

use crate::support::{receive, sent_close_code};

/// Wraps the extension and records the most output any decode call left in its buffer.
#[derive(Debug)]
struct Recording {
    inner: PerMessageDeflate,
    most_output: Arc<AtomicUsize>,
}

impl Extension for Recording {
    fn rsv(&self) -> Rsv {
        self.inner.rsv()
    }
    fn encode_begin(&mut self, opcode: OpCode, size_hint: Option<usize>) -> Rsv {
        self.inner.encode_begin(opcode, size_hint)
    }
    fn encode(
        &mut self,
        input: &[u8],
        fin: bool,
        output: &mut BytesMut,
    ) -> Result<(), ExtensionError> {
        self.inner.encode(input, fin, output)
    }
    fn decode(
        &mut self,
        input: &[u8],
        fin: bool,
        output: &mut BytesMut,
        max_output: usize,
    ) -> Result<(), ExtensionError> {
        let result = self.inner.decode(input, fin, output, max_output);
        self.most_output.fetch_max(output.len(), Ordering::Relaxed);
        result
    }
}

fn deflate(role: Role) -> PerMessageDeflate {
    PerMessageDeflate::new(role, DeflateParams::default(), &DeflateConfig::default())
}

/// A client with permessage-deflate and a `cap`-byte message limit, and the gauge of the most
/// output its decoder ever held.
fn capped_client(cap: usize) -> (Connection, Arc<AtomicUsize>) {
    let most_output = Arc::new(AtomicUsize::new(0));
    let conn = Connection::new(Role::Client)
        .with_limits(Limits::default().max_message_size(cap))
        .with_extension(Box::new(Recording {
            inner: deflate(Role::Client),
            most_output: Arc::clone(&most_output),
        }));
    (conn, most_output)
}

/// One unmasked frame, as a server sends it.
fn frame(fin: bool, rsv: Rsv, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let mut header = FrameHeader::new(opcode, payload.len() as u64);
    header.fin = fin;
    header.rsv = rsv;
    let mut out = BytesMut::new();
    header.encode_to(&mut out);
    out.put_slice(payload);
    out.to_vec()
}

/// `size` zero bytes deflated as one permessage-deflate payload (tail removed), built 1 MiB
/// at a time so the plain text never exists.
fn zeros_bomb(size: usize) -> Vec<u8> {
    let chunk = vec![0u8; 1 << 20];
    let mut compress = Compress::new_with_window_bits(Compression::best(), false, 15);
    let mut out = Vec::with_capacity(size / 1000 + 1024);
    let mut left = size;
    while left > 0 {
        let n = left.min(chunk.len());
        left -= n;
        let flush = if left == 0 {
            FlushCompress::Sync
        } else {
            FlushCompress::None
        };
        let mut fed = 0;
        while fed < n || flush == FlushCompress::Sync {
            out.reserve(64 << 10);
            let before = compress.total_in();
            compress
                .compress_vec(&chunk[fed..n], &mut out, flush)
                .expect("compress");
            fed += usize::try_from(compress.total_in() - before).expect("small");
            if fed == n && out.len() < out.capacity() {
                break;
            }
        }
    }
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
    out
}

/// Feeds `wire` in `chunk`-byte pieces until the connection reports an error; returns the
/// error and how many bytes were fed by then.
fn feed_until_error(conn: &mut Connection, wire: &[u8], chunk: usize) -> (Option<Error>, usize) {
    let mut fed = 0;
    for piece in wire.chunks(chunk) {
        fed += piece.len();
        let (_, err) = receive(conn, piece, piece.len());
        if err.is_some() {
            return (err, fed);
        }
    }
    (None, fed)
}

#[test]
fn a_gigabyte_bomb_stops_at_the_cap_and_closes_with_1009() {
    // DEFLATE cannot beat about 1032:1, so 1 GiB of zeros takes about 1 MiB compressed.
    let bomb = zeros_bomb(1 << 30);
    assert!(bomb.len() < 1100 << 10, "{} bytes", bomb.len());
    let cap = 1 << 20;
    let (mut client, most_output) = capped_client(cap);
    let wire = frame(true, Rsv::RSV1, OpCode::Binary, &bomb);
    let (err, fed) = feed_until_error(&mut client, &wire, 16 << 10);
    assert!(
        matches!(
            err,
            Some(Error::Protocol(ProtocolError::InflatedTooLarge { limit })) if limit == cap
        ),
        "{err:?}"
    );
    assert!(most_output.load(Ordering::Relaxed) <= cap);
    assert!(
        fed <= 32 << 10,
        "stopped early: {fed} bytes of {} fed",
        wire.len()
    );
    assert!(client.buffered_input() <= cap + wire.len());
    assert_eq!(sent_close_code(&mut client), Some(1009));
}

#[test]
fn a_ten_kilobyte_payload_is_capped_too() {
    let bomb = zeros_bomb(10 << 20);
    assert!(bomb.len() <= 11 << 10, "{} bytes", bomb.len());
    let cap = 1 << 20;
    let (mut client, most_output) = capped_client(cap);
    let wire = frame(true, Rsv::RSV1, OpCode::Binary, &bomb);
    let (err, _) = feed_until_error(&mut client, &wire, wire.len());
    assert_eq!(err.map(|e| e.close_code()), Some(Some(1009.into())));
    assert!(most_output.load(Ordering::Relaxed) <= cap);
    assert_eq!(sent_close_code(&mut client), Some(1009));
}

#[test]
fn exactly_the_cap_is_allowed_and_one_byte_more_is_not() {
    let text = vec![b'z'; 5000];
    for (cap, ok) in [(5000, true), (4999, false)] {
        let mut server =
            Connection::new(Role::Server).with_extension(Box::new(deflate(Role::Server)));
        server.send(Message::binary(text.clone())).expect("send");
        let wire = crate::support::take_wire(&mut server);
        let (mut client, most_output) = capped_client(cap);
        let (events, err) = receive(&mut client, &wire, 3);
        if ok {
            assert!(err.is_none(), "{err:?}");
            assert_eq!(events, [Event::Message(Message::binary(text.clone()))]);
        } else {
            assert_eq!(err.map(|e| e.close_code()), Some(Some(1009.into())));
            assert_eq!(sent_close_code(&mut client), Some(1009));
        }
        assert!(most_output.load(Ordering::Relaxed) <= cap);
    }
}

#[test]
fn a_bomb_split_over_many_frames_is_capped_across_them() {
    let bomb = zeros_bomb(64 << 20);
    let cap = 1 << 20;
    let (mut client, most_output) = capped_client(cap);
    let mut wire = Vec::new();
    let pieces: Vec<&[u8]> = bomb.chunks(100).collect();
    for (i, piece) in pieces.iter().enumerate() {
        let (rsv, opcode) = if i == 0 {
            (Rsv::RSV1, OpCode::Binary)
        } else {
            (Rsv::NONE, OpCode::Continuation)
        };
        wire.extend(frame(i + 1 == pieces.len(), rsv, opcode, piece));
    }
    let (err, _) = feed_until_error(&mut client, &wire, 1000);
    assert_eq!(err.map(|e| e.close_code()), Some(Some(1009.into())));
    assert!(most_output.load(Ordering::Relaxed) <= cap);
}

#[test]
fn invalid_deflate_data_closes_with_1007() {
    let cases: [(&str, &[u8]); 3] = [
        ("invalid block type", &[0xff, 0xff, 0xff]),
        // A fixed-Huffman block whose first symbol is a match at distance 1: nothing to copy.
        ("invalid distance too far back", &[0x02, 0x02, 0x00]),
        (
            "invalid stored block lengths",
            &[0x00, 0x05, 0x00, 0x00, 0x00, 0x48],
        ),
    ];
    for (name, payload) in cases {
        let (mut client, _) = capped_client(1 << 20);
        let wire = frame(true, Rsv::RSV1, OpCode::Binary, payload);
        let (_, err) = receive(&mut client, &wire, wire.len());
        match &err {
            Some(Error::Protocol(ProtocolError::Extension(ExtensionError::InvalidData(e)))) => {
                assert!(e.to_string().contains(name), "{name}: {e}");
            }
            other => panic!("{name}: {other:?}"),
        }
        assert_eq!(sent_close_code(&mut client), Some(1007), "{name}");
    }
}

#[test]
fn invalid_utf8_after_inflating_closes_with_1007() {
    // A text message whose inflated bytes are not UTF-8.
    let mut server = Connection::new(Role::Server).with_extension(Box::new(deflate(Role::Server)));
    server.send(Message::binary(vec![0xff; 200])).expect("send");
    let mut wire = crate::support::take_wire(&mut server);
    wire[0] = (wire[0] & 0xf0) | OpCode::Text.as_u8();
    let (mut client, _) = capped_client(1 << 20);
    let (_, err) = receive(&mut client, &wire, wire.len());
    assert_eq!(err.map(|e| e.close_code()), Some(Some(1007.into())));
}

#[test]
fn rsv1_is_a_protocol_error_without_the_extension_and_a_message_with_it() {
    let hello = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    let wire = frame(true, Rsv::RSV1, OpCode::Text, &hello);

    let mut plain = Connection::new(Role::Client);
    let (events, err) = receive(&mut plain, &wire, wire.len());
    assert!(events.is_empty());
    assert!(
        matches!(
            err,
            Some(Error::Protocol(ProtocolError::ReservedBits { .. }))
        ),
        "{err:?}"
    );
    assert_eq!(sent_close_code(&mut plain), Some(1002));

    let mut with_deflate =
        Connection::new(Role::Client).with_extension(Box::new(deflate(Role::Client)));
    let (events, err) = receive(&mut with_deflate, &wire, wire.len());
    assert!(err.is_none(), "{err:?}");
    assert_eq!(events, [Event::Message(Message::text("Hello"))]);

    // RSV2 and RSV3 stay unclaimed, and RSV1 on a continuation frame is still an error.
    for wire in [
        frame(true, Rsv::RSV2, OpCode::Text, b"x"),
        [
            frame(false, Rsv::RSV1, OpCode::Text, &hello[..3]),
            frame(true, Rsv::RSV1, OpCode::Continuation, &hello[3..]),
        ]
        .concat(),
    ] {
        let mut conn =
            Connection::new(Role::Client).with_extension(Box::new(deflate(Role::Client)));
        let (_, err) = receive(&mut conn, &wire, wire.len());
        assert!(
            matches!(
                err,
                Some(Error::Protocol(ProtocolError::ReservedBits { .. }))
            ),
            "{err:?}"
        );
        assert_eq!(sent_close_code(&mut conn), Some(1002));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Arbitrary bytes as compressed messages, in arbitrary pieces with arbitrary budgets:
    /// no panic, no more output than allowed per call, and only the two peer errors.
    #[test]
    fn arbitrary_payloads_never_panic_or_exceed_the_budget(
        messages in prop::collection::vec(
            (prop::collection::vec(any::<u8>(), 0..600), prop::collection::vec(1usize..64, 1..8)),
            1..4,
        ),
        budget in 0usize..4096,
        no_context_takeover in any::<bool>(),
    ) {
        let response = if no_context_takeover {
            "permessage-deflate; server_no_context_takeover"
        } else {
            "permessage-deflate"
        };
        let agreed = weft_handshake::parse_extension_list(response.as_bytes()).unwrap();
        let mut ext = DeflateConfig::default().client_extension(&agreed).unwrap().unwrap();
        'messages: for (payload, cuts) in &messages {
            let mut rest = &payload[..];
            let mut cuts = cuts.iter().cycle();
            loop {
                let n = (*cuts.next().unwrap()).min(rest.len());
                let (piece, tail) = rest.split_at(n);
                rest = tail;
                let fin = rest.is_empty();
                let mut out = BytesMut::new();
                match ext.decode(piece, fin, &mut out, budget) {
                    Ok(()) => prop_assert!(out.len() <= budget),
                    Err(ExtensionError::OutputTooLarge { limit }) => {
                        prop_assert_eq!(limit, budget);
                        prop_assert!(out.len() <= budget);
                        break 'messages;
                    }
                    Err(ExtensionError::InvalidData(_)) => break 'messages,
                    Err(other) => prop_assert!(false, "unexpected {other:?}"),
                }
                if fin {
                    break;
                }
            }
        }
    }

    /// The same through a connection: whatever arrives, a message is within the limit and
    /// the connection closes with 1007 or 1009 if it fails.
    #[test]
    fn arbitrary_compressed_frames_through_a_connection(
        payload in prop::collection::vec(any::<u8>(), 0..2000),
        frame_size in 1usize..300,
        chunk in 1usize..500,
        cap in 0usize..3000,
    ) {
        let (mut client, most_output) = capped_client(cap);
        let pieces: Vec<&[u8]> = if payload.is_empty() {
            vec![&payload[..]]
        } else {
            payload.chunks(frame_size).collect()
        };
        let mut wire = Vec::new();
        for (i, piece) in pieces.iter().enumerate() {
            let (rsv, opcode) = if i == 0 {
                (Rsv::RSV1, OpCode::Binary)
            } else {
                (Rsv::NONE, OpCode::Continuation)
            };
            wire.extend(frame(i + 1 == pieces.len(), rsv, opcode, piece));
        }
        let (events, err) = receive(&mut client, &wire, chunk);
        prop_assert!(most_output.load(Ordering::Relaxed) <= cap);
        for event in &events {
            if let Event::Message(message) = event {
                prop_assert!(message.as_payload().len() <= cap);
            }
        }
        if let Some(err) = err {
            let code = err.close_code().map(u16::from);
            prop_assert!(matches!(code, Some(1007 | 1009)), "{err:?}");
        }
    }

    /// Whatever is sent arrives intact, for any window sizes and takeover flags.
    #[test]
    fn any_message_round_trips(
        messages in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..3000), 1..5),
        server_bits in 8u8..=15,
        client_bits in 8u8..=15,
        server_no_context_takeover in any::<bool>(),
        client_no_context_takeover in any::<bool>(),
        level in 0u32..=9,
        chunk in 1usize..2000,
    ) {
        let client = DeflateConfig::default()
            .threshold(0)
            .compression_level(level)
            .server_max_window_bits(server_bits)
            .client_max_window_bits(client_bits)
            .server_no_context_takeover(server_no_context_takeover)
            .client_no_context_takeover(client_no_context_takeover);
        let server = DeflateConfig::default().threshold(0).compression_level(level);
        let (_, client_ext, server_ext) = crate::support::negotiate(&client, &server).unwrap();
        let mut tx = crate::support::connection(Role::Server, server_ext);
        let mut rx = crate::support::connection(Role::Client, client_ext);
        for message in &messages {
            tx.send(Message::binary(message.clone())).unwrap();
        }
        let wire = crate::support::take_wire(&mut tx);
        let (events, err) = receive(&mut rx, &wire, chunk);
        prop_assert!(err.is_none(), "{err:?}");
        let expected: Vec<Event> =
            messages.iter().map(|m| Event::Message(Message::binary(m.clone()))).collect();
        prop_assert_eq!(events, expected);
    }
}
