//! The lock order of docs/lock-order.md under load: every path that nests
//! locks runs at once (publishing through topic exchanges and alternate
//! exchanges, consuming with acks, rejections and requeues, dead-letter
//! cycles, TTL expiry on the timer thread, overflow, purges, durable declares
//! and deletes, bindings, policy changes) while a watchdog asks parking_lot's
//! deadlock detector (enabled for tests) for lock cycles.

mod common;
mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::TestBroker;
use futures_lite::StreamExt;
use lapin::options::*;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, ExchangeKind};
use support::*;
use warren_core::policies::PolicyDefinition;

const RUN_FOR: Duration = Duration::from_secs(3);

/// Polls parking_lot's detector until `stop`; returns the cycles it saw.
fn watchdog(stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<String>> {
    std::thread::spawn(move || {
        let mut found = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
            for cycle in parking_lot::deadlock::check_deadlock() {
                let threads: Vec<String> = cycle
                    .iter()
                    .map(|t| format!("thread {:?}:\n{:?}", t.thread_id(), t.backtrace()))
                    .collect();
                found.push(threads.join("\n"));
            }
            if !found.is_empty() {
                break;
            }
        }
        found
    })
}

fn args(entries: &[(&str, AMQPValue)]) -> FieldTable {
    table(entries)
}

async fn setup(ch: &Channel) {
    declare_exchange(ch, "lo.topic", ExchangeKind::Topic).await;
    declare_exchange(ch, "lo.ae", ExchangeKind::Fanout).await;
    ch.exchange_declare(
        "lo.main".into(),
        ExchangeKind::Direct,
        ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        },
        args(&[("alternate-exchange", s("lo.ae"))]),
    )
    .await
    .unwrap();
    // Two queues that dead-letter into each other, a TTL queue that expires
    // into the first, and a short queue that overflows into the second.
    for (name, extra) in [
        ("lo.a", vec![("x-dead-letter-routing-key", s("lo.b"))]),
        ("lo.b", vec![("x-dead-letter-routing-key", s("lo.a"))]),
        (
            "lo.ttl",
            vec![
                ("x-dead-letter-routing-key", s("lo.a")),
                ("x-message-ttl", AMQPValue::LongInt(1)),
            ],
        ),
        (
            "lo.short",
            vec![
                ("x-dead-letter-routing-key", s("lo.b")),
                ("x-max-length", AMQPValue::LongInt(3)),
            ],
        ),
    ] {
        let mut entries = vec![("x-dead-letter-exchange", s(""))];
        entries.extend(extra);
        declare_queue_with(ch, name, QueueDeclareOptions::default(), args(&entries))
            .await
            .unwrap();
    }
    bind(ch, "lo.a", "lo.topic", "a.#").await;
    bind(ch, "lo.short", "lo.topic", "#").await;
    bind(ch, "lo.ttl", "lo.ae", "").await;
    bind(ch, "lo.b", "lo.main", "b").await;
}

async fn publisher(ch: Channel, deadline: Instant) -> u64 {
    let mut n = 0u64;
    while Instant::now() < deadline {
        let (exchange, key) = match n % 4 {
            0 => ("lo.topic", "a.x"),
            1 => ("lo.main", "b"),
            2 => ("lo.main", "unrouted"),
            _ => ("", "lo.ttl"),
        };
        let props = BasicProperties::default().with_delivery_mode(2);
        ch.basic_publish(
            exchange.into(),
            key.into(),
            BasicPublishOptions::default(),
            b"payload",
            props,
        )
        .await
        .unwrap();
        n += 1;
        if n.is_multiple_of(64) {
            tokio::task::yield_now().await;
        }
    }
    n
}

/// Consumes `queue`, cycling through ack, reject (dead-letters) and requeue.
async fn consumer(ch: Channel, queue: &'static str, deadline: Instant) -> u64 {
    ch.basic_qos(20, BasicQosOptions::default()).await.unwrap();
    let mut deliveries = ch
        .basic_consume(
            queue.into(),
            format!("lo-{queue}").as_str().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let mut n = 0u64;
    while Instant::now() < deadline {
        let next = tokio::time::timeout(Duration::from_millis(100), deliveries.next()).await;
        let Ok(Some(Ok(d))) = next else { continue };
        n += 1;
        let outcome = match n % 5 {
            0 => d.acker.nack(BasicNackOptions::default()).await,
            1 => {
                d.acker
                    .nack(BasicNackOptions {
                        requeue: true,
                        ..Default::default()
                    })
                    .await
            }
            _ => d.acker.ack(BasicAckOptions::default()).await,
        };
        outcome.unwrap();
    }
    n
}

/// Declares, binds, unbinds and deletes durable entities; purges; gets.
async fn operator(ch: Channel, deadline: Instant) -> u64 {
    let mut n = 0u64;
    while Instant::now() < deadline {
        let q = format!("lo.tmp.{}", n % 3);
        let x = format!("lo.tx.{}", n % 3);
        ch.exchange_declare(
            x.as_str().into(),
            ExchangeKind::Fanout,
            ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
        ch.queue_declare(
            q.as_str().into(),
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
        bind(&ch, &q, &x, "").await;
        bind(&ch, &q, "lo.topic", "#").await;
        ch.queue_purge("lo.short".into(), QueuePurgeOptions::default())
            .await
            .unwrap();
        let _ = get(&ch, "lo.b").await;
        ch.queue_unbind(
            q.as_str().into(),
            x.as_str().into(),
            "".into(),
            FieldTable::default(),
        )
        .await
        .unwrap();
        ch.queue_delete(q.as_str().into(), QueueDeleteOptions::default())
            .await
            .unwrap();
        ch.exchange_delete(x.as_str().into(), ExchangeDeleteOptions::default())
            .await
            .unwrap();
        n += 1;
    }
    n
}

/// Sets and clears policies that change every queue's settings.
async fn policy_changer(broker: Arc<warren_core::Broker>, deadline: Instant) -> u64 {
    let mut n = 0i64;
    while Instant::now() < deadline {
        let definition = serde_json::json!({"max-length": 2 + n % 3, "message-ttl": 50 + n % 7});
        broker
            .set_policy(PolicyDefinition {
                vhost: "/".into(),
                name: "lo-policy".into(),
                pattern: "^lo\\.".into(),
                apply_to: "all".into(),
                definition: definition.as_object().cloned().unwrap_or_default(),
                priority: 0,
            })
            .unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        broker.clear_policy("/", "lo-policy");
        n += 1;
    }
    n as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_lock_cycle_under_concurrent_load() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start_in(dir.path()).await;
    let stop = Arc::new(AtomicBool::new(false));
    let dog = watchdog(stop.clone());
    let conn = broker.lapin().await;
    setup(&conn.create_channel().await.unwrap()).await;
    let deadline = Instant::now() + RUN_FOR;
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let ch = conn.create_channel().await.unwrap();
        tasks.push(tokio::spawn(publisher(ch, deadline)));
    }
    for queue in ["lo.a", "lo.b", "lo.short"] {
        let ch = broker.lapin().await.create_channel().await.unwrap();
        tasks.push(tokio::spawn(consumer(ch, queue, deadline)));
    }
    let ch = conn.create_channel().await.unwrap();
    tasks.push(tokio::spawn(operator(ch, deadline)));
    tasks.push(tokio::spawn(policy_changer(
        broker.broker.clone(),
        deadline,
    )));
    let all = async {
        let mut done = Vec::new();
        for t in tasks {
            done.push(t.await.unwrap());
        }
        done
    };
    let finished = tokio::time::timeout(RUN_FOR + Duration::from_secs(30), all).await;
    stop.store(true, Ordering::Relaxed);
    let cycles = dog.join().unwrap();
    assert!(cycles.is_empty(), "lock cycles:\n{}", cycles.join("\n\n"));
    let done = finished.expect("the load did not finish (stuck without a lock cycle?)");
    // Every actor got work done: publishes, deliveries on each queue, rounds
    // of declares and policy changes.
    assert!(done.iter().all(|&n| n > 0), "work per task: {done:?}");
    // Still serving.
    let ch = conn.create_channel().await.unwrap();
    declare_queue(&ch, "lo.after").await;
    publish(&ch, "", "lo.after", b"x").await;
    assert_eq!(get_body(&ch, "lo.after").await.as_deref(), Some(&b"x"[..]));
    broker.shutdown().await;
}
