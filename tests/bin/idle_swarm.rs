//! Opens N idle WebSocket connections to a URL and keeps them open until stdin closes; for
//! tests that need more connections than one process may hold file descriptors for (a test
//! server and its clients would need two each).
//!
//! `idle_swarm URL N`: prints `ready N` once every connection completed its handshake.

use std::io::{BufRead, Write};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args.next().ok_or("usage: idle_swarm URL N")?;
    let count: usize = args.next().ok_or("usage: idle_swarm URL N")?.parse()?;
    rlimit::increase_nofile_limit(u64::try_from(count)? + 1024)?;
    let config = weft::Config::default().ping_interval(None);
    let mut sockets = Vec::with_capacity(count);
    while sockets.len() < count {
        let batch = (count - sockets.len()).min(200);
        let opened = futures_util::future::join_all((0..batch).map(|_| {
            weft::ClientBuilder::new(url.as_str())
                .config(config.clone())
                .connect()
        }))
        .await;
        for result in opened {
            sockets.push(result?.0);
        }
    }
    println!("ready {}", sockets.len());
    std::io::stdout().flush()?;
    // Hold the connections until the test closes our stdin.
    tokio::task::spawn_blocking(|| for _ in std::io::stdin().lock().lines() {}).await?;
    drop(sockets);
    Ok(())
}
