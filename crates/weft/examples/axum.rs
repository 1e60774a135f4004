//! An axum app with ordinary routes and a WebSocket route on one port: `/` answers text,
//! `/health` JSON-ish status, and `/ws` echoes with weft underneath (permessage-deflate,
//! weft's limits and keepalive), over HTTP/1.1 and over HTTP/2 (`axum::serve` enables
//! extended CONNECT). The acceptor is set for the router with `axum::Extension`.
//!
//! ```sh
//! cargo run -p weft --example axum --features axum
//! cargo run -p weft-cli -- connect ws://127.0.0.1:3000/ws     # in another terminal
//! ```
//!
//! With an address as its first argument (`127.0.0.1:0` for any port) it listens there and
//! prints `listening on http://ADDR` once it does.

use axum::Router;
use axum::response::Response;
use axum::routing::{any, get};
use weft::axum::WebSocketUpgrade;
use weft::{Acceptor, Limits, Message};

/// `/ws`: every text and binary message goes back unchanged. The subprotocol, if the client
/// offers it, is `echo`.
async fn echo(ws: WebSocketUpgrade) -> Response {
    ws.protocols(["echo"]).on_upgrade(|mut socket| async move {
        while let Some(Ok(message)) = socket.next().await {
            if matches!(message, Message::Text(_) | Message::Binary(_))
                && socket.send(message).await.is_err()
            {
                break;
            }
        }
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".to_owned());
    // What every WebSocket on this router is held to: refusals, limits, permessage-deflate.
    let acceptor = Acceptor::builder()
        .limits(Limits::default().max_message_size(16 << 20))
        .build()?;
    let app = Router::new()
        .route(
            "/",
            get(|| async { "an ordinary route next to the WebSocket at /ws\n" }),
        )
        .route("/health", get(|| async { "{\"ok\":true}\n" }))
        // `any`: an HTTP/1.1 upgrade is a GET, an HTTP/2 one a CONNECT.
        .route("/ws", any(echo))
        .layer(axum::Extension(acceptor));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
