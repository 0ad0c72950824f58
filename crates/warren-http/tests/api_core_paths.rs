//! The management API publishes and gets through the same core paths as an
//! AMQP channel (RabbitMQ's API uses a direct channel): a persistent message
//! published over HTTP is stored, an internal exchange is refused, a get
//! with `reject_requeue_false` dead-letters, and the queue reports the bytes
//! of its unacknowledged messages.

mod common;

use common::{eventually, within, TestApi};
use futures_lite::StreamExt;
use lapin::options::*;
use lapin::types::FieldTable;
use serde_json::json;

async fn publish(api: &TestApi, exchange: &str, key: &str, mode: u8, payload: &str) -> u16 {
    api.guest(
        "POST",
        &format!("/api/exchanges/%2F/{exchange}/publish"),
        Some(json!({
            "routing_key": key,
            "payload": payload,
            "payload_encoding": "string",
            "properties": {"delivery_mode": mode},
        })),
    )
    .await
    .status
}

#[tokio::test]
async fn http_publish_stores_persistent_messages_and_refuses_internal_exchanges() {
    let dir = tempfile::tempdir().unwrap();
    let api = TestApi::start_durable(dir.path()).await;
    let made = api
        .guest("PUT", "/api/queues/%2F/dq", Some(json!({"durable": true})))
        .await;
    assert_eq!(made.status, 201);
    assert_eq!(publish(&api, "amq.default", "dq", 2, "kept").await, 200);
    assert_eq!(publish(&api, "amq.default", "dq", 1, "not kept").await, 200);
    let q = api.get("/api/queues/%2F/dq").await;
    assert_eq!(
        (q["messages"].as_u64(), q["messages_persistent"].as_u64()),
        (Some(2), Some(1)),
        "{q}"
    );
    let internal = api
        .guest(
            "PUT",
            "/api/exchanges/%2F/hidden",
            Some(json!({"type": "fanout", "internal": true})),
        )
        .await;
    assert_eq!(internal.status, 201);
    // RabbitMQ's rabbit_mgmt_util:with_channel turns the channel's 403
    // ACCESS_REFUSED into 401 not_authorised.
    assert_eq!(publish(&api, "hidden", "", 1, "x").await, 401);
}

#[tokio::test]
async fn http_get_reject_requeue_false_dead_letters() {
    let api = TestApi::start().await;
    for (path, body) in [
        ("/api/exchanges/%2F/dlx", json!({"type": "fanout"})),
        ("/api/queues/%2F/dead", json!({})),
        (
            "/api/queues/%2F/src",
            json!({"arguments": {"x-dead-letter-exchange": "dlx"}}),
        ),
    ] {
        assert_eq!(api.guest("PUT", path, Some(body)).await.status, 201);
    }
    let bound = api
        .guest("POST", "/api/bindings/%2F/e/dlx/q/dead", Some(json!({})))
        .await;
    assert_eq!(bound.status, 201);
    publish(&api, "amq.default", "src", 1, "doomed").await;
    let got = api
        .guest(
            "POST",
            "/api/queues/%2F/src/get",
            Some(json!({"count": 1, "ackmode": "reject_requeue_false", "encoding": "auto"})),
        )
        .await;
    assert_eq!(got.json[0]["payload"], "doomed");
    let dead = api
        .guest(
            "POST",
            "/api/queues/%2F/dead/get",
            Some(json!({"count": 1, "ackmode": "ack_requeue_false", "encoding": "auto"})),
        )
        .await;
    assert_eq!(dead.json[0]["payload"], "doomed", "{}", dead.json);
    assert_eq!(
        dead.json[0]["properties"]["headers"]["x-death"][0]["reason"],
        "rejected"
    );
}

#[tokio::test]
async fn unacknowledged_bytes_are_reported() {
    let api = TestApi::start().await;
    assert_eq!(
        api.guest("PUT", "/api/queues/%2F/held", Some(json!({})))
            .await
            .status,
        201
    );
    publish(&api, "amq.default", "held", 1, "12345").await;
    publish(&api, "amq.default", "held", 1, "123").await;
    let conn = api.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    within(ch.basic_qos(1, BasicQosOptions::default()))
        .await
        .unwrap();
    let mut consumer = within(ch.basic_consume(
        "held".into(),
        "c".into(),
        BasicConsumeOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    let first = within(consumer.next()).await.unwrap().unwrap();
    let q = eventually("one unacked message", || async {
        let q = api.get("/api/queues/%2F/held").await;
        (q["messages_unacknowledged"] == 1).then_some(q)
    })
    .await;
    assert_eq!(q["message_bytes_unacknowledged"], 5, "{q}");
    assert_eq!(q["message_bytes_ready"], 3);
    assert_eq!(q["message_bytes"], 8);
    within(first.acker.ack(BasicAckOptions::default()))
        .await
        .unwrap();
    let q = eventually("the second delivered", || async {
        let q = api.get("/api/queues/%2F/held").await;
        (q["messages_ready"] == 0 && q["messages_unacknowledged"] == 1).then_some(q)
    })
    .await;
    assert_eq!(q["message_bytes_unacknowledged"], 3, "{q}");
}
