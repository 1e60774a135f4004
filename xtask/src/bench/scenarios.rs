//! The load the comparison asks for: each scenario's connections, messages, window and
//! transport, as `weft bench` takes them; the idle-memory scenarios; and the client-side
//! scenarios, where one server pushes and each library's client receives (or sends).

use super::contestants::{ServerKind, Support};
use super::corpus::Corpus;

/// A load scenario: what `weft bench` is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Scenario {
    pub(super) name: &'static str,
    pub(super) connections: usize,
    /// Bytes per message (for a corpus, unused: its lines are the messages).
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
    /// permessage-deflate, each server at its library's defaults, with the messages of a
    /// corpus (`weft bench --deflate --corpus`); the servers without it are listed as n/a.
    pub(super) deflate: Option<Corpus>,
}

/// 50 ms round trips and 1 % of 1448-byte segments held back by a retransmission.
const LOSSY: &[&str] = &["--latency-ms", "25", "--loss", "0.01", "--seed", "1"];

/// A scenario of `connections` × `size`-byte binary messages, `window` in flight, over plain
/// TCP; the list below changes what differs.
const fn echo(name: &'static str, connections: usize, size: usize, window: usize) -> Scenario {
    Scenario {
        name,
        connections,
        size,
        window,
        text: false,
        tls: false,
        http2: false,
        network: None,
        deflate: None,
    }
}

pub(super) const SCENARIOS: [Scenario; 16] = [
    echo("1x20B", 1, 20, 1),
    echo("1x20B-w64", 1, 20, 64),
    echo("100x1KiB", 100, 1 << 10, 1),
    echo("10x64KiB", 10, 64 << 10, 1),
    echo("1x1MiB", 1, 1 << 20, 1),
    Scenario {
        text: true,
        ..echo("10x16KiB-text", 10, 16 << 10, 1)
    },
    // Over TLS, the kernel's share shrinks and the library's write pattern shows: each
    // separate write of a message is a TLS record of its own (a seal and 22 bytes of framing).
    Scenario {
        tls: true,
        ..echo("1x20B-w64-tls", 1, 20, 64)
    },
    Scenario {
        tls: true,
        ..echo("100x1KiB-tls", 100, 1 << 10, 1)
    },
    // The same load as 100x1KiB, but 100 WebSockets on one HTTP/2 connection instead of 100
    // TCP connections: what multiplexing costs or saves the server per message.
    Scenario {
        http2: true,
        ..echo("100x1KiB-h2", 100, 1 << 10, 1)
    },
    // Under 1 % loss and 50 ms round trips, throughput is the window over the round trip for
    // every library alike, unless one adds delay of its own (a flush held back, a write
    // split in two): the same proxy stands in front of each server. A window of 4 keeps the
    // run bound by the round trip, not by the client's core, which the proxy shares (with 16
    // in flight that core was 99 % busy).
    Scenario {
        network: Some(LOSSY),
        ..echo("10x16KiB-w4-lossy", 10, 16 << 10, 4)
    },
    // Many connections, small text messages (HttpArena's echo-ws, scaled to two cores): how
    // the server schedules thousands of connections, and whether any of them starves (p99).
    Scenario {
        text: true,
        ..echo("512x5B", 512, 5, 1)
    },
    Scenario {
        text: true,
        ..echo("512x5B-w16", 512, 5, 16)
    },
    Scenario {
        text: true,
        ..echo("4096x5B", 4096, 5, 1)
    },
    Scenario {
        text: true,
        ..echo("4096x5B-w16", 4096, 5, 16)
    },
    // permessage-deflate on JSON chat messages and ticks (100 B to 4 KiB, mean about 550 B),
    // and on 64 KiB documents: each library at its defaults.
    Scenario {
        text: true,
        deflate: Some(Corpus::Json),
        ..echo("100xjson-deflate", 100, 0, 1)
    },
    Scenario {
        text: true,
        deflate: Some(Corpus::Document),
        ..echo("10xdoc-deflate", 10, 0, 1)
    },
];

/// Why a server of the deflate frontier has no row in a scenario without compression.
pub(super) const DEFLATE_SETTING_ONLY: &str = "a permessage-deflate setting: weft's row";

impl Scenario {
    /// Whether `kind` can run this scenario, with the arguments it then needs.
    pub(super) fn support(self, kind: ServerKind) -> Support {
        if self.deflate.is_none() && super::contestants::is_deflate_setting(kind.name) {
            return Support::No(DEFLATE_SETTING_ONLY);
        }
        let mut needed = Vec::new();
        if self.tls {
            needed.push(kind.tls);
        }
        if self.http2 {
            needed.push(kind.http2);
        }
        if self.deflate.is_some() {
            needed.push(kind.deflate);
        }
        let mut args: &'static [&'static str] = &[];
        for support in needed {
            match support {
                Support::No(why) => return Support::No(why),
                // At most one of them adds arguments (deflate's); TLS is added by the start.
                Support::Yes(more) if !more.is_empty() => args = more,
                Support::Yes(_) => {}
            }
        }
        Support::Yes(args)
    }

    /// `1 connection(s) × 20 B binary, 1 in flight`, for table headings.
    pub(super) fn describe(self) -> String {
        let what = match self.deflate {
            Some(Corpus::Json) => "JSON messages of 100 B to 4 KiB, permessage-deflate".to_owned(),
            Some(Corpus::Document) => "JSON documents of 64 KiB, permessage-deflate".to_owned(),
            None => format!(
                "{}{}",
                size_text(self.size),
                if self.text { " text" } else { " binary" }
            ),
        };
        format!(
            "{} connection(s) × {what}, {} in flight{}{}",
            self.connections,
            self.window,
            if self.tls { ", over TLS" } else { "" },
            if self.http2 { ", over HTTP/2" } else { "" }
        )
    }
}

/// The name of the idle-memory scenario.
pub(super) const IDLE: &str = "idle";

/// The idle-memory scenario with every WebSocket a stream of an HTTP/2 connection (up to 100
/// per connection, the servers' default stream limit): memory per WebSocket over HTTP/2.
pub(super) const IDLE_H2: &str = "idle-h2";

/// Idle memory after use: each connection first exchanges messages of the JSON corpus with
/// permessage-deflate (so every compressor and decompressor has worked), then falls silent.
pub(super) const IDLE_DEFLATE: &str = "idle-deflate";

/// Messages each connection of `idle-deflate` exchanges before falling silent.
pub(super) const IDLE_DEFLATE_EXCHANGE: u64 = 20;

/// The idle scenarios, in the order they run.
pub(super) const IDLE_SCENARIOS: [&str; 3] = [IDLE, IDLE_H2, IDLE_DEFLATE];

/// A client-side scenario: one server pushes messages as fast as the client takes them (or,
/// `send`, takes what the client sends as fast as it sends), and each library's client
/// receives (sends) through its plain message API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ClientScenario {
    pub(super) name: &'static str,
    pub(super) size: usize,
    /// The pushed messages are compressed (permessage-deflate, context takeover); their
    /// payloads are JSON-like text that compresses.
    pub(super) deflate: bool,
    /// The client sends and the server discards, instead of the other way round.
    pub(super) send: bool,
}

const fn push(name: &'static str, size: usize, deflate: bool) -> ClientScenario {
    ClientScenario {
        name,
        size,
        deflate,
        send: false,
    }
}

pub(super) const CLIENT_SCENARIOS: [ClientScenario; 9] = [
    push("client-20B", 20, false),
    push("client-1KiB", 1 << 10, false),
    push("client-64KiB", 64 << 10, false),
    push("client-20B-deflate", 20, true),
    push("client-1KiB-deflate", 1 << 10, true),
    push("client-64KiB-deflate", 64 << 10, true),
    ClientScenario {
        send: true,
        ..push("send-20B", 20, false)
    },
    ClientScenario {
        send: true,
        ..push("send-1KiB", 1 << 10, false)
    },
    ClientScenario {
        send: true,
        ..push("send-64KiB", 64 << 10, false)
    },
];

impl ClientScenario {
    /// `20 B messages pushed to 1 client, permessage-deflate`, for table headings.
    pub(super) fn describe(self) -> String {
        format!(
            "{} messages {}{}",
            size_text(self.size),
            if self.send {
                "sent by 1 client to a server that discards them"
            } else {
                "pushed to 1 client as fast as it takes them"
            },
            if self.deflate {
                ", permessage-deflate (context takeover)"
            } else {
                ""
            }
        )
    }
}

/// Every scenario name `--scenarios` knows.
pub(super) fn known_scenarios() -> impl Iterator<Item = &'static str> {
    SCENARIOS
        .iter()
        .map(|scenario| scenario.name)
        .chain(IDLE_SCENARIOS)
        .chain(CLIENT_SCENARIOS.iter().map(|scenario| scenario.name))
}

pub(super) fn size_text(size: usize) -> String {
    match size {
        s if s >= 1 << 20 && s % (1 << 20) == 0 => format!("{} MiB", s >> 20),
        s if s >= 1 << 10 && s % (1 << 10) == 0 => format!("{} KiB", s >> 10),
        s => format!("{s} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::contestants::{BUN, EXTRA_SERVERS, SERVERS, WEFT};

    #[test]
    fn deflate_settings_run_the_deflate_scenarios_only() {
        let find = |name: &str| *SCENARIOS.iter().find(|s| s.name == name).unwrap();
        let level1 = EXTRA_SERVERS
            .iter()
            .find(|kind| kind.name == "weft-level1")
            .copied()
            .unwrap();
        assert_eq!(
            find("512x5B").support(level1),
            Support::No(DEFLATE_SETTING_ONLY)
        );
        assert_eq!(
            find("100xjson-deflate").support(level1),
            Support::Yes(&["--deflate=level=1"])
        );
        assert_eq!(find("512x5B").support(WEFT), Support::Yes(&[]));
    }

    #[test]
    fn scenario_names_are_unique() {
        let names: Vec<&str> = known_scenarios().collect();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{names:?}");
    }

    #[test]
    fn servers_without_a_feature_are_not_applicable_with_a_reason() {
        let find = |name: &str| *SCENARIOS.iter().find(|s| s.name == name).unwrap();
        let tungstenite = SERVERS[2];
        assert_eq!(find("100x1KiB").support(tungstenite), Support::Yes(&[]));
        assert!(matches!(
            find("100xjson-deflate").support(tungstenite),
            Support::No(_)
        ));
        assert_eq!(
            find("100xjson-deflate").support(WEFT),
            Support::Yes(&["--deflate"])
        );
        assert!(matches!(find("100x1KiB-tls").support(BUN), Support::No(_)));
        assert!(matches!(
            find("100x1KiB-h2").support(tungstenite),
            Support::No(_)
        ));
        assert_eq!(find("100x1KiB-h2").support(WEFT), Support::Yes(&[]));
    }

    #[test]
    fn headings_say_what_is_sent() {
        let find = |name: &str| *SCENARIOS.iter().find(|s| s.name == name).unwrap();
        assert_eq!(
            find("10x16KiB-text").describe(),
            "10 connection(s) × 16 KiB text, 1 in flight"
        );
        assert_eq!(
            find("4096x5B-w16").describe(),
            "4096 connection(s) × 5 B text, 16 in flight"
        );
        assert!(
            find("100xjson-deflate")
                .describe()
                .contains("permessage-deflate")
        );
        assert_eq!(
            CLIENT_SCENARIOS[3].describe(),
            "20 B messages pushed to 1 client as fast as it takes them, permessage-deflate \
             (context takeover)"
        );
        assert_eq!(size_text(20), "20 B");
        assert_eq!(size_text(64 << 10), "64 KiB");
        assert_eq!(size_text(1 << 20), "1 MiB");
    }
}
