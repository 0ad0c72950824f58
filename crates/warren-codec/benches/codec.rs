//! Codec hot path: decoding publish+header+body frames as a connection reads
//! them, and encoding basic.deliver with its content as a connection writes it.

use bytes::{BufMut, BytesMut};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use warren_codec::content::decode_content_header;
use warren_codec::encode::{write_content, write_deliver, ContentRef};
use warren_codec::frame::{decode_frame, FRAME_END};
use warren_codec::method::{decode_method, Method};
use warren_codec::FrameKind;

const BATCH: usize = 1000;
const FRAME_MAX: usize = 131_072;

/// BATCH publishes of a `size`-byte body, as a client writes them.
fn publishes(size: usize) -> BytesMut {
    let mut buf = BytesMut::new();
    let body = vec![7u8; size];
    for _ in 0..BATCH {
        buf.put_u8(FrameKind::Method as u8);
        buf.put_u16(1);
        let rk = b"warren-perf";
        buf.put_u32((4 + 2 + 1 + 1 + rk.len() + 1) as u32);
        buf.put_slice(&[0, 60, 0, 40, 0, 0, 0]);
        buf.put_u8(rk.len() as u8);
        buf.put_slice(rk);
        buf.put_u8(0);
        buf.put_u8(FRAME_END);
        write_content(&mut buf, 1, &[0, 0], &body, FRAME_MAX);
    }
    buf
}

/// Decodes every message in `buf`: method, content header, body.
fn decode_all(buf: &mut BytesMut) -> usize {
    let mut bytes = 0;
    while let Some(method) = decode_frame(buf, FRAME_MAX).unwrap() {
        let Method::Publish(p) = decode_method(method.payload).unwrap() else {
            panic!("not a publish");
        };
        let header = decode_frame(buf, FRAME_MAX).unwrap().unwrap();
        let header = decode_content_header(header.payload).unwrap();
        let body = decode_frame(buf, FRAME_MAX).unwrap().unwrap();
        bytes += p.routing_key.len() + header.properties.len() + body.payload.len();
    }
    bytes
}

fn decode_publish(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode publish+header+body");
    group.throughput(Throughput::Elements(BATCH as u64));
    for size in [16usize, 1024] {
        let wire = publishes(size);
        group.bench_function(format!("{size} B"), |b| {
            b.iter_batched_ref(|| wire.clone(), decode_all, BatchSize::SmallInput)
        });
    }
    group.finish();
}

fn encode_deliver(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode deliver+header+body");
    group.throughput(Throughput::Elements(BATCH as u64));
    for size in [16usize, 1024] {
        let body = vec![7u8; size];
        let mut out = BytesMut::with_capacity(BATCH * (size + 100));
        group.bench_function(format!("{size} B"), |b| {
            b.iter(|| {
                out.clear();
                for tag in 0..BATCH as u64 {
                    let content = ContentRef {
                        exchange: b"",
                        routing_key: b"warren-perf",
                        properties: &[0, 0],
                        body: &body,
                    };
                    write_deliver(
                        &mut out,
                        1,
                        b"amq.ctag-perf",
                        tag,
                        false,
                        content,
                        FRAME_MAX,
                    );
                }
                out.len()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, decode_publish, encode_deliver);
criterion_main!(benches);
