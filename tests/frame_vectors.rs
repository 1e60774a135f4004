//! Runs `testdata/frames.toml`: each vector whole, and split at every point.

use bytes::{Buf, BytesMut};
use serde::Deserialize;
use weft_codec::{CloseCode, Connection, Error, Event, Message, Role};

#[derive(Deserialize)]
struct File {
    vector: Vec<Vector>,
}

#[derive(Deserialize)]
struct Vector {
    name: String,
    receiver: String,
    wire: String,
    #[serde(default)]
    expect: Vec<Expected>,
    close: Option<u16>,
    reply: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    text: Option<String>,
    binary: Option<String>,
    ping: Option<String>,
    pong: Option<String>,
    close: Option<u16>,
    reason: Option<String>,
    close_empty: Option<bool>,
}

impl Expected {
    fn message(&self) -> Message {
        if let Some(text) = &self.text {
            Message::text(text.as_str())
        } else if let Some(hex) = &self.binary {
            Message::binary(decode_hex(hex))
        } else if let Some(hex) = &self.ping {
            Message::ping(decode_hex(hex))
        } else if let Some(hex) = &self.pong {
            Message::pong(decode_hex(hex))
        } else if let Some(code) = self.close {
            let reason = self.reason.clone().unwrap_or_default();
            Message::Close(Some(weft_codec::CloseFrame::new(
                CloseCode::from(code),
                reason,
            )))
        } else if self.close_empty == Some(true) {
            Message::Close(None)
        } else {
            panic!("an expected message names no kind")
        }
    }
}

/// Hex with spaces, and `{zeros:N}` for N zero bytes.
fn decode_hex(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.extend(plain_hex(&rest[..open]));
        let close = rest[open..].find('}').expect("closing brace") + open;
        let count: usize = rest[open + 1..close]
            .strip_prefix("zeros:")
            .expect("only {zeros:N} is known")
            .parse()
            .expect("a count");
        out.resize(out.len() + count, 0);
        rest = &rest[close + 1..];
    }
    out.extend(plain_hex(rest));
    out
}

fn plain_hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert!(
        digits.len().is_multiple_of(2),
        "odd number of hex digits in {text:?}"
    );
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).expect("hex"))
        .collect()
}

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
    let expected: Vec<Message> = vector.expect.iter().map(Expected::message).collect();
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
    let path = weft_tests::testdata_dir().join("frames.toml");
    let text = std::fs::read_to_string(&path).expect("testdata/frames.toml");
    let file: File = toml::from_str(&text).expect("valid vectors");
    assert!(file.vector.len() >= 30);
    for vector in &file.vector {
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
