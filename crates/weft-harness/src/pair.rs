//! Handshaken client/server pairs over an in-memory pipe.

use tokio::io::DuplexStream;
use weft_client::ClientBuilder;
use weft_codec::tokio::WebSocket;
use weft_server::Acceptor;

use crate::faults::{Faults, FaultyStream};

/// The stream each side of a [`pair`] runs over.
pub type PairStream = FaultyStream<DuplexStream>;

/// A client and a server that completed the real handshake over an in-memory pipe.
pub async fn pair() -> (WebSocket<PairStream>, WebSocket<PairStream>) {
    pair_with(
        Faults::default(),
        Faults::default(),
        ClientBuilder::new("ws://localhost/"),
        Acceptor::default(),
    )
    .await
}

/// As [`pair`], with faults on each side and the client and server settings given.
///
/// # Panics
///
/// If the handshake fails: the harness is for tests.
pub async fn pair_with(
    client_faults: Faults,
    server_faults: Faults,
    client: ClientBuilder,
    acceptor: Acceptor,
) -> (WebSocket<PairStream>, WebSocket<PairStream>) {
    let (a, b) = tokio::io::duplex(256 << 10);
    let (client, server) = tokio::join!(
        client.connect_on(FaultyStream::new(a, client_faults)),
        acceptor.accept(FaultyStream::new(b, server_faults)),
    );
    let (client, _) = client.expect("client handshake");
    let (server, _) = server.expect("server handshake");
    (client, server)
}
