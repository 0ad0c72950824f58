//! Store append with group commit: how much one persistent message costs when
//! each batch waits for its fdatasync, for batches of 1, 100 and 1,000 (one
//! sync covers the whole batch), and without any waiter (page cache only).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use warren_store::{MessageStore, SegmentStore, StoreConfig, StoredMessage, SyncListener};

#[derive(Default)]
struct Synced(AtomicU64);

impl SyncListener for Synced {
    fn synced(&self, token: u64) {
        self.0.fetch_max(token, Ordering::Release);
    }
}

fn message(store: &SegmentStore, body: &Bytes) -> StoredMessage {
    StoredMessage {
        id: store.next_id(),
        exchange: Bytes::from_static(b""),
        routing_key: Bytes::from_static(b"bench"),
        format: warren_store::LEGACY_FORMAT,
        annotations: Some(Bytes::new()),
        content: Bytes::from_static(&[0x10, 0x00, 2]),
        body: body.clone(),
    }
}

fn append(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, _) =
        SegmentStore::open(dir.path(), StoreConfig::default(), |_| true).expect("store");
    let queue: Arc<str> = Arc::from("bench");
    let body = Bytes::from(vec![0u8; 1024]);
    let listener = Arc::new(Synced::default());
    let mut token = 0u64;
    let mut group = c.benchmark_group("store_append_1KB");
    for batch in [1u64, 100, 1000] {
        group.throughput(Throughput::Elements(batch));
        group.bench_with_input(
            BenchmarkId::new("group_commit", batch),
            &batch,
            |b, &batch| {
                b.iter(|| {
                    for _ in 0..batch {
                        token += 1;
                        let waiter: (Arc<dyn SyncListener>, u64) = (listener.clone(), token);
                        let loc = store.persist(
                            &message(&store, &body),
                            std::slice::from_ref(&queue),
                            Some(waiter),
                        );
                        store.ack(&queue, token, loc);
                    }
                    while listener.0.load(Ordering::Acquire) < token {
                        std::hint::spin_loop();
                    }
                })
            },
        );
    }
    group.throughput(Throughput::Elements(1000));
    group.bench_function("no_sync_1000", |b| {
        b.iter(|| {
            for _ in 0..1000 {
                let loc =
                    store.persist(&message(&store, &body), std::slice::from_ref(&queue), None);
                store.ack(&queue, 0, loc);
            }
            store.flush();
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = append
}
criterion_main!(benches);
