//! Messages and message fragments, backed by shared [`Bytes`].

use bytes::Bytes;

use crate::close::CloseFrame;
use crate::utf8::Utf8Bytes;

/// A WebSocket message.
///
/// Payloads are [`Bytes`], so a message can be cloned and sent to many connections without
/// copying, and a received message is usually a slice of the read buffer.
///
/// ```
/// use weft_codec::Message;
/// let msg = Message::text("hello");
/// assert_eq!(msg.as_text(), Some("hello"));
/// assert!(Message::binary(vec![1, 2, 3]).is_binary());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Message {
    /// A text message: valid UTF-8.
    Text(Utf8Bytes),
    /// A binary message.
    Binary(Bytes),
    /// A ping (at most 125 bytes). Received pings are answered automatically unless
    /// [`Config::auto_pong`](crate::Config::auto_pong) is off.
    Ping(Bytes),
    /// A pong (at most 125 bytes).
    Pong(Bytes),
    /// A close frame; `None` when it carried no status code.
    Close(Option<CloseFrame>),
}

impl Message {
    /// A text message.
    ///
    /// ```
    /// let greeting = weft_codec::Message::text(format!("hello, {}", "world"));
    /// assert_eq!(greeting.as_text(), Some("hello, world"));
    /// ```
    pub fn text(text: impl Into<Utf8Bytes>) -> Self {
        Self::Text(text.into())
    }

    /// A binary message.
    ///
    /// ```
    /// let frame = weft_codec::Message::binary(vec![0xde, 0xad, 0xbe, 0xef]);
    /// assert_eq!(frame.len(), 4);
    /// ```
    pub fn binary(data: impl Into<Bytes>) -> Self {
        Self::Binary(data.into())
    }

    /// A ping with `data` (at most 125 bytes when sent).
    ///
    /// ```
    /// let ping = weft_codec::Message::ping(&b"are you there?"[..]);
    /// assert_eq!(ping.as_payload(), b"are you there?");
    /// ```
    pub fn ping(data: impl Into<Bytes>) -> Self {
        Self::Ping(data.into())
    }

    /// A pong with `data` (at most 125 bytes when sent).
    ///
    /// ```
    /// // An unsolicited pong: a one-way heartbeat (RFC 6455 §5.5.3).
    /// let heartbeat = weft_codec::Message::pong(bytes::Bytes::new());
    /// assert!(heartbeat.is_empty());
    /// ```
    pub fn pong(data: impl Into<Bytes>) -> Self {
        Self::Pong(data.into())
    }

    /// Whether this is a text message.
    ///
    /// ```
    /// assert!(weft_codec::Message::text("hi").is_text());
    /// ```
    pub fn is_text(&self) -> bool {
        matches!(self, Self::Text(_))
    }

    /// Whether this is a binary message.
    ///
    /// ```
    /// assert!(weft_codec::Message::binary(vec![1]).is_binary());
    /// ```
    pub fn is_binary(&self) -> bool {
        matches!(self, Self::Binary(_))
    }

    /// Whether this is a close frame.
    ///
    /// ```
    /// assert!(weft_codec::Message::Close(None).is_close());
    /// ```
    pub fn is_close(&self) -> bool {
        matches!(self, Self::Close(_))
    }

    /// The text of a text message.
    ///
    /// ```
    /// use weft_codec::Message;
    /// assert_eq!(Message::text("hi").as_text(), Some("hi"));
    /// assert_eq!(Message::binary(&b"hi"[..]).as_text(), None);
    /// ```
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Self::Text(text) => Some(text.as_str()),
            _ => None,
        }
    }

    /// The payload bytes (for a close frame, the reason).
    ///
    /// ```
    /// use weft_codec::{CloseCode, CloseFrame, Message};
    /// assert_eq!(Message::text("hi").as_payload(), b"hi");
    /// let close = Message::Close(Some(CloseFrame::new(CloseCode::NORMAL, "bye")));
    /// assert_eq!(close.as_payload(), b"bye");
    /// ```
    pub fn as_payload(&self) -> &[u8] {
        match self {
            Self::Text(text) => text.as_bytes(),
            Self::Binary(data) | Self::Ping(data) | Self::Pong(data) => data,
            Self::Close(Some(frame)) => frame.reason().as_bytes(),
            Self::Close(None) => &[],
        }
    }

    /// The payload as shared bytes (for a close frame, the reason).
    ///
    /// ```
    /// let payload: bytes::Bytes = weft_codec::Message::binary(vec![1, 2, 3]).into_payload();
    /// assert_eq!(&payload[..], [1, 2, 3]);
    /// ```
    pub fn into_payload(self) -> Bytes {
        match self {
            Self::Text(text) => text.into_bytes(),
            Self::Binary(data) | Self::Ping(data) | Self::Pong(data) => data,
            Self::Close(Some(frame)) => Bytes::copy_from_slice(frame.reason().as_bytes()),
            Self::Close(None) => Bytes::new(),
        }
    }

    /// The payload length in bytes.
    ///
    /// ```
    /// assert_eq!(weft_codec::Message::text("héllo").len(), 6); // bytes, not characters
    /// ```
    pub fn len(&self) -> usize {
        self.as_payload().len()
    }

    /// Whether the payload is empty.
    ///
    /// ```
    /// assert!(weft_codec::Message::text("").is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<String> for Message {
    fn from(text: String) -> Self {
        Self::text(text)
    }
}

impl From<&str> for Message {
    fn from(text: &str) -> Self {
        Self::text(text)
    }
}

impl From<Utf8Bytes> for Message {
    fn from(text: Utf8Bytes) -> Self {
        Self::Text(text)
    }
}

impl From<Bytes> for Message {
    fn from(data: Bytes) -> Self {
        Self::Binary(data)
    }
}

impl From<Vec<u8>> for Message {
    fn from(data: Vec<u8>) -> Self {
        Self::binary(data)
    }
}

/// Whether a data message is text or binary.
///
/// ```
/// use weft_codec::{DataKind, Fragment};
/// let piece = Fragment::new(DataKind::Binary, vec![1, 2, 3], true);
/// assert_eq!(piece.kind, DataKind::Binary);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DataKind {
    /// A text message (UTF-8).
    Text,
    /// A binary message.
    Binary,
}

/// A piece of a data message, for sending or receiving a message without holding all of it.
///
/// The pieces of one message come in order; `fin` marks the last. The pieces of a text
/// message may split a UTF-8 code point; the message as a whole is valid UTF-8 (the receiver
/// checks as the pieces arrive, the sender checks before sending).
///
/// ```
/// use weft_codec::{DataKind, Fragment};
/// let first = Fragment::new(DataKind::Binary, vec![1, 2], false);
/// let last = Fragment::new(DataKind::Binary, vec![3], true);
/// assert!(!first.fin && last.fin);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fragment {
    /// The kind of the message this piece belongs to.
    pub kind: DataKind,
    /// The bytes of this piece (after any extension has decoded them).
    pub data: Bytes,
    /// Whether this is the last piece of the message.
    pub fin: bool,
}

impl Fragment {
    /// A piece of a message.
    ///
    /// ```
    /// use weft_codec::{DataKind, Fragment};
    /// let last = Fragment::new(DataKind::Text, "the end", true);
    /// assert_eq!((last.kind, last.fin), (DataKind::Text, true));
    /// ```
    pub fn new(kind: DataKind, data: impl Into<Bytes>, fin: bool) -> Self {
        Self {
            kind,
            data: data.into(),
            fin,
        }
    }
}
