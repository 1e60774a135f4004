//! weft end to end over real TCP on loopback: a `weft::Server` that echoes every message and a
//! `weft::ClientBuilder` client, both without permessage-deflate, in one tokio
//! `current_thread` runtime inside the bench.
//!
//! One thread runs both ends, so a round trip costs the client's send, the server's receive and
//! send, the client's receive, and four trips through the kernel's loopback, with no
//! cross-thread wake-up in the way: the figure is the CPU cost of an echo through the whole
//! stack, not the latency a two-core setup would see (`weft bench` measures that).
//!
//! - `echo/round_trip/SIZE`: send one binary message, wait for its echo.
//! - `echo/window_16/SIZE`: up to 16 messages in flight; time per message.
//! - `echo/tls_round_trip/SIZE` and `echo/tls_window_16/SIZE`: the same over `wss://`, with the
//!   rustls settings of the comparison servers (`weft_benches::tls`) and a throwaway CA: what
//!   TLS adds to an echo through weft.
//!
//! Throughput counts each message's payload once.
//!
//! Built with the `tracing` feature (weft's), `echo/round_trip/*` shows what the feature costs
//! when no subscriber is installed (compare with a build without it, benches/README.md), and
//! `echo/round_trip_subscriber_info/20B` and `…_debug/20B` what it costs with a `fmt`
//! subscriber (writing to nowhere) that leaves weft's `DEBUG` spans and events out, or takes
//! them in.

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tokio::runtime::Runtime;
use weft::{
    Acceptor, ClientBuilder, ClientStream, ClientTls, DeflateConfig, Message, Server, TlsConfig,
    WebSocket,
};
use weft_benches::tls::Certificates;

const SIZES: [(&str, usize); 3] = [("20B", 20), ("1KiB", 1 << 10), ("64KiB", 64 << 10)];
/// Messages in flight for the `window_16` benchmarks.
const WINDOW: u64 = 16;

/// Starts the echo server on a free loopback port and connects to it, over TLS with `tls`.
async fn connect(tls: Option<&Certificates>) -> WebSocket<ClientStream> {
    let mut acceptor = Acceptor::builder().deflate(DeflateConfig::default().enabled(false));
    if let Some(certs) = tls {
        let config = weft_benches::tls::server_config_from_pem(&certs.cert, &certs.key)
            .expect("the bench's certificate");
        acceptor = acceptor.tls(TlsConfig::from_rustls(config));
    }
    let acceptor = acceptor.build().expect("valid acceptor settings");
    let server = Server::builder()
        .acceptor(acceptor)
        .bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let scheme = if tls.is_some() { "wss" } else { "ws" };
    let url = format!("{scheme}://{}", server.local_addr().expect("local address"));
    tokio::spawn(server.serve(|mut ws, _accepted| async move {
        while let Some(Ok(message)) = ws.next().await {
            if (message.is_text() || message.is_binary()) && ws.send(message).await.is_err() {
                break;
            }
        }
    }));
    let mut client = ClientBuilder::new(url).deflate(DeflateConfig::default().enabled(false));
    if let Some(certs) = tls {
        let roots = ClientTls::default()
            .add_root_pem(certs.ca.as_bytes())
            .expect("the bench's CA");
        client = client.tls(roots);
    }
    let (ws, _response) = client.connect().await.expect("connect to the echo server");
    ws
}

/// The next data message; panics on anything else (the bench would measure nonsense).
async fn echo_of(ws: &mut WebSocket<ClientStream>, size: usize) {
    loop {
        match ws.next().await {
            Some(Ok(message @ (Message::Binary(_) | Message::Text(_)))) => {
                assert_eq!(message.len(), size, "an echo of the wrong size");
                return;
            }
            Some(Ok(_)) => {}
            Some(Err(err)) => panic!("the echo connection failed: {err}"),
            None => panic!("the echo connection ended"),
        }
    }
}

/// `iters` round trips, one at a time.
async fn round_trips(ws: &mut WebSocket<ClientStream>, message: &Message, iters: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        ws.send(message.clone()).await.expect("send");
        echo_of(ws, message.len()).await;
    }
    start.elapsed()
}

/// `iters` messages with up to [`WINDOW`] in flight.
async fn windowed(ws: &mut WebSocket<ClientStream>, message: &Message, iters: u64) -> Duration {
    let start = Instant::now();
    let (mut sent, mut received) = (0u64, 0u64);
    while received < iters {
        while sent < iters && sent - received < WINDOW {
            ws.feed(message.clone()).await.expect("feed");
            sent += 1;
        }
        ws.flush().await.expect("flush");
        echo_of(ws, message.len()).await;
        received += 1;
    }
    start.elapsed()
}

fn echo(c: &mut Criterion) {
    let runtime: Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let certs = weft_benches::tls::generate().expect("throwaway certificates");
    let mut group = c.benchmark_group("echo");
    for (prefix, tls) in [("", None), ("tls_", Some(&certs))] {
        let mut ws = runtime.block_on(connect(tls));
        for (name, size) in SIZES {
            let message = Message::binary(vec![0x5a; size]);
            group.throughput(Throughput::Bytes(size as u64));
            group.bench_function(BenchmarkId::new(format!("{prefix}round_trip"), name), |b| {
                b.iter_custom(|iters| runtime.block_on(round_trips(&mut ws, &message, iters)));
            });
            group.bench_function(BenchmarkId::new(format!("{prefix}window_16"), name), |b| {
                b.iter_custom(|iters| runtime.block_on(windowed(&mut ws, &message, iters)));
            });
        }
    }
    group.finish();
}

/// Round trips of 20 bytes with a `fmt` subscriber installed on the bench's thread, which
/// runs both ends: at `INFO` weft's spans and events are disabled; at `DEBUG` every
/// connection has its span, entered at each poll of the server's handler.
#[cfg(feature = "tracing")]
fn echo_subscribed(c: &mut Criterion) {
    use tracing_subscriber::filter::LevelFilter;

    let runtime: Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let mut group = c.benchmark_group("echo");
    for (name, level) in [
        ("round_trip_subscriber_info", LevelFilter::INFO),
        ("round_trip_subscriber_debug", LevelFilter::DEBUG),
    ] {
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(level)
            .with_writer(std::io::sink)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let mut ws = runtime.block_on(connect(None));
        let message = Message::binary(vec![0x5a; 20]);
        group.throughput(Throughput::Bytes(20));
        group.bench_function(BenchmarkId::new(name, "20B"), |b| {
            b.iter_custom(|iters| runtime.block_on(round_trips(&mut ws, &message, iters)));
        });
    }
    group.finish();
}

#[cfg(not(feature = "tracing"))]
criterion_group!(benches, echo);
#[cfg(feature = "tracing")]
criterion_group!(benches, echo, echo_subscribed);
criterion_main!(benches);
