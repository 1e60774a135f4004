//! What a `weft bench` run counted and measured, and how it is shown: a few lines for a
//! person, or one JSON object for a script (`cargo xtask bench --compare`).

use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{Value, json};

/// Latencies are recorded in nanoseconds, up to this (a minute), to three significant digits.
const MAX_LATENCY_NS: u64 = 60_000_000_000;

/// A histogram of round-trip times in nanoseconds.
pub(crate) fn latency_histogram() -> Histogram<u64> {
    // The bounds are constants that hdrhistogram accepts (low ≥ 1, high ≥ 2 × low, 3 digits).
    Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).unwrap_or_else(|_| {
        Histogram::new(3).unwrap_or_else(|_| unreachable!("3 significant digits are valid"))
    })
}

/// What one connection, or all of them together, counted.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Messages sent.
    pub(crate) sent: u64,
    /// Messages that came back (right or wrong).
    pub(crate) echoed: u64,
    /// Echoes of the wrong kind, length or content.
    pub(crate) mismatched: u64,
    /// Data messages that arrived when nothing was in flight.
    pub(crate) unexpected: u64,
    /// Connections that failed or ended before their last echo.
    pub(crate) failed_connections: u64,
}

impl Counts {
    /// Adds another connection's counts.
    pub(crate) fn add(&mut self, other: &Self) {
        self.sent += other.sent;
        self.echoed += other.echoed;
        self.mismatched += other.mismatched;
        self.unexpected += other.unexpected;
        self.failed_connections += other.failed_connections;
    }

    /// Messages sent that never came back.
    pub(crate) fn lost(&self) -> u64 {
        self.sent.saturating_sub(self.echoed)
    }

    /// Everything that went wrong, lost messages aside.
    pub(crate) fn errors(&self) -> u64 {
        self.mismatched + self.unexpected + self.failed_connections
    }
}

/// The settings a run used, as the report repeats them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Setup {
    pub(crate) url: String,
    pub(crate) connections: usize,
    pub(crate) size: usize,
    pub(crate) text: bool,
    /// The messages are the lines of `--corpus` (and `size` their mean length).
    pub(crate) corpus: bool,
    pub(crate) window: usize,
    pub(crate) deflate: bool,
    /// How many HTTP/2 connections carried the WebSockets (`--http2`).
    pub(crate) http2_connections: Option<usize>,
}

/// The outcome of a run.
#[derive(Debug)]
pub(crate) struct Report {
    pub(crate) setup: Setup,
    pub(crate) counts: Counts,
    /// From the first message sent to the last echo received.
    pub(crate) elapsed: Duration,
    /// How long opening every connection took.
    pub(crate) connect: Duration,
    /// Round-trip times, nanoseconds.
    pub(crate) latency: Histogram<u64>,
    /// The first thing that went wrong, for the error line.
    pub(crate) first_error: Option<String>,
    /// Bytes of frames written and read while the load ran, by every connection.
    pub(crate) wire: (u64, u64),
}

impl Report {
    /// Echoed messages per second.
    pub(crate) fn messages_per_sec(&self) -> f64 {
        per_sec(self.counts.echoed as f64, self.elapsed)
    }

    /// Echoed payload per second, in MB (10^6 bytes), counted one way.
    pub(crate) fn megabytes_per_sec(&self) -> f64 {
        per_sec(
            self.counts.echoed as f64 * self.setup.size as f64 / 1e6,
            self.elapsed,
        )
    }

    /// The round-trip time at quantile `q` (0.5 for the median), in microseconds; 0 when
    /// nothing came back.
    pub(crate) fn latency_us(&self, q: f64) -> f64 {
        if self.latency.is_empty() {
            return 0.0;
        }
        self.latency.value_at_quantile(q) as f64 / 1e3
    }

    /// The slowest round trip, in microseconds.
    fn max_latency_us(&self) -> f64 {
        self.latency.max() as f64 / 1e3
    }

    /// The mean round trip, in microseconds.
    fn mean_latency_us(&self) -> f64 {
        if self.latency.is_empty() {
            0.0
        } else {
            self.latency.mean() / 1e3
        }
    }

    /// Wire bytes per message echoed, sent and received; 0 when nothing came back.
    pub(crate) fn wire_per_message(&self) -> (f64, f64) {
        let echoed = self.counts.echoed as f64;
        if echoed == 0.0 {
            return (0.0, 0.0);
        }
        (self.wire.0 as f64 / echoed, self.wire.1 as f64 / echoed)
    }

    /// One JSON object with every figure; rates and times rounded to what they can tell.
    pub(crate) fn to_json(&self) -> Value {
        let counts = &self.counts;
        json!({
            "url": self.setup.url,
            "connections": self.setup.connections,
            "size": self.setup.size,
            "text": self.setup.text,
            "corpus": self.setup.corpus,
            "window": self.setup.window,
            "deflate": self.setup.deflate,
            "http2_connections": self.setup.http2_connections,
            "sent": counts.sent,
            "echoed": counts.echoed,
            "lost": counts.lost(),
            "errors": counts.errors(),
            "mismatched": counts.mismatched,
            "unexpected": counts.unexpected,
            "failed_connections": counts.failed_connections,
            "elapsed_s": round(self.elapsed.as_secs_f64(), 4),
            "connect_s": round(self.connect.as_secs_f64(), 4),
            "messages_per_s": round(self.messages_per_sec(), 1),
            "mb_per_s": round(self.megabytes_per_sec(), 3),
            "latency_us": {
                "p50": round(self.latency_us(0.5), 1),
                "p90": round(self.latency_us(0.9), 1),
                "p99": round(self.latency_us(0.99), 1),
                "p999": round(self.latency_us(0.999), 1),
                "max": round(self.max_latency_us(), 1),
                "mean": round(self.mean_latency_us(), 1),
            },
            "wire": {
                "sent_bytes": self.wire.0,
                "received_bytes": self.wire.1,
                "sent_per_message": round(self.wire_per_message().0, 1),
                "received_per_message": round(self.wire_per_message().1, 1),
            },
            "first_error": self.first_error,
        })
    }

    /// A few lines for a person.
    pub(crate) fn render(&self) -> String {
        let setup = &self.setup;
        let counts = &self.counts;
        let kind = if setup.text { "text" } else { "binary" };
        let deflate = if setup.deflate {
            ", permessage-deflate"
        } else {
            ""
        };
        let mut connections = plural(setup.connections as u64, "connection");
        if let Some(http2) = setup.http2_connections {
            connections = format!(
                "{} over {}",
                plural(setup.connections as u64, "WebSocket"),
                plural(http2 as u64, "HTTP/2 connection")
            );
        }
        let size = if setup.corpus {
            format!("corpus (mean {})", crate::size::bytes(setup.size))
        } else {
            crate::size::bytes(setup.size)
        };
        let mut out = format!(
            "weft bench {}: {connections}, {size} {kind} messages, window {}{deflate}\n",
            setup.url, setup.window
        );
        out += &format!(
            "  messages    {} sent, {} echoed, {} lost, {} (in {:.2} s; connecting took {:.2} s)\n",
            thousands(counts.sent),
            thousands(counts.echoed),
            thousands(counts.lost()),
            plural(counts.errors(), "error"),
            self.elapsed.as_secs_f64(),
            self.connect.as_secs_f64(),
        );
        out += &format!(
            "  throughput  {} msgs/s, {:.2} MB/s of payload each way\n",
            whole(self.messages_per_sec()),
            self.megabytes_per_sec()
        );
        let (sent, received) = self.wire_per_message();
        out += &format!(
            "  wire        {sent:.1} B sent and {received:.1} B received per message (frames)\n"
        );
        out += &format!(
            "  latency     p50 {}, p90 {}, p99 {}, max {} (mean {})\n",
            micros(self.latency_us(0.5)),
            micros(self.latency_us(0.9)),
            micros(self.latency_us(0.99)),
            micros(self.max_latency_us()),
            micros(self.mean_latency_us()),
        );
        out
    }
}

/// `amount` per second of `elapsed`; 0 for no time at all.
fn per_sec(amount: f64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 { amount / secs } else { 0.0 }
}

/// `value` to `digits` decimals, for JSON that does not print 17 of them.
fn round(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}

/// `1234567` as `1,234,567`.
pub(crate) fn thousands(value: u64) -> String {
    group(&value.to_string())
}

/// A rate rounded to a whole number, grouped as [`thousands`] does.
pub(crate) fn whole(value: f64) -> String {
    group(&format!("{:.0}", value.max(0.0)))
}

/// Digits with a comma every three from the right.
fn group(digits: &str) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// `1 connection`, `3 connections`.
fn plural(count: u64, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{} {noun}s", thousands(count))
    }
}

/// Microseconds as a person reads them: `45.1 µs`, `2.10 ms`, `1.23 s`.
pub(crate) fn micros(us: f64) -> String {
    if us < 1e3 {
        format!("{us:.1} µs")
    } else if us < 1e6 {
        format!("{:.2} ms", us / 1e3)
    } else {
        format!("{:.2} s", us / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(echoed: u64, elapsed: Duration, latencies_ns: &[u64]) -> Report {
        let mut latency = latency_histogram();
        for &ns in latencies_ns {
            latency.record(ns).unwrap();
        }
        Report {
            setup: Setup {
                url: "ws://127.0.0.1:1".to_owned(),
                connections: 2,
                size: 1000,
                text: false,
                corpus: false,
                window: 1,
                deflate: false,
                http2_connections: None,
            },
            counts: Counts {
                sent: echoed + 1,
                echoed,
                ..Counts::default()
            },
            elapsed,
            connect: Duration::from_millis(5),
            latency,
            first_error: None,
            wire: (echoed * 1006, echoed * 1004),
        }
    }

    #[test]
    fn rates_count_echoes_over_the_elapsed_time() {
        let report = sample(5000, Duration::from_millis(2500), &[]);
        assert_eq!(report.messages_per_sec(), 2000.0);
        // 5000 messages of 1000 bytes in 2.5 s: 2 MB/s.
        assert_eq!(report.megabytes_per_sec(), 2.0);
        assert_eq!(report.counts.lost(), 1);
        let nothing = sample(0, Duration::ZERO, &[]);
        assert_eq!(nothing.messages_per_sec(), 0.0);
        assert_eq!(nothing.latency_us(0.5), 0.0);
    }

    #[test]
    fn percentiles_come_from_the_histogram() {
        // 1..=100 µs, one each: p50 is 50 µs, p90 90 µs, p99 99 µs, max 100 µs.
        let latencies: Vec<u64> = (1..=100).map(|us| us * 1000).collect();
        let report = sample(100, Duration::from_secs(1), &latencies);
        let json = report.to_json();
        let latency = &json["latency_us"];
        assert_eq!(latency["p50"], 50.0);
        assert_eq!(latency["p90"], 90.0);
        assert_eq!(latency["p99"], 99.0);
        assert_eq!(latency["max"], 100.0);
        assert_eq!(latency["mean"], 50.5);
        assert_eq!(json["messages_per_s"], 100.0);
        assert_eq!(json["echoed"], 100);
        assert_eq!(json["lost"], 1);
        assert_eq!(json["errors"], 0);
        assert_eq!(json["first_error"], Value::Null);
        // Frames of 1000 bytes: 6 bytes of header and mask sent, 4 of header received.
        assert_eq!(json["wire"]["sent_per_message"], 1006.0);
        assert_eq!(json["wire"]["received_per_message"], 1004.0);
        assert!(
            report
                .render()
                .contains("1006.0 B sent and 1004.0 B received")
        );
    }

    #[test]
    fn counts_add_up() {
        let mut total = Counts::default();
        let one = Counts {
            sent: 10,
            echoed: 9,
            mismatched: 1,
            unexpected: 2,
            failed_connections: 1,
        };
        total.add(&one);
        total.add(&one);
        assert_eq!(total.sent, 20);
        assert_eq!(total.lost(), 2);
        assert_eq!(total.errors(), 8);
    }

    #[test]
    fn figures_read_well() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(whole(123_456.6), "123,457");
        assert_eq!(whole(-1.0), "0");
        assert_eq!(micros(45.14), "45.1 µs");
        assert_eq!(micros(2100.0), "2.10 ms");
        assert_eq!(micros(1_230_000.0), "1.23 s");
        assert_eq!(plural(1, "error"), "1 error");
        assert_eq!(plural(1200, "error"), "1,200 errors");
    }

    #[test]
    fn the_text_report_names_the_setup_and_the_figures() {
        let report = sample(4000, Duration::from_secs(2), &[40_000, 60_000]);
        let text = report.render();
        assert!(
            text.starts_with(
                "weft bench ws://127.0.0.1:1: 2 connections, 1000 B binary messages, window 1\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("4,001 sent, 4,000 echoed, 1 lost, 0 errors"),
            "{text}"
        );
        assert!(text.contains("2,000 msgs/s, 2.00 MB/s"), "{text}");
        assert!(text.contains("p50 40.0 µs"), "{text}");
    }
}
