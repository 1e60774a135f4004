//! weft's echo server for `cargo xtask bench --compare`: `weft::Server`, no permessage-deflate,
//! 64 MiB message and frame limits, every text and binary message sent back as it came.
//!
//! ```sh
//! cargo run --release -p weft-benches --example echo_weft -- 127.0.0.1:9101
//! ```
//!
//! Like the other `echo_*` examples: the listen address is the first argument (port 0 picks
//! one), `listening on ADDR` is printed once bound, and the runtime is tokio's
//! `current_thread`, so the server uses one core whatever the machine has.
//!
//! `--no-keepalive` after the address turns weft's keepalive pings off (`Config::ping_interval`
//! `None`): the other servers have none, and `cargo xtask bench --compare --servers
//! weft,weft-no-keepalive,…` shows what the timer costs. `--tls CERT KEY` serves `wss://` with
//! the rustls settings every comparison server shares (`weft_benches::tls`).
//!
//! Built with the `tracing` feature, `--subscriber-info` or `--subscriber-debug` installs a
//! `fmt` subscriber writing to nowhere, at `INFO` (weft's spans and events left out) or
//! `DEBUG` (taken in): what weft's tracing costs an application that has a subscriber
//! (benches/README.md, "What tracing costs").

use std::sync::Arc;

use weft::{Acceptor, Config, DeflateConfig, Limits, Message, Server, TlsConfig};
use weft_benches::EchoArgs;

/// The largest message and frame accepted, the same for every comparison server.
const MAX_MESSAGE: usize = 64 << 20;

fn main() -> std::io::Result<()> {
    let args = EchoArgs::from_env(
        "127.0.0.1:9101",
        &["--no-keepalive", "--subscriber-info", "--subscriber-debug"],
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
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(serve(&args.addr, config, args.tls))
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
    tls: Option<Arc<rustls::ServerConfig>>,
) -> std::io::Result<()> {
    let mut acceptor = Acceptor::builder()
        .limits(
            Limits::default()
                .max_message_size(MAX_MESSAGE)
                .max_frame_size(MAX_MESSAGE),
        )
        .deflate(DeflateConfig::default().enabled(false))
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
        .serve(|mut ws, _accepted| async move {
            // `next` answers pings and completes the closing handshake; read until it ends.
            // `feed` queues each echo without a write of its own: what is queued goes out in
            // one write when the socket next waits for input, however many messages one read
            // brought (weft's idiom for echo and relay loops).
            while let Some(message) = ws.next().await {
                if let Ok(message @ (Message::Text(_) | Message::Binary(_))) = message
                    && ws.feed(message).await.is_err()
                {
                    break;
                }
            }
        })
        .await
}
