//! weft's echo server for `cargo xtask bench --compare`: `weft::Server`, no permessage-deflate
//! unless asked, 64 MiB message and frame limits, every text and binary message sent back as it
//! came.
//!
//! ```sh
//! cargo run --release -p weft-benches --example echo_weft -- 127.0.0.1:9101
//! ```
//!
//! Like the other `echo_*` examples: the listen address is the first argument (port 0 picks
//! one), `listening on ADDR` is printed once bound, and the runtime is tokio's
//! `current_thread`, so the server uses one core whatever the machine has.
//!
//! Flags after the address:
//!
//! - `--send`: echo with `send` (a write and flush per message, the loop the other servers
//!   use) instead of `feed` (one write per batch of input): the comparison's `weft-send`.
//! - `--no-keepalive`: weft's keepalive pings off (`Config::ping_interval` `None`): the other
//!   servers have none, and `--servers weft,weft-no-keepalive,…` shows what the timer costs.
//! - `--deflate`: accept permessage-deflate with `DeflateConfig::default()`; `--deflate=SPEC`
//!   with other settings, for the comparison's frontier of CPU against bytes: a
//!   comma-separated list of `level=N` (0–9), `memory=N` (zlib memory level, 1–9),
//!   `window=BITS` (our compressor's window, 8–15), `client-window=BITS` (the client's),
//!   `server-no-takeover`, `client-no-takeover`, `low-memory` (`DeflateConfig::low_memory`).
//! - `--tls CERT KEY`: `wss://` with the rustls settings every comparison server shares
//!   (`weft_benches::tls`).
//! - `--subscriber-info`, `--subscriber-debug` (built with the `tracing` feature): a `fmt`
//!   subscriber writing to nowhere, at `INFO` (weft's spans and events left out) or `DEBUG`
//!   (taken in): what weft's tracing costs an application that has a subscriber
//!   (benches/README.md, "What tracing costs").

use std::sync::Arc;

use weft::{Acceptor, Config, DeflateConfig, Limits, Message, Server, TlsConfig};
use weft_benches::EchoArgs;

/// The largest message and frame accepted, the same for every comparison server.
const MAX_MESSAGE: usize = 64 << 20;

fn main() -> std::io::Result<()> {
    let args = EchoArgs::from_env(
        "127.0.0.1:9101",
        &[
            "--no-keepalive",
            "--send",
            "--deflate",
            "--deflate=",
            "--subscriber-info",
            "--subscriber-debug",
        ],
    )?;
    #[cfg(feature = "tracing")]
    let _subscriber = subscriber(&args);
    #[cfg(not(feature = "tracing"))]
    if args.has_flag("--subscriber-info") || args.has_flag("--subscriber-debug") {
        return Err(std::io::Error::other(
            "--subscriber-info and --subscriber-debug need the tracing feature \
             (cargo build --release -p weft-benches --example echo_weft --features tracing)",
        ));
    }
    let config = if args.has_flag("--no-keepalive") {
        Config::default().ping_interval(None)
    } else {
        Config::default()
    };
    let deflate = match args.value("--deflate=") {
        Some(spec) => deflate_config(spec).map_err(std::io::Error::other)?,
        None => DeflateConfig::default().enabled(args.has_flag("--deflate")),
    };
    let send = args.has_flag("--send");
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(serve(&args.addr, config, deflate, send, args.tls))
}

/// `--deflate=SPEC`: settings on top of `DeflateConfig::default()`.
fn deflate_config(spec: &str) -> Result<DeflateConfig, String> {
    let mut config = DeflateConfig::default();
    for item in spec.split(',').filter(|item| !item.is_empty()) {
        let number = |value: &str| {
            value
                .parse::<u8>()
                .map_err(|_| format!("--deflate: `{item}` needs a number"))
        };
        config = match item.split_once('=') {
            Some(("level", value)) => config.compression_level(u32::from(number(value)?)),
            Some(("memory", value)) => config.memory_level(number(value)?),
            Some(("window", value)) => config.server_max_window_bits(number(value)?),
            Some(("client-window", value)) => config.client_max_window_bits(number(value)?),
            None if item == "server-no-takeover" => config.server_no_context_takeover(true),
            None if item == "client-no-takeover" => config.client_no_context_takeover(true),
            None if item == "low-memory" => DeflateConfig::low_memory(),
            _ => return Err(format!("--deflate: unknown setting `{item}`")),
        };
    }
    Ok(config)
}

/// The subscriber the flags ask for, installed for this (the runtime's only) thread.
#[cfg(feature = "tracing")]
fn subscriber(args: &EchoArgs) -> Option<tracing::subscriber::DefaultGuard> {
    use tracing_subscriber::filter::LevelFilter;

    let level = if args.has_flag("--subscriber-debug") {
        LevelFilter::DEBUG
    } else if args.has_flag("--subscriber-info") {
        LevelFilter::INFO
    } else {
        return None;
    };
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::sink)
        .finish();
    Some(tracing::subscriber::set_default(subscriber))
}

async fn serve(
    addr: &str,
    config: Config,
    deflate: DeflateConfig,
    send: bool,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> std::io::Result<()> {
    let mut acceptor = Acceptor::builder()
        .limits(
            Limits::default()
                .max_message_size(MAX_MESSAGE)
                .max_frame_size(MAX_MESSAGE),
        )
        .deflate(deflate)
        .config(config);
    if let Some(tls) = tls {
        acceptor = acceptor.tls(TlsConfig::from_rustls(tls));
    }
    let acceptor = acceptor.build().map_err(std::io::Error::other)?;
    let server = Server::builder()
        .acceptor(acceptor)
        // The idle-memory scenario opens 10,000 connections; the cap must not refuse any.
        .max_connections(1_000_000)
        .bind(addr)
        .await?;
    println!("listening on {}", server.local_addr()?);
    server
        .serve(move |mut ws, _accepted| async move {
            // `next` answers pings and completes the closing handshake; read until it ends.
            // `feed` queues each echo without a write of its own: what is queued goes out in
            // one write when the socket next waits for input, however many messages one read
            // brought (weft's idiom for echo and relay loops). `send` writes and flushes each
            // echo before reading on, as the other servers do.
            while let Some(message) = ws.next().await {
                if let Ok(message @ (Message::Text(_) | Message::Binary(_))) = message {
                    let written = if send {
                        ws.send(message).await
                    } else {
                        ws.feed(message).await
                    };
                    if written.is_err() {
                        break;
                    }
                }
            }
        })
        .await
}
