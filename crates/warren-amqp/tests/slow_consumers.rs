//! A consumer that stops reading its socket: the broker buffers a bounded
//! amount for it (the outbox's byte and count limits, the 1 MiB output buffer
//! and the kernel's socket buffers), leaves the rest in the queue for other
//! consumers, and loses none of the stalled consumer's unacknowledged messages.

mod common;
mod raw;
mod support;

use common::{eventually, within, TestBroker};
use futures_lite::StreamExt;
use lapin::options::*;
use lapin::BasicProperties;
use raw::RawClient;
use support::*;
use warren_codec::spec::basic;
use warren_codec::{AMQPClass, FieldTable};

/// Messages published in each test, each [`BODY`] bytes: 128 MiB in all.
const MESSAGES: usize = 2000;
const BODY: usize = 64 << 10;
/// What a stalled consumer may take off its queue: the outbox (8 MiB), the
/// output buffer (1 MiB) and loopback socket buffers (a few MiB each way),
/// with room to spare; far below the 128 MiB published.
const STALLED_BOUND: usize = (32 << 20) / BODY;

/// A raw client that opens channel 1, consumes `queue` and then never reads.
async fn stalled_consumer(broker: &TestBroker, queue: &str, no_ack: bool) -> RawClient {
    let mut client = RawClient::open(broker).await;
    client.open_channel(1).await;
    let consume = basic::Consume {
        queue: queue.into(),
        consumer_tag: "stalled".into(),
        no_local: false,
        no_ack,
        exclusive: false,
        nowait: false,
        arguments: FieldTable::default(),
    };
    client
        .send_method(1, AMQPClass::Basic(basic::AMQPMethod::Consume(consume)))
        .await;
    client
}

fn body(i: usize) -> Vec<u8> {
    let mut body = vec![(i % 251) as u8; BODY];
    body[..8].copy_from_slice(&(i as u64).to_be_bytes());
    body
}

fn index_of(body: &[u8]) -> usize {
    let mut tag = [0; 8];
    tag.copy_from_slice(&body[..8]);
    u64::from_be_bytes(tag) as usize
}

/// Publishes [`MESSAGES`] bodies to `queue` with confirms and waits for them all.
async fn publish_all(conn: &lapin::Connection, queue: &str) {
    let ch = conn.create_channel().await.unwrap();
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    for i in 0..MESSAGES {
        ch.basic_publish(
            "".into(),
            queue.into(),
            BasicPublishOptions::default(),
            &body(i),
            BasicProperties::default(),
        )
        .await
        .unwrap();
    }
    let returned = within(ch.wait_for_confirms()).await.unwrap();
    assert!(returned.is_empty(), "messages came back unroutable");
}

/// Consumes from `queue` until `count` messages arrived; returns their indexes.
async fn consume(conn: &lapin::Connection, queue: &str, count: usize) -> Vec<usize> {
    let ch = conn.create_channel().await.unwrap();
    ch.basic_qos(500, BasicQosOptions::default()).await.unwrap();
    let mut consumer = ch
        .basic_consume(
            queue.into(),
            "reader".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let mut seen = Vec::with_capacity(count);
    while seen.len() < count {
        let delivery = within(consumer.next())
            .await
            .expect("consumer stream ended")
            .expect("delivery");
        assert_eq!(delivery.data.len(), BODY);
        seen.push(index_of(&delivery.data));
        delivery.ack(BasicAckOptions::default()).await.unwrap();
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_that_stops_reading_takes_a_bounded_share() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    declare_queue(&conn.create_channel().await.unwrap(), "slow").await;
    let _stalled = stalled_consumer(&broker, "slow", true).await;
    let q = queue(&broker, "slow");
    eventually(|| q.consumer_count() == 1).await;

    publish_all(&conn, "slow").await;
    let left = q.message_count();
    assert!(
        left >= MESSAGES - STALLED_BOUND,
        "a stalled auto-ack consumer took {} of {MESSAGES} messages of {BODY} bytes",
        MESSAGES - left
    );

    // A consumer that reads gets everything the stalled one did not take.
    let reader = broker.lapin().await;
    let seen = consume(&reader, "slow", left).await;
    assert_eq!(seen.len(), left);
    eventually(|| q.message_count() == 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_consumers_unacked_messages_come_back_when_it_goes() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    declare_queue(&conn.create_channel().await.unwrap(), "stall").await;
    let stalled = stalled_consumer(&broker, "stall", false).await;
    let q = queue(&broker, "stall");
    eventually(|| q.consumer_count() == 1).await;

    publish_all(&conn, "stall").await;
    assert!(
        q.unacked() <= STALLED_BOUND,
        "{} deliveries went to a consumer that reads nothing",
        q.unacked()
    );
    assert_eq!(q.unacked() + q.message_count(), MESSAGES);

    drop(stalled);
    eventually(|| q.message_count() == MESSAGES && q.unacked() == 0).await;
    let reader = broker.lapin().await;
    let mut seen = consume(&reader, "stall", MESSAGES).await;
    seen.sort_unstable();
    assert_eq!(seen, (0..MESSAGES).collect::<Vec<_>>());
}
