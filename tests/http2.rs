//! WebSocket over HTTP/2 (RFC 8441) between weft's own client and server: h2c with prior
//! knowledge and h2 by ALPN on the port that also serves HTTP/1.1, multiplexing, plain HTTP
//! requests on HTTP/2, fallbacks and clear errors, streams that end abnormally, and shutdown.
//! Peers that are not weft (Chromium, hypercorn, Python h2) are in `http2_interop.rs`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Version;
use rustls::pki_types::pem::PemObject;
use tokio::sync::mpsc;
use weft::server::{Accepted, ServerStream};
use weft::{
    Acceptor, ClientBuilder, CloseCode, Http2Limits, Http2Mode, Message, Server, ShutdownHandle,
    WebSocket,
};
use weft_harness::{TIMEOUT, TestCa};

async fn bounded<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(TIMEOUT, f)
        .await
        .expect("test step timed out")
}

/// What the server's handler saw of each WebSocket: its HTTP version, and how it ended.
#[derive(Debug)]
struct Seen {
    version: Version,
    ended: Result<(), weft::Error>,
}

/// A server on loopback whose handler greets each WebSocket with the HTTP version that
/// carried it, then echoes, and reports every WebSocket to the test.
struct TestServer {
    addr: SocketAddr,
    shutdown: ShutdownHandle,
    seen: mpsc::UnboundedReceiver<Seen>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl TestServer {
    async fn start(acceptor: Acceptor) -> Self {
        let server = Server::builder()
            .acceptor(acceptor)
            .http(|request: http::Request<()>| async move {
                let body = format!("plain {:?} {}", request.version(), request.uri().path());
                http::Response::new(Bytes::from(body))
            })
            .bind("127.0.0.1:0")
            .await
            .unwrap();
        let addr = server.local_addr().unwrap();
        let shutdown = server.shutdown_handle();
        let (report, seen) = mpsc::unbounded_channel();
        let task = tokio::spawn(server.serve(move |ws, accepted| {
            let report = report.clone();
            async move {
                let version = accepted.http_version();
                let ended = greet_and_echo(ws, &accepted).await;
                let _ = report.send(Seen { version, ended });
            }
        }));
        Self {
            addr,
            shutdown,
            seen,
            task,
        }
    }

    async fn next_seen(&mut self) -> Seen {
        bounded(self.seen.recv()).await.expect("a WebSocket ended")
    }

    async fn stop(self) {
        self.shutdown.shutdown();
        bounded(self.task).await.unwrap().unwrap();
    }
}

async fn greet_and_echo(
    mut ws: WebSocket<ServerStream>,
    accepted: &Accepted,
) -> Result<(), weft::Error> {
    assert_eq!(ws.get_ref().http_version(), accepted.http_version());
    ws.send(Message::text(format!("{:?}", accepted.http_version())))
        .await?;
    while let Some(message) = ws.next().await {
        let message = message?;
        if message.is_text() || message.is_binary() {
            ws.send(message).await?;
        }
    }
    Ok(())
}

fn tls_acceptor(ca: &TestCa) -> weft::server::AcceptorBuilder {
    Acceptor::builder().tls(ca.server_tls(&["localhost"]))
}

/// Every size class of the frame length, and a 1 MiB message that spans many DATA frames and
/// several flow-control windows.
const SIZES: [usize; 7] = [0, 1, 125, 126, 65_535, 65_536, 1 << 20];

async fn echo_every_size(ws: &mut WebSocket<weft::ClientStream>) {
    for size in SIZES {
        let text = Message::text("ü".repeat(size / 2));
        let binary = Message::binary(vec![0xa5; size]);
        for message in [text, binary] {
            bounded(ws.send(message.clone())).await.unwrap();
            let echo = bounded(ws.next()).await.unwrap().unwrap();
            assert!(echo == message, "echo of {size} bytes differs");
        }
    }
}

async fn expect_greeting(ws: &mut WebSocket<weft::ClientStream>, version: &str) {
    let greeting = bounded(ws.next()).await.unwrap().unwrap();
    assert_eq!(greeting, Message::text(version));
}

#[tokio::test]
async fn h2c_with_prior_knowledge_carries_a_websocket_on_the_http1_port() {
    let mut server = TestServer::start(Acceptor::default()).await;
    let (mut ws, response) = bounded(
        ClientBuilder::new(format!("ws://{}/chat", server.addr))
            .http2(Http2Mode::Required)
            .connect(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), Version::HTTP_2);
    assert!(matches!(ws.get_ref(), weft::ClientStream::Http2(_)));
    expect_greeting(&mut ws, "HTTP/2.0").await;
    echo_every_size(&mut ws).await;
    bounded(ws.close(CloseCode::NORMAL, "done")).await.unwrap();
    let seen = server.next_seen().await;
    assert_eq!(seen.version, Version::HTTP_2);
    seen.ended.unwrap();

    // The same port still speaks HTTP/1.1.
    let (mut ws, response) = bounded(weft::connect(&format!("ws://{}/", server.addr)))
        .await
        .unwrap();
    assert_eq!(response.version(), Version::HTTP_11);
    expect_greeting(&mut ws, "HTTP/1.1").await;
    bounded(ws.close(CloseCode::NORMAL, "")).await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn alpn_chooses_h2_over_tls_and_deflate_works_on_the_stream() {
    let ca = TestCa::new();
    let mut server = TestServer::start(tls_acceptor(&ca).build().unwrap()).await;
    let (mut ws, response) = bounded(
        ClientBuilder::new(format!("wss://localhost:{}/", server.addr.port()))
            .tls(ca.client_tls())
            .http2(Http2Mode::Auto)
            .connect(),
    )
    .await
    .unwrap();
    assert_eq!(response.version(), Version::HTTP_2);
    let extensions = response.headers()["sec-websocket-extensions"]
        .to_str()
        .unwrap();
    assert!(extensions.starts_with("permessage-deflate"), "{extensions}");
    expect_greeting(&mut ws, "HTTP/2.0").await;
    echo_every_size(&mut ws).await;
    bounded(ws.close(CloseCode::NORMAL, "")).await.unwrap();
    assert_eq!(server.next_seen().await.version, Version::HTTP_2);
    server.stop().await;
}

#[tokio::test]
async fn auto_falls_back_to_http1_and_required_says_why_it_cannot() {
    let ca = TestCa::new();
    let mut server = TestServer::start(tls_acceptor(&ca).http2(false).build().unwrap()).await;
    let url = format!("wss://localhost:{}/", server.addr.port());
    let (mut ws, response) = bounded(
        ClientBuilder::new(&url)
            .tls(ca.client_tls())
            .http2(Http2Mode::Auto)
            .connect(),
    )
    .await
    .unwrap();
    assert_eq!(response.version(), Version::HTTP_11);
    expect_greeting(&mut ws, "HTTP/1.1").await;
    bounded(ws.close(CloseCode::NORMAL, "")).await.unwrap();
    assert_eq!(server.next_seen().await.version, Version::HTTP_11);

    let err = bounded(
        ClientBuilder::new(&url)
            .tls(ca.client_tls())
            .http2(Http2Mode::Required)
            .connect(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, weft::client::Error::Http2NotNegotiated),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "the server does not speak HTTP/2 (no ALPN h2 over TLS, no answer to the HTTP/2 \
         preface over cleartext)"
    );
    server.stop().await;
}

/// An HTTP/2 server that does not enable extended CONNECT: h2 as a bare server over TLS.
async fn h2_server_without_extended_connect(ca: &TestCa) -> SocketAddr {
    let (chain, key) = ca.issue(&["localhost"], false);
    let certs = rustls::pki_types::CertificateDer::pem_slice_iter(chain.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut connection) = h2::server::handshake(tls).await else {
                    return;
                };
                while let Some(Ok((_, mut respond))) = connection.accept().await {
                    let response = http::Response::builder().status(404).body(()).unwrap();
                    let _ = respond.send_response(response, true);
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_server_that_speaks_h2_without_extended_connect_is_named_as_such() {
    let ca = TestCa::new();
    let addr = h2_server_without_extended_connect(&ca).await;
    let url = format!("wss://localhost:{}/", addr.port());
    let err = bounded(
        ClientBuilder::new(&url)
            .tls(ca.client_tls())
            .http2(Http2Mode::Required)
            .connect(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, weft::client::Error::ExtendedConnectNotEnabled),
        "{err:?}"
    );
    let err = bounded(
        ClientBuilder::new(&url)
            .tls(ca.client_tls())
            .connect_http2(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, weft::client::Error::ExtendedConnectNotEnabled),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_thousand_websockets_share_one_http2_connection() {
    const STREAMS: u32 = 1000;
    let acceptor = Acceptor::builder()
        .http2_limits(Http2Limits::default().max_concurrent_streams(STREAMS))
        .build()
        .unwrap();
    let mut server = TestServer::start(acceptor).await;
    let connection = bounded(
        ClientBuilder::new(format!("ws://{}", server.addr))
            .http2_limits(Http2Limits::default().max_concurrent_streams(STREAMS))
            .connect_http2(),
    )
    .await
    .unwrap();
    assert_eq!(connection.max_concurrent_streams(), STREAMS as usize);
    let mut sockets = Vec::new();
    for i in 0..STREAMS {
        let (ws, _) = bounded(connection.connect(&format!("/room/{i}")))
            .await
            .unwrap();
        sockets.push(ws);
    }
    // Every WebSocket echoes at the same time: all sends first, then all echoes.
    let echoes = sockets.into_iter().enumerate().map(|(i, mut ws)| {
        tokio::spawn(async move {
            expect_greeting(&mut ws, "HTTP/2.0").await;
            for round in 0..3 {
                let message = Message::text(format!("{i}:{round}"));
                ws.send(message.clone()).await.unwrap();
                assert_eq!(ws.next().await.unwrap().unwrap(), message);
            }
            ws.close(CloseCode::NORMAL, "").await.unwrap();
        })
    });
    let echoes: Vec<_> = echoes.collect();
    for echo in echoes {
        bounded(echo).await.unwrap();
    }
    for _ in 0..STREAMS {
        let seen = server.next_seen().await;
        assert_eq!(seen.version, Version::HTTP_2);
        seen.ended.unwrap();
    }
    server.stop().await;
}

/// A plain request on the shared HTTP/2 connection, through h2's own client.
async fn h2_get(addr: SocketAddr, method: http::Method, path: &str) -> (u16, Bytes) {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(connection);
    let mut client = client.ready().await.unwrap();
    let request = http::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .body(())
        .unwrap();
    let (response, _) = client.send_request(request, true).unwrap();
    let response = bounded(response).await.unwrap();
    let status = response.status().as_u16();
    let mut body = response.into_body();
    let mut bytes = Vec::new();
    while let Some(data) = bounded(body.data()).await {
        let data = data.unwrap();
        let _ = body.flow_control().release_capacity(data.len());
        bytes.extend_from_slice(&data);
    }
    (status, Bytes::from(bytes))
}

#[tokio::test]
async fn plain_requests_on_http2_reach_the_same_http_handler() {
    let server = TestServer::start(Acceptor::default()).await;
    let (status, body) = h2_get(server.addr, http::Method::GET, "/page").await;
    assert_eq!((status, body.as_ref()), (200, &b"plain HTTP/2.0 /page"[..]));
    let (status, body) = h2_get(server.addr, http::Method::HEAD, "/page").await;
    assert_eq!((status, body.len()), (200, 0));
    server.stop().await;
}

#[tokio::test]
async fn shutdown_closes_every_stream_with_1001_then_the_connection() {
    let server = TestServer::start(Acceptor::default()).await;
    let connection = bounded(ClientBuilder::new(format!("ws://{}", server.addr)).connect_http2())
        .await
        .unwrap();
    let mut sockets = Vec::new();
    for _ in 0..3 {
        let (mut ws, _) = bounded(connection.connect("/")).await.unwrap();
        expect_greeting(&mut ws, "HTTP/2.0").await;
        sockets.push(ws);
    }
    server.shutdown.shutdown();
    for ws in &mut sockets {
        match bounded(ws.next()).await {
            Some(Ok(Message::Close(Some(frame)))) => {
                assert_eq!(frame.code(), CloseCode::GOING_AWAY);
            }
            other => panic!("expected close 1001, got {other:?}"),
        }
        assert!(
            bounded(ws.next()).await.is_none(),
            "the stream ends cleanly"
        );
    }
    bounded(server.task).await.unwrap().unwrap();
    // After GOAWAY the connection takes no new WebSocket.
    assert!(bounded(connection.connect("/")).await.is_err());
}

#[tokio::test]
async fn a_stream_reset_mid_message_ends_that_websocket_with_1006_only() {
    let mut server = TestServer::start(Acceptor::default()).await;
    let connection = bounded(ClientBuilder::new(format!("ws://{}", server.addr)).connect_http2())
        .await
        .unwrap();
    let (mut healthy, _) = bounded(connection.connect("/healthy")).await.unwrap();
    expect_greeting(&mut healthy, "HTTP/2.0").await;
    let (mut doomed, _) = bounded(connection.connect("/doomed")).await.unwrap();
    expect_greeting(&mut doomed, "HTTP/2.0").await;

    // Half a message, then RST_STREAM.
    bounded(doomed.send_fragment(weft::Fragment::new(
        weft::DataKind::Binary,
        vec![1u8; 1000],
        false,
    )))
    .await
    .unwrap();
    let weft::ClientStream::Http2(stream) = doomed.get_mut() else {
        panic!("an HTTP/2 stream");
    };
    stream.reset(h2::Reason::CANCEL);

    let seen = server.next_seen().await;
    let err = seen.ended.unwrap_err();
    assert_eq!(err.close_code(), Some(CloseCode::ABNORMAL), "{err}");
    assert!(err.to_string().contains("reset"), "{err}");

    // The other WebSocket on the connection goes on.
    bounded(healthy.send(Message::text("still here")))
        .await
        .unwrap();
    assert_eq!(
        bounded(healthy.next()).await.unwrap().unwrap(),
        Message::text("still here")
    );
    bounded(healthy.close(CloseCode::NORMAL, "")).await.unwrap();
    server.next_seen().await.ended.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn http2_can_be_switched_off_on_the_server() {
    let server = TestServer::start(Acceptor::builder().http2(false).build().unwrap()).await;
    let err = bounded(
        ClientBuilder::new(format!("ws://{}", server.addr))
            .handshake_timeout(Duration::from_secs(5))
            .connect_http2(),
    )
    .await
    .unwrap_err();
    // The preface reads as a malformed HTTP/1.1 request (refused with 400): no HTTP/2 here.
    assert!(
        matches!(err, weft::client::Error::Http2NotNegotiated),
        "{err:?}"
    );
    server.stop().await;
}

/// `len` bytes that do not compress (xorshift64).
fn random_bytes(len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect()
}

#[tokio::test]
async fn a_stream_whose_reader_stopped_holds_only_its_window_and_the_others_go_on() {
    // The server reads every WebSocket but /stuck, whose handler never reads (and is cut off
    // at shutdown).
    let server = Server::builder()
        .shutdown_timeout(Duration::from_millis(100))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let shutdown = server.shutdown_handle();
    let task = tokio::spawn(server.serve(|mut ws, accepted| async move {
        if accepted.request.uri().path() == "/stuck" {
            std::future::pending::<()>().await;
        }
        while let Some(Ok(message)) = ws.next().await {
            if message.is_binary() && ws.send(message).await.is_err() {
                break;
            }
        }
    }));
    let connection = bounded(ClientBuilder::new(format!("ws://{addr}")).connect_http2())
        .await
        .unwrap();

    // A sender that floods /stuck: each send completes only while there is room. The data
    // is random, so that permessage-deflate does not shrink it (64 KiB of one byte value
    // compress to 87 bytes).
    let (mut stuck, _) = bounded(connection.connect("/stuck")).await.unwrap();
    let flooded = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let noise = Bytes::from(random_bytes(64 << 10));
    let flood = tokio::spawn({
        let flooded = flooded.clone();
        async move {
            loop {
                if stuck.send(Message::binary(noise.clone())).await.is_err() {
                    return;
                }
                flooded.fetch_add(64 << 10, std::sync::atomic::Ordering::Relaxed);
            }
        }
    });

    // Ten other WebSockets on the same connection each echo 1 MiB meanwhile.
    let mut others = Vec::new();
    for i in 0..10 {
        let (mut ws, _) = bounded(connection.connect(&format!("/other/{i}")))
            .await
            .unwrap();
        others.push(tokio::spawn(async move {
            for _ in 0..64 {
                let message = Message::binary(vec![i; 16 << 10]);
                ws.send(message.clone()).await.unwrap();
                assert_eq!(ws.next().await.unwrap().unwrap(), message);
            }
            ws.close(CloseCode::NORMAL, "").await.unwrap();
        }));
    }
    for other in others {
        bounded(other).await.unwrap();
    }

    // The flood filled what it could and was then held by flow control: a send completes
    // once its message is in h2's hands, which takes the server's stream window (256 KiB);
    // the message after that waits. So the server holds at most its stream window for a
    // reader that stopped.
    let window = Http2Limits::default().get_stream_window() as usize;
    bounded(async {
        while flooded.load(std::sync::atomic::Ordering::Relaxed) < window / 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let held = flooded.load(std::sync::atomic::Ordering::Relaxed);
    println!("a reader that stopped held {held} bytes of its sender's flood");
    assert!(
        held <= window,
        "the flood got {held} bytes past a reader that stopped, over the {window}-byte window"
    );
    assert!(!flood.is_finished(), "the flood is waiting, not failed");
    flood.abort();
    shutdown.shutdown();
    let _ = bounded(task).await;
}
