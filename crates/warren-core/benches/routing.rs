//! Topic routing with 100,000 wildcard bindings (`*` and `#`, at the end and in
//! the middle) over 100 queues: the trie alone, and Exchange::route as the
//! publish path calls it (read lock, destinations cloned into a reused Vec).

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use warren_core::exchange::topic::TopicTrie;
use warren_core::exchange::{Binding, Destination, Exchange, ExchangeKind, ExchangeOptions};
use warren_core::queue::{Queue, QueueOptions};

const BINDINGS: usize = 100_000;
const KEYS: usize = 1024;

/// Binding pattern `i`: four shapes of wildcard use, all distinct.
fn pattern(i: usize) -> String {
    let (a, b) = (i % 100, i / 100);
    match i % 4 {
        0 => format!("r{a}.s{b}.*"),
        1 => format!("r{a}.s{b}.#"),
        2 => format!("*.s{b}.e{a}"),
        _ => format!("r{a}.#.e{b}"),
    }
}

/// Routing keys that match a few bindings each (and some that match none).
fn keys() -> Vec<String> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..KEYS)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            format!("r{}.s{}.e{}", x % 100, (x >> 8) % 1000, (x >> 20) % 1100)
        })
        .collect()
}

fn trie(c: &mut Criterion) {
    let mut trie = TopicTrie::default();
    for i in 0..BINDINGS {
        trie.insert(&pattern(i), (i % 100) as u32);
    }
    let keys = keys();
    let mut group = c.benchmark_group("topic routing, 100k bindings");
    group.throughput(Throughput::Elements(KEYS as u64));
    group.bench_function("TopicTrie::matches", |b| {
        b.iter(|| {
            let mut found = 0usize;
            for k in &keys {
                trie.matches(k, &mut |_| found += 1);
            }
            found
        })
    });
    let exchange = Exchange::new(
        "bench.topic",
        ExchangeKind::Topic,
        ExchangeOptions::default(),
    );
    let queues: Vec<Arc<Queue>> = (0..100)
        .map(|i| Queue::new(&format!("q{i}"), "/", QueueOptions::default()))
        .collect();
    for i in 0..BINDINGS {
        exchange.bind(Binding {
            destination: Destination::Queue(queues[i % 100].clone()),
            routing_key: pattern(i).into(),
            arguments: Default::default(),
        });
    }
    let mut out = Vec::new();
    group.bench_function("Exchange::route", |b| {
        b.iter(|| {
            let mut found = 0usize;
            for k in &keys {
                exchange.route(k, None, &mut out);
                found += out.len();
                out.clear();
            }
            found
        })
    });
    group.finish();
}

criterion_group!(benches, trie);
criterion_main!(benches);
