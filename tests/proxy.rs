//! The client through proxies: Debian's tinyproxy (HTTP `CONNECT`, with and without basic
//! auth, and behind a TLS front as an `https://` proxy), microsocks (SOCKS5, with and without
//! username/password) and dante-server (SOCKS5), each started by the test on a loopback port
//! (`peers/proxies.rs`), with `ws://` and `wss://` through each; and every way a proxy can
//! fail, each its own error: a wrong password, a proxy that refuses the server, one that
//! cannot be reached, one that stays silent (bounded by the connect timeout), and SOCKS5 and
//! HTTP proxies that answer garbage or hang up midway (small fakes in this file, since no real
//! proxy misbehaves on purpose).
//!
//! The tests that need a real proxy are ignored, with the reason, until `cargo xtask peers`
//! has installed them. Every wait is bounded.

#[path = "peers/peers.rs"]
mod peers;
#[path = "peers/proxies.rs"]
mod proxies;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use weft::client::{Error, Http2Mode};
use weft::{Acceptor, ClientBuilder, ClientStream, CloseCode, Message, Proxy, Server};
use weft_harness::{EchoServer, TIMEOUT, TestCa};

use peers::Peers;
use proxies::{ProxyServer, Tinyproxy};

async fn bounded<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(TIMEOUT, f)
        .await
        .expect("test step timed out")
}

/// An echo server for `ws://` and one for `wss://` (a certificate for `localhost` and
/// 127.0.0.1 from a private CA), and the client settings that trust it.
struct Servers {
    ca: TestCa,
    plain: EchoServer,
    secure: EchoServer,
}

impl Servers {
    async fn start() -> Self {
        let ca = TestCa::new();
        let acceptor = Acceptor::builder()
            .tls(ca.server_tls(&["localhost", "127.0.0.1"]))
            .build()
            .unwrap();
        let secure = EchoServer::start_with(Server::builder().acceptor(acceptor))
            .await
            .unwrap();
        let plain = EchoServer::start().await.unwrap();
        Self { ca, plain, secure }
    }

    /// `ws://` and `wss://` URLs with `host` for the server's name (the proxy resolves it).
    fn urls(&self, host: &str) -> [String; 2] {
        [
            format!("ws://{host}:{}/chat", self.plain.addr.port()),
            format!("wss://{host}:{}/chat", self.secure.addr.port()),
        ]
    }

    fn client(&self, url: &str, proxy: &str) -> ClientBuilder {
        ClientBuilder::new(url)
            .tls(self.ca.client_tls())
            .proxy(Proxy::parse(proxy).unwrap())
    }

    async fn shutdown(self) {
        self.plain.shutdown().await.unwrap();
        self.secure.shutdown().await.unwrap();
    }
}

/// Connects to `url` through `proxy`, echoes a text and a 100 KiB binary message, closes
/// with 1000; checks that the connection went to the proxy and that `wss://` is TLS end to
/// end.
async fn echo_through(servers: &Servers, url: &str, proxy: &str, proxy_port: u16) {
    let (mut ws, _) = bounded(servers.client(url, proxy).connect())
        .await
        .unwrap_or_else(|err| panic!("{url} through {proxy}: {err}"));
    let stream = ws.get_ref();
    assert_eq!(
        stream.tcp().unwrap().peer_addr().unwrap().port(),
        proxy_port,
        "{url}: the TCP connection is to the proxy"
    );
    assert_eq!(stream.is_tls(), url.starts_with("wss://"), "{url}");
    if proxy.starts_with("https://") {
        assert!(
            matches!(
                stream,
                ClientStream::ProxyTls(_) | ClientStream::TlsOverProxyTls(_)
            ),
            "{url}: TLS to the proxy"
        );
    }
    let text = Message::text(format!("hello through {proxy}"));
    let binary = Message::binary((0..=255u8).cycle().take(100_000).collect::<Vec<u8>>());
    for message in [text, binary] {
        bounded(ws.send(message.clone())).await.unwrap();
        assert_eq!(bounded(ws.next()).await.unwrap().unwrap(), message, "{url}");
    }
    bounded(ws.close(CloseCode::NORMAL, "")).await.unwrap();
}

/// An address nothing listens on: a port the OS handed out, released again.
fn closed_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Connects to `url` through `proxy` and returns the error.
async fn fail_through(servers: &Servers, url: &str, proxy: &str) -> Error {
    match bounded(servers.client(url, proxy).connect()).await {
        Ok(_) => panic!("{url} through {proxy} connected"),
        Err(err) => err,
    }
}

// -------------------------------------------------------------------------------------------
// tinyproxy: HTTP CONNECT.

#[tokio::test]
#[cfg_attr(
    not(weft_peers),
    ignore = "needs the interop peers: run `cargo xtask peers`"
)]
async fn tinyproxy_carries_ws_and_wss() {
    let peers = Peers::get();
    let servers = Servers::start().await;
    let proxy = ProxyServer::tinyproxy(&peers, &Tinyproxy::default());
    // The proxy resolves `localhost` for the tunnel.
    for url in servers.urls("localhost") {
        echo_through(&servers, &url, &proxy.url("http", None), proxy.port()).await;
    }
    // HTTP/2 runs inside the tunnel too: TLS with the server chooses h2 by ALPN, and the
    // WebSocket is an extended CONNECT stream.
    let [_, secure] = servers.urls("localhost");
    let (mut ws, _) = bounded(
        servers
            .client(&secure, &proxy.url("http", None))
            .http2(Http2Mode::Required)
            .connect(),
    )
    .await
    .unwrap();
    assert!(matches!(ws.get_ref(), ClientStream::Http2(_)));
    bounded(ws.send(Message::text("h2 through the proxy")))
        .await
        .unwrap();
    assert_eq!(
        bounded(ws.next()).await.unwrap().unwrap(),
        Message::text("h2 through the proxy")
    );
    bounded(ws.close(CloseCode::NORMAL, "")).await.unwrap();
    servers.shutdown().await;
}

#[tokio::test]
#[cfg_attr(
    not(weft_peers),
    ignore = "needs the interop peers: run `cargo xtask peers`"
)]
async fn tinyproxy_with_basic_auth_lets_in_the_right_password_only() {
    let peers = Peers::get();
    let servers = Servers::start().await;
    let proxy = ProxyServer::tinyproxy(
        &peers,
        &Tinyproxy {
            basic_auth: Some(("alice", "s3cret")),
            ..Tinyproxy::default()
        },
    );
    for url in servers.urls("127.0.0.1") {
        echo_through(
            &servers,
            &url,
            &proxy.url("http", Some(("alice", "s3cret"))),
            proxy.port(),
        )
        .await;
        let err = fail_through(&servers, &url, &proxy.url("http", Some(("alice", "wrong")))).await;
        assert!(matches!(err, Error::ProxyAuth { .. }), "{err:?}");
        // tinyproxy answers wrong credentials with 401 rather than 407.
        assert_eq!(
            err.to_string(),
            format!(
                "the proxy {} refused the username and password (401 Unauthorized)",
                proxy.url("http", None)
            )
        );
        assert!(!err.to_string().contains("wrong"));
        let err = fail_through(&servers, &url, &proxy.url("http", None)).await;
        assert_eq!(
            err.to_string(),
            format!(
                "the proxy {} requires a username and password (407 Proxy Authentication Required)",
                proxy.url("http", None)
            )
        );
    }
    servers.shutdown().await;
}

#[tokio::test]
#[cfg_attr(
    not(weft_peers),
    ignore = "needs the interop peers: run `cargo xtask peers`"
)]
async fn tinyproxy_refusing_the_server_is_a_refusal_with_its_status() {
    let peers = Peers::get();
    let servers = Servers::start().await;
    // CONNECT only to port 443: the test servers' ports are refused.
    let proxy = ProxyServer::tinyproxy(
        &peers,
        &Tinyproxy {
            connect_ports: vec![443],
            ..Tinyproxy::default()
        },
    );
    for url in servers.urls("127.0.0.1") {
        let err = fail_through(&servers, &url, &proxy.url("http", None)).await;
        match &err {
            Error::ProxyRefused { target, reason, .. } => {
                assert!(url.contains(target.as_str()), "{target} in {url}");
                assert!(reason.starts_with("403"), "{reason}");
            }
            other => panic!("{other:?}\n{}", proxy.log()),
        }
    }
    servers.shutdown().await;
}

/// A TLS front for a plain proxy: accepts TLS (a certificate for 127.0.0.1 from `ca`) and
/// relays the bytes inside to `backend`, so tinyproxy can be an `https://` proxy.
async fn tls_front(ca: &TestCa, backend: u16) -> SocketAddr {
    let acceptor = tokio_rustls::TlsAcceptor::from(ca.rustls_server_config(&["127.0.0.1"]));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut proxy) = TcpStream::connect(("127.0.0.1", backend)).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut proxy).await;
            });
        }
    });
    addr
}

#[tokio::test]
#[cfg_attr(
    not(weft_peers),
    ignore = "needs the interop peers: run `cargo xtask peers`"
)]
async fn an_https_proxy_carries_ws_and_wss_inside_tls_to_the_proxy() {
    let peers = Peers::get();
    let servers = Servers::start().await;
    let proxy = ProxyServer::tinyproxy(
        &peers,
        &Tinyproxy {
            basic_auth: Some(("alice", "s3cret")),
            ..Tinyproxy::default()
        },
    );
    let front = tls_front(&servers.ca, proxy.port()).await;
    let url = format!("https://alice:s3cret@127.0.0.1:{}", front.port());
    for target in servers.urls("localhost") {
        echo_through(&servers, &target, &url, front.port()).await;
    }
    // The proxy's certificate is checked like a server's.
    let err = bounded(
        ClientBuilder::new(&servers.urls("localhost")[0])
            .proxy(Proxy::parse(&url).unwrap())
            .connect(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::ProxyTls { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "with the proxy: the server's certificate for 127.0.0.1 is signed by an untrusted \
         certificate authority"
    );
    servers.shutdown().await;
}

// -------------------------------------------------------------------------------------------
// SOCKS5: microsocks and dante-server.

#[tokio::test]
#[cfg_attr(
    not(weft_peers),
    ignore = "needs the interop peers: run `cargo xtask peers`"
)]
async fn microsocks_carries_ws_and_wss_with_remote_and_local_name_resolution() {
    let peers = Peers::get();
    let servers = Servers::start().await;
    let proxy = ProxyServer::microsocks(&peers, None);
    for url in servers.urls("localhost") {
        // socks5h: the proxy resolves `localhost`; socks5: the client does.
        echo_through(&servers, &url, &proxy.url("socks5h", None), proxy.port()).await;
        echo_through(&servers, &url, &proxy.url("socks5", None), proxy.port()).await;
    }
    servers.shutdown().await;
}

#[tokio::test]
#[cfg_attr(
    not(weft_peers),
    ignore = "needs the interop peers: run `cargo xtask peers`"
)]
async fn microsocks_with_a_password_lets_in_the_right_one_only() {
    let peers = Peers::get();
    let servers = Servers::start().await;
    let proxy = ProxyServer::microsocks(&peers, Some(("alice", "s3cret")));
    let shown = proxy.url("socks5h", None);
    for url in servers.urls("127.0.0.1") {
        echo_through(
            &servers,
            &url,
            &proxy.url("socks5h", Some(("alice", "s3cret"))),
            proxy.port(),
        )
        .await;
        let err = fail_through(
            &servers,
            &url,
            &proxy.url("socks5h", Some(("alice", "wrong"))),
        )
        .await;
        assert_eq!(
            err.to_string(),
            format!("the proxy {shown} refused the username and password (SOCKS5)")
        );
        let err = fail_through(&servers, &url, &shown).await;
        assert!(matches!(err, Error::ProxyAuth { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!("the proxy {shown} requires a username and password (SOCKS5)")
        );
    }
    servers.shutdown().await;
}

#[tokio::test]
#[cfg_attr(
    not(weft_peers),
    ignore = "needs the interop peers: run `cargo xtask peers`"
)]
async fn microsocks_reports_a_server_that_refuses_the_connection() {
    let peers = Peers::get();
    let servers = Servers::start().await;
    let proxy = ProxyServer::microsocks(&peers, None);
    let closed = closed_port();
    let url = format!("ws://{closed}/");
    let err = fail_through(&servers, &url, &proxy.url("socks5h", None)).await;
    assert_eq!(
        err.to_string(),
        format!(
            "the proxy {} refused to connect to {closed}: connection refused by the server",
            proxy.url("socks5h", None)
        )
    );
    servers.shutdown().await;
}

#[tokio::test]
#[cfg_attr(
    not(weft_peers),
    ignore = "needs the interop peers: run `cargo xtask peers`"
)]
async fn dante_carries_ws_and_wss_and_refuses_what_its_rules_block() {
    let peers = Peers::get();
    let servers = Servers::start().await;
    let proxy = ProxyServer::dante(&peers, "127.0.0.2");
    for url in servers.urls("localhost") {
        echo_through(&servers, &url, &proxy.url("socks5h", None), proxy.port()).await;
    }
    for url in servers.urls("127.0.0.2") {
        let err = fail_through(&servers, &url, &proxy.url("socks5h", None)).await;
        match &err {
            Error::ProxyRefused { reason, .. } => {
                assert_eq!(reason, "connection not allowed by ruleset");
            }
            other => panic!("{other:?}\n{}", proxy.log()),
        }
    }
    servers.shutdown().await;
}

// -------------------------------------------------------------------------------------------
// Proxies that cannot be reached, stay silent, or break their protocol.

#[tokio::test]
async fn an_unreachable_proxy_is_named() {
    let closed = closed_port();
    for scheme in ["http", "socks5h"] {
        let proxy = format!("{scheme}://{closed}");
        let err = bounded(
            ClientBuilder::new("ws://127.0.0.1:9/")
                .proxy(Proxy::parse(&proxy).unwrap())
                .connect(),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, Error::ProxyUnreachable { .. }), "{err:?}");
        assert!(
            err.to_string()
                .starts_with(&format!("cannot reach the proxy {proxy}: ")),
            "{err}"
        );
    }
}

/// A fake proxy on a loopback port: each connection is handed to `script`, which reports
/// what it saw of the client on the channel.
async fn fake_proxy<F, Fut>(script: F) -> (SocketAddr, mpsc::UnboundedReceiver<&'static str>)
where
    F: Fn(TcpStream, Report) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (report, seen) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(script(tcp, report.clone()));
        }
    });
    (addr, seen)
}

type Report = mpsc::UnboundedSender<&'static str>;

/// Reads until the client closes the connection, then reports `"closed"`.
async fn expect_client_gone(mut tcp: TcpStream, report: Report) {
    let mut sink = [0u8; 256];
    while let Ok(read) = tcp.read(&mut sink).await {
        if read == 0 {
            break;
        }
    }
    let _ = report.send("closed");
}

/// Asserts that the client closed its connection to the fake (nothing leaked on failure).
async fn assert_closed(seen: &mut mpsc::UnboundedReceiver<&'static str>) {
    assert_eq!(bounded(seen.recv()).await, Some("closed"));
}

/// Reads a request head, to its blank line.
async fn read_head(tcp: &mut TcpStream) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        tcp.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

async fn connect_via(proxy: &str) -> Error {
    bounded(
        ClientBuilder::new("ws://server.example:80/")
            .proxy(Proxy::parse(proxy).unwrap())
            .connect_timeout(Duration::from_secs(5))
            .connect(),
    )
    .await
    .unwrap_err()
}

#[tokio::test]
async fn a_socks5_proxy_that_answers_garbage_is_not_socks5() {
    let (addr, mut seen) = fake_proxy(|mut tcp, report| async move {
        let mut greeting = [0u8; 3];
        tcp.read_exact(&mut greeting).await.unwrap();
        tcp.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n")
            .await
            .unwrap();
        expect_client_gone(tcp, report).await;
    })
    .await;
    let err = connect_via(&format!("socks5h://{addr}")).await;
    assert_closed(&mut seen).await;
    assert!(matches!(err, Error::ProxyProtocol { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "the proxy socks5h://{addr} failed at the SOCKS5 greeting step: the answer starts \
             with 0x48, not SOCKS version 5: this is not a SOCKS5 proxy"
        )
    );
}

#[tokio::test]
async fn a_socks5_proxy_that_hangs_up_midway_is_named_with_the_step() {
    // Closes after reading the connect request, without a reply.
    let (addr, _) = fake_proxy(|mut tcp, _| async move {
        let mut greeting = [0u8; 3];
        tcp.read_exact(&mut greeting).await.unwrap();
        tcp.write_all(&[5, 0]).await.unwrap();
        let mut request = [0u8; 4 + 1 + 14 + 2];
        tcp.read_exact(&mut request).await.unwrap();
        assert_eq!(
            &request[..5],
            &[5, 1, 0, 3, 14],
            "a connect request for a name"
        );
        assert_eq!(&request[5..19], b"server.example");
    })
    .await;
    let err = connect_via(&format!("socks5h://{addr}")).await;
    assert_eq!(
        err.to_string(),
        format!(
            "the proxy socks5h://{addr} failed at the SOCKS5 connect request step: the proxy \
             closed the connection before answering in full"
        )
    );
    // Closes right after the greeting.
    let (addr, _) = fake_proxy(|mut tcp, _| async move {
        let mut greeting = [0u8; 4];
        tcp.read_exact(&mut greeting).await.unwrap();
        assert_eq!(greeting, [5, 2, 0, 2], "no authentication, or a password");
    })
    .await;
    let err = connect_via(&format!("socks5h://alice:pw@{addr}")).await;
    assert!(
        err.to_string()
            .contains("failed at the SOCKS5 greeting step: the proxy closed the connection"),
        "{err}"
    );
}

#[tokio::test]
async fn an_http_proxy_that_hangs_up_or_answers_garbage_is_named() {
    let (addr, _) = fake_proxy(|mut tcp, _| async move {
        let head = read_head(&mut tcp).await;
        assert!(
            head.starts_with("CONNECT server.example:80 HTTP/1.1\r\n"),
            "{head}"
        );
    })
    .await;
    let err = connect_via(&format!("http://{addr}")).await;
    assert_eq!(
        err.to_string(),
        format!(
            "the proxy http://{addr} failed at the CONNECT step: the proxy closed the \
             connection without answering"
        )
    );
    let (addr, mut seen) = fake_proxy(|mut tcp, report| async move {
        read_head(&mut tcp).await;
        tcp.write_all(b"\x05\x00 SOCKS? \r\n\r\n").await.unwrap();
        expect_client_gone(tcp, report).await;
    })
    .await;
    let err = connect_via(&format!("http://{addr}")).await;
    assert_closed(&mut seen).await;
    assert!(
        matches!(
            err,
            Error::ProxyProtocol {
                step: "CONNECT",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("the answer is not HTTP"), "{err}");
    let (addr, mut seen) = fake_proxy(|mut tcp, report| async move {
        read_head(&mut tcp).await;
        tcp.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            .await
            .unwrap();
        expect_client_gone(tcp, report).await;
    })
    .await;
    let err = connect_via(&format!("http://{addr}")).await;
    assert_closed(&mut seen).await;
    assert_eq!(
        err.to_string(),
        format!("the proxy http://{addr} refused to connect to server.example:80: 502 Bad Gateway")
    );
}

#[tokio::test]
async fn a_silent_proxy_is_cut_off_by_the_connect_timeout() {
    let (addr, mut seen) = fake_proxy(expect_client_gone).await;
    for scheme in ["http", "socks5h"] {
        let err = bounded(
            ClientBuilder::new("wss://server.example/")
                .proxy(Proxy::parse(&format!("{scheme}://{addr}")).unwrap())
                .connect_timeout(Duration::from_millis(300))
                .connect(),
        )
        .await
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "connect through the proxy timed out after 300ms"
        );
        assert_closed(&mut seen).await;
    }
}
