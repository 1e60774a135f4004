//! [`EchoServer`]: a loopback echo server for tests.

use std::io;
use std::net::SocketAddr;

use tokio::task::JoinHandle;
use weft_server::{Server, ServerBuilder, ShutdownHandle, Stats};

use crate::TIMEOUT;

/// A [`Server`] on `127.0.0.1:0` that echoes every text and binary message.
#[derive(Debug)]
pub struct EchoServer {
    /// Where it listens.
    pub addr: SocketAddr,
    handle: ShutdownHandle,
    stats: Stats,
    task: JoinHandle<io::Result<()>>,
}

impl EchoServer {
    /// Starts an echo server with the defaults.
    pub async fn start() -> io::Result<Self> {
        Self::start_with(Server::builder()).await
    }

    /// Starts an echo server with `builder`'s settings.
    pub async fn start_with(builder: ServerBuilder) -> io::Result<Self> {
        let server = builder.bind("127.0.0.1:0").await?;
        let addr = server.local_addr()?;
        let handle = server.shutdown_handle();
        let stats = server.stats();
        let task = tokio::spawn(server.serve(|mut ws, _| async move {
            while let Some(Ok(message)) = ws.next().await {
                if (message.is_text() || message.is_binary()) && ws.send(message).await.is_err() {
                    break;
                }
            }
        }));
        Ok(Self {
            addr,
            handle,
            stats,
            task,
        })
    }

    /// `ws://` and the address.
    pub fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    /// The server's counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The shutdown handle.
    pub fn handle(&self) -> &ShutdownHandle {
        &self.handle
    }

    /// Shuts down gracefully and waits for `serve` to return.
    pub async fn shutdown(self) -> io::Result<()> {
        self.handle.shutdown();
        tokio::time::timeout(TIMEOUT, self.task)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "shutdown took too long"))?
            .map_err(io::Error::other)?
    }
}
