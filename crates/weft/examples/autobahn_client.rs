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

use weft::{ClientBuilder, Limits, Message};

/// The agent name in the reports.
const AGENT: &str = "weft";

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let base = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ws://127.0.0.1:9001".to_owned());
    let base = base.trim_end_matches('/');

    let (count, ended) = run(&format!("{base}/getCaseCount"), Echo::No).await?;
    let count = match (count, ended) {
        (Some(text), _) => text
            .trim()
            .parse::<u32>()
            .map_err(|err| format!("case count {text:?} is not a number: {err}"))?,
        (None, Err(err)) => return Err(err.into()),
        (None, Ok(())) => return Err("the server closed without sending the case count".into()),
    };
    eprintln!("autobahn_client: {count} cases");
    for case in 1..=count {
        let url = format!("{base}/runCase?case={case}&agent={AGENT}");
        let failure = match run(&url, Echo::Yes).await {
            Ok((_, ended)) => ended.err().map(Box::<dyn Error>::from),
            Err(err) => Some(err.into()),
        };
        if let Some(err) = failure {
            eprintln!("autobahn_client: case {case}: {err}");
        }
    }

    run(&format!("{base}/updateReports?agent={AGENT}"), Echo::No)
        .await?
        .1?;
    eprintln!("autobahn_client: reports updated");
    Ok(())
}

/// Whether [`run`] sends data messages back.
#[derive(Clone, Copy, PartialEq)]
enum Echo {
    Yes,
    No,
}

/// Connects to `url` and reads until the stream ends, echoing every text and binary message
/// back (same kind) if asked. Returns the first text message, and how the connection ended:
/// the first error, unless the server's close frame came before it (wstest drops the
/// connection right after the closing handshake; a reset then is no failure).
async fn run(
    url: &str,
    echo: Echo,
) -> Result<(Option<String>, Result<(), weft::Error>), weft::client::Error> {
    let limits = Limits::default()
        .max_message_size(64 << 20)
        .max_frame_size(64 << 20);
    let (mut ws, _response) = ClientBuilder::new(url).limits(limits).connect().await?;
    let mut first_text = None;
    let mut ended = None;
    // Read until the stream ends, errors included: after an error the connection has queued
    // the close frame it calls for, and reading completes the closing handshake.
    while let Some(message) = ws.next().await {
        match message {
            Ok(message @ (Message::Text(_) | Message::Binary(_))) => {
                if let (None, Some(text)) = (&first_text, message.as_text()) {
                    first_text = Some(text.to_owned());
                }
                if echo == Echo::Yes
                    && let Err(err) = ws.send(message).await
                {
                    ended.get_or_insert(Err(err));
                }
            }
            Ok(Message::Close(_)) => {
                ended.get_or_insert(Ok(()));
            }
            Ok(_) => {}
            Err(err) => {
                ended.get_or_insert(Err(err));
            }
        }
    }
    Ok((first_text, ended.unwrap_or(Ok(()))))
}
