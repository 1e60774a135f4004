//! The server under test for Autobahn|Testsuite (`wstest -m fuzzingclient`, run by
//! `cargo xtask autobahn --server`): echoes text as text and binary as binary.
//!
//! ```sh
//! cargo run --release -p weft --example autobahn_server -- 127.0.0.1:9001
//! ```
//!
//! Messages and frames may be up to 64 MiB; everything else is the default (which already
//! allows the suite's 16 MiB messages and 65,536 fragments).

use weft::{Acceptor, Limits, Message, Server};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".to_owned());
    let limits = Limits::default()
        .max_message_size(64 << 20)
        .max_frame_size(64 << 20);
    let acceptor = Acceptor::builder().limits(limits).build()?;
    let server = Server::builder()
        .acceptor(acceptor)
        .bind(addr.as_str())
        .await?;
    println!(
        "autobahn_server: listening on ws://{}",
        server.local_addr()?
    );
    server
        .serve(|mut ws, _accepted| async move {
            // Read until the stream ends, errors included: after a protocol error the
            // connection has queued the close frame it calls for, and reading completes the
            // closing handshake.
            while let Some(message) = ws.next().await {
                if let Ok(message @ (Message::Text(_) | Message::Binary(_))) = message {
                    let _ = ws.send(message).await;
                }
            }
        })
        .await?;
    Ok(())
}
