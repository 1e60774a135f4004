//! Frame headers (RFC 6455 §5.2): the opcode, the flag bits, the three payload length forms and
//! the masking key, decoded from and encoded to the wire.
//!
//! Only the rules that a header alone can break are checked here (reserved opcodes, a 64-bit
//! length with its top bit set, a length not in its minimal form). Rules that depend on the
//! connection (which side masks, which RSV bits an extension claimed, fragmentation) are checked
//! by [`Connection`](crate::Connection).

use std::fmt;

use bytes::BufMut;

use crate::error::ProtocolError;

/// The opcode of a frame (RFC 6455 §5.2, §11.8).
///
/// Reserved opcodes (3–7 and 11–15) do not decode: [`OpCode::from_u8`] returns
/// [`ProtocolError::ReservedOpcode`].
///
/// ```
/// use weft_codec::OpCode;
/// assert_eq!(OpCode::from_u8(0x1).unwrap(), OpCode::Text);
/// assert!(OpCode::Ping.is_control());
/// assert!(OpCode::from_u8(0x3).is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OpCode {
    /// `0x0`: continues a fragmented data message.
    Continuation,
    /// `0x1`: the first frame of a text message.
    Text,
    /// `0x2`: the first frame of a binary message.
    Binary,
    /// `0x8`: starts or answers the closing handshake.
    Close,
    /// `0x9`: a ping, answered with a pong.
    Ping,
    /// `0xA`: a pong, answering a ping or sent unsolicited as a heartbeat.
    Pong,
}

impl OpCode {
    /// Decodes the low four bits of a frame's first byte.
    ///
    /// ```
    /// use weft_codec::{OpCode, ProtocolError};
    /// assert_eq!(OpCode::from_u8(0x9), Ok(OpCode::Ping));
    /// assert_eq!(OpCode::from_u8(0xB), Err(ProtocolError::ReservedOpcode(0xB)));
    /// ```
    pub fn from_u8(bits: u8) -> Result<Self, ProtocolError> {
        match bits {
            0x0 => Ok(Self::Continuation),
            0x1 => Ok(Self::Text),
            0x2 => Ok(Self::Binary),
            0x8 => Ok(Self::Close),
            0x9 => Ok(Self::Ping),
            0xA => Ok(Self::Pong),
            other => Err(ProtocolError::ReservedOpcode(other)),
        }
    }

    /// The four-bit wire value.
    ///
    /// ```
    /// assert_eq!(weft_codec::OpCode::Close.as_u8(), 0x8);
    /// ```
    pub fn as_u8(self) -> u8 {
        match self {
            Self::Continuation => 0x0,
            Self::Text => 0x1,
            Self::Binary => 0x2,
            Self::Close => 0x8,
            Self::Ping => 0x9,
            Self::Pong => 0xA,
        }
    }

    /// Close, ping and pong: at most 125 bytes of payload and never fragmented (§5.5).
    ///
    /// ```
    /// use weft_codec::OpCode;
    /// assert!(OpCode::Pong.is_control() && !OpCode::Binary.is_control());
    /// ```
    pub fn is_control(self) -> bool {
        matches!(self, Self::Close | Self::Ping | Self::Pong)
    }

    /// Text, binary and continuation.
    ///
    /// ```
    /// use weft_codec::OpCode;
    /// assert!(OpCode::Continuation.is_data() && !OpCode::Close.is_data());
    /// ```
    pub fn is_data(self) -> bool {
        !self.is_control()
    }
}

impl fmt::Display for OpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::Continuation => "continuation",
            Self::Text => "text",
            Self::Binary => "binary",
            Self::Close => "close",
            Self::Ping => "ping",
            Self::Pong => "pong",
        };
        f.write_str(name)
    }
}

/// The three reserved bits of a frame's first byte, in their wire positions.
///
/// An extension claims the bits it uses (permessage-deflate claims [`Rsv::RSV1`]); a frame that
/// sets any other bit is a protocol error.
///
/// ```
/// use weft_codec::Rsv;
/// let bits = Rsv::RSV1 | Rsv::RSV3;
/// assert!(bits.contains(Rsv::RSV1));
/// assert_eq!(bits.without(Rsv::RSV1), Rsv::RSV3);
/// assert_eq!(format!("{bits:?}"), "RSV1|RSV3");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Rsv(u8);

impl Rsv {
    /// No reserved bit set.
    pub const NONE: Self = Self(0);
    /// The first reserved bit (`0x40`), used by permessage-deflate.
    pub const RSV1: Self = Self(0x40);
    /// The second reserved bit (`0x20`).
    pub const RSV2: Self = Self(0x20);
    /// The third reserved bit (`0x10`).
    pub const RSV3: Self = Self(0x10);

    /// The RSV bits of a frame's first byte; other bits are ignored.
    ///
    /// ```
    /// use weft_codec::Rsv;
    /// // 0xC1: FIN, RSV1 and a text opcode, as permessage-deflate sends a compressed message.
    /// assert_eq!(Rsv::from_first_byte(0xC1), Rsv::RSV1);
    /// ```
    pub const fn from_first_byte(byte: u8) -> Self {
        Self(byte & 0x70)
    }

    /// The bits in their wire positions (a subset of `0x70`).
    ///
    /// ```
    /// use weft_codec::Rsv;
    /// assert_eq!((Rsv::RSV1 | Rsv::RSV2).bits(), 0x60);
    /// ```
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether no bit is set.
    ///
    /// ```
    /// use weft_codec::Rsv;
    /// assert!(Rsv::NONE.is_empty() && !Rsv::RSV3.is_empty());
    /// ```
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether every bit of `other` is set in `self`.
    ///
    /// ```
    /// use weft_codec::Rsv;
    /// assert!((Rsv::RSV1 | Rsv::RSV3).contains(Rsv::RSV3));
    /// assert!(!Rsv::RSV1.contains(Rsv::RSV1 | Rsv::RSV2));
    /// ```
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// `self` with the bits of `other` cleared.
    ///
    /// ```
    /// use weft_codec::Rsv;
    /// // The bits left once the negotiated extension took its own: any is a protocol error.
    /// let unclaimed = (Rsv::RSV1 | Rsv::RSV2).without(Rsv::RSV1);
    /// assert_eq!(unclaimed, Rsv::RSV2);
    /// ```
    pub const fn without(self, other: Self) -> Self {
        Self(self.0 & !other.0)
    }
}

impl std::ops::BitOr for Rsv {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

impl fmt::Debug for Rsv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("NONE");
        }
        let mut first = true;
        for (bit, name) in [
            (Self::RSV1, "RSV1"),
            (Self::RSV2, "RSV2"),
            (Self::RSV3, "RSV3"),
        ] {
            if self.contains(bit) {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}

/// A decoded frame header (RFC 6455 §5.2).
///
/// ```
/// use weft_codec::{FrameHeader, OpCode};
///
/// // A masked "Hello" from a client, as in RFC 6455 §5.7.
/// let wire = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
/// let (header, used) = FrameHeader::decode(&wire).unwrap().unwrap();
/// assert_eq!((header.opcode, header.fin, header.payload_len), (OpCode::Text, true, 5));
/// assert_eq!(header.mask, Some([0x37, 0xfa, 0x21, 0x3d]));
/// assert_eq!(used, 6);
///
/// let mut buf = [0; FrameHeader::MAX_SIZE];
/// let len = header.encode(&mut buf);
/// assert_eq!(&buf[..len], &wire[..6]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Whether this is the final frame of its message.
    pub fin: bool,
    /// The reserved bits.
    pub rsv: Rsv,
    /// The opcode.
    pub opcode: OpCode,
    /// The masking key; frames from a client carry one, frames from a server do not.
    pub mask: Option<[u8; 4]>,
    /// The payload length in bytes.
    pub payload_len: u64,
}

impl FrameHeader {
    /// The longest header: 2 bytes, an 8-byte length and a 4-byte masking key.
    pub const MAX_SIZE: usize = 14;

    /// A final, unmasked frame without reserved bits.
    ///
    /// ```
    /// use weft_codec::{FrameHeader, OpCode};
    /// let header = FrameHeader::new(OpCode::Binary, 300);
    /// assert!(header.fin && header.mask.is_none());
    /// assert_eq!(header.encoded_len(), 4); // a 16-bit length
    /// ```
    pub fn new(opcode: OpCode, payload_len: u64) -> Self {
        Self {
            fin: true,
            rsv: Rsv::NONE,
            opcode,
            mask: None,
            payload_len,
        }
    }

    /// Decodes a header from the start of `src`.
    ///
    /// Returns `Ok(None)` when `src` holds only part of a header, and the header with the
    /// number of bytes it used otherwise. A reserved opcode is reported as soon as the first
    /// byte is there; a 64-bit length with its most significant bit set and a length that does
    /// not use the shortest form are errors too (§5.2: "the minimal number of bytes MUST be
    /// used").
    ///
    /// ```
    /// use weft_codec::{FrameHeader, ProtocolError};
    /// assert_eq!(FrameHeader::decode(&[0x82]), Ok(None)); // not all there yet
    /// // A 2-byte length of 5: lengths up to 125 must use the 7-bit form.
    /// assert_eq!(FrameHeader::decode(&[0x82, 126, 0, 5]), Err(ProtocolError::NonMinimalLength));
    /// ```
    #[inline]
    pub fn decode(src: &[u8]) -> Result<Option<(Self, usize)>, ProtocolError> {
        let Some(&first) = src.first() else {
            return Ok(None);
        };
        let opcode = OpCode::from_u8(first & 0x0F)?;
        let Some(&second) = src.get(1) else {
            return Ok(None);
        };
        let (payload_len, mut used) = match second & 0x7F {
            126 => {
                let Some(bytes) = src.get(2..4) else {
                    return Ok(None);
                };
                let len = u16::from_be_bytes([bytes[0], bytes[1]]);
                if len < 126 {
                    return Err(ProtocolError::NonMinimalLength);
                }
                (u64::from(len), 4)
            }
            127 => {
                let Some(bytes) = src.get(2..10) else {
                    return Ok(None);
                };
                let mut raw = [0; 8];
                raw.copy_from_slice(bytes);
                let len = u64::from_be_bytes(raw);
                if len >> 63 != 0 {
                    return Err(ProtocolError::LengthOverflow);
                }
                if len <= u64::from(u16::MAX) {
                    return Err(ProtocolError::NonMinimalLength);
                }
                (len, 10)
            }
            short => (u64::from(short), 2),
        };
        let mask = if second & 0x80 != 0 {
            let Some(bytes) = src.get(used..used + 4) else {
                return Ok(None);
            };
            used += 4;
            Some([bytes[0], bytes[1], bytes[2], bytes[3]])
        } else {
            None
        };
        let header = Self {
            fin: first & 0x80 != 0,
            rsv: Rsv::from_first_byte(first),
            opcode,
            mask,
            payload_len,
        };
        Ok(Some((header, used)))
    }

    /// How many bytes [`encode`](Self::encode) writes.
    ///
    /// ```
    /// use weft_codec::{FrameHeader, OpCode};
    /// let mut header = FrameHeader::new(OpCode::Text, 70_000);
    /// header.mask = Some([1, 2, 3, 4]);
    /// assert_eq!(header.encoded_len(), 2 + 8 + 4);
    /// ```
    pub fn encoded_len(&self) -> usize {
        let len_bytes = match self.payload_len {
            0..=125 => 0,
            126..=0xFFFF => 2,
            _ => 8,
        };
        2 + len_bytes + if self.mask.is_some() { 4 } else { 0 }
    }

    /// Encodes the header into `dst`, always in the shortest length form, and returns how many
    /// bytes were written.
    ///
    /// ```
    /// use weft_codec::{FrameHeader, OpCode};
    /// let mut buf = [0; FrameHeader::MAX_SIZE];
    /// let len = FrameHeader::new(OpCode::Text, 2).encode(&mut buf);
    /// assert_eq!(&buf[..len], [0x81, 0x02]);
    /// ```
    #[expect(
        clippy::cast_possible_truncation,
        reason = "each arm's range fits its cast"
    )]
    pub fn encode(&self, dst: &mut [u8; Self::MAX_SIZE]) -> usize {
        dst[0] = u8::from(self.fin) << 7 | self.rsv.bits() | self.opcode.as_u8();
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        let mut used = match self.payload_len {
            // The match arms bound each length to its form, so the narrowing casts are exact.
            len @ 0..=125 => {
                dst[1] = mask_bit | len as u8;
                2
            }
            len @ 126..=0xFFFF => {
                dst[1] = mask_bit | 126;
                dst[2..4].copy_from_slice(&(len as u16).to_be_bytes());
                4
            }
            len => {
                dst[1] = mask_bit | 127;
                dst[2..10].copy_from_slice(&len.to_be_bytes());
                10
            }
        };
        if let Some(key) = self.mask {
            dst[used..used + 4].copy_from_slice(&key);
            used += 4;
        }
        used
    }

    /// Appends the encoded header to `dst`.
    ///
    /// ```
    /// use weft_codec::{FrameHeader, OpCode};
    /// let mut out = Vec::new();
    /// FrameHeader::new(OpCode::Ping, 0).encode_to(&mut out);
    /// assert_eq!(out, [0x89, 0x00]);
    /// ```
    pub fn encode_to(&self, dst: &mut impl BufMut) {
        let mut buf = [0; Self::MAX_SIZE];
        let used = self.encode(&mut buf);
        dst.put_slice(&buf[..used]);
    }
}

#[cfg(test)]
mod tests {
    //! RFC 6455 §5.2: base framing.
    use super::*;

    fn decode_all(wire: &[u8]) -> (FrameHeader, usize) {
        FrameHeader::decode(wire)
            .expect("valid header")
            .expect("complete header")
    }

    #[test]
    fn rfc_5_7_examples_decode() {
        // A single-frame unmasked text message "Hello".
        let (h, used) = decode_all(&[0x81, 0x05, b'H']);
        assert_eq!(used, 2);
        assert_eq!(h, FrameHeader::new(OpCode::Text, 5));
        // A fragmented unmasked text message: "Hel" then "lo".
        let (first, _) = decode_all(&[0x01, 0x03]);
        assert!(!first.fin);
        assert_eq!(first.opcode, OpCode::Text);
        let (last, _) = decode_all(&[0x80, 0x02]);
        assert!(last.fin);
        assert_eq!(last.opcode, OpCode::Continuation);
        // Unmasked ping and masked pong with "Hello".
        assert_eq!(decode_all(&[0x89, 0x05]).0.opcode, OpCode::Ping);
        let (pong, used) = decode_all(&[0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d]);
        assert_eq!(
            (pong.opcode, used, pong.mask),
            (OpCode::Pong, 6, Some([0x37, 0xfa, 0x21, 0x3d]))
        );
        // 256 bytes binary message in a single unmasked frame.
        assert_eq!(decode_all(&[0x82, 0x7E, 0x01, 0x00]).0.payload_len, 256);
        // 64 KiB binary message in a single unmasked frame.
        let wire = [0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00];
        assert_eq!(
            decode_all(&wire),
            (FrameHeader::new(OpCode::Binary, 65536), 10)
        );
    }

    #[test]
    fn every_length_form_round_trips_in_its_minimal_form() {
        for len in [
            0,
            1,
            125,
            126,
            127,
            0xFFFF,
            0x1_0000,
            u64::from(u32::MAX) + 7,
            (1 << 63) - 1,
        ] {
            for mask in [None, Some([1, 2, 3, 4])] {
                let header = FrameHeader {
                    mask,
                    ..FrameHeader::new(OpCode::Binary, len)
                };
                let mut buf = [0; FrameHeader::MAX_SIZE];
                let used = header.encode(&mut buf);
                assert_eq!(used, header.encoded_len());
                assert_eq!(decode_all(&buf[..used]), (header, used), "length {len}");
                let mut vec = Vec::new();
                header.encode_to(&mut vec);
                assert_eq!(vec, &buf[..used]);
            }
        }
    }

    #[test]
    fn partial_headers_ask_for_more() {
        let header = FrameHeader {
            fin: false,
            rsv: Rsv::RSV1,
            opcode: OpCode::Text,
            mask: Some([9, 8, 7, 6]),
            payload_len: 70_000,
        };
        let mut buf = [0; FrameHeader::MAX_SIZE];
        let used = header.encode(&mut buf);
        for cut in 0..used {
            assert_eq!(FrameHeader::decode(&buf[..cut]), Ok(None), "cut at {cut}");
        }
        assert_eq!(decode_all(&buf[..used]).0, header);
    }

    #[test]
    fn flag_bits_decode() {
        let (h, _) = decode_all(&[0xF2, 0x00]);
        assert!(h.fin);
        assert_eq!(h.rsv, Rsv::RSV1 | Rsv::RSV2 | Rsv::RSV3);
        assert_eq!(h.opcode, OpCode::Binary);
    }

    #[test]
    fn reserved_opcodes_are_rejected_from_the_first_byte() {
        for op in (0x3..=0x7).chain(0xB..=0xF) {
            assert_eq!(
                FrameHeader::decode(&[0x80 | op]),
                Err(ProtocolError::ReservedOpcode(op))
            );
            assert_eq!(
                ProtocolError::ReservedOpcode(op).close_code(),
                crate::CloseCode::PROTOCOL_ERROR
            );
        }
    }

    #[test]
    fn length_with_most_significant_bit_is_rejected() {
        let wire = [0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            FrameHeader::decode(&wire),
            Err(ProtocolError::LengthOverflow)
        );
        let wire = [0x82, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
        assert_eq!(
            FrameHeader::decode(&wire),
            Err(ProtocolError::LengthOverflow)
        );
    }

    #[test]
    fn non_minimal_lengths_are_rejected() {
        assert_eq!(
            FrameHeader::decode(&[0x82, 0x7E, 0, 125]),
            Err(ProtocolError::NonMinimalLength)
        );
        let wire = [0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF];
        assert_eq!(
            FrameHeader::decode(&wire),
            Err(ProtocolError::NonMinimalLength)
        );
        // The smallest lengths of each form are fine.
        assert_eq!(decode_all(&[0x82, 0x7E, 0, 126]).0.payload_len, 126);
        assert_eq!(
            decode_all(&[0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0])
                .0
                .payload_len,
            0x1_0000
        );
    }

    #[test]
    fn opcode_classes() {
        for op in [OpCode::Close, OpCode::Ping, OpCode::Pong] {
            assert!(op.is_control() && !op.is_data());
            assert_eq!(OpCode::from_u8(op.as_u8()), Ok(op));
        }
        for op in [OpCode::Continuation, OpCode::Text, OpCode::Binary] {
            assert!(op.is_data() && !op.is_control());
            assert_eq!(OpCode::from_u8(op.as_u8()), Ok(op));
        }
    }
}
