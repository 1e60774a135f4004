//! Payload masking (RFC 6455 §5.3).
//!
//! Masking is an XOR with a 4-byte key repeated over the payload. It runs over every byte a
//! client sends and a server receives, so it works a machine word at a time rather than byte by
//! byte; the compiler turns the word loop into SIMD where the target has it. On x86-64 the
//! loop is also compiled for AVX2 and AVX-512 and chosen at run time (`wide`), since a
//! portable build only assumes SSE2.

/// Up to this length the four-byte loop beats setting up the word loop (measured at 20 B:
/// 2.4 ns against 3.3 ns).
const SHORT_LEN: usize = 64;

/// The cache line size, and the width of an AVX-512 vector.
const CACHE_LINE: usize = 64;

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
    if buf.len() < SHORT_LEN {
        xor_bytes(buf, key);
        return;
    }
    // A vector store that straddles two cache lines costs about two: start the word loop on a
    // cache-line boundary. (A payload follows its header, so it rarely starts on one.)
    // (`align_offset` may answer "never"; then the four-byte loop takes it all.)
    let head_len = buf.as_ptr().align_offset(CACHE_LINE).min(buf.len());
    let (head, body) = buf.split_at_mut(head_len);
    xor_bytes(head, key);
    let key = rotate_key(key, head_len);
    let (words, rest) = body.as_chunks_mut::<8>();
    wide::xor_words(words, repeat_key(key));
    // Whole words cover a multiple of 8 bytes, so the key phase at `rest` is unchanged.
    xor_bytes(rest, key);
}

/// [`apply_mask`] without the wide-vector paths, to compare them against in benchmarks.
#[doc(hidden)]
pub fn apply_mask_portable(buf: &mut [u8], key: [u8; 4], offset: usize) {
    let key = rotate_key(key, offset);
    let (words, rest) = buf.as_chunks_mut::<8>();
    xor_words_portable(words, repeat_key(key));
    xor_bytes(rest, key);
}

/// The key repeated over a 64-bit word, in memory order.
#[inline]
fn repeat_key(key: [u8; 4]) -> u64 {
    u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ])
}

/// XORs each word with `word`; the compiler vectorises this loop to the width the function is
/// compiled for.
#[inline(always)]
fn xor_words_portable(words: &mut [[u8; 8]], word: u64) {
    for chunk in words {
        *chunk = (u64::from_ne_bytes(*chunk) ^ word).to_ne_bytes();
    }
}

/// The word loop compiled for wider vectors than the target's baseline, chosen at run time.
///
/// This is weft's only `unsafe`: calling a `#[target_feature]` function is `unsafe` because it
/// would be undefined behaviour on a CPU without the feature. The functions hold no other
/// `unsafe`; they are the portable loop, compiled for AVX2 or AVX-512. `benches/mask.rs`
/// measures what it pays (`apply_mask` against `apply_mask_portable`).
#[allow(unsafe_code)]
mod wide {
    use super::xor_words_portable;

    /// Called for buffers of at least `SHORT_LEN` bytes, where the feature check pays.
    #[inline]
    pub(super) fn xor_words(words: &mut [[u8; 8]], word: u64) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU supports AVX-512F, checked on the line above.
                unsafe { xor_words_avx512(words, word) };
                return;
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU supports AVX2, checked on the line above.
                unsafe { xor_words_avx2(words, word) };
                return;
            }
        }
        xor_words_portable(words, word);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    fn xor_words_avx512(words: &mut [[u8; 8]], word: u64) {
        xor_words_portable(words, word);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn xor_words_avx2(words: &mut [[u8; 8]], word: u64) {
        xor_words_portable(words, word);
    }
}

/// The key as seen from `offset` bytes into the payload.
#[inline]
fn rotate_key(key: [u8; 4], offset: usize) -> [u8; 4] {
    // A word rotate: `[u8; 4]::rotate_left` did not inline and cost 8 ns per call. Little
    // endian, so rotating the array left by one byte rotates the word right by 8 bits.
    #[expect(clippy::cast_possible_truncation, reason = "offset % 4 is below 4")]
    let shift = (offset % 4) as u32 * 8;
    u32::from_le_bytes(key).rotate_right(shift).to_le_bytes()
}

/// XORs a short buffer: four bytes at a time, then the last zero to three.
#[inline]
fn xor_bytes(buf: &mut [u8], key: [u8; 4]) {
    let (quads, rest) = buf.as_chunks_mut::<4>();
    let key_word = u32::from_ne_bytes(key);
    for quad in quads {
        *quad = (u32::from_ne_bytes(*quad) ^ key_word).to_ne_bytes();
    }
    // Whole quads keep the key phase, so the tail starts at key[0].
    for (byte, key_byte) in rest.iter_mut().zip(key) {
        *byte ^= key_byte;
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
        // Under Miri, 100 bytes still reach the short loop, the word loop and the wide one.
        let max_len = if cfg!(miri) { 100 } else { 300 };
        let input: Vec<u8> = (0..=255u8).cycle().take(max_len).collect();
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
    fn wide_and_portable_paths_agree() {
        let key = [0x9e, 0x37, 0x79, 0xb9];
        let input: Vec<u8> = (0..=255u8).cycle().take(4099).collect();
        for len in [64, 65, 127, 128, 129, 1000, 4096, 4099] {
            for offset in 0..4 {
                let mut wide = input[..len].to_vec();
                let mut portable = wide.clone();
                let mut slow = wide.clone();
                apply_mask(&mut wide, key, offset);
                apply_mask_portable(&mut portable, key, offset);
                apply_mask_bytewise(&mut slow, key, offset);
                assert_eq!(wide, slow, "len {len} offset {offset}");
                assert_eq!(portable, slow, "len {len} offset {offset}");
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

    #[test]
    fn every_distance_to_a_cache_line_masks_correctly() {
        // 64 consecutive starts put the slice at every distance from a 64-byte boundary, so the
        // head before the word loop takes every length from 0 to 63, at every key phase.
        let key = [0x37, 0xfa, 0x21, 0x3d];
        let data: Vec<u8> = (0..=255).collect();
        for start in 0..CACHE_LINE {
            for offset in 0..4 {
                let mut fast = data.clone();
                let mut slow = data.clone();
                apply_mask(&mut fast[start..start + 130], key, offset);
                apply_mask_bytewise(&mut slow[start..start + 130], key, offset);
                assert_eq!(fast, slow, "start {start}, offset {offset}");
            }
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
