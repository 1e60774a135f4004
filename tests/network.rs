//! weft over a bad network: a weft client and a weft server on loopback with a
//! [`FaultProxy`] between them (latency, jitter, a bandwidth cap, loss, stalls, a blackhole,
//! resets and FINs at chosen points). Every test ends in a result it asserts: a message that
//! arrived intact, an error variant, a close code or a counter of the server.
//!
//! Waits are bounded. Where a deadline is what a test is about (keepalive must notice a
//! vanished peer within `ping_interval + ping_timeout`), the bound is that deadline plus a
//! second for a loaded machine, and the measured time is printed.
//!
//! `netem` in a network namespace would put the same faults into the kernel's path; the
//! kernel here is built without it (`tc qdisc add dev veth0 root netem delay 25ms` answers
//! "Specified qdisc kind is unknown"), so there is no netem variant.

use std::alloc::System;
use std::time::{Duration, Instant};

use cap::Cap;
use weft::{ClientBuilder, ClientStream, CloseCode, Config, Error, Message, WebSocket};
use weft_harness::{Cut, Direction, EchoServer, FaultProxy, NetFaults, bounded, eventually};

#[global_allocator]
static ALLOC: Cap<System> = Cap::new(System, usize::MAX);

/// The leak test counts descriptors and heap: tests run one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// What a deadline under test may overrun by on a loaded two-core machine (timers fire on a
/// thread that may wait for a core; one scheduling round is milliseconds, not seconds).
const SLACK: Duration = Duration::from_secs(1);

/// An echo server with the default settings and a proxy with `faults` in front of it.
async fn echo_behind(faults: NetFaults) -> (EchoServer, FaultProxy) {
    let server = EchoServer::start().await.unwrap();
    let proxy = FaultProxy::start(server.addr, faults).await.unwrap();
    (server, proxy)
}

async fn connect(proxy: &FaultProxy, config: Config) -> WebSocket<ClientStream> {
    bounded(ClientBuilder::new(proxy.url()).config(config).connect())
        .await
        .unwrap()
        .0
}

async fn round_trip(ws: &mut WebSocket<ClientStream>, message: Message) {
    bounded(ws.send(message.clone())).await.unwrap();
    let echo = bounded(next_data(ws)).await.unwrap().unwrap();
    assert!(echo == message, "the echo of a {} B message", message.len());
}

/// The next data message or error, past the pongs that answer keepalive pings.
async fn next_data(ws: &mut WebSocket<ClientStream>) -> Option<Result<Message, Error>> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => return other,
        }
    }
}

/// Keepalive settings for the tests that time it.
const PING_INTERVAL: Duration = Duration::from_millis(500);
const PING_TIMEOUT: Duration = Duration::from_millis(500);

fn keepalive() -> Config {
    Config::default()
        .ping_interval(Some(PING_INTERVAL))
        .ping_timeout(PING_TIMEOUT)
}

#[tokio::test]
async fn keepalive_notices_a_blackholed_server_within_interval_plus_timeout() {
    let _serial = SERIAL.lock().await;
    let (server, proxy) = echo_behind(NetFaults::default()).await;
    let mut ws = connect(&proxy, keepalive()).await;
    round_trip(&mut ws, Message::text("before")).await;
    proxy.blackhole(true);
    let started = Instant::now();
    let outcome = tokio::time::timeout(PING_INTERVAL + PING_TIMEOUT + SLACK, next_data(&mut ws))
        .await
        .expect("keepalive noticed the blackhole within ping_interval + ping_timeout");
    let elapsed = started.elapsed();
    println!("blackholed server noticed after {elapsed:?}");
    assert!(
        matches!(outcome, Some(Err(Error::KeepaliveTimeout))),
        "{outcome:?}"
    );
    assert!(elapsed >= PING_TIMEOUT, "noticed after {elapsed:?}");
    assert_eq!(
        ws.connection().close_code(),
        Some(CloseCode::INTERNAL_ERROR)
    );
    drop(ws);
    drop(proxy);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn keepalive_on_the_server_notices_a_blackholed_client() {
    let _serial = SERIAL.lock().await;
    let acceptor = weft::Acceptor::builder()
        .config(keepalive().close_timeout(Duration::from_millis(500)))
        .build()
        .unwrap();
    let server = EchoServer::start_with(weft::Server::builder().acceptor(acceptor))
        .await
        .unwrap();
    let proxy = FaultProxy::start(server.addr, NetFaults::default())
        .await
        .unwrap();
    // The client does not ping, so only the server's keepalive can notice.
    let mut ws = connect(&proxy, Config::default().ping_interval(None)).await;
    round_trip(&mut ws, Message::text("before")).await;
    proxy.blackhole(true);
    let started = Instant::now();
    let stats = server.stats().clone();
    tokio::time::timeout(PING_INTERVAL + PING_TIMEOUT + SLACK, async {
        while stats.snapshot().keepalive_timeouts == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the server's keepalive noticed within ping_interval + ping_timeout");
    println!("blackholed client noticed after {:?}", started.elapsed());
    // It closed with 1011, and, the close not being answered, gave up after close_timeout.
    eventually("the server counts the close, 1011", || {
        stats
            .snapshot()
            .closed_by_code
            .contains(&(CloseCode::INTERNAL_ERROR, 1))
    })
    .await;
    let snapshot = stats.snapshot();
    assert_eq!(snapshot.close_timeouts, 0, "{snapshot}");
    assert_eq!(snapshot.websockets_open, 0, "{snapshot}");
    drop(ws);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_close_handshake_times_out_as_configured() {
    let _serial = SERIAL.lock().await;
    let close_timeout = Duration::from_millis(700);
    let (server, proxy) = echo_behind(NetFaults::default()).await;
    let mut ws = connect(
        &proxy,
        Config::default()
            .close_timeout(close_timeout)
            .ping_interval(None),
    )
    .await;
    round_trip(&mut ws, Message::text("before")).await;
    proxy.blackhole(true);
    let started = Instant::now();
    let closed = tokio::time::timeout(close_timeout + SLACK, ws.close(CloseCode::NORMAL, "bye"))
        .await
        .expect("close returned within close_timeout");
    let elapsed = started.elapsed();
    println!("close gave up after {elapsed:?} (close_timeout {close_timeout:?})");
    assert!(matches!(closed, Err(Error::CloseTimeout)), "{closed:?}");
    assert!(elapsed >= close_timeout, "gave up after {elapsed:?}");
    assert!(ws.connection().is_aborted());
    drop(ws);
    drop(proxy);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_server_shutting_down_gives_a_blackholed_client_close_timeout_and_no_more() {
    let _serial = SERIAL.lock().await;
    let close_timeout = Duration::from_millis(700);
    let acceptor = weft::Acceptor::builder()
        .config(Config::default().close_timeout(close_timeout))
        .build()
        .unwrap();
    let server = EchoServer::start_with(
        weft::Server::builder()
            .acceptor(acceptor)
            .shutdown_timeout(Duration::from_secs(10)),
    )
    .await
    .unwrap();
    let proxy = FaultProxy::start(server.addr, NetFaults::default())
        .await
        .unwrap();
    let mut ws = connect(&proxy, Config::default()).await;
    round_trip(&mut ws, Message::text("before")).await;
    proxy.blackhole(true);
    let stats = server.stats().clone();
    let started = Instant::now();
    tokio::time::timeout(close_timeout + SLACK, server.shutdown())
        .await
        .expect("the server stopped within close_timeout, not its 10 s shutdown timeout")
        .unwrap();
    println!("server stopped after {:?}", started.elapsed());
    let snapshot = stats.snapshot();
    assert_eq!(snapshot.close_timeouts, 1, "{snapshot}");
    assert_eq!(
        snapshot.closed_by_code,
        [(CloseCode::GOING_AWAY, 1)],
        "{snapshot}"
    );
    drop(ws);
}

/// The length of the `101` response the client read, from its head.
fn response_len(response: &http::Response<()>) -> u64 {
    let headers: usize = response
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + 2 + value.len() + 2)
        .sum();
    ("HTTP/1.1 101 Switching Protocols\r\n".len() + headers + 2) as u64
}

/// How long the server's `101` response is (the same for every connection of these tests).
async fn measure_response(proxy: &FaultProxy) -> u64 {
    let (mut ws, response) = bounded(ClientBuilder::new(proxy.url()).connect())
        .await
        .unwrap();
    ws.close(CloseCode::NORMAL, "").await.unwrap();
    response_len(&response)
}

/// Bytes that permessage-deflate cannot shrink.
fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect()
}

/// A read's outcome, without the payload.
fn describe(outcome: &Option<Result<Message, Error>>) -> String {
    match outcome {
        Some(Ok(message)) => format!("a message of {} bytes", message.len()),
        Some(Err(err)) => format!("{err:?}"),
        None => "the end".to_owned(),
    }
}

fn is_reset(err: &std::io::Error) -> bool {
    err.kind() == std::io::ErrorKind::ConnectionReset
}

#[tokio::test]
async fn resets_and_fins_at_chosen_points_end_in_defined_errors() {
    let _serial = SERIAL.lock().await;
    let (server, proxy) = echo_behind(NetFaults::default()).await;
    let head = measure_response(&proxy).await;
    let stats = server.stats().clone();
    let connect = || bounded(ClientBuilder::new(proxy.url()).connect());

    // A reset while the server reads the request: the client's read of the response fails.
    proxy.set_faults(NetFaults::default().cut_after(Direction::ToServer, 20, Cut::Reset));
    let err = connect().await.unwrap_err();
    assert!(
        matches!(&err, weft::client::Error::Io(io) if is_reset(io)),
        "{err:?}"
    );

    // A FIN inside the 101 response: the handshake fails on the truncated head.
    proxy.set_faults(NetFaults::default().cut_after(Direction::ToClient, 30, Cut::Fin));
    let err = connect().await.unwrap_err();
    assert!(
        matches!(
            &err,
            weft::client::Error::Handshake(weft::handshake::Error::UnexpectedEof)
        ),
        "{err:?}"
    );

    // After the handshake, in the middle of the echo's frame. The message is larger than
    // what is let through, compressed or not, so the cut falls inside its payload.
    let message = Message::binary(noise(4000));
    for (direction, cut) in [
        (Direction::ToClient, Cut::Reset),
        (Direction::ToClient, Cut::Fin),
        (Direction::ToServer, Cut::Reset),
        (Direction::ToServer, Cut::Fin),
    ] {
        let what = format!("{cut:?} {direction:?} mid-frame");
        // The request is about 200 bytes; the client's frame starts after it.
        let at = match direction {
            Direction::ToClient => head + 1000,
            Direction::ToServer => 1000,
        };
        proxy.set_faults(NetFaults::default().cut_after(direction, at, cut));
        // Whatever the cases before left on the server has ended.
        eventually("the server holds no connection", || {
            stats.snapshot().connections_open == 0
        })
        .await;
        let closed_abnormally = stats.snapshot().closed_abnormally;
        let (mut ws, _) = connect().await.unwrap();
        // The send itself may or may not see the cut; the next read does.
        let _ = bounded(ws.send(message.clone())).await;
        let outcome = bounded(ws.next()).await;
        println!("{what}: the client got {}", describe(&outcome));
        match (direction, cut) {
            // The client's own side: a reset is read as one, a FIN as the end of the stream.
            (Direction::ToClient, Cut::Reset) | (Direction::ToServer, Cut::Reset) => assert!(
                matches!(&outcome, Some(Err(Error::Io(io))) if is_reset(io)),
                "{what}: {outcome:?}"
            ),
            // A FIN towards the client: the stream ended without a close frame.
            (Direction::ToClient, Cut::Fin) => assert!(
                matches!(outcome, Some(Err(Error::AbnormalClosure))),
                "{what}: {outcome:?}"
            ),
            // A FIN towards the server: the server sees the end mid-frame and drops the
            // connection; the client reads the end of the stream.
            (Direction::ToServer, Cut::Fin) => assert!(
                matches!(outcome, Some(Err(Error::AbnormalClosure))),
                "{what}: {outcome:?}"
            ),
        }
        // The server counts every one of these as a WebSocket that ended without a close.
        drop(ws);
        eventually(&format!("{what}: the server's connection ended"), || {
            stats.snapshot().connections_open == 0
        })
        .await;
        let snapshot = stats.snapshot();
        assert_eq!(
            snapshot.closed_abnormally,
            closed_abnormally + 1,
            "{what}: {snapshot}"
        );
    }

    // And the path works again once the faults are gone.
    proxy.set_faults(NetFaults::default());
    let (mut ws, _) = connect().await.unwrap();
    round_trip(&mut ws, Message::text("after")).await;
    ws.close(CloseCode::NORMAL, "").await.unwrap();
    drop(proxy);
    server.shutdown().await.unwrap();
}

/// Open file descriptors of this process.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(Iterator::count)
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_reconnects_through_resets_leaks_nothing() {
    let _serial = SERIAL.lock().await;
    let (server, proxy) = echo_behind(NetFaults::default()).await;
    let head = measure_response(&proxy).await;
    // Warm up the runtime and the allocator before the baseline.
    for _ in 0..20 {
        let mut ws = connect(&proxy, Config::default()).await;
        round_trip(&mut ws, Message::text("warm")).await;
        ws.close(CloseCode::NORMAL, "").await.unwrap();
    }
    eventually("the warm-up connections are gone", || {
        proxy.open_connections() == 0 && server.stats().snapshot().connections_open == 0
    })
    .await;
    let (fds, memory) = (open_fds(), ALLOC.allocated());

    // Each round cuts the connection somewhere: in the request, in the response, or in a
    // frame either way; the client reconnects and tries again, as a reconnecting client does.
    let rounds = 300u64;
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    for round in 0..rounds {
        let at = (round * 37) % (head + 600);
        let direction = if round % 2 == 0 {
            Direction::ToClient
        } else {
            Direction::ToServer
        };
        let cut = if round % 3 == 0 { Cut::Fin } else { Cut::Reset };
        proxy.set_faults(NetFaults::default().cut_after(direction, at, cut));
        let outcome = match bounded(ClientBuilder::new(proxy.url()).connect()).await {
            Err(err) => format!("connect: {}", kind_of_client_error(&err)),
            Ok((mut ws, _)) => {
                let _ = bounded(ws.send(Message::binary(noise(500)))).await;
                match bounded(ws.next()).await {
                    Some(Ok(_)) => "echoed".to_owned(),
                    Some(Err(err)) => format!("read: {}", kind_of_error(&err)),
                    None => "ended".to_owned(),
                }
            }
        };
        *outcomes.entry(outcome).or_default() += 1;
    }
    println!("{rounds} reconnections: {outcomes:?}");
    for outcome in outcomes.keys() {
        assert!(
            [
                "connect: reset",
                "connect: end of stream",
                "connect: handshake ended early",
                "read: reset",
                "read: end of stream",
                "echoed",
            ]
            .contains(&outcome.as_str()),
            "an undefined outcome: {outcome}"
        );
    }

    proxy.set_faults(NetFaults::default());
    eventually("every connection is closed on all sides", || {
        proxy.open_connections() == 0 && server.stats().snapshot().connections_open == 0
    })
    .await;
    eventually("file descriptors return to their baseline", || {
        open_fds() <= fds
    })
    .await;
    eventually("memory returns near its baseline", || {
        ALLOC.allocated() <= memory + 256 * 1024
    })
    .await;
    let snapshot = server.stats().snapshot();
    assert_eq!(snapshot.websockets_open, 0, "{snapshot}");
    drop(proxy);
    server.shutdown().await.unwrap();
}

fn kind_of_client_error(err: &weft::client::Error) -> &'static str {
    match err {
        weft::client::Error::Io(io) if is_reset(io) => "reset",
        weft::client::Error::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            "end of stream"
        }
        weft::client::Error::Handshake(weft::handshake::Error::UnexpectedEof) => {
            "handshake ended early"
        }
        _ => "other",
    }
}

fn kind_of_error(err: &Error) -> &'static str {
    match err {
        Error::Io(io) if is_reset(io) => "reset",
        Error::AbnormalClosure => "end of stream",
        _ => "other",
    }
}

#[tokio::test]
async fn latency_jitter_loss_and_a_bandwidth_cap_deliver_every_message_intact_and_in_order() {
    let _serial = SERIAL.lock().await;
    let latency = Duration::from_millis(20);
    let faults = NetFaults::default()
        .latency(latency)
        .jitter(Duration::from_millis(20))
        .loss(0.02)
        .bandwidth(4 << 20)
        .seed(7);
    let (server, proxy) = echo_behind(faults).await;
    let mut ws = connect(
        &proxy,
        Config::default()
            .ping_interval(Some(Duration::from_millis(100)))
            .ping_timeout(Duration::from_secs(5)),
    )
    .await;
    // Many messages in flight, of every size class, then a large one.
    let sizes = [0usize, 1, 125, 126, 1000, 65_535, 65_536, 200_000];
    let sent: Vec<Message> = (0..40)
        .map(|i| {
            let size = sizes[i % sizes.len()];
            Message::binary(vec![u8::try_from(i).unwrap(); size])
        })
        .chain([Message::binary(vec![9u8; 1 << 20])])
        .collect();
    for message in &sent {
        bounded(ws.feed(message.clone())).await.unwrap();
    }
    bounded(ws.flush()).await.unwrap();
    for (i, message) in sent.iter().enumerate() {
        let echo = bounded(next_data(&mut ws)).await.unwrap().unwrap();
        assert!(
            echo == *message,
            "message {i} came back changed or out of order"
        );
    }
    // Keepalive round trips crossed the proxy twice each way: at least twice the latency.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = tokio::time::timeout(Duration::from_millis(300), ws.next()).await;
    let rtt = ws
        .connection()
        .rtt()
        .expect("a keepalive round trip was measured");
    println!("keepalive round trip through the proxy: {rtt:?}");
    assert!(rtt >= latency * 2, "{rtt:?}");
    ws.close(CloseCode::NORMAL, "").await.unwrap();
    drop(proxy);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_stall_shorter_than_the_ping_timeout_is_ridden_out_and_a_longer_one_is_not() {
    let _serial = SERIAL.lock().await;
    let (server, proxy) = echo_behind(NetFaults::default()).await;
    let config = Config::default()
        .ping_interval(Some(Duration::from_millis(200)))
        .ping_timeout(Duration::from_millis(1500));
    let mut ws = connect(&proxy, config).await;
    round_trip(&mut ws, Message::text("before")).await;

    // 700 ms of nothing: a ping goes out and its pong comes late, within the timeout.
    proxy.stall(Duration::from_millis(700));
    let started = Instant::now();
    round_trip(&mut ws, Message::text("during")).await;
    assert!(started.elapsed() >= Duration::from_millis(600));
    tokio::time::sleep(Duration::from_millis(500)).await;
    round_trip(&mut ws, Message::text("after")).await;

    // A stall longer than ping_interval + ping_timeout: keepalive gives up with 1011.
    proxy.stall(Duration::from_secs(60));
    let outcome = tokio::time::timeout(Duration::from_millis(1700) + SLACK, next_data(&mut ws))
        .await
        .expect("keepalive gave up within ping_interval + ping_timeout");
    assert!(
        matches!(outcome, Some(Err(Error::KeepaliveTimeout))),
        "{outcome:?}"
    );
    drop(ws);
    drop(proxy);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_path_that_stalls_after_some_bytes_delivers_the_rest_later() {
    let _serial = SERIAL.lock().await;
    // The server's echo stalls for 300 ms after 5,000 bytes.
    let faults =
        NetFaults::default().stall_after(Direction::ToClient, 5_000, Duration::from_millis(300));
    let (server, proxy) = echo_behind(faults).await;
    let mut ws = connect(&proxy, Config::default()).await;
    let started = Instant::now();
    round_trip(&mut ws, Message::binary(noise(64 << 10))).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    ws.close(CloseCode::NORMAL, "").await.unwrap();
    drop(proxy);
    server.shutdown().await.unwrap();
}
