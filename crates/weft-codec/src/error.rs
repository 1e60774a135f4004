//! The crate's error type, [`Error`], and [`ProtocolError`], a peer's violation together with
//! the close code it earns.

use std::fmt;

use crate::close::CloseCode;
use crate::extension::ExtensionError;
use crate::frame::{OpCode, Rsv};
use crate::message::DataKind;

/// Something the peer sent that RFC 6455 (or a negotiated extension, or our
/// [`Limits`](crate::Limits)) does not allow.
///
/// Each violation knows the close code to answer with ([`close_code`](Self::close_code)): when
/// the connection reports one, it has already queued a close frame with that code.
///
/// ```
/// use weft_codec::{CloseCode, ProtocolError};
/// let err = ProtocolError::MessageTooLarge { size: 70 << 20, limit: 64 << 20 };
/// assert_eq!(err.close_code(), CloseCode::MESSAGE_TOO_BIG);
/// assert_eq!(err.to_string(), "message of 70 MiB exceeds max_message_size 64 MiB");
/// ```
#[derive(Debug, PartialEq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A frame used a reserved opcode (1002).
    ReservedOpcode(u8),
    /// A 64-bit payload length had its most significant bit set (1002).
    LengthOverflow,
    /// A payload length was not encoded in its shortest form (1002).
    NonMinimalLength,
    /// A frame set RSV bits that no negotiated extension allows there (1002).
    ReservedBits {
        /// The offending bits.
        rsv: Rsv,
        /// The frame's opcode.
        opcode: OpCode,
    },
    /// A client sent an unmasked frame (1002).
    UnmaskedFrame,
    /// A server sent a masked frame (1002).
    MaskedFrame,
    /// A control frame carried more than 125 bytes (1002).
    ControlFrameTooLong(u64),
    /// A control frame was fragmented (1002).
    FragmentedControlFrame(OpCode),
    /// A continuation frame arrived with no message in progress (1002).
    UnexpectedContinuation,
    /// A new data message started before the previous one was finished (1002).
    ExpectedContinuation(OpCode),
    /// A close frame carried a 1-byte payload (1002).
    InvalidClosePayload,
    /// A close frame carried a code that may not be sent (1002).
    InvalidCloseCode(u16),
    /// A close frame's reason was not UTF-8 (1007).
    InvalidCloseReason,
    /// A text message was not UTF-8 (1007).
    InvalidUtf8,
    /// A frame was larger than `max_frame_size` (1009).
    FrameTooLarge {
        /// The announced payload length.
        size: u64,
        /// The limit.
        limit: usize,
    },
    /// A message was larger than `max_message_size` (1009).
    MessageTooLarge {
        /// The size the message reached, at least.
        size: u64,
        /// The limit.
        limit: usize,
    },
    /// A compressed message would exceed `max_message_size` once decompressed (1009); the
    /// decoder stopped at the limit.
    InflatedTooLarge {
        /// The limit.
        limit: usize,
    },
    /// A message had more than `max_fragments` frames (1009).
    TooManyFragments {
        /// The limit.
        limit: usize,
    },
    /// A negotiated extension could not decode a message (its own close code, usually 1007 for
    /// bad data and 1009 when decoding exceeds the message limit).
    Extension(ExtensionError),
}

impl ProtocolError {
    /// The close code to send for this violation.
    ///
    /// ```
    /// use weft_codec::{CloseCode, ProtocolError};
    /// assert_eq!(ProtocolError::InvalidUtf8.close_code(), CloseCode::INVALID_PAYLOAD);
    /// assert_eq!(ProtocolError::UnmaskedFrame.close_code(), CloseCode::PROTOCOL_ERROR);
    /// ```
    pub fn close_code(&self) -> CloseCode {
        match self {
            Self::InvalidCloseReason | Self::InvalidUtf8 => CloseCode::INVALID_PAYLOAD,
            Self::FrameTooLarge { .. }
            | Self::MessageTooLarge { .. }
            | Self::InflatedTooLarge { .. }
            | Self::TooManyFragments { .. } => CloseCode::MESSAGE_TOO_BIG,
            Self::Extension(err) => err.close_code(),
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }

    /// A short reason for the close frame (it must fit in 123 bytes).
    pub(crate) fn close_reason(&self) -> &'static str {
        match self {
            Self::ReservedOpcode(_) => "reserved opcode",
            Self::LengthOverflow => "payload length overflow",
            Self::NonMinimalLength => "payload length not minimally encoded",
            Self::ReservedBits { .. } => "reserved bits set",
            Self::UnmaskedFrame => "client frame not masked",
            Self::MaskedFrame => "server frame masked",
            Self::ControlFrameTooLong(_) => "control frame too long",
            Self::FragmentedControlFrame(_) => "fragmented control frame",
            Self::UnexpectedContinuation => "continuation without a message",
            Self::ExpectedContinuation(_) => "message interrupted by a new message",
            Self::InvalidClosePayload => "close payload of one byte",
            Self::InvalidCloseCode(_) => "invalid close code",
            Self::InvalidCloseReason => "close reason not UTF-8",
            Self::InvalidUtf8 => "text not UTF-8",
            Self::FrameTooLarge { .. } => "frame too large",
            Self::MessageTooLarge { .. } | Self::InflatedTooLarge { .. } => "message too large",
            Self::TooManyFragments { .. } => "too many fragments",
            Self::Extension(ExtensionError::OutputTooLarge { .. }) => "message too large",
            Self::Extension(_) => "extension data invalid",
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ReservedOpcode(op) => write!(f, "frame uses reserved opcode {op:#x}"),
            Self::LengthOverflow => f.write_str("64-bit payload length has its top bit set"),
            Self::NonMinimalLength => f.write_str("payload length not in its shortest form"),
            Self::ReservedBits { rsv, opcode } => {
                write!(
                    f,
                    "{opcode} frame sets {rsv:?}, which no negotiated extension allows"
                )
            }
            Self::UnmaskedFrame => f.write_str("client sent an unmasked frame"),
            Self::MaskedFrame => f.write_str("server sent a masked frame"),
            Self::ControlFrameTooLong(len) => {
                write!(f, "control frame of {len} bytes exceeds 125 bytes")
            }
            Self::FragmentedControlFrame(op) => write!(f, "{op} frame is fragmented"),
            Self::UnexpectedContinuation => {
                f.write_str("continuation frame without a message in progress")
            }
            Self::ExpectedContinuation(op) => {
                write!(
                    f,
                    "{op} frame started a message before the previous one finished"
                )
            }
            Self::InvalidClosePayload => f.write_str("close frame payload of 1 byte"),
            Self::InvalidCloseCode(code) => write!(f, "close code {code} may not be sent"),
            Self::InvalidCloseReason => f.write_str("close reason is not valid UTF-8"),
            Self::InvalidUtf8 => f.write_str("text message is not valid UTF-8"),
            Self::FrameTooLarge { size, limit } => write!(
                f,
                "frame of {} exceeds max_frame_size {}",
                human(*size),
                human(*limit as u64)
            ),
            Self::MessageTooLarge { size, limit } => write!(
                f,
                "message of {} exceeds max_message_size {}",
                human(*size),
                human(*limit as u64)
            ),
            Self::InflatedTooLarge { limit } => write!(
                f,
                "compressed message exceeds max_message_size {} once decompressed",
                human(*limit as u64)
            ),
            Self::TooManyFragments { limit } => {
                write!(f, "message has more than max_fragments {limit} frames")
            }
            Self::Extension(err) => write!(f, "{err}"),
        }
    }
}

impl std::error::Error for ProtocolError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Extension(err) => Some(err),
            _ => None,
        }
    }
}

/// Everything that can go wrong on a connection.
///
/// Three groups:
/// - the peer's doing: [`Protocol`](Self::Protocol) (with a close code already sent),
///   [`AbnormalClosure`](Self::AbnormalClosure), [`CloseTimeout`](Self::CloseTimeout),
///   [`KeepaliveTimeout`](Self::KeepaliveTimeout);
/// - the caller's doing, refused without changing the connection:
///   [`SendAfterClose`](Self::SendAfterClose), [`ControlPayloadTooLong`](Self::ControlPayloadTooLong),
///   [`InvalidCloseCode`](Self::InvalidCloseCode), [`CloseReasonTooLong`](Self::CloseReasonTooLong),
///   [`FragmentInProgress`](Self::FragmentInProgress),
///   [`FragmentKindMismatch`](Self::FragmentKindMismatch), [`TextNotUtf8`](Self::TextNotUtf8),
///   [`WriteBufferFull`](Self::WriteBufferFull);
/// - the environment: [`Extension`](Self::Extension) (encoding failed) and, in the async
///   layer, `Io`.
///
/// ```
/// use weft_codec::{CloseCode, Error, ProtocolError};
/// let err = Error::from(ProtocolError::InvalidUtf8);
/// assert_eq!(err.close_code(), Some(CloseCode::INVALID_PAYLOAD));
/// assert!(err.is_peer_error());
/// assert!(!Error::SendAfterClose.is_peer_error());
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The peer broke the protocol; a close frame with
    /// [`ProtocolError::close_code`] was queued.
    Protocol(ProtocolError),
    /// The connection ended without a closing handshake (code 1006).
    AbnormalClosure,
    /// The peer did not finish the closing handshake within
    /// [`Config::close_timeout`](crate::Config::close_timeout).
    CloseTimeout,
    /// A keepalive ping was not answered within
    /// [`Config::ping_timeout`](crate::Config::ping_timeout); a close frame with 1011 was queued.
    KeepaliveTimeout,
    /// The closing handshake has started: no more data or pings may be sent.
    SendAfterClose,
    /// A ping, pong or close payload over 125 bytes.
    ControlPayloadTooLong(usize),
    /// A close code that may not be sent (see [`CloseCode::is_allowed_on_wire`]).
    InvalidCloseCode(CloseCode),
    /// A close reason over 123 bytes.
    CloseReasonTooLong(usize),
    /// A whole message was sent while a fragmented one is unfinished.
    FragmentInProgress,
    /// A fragment's kind differs from the message it continues.
    FragmentKindMismatch {
        /// The kind of the message in progress.
        expected: DataKind,
        /// The kind of the fragment given.
        found: DataKind,
    },
    /// A text message or fragment that is not UTF-8 (the whole text so far is checked).
    TextNotUtf8,
    /// More than [`Limits::max_write_buffer`](crate::Limits::max_write_buffer) bytes are
    /// waiting to be written.
    WriteBufferFull {
        /// Bytes waiting.
        buffered: usize,
        /// The limit.
        limit: usize,
    },
    /// A negotiated extension failed to encode a message.
    Extension(ExtensionError),
    /// Reading from or writing to the transport failed.
    #[cfg(feature = "tokio")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    Io(std::io::Error),
}

impl Error {
    /// The close code this error sent, or for a connection that ended without a closing
    /// handshake the code reported locally (1006): [`AbnormalClosure`](Self::AbnormalClosure),
    /// and a transport that was reset or aborted (TCP RST, an HTTP/2 `RST_STREAM` or
    /// `GOAWAY`, a broken pipe).
    ///
    /// ```
    /// use weft_codec::{CloseCode, Error};
    /// assert_eq!(Error::AbnormalClosure.close_code(), Some(CloseCode::ABNORMAL));
    /// // The caller's mistake: nothing was sent.
    /// assert_eq!(Error::SendAfterClose.close_code(), None);
    /// ```
    pub fn close_code(&self) -> Option<CloseCode> {
        match self {
            Self::Protocol(err) => Some(err.close_code()),
            Self::AbnormalClosure => Some(CloseCode::ABNORMAL),
            Self::KeepaliveTimeout => Some(CloseCode::INTERNAL_ERROR),
            #[cfg(feature = "tokio")]
            Self::Io(err)
                if matches!(
                    err.kind(),
                    std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::ConnectionAborted
                        | std::io::ErrorKind::BrokenPipe
                        | std::io::ErrorKind::UnexpectedEof
                ) =>
            {
                Some(CloseCode::ABNORMAL)
            }
            _ => None,
        }
    }

    /// Whether the peer (or the network) caused this error, rather than the caller.
    ///
    /// ```
    /// use weft_codec::Error;
    /// assert!(Error::KeepaliveTimeout.is_peer_error());
    /// assert!(!Error::CloseReasonTooLong(200).is_peer_error());
    /// ```
    pub fn is_peer_error(&self) -> bool {
        match self {
            Self::Protocol(_)
            | Self::AbnormalClosure
            | Self::CloseTimeout
            | Self::KeepaliveTimeout => true,
            #[cfg(feature = "tokio")]
            Self::Io(_) => true,
            _ => false,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Protocol(err) => {
                write!(f, "protocol error, closed with {}: {err}", err.close_code())
            }
            Self::AbnormalClosure => {
                f.write_str("connection closed without a closing handshake (1006)")
            }
            Self::CloseTimeout => f.write_str("peer did not finish the closing handshake in time"),
            Self::KeepaliveTimeout => f.write_str("keepalive ping not answered in time"),
            Self::SendAfterClose => f.write_str("cannot send: the closing handshake has started"),
            Self::ControlPayloadTooLong(len) => {
                write!(f, "control frame payload of {len} bytes exceeds 125 bytes")
            }
            Self::InvalidCloseCode(code) => write!(f, "close code {code} may not be sent"),
            Self::CloseReasonTooLong(len) => {
                write!(f, "close reason of {len} bytes exceeds 123 bytes")
            }
            Self::FragmentInProgress => {
                f.write_str("a fragmented message is unfinished; send its last fragment first")
            }
            Self::FragmentKindMismatch { expected, found } => {
                write!(
                    f,
                    "fragment of a {found:?} message continues a {expected:?} message"
                )
            }
            Self::TextNotUtf8 => f.write_str("text to send is not valid UTF-8"),
            Self::WriteBufferFull { buffered, limit } => write!(
                f,
                "{} waiting to be written exceeds max_write_buffer {}",
                human(*buffered as u64),
                human(*limit as u64)
            ),
            Self::Extension(err) => write!(f, "{err}"),
            #[cfg(feature = "tokio")]
            Self::Io(err) => write!(f, "I/O error: {err}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Protocol(err) => Some(err),
            Self::Extension(err) => Some(err),
            #[cfg(feature = "tokio")]
            Self::Io(err) => Some(err),
            _ => None,
        }
    }
}

impl From<ProtocolError> for Error {
    fn from(err: ProtocolError) -> Self {
        Self::Protocol(err)
    }
}

#[cfg(feature = "tokio")]
impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Self {
        Self::Io(err)
    }
}

/// A byte count for humans: exact below 1 KiB, else in the largest binary unit that keeps at
/// most one decimal.
pub(crate) fn human(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if value.fract() == 0.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_well() {
        assert_eq!(human(12), "12 bytes");
        assert_eq!(human(64 << 20), "64 MiB");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human((1 << 63) - 1), "8 EiB");
    }

    #[test]
    fn every_violation_has_the_rfc_close_code() {
        use CloseCode as C;
        let cases = [
            (ProtocolError::ReservedOpcode(3), C::PROTOCOL_ERROR),
            (ProtocolError::LengthOverflow, C::PROTOCOL_ERROR),
            (ProtocolError::NonMinimalLength, C::PROTOCOL_ERROR),
            (
                ProtocolError::ReservedBits {
                    rsv: Rsv::RSV1,
                    opcode: OpCode::Text,
                },
                C::PROTOCOL_ERROR,
            ),
            (ProtocolError::UnmaskedFrame, C::PROTOCOL_ERROR),
            (ProtocolError::MaskedFrame, C::PROTOCOL_ERROR),
            (ProtocolError::ControlFrameTooLong(126), C::PROTOCOL_ERROR),
            (
                ProtocolError::FragmentedControlFrame(OpCode::Ping),
                C::PROTOCOL_ERROR,
            ),
            (ProtocolError::UnexpectedContinuation, C::PROTOCOL_ERROR),
            (
                ProtocolError::ExpectedContinuation(OpCode::Text),
                C::PROTOCOL_ERROR,
            ),
            (ProtocolError::InvalidClosePayload, C::PROTOCOL_ERROR),
            (ProtocolError::InvalidCloseCode(1005), C::PROTOCOL_ERROR),
            (ProtocolError::InvalidCloseReason, C::INVALID_PAYLOAD),
            (ProtocolError::InvalidUtf8, C::INVALID_PAYLOAD),
            (
                ProtocolError::FrameTooLarge { size: 1, limit: 0 },
                C::MESSAGE_TOO_BIG,
            ),
            (
                ProtocolError::MessageTooLarge { size: 1, limit: 0 },
                C::MESSAGE_TOO_BIG,
            ),
            (
                ProtocolError::TooManyFragments { limit: 1 },
                C::MESSAGE_TOO_BIG,
            ),
            (
                ProtocolError::Extension(ExtensionError::OutputTooLarge { limit: 1 }),
                C::MESSAGE_TOO_BIG,
            ),
            (
                ProtocolError::Extension(ExtensionError::InvalidData("bad".into())),
                C::INVALID_PAYLOAD,
            ),
        ];
        for (err, code) in cases {
            assert_eq!(err.close_code(), code, "{err}");
            assert!(err.close_reason().len() <= 123);
        }
    }
}
