//! WebSocket over HTTP/2 (RFC 8441) end to end on loopback, against the same echo over TCP: a
//! `weft::Server` that echoes and a weft client, without permessage-deflate, in one tokio
//! `current_thread` runtime inside the bench (so the figure is CPU per echo through the whole
//! stack, as in `echo.rs`).
//!
//! - `http2/round_trip/SIZE` against `http2/tcp_round_trip/SIZE`: one WebSocket, one message in
//!   flight, on an h2c stream or on a TCP connection of its own.
//! - `http2/ten_streams/{alone,next_to_a_stopped_reader}`: ten WebSockets on one HTTP/2
//!   connection each echo one 1 KiB message per iteration, alone on the connection or next to
//!   an eleventh WebSocket whose server-side reader never reads and whose client keeps its
//!   stream window full. HTTP/2 flow control must hold the stopped stream without slowing the
//!   others: the two figures are the comparison (`tests/http2.rs` checks that the others go on
//!   and that the stopped one holds only its window; timing belongs here, not in a test).

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tokio::runtime::Runtime;
use weft::{
    Acceptor, ClientBuilder, ClientStream, DeflateConfig, Http2Connection, Message, Server,
    WebSocket,
};

const SIZES: [(&str, usize); 2] = [("20B", 20), ("1KiB", 1 << 10)];

/// An echo server on a free loopback port whose handler for `/stopped` never reads; its URL.
async fn server() -> String {
    let acceptor = Acceptor::builder()
        .deflate(DeflateConfig::default().enabled(false))
        .build()
        .expect("valid acceptor settings");
    let server = Server::builder()
        .acceptor(acceptor)
        .bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let url = format!("ws://{}", server.local_addr().expect("local address"));
    tokio::spawn(server.serve(|mut ws, accepted| async move {
        if accepted.request.uri().path() == "/stopped" {
            std::future::pending::<()>().await;
        }
        while let Some(Ok(message)) = ws.next().await {
            if (message.is_text() || message.is_binary()) && ws.send(message).await.is_err() {
                break;
            }
        }
    }));
    url
}

/// One thread for both ends, as in `echo.rs`.
fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn client(url: &str) -> ClientBuilder {
    ClientBuilder::new(url).deflate(DeflateConfig::default().enabled(false))
}

async fn http2_connection(url: &str) -> Http2Connection {
    client(url)
        .connect_http2()
        .await
        .expect("an HTTP/2 connection")
}

/// Sends `message` and waits for its echo; panics on anything else.
async fn echo(ws: &mut WebSocket<ClientStream>, message: &Message) {
    ws.send(message.clone()).await.expect("send");
    match ws.next().await {
        Some(Ok(echo)) if echo.len() == message.len() => {}
        other => panic!("not the echo: {other:?}"),
    }
}

fn round_trips(c: &mut Criterion) {
    let runtime = runtime();
    let mut group = c.benchmark_group("http2");
    for (name, size) in SIZES {
        let message = Message::binary(vec![0x5a; size]);
        group.throughput(Throughput::Bytes(size as u64));
        let (mut over_h2, mut over_tcp) = runtime.block_on(async {
            let url = server().await;
            let connection = http2_connection(&url).await;
            let (over_h2, _) = connection.connect("/").await.expect("a stream");
            let (over_tcp, _) = client(&url).connect().await.expect("a connection");
            (over_h2, over_tcp)
        });
        group.bench_function(BenchmarkId::new("round_trip", name), |b| {
            b.iter(|| runtime.block_on(echo(&mut over_h2, &message)));
        });
        group.bench_function(BenchmarkId::new("tcp_round_trip", name), |b| {
            b.iter(|| runtime.block_on(echo(&mut over_tcp, &message)));
        });
    }
    group.finish();
}

/// Ten WebSockets echoing one message each per iteration, with or without a stopped
/// neighbour on their connection.
fn ten_streams(c: &mut Criterion) {
    let runtime = runtime();
    let mut group = c.benchmark_group("http2/ten_streams");
    group.throughput(Throughput::Elements(10));
    let message = Message::binary(vec![0x5a; 1 << 10]);
    for stopped in [false, true] {
        let name = if stopped {
            "next_to_a_stopped_reader"
        } else {
            "alone"
        };
        let (mut streams, _neighbour) = runtime.block_on(async {
            let url = server().await;
            let connection = http2_connection(&url).await;
            let mut streams = Vec::new();
            for _ in 0..10 {
                streams.push(connection.connect("/").await.expect("a stream").0);
            }
            let neighbour = if stopped {
                let (mut ws, _) = connection.connect("/stopped").await.expect("a stream");
                // Fill the stopped stream's window: sends complete until flow control holds
                // the rest; then the sender waits for good.
                Some(tokio::spawn(async move {
                    let noise = Message::binary(vec![0x3c; 64 << 10]);
                    while ws.send(noise.clone()).await.is_ok() {}
                }))
            } else {
                None
            };
            tokio::time::sleep(Duration::from_millis(100)).await;
            (streams, neighbour)
        });
        group.bench_function(name, |b| {
            b.iter_custom(|iterations| {
                runtime.block_on(async {
                    let started = Instant::now();
                    for _ in 0..iterations {
                        for ws in &mut streams {
                            ws.send(message.clone()).await.expect("send");
                        }
                        for ws in &mut streams {
                            match ws.next().await {
                                Some(Ok(echo)) if echo.len() == message.len() => {}
                                other => panic!("not the echo: {other:?}"),
                            }
                        }
                    }
                    started.elapsed()
                })
            });
        });
    }
    group.finish();
}

criterion_group!(benches, round_trips, ten_streams);
criterion_main!(benches);
