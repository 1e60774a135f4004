//! The frame-level protocol vectors of `testdata/frames.toml` (RFC 6455 §5 framing, masking,
//! control frames, UTF-8, close codes), run over real transports instead of in memory: each
//! vector's bytes go on the wire to a weft server, or come from the wire to a weft client,
//! over TCP (an HTTP/1.1 upgrade) and over an HTTP/2 stream (an RFC 8441 extended CONNECT).
//! The other side is raw (bytes written by hand through `RawPeer`, or a bare h2 stream), so
//! nothing of weft's own encoder is trusted. `tests/frame_vectors.rs` runs the same vectors
//! through the sans-IO `Connection`, split at every point.

use std::future::Future;
use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use weft::codec::OpCode;
use weft::deflate::DeflateConfig;
use weft::{ClientBuilder, Http2Mode, Message};
use weft_harness::{EchoServer, RawFrame, RawPeer, TIMEOUT};
use weft_tests::vectors::{Vector, decode_hex, frame_vectors};

async fn bounded<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(TIMEOUT, f)
        .await
        .expect("test step timed out")
}

/// How a vector's bytes reach the other side.
#[derive(Debug, Clone, Copy)]
enum Transport {
    /// TCP, after an HTTP/1.1 upgrade.
    Tcp,
    /// One stream of an HTTP/2 connection (h2c), after an extended CONNECT.
    Http2,
}

/// What a receiver made of the wire: its messages or frames (control frames as themselves,
/// data messages reassembled), as (opcode, payload); a close frame as its code only.
type Seen = Vec<(OpCode, Vec<u8>)>;

fn close_payload(code: Option<u16>) -> Vec<u8> {
    code.map(|code| code.to_be_bytes().to_vec())
        .unwrap_or_default()
}

// -------------------------------------------------------------------------------------------
// Vectors a server receives: the weft server echoes text and binary, answers pings and
// closes, and fails the connection with the vector's close code.

/// What the weft echo server must send back for a server vector, after which the test's own
/// close 1000 (when the vector has no close) is answered too.
fn expected_from_server(vector: &Vector) -> Seen {
    if let Some(code) = vector.close {
        return vec![(OpCode::Close, close_payload(Some(code)))];
    }
    let mut seen = Seen::new();
    let mut closed = false;
    for message in vector.messages() {
        match message {
            Message::Text(text) => seen.push((OpCode::Text, text.as_bytes().to_vec())),
            Message::Binary(data) => seen.push((OpCode::Binary, data.to_vec())),
            Message::Ping(data) => seen.push((OpCode::Pong, data.to_vec())),
            Message::Close(frame) => {
                seen.push((
                    OpCode::Close,
                    close_payload(frame.map(|f| f.code().as_u16())),
                ));
                closed = true;
            }
            _ => {}
        }
    }
    if !closed {
        seen.push((OpCode::Close, close_payload(Some(1000))));
    }
    seen
}

/// A raw stream to a fresh WebSocket on the server at `addr`.
async fn raw_client(addr: SocketAddr, transport: Transport) -> RawPeer<Box<dyn Duplex>> {
    match transport {
        Transport::Tcp => {
            let tcp: Box<dyn Duplex> =
                Box::new(tokio::net::TcpStream::connect(addr).await.unwrap());
            let mut peer = RawPeer::new(tcp);
            let response = peer.handshake("/").await.unwrap();
            assert_eq!(response.status(), 101);
            peer
        }
        Transport::Http2 => {
            let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            let (client, connection) = h2::client::handshake(tcp).await.unwrap();
            tokio::spawn(connection);
            // The server's settings arrive with its first frames; a request sent before they
            // did would be refused for want of extended CONNECT, so wait for readiness.
            let mut client = client.ready().await.unwrap();
            for _ in 0..100 {
                if client.is_extended_connect_protocol_enabled() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            let mut request = http::Request::builder()
                .method(http::Method::CONNECT)
                .version(http::Version::HTTP_2)
                .uri(format!("http://{addr}/"))
                .header("sec-websocket-version", "13")
                .body(())
                .unwrap();
            request
                .extensions_mut()
                .insert(h2::ext::Protocol::from_static("websocket"));
            let (response, send) = client.send_request(request, false).unwrap();
            let response = bounded(response).await.unwrap();
            assert_eq!(response.status(), 200);
            let stream: Box<dyn Duplex> =
                Box::new(weft::http2::H2Stream::new(send, response.into_body()));
            RawPeer::new(stream)
        }
    }
}

/// A boxed byte stream of either transport.
trait Duplex: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Duplex for T {}

/// Everything the server sends until its close frame (or the end of the stream).
async fn read_replies(peer: &mut RawPeer<Box<dyn Duplex>>) -> Seen {
    let mut seen = Seen::new();
    let mut message: Option<(OpCode, Vec<u8>)> = None;
    while let Some(frame) = bounded(peer.read_frame()).await.unwrap_or(None) {
        let opcode = frame.header.opcode;
        match opcode {
            OpCode::Close => {
                seen.push((OpCode::Close, close_payload(frame.close_code())));
                break;
            }
            OpCode::Ping | OpCode::Pong => seen.push((opcode, frame.payload)),
            OpCode::Continuation => {
                let (_, data) = message.as_mut().expect("a continuation of a message");
                data.extend_from_slice(&frame.payload);
            }
            _ => message = Some((opcode, frame.payload)),
        }
        if frame.header.fin && opcode != OpCode::Ping && opcode != OpCode::Pong {
            seen.extend(message.take());
        }
    }
    seen
}

async fn server_vectors_over(transport: Transport) {
    let server = EchoServer::start().await.unwrap();
    let vectors: Vec<Vector> = frame_vectors()
        .into_iter()
        .filter(|vector| vector.receiver == "server")
        .collect();
    assert!(vectors.len() >= 10);
    for vector in &vectors {
        let mut peer = raw_client(server.addr, transport).await;
        peer.send(&decode_hex(&vector.wire)).await.unwrap();
        let expected = expected_from_server(vector);
        let closes_itself = vector.close.is_some()
            || vector
                .messages()
                .iter()
                .any(|message| matches!(message, Message::Close(_)));
        if !closes_itself {
            // Valid traffic that does not close: close it, so that everything is answered.
            peer.send_frame(&RawFrame::close(1000, "")).await.unwrap();
        }
        let seen = read_replies(&mut peer).await;
        assert_eq!(seen, expected, "{} over {transport:?}", vector.name);
    }
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn server_vectors_over_tcp() {
    server_vectors_over(Transport::Tcp).await;
}

#[tokio::test]
async fn server_vectors_over_an_http2_stream() {
    server_vectors_over(Transport::Http2).await;
}

// -------------------------------------------------------------------------------------------
// Vectors a client receives: a raw server sends them to a weft client, then a close 1000
// (when the vector has none), and the client's messages and error are compared.

/// A raw server for one client connection: answers the handshake, writes `wire` and, unless
/// it ends the exchange itself, an unmasked close 1000; then reads what the client sends back
/// until it ends. Returns the address to connect to.
async fn raw_server(transport: Transport, wire: Vec<u8>, close: bool) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut tail = wire;
    if close {
        tail.extend(RawFrame::close(1000, "").unmasked().encode());
    }
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let Some(mut peer) = raw_server_handshake(transport, tcp).await else {
            return;
        };
        let _ = peer.send(&tail).await;
        // Answer the client's close as a server does, then end the stream.
        while let Ok(Some(frame)) = peer.read_frame().await {
            if frame.header.opcode == OpCode::Close {
                // The code echoed, or an empty close for an empty close.
                let code = frame.payload.get(..2).unwrap_or_default().to_vec();
                let reply = RawFrame::new(0x8, code).unmasked();
                let _ = peer.send(&reply.encode()).await;
                let _ = peer.get_mut().shutdown().await;
                let _ = peer.read_to_end().await;
                return;
            }
        }
    });
    addr
}

/// The server side of the opening handshake, by hand over TCP or through a bare h2 server.
async fn raw_server_handshake(
    transport: Transport,
    mut tcp: tokio::net::TcpStream,
) -> Option<RawPeer<Box<dyn Duplex>>> {
    match transport {
        Transport::Tcp => {
            let mut head = BytesMut::new();
            while !head.ends_with(b"\r\n\r\n") {
                if tcp.read_buf(&mut head).await.ok()? == 0 {
                    return None;
                }
            }
            let text = String::from_utf8_lossy(&head).to_string();
            let key = text.lines().find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("sec-websocket-key")
                    .then(|| value.trim().to_owned())
            })?;
            let response = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                 Connection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
                weft::handshake::accept_key(key.as_bytes())
            );
            tcp.write_all(response.as_bytes()).await.ok()?;
            let stream: Box<dyn Duplex> = Box::new(tcp);
            Some(RawPeer::new(stream))
        }
        Transport::Http2 => {
            let mut builder = h2::server::Builder::new();
            builder.enable_connect_protocol();
            let mut connection = builder.handshake::<_, Bytes>(tcp).await.ok()?;
            let (request, mut respond) = connection.accept().await?.ok()?;
            tokio::spawn(async move { while connection.accept().await.is_some() {} });
            let send = respond.send_response(http::Response::new(()), false).ok()?;
            let stream: Box<dyn Duplex> =
                Box::new(weft::http2::H2Stream::new(send, request.into_body()));
            Some(RawPeer::new(stream))
        }
    }
}

async fn client_vectors_over(transport: Transport) {
    let vectors: Vec<Vector> = frame_vectors()
        .into_iter()
        .filter(|vector| vector.receiver == "client")
        .collect();
    assert!(vectors.len() >= 20);
    for vector in &vectors {
        let expected = vector.messages();
        let closes_itself = vector.close.is_some()
            || expected
                .iter()
                .any(|message| matches!(message, Message::Close(_)));
        let addr = raw_server(transport, decode_hex(&vector.wire), !closes_itself).await;
        let mut builder = ClientBuilder::new(format!("ws://{addr}/"))
            .deflate(DeflateConfig::default().enabled(false));
        if let Transport::Http2 = transport {
            builder = builder.http2(Http2Mode::Required);
        }
        let (mut ws, _) = bounded(builder.connect()).await.unwrap();
        let mut messages = Vec::new();
        let mut error = None;
        while let Some(item) = bounded(ws.next()).await {
            match item {
                Ok(message) => messages.push(message),
                Err(err) => {
                    error = Some(err);
                    break;
                }
            }
        }
        if !closes_itself {
            // The raw server's own close 1000 came last.
            let last = messages.pop();
            assert!(
                matches!(&last, Some(Message::Close(Some(frame))) if frame.code().as_u16() == 1000),
                "{} over {transport:?}: the closing 1000 is missing, got {last:?}",
                vector.name
            );
        }
        assert_eq!(messages, expected, "{} over {transport:?}", vector.name);
        let code = error.as_ref().and_then(|err| err.close_code());
        assert_eq!(
            code.map(|code| code.as_u16()),
            vector.close,
            "{} over {transport:?}: {error:?}",
            vector.name
        );
    }
}

#[tokio::test]
async fn client_vectors_over_tcp() {
    client_vectors_over(Transport::Tcp).await;
}

#[tokio::test]
async fn client_vectors_over_an_http2_stream() {
    client_vectors_over(Transport::Http2).await;
}
