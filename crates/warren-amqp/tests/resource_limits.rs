//! Limits with RabbitMQ's names and errors: connection_max (node), vhost
//! max-connections and max-queues, consumer_max_per_channel, and the nesting
//! depth of field tables on input.

mod common;
mod raw;
mod support;

use common::{eventually, within, TestBroker};
use lapin::options::*;
use raw::RawClient;
use support::*;
use warren_core::BrokerConfig;

async fn try_lapin(broker: &TestBroker) -> lapin::Result<lapin::Connection> {
    within(lapin::Connection::connect(
        &broker.uri(),
        lapin::ConnectionProperties::default(),
    ))
    .await
}

#[tokio::test]
async fn connection_max_refuses_sockets_beyond_the_limit() {
    let broker = TestBroker::start_with(BrokerConfig {
        connection_max: Some(2),
        ..Default::default()
    })
    .await;
    let a = broker.lapin().await;
    let _b = broker.lapin().await;
    assert!(
        try_lapin(&broker).await.is_err(),
        "a third connection was accepted"
    );
    within(a.close(200, "bye".into())).await.unwrap();
    eventually(|| broker.broker.registry.connections().len() == 1).await;
    // The accept loop reaps the finished connection task before the next accept.
    let mut third = None;
    for _ in 0..50 {
        if let Ok(c) = try_lapin(&broker).await {
            third = Some(c);
            break;
        }
    }
    assert!(third.is_some(), "no connection accepted after one closed");
}

#[tokio::test]
async fn vhost_max_connections_is_530_at_connection_open() {
    let broker = TestBroker::start().await;
    vhost(&broker).limits.set("max-connections", 1).unwrap();
    let _first = broker.lapin().await;
    let err = try_lapin(&broker)
        .await
        .expect_err("second connection refused");
    let (code, text) = amqp_error(&err);
    assert_eq!(code, 530);
    assert_eq!(
        text,
        "NOT_ALLOWED - access to vhost '/' refused for user 'guest': connection limit (1) is reached"
    );
}

#[tokio::test]
async fn vhost_max_queues_is_406_on_the_next_new_queue() {
    let broker = TestBroker::start().await;
    vhost(&broker).limits.set("max-queues", 2).unwrap();
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    declare_queue(&ch, "q1").await;
    declare_queue(&ch, "q2").await;
    declare_queue(&ch, "q1").await; // redeclaring an existing queue is fine
    let got = expect_amqp_err(ch.queue_declare(
        "q3".into(),
        QueueDeclareOptions::default(),
        Default::default(),
    ))
    .await;
    assert_eq!(
        got,
        (
            406,
            "PRECONDITION_FAILED - cannot declare queue 'q3': queue limit in vhost '/' (2) is reached"
                .to_string()
        )
    );
}

#[tokio::test]
async fn consumer_max_per_channel_is_530() {
    let broker = TestBroker::start_with(BrokerConfig {
        consumer_max_per_channel: Some(2),
        ..Default::default()
    })
    .await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    declare_queue(&ch, "q").await;
    let consume = |tag: &'static str| {
        ch.basic_consume(
            "q".into(),
            tag.into(),
            BasicConsumeOptions::default(),
            Default::default(),
        )
    };
    // Kept alive: lapin cancels a consumer when it is dropped.
    let _a = within(consume("a")).await.unwrap();
    let _b = within(consume("b")).await.unwrap();
    let got = expect_amqp_err(consume("c")).await;
    assert_eq!(
        got,
        (
            530,
            "NOT_ALLOWED - reached maximum (2) of consumers per channel".to_string()
        )
    );
}

/// A field table nesting `depth` tables.
fn nested_table(depth: usize) -> Vec<u8> {
    let mut inner: Vec<u8> = 0u32.to_be_bytes().to_vec();
    for _ in 1..depth {
        let mut t = ((inner.len() + 3) as u32).to_be_bytes().to_vec();
        t.extend_from_slice(&[1, b'a', b'F']);
        t.extend_from_slice(&inner);
        inner = t;
    }
    inner
}

#[tokio::test]
async fn deeply_nested_arguments_are_a_syntax_error_not_a_crash() {
    let broker = TestBroker::start().await;
    let mut client = RawClient::open(&broker).await;
    client.open_channel(1).await;
    let mut args = vec![0, 0, 1, b'q', 0];
    args.extend_from_slice(&nested_table(15_000));
    client.send(&raw::raw_method(1, 50, 10, &args)).await;
    let close = client.expect_connection_close().await;
    assert_eq!(close.code, 502, "{close:?}");
    assert!(close.text.contains("nested deeper than 64"), "{close:?}");
    // The broker is still serving.
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    declare_queue(&ch, "fine").await;
}

/// Found by reviewing the depth guard for the fuzz work: connection.start is
/// the server's method, but one sent by a client was parsed (recursively, with
/// no depth guard) before anyone checked who sent it, and a deep enough
/// server_properties table overflowed the stack and aborted the broker.
#[tokio::test]
async fn a_client_sent_connection_start_with_deep_nesting_is_not_a_crash() {
    let broker = TestBroker::start().await;
    let mut client = RawClient::open(&broker).await;
    let mut args = vec![0, 9];
    args.extend_from_slice(&nested_table(18_000));
    args.extend_from_slice(&[0; 8]); // mechanisms, locales
    client.send(&raw::raw_method(0, 10, 10, &args)).await;
    let close = client.expect_connection_close().await;
    assert_eq!(close.code, 502, "{close:?}");
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    declare_queue(&ch, "fine").await;
}

#[tokio::test]
async fn deeply_nested_headers_are_a_syntax_error_not_a_crash() {
    let broker = TestBroker::start().await;
    let mut client = RawClient::open(&broker).await;
    client.open_channel(1).await;
    client.send(&raw::publish(1, "", "q", false)).await;
    // Content header: class 60, weight 0, body size 0, flags = headers only.
    let mut payload = vec![0, 60, 0, 0];
    payload.extend_from_slice(&0u64.to_be_bytes());
    payload.extend_from_slice(&(1u16 << 13).to_be_bytes());
    payload.extend_from_slice(&nested_table(10_000));
    client.send(&raw::frame(2, 1, &payload)).await;
    let close = client.expect_connection_close().await;
    assert_eq!(close.code, 502, "{close:?}");
}

#[tokio::test]
async fn simultaneous_connection_opens_never_pass_max_connections() {
    let broker = TestBroker::start().await;
    broker
        .broker
        .set_vhost_limit("/", "max-connections", 5)
        .unwrap();
    let mut attempts = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let uri = broker.uri();
        attempts.spawn(async move {
            lapin::Connection::connect(&uri, lapin::ConnectionProperties::default()).await
        });
    }
    let mut open = Vec::new();
    let mut refused = 0;
    while let Some(result) = within(attempts.join_next()).await {
        match result.expect("connect task") {
            Ok(conn) => open.push(conn),
            Err(e) => {
                assert_eq!(amqp_error(&e).0, 530);
                refused += 1;
            }
        }
    }
    assert_eq!((open.len(), refused), (5, 15));
    assert_eq!(vhost(&broker).limits.open_connections(), 5);
    // A closed connection gives its place back.
    let first = open.pop().expect("an open connection");
    within(first.close(200, "bye".into())).await.unwrap();
    eventually(|| vhost(&broker).limits.open_connections() == 4).await;
    let _again = broker.lapin().await;
    assert!(try_lapin(&broker).await.is_err(), "a sixth was accepted");
}

#[tokio::test]
async fn vhost_limits_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start_in(dir.path()).await;
    broker.broker.add_vhost("limited");
    let limits = serde_json::json!({"max-connections": 1, "max-queues": 7});
    broker.broker.set_vhost_limits("limited", &limits).unwrap();
    broker.broker.set_vhost_limit("/", "max-queues", 3).unwrap();
    broker.shutdown().await;

    let broker = TestBroker::start_in(dir.path()).await;
    let listed = broker.broker.vhost_limits(None);
    assert_eq!(
        listed,
        vec![
            (
                "/".to_string(),
                serde_json::json!({"max-queues": 3})
                    .as_object()
                    .cloned()
                    .unwrap()
            ),
            ("limited".to_string(), limits.as_object().cloned().unwrap()),
        ]
    );
    // Enforced, not just listed.
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    for name in ["q1", "q2", "q3"] {
        declare_queue(&ch, name).await;
    }
    let got = expect_amqp_err(ch.queue_declare(
        "q4".into(),
        QueueDeclareOptions::default(),
        Default::default(),
    ))
    .await;
    assert_eq!(got.0, 406);
    broker.broker.clear_vhost_limit("/", "max-queues").unwrap();
    broker.shutdown().await;
    let broker = TestBroker::start_in(dir.path()).await;
    assert_eq!(broker.broker.vhost_limits(Some("/")), vec![]);
    assert_eq!(broker.broker.vhost_limits(None).len(), 1);
}
