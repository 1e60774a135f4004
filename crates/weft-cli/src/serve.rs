//! `weft serve`: an echo server, with a demo page at `/` that talks to it from a browser.

mod demo;
mod room;

use std::io::Write;

use std::path::PathBuf;

use clap::Args;
use weft::server::{Accepted, ServerStream};
use weft::{
    Acceptor, CloseCode, CloseFrame, DeflateConfig, Limits, Message, OriginPolicy, Server,
    TlsConfig, WebSocket,
};

use crate::error::{Error, describe};
use crate::size::parse_size;

/// `--help` examples.
pub(crate) const EXAMPLES: &str = "\
Examples:
  weft serve                      # ws://127.0.0.1:9001, demo page at http://127.0.0.1:9001/
  weft serve --listen 0.0.0.0:8080 --origin https://app.example
  weft serve --max-message-size 1MiB --subprotocol chat.v2 --subprotocol chat.v1
  weft serve --tls-cert cert.pem --tls-key key.pem   # wss:// and the page over https://
  weft serve --broadcast                            # a chat room: open the page in two tabs
  weft serve --broadcast --redis redis://127.0.0.1:6379 --listen 127.0.0.1:9002
                                  # one room across every weft serve on that Redis
  weft serve --threads 1          # one core (the default: one thread per core)

Every text and binary message is sent back unchanged, or with --broadcast to every client of
the room. Ctrl-C (or SIGTERM) closes every connection with 1001, stops, and prints the
server's counters (connections, refusals, closes by code, limits broken, bytes) to stderr.";

/// The arguments of `weft serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The address to listen on; port 0 picks a free port (the banner shows which).
    #[arg(short, long, value_name = "ADDR", default_value = "127.0.0.1:9001")]
    listen: String,

    /// The largest message accepted, in bytes, however it is framed or compressed; takes KiB,
    /// MiB and GiB suffixes. [default: 64MiB]
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    max_message_size: Option<usize>,

    /// A subprotocol the server speaks (repeatable, in order of preference).
    #[arg(long = "subprotocol", value_name = "NAME")]
    subprotocols: Vec<String>,

    /// An origin allowed to connect (repeatable). [default: any]
    #[arg(
        long = "origin",
        value_name = "ORIGIN",
        help = "An origin allowed to connect (repeatable), e.g. https://app.example [default: any]"
    )]
    origins: Vec<String>,

    /// Do not accept permessage-deflate compression.
    #[arg(long)]
    no_deflate: bool,

    /// Compress without keeping context between messages, in either direction: about 1 KiB
    /// per connection instead of up to 320 KiB while busy, at a worse ratio.
    #[arg(long, conflicts_with = "no_deflate")]
    deflate_low_memory: bool,

    /// The most connections served at once; more are answered 503.
    /// [default: the file-descriptor limit, raised to the hard limit, less a reserve]
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,

    /// Serve wss:// (and the demo page over https://) with this PEM certificate chain.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,

    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,

    /// A chat room instead of an echo: every message a client sends goes to every client
    /// (the sender too), in one order. A client that falls 4 MiB behind is closed with 1013.
    #[arg(long)]
    broadcast: bool,

    /// With --broadcast: one room across every `weft serve --broadcast` that uses this Redis
    /// (redis://[user:password@]host[:port][/db]; Redis 6 or later).
    #[arg(long, value_name = "URL", requires = "broadcast")]
    redis: Option<String>,

    /// Threads serving connections, each with its own event loop and its own listener on the
    /// port; a connection stays on the thread that accepted it. [default: one per core]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,

    /// Do not log connections to stderr.
    #[arg(short, long)]
    quiet: bool,
}

impl ServeArgs {
    /// permessage-deflate as the flags ask. A room's message is compressed once for every
    /// member when the server keeps no compression context between messages; with context,
    /// once per member.
    fn deflate_config(&self) -> DeflateConfig {
        let config = if self.deflate_low_memory {
            DeflateConfig::low_memory()
        } else {
            DeflateConfig::default().server_no_context_takeover(self.broadcast)
        };
        config.enabled(!self.no_deflate)
    }

    /// How upgrade requests are accepted.
    fn acceptor(&self) -> Result<Acceptor, Error> {
        let mut limits = Limits::default();
        if let Some(max) = self.max_message_size {
            limits = limits.max_message_size(max);
        }
        let origins = if self.origins.is_empty() {
            OriginPolicy::Any
        } else {
            OriginPolicy::allow_list(self.origins.iter().cloned())
        };
        let mut builder = Acceptor::builder()
            .protocols(self.subprotocols.iter().cloned())
            .origin_policy(origins)
            .limits(limits)
            .deflate(self.deflate_config());
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            let tls = TlsConfig::from_pem_files(cert, key).map_err(|err| Error::Tls {
                path: cert.clone(),
                reason: err.to_string(),
            })?;
            builder = builder.tls(tls);
        }
        builder.build().map_err(Error::ServerSettings)
    }
}

/// Serves until Ctrl-C or SIGTERM, then shuts down gracefully: on `--threads` threads, each
/// running a current-thread runtime with its own listener (the calling runtime, which must be
/// a current-thread one, is the first; see `weft_server::ServerThreads` for why not tokio's
/// multi-thread runtime).
pub(crate) async fn run(args: ServeArgs) -> Result<(), Error> {
    let acceptor = args.acceptor()?;
    let room = if args.broadcast {
        let max_message_size = args
            .max_message_size
            .unwrap_or_else(|| Limits::default().get_max_message_size());
        Some(room::Room::open(args.redis.as_deref(), max_message_size, args.quiet).await?)
    } else {
        None
    };
    let page = demo::page(room.is_some());
    let threads = args.threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, usize::from),
        usize::from,
    );
    let mut builder = Server::builder();
    if let Some(max) = args.max_connections {
        builder = builder.max_connections(max);
    }
    let server = builder
        .acceptor(acceptor)
        .http(move |request| {
            let response = demo::respond(&request, &page);
            async move { response }
        })
        .bind_threads(args.listen.as_str(), threads)
        .await
        .map_err(|source| Error::Bind {
            addr: args.listen.clone(),
            source,
        })?;
    let addr = server.local_addr().map_err(Error::Serve)?;
    let signal = ShutdownSignal::install();
    // The banner is how scripts learn the port; a closed stdout must not stop the server.
    let mut stdout = std::io::stdout().lock();
    let (ws, http) = if args.tls_cert.is_some() {
        ("wss", "https")
    } else {
        ("ws", "http")
    };
    let _ = writeln!(
        stdout,
        "weft: listening on {ws}://{addr} (demo page: {http}://{addr}/)"
    );
    let _ = stdout.flush();
    drop(stdout);
    eprintln!(
        "weft: serving up to {} connections at once",
        server.max_connections()
    );

    let shutdown = server.shutdown_handle();
    tokio::spawn(async move {
        signal.wait().await;
        eprintln!("weft: shutting down");
        shutdown.shutdown();
    });
    let quiet = args.quiet;
    let stats = server.stats();
    match room {
        Some(room) => {
            if !quiet {
                let across = args
                    .redis
                    .as_deref()
                    .map(|url| format!(", with every weft serve on {}", redact(url)))
                    .unwrap_or_default();
                eprintln!("weft: broadcasting: every message goes to every client{across}");
            }
            server
                .serve(move |ws, accepted| room.clone().member(ws, accepted, quiet))
                .await
        }
        None => {
            server
                .serve(move |ws, accepted| echo(ws, accepted, quiet))
                .await
        }
    }
    .map_err(Error::Serve)?;
    eprintln!("weft: stopped");
    for line in stats.snapshot().to_string().lines() {
        eprintln!("weft: {line}");
    }
    Ok(())
}

/// Sends every text and binary message back, and reads until the stream ends so that closes
/// complete.
///
/// Not an `async fn`: the connection's future would hold the handshake's request and response
/// (and, as `async fn` arguments are laid out, a second copy of the WebSocket) for the whole
/// life of the connection, 1.5 KiB of an idle connection's memory. They are read here, before
/// the future is made, and the future captures only the WebSocket and the log's state.
fn echo(
    mut ws: WebSocket<ServerStream>,
    accepted: Accepted,
    quiet: bool,
) -> impl Future<Output = ()> {
    let mut session = Session::start(&ws, &accepted, quiet);
    drop(accepted);
    async move {
        while let Some(message) = ws.next().await {
            match message {
                // Once a close frame went out (at shutdown), data that was already on its way
                // is not answered.
                Ok(message @ (Message::Text(_) | Message::Binary(_)))
                    if ws.connection().can_send() =>
                {
                    // `feed` queues the echo; everything queued goes out in one write when the
                    // socket next waits for input, however many messages one read brought. A
                    // failed write fails the connection; the next read ends the stream.
                    if let Err(err) = ws.feed(message).await {
                        session.note(Err(err));
                    }
                }
                other => session.note(other),
            }
        }
        report(session);
    }
}

/// One connection as the log tells it: who connected, and how it ended.
struct Session {
    peer: String,
    quiet: bool,
    /// The client's close frame, once it came.
    close: Option<Option<CloseFrame>>,
    /// The first error.
    failure: Option<weft::Error>,
    /// Closed by the server for falling behind (`--broadcast`), with this code.
    slow: Option<CloseCode>,
}

impl Session {
    /// Logs the connection (unless `quiet`).
    fn start(ws: &WebSocket<ServerStream>, accepted: &Accepted, quiet: bool) -> Self {
        let peer = ws
            .get_ref()
            .peer_addr()
            .map_or_else(|_| "a client".to_owned(), |addr| addr.to_string());
        if !quiet {
            let protocol = accepted
                .protocol
                .as_deref()
                .map(|protocol| format!(" (subprotocol {protocol})"))
                .unwrap_or_default();
            let over = match accepted.http_version() {
                http::Version::HTTP_2 => " over HTTP/2",
                _ => "",
            };
            eprintln!(
                "weft: {peer} connected to {}{over}{protocol}",
                accepted.request.uri().path()
            );
        }
        Self {
            peer,
            quiet,
            close: None,
            failure: None,
            slow: None,
        }
    }

    /// Notes what the connection handed out: a close frame or an error (the first one counts).
    fn note(&mut self, event: Result<Message, weft::Error>) {
        match event {
            Ok(Message::Close(frame)) => self.close = Some(frame),
            Ok(_) => {}
            Err(err) => {
                self.failure.get_or_insert(err);
            }
        }
    }

    /// Notes that the server closed the connection for falling behind.
    fn note_slow(&mut self, code: CloseCode) {
        self.slow = Some(code);
    }
}

/// Logs how the connection ended (unless quiet).
fn report(session: Session) {
    if session.quiet {
        return;
    }
    let peer = &session.peer;
    match (session.slow, session.failure, session.close) {
        (Some(code), _, _) => eprintln!("weft: {peer} fell too far behind; closed with {code}"),
        (None, Some(err), _) => eprintln!("weft: {peer} failed: {}", describe(&err)),
        (None, None, Some(Some(frame))) => {
            eprintln!("weft: {peer} closed with {}", frame.code());
        }
        (None, None, _) => eprintln!("weft: {peer} closed"),
    }
}

/// `url` without the password it may hold, for the log.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// Ctrl-C, or SIGTERM on Unix, installed before the banner is printed so that a signal sent as
/// soon as the port is known shuts down gracefully instead of killing the process.
struct ShutdownSignal {
    #[cfg(unix)]
    signals: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
    #[cfg(windows)]
    ctrl_c: Option<tokio::signal::windows::CtrlC>,
}

impl ShutdownSignal {
    /// Installs the handlers; if that fails, the signals keep their default effect.
    fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let signals = signal(SignalKind::interrupt())
                .and_then(|interrupt| Ok((interrupt, signal(SignalKind::terminate())?)));
            Self {
                signals: signals.ok(),
            }
        }
        #[cfg(windows)]
        {
            Self {
                ctrl_c: tokio::signal::windows::ctrl_c().ok(),
            }
        }
        #[cfg(not(any(unix, windows)))]
        {
            Self {}
        }
    }

    /// Completes when a signal arrives; never, if the handlers could not be installed.
    async fn wait(self) {
        #[cfg(unix)]
        if let Some((mut interrupt, mut terminate)) = self.signals {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
        #[cfg(windows)]
        if let Some(mut ctrl_c) = self.ctrl_c {
            ctrl_c.recv().await;
            return;
        }
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
mod tests {
    use super::redact;
    use clap::Parser;

    #[derive(Parser)]
    struct Command {
        #[command(flatten)]
        serve: super::ServeArgs,
    }

    fn deflate(args: &[&str]) -> weft::DeflateConfig {
        let argv = std::iter::once("serve").chain(args.iter().copied());
        Command::try_parse_from(argv)
            .expect("valid arguments")
            .serve
            .deflate_config()
    }

    #[test]
    fn deflate_flags_choose_the_configuration() {
        let default = deflate(&[]);
        assert!(default.get_enabled() && !default.get_server_no_context_takeover());
        assert!(deflate(&["--broadcast"]).get_server_no_context_takeover());
        let low = deflate(&["--deflate-low-memory"]);
        assert!(low.get_server_no_context_takeover() && low.get_client_no_context_takeover());
        assert!(!deflate(&["--no-deflate"]).get_enabled());
        let both = ["serve", "--no-deflate", "--deflate-low-memory"];
        assert!(Command::try_parse_from(both).is_err());
    }

    #[test]
    fn a_redis_password_never_reaches_the_log() {
        assert_eq!(redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        assert_eq!(
            redact("redis://user:secret@redis.example:6379/2"),
            "redis://***@redis.example:6379/2"
        );
        assert_eq!(redact("redis://:p@ss@host"), "redis://***@host");
        assert_eq!(redact("not a url"), "not a url");
    }
}
