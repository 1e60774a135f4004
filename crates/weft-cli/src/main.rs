//! `weft`: a WebSocket echo server with a demo page, and a command-line client.
//!
//! ```text
//! weft serve [--listen 127.0.0.1:9001]     echo server; demo page at http://127.0.0.1:9001/
//! weft connect ws://127.0.0.1:9001         stdin lines out, messages in
//! weft bench ws://127.0.0.1:9001 -c 10      load an echo server: msgs/s, MB/s, latency
//! ```
//!
//! Each subcommand is a module with its arguments (a clap `Args` struct) and a `run` function;
//! options that several subcommands share live in their own module ([`client`] for
//! everything that opens a connection).
#![forbid(unsafe_code)]

mod bench;
mod client;
mod connect;
mod error;
mod serve;
mod size;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::error::Error;

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "weft",
    version,
    about = "WebSocket (RFC 6455) echo server and client",
    after_help = "Examples:\n  \
        weft serve                          # echo server and demo page on 127.0.0.1:9001\n  \
        weft connect ws://127.0.0.1:9001    # type lines, see the echoes\n  \
        weft bench ws://127.0.0.1:9001      # load it: msgs/s, MB/s, latency"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Run an echo server with a demo page at `/`.
    #[command(after_help = serve::EXAMPLES)]
    Serve(serve::ServeArgs),
    /// Connect to a WebSocket server: send stdin lines, print what arrives.
    #[command(after_help = connect::EXAMPLES)]
    Connect(connect::ConnectArgs),
    /// Load an echo server: messages/s, MB/s and round-trip latency over N connections.
    #[command(after_help = bench::EXAMPLES)]
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One write, so that the lines of several processes sharing a terminal or a log do
            // not interleave.
            let line = format!("weft: {err}\n");
            let _ = std::io::stderr().write_all(line.as_bytes());
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), Error> {
    // A current-thread runtime: it runs ready tasks in the order they woke, so thousands of
    // connections each get their turn (tokio's multi-thread runtime let some wait hundreds of
    // milliseconds). `serve` and `bench` start more of them, one per thread, for more cores.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Connect(args) => connect::run(args).await,
            Command::Bench(args) => bench::run(args).await,
        }
    })
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
