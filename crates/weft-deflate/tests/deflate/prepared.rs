//! Prepared messages over permessage-deflate: compressed once per parameter set when the
//! server keeps no context, per connection when it does, and read correctly either way.

use weft_codec::{Connection, Event, Message, PreparedMessage, Role};
use weft_deflate::DeflateConfig;

use crate::support::{connection, json_like, negotiate, receive, take_wire};

/// `count` server connections and their clients, negotiated with `server`'s settings.
fn pairs(server: &DeflateConfig, count: usize) -> Vec<(Connection, Connection)> {
    (0..count)
        .map(|_| {
            let (_, client_ext, server_ext) =
                negotiate(&DeflateConfig::default(), server).expect("agreed");
            (
                connection(Role::Server, server_ext),
                connection(Role::Client, client_ext),
            )
        })
        .collect()
}

fn delivered(client: &mut Connection, wire: &[u8]) -> Vec<Message> {
    let (events, err) = receive(client, wire, usize::MAX);
    assert!(err.is_none(), "{err:?}");
    events
        .into_iter()
        .map(|event| match event {
            Event::Message(message) => message,
            other => panic!("{other:?}"),
        })
        .collect()
}

#[test]
fn without_server_context_a_prepared_message_is_compressed_once_for_all() {
    let server = DeflateConfig::default().server_no_context_takeover(true);
    let news = PreparedMessage::text(json_like(4000));
    let mut wires = Vec::new();
    for (mut srv, mut cli) in pairs(&server, 4) {
        srv.send_prepared(&news).unwrap();
        let wire = take_wire(&mut srv);
        assert!(
            wire.len() < news.len() / 2,
            "compressed: {} bytes",
            wire.len()
        );
        assert_eq!(wire[0] & 0x40, 0x40, "RSV1");
        assert_eq!(delivered(&mut cli, &wire), [news.to_message()]);
        wires.push(wire);
    }
    assert!(wires.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(
        news.encodings(),
        2,
        "the plain frame and one compressed copy"
    );

    // A different level is a different parameter set: one more copy, read as well.
    let other = server.clone().compression_level(1);
    for (mut srv, mut cli) in pairs(&other, 2) {
        srv.send_prepared(&news).unwrap();
        let wire = take_wire(&mut srv);
        assert_eq!(delivered(&mut cli, &wire), [news.to_message()]);
    }
    assert_eq!(news.encodings(), 3);
}

#[test]
fn with_server_context_each_connection_compresses_in_its_own_stream() {
    let server = DeflateConfig::default();
    let first = PreparedMessage::text(json_like(2000));
    let second = PreparedMessage::text(json_like(2000));
    for (mut srv, mut cli) in pairs(&server, 3) {
        // Prepared and plain sends interleave in one compression context.
        srv.send(Message::text(json_like(1500))).unwrap();
        srv.send_prepared(&first).unwrap();
        srv.send_prepared(&second).unwrap();
        let wire = take_wire(&mut srv);
        assert_eq!(
            delivered(&mut cli, &wire),
            [
                Message::text(json_like(1500)),
                first.to_message(),
                second.to_message()
            ]
        );
    }
    assert_eq!(
        first.encodings(),
        1,
        "nothing shared but the uncompressed frame"
    );
}

#[test]
fn below_the_threshold_a_prepared_message_goes_uncompressed_and_shared() {
    let server = DeflateConfig::default().server_no_context_takeover(true);
    let short = PreparedMessage::text("ok");
    for (mut srv, mut cli) in pairs(&server, 2) {
        srv.send_prepared(&short).unwrap();
        let wire = take_wire(&mut srv);
        assert_eq!(wire, b"\x81\x02ok");
        assert_eq!(delivered(&mut cli, &wire), [Message::text("ok")]);
    }
    assert_eq!(short.encodings(), 1);
}

#[test]
fn the_shared_encoding_is_what_the_connection_would_send_and_allocates_no_compressor() {
    use weft_codec::{Extension, OpCode};
    use weft_deflate::{DeflateParams, PerMessageDeflate};
    use weft_handshake::parse_extension_list;

    let agreed = parse_extension_list(b"permessage-deflate; server_no_context_takeover").unwrap();
    let params = DeflateParams::from_response(&agreed[0]).unwrap();
    let config = DeflateConfig::default();
    let text = json_like(3000);
    for input in [&b""[..], b"x", text.as_bytes()] {
        let mut own = PerMessageDeflate::new(Role::Server, params, &config);
        let mut shared = PerMessageDeflate::new(Role::Server, params, &config);
        own.encode_begin(OpCode::Text, Some(input.len()));
        let mut expected = bytes::BytesMut::new();
        own.encode(input, true, &mut expected).unwrap();
        let mut out = bytes::BytesMut::new();
        shared.encode_shared(input, &mut out).unwrap();
        assert_eq!(out, expected);
        assert!(!shared.compressor_allocated());
    }
}
