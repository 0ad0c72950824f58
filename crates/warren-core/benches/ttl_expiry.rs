//! The cost of TTL expiry on a queue holding 1 million messages: a timer tick
//! with nothing due must not touch the queue's messages (head check only), and
//! expiring a batch costs per expired message, not per queued message.

use std::hint::black_box;
use std::sync::Arc;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use warren_core::clock::ManualClock;
use warren_core::queue::{Queue, QueueOptions, QueueSettings};
use warren_core::scheduler::Scheduler;
use warren_core::Message;

const MESSAGES: u64 = 1_000_000;

fn filled(clock: &Arc<ManualClock>) -> Arc<Queue> {
    let settings = QueueSettings {
        message_ttl: Some(1_000),
        ..Default::default()
    };
    let scheduler = Scheduler::new(clock.clone());
    let queue = Queue::with_settings(
        "q",
        "/",
        QueueOptions::default(),
        settings,
        scheduler,
        Default::default(),
    );
    let message = Arc::new(Message {
        exchange: Bytes::new(),
        routing_key: Bytes::from_static(b"q"),
        content: warren_core::message::Content::new(
            warren_core::message::FormatId::AMQP_091,
            // AMQP 0-9-1 basic properties with no property set.
            Bytes::from_static(&[0, 0]),
        ),
        ann: Default::default(),
        body: Bytes::from_static(b"payload"),
    });
    // 1,000 messages per simulated millisecond: they expire over 1,000 ms.
    for i in 0..MESSAGES {
        if i % 1_000 == 0 {
            clock.advance(1);
        }
        queue.publish(message.clone());
    }
    queue
}

fn ttl_expiry(c: &mut Criterion) {
    let mut group = c.benchmark_group("ttl_1m_messages");
    group.sample_size(10);
    let clock = Arc::new(ManualClock::new(0));
    let queue = filled(&clock);
    group.bench_function("tick_nothing_due", |b| {
        b.iter(|| black_box(&queue).expire_now())
    });
    assert_eq!(queue.message_count(), MESSAGES as usize);
    group.bench_function("expire_all_1m_over_1000_ticks", |b| {
        b.iter_batched(
            || {
                let clock = Arc::new(ManualClock::new(0));
                let queue = filled(&clock);
                (clock, queue)
            },
            |(clock, queue)| {
                for _ in 0..=1_000 {
                    clock.advance(1);
                    queue.expire_now();
                }
                assert_eq!(queue.message_count(), 0);
                queue
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, ttl_expiry);
criterion_main!(benches);
