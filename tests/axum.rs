//! weft in an axum 0.8 app (`weft::axum::WebSocketUpgrade`), served by `axum::serve` on a
//! loopback port: ordinary routes and a WebSocket route on one port, with a weft client and
//! Python `websockets` echoing through it (permessage-deflate negotiated); every refusal the
//! same as weft's own server gives for the same bytes; WebSockets over HTTP/2 (extended
//! CONNECT, which `axum::serve` enables) from weft's HTTP/2 client; one route serving both
//! its page and its WebSocket.

#[path = "peers/peers.rs"]
mod peers;

use std::future::Future;
use std::net::SocketAddr;
use std::process::Stdio;

use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use http::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use weft::axum::WebSocketUpgrade;
use weft::client::{Error, Http2Mode};
use weft::{
    Acceptor, ClientBuilder, ClientStream, CloseCode, Message, OriginPolicy, Server, ShutdownHandle,
};
use weft_harness::TIMEOUT;

use peers::Peers;

async fn bounded<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(TIMEOUT, f)
        .await
        .expect("test step timed out")
}

/// `/ws`: echoes text and binary; offers the `echo` subprotocol.
async fn echo(ws: WebSocketUpgrade) -> Response {
    ws.protocols(["echo"]).on_upgrade(|mut socket| async move {
        while let Some(Ok(message)) = socket.next().await {
            if matches!(message, Message::Text(_) | Message::Binary(_))
                && socket.send(message).await.is_err()
            {
                break;
            }
        }
    })
}

/// `/room`: a page for a browser's GET, the WebSocket for an upgrade (`Option`).
async fn room(ws: Option<WebSocketUpgrade>) -> Response {
    match ws {
        Some(ws) => echo(ws).await,
        None => "the room's page\n".into_response(),
    }
}

/// The app: ordinary routes next to the WebSocket ones, every WebSocket held to `acceptor`.
fn app(acceptor: Acceptor) -> Router {
    Router::new()
        .route("/", get(|| async { "an ordinary route\n" }))
        .route("/ws", any(echo))
        .route("/room", any(room))
        .layer(axum::Extension(acceptor))
}

/// `app` served by `axum::serve` on 127.0.0.1, a port the OS chose; stopped when dropped.
struct AxumServer {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl AxumServer {
    async fn start(acceptor: Acceptor) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app(acceptor)).await;
        });
        Self { addr, task }
    }

    fn url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }
}

impl Drop for AxumServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Sends `request` (raw bytes) and reads the answer to its end: (status line, head, body).
async fn raw_exchange(addr: SocketAddr, request: &str) -> (String, String, String) {
    let mut tcp = bounded(TcpStream::connect(addr)).await.unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    // The servers close after a refusal (or after `Connection: close`).
    let _ = bounded(tcp.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head.lines().next().unwrap_or_default().to_owned();
    (status, head.to_ascii_lowercase(), body.to_owned())
}

#[tokio::test]
#[cfg_attr(
    not(weft_peers),
    ignore = "needs the interop peers: run `cargo xtask peers`"
)]
async fn one_port_serves_http_and_websocket_to_weft_and_python_with_deflate() {
    let peers = Peers::get();
    let server = AxumServer::start(Acceptor::default()).await;

    // The ordinary route.
    let (status, _, body) = raw_exchange(
        server.addr,
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(body, "an ordinary route\n");

    // A weft client: echoes, permessage-deflate and the subprotocol agreed.
    let (mut ws, response) = bounded(
        ClientBuilder::new(server.url("/ws"))
            .protocol("echo")
            .connect(),
    )
    .await
    .unwrap();
    let extensions = response.headers()["sec-websocket-extensions"]
        .to_str()
        .unwrap();
    assert!(extensions.starts_with("permessage-deflate"), "{extensions}");
    assert_eq!(response.headers()["sec-websocket-protocol"], "echo");
    let big = Message::text("weft through axum ".repeat(10_000));
    for message in [
        Message::text("hello"),
        Message::binary(vec![7u8; 70_000]),
        big,
    ] {
        bounded(ws.send(message.clone())).await.unwrap();
        assert_eq!(bounded(ws.next()).await.unwrap().unwrap(), message);
    }
    bounded(ws.close(CloseCode::NORMAL, "done")).await.unwrap();

    // Python websockets: text and binary of several sizes, compressed.
    let mut python = tokio::process::Command::new(&peers.python);
    python
        .arg(peers.program("python/echo_client.py"))
        .arg(server.url("/ws"))
        .args(["--mode", "echo", "--compression", "on"])
        .args(["--messages", "3", "--size", "0,125,70000,1048576"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let output = bounded(python.output()).await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let outcome: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|err| {
        panic!(
            "{err}: {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    assert!(output.status.success(), "{outcome}");
    assert_eq!(outcome["ok"], true, "{outcome}");
    assert_eq!(outcome["messages"], 2 * 3 * 4, "{outcome}");
    assert_eq!(outcome["close_code"], 1000, "{outcome}");
    assert!(
        outcome["extensions_header"]
            .as_str()
            .is_some_and(|header| header.starts_with("permessage-deflate")),
        "{outcome}"
    );
}

/// A raw upgrade request for `path`, with `extra` header lines and the WebSocket version.
fn upgrade_request(method: &str, path: &str, version: &str, extra: &str) -> String {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: {version}\r\n{extra}\r\n"
    )
}

#[tokio::test]
async fn every_refusal_is_the_one_weft_s_server_gives() {
    let acceptor = || {
        Acceptor::builder()
            .origin_policy(OriginPolicy::allow_list(["https://app.example"]))
            .build()
            .unwrap()
    };
    let axum = AxumServer::start(acceptor()).await;
    let weft = Server::builder()
        .acceptor(acceptor())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let weft_addr = weft.local_addr().unwrap();
    let weft_handle: ShutdownHandle = weft.shutdown_handle();
    tokio::spawn(weft.serve(|_ws, _accepted| async {}));

    let cases = [
        ("POST", upgrade_request("POST", "/ws", "13", ""), 405),
        ("version 8", upgrade_request("GET", "/ws", "8", ""), 426),
        (
            "no key",
            "GET /ws HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n"
                .to_owned(),
            400,
        ),
        (
            "a short key",
            upgrade_request("GET", "/ws", "13", "").replace("dGhlIHNhbXBsZSBub25jZQ==", "c2hvcnQ="),
            400,
        ),
        (
            "no Connection: Upgrade",
            upgrade_request("GET", "/ws", "13", "")
                .replace("Connection: Upgrade", "Connection: keep-alive"),
            400,
        ),
        (
            "HTTP/1.0",
            upgrade_request("GET", "/ws", "13", "").replace("HTTP/1.1", "HTTP/1.0"),
            400,
        ),
        (
            "a refused origin",
            upgrade_request("GET", "/ws", "13", "Origin: https://evil.example\r\n"),
            403,
        ),
        (
            "a subprotocol that is not a token",
            upgrade_request("GET", "/ws", "13", "Sec-WebSocket-Protocol: a b\r\n"),
            400,
        ),
    ];
    for (what, request, expected) in cases {
        let (axum_status, axum_head, _) = raw_exchange(axum.addr, &request).await;
        let (weft_status, weft_head, _) = raw_exchange(weft_addr, &request).await;
        let code = |status: &str| {
            status
                .split(' ')
                .nth(1)
                .and_then(|code| code.parse::<u16>().ok())
                .unwrap_or_else(|| panic!("{what}: no status in {status:?}"))
        };
        assert_eq!(
            code(&axum_status),
            expected,
            "{what}: axum answered {axum_head}"
        );
        assert_eq!(
            code(&weft_status),
            expected,
            "{what}: weft answered {weft_head}"
        );
        for header in ["sec-websocket-version: 13", "allow: get"] {
            assert_eq!(
                axum_head.contains(header),
                weft_head.contains(header),
                "{what}: {header}\naxum: {axum_head}\nweft: {weft_head}"
            );
        }
    }
    // A GET that does not ask for a WebSocket, on a WebSocket-only route: 426, as
    // `Acceptor::accept` answers.
    let (status, head, _) = raw_exchange(
        axum.addr,
        "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, "HTTP/1.1 426 Upgrade Required");
    assert!(head.contains("upgrade: websocket"), "{head}");
    weft_handle.shutdown();
}

#[tokio::test]
async fn a_weft_client_over_http2_reaches_the_route_as_an_extended_connect() {
    let acceptor = Acceptor::builder()
        .origin_policy(OriginPolicy::allow_list(["https://app.example"]))
        .build()
        .unwrap();
    let server = AxumServer::start(acceptor).await;
    // h2c with prior knowledge: axum::serve speaks HTTP/2 when the preface says so.
    let (mut ws, response) = bounded(
        ClientBuilder::new(server.url("/ws"))
            .http2(Http2Mode::Required)
            .protocol("echo")
            .header("origin", "https://app.example")
            .unwrap()
            .connect(),
    )
    .await
    .unwrap();
    assert!(matches!(ws.get_ref(), ClientStream::Http2(_)));
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["sec-websocket-protocol"], "echo");
    assert!(
        response.headers()["sec-websocket-extensions"]
            .to_str()
            .unwrap()
            .starts_with("permessage-deflate")
    );
    for message in [
        Message::text("over HTTP/2"),
        Message::binary(vec![1u8; 200_000]),
    ] {
        bounded(ws.send(message.clone())).await.unwrap();
        assert_eq!(bounded(ws.next()).await.unwrap().unwrap(), message);
    }
    bounded(ws.close(CloseCode::NORMAL, "")).await.unwrap();

    // Refused over HTTP/2 with the same status as over HTTP/1.1.
    let err = bounded(
        ClientBuilder::new(server.url("/ws"))
            .http2(Http2Mode::Required)
            .header("origin", "https://evil.example")
            .unwrap()
            .connect(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Handshake(_)), "{err:?}");
    assert_eq!(err.status(), Some(StatusCode::FORBIDDEN), "{err}");
}

#[tokio::test]
async fn one_route_serves_its_page_and_its_websocket() {
    let server = AxumServer::start(Acceptor::default()).await;
    let (status, _, body) = raw_exchange(
        server.addr,
        "GET /room HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(body, "the room's page\n");
    let (mut ws, response) = bounded(weft::connect(&server.url("/room"))).await.unwrap();
    // Not offered by this client: none chosen.
    assert!(response.headers().get("sec-websocket-protocol").is_none());
    bounded(ws.send(Message::text("in the room")))
        .await
        .unwrap();
    assert_eq!(
        bounded(ws.next()).await.unwrap().unwrap(),
        Message::text("in the room")
    );
    bounded(ws.close(CloseCode::NORMAL, "")).await.unwrap();
    // Asking for a WebSocket badly is still refused, not served the page.
    let (status, _, _) = raw_exchange(server.addr, &upgrade_request("GET", "/room", "8", "")).await;
    assert_eq!(status, "HTTP/1.1 426 Upgrade Required");
}
