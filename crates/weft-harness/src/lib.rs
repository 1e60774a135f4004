//! weft's shared test harness, used by `tests/`, `benches/`, `fuzz/` and xtask (never by a
//! crate's own unit tests, which would build two copies of every type).
//!
//! - [`FaultyStream`] wraps any stream and injects faults: one byte per read, random split
//!   points, pending reads and writes, a write error after N bytes, end of stream after N bytes.
//! - [`RawPeer`] writes exact bytes (bad masks, lying lengths, invalid UTF-8) and reads back
//!   frames, closes and HTTP responses, for tests that must not trust weft's own encoder;
//!   [`RawServer`] accepts connections for one, to play a hostile server.
//! - [`pair`] and [`EchoServer`] build real, handshaken connections in memory or on loopback.
//! - [`TestCa`] makes certificates at test time for `wss://` and HTTP/2 over TLS.
//! - [`FaultProxy`] puts a bad network between a client and a server on loopback: latency,
//!   jitter, a bandwidth cap, loss (as the delay of a retransmission), stalls, a blackhole,
//!   resets and FINs at chosen points.
//! - [`fuzz`] holds the bodies of the fuzz targets, shared with the regression test.
//! - [`RedisServer`] runs a real `redis-server` on a loopback port, to kill and restart.

mod echo;
mod faults;
pub mod fuzz;
mod pair;
mod payloads;
mod proxy;
mod raw;
mod redis;
mod tls;

pub use echo::EchoServer;
pub use faults::{Chunking, Faults, FaultyStream};
pub use pair::{PairStream, pair, pair_with};
pub use payloads::deflate_bomb;
pub use proxy::{Cut, Direction, FaultProxy, NetFaults};
pub use raw::{RawFrame, RawPeer, RawServer, ReceivedFrame, UpgradeRequestHead};
pub use redis::RedisServer;
pub use tls::TestCa;

/// How long any harness wait may take before a test fails instead of hanging.
pub const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// Runs `future` to completion within [`TIMEOUT`]; a test step that hangs fails instead.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let answer = weft_harness::bounded(async { 42 }).await;
/// assert_eq!(answer, 42);
/// # }
/// ```
pub async fn bounded<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(TIMEOUT, future)
        .await
        .expect("test step timed out")
}

/// Waits until `check` holds, looking every 20 ms; fails with `what` after [`TIMEOUT`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let started = std::time::Instant::now();
/// weft_harness::eventually("a moment passed", || started.elapsed().as_millis() > 30).await;
/// # }
/// ```
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + TIMEOUT;
    while !check() {
        assert!(std::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
