//! The load the comparison asks for: each scenario's connections, message size, window and
//! transport, as `weft bench` takes them.

use super::contestants::{ServerKind, WEFT};

/// A load scenario: what `weft bench` is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Scenario {
    pub(super) name: &'static str,
    pub(super) connections: usize,
    pub(super) size: usize,
    pub(super) window: usize,
    pub(super) text: bool,
    /// `wss://`: every server terminates TLS with the same rustls settings
    /// (`weft_benches::tls`), and `weft bench` trusts a throwaway CA.
    pub(super) tls: bool,
    /// Every WebSocket a stream of one HTTP/2 connection (h2c, RFC 8441), for the servers that
    /// speak it (weft); the others are listed as n/a.
    pub(super) http2: bool,
    /// Through a bad network: the arguments of `examples/fault_proxy.rs`, started in front
    /// of each server (on the client's core).
    pub(super) network: Option<&'static [&'static str]>,
}

/// 50 ms round trips and 1 % of 1448-byte segments held back by a retransmission.
const LOSSY: &[&str] = &["--latency-ms", "25", "--loss", "0.01", "--seed", "1"];

pub(super) const SCENARIOS: [Scenario; 10] = [
    Scenario {
        name: "1x20B",
        connections: 1,
        size: 20,
        window: 1,
        text: false,
        tls: false,
        http2: false,
        network: None,
    },
    Scenario {
        name: "1x20B-w64",
        connections: 1,
        size: 20,
        window: 64,
        text: false,
        tls: false,
        http2: false,
        network: None,
    },
    Scenario {
        name: "100x1KiB",
        connections: 100,
        size: 1 << 10,
        window: 1,
        text: false,
        tls: false,
        http2: false,
        network: None,
    },
    Scenario {
        name: "10x64KiB",
        connections: 10,
        size: 64 << 10,
        window: 1,
        text: false,
        tls: false,
        http2: false,
        network: None,
    },
    Scenario {
        name: "1x1MiB",
        connections: 1,
        size: 1 << 20,
        window: 1,
        text: false,
        tls: false,
        http2: false,
        network: None,
    },
    Scenario {
        name: "10x16KiB-text",
        connections: 10,
        size: 16 << 10,
        window: 1,
        text: true,
        tls: false,
        http2: false,
        network: None,
    },
    // Over TLS, the kernel's share shrinks and the library's write pattern shows: each
    // separate write of a message is a TLS record of its own (a seal and 22 bytes of framing).
    Scenario {
        name: "1x20B-w64-tls",
        connections: 1,
        size: 20,
        window: 64,
        text: false,
        tls: true,
        http2: false,
        network: None,
    },
    Scenario {
        name: "100x1KiB-tls",
        connections: 100,
        size: 1 << 10,
        window: 1,
        text: false,
        tls: true,
        http2: false,
        network: None,
    },
    // The same load as 100x1KiB, but 100 WebSockets on one HTTP/2 connection instead of 100
    // TCP connections: what multiplexing costs or saves the server per message.
    Scenario {
        name: "100x1KiB-h2",
        connections: 100,
        size: 1 << 10,
        window: 1,
        text: false,
        tls: false,
        http2: true,
        network: None,
    },
    // Under 1 % loss and 50 ms round trips, throughput is the window over the round trip for
    // every library alike, unless one adds delay of its own (a flush held back, a write
    // split in two): the same proxy stands in front of each server. A window of 4 keeps the
    // run bound by the round trip, not by the client's core, which the proxy shares (with 16
    // in flight that core was 99 % busy).
    Scenario {
        name: "10x16KiB-w4-lossy",
        connections: 10,
        size: 16 << 10,
        window: 4,
        text: false,
        tls: false,
        http2: false,
        network: Some(LOSSY),
    },
];

/// Whether a comparison server serves WebSockets over HTTP/2.
pub(super) fn serves_http2(kind: ServerKind) -> bool {
    kind.example == WEFT.example
}

/// The name of the idle-memory scenario.
pub(super) const IDLE: &str = "idle";

/// The idle-memory scenario with every WebSocket a stream of an HTTP/2 connection (up to 100
/// per connection, the servers' default stream limit): memory per WebSocket over HTTP/2.
pub(super) const IDLE_H2: &str = "idle-h2";

impl Scenario {
    /// `1 connection(s) × 20 B binary, 1 in flight`, for table headings.
    pub(super) fn describe(self) -> String {
        format!(
            "{} connection(s) × {}{}, {} in flight{}",
            self.connections,
            size_text(self.size),
            if self.text { " text" } else { " binary" },
            self.window,
            if self.tls { ", over TLS" } else { "" }
        )
    }
}

pub(super) fn size_text(size: usize) -> String {
    match size {
        s if s >= 1 << 20 && s % (1 << 20) == 0 => format!("{} MiB", s >> 20),
        s if s >= 1 << 10 && s % (1 << 10) == 0 => format!("{} KiB", s >> 10),
        s => format!("{s} B"),
    }
}
