//! yawc's echo server for `cargo xtask bench --compare`: hyper's HTTP/1.1 server with
//! `WebSocket::upgrade_with_options`, then the echo loop of the crate's example
//! (`StreamExt::next` / `SinkExt::send` of each text and binary frame), a 64 MiB limit.
//!
//! ```sh
//! cargo run --release -p weft-benches --features compare --example echo_yawc -- 127.0.0.1:9106 [--deflate]
//! ```
//!
//! Like the other `echo_*` examples: the listen address is the first argument, `listening on
//! ADDR` is printed once bound, the runtime is tokio's `current_thread`, accepted sockets get
//! `TCP_NODELAY`, and `--tls CERT KEY` serves `wss://` with the settings every comparison
//! server shares (`weft_benches::serve_echo`).
//!
//! `--deflate` accepts permessage-deflate with the crate's `DeflateOptions::default()` (level
//! 6, context takeover both ways, every message compressed); without it, no compression is
//! agreed (`Options::default()` has none). yawc compresses through flate2, which in this
//! package runs zlib-rs (the workspace enables it); on its own yawc would use miniz_oxide.
//!
//! UTF-8: yawc checks text only when asked (`with_utf8`), and asks simdutf8 to do it with its
//! `simd` feature; both are on here, so it validates text as every other server does.
//! The crate's example runs each connection under `tokio::task::unconstrained`; no comparison
//! server opts out of tokio's cooperative budget.

use futures_util::{SinkExt, StreamExt};
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use weft_benches::EchoArgs;
use yawc::{DeflateOptions, OpCode, Options, UpgradeFut, WebSocket};

/// The largest message accepted, the same for every comparison server (yawc's limit is
/// exclusive, so one more).
const MAX_MESSAGE: usize = (64 << 20) + 1;

fn main() -> std::io::Result<()> {
    let args = EchoArgs::from_env("127.0.0.1:9106", &["--deflate"])?;
    let deflate = args.has_flag("--deflate");
    weft_benches::serve_echo(
        args,
        move |tcp| serve_http(tcp, deflate),
        move |tls| serve_http(tls, deflate),
    )
}

async fn serve_http(stream: impl AsyncRead + AsyncWrite + Unpin + Send + 'static, deflate: bool) {
    let _ = http1::Builder::new()
        .serve_connection(
            TokioIo::new(stream),
            service_fn(move |request| upgrade_request(request, deflate)),
        )
        .with_upgrades()
        .await;
}

async fn upgrade_request(
    mut request: Request<Incoming>,
    deflate: bool,
) -> yawc::Result<Response<Empty<Bytes>>> {
    let mut options = Options::default()
        .with_utf8()
        .with_max_payload_read(MAX_MESSAGE)
        .with_max_read_buffer(2 * MAX_MESSAGE);
    if deflate {
        options.compression = Some(DeflateOptions::default());
    }
    let (response, upgraded) = WebSocket::upgrade_with_options(&mut request, options)?;
    tokio::spawn(async move {
        let _ = echo(upgraded).await;
    });
    Ok(response)
}

async fn echo(upgraded: UpgradeFut) -> yawc::Result<()> {
    let mut ws = upgraded.await?;
    // Pings are answered and closes acknowledged by the stream itself.
    while let Some(frame) = ws.next().await {
        if matches!(frame.opcode(), OpCode::Text | OpCode::Binary) {
            ws.send(frame).await?;
        }
    }
    Ok(())
}
