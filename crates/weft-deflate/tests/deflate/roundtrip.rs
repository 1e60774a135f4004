//! Round trips through `weft_codec::Connection` pairs over the whole parameter matrix: both
//! no-context-takeover flags × window bits 9..=15 on both sides, both directions, a script of
//! messages (empty, tiny, incompressible, repetitive, repeated, fragmented, longer than a
//! small window), and the wire fed to a fresh receiver at every chunk size.

use bytes::Bytes;
use weft_codec::{Config, Connection, DataKind, Event, Fragment, Message, OpCode, Role};
use weft_deflate::{DeflateConfig, PerMessageDeflate};
use weft_handshake::{Extension, ExtensionNegotiator};

use crate::support::{Rng, frames, json_like, receive, take_wire};

/// Chunk sizes the wire is fed in; `usize::MAX` is all at once.
const CHUNKS: [usize; 7] = [1, 2, 3, 7, 64, 1000, usize::MAX];

/// One thing a sender does.
enum Send {
    Whole(Message),
    Pieces(DataKind, Vec<Bytes>),
}

/// What the sender sends and what the receiver must hand out, in order.
fn script() -> (Vec<Send>, Vec<Event>) {
    let mut rng = Rng::new(0x5eed);
    let random = Bytes::from(rng.bytes(700));
    let block = rng.bytes(600);
    let far_repeat = Bytes::from([block.clone(), block].concat());
    let json = json_like(3000);
    let (part_a, part_b) = (json_like(200), json_like(300));
    let random_pieces: Vec<Bytes> = (0..3).map(|_| Bytes::from(rng.bytes(150))).collect();

    let sends = vec![
        Send::Whole(Message::binary(Bytes::new())),
        Send::Whole(Message::text("Hi")),
        Send::Whole(Message::binary(random.clone())),
        Send::Whole(Message::text(json.clone())),
        // The same again: with context takeover it costs a few bytes.
        Send::Whole(Message::text(json.clone())),
        // Fragmented, with empty pieces, an empty last piece among them.
        Send::Pieces(
            DataKind::Text,
            vec![
                Bytes::new(),
                Bytes::from(part_a.clone()),
                Bytes::new(),
                Bytes::from(part_b.clone()),
                Bytes::new(),
            ],
        ),
        Send::Pieces(DataKind::Binary, random_pieces.clone()),
        // A repeat 600 bytes back: beyond a 9-bit window, within a 10-bit one.
        Send::Whole(Message::binary(far_repeat.clone())),
        Send::Whole(Message::text("")),
    ];
    let expected = [
        Message::binary(Bytes::new()),
        Message::text("Hi"),
        Message::binary(random),
        Message::text(json.clone()),
        Message::text(json),
        Message::text(format!("{part_a}{part_b}")),
        Message::binary(random_pieces.concat()),
        Message::binary(far_repeat),
        Message::text(""),
    ]
    .into_iter()
    .map(Event::Message)
    .collect();
    (sends, expected)
}

fn perform(conn: &mut Connection, sends: &[Send]) {
    for send in sends {
        match send {
            Send::Whole(message) => conn.send(message.clone()).expect("send"),
            Send::Pieces(kind, pieces) => {
                for (i, piece) in pieces.iter().enumerate() {
                    conn.send_fragment(Fragment {
                        kind: *kind,
                        data: piece.clone(),
                        fin: i + 1 == pieces.len(),
                    })
                    .expect("send fragment");
                }
            }
        }
    }
}

/// The extension `role` builds from what was agreed.
fn extension(config: &DeflateConfig, role: Role, agreed: &[Extension]) -> PerMessageDeflate {
    let ext = if role == Role::Server {
        config.server_extension(agreed)
    } else {
        config.client_extension(agreed)
    };
    ext.expect("valid").expect("agreed")
}

/// Sends the script from `sender` to the other role and checks it arrives at every chunk size.
fn check_direction(
    client: &DeflateConfig,
    server: &DeflateConfig,
    agreed: &[Extension],
    sender: Role,
    what: &str,
) {
    let receiver = if sender == Role::Server {
        Role::Client
    } else {
        Role::Server
    };
    let config_of = |role: Role| if role == Role::Server { server } else { client };
    let (sends, expected) = script();
    // Long messages leave in 256-byte frames, so compressed messages span several frames.
    let mut tx = Connection::new(sender)
        .with_config(Config::default().fragment_size(Some(256)))
        .with_extension(Box::new(extension(config_of(sender), sender, agreed)));
    perform(&mut tx, &sends);
    let wire = take_wire(&mut tx);
    // Every message was compressed (threshold 0): RSV1 on each first frame.
    let compressed = frames(&wire)
        .iter()
        .filter(|(header, _)| header.opcode != OpCode::Continuation)
        .all(|(header, _)| header.rsv.bits() == 0x40);
    assert!(compressed, "{what}: every message is compressed");
    for chunk in CHUNKS {
        let mut rx = Connection::new(receiver).with_extension(Box::new(extension(
            config_of(receiver),
            receiver,
            agreed,
        )));
        let (events, err) = receive(&mut rx, &wire, chunk);
        assert!(err.is_none(), "{what}, chunk {chunk}: {err:?}");
        assert!(events == expected, "{what}, chunk {chunk}: wrong messages");
    }
}

/// The matrix for one pair of no-context-takeover flags.
fn matrix(server_no_context_takeover: bool, client_no_context_takeover: bool) {
    for server_bits in 9..=15 {
        for client_bits in 9..=15 {
            let client = DeflateConfig::default()
                .threshold(0)
                .server_no_context_takeover(server_no_context_takeover)
                .client_no_context_takeover(client_no_context_takeover)
                .server_max_window_bits(server_bits)
                .client_max_window_bits(client_bits)
                .fallback_offer(false);
            let server = DeflateConfig::default().threshold(0);
            let agreed = server.negotiate(&client.client_offers());
            let params = *extension(&client, Role::Client, &agreed).params();
            assert_eq!(
                (
                    params.server_no_context_takeover(),
                    params.client_no_context_takeover(),
                    params.server_max_window_bits(),
                    params.client_max_window_bits()
                ),
                (
                    server_no_context_takeover,
                    client_no_context_takeover,
                    server_bits,
                    client_bits
                ),
                "agreed {agreed:?}"
            );
            let what = weft_handshake::format_extensions(&agreed);
            for sender in [Role::Client, Role::Server] {
                check_direction(
                    &client,
                    &server,
                    &agreed,
                    sender,
                    &format!("{what} {sender:?}"),
                );
            }
        }
    }
}

#[test]
fn matrix_with_context_takeover_both_ways() {
    matrix(false, false);
}

#[test]
fn matrix_with_server_no_context_takeover() {
    matrix(true, false);
}

#[test]
fn matrix_with_client_no_context_takeover() {
    matrix(false, true);
}

#[test]
fn matrix_with_no_context_takeover_both_ways() {
    matrix(true, true);
}

#[test]
fn eight_bit_windows_both_ways() {
    let client = DeflateConfig::default()
        .threshold(0)
        .server_max_window_bits(8)
        .client_max_window_bits(8)
        .fallback_offer(false);
    let server = DeflateConfig::default().threshold(0);
    let agreed = server.negotiate(&client.client_offers());
    assert_eq!(
        weft_handshake::format_extensions(&agreed),
        "permessage-deflate; server_max_window_bits=8; client_max_window_bits=8"
    );
    for sender in [Role::Client, Role::Server] {
        check_direction(&client, &server, &agreed, sender, "8 bits");
    }
}

/// A pair agreed with `response`, and the compressed payloads of `message` sent twice each
/// way: (client's, server's).
fn payloads_twice(response: &str, message: &[u8]) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let agreed = weft_handshake::parse_extension_list(response.as_bytes()).expect("valid");
    let config = DeflateConfig::default().threshold(0);
    let mut out = Vec::new();
    for role in [Role::Client, Role::Server] {
        let mut conn =
            Connection::new(role).with_extension(Box::new(extension(&config, role, &agreed)));
        conn.send(Message::binary(message.to_vec())).expect("send");
        conn.send(Message::binary(message.to_vec())).expect("send");
        let wire = take_wire(&mut conn);
        out.push(frames(&wire).into_iter().map(|(_, p)| p).collect());
    }
    let server = out.pop().expect("two");
    (out.pop().expect("two"), server)
}

#[test]
fn server_no_context_takeover_resets_the_servers_compressor_only() {
    let message = json_like(500);
    let (client, server) = payloads_twice(
        "permessage-deflate; server_no_context_takeover",
        message.as_bytes(),
    );
    assert_eq!(
        server[0], server[1],
        "the server starts afresh each message"
    );
    assert!(
        client[1].len() < client[0].len() / 4,
        "the client refers to its previous message: {} then {}",
        client[0].len(),
        client[1].len()
    );
}

#[test]
fn client_no_context_takeover_resets_the_clients_compressor_only() {
    let message = json_like(500);
    let (client, server) = payloads_twice(
        "permessage-deflate; client_no_context_takeover",
        message.as_bytes(),
    );
    assert_eq!(
        client[0], client[1],
        "the client starts afresh each message"
    );
    assert!(server[1].len() < server[0].len() / 4);
}

#[test]
fn window_bits_limit_the_named_direction_only() {
    // 1000 random bytes twice: only a window over 1000 bytes finds the repeat.
    let block = Rng::new(7).bytes(1000);
    let message = [block.clone(), block].concat();
    let (client, server) = payloads_twice("permessage-deflate; server_max_window_bits=9", &message);
    assert!(
        server[0].len() > 1900,
        "a 512-byte window: {}",
        server[0].len()
    );
    assert!(
        client[0].len() < 1100,
        "a 32 KiB window: {}",
        client[0].len()
    );
    let (client, server) = payloads_twice("permessage-deflate; client_max_window_bits=9", &message);
    assert!(
        client[0].len() > 1900,
        "a 512-byte window: {}",
        client[0].len()
    );
    assert!(
        server[0].len() < 1100,
        "a 32 KiB window: {}",
        server[0].len()
    );
}

#[test]
fn the_threshold_decides_per_message_and_fragmented_sends_compress() {
    let agreed = weft_handshake::parse_extension_list(b"permessage-deflate").expect("valid");
    let config = DeflateConfig::default();
    assert_eq!(config.get_threshold(), 64);
    let mut server = Connection::new(Role::Server).with_extension(Box::new(extension(
        &config,
        Role::Server,
        &agreed,
    )));
    server.send(Message::binary(vec![b'a'; 63])).expect("send");
    server.send(Message::binary(vec![b'a'; 64])).expect("send");
    server
        .send_fragment(Fragment {
            kind: DataKind::Text,
            data: Bytes::from_static(b"x"),
            fin: true,
        })
        .expect("send");
    let wire = take_wire(&mut server);
    let rsv: Vec<u8> = frames(&wire).iter().map(|(h, _)| h.rsv.bits()).collect();
    assert_eq!(rsv, [0x00, 0x40, 0x40]);
    let mut client = Connection::new(Role::Client).with_extension(Box::new(extension(
        &config,
        Role::Client,
        &agreed,
    )));
    let (events, err) = receive(&mut client, &wire, wire.len());
    assert!(err.is_none());
    assert_eq!(
        events,
        [
            Event::Message(Message::binary(vec![b'a'; 63])),
            Event::Message(Message::binary(vec![b'a'; 64])),
            Event::Message(Message::text("x")),
        ]
    );
}

#[test]
fn streamed_reception_hands_out_inflated_pieces() {
    let agreed = weft_handshake::parse_extension_list(b"permessage-deflate").expect("valid");
    let config = DeflateConfig::default().threshold(0);
    let text = json_like(20_000);
    let mut server = Connection::new(Role::Server)
        .with_config(Config::default().fragment_size(Some(500)))
        .with_extension(Box::new(extension(&config, Role::Server, &agreed)));
    server.send(Message::text(text.clone())).expect("send");
    let wire = take_wire(&mut server);
    let mut client = Connection::new(Role::Client)
        .with_config(Config::default().receive_fragments(true))
        .with_extension(Box::new(extension(&config, Role::Client, &agreed)));
    let (events, err) = receive(&mut client, &wire, 97);
    assert!(err.is_none(), "{err:?}");
    let mut assembled = Vec::new();
    let mut fins = 0;
    for event in &events {
        let Event::Fragment(fragment) = event else {
            panic!("expected fragments, got {event:?}")
        };
        assembled.extend_from_slice(&fragment.data);
        fins += usize::from(fragment.fin);
    }
    assert!(events.len() > 2, "handed out as it arrived");
    assert_eq!(fins, 1);
    assert_eq!(assembled, text.as_bytes());
}

#[test]
fn state_is_allocated_lazily() {
    use weft_codec::Extension as _;
    let agreed = weft_handshake::parse_extension_list(b"permessage-deflate").expect("valid");
    let config = DeflateConfig::default();
    let mut ext = extension(&config, Role::Server, &agreed);
    assert!(!ext.compressor_allocated() && !ext.decompressor_allocated());
    // Below the threshold nothing is compressed, so nothing is allocated.
    assert!(ext.encode_begin(OpCode::Text, Some(10)).is_empty());
    assert!(!ext.compressor_allocated());
    // An empty compressed message needs no decompressor.
    let mut out = bytes::BytesMut::new();
    ext.decode(&[], true, &mut out, 100).expect("empty");
    assert!(out.is_empty() && !ext.decompressor_allocated());
    // The first compressed message allocates its half only.
    assert!(!ext.encode_begin(OpCode::Text, Some(100)).is_empty());
    ext.encode(&[b'a'; 100], true, &mut out).expect("encode");
    assert!(ext.compressor_allocated() && !ext.decompressor_allocated());
    let mut inflated = bytes::BytesMut::new();
    let mut client = extension(&config, Role::Client, &agreed);
    client
        .decode(&out, true, &mut inflated, 1000)
        .expect("decode");
    assert_eq!(&inflated[..], &[b'a'; 100][..]);
    assert!(client.decompressor_allocated() && !client.compressor_allocated());
}

#[test]
fn without_context_takeover_no_state_outlives_a_message() {
    use weft_codec::Extension as _;
    let agreed = weft_handshake::parse_extension_list(
        b"permessage-deflate; server_no_context_takeover; client_no_context_takeover",
    )
    .expect("valid");
    let config = DeflateConfig::low_memory();
    let mut server = extension(&config, Role::Server, &agreed);
    let mut client = extension(&config, Role::Client, &agreed);
    let text = json_like(2000);

    // Whole messages: the thread's compressor and decompressor; the connection makes none.
    let mut wire = bytes::BytesMut::new();
    assert!(
        !server
            .encode_begin(OpCode::Text, Some(text.len()))
            .is_empty()
    );
    server
        .encode(text.as_bytes(), true, &mut wire)
        .expect("encode");
    assert!(!server.compressor_allocated());
    let mut inflated = bytes::BytesMut::new();
    client
        .decode(&wire, true, &mut inflated, 1 << 20)
        .expect("decode");
    assert_eq!(&inflated[..], text.as_bytes());
    assert!(!client.decompressor_allocated());

    // In pieces: the connection's own, for the message's duration only.
    let (first, second) = text.as_bytes().split_at(700);
    let (mut a, mut b) = (bytes::BytesMut::new(), bytes::BytesMut::new());
    server.encode_begin(OpCode::Text, None);
    server.encode(first, false, &mut a).expect("first piece");
    assert!(server.compressor_allocated());
    // Falling quiet mid-message keeps what the message needs.
    server.release_idle_memory();
    assert!(server.compressor_allocated());
    server.encode(second, true, &mut b).expect("last piece");
    assert!(!server.compressor_allocated());
    let mut inflated = bytes::BytesMut::new();
    client
        .decode(&a, false, &mut inflated, 1 << 20)
        .expect("first frame");
    assert!(client.decompressor_allocated());
    client
        .decode(&b, true, &mut inflated, 1 << 20)
        .expect("last frame");
    assert!(!client.decompressor_allocated());
    assert_eq!(&inflated[..], text.as_bytes());
}

#[test]
fn a_compressor_released_between_messages_of_a_context_is_still_understood() {
    use weft_codec::Extension as _;
    let agreed = weft_handshake::parse_extension_list(b"permessage-deflate").expect("valid");
    let config = DeflateConfig::default();
    let mut server = extension(&config, Role::Server, &agreed);
    let mut client = extension(&config, Role::Client, &agreed);
    let mut sizes = Vec::new();
    for round in 0..6 {
        let text = json_like(1500);
        let mut wire = bytes::BytesMut::new();
        server.encode_begin(OpCode::Text, Some(text.len()));
        server
            .encode(text.as_bytes(), true, &mut wire)
            .expect("encode");
        sizes.push(wire.len());
        let mut inflated = bytes::BytesMut::new();
        client
            .decode(&wire, true, &mut inflated, 1 << 20)
            .expect("decode");
        assert_eq!(&inflated[..], text.as_bytes(), "round {round}");
        if round == 2 {
            server.release_idle_memory();
            assert!(!server.compressor_allocated());
            // The client's decompressor keeps the server's context: it is not released.
            client.release_idle_memory();
            assert!(client.decompressor_allocated());
        }
    }
    // The repeat refers to the last message, except right after the release.
    assert!(sizes[1] < sizes[0] / 4, "{sizes:?}");
    assert!(
        sizes[3] > sizes[0] * 9 / 10 && sizes[3] <= sizes[0],
        "{sizes:?}"
    );
    assert!(sizes[4] < sizes[0] / 4, "{sizes:?}");
}

#[test]
fn every_memory_level_round_trips() {
    let agreed = weft_handshake::parse_extension_list(b"permessage-deflate").expect("valid");
    let mut rng = Rng::new(7);
    let messages = [json_like(100), json_like(5000), json_like(70_000)];
    let random = rng.bytes(20_000);
    for level in 1..=9 {
        let config = DeflateConfig::default().memory_level(level);
        let server = extension(&config, Role::Server, &agreed);
        let client = extension(&config, Role::Client, &agreed);
        let mut sender = Connection::new(Role::Server).with_extension(Box::new(server));
        let mut receiver = Connection::new(Role::Client).with_extension(Box::new(client));
        for text in &messages {
            sender.send(Message::text(text.clone())).expect("send");
        }
        sender.send(Message::binary(random.clone())).expect("send");
        let (events, error) = receive(&mut receiver, &take_wire(&mut sender), usize::MAX);
        assert!(error.is_none(), "memory level {level}: {error:?}");
        let mut expected: Vec<Event> = messages
            .iter()
            .map(|text| Event::Message(Message::text(text.clone())))
            .collect();
        expected.push(Event::Message(Message::binary(random.clone())));
        assert_eq!(events, expected, "memory level {level}");
    }
}
