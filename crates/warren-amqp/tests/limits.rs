//! Queue length limits (x-max-length, x-max-length-bytes) with the overflow
//! modes drop-head, reject-publish (nack under confirms) and
//! reject-publish-dlx, and RabbitMQ's texts for invalid queue arguments.

mod common;
mod support;

use common::{eventually, within, TestBroker};
use lapin::options::*;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Confirmation};
use support::*;

async fn confirmed(ch: &Channel, key: &str, body: &[u8]) -> Confirmation {
    let confirm = within(ch.basic_publish(
        "".into(),
        key.into(),
        BasicPublishOptions::default(),
        body,
        BasicProperties::default(),
    ))
    .await
    .unwrap();
    within(confirm).await.unwrap()
}

fn limit(max: i32, overflow: Option<&str>) -> FieldTable {
    let mut entries = vec![("x-max-length", AMQPValue::LongInt(max))];
    if let Some(o) = overflow {
        entries.push(("x-overflow", s(o)));
    }
    table(&entries)
}

#[tokio::test]
async fn max_length_drops_the_oldest_by_default() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    declare_queue_with(&ch, "ml", Default::default(), limit(2, None))
        .await
        .unwrap();
    for body in ["1", "2", "3", "4"] {
        publish(&ch, "", "ml", body.as_bytes()).await;
    }
    eventually(|| {
        queue(&broker, "ml")
            .stats
            .published
            .load(std::sync::atomic::Ordering::Relaxed)
            == 4
    })
    .await;
    assert_eq!(drain(&ch, "ml").await, ["3", "4"]);
}

#[tokio::test]
async fn max_length_bytes_counts_body_bytes() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    let args = table(&[("x-max-length-bytes", AMQPValue::LongInt(10))]);
    declare_queue_with(&ch, "mb", Default::default(), args)
        .await
        .unwrap();
    for body in ["aaaa", "bbbb", "cccc"] {
        publish(&ch, "", "mb", body.as_bytes()).await;
    }
    eventually(|| {
        queue(&broker, "mb")
            .stats
            .published
            .load(std::sync::atomic::Ordering::Relaxed)
            == 3
    })
    .await;
    assert_eq!(drain(&ch, "mb").await, ["bbbb", "cccc"]);
}

#[tokio::test]
async fn reject_publish_nacks_the_publisher() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    within(ch.confirm_select(ConfirmSelectOptions::default()))
        .await
        .unwrap();
    declare_queue_with(
        &ch,
        "rp",
        Default::default(),
        limit(2, Some("reject-publish")),
    )
    .await
    .unwrap();
    assert_eq!(confirmed(&ch, "rp", b"1").await, Confirmation::Ack(None));
    assert_eq!(confirmed(&ch, "rp", b"2").await, Confirmation::Ack(None));
    assert_eq!(confirmed(&ch, "rp", b"3").await, Confirmation::Nack(None));
    // Room again once a message is consumed: the next publish is accepted.
    assert_eq!(get_body(&ch, "rp").await.as_deref(), Some(&b"1"[..]));
    assert_eq!(confirmed(&ch, "rp", b"4").await, Confirmation::Ack(None));
    assert_eq!(drain(&ch, "rp").await, ["2", "4"]);
}

#[tokio::test]
async fn reject_publish_dlx_dead_letters_the_refused_message() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    within(ch.confirm_select(ConfirmSelectOptions::default()))
        .await
        .unwrap();
    declare_queue(&ch, "over").await;
    let args = table(&[
        ("x-max-length", AMQPValue::LongInt(1)),
        ("x-overflow", s("reject-publish-dlx")),
        ("x-dead-letter-exchange", s("")),
        ("x-dead-letter-routing-key", s("over")),
    ]);
    declare_queue_with(&ch, "rpd", Default::default(), args)
        .await
        .unwrap();
    assert_eq!(
        confirmed(&ch, "rpd", b"kept").await,
        Confirmation::Ack(None)
    );
    assert_eq!(
        confirmed(&ch, "rpd", b"refused").await,
        Confirmation::Nack(None)
    );
    let dead = get(&ch, "over")
        .await
        .expect("refused message dead-lettered");
    assert_eq!(dead.delivery.data, b"refused");
    let h = dead.delivery.properties.headers().clone().unwrap();
    assert_eq!(h.inner()["x-first-death-reason"], s("maxlen"));
    assert_eq!(drain(&ch, "rpd").await, ["kept"]);
}

#[tokio::test]
async fn drop_head_dead_letters_with_reason_maxlen() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    declare_queue(&ch, "dropped").await;
    let args = table(&[
        ("x-max-length", AMQPValue::LongInt(1)),
        ("x-dead-letter-exchange", s("")),
        ("x-dead-letter-routing-key", s("dropped")),
    ]);
    declare_queue_with(&ch, "dh", Default::default(), args)
        .await
        .unwrap();
    publish(&ch, "", "dh", b"first").await;
    publish(&ch, "", "dh", b"second").await;
    eventually(|| queue(&broker, "dropped").message_count() == 1).await;
    let dead = get(&ch, "dropped").await.unwrap();
    assert_eq!(dead.delivery.data, b"first");
    let h = dead.delivery.properties.headers().clone().unwrap();
    assert_eq!(h.inner()["x-first-death-reason"], s("maxlen"));
    assert_eq!(drain(&ch, "dh").await, ["second"]);
}

#[tokio::test]
async fn unacked_messages_do_not_count_towards_the_limit() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    declare_queue_with(&ch, "ua", Default::default(), limit(1, None))
        .await
        .unwrap();
    publish(&ch, "", "ua", b"held").await;
    let held = get(&ch, "ua").await.unwrap();
    publish(&ch, "", "ua", b"ready").await;
    eventually(|| queue(&broker, "ua").message_count() == 1).await;
    within(ch.basic_ack(held.delivery.delivery_tag, BasicAckOptions::default()))
        .await
        .unwrap();
    assert_eq!(drain(&ch, "ua").await, ["ready"]);
}

#[tokio::test]
async fn invalid_arguments_get_rabbitmq_texts() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let cases: Vec<(FieldTable, &str)> = vec![
        (
            table(&[("x-max-length", AMQPValue::LongInt(-1))]),
            "PRECONDITION_FAILED - invalid arg 'x-max-length' for queue 'bad' in vhost '/': {value_negative,-1}",
        ),
        (
            table(&[("x-overflow", s("drop-tail"))]),
            "invalid arg 'x-overflow' for queue 'bad' in vhost '/': invalid_overflow",
        ),
        (
            table(&[("x-message-ttl", s("100"))]),
            "invalid arg 'x-message-ttl' for queue 'bad' in vhost '/': \"expected integer, got longstr\"",
        ),
        (
            table(&[("x-expires", AMQPValue::LongInt(0))]),
            "invalid arg 'x-expires' for queue 'bad' in vhost '/': {value_zero,0}",
        ),
        (
            table(&[("x-max-priority", AMQPValue::LongInt(300))]),
            "invalid arg 'x-max-priority' for queue 'bad' in vhost '/': {max_value_exceeded,300}",
        ),
    ];
    for (args, text) in cases {
        let ch = within(conn.create_channel()).await.unwrap();
        let err = expect_amqp_err(ch.queue_declare("bad".into(), Default::default(), args)).await;
        assert_reply(&err, 406, text);
    }
    assert!(!queue_exists(&conn, "bad").await);
}
