//! The client side of `cargo xtask soak`: processes that load a `weft serve` the way a
//! population of real clients would. Each runs until its standard input ends (the task closes
//! it), then prints one JSON line with what it counted.
//!
//! ```text
//! soak hold URL COUNT SOURCE     COUNT idle connections from SOURCE (a 127.0.0.0/8 address),
//!                                keepalive answered; prints `ready COUNT` once all are open
//! soak echo URL CONNECTIONS MS   honest clients: each sends a 100-byte text every MS
//!                                milliseconds (jittered) and times the echo
//! soak mixed PLAIN_URL TLS_URL CA WORKERS SEED
//!                                churn over plain and TLS, sizes 0 B to 1 MiB, fragmented and
//!                                compressed messages, pings, long-lived connections, and
//!                                clients that vanish (FIN or reset, some mid-message)
//! ```
//!
//! Every wait is bounded; nothing here targets anything but the URLs given (loopback).

use std::io::BufRead;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::json;
use tokio::net::TcpSocket;
use tokio::sync::{Mutex, Semaphore};
use tokio::task::JoinSet;
use weft::{
    ClientBuilder, ClientStream, ClientTls, CloseCode, Config, DeflateConfig, Limits, Message,
    WebSocket,
};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Result<T, E = BoxError> = std::result::Result<T, E>;

/// Any single step (a connect, an echo, a close) that takes longer is a failure.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections opened at once by `hold`.
const CONNECT_CONCURRENCY: usize = 64;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // One thread: the machine has two cores, shared with the server under test.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let usage = "usage: soak hold URL COUNT SOURCE | echo URL CONNECTIONS MS | \
                 mixed PLAIN_URL TLS_URL CA WORKERS SEED";
    let arg = |i: usize| args.get(i).cloned().ok_or(usage);
    let line = match arg(0)?.as_str() {
        "hold" => runtime.block_on(hold(&arg(1)?, arg(2)?.parse()?, arg(3)?.parse()?))?,
        "echo" => runtime.block_on(echo(&arg(1)?, arg(2)?.parse()?, arg(3)?.parse()?))?,
        "mixed" => runtime.block_on(mixed(Mixed {
            plain: arg(1)?,
            tls: arg(2)?,
            ca: std::fs::read(arg(3)?)?,
            workers: arg(4)?.parse()?,
            seed: arg(5)?.parse()?,
        }))?,
        _ => return Err(usage.into()),
    };
    println!("{line}");
    Ok(())
}

/// Completes when standard input ends.
async fn stdin_closed() {
    let _ = tokio::task::spawn_blocking(|| for _ in std::io::stdin().lock().lines() {}).await;
}

async fn bounded<T>(future: impl Future<Output = T>) -> Result<T> {
    tokio::time::timeout(STEP_TIMEOUT, future)
        .await
        .map_err(|_| "a step took longer than 30 s".into())
}

// -------------------------------------------------------------------------------------------
// hold

/// `COUNT` idle connections from `source`; keepalive pings from the server are answered.
async fn hold(url: &str, count: usize, source: IpAddr) -> Result<String> {
    rlimit::increase_nofile_limit(count as u64 + 256)?;
    let server: SocketAddr = url
        .trim_start_matches("ws://")
        .trim_end_matches('/')
        .parse()?;
    let client = ClientBuilder::new(url).config(Config::default().ping_interval(None));
    let lost = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(tokio::sync::Notify::new());
    let permits = Arc::new(Semaphore::new(CONNECT_CONCURRENCY));
    let mut opening = JoinSet::new();
    for _ in 0..count {
        let (client, permits) = (client.clone(), permits.clone());
        opening.spawn(async move {
            let _permit = permits.acquire_owned().await?;
            let socket = TcpSocket::new_v4()?;
            socket.bind(SocketAddr::new(source, 0))?;
            let tcp = bounded(socket.connect(server)).await??;
            tcp.set_nodelay(true)?;
            let (ws, _) = bounded(client.connect_on(ClientStream::Plain(tcp))).await??;
            Ok::<_, BoxError>(ws)
        });
    }
    let mut held = JoinSet::new();
    while let Some(opened) = opening.join_next().await {
        let mut ws = opened??;
        let (lost, stop) = (lost.clone(), stop.clone());
        held.spawn(async move {
            let stopped = stop.notified();
            tokio::pin!(stopped);
            loop {
                tokio::select! {
                    message = ws.next() => match message {
                        Some(Ok(_)) => {}
                        Some(Err(_)) | None => {
                            lost.fetch_add(1, Ordering::Relaxed);
                            return false;
                        }
                    },
                    () = &mut stopped => break,
                }
            }
            matches!(bounded(ws.close(CloseCode::NORMAL, "")).await, Ok(Ok(())))
        });
    }
    println!("ready {count}");
    stdin_closed().await;
    stop.notify_waiters();
    let mut closed_cleanly = 0u64;
    while let Some(done) = held.join_next().await {
        if done.unwrap_or(false) {
            closed_cleanly += 1;
        }
    }
    Ok(json!({
        "held": count,
        "lost": lost.load(Ordering::Relaxed),
        "closed_cleanly": closed_cleanly,
    })
    .to_string())
}

// -------------------------------------------------------------------------------------------
// echo

/// A histogram of round trips in microseconds, up to a minute.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).unwrap_or_else(|_| unreachable!("valid bounds"))
}

/// `connections` honest clients, each echoing a 100-byte text every `interval_ms`.
async fn echo(url: &str, connections: usize, interval_ms: u64) -> Result<String> {
    let latency = Arc::new(Mutex::new(histogram()));
    let (sent, errors) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = JoinSet::new();
    for i in 0..connections {
        let (url, latency, sent, errors, stop) = (
            url.to_owned(),
            latency.clone(),
            sent.clone(),
            errors.clone(),
            stop.clone(),
        );
        clients.spawn(async move {
            let result = async {
                let (mut ws, _) = bounded(weft::connect(&url)).await??;
                let mut rng = Rng::new(i as u64 + 1);
                let mut own = histogram();
                // Spread the clients over the interval.
                tokio::time::sleep(Duration::from_millis(rng.below(interval_ms.max(1)))).await;
                while !stop.load(Ordering::Relaxed) {
                    let text = format!("{i:>10} {}", "x".repeat(89));
                    let started = Instant::now();
                    bounded(ws.send(Message::text(text.clone()))).await??;
                    sent.fetch_add(1, Ordering::Relaxed);
                    loop {
                        match bounded(ws.next()).await? {
                            Some(Ok(Message::Text(echo))) if echo.as_str() == text => break,
                            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                            other => return Err(format!("a wrong echo: {other:?}").into()),
                        }
                    }
                    own.record(u64::try_from(started.elapsed().as_micros())?)?;
                    let jitter = rng.below(interval_ms / 5 + 1);
                    tokio::time::sleep(Duration::from_millis(
                        interval_ms - interval_ms / 10 + jitter,
                    ))
                    .await;
                }
                latency.lock().await.add(&own)?;
                bounded(ws.close(CloseCode::NORMAL, "")).await??;
                Ok::<_, BoxError>(())
            }
            .await;
            if result.is_err() {
                errors.fetch_add(1, Ordering::Relaxed);
            }
            result.err().map(|err| err.to_string())
        });
    }
    stdin_closed().await;
    stop.store(true, Ordering::Relaxed);
    let mut first_error = None;
    while let Some(done) = clients.join_next().await {
        if let Ok(Some(err)) = done {
            first_error.get_or_insert(err);
        }
    }
    let latency = latency.lock().await;
    Ok(json!({
        "connections": connections,
        "sent": sent.load(Ordering::Relaxed),
        "echoed": latency.len(),
        "errors": errors.load(Ordering::Relaxed),
        "first_error": first_error,
        "p50_us": latency.value_at_quantile(0.5),
        "p99_us": latency.value_at_quantile(0.99),
        "p999_us": latency.value_at_quantile(0.999),
        "max_us": latency.max(),
    })
    .to_string())
}

// -------------------------------------------------------------------------------------------
// mixed

struct Mixed {
    plain: String,
    tls: String,
    ca: Vec<u8>,
    workers: usize,
    seed: u64,
}

/// What the mixed load counted.
#[derive(Default)]
struct Tally {
    connections: AtomicU64,
    tls_connections: AtomicU64,
    messages: AtomicU64,
    bytes: AtomicU64,
    fragmented: AtomicU64,
    compressed_connections: AtomicU64,
    pings: AtomicU64,
    vanished: AtomicU64,
    vanished_mid_message: AtomicU64,
    long_lived: AtomicU64,
    /// Echoes that came back wrong: must stay 0.
    mismatches: AtomicU64,
    /// Failures of connections that behaved: must stay 0.
    errors: AtomicU64,
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

async fn mixed(mixed: Mixed) -> Result<String> {
    let tls = ClientTls::default().add_root_pem(&mixed.ca)?;
    let mixed = Arc::new(mixed);
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let first_error = Arc::new(Mutex::new(None::<String>));
    let mut workers = JoinSet::new();
    for worker in 0..mixed.workers {
        let (mixed, tally, stop, tls, first_error) = (
            mixed.clone(),
            tally.clone(),
            stop.clone(),
            tls.clone(),
            first_error.clone(),
        );
        workers.spawn(async move {
            let mut rng = Rng::new(mixed.seed.wrapping_mul(1000) + worker as u64 + 1);
            while !stop.load(Ordering::Relaxed) {
                let secure = rng.below(3) == 0;
                let url = if secure { &mixed.tls } else { &mixed.plain };
                let compress = rng.below(2) == 0;
                let fragment = (rng.below(4) == 0).then(|| 1 + rng.size_below(64 << 10));
                let client = ClientBuilder::new(url.as_str())
                    .tls(tls.clone())
                    .deflate(DeflateConfig::default().enabled(compress))
                    .limits(Limits::default())
                    .config(Config::default().fragment_size(fragment));
                let plan = rng.below(20);
                let outcome = match plan {
                    // One in twenty vanishes; one in twenty stays a while.
                    0 => vanish(client, &mut rng, &tally).await,
                    1 => session(client, &mut rng, &tally, &stop, true).await,
                    _ => session(client, &mut rng, &tally, &stop, false).await,
                };
                add(&tally.connections, 1);
                if secure {
                    add(&tally.tls_connections, 1);
                }
                if compress {
                    add(&tally.compressed_connections, 1);
                }
                if fragment.is_some() {
                    add(&tally.fragmented, 1);
                }
                if let Err(err) = outcome {
                    add(&tally.errors, 1);
                    first_error.lock().await.get_or_insert(err.to_string());
                }
            }
        });
    }
    stdin_closed().await;
    stop.store(true, Ordering::Relaxed);
    while workers.join_next().await.is_some() {}
    let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
    Ok(json!({
        "connections": get(&tally.connections),
        "tls_connections": get(&tally.tls_connections),
        "compressed_connections": get(&tally.compressed_connections),
        "fragmented_connections": get(&tally.fragmented),
        "long_lived": get(&tally.long_lived),
        "messages": get(&tally.messages),
        "bytes": get(&tally.bytes),
        "pings": get(&tally.pings),
        "vanished": get(&tally.vanished),
        "vanished_mid_message": get(&tally.vanished_mid_message),
        "mismatches": get(&tally.mismatches),
        "errors": get(&tally.errors),
        "first_error": *first_error.lock().await,
    })
    .to_string())
}

/// A message size: mostly small, some medium, a few up to 1 MiB.
fn size(rng: &mut Rng) -> usize {
    match rng.below(100) {
        0..=69 => rng.size_below(1025),
        70..=94 => rng.size_below(64 << 10),
        _ => rng.size_below((1 << 20) + 1),
    }
}

fn payload(rng: &mut Rng, len: usize) -> Message {
    if rng.below(2) == 0 {
        // Text: printable ASCII, compressible.
        let text: String = ('a'..='z').cycle().take(len).collect();
        Message::text(text)
    } else {
        Message::binary(rng.bytes(len))
    }
}

/// A client that behaves: messages echoed and checked, pings, a close with 1000. `long`
/// keeps it open a while, sending now and then.
async fn session(
    client: ClientBuilder,
    rng: &mut Rng,
    tally: &Tally,
    stop: &AtomicBool,
    long: bool,
) -> Result<()> {
    let (mut ws, _) = bounded(client.connect()).await??;
    let rounds = if long {
        add(&tally.long_lived, 1);
        20 + rng.below(40)
    } else {
        1 + rng.below(10)
    };
    for _ in 0..rounds {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        if rng.below(5) == 0 {
            bounded(ws.send(Message::ping("soak"))).await??;
            add(&tally.pings, 1);
        }
        let len = size(rng);
        let message = payload(rng, len);
        let len = message.len() as u64;
        bounded(ws.send(message.clone())).await??;
        let echo = next_data(&mut ws).await?;
        if echo != message {
            add(&tally.mismatches, 1);
        }
        add(&tally.messages, 1);
        add(&tally.bytes, len);
        if long {
            tokio::time::sleep(Duration::from_millis(200 + rng.below(800))).await;
        }
    }
    bounded(ws.close(CloseCode::NORMAL, "")).await??;
    Ok(())
}

/// The next data message, past pongs.
async fn next_data(ws: &mut WebSocket<ClientStream>) -> Result<Message> {
    loop {
        match bounded(ws.next()).await? {
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Ok(message)) => return Ok(message),
            Some(Err(err)) => return Err(err.into()),
            None => return Err("the server ended the connection".into()),
        }
    }
}

/// A client that disappears without closing: after a message, or in the middle of one (the
/// send is cut off after 1 ms), by dropping the connection (FIN) or resetting it.
async fn vanish(client: ClientBuilder, rng: &mut Rng, tally: &Tally) -> Result<()> {
    let (mut ws, _) = bounded(client.connect()).await??;
    add(&tally.vanished, 1);
    if rng.below(2) == 0 {
        let message = payload(rng, 1 << 20);
        add(&tally.vanished_mid_message, 1);
        // Cut off mid-send: the server has part of a frame when the connection goes.
        let _ = tokio::time::timeout(Duration::from_millis(1), ws.send(message)).await;
    } else {
        let len = size(rng);
        let message = payload(rng, len);
        bounded(ws.send(message)).await??;
        match next_data(&mut ws).await {
            Ok(_) | Err(_) => {}
        }
    }
    if rng.below(2) == 0
        && let Some(tcp) = tcp_of(&ws)
    {
        // A reset instead of a FIN.
        tcp.set_zero_linger()?;
    }
    drop(ws);
    Ok(())
}

fn tcp_of(ws: &WebSocket<ClientStream>) -> Option<&tokio::net::TcpStream> {
    match ws.get_ref() {
        ClientStream::Plain(tcp) => Some(tcp),
        ClientStream::Tls(tls) => Some(tls.get_ref().0),
        _ => None,
    }
}

// -------------------------------------------------------------------------------------------

/// xorshift64*: reproducible choices without a dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// Uniform in `0..n` (n > 0), as a size.
    fn size_below(&mut self, n: usize) -> usize {
        usize::try_from(self.below(n as u64)).unwrap_or(0)
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            out.extend_from_slice(&self.next().to_le_bytes());
        }
        out.truncate(len);
        out
    }
}
