//! Routing throughput of a topic exchange with 100,000 bindings.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use warren_core::exchange::topic::TopicTrie;

fn bindings() -> TopicTrie<u32> {
    let mut trie = TopicTrie::default();
    for i in 0..100_000u32 {
        let pattern = match i % 4 {
            0 => format!("region{}.service{}.event{}", i % 50, i % 200, i),
            1 => format!("region{}.*.event{}", i % 50, i),
            2 => format!("region{}.service{}.#", i % 50, i),
            _ => format!("*.service{}.#", i),
        };
        trie.insert(&pattern, i);
    }
    trie
}

fn topic_routing(c: &mut Criterion) {
    let trie = bindings();
    let keys: Vec<String> = (0..1024u32)
        .map(|i| {
            format!(
                "region{}.service{}.event{}",
                i % 50,
                i % 200,
                i * 97 % 100_000
            )
        })
        .collect();
    let mut group = c.benchmark_group("topic_100k_bindings");
    group.throughput(Throughput::Elements(keys.len() as u64));
    group.bench_function("route_1024_keys", |b| {
        b.iter(|| {
            let mut hits = 0usize;
            for key in &keys {
                trie.matches(black_box(key), &mut |_| hits += 1);
            }
            black_box(hits)
        })
    });
    group.finish();
}

criterion_group!(benches, topic_routing);
criterion_main!(benches);
