//! weft's scenario tests live in this package's test targets (see `Cargo.toml`); the shared
//! test machinery is the `weft-harness` crate. This library only locates the workspace's test
//! data.

use std::path::PathBuf;

/// The workspace's `testdata/` directory.
pub fn testdata_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata")
}

/// The frame-level protocol vectors of `testdata/frames.toml`, shared by the sans-IO runner
/// (`tests/frame_vectors.rs`) and the runner over real transports (`tests/conformance.rs`).
pub mod vectors {
    use serde::Deserialize;
    use weft::{CloseCode, Message};

    /// Every vector of `testdata/frames.toml`, in file order.
    pub fn frame_vectors() -> Vec<Vector> {
        let path = super::testdata_dir().join("frames.toml");
        let text = std::fs::read_to_string(&path).expect("testdata/frames.toml");
        let file: File = toml::from_str(&text).expect("valid vectors");
        file.vector
    }

    impl Vector {
        /// The messages the receiver must hand out.
        pub fn messages(&self) -> Vec<Message> {
            self.expect.iter().map(Expected::message).collect()
        }
    }

    #[derive(Deserialize)]
    struct File {
        vector: Vec<Vector>,
    }

    /// One vector: bytes on the wire, and what the receiver must make of them.
    #[derive(Debug, Deserialize)]
    pub struct Vector {
        /// What the vector shows.
        pub name: String,
        /// `server` or `client`: who receives `wire`.
        pub receiver: String,
        /// The bytes on the wire, in hex (see [`decode_hex`]).
        pub wire: String,
        /// The messages the receiver hands out, in order.
        #[serde(default)]
        pub expect: Vec<Expected>,
        /// The close code of the protocol error the receiver fails with, if any.
        pub close: Option<u16>,
        /// The exact bytes a server receiver queues in answer (pongs, close replies).
        pub reply: Option<String>,
    }

    /// One message a vector expects; exactly one field is set.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Expected {
        text: Option<String>,
        binary: Option<String>,
        ping: Option<String>,
        pong: Option<String>,
        close: Option<u16>,
        reason: Option<String>,
        close_empty: Option<bool>,
    }

    impl Expected {
        /// The message this entry describes.
        pub fn message(&self) -> Message {
            if let Some(text) = &self.text {
                Message::text(text.as_str())
            } else if let Some(hex) = &self.binary {
                Message::binary(decode_hex(hex))
            } else if let Some(hex) = &self.ping {
                Message::ping(decode_hex(hex))
            } else if let Some(hex) = &self.pong {
                Message::pong(decode_hex(hex))
            } else if let Some(code) = self.close {
                let reason = self.reason.clone().unwrap_or_default();
                Message::Close(Some(weft::CloseFrame::new(CloseCode::from(code), reason)))
            } else if self.close_empty == Some(true) {
                Message::Close(None)
            } else {
                panic!("an expected message names no kind")
            }
        }
    }

    /// Hex with spaces, and `{zeros:N}` for N zero bytes.
    pub fn decode_hex(text: &str) -> Vec<u8> {
        let mut out = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            out.extend(plain_hex(&rest[..open]));
            let close = rest[open..].find('}').expect("closing brace") + open;
            let count: usize = rest[open + 1..close]
                .strip_prefix("zeros:")
                .expect("only {zeros:N} is known")
                .parse()
                .expect("a count");
            out.resize(out.len() + count, 0);
            rest = &rest[close + 1..];
        }
        out.extend(plain_hex(rest));
        out
    }

    fn plain_hex(text: &str) -> Vec<u8> {
        let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        assert!(
            digits.len().is_multiple_of(2),
            "odd number of hex digits in {text:?}"
        );
        digits
            .chunks(2)
            .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).expect("hex"))
            .collect()
    }
}
