//! Close codes and close frames (RFC 6455 §5.5.1, §7.4).

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::ProtocolError;
use crate::utf8::Utf8Bytes;

/// A close status code (RFC 6455 §7.4, IANA "WebSocket Close Code Number Registry").
///
/// Any `u16` can be held, but not every code may travel: 1005, 1006 and 1015 only report what
/// happened locally, 1004 and 1016–2999 are reserved, and codes below 1000 or from 5000 are
/// undefined. [`is_allowed_on_wire`](Self::is_allowed_on_wire) tells which may be sent and
/// received.
///
/// ```
/// use weft_codec::CloseCode;
/// assert!(CloseCode::NORMAL.is_allowed_on_wire());
/// assert!(CloseCode::from(4000).is_allowed_on_wire()); // private use
/// assert!(!CloseCode::ABNORMAL.is_allowed_on_wire()); // 1006 is never sent
/// assert_eq!(u16::from(CloseCode::MESSAGE_TOO_BIG), 1009);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(u16);

impl CloseCode {
    /// 1000: the purpose of the connection was fulfilled.
    pub const NORMAL: Self = Self(1000);
    /// 1001: the endpoint is going away (server shutdown, page navigation).
    pub const GOING_AWAY: Self = Self(1001);
    /// 1002: the peer broke the protocol.
    pub const PROTOCOL_ERROR: Self = Self(1002);
    /// 1003: a data type the endpoint cannot accept (e.g. binary for a text-only endpoint).
    pub const UNSUPPORTED_DATA: Self = Self(1003);
    /// 1005: no status code was present in the close frame. Never sent.
    pub const NO_STATUS: Self = Self(1005);
    /// 1006: the connection closed without a close frame. Never sent.
    pub const ABNORMAL: Self = Self(1006);
    /// 1007: data inconsistent with its type, such as invalid UTF-8 in a text message.
    pub const INVALID_PAYLOAD: Self = Self(1007);
    /// 1008: a message violates the endpoint's policy.
    pub const POLICY_VIOLATION: Self = Self(1008);
    /// 1009: a frame or message is larger than the endpoint accepts.
    pub const MESSAGE_TOO_BIG: Self = Self(1009);
    /// 1010: the client expected the server to negotiate an extension.
    pub const MANDATORY_EXTENSION: Self = Self(1010);
    /// 1011: the server met an unexpected condition.
    pub const INTERNAL_ERROR: Self = Self(1011);
    /// 1012: the service is restarting.
    pub const SERVICE_RESTART: Self = Self(1012);
    /// 1013: try again later (temporary overload).
    pub const TRY_AGAIN_LATER: Self = Self(1013);
    /// 1014: a gateway received an invalid response from upstream.
    pub const BAD_GATEWAY: Self = Self(1014);
    /// 1015: the TLS handshake failed. Never sent.
    pub const TLS_HANDSHAKE: Self = Self(1015);

    /// The numeric code.
    ///
    /// ```
    /// assert_eq!(weft_codec::CloseCode::GOING_AWAY.as_u16(), 1001);
    /// ```
    pub const fn as_u16(self) -> u16 {
        self.0
    }

    /// Whether this code may appear in a close frame, sent or received: 1000–1003 and
    /// 1007–1014 (registered), 3000–3999 (libraries and frameworks), 4000–4999 (private use).
    ///
    /// ```
    /// use weft_codec::CloseCode;
    /// assert!(CloseCode::from(3000).is_allowed_on_wire());
    /// // 1005 only reports a close frame without a code.
    /// assert!(!CloseCode::NO_STATUS.is_allowed_on_wire());
    /// assert!(!CloseCode::from(1004).is_allowed_on_wire()); // reserved
    /// ```
    pub const fn is_allowed_on_wire(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> Self {
        Self(code)
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> Self {
        code.0
    }
}

impl fmt::Debug for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CloseCode({self})")
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.0 {
            1000 => "normal closure",
            1001 => "going away",
            1002 => "protocol error",
            1003 => "unsupported data",
            1005 => "no status received",
            1006 => "abnormal closure",
            1007 => "invalid payload data",
            1008 => "policy violation",
            1009 => "message too big",
            1010 => "mandatory extension",
            1011 => "internal error",
            1012 => "service restart",
            1013 => "try again later",
            1014 => "bad gateway",
            1015 => "TLS handshake failure",
            _ => return write!(f, "{}", self.0),
        };
        write!(f, "{} ({name})", self.0)
    }
}

/// The payload of a close frame: a code and a UTF-8 reason of at most 123 bytes.
///
/// A close frame may also carry no payload at all; [`Message::Close`](crate::Message::Close)
/// holds `None` then, and the code reported locally is 1005 ([`CloseCode::NO_STATUS`]).
///
/// ```
/// use weft_codec::{CloseCode, CloseFrame};
/// let frame = CloseFrame::new(CloseCode::GOING_AWAY, "server restarting");
/// assert_eq!(frame.reason(), "server restarting");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CloseFrame {
    code: CloseCode,
    reason: Utf8Bytes,
}

impl CloseFrame {
    /// The longest reason that fits a control frame: 125 bytes less the 2-byte code.
    pub const MAX_REASON_LEN: usize = 123;

    /// A close frame with `code` and `reason`.
    ///
    /// The code and reason are checked when the frame is sent
    /// ([`Connection::close`](crate::Connection::close)).
    ///
    /// ```
    /// use weft_codec::{CloseCode, CloseFrame, Message};
    /// let frame = CloseFrame::new(CloseCode::from(4000), "session expired");
    /// let goodbye = Message::Close(Some(frame));
    /// assert!(goodbye.is_close());
    /// ```
    pub fn new(code: CloseCode, reason: impl Into<Utf8Bytes>) -> Self {
        Self {
            code,
            reason: reason.into(),
        }
    }

    /// The status code.
    ///
    /// ```
    /// use weft_codec::{CloseCode, CloseFrame};
    /// assert_eq!(CloseFrame::new(CloseCode::NORMAL, "").code(), CloseCode::NORMAL);
    /// ```
    pub fn code(&self) -> CloseCode {
        self.code
    }

    /// The reason, possibly empty.
    ///
    /// ```
    /// use weft_codec::{CloseCode, CloseFrame};
    /// assert_eq!(CloseFrame::new(CloseCode::GOING_AWAY, "restart").reason(), "restart");
    /// ```
    pub fn reason(&self) -> &str {
        self.reason.as_str()
    }

    /// Parses a received close payload (§5.5.1): empty, or a wire-allowed code followed by
    /// UTF-8.
    pub(crate) fn parse(payload: Bytes) -> Result<Option<Self>, ProtocolError> {
        match payload.len() {
            0 => Ok(None),
            1 => Err(ProtocolError::InvalidClosePayload),
            _ => {
                let code = CloseCode(u16::from_be_bytes([payload[0], payload[1]]));
                if !code.is_allowed_on_wire() {
                    return Err(ProtocolError::InvalidCloseCode(code.0));
                }
                let reason = Utf8Bytes::try_from(payload.slice(2..))
                    .map_err(|_| ProtocolError::InvalidCloseReason)?;
                Ok(Some(Self { code, reason }))
            }
        }
    }

    /// Checks that this frame may be sent: a wire-allowed code and a reason that fits.
    pub(crate) fn validate_outgoing(&self) -> Result<(), crate::Error> {
        if !self.code.is_allowed_on_wire() {
            return Err(crate::Error::InvalidCloseCode(self.code));
        }
        if self.reason.len() > Self::MAX_REASON_LEN {
            return Err(crate::Error::CloseReasonTooLong(self.reason.len()));
        }
        Ok(())
    }

    /// The close frame payload.
    pub(crate) fn encode(&self) -> Bytes {
        let mut buf = BytesMut::with_capacity(2 + self.reason.len());
        buf.put_u16(self.code.0);
        buf.put_slice(self.reason.as_bytes());
        buf.freeze()
    }
}

#[cfg(test)]
mod tests {
    //! RFC 6455 §7.4: status codes; §5.5.1: the close frame body.
    use super::*;

    #[test]
    fn wire_allowed_ranges() {
        let allowed = |c: u16| CloseCode::from(c).is_allowed_on_wire();
        for code in [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
        ] {
            assert!(allowed(code), "{code} is registered");
        }
        for code in [3000, 3999, 4000, 4999] {
            assert!(allowed(code), "{code} is in a usable range");
        }
        for code in [
            0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ] {
            assert!(!allowed(code), "{code} must not be on the wire");
        }
    }

    #[test]
    fn parse_empty_and_coded_payloads() {
        assert_eq!(CloseFrame::parse(Bytes::new()), Ok(None));
        let frame = CloseFrame::parse(Bytes::from_static(b"\x03\xe8bye"))
            .unwrap()
            .unwrap();
        assert_eq!((frame.code(), frame.reason()), (CloseCode::NORMAL, "bye"));
        let frame = CloseFrame::parse(Bytes::from_static(b"\x0f\xa0"))
            .unwrap()
            .unwrap();
        assert_eq!((frame.code().as_u16(), frame.reason()), (4000, ""));
    }

    #[test]
    fn parse_rejects_each_violation_with_its_close_code() {
        let err = CloseFrame::parse(Bytes::from_static(b"\x03")).unwrap_err();
        assert_eq!(err, ProtocolError::InvalidClosePayload);
        assert_eq!(err.close_code(), CloseCode::PROTOCOL_ERROR);

        let err = CloseFrame::parse(Bytes::from_static(b"\x03\xed")).unwrap_err();
        assert_eq!(err, ProtocolError::InvalidCloseCode(1005));
        assert_eq!(err.close_code(), CloseCode::PROTOCOL_ERROR);

        // "κόσμε" followed by an encoded surrogate (ED A0 80): Autobahn 7.5.1.
        let payload = b"\x03\xe8\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited";
        let err = CloseFrame::parse(Bytes::from_static(payload)).unwrap_err();
        assert_eq!(err, ProtocolError::InvalidCloseReason);
        assert_eq!(err.close_code(), CloseCode::INVALID_PAYLOAD);
    }

    #[test]
    fn outgoing_frames_are_checked() {
        assert!(
            CloseFrame::new(CloseCode::NORMAL, "x".repeat(123))
                .validate_outgoing()
                .is_ok()
        );
        assert!(matches!(
            CloseFrame::new(CloseCode::NORMAL, "x".repeat(124)).validate_outgoing(),
            Err(crate::Error::CloseReasonTooLong(124))
        ));
        assert!(matches!(
            CloseFrame::new(CloseCode::NO_STATUS, "").validate_outgoing(),
            Err(crate::Error::InvalidCloseCode(CloseCode::NO_STATUS))
        ));
        let encoded = CloseFrame::new(CloseCode::GOING_AWAY, "bye").encode();
        assert_eq!(&encoded[..], b"\x03\xe9bye");
    }

    #[test]
    fn display_names_registered_codes() {
        assert_eq!(
            CloseCode::MESSAGE_TOO_BIG.to_string(),
            "1009 (message too big)"
        );
        assert_eq!(CloseCode::from(4321).to_string(), "4321");
    }
}
