//! The load of `cargo xtask bench --fanout`: one publisher and many subscribers over loopback,
//! measuring deliveries per second.
//!
//! ```sh
//! cargo run --release -p weft-benches --example fanout_load -- \
//!     --publish ws://127.0.0.1:9201/pub --subscribe ws://127.0.0.1:9201/sub \
//!     --subscribers 1000 --size 1024 --duration 5 --window 16
//! ```
//!
//! It opens `--subscribers` connections to `--subscribe` (at most 256 handshakes at a time)
//! and one to `--publish`, then publishes until every subscriber has received something (the
//! server has them all), waits for that to drain, and prints `measuring`. Then, for
//! `--duration` seconds, it publishes binary messages of `--size` bytes, at most `--window`
//! of them not yet received by every subscriber (a closed loop: as fast as the server and the
//! subscribers go, never faster), waits for the last to arrive (at most 10 s), and prints one
//! JSON line: `{"subscribers", "published", "deliveries", "expected", "seconds",
//! "deliveries_per_s", "messages_per_s", "connect_seconds"}`; `expected - deliveries` were
//! lost (a server that drops for slow subscribers). Everything runs on one thread (tokio's
//! `current_thread`), so the load takes one core.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio::task::JoinSet;
use weft::{ClientBuilder, DeflateConfig, Message};

/// Handshakes in progress at once.
const CONNECT_PARALLEL: usize = 256;
/// The longest the warm-up and the final drain may take.
const SETTLE: Duration = Duration::from_secs(30);

struct Options {
    publish: String,
    subscribe: String,
    subscribers: usize,
    size: usize,
    duration: f64,
    window: u64,
}

/// What the subscribers count, and how the publisher learns that it may go on.
#[derive(Default)]
struct Counters {
    /// Messages of the run's size received, by every subscriber together.
    deliveries: AtomicU64,
    /// Subscribers that have received at least one message.
    reached: AtomicUsize,
    /// The publisher waits until `deliveries` reaches this.
    wanted: AtomicU64,
    progress: Notify,
}

fn main() -> Result<(), String> {
    let options = parse(std::env::args().skip(1))?;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| err.to_string())?
        .block_on(run(options))
}

fn parse(args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options = Options {
        publish: String::new(),
        subscribe: String::new(),
        subscribers: 1000,
        size: 1024,
        duration: 5.0,
        window: 16,
    };
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        let value = args.next().ok_or_else(|| format!("{arg} needs a value"))?;
        let count = || {
            value
                .parse::<usize>()
                .map_err(|_| format!("{arg}: not a whole number: {value}"))
        };
        match arg.as_str() {
            "--publish" => options.publish = value.clone(),
            "--subscribe" => options.subscribe = value.clone(),
            "--subscribers" => options.subscribers = count()?.max(1),
            "--size" => options.size = count()?.max(1),
            "--duration" => {
                options.duration = value
                    .parse()
                    .map_err(|_| format!("{arg}: not a number of seconds: {value}"))?;
            }
            "--window" => options.window = count()?.max(1) as u64,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if options.publish.is_empty() || options.subscribe.is_empty() {
        return Err("--publish URL and --subscribe URL are needed".to_owned());
    }
    Ok(options)
}

async fn run(options: Options) -> Result<(), String> {
    let counters = Arc::new(Counters::default());
    let started = Instant::now();
    let mut subscribers = JoinSet::new();
    let mut connecting = JoinSet::new();
    for index in 0..options.subscribers {
        if connecting.len() == CONNECT_PARALLEL {
            connected(&mut connecting, &mut subscribers, &counters, options.size).await?;
        }
        let url = options.subscribe.clone();
        connecting.spawn(async move {
            client(&url)
                .await
                .map_err(|err| format!("subscriber {index}: {err}"))
        });
    }
    while !connecting.is_empty() {
        connected(&mut connecting, &mut subscribers, &counters, options.size).await?;
    }
    let mut publisher = client(&options.publish)
        .await
        .map_err(|err| format!("publisher: {err}"))?;
    let connect_seconds = started.elapsed().as_secs_f64();

    // Warm-up: publish until every subscriber has received something, so that the server has
    // every one of them subscribed; then let what is on its way arrive.
    let payload = bytes::Bytes::from(vec![0x5a; options.size]);
    let deadline = Instant::now() + SETTLE;
    while counters.reached.load(Ordering::Relaxed) < options.subscribers {
        if Instant::now() > deadline {
            return Err(format!(
                "only {} of {} subscribers received anything within {SETTLE:?}",
                counters.reached.load(Ordering::Relaxed),
                options.subscribers
            ));
        }
        publisher
            .send(Message::binary(payload.clone()))
            .await
            .map_err(|err| format!("publisher: {err}"))?;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    settle(&counters).await;
    println!("measuring");

    let base = counters.deliveries.load(Ordering::Relaxed);
    let subscribers_n = options.subscribers as u64;
    let received = || counters.deliveries.load(Ordering::Relaxed) - base;
    let started = Instant::now();
    let run_for = Duration::from_secs_f64(options.duration);
    let mut published = 0u64;
    while started.elapsed() < run_for {
        // Keep at most `window` messages short of every subscriber.
        let allowed = received() / subscribers_n + options.window;
        if published < allowed {
            while published < allowed {
                publisher
                    .feed(Message::binary(payload.clone()))
                    .await
                    .map_err(|err| format!("publisher: {err}"))?;
                published += 1;
            }
            publisher
                .flush()
                .await
                .map_err(|err| format!("publisher: {err}"))?;
            continue;
        }
        // Wait until the oldest message in flight reached everyone.
        let wanted = (published + 1 - options.window) * subscribers_n;
        counters.wanted.store(base + wanted, Ordering::Relaxed);
        if received() < wanted {
            let _ = tokio::time::timeout(SETTLE, counters.progress.notified()).await;
        }
    }
    // The last messages: until everything arrived, or nothing more is coming.
    let expected = published * subscribers_n;
    counters.wanted.store(base + expected, Ordering::Relaxed);
    let drain_deadline = Instant::now() + Duration::from_secs(10);
    while received() < expected && Instant::now() < drain_deadline {
        let _ =
            tokio::time::timeout(Duration::from_millis(100), counters.progress.notified()).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let deliveries = received();
    println!(
        "{{\"subscribers\": {}, \"published\": {published}, \"deliveries\": {deliveries}, \
         \"expected\": {expected}, \"seconds\": {seconds:.3}, \"deliveries_per_s\": {:.0}, \
         \"messages_per_s\": {:.1}, \"connect_seconds\": {connect_seconds:.2}}}",
        options.subscribers,
        deliveries as f64 / seconds,
        published as f64 / seconds
    );
    subscribers.abort_all();
    Ok(())
}

/// A client without permessage-deflate (none of the servers compress).
async fn client(url: &str) -> Result<weft::WebSocket<weft::ClientStream>, weft::client::Error> {
    let (ws, _) = ClientBuilder::new(url)
        .deflate(DeflateConfig::default().enabled(false))
        .connect()
        .await?;
    Ok(ws)
}

/// Takes one finished handshake and starts its subscriber's reader.
async fn connected(
    connecting: &mut JoinSet<Result<weft::WebSocket<weft::ClientStream>, String>>,
    subscribers: &mut JoinSet<()>,
    counters: &Arc<Counters>,
    size: usize,
) -> Result<(), String> {
    let Some(joined) = connecting.join_next().await else {
        return Ok(());
    };
    let ws = joined.map_err(|err| err.to_string())??;
    subscribers.spawn(read(ws, counters.clone(), size));
    Ok(())
}

/// Counts the messages of the run's size, and wakes the publisher once enough arrived.
async fn read(mut ws: weft::WebSocket<weft::ClientStream>, counters: Arc<Counters>, size: usize) {
    let mut reached = false;
    while let Some(Ok(message)) = ws.next().await {
        if message.len() != size || !message.is_binary() {
            continue;
        }
        if !reached {
            reached = true;
            counters.reached.fetch_add(1, Ordering::Relaxed);
        }
        let total = counters.deliveries.fetch_add(1, Ordering::Relaxed) + 1;
        if total >= counters.wanted.load(Ordering::Relaxed) {
            counters.progress.notify_one();
        }
    }
}

/// Waits until deliveries stop coming for 200 ms (or `SETTLE` passed).
async fn settle(counters: &Counters) {
    let deadline = Instant::now() + SETTLE;
    let mut last = counters.deliveries.load(Ordering::Relaxed);
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = counters.deliveries.load(Ordering::Relaxed);
        if now == last || Instant::now() > deadline {
            return;
        }
        last = now;
    }
}
