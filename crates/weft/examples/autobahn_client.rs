//! The client under test for Autobahn|Testsuite (`wstest -m fuzzingserver`, run by
//! `cargo xtask autobahn --client`).
//!
//! ```sh
//! cargo run --release -p weft --example autobahn_client -- ws://127.0.0.1:9001
//! ```
//!
//! It asks `/getCaseCount` for the number of cases N, runs each case `/runCase?case=I` for I in
//! 1..=N by echoing every message back (text as text, binary as binary) until the server
//! closes, and finally asks `/updateReports` to write the reports. A case that fails is
//! reported on stderr and the next one runs. Messages and frames may be up to 64 MiB.

use std::error::Error;

use weft::client::ClientStream;
use weft::{ClientBuilder, Limits, Message, WebSocket};

/// The agent name in the reports.
const AGENT: &str = "weft";

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let base = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ws://127.0.0.1:9001".to_owned());
    let base = base.trim_end_matches('/');

    let count = case_count(base).await?;
    eprintln!("autobahn_client: {count} cases");
    for case in 1..=count {
        let url = format!("{base}/runCase?case={case}&agent={AGENT}");
        if let Err(err) = echo_case(&url).await {
            eprintln!("autobahn_client: case {case}: {err}");
        }
    }

    let mut ws = open(&format!("{base}/updateReports?agent={AGENT}")).await?;
    while let Some(message) = ws.next().await {
        message?;
    }
    eprintln!("autobahn_client: reports updated");
    Ok(())
}

/// Opens a connection with the suite's limits.
async fn open(url: &str) -> Result<WebSocket<ClientStream>, weft::client::Error> {
    let limits = Limits::default()
        .max_message_size(64 << 20)
        .max_frame_size(64 << 20);
    let (ws, _response) = ClientBuilder::new(url).limits(limits).connect().await?;
    Ok(ws)
}

/// Reads the number of cases: the first text message on `/getCaseCount`.
async fn case_count(base: &str) -> Result<u32, Box<dyn Error>> {
    let mut ws = open(&format!("{base}/getCaseCount")).await?;
    let mut count = None;
    // Read to the end, so that the server's close completes.
    while let Some(message) = ws.next().await {
        match message {
            Ok(Message::Text(text)) if count.is_none() => {
                count = Some(text.trim().parse::<u32>().map_err(|err| {
                    format!("case count {:?} is not a number: {err}", text.as_str())
                })?);
            }
            Ok(_) => {}
            Err(err) if count.is_none() => return Err(err.into()),
            Err(_) => {}
        }
    }
    count.ok_or_else(|| "the server closed without sending the case count".into())
}

/// Runs one case: echoes every data message until the stream ends. Returns the first error,
/// after the connection has ended (many cases end with a protocol error on purpose).
async fn echo_case(url: &str) -> Result<(), Box<dyn Error>> {
    let mut ws = open(url).await?;
    let mut first_error = None;
    // Read until the stream ends, errors included: the connection has then queued the close
    // frame the error calls for, and reading completes the closing handshake.
    while let Some(message) = ws.next().await {
        match message {
            Ok(message @ (Message::Text(_) | Message::Binary(_))) => {
                if let Err(err) = ws.send(message).await {
                    first_error.get_or_insert(err);
                }
            }
            Ok(_) => {}
            Err(err) => {
                first_error.get_or_insert(err);
            }
        }
    }
    match first_error {
        Some(err) => Err(err.into()),
        None => Ok(()),
    }
}
