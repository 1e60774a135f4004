//! A malicious server against the weft client. Each attack is played by a [`RawServer`],
//! which writes exactly the bytes a test gives it; each ends in an error variant the test
//! asserts, and, once the connection is open, in the close code the client sent (read back by
//! the hostile server). Every wait is bounded; memory is the live heap of this process (a
//! counting allocator), sampled every millisecond while the attack runs.

use std::alloc::System;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cap::Cap;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use weft::WebSocket;
use weft::client::Error as ClientError;
use weft::codec::ProtocolError;
use weft::handshake::Error as HandshakeError;
use weft::{ClientBuilder, ClientStream, CloseCode, Config, DeflateConfig, Error, Limits, Message};
use weft_harness::{RawFrame, RawPeer, RawServer, UpgradeRequestHead, bounded, deflate_bomb};

#[global_allocator]
static ALLOC: Cap<System> = Cap::new(System, usize::MAX);

/// Memory is measured per test: tests run one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const MIB: usize = 1 << 20;

/// What a deadline under test may overrun by on a loaded two-core machine.
const SLACK: Duration = Duration::from_secs(1);

/// Samples the live heap every millisecond until dropped, keeping the most seen above the
/// level when it started.
struct PeakHeap {
    start: usize,
    peak: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl PeakHeap {
    fn start() -> Self {
        let start = ALLOC.allocated();
        let peak = Arc::new(AtomicUsize::new(start));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                p.fetch_max(ALLOC.allocated(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        Self { start, peak, stop }
    }

    /// The most the heap grew by since `start`.
    fn grown(&self) -> usize {
        self.peak
            .load(Ordering::Relaxed)
            .max(ALLOC.allocated())
            .saturating_sub(self.start)
    }
}

impl Drop for PeakHeap {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Connects a client (default settings changed by `configure`) to a fresh [`RawServer`] in a
/// task, and hands the test the server side of the connection.
async fn attack(
    configure: impl FnOnce(ClientBuilder) -> ClientBuilder,
) -> (
    tokio::task::JoinHandle<Result<(WebSocket<ClientStream>, weft::client::Response), ClientError>>,
    RawPeer<TcpStream>,
    UpgradeRequestHead,
) {
    let server = RawServer::bind().await.unwrap();
    let connecting = tokio::spawn(configure(ClientBuilder::new(server.url())).connect());
    let (peer, request) = server.accept().await.unwrap();
    (connecting, peer, request)
}

/// The default client.
fn defaults(client: ClientBuilder) -> ClientBuilder {
    client
}

// -------------------------------------------------------------------------------------------
// The opening handshake.

#[tokio::test]
async fn a_response_that_trickles_runs_into_the_handshake_timeout() {
    let _serial = SERIAL.lock().await;
    let timeout = Duration::from_millis(800);
    let (connecting, mut peer, request) = attack(|c| c.handshake_timeout(timeout)).await;
    let started = Instant::now();
    // One byte every 50 ms: the response would take seconds.
    let response = request.accept_response("");
    let trickle = tokio::spawn(async move {
        for byte in response.as_bytes() {
            if peer.send(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let result = tokio::time::timeout(timeout + SLACK, connecting)
        .await
        .expect("the handshake timeout ended the wait")
        .unwrap();
    println!("gave up after {:?}", started.elapsed());
    assert!(
        matches!(result, Err(ClientError::Timeout { phase: "handshake", after }) if after == timeout),
        "{:?}",
        result.err()
    );
    trickle.abort();
}

#[tokio::test]
async fn a_response_head_that_never_ends_is_cut_off_at_the_header_caps() {
    let _serial = SERIAL.lock().await;
    // Header lines without end, as fast as the client reads.
    let (connecting, mut peer, request) = attack(defaults).await;
    let heap = PeakHeap::start();
    let head = request.accept_response("");
    let flood = tokio::spawn(async move {
        let _ = peer.send(head.trim_end().as_bytes()).await;
        let _ = peer.send(b"\r\n").await;
        let line = b"X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n".repeat(100);
        while peer.send(&line).await.is_ok() {}
    });
    let err = bounded(connecting).await.unwrap().unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Handshake(
                HandshakeError::TooManyHeaders { .. }
                    | HandshakeError::HeaderSectionTooLarge { .. }
            )
        ),
        "{err:?}"
    );
    assert!(heap.grown() < MIB, "{} bytes held", heap.grown());
    flood.abort();

    // A status line without end.
    let (connecting, mut peer, _) = attack(defaults).await;
    let flood = tokio::spawn(async move {
        let _ = peer.send(b"HTTP/1.1 101 ").await;
        let junk = vec![b'a'; 64 << 10];
        while peer.send(&junk).await.is_ok() {}
    });
    let err = bounded(connecting).await.unwrap().unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Handshake(HandshakeError::StartLineTooLong { .. })
        ),
        "{err:?}"
    );
    flood.abort();
}

/// The handshake error of a client (configured by `configure`) whose request the server
/// answers with `answer(request)`.
async fn handshake_error(
    configure: impl FnOnce(ClientBuilder) -> ClientBuilder,
    answer: impl FnOnce(&UpgradeRequestHead) -> String,
) -> HandshakeError {
    let (connecting, mut peer, request) = attack(configure).await;
    peer.send(answer(&request).as_bytes()).await.unwrap();
    match bounded(connecting).await.unwrap() {
        Err(ClientError::Handshake(err)) => err,
        other => panic!("expected a handshake error, got {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn oversized_response_headers_are_refused() {
    let _serial = SERIAL.lock().await;
    let huge = format!("X-Pad: {}\r\n", "a".repeat(64 << 10));
    let err = handshake_error(defaults, |request| request.accept_response(&huge)).await;
    assert!(
        matches!(err, HandshakeError::HeaderSectionTooLarge { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("header section"), "{err}");
}

#[tokio::test]
async fn a_wrong_accept_key_is_refused() {
    let _serial = SERIAL.lock().await;
    let err = handshake_error(defaults, |_| {
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
            .to_owned()
    })
    .await;
    assert!(
        matches!(err, HandshakeError::AcceptMismatch { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn answers_the_client_did_not_ask_for_are_refused() {
    let _serial = SERIAL.lock().await;
    // An extension the client did not offer.
    let err = handshake_error(
        |c| c.deflate(DeflateConfig::default().enabled(false)),
        |request| request.accept_response("Sec-WebSocket-Extensions: permessage-deflate\r\n"),
    )
    .await;
    assert!(
        matches!(err, HandshakeError::ExtensionNotOffered { .. }),
        "{err:?}"
    );

    // A subprotocol the client did not offer.
    let err = handshake_error(
        |c| c.protocol("chat.v1"),
        |request| request.accept_response("Sec-WebSocket-Protocol: chat.v2\r\n"),
    )
    .await;
    assert!(
        matches!(err, HandshakeError::ProtocolNotOffered { .. }),
        "{err:?}"
    );

    // Something that is not HTTP at all.
    let err = handshake_error(defaults, |_| "SSH-2.0-OpenSSH_9.2\r\n\r\n".to_owned()).await;
    assert!(
        matches!(err, HandshakeError::MalformedHttp { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_refusal_with_an_endless_body_keeps_only_the_first_kilobytes() {
    let _serial = SERIAL.lock().await;
    let (connecting, mut peer, _) = attack(defaults).await;
    let heap = PeakHeap::start();
    let flood = tokio::spawn(async move {
        let _ = peer
            .send(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 1073741824\r\n\r\n")
            .await;
        let junk = vec![b'x'; 64 << 10];
        while peer.send(&junk).await.is_ok() {}
    });
    let err = bounded(connecting).await.unwrap().unwrap_err();
    match &err {
        ClientError::Handshake(HandshakeError::Refused {
            response,
            body_complete,
        }) => {
            assert_eq!(response.status(), 503);
            assert!(!body_complete);
            assert!(response.body().len() <= 4096, "{}", response.body().len());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.status(), Some(http::StatusCode::SERVICE_UNAVAILABLE));
    assert!(heap.grown() < MIB, "{} bytes held", heap.grown());
    flood.abort();
}

// -------------------------------------------------------------------------------------------
// After the handshake.

/// Completes the handshake honestly (with `extra_headers`), then returns the client's socket.
async fn open(
    configure: impl FnOnce(ClientBuilder) -> ClientBuilder,
    extra_headers: &str,
) -> (WebSocket<ClientStream>, RawPeer<TcpStream>) {
    let (connecting, mut peer, request) = attack(configure).await;
    peer.send(request.accept_response(extra_headers).as_bytes())
        .await
        .unwrap();
    let (ws, _) = bounded(connecting).await.unwrap().unwrap();
    (ws, peer)
}

/// Sends `bytes` after an honest handshake; returns the client's error and the close code it
/// sent the server.
async fn violation(bytes: &[u8]) -> (Error, Option<u16>) {
    let (mut ws, mut peer) = open(defaults, "").await;
    peer.send(bytes).await.unwrap();
    let err = match bounded(ws.next()).await {
        Some(Err(err)) => err,
        other => panic!("expected an error, got {other:?}"),
    };
    let code = bounded(peer.read_close()).await.unwrap();
    (err, code)
}

/// Whether a violation is the one a case expects.
type IsExpected = fn(&ProtocolError) -> bool;

#[tokio::test]
async fn protocol_violations_from_a_server_close_with_their_codes() {
    let _serial = SERIAL.lock().await;
    let long_ping = RawFrame::ping(vec![b'p'; 126]).unmasked().encode();
    let non_minimal = [0x81, 126, 0x00, 0x05, b'h', b'e', b'l', b'l', b'o'];
    let cases: Vec<(&str, Vec<u8>, IsExpected, u16)> = vec![
        (
            "a masked frame",
            RawFrame::text("masked").encode(),
            |e| matches!(e, ProtocolError::MaskedFrame),
            1002,
        ),
        (
            "RSV1 without an extension",
            RawFrame::text("x").unmasked().rsv(0x40).encode(),
            |e| matches!(e, ProtocolError::ReservedBits { .. }),
            1002,
        ),
        (
            "a reserved opcode",
            RawFrame::new(0x3, "x").unmasked().encode(),
            |e| matches!(e, ProtocolError::ReservedOpcode(3)),
            1002,
        ),
        (
            "a fragmented ping",
            RawFrame::ping("p").unmasked().fin(false).encode(),
            |e| matches!(e, ProtocolError::FragmentedControlFrame(_)),
            1002,
        ),
        (
            "a ping of 126 bytes",
            long_ping,
            |e| matches!(e, ProtocolError::ControlFrameTooLong(126)),
            1002,
        ),
        (
            "a continuation without a message",
            RawFrame::continuation("x").unmasked().encode(),
            |e| matches!(e, ProtocolError::UnexpectedContinuation),
            1002,
        ),
        (
            "a length not in its shortest form",
            non_minimal.to_vec(),
            |e| matches!(e, ProtocolError::NonMinimalLength),
            1002,
        ),
        (
            "a close frame of one byte",
            RawFrame::new(0x8, vec![3]).unmasked().encode(),
            |e| matches!(e, ProtocolError::InvalidClosePayload),
            1002,
        ),
        (
            "close code 1005 on the wire",
            RawFrame::close(1005, "").unmasked().encode(),
            |e| matches!(e, ProtocolError::InvalidCloseCode(1005)),
            1002,
        ),
        (
            "invalid UTF-8 in a text message",
            RawFrame::text(vec![b'o', b'k', 0xff]).unmasked().encode(),
            |e| matches!(e, ProtocolError::InvalidUtf8),
            1007,
        ),
        (
            "invalid UTF-8 in the second fragment of a text message",
            [
                RawFrame::text("caf").unmasked().fin(false).encode(),
                RawFrame::continuation(vec![0xc3, 0x28]).unmasked().encode(),
            ]
            .concat(),
            |e| matches!(e, ProtocolError::InvalidUtf8),
            1007,
        ),
        (
            "invalid UTF-8 in a close reason",
            RawFrame::close(1000, [0xff, 0xfe]).unmasked().encode(),
            |e| matches!(e, ProtocolError::InvalidCloseReason),
            1007,
        ),
    ];
    for (what, bytes, expected, code) in cases {
        let (err, sent) = violation(&bytes).await;
        match &err {
            Error::Protocol(violation) => assert!(expected(violation), "{what}: {violation:?}"),
            other => panic!("{what}: {other:?}"),
        }
        assert_eq!(err.close_code(), Some(CloseCode::from(code)), "{what}");
        assert_eq!(sent, Some(code), "{what}: the close code the client sent");
    }
}

#[tokio::test]
async fn length_bombs_are_refused_from_their_header() {
    let _serial = SERIAL.lock().await;
    // 2^63 - 1 bytes announced, and 65 MiB (over the default 64 MiB limit) announced; no
    // payload follows in either.
    for announced in [(1u64 << 63) - 1, 65 << 20] {
        let heap = PeakHeap::start();
        let bomb = RawFrame::binary(vec![])
            .unmasked()
            .announce_len(announced)
            .encode();
        let (err, code) = violation(&bomb).await;
        assert!(
            matches!(
                &err,
                // No frame limit was set: the message limit is the one named.
                Error::Protocol(ProtocolError::MessageTooLarge { size, limit })
                    if *size == announced && *limit == 64 << 20
            ),
            "{err:?}"
        );
        assert_eq!(code, Some(1009));
        assert!(heap.grown() < MIB, "{} bytes held", heap.grown());
    }

    // A message fragmented into frames within the frame limit that add up to more than the
    // message limit: refused at the header that crosses it.
    let limits = Limits::default().max_message_size(MIB);
    let (mut ws, mut peer) = open(|c| c.limits(limits), "").await;
    let heap = PeakHeap::start();
    peer.send_frame(&RawFrame::binary(vec![1u8; 600 << 10]).unmasked().fin(false))
        .await
        .unwrap();
    peer.send_frame(
        &RawFrame::continuation(vec![])
            .unmasked()
            .announce_len(600 << 10),
    )
    .await
    .unwrap();
    let err = bounded(ws.next()).await.unwrap().unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Protocol(ProtocolError::MessageTooLarge { limit, .. }) if *limit == MIB
        ),
        "{err:?}"
    );
    assert_eq!(bounded(peer.read_close()).await.unwrap(), Some(1009));
    assert!(heap.grown() < 2 * MIB, "{} bytes held", heap.grown());
}

#[tokio::test]
async fn a_compression_bomb_from_a_server_stops_at_the_message_limit() {
    let _serial = SERIAL.lock().await;
    // 256 MiB of zeros in about 250 KiB.
    let bomb = deflate_bomb(256 * MIB);
    for limit in [MIB, Limits::default().get_max_message_size()] {
        let (mut ws, mut peer) = open(
            |c| c.limits(Limits::default().max_message_size(limit)),
            "Sec-WebSocket-Extensions: permessage-deflate\r\n",
        )
        .await;
        assert!(ws.connection().has_extension());
        let heap = PeakHeap::start();
        let frame = RawFrame::binary(bomb.clone()).unmasked().rsv(0x40).encode();
        let sending = tokio::spawn(async move {
            let _ = peer.send(&frame).await;
            peer
        });
        let err = bounded(ws.next()).await.unwrap().unwrap_err();
        assert!(
            matches!(
                &err,
                Error::Protocol(ProtocolError::InflatedTooLarge { limit: l }) if *l == limit
            ),
            "{err:?}"
        );
        let grown = heap.grown();
        println!(
            "a 256 MiB bomb against a {limit}-byte limit: the client held at most {grown} bytes"
        );
        // The inflated message is bounded by the limit; the rest is buffers.
        assert!(grown < limit + 2 * MIB, "{grown} bytes held");
        let mut peer = bounded(sending).await.unwrap();
        assert_eq!(bounded(peer.read_close()).await.unwrap(), Some(1009));
    }
}

#[tokio::test]
async fn a_ping_flood_from_a_server_that_never_reads_is_answered_in_bounded_memory() {
    let _serial = SERIAL.lock().await;
    let (mut ws, peer) = open(defaults, "").await;
    // 200,000 pings, then a message; the server never reads what the client answers.
    let pings = 200_000;
    let mut flood = RawFrame::ping("ping").unmasked().encode().repeat(pings);
    flood.extend(RawFrame::text("after the flood").unmasked().encode());
    // Counted from here: the flood's own 2.4 MB buffer is the test's, not the client's.
    let heap = PeakHeap::start();
    let mut tcp = peer;
    let sending = tokio::spawn(async move {
        tcp.get_mut().write_all(&flood).await.unwrap();
        tcp
    });
    let mut seen = 0;
    let last = loop {
        match bounded(ws.next()).await.unwrap().unwrap() {
            Message::Ping(_) => seen += 1,
            other => break other,
        }
    };
    assert_eq!(seen, pings);
    assert_eq!(last, Message::text("after the flood"));
    let grown = heap.grown();
    println!("{pings} pings: the client held at most {grown} bytes");
    assert!(grown < 2 * MIB, "{grown} bytes held");
    // No more pongs than pings reached the socket: while one waits to be written, only the
    // latest ping is owed an answer.
    let mut tcp = bounded(sending).await.unwrap();
    ws.close(CloseCode::NORMAL, "").await.ok();
    let mut pongs = 0;
    while let Ok(Ok(Some(frame))) =
        tokio::time::timeout(Duration::from_millis(500), tcp.read_frame()).await
    {
        match frame.header.opcode {
            weft::codec::OpCode::Pong => pongs += 1,
            weft::codec::OpCode::Close => break,
            _ => {}
        }
    }
    println!("{pongs} pongs reached the server");
    assert!(pongs <= pings);
}

#[tokio::test]
async fn a_server_that_never_answers_the_close_is_left_after_close_timeout() {
    let _serial = SERIAL.lock().await;
    let close_timeout = Duration::from_millis(600);
    let (mut ws, mut peer) = open(
        |c| c.config(Config::default().close_timeout(close_timeout)),
        "",
    )
    .await;
    let started = Instant::now();
    let closed = tokio::time::timeout(close_timeout + SLACK, ws.close(CloseCode::NORMAL, "bye"))
        .await
        .expect("close returned within close_timeout");
    println!("gave up after {:?}", started.elapsed());
    assert!(matches!(closed, Err(Error::CloseTimeout)), "{closed:?}");
    // The server got the close frame and kept the connection open without answering.
    assert_eq!(bounded(peer.read_close()).await.unwrap(), Some(1000));
}

#[tokio::test]
async fn a_server_that_vanishes_after_the_handshake_is_an_abnormal_closure() {
    let _serial = SERIAL.lock().await;
    let (mut ws, peer) = open(defaults, "").await;
    drop(peer);
    let outcome = bounded(ws.next()).await;
    assert!(
        matches!(outcome, Some(Err(Error::AbnormalClosure))),
        "{outcome:?}"
    );
    assert!(bounded(ws.next()).await.is_none());
}
