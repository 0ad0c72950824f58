//! Publisher confirms, mandatory returns and transactions (tx.*), checked
//! against RabbitMQ's behaviour.

mod common;
mod support;

use std::future::Future;
use std::pin::Pin;

use common::{eventually, within, TestBroker};
use lapin::options::*;
use lapin::{BasicProperties, Channel, Confirmation, Connection};
use support::*;
use tokio::sync::mpsc;

async fn channel(conn: &Connection) -> Channel {
    within(conn.create_channel()).await.unwrap()
}

async fn confirm_channel(conn: &Connection) -> Channel {
    let ch = channel(conn).await;
    within(ch.confirm_select(ConfirmSelectOptions::default()))
        .await
        .unwrap();
    ch
}

async fn publish_confirmed(
    ch: &Channel,
    exchange: &str,
    key: &str,
    mandatory: bool,
    body: &[u8],
) -> Confirmation {
    let confirm = within(ch.basic_publish(
        exchange.into(),
        key.into(),
        BasicPublishOptions {
            mandatory,
            ..Default::default()
        },
        body,
        BasicProperties::default(),
    ))
    .await
    .unwrap();
    within(confirm).await.unwrap()
}

#[tokio::test]
async fn every_publish_is_confirmed() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = confirm_channel(&conn).await;
    declare_queue(&ch, "c").await;
    let mut pending = Vec::new();
    for i in 0..50 {
        let confirm = within(ch.basic_publish(
            "".into(),
            "c".into(),
            BasicPublishOptions::default(),
            format!("m{i}").as_bytes(),
            BasicProperties::default(),
        ))
        .await
        .unwrap();
        pending.push(confirm);
    }
    for confirm in pending {
        assert_eq!(within(confirm).await.unwrap(), Confirmation::Ack(None));
    }
    // Unroutable messages (without mandatory) are confirmed too.
    assert_eq!(
        publish_confirmed(&ch, "", "nowhere", false, b"x").await,
        Confirmation::Ack(None)
    );
    assert!(within(ch.wait_for_confirms()).await.unwrap().is_empty());
    assert_eq!(message_count(&ch, "c").await, 50);
}

#[tokio::test]
async fn publishes_without_confirm_select_are_not_confirmed() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = channel(&conn).await;
    declare_queue(&ch, "c").await;
    assert_eq!(
        publish_confirmed(&ch, "", "c", false, b"x").await,
        Confirmation::NotRequested
    );
}

/// What the amqprs channel callback saw.
#[derive(Debug)]
enum Seen {
    Ack(u64, bool),
    Nack,
    Return(u16, String),
}

/// An amqprs channel callback forwarding confirms and returns to a test.
/// Written out by hand (what `#[async_trait]` generates) to avoid another
/// dev-dependency.
struct Recorder(mpsc::UnboundedSender<Seen>);

type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl amqprs::callbacks::ChannelCallback for Recorder {
    fn close<'a, 'b, 't>(
        &'a mut self,
        _channel: &'b amqprs::channel::Channel,
        _close: amqprs::CloseChannel,
    ) -> BoxFut<'t, Result<(), amqprs::error::Error>>
    where
        'a: 't,
        'b: 't,
        Self: 't,
    {
        Box::pin(async { Ok(()) })
    }

    fn cancel<'a, 'b, 't>(
        &'a mut self,
        _channel: &'b amqprs::channel::Channel,
        _cancel: amqprs::Cancel,
    ) -> BoxFut<'t, Result<(), amqprs::error::Error>>
    where
        'a: 't,
        'b: 't,
        Self: 't,
    {
        Box::pin(async { Ok(()) })
    }

    fn flow<'a, 'b, 't>(
        &'a mut self,
        _channel: &'b amqprs::channel::Channel,
        active: bool,
    ) -> BoxFut<'t, Result<bool, amqprs::error::Error>>
    where
        'a: 't,
        'b: 't,
        Self: 't,
    {
        Box::pin(async move { Ok(active) })
    }

    fn publish_ack<'a, 'b, 't>(
        &'a mut self,
        _channel: &'b amqprs::channel::Channel,
        ack: amqprs::Ack,
    ) -> BoxFut<'t, ()>
    where
        'a: 't,
        'b: 't,
        Self: 't,
    {
        let _ = self.0.send(Seen::Ack(ack.delivery_tag(), ack.mutiple()));
        Box::pin(async {})
    }

    fn publish_nack<'a, 'b, 't>(
        &'a mut self,
        _channel: &'b amqprs::channel::Channel,
        _nack: amqprs::Nack,
    ) -> BoxFut<'t, ()>
    where
        'a: 't,
        'b: 't,
        Self: 't,
    {
        let _ = self.0.send(Seen::Nack);
        Box::pin(async {})
    }

    fn publish_return<'a, 'b, 't>(
        &'a mut self,
        _channel: &'b amqprs::channel::Channel,
        ret: amqprs::Return,
        _basic_properties: amqprs::BasicProperties,
        _content: Vec<u8>,
    ) -> BoxFut<'t, ()>
    where
        'a: 't,
        'b: 't,
        Self: 't,
    {
        let _ = self
            .0
            .send(Seen::Return(ret.reply_code(), ret.reply_text().clone()));
        Box::pin(async {})
    }
}

#[tokio::test]
async fn confirm_delivery_tags_count_up_in_order() {
    use amqprs::channel::{BasicPublishArguments, ConfirmSelectArguments, QueueDeclareArguments};
    let broker = TestBroker::start().await;
    let conn = broker.amqprs().await;
    let ch = within(conn.open_channel(None)).await.unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    within(ch.register_callback(Recorder(tx))).await.unwrap();
    within(ch.queue_declare(QueueDeclareArguments::new("tags")))
        .await
        .unwrap();
    within(ch.confirm_select(ConfirmSelectArguments::default()))
        .await
        .unwrap();
    const N: u64 = 20;
    for i in 0..N {
        within(ch.basic_publish(
            amqprs::BasicProperties::default(),
            format!("m{i}").into_bytes(),
            BasicPublishArguments::new("", "tags"),
        ))
        .await
        .unwrap();
    }
    // Acks (possibly with multiple=true covering a batch) must cover 1..=N
    // exactly once, in increasing order.
    let mut confirmed = 0u64;
    while confirmed < N {
        match within(rx.recv()).await.expect("callback alive") {
            Seen::Ack(tag, multiple) => {
                assert!(tag > confirmed, "tag {tag} after {confirmed}");
                assert!(
                    multiple || tag == confirmed + 1,
                    "single ack {tag} skips tags after {confirmed}"
                );
                confirmed = tag;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(confirmed, N);
    within(ch.close()).await.unwrap();
    within(conn.close()).await.unwrap();
}

#[tokio::test]
async fn mandatory_unroutable_is_returned_before_its_ack() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = confirm_channel(&conn).await;
    // lapin attaches a basic.return to the confirm only if it arrives first.
    let confirmation = publish_confirmed(&ch, "", "no-such-queue", true, b"lost").await;
    let Confirmation::Ack(Some(returned)) = confirmation else {
        panic!("expected an ack carrying the returned message, got {confirmation:?}");
    };
    assert_eq!(returned.reply_code, 312);
    assert_eq!(returned.reply_text.as_str(), "NO_ROUTE");
    assert_eq!(returned.delivery.data, b"lost");
    assert_eq!(returned.delivery.routing_key.as_str(), "no-such-queue");
    // A routable mandatory message is not returned.
    declare_queue(&ch, "here").await;
    assert_eq!(
        publish_confirmed(&ch, "", "here", true, b"kept").await,
        Confirmation::Ack(None)
    );
}

#[tokio::test]
async fn mandatory_to_exchange_without_bindings_is_returned_in_order_with_amqprs() {
    use amqprs::channel::{
        BasicPublishArguments, ConfirmSelectArguments, ExchangeDeclareArguments,
    };
    let broker = TestBroker::start().await;
    let conn = broker.amqprs().await;
    let ch = within(conn.open_channel(None)).await.unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    within(ch.register_callback(Recorder(tx))).await.unwrap();
    within(ch.exchange_declare(ExchangeDeclareArguments::new("lonely", "direct")))
        .await
        .unwrap();
    within(ch.confirm_select(ConfirmSelectArguments::default()))
        .await
        .unwrap();
    within(
        ch.basic_publish(
            amqprs::BasicProperties::default(),
            b"x".to_vec(),
            BasicPublishArguments::new("lonely", "k")
                .mandatory(true)
                .finish(),
        ),
    )
    .await
    .unwrap();
    match within(rx.recv()).await.unwrap() {
        Seen::Return(code, text) => assert_eq!((code, text.as_str()), (312, "NO_ROUTE")),
        other => panic!("expected the return first, got {other:?}"),
    }
    match within(rx.recv()).await.unwrap() {
        Seen::Ack(1, _) => {}
        other => panic!("expected the ack of tag 1, got {other:?}"),
    }
    within(ch.close()).await.unwrap();
    within(conn.close()).await.unwrap();
}

#[tokio::test]
async fn publish_to_missing_exchange_closes_the_channel() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = channel(&conn).await;
    let mut watcher = watch_channel(&ch).await;
    publish(&ch, "no-such-exchange", "k", b"x").await;
    let err = closed_with(&mut watcher).await;
    assert_reply(
        &err,
        404,
        "NOT_FOUND - no exchange 'no-such-exchange' in vhost '/'",
    );
    assert!(conn.status().connected());
}

#[tokio::test]
async fn tx_commit_makes_publishes_visible() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let observer = channel(&conn).await;
    declare_queue(&observer, "txq").await;
    let ch = channel(&conn).await;
    within(ch.tx_select()).await.unwrap();
    publish(&ch, "", "txq", b"1").await;
    publish(&ch, "", "txq", b"2").await;
    // Frames of one connection are handled in order: the publishes were seen.
    assert_eq!(message_count(&observer, "txq").await, 0);
    within(ch.tx_commit()).await.unwrap();
    assert_eq!(message_count(&observer, "txq").await, 2);
    // The channel stays transactional after a commit.
    publish(&ch, "", "txq", b"3").await;
    assert_eq!(message_count(&observer, "txq").await, 2);
    within(ch.tx_commit()).await.unwrap();
    assert_eq!(drain(&observer, "txq").await, ["1", "2", "3"]);
}

#[tokio::test]
async fn tx_commit_applies_acks() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = channel(&conn).await;
    declare_queue(&ch, "txa").await;
    publish(&ch, "", "txa", b"old").await;
    within(ch.tx_select()).await.unwrap();
    let m = get(&ch, "txa").await.unwrap();
    within(ch.basic_ack(m.delivery.delivery_tag, BasicAckOptions::default()))
        .await
        .unwrap();
    // Any synchronous method on the channel proves the ack was processed.
    within(ch.basic_qos(0, BasicQosOptions::default()))
        .await
        .unwrap();
    assert_eq!(queue(&broker, "txa").unacked(), 1);
    within(ch.tx_commit()).await.unwrap();
    assert_eq!(queue(&broker, "txa").unacked(), 0);
    within(ch.close(200, "bye".into())).await.unwrap();
    let ch = channel(&conn).await;
    assert_eq!(message_count(&ch, "txa").await, 0);
}

#[tokio::test]
async fn tx_rollback_discards_publishes_and_acks() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let observer = channel(&conn).await;
    declare_queue(&observer, "txr").await;
    publish(&observer, "", "txr", b"old").await;
    let ch = channel(&conn).await;
    within(ch.tx_select()).await.unwrap();
    let m = get(&ch, "txr").await.unwrap();
    publish(&ch, "", "txr", b"new").await;
    within(ch.basic_ack(m.delivery.delivery_tag, BasicAckOptions::default()))
        .await
        .unwrap();
    within(ch.tx_rollback()).await.unwrap();
    // "new" was discarded; "old" is still delivered and unacked.
    assert_eq!(message_count(&observer, "txr").await, 0);
    assert_eq!(queue(&broker, "txr").unacked(), 1);
    // A commit now has nothing to apply.
    within(ch.tx_commit()).await.unwrap();
    assert_eq!(message_count(&observer, "txr").await, 0);
    assert_eq!(queue(&broker, "txr").unacked(), 1);
    // The un-acked message comes back when the channel closes.
    within(ch.close(200, "bye".into())).await.unwrap();
    eventually(|| queue(&broker, "txr").unacked() == 0).await;
    assert_eq!(drain(&observer, "txr").await, ["old"]);
}

#[tokio::test]
async fn tx_ack_can_be_repeated_after_rollback() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = channel(&conn).await;
    declare_queue(&ch, "txr").await;
    publish(&ch, "", "txr", b"m").await;
    within(ch.tx_select()).await.unwrap();
    let m = get(&ch, "txr").await.unwrap();
    let tag = m.delivery.delivery_tag;
    within(ch.basic_ack(tag, BasicAckOptions::default()))
        .await
        .unwrap();
    within(ch.tx_rollback()).await.unwrap();
    // After the rollback the tag is unacked again, so acking it is valid.
    within(ch.basic_ack(tag, BasicAckOptions::default()))
        .await
        .unwrap();
    within(ch.tx_commit()).await.unwrap();
    assert_eq!(queue(&broker, "txr").unacked(), 0);
}

/// RabbitMQ validates a delivery tag when the ack arrives, also inside a
/// transaction (rabbit_channel collects the acked messages immediately and
/// only defers settling them to the commit).
#[tokio::test]
async fn tx_ack_of_unknown_tag_fails_at_once() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = channel(&conn).await;
    within(ch.tx_select()).await.unwrap();
    let mut watcher = watch_channel(&ch).await;
    within(ch.basic_ack(42, BasicAckOptions::default()))
        .await
        .unwrap();
    let err = closed_with(&mut watcher).await;
    assert_reply(&err, 406, "PRECONDITION_FAILED - unknown delivery tag 42");
}

#[tokio::test]
async fn tx_double_ack_fails_at_once() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = channel(&conn).await;
    declare_queue(&ch, "txd").await;
    publish(&ch, "", "txd", b"m").await;
    within(ch.tx_select()).await.unwrap();
    let mut watcher = watch_channel(&ch).await;
    let m = get(&ch, "txd").await.unwrap();
    let tag = m.delivery.delivery_tag;
    for _ in 0..2 {
        within(ch.basic_ack(tag, BasicAckOptions::default()))
            .await
            .unwrap();
    }
    let err = closed_with(&mut watcher).await;
    assert_reply(&err, 406, &format!("unknown delivery tag {tag}"));
    // The uncommitted ack is void: the message is back in the queue.
    let ch = channel(&conn).await;
    assert_eq!(drain(&ch, "txd").await, ["m"]);
}

#[tokio::test]
async fn closing_a_tx_channel_requeues_uncommitted_acks() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let observer = channel(&conn).await;
    declare_queue(&observer, "txc").await;
    publish(&observer, "", "txc", b"a").await;
    publish(&observer, "", "txc", b"b").await;
    let ch = channel(&conn).await;
    within(ch.tx_select()).await.unwrap();
    let a = get(&ch, "txc").await.unwrap();
    let b = get(&ch, "txc").await.unwrap();
    within(ch.basic_ack(b.delivery.delivery_tag, BasicAckOptions::default()))
        .await
        .unwrap();
    within(ch.basic_reject(
        a.delivery.delivery_tag,
        BasicRejectOptions { requeue: false },
    ))
    .await
    .unwrap();
    within(ch.close(200, "bye".into())).await.unwrap();
    eventually(|| queue(&broker, "txc").message_count() == 2).await;
    assert_eq!(drain(&observer, "txc").await, ["a", "b"]);
}

#[tokio::test]
async fn tx_commit_on_non_transactional_channel_fails() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = channel(&conn).await;
    let err = expect_amqp_err(ch.tx_commit()).await;
    assert_reply(
        &err,
        406,
        "PRECONDITION_FAILED - channel is not transactional",
    );
    assert!(conn.status().connected());
}

#[tokio::test]
async fn tx_rollback_on_non_transactional_channel_fails() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = channel(&conn).await;
    let err = expect_amqp_err(ch.tx_rollback()).await;
    assert_reply(
        &err,
        406,
        "PRECONDITION_FAILED - channel is not transactional",
    );
}

#[tokio::test]
async fn confirm_select_after_tx_select_fails() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = channel(&conn).await;
    within(ch.tx_select()).await.unwrap();
    let err = expect_amqp_err(ch.confirm_select(ConfirmSelectOptions::default())).await;
    assert_reply(&err, 406, "PRECONDITION_FAILED");
    assert_reply(&err, 406, "cannot switch from tx to confirm mode");
}

#[tokio::test]
async fn tx_select_after_confirm_select_fails() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = confirm_channel(&conn).await;
    let err = expect_amqp_err(ch.tx_select()).await;
    assert_reply(&err, 406, "PRECONDITION_FAILED");
    assert_reply(&err, 406, "cannot switch from confirm to tx mode");
}

#[tokio::test]
async fn tx_mandatory_unroutable_is_returned_at_commit() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = channel(&conn).await;
    within(ch.tx_select()).await.unwrap();
    within(ch.basic_publish(
        "".into(),
        "nowhere".into(),
        BasicPublishOptions {
            mandatory: true,
            ..Default::default()
        },
        b"r",
        BasicProperties::default(),
    ))
    .await
    .unwrap();
    within(ch.tx_commit()).await.unwrap();
    // lapin collects returns outside confirm mode for wait_for_confirms.
    let returned = within(ch.wait_for_confirms()).await.unwrap();
    assert_eq!(returned.len(), 1, "{returned:?}");
    assert_eq!(returned[0].reply_code, 312);
    assert_eq!(returned[0].delivery.data, b"r");
}
