//! Runs `testdata/frames.toml`: each vector whole, and split at every point.

use bytes::{Buf, BytesMut};
use weft_codec::{Connection, Error, Event, Message, Role};
use weft_tests::vectors::{Vector, decode_hex};

struct Outcome {
    messages: Vec<Message>,
    error: Option<Error>,
    sent: Vec<u8>,
}

fn run(role: Role, pieces: &[&[u8]]) -> Outcome {
    let mut conn = Connection::new(role);
    let mut messages = Vec::new();
    let mut error = None;
    for piece in pieces {
        let mut buf = BytesMut::from(*piece);
        conn.handle_bytes(&mut buf);
        loop {
            match conn.poll_event() {
                Ok(Some(Event::Message(m))) => messages.push(m),
                Ok(Some(other)) => panic!("unexpected event {other:?}"),
                Ok(None) => break,
                Err(err) => {
                    assert!(error.is_none(), "two errors");
                    error = Some(err);
                }
            }
        }
    }
    let mut sent = Vec::new();
    while let Some(out) = conn.poll_transmit() {
        let n = out.chunk().len();
        sent.extend_from_slice(out.chunk());
        out.advance(n);
    }
    Outcome {
        messages,
        error,
        sent,
    }
}

fn check(vector: &Vector, outcome: &Outcome, how: &str) {
    let name = &vector.name;
    let expected = vector.messages();
    assert_eq!(outcome.messages, expected, "{name} ({how}): messages");
    match (vector.close, &outcome.error) {
        (None, None) => {}
        (Some(code), Some(Error::Protocol(err))) => {
            assert_eq!(
                err.close_code().as_u16(),
                code,
                "{name} ({how}): close code of {err}"
            );
        }
        (want, got) => panic!("{name} ({how}): expected close {want:?}, got {got:?}"),
    }
    if let Some(reply) = &vector.reply {
        assert_eq!(outcome.sent, decode_hex(reply), "{name} ({how}): reply");
    }
}

#[test]
fn frame_vectors() {
    let vectors = weft_tests::vectors::frame_vectors();
    assert!(vectors.len() >= 30);
    for vector in &vectors {
        let role = match vector.receiver.as_str() {
            "server" => Role::Server,
            "client" => Role::Client,
            other => panic!("{}: unknown receiver {other}", vector.name),
        };
        assert!(
            vector.close.is_some() != (!vector.expect.is_empty() || vector.reply.is_some()),
            "{}: a vector expects either messages or a close code",
            vector.name
        );
        let wire = decode_hex(&vector.wire);
        check(vector, &run(role, &[&wire]), "whole");
        // Large vectors are split at a sample of points; small ones at every point.
        let step = (wire.len() / 64).max(1);
        for cut in (0..=wire.len()).step_by(step) {
            let (a, b) = wire.split_at(cut);
            check(vector, &run(role, &[a, b]), &format!("split at {cut}"));
        }
        let bytes: Vec<&[u8]> = wire.chunks(1).collect();
        if wire.len() <= 1024 {
            check(vector, &run(role, &bytes), "one byte at a time");
        }
    }
}
