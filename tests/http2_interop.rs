//! WebSocket over HTTP/2 (RFC 8441) against independent implementations, started on loopback
//! by the tests:
//!
//! - the weft client against **hypercorn** (HTTP/2 through Python's `h2`, WebSockets through
//!   `wsproto`) running `tests/peers/python/hypercorn_echo.py`, over h2 with TLS and over h2c:
//!   every size class, fragmented sends, close codes both ways, permessage-deflate;
//! - the weft server against **Python `h2`** as a raw client (`h2_client.py`): extended
//!   CONNECT and masked frames written by hand, and bad requests, each on its own stream.
//!
//! Browsers over HTTP/2 are in `crates/weft-cli/tests/browser.rs`. Each test needs the interop
//! peers (`cargo xtask peers`); without them it is listed as ignored.

#[path = "peers/peers.rs"]
mod peers;
#[path = "peers/process.rs"]
#[allow(
    dead_code,
    reason = "shared with tests/interop.rs, which uses all of it"
)]
mod process;

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use http::Version;
use serde_json::Value;
use weft::{ClientBuilder, CloseCode, CloseFrame, DataKind, Fragment, Http2Mode, Message};
use weft_harness::{TIMEOUT, TestCa};

use peers::Peers;
use process::{Lang, PeerProcess};

async fn bounded<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(TIMEOUT, f)
        .await
        .expect("test step timed out")
}

/// A fresh directory under the system's temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(prefix: &str) -> Self {
        let unique = format!(
            "{prefix}-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
        );
        let dir = std::env::temp_dir().join(unique);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// hypercorn serving `hypercorn_echo.py` on a loopback port, over TLS (with a certificate for
/// `localhost` from `ca`) or cleartext.
struct Hypercorn {
    process: PeerProcess,
    port: u16,
    _certificates: Option<TempDir>,
}

impl Hypercorn {
    async fn start(peers: &Peers, ca: Option<&TestCa>) -> Self {
        let certificates = ca.map(|ca| {
            let dir = TempDir::new("weft-hypercorn");
            let (chain, key) = ca.issue(&["localhost"], false);
            std::fs::write(dir.0.join("cert.pem"), chain).unwrap();
            std::fs::write(dir.0.join("key.pem"), key).unwrap();
            dir
        });
        let mut args = Vec::new();
        if let Some(dir) = &certificates {
            for (flag, file) in [("--certfile", "cert.pem"), ("--keyfile", "key.pem")] {
                args.push(flag.to_owned());
                args.push(dir.0.join(file).display().to_string());
            }
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut process = PeerProcess::start(peers, Lang::Python, "hypercorn_echo", &args);
        let banner = process.line("the listening line", TIMEOUT).await;
        let port = banner
            .strip_prefix("listening on ")
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("unexpected banner {banner:?}"));
        Self {
            process,
            port,
            _certificates: certificates,
        }
    }

    /// hypercorn's report of the next WebSocket that ended.
    async fn report(&mut self) -> Value {
        self.process.json("a WebSocket report", TIMEOUT).await
    }
}

/// Every size class of the frame length, and a message over many DATA frames and windows.
const SIZES: [usize; 7] = [0, 1, 125, 126, 65_535, 65_536, 1 << 20];

/// Text of exactly `size` bytes with multi-byte characters.
fn text(size: usize) -> String {
    let mut text = String::with_capacity(size);
    for c in "weft → ü ✓ 日本 🎉 ".chars().cycle() {
        if text.len() + c.len_utf8() > size {
            break;
        }
        text.push(c);
    }
    while text.len() < size {
        text.push('.');
    }
    text
}

/// Everything the tests check against hypercorn, on one kind of connection.
async fn converse_with_hypercorn(
    hypercorn: &mut Hypercorn,
    client: impl Fn(&str) -> ClientBuilder,
) {
    // Every size, text and binary; permessage-deflate agreed (hypercorn offers wsproto's).
    let (mut ws, response) = bounded(client("/echo").connect()).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), Version::HTTP_2);
    let extensions = response
        .headers()
        .get("sec-websocket-extensions")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    assert!(
        extensions.starts_with("permessage-deflate"),
        "hypercorn agreed to {extensions:?}"
    );
    for size in SIZES {
        for message in [Message::text(text(size)), Message::binary(vec![0xc3; size])] {
            bounded(ws.send(message.clone())).await.unwrap();
            let echo = bounded(ws.next()).await.unwrap().unwrap();
            assert!(echo == message, "the echo of {size} bytes differs");
        }
    }

    // Fragmented sends: 1 MiB in 1000-byte pieces, and text split inside its characters.
    let data = vec![0x5a_u8; 1 << 20];
    let pieces: Vec<&[u8]> = data.chunks(1000).collect();
    for (i, piece) in pieces.iter().enumerate() {
        let fragment = Fragment::new(DataKind::Binary, piece.to_vec(), i + 1 == pieces.len());
        bounded(ws.send_fragment(fragment)).await.unwrap();
    }
    let echo = bounded(ws.next()).await.unwrap().unwrap();
    assert!(echo == Message::binary(data), "the fragmented echo differs");
    let whole = text(4000);
    let bytes = whole.as_bytes();
    for (i, piece) in bytes.chunks(333).enumerate() {
        let fin = (i + 1) * 333 >= bytes.len();
        bounded(ws.send_fragment(Fragment::new(DataKind::Text, piece.to_vec(), fin)))
            .await
            .unwrap();
    }
    assert_eq!(
        bounded(ws.next()).await.unwrap().unwrap(),
        Message::text(whole)
    );

    // A close code from the client: hypercorn (wsproto) echoes it, then ends the stream.
    let close = CloseFrame::new(CloseCode::from(4001), "bye");
    bounded(ws.send(Message::Close(Some(close.clone()))))
        .await
        .unwrap();
    match bounded(ws.next()).await {
        Some(Ok(Message::Close(Some(echo)))) => assert_eq!(echo, close),
        other => panic!("expected hypercorn's close echo, got {other:?}"),
    }
    assert!(
        bounded(ws.next()).await.is_none(),
        "the stream ends cleanly"
    );
    // hypercorn tells its app 1006 for any close a client starts (see hypercorn_echo.py).
    let report = hypercorn.report().await;
    assert_eq!(report["closed_by"], "client", "{report}");
    assert_eq!(report["http_version"], "2", "{report}");
    assert_eq!(report["path"], "/echo", "{report}");

    // A close code from hypercorn's app reaches the client, and the stream ends.
    let (mut ws, _) = bounded(client("/closing").connect()).await.unwrap();
    bounded(ws.send(Message::text("close 4002 done")))
        .await
        .unwrap();
    match bounded(ws.next()).await {
        Some(Ok(Message::Close(Some(frame)))) => {
            assert_eq!(frame.code(), CloseCode::from(4002));
            assert_eq!(frame.reason(), "done");
        }
        other => panic!("expected hypercorn's close, got {other:?}"),
    }
    assert!(
        bounded(ws.next()).await.is_none(),
        "the stream ends cleanly"
    );
    let report = hypercorn.report().await;
    assert_eq!(report["closed_by"], "server", "{report}");
}

#[tokio::test]
#[cfg_attr(
    not(weft_peers),
    ignore = "needs the interop peers: run `cargo xtask peers`"
)]
async fn weft_client_over_h2_with_tls_to_hypercorn() {
    let peers = Peers::get();
    let ca = TestCa::new();
    let mut hypercorn = Hypercorn::start(&peers, Some(&ca)).await;
    let port = hypercorn.port;
    converse_with_hypercorn(&mut hypercorn, |path| {
        ClientBuilder::new(format!("wss://localhost:{port}{path}"))
            .tls(ca.client_tls())
            .http2(Http2Mode::Required)
    })
    .await;

    // Many WebSockets on one connection to hypercorn.
    let connection = bounded(
        ClientBuilder::new(format!("wss://localhost:{port}"))
            .tls(ca.client_tls())
            .connect_http2(),
    )
    .await
    .unwrap();
    let mut sockets = Vec::new();
    for i in 0..20 {
        let (ws, _) = bounded(connection.connect(&format!("/many/{i}")))
            .await
            .unwrap();
        sockets.push(ws);
    }
    // Interleaved: every stream has a message in flight before any echo is read.
    for (i, ws) in sockets.iter_mut().enumerate() {
        bounded(ws.send(Message::text(format!("stream {i}"))))
            .await
            .unwrap();
    }
    for (i, ws) in sockets.iter_mut().enumerate() {
        let echo = bounded(ws.next()).await.unwrap().unwrap();
        assert_eq!(echo, Message::text(format!("stream {i}")));
    }
    // All closes go out before any is answered. hypercorn echoes each close but forgets the
    // stream without ending it; the END_STREAM a client then sends (RFC 8441 §5: the orderly
    // end of a WebSocket's stream) makes hypercorn fail the whole connection (a KeyError on
    // DATA for a stream it no longer knows, hypercorn 0.18). So the echoes are read only once
    // every stream has had its close answered.
    let close = CloseFrame::new(CloseCode::NORMAL, "all done");
    for ws in &mut sockets {
        bounded(ws.send(Message::Close(Some(close.clone()))))
            .await
            .unwrap();
    }
    for _ in 0..20 {
        assert_eq!(hypercorn.report().await["closed_by"], "client");
    }
    for ws in &mut sockets {
        match bounded(ws.next()).await {
            Some(Ok(Message::Close(Some(echo)))) => assert_eq!(echo, close),
            other => panic!("expected hypercorn's close echo, got {other:?}"),
        }
    }
}

#[tokio::test]
#[cfg_attr(
    not(weft_peers),
    ignore = "needs the interop peers: run `cargo xtask peers`"
)]
async fn weft_client_over_h2c_to_hypercorn() {
    let peers = Peers::get();
    let mut hypercorn = Hypercorn::start(&peers, None).await;
    let port = hypercorn.port;
    converse_with_hypercorn(&mut hypercorn, |path| {
        ClientBuilder::new(format!("ws://127.0.0.1:{port}{path}"))
            .http2(Http2Mode::Required)
            .handshake_timeout(Duration::from_secs(10))
    })
    .await;
}

/// A weft server on loopback for the raw HTTP/2 client: echoes text and binary, and reports
/// how each WebSocket ended, by path.
struct WeftServer {
    addr: std::net::SocketAddr,
    ended: tokio::sync::mpsc::UnboundedReceiver<(String, Result<(), weft::Error>)>,
    shutdown: weft::ShutdownHandle,
}

impl WeftServer {
    async fn start() -> Self {
        let server = weft::Server::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        let shutdown = server.shutdown_handle();
        let (report, ended) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(server.serve(move |mut ws, accepted| {
            let report = report.clone();
            async move {
                assert_eq!(accepted.http_version(), Version::HTTP_2);
                let path = accepted.request.uri().path().to_owned();
                let mut outcome = Ok(());
                while let Some(message) = ws.next().await {
                    match message {
                        Ok(message) if message.is_text() || message.is_binary() => {
                            if let Err(err) = ws.send(message).await {
                                outcome = Err(err);
                                break;
                            }
                        }
                        Ok(_) => {}
                        Err(err) => {
                            outcome = Err(err);
                            break;
                        }
                    }
                }
                let _ = report.send((path, outcome));
            }
        }));
        Self {
            addr,
            ended,
            shutdown,
        }
    }

    /// How the WebSocket at `path` ended (skipping the reports of others).
    async fn ended(&mut self, path: &str) -> Result<(), weft::Error> {
        loop {
            let (ended, outcome) = bounded(self.ended.recv()).await.expect("a report");
            if ended == path {
                return outcome;
            }
        }
    }
}

/// Runs `h2_client.py ARGS…` to the end and returns its JSON line.
async fn python_h2(peers: &Peers, args: &[&str]) -> Value {
    let mut client = PeerProcess::start(peers, Lang::Python, "h2_client", args);
    let line = client.json("the result", TIMEOUT).await;
    let status = client.wait().await;
    if !status.success() {
        let stderr = client.stderr_at_exit().await;
        panic!("{}: {status}; stderr:\n{stderr}", client.name);
    }
    line
}

#[tokio::test]
#[cfg_attr(
    not(weft_peers),
    ignore = "needs the interop peers: run `cargo xtask peers`"
)]
async fn python_h2_opens_a_websocket_on_the_weft_server_with_raw_frames() {
    let peers = Peers::get();
    let mut server = WeftServer::start().await;
    let addr = server.addr.to_string();
    let result = python_h2(&peers, &["echo", &addr]).await;
    assert_eq!(result["ok"], true, "{result}");
    assert_eq!(result["settings"]["enable_connect_protocol"], 1, "{result}");
    assert_eq!(result["status"], "200", "{result}");
    assert_eq!(result["pong"], "ping!", "{result}");
    assert_eq!(result["close_code"], 1000, "{result}");
    assert_eq!(result["end_stream"], true, "{result}");
    server.ended("/python-h2").await.unwrap();
    server.shutdown.shutdown();
}

#[tokio::test]
#[cfg_attr(
    not(weft_peers),
    ignore = "needs the interop peers: run `cargo xtask peers`"
)]
async fn bad_requests_over_http2_get_their_statuses_each_on_its_own_stream() {
    let peers = Peers::get();
    let server = WeftServer::start().await;
    let addr = server.addr.to_string();
    let result = python_h2(&peers, &["bad", &addr]).await;
    let cases: std::collections::BTreeMap<&str, &Value> = result["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|case| (case["case"].as_str().expect("a name"), case))
        .collect();
    let status = |name: &str| cases[name]["status"].as_u64();
    // A CONNECT without :protocol asks for a tunnel: not served here (405).
    assert_eq!(status("plain CONNECT"), Some(405), "{result}");
    // Extended CONNECT for another protocol is refused, not served (501).
    assert_eq!(status("unknown :protocol"), Some(501), "{result}");
    assert_eq!(status("missing :authority"), Some(400), "{result}");
    for name in ["no Sec-WebSocket-Version", "Sec-WebSocket-Version 8"] {
        assert_eq!(status(name), Some(426), "{name}: {result}");
        assert_eq!(cases[name]["version_header"], "13", "{name}: {result}");
    }
    assert_eq!(status("subprotocol not a token"), Some(400), "{result}");
    // A malformed extension offer is declined, not refused (RFC 6455 §9.1): 200 without it.
    assert_eq!(status("malformed extension offer"), Some(200), "{result}");
    assert_eq!(
        cases["malformed extension offer"]["extensions"],
        Value::Null
    );
    // Malformed HTTP/2 requests (RFC 9113 §8.1.1: an extended CONNECT without :path, and
    // the HTTP/1.1 upgrade headers HTTP/2 forbids) are stream errors: RST_STREAM with
    // PROTOCOL_ERROR (1), from h2, before any handler sees them.
    for name in ["missing :path", "GET with Upgrade"] {
        assert_eq!(cases[name]["reset"], 1, "{name}: {result}");
        assert_eq!(cases[name]["status"], Value::Null, "{name}: {result}");
    }
    // The connection's other streams go on: a WebSocket opened after all of them echoes.
    assert_eq!(result["after"]["status"], 200, "{result}");
    assert_eq!(result["after"]["echo"], "still serving", "{result}");
    server.shutdown.shutdown();
}

#[tokio::test]
#[cfg_attr(
    not(weft_peers),
    ignore = "needs the interop peers: run `cargo xtask peers`"
)]
async fn a_goaway_in_the_middle_of_a_message_ends_the_websocket_with_1006() {
    let peers = Peers::get();
    let mut server = WeftServer::start().await;
    let addr = server.addr.to_string();
    let result = python_h2(&peers, &["goaway", &addr]).await;
    assert_eq!(result["sent"], 1, "{result}");
    let err = server.ended("/goaway").await.unwrap_err();
    assert_eq!(err.close_code(), Some(CloseCode::ABNORMAL), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("GOAWAY") || text.contains("reset") || text.contains("closed"),
        "{text}"
    );
    server.shutdown.shutdown();
}
