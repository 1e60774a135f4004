//! `weft bench URL`: a load generator for echo servers. Opens `--connections` connections,
//! keeps `--window` messages of `--size` bytes in flight on each for `--duration` seconds (or
//! until `--messages` have been echoed), checks every echo, and reports messages per second,
//! MB per second and round-trip percentiles. `--idle N` holds N silent connections instead,
//! for measuring a server's memory per connection.
//!
//! permessage-deflate is not offered unless `--deflate` is given: the point is the protocol,
//! not zlib. `--corpus FILE` sends the lines of a file instead of generated payloads (how
//! compression does on real messages), and every run counts the bytes its frames took each
//! way ([`wire`]).

mod idle;
mod load;
mod payload;
mod stats;
mod wire;

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use weft::{ClientBuilder, ClientStream, DeflateConfig, Limits, WebSocket};
use wire::{Wire, WireCounts};

use crate::client::ClientArgs;
use crate::error::Error;
use crate::size::parse_size;
use load::{Job, Outcome};
use payload::Payloads;
use stats::{Counts, Report, Setup, latency_histogram};

/// `--help` examples.
pub(crate) const EXAMPLES: &str = "\
Examples:
  weft bench ws://127.0.0.1:9001                         # 1 connection, 20 B, 10 s
  weft bench ws://127.0.0.1:9001 -c 100 --size 1KiB --duration 5
  weft bench ws://127.0.0.1:9001 --window 64             # 64 messages in flight
  weft bench ws://127.0.0.1:9001 -c 10 --size 16KiB --text --messages 100000
  weft bench ws://127.0.0.1:9001 --json                  # one JSON line, for scripts
  weft bench ws://127.0.0.1:9001 --idle 10000            # hold 10,000 idle connections
  weft bench ws://127.0.0.1:9001 --deflate --corpus messages.txt -c 100   # real messages

Every message must come back unchanged (an echo server): the length and both ends of each echo
are checked (with --corpus, every byte), and the run fails (exit status 1) if any echo is wrong
or missing. Latency is the time from queueing a message to receiving its echo. MB/s counts
payload one way, in 10^6 bytes; wire bytes are the frames each way, headers and masks included.";

/// Runs last this long unless `--duration` or `--messages` says otherwise.
const DEFAULT_DURATION: Duration = Duration::from_secs(10);
/// Connections beyond the ones asked for that the process needs descriptors for.
const SPARE_DESCRIPTORS: u64 = 32;
/// How often the progress bar is redrawn.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

/// The arguments of `weft bench`.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// The echo server's URL.
    #[arg(help = "The echo server's URL: ws://host[:port][/path][?query]")]
    url: String,

    /// Connections to open.
    #[arg(short, long, value_name = "N", default_value = "1", value_parser = parse_count)]
    connections: usize,

    /// Payload bytes per message; takes KiB and MiB suffixes.
    #[arg(short, long, value_name = "BYTES", default_value = "20", value_parser = parse_size)]
    size: usize,

    /// Send text messages (ASCII) instead of binary ones.
    #[arg(long)]
    text: bool,

    /// Send the lines of this file as text messages, in turn (each connection starting at a
    /// line of its own), instead of --size payloads; each echo must equal its line.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["size", "text"])]
    corpus: Option<std::path::PathBuf>,

    /// Messages in flight per connection: 1 waits for each echo before sending the next.
    #[arg(short, long, value_name = "N", default_value = "1", value_parser = parse_count)]
    window: usize,

    /// How long to send, in seconds (decimals allowed). [default: 10]
    #[arg(short, long, value_name = "SECS", value_parser = parse_secs, conflicts_with = "messages")]
    duration: Option<Duration>,

    /// Send this many messages in all (shared out between the connections), then stop.
    #[arg(short = 'n', long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    messages: Option<u64>,

    /// Hold N idle connections open instead (until --duration, the end of stdin, or Ctrl-C),
    /// to measure the server's memory per connection.
    #[arg(
        long,
        value_name = "N",
        value_parser = parse_count,
        conflicts_with_all = ["connections", "window", "messages"]
    )]
    idle: Option<usize>,

    /// With --idle: each connection first sends this many messages (and takes their
    /// echoes) before falling silent, so that the server's memory is read after use.
    #[arg(long, value_name = "N", requires = "idle")]
    exchange: Option<u64>,

    /// With --http2: spread the connections (each a WebSocket on its own stream) over this
    /// many HTTP/2 connections. A server refuses streams past its concurrent-stream limit
    /// (100 for weft serve), so give at least connections / 100. [default: 1]
    #[arg(long, value_name = "N", value_parser = parse_count, requires = "http2")]
    http2_connections: Option<usize>,

    /// Connections being opened at once, at most.
    #[arg(long, value_name = "N", default_value = "64", value_parser = parse_count)]
    connect_concurrency: usize,

    /// Threads running the connections (each with its own event loop; connection i on
    /// thread i mod N), to load a server on several cores.
    #[arg(long, value_name = "N", default_value = "1", value_parser = parse_count)]
    threads: usize,

    /// Offer permessage-deflate (off by default: measure the protocol, not zlib).
    #[arg(long, conflicts_with = "no_deflate")]
    deflate: bool,

    /// Print one JSON object with every figure instead of the text report.
    #[arg(long)]
    json: bool,

    /// No progress bar (it is also hidden when stderr is not a terminal).
    #[arg(short, long)]
    quiet: bool,

    #[command(flatten)]
    client: ClientArgs,
}

/// Runs the benchmark (or holds idle connections) and prints the report.
pub(crate) async fn run(args: BenchArgs) -> Result<(), Error> {
    let wanted = args.idle.unwrap_or(args.connections);
    let http2 = args
        .client
        .http2
        .then(|| args.http2_connections.unwrap_or(1));
    check_descriptors(http2.unwrap_or(wanted) as u64)?;
    let builder = builder(&args)?;
    let wire = Arc::new(WireCounts::default());
    let workers = Workers::start(args.threads)?;
    let opener = Opener {
        url: args.url.clone(),
        builder,
        http2,
        concurrency: args.connect_concurrency,
        wire: wire.clone(),
        workers: workers.handles.clone(),
    };
    let payloads = match &args.corpus {
        Some(path) => Arc::new(corpus(path)?),
        None => Arc::new(Payloads::new(args.size, args.text, args.window)),
    };
    let show_progress = !args.quiet && std::io::stderr().is_terminal();
    if let Some(connections) = args.idle {
        let idle = idle::Idle {
            url: args.url,
            connections,
            hold: args.duration,
            exchange: args.exchange.map(|messages| (messages, payloads)),
            json: args.json,
            show_progress,
        };
        return idle::run(idle, &opener).await;
    }
    let setup = Setup {
        url: args.url.clone(),
        connections: args.connections,
        size: payloads.mean_size(),
        text: args.text || args.corpus.is_some(),
        corpus: args.corpus.is_some(),
        window: args.window,
        deflate: args.deflate,
        http2_connections: http2,
    };
    let duration = match args.messages {
        Some(_) => None,
        None => Some(args.duration.unwrap_or(DEFAULT_DURATION)),
    };
    let report = load(
        &setup,
        &opener,
        payloads,
        args.messages,
        duration,
        show_progress,
    )
    .await?;
    // A run in which nothing came back measured nothing: the text report would only show
    // zeros, so the error line alone says what happened. Scripts still get their JSON line.
    if args.json {
        write_stdout_line(&report.to_json().to_string())?;
    } else if report.counts.echoed > 0 {
        write_stdout_line(report.render().trim_end())?;
    }
    verdict(&report)
}

/// The messages of `--corpus FILE`: its lines, which must be UTF-8.
fn corpus(path: &std::path::Path) -> Result<Payloads, Error> {
    let unreadable = |source| Error::ReadFile {
        path: path.to_owned(),
        source,
    };
    let text = std::fs::read_to_string(path).map_err(unreadable)?;
    Payloads::corpus(&text).ok_or_else(|| {
        unreadable(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "the corpus has no message (one per line)",
        ))
    })
}

/// The client builder: the shared client flags, no compression unless `--deflate`, and
/// limits that let echoes of `--size` through.
fn builder(args: &BenchArgs) -> Result<ClientBuilder, Error> {
    let defaults = Limits::default();
    let limits = defaults
        .clone()
        .max_message_size(defaults.get_max_message_size().max(args.size));
    Ok(args
        .client
        .builder(&args.url)?
        .deflate(DeflateConfig::default().enabled(args.deflate))
        .limits(args.client.limits(limits)))
}

/// Opens the connections, runs the load, and gathers what every connection counted.
async fn load(
    setup: &Setup,
    opener: &Opener,
    payloads: Arc<Payloads>,
    messages: Option<u64>,
    duration: Option<Duration>,
    show_progress: bool,
) -> Result<Report, Error> {
    let connecting = progress_bar(show_progress, setup.connections as u64, "connecting");
    let started = Instant::now();
    let sockets = opener.open(setup.connections, &connecting).await;
    connecting.finish_and_clear();
    let sockets = sockets?;
    let connect = started.elapsed();

    let shares = share(messages, setup.connections);
    let echoed = Arc::new(AtomicU64::new(0));
    let (stop_tx, stop_rx) = watch::channel(false);
    let progress = match (messages, duration) {
        (Some(total), _) => progress_bar(show_progress, total, "messages"),
        (None, Some(duration)) => progress_bar(
            show_progress,
            u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
            "ms",
        ),
        (None, None) => progress_bar(false, 0, ""),
    };

    let start = Instant::now();
    let mut tasks = JoinSet::new();
    let wire_before = (opener.wire.sent(), opener.wire.received());
    for (index, (ws, share)) in sockets.into_iter().zip(shares).enumerate() {
        let job = Job {
            messages: share,
            window: setup.window,
            payloads: payloads.clone(),
            first: first_message(index, setup.corpus),
        };
        tasks.spawn_on(
            load::drive(ws, job, stop_rx.clone(), echoed.clone()),
            opener.worker(index),
        );
    }

    let deadline = duration.map(|duration| tokio::time::Instant::from_std(start + duration));
    let mut stopped = false;
    // Once stopped, connections get this long to drain and close before they are dropped.
    let mut give_up = None;
    let mut ticker = tokio::time::interval(PROGRESS_INTERVAL);
    let mut outcomes = Vec::with_capacity(setup.connections);
    let mut abandoned = 0u64;
    loop {
        tokio::select! {
            joined = tasks.join_next() => match joined {
                Some(Ok(outcome)) => outcomes.push(outcome),
                Some(Err(_)) => abandoned += 1,
                None => break,
            },
            _ = ticker.tick() => {
                let done = echoed.load(Ordering::Relaxed);
                match messages {
                    Some(_) => progress.set_position(done),
                    None => progress.set_position(
                        u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
                    ),
                }
                let secs = start.elapsed().as_secs_f64();
                if secs > 0.0 {
                    progress.set_message(format!(
                        "{} echoed, {} msgs/s",
                        stats::thousands(done),
                        stats::whole(done as f64 / secs)
                    ));
                }
            }
            () = sleep_until(deadline), if !stopped => {
                stopped = true;
                let _ = stop_tx.send(true);
                give_up = Some(tokio::time::Instant::now() + load::DRAIN_TIMEOUT * 2);
            }
            () = ctrl_c(), if !stopped => {
                stopped = true;
                let _ = stop_tx.send(true);
                give_up = Some(tokio::time::Instant::now() + load::DRAIN_TIMEOUT * 2);
            }
            () = sleep_until(give_up), if give_up.is_some() => {
                abandoned += tasks.len() as u64;
                tasks.abort_all();
                break;
            }
        }
    }
    progress.finish_and_clear();
    let mut report = gather(setup.clone(), outcomes, abandoned, start, connect);
    report.wire = (
        opener.wire.sent() - wire_before.0,
        opener.wire.received() - wire_before.1,
    );
    Ok(report)
}

/// Where connection `index` starts in the payloads: connections of a corpus run start at
/// lines far apart, so that they do not all send the same message at once; generated
/// payloads are numbered per connection anyway.
fn first_message(index: usize, corpus: bool) -> u64 {
    if corpus { index as u64 * 7919 } else { 0 }
}

/// Adds up what the connections did. `abandoned` connections did not finish (they are
/// counted as failed; what they sent is unknown).
fn gather(
    setup: Setup,
    outcomes: Vec<Outcome>,
    abandoned: u64,
    start: Instant,
    connect: Duration,
) -> Report {
    let mut counts = Counts::default();
    let mut latency = latency_histogram();
    let mut last_echo = None;
    let mut first_error = None;
    for outcome in outcomes {
        counts.add(&outcome.counts);
        // Both histograms have the same bounds, so adding cannot fail.
        let _ = latency.add(&outcome.latency);
        last_echo = last_echo.max(outcome.last_echo);
        first_error = first_error.or(outcome.error);
    }
    counts.failed_connections += abandoned;
    if abandoned > 0 && first_error.is_none() {
        first_error = Some(format!("{abandoned} connection(s) did not finish in time"));
    }
    Report {
        setup,
        counts,
        elapsed: last_echo.map_or(Duration::ZERO, |last| last.duration_since(start)),
        connect,
        latency,
        first_error,
        wire: (0, 0),
    }
}

/// `Ok` if every message came back right; otherwise the error line.
fn verdict(report: &Report) -> Result<(), Error> {
    let counts = &report.counts;
    if counts.errors() == 0 && counts.lost() == 0 {
        return Ok(());
    }
    if counts.echoed == 0 {
        let why = report
            .first_error
            .as_deref()
            .map(|error| format!(": {error}"))
            .unwrap_or_default();
        return Err(Error::BenchFailed(format!("no echo came back{why}")));
    }
    let first = report
        .first_error
        .as_deref()
        .map(|error| format!(" (first: {error})"))
        .unwrap_or_default();
    Err(Error::BenchFailed(format!(
        "{} of {} echoes wrong, {} missing, {} of {} connections failed{first}",
        stats::thousands(counts.mismatched + counts.unexpected),
        stats::thousands(counts.echoed),
        stats::thousands(counts.lost()),
        stats::thousands(counts.failed_connections),
        stats::thousands(report.setup.connections as u64),
    )))
}

/// `total` messages shared out as evenly as possible; `None` for each when unlimited.
fn share(total: Option<u64>, connections: usize) -> Vec<Option<u64>> {
    let n = connections as u64;
    (0..n)
        .map(|i| total.map(|total| total / n + u64::from(i < total % n)))
        .collect()
}

/// How the bench opens its WebSockets: each on its own connection, or as streams spread over
/// a few HTTP/2 connections.
#[derive(Debug)]
pub(crate) struct Opener {
    /// The server's URL; over HTTP/2, its path and query name each WebSocket.
    pub(crate) url: String,
    pub(crate) builder: ClientBuilder,
    /// The number of HTTP/2 connections to spread the WebSockets over, with `--http2`.
    pub(crate) http2: Option<usize>,
    /// Handshakes in progress at once, at most.
    pub(crate) concurrency: usize,
    /// What every connection's frames took on the wire.
    pub(crate) wire: Arc<WireCounts>,
    /// The runtimes connections run on (`--threads`): connection i on `workers[i % len]`.
    pub(crate) workers: Vec<tokio::runtime::Handle>,
}

/// The runtimes of `--threads`: the calling one, and one more per extra thread, each a
/// current-thread runtime that runs until the bench ends.
#[derive(Debug)]
struct Workers {
    handles: Vec<tokio::runtime::Handle>,
    /// Dropped at the end: each extra thread's runtime then stops.
    _stops: Vec<tokio::sync::oneshot::Sender<()>>,
}

impl Workers {
    fn start(threads: usize) -> Result<Self, Error> {
        let mut handles = vec![tokio::runtime::Handle::current()];
        let mut stops = Vec::new();
        for index in 1..threads {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(Error::Runtime)?;
            handles.push(runtime.handle().clone());
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            std::thread::Builder::new()
                .name(format!("weft-bench-{index}"))
                .spawn(move || {
                    let _ = runtime.block_on(stopped);
                })
                .map_err(Error::Runtime)?;
            stops.push(stop);
        }
        Ok(Self {
            handles,
            _stops: stops,
        })
    }
}

/// A connection of the bench: its transport counts the bytes of its frames.
pub(crate) type BenchSocket = WebSocket<Wire<ClientStream>>;

impl Opener {
    /// Opens `count` WebSockets, at most `concurrency` handshakes at a time, ticking
    /// `progress` for each; the first failure stops it.
    pub(crate) async fn open(
        &self,
        count: usize,
        progress: &ProgressBar,
    ) -> Result<Vec<BenchSocket>, Error> {
        let mut http2 = Vec::new();
        for index in 0..self.http2.unwrap_or(0) {
            let connection = self
                .builder
                .clone()
                .connect_http2()
                .await
                .map_err(|source| Error::BenchConnect {
                    connection: index + 1,
                    of: count,
                    source,
                })?;
            http2.push(connection);
        }
        let path = self.path();
        let limit = Arc::new(Semaphore::new(self.concurrency));
        let mut tasks = JoinSet::new();
        let mut sockets: Vec<Option<BenchSocket>> = (0..count).map(|_| None).collect();
        let mut place = |joined: Result<(usize, Result<_, weft::client::Error>), _>| match joined {
            Ok((index, Ok((ws, _response)))) => {
                sockets[index] = Some(counted(ws, &self.wire));
                progress.inc(1);
                Ok(())
            }
            Ok((index, Err(source))) => Err(Error::BenchConnect {
                connection: index + 1,
                of: count,
                source,
            }),
            Err(_) => Err(Error::BenchFailed("a connection task panicked".to_owned())),
        };
        for index in 0..count {
            let Ok(permit) = limit.clone().acquire_owned().await else {
                unreachable!("the semaphore is never closed");
            };
            let builder = self.builder.clone();
            let stream_of = (!http2.is_empty()).then(|| http2[index % http2.len()].clone());
            let path = path.clone();
            tasks.spawn_on(
                async move {
                    let result = match stream_of {
                        Some(connection) => connection.connect(&path).await,
                        None => builder.connect().await,
                    };
                    drop(permit);
                    (index, result)
                },
                self.worker(index),
            );
            while let Some(joined) = tasks.try_join_next() {
                place(joined)?;
            }
        }
        while let Some(joined) = tasks.join_next().await {
            place(joined)?;
        }
        Ok(sockets.into_iter().flatten().collect())
    }

    /// The runtime connection `index` runs on.
    pub(crate) fn worker(&self, index: usize) -> &tokio::runtime::Handle {
        &self.workers[index % self.workers.len()]
    }

    /// The path and query of the URL, for WebSockets opened on an HTTP/2 connection.
    fn path(&self) -> String {
        self.url
            .parse::<http::Uri>()
            .ok()
            .and_then(|uri| uri.path_and_query().map(|path| path.as_str().to_owned()))
            .filter(|path| path.starts_with('/'))
            .unwrap_or_else(|| "/".to_owned())
    }
}

/// `ws` with its transport counting bytes into `wire` from now on (the handshake is done).
fn counted(ws: WebSocket<ClientStream>, wire: &Arc<WireCounts>) -> BenchSocket {
    let (io, conn) = ws.into_parts();
    WebSocket::from_parts(Wire::new(io, wire.clone()), conn, bytes::BytesMut::new())
}

/// A progress bar on stderr, or a hidden one.
pub(crate) fn progress_bar(show: bool, len: u64, unit: &str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    let template =
        format!("{{spinner}} {{elapsed:>4}} [{{bar:30}}] {{pos}}/{{len}} {unit} {{msg}}");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Fails early, with the fix, when the process may not open enough descriptors.
fn check_descriptors(connections: u64) -> Result<(), Error> {
    let Some(limit) = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| open_files_limit(&limits))
    else {
        return Ok(());
    };
    let needed = connections + SPARE_DESCRIPTORS;
    if needed > limit {
        return Err(Error::DescriptorLimit { needed, limit });
    }
    Ok(())
}

/// The soft "Max open files" limit from the text of `/proc/self/limits`.
fn open_files_limit(limits: &str) -> Option<u64> {
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Writes one line to stdout; a closed stdout is an error (the report is the point).
pub(crate) fn write_stdout_line(line: &str) -> Result<(), Error> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .map_err(Error::Stdout)
}

/// Completes at `deadline`; never without one.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Completes on Ctrl-C; never, if the handler cannot be installed.
pub(crate) async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// A positive count, for clap.
fn parse_count(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_owned()),
        Ok(count) => Ok(count),
        Err(_) => Err(format!("{text:?} is not a whole number")),
    }
}

/// Seconds, decimals allowed (`3`, `0.5`), for clap.
fn parse_secs(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if !(secs > 0.0 && secs.is_finite()) {
        return Err("must be more than 0 seconds".to_owned());
    }
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{text:?} is too long"))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: BenchArgs,
    }

    fn parse(args: &[&str]) -> Result<BenchArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("bench").chain(args.iter().copied()))
            .map(|cli| cli.args)
    }

    #[test]
    fn defaults_are_one_connection_of_20_byte_binary_messages() {
        let args = parse(&["ws://127.0.0.1:9001"]).unwrap();
        assert_eq!(args.connections, 1);
        assert_eq!(args.size, 20);
        assert_eq!(args.window, 1);
        assert!(!args.text && !args.deflate && !args.json && !args.quiet);
        assert_eq!(args.duration, None);
        assert_eq!(args.messages, None);
        assert_eq!(args.idle, None);
        assert_eq!(args.connect_concurrency, 64);
    }

    #[test]
    fn sizes_durations_and_counts_are_parsed() {
        let args = parse(&[
            "ws://h",
            "-c",
            "100",
            "--size",
            "64KiB",
            "--text",
            "--window",
            "64",
            "--duration",
            "2.5",
            "--deflate",
            "--json",
        ])
        .unwrap();
        assert_eq!(args.connections, 100);
        assert_eq!(args.size, 64 << 10);
        assert_eq!(args.window, 64);
        assert_eq!(args.duration, Some(Duration::from_millis(2500)));
        assert!(args.text && args.deflate && args.json);
        let args = parse(&["ws://h", "--messages", "200", "-s", "1MiB"]).unwrap();
        assert_eq!(args.messages, Some(200));
        assert_eq!(args.size, 1 << 20);
        let args = parse(&["ws://h", "--idle", "10000", "--duration", "30"]).unwrap();
        assert_eq!(args.idle, Some(10_000));
    }

    #[test]
    fn contradictions_and_nonsense_are_refused() {
        for bad in [
            &["ws://h", "--duration", "3", "--messages", "10"][..],
            &["ws://h", "--idle", "10", "--connections", "2"],
            &["ws://h", "--idle", "10", "--window", "2"],
            &["ws://h", "--deflate", "--no-deflate"],
            &["ws://h", "--connections", "0"],
            &["ws://h", "--window", "x"],
            &["ws://h", "--duration", "0"],
            &["ws://h", "--duration", "-1"],
            &["ws://h", "--messages", "0"],
            &["ws://h", "--size", "10MB"],
            &[],
        ] {
            assert!(parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn messages_are_shared_out_evenly() {
        assert_eq!(share(Some(200), 3), [Some(67), Some(67), Some(66)]);
        assert_eq!(share(Some(2), 3), [Some(1), Some(1), Some(0)]);
        assert_eq!(share(None, 2), [None, None]);
    }

    #[test]
    fn the_open_files_limit_is_read_from_proc() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
            Max processes             95421                95421                processes \n\
            Max open files            1024                 524288               files     \n";
        assert_eq!(open_files_limit(limits), Some(1024));
        assert_eq!(open_files_limit("nothing here"), None);
    }

    #[test]
    fn the_verdict_names_what_went_wrong() {
        let setup = Setup {
            url: "ws://h".to_owned(),
            connections: 2,
            size: 20,
            text: false,
            corpus: false,
            window: 1,
            deflate: false,
            http2_connections: None,
        };
        let report = |counts: Counts, first_error: Option<&str>| Report {
            setup: setup.clone(),
            counts,
            elapsed: Duration::from_secs(1),
            connect: Duration::ZERO,
            latency: latency_histogram(),
            first_error: first_error.map(str::to_owned),
            wire: (0, 0),
        };
        let clean = Counts {
            sent: 10,
            echoed: 10,
            ..Counts::default()
        };
        assert!(verdict(&report(clean, None)).is_ok());
        let broken = Counts {
            sent: 10,
            echoed: 8,
            mismatched: 1,
            failed_connections: 1,
            ..Counts::default()
        };
        let err = verdict(&report(broken, Some("connection failed: reset")))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "bench failed: 1 of 8 echoes wrong, 2 missing, 1 of 2 connections failed \
             (first: connection failed: reset)"
        );
        let nothing = Counts {
            sent: 1,
            failed_connections: 1,
            ..Counts::default()
        };
        let err = verdict(&report(
            nothing,
            Some("the server closed the connection with 1009 (message too big)"),
        ))
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "bench failed: no echo came back: the server closed the connection with 1009 \
             (message too big)"
        );
    }
}
