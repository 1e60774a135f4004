//! [`PreparedMessage`]: a data message encoded once and sent to many connections.

use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use bytes::{BufMut, Bytes, BytesMut};

use crate::extension::SharedEncoding;
use crate::frame::{FrameHeader, OpCode, Rsv};
use crate::message::{DataKind, Message};
use crate::utf8::Utf8Bytes;

/// Frames up to this size are written into one buffer with their header; a larger payload is
/// shared as it is, after a buffer of its own for the header. One buffer is one plain `write`
/// per connection; copying the payload once per prepared message costs nothing per connection.
const CONTIGUOUS_LIMIT: usize = 64 << 10;

/// A text or binary message encoded once into its frame bytes, for sending to many
/// connections with [`Connection::send_prepared`](crate::Connection::send_prepared) (or
/// `WebSocket::send_prepared` in the tokio shell).
///
/// Server frames are not masked, so the frames of one encoding serve every server connection
/// as they are: each connection queues the same [`Bytes`] (a reference count, no copy).
/// Cloning a `PreparedMessage` is cheap (one reference count); clones share the encodings.
///
/// The encoding a connection needs depends on what it negotiated, and each is made once, on
/// first use, then shared:
///
/// - **Uncompressed, one frame:** made when the message is prepared.
/// - **Auto-fragmented:** once per [`Config::fragment_size`](crate::Config::fragment_size).
/// - **Compressed:** once per distinct parameter set, when the extension encodes each message
///   on its own ([`Extension::shared_encoding`](crate::Extension::shared_encoding)). For
///   permessage-deflate that is when the server does not keep its compression context between
///   messages (`server_no_context_takeover`, which a server can always choose): connections
///   with the same compression level and window size share one compressed copy.
/// - **Per connection:** with context takeover, a compressor's output depends on every
///   message it compressed before on that connection, so each connection compresses the
///   message itself (the payload is still shared, not copied, as input). A fan-out server
///   that wants compression should turn on `server_no_context_takeover`.
/// - **Clients** mask every frame with a fresh key (RFC 6455 §5.3), so a client connection
///   encodes a prepared message like any other message; the sharing is for servers.
///
/// Every protocol rule applies as to any send: a connection that has sent its close frame
/// refuses it ([`Error::SendAfterClose`](crate::Error::SendAfterClose)), as does one with a
/// fragmented message under way, and the write buffer limit holds.
///
/// ```
/// use bytes::Buf;
/// use weft_codec::{Connection, PreparedMessage, Role};
///
/// let news = PreparedMessage::text("the market opened");
/// let mut subscribers: Vec<Connection> = (0..3).map(|_| Connection::new(Role::Server)).collect();
/// for conn in &mut subscribers {
///     conn.send_prepared(&news).unwrap();
/// }
/// // Every connection queued the same bytes, not a copy of them.
/// let first = subscribers[0].poll_transmit().unwrap().chunk().as_ptr();
/// for conn in &mut subscribers {
///     let out = conn.poll_transmit().unwrap();
///     assert_eq!(out.chunk(), b"\x81\x11the market opened");
///     assert_eq!(out.chunk().as_ptr(), first);
/// }
/// ```
#[derive(Clone)]
pub struct PreparedMessage {
    inner: Arc<Inner>,
}

struct Inner {
    kind: DataKind,
    payload: Bytes,
    /// The frame of the usual case: uncompressed, unfragmented.
    plain: Frames,
    /// The first other encoding asked for (most servers need exactly one more: their
    /// compression parameters), read without a lock.
    first: OnceLock<(EncodingKey, Frames)>,
    /// Further encodings.
    more: Mutex<Vec<(EncodingKey, Frames)>>,
}

/// Which encoding of the message: compressed by an extension's shared encoding or not, and
/// split into frames of at most this size or not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct EncodingKey {
    pub(crate) shared: Option<SharedEncoding>,
    pub(crate) fragment_size: Option<usize>,
}

/// The frames of one encoding: the bytes to queue, in order (unmasked, server frames).
pub(crate) type Frames = Arc<[Bytes]>;

impl PreparedMessage {
    /// A prepared text message.
    ///
    /// ```
    /// use weft_codec::{DataKind, PreparedMessage};
    /// let message = PreparedMessage::text("hello");
    /// assert_eq!(message.kind(), DataKind::Text);
    /// assert_eq!(message.payload(), "hello".as_bytes());
    /// ```
    pub fn text(text: impl Into<Utf8Bytes>) -> Self {
        Self::new(DataKind::Text, text.into().into_bytes())
    }

    /// A prepared binary message.
    ///
    /// ```
    /// use weft_codec::PreparedMessage;
    /// let message = PreparedMessage::binary(vec![0u8; 1024]);
    /// assert_eq!(message.len(), 1024);
    /// ```
    pub fn binary(data: impl Into<Bytes>) -> Self {
        Self::new(DataKind::Binary, data.into())
    }

    fn new(kind: DataKind, payload: Bytes) -> Self {
        let plain = frames(data_opcode(kind), Rsv::NONE, &payload, None);
        Self {
            inner: Arc::new(Inner {
                kind,
                payload,
                plain,
                first: OnceLock::new(),
                more: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Whether this is a text or a binary message.
    ///
    /// ```
    /// use weft_codec::{DataKind, PreparedMessage};
    /// assert_eq!(PreparedMessage::text("hi").kind(), DataKind::Text);
    /// ```
    pub fn kind(&self) -> DataKind {
        self.inner.kind
    }

    /// The message's payload (before any extension's encoding).
    ///
    /// ```
    /// let message = weft_codec::PreparedMessage::binary(vec![1, 2, 3]);
    /// assert_eq!(&message.payload()[..], [1, 2, 3]);
    /// ```
    pub fn payload(&self) -> &Bytes {
        &self.inner.payload
    }

    /// The payload length in bytes.
    ///
    /// ```
    /// assert_eq!(weft_codec::PreparedMessage::text("héllo").len(), 6);
    /// ```
    pub fn len(&self) -> usize {
        self.inner.payload.len()
    }

    /// Whether the payload is empty.
    ///
    /// ```
    /// assert!(weft_codec::PreparedMessage::binary(Vec::new()).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.inner.payload.is_empty()
    }

    /// The message as a [`Message`] (sharing the payload).
    ///
    /// ```
    /// use weft_codec::{Message, PreparedMessage};
    /// assert_eq!(PreparedMessage::text("hi").to_message(), Message::text("hi"));
    /// ```
    pub fn to_message(&self) -> Message {
        let payload = self.inner.payload.clone();
        match self.inner.kind {
            DataKind::Text => Message::Text(Utf8Bytes::from_validated(payload)),
            DataKind::Binary => Message::Binary(payload),
        }
    }

    /// How many encodings have been made so far, the uncompressed one included; for tests
    /// and for seeing that connections share them.
    ///
    /// ```
    /// use weft_codec::{Config, Connection, PreparedMessage, Role};
    /// let message = PreparedMessage::binary(vec![7; 100]);
    /// assert_eq!(message.encodings(), 1);
    /// let mut conn = Connection::new(Role::Server).with_config(Config::default().fragment_size(Some(40)));
    /// conn.send_prepared(&message).unwrap();
    /// assert_eq!(message.encodings(), 2); // in frames of 40 bytes
    /// ```
    pub fn encodings(&self) -> usize {
        let more = self
            .inner
            .more
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        1 + usize::from(self.inner.first.get().is_some()) + more
    }

    /// The server frames of the encoding `key`, made by `encode` (which returns the payload to
    /// frame and its RSV bits) if no connection made them before.
    pub(crate) fn frames<E>(
        &self,
        key: EncodingKey,
        encode: impl FnOnce(&Bytes) -> Result<(Bytes, Rsv), E>,
    ) -> Result<Frames, E> {
        let inner = &*self.inner;
        if key.shared.is_none() && key.fragment_size.is_none() {
            return Ok(inner.plain.clone());
        }
        if let Some((first, frames)) = inner.first.get()
            && *first == key
        {
            return Ok(frames.clone());
        }
        let mut more = inner.more.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, frames)) = more.iter().find(|(k, _)| *k == key) {
            return Ok(frames.clone());
        }
        // Encoded under the lock: connections that need the same encoding at the same time
        // wait for it rather than each making their own.
        let (payload, rsv) = encode(&inner.payload)?;
        let made = frames(data_opcode(inner.kind), rsv, &payload, key.fragment_size);
        if inner.first.set((key, made.clone())).is_err() {
            more.push((key, made.clone()));
        }
        Ok(made)
    }
}

impl fmt::Debug for PreparedMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreparedMessage")
            .field("kind", &self.inner.kind)
            .field("len", &self.inner.payload.len())
            .field("encodings", &self.encodings())
            .finish()
    }
}

impl From<Utf8Bytes> for PreparedMessage {
    fn from(text: Utf8Bytes) -> Self {
        Self::text(text)
    }
}

impl From<Bytes> for PreparedMessage {
    fn from(data: Bytes) -> Self {
        Self::binary(data)
    }
}

/// A text or binary message becomes a prepared message; a control message is given back.
///
/// ```
/// use weft_codec::{Message, PreparedMessage};
/// assert!(PreparedMessage::try_from(Message::text("hi")).is_ok());
/// assert!(PreparedMessage::try_from(Message::ping("?")).is_err());
/// ```
impl TryFrom<Message> for PreparedMessage {
    type Error = Message;

    fn try_from(message: Message) -> Result<Self, Message> {
        match message {
            Message::Text(text) => Ok(Self::text(text)),
            Message::Binary(data) => Ok(Self::binary(data)),
            other => Err(other),
        }
    }
}

pub(crate) fn data_opcode(kind: DataKind) -> OpCode {
    match kind {
        DataKind::Text => OpCode::Text,
        DataKind::Binary => OpCode::Binary,
    }
}

/// The unmasked frames carrying `payload`: one frame, or frames of at most `fragment_size`
/// payload bytes; small frames share one buffer, a large payload is referenced, not copied.
fn frames(opcode: OpCode, rsv: Rsv, payload: &Bytes, fragment_size: Option<usize>) -> Frames {
    let size = match fragment_size {
        Some(size) if payload.len() > size => size,
        _ => payload.len().max(1),
    };
    let mut out: Vec<Bytes> = Vec::new();
    let mut buf = BytesMut::new();
    let mut offset = 0;
    loop {
        let end = (offset + size).min(payload.len());
        let first = offset == 0;
        let header = FrameHeader {
            fin: end == payload.len(),
            rsv: if first { rsv } else { Rsv::NONE },
            opcode: if first { opcode } else { OpCode::Continuation },
            mask: None,
            payload_len: (end - offset) as u64,
        };
        let piece = payload.slice(offset..end);
        if piece.len() <= CONTIGUOUS_LIMIT {
            buf.reserve(header.encoded_len() + piece.len());
            header.encode_to(&mut buf);
            buf.put_slice(&piece);
        } else {
            header.encode_to(&mut buf);
            out.push(buf.split().freeze());
            out.push(piece);
        }
        offset = end;
        if offset == payload.len() {
            break;
        }
    }
    if !buf.is_empty() {
        out.push(buf.freeze());
    }
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn concat(frames: &[Bytes]) -> Vec<u8> {
        frames.iter().flat_map(|b| b.iter().copied()).collect()
    }

    #[test]
    fn a_small_message_is_one_buffer_with_its_header() {
        let frames = frames(OpCode::Text, Rsv::NONE, &Bytes::from_static(b"hi"), None);
        assert_eq!(frames.len(), 1);
        assert_eq!(&frames[0][..], b"\x81\x02hi");
        let empty = super::frames(OpCode::Binary, Rsv::RSV1, &Bytes::new(), None);
        assert_eq!(concat(&empty), b"\xc2\x00");
    }

    #[test]
    fn a_large_payload_is_referenced_not_copied() {
        let payload = Bytes::from(vec![5u8; CONTIGUOUS_LIMIT + 1]);
        let frames = frames(OpCode::Binary, Rsv::NONE, &payload, None);
        assert_eq!(frames.len(), 2);
        assert_eq!(&frames[0][..], b"\x82\x7f\0\0\0\0\0\x01\0\x01");
        assert_eq!(frames[1].as_ptr(), payload.as_ptr());
    }

    #[test]
    fn fragments_carry_rsv_on_the_first_frame_only() {
        let payload = Bytes::from_static(b"abcdefg");
        let frames = frames(OpCode::Text, Rsv::RSV1, &payload, Some(3));
        assert_eq!(concat(&frames), b"\x41\x03abc\x00\x03def\x80\x01g".to_vec());
    }

    #[test]
    fn each_encoding_is_made_once() {
        let message = PreparedMessage::binary(vec![1u8; 10]);
        let key = EncodingKey {
            shared: None,
            fragment_size: Some(4),
        };
        let mut calls = 0;
        for _ in 0..3 {
            let frames = message
                .frames::<()>(key, |payload| {
                    calls += 1;
                    Ok((payload.clone(), Rsv::NONE))
                })
                .unwrap();
            assert_eq!(concat(&frames).len(), 10 + 3 * 2);
        }
        let other = EncodingKey {
            shared: None,
            fragment_size: Some(5),
        };
        message
            .frames::<()>(other, |payload| {
                calls += 1;
                Ok((payload.clone(), Rsv::NONE))
            })
            .unwrap();
        assert_eq!(calls, 2);
        assert_eq!(message.encodings(), 3);
    }
}
