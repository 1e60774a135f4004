//! tokio-websockets' echo server for `cargo xtask bench --compare`: no compression (the crate
//! has none), a 64 MiB payload limit, every text and binary message sent back as it came with
//! `StreamExt::next` and `SinkExt::send`.
//!
//! ```sh
//! cargo run --release -p weft-benches --features compare --example echo_tokio_websockets -- 127.0.0.1:9104
//! ```
//!
//! Like the other `echo_*` examples: the listen address is the first argument, `listening on
//! ADDR` is printed once bound, the runtime is tokio's `current_thread`, accepted sockets
//! get `TCP_NODELAY` (weft's server sets it), and `--tls CERT KEY` serves `wss://` through
//! tokio-rustls with the settings every comparison server shares (`weft_benches::tls`); that
//! accept loop is `weft_benches::serve_echo`.
//!
//! tokio-websockets' own echo example lifts every limit (`Limits::unlimited`, an unlimited
//! outgoing frame size) and runs each connection under `tokio::task::unconstrained`; here the
//! limit is 64 MiB like everyone's, the outgoing frame size keeps its 4 MiB default (larger
//! messages than the scenarios send), and no server opts out of tokio's cooperative budget.

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_websockets::{Limits, ServerBuilder};
use weft_benches::EchoArgs;

/// The largest message accepted, the same for every comparison server.
const MAX_MESSAGE: usize = 64 << 20;

fn main() -> std::io::Result<()> {
    weft_benches::serve_echo(EchoArgs::from_env("127.0.0.1:9104", &[])?, echo, echo)
}

async fn echo(stream: impl AsyncRead + AsyncWrite + Unpin) {
    let accepted = ServerBuilder::new()
        .limits(Limits::default().max_payload_len(Some(MAX_MESSAGE)))
        .accept(stream)
        .await;
    let Ok((_request, mut ws)) = accepted else {
        return;
    };
    // Pings are answered and the closing handshake completed by the stream itself.
    while let Some(Ok(message)) = ws.next().await {
        if (message.is_text() || message.is_binary()) && ws.send(message).await.is_err() {
            break;
        }
    }
}
