//! The messages of the permessage-deflate scenarios: a deterministic corpus of JSON, written
//! by the bench (`target/bench/corpus/*.txt`, one message per line) for `weft bench
//! --corpus`.
//!
//! - `json`: chat messages and market-data ticks, 100 B to 4 KiB, interleaved as a chat
//!   server with a price feed would see them. Chat text comes from a fixed vocabulary, so
//!   it compresses like prose; ticks repeat their keys and symbols and change their numbers,
//!   as order-book updates do.
//! - `document`: JSON documents of about 64 KiB (a page of an order history), each with other
//!   records.
//!
//! A fixed seed drives a small generator of its own (xorshift), so every run and every
//! machine sends the same bytes.

use std::fmt::Write as _;

/// Which corpus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Corpus {
    /// Chat messages and market-data ticks of 100 B to 4 KiB.
    Json,
    /// Documents of about 64 KiB.
    Document,
}

/// Messages in the `json` corpus (about 1.3 MiB), and documents in the `document` one.
const JSON_MESSAGES: usize = 1000;
const DOCUMENTS: usize = 16;
/// The bounds of a `json` message, and the size of a document.
pub(super) const MIN_MESSAGE: usize = 100;
pub(super) const MAX_MESSAGE: usize = 4 << 10;
pub(super) const DOCUMENT: usize = 64 << 10;

impl Corpus {
    /// The file name under `target/bench/corpus`.
    pub(super) fn file_name(self) -> &'static str {
        match self {
            Self::Json => "json.txt",
            Self::Document => "document.txt",
        }
    }

    /// The messages, one per line.
    pub(super) fn generate(self) -> String {
        let mut random = Random(0x5eed_cafe_f00d_d00d);
        let mut out = String::new();
        match self {
            Self::Json => {
                for index in 0..JSON_MESSAGES {
                    let message = if random.below(3) == 0 {
                        chat(&mut random, index)
                    } else {
                        tick(&mut random, index)
                    };
                    out.push_str(&message);
                    out.push('\n');
                }
            }
            Self::Document => {
                for index in 0..DOCUMENTS {
                    out.push_str(&document(&mut random, index));
                    out.push('\n');
                }
            }
        }
        out
    }
}

/// xorshift64*: enough randomness for test data, and the same everywhere.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[usize::try_from(self.below(items.len() as u64)).unwrap_or(0)]
    }
}

const WORDS: &[&str] = &[
    "the",
    "market",
    "is",
    "moving",
    "fast",
    "today",
    "did",
    "you",
    "see",
    "that",
    "order",
    "book",
    "spread",
    "widened",
    "again",
    "after",
    "news",
    "about",
    "rates",
    "we",
    "should",
    "ship",
    "release",
    "tomorrow",
    "morning",
    "meeting",
    "moved",
    "to",
    "three",
    "pm",
    "thanks",
    "for",
    "update",
    "looks",
    "good",
    "me",
    "can",
    "someone",
    "review",
    "my",
    "pull",
    "request",
    "latency",
    "dropped",
    "since",
    "deploy",
    "nice",
    "work",
    "team",
    "lunch",
    "anyone",
    "coffee",
    "server",
    "restarted",
    "cleanly",
    "metrics",
    "dashboard",
    "shows",
    "green",
    "again",
    "question",
    "about",
    "websocket",
    "compression",
    "memory",
    "per",
    "connection",
];
const ROOMS: &[&str] = &[
    "general",
    "trading-desk",
    "engineering",
    "random",
    "support",
];
const USERS: &[&str] = &[
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
];
const SYMBOLS: &[&str] = &[
    "BTC-USD", "ETH-USD", "SOL-USD", "EUR-USD", "GBP-USD", "USD-JPY", "AAPL", "MSFT", "NVDA",
];

/// A chat message of 100 B to 4 KiB (most of them short, as chat is).
fn chat(random: &mut Random, index: usize) -> String {
    let target = match random.below(10) {
        0..=5 => 100 + random.below(300),
        6..=8 => 400 + random.below(1200),
        _ => 1600 + random.below(2400),
    };
    let target = usize::try_from(target).unwrap_or(MIN_MESSAGE);
    let head = format!(
        r#"{{"type":"message","room":"{}","id":{},"user":{{"id":{},"name":"{}"}},"text":""#,
        random.pick(ROOMS),
        100_000 + index,
        1000 + random.below(9000),
        random.pick(USERS),
    );
    let tail = format!(
        r#"","ts":{},"mentions":["{}"],"reactions":{{"thumbsup":{},"eyes":{}}}}}"#,
        1_765_000_000_000u64 + index as u64 * 137,
        random.pick(USERS),
        random.below(5),
        random.below(3)
    );
    // At least one word; then words while the message stays within its target.
    let mut text = String::from(random.pick(WORDS));
    loop {
        let word = random.pick(WORDS);
        if head.len() + text.len() + 1 + word.len() + tail.len() > target {
            break;
        }
        text.push(' ');
        text.push_str(word);
    }
    format!("{head}{text}{tail}")
}

/// A market-data tick or order-book update of 100 B to 4 KiB: depth decides the size.
fn tick(random: &mut Random, index: usize) -> String {
    let symbol = random.pick(SYMBOLS);
    let mid = 100.0 + random.below(60_000) as f64 / 3.0;
    let depth = match random.below(10) {
        0..=5 => 0,
        6..=8 => 1 + random.below(20),
        _ => 20 + random.below(60),
    };
    let mut message = format!(
        r#"{{"type":"tick","symbol":"{symbol}","seq":{},"bid":{:.2},"ask":{:.2},"last":{:.2},"volume":{},"ts":{}"#,
        5_000_000 + index,
        mid - 0.01,
        mid + 0.01,
        mid,
        random.below(1_000_000),
        1_765_000_000_000u64 + index as u64 * 137,
    );
    if depth > 0 {
        for side in ["bids", "asks"] {
            let _ = write!(message, r#","{side}":["#);
            for level in 0..depth {
                if level > 0 {
                    message.push(',');
                }
                let offset = (level + 1) as f64 * 0.01;
                let price = if side == "bids" {
                    mid - offset
                } else {
                    mid + offset
                };
                let _ = write!(
                    message,
                    "[{price:.2},{:.4}]",
                    random.below(500_000) as f64 / 1e4
                );
            }
            message.push(']');
        }
    }
    message.push('}');
    fit(message, MAX_MESSAGE)
}

/// A document of about 64 KiB: a page of an order history.
fn document(random: &mut Random, index: usize) -> String {
    let mut out = format!(r#"{{"type":"orders","page":{index},"orders":["#);
    let mut order = 0usize;
    // Each order is about 200 bytes; stop before the closing brackets would pass the size.
    while out.len() + 260 < DOCUMENT {
        if order > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            r#"{{"id":"ord-{:08}","symbol":"{}","side":"{}","type":"{}","price":{:.2},"quantity":{:.4},"filled":{:.4},"status":"{}","account":"{}","ts":{}}}"#,
            index * 10_000 + order,
            random.pick(SYMBOLS),
            random.pick(&["buy", "sell"]),
            random.pick(&["limit", "market", "stop"]),
            100.0 + random.below(60_000) as f64 / 3.0,
            random.below(500_000) as f64 / 1e4,
            random.below(500_000) as f64 / 1e4,
            random.pick(&["open", "filled", "cancelled", "partially_filled"]),
            random.pick(USERS),
            1_765_000_000_000u64 + (index * 10_000 + order) as u64 * 911,
        );
        order += 1;
    }
    out.push_str("]}");
    out
}

/// A tick no longer than `max` bytes: book levels are dropped from the end until it fits, and
/// the JSON closed again (ASCII only).
fn fit(message: String, max: usize) -> String {
    if message.len() <= max {
        return message;
    }
    let mut message = message;
    while message.len() > max {
        let Some(cut) = message[..message.len() - 2].rfind("],[") else {
            break;
        };
        message.truncate(cut + 1);
        message.push_str("]}");
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_corpus_is_the_same_every_time() {
        assert_eq!(Corpus::Json.generate(), Corpus::Json.generate());
        assert_eq!(Corpus::Document.generate(), Corpus::Document.generate());
    }

    #[test]
    fn json_messages_are_json_of_100_bytes_to_4_kib() {
        let corpus = Corpus::Json.generate();
        let lines: Vec<&str> = corpus.lines().collect();
        assert_eq!(lines.len(), JSON_MESSAGES);
        let (mut chats, mut ticks) = (0, 0);
        for line in &lines {
            assert!(
                (MIN_MESSAGE..=MAX_MESSAGE).contains(&line.len()),
                "{} bytes: {line}",
                line.len()
            );
            let value: serde_json::Value = serde_json::from_str(line).expect(line);
            match value["type"].as_str() {
                Some("message") => chats += 1,
                Some("tick") => ticks += 1,
                other => panic!("unexpected type {other:?}"),
            }
        }
        // Both kinds, and a spread of sizes.
        assert!(chats > 200 && ticks > 500, "{chats} chats, {ticks} ticks");
        let large = lines.iter().filter(|line| line.len() > 1600).count();
        assert!(large > 50, "{large} messages above 1600 bytes");
    }

    #[test]
    fn documents_are_json_of_about_64_kib() {
        let corpus = Corpus::Document.generate();
        let lines: Vec<&str> = corpus.lines().collect();
        assert_eq!(lines.len(), DOCUMENTS);
        for line in lines {
            assert!(
                (DOCUMENT - 512..=DOCUMENT).contains(&line.len()),
                "{}",
                line.len()
            );
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            assert!(value["orders"].as_array().unwrap().len() > 200);
        }
    }
}
