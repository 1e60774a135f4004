//! Connects to a WebSocket server, sends one message, prints the echo, and closes.
//!
//! ```sh
//! cargo run -p weft --example client                          # ws://127.0.0.1:9001
//! cargo run -p weft --example client -- ws://example.com/echo
//! ```

use weft::{CloseCode, Message};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ws://127.0.0.1:9001".to_owned());
    let (mut ws, _response) = weft::connect(&url).await?;
    ws.send(Message::text("hello from weft")).await?;
    while let Some(message) = ws.next().await {
        match message? {
            Message::Text(text) => {
                println!("{text}");
                break;
            }
            Message::Binary(data) => {
                println!("<binary {} bytes>", data.len());
                break;
            }
            // Pings are answered by `next` itself.
            _ => {}
        }
    }
    ws.close(CloseCode::NORMAL, "done").await?;
    Ok(())
}
