//! `WebSocket<S>` over in-memory duplex pipes: the loop moves bytes, the connection decides.
#![cfg(feature = "tokio")]

use std::time::Duration;

use futures_util::SinkExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use weft_codec::tokio::WebSocket;
use weft_codec::{
    CloseCode, CloseFrame, Config, Connection, DataKind, Error, Event, Fragment, Message, Role,
};

fn pair_with(config: Config) -> (WebSocket<DuplexStream>, WebSocket<DuplexStream>) {
    let (a, b) = tokio::io::duplex(64 << 10);
    let client = Connection::new(Role::Client).with_config(config.clone());
    let server = Connection::new(Role::Server).with_config(config);
    (
        WebSocket::from_parts(a, client, Default::default()),
        WebSocket::from_parts(b, server, Default::default()),
    )
}

fn pair() -> (WebSocket<DuplexStream>, WebSocket<DuplexStream>) {
    pair_with(Config::default())
}

/// A server over a pipe whose other end the test drives byte by byte, as a raw peer.
fn server_with_raw_peer(config: Config) -> (DuplexStream, WebSocket<DuplexStream>) {
    let (raw, peer) = tokio::io::duplex(1024);
    let server = Connection::new(Role::Server).with_config(config);
    (raw, WebSocket::from_parts(peer, server, Default::default()))
}

async fn echo(mut server: WebSocket<DuplexStream>) -> Result<(), Error> {
    while let Some(message) = server.next().await {
        if let msg @ (Message::Text(_) | Message::Binary(_)) = message? {
            server.send(msg).await?;
        }
    }
    Ok(())
}

#[tokio::test]
async fn echo_and_close_from_the_client() {
    let (mut client, server) = pair();
    let server = tokio::spawn(echo(server));
    for size in [0, 1, 125, 126, 65_535, 65_536, 1 << 20] {
        let payload = vec![b'x'; size];
        client.send(Message::binary(payload.clone())).await.unwrap();
        assert_eq!(
            client.next().await.unwrap().unwrap(),
            Message::binary(payload)
        );
    }
    client.send(Message::text("héllo")).await.unwrap();
    assert_eq!(
        client.next().await.unwrap().unwrap(),
        Message::text("héllo")
    );
    client.close(CloseCode::NORMAL, "bye").await.unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn the_sink_batches_and_the_stream_reads_them_back() {
    let (mut client, server) = pair();
    let server = tokio::spawn(echo(server));
    let mut outgoing =
        futures_util::stream::iter((0..1000).map(|i| Ok(Message::text(i.to_string()))));
    client.send_all(&mut outgoing).await.unwrap();
    for i in 0..1000 {
        assert_eq!(
            client.next().await.unwrap().unwrap(),
            Message::text(i.to_string())
        );
    }
    SinkExt::close(&mut client).await.unwrap();
    // The stream side completes the handshake: the server's close arrives, then the end.
    assert!(matches!(client.next().await, Some(Ok(Message::Close(_)))));
    assert!(client.next().await.is_none());
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn pings_are_answered_while_the_application_only_reads() {
    let (mut client, mut server) = pair();
    let reader = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Some(message) = client.next().await {
            seen.push(message.unwrap());
        }
        seen
    });
    server.send(Message::ping("p1")).await.unwrap();
    assert_eq!(server.next().await.unwrap().unwrap(), Message::pong("p1"));
    server.close(CloseCode::GOING_AWAY, "done").await.unwrap();
    let seen = reader.await.unwrap();
    assert_eq!(seen[0], Message::ping("p1"));
    assert_eq!(
        seen[1],
        Message::Close(Some(CloseFrame::new(CloseCode::GOING_AWAY, "done")))
    );
}

#[tokio::test]
async fn split_halves_work_from_two_tasks() {
    let (client, server) = pair();
    let server = tokio::spawn(echo(server));
    let (mut reader, mut writer) = client.split();
    let writer_task = tokio::spawn(async move {
        for i in 0..500u32 {
            writer
                .send(Message::binary(i.to_be_bytes().to_vec()))
                .await
                .unwrap();
        }
        writer.close(CloseCode::NORMAL, "").await.unwrap();
        writer
    });
    let mut count = 0u32;
    while let Some(message) = reader.next().await {
        match message.unwrap() {
            Message::Binary(data) => {
                assert_eq!(data[..], count.to_be_bytes());
                count += 1;
            }
            Message::Close(_) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(count, 500);
    let writer = writer_task.await.unwrap();
    let ws = reader.reunite(writer).unwrap();
    assert_eq!(ws.connection().state(), weft_codec::State::Closed);
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn fragments_stream_in_and_out() {
    let (mut client, mut server) = pair();
    let sender = tokio::spawn(async move {
        for i in 0..10u8 {
            let piece = vec![i; 1000];
            client
                .send_fragment(Fragment::new(DataKind::Binary, piece, i == 9))
                .await
                .unwrap();
        }
        client
    });
    let mut total = Vec::new();
    loop {
        match server.next_fragment().await.unwrap().unwrap() {
            Event::Fragment(f) => {
                total.extend_from_slice(&f.data);
                if f.fin {
                    break;
                }
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(total.len(), 10_000);
    assert!(total[..1000].iter().all(|&b| b == 0) && total[9000..].iter().all(|&b| b == 9));
    drop(sender.await.unwrap());
}

#[tokio::test]
async fn a_protocol_violation_sends_its_close_code_before_the_error_surfaces() {
    let (mut raw, mut server) = server_with_raw_peer(Config::default());
    // An unmasked text frame from a "client".
    raw.write_all(b"\x81\x02hi").await.unwrap();
    let err = server.next().await.unwrap().unwrap_err();
    assert_eq!(err.close_code(), Some(CloseCode::PROTOCOL_ERROR));
    let mut header = [0u8; 2];
    raw.read_exact(&mut header).await.unwrap();
    assert_eq!(header[0], 0x88, "a final, unmasked close frame");
    let mut payload = vec![0u8; usize::from(header[1])];
    raw.read_exact(&mut payload).await.unwrap();
    assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), 1002);
    assert_eq!(&payload[2..], b"client frame not masked");
}

#[tokio::test(start_paused = true)]
async fn a_silent_peer_cannot_hold_the_close_forever() {
    let (raw, mut server) =
        server_with_raw_peer(Config::default().close_timeout(Duration::from_secs(3)));
    let started = tokio::time::Instant::now();
    let err = server.close(CloseCode::NORMAL, "").await.unwrap_err();
    assert!(matches!(err, Error::CloseTimeout), "{err}");
    assert_eq!(started.elapsed(), Duration::from_secs(3));
    drop(raw);
}

// On a running clock a connection's deadlines are kept by weft's timer thread (the paused-clock
// tests above use tokio's timer): both the close timeout and keepalive must still fire.
#[tokio::test]
async fn on_the_real_clock_a_silent_peer_cannot_hold_the_close_forever() {
    let (raw, mut server) =
        server_with_raw_peer(Config::default().close_timeout(Duration::from_millis(50)));
    let started = std::time::Instant::now();
    // A task of its own, so that only the connection's timer can wake it (a timeout wrapped
    // around the close would poll it when the bound expires). The bound only stops a stuck test.
    let closing = tokio::spawn(async move { server.close(CloseCode::NORMAL, "").await });
    let closed = tokio::time::timeout(Duration::from_secs(10), closing)
        .await
        .expect("the close timeout fired")
        .unwrap();
    assert!(matches!(closed, Err(Error::CloseTimeout)), "{closed:?}");
    assert!(started.elapsed() >= Duration::from_millis(50));
    drop(raw);
}

#[tokio::test]
async fn on_the_real_clock_keepalive_pings_a_quiet_peer_and_times_the_pong() {
    let (mut raw, mut server) =
        server_with_raw_peer(Config::default().ping_interval(Some(Duration::from_millis(30))));
    let reader = tokio::spawn(async move {
        let event = server.next().await;
        (server, event)
    });
    let mut header = [0u8; 2];
    tokio::time::timeout(Duration::from_secs(10), raw.read_exact(&mut header))
        .await
        .expect("a ping within the bound")
        .unwrap();
    assert_eq!(header[0], 0x89, "a final ping frame");
    let mut payload = vec![0u8; usize::from(header[1] & 0x7f)];
    raw.read_exact(&mut payload).await.unwrap();
    // The pong, masked with a zero key, carries the ping's payload back.
    let mut pong = vec![0x8a, 0x80 | header[1], 0, 0, 0, 0];
    pong.extend_from_slice(&payload);
    raw.write_all(&pong).await.unwrap();
    let (server, event) = reader.await.unwrap();
    assert!(matches!(event, Some(Ok(Message::Pong(_)))), "{event:?}");
    assert!(server.connection().rtt().is_some());
}

#[tokio::test]
async fn eof_without_close_is_an_abnormal_closure() {
    let (raw, mut server) = server_with_raw_peer(Config::default());
    drop(raw);
    assert!(matches!(
        server.next().await,
        Some(Err(Error::AbnormalClosure))
    ));
    assert!(server.next().await.is_none());
}

#[test]
fn websocket_and_halves_are_send() {
    fn is_send<T: Send>() {}
    is_send::<WebSocket<tokio::net::TcpStream>>();
    is_send::<weft_codec::tokio::WebSocketReader<tokio::net::TcpStream>>();
    is_send::<weft_codec::tokio::WebSocketWriter<tokio::net::TcpStream>>();
}

#[tokio::test]
async fn close_when_a_signal_fires() {
    let (mut client, mut server) = pair();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    server.close_when(CloseCode::GOING_AWAY, "server shutting down", async move {
        let _ = stopped.await;
    });
    let server = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Some(message) = server.next().await {
            seen.push(message.unwrap());
        }
        seen
    });
    client.send(Message::text("before")).await.unwrap();
    tokio::task::yield_now().await;
    stop.send(()).unwrap();
    let close = client.next().await.unwrap().unwrap();
    assert_eq!(
        close,
        Message::Close(Some(CloseFrame::new(
            CloseCode::GOING_AWAY,
            "server shutting down"
        )))
    );
    assert!(client.next().await.is_none());
    let seen = server.await.unwrap();
    assert_eq!(seen.first(), Some(&Message::text("before")));
    assert!(seen.last().unwrap().is_close());
}

#[tokio::test(start_paused = true)]
async fn close_when_a_signal_wakes_before_it_completes() {
    let (mut client, mut server) = pair();
    let (first, first_fired) = tokio::sync::oneshot::channel::<()>();
    let (second, second_fired) = tokio::sync::oneshot::channel::<()>();
    // Woken by the first channel, the signal is still pending: it must be polled again when
    // the second fires, though the connection saw no traffic in between.
    server.close_when(CloseCode::GOING_AWAY, "bye", async move {
        let _ = first_fired.await;
        let _ = second_fired.await;
    });
    let server = tokio::spawn(echo(server));
    client.send(Message::text("hello")).await.unwrap();
    assert_eq!(
        client.next().await.unwrap().unwrap(),
        Message::text("hello")
    );
    first.send(()).unwrap();
    let quiet = tokio::time::timeout(Duration::from_secs(5), client.next()).await;
    assert!(
        quiet.is_err(),
        "closed before the signal completed: {quiet:?}"
    );
    second.send(()).unwrap();
    let close = tokio::time::timeout(Duration::from_secs(60), client.next())
        .await
        .expect("the signal completed, but the connection did not close");
    assert_eq!(
        close.unwrap().unwrap(),
        Message::Close(Some(CloseFrame::new(CloseCode::GOING_AWAY, "bye")))
    );
    assert!(client.next().await.is_none());
    server.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn keepalive_counts_from_the_last_message_however_the_timer_was_armed() {
    let (a, b) = tokio::io::duplex(64 << 10);
    let quiet = Config::default().ping_interval(None);
    let keepalive = Config::default().ping_interval(Some(Duration::from_secs(10)));
    let mut client = WebSocket::from_parts(
        a,
        Connection::new(Role::Client).with_config(quiet),
        Default::default(),
    );
    let server = WebSocket::from_parts(
        b,
        Connection::new(Role::Server).with_config(keepalive),
        Default::default(),
    );
    let server = tokio::spawn(echo(server));
    // Traffic every 3 s moves the server's 10 s deadline past the timer it armed first.
    let mut last = tokio::time::Instant::now();
    for i in 0..5 {
        tokio::time::sleep(Duration::from_secs(3)).await;
        client.send(Message::binary(vec![i])).await.unwrap();
        assert_eq!(
            client.next().await.unwrap().unwrap(),
            Message::binary(vec![i])
        );
        last = tokio::time::Instant::now();
    }
    let ping = tokio::time::timeout(Duration::from_secs(60), client.next())
        .await
        .expect("no keepalive ping")
        .unwrap()
        .unwrap();
    assert!(matches!(ping, Message::Ping(_)), "{ping:?}");
    let silence = last.elapsed();
    assert!(
        silence >= Duration::from_secs(10) && silence < Duration::from_millis(10_010),
        "ping after {silence:?} of silence"
    );
    client.close(CloseCode::NORMAL, "").await.unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn prepared_messages_reach_every_socket_and_the_split_writer() {
    let news = weft_codec::PreparedMessage::text("to all of you");
    let mut clients = Vec::new();
    let mut servers = Vec::new();
    for _ in 0..3 {
        let (client, server) = pair();
        clients.push(client);
        servers.push(server);
    }
    for server in &mut servers {
        server.send_prepared(&news).await.unwrap();
        server.feed_prepared(&news).await.unwrap();
        server.start_send_prepared(&news).unwrap();
        server.flush().await.unwrap();
    }
    for client in &mut clients {
        for _ in 0..3 {
            assert_eq!(client.next().await.unwrap().unwrap(), news.to_message());
        }
    }
    let (_reader, mut writer) = servers.pop().unwrap().split();
    writer.send_prepared(&news).await.unwrap();
    writer.feed_prepared(&news).await.unwrap();
    writer.flush().await.unwrap();
    let client = clients.last_mut().unwrap();
    for _ in 0..2 {
        assert_eq!(client.next().await.unwrap().unwrap(), news.to_message());
    }
}
