//! The client of `cargo xtask bench --compare`'s client-side scenarios: one library's client
//! connects to `push_server` and receives its messages as fast as they come (`receive`), or
//! sends messages to its sink as fast as it can (`send`), for a while; then it prints what it
//! did and the CPU time it took, as one JSON line.
//!
//! ```sh
//! cargo run --release -p weft-benches --features compare --example bench_client -- \
//!     weft ws://127.0.0.1:9110 receive 1024 3 [--deflate]
//! ```
//!
//! Arguments: the library (`weft`, `weft-feed`, `tungstenite`, `fastwebsockets`,
//! `tokio-websockets`, `yawc`, `sockudo-ws`), the server's URL, `receive` or `send`, the
//! message size in bytes, the seconds measured, and `--deflate` to offer permessage-deflate
//! (each library's client with its defaults once compression is on).
//!
//! Each client is written as its library's documentation shows it: connect, then a loop over
//! the plain message API (`next` to receive; `send`, which writes and flushes each message, to
//! send; `weft-feed` sends with weft's `feed`, flushing every 16 messages). Every library
//! validates the UTF-8 of the text it receives. The runtime is tokio's `current_thread`.
//!
//! The first half second is a warm-up; then the measured part runs until a timer thread raises
//! a flag (one relaxed load per message, the same for every library), with the process's CPU
//! time (`/proc/self/stat`, all threads) read at both ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;

/// How long the client runs before it measures.
const WARM_UP: Duration = Duration::from_millis(500);
/// The largest message any client accepts (the push server sends at most 64 KiB).
const MAX_MESSAGE: usize = 64 << 20;
/// `weft-feed` flushes after this many messages.
const FEED_BATCH: u64 = 16;

/// What the command line asks for.
struct Job {
    library: String,
    url: String,
    send: bool,
    size: usize,
    seconds: f64,
    deflate: bool,
}

/// Where the measured part starts and ends: a flag raised by a timer thread, read once per
/// message.
#[derive(Clone)]
struct Clock {
    measuring: Arc<AtomicBool>,
    done: Arc<AtomicBool>,
}

impl Clock {
    fn start(seconds: f64) -> Self {
        let clock = Self {
            measuring: Arc::new(AtomicBool::new(false)),
            done: Arc::new(AtomicBool::new(false)),
        };
        let flags = clock.clone();
        std::thread::spawn(move || {
            std::thread::sleep(WARM_UP);
            flags.measuring.store(true, Ordering::Relaxed);
            std::thread::sleep(Duration::from_secs_f64(seconds));
            flags.done.store(true, Ordering::Relaxed);
        });
        clock
    }
}

/// Counts messages while the clock is measuring, and reads the CPU time at both ends.
struct Tally {
    clock: Clock,
    started: Option<(Instant, (u64, u64))>,
    messages: u64,
    bytes: u64,
}

impl Tally {
    fn new(clock: Clock) -> Self {
        Self {
            clock,
            started: None,
            messages: 0,
            bytes: 0,
        }
    }

    /// Counts one message of `len` bytes; `false` once the measured time is over.
    #[inline]
    fn count(&mut self, len: usize) -> bool {
        if self.started.is_none() {
            if !self.clock.measuring.load(Ordering::Relaxed) {
                return true;
            }
            self.started = Some((Instant::now(), cpu_ticks()));
        }
        self.messages += 1;
        self.bytes += len as u64;
        !self.clock.done.load(Ordering::Relaxed)
    }

    fn report(self) -> String {
        let (started, before) = self.started.unwrap_or((Instant::now(), cpu_ticks()));
        let after = cpu_ticks();
        format!(
            r#"{{"messages":{},"bytes":{},"seconds":{:.4},"cpu_user_ticks":{},"cpu_system_ticks":{}}}"#,
            self.messages,
            self.bytes,
            started.elapsed().as_secs_f64(),
            after.0 - before.0,
            after.1 - before.1
        )
    }
}

/// User and system CPU time of this process so far, in clock ticks (fields 14 and 15 of
/// `/proc/self/stat`, counted after the command name's closing parenthesis).
fn cpu_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<u64> = rest
        .split_whitespace()
        .map(|field| field.parse().unwrap_or(0))
        .collect();
    (
        fields.get(14 - 3).copied().unwrap_or(0),
        fields.get(15 - 3).copied().unwrap_or(0),
    )
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [library, url, mode, size, seconds, rest @ ..] = args.as_slice() else {
        return Err("usage: bench_client LIBRARY URL receive|send SIZE SECONDS [--deflate]".into());
    };
    let job = Job {
        library: library.clone(),
        url: url.clone(),
        send: match mode.as_str() {
            "receive" => false,
            "send" => true,
            other => return Err(format!("mode `{other}`: receive or send")),
        },
        size: size.parse().map_err(|_| format!("size `{size}`"))?,
        seconds: seconds
            .parse()
            .map_err(|_| format!("seconds `{seconds}`"))?,
        deflate: rest.iter().any(|arg| arg == "--deflate"),
    };
    sockudo_ws::init_clock();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| err.to_string())?;
    let report = runtime.block_on(run(job))?;
    println!("{report}");
    Ok(())
}

async fn run(job: Job) -> Result<String, String> {
    let url = if job.send {
        format!("{}/sink", job.url)
    } else {
        format!("{}/push/{}", job.url, job.size)
    };
    let payload = "x".repeat(job.size);
    let tally = Tally::new(Clock::start(job.seconds));
    match job.library.as_str() {
        "weft" | "weft-feed" => {
            let feed = job.library == "weft-feed";
            weft_client(&url, &job, tally, &payload, feed).await
        }
        "tungstenite" => tungstenite(&url, &job, tally, &payload).await,
        "fastwebsockets" => fastwebsockets(&url, &job, tally, &payload).await,
        "tokio-websockets" => tokio_websockets(&url, &job, tally, &payload).await,
        "yawc" => yawc_client(&url, &job, tally, &payload).await,
        "sockudo-ws" => sockudo(&url, &job, tally, &payload).await,
        other => Err(format!("unknown library `{other}`")),
    }
}

fn fail(err: impl std::fmt::Display) -> String {
    err.to_string()
}

async fn weft_client(
    url: &str,
    job: &Job,
    mut tally: Tally,
    payload: &str,
    feed: bool,
) -> Result<String, String> {
    use weft::{ClientBuilder, DeflateConfig, Limits, Message};
    let (mut ws, _) = ClientBuilder::new(url)
        .deflate(DeflateConfig::default().enabled(job.deflate))
        .limits(Limits::default().max_message_size(MAX_MESSAGE))
        .connect()
        .await
        .map_err(fail)?;
    if job.send {
        let message = Message::text(payload.to_owned());
        let mut queued = 0;
        while tally.count(message.len()) {
            if feed {
                ws.feed(message.clone()).await.map_err(fail)?;
                queued += 1;
                if queued == FEED_BATCH {
                    ws.flush().await.map_err(fail)?;
                    queued = 0;
                }
            } else {
                ws.send(message.clone()).await.map_err(fail)?;
            }
        }
    } else {
        while let Some(message) = ws.next().await {
            if !tally.count(message.map_err(fail)?.len()) {
                break;
            }
        }
    }
    Ok(tally.report())
}

async fn tungstenite(
    url: &str,
    job: &Job,
    mut tally: Tally,
    payload: &str,
) -> Result<String, String> {
    use tokio_tungstenite::tungstenite::Message;
    if job.deflate {
        return Err("n/a: no permessage-deflate in tokio-tungstenite".into());
    }
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.map_err(fail)?;
    if job.send {
        let message = Message::text(payload.to_owned());
        while tally.count(payload.len()) {
            ws.send(message.clone()).await.map_err(fail)?;
        }
    } else {
        while let Some(message) = ws.next().await {
            if !tally.count(message.map_err(fail)?.len()) {
                break;
            }
        }
    }
    Ok(tally.report())
}

async fn fastwebsockets(
    url: &str,
    job: &Job,
    mut tally: Tally,
    payload: &str,
) -> Result<String, String> {
    use fastwebsockets::{FragmentCollector, Frame, OpCode, Payload};
    use http_body_util::Empty;
    use hyper::body::Bytes;
    use hyper::{Request, header};
    if job.deflate {
        return Err("n/a: no permessage-deflate in fastwebsockets".into());
    }
    let authority = url
        .strip_prefix("ws://")
        .and_then(|rest| rest.split('/').next())
        .ok_or("a ws:// URL")?;
    let tcp = TcpStream::connect(authority).await.map_err(fail)?;
    tcp.set_nodelay(true).map_err(fail)?;
    let request = Request::get(url)
        .header(header::HOST, authority)
        .header(header::UPGRADE, "websocket")
        .header(header::CONNECTION, "upgrade")
        .header(
            "Sec-WebSocket-Key",
            fastwebsockets::handshake::generate_key(),
        )
        .header("Sec-WebSocket-Version", "13")
        .body(Empty::<Bytes>::new())
        .map_err(fail)?;
    let (ws, _) = fastwebsockets::handshake::client(&SpawnExecutor, request, tcp)
        .await
        .map_err(fail)?;
    let mut ws = FragmentCollector::new(ws);
    if job.send {
        while tally.count(payload.len()) {
            let frame = Frame::text(Payload::Borrowed(payload.as_bytes()));
            ws.write_frame(frame).await.map_err(fail)?;
        }
    } else {
        loop {
            let frame = ws.read_frame().await.map_err(fail)?;
            match frame.opcode {
                OpCode::Text | OpCode::Binary if !tally.count(frame.payload.len()) => break,
                OpCode::Close => break,
                _ => {}
            }
        }
    }
    Ok(tally.report())
}

/// Runs hyper's connection task (fastwebsockets' client handshake needs one).
struct SpawnExecutor;

impl<F> hyper::rt::Executor<F> for SpawnExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        tokio::spawn(future);
    }
}

async fn tokio_websockets(
    url: &str,
    job: &Job,
    mut tally: Tally,
    payload: &str,
) -> Result<String, String> {
    use tokio_websockets::{ClientBuilder, Limits, Message};
    if job.deflate {
        return Err("n/a: no permessage-deflate in tokio-websockets".into());
    }
    let uri = url.parse().map_err(fail)?;
    let (mut ws, _) = ClientBuilder::from_uri(uri)
        .limits(Limits::default().max_payload_len(Some(MAX_MESSAGE)))
        .connect()
        .await
        .map_err(fail)?;
    if job.send {
        let message = Message::text(payload.to_owned());
        while tally.count(payload.len()) {
            ws.send(message.clone()).await.map_err(fail)?;
        }
    } else {
        while let Some(message) = ws.next().await {
            if !tally.count(message.map_err(fail)?.as_payload().len()) {
                break;
            }
        }
    }
    Ok(tally.report())
}

async fn yawc_client(
    url: &str,
    job: &Job,
    mut tally: Tally,
    payload: &str,
) -> Result<String, String> {
    use yawc::{DeflateOptions, Frame, Options, WebSocket};
    let mut options = Options::default()
        .with_utf8()
        .with_max_payload_read(MAX_MESSAGE)
        .with_max_read_buffer(2 * MAX_MESSAGE);
    if job.deflate {
        options.compression = Some(DeflateOptions::default());
    }
    let mut ws = WebSocket::connect(url.parse().map_err(fail)?)
        .with_options(options)
        .await
        .map_err(fail)?;
    if job.send {
        while tally.count(payload.len()) {
            ws.send(Frame::text(payload.to_owned()))
                .await
                .map_err(fail)?;
        }
    } else {
        while let Some(frame) = ws.next().await {
            if !tally.count(frame.payload().len()) {
                break;
            }
        }
    }
    Ok(tally.report())
}

async fn sockudo(url: &str, job: &Job, tally: Tally, payload: &str) -> Result<String, String> {
    use sockudo_ws::client::WebSocketClient;
    use sockudo_ws::{Config, Http1};
    let authority = url
        .strip_prefix("ws://")
        .and_then(|rest| rest.split_once('/'))
        .ok_or("a ws:// URL with a path")?;
    let path = format!("/{}", authority.1);
    let tcp = TcpStream::connect(authority.0).await.map_err(fail)?;
    tcp.set_nodelay(true).map_err(fail)?;
    let config = Config::builder()
        .max_message_size(MAX_MESSAGE)
        .max_frame_size(MAX_MESSAGE)
        .build();
    if job.deflate {
        let ws = sockudo_deflate_handshake(tcp, authority.0, &path, config).await?;
        return sockudo_loop(ws, job, tally, payload).await;
    }
    let (ws, _) = WebSocketClient::<Http1>::new(config)
        .connect(tcp, authority.0, &path, None)
        .await
        .map_err(fail)?;
    sockudo_loop(ws, job, tally, payload).await
}

/// sockudo-ws' tokio client offers no extension; with `--deflate` the upgrade is made with
/// the crate's handshake helpers and a plain offer, and the agreed settings run in its
/// `CompressedWebSocketStream`, as its server side is set up.
async fn sockudo_deflate_handshake(
    mut tcp: TcpStream,
    host: &str,
    path: &str,
    config: sockudo_ws::Config,
) -> Result<sockudo_ws::CompressedWebSocketStream<TcpStream>, String> {
    use bytes::BytesMut;
    use sockudo_ws::deflate::{DeflateConfig, parse_deflate_offer};
    use sockudo_ws::handshake::{build_request, generate_key, parse_response};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let key = generate_key();
    let request = build_request(
        host,
        path,
        &key,
        None,
        Some("permessage-deflate; client_max_window_bits"),
    );
    tcp.write_all(&request).await.map_err(fail)?;
    let mut buf = BytesMut::with_capacity(4096);
    loop {
        if tcp.read_buf(&mut buf).await.map_err(fail)? == 0 {
            return Err("the server closed during the handshake".into());
        }
        let Some((response, consumed)) = parse_response(&buf).map_err(fail)? else {
            continue;
        };
        let agreed = response
            .extensions
            .and_then(parse_deflate_offer)
            .map(|params| DeflateConfig::from_params(&params))
            .transpose()
            .map_err(fail)?
            .ok_or("the server agreed to no permessage-deflate")?;
        let leftover = (consumed < buf.len()).then(|| buf.split_off(consumed).freeze());
        return Ok(sockudo_ws::CompressedWebSocketStream::client_with_leftover(
            tcp, config, agreed, leftover,
        ));
    }
}

async fn sockudo_loop<W>(
    mut ws: W,
    job: &Job,
    mut tally: Tally,
    payload: &str,
) -> Result<String, String>
where
    W: futures_util::Stream<Item = sockudo_ws::Result<sockudo_ws::Message>>
        + futures_util::Sink<sockudo_ws::Message, Error = sockudo_ws::Error>
        + Unpin,
{
    use sockudo_ws::Message;
    if job.send {
        let text = bytes::Bytes::from(payload.to_owned());
        while tally.count(payload.len()) {
            ws.send(Message::Text(text.clone())).await.map_err(fail)?;
        }
    } else {
        while let Some(message) = ws.next().await {
            let len = match message.map_err(fail)? {
                Message::Text(data) | Message::Binary(data) => data.len(),
                Message::Close(_) => break,
                Message::Ping(_) | Message::Pong(_) => continue,
            };
            if !tally.count(len) {
                break;
            }
        }
    }
    Ok(tally.report())
}
