//! tokio-tungstenite's echo server for `cargo xtask bench --compare`: no compression (the
//! crate has none), 64 MiB message and frame limits, every text and binary message sent back
//! as it came with `StreamExt::next` and `SinkExt::send`.
//!
//! ```sh
//! cargo run --release -p weft-benches --features compare --example echo_tungstenite -- 127.0.0.1:9102
//! ```
//!
//! Like the other `echo_*` examples: the listen address is the first argument, `listening on
//! ADDR` is printed once bound, the runtime is tokio's `current_thread`, accepted sockets
//! get `TCP_NODELAY` (weft's server sets it; small echoes must not wait for Nagle), and `--tls
//! CERT KEY` serves `wss://` through tokio-rustls with the settings every comparison server
//! shares (`weft_benches::tls`); that accept loop is `weft_benches::serve_echo`.
//!
//! tokio-tungstenite's own echo example forwards the read half into the write half
//! (`StreamExt::forward`, which flushes only when no message is ready); the loop here sends
//! and flushes each message, as every comparison server does, so they all answer the same way.

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use weft_benches::EchoArgs;

/// The largest message and frame accepted, the same for every comparison server.
const MAX_MESSAGE: usize = 64 << 20;

fn main() -> std::io::Result<()> {
    weft_benches::serve_echo(EchoArgs::from_env("127.0.0.1:9102", &[])?, echo, echo)
}

async fn echo(stream: impl AsyncRead + AsyncWrite + Unpin) {
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await else {
        return;
    };
    // Pings are answered and the closing handshake completed by the next read or write.
    while let Some(Ok(message)) = ws.next().await {
        if (message.is_text() || message.is_binary()) && ws.send(message).await.is_err() {
            break;
        }
    }
}
