//! Dead-lettering: reject/nack without requeue, expiry and overflow republish
//! to the dead-letter exchange with RabbitMQ's x-death and x-first-death-*
//! headers; dead-letter cycles are broken as RabbitMQ does.

mod common;
mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::{eventually, within, TestBroker};
use lapin::options::*;
use lapin::types::{AMQPValue, FieldArray, FieldTable, ShortString};
use lapin::{BasicProperties, Channel};
use support::*;
use warren_core::clock::ManualClock;

const NOW: u64 = 1_700_000_000;

async fn manual() -> (TestBroker, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(NOW));
    (TestBroker::start_with_clock(clock.clone()).await, clock)
}

/// Declares "dlq", bound to fanout exchange "dlx".
async fn dead_letter_target(ch: &Channel) {
    declare_exchange(ch, "dlx", lapin::ExchangeKind::Fanout).await;
    declare_queue(ch, "dlq").await;
    bind(ch, "dlq", "dlx", "").await;
}

fn headers(props: &BasicProperties) -> BTreeMap<ShortString, AMQPValue> {
    props.headers().clone().expect("headers").inner().clone()
}

fn death_entries(h: &BTreeMap<ShortString, AMQPValue>) -> Vec<BTreeMap<ShortString, AMQPValue>> {
    let Some(AMQPValue::FieldArray(deaths)) = h.get("x-death") else {
        panic!("no x-death array in {h:?}");
    };
    deaths
        .as_slice()
        .iter()
        .map(|d| match d {
            AMQPValue::FieldTable(t) => t.inner().clone(),
            other => panic!("x-death entry is not a table: {other:?}"),
        })
        .collect()
}

fn keys(list: &[&str]) -> AMQPValue {
    AMQPValue::FieldArray(FieldArray::from(
        list.iter().map(|k| s(k)).collect::<Vec<_>>(),
    ))
}

fn expected_death(
    reason: &str,
    queue: &str,
    exchange: &str,
    rks: &[&str],
) -> BTreeMap<ShortString, AMQPValue> {
    let mut d = BTreeMap::new();
    d.insert("count".into(), AMQPValue::LongLongInt(1));
    d.insert("reason".into(), s(reason));
    d.insert("queue".into(), s(queue));
    d.insert("time".into(), AMQPValue::Timestamp(NOW));
    d.insert("exchange".into(), s(exchange));
    d.insert("routing-keys".into(), keys(rks));
    d
}

fn dlx_args(extra: &[(&str, AMQPValue)]) -> FieldTable {
    let mut entries = vec![("x-dead-letter-exchange", s("dlx"))];
    entries.extend(extra.iter().cloned());
    table(&entries)
}

#[tokio::test]
async fn rejected_message_gets_exact_x_death_headers() {
    let (broker, _clock) = manual().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    dead_letter_target(&ch).await;
    declare_exchange(&ch, "work", lapin::ExchangeKind::Direct).await;
    declare_queue_with(&ch, "q", Default::default(), dlx_args(&[]))
        .await
        .unwrap();
    bind(&ch, "q", "work", "rk").await;
    let cc = table(&[
        ("CC", AMQPValue::FieldArray(vec![s("other")].into())),
        ("app", s("kept")),
    ]);
    publish_with(
        &ch,
        "work",
        "rk",
        b"body",
        BasicProperties::default().with_headers(cc),
    )
    .await;
    let m = get(&ch, "q").await.unwrap();
    within(ch.basic_reject(
        m.delivery.delivery_tag,
        BasicRejectOptions { requeue: false },
    ))
    .await
    .unwrap();
    let dead = within(async {
        loop {
            if let Some(m) = get(&ch, "dlq").await {
                return m;
            }
        }
    })
    .await;
    assert_eq!(dead.delivery.data, b"body");
    assert_eq!(dead.delivery.exchange.as_str(), "dlx");
    assert_eq!(dead.delivery.routing_key.as_str(), "rk");
    let h = headers(&dead.delivery.properties);
    assert_eq!(
        death_entries(&h),
        vec![expected_death("rejected", "q", "work", &["rk", "other"])]
    );
    assert_eq!(h["x-first-death-reason"], s("rejected"));
    assert_eq!(h["x-first-death-queue"], s("q"));
    assert_eq!(h["x-first-death-exchange"], s("work"));
    assert_eq!(h["app"], s("kept"));
    assert_eq!(h.len(), 6, "x-death, 3 x-first-death-*, CC, app: {h:?}");
}

#[tokio::test]
async fn expired_message_records_original_expiration() {
    let (broker, clock) = manual().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    dead_letter_target(&ch).await;
    declare_queue_with(&ch, "exp", Default::default(), dlx_args(&[]))
        .await
        .unwrap();
    let props = BasicProperties::default().with_expiration("250".into());
    publish_with(&ch, "", "exp", b"late", props).await;
    eventually(|| queue(&broker, "exp").message_count() == 1).await;
    clock.advance(250);
    queue(&broker, "exp").expire_now();
    let dead = get(&ch, "dlq").await.expect("dead-lettered");
    assert_eq!(dead.delivery.properties.expiration(), &None);
    let mut want = expected_death("expired", "exp", "", &["exp"]);
    want.insert("original-expiration".into(), s("250"));
    assert_eq!(
        death_entries(&headers(&dead.delivery.properties)),
        vec![want]
    );
}

#[tokio::test]
async fn nack_multiple_dead_letters_all_with_routing_key_override() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    declare_exchange(&ch, "dlx", lapin::ExchangeKind::Direct).await;
    declare_queue(&ch, "by-key").await;
    bind(&ch, "by-key", "dlx", "failed").await;
    let args = dlx_args(&[("x-dead-letter-routing-key", s("failed"))]);
    declare_queue_with(&ch, "n", Default::default(), args)
        .await
        .unwrap();
    for body in ["a", "b", "c"] {
        publish(&ch, "", "n", body.as_bytes()).await;
    }
    let mut last = 0;
    for _ in 0..3 {
        last = get(&ch, "n").await.unwrap().delivery.delivery_tag;
    }
    within(ch.basic_nack(
        last,
        BasicNackOptions {
            multiple: true,
            requeue: false,
        },
    ))
    .await
    .unwrap();
    eventually(|| queue(&broker, "by-key").message_count() == 3).await;
    let m = get(&ch, "by-key").await.unwrap();
    assert_eq!(m.delivery.routing_key.as_str(), "failed");
    // x-death keeps the original routing key.
    assert_eq!(
        death_entries(&headers(&m.delivery.properties))[0]["routing-keys"],
        keys(&["n"])
    );
    assert_eq!(drain(&ch, "by-key").await, ["b", "c"]);
}

#[tokio::test]
async fn repeated_rejections_count_up_in_one_entry() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    // Rejected messages come back to the same queue (not a cycle: a client rejected).
    let args = table(&[
        ("x-dead-letter-exchange", s("")),
        ("x-dead-letter-routing-key", s("loop")),
    ]);
    declare_queue_with(&ch, "loop", Default::default(), args)
        .await
        .unwrap();
    publish(&ch, "", "loop", b"again").await;
    for round in 1..=3i64 {
        let m = within(async {
            loop {
                if let Some(m) = get(&ch, "loop").await {
                    return m;
                }
            }
        })
        .await;
        if round > 1 {
            let deaths = death_entries(&headers(&m.delivery.properties));
            assert_eq!(deaths.len(), 1);
            assert_eq!(deaths[0]["count"], AMQPValue::LongLongInt(round - 1));
        }
        within(ch.basic_reject(
            m.delivery.delivery_tag,
            BasicRejectOptions { requeue: false },
        ))
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn automatic_dead_letter_cycle_is_dropped() {
    let (broker, clock) = manual().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    // a --expired--> b --expired--> a: the second hop into "a" is a cycle.
    for (name, next) in [("a", "b"), ("b", "a")] {
        let args = table(&[
            ("x-message-ttl", AMQPValue::LongInt(100)),
            ("x-dead-letter-exchange", s("")),
            ("x-dead-letter-routing-key", s(next)),
        ]);
        declare_queue_with(&ch, name, Default::default(), args)
            .await
            .unwrap();
    }
    publish(&ch, "", "a", b"m").await;
    eventually(|| queue(&broker, "a").message_count() == 1).await;
    clock.advance(100);
    queue(&broker, "a").expire_now();
    assert_eq!(queue(&broker, "b").message_count(), 1);
    clock.advance(100);
    queue(&broker, "b").expire_now();
    assert_eq!(queue(&broker, "a").message_count(), 0);
    assert_eq!(queue(&broker, "b").message_count(), 0);
}

#[tokio::test]
async fn missing_dead_letter_exchange_drops_silently() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    let args = table(&[("x-dead-letter-exchange", s("absent"))]);
    declare_queue_with(&ch, "lonely", Default::default(), args)
        .await
        .unwrap();
    publish(&ch, "", "lonely", b"x").await;
    let m = get(&ch, "lonely").await.unwrap();
    within(ch.basic_reject(
        m.delivery.delivery_tag,
        BasicRejectOptions { requeue: false },
    ))
    .await
    .unwrap();
    assert_eq!(message_count(&ch, "lonely").await, 0);
    assert!(conn.status().connected());
}
