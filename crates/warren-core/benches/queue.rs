//! Queue hot path: Queue::publish handing each message straight to a no-ack
//! consumer's sink, publish into a backlog then drain it with dispatch, and
//! publish then basic.get.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use warren_core::consumer::{Consumer, ConsumerCredit, Delivery, DeliverySink};
use warren_core::message::Message;
use warren_core::queue::{Queue, QueueOptions};

const BATCH: u64 = 1000;

/// A sink that only counts, so the figures are the queue's own cost.
#[derive(Default)]
struct CountingSink(AtomicU64);

impl DeliverySink for CountingSink {
    fn deliver(&self, _delivery: Delivery) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    fn cancel(&self, _consumer: Arc<Consumer>) {}
    fn is_writable(&self) -> bool {
        true
    }
}

fn message() -> Arc<Message> {
    Arc::new(Message {
        exchange: Bytes::new(),
        routing_key: Bytes::from_static(b"bench"),
        content: warren_core::message::Content::new(
            warren_core::message::FormatId::AMQP_091,
            Bytes::from_static(&[0, 0]),
        ),
        ann: Default::default(),
        body: Bytes::from(vec![7u8; 16]),
    })
}

fn consumer(sink: Arc<CountingSink>) -> Arc<Consumer> {
    Arc::new(Consumer {
        tag: "ctag".into(),
        channel: 1,
        connection_id: 1,
        no_ack: true,
        exclusive: false,
        priority: 0,
        arguments: Default::default(),
        credit: ConsumerCredit::new(0),
        channel_credit: Arc::new(ConsumerCredit::new(0)),
        sink,
        active: std::sync::atomic::AtomicBool::new(true),
    })
}

fn publish_to_consumer(c: &mut Criterion) {
    let mut group = c.benchmark_group("queue");
    group.throughput(Throughput::Elements(BATCH));
    let msg = message();

    let queue = Queue::new("q", "/", QueueOptions::default());
    let sink = Arc::new(CountingSink::default());
    queue.add_consumer(consumer(sink.clone())).unwrap();
    group.bench_function("publish → no-ack consumer sink", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                queue.publish(msg.clone());
            }
        })
    });

    let queue = Queue::new("q", "/", QueueOptions::default());
    group.bench_function("publish 1000 into backlog, then basic.get each", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                queue.publish(msg.clone());
            }
            while queue.get(true).is_some() {}
        })
    });

    let queue = Queue::new("q", "/", QueueOptions::default());
    let sink = Arc::new(CountingSink::default());
    let idle = consumer(sink.clone());
    group.bench_function(
        "publish 1000 into backlog, then dispatch to a new consumer",
        |b| {
            b.iter(|| {
                for _ in 0..BATCH {
                    queue.publish(msg.clone());
                }
                queue.add_consumer(idle.clone()).unwrap();
                queue.dispatch();
                queue.remove_consumer(1, 1, "ctag");
            })
        },
    );
    group.finish();
}

criterion_group!(benches, publish_to_consumer);
criterion_main!(benches);
