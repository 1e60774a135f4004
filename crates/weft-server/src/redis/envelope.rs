//! What the bridge puts on a Redis channel: a small header (who published, its sequence
//! number in the topic, text or binary) and the payload. Sans-IO: bytes in, bytes out.

use bytes::{BufMut, Bytes, BytesMut};
use weft_codec::{DataKind, PreparedMessage, Utf8Bytes};

/// The first byte of every envelope: `w`, for weft.
const MAGIC: u8 = b'w';
/// The envelope format; a node that reads another version drops the message as malformed.
const VERSION: u8 = 1;
const TEXT: u8 = 1;
const BINARY: u8 = 2;
/// Magic, version, kind, node id (8 bytes), sequence number (8 bytes).
pub(crate) const HEADER_LEN: usize = 19;

/// One message as it travels between nodes.
#[derive(Debug)]
pub(crate) struct Envelope {
    /// The node that published it.
    pub(crate) node: u64,
    /// Its number among that node's messages to this topic, from 1.
    pub(crate) seq: u64,
    pub(crate) message: PreparedMessage,
}

/// Why a received envelope was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Not an envelope this version of weft writes.
    Malformed(&'static str),
    /// A payload over the topics' message limit.
    Oversized { size: usize, limit: usize },
}

/// The envelope of `message`, published by `node` as its `seq`-th message to the topic.
pub(crate) fn encode(node: u64, seq: u64, message: &PreparedMessage) -> Bytes {
    let mut out = BytesMut::with_capacity(HEADER_LEN + message.len());
    out.put_u8(MAGIC);
    out.put_u8(VERSION);
    out.put_u8(match message.kind() {
        DataKind::Text => TEXT,
        _ => BINARY,
    });
    out.put_u64(node);
    out.put_u64(seq);
    out.put_slice(message.payload());
    out.freeze()
}

/// Reads an envelope, refusing anything malformed and any payload over `max_message_size`
/// before the payload is looked at. The payload is a slice of `bytes`, not a copy.
pub(crate) fn decode(bytes: Bytes, max_message_size: usize) -> Result<Envelope, Refused> {
    if bytes.len() < HEADER_LEN {
        return Err(Refused::Malformed("shorter than the envelope header"));
    }
    if bytes[0] != MAGIC || bytes[1] != VERSION {
        return Err(Refused::Malformed("not a weft envelope of version 1"));
    }
    let size = bytes.len() - HEADER_LEN;
    if size > max_message_size {
        return Err(Refused::Oversized {
            size,
            limit: max_message_size,
        });
    }
    let kind = bytes[2];
    let node = u64::from_be_bytes(bytes[3..11].try_into().unwrap_or_default());
    let seq = u64::from_be_bytes(bytes[11..19].try_into().unwrap_or_default());
    let payload = bytes.slice(HEADER_LEN..);
    let message = match kind {
        TEXT => PreparedMessage::text(
            Utf8Bytes::try_from(payload).map_err(|_| Refused::Malformed("text not UTF-8"))?,
        ),
        BINARY => PreparedMessage::binary(payload),
        _ => return Err(Refused::Malformed("unknown message kind")),
    };
    Ok(Envelope { node, seq, message })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_reads_back_as_written() {
        for message in [
            PreparedMessage::text("héllo"),
            PreparedMessage::binary(vec![0, 1, 2, 255]),
            PreparedMessage::text(""),
        ] {
            let bytes = encode(42, 7, &message);
            assert_eq!(bytes.len(), HEADER_LEN + message.len());
            let envelope = decode(bytes, 1 << 20).unwrap();
            assert_eq!((envelope.node, envelope.seq), (42, 7));
            assert_eq!(envelope.message.to_message(), message.to_message());
        }
    }

    #[test]
    fn malformed_and_oversized_envelopes_are_refused() {
        let good = encode(1, 1, &PreparedMessage::text("abc"));
        let mut cases: Vec<(Vec<u8>, Refused)> = vec![
            (
                good[..5].to_vec(),
                Refused::Malformed("shorter than the envelope header"),
            ),
            (
                b"hello, this is not an envelope".to_vec(),
                Refused::Malformed("not a weft envelope of version 1"),
            ),
        ];
        let mut other_version = good.to_vec();
        other_version[1] = 2;
        cases.push((
            other_version,
            Refused::Malformed("not a weft envelope of version 1"),
        ));
        let mut bad_kind = good.to_vec();
        bad_kind[2] = 9;
        cases.push((bad_kind, Refused::Malformed("unknown message kind")));
        let mut bad_text = good.to_vec();
        bad_text.push(0xff);
        cases.push((bad_text, Refused::Malformed("text not UTF-8")));
        for (bytes, refused) in cases {
            assert_eq!(decode(Bytes::from(bytes), 1 << 20).unwrap_err(), refused);
        }
        let big = encode(1, 1, &PreparedMessage::binary(vec![0; 101]));
        assert_eq!(
            decode(big, 100).unwrap_err(),
            Refused::Oversized {
                size: 101,
                limit: 100
            }
        );
    }
}
