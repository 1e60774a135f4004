//! The opening handshake over real sockets: refusals carry their status to the client, plain
//! HTTP shares the port, the connection cap answers 503, and dead or hostile peers are cut off.

use std::future::Future;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::StatusCode;
use weft::{CloseCode, Error, Rejection};
use weft_harness::{EchoServer, RawFrame, RawPeer, TIMEOUT};

async fn bounded<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(TIMEOUT, f)
        .await
        .expect("test step timed out")
}

#[tokio::test]
async fn a_refused_handshake_surfaces_the_status_and_body() {
    let acceptor = weft::Acceptor::builder()
        .on_request(|request| match request.uri().path() {
            "/chat" => Ok(()),
            _ => Err(Rejection::new(StatusCode::FORBIDDEN, "members only")),
        })
        .build()
        .unwrap();
    let server = EchoServer::start_with(weft::Server::builder().acceptor(acceptor))
        .await
        .unwrap();
    let url = format!("ws://{}/secret", server.addr);
    let err = bounded(weft::connect(&url)).await.unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::FORBIDDEN), "{err}");
    let weft::client::Error::Handshake(weft::handshake::Error::Refused { response, .. }) = &err
    else {
        panic!("{err:?}")
    };
    assert!(String::from_utf8_lossy(response.body()).contains("members only"));
    let (ws, _) = bounded(weft::connect(&format!("ws://{}/chat", server.addr)))
        .await
        .unwrap();
    drop(ws);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn subprotocols_are_negotiated() {
    let acceptor = weft::Acceptor::builder()
        .protocols(["chat.v2", "chat.v1"])
        .build()
        .unwrap();
    let server = EchoServer::start_with(weft::Server::builder().acceptor(acceptor))
        .await
        .unwrap();
    let (_ws, response) = bounded(
        weft::ClientBuilder::new(server.url())
            .protocol("chat.v1")
            .protocol("chat.v2")
            .connect(),
    )
    .await
    .unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], "chat.v2");
    drop(_ws);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn plain_http_shares_the_port_and_is_kept_alive() {
    let builder = weft::Server::builder().http(|request| async move {
        match request.uri().path() {
            "/health" => http::Response::new(Bytes::from_static(b"ok")),
            _ => http::Response::builder()
                .status(404)
                .body(Bytes::from_static(b"nope"))
                .unwrap(),
        }
    });
    let server = EchoServer::start_with(builder).await.unwrap();
    let mut peer = RawPeer::connect(server.addr).await.unwrap();
    for (path, status, body) in [
        ("/health", 200, "ok"),
        ("/missing", 404, "nope"),
        ("/health", 200, "ok"),
    ] {
        peer.send(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let response = bounded(peer.read_response()).await.unwrap();
        assert_eq!(response.status(), status);
        assert_eq!(response.body(), body.as_bytes());
    }
    // The same connection can then upgrade.
    bounded(peer.handshake("/")).await.unwrap();
    peer.send_frame(&RawFrame::text("after http"))
        .await
        .unwrap();
    let echo = bounded(peer.read_frame()).await.unwrap().unwrap();
    assert_eq!(echo.payload, b"after http");
    drop(peer);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_default_http_answer_is_404() {
    let server = EchoServer::start().await.unwrap();
    let mut peer = RawPeer::connect(server.addr).await.unwrap();
    peer.send(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let response = bounded(peer.read_response()).await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(
        bounded(peer.read_to_end()).await.unwrap(),
        0,
        "closed after Connection: close"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn invalid_upgrades_get_their_exact_status() {
    let server = EchoServer::start().await.unwrap();
    let key = "dGhlIHNhbXBsZSBub25jZQ==";
    let cases: [(&str, u16); 5] = [
        (
            "POST / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: K\r\nSec-WebSocket-Version: 13\r\n\r\n",
            405,
        ),
        (
            "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: K\r\nSec-WebSocket-Version: 8\r\n\r\n",
            426,
        ),
        (
            "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n",
            400,
        ),
        (
            "GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: K\r\nSec-WebSocket-Version: 13\r\n\r\n",
            400,
        ),
        (
            "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: K\r\nSec-WebSocket-Version: 13\r\nOrigin: https://evil.example\r\n\r\n",
            403,
        ),
    ];
    for (request, status) in cases {
        let mut peer = RawPeer::connect(server.addr).await.unwrap();
        peer.send(request.replace("Key: K", &format!("Key: {key}")).as_bytes())
            .await
            .unwrap();
        let response = bounded(peer.read_response()).await.unwrap();
        assert_eq!(response.status(), status, "{request}");
        if status == 426 {
            assert_eq!(response.headers()["sec-websocket-version"], "13");
        }
    }
    // Oversized header section: 431; oversized request line: 414.
    let mut peer = RawPeer::connect(server.addr).await.unwrap();
    let big = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(10_000)
    );
    peer.send(big.as_bytes()).await.unwrap();
    assert_eq!(bounded(peer.read_response()).await.unwrap().status(), 431);
    let mut peer = RawPeer::connect(server.addr).await.unwrap();
    let long = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(10_000));
    peer.send(long.as_bytes()).await.unwrap();
    assert_eq!(bounded(peer.read_response()).await.unwrap().status(), 414);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn connections_over_the_cap_get_503() {
    let server = EchoServer::start_with(weft::Server::builder().max_connections(2))
        .await
        .unwrap();
    let (_a, _) = bounded(weft::connect(&server.url())).await.unwrap();
    let (_b, _) = bounded(weft::connect(&server.url())).await.unwrap();
    let err = bounded(weft::connect(&server.url())).await.unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::SERVICE_UNAVAILABLE), "{err}");
    drop(_a);
    // The slot frees once the first connection's handler ends.
    let mut connected = false;
    for _ in 0..50 {
        if let Ok((ws, _)) = weft::connect(&server.url()).await {
            drop(ws);
            connected = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(connected, "a freed slot is reused");
    drop(_b);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_slow_handshake_is_cut_off() {
    let acceptor = weft::Acceptor::builder()
        .handshake_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let server = EchoServer::start_with(weft::Server::builder().acceptor(acceptor))
        .await
        .unwrap();
    let mut peer = RawPeer::connect(server.addr).await.unwrap();
    let started = Instant::now();
    // One byte every 100 ms: the request would take seconds.
    let request = b"GET / HTTP/1.1\r\nHost: x\r\n";
    let mut cut_off = false;
    for byte in request {
        if peer.send(std::slice::from_ref(byte)).await.is_err() {
            cut_off = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        if started.elapsed() > Duration::from_secs(1) {
            break;
        }
    }
    if !cut_off {
        assert_eq!(
            bounded(peer.read_to_end()).await.unwrap(),
            0,
            "closed without an answer"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(2));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_client_gives_up_on_a_server_that_never_answers() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let silent = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
        drop(tcp);
    });
    let started = Instant::now();
    let err = weft::ClientBuilder::new(format!("ws://{addr}/"))
        .handshake_timeout(Duration::from_millis(200))
        .connect()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            weft::client::Error::Timeout {
                phase: "handshake",
                ..
            }
        ),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    silent.abort();
}

#[tokio::test]
async fn connection_refused_and_bad_urls_are_clear_errors() {
    let err = weft::connect("ws://127.0.0.1:1/").await.unwrap_err();
    assert!(matches!(err, weft::client::Error::Connect { .. }), "{err}");
    let err = weft::connect("http://example.com/").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid URL \"http://example.com/\": the scheme must be ws or wss"
    );
}

#[tokio::test]
async fn a_protocol_violation_closes_with_its_code_and_reaches_the_handler() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let server = weft::Server::bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr().unwrap();
    let handle = server.shutdown_handle();
    let serving = tokio::spawn(server.serve(move |mut ws, _| {
        let tx = tx.clone();
        async move {
            while let Some(message) = ws.next().await {
                if let Err(err) = message {
                    let _ = tx.send(err);
                }
            }
        }
    }));
    let cases: [(RawFrame, u16); 4] = [
        (RawFrame::text("unmasked").unmasked(), 1002),
        (RawFrame::text(vec![0xff, 0xfe]), 1007),
        (RawFrame::binary(vec![]).announce_len((1 << 63) - 1), 1009),
        (RawFrame::new(0x3, "reserved opcode"), 1002),
    ];
    for (frame, code) in cases {
        let mut peer = RawPeer::connect(addr).await.unwrap();
        bounded(peer.handshake("/")).await.unwrap();
        peer.send_frame(&frame).await.unwrap();
        assert_eq!(bounded(peer.read_close()).await.unwrap(), Some(code));
        // Complete the closing handshake; the server then closes TCP.
        peer.send_frame(&RawFrame::close(code, "")).await.unwrap();
        assert_eq!(bounded(peer.read_to_end()).await.unwrap(), 0);
        let err: Error = bounded(rx.recv()).await.unwrap();
        assert_eq!(err.close_code().map(u16::from), Some(code), "{err}");
    }
    handle.shutdown();
    bounded(serving).await.unwrap().unwrap();
}

#[tokio::test]
async fn a_peer_that_never_answers_our_close_is_dropped_after_the_close_timeout() {
    let config = weft::Config::default().close_timeout(Duration::from_millis(300));
    let acceptor = weft::Acceptor::builder().config(config).build().unwrap();
    let server = weft::Server::builder()
        .acceptor(acceptor)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let handle = server.shutdown_handle();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let done_tx = std::sync::Mutex::new(Some(done_tx));
    let serving = tokio::spawn(server.serve(move |mut ws, _| {
        let done = done_tx.lock().unwrap().take();
        async move {
            let started = Instant::now();
            let result = ws.close(CloseCode::NORMAL, "bye").await;
            if let Some(done) = done {
                let _ = done.send((result, started.elapsed()));
            }
        }
    }));
    let mut peer = RawPeer::connect(addr).await.unwrap();
    bounded(peer.handshake("/")).await.unwrap();
    // Read the close frame but never answer it.
    assert_eq!(bounded(peer.read_close()).await.unwrap(), Some(1000));
    let (result, elapsed) = bounded(done_rx).await.unwrap();
    assert!(matches!(result, Err(Error::CloseTimeout)), "{result:?}");
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(3),
        "{elapsed:?}"
    );
    assert_eq!(
        bounded(peer.read_to_end()).await.unwrap(),
        0,
        "the server dropped the connection"
    );
    handle.shutdown();
    bounded(serving).await.unwrap().unwrap();
}
