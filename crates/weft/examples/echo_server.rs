//! The smallest useful echo server: every text and binary message goes back unchanged.
//!
//! ```sh
//! cargo run -p weft --example echo_server
//! cargo run -p weft --example client        # in another terminal
//! ```

use weft::{Message, Server};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let server = Server::bind("127.0.0.1:9001").await?;
    println!("echo server on ws://{}", server.local_addr()?);
    server
        .serve(|mut ws, _accepted| async move {
            // `next` answers pings and completes the closing handshake; read until it ends.
            while let Some(message) = ws.next().await {
                if let Ok(message @ (Message::Text(_) | Message::Binary(_))) = message {
                    let _ = ws.send(message).await;
                }
            }
        })
        .await
}
