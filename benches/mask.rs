//! Masking throughput: `apply_mask` against the byte-at-a-time definition and against
//! `copy_from_slice` of the same size, the ceiling a pass over memory can reach.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use weft_codec::{apply_mask, apply_mask_bytewise, apply_mask_portable};

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

fn masking(c: &mut Criterion) {
    let mut group = c.benchmark_group("mask");
    for size in [20usize, 1 << 10, 16 << 10, 64 << 10, 1 << 20] {
        let mut buf = vec![0x5Au8; size];
        let src = vec![0xA5u8; size];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("apply_mask", size), &size, |b, _| {
            b.iter(|| apply_mask(black_box(&mut buf), KEY, black_box(1)));
        });
        // Where a payload usually sits: after a 14-byte header (64-bit length and mask key).
        group.bench_with_input(BenchmarkId::new("apply_mask_at_14", size), &size, |b, _| {
            let mut framed = vec![0x5Au8; size + 14];
            b.iter(|| apply_mask(black_box(&mut framed[14..]), KEY, black_box(1)));
        });
        group.bench_with_input(BenchmarkId::new("portable", size), &size, |b, _| {
            b.iter(|| apply_mask_portable(black_box(&mut buf), KEY, black_box(1)));
        });
        group.bench_with_input(BenchmarkId::new("bytewise", size), &size, |b, _| {
            b.iter(|| apply_mask_bytewise(black_box(&mut buf), KEY, black_box(1)));
        });
        group.bench_with_input(BenchmarkId::new("copy_from_slice", size), &size, |b, _| {
            b.iter(|| black_box(&mut buf).copy_from_slice(black_box(&src)));
        });
    }
    group.finish();
}

criterion_group!(benches, masking);
criterion_main!(benches);
