//! The message limit is the only size limit a peer meets unless the user sets a frame limit:
//! a message within `max_message_size` is accepted whatever permessage-deflate does to its
//! size and however it is framed, and one byte more is refused with 1009, in both roles.

use weft_codec::{Config, Connection, Error, Event, Limits, Message, ProtocolError, Role};
use weft_deflate::{DeflateConfig, DeflateParams, PerMessageDeflate};

use crate::support::{Rng, json_like, receive, sent_close_code, take_wire};

const MIB: usize = 1 << 20;

/// How the sender frames its messages.
#[derive(Clone, Copy, Debug)]
enum Framing {
    OneFrame,
    /// Frames of this many payload bytes (after compression).
    Fragments(usize),
}

/// A sender in `role` (the receiver is the other role), with deflate or not.
fn sender(role: Role, deflate: bool, framing: Framing) -> Connection {
    let fragment_size = match framing {
        Framing::OneFrame => None,
        Framing::Fragments(size) => Some(size),
    };
    let conn = Connection::new(role).with_config(Config::default().fragment_size(fragment_size));
    with_deflate(conn, role, deflate)
}

fn receiver(role: Role, deflate: bool, limits: Limits) -> Connection {
    with_deflate(Connection::new(role).with_limits(limits), role, deflate)
}

fn with_deflate(conn: Connection, role: Role, deflate: bool) -> Connection {
    if !deflate {
        return conn;
    }
    let extension =
        PerMessageDeflate::new(role, DeflateParams::default(), &DeflateConfig::default());
    conn.with_extension(Box::new(extension))
}

fn other(role: Role) -> Role {
    match role {
        Role::Client => Role::Server,
        _ => Role::Client,
    }
}

/// Sends `data` as one binary message from `role` to the other end and returns what the
/// receiver made of it, and the close code it queued in answer, if any.
fn deliver(
    role: Role,
    deflate: bool,
    framing: Framing,
    limits: Limits,
    data: &[u8],
) -> (Vec<Event>, Option<Error>, Option<u16>, usize) {
    let mut from = sender(role, deflate, framing);
    from.send(Message::binary(data.to_vec())).expect("send");
    let wire = take_wire(&mut from);
    let mut to = receiver(other(role), deflate, limits);
    let (events, err) = receive(&mut to, &wire, 256 << 10);
    let code = sent_close_code(&mut to);
    (events, err, code, wire.len())
}

/// Random bytes: deflate makes them slightly larger.
fn incompressible(len: usize) -> Vec<u8> {
    Rng::new(0x5eed_0000 ^ len as u64).bytes(len)
}

/// Before the frame limit followed the message limit, Python `websockets` and Node `ws` could
/// not send weft a 16 MiB random binary message with permessage-deflate: its one compressed
/// frame is a few KiB over 16 MiB, and the default `max_frame_size` was 16 MiB (1009).
#[test]
fn a_16_mib_random_message_with_deflate_passes_the_default_limits_in_both_roles() {
    let data = incompressible(16 * MIB);
    for role in [Role::Client, Role::Server] {
        let (events, err, code, wire) =
            deliver(role, true, Framing::OneFrame, Limits::default(), &data);
        assert!(wire > data.len(), "deflate grew random data: {wire} bytes");
        assert!(
            err.is_none(),
            "{role:?} sent, the other end refused: {err:?}"
        );
        assert_eq!(code, None);
        assert_eq!(events, [Event::Message(Message::binary(data.clone()))]);
    }
}

/// A message exactly at the default message limit (64 MiB), incompressible, in one compressed
/// frame: accepted.
#[test]
fn a_message_at_the_default_limit_passes_in_one_compressed_frame() {
    let limit = Limits::default().get_max_message_size();
    let data = incompressible(limit);
    for role in [Role::Client, Role::Server] {
        let (events, err, _, wire) =
            deliver(role, true, Framing::OneFrame, Limits::default(), &data);
        assert!(wire > limit, "one compressed frame larger than the message");
        assert!(err.is_none(), "{role:?}: {err:?}");
        assert_eq!(events.len(), 1);
        assert!(matches!(&events[0], Event::Message(Message::Binary(b)) if b.len() == limit));
    }
}

/// The edge of the message limit, for every shape of message: compressed or not,
/// compressible or not, one frame or fragmented, either role sending. At the limit the
/// message arrives whole; one byte more closes with 1009 and reports which limit it broke.
#[test]
fn the_message_limit_edge_holds_for_every_shape() {
    let limit = 256 << 10;
    // Only the message limit is set: the frame limit follows it.
    let limits = Limits::default().max_message_size(limit);
    let random = incompressible(limit + 1);
    let text = json_like(limit + 1).into_bytes();
    for role in [Role::Client, Role::Server] {
        for deflate in [true, false] {
            for (name, source) in [("incompressible", &random), ("compressible", &text)] {
                for framing in [Framing::OneFrame, Framing::Fragments(16 << 10)] {
                    let case = format!("{role:?} sends, deflate {deflate}, {name}, {framing:?}");
                    let (events, err, code, _) =
                        deliver(role, deflate, framing, limits.clone(), &source[..limit]);
                    assert!(err.is_none(), "{case}, at the limit: {err:?}");
                    assert_eq!(code, None, "{case}, at the limit");
                    assert_eq!(
                        events,
                        [Event::Message(Message::binary(source[..limit].to_vec()))],
                        "{case}, at the limit"
                    );

                    let (events, err, code, _) =
                        deliver(role, deflate, framing, limits.clone(), &source[..=limit]);
                    assert!(events.is_empty(), "{case}, one byte over: {events:?}");
                    assert_eq!(code, Some(1009), "{case}, one byte over");
                    let broke = match err {
                        Some(Error::Protocol(err)) => err,
                        other => panic!("{case}, one byte over: {other:?}"),
                    };
                    match (deflate, &broke) {
                        (true, ProtocolError::InflatedTooLarge { limit: l })
                        | (false, ProtocolError::FrameTooLarge { limit: l, .. })
                        | (false, ProtocolError::MessageTooLarge { limit: l, .. }) => {
                            assert_eq!(*l, limit, "{case}: {broke}");
                        }
                        _ => panic!("{case}, one byte over: {broke}"),
                    }
                }
            }
        }
    }
}

/// A frame limit the user set still holds for uncompressed frames, and for compressed ones
/// allows only what deflate may add to that much data.
#[test]
fn a_frame_limit_the_user_sets_still_holds() {
    let frame_limit = 64 << 10;
    let limits = Limits::default().max_frame_size(frame_limit);
    let data = incompressible(frame_limit);
    for deflate in [true, false] {
        let (events, err, _, _) = deliver(
            Role::Client,
            deflate,
            Framing::OneFrame,
            limits.clone(),
            &data,
        );
        assert!(
            err.is_none(),
            "deflate {deflate}, at the frame limit: {err:?}"
        );
        assert_eq!(events.len(), 1);
        let over = incompressible(frame_limit * 2);
        let (_, err, code, _) = deliver(
            Role::Client,
            deflate,
            Framing::OneFrame,
            limits.clone(),
            &over,
        );
        assert!(
            matches!(err, Some(Error::Protocol(ProtocolError::FrameTooLarge { limit, .. })) if limit == frame_limit),
            "deflate {deflate}: {err:?}"
        );
        assert_eq!(code, Some(1009));
    }
}

/// The allowance for compression applies to every frame of a compressed message, continuation
/// frames included, up to exactly `max_encoded_len(max_frame_size)`.
#[test]
fn continuation_frames_of_a_compressed_message_get_the_same_allowance() {
    use weft_codec::{Extension, FrameHeader, OpCode, Rsv};

    let data = incompressible(64 << 10);
    let mut from = sender(Role::Server, true, Framing::OneFrame);
    from.send(Message::binary(data.clone())).expect("send");
    let wire = take_wire(&mut from);
    let (header, used) = FrameHeader::decode(&wire).expect("valid").expect("whole");
    let compressed = &wire[used..];
    assert_eq!(compressed.len() as u64, header.payload_len);
    // The first frame carries a little; the continuation carries the rest, more than the
    // frame limit but within what deflate may add to it.
    let (head, rest) = compressed.split_at(100);
    let extension = PerMessageDeflate::new(
        Role::Client,
        DeflateParams::default(),
        &DeflateConfig::default(),
    );
    let frame_limit = (1..rest.len())
        .rev()
        .find(|&limit| extension.max_encoded_len(limit) < rest.len())
        .expect("a limit just too small")
        + 1;
    assert!(frame_limit < rest.len());
    let framed = |first: &[u8], second: &[u8]| {
        let mut out = bytes::BytesMut::new();
        let mut h = FrameHeader::new(OpCode::Binary, first.len() as u64);
        h.fin = false;
        h.rsv = Rsv::RSV1;
        h.encode_to(&mut out);
        out.extend_from_slice(first);
        FrameHeader::new(OpCode::Continuation, second.len() as u64).encode_to(&mut out);
        out.extend_from_slice(second);
        out.to_vec()
    };
    for (limit, ok) in [(frame_limit, true), (frame_limit - 1, false)] {
        let mut to = receiver(Role::Client, true, Limits::default().max_frame_size(limit));
        let (events, err) = receive(&mut to, &framed(head, rest), 4096);
        if ok {
            assert!(err.is_none(), "frame limit {limit}: {err:?}");
            assert_eq!(events, [Event::Message(Message::binary(data.clone()))]);
        } else {
            assert!(
                matches!(err, Some(Error::Protocol(ProtocolError::FrameTooLarge { limit: l, .. })) if l == limit),
                "frame limit {limit}: {err:?}"
            );
            assert_eq!(sent_close_code(&mut to), Some(1009));
        }
    }
}
