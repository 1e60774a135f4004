//! The messages `weft bench` sends, and the cheap check of what comes back.
//!
//! A connection sends from a small pool of prebuilt payloads, in turn, so that sending costs
//! no copy on our side (a `Bytes` clone) and the echo of message `n` can be checked against
//! payload `n % pool size`: its length, its first and its last 16 bytes. Each payload starts
//! with its pool index in hex digits, so an echo that comes back out of order, or twice, does
//! not match. Payloads are ASCII, so the same bytes serve as text and as binary messages.
//!
//! With `--corpus FILE` the messages are the file's lines instead, sent as text in turn, and
//! an echo must equal its message byte for byte.

use bytes::Bytes;
use weft::{Message, Utf8Bytes};

/// How many bytes at each end of an echo are compared.
const CHECKED: usize = 16;
/// The pool never holds more than this many bytes (but always at least two payloads).
const POOL_BYTES: usize = 64 << 20;

/// A connection's payloads.
#[derive(Debug, Clone)]
pub(crate) struct Payloads {
    messages: Vec<Message>,
    /// Every message's length (generated payloads), or `None` for a corpus, whose messages
    /// differ in length and are checked whole.
    size: Option<usize>,
    text: bool,
}

/// What is wrong with an echo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mismatch {
    /// Text came back as binary or the other way round.
    Kind,
    /// The length differs.
    Size {
        /// The length received.
        received: usize,
    },
    /// The first or last bytes differ from what was sent.
    Content,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Kind => f.write_str("an echo came back as the other kind (text/binary)"),
            Self::Size { received } => write!(f, "an echo came back with {received} bytes"),
            Self::Content => f.write_str("an echo came back with other bytes than were sent"),
        }
    }
}

impl Payloads {
    /// Payloads of `size` bytes, text or binary, enough of them to tell apart the echoes of
    /// `window` messages in flight (fewer for very large messages).
    pub(crate) fn new(size: usize, text: bool, window: usize) -> Self {
        let messages = (0..pool_len(size, window))
            .map(|index| {
                let bytes = Bytes::from(fill(size, index));
                if text {
                    // ASCII is UTF-8; the conversion only checks it.
                    Message::Text(Utf8Bytes::try_from(bytes).unwrap_or_default())
                } else {
                    Message::Binary(bytes)
                }
            })
            .collect();
        Self {
            messages,
            size: Some(size),
            text,
        }
    }

    /// The lines of a corpus (`--corpus`), as text messages; `None` if it has no line.
    pub(crate) fn corpus(text: &str) -> Option<Self> {
        let messages: Vec<Message> = text
            .lines()
            .filter(|line| !line.is_empty())
            .map(|line| Message::text(line.to_owned()))
            .collect();
        (!messages.is_empty()).then_some(Self {
            messages,
            size: None,
            text: true,
        })
    }

    /// The mean payload length, for MB/s.
    pub(crate) fn mean_size(&self) -> usize {
        let total: usize = self.messages.iter().map(Message::len).sum();
        total / self.messages.len().max(1)
    }

    /// The `sequence`-th message of the connection (shares its bytes with the pool).
    pub(crate) fn message(&self, sequence: u64) -> Message {
        self.messages[self.slot(sequence)].clone()
    }

    /// Checks the echo of the `sequence`-th message.
    pub(crate) fn check(&self, sequence: u64, echo: &Message) -> Result<(), Mismatch> {
        let received = match echo {
            Message::Text(text) if self.text => text.as_bytes(),
            Message::Binary(data) if !self.text => data,
            _ => return Err(Mismatch::Kind),
        };
        let sent = self.messages[self.slot(sequence)].as_payload();
        if received.len() != sent.len() {
            return Err(Mismatch::Size {
                received: received.len(),
            });
        }
        let Some(size) = self.size else {
            return if received == sent {
                Ok(())
            } else {
                Err(Mismatch::Content)
            };
        };
        let ends = CHECKED.min(size);
        let tail = size - ends;
        if received[..ends] == sent[..ends] && received[tail..] == sent[tail..] {
            Ok(())
        } else {
            Err(Mismatch::Content)
        }
    }

    fn slot(&self, sequence: u64) -> usize {
        // The pool is small, so the remainder fits in usize.
        usize::try_from(sequence % self.messages.len() as u64).unwrap_or_default()
    }
}

/// How many payloads a pool holds: one more than the window, within [`POOL_BYTES`].
fn pool_len(size: usize, window: usize) -> usize {
    window
        .saturating_add(1)
        .min(POOL_BYTES / size.max(1))
        .max(2)
}

/// `size` bytes: the index in hex digits (as many as fit in the first 16 bytes), then
/// letters that run through the alphabet.
fn fill(size: usize, index: usize) -> Vec<u8> {
    let mut bytes: Vec<u8> = (0..size)
        .map(|i| b'a' + u8::try_from(i % 26).unwrap_or_default())
        .collect();
    let digits = format!("{index:016x}");
    let head = CHECKED.min(size);
    // The low digits, which differ between neighbours, go first.
    for (byte, digit) in bytes[..head].iter_mut().zip(digits.bytes().rev()) {
        *byte = digit;
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoes_of_the_right_message_pass() {
        for (size, text) in [(0, false), (1, true), (20, false), (1 << 10, true)] {
            let payloads = Payloads::new(size, text, 4);
            for sequence in 0..20 {
                let message = payloads.message(sequence);
                assert_eq!(message.len(), size);
                assert_eq!(message.is_text(), text);
                assert_eq!(
                    payloads.check(sequence, &message),
                    Ok(()),
                    "{size} {sequence}"
                );
            }
        }
    }

    #[test]
    fn wrong_echoes_are_named() {
        let payloads = Payloads::new(64, false, 8);
        let first = payloads.message(0);
        assert_eq!(payloads.check(0, &Message::text("x")), Err(Mismatch::Kind));
        assert_eq!(
            payloads.check(0, &Message::binary(vec![b'a'; 63])),
            Err(Mismatch::Size { received: 63 })
        );
        // Out of order: the echo of message 0 where message 1 was expected.
        assert_eq!(payloads.check(1, &first), Err(Mismatch::Content));
        // A different last byte.
        let mut changed = first.as_payload().to_vec();
        changed[63] ^= 1;
        assert_eq!(
            payloads.check(0, &Message::binary(changed)),
            Err(Mismatch::Content)
        );
    }

    #[test]
    fn a_corpus_is_sent_line_by_line_and_checked_whole() {
        let corpus = Payloads::corpus("{\"a\":1}\n\n{\"b\":22}\n").unwrap();
        assert_eq!(corpus.messages.len(), 2);
        assert_eq!(corpus.mean_size(), 7);
        assert_eq!(corpus.message(3), Message::text("{\"b\":22}"));
        assert_eq!(corpus.check(2, &Message::text("{\"a\":1}")), Ok(()));
        assert_eq!(
            corpus.check(2, &Message::text("{\"a\":2}")),
            Err(Mismatch::Content)
        );
        assert_eq!(
            corpus.check(1, &Message::text("{\"a\":1}")),
            Err(Mismatch::Size { received: 7 })
        );
        assert_eq!(
            corpus.check(0, &Message::binary(&b"{\"a\":1}"[..])),
            Err(Mismatch::Kind)
        );
        assert!(Payloads::corpus("\n\n").is_none());
    }

    #[test]
    fn the_pool_tells_a_window_of_echoes_apart_and_stays_small() {
        let payloads = Payloads::new(20, false, 64);
        assert_eq!(payloads.messages.len(), 65);
        for (i, message) in payloads.messages.iter().enumerate() {
            for other in &payloads.messages[i + 1..] {
                assert_ne!(message, other);
            }
        }
        assert_eq!(pool_len(1 << 20, 64), 64);
        assert_eq!(pool_len(1 << 30, 64), 2);
        assert_eq!(pool_len(0, 1), 2);
    }
}
