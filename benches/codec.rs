//! The sans-IO core on its own: frame headers, UTF-8 validation, and whole messages encoded and
//! decoded through `Connection` (no sockets, no runtime).

use std::hint::black_box;

use bytes::{Buf, BytesMut};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use weft_codec::{Connection, Event, FrameHeader, Message, OpCode, Role, Utf8Validator};

fn headers(c: &mut Criterion) {
    let mut group = c.benchmark_group("frame_header");
    for (name, len, mask) in [
        ("small_masked", 20u64, Some([1, 2, 3, 4])),
        ("medium_unmasked", 1024, None),
        ("large_masked", 1 << 20, Some([1, 2, 3, 4])),
    ] {
        let header = FrameHeader {
            mask,
            ..FrameHeader::new(OpCode::Binary, len)
        };
        let mut wire = [0u8; FrameHeader::MAX_SIZE];
        let used = header.encode(&mut wire);
        group.bench_function(BenchmarkId::new("decode", name), |b| {
            b.iter(|| FrameHeader::decode(black_box(&wire[..used])));
        });
        group.bench_function(BenchmarkId::new("encode", name), |b| {
            let mut out = [0u8; FrameHeader::MAX_SIZE];
            b.iter(|| black_box(&header).encode(&mut out));
        });
    }
    group.finish();
}

fn utf8(c: &mut Criterion) {
    let mut group = c.benchmark_group("utf8");
    let ascii = "the quick brown fox jumps over the lazy dog ".repeat(1500);
    let mixed = "ascii, ünïcödé, 漢字, emoji 🎉 ".repeat(1500);
    for (name, text) in [("ascii", ascii.as_bytes()), ("mixed", mixed.as_bytes())] {
        let text = &text[..text.len().min(64 << 10)];
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(BenchmarkId::new("validator_whole", name), |b| {
            b.iter(|| {
                let mut v = Utf8Validator::new();
                v.feed(black_box(text)).unwrap();
                v.finish().unwrap();
            });
        });
        group.bench_function(BenchmarkId::new("validator_4k_pieces", name), |b| {
            b.iter(|| {
                let mut v = Utf8Validator::new();
                for piece in black_box(text).chunks(4093) {
                    v.feed(piece).unwrap();
                }
                v.finish().unwrap();
            });
        });
        group.bench_function(BenchmarkId::new("std_from_utf8", name), |b| {
            b.iter(|| std::str::from_utf8(black_box(text)).unwrap().len());
        });
    }
    group.finish();
}

/// Takes everything `conn` queued, as one buffer.
fn take_output(conn: &mut Connection, into: &mut BytesMut) {
    while let Some(out) = conn.poll_transmit() {
        let chunk = out.chunk();
        into.extend_from_slice(chunk);
        let n = chunk.len();
        out.advance(n);
    }
}

fn messages(c: &mut Criterion) {
    let mut group = c.benchmark_group("connection");
    for (name, size, text) in [
        ("text_20B", 20, true),
        ("binary_1KiB", 1 << 10, false),
        ("text_16KiB", 16 << 10, true),
        ("binary_64KiB", 64 << 10, false),
        ("binary_1MiB", 1 << 20, false),
    ] {
        let message = if text {
            Message::text("x".repeat(size))
        } else {
            Message::binary(vec![0x5A; size])
        };
        // Enough messages per iteration to amortise the setup, as a busy socket would.
        let batch = (256 << 10) / size.max(1024) + 1;
        group.throughput(Throughput::Bytes((size * batch) as u64));

        // What a client does to send: encode and mask.
        group.bench_function(BenchmarkId::new("client_encode", name), |b| {
            let mut client = Connection::new(Role::Client);
            let mut sink = BytesMut::with_capacity((size + 14) * batch);
            b.iter(|| {
                for _ in 0..batch {
                    client.send(message.clone()).unwrap();
                }
                sink.clear();
                take_output(&mut client, &mut sink);
            });
        });

        // What a server does to receive: parse, unmask, validate, hand out.
        let mut client = Connection::new(Role::Client);
        let mut wire = BytesMut::new();
        for _ in 0..batch {
            client.send(message.clone()).unwrap();
        }
        take_output(&mut client, &mut wire);
        group.bench_function(BenchmarkId::new("server_decode", name), |b| {
            let mut server = Connection::new(Role::Server);
            b.iter(|| {
                let mut input = wire.clone();
                server.handle_bytes(&mut input);
                let mut n = 0;
                while let Some(Event::Message(m)) = server.poll_event().unwrap() {
                    n += m.len();
                }
                assert_eq!(n, size * batch);
            });
        });
    }
    group.finish();
}

criterion_group!(benches, headers, utf8, messages);
criterion_main!(benches);
