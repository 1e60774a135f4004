//! Payloads for hostile peers that take work to build.

use flate2::{Compress, Compression, FlushCompress};

const MIB: usize = 1 << 20;

/// `len` zero bytes compressed as one permessage-deflate message payload (raw DEFLATE, sync
/// flush, the `00 00 ff ff` tail removed), built a MiB at a time so the zeros never exist
/// whole: a decompression bomb about a thousandth of the size it inflates to.
///
/// ```
/// let bomb = weft_harness::deflate_bomb(16 << 20);
/// assert!(bomb.len() < 20 << 10);
/// ```
pub fn deflate_bomb(len: usize) -> Vec<u8> {
    let mut compress = Compress::new(Compression::best(), false);
    let zeros = vec![0u8; MIB];
    let mut out = Vec::with_capacity(len / 512 + 64);
    let mut left = len;
    while left > 0 {
        let chunk = &zeros[..left.min(MIB)];
        let flush = FlushCompress::None;
        let start = compress.total_in();
        while compress.total_in() - start < chunk.len() as u64 {
            let consumed = usize::try_from(compress.total_in() - start).unwrap_or(usize::MAX);
            out.reserve(64 << 10);
            compress
                .compress_vec(&chunk[consumed..], &mut out, flush)
                .expect("compressing into a reserved vector");
        }
        left -= chunk.len();
    }
    // Drain the sync flush completely.
    loop {
        out.reserve(64 << 10);
        let before = out.len();
        compress
            .compress_vec(&[], &mut out, FlushCompress::Sync)
            .expect("compressing into a reserved vector");
        if out.len() == before {
            break;
        }
    }
    assert!(out.ends_with(&[0, 0, 0xFF, 0xFF]));
    out.truncate(out.len() - 4);
    out
}
