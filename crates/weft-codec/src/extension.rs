//! The [`Extension`] trait: how an extension such as permessage-deflate plugs into a
//! [`Connection`](crate::Connection) without the codec knowing about it.

use std::fmt;

use bytes::BytesMut;

use crate::close::CloseCode;
use crate::frame::{OpCode, Rsv};

/// A per-message extension negotiated in the opening handshake (RFC 6455 §9).
///
/// The connection calls it for data messages only — control frames never pass through an
/// extension — and only for messages that use it: an outgoing message is transformed when
/// [`encode_begin`](Self::encode_begin) returns RSV bits, and an incoming message is decoded
/// when its first frame carries RSV bits the extension claimed in [`rsv`](Self::rsv). Frames
/// that set unclaimed bits, or RSV bits on a continuation or control frame, are protocol
/// errors the connection reports itself.
///
/// Input comes in pieces as frames arrive, possibly ending inside a frame; `fin` marks the
/// last piece of a message. Output is bounded: [`decode`](Self::decode) must stop before it
/// appends more than `max_output` bytes and return [`ExtensionError::OutputTooLarge`], so a
/// decompression bomb costs at most the limit.
///
/// ```
/// use bytes::BytesMut;
/// use weft_codec::{Extension, ExtensionError, OpCode, Rsv};
///
/// /// Sends every message with its bytes reversed per piece, flagged with RSV2 (a toy).
/// #[derive(Debug)]
/// struct Reverse;
///
/// impl Extension for Reverse {
///     fn rsv(&self) -> Rsv {
///         Rsv::RSV2
///     }
///     fn encode_begin(&mut self, _opcode: OpCode, _size_hint: Option<usize>) -> Rsv {
///         Rsv::RSV2
///     }
///     fn encode(&mut self, input: &[u8], _fin: bool, output: &mut BytesMut)
///         -> Result<(), ExtensionError> {
///         output.extend(input.iter().rev());
///         Ok(())
///     }
///     fn decode(&mut self, input: &[u8], _fin: bool, output: &mut BytesMut, max_output: usize)
///         -> Result<(), ExtensionError> {
///         if input.len() > max_output {
///             return Err(ExtensionError::OutputTooLarge { limit: max_output });
///         }
///         output.extend(input.iter().rev());
///         Ok(())
///     }
/// }
/// ```
pub trait Extension: fmt::Debug + Send {
    /// The RSV bits this extension uses.
    fn rsv(&self) -> Rsv;

    /// Starts an outgoing data message of kind `opcode` (text or binary). `size_hint` is the
    /// message length when the whole message is known. Returns the RSV bits to set on its
    /// first frame, or [`Rsv::NONE`] to send this message untransformed (for instance, below a
    /// size threshold).
    fn encode_begin(&mut self, opcode: OpCode, size_hint: Option<usize>) -> Rsv;

    /// Transforms the next piece of the outgoing message, appending to `output`.
    fn encode(
        &mut self,
        input: &[u8],
        fin: bool,
        output: &mut BytesMut,
    ) -> Result<(), ExtensionError>;

    /// Decodes the next piece of an incoming message whose first frame carried this
    /// extension's bits, appending at most `max_output` bytes to `output`.
    fn decode(
        &mut self,
        input: &[u8],
        fin: bool,
        output: &mut BytesMut,
        max_output: usize,
    ) -> Result<(), ExtensionError>;

    /// Whether this extension encodes each whole message on its own: the output of
    /// [`encode`](Self::encode) for a message depends only on the message and on the value
    /// returned, never on earlier messages or on anything else about this connection.
    ///
    /// A [`PreparedMessage`](crate::PreparedMessage) is then encoded once for every connection
    /// whose extension returns an equal value: a connection that finds the encoding already
    /// made calls [`encode_begin`](Self::encode_begin) (which decides whether the message is
    /// transformed at all) but not `encode`. Return `None`, the default, when the output
    /// depends on the connection's history; permessage-deflate with context takeover does.
    fn shared_encoding(&self) -> Option<SharedEncoding> {
        None
    }

    /// Encodes a whole message into the encoding named by
    /// [`shared_encoding`](Self::shared_encoding), for a
    /// [`PreparedMessage`](crate::PreparedMessage) that every connection with that encoding
    /// will share. Called (after [`encode_begin`](Self::encode_begin)) instead of
    /// [`encode`](Self::encode) for such messages, and only when `shared_encoding` returned
    /// `Some`; the output must be what `encode` would give for the whole message.
    ///
    /// The default calls `encode`. An extension whose per-connection encoder is costly to
    /// allocate (a compressor) can encode with state shared between connections instead, so
    /// that a connection that only ever sends prepared messages never allocates its own.
    fn encode_shared(&mut self, input: &[u8], output: &mut BytesMut) -> Result<(), ExtensionError> {
        self.encode(input, true, output)
    }

    /// Called when no message has passed through the extension for
    /// [`Config::extension_release_after`](crate::Config::extension_release_after): free the
    /// state that can be rebuilt without the peer noticing. It may come between the pieces of a
    /// message sent or received in fragments; what that message still needs must be kept.
    /// The default frees nothing.
    ///
    /// permessage-deflate drops its compressor here: a fresh compressor refers to nothing
    /// sent earlier, which the peer's decompressor reads like any other message.
    fn release_idle_memory(&mut self) {}

    /// The most bytes that `len` bytes of message data may take once a conforming peer has
    /// encoded them, in one frame. The connection accepts an encoded frame up to
    /// `max_encoded_len(max_frame_size)`, so that data within the frame limit passes whatever
    /// the encoding does to its size (DEFLATE makes random data slightly larger). Decoded
    /// output stays bounded by the message limit either way.
    ///
    /// The default is `len`: the encoding never grows data.
    fn max_encoded_len(&self, len: usize) -> usize {
        len
    }
}

/// What makes one extension's encoding of a message the same as another's: the extension and
/// the parameters that shape its output (see [`Extension::shared_encoding`]).
///
/// ```
/// use weft_codec::SharedEncoding;
/// // permessage-deflate at level 6 with a 15-bit window, say:
/// let a = SharedEncoding::new("permessage-deflate", 6 << 8 | 15);
/// assert_eq!(a, SharedEncoding::new("permessage-deflate", 6 << 8 | 15));
/// assert_ne!(a, SharedEncoding::new("permessage-deflate", 6 << 8 | 12));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SharedEncoding {
    extension: &'static str,
    params: u64,
}

impl SharedEncoding {
    /// The encoding of the extension named `extension` with its output-shaping parameters
    /// packed into `params`.
    ///
    /// ```
    /// // Level 6, a 15-bit window: two connections with these share one compressed encoding.
    /// let deflate = weft_codec::SharedEncoding::new("permessage-deflate", 6 << 8 | 15);
    /// assert_eq!(deflate.params() & 0xff, 15);
    /// ```
    pub const fn new(extension: &'static str, params: u64) -> Self {
        Self { extension, params }
    }

    /// The extension's name.
    ///
    /// ```
    /// let encoding = weft_codec::SharedEncoding::new("permessage-deflate", 15);
    /// assert_eq!(encoding.extension(), "permessage-deflate");
    /// ```
    pub const fn extension(&self) -> &'static str {
        self.extension
    }

    /// The packed parameters.
    ///
    /// ```
    /// assert_eq!(weft_codec::SharedEncoding::new("x-example", 42).params(), 42);
    /// ```
    pub const fn params(&self) -> u64 {
        self.params
    }
}

/// Why an extension could not transform a message.
///
/// ```
/// use weft_codec::{CloseCode, ExtensionError};
/// let corrupt = ExtensionError::InvalidData("bad deflate stream".into());
/// assert_eq!(corrupt.close_code(), CloseCode::INVALID_PAYLOAD);
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum ExtensionError {
    /// Decoding would produce more than the allowed output (close code 1009).
    OutputTooLarge {
        /// The output limit that was reached.
        limit: usize,
    },
    /// The received data is not valid for this extension (close code 1007).
    InvalidData(Box<dyn std::error::Error + Send + Sync>),
    /// Another failure, with the close code to send.
    Other {
        /// The close code to send to the peer.
        code: CloseCode,
        /// What went wrong.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl ExtensionError {
    /// The close code to send to the peer when decoding failed.
    ///
    /// ```
    /// use weft_codec::{CloseCode, ExtensionError};
    /// let err = ExtensionError::OutputTooLarge { limit: 1 << 20 };
    /// assert_eq!(err.close_code(), CloseCode::MESSAGE_TOO_BIG);
    /// ```
    pub fn close_code(&self) -> CloseCode {
        match self {
            Self::OutputTooLarge { .. } => CloseCode::MESSAGE_TOO_BIG,
            Self::InvalidData(_) => CloseCode::INVALID_PAYLOAD,
            Self::Other { code, .. } => *code,
        }
    }
}

impl fmt::Display for ExtensionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OutputTooLarge { limit } => {
                write!(f, "decoded message exceeds the limit of {limit} bytes")
            }
            Self::InvalidData(err) => write!(f, "invalid extension data: {err}"),
            Self::Other { code, source } => write!(f, "extension failed ({code}): {source}"),
        }
    }
}

impl std::error::Error for ExtensionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::OutputTooLarge { .. } => None,
            Self::InvalidData(err) | Self::Other { source: err, .. } => Some(&**err),
        }
    }
}

impl PartialEq for ExtensionError {
    /// Errors compare by kind and limit, not by their sources.
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::OutputTooLarge { limit: a }, Self::OutputTooLarge { limit: b }) => a == b,
            (Self::InvalidData(_), Self::InvalidData(_)) => true,
            (Self::Other { code: a, .. }, Self::Other { code: b, .. }) => a == b,
            _ => false,
        }
    }
}
