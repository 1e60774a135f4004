//! Hostile peers against weft: each scenario is a test that fails if the protection it checks
//! is removed. Memory is measured with a counting global allocator (live heap bytes), never with
//! timings; the tests run one at a time so that their measurements do not mix.

use std::alloc::System;
use std::time::{Duration, Instant};

use cap::Cap;
use futures_util::future::join_all;
use weft::{CloseCode, Config, Error, Limits, Message};
use weft_harness::{EchoServer, RawFrame, RawPeer, bounded, deflate_bomb, eventually};

#[global_allocator]
static ALLOC: Cap<System> = Cap::new(System, usize::MAX);

/// Memory measurements need the process to themselves. (A tokio mutex: each test runs its own
/// runtime, and the guard is held across awaits.)
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    SERIAL.lock().await
}

/// Live heap bytes.
fn live() -> usize {
    ALLOC.allocated()
}

const MIB: usize = 1 << 20;

#[tokio::test]
async fn a_length_bomb_is_refused_before_its_payload_is_buffered() {
    let _serial = serial().await;
    let server = EchoServer::start().await.unwrap();
    let junk = vec![0u8; 8 * MIB];
    let mut peer = RawPeer::connect(server.addr).await.unwrap();
    bounded(peer.handshake("/")).await.unwrap();
    let before = live();
    peer.send_frame(&RawFrame::binary(vec![]).announce_len((1 << 63) - 1))
        .await
        .unwrap();
    // The "payload" follows; the server must not keep it.
    let _ = peer.send(&junk).await;
    let grown = live().saturating_sub(before);
    assert_eq!(bounded(peer.read_close()).await.unwrap(), Some(1009));
    assert!(
        grown < MIB,
        "the server held {grown} bytes of an announced 2^63-byte frame"
    );
    drop(peer);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_hundred_thousand_one_byte_fragments_hit_the_fragment_limit() {
    let _serial = serial().await;
    let server = EchoServer::start().await.unwrap();
    let mut frames = RawFrame::binary(vec![1]).fin(false).encode();
    let continuation = RawFrame::continuation(vec![1]).fin(false).encode();
    for _ in 1..100_000 {
        frames.extend_from_slice(&continuation);
    }
    let mut peer = RawPeer::connect(server.addr).await.unwrap();
    bounded(peer.handshake("/")).await.unwrap();
    let before = live();
    let _ = peer.send(&frames).await;
    let grown = live().saturating_sub(before);
    assert_eq!(
        bounded(peer.read_close()).await.unwrap(),
        Some(1009),
        "max_fragments (70,000)"
    );
    assert!(grown < MIB, "{grown} bytes held for a 100 KB message");
    drop(peer);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn invalid_utf8_reserved_bits_and_unmasked_frames_get_their_close_codes() {
    let _serial = serial().await;
    let server = EchoServer::start().await.unwrap();
    let cases: [(&str, RawFrame, u16); 6] = [
        (
            "invalid UTF-8 in a text message",
            RawFrame::text(vec![b'o', b'k', 0xC0, 0xAF]),
            1007,
        ),
        (
            "invalid UTF-8 in a close reason",
            RawFrame::close(1000, [0xED, 0xA0, 0x80]),
            1007,
        ),
        (
            "RSV1 without permessage-deflate",
            RawFrame::text("x").rsv(0x40),
            1002,
        ),
        ("RSV2 and RSV3", RawFrame::binary("x").rsv(0x30), 1002),
        ("a reserved control opcode", RawFrame::new(0xB, ""), 1002),
        (
            "an unmasked client frame",
            RawFrame::text("x").unmasked(),
            1002,
        ),
    ];
    for (what, frame, code) in cases {
        let mut peer = RawPeer::connect(server.addr).await.unwrap();
        bounded(peer.handshake("/")).await.unwrap();
        peer.send_frame(&frame).await.unwrap();
        assert_eq!(
            bounded(peer.read_close()).await.unwrap(),
            Some(code),
            "{what}"
        );
    }
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_compression_bomb_stops_at_the_message_limit() {
    let _serial = serial().await;
    let bomb = deflate_bomb(256 * MIB);
    assert!(
        bomb.len() < MIB / 2,
        "the bomb is small: {} bytes",
        bomb.len()
    );
    let limits = Limits::default().max_message_size(MIB);
    let acceptor = weft::Acceptor::builder().limits(limits).build().unwrap();
    let server = EchoServer::start_with(weft::Server::builder().acceptor(acceptor))
        .await
        .unwrap();
    let mut peer = RawPeer::connect(server.addr).await.unwrap();
    let offer = weft::handshake::Extension::new("permessage-deflate").unwrap();
    let response = bounded(peer.handshake_offering("/", &[offer]))
        .await
        .unwrap();
    assert_eq!(
        response.headers()["sec-websocket-extensions"],
        "permessage-deflate"
    );
    let before = live();
    peer.send_frame(&RawFrame::binary(bomb).rsv(0x40))
        .await
        .unwrap();
    assert_eq!(bounded(peer.read_close()).await.unwrap(), Some(1009));
    let grown = live().saturating_sub(before);
    // The cap (1 MiB), the inflater (~46 KiB) and the input: nowhere near 256 MiB.
    assert!(
        grown < 4 * MIB,
        "{grown} bytes held while inflating a 256 MiB bomb"
    );
    drop(peer);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_ping_flood_without_reads_owes_one_pong_and_others_are_still_served() {
    let _serial = serial().await;
    let server = EchoServer::start().await.unwrap();
    let flood = RawFrame::ping(*b"12345678").encode().repeat(1_000_000); // 14 MB of pings
    let mut peer = RawPeer::connect(server.addr).await.unwrap();
    bounded(peer.handshake("/")).await.unwrap();
    let before = live();
    // The flooder never reads: pongs can only pile up on the server's side.
    bounded(peer.send(&flood)).await.unwrap();
    let grown = live().saturating_sub(before);
    assert!(
        grown < MIB,
        "{grown} bytes of pongs queued for a peer that does not read"
    );
    // Meanwhile, honest clients are served.
    let (mut ws, _) = bounded(weft::connect(&server.url())).await.unwrap();
    ws.send(Message::text("still here")).await.unwrap();
    assert_eq!(
        bounded(ws.next()).await.unwrap().unwrap(),
        Message::text("still here")
    );
    drop(ws);
    drop(peer);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_client_that_never_reads_its_echoes_is_held_back_not_buffered() {
    let _serial = serial().await;
    // This server queues echoes with `feed`, which waits only for room in the write buffer:
    // backpressure is what stops it from reading (and buffering) more.
    let server = weft::Server::bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr().unwrap();
    let handle = server.shutdown_handle();
    let serving = tokio::spawn(server.serve(|mut ws, _| async move {
        while let Some(Ok(message)) = ws.next().await {
            if message.is_binary() && ws.feed(message).await.is_err() {
                break;
            }
        }
    }));
    let mut peer = RawPeer::connect(addr).await.unwrap();
    bounded(peer.handshake("/")).await.unwrap();
    let frame = RawFrame::binary(vec![7u8; 64 << 10]).encode();
    let before = live();
    let writer = tokio::spawn(async move {
        let mut sent = 0usize;
        // Stops when the server stops reading (the socket buffers fill) or after 256 MiB.
        while sent < 256 * MIB {
            match tokio::time::timeout(Duration::from_millis(500), peer.send(&frame)).await {
                Ok(Ok(())) => sent += frame.len(),
                _ => break,
            }
        }
        (peer, sent)
    });
    let (peer, sent) = bounded(writer).await.unwrap();
    let grown = live().saturating_sub(before);
    assert!(sent < 256 * MIB, "the server kept reading: {sent} bytes");
    assert!(
        grown < 4 * MIB,
        "{grown} bytes buffered for a client that does not read"
    );
    drop(peer);
    handle.shutdown();
    bounded(serving).await.unwrap().unwrap();
}

/// Open file descriptors of this process.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(Iterator::count)
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_thousand_connect_close_cycles_leak_neither_fds_nor_memory() {
    let _serial = serial().await;
    let server = EchoServer::start().await.unwrap();
    let url = server.url();
    // Warm up the runtime and the allocator's arenas before the baseline.
    for _ in 0..100 {
        let (mut ws, _) = weft::connect(&url).await.unwrap();
        ws.close(CloseCode::NORMAL, "").await.unwrap();
    }
    let (fds, memory) = (open_fds(), live());
    let workers = (0..25).map(|_| {
        let url = url.clone();
        tokio::spawn(async move {
            for _ in 0..2_000 {
                let (mut ws, _) = weft::connect(&url).await.unwrap();
                ws.close(CloseCode::NORMAL, "").await.unwrap();
            }
        })
    });
    for worker in bounded(join_all(workers)).await {
        worker.unwrap();
    }
    // Connections end asynchronously on the server: wait for them to be gone.
    eventually("file descriptors return to their baseline", || {
        open_fds() <= fds + 2
    })
    .await;
    eventually("memory returns near its baseline", || {
        live() <= memory + 256 * 1024
    })
    .await;
    server.shutdown().await.unwrap();
}

/// Ten thousand idle connections to a server with the default connection cap, from another
/// process (one process may hold 20,000 descriptors here, and a client and server in one would
/// need two per connection). The cap was a fixed 10,000, so every client after them was
/// refused with 503 although the process could hold nearly twice as many; it now comes from
/// the descriptor limit. The idle connections also cost little memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_idle_connections_leave_room_for_more_and_cost_little_memory() {
    let _serial = serial().await;
    let server = EchoServer::start().await.unwrap();
    let before = live();
    let idle = 10_000;
    let mut swarm = std::process::Command::new(env!("CARGO_BIN_EXE_idle_swarm"))
        .args([server.url(), idle.to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = swarm.stdout.take().unwrap();
    // Ten thousand handshakes on a loaded two-core machine: a generous bound (liveness, not
    // speed).
    let ready = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)
                .map(|_| line)
        }),
    )
    .await
    .expect("the swarm connected within two minutes")
    .unwrap()
    .unwrap();
    assert_eq!(ready.trim(), format!("ready {idle}"));
    // Let every server task reach its idle wait.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let per_connection = live().saturating_sub(before) / idle;
    eprintln!("server heap per idle connection: {per_connection} bytes");
    // tokio-tungstenite holds a 128 KiB read buffer per connection; weft holds none when idle.
    // About 3 KiB: the handler's future and what it holds. (7.2 KiB while the connection's
    // task also kept the states of its handshake.)
    assert!(
        per_connection < 4 << 10,
        "{per_connection} bytes of heap per idle connection"
    );

    // More clients are still served.
    for n in 0..20 {
        let (mut ws, _) = bounded(weft::connect(&server.url()))
            .await
            .unwrap_or_else(|err| panic!("client {} after {idle} idle ones: {err}", n + 1));
        ws.send(Message::text("still room")).await.unwrap();
        assert_eq!(
            bounded(ws.next()).await.unwrap().unwrap(),
            Message::text("still room")
        );
        ws.close(CloseCode::NORMAL, "").await.unwrap();
    }
    let stats = server.stats().snapshot();
    assert_eq!(stats.refused_over_capacity, 0, "{stats}");
    assert_eq!(stats.websockets_upgraded, idle as u64 + 20, "{stats}");
    assert!(stats.websockets_open >= idle as u64, "{stats}");

    drop(swarm.stdin.take());
    let _ = bounded(tokio::task::spawn_blocking(move || swarm.wait())).await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn buffers_shrink_back_after_a_large_message() {
    let _serial = serial().await;
    let server = EchoServer::start().await.unwrap();
    // Without compression: deflate state, once allocated, stays for context takeover.
    let client = weft::ClientBuilder::new(server.url())
        .deflate(weft::DeflateConfig::default().enabled(false));
    let (mut ws, _) = bounded(client.connect()).await.unwrap();
    ws.send(Message::text("warm")).await.unwrap();
    bounded(ws.next()).await.unwrap().unwrap();
    let before = live();
    ws.send(Message::binary(vec![1u8; 16 * MIB])).await.unwrap();
    let echo = bounded(ws.next()).await.unwrap().unwrap();
    assert_eq!(echo.len(), 16 * MIB);
    drop(echo);
    // A small message afterwards: both ends go back to their quiet state.
    ws.send(Message::text("quiet")).await.unwrap();
    assert_eq!(
        bounded(ws.next()).await.unwrap().unwrap(),
        Message::text("quiet")
    );
    // The client keeps reading, as applications do, so its timers run; after a quiet second
    // both ends let go of the buffers the burst grew.
    let reader = tokio::spawn(async move { while ws.next().await.is_some() {} });
    eventually("a 16 MiB burst no longer pins memory", || {
        live() <= before + 64 * 1024
    })
    .await;
    reader.abort();
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_reset_in_the_middle_of_a_frame_ends_only_that_connection() {
    let _serial = serial().await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let server = weft::Server::bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr().unwrap();
    let handle = server.shutdown_handle();
    let serving = tokio::spawn(server.serve(move |mut ws, _| {
        let tx = tx.clone();
        async move {
            while let Some(message) = ws.next().await {
                match message {
                    Ok(message) if message.is_text() => {
                        let _ = ws.send(message).await;
                    }
                    Ok(_) => {}
                    Err(err) => {
                        let _ = tx.send(err);
                    }
                }
            }
        }
    }));
    let mut peer = RawPeer::connect(addr).await.unwrap();
    bounded(peer.handshake("/")).await.unwrap();
    let frame = RawFrame::binary(vec![9u8; 1000]).encode();
    peer.send(&frame[..500]).await.unwrap();
    socket2::SockRef::from(&*peer.get_mut())
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(peer); // RST
    let err = bounded(rx.recv()).await.unwrap();
    assert!(
        matches!(&err, Error::AbnormalClosure)
            || matches!(&err, Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionReset),
        "{err}"
    );
    let (mut ws, _) = bounded(weft::connect(&format!("ws://{addr}/")))
        .await
        .unwrap();
    ws.send(Message::text("next")).await.unwrap();
    assert_eq!(
        bounded(ws.next()).await.unwrap().unwrap(),
        Message::text("next")
    );
    drop(ws);
    handle.shutdown();
    bounded(serving).await.unwrap().unwrap();
}

#[tokio::test]
async fn keepalive_closes_a_silent_peer_with_1011_and_measures_round_trips() {
    let _serial = serial().await;
    let config = Config::default()
        .ping_interval(Some(Duration::from_millis(200)))
        .ping_timeout(Duration::from_millis(300));
    let acceptor = weft::Acceptor::builder()
        .config(config.clone())
        .build()
        .unwrap();
    let server = EchoServer::start_with(weft::Server::builder().acceptor(acceptor))
        .await
        .unwrap();

    // A peer that never answers pings is closed with 1011.
    let mut peer = RawPeer::connect(server.addr).await.unwrap();
    bounded(peer.handshake("/")).await.unwrap();
    let started = Instant::now();
    let ping = bounded(peer.read_frame()).await.unwrap().unwrap();
    assert_eq!(ping.header.opcode, weft::codec::OpCode::Ping);
    assert_eq!(bounded(peer.read_close()).await.unwrap(), Some(1011));
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(450),
        "closed after {elapsed:?}"
    );

    // A weft client answers, and measures its own round trips (against a server with the
    // default keepalive, so the client is the one that pings first).
    server.shutdown().await.unwrap();
    let server = EchoServer::start().await.unwrap();
    let (mut ws, _) = bounded(
        weft::ClientBuilder::new(server.url())
            .config(config)
            .connect(),
    )
    .await
    .unwrap();
    let _ = tokio::time::timeout(Duration::from_millis(700), ws.next()).await;
    assert!(
        ws.connection().rtt().is_some(),
        "a keepalive round trip was measured"
    );
    ws.send(Message::text("alive")).await.unwrap();
    assert_eq!(
        bounded(ws.next()).await.unwrap().unwrap(),
        Message::text("alive")
    );
    drop((ws, peer));
    server.shutdown().await.unwrap();
}

/// An honest client that echoes a message every 10 ms until told to stop; returns how many
/// round trips it made. Any failure panics the task.
fn honest_client(
    url: String,
    stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<u64> {
    tokio::spawn(async move {
        let (mut ws, _) = bounded(weft::connect(&url)).await.unwrap();
        let mut round_trips = 0;
        while !*stop.borrow() {
            let text = format!("honest {round_trips}");
            bounded(ws.send(Message::text(text.clone()))).await.unwrap();
            assert_eq!(
                bounded(ws.next()).await.unwrap().unwrap(),
                Message::text(text)
            );
            round_trips += 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        ws.close(CloseCode::NORMAL, "").await.unwrap();
        round_trips
    })
}

/// Connections opened faster than the server serves them, most over its cap (and many past
/// the listen backlog while the accept loop catches up): each gets an answer or is closed,
/// within bounded time; every refusal is counted; an honest client echoes throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_over_the_cap_is_refused_and_counted_while_honest_traffic_flows() {
    let _serial = serial().await;
    let cap = 100;
    let server = EchoServer::start_with(weft::Server::builder().max_connections(cap))
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let honest = honest_client(server.url(), stopped);
    eventually("the honest client is connected", || {
        server.stats().snapshot().websockets_upgraded == 1
    })
    .await;
    let flood = 2_000;
    let attempts = (0..flood).map(|_| {
        let addr = server.addr;
        tokio::spawn(async move {
            let Ok(mut peer) = RawPeer::connect(addr).await else {
                return (None, None);
            };
            // A refusal (503), a 101, or the end of the stream: each is an answer.
            let answer = bounded(peer.handshake("/")).await;
            let status = match &answer {
                Ok(_) => Some(101),
                Err(err) => err.to_string().contains("503").then_some(503),
            };
            // Keep the socket (and its place) until every attempt is answered.
            (status, Some(peer))
        })
    });
    let answers = bounded(join_all(attempts)).await;
    let mut statuses = std::collections::BTreeMap::<Option<u16>, usize>::new();
    let mut peers = Vec::new();
    for answer in answers {
        let (status, peer) = answer.unwrap();
        *statuses.entry(status).or_default() += 1;
        peers.extend(peer);
    }
    println!("{flood} connections at once against a cap of {cap}: {statuses:?}");
    assert_eq!(statuses.get(&Some(101)), Some(&(cap - 1)), "{statuses:?}");
    let snapshot = server.stats().snapshot();
    // Every attempt that was not upgraded was refused or dropped. A lower bound: once in CI
    // the server saw 2,003 connections for the 2,001 the test opened (loopback under a SYN
    // flood past the backlog), so an exact count would test the kernel, not weft.
    let turned_away = snapshot.refused_over_capacity + snapshot.dropped_over_capacity;
    assert!(turned_away >= (flood - (cap - 1)) as u64, "{snapshot}");
    assert!(turned_away <= flood as u64 + 10, "{snapshot}");
    assert_eq!(
        statuses.get(&Some(503)).copied().unwrap_or(0) as u64,
        snapshot.refused_over_capacity,
        "{snapshot}"
    );
    drop(peers);
    stop.send(true).unwrap();
    let round_trips = bounded(honest).await.unwrap();
    assert!(round_trips > 0);
    server.shutdown().await.unwrap();
}

/// Clients that connect and send nothing hold a place until the handshake timeout, then are
/// closed and counted; an honest client is served meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_are_closed_at_the_handshake_timeout_and_counted() {
    let _serial = serial().await;
    let timeout = Duration::from_millis(500);
    let acceptor = weft::Acceptor::builder()
        .handshake_timeout(timeout)
        .build()
        .unwrap();
    let server = EchoServer::start_with(weft::Server::builder().acceptor(acceptor))
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let honest = honest_client(server.url(), stopped);
    let silent = 200;
    let mut peers = Vec::new();
    for _ in 0..silent {
        peers.push(RawPeer::connect(server.addr).await.unwrap());
    }
    // Each is closed by the server: reading finds the end of the stream.
    let ends = join_all(peers.iter_mut().map(|peer| bounded(peer.read_to_end()))).await;
    for end in ends {
        assert_eq!(end.unwrap(), 0, "a silent client was sent nothing");
    }
    eventually("every silent connection is counted", || {
        server.stats().snapshot().handshake_timeouts == silent
    })
    .await;
    stop.send(true).unwrap();
    assert!(bounded(honest).await.unwrap() > 0);
    let snapshot = server.stats().snapshot();
    assert_eq!(snapshot.websockets_upgraded, 1, "{snapshot}");
    server.shutdown().await.unwrap();
}
