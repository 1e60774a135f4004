//! fastwebsockets' echo server for `cargo xtask bench --compare`: hyper's HTTP/1.1 server with
//! fastwebsockets' `upgrade`, then a `FragmentCollector` (whole messages, as the other
//! servers read them) that writes every text and binary message back as it came. No
//! compression (the crate has none); a 64 MiB frame limit.
//!
//! ```sh
//! cargo run --release -p weft-benches --features compare --example echo_fastwebsockets -- 127.0.0.1:9103
//! ```
//!
//! Like the other `echo_*` examples: the listen address is the first argument, `listening on
//! ADDR` is printed once bound, the runtime is tokio's `current_thread`, accepted sockets
//! get `TCP_NODELAY` (weft's server sets it), and `--tls CERT KEY` serves `wss://` through
//! tokio-rustls with the settings every comparison server shares (`weft_benches::tls`); that
//! accept loop is `weft_benches::serve_echo`.
//!
//! Validation: fastwebsockets checks UTF-8 of every final text frame as it reads it (with
//! `simdutf8` under its default `simd` feature), and the `FragmentCollector` checks fragmented
//! text messages as they are assembled; a plain `WebSocket::read_frame` would hand out
//! unfinished text fragments unchecked. So this server validates text like the others do.
//! Its limit is per frame (`set_max_message_size`; the collector does not bound a message of
//! many frames), and the benchmark sends one frame per message.
//!
//! Over TLS: the collector has no `flush`. tokio-rustls sends each write's records within the
//! write unless the socket is full, which the TLS scenarios' small messages never make it.
//!
//! fastwebsockets' own echo example runs each connection under `tokio::task::unconstrained`;
//! no comparison server opts out of tokio's cooperative budget.

use fastwebsockets::{FragmentCollector, OpCode, WebSocketError, upgrade};
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use weft_benches::EchoArgs;

/// The largest frame accepted (fastwebsockets refuses a frame of exactly this size, so one
/// more), the same limit as every comparison server's.
const MAX_MESSAGE: usize = (64 << 20) + 1;

fn main() -> std::io::Result<()> {
    weft_benches::serve_echo(
        EchoArgs::from_env("127.0.0.1:9103", &[])?,
        serve_http,
        serve_http,
    )
}

async fn serve_http(stream: impl AsyncRead + AsyncWrite + Unpin + Send + 'static) {
    let _ = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service_fn(upgrade_request))
        .with_upgrades()
        .await;
}

async fn upgrade_request(
    mut request: Request<Incoming>,
) -> Result<Response<Empty<Bytes>>, WebSocketError> {
    let (response, upgraded) = upgrade::upgrade(&mut request)?;
    tokio::spawn(async move {
        let _ = echo(upgraded).await;
    });
    Ok(response)
}

async fn echo(upgraded: upgrade::UpgradeFut) -> Result<(), WebSocketError> {
    let mut ws = upgraded.await?;
    ws.set_max_message_size(MAX_MESSAGE);
    // Auto-pong and auto-close are on by default: pings are answered, closes echoed.
    let mut ws = FragmentCollector::new(ws);
    loop {
        let frame = ws.read_frame().await?;
        match frame.opcode {
            OpCode::Close => return Ok(()),
            OpCode::Text | OpCode::Binary => ws.write_frame(frame).await?,
            _ => {}
        }
    }
}
