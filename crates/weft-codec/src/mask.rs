//! Payload masking (RFC 6455 §5.3).
//!
//! Masking is an XOR with a 4-byte key repeated over the payload. It runs over every byte a
//! client sends and a server receives, so it works a machine word at a time rather than byte by
//! byte; the compiler turns the word loop into SIMD where the target has it.

/// XORs `buf` with `key`, as if `buf` started `offset` bytes into the payload.
///
/// The offset lets a payload be unmasked piece by piece as it arrives: unmasking `a` at
/// offset 0 and then `b` at offset `a.len()` equals unmasking `a ++ b` at once. Masking twice
/// with the same key and offset restores the input.
///
/// ```
/// use weft_codec::apply_mask;
///
/// let key = [0x37, 0xfa, 0x21, 0x3d];
/// let mut payload = *b"Hello";
/// apply_mask(&mut payload, key, 0);
/// assert_eq!(payload, [0x7f, 0x9f, 0x4d, 0x51, 0x58]); // RFC 6455 §5.7
///
/// // The same in two pieces.
/// let (head, tail) = payload.split_at_mut(2);
/// apply_mask(head, key, 0);
/// apply_mask(tail, key, 2);
/// assert_eq!(&payload, b"Hello");
/// ```
#[inline]
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    let key = rotate_key(key, offset);
    if buf.len() < 16 {
        xor_bytes(buf, key);
        return;
    }
    let word = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let (words, rest) = buf.as_chunks_mut::<8>();
    for chunk in words {
        *chunk = (u64::from_ne_bytes(*chunk) ^ word).to_ne_bytes();
    }
    // Whole words cover a multiple of 8 bytes, so the key phase at `rest` is unchanged.
    xor_bytes(rest, key);
}

/// The key as seen from `offset` bytes into the payload.
#[inline]
fn rotate_key(key: [u8; 4], offset: usize) -> [u8; 4] {
    let mut rotated = key;
    rotated.rotate_left(offset % 4);
    rotated
}

#[inline]
fn xor_bytes(buf: &mut [u8], key: [u8; 4]) {
    for (i, byte) in buf.iter_mut().enumerate() {
        *byte ^= key[i % 4];
    }
}

/// The byte-at-a-time definition from RFC 6455 §5.3, kept as the reference for tests and
/// benchmarks.
#[doc(hidden)]
pub fn apply_mask_bytewise(buf: &mut [u8], key: [u8; 4], offset: usize) {
    for (i, byte) in buf.iter_mut().enumerate() {
        *byte ^= key[(offset + i) % 4];
    }
}

#[cfg(test)]
mod tests {
    //! RFC 6455 §5.3: client-to-server masking.
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc_example() {
        let mut payload = *b"Hello";
        apply_mask(&mut payload, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(payload, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    }

    #[test]
    fn every_length_and_offset_matches_the_definition() {
        let key = [0x12, 0x34, 0x56, 0x78];
        let input: Vec<u8> = (0..=255u8).cycle().take(300).collect();
        for len in 0..input.len() {
            for offset in 0..8 {
                let mut fast = input[..len].to_vec();
                let mut slow = fast.clone();
                apply_mask(&mut fast, key, offset);
                apply_mask_bytewise(&mut slow, key, offset);
                assert_eq!(fast, slow, "len {len} offset {offset}");
            }
        }
    }

    #[test]
    fn unaligned_slices_mask_correctly() {
        let key = [1, 2, 4, 8];
        let mut buf = [0xAAu8; 100];
        for start in 0..9 {
            let mut fast = buf[start..].to_vec();
            let mut slow = fast.clone();
            apply_mask(&mut fast, key, 3);
            apply_mask_bytewise(&mut slow, key, 3);
            assert_eq!(fast, slow);
            apply_mask(&mut buf[start..], key, 3);
            assert_eq!(buf[start..], slow[..]);
            apply_mask(&mut buf[start..], key, 3);
        }
    }

    proptest! {
        #[test]
        fn masking_in_pieces_equals_masking_at_once(
            data in proptest::collection::vec(any::<u8>(), 0..2000),
            key in any::<[u8; 4]>(),
            cuts in proptest::collection::vec(any::<usize>(), 0..6),
        ) {
            let mut whole = data.clone();
            apply_mask(&mut whole, key, 0);
            let mut pieces = data.clone();
            let mut points: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
            points.push(0);
            points.push(data.len());
            points.sort_unstable();
            for pair in points.windows(2) {
                apply_mask(&mut pieces[pair[0]..pair[1]], key, pair[0]);
            }
            prop_assert_eq!(&pieces, &whole);
            apply_mask(&mut pieces, key, 0);
            prop_assert_eq!(pieces, data);
        }
    }
}
