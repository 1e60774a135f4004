//! `weft serve`: an echo server, with a demo page at `/` that talks to it from a browser.

mod demo;

use std::io::Write;

use std::path::PathBuf;

use clap::Args;
use weft::server::{Accepted, ServerStream};
use weft::{Acceptor, DeflateConfig, Limits, Message, OriginPolicy, Server, TlsConfig, WebSocket};

use crate::error::{Error, describe};
use crate::size::parse_size;

/// `--help` examples.
pub(crate) const EXAMPLES: &str = "\
Examples:
  weft serve                      # ws://127.0.0.1:9001, demo page at http://127.0.0.1:9001/
  weft serve --listen 0.0.0.0:8080 --origin https://app.example
  weft serve --max-message-size 1MiB --subprotocol chat.v2 --subprotocol chat.v1
  weft serve --tls-cert cert.pem --tls-key key.pem   # wss:// and the page over https://

Every text and binary message is sent back unchanged. Ctrl-C (or SIGTERM) closes every
connection with 1001 and stops.";

/// The arguments of `weft serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The address to listen on; port 0 picks a free port (the banner shows which).
    #[arg(short, long, value_name = "ADDR", default_value = "127.0.0.1:9001")]
    listen: String,

    /// The largest message (and frame) accepted, in bytes; takes KiB, MiB and GiB suffixes.
    /// [default: 64MiB messages, 16MiB frames]
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

    /// Serve wss:// (and the demo page over https://) with this PEM certificate chain.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,

    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,

    /// Do not log connections to stderr.
    #[arg(short, long)]
    quiet: bool,
}

impl ServeArgs {
    /// How upgrade requests are accepted.
    fn acceptor(&self) -> Result<Acceptor, Error> {
        let mut limits = Limits::default();
        if let Some(max) = self.max_message_size {
            limits = limits.max_message_size(max).max_frame_size(max);
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
            .deflate(DeflateConfig::default().enabled(!self.no_deflate));
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

/// Serves until Ctrl-C or SIGTERM, then shuts down gracefully.
pub(crate) async fn run(args: ServeArgs) -> Result<(), Error> {
    let server = Server::builder()
        .acceptor(args.acceptor()?)
        .http(|request| async move { demo::respond(&request) })
        .bind(args.listen.as_str())
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

    let shutdown = server.shutdown_handle();
    tokio::spawn(async move {
        signal.wait().await;
        eprintln!("weft: shutting down");
        shutdown.shutdown();
    });
    let quiet = args.quiet;
    server
        .serve(move |ws, accepted| echo(ws, accepted, quiet))
        .await
        .map_err(Error::Serve)?;
    eprintln!("weft: stopped");
    Ok(())
}

/// Sends every text and binary message back, and reads until the stream ends so that closes
/// complete.
async fn echo(mut ws: WebSocket<ServerStream>, accepted: Accepted, quiet: bool) {
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
    let mut close = None;
    let mut failure = None;
    while let Some(message) = ws.next().await {
        match message {
            // Once a close frame went out (at shutdown), data that was already on its way is
            // not answered.
            Ok(message @ (Message::Text(_) | Message::Binary(_))) if ws.connection().can_send() => {
                // `feed` queues the echo; everything queued goes out in one write when the
                // socket next waits for input, however many messages one read brought. A
                // failed write fails the connection; the next read ends the stream.
                if let Err(err) = ws.feed(message).await {
                    failure.get_or_insert(err);
                }
            }
            Ok(Message::Close(frame)) => close = Some(frame),
            Ok(_) => {}
            Err(err) => {
                failure.get_or_insert(err);
            }
        }
    }
    if quiet {
        return;
    }
    match (failure, close) {
        (Some(err), _) => eprintln!("weft: {peer} failed: {}", describe(&err)),
        (None, Some(Some(frame))) => eprintln!("weft: {peer} closed with {}", frame.code()),
        (None, _) => eprintln!("weft: {peer} closed"),
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
