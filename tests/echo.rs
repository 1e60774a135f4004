//! Client and server together: echo over loopback TCP and over fault-injecting in-memory
//! streams, fragmented sends, ping/pong, every close path, many connections, shutdown.

use std::future::Future;
use std::time::Duration;

use futures_util::future::join_all;
use tokio::io::DuplexStream;
use weft::codec::Connection;
use weft::{CloseCode, CloseFrame, Config, DataKind, Error, Fragment, Message, WebSocket};
use weft_harness::{Chunking, EchoServer, Faults, FaultyStream, PairStream, TIMEOUT, pair_with};

/// Runs `f` under the harness timeout, so a hang fails the test instead of stalling CI.
async fn bounded<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(TIMEOUT, f)
        .await
        .expect("test step timed out")
}

/// Echoes every data message until the stream ends; returns how it ended.
async fn echo<S>(mut ws: WebSocket<S>) -> Result<Vec<Message>, Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut control = Vec::new();
    while let Some(message) = ws.next().await {
        match message? {
            msg @ (Message::Text(_) | Message::Binary(_)) => ws.send(msg).await?,
            other => control.push(other),
        }
    }
    Ok(control)
}

fn payload(size: usize) -> Vec<u8> {
    (0..=250u8).cycle().take(size).collect()
}

fn text(size: usize) -> String {
    "ascii and ünïcödé ✓ "
        .chars()
        .cycle()
        .scan(0, |len, c| {
            *len += c.len_utf8();
            (*len <= size).then_some(c)
        })
        .collect()
}

#[tokio::test]
async fn loopback_echo_from_0_bytes_to_16_mib() {
    let server = EchoServer::start().await.unwrap();
    let (mut ws, response) = bounded(weft::connect(&server.url())).await.unwrap();
    assert_eq!(response.status(), 101);
    for size in [0, 1, 125, 126, 65_535, 65_536, 1 << 20, 16 << 20] {
        let data = payload(size);
        bounded(ws.send(Message::binary(data.clone())))
            .await
            .unwrap();
        assert_eq!(
            bounded(ws.next()).await.unwrap().unwrap(),
            Message::binary(data),
            "{size}"
        );
        let words = text(size.min(1 << 20));
        bounded(ws.send(Message::text(words.clone())))
            .await
            .unwrap();
        assert_eq!(
            bounded(ws.next()).await.unwrap().unwrap(),
            Message::text(words)
        );
    }
    bounded(ws.close(CloseCode::NORMAL, "done")).await.unwrap();
    server.shutdown().await.unwrap();
}

/// Every fault mix the harness offers, on both sides at once.
fn fault_mixes() -> Vec<(&'static str, Faults, Faults)> {
    vec![
        (
            "one byte per read",
            Faults::default().reads(Chunking::AtMost(1)),
            Faults::default().reads(Chunking::AtMost(1)),
        ),
        (
            "random splits",
            Faults::default()
                .reads(Chunking::Random(97))
                .writes(Chunking::Random(61))
                .seed(1),
            Faults::default()
                .reads(Chunking::Random(13))
                .writes(Chunking::Random(211))
                .seed(2),
        ),
        (
            "pending reads and writes",
            Faults::default()
                .pending_reads()
                .pending_writes()
                .writes(Chunking::Random(500))
                .seed(3),
            Faults::default()
                .pending_reads()
                .pending_writes()
                .reads(Chunking::Random(700))
                .seed(4),
        ),
    ]
}

/// A handshaken pair over fault-injecting streams, without compression: the faults are placed
/// by byte count, which compression would change.
async fn faulty_pair(
    client: Faults,
    server: Faults,
) -> (WebSocket<PairStream>, WebSocket<PairStream>) {
    faulty_pair_deflating(client, server, false).await
}

async fn faulty_pair_deflating(
    client: Faults,
    server: Faults,
    deflate: bool,
) -> (WebSocket<PairStream>, WebSocket<PairStream>) {
    let deflate = weft::DeflateConfig::default().enabled(deflate);
    let client_builder = weft::ClientBuilder::new("ws://localhost/").deflate(deflate.clone());
    let acceptor = weft::Acceptor::builder().deflate(deflate).build().unwrap();
    bounded(pair_with(client, server, client_builder, acceptor)).await
}

#[tokio::test]
async fn in_memory_echo_under_every_fault_mix() {
    let mixes = fault_mixes()
        .into_iter()
        .flat_map(|mix| [(mix.clone(), false), (mix, true)]);
    for ((name, client_faults, server_faults), deflate) in mixes {
        let (mut client, server) =
            faulty_pair_deflating(client_faults, server_faults, deflate).await;
        let server = tokio::spawn(echo(server));
        let sizes: &[usize] = if name == "one byte per read" {
            &[0, 1, 200, 70_000]
        } else {
            &[0, 1, 126, 70_000, 1 << 20]
        };
        for &size in sizes {
            let data = payload(size);
            bounded(client.send(Message::binary(data.clone())))
                .await
                .unwrap();
            assert_eq!(
                bounded(client.next()).await.unwrap().unwrap(),
                Message::binary(data),
                "{name} {size}"
            );
        }
        let words = text(5000);
        bounded(client.send(Message::text(words.clone())))
            .await
            .unwrap();
        assert_eq!(
            bounded(client.next()).await.unwrap().unwrap(),
            Message::text(words),
            "{name}"
        );
        bounded(client.close(CloseCode::NORMAL, "")).await.unwrap();
        bounded(server).await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn fragmented_sends_arrive_whole() {
    let config = Config::default().fragment_size(Some(1000));
    let client = weft::ClientBuilder::new("ws://localhost/").config(config);
    let (mut client, server) = bounded(pair_with(
        Faults::default(),
        Faults::default(),
        client,
        weft::Acceptor::default(),
    ))
    .await;
    let server = tokio::spawn(echo(server));

    // Automatic fragmentation of one large message.
    let data = payload(10_500);
    bounded(client.send(Message::binary(data.clone())))
        .await
        .unwrap();
    assert_eq!(
        bounded(client.next()).await.unwrap().unwrap(),
        Message::binary(data)
    );

    // A text message sent piece by piece, split inside a code point.
    let euro = "€€€".as_bytes();
    for (i, piece) in euro.chunks(2).enumerate() {
        let fin = (i + 1) * 2 >= euro.len();
        bounded(client.send_fragment(Fragment::new(DataKind::Text, piece.to_vec(), fin)))
            .await
            .unwrap();
    }
    assert_eq!(
        bounded(client.next()).await.unwrap().unwrap(),
        Message::text("€€€")
    );
    bounded(client.close(CloseCode::NORMAL, "")).await.unwrap();
    bounded(server).await.unwrap().unwrap();
}

#[tokio::test]
async fn pings_are_answered_in_both_directions() {
    let (mut client, mut server) = faulty_pair(Faults::default(), Faults::default()).await;
    bounded(client.send(Message::ping("from client")))
        .await
        .unwrap();
    // The server answers while reading; the client sees the pong.
    let server_task = tokio::spawn(async move {
        let first = server.next().await.unwrap().unwrap();
        server.send(Message::ping("from server")).await.unwrap();
        let mut rest = Vec::new();
        while let Some(message) = server.next().await {
            rest.push(message.unwrap());
        }
        (first, rest)
    });
    assert_eq!(
        bounded(client.next()).await.unwrap().unwrap(),
        Message::pong("from client")
    );
    assert_eq!(
        bounded(client.next()).await.unwrap().unwrap(),
        Message::ping("from server")
    );
    bounded(client.close(CloseCode::NORMAL, "")).await.unwrap();
    let (first, rest) = bounded(server_task).await.unwrap();
    assert_eq!(first, Message::ping("from client"));
    assert_eq!(rest[0], Message::pong("from server"));
    assert!(rest[1].is_close());
}

#[tokio::test]
async fn close_started_by_the_client() {
    let (mut client, server) = faulty_pair(Faults::default(), Faults::default()).await;
    let server = tokio::spawn(echo(server));
    bounded(client.close(CloseCode::NORMAL, "bye"))
        .await
        .unwrap();
    let control = bounded(server).await.unwrap().unwrap();
    assert_eq!(
        control,
        [Message::Close(Some(CloseFrame::new(
            CloseCode::NORMAL,
            "bye"
        )))]
    );
    assert_eq!(client.connection().state(), weft::State::Closed);
}

#[tokio::test]
async fn close_started_by_the_server() {
    let (client, mut server) = faulty_pair(Faults::default(), Faults::default()).await;
    let client = tokio::spawn(echo(client));
    bounded(server.close(CloseCode::GOING_AWAY, "restart"))
        .await
        .unwrap();
    let control = bounded(client).await.unwrap().unwrap();
    assert_eq!(
        control,
        [Message::Close(Some(CloseFrame::new(
            CloseCode::GOING_AWAY,
            "restart"
        )))]
    );
}

#[tokio::test]
async fn simultaneous_close_completes_on_both_sides() {
    let (mut client, mut server) = faulty_pair(Faults::default(), Faults::default()).await;
    let (a, b) = bounded(async {
        tokio::join!(
            client.close(CloseCode::NORMAL, "client"),
            server.close(CloseCode::GOING_AWAY, "server")
        )
    })
    .await;
    a.unwrap();
    b.unwrap();
    assert_eq!(client.connection().state(), weft::State::Closed);
    assert_eq!(server.connection().state(), weft::State::Closed);
}

#[tokio::test]
async fn abnormal_close_when_the_peer_vanishes() {
    let (client, mut server) = faulty_pair(Faults::default(), Faults::default()).await;
    drop(client);
    let err = bounded(server.next()).await.unwrap().unwrap_err();
    assert!(matches!(err, Error::AbnormalClosure), "{err}");
    assert_eq!(err.close_code(), Some(CloseCode::ABNORMAL));
    assert!(bounded(server.next()).await.is_none());
}

#[tokio::test]
async fn end_of_stream_in_the_middle_of_a_frame_is_abnormal() {
    // The server's reads stop 1000 bytes into the stream, inside the client's second frame.
    let server_faults = Faults::default().eof_after(1000);
    let (mut client, mut server) = faulty_pair(Faults::default(), server_faults).await;
    client.send(Message::binary(payload(600))).await.unwrap();
    client.send(Message::binary(payload(600))).await.unwrap();
    assert_eq!(
        bounded(server.next()).await.unwrap().unwrap(),
        Message::binary(payload(600))
    );
    let err = bounded(server.next()).await.unwrap().unwrap_err();
    assert!(matches!(err, Error::AbnormalClosure), "{err}");
}

#[tokio::test]
async fn a_failing_transport_surfaces_as_an_io_error() {
    let client_faults = Faults::default().fail_writes_after(5000);
    let (mut client, server) = faulty_pair(client_faults, Faults::default()).await;
    let server = tokio::spawn(echo(server));
    let mut failed = None;
    for _ in 0..10 {
        if let Err(err) = bounded(client.send(Message::binary(payload(1000)))).await {
            failed = Some(err);
            break;
        }
    }
    let err = failed.expect("the write budget runs out");
    assert!(
        matches!(&err, Error::Io(io) if io.kind() == std::io::ErrorKind::BrokenPipe),
        "{err}"
    );
    assert!(
        client.send(Message::text("again")).await.is_err(),
        "the failure sticks"
    );
    drop(client);
    // The server sees a connection that ended without a close: reading (1006) or writing its
    // echo (broken pipe), whichever comes first.
    let ended = bounded(server).await.unwrap();
    assert!(
        matches!(ended, Err(Error::AbnormalClosure | Error::Io(_))),
        "{ended:?}"
    );
}

#[tokio::test]
async fn two_hundred_concurrent_connections() {
    let server = EchoServer::start().await.unwrap();
    let url = server.url();
    let clients = (0..200).map(|i| {
        let url = url.clone();
        tokio::spawn(async move {
            let (mut ws, _) = weft::connect(&url).await.unwrap();
            for j in 0..10 {
                let message = Message::text(format!("{i}:{j}"));
                ws.send(message.clone()).await.unwrap();
                assert_eq!(ws.next().await.unwrap().unwrap(), message);
            }
            ws.close(CloseCode::NORMAL, "").await.unwrap();
        })
    });
    for result in bounded(join_all(clients)).await {
        result.unwrap();
    }
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn graceful_shutdown_sends_1001_to_every_peer() {
    let server = EchoServer::start().await.unwrap();
    let mut clients = Vec::new();
    for _ in 0..20 {
        let (ws, _) = bounded(weft::connect(&server.url())).await.unwrap();
        clients.push(ws);
    }
    // Make sure every connection reached its handler.
    for ws in &mut clients {
        ws.send(Message::text("hi")).await.unwrap();
        assert_eq!(
            bounded(ws.next()).await.unwrap().unwrap(),
            Message::text("hi")
        );
    }
    let started = std::time::Instant::now();
    let shutdown = tokio::spawn(server.shutdown());
    for mut ws in clients {
        let close = bounded(ws.next()).await.unwrap().unwrap();
        assert_eq!(
            close,
            Message::Close(Some(CloseFrame::new(
                CloseCode::GOING_AWAY,
                "server shutting down"
            )))
        );
        assert!(bounded(ws.next()).await.is_none());
    }
    bounded(shutdown).await.unwrap().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "shutdown did not wait for its timeout"
    );
}

#[tokio::test]
async fn shutdown_is_bounded_when_a_handler_ignores_its_socket() {
    let server = weft::Server::builder()
        .shutdown_timeout(Duration::from_millis(300))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let url = format!("ws://{}/", server.local_addr().unwrap());
    let handle = server.shutdown_handle();
    let serving = tokio::spawn(server.serve(|_ws, _| async move {
        // Never polls its socket again.
        std::future::pending::<()>().await;
    }));
    let (_ws, _) = bounded(weft::connect(&url)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    handle.shutdown();
    bounded(serving).await.unwrap().unwrap();
}

#[test]
fn websocket_types_are_send() {
    fn is_send<T: Send>() {}
    is_send::<WebSocket<tokio::net::TcpStream>>();
    is_send::<weft::WebSocketReader<tokio::net::TcpStream>>();
    is_send::<weft::WebSocketWriter<tokio::net::TcpStream>>();
    is_send::<WebSocket<weft::client::ClientStream>>();
    is_send::<WebSocket<weft::server::ServerStream>>();
    is_send::<WebSocket<FaultyStream<DuplexStream>>>();
    is_send::<Connection>();
}

#[tokio::test]
async fn an_oversized_message_reliably_gets_1009_not_a_reset() {
    // The server refuses the frame from its header and closes while the client is still
    // writing it; the lingering close drains the rest, so the client always reads the 1009.
    let limits = weft::Limits::default()
        .max_frame_size(64 << 10)
        .max_message_size(64 << 10);
    let acceptor = weft::Acceptor::builder().limits(limits).build().unwrap();
    let server = EchoServer::start_with(weft::Server::builder().acceptor(acceptor))
        .await
        .unwrap();
    for attempt in 0..10 {
        let (mut ws, _) = bounded(weft::connect(&server.url())).await.unwrap();
        let sent = bounded(ws.send(Message::binary(vec![0u8; 16 << 20]))).await;
        assert!(sent.is_ok(), "attempt {attempt}: {sent:?}");
        let close = bounded(ws.next()).await.unwrap();
        assert!(
            matches!(&close, Ok(Message::Close(Some(frame))) if frame.code() == CloseCode::MESSAGE_TOO_BIG),
            "attempt {attempt}: {close:?}"
        );
        assert!(bounded(ws.next()).await.is_none());
    }
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn server_threads_share_one_port_and_one_shutdown() {
    // Two threads, each with a current-thread runtime and its own server on one port.
    let servers = weft::Server::builder()
        .max_connections(64)
        .bind_threads("127.0.0.1:0", 2)
        .await
        .unwrap();
    assert_eq!(servers.threads(), 2);
    let url = format!("ws://{}/", servers.local_addr().unwrap());
    let handle = servers.shutdown_handle();
    let serving = tokio::spawn(servers.serve(|mut ws, _| async move {
        // Each echo says which thread served it.
        let thread = std::thread::current().name().unwrap_or("").to_owned();
        while let Some(Ok(message)) = ws.next().await {
            if message.is_text() && ws.send(Message::text(thread.clone())).await.is_err() {
                break;
            }
        }
    }));
    let mut clients = Vec::new();
    let mut threads = std::collections::BTreeSet::new();
    // 32 connections: the kernel spreads them by address over both threads' listeners (on
    // Linux; elsewhere both threads accept from one listener).
    for _ in 0..32 {
        let (mut ws, _) = bounded(weft::connect(&url)).await.unwrap();
        bounded(ws.send(Message::text("which thread?")))
            .await
            .unwrap();
        let Some(Ok(Message::Text(thread))) = bounded(ws.next()).await else {
            panic!("no echo");
        };
        threads.insert(thread.as_str().to_owned());
        clients.push(ws);
    }
    assert_eq!(threads.len(), 2, "connections went to {threads:?}");
    assert!(threads.contains("weft-server-1"), "{threads:?}");
    // One handle shuts every thread's server down: each client gets 1001.
    handle.shutdown();
    for mut ws in clients {
        let close = bounded(ws.next()).await.unwrap();
        assert!(
            matches!(&close, Ok(Message::Close(Some(frame))) if frame.code() == CloseCode::GOING_AWAY),
            "{close:?}"
        );
    }
    bounded(serving).await.unwrap().unwrap();
}

#[tokio::test]
async fn binding_threads_to_a_port_already_taken_fails() {
    // A port another process already holds without SO_REUSEPORT: the first bind fails at once.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let err = weft::Server::builder()
        .bind_threads(addr, 2)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
}
