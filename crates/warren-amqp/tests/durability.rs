//! Durability across a clean restart: durable definitions and persistent
//! messages come back, transient ones do not, unacked messages come back
//! flagged redelivered, acked ones never; a drained backlog frees its disk.

mod common;
mod raw;

use common::{within, TestBroker};
use futures_lite::StreamExt;
use lapin::options::*;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, ExchangeKind};

fn persistent() -> BasicProperties {
    BasicProperties::default().with_delivery_mode(2)
}

async fn publish_confirmed(
    ch: &Channel,
    exchange: &str,
    key: &str,
    body: &[u8],
    props: BasicProperties,
) {
    let confirm = ch
        .basic_publish(
            exchange.into(),
            key.into(),
            BasicPublishOptions::default(),
            body,
            props,
        )
        .await
        .unwrap()
        .await
        .unwrap();
    assert!(confirm.is_ack(), "publish confirmed");
}

async fn declare(ch: &Channel, name: &str, durable: bool) {
    let opts = QueueDeclareOptions {
        durable,
        ..Default::default()
    };
    ch.queue_declare(name.into(), opts, FieldTable::default())
        .await
        .unwrap();
}

async fn get_body(ch: &Channel, queue: &str) -> Option<(Vec<u8>, bool)> {
    let msg = ch
        .basic_get(queue.into(), BasicGetOptions { no_ack: true })
        .await
        .unwrap()?;
    Some((msg.delivery.data.clone(), msg.delivery.redelivered))
}

#[tokio::test]
async fn durable_definitions_and_persistent_messages_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start_in(dir.path()).await;
    let conn = broker.lapin().await;
    let ch = conn.create_channel().await.unwrap();
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let durable_x = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    ch.exchange_declare(
        "chat".into(),
        ExchangeKind::Fanout,
        durable_x,
        FieldTable::default(),
    )
    .await
    .unwrap();
    ch.exchange_declare(
        "transient-x".into(),
        ExchangeKind::Fanout,
        ExchangeDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    let mut args = FieldTable::default();
    args.insert("x-max-length".into(), AMQPValue::LongInt(1000));
    ch.queue_declare(
        "history".into(),
        QueueDeclareOptions {
            durable: true,
            ..Default::default()
        },
        args.clone(),
    )
    .await
    .unwrap();
    declare(&ch, "scratch", false).await;
    ch.queue_bind(
        "history".into(),
        "chat".into(),
        "".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    for i in 0..5u8 {
        publish_confirmed(&ch, "chat", "", &[b'm', b'0' + i], persistent()).await;
    }
    publish_confirmed(&ch, "chat", "", b"transient", BasicProperties::default()).await;
    publish_confirmed(&ch, "", "scratch", b"gone", persistent()).await;
    // m0 acked, m1 delivered but left unacked when the broker stops.
    let m0 = ch
        .basic_get("history".into(), BasicGetOptions::default())
        .await
        .unwrap()
        .unwrap();
    m0.delivery.ack(BasicAckOptions::default()).await.unwrap();
    let m1 = ch
        .basic_get("history".into(), BasicGetOptions::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m1.delivery.data, b"m1");
    broker.shutdown().await;

    let broker = TestBroker::start_in(dir.path()).await;
    let conn = broker.lapin().await;
    let ch = conn.create_channel().await.unwrap();
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let err = ch
        .queue_declare("scratch".into(), passive, FieldTable::default())
        .await;
    assert!(err.is_err(), "the transient queue is gone");
    let ch = conn.create_channel().await.unwrap();
    let q = ch
        .queue_declare(
            "history".into(),
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            args,
        )
        .await
        .expect("durable queue back with the same arguments");
    assert_eq!(
        q.message_count(),
        4,
        "m1..m4 are back; m0 (acked) and the transient message are not"
    );
    assert_eq!(
        get_body(&ch, "history").await,
        Some((b"m1".to_vec(), true)),
        "unacked comes back redelivered"
    );
    for i in 2..5u8 {
        assert_eq!(
            get_body(&ch, "history").await,
            Some((vec![b'm', b'0' + i], false))
        );
    }
    assert_eq!(get_body(&ch, "history").await, None);
    // The durable exchange and its binding are back; the transient exchange is not.
    ch.basic_publish(
        "chat".into(),
        "".into(),
        BasicPublishOptions::default(),
        b"after",
        BasicProperties::default(),
    )
    .await
    .unwrap();
    within(async {
        loop {
            if let Some((body, _)) = get_body(&ch, "history").await {
                assert_eq!(body, b"after");
                break;
            }
        }
    })
    .await;
    let passive_x = ExchangeDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let err = ch
        .exchange_declare(
            "transient-x".into(),
            ExchangeKind::Fanout,
            passive_x,
            FieldTable::default(),
        )
        .await;
    assert!(err.is_err());
    broker.shutdown().await;
}

#[tokio::test]
async fn history_queue_keeps_messages_while_its_consumer_is_offline() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start_in(dir.path()).await;
    {
        let conn = broker.lapin().await;
        let ch = conn.create_channel().await.unwrap();
        let durable_x = ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        };
        ch.exchange_declare(
            "room".into(),
            ExchangeKind::Fanout,
            durable_x,
            FieldTable::default(),
        )
        .await
        .unwrap();
        declare(&ch, "room-history", true).await;
        ch.queue_bind(
            "room-history".into(),
            "room".into(),
            "".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
        ch.confirm_select(ConfirmSelectOptions::default())
            .await
            .unwrap();
        for i in 0..50u32 {
            publish_confirmed(
                &ch,
                "room",
                "",
                format!("chat {i}").as_bytes(),
                persistent(),
            )
            .await;
        }
    }
    broker.shutdown().await;
    let broker = TestBroker::start_in(dir.path()).await;
    let conn = broker.lapin().await;
    let ch = conn.create_channel().await.unwrap();
    let mut consumer = ch
        .basic_consume(
            "room-history".into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    for i in 0..50u32 {
        let d = within(consumer.next()).await.unwrap().unwrap();
        assert_eq!(d.data, format!("chat {i}").as_bytes());
        d.ack(BasicAckOptions::default()).await.unwrap();
    }
    broker.shutdown().await;
}

fn dir_size(path: &std::path::Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(path).unwrap().flatten() {
        let meta = entry.metadata().unwrap();
        total += if meta.is_dir() {
            dir_size(&entry.path())
        } else {
            meta.len()
        };
    }
    total
}

#[tokio::test]
async fn disk_usage_returns_close_to_zero_after_a_backlog_is_drained() {
    let dir = tempfile::tempdir().unwrap();
    let store = warren_store::StoreConfig {
        segment_size: 1 << 20,
        ..Default::default()
    };
    let broker = TestBroker::start_in_with(dir.path(), store).await;
    let conn = broker.lapin().await;
    let ch = conn.create_channel().await.unwrap();
    declare(&ch, "backlog", true).await;
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let body = vec![7u8; 16 * 1024];
    let mut confirms = Vec::new();
    for _ in 0..1000 {
        let c = ch
            .basic_publish(
                "".into(),
                "backlog".into(),
                BasicPublishOptions::default(),
                &body,
                persistent(),
            )
            .await
            .unwrap();
        confirms.push(c);
    }
    for c in confirms {
        assert!(c.await.unwrap().is_ack());
    }
    let msgs = dir.path().join("vhosts");
    let full = dir_size(&msgs);
    assert!(full > 16_000_000, "16 MB backlog on disk, got {full}");
    let mut consumer = ch
        .basic_consume(
            "backlog".into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    for _ in 0..1000 {
        let d = within(consumer.next()).await.unwrap().unwrap();
        d.ack(BasicAckOptions::default()).await.unwrap();
    }
    // Every segment goes, the last one included; only small index files stay.
    common::eventually(|| dir_size(&msgs) < 64 * 1024).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn a_backlog_beyond_the_memory_budget_is_paged_out_and_read_back_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = warren_store::StoreConfig {
        queue_memory_messages: 100,
        ..Default::default()
    };
    let broker = TestBroker::start_in_with(dir.path(), store.clone()).await;
    let conn = broker.lapin().await;
    let ch = conn.create_channel().await.unwrap();
    declare(&ch, "paged", true).await;
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let mut confirms = Vec::new();
    for i in 0..1000u32 {
        let body = format!("message {i}");
        let c = ch
            .basic_publish(
                "".into(),
                "paged".into(),
                BasicPublishOptions::default(),
                body.as_bytes(),
                persistent(),
            )
            .await
            .unwrap();
        confirms.push(c);
    }
    for c in confirms {
        assert!(c.await.unwrap().is_ack());
    }
    let queue = broker.broker.vhost("/").unwrap().queue("paged").unwrap();
    assert_eq!(queue.message_count(), 1000);
    assert_eq!(
        queue.messages_in_memory(),
        100,
        "only the budget stays in memory"
    );
    // Half are consumed before a restart, half after: both come back in order.
    for i in 0..500u32 {
        let (body, _) = get_body(&ch, "paged").await.expect("message");
        assert_eq!(body, format!("message {i}").as_bytes());
    }
    broker.shutdown().await;
    let broker = TestBroker::start_in_with(dir.path(), store).await;
    let queue = broker.broker.vhost("/").unwrap().queue("paged").unwrap();
    assert_eq!(queue.message_count(), 500);
    assert!(
        queue.messages_in_memory() <= 100,
        "recovery respects the budget too"
    );
    let conn = broker.lapin().await;
    let ch = conn.create_channel().await.unwrap();
    for i in 500..1000u32 {
        let (body, _) = get_body(&ch, "paged").await.expect("message");
        assert_eq!(body, format!("message {i}").as_bytes());
    }
    assert_eq!(get_body(&ch, "paged").await, None);
    broker.shutdown().await;
}

/// Messages paged out past the memory budget and consumed at once, most of
/// them before the store's writer has written their records, come back whole
/// and in order: the queue hands them out from memory rather than waiting for
/// the writer under its lock.
#[tokio::test]
async fn messages_paged_out_and_consumed_at_once_arrive_whole_and_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = warren_store::StoreConfig {
        queue_memory_messages: 10,
        ..Default::default()
    };
    let broker = TestBroker::start_in_with(dir.path(), store).await;
    let conn = broker.lapin().await;
    let ch = conn.create_channel().await.unwrap();
    declare(&ch, "hot", true).await;
    let publish = |i: u32| {
        let ch = ch.clone();
        async move {
            ch.basic_publish(
                "".into(),
                "hot".into(),
                BasicPublishOptions::default(),
                format!("hot {i}").as_bytes(),
                persistent(),
            )
            .await
            .unwrap();
        }
    };
    // basic.get right behind the publishes.
    for i in 0..300u32 {
        publish(i).await;
    }
    for i in 0..300u32 {
        let (body, _) = get_body(&ch, "hot").await.expect("message");
        assert_eq!(body, format!("hot {i}").as_bytes());
    }
    // A consumer with a window of one: every ack pops the next paged message.
    ch.basic_qos(1, BasicQosOptions::default()).await.unwrap();
    let mut consumer = ch
        .basic_consume(
            "hot".into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    for i in 300..1300u32 {
        publish(i).await;
    }
    for i in 300..1300u32 {
        let d = within(consumer.next()).await.unwrap().unwrap();
        assert_eq!(d.data, format!("hot {i}").as_bytes());
        d.ack(BasicAckOptions::default()).await.unwrap();
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn transient_messages_stay_in_memory_while_memory_is_fine_and_do_not_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = warren_store::StoreConfig {
        queue_memory_messages: 50,
        ..Default::default()
    };
    let broker = TestBroker::start_in_with(dir.path(), store.clone()).await;
    let conn = broker.lapin().await;
    let ch = conn.create_channel().await.unwrap();
    declare(&ch, "mixed", true).await;
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    for i in 0..300u32 {
        let props = if i % 2 == 0 {
            persistent()
        } else {
            BasicProperties::default()
        };
        publish_confirmed(&ch, "", "mixed", format!("m{i}").as_bytes(), props).await;
    }
    let queue = broker.broker.vhost("/").unwrap().queue("mixed").unwrap();
    // Past the budget persistent messages are paged out; transient ones are
    // written out only when memory runs high, which it does not here.
    assert_eq!(queue.messages_in_memory(), 50 + 125);
    drop(queue);
    broker.shutdown().await;
    let broker = TestBroker::start_in_with(dir.path(), store).await;
    let conn = broker.lapin().await;
    let ch = conn.create_channel().await.unwrap();
    for i in (0..300u32).step_by(2) {
        let (body, _) = get_body(&ch, "mixed").await.expect("persistent message");
        assert_eq!(
            body,
            format!("m{i}").as_bytes(),
            "only persistent messages come back"
        );
    }
    assert_eq!(get_body(&ch, "mixed").await, None);
    broker.shutdown().await;
}

/// tx.commit-ok for persistent messages is held back until they are on disk
/// (the crash test in crates/warren shows it survives SIGKILL); input that
/// arrived behind the commit is processed once commit-ok has gone out, with
/// every reply in order.
#[tokio::test]
async fn input_behind_a_waiting_tx_commit_is_answered_in_order() {
    use warren_codec::spec::{queue, tx};
    use warren_codec::AMQPClass;

    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start_in(dir.path()).await;
    let conn = broker.lapin().await;
    let ch = conn.create_channel().await.unwrap();
    ch.queue_declare(
        "tx-durable".into(),
        QueueDeclareOptions {
            durable: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .unwrap();

    let mut client = raw::RawClient::open(&broker).await;
    client.open_channel(1).await;
    client
        .send_method(1, AMQPClass::Tx(tx::AMQPMethod::Select(tx::Select {})))
        .await;
    let (_, reply) = client.method().await;
    assert!(matches!(reply, AMQPClass::Tx(tx::AMQPMethod::SelectOk(_))));
    // One write: a persistent publish, tx.commit, and a passive declare behind it.
    let mut bytes = raw::publish(1, "", "tx-durable", false);
    let mut header = vec![0, 60, 0, 0];
    header.extend_from_slice(&4u64.to_be_bytes());
    header.extend_from_slice(&[0x10, 0x00, 2]); // delivery-mode = 2
    bytes.extend(raw::frame(2, 1, &header));
    bytes.extend(raw::body(1, b"kept"));
    bytes.extend(raw::method_frame(
        1,
        &AMQPClass::Tx(tx::AMQPMethod::Commit(tx::Commit {})),
    ));
    bytes.extend(raw::queue_declare(1, "tx-durable", true));
    client.send(&bytes).await;
    let (_, first) = client.method().await;
    assert!(
        matches!(first, AMQPClass::Tx(tx::AMQPMethod::CommitOk(_))),
        "expected tx.commit-ok first, got {first:?}"
    );
    let (_, second) = client.method().await;
    match second {
        AMQPClass::Queue(queue::AMQPMethod::DeclareOk(ok)) => assert_eq!(ok.message_count, 1),
        other => panic!("expected queue.declare-ok, got {other:?}"),
    }
    broker.shutdown().await;

    let broker = TestBroker::start_in(dir.path()).await;
    let conn = broker.lapin().await;
    let ch = conn.create_channel().await.unwrap();
    let got = ch
        .basic_get("tx-durable".into(), BasicGetOptions { no_ack: true })
        .await
        .unwrap()
        .expect("the committed message survived the restart");
    assert_eq!(got.delivery.data, b"kept");
}

#[tokio::test]
async fn a_dead_lettered_persistent_message_keeps_its_x_death_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start_in(dir.path()).await;
    let conn = broker.lapin().await;
    let ch = conn.create_channel().await.unwrap();
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let mut args = FieldTable::default();
    args.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString("".into()),
    );
    args.insert(
        "x-dead-letter-routing-key".into(),
        AMQPValue::LongString("dead".into()),
    );
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    ch.queue_declare("work".into(), durable, args)
        .await
        .unwrap();
    declare(&ch, "dead", true).await;
    let mut headers = FieldTable::default();
    headers.insert("app".into(), AMQPValue::LongString("kept".into()));
    let props = persistent()
        .with_expiration("60000".into())
        .with_headers(headers);
    publish_confirmed(&ch, "", "work", b"doomed", props).await;
    let m = ch
        .basic_get("work".into(), BasicGetOptions::default())
        .await
        .unwrap()
        .unwrap();
    m.delivery
        .reject(BasicRejectOptions { requeue: false })
        .await
        .unwrap();
    let before = within(async {
        loop {
            let got = ch
                .basic_get("dead".into(), BasicGetOptions::default())
                .await
                .unwrap();
            if let Some(got) = got {
                got.delivery
                    .nack(BasicNackOptions {
                        requeue: true,
                        ..Default::default()
                    })
                    .await
                    .unwrap();
                break got.delivery.properties.clone();
            }
        }
    })
    .await;
    let h = before.headers().clone().expect("headers");
    assert!(h.inner().contains_key("x-death"), "{h:?}");
    assert_eq!(
        h.inner().get("x-first-death-reason"),
        Some(&AMQPValue::LongString("rejected".into()))
    );
    assert_eq!(before.expiration(), &None);
    broker.shutdown().await;

    let broker = TestBroker::start_in(dir.path()).await;
    let conn = broker.lapin().await;
    let ch = conn.create_channel().await.unwrap();
    let after = ch
        .basic_get("dead".into(), BasicGetOptions { no_ack: true })
        .await
        .unwrap()
        .expect("the dead letter is back");
    assert_eq!(after.delivery.data, b"doomed");
    assert_eq!(
        after.delivery.properties, before,
        "same x-death and properties"
    );
    broker.shutdown().await;
}
