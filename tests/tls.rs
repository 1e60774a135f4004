//! wss:// on both sides, with certificates generated at test time: what works, and that every
//! failure is clear, bounded in time, and leaves the server serving.

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use weft::{ClientTls, CloseCode, Message, TlsConfig};
use weft_harness::{EchoServer, TIMEOUT, TestCa};

async fn bounded<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(TIMEOUT, f)
        .await
        .expect("test step timed out")
}

/// The harness's private certificate authority, with the connection these tests make.
struct Ca(TestCa);

impl Ca {
    fn new() -> Self {
        Self(TestCa::new())
    }

    fn issue(&self, names: &[&str], expired: bool) -> (String, String) {
        self.0.issue(names, expired)
    }

    /// Connects to `addr` as `host`, trusting this CA, within the tests' time bound.
    async fn connect(
        &self,
        addr: SocketAddr,
        host: &str,
    ) -> Result<(weft::WebSocket<weft::ClientStream>, weft::client::Response), weft::client::Error>
    {
        bounded(
            weft::ClientBuilder::new(wss_url(addr, host))
                .tls(self.client_tls())
                .connect(),
        )
        .await
    }

    fn client_tls(&self) -> ClientTls {
        self.0.client_tls()
    }
}

async fn wss_server(cert: &(String, String), timeout: Duration) -> EchoServer {
    let tls = TlsConfig::from_pem(cert.0.as_bytes(), cert.1.as_bytes()).unwrap();
    let acceptor = weft::Acceptor::builder()
        .tls(tls)
        .handshake_timeout(timeout)
        .build()
        .unwrap();
    let builder = weft::Server::builder()
        .acceptor(acceptor)
        .http(|_| async { http::Response::new(Bytes::from_static(b"over https")) });
    EchoServer::start_with(builder).await.unwrap()
}

fn wss_url(addr: SocketAddr, host: &str) -> String {
    format!("wss://{host}:{}/", addr.port())
}

#[tokio::test]
async fn wss_echo_with_a_private_ca() {
    let ca = Ca::new();
    let server = wss_server(&ca.issue(&["localhost"], false), Duration::from_secs(10)).await;
    let (mut ws, _) = ca.connect(server.addr, "localhost").await.unwrap();
    assert!(ws.get_ref().is_tls());
    for size in [0, 10, 70_000, 1 << 20] {
        let data = vec![7u8; size];
        ws.send(Message::binary(data.clone())).await.unwrap();
        assert_eq!(
            bounded(ws.next()).await.unwrap().unwrap(),
            Message::binary(data)
        );
    }
    bounded(ws.close(CloseCode::NORMAL, "")).await.unwrap();
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_certificate_for_another_host_is_named_as_such() {
    let ca = Ca::new();
    let server = wss_server(&ca.issue(&["example.com"], false), Duration::from_secs(10)).await;
    let err = ca.connect(server.addr, "localhost").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "the server's certificate is not valid for the host name localhost"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_untrusted_ca_is_named_as_such() {
    let ca = Ca::new();
    let server = wss_server(&ca.issue(&["localhost"], false), Duration::from_secs(10)).await;
    let err = bounded(weft::connect(&wss_url(server.addr, "localhost")))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the server's certificate for localhost is signed by an untrusted certificate authority"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_expired_certificate_is_named_as_such() {
    let ca = Ca::new();
    let server = wss_server(&ca.issue(&["localhost"], true), Duration::from_secs(10)).await;
    let err = ca.connect(server.addr, "localhost").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "the server's certificate for localhost has expired"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_plain_client_against_a_tls_port_is_told_to_use_wss() {
    let ca = Ca::new();
    let server = wss_server(&ca.issue(&["localhost"], false), Duration::from_secs(10)).await;
    let url = format!("ws://{}/", server.addr);
    // The server's TLS alert, not a hang or a confusing HTTP parse error.
    let err = bounded(weft::connect(&url)).await.unwrap_err();
    assert!(
        matches!(&err, weft::client::Error::ServerExpectsTls { url: named } if *named == url),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("the server at {url} answered with TLS: use wss:// instead of ws://")
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_tls_handshake_counts_against_the_handshake_timeout() {
    let ca = Ca::new();
    let server = wss_server(&ca.issue(&["localhost"], false), Duration::from_millis(300)).await;
    // Connects and never says anything, then half a ClientHello.
    for opening in [&b""[..], &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01][..]] {
        let mut tcp = TcpStream::connect(server.addr).await.unwrap();
        tcp.write_all(opening).await.unwrap();
        let started = Instant::now();
        let mut sink = Vec::new();
        let _ = bounded(tcp.read_to_end(&mut sink)).await;
        let elapsed = started.elapsed();
        assert!(
            elapsed >= Duration::from_millis(250) && elapsed < Duration::from_secs(2),
            "{elapsed:?}"
        );
    }
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn garbage_instead_of_a_client_hello_is_dropped_and_the_server_keeps_serving() {
    let ca = Ca::new();
    let server = wss_server(&ca.issue(&["localhost"], false), Duration::from_secs(10)).await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(&[0xAB; 512]).await.unwrap();
    let started = Instant::now();
    let mut sink = Vec::new();
    let _ = bounded(tcp.read_to_end(&mut sink)).await;
    assert!(started.elapsed() < Duration::from_secs(2));
    let (ws, _) = ca.connect(server.addr, "localhost").await.unwrap();
    drop(ws);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn https_is_served_on_the_same_port() {
    let ca = Ca::new();
    let server = wss_server(&ca.issue(&["localhost"], false), Duration::from_secs(10)).await;
    let config = ca.client_tls().to_config().unwrap();
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .unwrap();
    tls.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = Vec::new();
    let _ = bounded(tls.read_to_end(&mut response)).await;
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.ends_with("over https"), "{response}");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_single_accept_over_tls() {
    let ca = Ca::new();
    let (cert, key) = ca.issue(&["localhost", "127.0.0.1"], false);
    let acceptor = weft::Acceptor::builder()
        .tls(TlsConfig::from_pem(cert.as_bytes(), key.as_bytes()).unwrap())
        .build()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let (mut ws, _) = acceptor.accept_tcp(tcp).await.unwrap();
        let message = ws.next().await.unwrap().unwrap();
        ws.send(message).await.unwrap();
        ws.close(CloseCode::NORMAL, "").await.unwrap();
    });
    // An IP address as the server name works too.
    let (mut ws, _) = ca.connect(addr, "127.0.0.1").await.unwrap();
    ws.send(Message::text("secure")).await.unwrap();
    assert_eq!(
        bounded(ws.next()).await.unwrap().unwrap(),
        Message::text("secure")
    );
    assert!(bounded(ws.next()).await.unwrap().unwrap().is_close());
    // Reading on to the end closes our side, which ends the server's lingering close.
    assert!(bounded(ws.next()).await.is_none());
    bounded(server).await.unwrap();
}

/// A bare wss:// server for `host`, for scripts no weft server would follow: it accepts one
/// connection, answers the upgrade, and hands the TLS stream to the test.
async fn bare_wss_server(
    ca: &Ca,
    host: &str,
) -> (
    SocketAddr,
    tokio::task::JoinHandle<tokio_rustls::server::TlsStream<TcpStream>>,
) {
    let tls = tokio_rustls::TlsAcceptor::from(ca.0.rustls_server_config(&[host]));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let upgraded = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut stream = tls.accept(tcp).await.unwrap();
        // weft's own sans-IO handshake answers the upgrade; nothing else of weft runs here.
        let handshake = weft::handshake::Server::default();
        let mut parser = handshake.parser();
        let mut input = Vec::new();
        let request = loop {
            assert!(stream.read_buf(&mut input).await.unwrap() > 0, "no request");
            if let weft::handshake::Parsed::Complete { value, .. } = parser.parse(&input).unwrap() {
                break value;
            }
        };
        let upgrade = handshake.validate(request.into_request()).unwrap();
        stream
            .write_all(&handshake.accept(&upgrade).to_vec())
            .await
            .unwrap();
        stream.flush().await.unwrap();
        stream
    });
    (addr, upgraded)
}

/// Ends TCP under a TLS stream without `close_notify`, as tokio-tungstenite, tokio-websockets
/// and fastwebsockets do when their stream is dropped.
fn drop_without_close_notify(stream: tokio_rustls::server::TlsStream<TcpStream>) {
    let (tcp, _) = stream.into_inner();
    drop(tcp);
}

#[tokio::test]
async fn a_server_that_skips_close_notify_after_the_closing_handshake_ends_cleanly() {
    let ca = Ca::new();
    let (addr, upgraded) = bare_wss_server(&ca, "localhost").await;
    let server = tokio::spawn(async move {
        let mut stream = upgraded.await.unwrap();
        // Close 1000, unmasked as a server sends it; then the client's masked close: 2 + 4 + 2.
        stream.write_all(&[0x88, 0x02, 0x03, 0xE8]).await.unwrap();
        stream.flush().await.unwrap();
        let mut answer = [0u8; 8];
        stream.read_exact(&mut answer).await.unwrap();
        assert_eq!(answer[..2], [0x88, 0x82], "the client's close frame");
        drop_without_close_notify(stream);
    });
    let (mut ws, _) = ca.connect(addr, "localhost").await.unwrap();
    let close = bounded(ws.next()).await.unwrap().unwrap();
    assert!(close.is_close(), "{close:?}");
    // The end of TCP after the closing handshake is the end of the connection.
    let end = bounded(ws.next()).await;
    assert!(end.is_none(), "{end:?}");
    bounded(server).await.unwrap();
}

#[tokio::test]
async fn a_server_that_vanishes_without_close_notify_or_close_frame_is_an_abnormal_closure() {
    let ca = Ca::new();
    let (addr, upgraded) = bare_wss_server(&ca, "localhost").await;
    let server = tokio::spawn(async move { drop_without_close_notify(upgraded.await.unwrap()) });
    let (mut ws, _) = ca.connect(addr, "localhost").await.unwrap();
    // As over plain TCP: the peer went away without the closing handshake (1006).
    let end = bounded(ws.next()).await;
    assert!(
        matches!(end, Some(Err(weft::Error::AbnormalClosure))),
        "{end:?}"
    );
    bounded(server).await.unwrap();
}

#[test]
fn bad_tls_settings_are_clear_errors() {
    let err = TlsConfig::from_pem(b"not pem", b"not pem").unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid TLS settings: no certificate found in the PEM data"
    );
    let err =
        TlsConfig::from_pem_files("/nonexistent/cert.pem", "/nonexistent/key.pem").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("invalid TLS settings: cannot read /nonexistent/cert.pem")
    );
    let err = ClientTls::default().add_root_pem(b"").unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid TLS settings: no certificate found in the PEM data"
    );
}
