//! permessage-deflate throughput: weft-deflate's extension (the `encode`/`decode` calls a
//! `Connection` makes) against flate2 called directly with the same settings, so the cost of
//! our framing (the tail, output budgeting, buffer handling) is visible.
//!
//! Settings on both sides: raw DEFLATE, level 6, 15-bit windows, and no context takeover, so
//! every iteration does the same work (each message starts from an empty window, and the
//! decompressor can inflate the same payload again). Throughput counts uncompressed bytes.

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use weft_codec::{Extension, OpCode};
use weft_deflate::{DeflateConfig, PerMessageDeflate};
use weft_handshake::parse_extension_list;

const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];
const SIZES: [(&str, usize); 3] = [("1KiB", 1 << 10), ("64KiB", 64 << 10), ("1MiB", 1 << 20)];

/// JSON-like text of `len` bytes: repeated structure, varying values.
fn json_like(len: usize) -> Vec<u8> {
    let mut out = String::with_capacity(len + 128);
    out.push('[');
    let mut i = 0u64;
    while out.len() < len {
        let state = i.wrapping_mul(6_364_136_223_846_793_005).rotate_left(17);
        out.push_str(&format!(
            r#"{{"id":{i},"name":"user{}","active":{},"score":{},"tags":["t{}","t{}"]}},"#,
            state % 5000,
            state.is_multiple_of(3),
            state % 100_000,
            state % 17,
            state % 29
        ));
        i += 1;
    }
    out.truncate(len);
    out.into_bytes()
}

/// Both ends' extensions for `permessage-deflate; server_no_context_takeover;
/// client_no_context_takeover` at `level`, with no threshold.
fn extensions(level: u32) -> (PerMessageDeflate, PerMessageDeflate) {
    let config = DeflateConfig::default()
        .threshold(0)
        .compression_level(level);
    let agreed = parse_extension_list(
        b"permessage-deflate; server_no_context_takeover; client_no_context_takeover",
    )
    .expect("valid");
    let server = config
        .server_extension(&agreed)
        .expect("valid")
        .expect("agreed");
    let client = config
        .client_extension(&agreed)
        .expect("valid")
        .expect("agreed");
    (server, client)
}

/// flate2 as the extension drives it: one sync-flushed message, tail removed, then reset.
fn flate2_compress(compress: &mut Compress, input: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.reserve(input.len() + input.len() / 64 + 64);
    compress
        .compress_vec(input, out, FlushCompress::Sync)
        .expect("compress");
    out.truncate(out.len() - TAIL.len());
    compress.reset();
}

fn compress(c: &mut Criterion) {
    let mut group = c.benchmark_group("deflate/compress");
    for (name, size) in SIZES {
        let input = json_like(size);
        group.throughput(Throughput::Bytes(size as u64));
        let (mut server, _) = extensions(6);
        group.bench_with_input(BenchmarkId::new("extension", name), &input, |b, input| {
            b.iter(|| {
                // As Connection::send does: a buffer of half the message, then encode.
                let mut out = BytesMut::with_capacity(input.len() / 2 + 64);
                server.encode_begin(OpCode::Text, Some(input.len()));
                server
                    .encode(black_box(input), true, &mut out)
                    .expect("encode");
                out
            });
        });
        let mut raw = Compress::new_with_window_bits(Compression::new(6), false, 15);
        let mut out = Vec::new();
        group.bench_with_input(BenchmarkId::new("flate2", name), &input, |b, input| {
            b.iter(|| {
                flate2_compress(&mut raw, black_box(input), &mut out);
                out.len()
            });
        });
        // What DeflateConfig::compression_level(1) buys.
        let (mut fast, _) = extensions(1);
        group.bench_with_input(
            BenchmarkId::new("extension-level1", name),
            &input,
            |b, input| {
                b.iter(|| {
                    let mut out = BytesMut::with_capacity(input.len() / 2 + 64);
                    fast.encode_begin(OpCode::Text, Some(input.len()));
                    fast.encode(black_box(input), true, &mut out)
                        .expect("encode");
                    out
                });
            },
        );
    }
    group.finish();
}

fn decompress(c: &mut Criterion) {
    let mut group = c.benchmark_group("deflate/decompress");
    for (name, size) in SIZES {
        let input = json_like(size);
        let mut raw = Compress::new_with_window_bits(Compression::new(6), false, 15);
        let mut payload = Vec::new();
        flate2_compress(&mut raw, &input, &mut payload);
        group.throughput(Throughput::Bytes(size as u64));

        let (_, mut client) = extensions(6);
        group.bench_with_input(
            BenchmarkId::new("extension", name),
            &payload,
            |b, payload| {
                b.iter(|| {
                    // As Connection does for a whole message: a fresh buffer, one decode call.
                    let mut out = BytesMut::new();
                    client
                        .decode(black_box(payload), true, &mut out, usize::MAX)
                        .expect("decode");
                    assert_eq!(out.len(), size);
                    out
                });
            },
        );

        // flate2 at its best: the output size known in advance, the tail appended once.
        let mut with_tail = payload.clone();
        with_tail.extend_from_slice(&TAIL);
        let mut inflate = Decompress::new_with_window_bits(false, 15);
        let mut out = Vec::with_capacity(size + 64);
        group.bench_with_input(BenchmarkId::new("flate2", name), &with_tail, |b, data| {
            b.iter(|| {
                out.clear();
                inflate
                    .decompress_vec(black_box(data), &mut out, FlushDecompress::Sync)
                    .expect("decompress");
                inflate.reset(false);
                assert_eq!(out.len(), size);
                out.len()
            });
        });
    }
    group.finish();
}

criterion_group!(benches, compress, decompress);
criterion_main!(benches);
