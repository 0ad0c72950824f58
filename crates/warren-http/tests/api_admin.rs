//! Administration through the HTTP API: vhosts, users (with RabbitMQ password
//! hashes), permissions, topic permissions, policies, definitions (round trip
//! of a RabbitMQ 3.10.8 export) and Prometheus metrics.

mod common;

use common::{within, TestApi};
use serde_json::{json, Value};

/// Exported by `rabbitmqctl export_definitions` from RabbitMQ 3.10.8 after
/// `add_user alice test12`, a vhost "dev", permissions, topic permissions, a
/// policy, a queue with x-max-length, a topic exchange and a binding.
const RABBITMQ_EXPORT: &str = include_str!("fixtures/rabbitmq-3.10.8-definitions.json");

#[tokio::test]
async fn vhosts_users_and_permissions() {
    let api = TestApi::start().await;
    assert_eq!(
        api.guest("PUT", "/api/vhosts/dev", Some(json!({"description": "d"})))
            .await
            .status,
        201
    );
    assert_eq!(api.guest("PUT", "/api/vhosts/dev", None).await.status, 204);
    let v = api.get("/api/vhosts/dev").await;
    assert_eq!(v["name"], "dev");
    assert!(v.get("messages").is_some() && v.get("tracing").is_some());
    let put = api
        .guest(
            "PUT",
            "/api/users/bob",
            Some(json!({"password": "pw", "tags": "management,policymaker"})),
        )
        .await;
    assert_eq!(put.status, 201);
    let u = api.get("/api/users/bob").await;
    assert_eq!(u["tags"], json!(["management", "policymaker"]));
    assert_eq!(u["hashing_algorithm"], "rabbit_password_hashing_sha256");
    assert_eq!(
        api.guest("PUT", "/api/users/nopass", Some(json!({"tags": ""})))
            .await
            .status,
        400
    );
    let perm = json!({"configure": "^bob", "write": ".*", "read": ".*"});
    assert_eq!(
        api.guest("PUT", "/api/permissions/dev/bob", Some(perm.clone()))
            .await
            .status,
        201
    );
    assert_eq!(
        api.guest("PUT", "/api/permissions/dev/bob", Some(perm))
            .await
            .status,
        204
    );
    let missing = api
        .guest(
            "PUT",
            "/api/permissions/nope/bob",
            Some(json!({"configure": "", "write": "", "read": ""})),
        )
        .await;
    assert_eq!(missing.status, 400);
    let bad_re = api
        .guest(
            "PUT",
            "/api/permissions/dev/bob",
            Some(json!({"configure": "(", "write": "", "read": ""})),
        )
        .await;
    assert_eq!(bad_re.status, 400);
    assert_eq!(
        api.get("/api/permissions/dev/bob").await["configure"],
        "^bob"
    );
    let in_dev = api.get("/api/vhosts/dev/permissions").await;
    assert!(in_dev
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["user"] == "bob"));
    assert_eq!(
        api.get("/api/users/bob/permissions").await[0]["vhost"],
        "dev"
    );
    let topic = json!({"exchange": "amq.topic", "write": "^bob\\.", "read": ".*"});
    assert_eq!(
        api.guest("PUT", "/api/topic-permissions/dev/bob", Some(topic))
            .await
            .status,
        201
    );
    let t = api.get("/api/topic-permissions").await;
    assert_eq!(
        t[0],
        json!({"user": "bob", "vhost": "dev", "exchange": "amq.topic", "write": "^bob\\.", "read": ".*"})
    );
    assert_eq!(
        api.guest("DELETE", "/api/topic-permissions/dev/bob", None)
            .await
            .status,
        204
    );
    assert_eq!(
        api.guest("DELETE", "/api/permissions/dev/bob", None)
            .await
            .status,
        204
    );
    assert_eq!(
        api.guest("GET", "/api/permissions/dev/bob", None)
            .await
            .status,
        404
    );
    assert_eq!(
        api.guest("DELETE", "/api/users/bob", None).await.status,
        204
    );
    assert_eq!(api.guest("GET", "/api/users/bob", None).await.status, 404);
    assert_eq!(
        api.guest("DELETE", "/api/vhosts/dev", None).await.status,
        204
    );
    assert_eq!(
        api.guest("DELETE", "/api/vhosts/dev", None).await.status,
        404
    );
}

#[tokio::test]
async fn user_with_a_rabbitmq_hash_logs_in_over_http_and_amqp() {
    let api = TestApi::start().await;
    let body = json!({"password_hash": "znOJIcOEfxmKIOho98BL8vAfuxq41m592fzwniDJRft7ZWWX",
                      "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": ["management"]});
    assert_eq!(
        api.guest("PUT", "/api/users/alice", Some(body))
            .await
            .status,
        201
    );
    api.guest(
        "PUT",
        "/api/permissions/%2F/alice",
        Some(json!({"configure": ".*", "write": ".*", "read": ".*"})),
    )
    .await;
    let me = api
        .call("GET", "/api/whoami", None, Some(("alice", "test12")))
        .await;
    assert_eq!(me.json, json!({"name": "alice", "tags": ["management"]}));
    let conn = api.lapin_as("alice", "test12").await;
    within(conn.close(200, "bye".into())).await.unwrap();
    let bad = api
        .guest(
            "PUT",
            "/api/users/eve",
            Some(json!({"password_hash": "abc", "tags": ""})),
        )
        .await;
    assert_eq!(bad.status, 400);
}

#[tokio::test]
async fn policies_crud() {
    let api = TestApi::start().await;
    let body = json!({"pattern": "^ttl\\.", "definition": {"message-ttl": 60000}, "priority": 1, "apply-to": "queues"});
    assert_eq!(
        api.guest("PUT", "/api/policies/%2F/ttl", Some(body.clone()))
            .await
            .status,
        201
    );
    assert_eq!(
        api.guest("PUT", "/api/policies/%2F/ttl", Some(body))
            .await
            .status,
        204
    );
    let p = api.get("/api/policies/%2F/ttl").await;
    assert_eq!(
        p,
        json!({"vhost": "/", "name": "ttl", "pattern": "^ttl\\.", "apply-to": "queues",
                         "definition": {"message-ttl": 60000}, "priority": 1})
    );
    api.guest("PUT", "/api/queues/%2F/ttl.q", Some(json!({})))
        .await;
    assert_eq!(api.get("/api/queues/%2F/ttl.q").await["policy"], "ttl");
    assert_eq!(api.get("/api/policies").await.as_array().unwrap().len(), 1);
    let bad = api
        .guest(
            "PUT",
            "/api/policies/%2F/x",
            Some(json!({"pattern": ".*", "definition": {"a": 1}, "apply-to": "nothing"})),
        )
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(
        api.guest("DELETE", "/api/policies/%2F/ttl", None)
            .await
            .status,
        204
    );
    assert_eq!(
        api.guest("DELETE", "/api/policies/%2F/ttl", None)
            .await
            .status,
        404
    );
}

fn sorted(v: &Value, key: &str) -> Vec<Value> {
    let mut items = v[key].as_array().cloned().unwrap_or_default();
    items.sort_by_key(|i| i.to_string());
    items
}

#[tokio::test]
async fn definitions_round_trip_a_rabbitmq_export() {
    let api = TestApi::start().await;
    let source: Value = serde_json::from_str(RABBITMQ_EXPORT).unwrap();
    let imported = api
        .guest("POST", "/api/definitions", Some(source.clone()))
        .await;
    assert_eq!(imported.status, 204, "{:?}", imported.json);
    let me = api
        .call("GET", "/api/whoami", None, Some(("alice", "test12")))
        .await;
    assert_eq!(me.json["tags"], json!(["monitoring"]));
    let exported = api.get("/api/definitions").await;
    for key in [
        "queues",
        "exchanges",
        "bindings",
        "policies",
        "permissions",
        "topic_permissions",
    ] {
        assert_eq!(
            sorted(&exported, key),
            sorted(&source, key),
            "{key} round-trips"
        );
    }
    let users = |v: &Value| -> Vec<(Value, Value, Value)> {
        let mut u: Vec<_> = v["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| {
                (
                    u["name"].clone(),
                    u["password_hash"].clone(),
                    u["tags"].clone(),
                )
            })
            .filter(|u| u.0 == "alice")
            .collect();
        u.sort_by_key(|u| u.0.to_string());
        u
    };
    assert_eq!(users(&exported), users(&source));
    let names = |v: &Value| -> Vec<Value> {
        v["vhosts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["name"].clone())
            .collect()
    };
    assert_eq!(names(&exported), names(&source));
    let dev = api.get("/api/definitions/dev").await;
    assert!(dev.get("users").is_none());
    assert_eq!(
        dev["queues"][0],
        json!({"name": "alice.work", "durable": true, "auto_delete": false,
                                       "arguments": {"x-max-length": 1000}, "type": "classic"})
    );
    let again = api
        .guest("POST", "/api/definitions", Some(exported.clone()))
        .await;
    assert_eq!(again.status, 204);
    assert_eq!(
        api.get("/api/definitions").await,
        exported,
        "importing an export changes nothing"
    );
    api.guest("PUT", "/api/vhosts/copy", None).await;
    assert_eq!(
        api.guest("POST", "/api/definitions/copy", Some(dev))
            .await
            .status,
        204
    );
    assert_eq!(
        api.get("/api/queues/copy/alice.work").await["arguments"]["x-max-length"],
        1000
    );
    let broken = api
        .guest(
            "POST",
            "/api/definitions",
            Some(json!({"queues": [{"name": "q", "vhost": "missing"}]})),
        )
        .await;
    assert_eq!(broken.status, 400);
    assert!(broken.json["reason"]
        .as_str()
        .unwrap()
        .contains("no vhost 'missing'"));
}

#[tokio::test]
async fn prometheus_metrics_use_rabbitmq_names() {
    let api = TestApi::start().await;
    let metrics =
        warren_http::HttpServer::bind_metrics(api.broker.clone(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap()
            .start();
    api.guest("PUT", "/api/queues/%2F/m1", Some(json!({})))
        .await;
    for _ in 0..3 {
        api.guest("POST", "/api/exchanges/%2F/amq.default/publish",
            Some(json!({"routing_key": "m1", "payload": "x", "payload_encoding": "string", "properties": {}}))).await;
    }
    let _conn = api.lapin().await;
    let url = format!("http://{}/metrics", metrics.local_addr());
    let text = tokio::task::spawn_blocking(move || {
        ureq::get(&url)
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap()
    })
    .await
    .unwrap();
    for line in [
        "rabbitmq_queue_messages_ready 3",
        "rabbitmq_queue_messages_unacked 0",
        "rabbitmq_connections 1",
        "rabbitmq_queues 1",
        "rabbitmq_channels 0",
        "rabbitmq_received_messages_total 3",
        "rabbitmq_channel_messages_published_total 3",
        "rabbitmq_queues_created_total 1",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    assert!(text.contains("# TYPE rabbitmq_queue_messages_ready gauge"));
    assert!(text.contains("rabbitmq_identity_info{rabbitmq_node=\"warren@"));
    let url = format!("http://{}/metrics/per-object", metrics.local_addr());
    let per = tokio::task::spawn_blocking(move || {
        ureq::get(&url)
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        per.contains("rabbitmq_queue_messages_ready{vhost=\"/\",queue=\"m1\"} 3"),
        "{per}"
    );
}
