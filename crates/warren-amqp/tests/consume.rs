//! Consuming and acknowledging: round-robin, prefetch windows, ack/nack/reject,
//! requeue order, basic.get, recover, no-ack, consumer tags, exclusive
//! consumers and consumer priorities, checked against RabbitMQ's behaviour.

mod common;
mod support;

use common::{eventually, within, TestBroker};
use lapin::options::*;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection, Consumer};
use support::*;

async fn consume(ch: &Channel, queue: &str, tag: &str) -> Consumer {
    consume_with(
        ch,
        queue,
        tag,
        BasicConsumeOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap()
}

async fn consume_with(
    ch: &Channel,
    queue: &str,
    tag: &str,
    options: BasicConsumeOptions,
    args: FieldTable,
) -> lapin::Result<Consumer> {
    within(ch.basic_consume(queue.into(), tag.into(), options, args)).await
}

async fn channel(conn: &Connection) -> Channel {
    within(conn.create_channel()).await.unwrap()
}

async fn publish_n(ch: &Channel, queue: &str, n: usize) {
    for i in 0..n {
        publish(ch, "", queue, format!("m{i}").as_bytes()).await;
    }
}

fn body(d: &lapin::message::Delivery) -> String {
    String::from_utf8(d.data.clone()).unwrap()
}

#[tokio::test]
async fn round_robin_between_two_consumers() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = channel(&conn).await;
    declare_queue(&ch, "rr").await;
    let (ch_a, ch_b) = (channel(&conn).await, channel(&conn).await);
    let mut a = consume(&ch_a, "rr", "a").await;
    let mut b = consume(&ch_b, "rr", "b").await;
    publish_n(&ch, "rr", 10).await;
    let mut got_a = Vec::new();
    let mut got_b = Vec::new();
    for _ in 0..5 {
        got_a.push(body(&next(&mut a).await));
        got_b.push(body(&next(&mut b).await));
    }
    let evens: Vec<String> = (0..10).step_by(2).map(|i| format!("m{i}")).collect();
    let odds: Vec<String> = (1..10).step_by(2).map(|i| format!("m{i}")).collect();
    assert!(
        (got_a == evens && got_b == odds) || (got_a == odds && got_b == evens),
        "a={got_a:?} b={got_b:?}"
    );
    assert_eq!(queue(&broker, "rr").unacked(), 10);
}

#[tokio::test]
async fn per_consumer_prefetch_limits_unacked_deliveries() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let pch = channel(&conn).await;
    declare_queue(&pch, "pf").await;
    let ch = channel(&conn).await;
    within(ch.basic_qos(3, BasicQosOptions { global: false }))
        .await
        .unwrap();
    let mut c = consume(&ch, "pf", "c").await;
    publish_n(&pch, "pf", 10).await;
    let mut first = Vec::new();
    for _ in 0..3 {
        first.push(next(&mut c).await);
    }
    assert_eq!(
        first.iter().map(body).collect::<Vec<_>>(),
        ["m0", "m1", "m2"]
    );
    // The declare is processed after the publishes, which dispatch at once:
    // exactly three left the queue, seven are still ready.
    assert_eq!(message_count(&pch, "pf").await, 7);
    assert_eq!(queue(&broker, "pf").unacked(), 3);
    // Acking one opens the window for exactly one more.
    within(first[0].acker.ack(BasicAckOptions::default()))
        .await
        .unwrap();
    assert_eq!(body(&next(&mut c).await), "m3");
    assert_eq!(message_count(&pch, "pf").await, 6);
    assert_eq!(queue(&broker, "pf").unacked(), 3);
}

#[tokio::test]
async fn per_consumer_prefetch_applies_to_each_consumer_of_the_channel() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let pch = channel(&conn).await;
    declare_queue(&pch, "q1").await;
    declare_queue(&pch, "q2").await;
    let ch = channel(&conn).await;
    within(ch.basic_qos(2, BasicQosOptions { global: false }))
        .await
        .unwrap();
    let mut c1 = consume(&ch, "q1", "c1").await;
    let mut c2 = consume(&ch, "q2", "c2").await;
    publish_n(&pch, "q1", 5).await;
    publish_n(&pch, "q2", 5).await;
    for _ in 0..2 {
        next(&mut c1).await;
        next(&mut c2).await;
    }
    assert_eq!(message_count(&pch, "q1").await, 3);
    assert_eq!(message_count(&pch, "q2").await, 3);
}

#[tokio::test]
async fn global_prefetch_is_shared_by_the_channel_consumers() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let pch = channel(&conn).await;
    declare_queue(&pch, "q1").await;
    declare_queue(&pch, "q2").await;
    let ch = channel(&conn).await;
    within(ch.basic_qos(3, BasicQosOptions { global: true }))
        .await
        .unwrap();
    let mut c1 = consume(&ch, "q1", "c1").await;
    let mut c2 = consume(&ch, "q2", "c2").await;
    publish_n(&pch, "q1", 5).await;
    publish_n(&pch, "q2", 5).await;
    // q1's publishes come first and fill the shared window of 3.
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(next(&mut c1).await);
    }
    assert_eq!(message_count(&pch, "q1").await, 2);
    assert_eq!(message_count(&pch, "q2").await, 5);
    assert_eq!(queue(&broker, "q2").unacked(), 0);
    // Acking everything makes room for three more, across both queues.
    within(ch.basic_ack(got[2].delivery_tag, BasicAckOptions { multiple: true }))
        .await
        .unwrap();
    eventually(|| {
        let (a, b) = (queue(&broker, "q1"), queue(&broker, "q2"));
        a.unacked() + b.unacked() == 3
    })
    .await;
    let ready = message_count(&pch, "q1").await + message_count(&pch, "q2").await;
    assert_eq!(ready, 4);
    // Drain what arrived, so the streams are not left unread.
    let delivered_q1 = queue(&broker, "q1").unacked();
    for _ in 0..delivered_q1 {
        next(&mut c1).await;
    }
    for _ in 0..queue(&broker, "q2").unacked() {
        next(&mut c2).await;
    }
}

#[tokio::test]
async fn ack_multiple_settles_everything_up_to_the_tag() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let pch = channel(&conn).await;
    declare_queue(&pch, "am").await;
    let ch = channel(&conn).await;
    let mut c = consume(&ch, "am", "c").await;
    publish_n(&pch, "am", 5).await;
    let mut ds = Vec::new();
    for _ in 0..5 {
        ds.push(next(&mut c).await);
    }
    within(ch.basic_ack(ds[2].delivery_tag, BasicAckOptions { multiple: true }))
        .await
        .unwrap();
    eventually(|| queue(&broker, "am").unacked() == 2).await;
    // Closing the channel returns only the two unacked ones.
    drop(c);
    within(ch.close(200, "bye".into())).await.unwrap();
    assert_eq!(drain(&pch, "am").await, ["m3", "m4"]);
}

#[tokio::test]
async fn reject_with_requeue_puts_message_back_at_its_original_position() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = channel(&conn).await;
    declare_queue(&ch, "rq").await;
    for b in ["1", "2", "3"] {
        publish(&ch, "", "rq", b.as_bytes()).await;
    }
    let first = get(&ch, "rq").await.unwrap();
    assert_eq!(first.delivery.data, b"1");
    assert!(!first.delivery.redelivered);
    within(first.delivery.reject(BasicRejectOptions { requeue: true }))
        .await
        .unwrap();
    let again = get(&ch, "rq").await.unwrap();
    assert_eq!(again.delivery.data, b"1");
    assert!(again.delivery.redelivered);
    assert_eq!(again.message_count, 2);
    let second = get(&ch, "rq").await.unwrap();
    assert_eq!(second.delivery.data, b"2");
    assert!(!second.delivery.redelivered);
}

#[tokio::test]
async fn nack_with_requeue_restores_order_of_middle_messages() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = channel(&conn).await;
    declare_queue(&ch, "nq").await;
    for b in ["1", "2", "3", "4"] {
        publish(&ch, "", "nq", b.as_bytes()).await;
    }
    let one = get(&ch, "nq").await.unwrap();
    let two = get(&ch, "nq").await.unwrap();
    let three = get(&ch, "nq").await.unwrap();
    // Requeue 3 first, then 2 (out of order): the queue still reads 2, 3, 4.
    within(three.delivery.nack(BasicNackOptions {
        requeue: true,
        multiple: false,
    }))
    .await
    .unwrap();
    within(two.delivery.nack(BasicNackOptions {
        requeue: true,
        multiple: false,
    }))
    .await
    .unwrap();
    within(one.delivery.ack(BasicAckOptions::default()))
        .await
        .unwrap();
    let mut seen = Vec::new();
    while let Some(m) = get(&ch, "nq").await {
        seen.push((body(&m.delivery), m.delivery.redelivered));
        within(m.delivery.ack(BasicAckOptions::default()))
            .await
            .unwrap();
    }
    assert_eq!(
        seen,
        [
            ("2".to_string(), true),
            ("3".to_string(), true),
            ("4".to_string(), false)
        ]
    );
}

#[tokio::test]
async fn nack_multiple_with_requeue_redelivers_to_consumer() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let pch = channel(&conn).await;
    declare_queue(&pch, "nm").await;
    let ch = channel(&conn).await;
    let mut c = consume(&ch, "nm", "c").await;
    publish_n(&pch, "nm", 3).await;
    let mut last = 0;
    for i in 0..3 {
        let d = next(&mut c).await;
        assert_eq!(body(&d), format!("m{i}"));
        last = d.delivery_tag;
    }
    within(ch.basic_nack(
        last,
        BasicNackOptions {
            multiple: true,
            requeue: true,
        },
    ))
    .await
    .unwrap();
    for i in 0..3 {
        let d = next(&mut c).await;
        assert_eq!(body(&d), format!("m{i}"));
        assert!(d.redelivered);
    }
}

#[tokio::test]
async fn reject_without_requeue_drops_the_message() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = channel(&conn).await;
    declare_queue(&ch, "drop").await;
    publish(&ch, "", "drop", b"bye").await;
    publish(&ch, "", "drop", b"next").await;
    let m = get(&ch, "drop").await.unwrap();
    within(m.delivery.reject(BasicRejectOptions { requeue: false }))
        .await
        .unwrap();
    eventually(|| queue(&broker, "drop").unacked() == 0).await;
    assert_eq!(drain(&ch, "drop").await, ["next"]);
}

#[tokio::test]
async fn ack_of_unknown_delivery_tag_closes_the_channel() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = channel(&conn).await;
    let mut watcher = watch_channel(&ch).await;
    within(ch.basic_ack(99, BasicAckOptions::default()))
        .await
        .unwrap();
    let err = closed_with(&mut watcher).await;
    assert_reply(&err, 406, "PRECONDITION_FAILED - unknown delivery tag 99");
    // Only the channel: the connection carries on.
    assert!(conn.status().connected());
    let ch2 = channel(&conn).await;
    declare_queue(&ch2, "fine").await;
}

#[tokio::test]
async fn double_ack_closes_the_channel() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = channel(&conn).await;
    declare_queue(&ch, "dbl").await;
    publish(&ch, "", "dbl", b"x").await;
    let mut watcher = watch_channel(&ch).await;
    let m = get(&ch, "dbl").await.unwrap();
    let tag = m.delivery.delivery_tag;
    within(ch.basic_ack(tag, BasicAckOptions::default()))
        .await
        .unwrap();
    within(ch.basic_ack(tag, BasicAckOptions::default()))
        .await
        .unwrap();
    let err = closed_with(&mut watcher).await;
    assert_reply(
        &err,
        406,
        &format!("PRECONDITION_FAILED - unknown delivery tag {tag}"),
    );
    // The first ack counted: nothing was requeued by the channel closing.
    let ch2 = channel(&conn).await;
    assert_eq!(message_count(&ch2, "dbl").await, 0);
}

#[tokio::test]
async fn basic_get_reports_remaining_message_count_and_get_empty() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = channel(&conn).await;
    declare_queue(&ch, "g").await;
    publish_n(&ch, "g", 3).await;
    for (i, remaining) in [2, 1, 0].into_iter().enumerate() {
        let m = within(ch.basic_get("g".into(), BasicGetOptions { no_ack: true }))
            .await
            .unwrap()
            .expect("a message");
        assert_eq!(body(&m.delivery), format!("m{i}"));
        assert_eq!(m.message_count, remaining);
        assert!(!m.delivery.redelivered);
    }
    let empty = within(ch.basic_get("g".into(), BasicGetOptions { no_ack: true }))
        .await
        .unwrap();
    assert!(empty.is_none(), "expected get-empty");
}

#[tokio::test]
async fn basic_get_on_missing_queue_is_not_found() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = channel(&conn).await;
    let err =
        expect_amqp_err(ch.basic_get("absent".into(), BasicGetOptions { no_ack: true })).await;
    assert_reply(&err, 404, "NOT_FOUND - no queue 'absent' in vhost '/'");
}

#[tokio::test]
async fn basic_recover_requeues_unacked_deliveries() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let pch = channel(&conn).await;
    declare_queue(&pch, "rec").await;
    let ch = channel(&conn).await;
    let mut c = consume(&ch, "rec", "c").await;
    publish_n(&pch, "rec", 2).await;
    for i in 0..2 {
        let d = next(&mut c).await;
        assert_eq!(body(&d), format!("m{i}"));
        assert!(!d.redelivered);
    }
    within(ch.basic_recover(BasicRecoverOptions { requeue: true }))
        .await
        .unwrap();
    for i in 0..2 {
        let d = next(&mut c).await;
        assert_eq!(body(&d), format!("m{i}"));
        assert!(d.redelivered, "recovered deliveries are marked redelivered");
        within(d.acker.ack(BasicAckOptions::default()))
            .await
            .unwrap();
    }
    eventually(|| queue(&broker, "rec").unacked() == 0).await;
}

#[tokio::test]
async fn closing_a_channel_requeues_its_unacked_messages() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let pch = channel(&conn).await;
    declare_queue(&pch, "cl").await;
    let first = channel(&conn).await;
    within(first.basic_qos(2, BasicQosOptions::default()))
        .await
        .unwrap();
    let mut c1 = consume(&first, "cl", "c1").await;
    publish_n(&pch, "cl", 3).await;
    assert_eq!(body(&next(&mut c1).await), "m0");
    assert_eq!(body(&next(&mut c1).await), "m1");
    let second = channel(&conn).await;
    let mut c2 = consume(&second, "cl", "c2").await;
    // The second consumer takes the one message the first had no room for.
    let d = next(&mut c2).await;
    assert_eq!((body(&d).as_str(), d.redelivered), ("m2", false));
    within(d.acker.ack(BasicAckOptions::default()))
        .await
        .unwrap();
    within(first.close(200, "bye".into())).await.unwrap();
    for i in 0..2 {
        let d = next(&mut c2).await;
        assert_eq!(body(&d), format!("m{i}"));
        assert!(d.redelivered);
    }
}

#[tokio::test]
async fn closing_a_connection_requeues_its_unacked_messages() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = channel(&conn).await;
    declare_queue(&ch, "cc").await;
    let consumer_conn = broker.lapin().await;
    let cch = channel(&consumer_conn).await;
    let mut c = consume(&cch, "cc", "c").await;
    publish_n(&ch, "cc", 2).await;
    next(&mut c).await;
    next(&mut c).await;
    within(consumer_conn.close(200, "bye".into()))
        .await
        .unwrap();
    eventually(|| queue(&broker, "cc").message_count() == 2).await;
    let m = get(&ch, "cc").await.unwrap();
    assert_eq!(
        (body(&m.delivery).as_str(), m.delivery.redelivered),
        ("m0", true)
    );
}

#[tokio::test]
async fn no_ack_consumers_need_no_acks_and_ignore_prefetch() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let pch = channel(&conn).await;
    declare_queue(&pch, "na").await;
    let ch = channel(&conn).await;
    within(ch.basic_qos(1, BasicQosOptions::default()))
        .await
        .unwrap();
    let mut c = consume_with(
        &ch,
        "na",
        "c",
        BasicConsumeOptions {
            no_ack: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .unwrap();
    publish_n(&pch, "na", 5).await;
    for i in 0..5 {
        assert_eq!(body(&next(&mut c).await), format!("m{i}"));
    }
    assert_eq!(queue(&broker, "na").unacked(), 0);
    // Nothing comes back when the channel closes.
    drop(c);
    within(ch.close(200, "bye".into())).await.unwrap();
    assert_eq!(message_count(&pch, "na").await, 0);
}

#[tokio::test]
async fn reusing_a_consumer_tag_on_a_channel_is_a_connection_error() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = channel(&conn).await;
    declare_queue(&ch, "t1").await;
    declare_queue(&ch, "t2").await;
    let _c = consume(&ch, "t1", "dup").await;
    let err = match consume_with(
        &ch,
        "t2",
        "dup",
        BasicConsumeOptions::default(),
        FieldTable::default(),
    )
    .await
    {
        Ok(_) => panic!("second consumer with the same tag was accepted"),
        Err(e) => amqp_error(&e),
    };
    assert_reply(
        &err,
        530,
        "NOT_ALLOWED - attempt to reuse consumer tag 'dup'",
    );
    eventually(|| !conn.status().connected()).await;
}

#[tokio::test]
async fn same_consumer_tag_on_different_channels_is_fine() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch1 = channel(&conn).await;
    let ch2 = channel(&conn).await;
    declare_queue(&ch1, "t").await;
    let _a = consume(&ch1, "t", "same").await;
    let _b = consume(&ch2, "t", "same").await;
    assert_eq!(queue(&broker, "t").consumer_count(), 2);
}

#[tokio::test]
async fn exclusive_consumer_blocks_other_consumers() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = channel(&conn).await;
    declare_queue(&ch, "ex").await;
    let _owner = consume_with(
        &ch,
        "ex",
        "owner",
        BasicConsumeOptions {
            exclusive: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .unwrap();
    let other = channel(&conn).await;
    let err = match consume_with(
        &other,
        "ex",
        "second",
        BasicConsumeOptions::default(),
        FieldTable::default(),
    )
    .await
    {
        Ok(_) => panic!("a second consumer was accepted next to an exclusive one"),
        Err(e) => amqp_error(&e),
    };
    assert_reply(&err, 403, "ACCESS_REFUSED");
    assert_reply(&err, 403, "in exclusive use");
    assert_eq!(queue(&broker, "ex").consumer_count(), 1);
}

#[tokio::test]
async fn exclusive_consumer_is_refused_when_queue_has_consumers() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = channel(&conn).await;
    declare_queue(&ch, "ex").await;
    let _plain = consume(&ch, "ex", "plain").await;
    let other = channel(&conn).await;
    let err = match consume_with(
        &other,
        "ex",
        "wants-all",
        BasicConsumeOptions {
            exclusive: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    {
        Ok(_) => panic!("an exclusive consumer was accepted next to another one"),
        Err(e) => amqp_error(&e),
    };
    assert_reply(&err, 403, "ACCESS_REFUSED");
    assert_eq!(queue(&broker, "ex").consumer_count(), 1);
}

fn priority(p: i32) -> FieldTable {
    table(&[("x-priority", AMQPValue::LongInt(p))])
}

#[tokio::test]
async fn higher_priority_consumer_gets_messages_first() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let pch = channel(&conn).await;
    declare_queue(&pch, "prio").await;
    let low_ch = channel(&conn).await;
    let high_ch = channel(&conn).await;
    let _low = consume_with(&low_ch, "prio", "low", Default::default(), priority(1))
        .await
        .unwrap();
    let mut high = consume_with(&high_ch, "prio", "high", Default::default(), priority(10))
        .await
        .unwrap();
    publish_n(&pch, "prio", 4).await;
    // All four went to the high-priority consumer (none are left, and it got
    // four distinct messages), though the low one registered first.
    for i in 0..4 {
        assert_eq!(body(&next(&mut high).await), format!("m{i}"));
    }
    assert_eq!(message_count(&pch, "prio").await, 0);
}

#[tokio::test]
async fn lower_priority_consumer_gets_messages_when_higher_is_full() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let pch = channel(&conn).await;
    declare_queue(&pch, "prio").await;
    let low_ch = channel(&conn).await;
    let high_ch = channel(&conn).await;
    within(high_ch.basic_qos(2, BasicQosOptions::default()))
        .await
        .unwrap();
    let mut low = consume_with(&low_ch, "prio", "low", Default::default(), priority(-5))
        .await
        .unwrap();
    let mut high = consume_with(&high_ch, "prio", "high", Default::default(), priority(5))
        .await
        .unwrap();
    publish_n(&pch, "prio", 5).await;
    assert_eq!(body(&next(&mut high).await), "m0");
    assert_eq!(body(&next(&mut high).await), "m1");
    for i in 2..5 {
        assert_eq!(body(&next(&mut low).await), format!("m{i}"));
    }
}

#[tokio::test]
async fn consuming_from_a_missing_queue_is_not_found() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = channel(&conn).await;
    let err = match consume_with(
        &ch,
        "absent",
        "",
        BasicConsumeOptions::default(),
        FieldTable::default(),
    )
    .await
    {
        Ok(_) => panic!("consumed from a missing queue"),
        Err(e) => amqp_error(&e),
    };
    assert_reply(&err, 404, "NOT_FOUND - no queue 'absent' in vhost '/'");
}

#[tokio::test]
async fn cancelled_consumer_gets_no_more_messages() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = channel(&conn).await;
    declare_queue(&ch, "cx").await;
    let c = consume(&ch, "cx", "c").await;
    within(ch.basic_cancel(c.tag(), BasicCancelOptions::default()))
        .await
        .unwrap();
    publish_n(&ch, "cx", 2).await;
    assert_eq!(message_count(&ch, "cx").await, 2);
    assert_eq!(queue(&broker, "cx").consumer_count(), 0);
}
