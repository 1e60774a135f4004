//! Runs `testdata/deflate/rfc7692.toml`: RFC 7692 §7.2.3's examples decode exactly, split at
//! every point, and our encoder produces the RFC's bytes.

use serde::Deserialize;
use weft_codec::{Connection, Event, Message, Role};
use weft_deflate::{DeflateConfig, DeflateParams, PerMessageDeflate};
use weft_handshake::parse_extension_list;

use crate::support::{hex, receive, take_wire, to_hex};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    decode: Vec<Vector>,
    encode: Vec<Vector>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Vector {
    name: String,
    wire: String,
    messages: Vec<String>,
    #[serde(default)]
    server_no_context_takeover: bool,
    level: Option<u32>,
}

fn load() -> File {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/deflate/rfc7692.toml"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|err| panic!("{path}: {err}"));
    toml::from_str(&text).unwrap_or_else(|err| panic!("{path}: {err}"))
}

/// The parameters a response with (or without) `server_no_context_takeover` agrees to.
fn params(vector: &Vector) -> DeflateParams {
    let response = if vector.server_no_context_takeover {
        "permessage-deflate; server_no_context_takeover"
    } else {
        "permessage-deflate"
    };
    let agreed = parse_extension_list(response.as_bytes()).expect("valid");
    DeflateParams::from_response(&agreed[0]).expect("valid")
}

fn client(vector: &Vector) -> Connection {
    let ext = PerMessageDeflate::new(Role::Client, params(vector), &DeflateConfig::default());
    Connection::new(Role::Client).with_extension(Box::new(ext))
}

fn expected(vector: &Vector) -> Vec<Event> {
    vector
        .messages
        .iter()
        .map(|text| Event::Message(Message::text(text.as_str())))
        .collect()
}

#[test]
fn rfc7692_examples_decode_exactly() {
    let file = load();
    assert!(file.decode.len() >= 10, "the vectors are all there");
    for vector in &file.decode {
        let wire = hex(&vector.wire);
        let (events, err) = receive(&mut client(vector), &wire, wire.len());
        assert!(err.is_none(), "{}: {err:?}", vector.name);
        assert_eq!(events, expected(vector), "{}", vector.name);
    }
}

#[test]
fn rfc7692_examples_decode_split_at_every_point_and_byte_by_byte() {
    for vector in &load().decode {
        let wire = hex(&vector.wire);
        let (events, err) = receive(&mut client(vector), &wire, 1);
        assert!(err.is_none(), "{} byte by byte: {err:?}", vector.name);
        assert_eq!(events, expected(vector), "{} byte by byte", vector.name);
        for split in 1..wire.len() {
            let mut conn = client(vector);
            let (mut events, err) = receive(&mut conn, &wire[..split], split);
            assert!(err.is_none(), "{} split at {split}: {err:?}", vector.name);
            let (rest, err) = receive(&mut conn, &wire[split..], wire.len());
            assert!(err.is_none(), "{} split at {split}: {err:?}", vector.name);
            events.extend(rest);
            assert_eq!(events, expected(vector), "{} split at {split}", vector.name);
        }
    }
}

#[test]
fn our_encoder_produces_the_rfc7692_bytes() {
    let file = load();
    assert!(file.encode.len() >= 4, "the vectors are all there");
    for vector in &file.encode {
        let config = DeflateConfig::default()
            .threshold(0)
            .compression_level(vector.level.unwrap_or(6));
        let ext = PerMessageDeflate::new(Role::Server, params(vector), &config);
        let mut server = Connection::new(Role::Server).with_extension(Box::new(ext));
        for text in &vector.messages {
            server.send(Message::text(text.as_str())).expect("sendable");
        }
        let wire = take_wire(&mut server);
        assert_eq!(to_hex(&wire), to_hex(&hex(&vector.wire)), "{}", vector.name);
        // And it reads back.
        let (events, err) = receive(&mut client(vector), &wire, wire.len());
        assert!(err.is_none(), "{}: {err:?}", vector.name);
        assert_eq!(events, expected(vector), "{}", vector.name);
    }
}
