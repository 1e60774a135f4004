//! Properties of `Connection` over arbitrary input:
//! - any sequence of valid messages, encoded by one role and fed to the other in arbitrary
//!   chunk sizes (one byte at a time included), comes out identical, whole or streamed;
//! - arbitrary bytes never panic the decoder, what it holds stays within `Limits`, and every
//!   protocol error has queued a close frame with its close code;
//! - any input, valid or corrupted, decodes to the same events, the same error and the same
//!   answers whether it arrives whole or one byte at a time.
#![allow(
    clippy::cast_possible_truncation,
    reason = "test fixtures use small lengths"
)]

use bytes::{Buf, BytesMut};
use proptest::prelude::*;
use weft_codec::{
    CloseCode, CloseFrame, Config, Connection, Error, Event, FrameHeader, Limits, Message, OpCode,
    Role, apply_mask,
};

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        4 => ".{0,300}".prop_map(Message::text),
        4 => proptest::collection::vec(any::<u8>(), 0..3000).prop_map(Message::binary),
        1 => proptest::collection::vec(any::<u8>(), 0..=125).prop_map(Message::ping),
        1 => proptest::collection::vec(any::<u8>(), 0..=125).prop_map(Message::pong),
    ]
}

fn close() -> impl Strategy<Value = Option<Message>> {
    proptest::option::of(prop_oneof![
        Just(Message::Close(None)),
        (
            prop_oneof![Just(1000u16), Just(1001), Just(1011), 3000u16..5000],
            ".{0,30}"
        )
            .prop_map(|(code, reason)| Message::Close(Some(CloseFrame::new(code.into(), reason)))),
    ])
}

/// Chunk sizes to cut the wire into, used in turn.
fn chunking() -> impl Strategy<Value = Vec<usize>> {
    prop_oneof![
        1 => Just(vec![1]),
        3 => proptest::collection::vec(1usize..64, 1..6),
        1 => proptest::collection::vec(1usize..5000, 1..4),
    ]
}

fn drain_transmit(conn: &mut Connection) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(t) = conn.poll_transmit() {
        let n = t.chunk().len();
        out.extend_from_slice(t.chunk());
        t.advance(n);
    }
    out
}

/// Feeds `wire` to `conn` in chunks and collects the messages, reassembling streamed pieces.
fn receive(conn: &mut Connection, wire: &[u8], chunks: &[usize]) -> Result<Vec<Message>, Error> {
    let mut received = Vec::new();
    let mut partial: Option<(weft_codec::DataKind, Vec<u8>)> = None;
    let mut offset = 0;
    let mut sizes = chunks.iter().cycle();
    let mut buf = BytesMut::new();
    while offset < wire.len() {
        let n = (*sizes.next().unwrap()).min(wire.len() - offset);
        buf.extend_from_slice(&wire[offset..offset + n]);
        offset += n;
        conn.handle_bytes(&mut buf);
        while let Some(event) = conn.poll_event()? {
            match event {
                Event::Message(m) => received.push(m),
                Event::Fragment(f) => {
                    let (_, data) = partial.get_or_insert_with(|| (f.kind, Vec::new()));
                    data.extend_from_slice(&f.data);
                    if f.fin {
                        let (kind, data) = partial.take().unwrap();
                        received.push(match kind {
                            weft_codec::DataKind::Text => {
                                Message::text(String::from_utf8(data).expect("validated text"))
                            }
                            _ => Message::binary(data),
                        });
                    }
                }
                _ => unreachable!("no other events exist"),
            }
        }
    }
    Ok(received)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn messages_survive_any_chunking(
        messages in proptest::collection::vec(message(), 0..16),
        close in close(),
        chunks in chunking(),
        fragment_size in proptest::option::of(1usize..400),
        client_sends in any::<bool>(),
        streaming in any::<bool>(),
    ) {
        let (send_role, recv_role) =
            if client_sends { (Role::Client, Role::Server) } else { (Role::Server, Role::Client) };
        let mut sender = Connection::new(send_role)
            .with_config(Config::default().fragment_size(fragment_size));
        let mut receiver = Connection::new(recv_role)
            .with_config(Config::default().receive_fragments(streaming));
        let mut expected = messages.clone();
        for message in messages {
            sender.send(message).unwrap();
        }
        if let Some(close) = close {
            sender.send(close.clone()).unwrap();
            expected.push(close);
        }
        let wire = drain_transmit(&mut sender);
        let received = receive(&mut receiver, &wire, &chunks).unwrap();
        prop_assert_eq!(received, expected);
    }

    #[test]
    fn arbitrary_input_never_panics_and_stays_within_limits(
        input in proptest::collection::vec(any::<u8>(), 0..6000),
        chunks in chunking(),
        server in any::<bool>(),
        streaming in any::<bool>(),
    ) {
        check_hostile_input(&input, &chunks, server, streaming)?;
    }

    #[test]
    fn corrupted_valid_traffic_never_panics_and_stays_within_limits(
        messages in proptest::collection::vec(message(), 1..8),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        chunks in chunking(),
        server in any::<bool>(),
        streaming in any::<bool>(),
    ) {
        let mut sender = Connection::new(if server { Role::Client } else { Role::Server })
            .with_config(Config::default().fragment_size(Some(700)));
        for message in messages {
            sender.send(message).unwrap();
        }
        let mut wire = drain_transmit(&mut sender);
        for (at, byte) in flips {
            let len = wire.len();
            wire[at % len] ^= byte | 1;
        }
        check_hostile_input(&wire, &chunks, server, streaming)?;
    }

    #[test]
    fn whole_and_byte_by_byte_input_decode_alike(
        messages in proptest::collection::vec(message(), 1..8),
        close in close(),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..3),
        server in any::<bool>(),
        streaming in any::<bool>(),
    ) {
        let mut sender = Connection::new(if server { Role::Client } else { Role::Server })
            .with_config(Config::default().fragment_size(Some(700)));
        for message in messages.into_iter().chain(close) {
            sender.send(message).unwrap();
        }
        let mut wire = drain_transmit(&mut sender);
        for (at, byte) in flips {
            let len = wire.len();
            wire[at % len] ^= byte | 1;
        }
        let role = if server { Role::Server } else { Role::Client };
        let whole = decode_in_chunks(&wire, wire.len(), role, streaming);
        let byte_by_byte = decode_in_chunks(&wire, 1, role, streaming);
        prop_assert_eq!(whole, byte_by_byte);
    }
}

/// What a connection makes of `input` fed in pieces of `chunk` bytes: each event or error (as
/// text), then the frames it answered with (opcode and unmasked payload).
fn decode_in_chunks(
    input: &[u8],
    chunk: usize,
    role: Role,
    streaming: bool,
) -> (Vec<String>, Vec<(OpCode, Vec<u8>)>) {
    let mut conn = small_limits_receiver(role, streaming);
    let mut events = Vec::new();
    let mut answers = Vec::new();
    // Streamed pieces follow the reads, so they are joined into their message; pieces of a
    // message that then fails are dropped (a reader may have seen more or fewer of them).
    let mut partial = Vec::new();
    let mut drain = |conn: &mut Connection, events: &mut Vec<String>| {
        loop {
            // Each answer is collected as soon as it is queued, so that a pong owed for an
            // earlier ping is not replaced by a later one's.
            answers.extend(frames(&drain_transmit(conn), role));
            match conn.poll_event() {
                Ok(Some(Event::Fragment(fragment))) => {
                    partial.extend_from_slice(&fragment.data);
                    if fragment.fin {
                        events.push(format!("{:?} {:?}", fragment.kind, partial));
                        partial.clear();
                    }
                }
                Ok(Some(event)) => events.push(format!("{event:?}")),
                Ok(None) => break,
                Err(err) => {
                    partial.clear();
                    events.push(format!("error: {err:?}"));
                }
            }
        }
    };
    for piece in input.chunks(chunk) {
        conn.handle_bytes(&mut BytesMut::from(piece));
        drain(&mut conn, &mut events);
    }
    conn.handle_eof();
    drain(&mut conn, &mut events);
    answers.extend(frames(&drain_transmit(&mut conn), role));
    (events, answers)
}

/// The frames in `wire`, as sent by `role`, each as its opcode and unmasked payload.
fn frames(mut wire: &[u8], role: Role) -> Vec<(OpCode, Vec<u8>)> {
    let mut frames = Vec::new();
    while !wire.is_empty() {
        let (header, used) = FrameHeader::decode(wire).unwrap().unwrap();
        assert_eq!(header.mask.is_some(), role == Role::Client);
        let end = used + header.payload_len as usize;
        let mut payload = wire[used..end].to_vec();
        if let Some(key) = header.mask {
            apply_mask(&mut payload, key, 0);
        }
        frames.push((header.opcode, payload));
        wire = &wire[end..];
    }
    frames
}

const MAX_FRAME: usize = 1024;
const MAX_MESSAGE: usize = 4096;

/// A receiving connection with limits small enough for generated input to reach them.
fn small_limits_receiver(role: Role, streaming: bool) -> Connection {
    let limits = Limits::default()
        .max_frame_size(MAX_FRAME)
        .max_message_size(MAX_MESSAGE)
        .max_fragments(16);
    Connection::new(role)
        .with_limits(limits)
        .with_config(Config::default().receive_fragments(streaming))
}

fn check_hostile_input(
    input: &[u8],
    chunks: &[usize],
    server: bool,
    streaming: bool,
) -> Result<(), TestCaseError> {
    let role = if server { Role::Server } else { Role::Client };
    let mut conn = small_limits_receiver(role, streaming);
    // An in-place frame, a message being assembled, and a partial control frame with its header.
    let bound = MAX_FRAME + MAX_MESSAGE + 125 + FrameHeader::MAX_SIZE;
    let mut sizes = chunks.iter().cycle();
    let mut offset = 0;
    let mut wire_out = Vec::new();
    let mut protocol_error = None;
    while offset < input.len() {
        let n = (*sizes.next().unwrap()).min(input.len() - offset);
        let mut buf = BytesMut::from(&input[offset..offset + n]);
        offset += n;
        conn.handle_bytes(&mut buf);
        loop {
            match conn.poll_event() {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(Error::Protocol(err)) => {
                    prop_assert!(protocol_error.is_none(), "a second protocol error: {err}");
                    protocol_error = Some(err.close_code());
                }
                Err(other) => prop_assert!(false, "unexpected error {other}"),
            }
        }
        prop_assert!(
            conn.buffered_input() <= bound,
            "holding {} bytes, bound {bound}",
            conn.buffered_input()
        );
        wire_out.extend(drain_transmit(&mut conn));
    }
    conn.handle_eof();
    while let Ok(Some(_)) = conn.poll_event() {}
    prop_assert!(conn.is_finished());
    wire_out.extend(drain_transmit(&mut conn));

    // Every protocol error queued exactly one close frame, carrying its code.
    if let Some(code) = protocol_error {
        let closes = close_codes(&wire_out, role);
        prop_assert_eq!(closes, vec![Some(code)]);
    }
    Ok(())
}

/// The codes of the close frames in `wire`, as sent by `role`.
fn close_codes(wire: &[u8], role: Role) -> Vec<Option<CloseCode>> {
    frames(wire, role)
        .into_iter()
        .filter(|(opcode, _)| *opcode == OpCode::Close)
        .map(|(_, payload)| {
            (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]).into())
        })
        .collect()
}
