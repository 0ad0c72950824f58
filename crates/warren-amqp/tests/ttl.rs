//! Message TTL (x-message-ttl, the expiration property) and unused-queue
//! expiry (x-expires). Most tests drive a manual clock so they are exact;
//! a few use small real TTLs to check the timer fires by itself.

mod common;
mod support;

use std::sync::Arc;

use common::{eventually, within, TestBroker};
use lapin::options::*;
use lapin::types::{AMQPValue, FieldTable};
use lapin::BasicProperties;
use support::*;
use warren_core::clock::ManualClock;

async fn manual() -> (TestBroker, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(1_700_000_000));
    (TestBroker::start_with_clock(clock.clone()).await, clock)
}

fn ttl_args(ttl: i32) -> FieldTable {
    table(&[("x-message-ttl", AMQPValue::LongInt(ttl))])
}

fn expiring(ms: &str) -> BasicProperties {
    BasicProperties::default().with_expiration(ms.into())
}

#[tokio::test]
async fn queue_ttl_expired_messages_are_never_fetched() {
    let (broker, clock) = manual().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    declare_queue_with(&ch, "t", Default::default(), ttl_args(1000))
        .await
        .unwrap();
    publish(&ch, "", "t", b"old").await;
    // Publishing does not wait for the broker: let "old" arrive before time moves.
    eventually(|| queue(&broker, "t").message_count() == 1).await;
    clock.advance(600);
    publish(&ch, "", "t", b"new").await;
    eventually(|| queue(&broker, "t").message_count() == 2).await;
    clock.advance(400);
    // "old" reached its TTL; basic.get never returns it.
    assert_eq!(get_body(&ch, "t").await.as_deref(), Some(&b"new"[..]));
    assert_eq!(get_body(&ch, "t").await, None);
}

#[tokio::test]
async fn queue_ttl_expires_without_any_client_activity() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    declare_queue_with(&ch, "rt", Default::default(), ttl_args(30))
        .await
        .unwrap();
    for _ in 0..5 {
        publish(&ch, "", "rt", b"x").await;
    }
    // The queue's timer drops them; nobody polls the queue.
    eventually(|| {
        queue(&broker, "rt")
            .stats
            .expired
            .load(std::sync::atomic::Ordering::Relaxed)
            == 5
    })
    .await;
    assert_eq!(queue(&broker, "rt").message_count(), 0);
}

#[tokio::test]
async fn per_message_expiration_and_the_shorter_ttl_wins() {
    let (broker, clock) = manual().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    declare_queue_with(&ch, "pm", Default::default(), ttl_args(500))
        .await
        .unwrap();
    publish_with(&ch, "", "pm", b"short", expiring("100")).await;
    publish_with(&ch, "", "pm", b"long", expiring("10000")).await;
    eventually(|| queue(&broker, "pm").message_count() == 2).await;
    clock.advance(100);
    // "short" is gone; "long" is capped by the queue TTL (500 ms).
    let first = get(&ch, "pm").await.unwrap();
    assert_eq!(first.delivery.data, b"long");
    within(ch.basic_reject(
        first.delivery.delivery_tag,
        BasicRejectOptions { requeue: true },
    ))
    .await
    .unwrap();
    clock.advance(400);
    assert_eq!(get_body(&ch, "pm").await, None);
}

#[tokio::test]
async fn per_message_ttl_expires_only_at_the_head() {
    let (broker, clock) = manual().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    declare_queue(&ch, "head").await;
    publish_with(&ch, "", "head", b"a", expiring("1000")).await;
    publish_with(&ch, "", "head", b"b", expiring("10")).await;
    publish(&ch, "", "head", b"c").await;
    eventually(|| queue(&broker, "head").message_count() == 3).await;
    clock.advance(20);
    queue(&broker, "head").expire_now();
    // As RabbitMQ: "b" expired but waits behind "a" (still counted) ...
    assert_eq!(queue(&broker, "head").message_count(), 3);
    // ... and is dropped, never delivered, once it reaches the head.
    assert_eq!(drain(&ch, "head").await, ["a", "c"]);
}

#[tokio::test]
async fn expiration_zero_reaches_a_waiting_consumer_but_is_not_queued() {
    let (broker, _clock) = manual().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    declare_queue(&ch, "z").await;
    publish_with(&ch, "", "z", b"dropped", expiring("0")).await;
    eventually(|| {
        queue(&broker, "z")
            .stats
            .expired
            .load(std::sync::atomic::Ordering::Relaxed)
            == 1
    })
    .await;
    let mut consumer = within(ch.basic_consume(
        "z".into(),
        "".into(),
        BasicConsumeOptions {
            no_ack: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await
    .unwrap();
    publish_with(&ch, "", "z", b"live", expiring("0")).await;
    assert_eq!(next(&mut consumer).await.data, b"live");
}

#[tokio::test]
async fn invalid_expiration_is_precondition_failed() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    let mut watcher = watch_channel(&ch).await;
    publish_with(&ch, "", "nowhere", b"x", expiring("soon")).await;
    let err = closed_with(&mut watcher).await;
    assert_reply(
        &err,
        406,
        "PRECONDITION_FAILED - invalid expiration 'soon': no_integer",
    );
    let ch = within(conn.create_channel()).await.unwrap();
    let mut watcher = watch_channel(&ch).await;
    publish_with(&ch, "", "nowhere", b"x", expiring("-5")).await;
    let err = closed_with(&mut watcher).await;
    assert_reply(&err, 406, "invalid expiration '-5': {value_negative,-5}");
}

#[tokio::test]
async fn unused_queue_expires_and_consumers_keep_it_alive() {
    let (broker, clock) = manual().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    let args = table(&[("x-expires", AMQPValue::LongInt(1000))]);
    declare_queue_with(&ch, "idle", Default::default(), args.clone())
        .await
        .unwrap();
    declare_queue_with(&ch, "busy", Default::default(), args)
        .await
        .unwrap();
    let consumer = within(ch.basic_consume(
        "busy".into(),
        "ctag".into(),
        BasicConsumeOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    clock.advance(1000);
    let (idle, busy) = (queue(&broker, "idle"), queue(&broker, "busy"));
    idle.expire_now();
    busy.expire_now();
    assert!(!queue_exists(&conn, "idle").await);
    assert!(queue_exists(&conn, "busy").await);
    within(ch.basic_cancel("ctag".into(), BasicCancelOptions::default()))
        .await
        .unwrap();
    drop(consumer);
    clock.advance(999);
    busy.expire_now();
    assert!(queue_exists(&conn, "busy").await);
    clock.advance(1);
    busy.expire_now();
    assert!(!queue_exists(&conn, "busy").await);
}

#[tokio::test]
async fn unused_queue_expires_on_its_own_timer() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    let args = table(&[("x-expires", AMQPValue::LongInt(50))]);
    declare_queue_with(&ch, "gone", Default::default(), args)
        .await
        .unwrap();
    eventually(|| support::vhost(&broker).queue("gone").is_err()).await;
}
