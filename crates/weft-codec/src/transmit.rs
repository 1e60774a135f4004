//! The bytes a connection has queued for its transport.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::frame::FrameHeader;
use crate::mask::apply_mask;

/// Payloads up to this size are copied next to their header; larger ones are queued as their
/// own shared buffer and written with a vectored write, without a copy.
const COPY_THRESHOLD: usize = 2048;

/// How far a large masked frame is moved in its buffer when its payload would land less than
/// half this far past the source's offset within a 4 KiB page. Copies of that shape run about
/// 15 times slower on the AMD EPYC machines this was measured on (glibc's `rep movsb` path
/// meets 4K aliasing between its loads and stores): 64 KiB took 22 µs instead of 1.4, and two
/// large allocations often sit at the same page offset, so a 64 KiB client send spent more
/// than half its CPU in that copy.
const ALIAS_SHIFT: usize = 128;

/// A spare write buffer larger than this is released once drained, so one large message does
/// not pin memory for the rest of the connection.
const RETAINED_CAPACITY: usize = 16 << 10;

/// Encoded frames waiting for the transport, in order, as a [`Buf`].
///
/// Small frames are packed together into one buffer, so a burst of small messages leaves in
/// one write; large payloads stay in their own [`Bytes`] and go out with
/// [`Buf::chunks_vectored`] next to their header, without being copied.
///
/// ```
/// use bytes::Buf;
/// use weft_codec::{Connection, Message, Role};
///
/// let mut conn = Connection::new(Role::Server);
/// conn.send(Message::text("hi")).unwrap();
/// let out = conn.poll_transmit().unwrap();
/// assert_eq!(out.chunk(), b"\x81\x02hi");
/// out.advance(4);
/// assert!(conn.poll_transmit().is_none());
/// ```
#[derive(Debug, Default)]
pub struct Transmit {
    /// Buffers ready to go, oldest first; `tail` follows them.
    segments: VecDeque<Bytes>,
    /// Where headers and small payloads are packed.
    tail: BytesMut,
    /// Bytes in `segments` plus `tail`.
    len: usize,
    /// Bytes ever queued.
    queued_total: u64,
    /// Bytes ever taken out with [`Buf::advance`].
    written_total: u64,
    /// The most `tail` held since it was last empty. (Once drained, `BytesMut::capacity` counts
    /// only what lies past the drained bytes, and says nothing of the allocation behind it.)
    tail_peak: usize,
}

impl Transmit {
    /// Bytes waiting to be written.
    ///
    /// ```
    /// use weft_codec::{Connection, Message, Role};
    /// let mut server = Connection::new(Role::Server);
    /// server.send(Message::text("hi"))?;
    /// assert_eq!(server.poll_transmit().map(|out| out.len()), Some(4));
    /// # Ok::<(), weft_codec::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is waiting.
    ///
    /// ```
    /// use weft_codec::{Connection, Message, Role};
    /// let mut server = Connection::new(Role::Server);
    /// server.send(Message::text("hi"))?;
    /// assert!(server.poll_transmit().is_some_and(|out| !out.is_empty()));
    /// # Ok::<(), weft_codec::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn queued_total(&self) -> u64 {
        self.queued_total
    }

    pub(crate) fn written_total(&self) -> u64 {
        self.written_total
    }

    /// Queues one frame. A masked header gets its payload copied and masked; an unmasked large
    /// payload is queued by reference.
    pub(crate) fn push_frame(&mut self, header: &FrameHeader, payload: &Bytes) {
        debug_assert_eq!(header.payload_len, payload.len() as u64);
        let frame_len = header.encoded_len() + payload.len();
        match header.mask {
            Some(key) if payload.len() > COPY_THRESHOLD => {
                // A masked copy must be made; in a buffer of its own, placed where the copy
                // runs at full speed (see `ALIAS_SHIFT`), rather than in the packing buffer,
                // which would grow to the frame and keep the room.
                if !self.tail.is_empty() {
                    self.segments.push_back(self.tail.split().freeze());
                }
                let mut frame = BytesMut::with_capacity(ALIAS_SHIFT + frame_len);
                let header_len = frame_len - payload.len();
                let distance = (frame.as_ptr() as usize + header_len)
                    .wrapping_sub(payload.as_ptr() as usize)
                    % 4096;
                let shift = if distance < ALIAS_SHIFT / 2 {
                    ALIAS_SHIFT
                } else {
                    0
                };
                frame.put_bytes(0, shift);
                header.encode_to(&mut frame);
                let start = frame.len();
                frame.extend_from_slice(payload);
                apply_mask(&mut frame[start..], key, 0);
                frame.advance(shift);
                self.segments.push_back(frame.freeze());
            }
            Some(key) => {
                self.tail.reserve(frame_len);
                header.encode_to(&mut self.tail);
                let start = self.tail.len();
                self.tail.extend_from_slice(payload);
                apply_mask(&mut self.tail[start..], key, 0);
            }
            None if payload.len() <= COPY_THRESHOLD => {
                self.tail.reserve(frame_len);
                header.encode_to(&mut self.tail);
                self.tail.extend_from_slice(payload);
            }
            None => {
                header.encode_to(&mut self.tail);
                self.segments.push_back(self.tail.split().freeze());
                self.segments.push_back(payload.clone());
            }
        }
        self.len += frame_len;
        self.queued_total += frame_len as u64;
        self.tail_peak = self.tail_peak.max(self.tail.len());
    }

    /// Queues frames encoded elsewhere (a prepared message's), by reference: each buffer is
    /// queued as it is, shared with every other connection that queued it.
    pub(crate) fn push_shared(&mut self, frames: &[Bytes]) {
        if !self.tail.is_empty() {
            // Keep the order: what was packed before goes first.
            self.segments.push_back(self.tail.split().freeze());
        }
        for frame in frames {
            self.segments.push_back(frame.clone());
            self.len += frame.len();
            self.queued_total += frame.len() as u64;
        }
    }
}

impl Buf for Transmit {
    fn remaining(&self) -> usize {
        self.len
    }

    fn chunk(&self) -> &[u8] {
        match self.segments.front() {
            Some(segment) => segment,
            None => &self.tail,
        }
    }

    fn advance(&mut self, mut cnt: usize) {
        assert!(
            cnt <= self.len,
            "advanced past the end of the transmit queue"
        );
        self.written_total += cnt as u64;
        if cnt == self.len {
            // Everything was written, the usual case. Clearing the tail, rather than advancing
            // past its bytes first, keeps its allocation's start: the next frame finds all of
            // its room without a reserve moving it back.
            self.len = 0;
            self.segments.clear();
            if self.tail_peak > RETAINED_CAPACITY {
                self.tail = BytesMut::new();
            } else {
                self.tail.clear();
            }
            self.tail_peak = 0;
            return;
        }
        self.len -= cnt;
        while cnt > 0 {
            match self.segments.front_mut() {
                Some(front) if cnt >= front.len() => {
                    cnt -= front.len();
                    self.segments.pop_front();
                }
                Some(front) => {
                    front.advance(cnt);
                    cnt = 0;
                }
                None => {
                    self.tail.advance(cnt);
                    cnt = 0;
                }
            }
        }
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut filled = 0;
        for segment in &self.segments {
            if filled == dst.len() {
                return filled;
            }
            dst[filled] = IoSlice::new(segment);
            filled += 1;
        }
        if filled < dst.len() && !self.tail.is_empty() {
            dst[filled] = IoSlice::new(&self.tail);
            filled += 1;
        }
        filled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::OpCode;

    #[test]
    fn small_frames_are_packed_and_large_ones_are_shared() {
        let mut t = Transmit::default();
        let small = Bytes::from_static(b"abc");
        let large = Bytes::from(vec![7u8; 10_000]);
        t.push_frame(&FrameHeader::new(OpCode::Text, 3), &small);
        t.push_frame(&FrameHeader::new(OpCode::Binary, 10_000), &large);
        t.push_frame(&FrameHeader::new(OpCode::Text, 3), &small);
        assert_eq!(t.len(), 5 + 4 + 10_000 + 5);

        let mut slices = [IoSlice::new(&[]); 8];
        let n = t.chunks_vectored(&mut slices);
        assert_eq!(n, 3);
        assert_eq!(&*slices[0], b"\x81\x03abc\x82\x7e\x27\x10");
        assert_eq!(
            slices[1].as_ptr(),
            large.as_ptr(),
            "large payload is not copied"
        );
        assert_eq!(&*slices[2], b"\x81\x03abc");

        let mut all = Vec::new();
        while t.has_remaining() {
            let chunk = t.chunk();
            let take = chunk.len().min(777);
            all.extend_from_slice(&chunk[..take]);
            t.advance(take);
        }
        assert_eq!(all.len(), 10_014);
        assert_eq!(t.written_total(), t.queued_total());
    }

    #[test]
    fn shared_frames_keep_their_place_and_are_not_copied() {
        let mut t = Transmit::default();
        t.push_frame(
            &FrameHeader::new(OpCode::Text, 1),
            &Bytes::from_static(b"a"),
        );
        let shared = Bytes::from_static(b"\x81\x01b");
        t.push_shared(std::slice::from_ref(&shared));
        t.push_frame(
            &FrameHeader::new(OpCode::Text, 1),
            &Bytes::from_static(b"c"),
        );
        assert_eq!(t.len(), 9);
        let mut slices = [IoSlice::new(&[]); 4];
        assert_eq!(t.chunks_vectored(&mut slices), 3);
        assert_eq!(&*slices[0], b"\x81\x01a");
        assert_eq!(slices[1].as_ptr(), shared.as_ptr());
        assert_eq!(&*slices[2], b"\x81\x01c");
        t.advance(9);
        assert_eq!(t.written_total(), t.queued_total());
    }

    #[test]
    fn masked_frames_are_copied_and_masked() {
        let mut t = Transmit::default();
        let header = FrameHeader {
            mask: Some([1, 2, 3, 4]),
            ..FrameHeader::new(OpCode::Binary, 4)
        };
        t.push_frame(&header, &Bytes::from_static(&[0, 0, 0, 0]));
        assert_eq!(t.chunk(), &[0x82, 0x84, 1, 2, 3, 4, 1, 2, 3, 4]);
    }

    #[test]
    fn a_large_masked_frame_gets_its_own_buffer_after_what_was_queued() {
        let mut t = Transmit::default();
        let masked = |len: usize| FrameHeader {
            mask: Some([1, 2, 3, 4]),
            ..FrameHeader::new(OpCode::Binary, len as u64)
        };
        t.push_frame(&masked(3), &Bytes::from_static(&[0; 3]));
        t.advance(2); // a partial write: the rest of the small frame is still queued
        let large = vec![0u8; 70_000];
        t.push_frame(&masked(large.len()), &Bytes::from(large));
        t.push_frame(&masked(1), &Bytes::from_static(&[0]));
        let key = [1, 2, 3, 4];
        let mut wire = Vec::new();
        while t.has_remaining() {
            let chunk = t.chunk();
            wire.extend_from_slice(chunk);
            let n = chunk.len();
            t.advance(n);
        }
        // The small frame's last 7 bytes, the large frame (14-byte header), the last frame.
        assert_eq!(wire.len(), 7 + 14 + 70_000 + 7);
        assert_eq!(&wire[..7], &[1, 2, 3, 4, 1, 2, 3]);
        assert_eq!(&wire[7..9], &[0x82, 0xff]);
        assert_eq!(&wire[9..17], &70_000u64.to_be_bytes());
        assert_eq!(&wire[17..21], &key);
        let payload = &wire[21..21 + 70_000];
        assert!(payload.iter().enumerate().all(|(i, b)| *b == key[i % 4]));
        assert_eq!(&wire[wire.len() - 7..], &[0x82, 0x81, 1, 2, 3, 4, 1]);
        assert_eq!(t.written_total(), t.queued_total());
    }

    #[test]
    fn a_drained_buffer_is_reused_from_its_start() {
        let mut t = Transmit::default();
        let frame = |t: &mut Transmit| {
            t.push_frame(
                &FrameHeader::new(OpCode::Binary, 20),
                &Bytes::from_static(&[1; 20]),
            );
        };
        frame(&mut t);
        let start = t.chunk().as_ptr();
        for _ in 0..3 {
            let room = t.tail.capacity();
            t.advance(t.len());
            assert_eq!(t.tail.capacity(), room, "all the room is there again");
            frame(&mut t);
            assert_eq!(t.chunk().as_ptr(), start);
        }
        // A partial write moves through the bytes; the rest is still to be written.
        t.advance(5);
        assert_eq!(t.chunk(), &[1; 17]);
        t.advance(17);
        assert!(t.is_empty());
        assert_eq!(t.written_total(), t.queued_total());
    }

    #[test]
    fn a_large_drained_buffer_is_released() {
        let mut t = Transmit::default();
        // Small masked frames are packed into the buffer, which grows with them.
        let header = FrameHeader {
            mask: Some([0; 4]),
            ..FrameHeader::new(OpCode::Binary, 2000)
        };
        for _ in 0..50 {
            t.push_frame(&header, &Bytes::from(vec![0; 2000]));
        }
        assert!(t.tail.capacity() >= 100_000);
        t.advance(t.len());
        // A small frame afterwards must not find the large allocation again.
        t.push_frame(
            &FrameHeader::new(OpCode::Text, 1),
            &Bytes::from_static(b"x"),
        );
        assert!(
            t.tail.capacity() <= RETAINED_CAPACITY,
            "{}",
            t.tail.capacity()
        );
    }
}
