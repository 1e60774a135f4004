//! What a connection holds for permessage-deflate once it has compressed and inflated
//! messages, counted by a counting global allocator (the live heap of this process), not by
//! RSS: with the defaults, before and after the quiet period that releases the compressor;
//! with the low-memory preset, after use. The tests take turns (the heap is the process's).

use std::alloc::System;
use std::sync::Mutex;
use std::time::Instant;

use cap::Cap;
use weft_codec::{Config, Connection, Event, Message, Role};
use weft_deflate::DeflateConfig;

#[allow(dead_code)]
#[path = "deflate/support.rs"]
mod support;

use support::{json_like, negotiate, receive, take_wire};

#[global_allocator]
static ALLOC: Cap<System> = Cap::new(System, usize::MAX);

/// One test at a time: the counter is the whole process's.
static TURN: Mutex<()> = Mutex::new(());

const KIB: usize = 1024;

/// A server connection and its client with `config` on both ends, the client compressing too.
fn pair(config: &DeflateConfig) -> (Connection, Connection) {
    let (_, server_ext, client_ext) = negotiate(config, config).expect("agreed");
    let settings = Config::default().ping_interval(None);
    let server = Connection::new(Role::Server)
        .with_config(settings.clone())
        .with_extension(Box::new(server_ext));
    let client = Connection::new(Role::Client)
        .with_config(settings)
        .with_extension(Box::new(client_ext));
    (server, client)
}

/// `count` JSON messages of 300 B to 2.3 KiB each way, every one checked.
fn exchange(server: &mut Connection, client: &mut Connection, count: usize) {
    for i in 0..count {
        let text = json_like(300 + (i * 397) % 2048);
        client.send(Message::text(text.clone())).unwrap();
        let (events, error) = receive(server, &take_wire(client), usize::MAX);
        assert!(error.is_none(), "{error:?}");
        assert_eq!(events, vec![Event::Message(Message::text(text.clone()))]);
        server.send(Message::text(text.clone())).unwrap();
        let (events, error) = receive(client, &take_wire(server), usize::MAX);
        assert!(error.is_none(), "{error:?}");
        assert_eq!(events, vec![Event::Message(Message::text(text))]);
    }
}

/// What dropping `conn` gives back to the heap.
fn held_by(conn: Connection) -> usize {
    let before = ALLOC.allocated();
    drop(conn);
    before.saturating_sub(ALLOC.allocated())
}

/// Lets the connection fall quiet: the release timer checks once a period whether a message
/// passed since its last check, so the state goes one to two periods after the last message
/// (`Config::extension_release_after`).
fn fall_quiet(conn: &mut Connection) {
    let mut now = Instant::now();
    for _ in 0..2 {
        let due = conn.poll_timeout(now).expect("the release timer runs");
        now = due;
        conn.handle_timeout(now);
    }
    assert_eq!(
        conn.poll_timeout(now),
        None,
        "released, nothing left to wait for"
    );
}

#[test]
fn with_the_defaults_a_connection_that_fell_quiet_holds_at_most_64_kib() {
    let _turn = TURN.lock().unwrap_or_else(|poison| poison.into_inner());
    let config = DeflateConfig::default();

    let (mut server, mut client) = pair(&config);
    exchange(&mut server, &mut client, 50);
    let busy = held_by(server);
    // Context takeover both ways: our compressor (window, hash table, buffers) and the
    // decompressor holding the client's window.
    assert!(
        busy > 250 * KIB,
        "a busy connection holds {} KiB",
        busy / KIB
    );

    let (mut server, mut client) = pair(&config);
    exchange(&mut server, &mut client, 50);
    fall_quiet(&mut server);
    let quiet = held_by(server);
    assert!(
        quiet <= 64 * KIB,
        "a quiet connection holds {} KiB",
        quiet / KIB
    );
    eprintln!(
        "defaults: {} KiB while busy, {} KiB once quiet",
        busy / KIB,
        quiet / KIB
    );

    // The client, whose peer dropped its compressor, still inflates what comes next.
    let (mut server, mut client) = pair(&config);
    exchange(&mut server, &mut client, 5);
    fall_quiet(&mut server);
    fall_quiet(&mut client);
    exchange(&mut server, &mut client, 5);
}

#[test]
fn with_the_low_memory_preset_a_connection_holds_at_most_16_kib_after_use() {
    let _turn = TURN.lock().unwrap_or_else(|poison| poison.into_inner());
    let config = DeflateConfig::low_memory();
    // The thread's shared compressor and decompressor are made by the first messages; they
    // are the thread's, not a connection's.
    let (mut server, mut client) = pair(&config);
    exchange(&mut server, &mut client, 2);

    let (mut server, mut client) = pair(&config);
    exchange(&mut server, &mut client, 50);
    let held = held_by(server);
    eprintln!("low-memory preset: {} KiB after use", held / KIB);
    assert!(held <= 16 * KIB, "a connection holds {} KiB", held / KIB);
}

#[test]
fn a_hundred_connections_with_the_defaults_hold_their_compressors_only_while_busy() {
    let _turn = TURN.lock().unwrap_or_else(|poison| poison.into_inner());
    let config = DeflateConfig::default();
    let start = ALLOC.allocated();
    let mut pairs: Vec<(Connection, Connection)> = (0..100).map(|_| pair(&config)).collect();
    for (server, client) in &mut pairs {
        exchange(server, client, 3);
    }
    let busy = ALLOC.allocated().saturating_sub(start) / 100;
    for (server, client) in &mut pairs {
        fall_quiet(server);
        fall_quiet(client);
    }
    let quiet = ALLOC.allocated().saturating_sub(start) / 100;
    eprintln!(
        "100 pairs: {} KiB per pair busy, {} KiB quiet",
        busy / KIB,
        quiet / KIB
    );
    // Each pair: two decompressors (about 46 KiB each) and the connections' own buffers.
    assert!(quiet <= 128 * KIB, "a quiet pair holds {} KiB", quiet / KIB);
    assert!(busy >= quiet + 400 * KIB, "two compressors are gone");
}
