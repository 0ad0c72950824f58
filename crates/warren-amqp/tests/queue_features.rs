//! Priority queues, single active consumer, consumer_timeout, alternate
//! exchanges and sender-selected distribution (CC/BCC).

mod common;
mod support;

use std::time::Duration;

use common::{within, TestBroker};
use lapin::options::*;
use lapin::types::{AMQPValue, FieldTable};
use lapin::BasicProperties;
use support::*;
use warren_core::BrokerConfig;

fn body(d: &lapin::message::Delivery) -> String {
    String::from_utf8(d.data.clone()).unwrap()
}

#[tokio::test]
async fn priority_queue_delivers_higher_priorities_first_fifo_within() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    let args = table(&[("x-max-priority", AMQPValue::ShortShortUInt(10))]);
    declare_queue_with(&ch, "pq", Default::default(), args)
        .await
        .unwrap();
    for (b, p) in [
        ("p1", Some(1)),
        ("none", None),
        ("p5a", Some(5)),
        ("p200", Some(200)),
        ("p5b", Some(5)),
        ("p10", Some(10)),
    ] {
        let mut props = BasicProperties::default();
        if let Some(p) = p {
            props = props.with_priority(p);
        }
        publish_with(&ch, "", "pq", b.as_bytes(), props).await;
    }
    // Priorities above the maximum count as the maximum (p200 before p10: FIFO at 10).
    assert_eq!(
        drain(&ch, "pq").await,
        ["p200", "p10", "p5a", "p5b", "p1", "none"]
    );
}

#[tokio::test]
async fn single_active_consumer_fails_over_in_registration_order() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    let args = table(&[("x-single-active-consumer", AMQPValue::Boolean(true))]);
    declare_queue_with(&ch, "sac", Default::default(), args)
        .await
        .unwrap();
    let no_ack = BasicConsumeOptions {
        no_ack: true,
        ..Default::default()
    };
    let mut first =
        within(ch.basic_consume("sac".into(), "first".into(), no_ack, FieldTable::default()))
            .await
            .unwrap();
    let mut second =
        within(ch.basic_consume("sac".into(), "second".into(), no_ack, FieldTable::default()))
            .await
            .unwrap();
    for i in 0..4 {
        publish(&ch, "", "sac", format!("m{i}").as_bytes()).await;
    }
    for i in 0..4 {
        assert_eq!(body(&next(&mut first).await), format!("m{i}"));
    }
    within(ch.basic_cancel("first".into(), BasicCancelOptions::default()))
        .await
        .unwrap();
    publish(&ch, "", "sac", b"after").await;
    assert_eq!(body(&next(&mut second).await), "after");
}

#[tokio::test]
async fn consumer_timeout_closes_the_channel_with_406() {
    let broker = TestBroker::start_with(BrokerConfig {
        consumer_timeout: Some(Duration::from_millis(100)),
        ..Default::default()
    })
    .await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    declare_queue(&ch, "slow").await;
    publish(&ch, "", "slow", b"x").await;
    let mut consumer = within(ch.basic_consume(
        "slow".into(),
        "".into(),
        BasicConsumeOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    let d = next(&mut consumer).await;
    assert_eq!(d.data, b"x");
    let err = closed_with(&mut consumer).await;
    let text = format!(
        "PRECONDITION_FAILED - delivery acknowledgement on channel {} timed out. Timeout value used: 100 ms. This timeout value can be configured, see consumers doc guide to learn more",
        ch.id()
    );
    assert_reply(&err, 406, &text);
    // The unacked message went back to the queue, flagged redelivered.
    let ch2 = within(conn.create_channel()).await.unwrap();
    let again = within(async {
        loop {
            if let Some(m) = get(&ch2, "slow").await {
                return m;
            }
        }
    })
    .await;
    assert!(again.delivery.redelivered);
}

#[tokio::test]
async fn alternate_exchange_takes_unroutable_messages() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    declare_exchange(&ch, "ae", lapin::ExchangeKind::Fanout).await;
    declare_queue(&ch, "unrouted").await;
    bind(&ch, "unrouted", "ae", "").await;
    within(ch.exchange_declare(
        "main".into(),
        lapin::ExchangeKind::Direct,
        ExchangeDeclareOptions::default(),
        table(&[("alternate-exchange", s("ae"))]),
    ))
    .await
    .unwrap();
    declare_queue(&ch, "routed").await;
    bind(&ch, "routed", "main", "known").await;
    publish(&ch, "main", "known", b"r").await;
    publish(&ch, "main", "unknown", b"u").await;
    assert_eq!(drain(&ch, "routed").await, ["r"]);
    assert_eq!(drain(&ch, "unrouted").await, ["u"]);
}

#[tokio::test]
async fn cc_and_bcc_add_routing_keys_and_bcc_is_stripped() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    for q in ["to", "cc", "bcc", "other"] {
        declare_queue(&ch, q).await;
        bind(&ch, q, "amq.direct", q).await;
    }
    let headers = table(&[
        ("CC", AMQPValue::FieldArray(vec![s("cc")].into())),
        ("BCC", AMQPValue::FieldArray(vec![s("bcc")].into())),
    ]);
    publish_with(
        &ch,
        "amq.direct",
        "to",
        b"m",
        BasicProperties::default().with_headers(headers),
    )
    .await;
    for q in ["to", "cc", "bcc"] {
        let m = get(&ch, q)
            .await
            .unwrap_or_else(|| panic!("{q} got nothing"));
        let h = m.delivery.properties.headers().clone().unwrap();
        assert!(h.inner().contains_key("CC"), "{q}: CC kept");
        assert!(!h.inner().contains_key("BCC"), "{q}: BCC stripped");
        assert_eq!(m.delivery.routing_key.as_str(), "to");
    }
    assert_eq!(get(&ch, "other").await.map(|m| m.delivery.data), None);
}
