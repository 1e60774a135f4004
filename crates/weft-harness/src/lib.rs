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
