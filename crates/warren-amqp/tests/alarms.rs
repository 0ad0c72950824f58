//! Resource alarms: a memory or disk alarm blocks publishing connections with
//! connection.blocked and stops reading them; consumers keep draining; when
//! the alarm clears, connection.unblocked is sent and publishes resume.

mod common;
mod support;

use std::time::Duration;

use common::{eventually, within, TestBroker};
use futures_lite::StreamExt;
use lapin::options::*;
use lapin::{BasicProperties, Event};
use support::*;
use warren_core::alarms::{DiskFreeLimit, MemoryWatermark};
use warren_core::BrokerConfig;

/// Waits for the next blocked/unblocked event on a connection.
async fn next_flow_event(events: &mut (impl futures_lite::Stream<Item = Event> + Unpin)) -> Event {
    within(async {
        loop {
            match events.next().await {
                Some(e @ (Event::ConnectionBlocked(_) | Event::ConnectionUnblocked)) => return e,
                Some(_) => continue,
                None => panic!("event stream ended"),
            }
        }
    })
    .await
}

/// Runs the blocked/unblocked scenario once the alarm named `reason` is set by
/// `raise` and cleared by `clear`.
async fn publisher_blocked_until_cleared(
    broker: &TestBroker,
    reason: &str,
    raise: impl Fn(),
    clear: impl Fn(),
) {
    let publisher = broker.lapin().await;
    let mut events = Box::pin(publisher.events_listener());
    let pch = within(publisher.create_channel()).await.unwrap();
    declare_queue(&pch, "alarmed").await;
    within(pch.confirm_select(ConfirmSelectOptions::default()))
        .await
        .unwrap();
    for i in 0..5 {
        publish(&pch, "", "alarmed", format!("before {i}").as_bytes()).await;
    }
    within(pch.wait_for_confirms()).await.unwrap();
    raise();
    eventually(|| broker.broker.alarms.active().any()).await;

    // A consuming connection is not blocked: it drains what is queued.
    let consumer_conn = broker.lapin().await;
    let cch = within(consumer_conn.create_channel()).await.unwrap();
    let mut consumer = within(cch.basic_consume(
        "alarmed".into(),
        "c".into(),
        BasicConsumeOptions {
            no_ack: true,
            ..Default::default()
        },
        Default::default(),
    ))
    .await
    .unwrap();
    for i in 0..5 {
        assert_eq!(
            next(&mut consumer).await.data,
            format!("before {i}").as_bytes()
        );
    }

    // The publisher's next publish blocks it.
    let confirm = within(pch.basic_publish(
        "".into(),
        "alarmed".into(),
        BasicPublishOptions::default(),
        b"during",
        BasicProperties::default(),
    ))
    .await
    .unwrap();
    match next_flow_event(&mut events).await {
        Event::ConnectionBlocked(r) => assert_eq!(r, reason),
        other => panic!("expected connection.blocked, got {other:?}"),
    }
    let states: Vec<&str> = broker
        .broker
        .registry
        .connections()
        .iter()
        .map(|c| c.state())
        .collect();
    assert!(states.contains(&"blocked"), "{states:?}");
    // Nothing is routed while blocked (the content frames are not even read).
    assert!(
        tokio::time::timeout(Duration::from_millis(300), consumer.next())
            .await
            .is_err(),
        "a delivery arrived from a blocked publisher"
    );

    clear();
    match next_flow_event(&mut events).await {
        Event::ConnectionUnblocked => {}
        other => panic!("expected connection.unblocked, got {other:?}"),
    }
    assert!(within(confirm).await.unwrap().is_ack());
    assert_eq!(next(&mut consumer).await.data, b"during");
    publish(&pch, "", "alarmed", b"after").await;
    assert_eq!(next(&mut consumer).await.data, b"after");
}

#[tokio::test]
async fn memory_alarm_blocks_publishers_until_the_watermark_is_raised() {
    let broker = TestBroker::start_with(BrokerConfig {
        vm_memory_high_watermark: MemoryWatermark::Relative(0.4),
        ..Default::default()
    })
    .await;
    let alarms = &broker.broker.alarms;
    publisher_blocked_until_cleared(
        &broker,
        "low on memory",
        || alarms.set_memory_limit(1),
        || alarms.set_memory_limit(u64::MAX),
    )
    .await;
    assert!(!alarms.active().any());
}

#[tokio::test]
async fn disk_alarm_blocks_publishers_until_the_limit_is_lowered() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start_in(dir.path()).await;
    let alarms = &broker.broker.alarms;
    eventually(|| alarms.disk_free() > 0).await;
    publisher_blocked_until_cleared(
        &broker,
        "low on disk",
        || alarms.set_disk_free_limit(u64::MAX / 2),
        || alarms.set_disk_free_limit(0),
    )
    .await;
}

#[tokio::test]
async fn a_huge_configured_disk_limit_sets_the_alarm_at_start() {
    let broker = TestBroker::start_with(BrokerConfig {
        disk_free_limit: DiskFreeLimit::Absolute(u64::MAX / 2),
        ..Default::default()
    })
    .await;
    eventually(|| broker.broker.alarms.active().disk).await;
    // Connections open and consume normally during an alarm.
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    declare_queue(&ch, "q").await;
    assert_eq!(message_count(&ch, "q").await, 0);
}

#[tokio::test]
async fn a_tiny_configured_memory_watermark_sets_the_alarm_at_start() {
    let broker = TestBroker::start_with(BrokerConfig {
        vm_memory_high_watermark: MemoryWatermark::Absolute(1024),
        ..Default::default()
    })
    .await;
    eventually(|| broker.broker.alarms.active().memory).await;
    let publisher = broker.lapin().await;
    let mut events = Box::pin(publisher.events_listener());
    let ch = within(publisher.create_channel()).await.unwrap();
    publish(&ch, "", "nowhere", b"x").await;
    match next_flow_event(&mut events).await {
        Event::ConnectionBlocked(r) => assert_eq!(r, "low on memory"),
        other => panic!("expected connection.blocked, got {other:?}"),
    }
    broker.broker.alarms.set_memory_limit(u64::MAX);
    assert!(matches!(
        next_flow_event(&mut events).await,
        Event::ConnectionUnblocked
    ));
}
