//! sockudo-ws' echo server for `cargo xtask bench --compare`: the upgrade answered with the
//! crate's handshake helpers, then the plain `WebSocketStream` echo loop of its README
//! (`StreamExt::next` / `SinkExt::send`), a 64 MiB message and frame limit.
//!
//! ```sh
//! cargo run --release -p weft-benches --features compare --example echo_sockudo -- 127.0.0.1:9105 [--deflate]
//! ```
//!
//! Like the other `echo_*` examples: the listen address is the first argument, `listening on
//! ADDR` is printed once bound, the runtime is tokio's `current_thread`, accepted sockets get
//! `TCP_NODELAY`, and `--tls CERT KEY` serves `wss://` with the settings every comparison
//! server shares (`weft_benches::serve_echo`).
//!
//! `--deflate` accepts permessage-deflate with the crate's `DeflateConfig::default()` (level 6,
//! 32 KiB windows, context takeover both ways, messages from 32 bytes compressed), negotiated
//! by `negotiate_server_deflate` and run by `CompressedWebSocketStream`, as the crate's own
//! Autobahn server does; without it, no extension is agreed (the crate's default `Config` has
//! compression off).
//!
//! The crate's README drops any bytes that arrived with the upgrade request; this server hands
//! them to the stream (`from_raw_with_leftover`), which `weft bench` never needs (it waits for
//! the `101` before sending) but a fair server should do.

use bytes::{Bytes, BytesMut};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use sockudo_ws::deflate::{DeflateConfig, negotiate_server_deflate};
use sockudo_ws::handshake::{build_response, generate_accept_key, parse_request};
use sockudo_ws::{CompressedWebSocketStream, Config, Message, Role, WebSocketStream};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use weft_benches::EchoArgs;

/// The largest message and frame accepted, the same for every comparison server.
const MAX_MESSAGE: usize = 64 << 20;

fn main() -> std::io::Result<()> {
    let args = EchoArgs::from_env("127.0.0.1:9105", &["--deflate"])?;
    let deflate = args.has_flag("--deflate");
    // quanta calibrates its clock on first use; the crate asks for it before the runtime starts.
    sockudo_ws::init_clock();
    weft_benches::serve_echo(
        args,
        move |tcp| serve(tcp, deflate),
        move |tls| serve(tls, deflate),
    )
}

fn config() -> Config {
    Config::builder()
        .max_message_size(MAX_MESSAGE)
        .max_frame_size(MAX_MESSAGE)
        .build()
}

async fn serve(mut stream: impl AsyncRead + AsyncWrite + Unpin, deflate: bool) {
    let Some((agreed, leftover)) = handshake(&mut stream, deflate).await else {
        return;
    };
    match agreed {
        Some(deflate) => {
            echo(CompressedWebSocketStream::server_with_leftover(
                stream,
                config(),
                deflate,
                leftover,
            ))
            .await;
        }
        None => {
            echo(WebSocketStream::from_raw_with_leftover(
                stream,
                Role::Server,
                config(),
                leftover,
            ))
            .await;
        }
    }
}

/// The echo loop of the crate's README: every text and binary message sent back.
async fn echo<W>(mut ws: W)
where
    W: Stream<Item = sockudo_ws::Result<Message>> + Sink<Message> + Unpin,
{
    while let Some(Ok(message)) = ws.next().await {
        match message {
            Message::Text(_) | Message::Binary(_) => {
                if ws.send(message).await.is_err() {
                    break;
                }
            }
            Message::Close(_) => break,
            // Pongs are sent by the stream itself.
            Message::Ping(_) | Message::Pong(_) => {}
        }
    }
}

/// Reads the upgrade request and answers it (agreeing to permessage-deflate when `deflate`);
/// returns the agreed deflate settings and any bytes read past the request.
async fn handshake(
    stream: &mut (impl AsyncRead + AsyncWrite + Unpin),
    deflate: bool,
) -> Option<(Option<DeflateConfig>, Option<Bytes>)> {
    let mut buf = BytesMut::with_capacity(4096);
    loop {
        if stream.read_buf(&mut buf).await.ok()? == 0 {
            return None;
        }
        let Some((request, consumed)) = parse_request(&buf).ok()? else {
            continue;
        };
        let negotiation = request
            .extensions
            .filter(|_| deflate)
            .and_then(|offers| negotiate_server_deflate(offers, &DeflateConfig::default()));
        let header = negotiation.as_ref().map(|n| n.to_response_header());
        let response = build_response(&generate_accept_key(request.key), None, header.as_deref());
        stream.write_all(&response).await.ok()?;
        stream.flush().await.ok()?;
        let leftover = (consumed < buf.len()).then(|| buf.split_off(consumed).freeze());
        return Some((negotiation.map(|n| n.config), leftover));
    }
}
