//! Names and field-table keys longer than AMQP's 255-byte short strings,
//! sent through the HTTP API: every one gets 400 with a readable reason (the
//! queue name with RabbitMQ's own text), nothing is created, and the broker
//! keeps serving. Before, a long JSON key panicked the request handler (the
//! client saw the connection drop) and long names were accepted, leaving
//! entities AMQP cannot address.

mod common;

use common::TestApi;
use serde_json::{json, Value};

fn long(c: char, bytes: usize) -> String {
    c.to_string().repeat(bytes)
}

#[track_caller]
fn assert_bad_request(answer: &common::Answer, phrase: &str) {
    assert_eq!(answer.status, 400, "{:?}", answer.json);
    assert_eq!(answer.json["error"], "bad_request", "{:?}", answer.json);
    let reason = answer.json["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains(phrase),
        "reason {reason:?} lacks {phrase:?}"
    );
}

async fn still_serving(api: &TestApi) {
    let put = api
        .guest("PUT", "/api/queues/%2F/still-serving", Some(json!({})))
        .await;
    assert!(put.status == 201 || put.status == 204, "{put:?}");
}

#[tokio::test]
async fn a_256_byte_queue_name_is_refused_as_rabbitmq_does() {
    let api = TestApi::start().await;
    let answer = api
        .guest(
            "PUT",
            &format!("/api/queues/%2F/{}", long('a', 256)),
            Some(json!({})),
        )
        .await;
    // RabbitMQ 3.10.8: {"error":"bad_request","reason":"queue should be less
    // than 255 bytes, actually was 256\n"}
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.json,
        json!({"error": "bad_request", "reason": "queue should be less than 255 bytes, actually was 256"})
    );
    let fits = api
        .guest(
            "PUT",
            &format!("/api/queues/%2F/{}", long('a', 255)),
            Some(json!({})),
        )
        .await;
    assert_eq!(fits.status, 201, "{fits:?}");
    // 128 two-byte characters: 256 bytes.
    let multi_byte = api
        .guest(
            "PUT",
            &format!("/api/queues/%2F/{}", "%C3%A9".repeat(128)),
            Some(json!({})),
        )
        .await;
    assert_bad_request(&multi_byte, "actually was 256");
    still_serving(&api).await;
}

#[tokio::test]
async fn long_exchange_vhost_and_user_names_are_refused() {
    let api = TestApi::start().await;
    let exchange = api
        .guest(
            "PUT",
            &format!("/api/exchanges/%2F/{}", long('x', 256)),
            Some(json!({"type": "direct"})),
        )
        .await;
    assert_bad_request(
        &exchange,
        "exchange should be less than 255 bytes, actually was 256",
    );
    let vhost = api
        .guest(
            "PUT",
            &format!("/api/vhosts/{}", long('v', 300)),
            Some(json!({})),
        )
        .await;
    assert_bad_request(
        &vhost,
        "vhost should be less than 255 bytes, actually was 300",
    );
    assert!(api.broker.vhost(&long('v', 300)).is_none());
    for body in [
        json!({"password": "pw", "tags": ""}),
        json!({"password_hash": "", "tags": ""}),
    ] {
        let user = api
            .guest("PUT", &format!("/api/users/{}", long('u', 256)), Some(body))
            .await;
        assert_bad_request(
            &user,
            "user should be less than 255 bytes, actually was 256",
        );
    }
    assert!(api.broker.users.user(&long('u', 256)).is_none());
    still_serving(&api).await;
}

#[tokio::test]
async fn long_argument_keys_are_refused_for_queues_exchanges_and_bindings() {
    let api = TestApi::start().await;
    let key = long('k', 256);
    let queue = api
        .guest(
            "PUT",
            "/api/queues/%2F/q",
            Some(json!({"arguments": { key.clone(): 1 }})),
        )
        .await;
    assert_bad_request(
        &queue,
        "is 256 bytes long; AMQP field table keys are at most 255",
    );
    assert!(api.broker.vhost("/").unwrap().queue("q").is_err());
    // Nested inside an array of tables.
    let nested = api
        .guest(
            "PUT",
            "/api/queues/%2F/q",
            Some(json!({"arguments": {"x-note": [{ key.clone(): true }]}})),
        )
        .await;
    assert_bad_request(&nested, "field table key 'kkkk");
    let exchange = api
        .guest(
            "PUT",
            "/api/exchanges/%2F/x",
            Some(json!({"type": "headers", "arguments": { key.clone(): "v" }})),
        )
        .await;
    assert_bad_request(&exchange, "is 256 bytes long");
    let put = api
        .guest("PUT", "/api/queues/%2F/bound", Some(json!({})))
        .await;
    assert_eq!(put.status, 201);
    let binding = api
        .guest(
            "POST",
            "/api/bindings/%2F/e/amq.headers/q/bound",
            Some(json!({"routing_key": "", "arguments": {"x-match": "any", key.clone(): "v"}})),
        )
        .await;
    assert_bad_request(&binding, "is 256 bytes long");
    let long_key = api
        .guest(
            "POST",
            "/api/bindings/%2F/e/amq.direct/q/bound",
            Some(json!({"routing_key": long('r', 256), "arguments": {}})),
        )
        .await;
    assert_bad_request(
        &long_key,
        "routing key should be less than 255 bytes, actually was 256",
    );
    let bindings = api.get("/api/queues/%2F/bound/bindings").await;
    assert_eq!(bindings.as_array().map(Vec::len), Some(1), "{bindings}");
    still_serving(&api).await;
}

#[tokio::test]
async fn published_headers_properties_and_routing_keys_must_fit_in_amqp() {
    let api = TestApi::start().await;
    let put = api
        .guest("PUT", "/api/queues/%2F/target", Some(json!({})))
        .await;
    assert_eq!(put.status, 201);
    let publish = |routing_key: String, properties: Value| {
        json!({"routing_key": routing_key, "payload": "x", "payload_encoding": "string",
               "properties": properties})
    };
    let path = "/api/exchanges/%2F/amq.default/publish";
    let cases = [
        (
            publish("target".into(), json!({"headers": { long('h', 256): 1 }})),
            "field table key 'hhhh",
        ),
        (
            publish(
                "target".into(),
                json!({"headers": {"a": {"b": { long('h', 300): 1 }}}}),
            ),
            "is 300 bytes long",
        ),
        (
            publish("target".into(), json!({"correlation_id": long('c', 256)})),
            "property 'correlation_id' is 256 bytes long",
        ),
        (
            publish("target".into(), json!({"message_id": "é".repeat(128)})),
            "property 'message_id' is 256 bytes long",
        ),
        (
            publish("target".into(), json!({"priority": 300})),
            "not_int: priority",
        ),
        (
            publish("target".into(), json!({"correlation_id": 5})),
            "not_string: correlation_id",
        ),
        (
            publish(long('r', 256), json!({})),
            "routing key should be less than 255 bytes, actually was 256",
        ),
    ];
    for (body, phrase) in cases {
        let answer = api.guest("POST", path, Some(body)).await;
        assert_bad_request(&answer, phrase);
    }
    let queue = api.get("/api/queues/%2F/target").await;
    assert_eq!(queue["messages"], 0, "nothing was published: {queue}");
    // 255-byte values and keys are fine.
    let fits = api
        .guest(
            "POST",
            path,
            Some(publish(
                "target".into(),
                json!({"correlation_id": long('c', 255), "headers": { long('h', 255): 1 }}),
            )),
        )
        .await;
    assert_eq!(fits.json, json!({"routed": true}));
    still_serving(&api).await;
}

#[tokio::test]
async fn definitions_with_long_keys_or_names_are_refused_with_the_item_named() {
    let api = TestApi::start().await;
    let cases = [
        (
            json!({"queues": [{"name": "dq", "vhost": "/", "durable": true, "auto_delete": false,
                               "arguments": { long('k', 256): 1 }}]}),
            "queue 'dq': field table key 'kkkk",
        ),
        (
            json!({"exchanges": [{"name": "dx", "vhost": "/", "type": "direct", "durable": true,
                                  "auto_delete": false, "internal": false,
                                  "arguments": { long('k', 256): 1 }}]}),
            "exchange 'dx': field table key",
        ),
        (
            json!({"bindings": [{"source": "amq.direct", "vhost": "/", "destination": "still-serving",
                                 "destination_type": "queue", "routing_key": "k",
                                 "arguments": { long('k', 256): 1 }}]}),
            "binding 'amq.direct': field table key",
        ),
        (
            json!({"queues": [{"name": long('q', 256), "vhost": "/", "durable": true,
                               "auto_delete": false, "arguments": {}}]}),
            "queue should be less than 255 bytes, actually was 256",
        ),
        (
            json!({"vhosts": [{"name": long('v', 256)}]}),
            "vhost should be less than 255 bytes, actually was 256",
        ),
        (
            json!({"users": [{"name": long('u', 256), "password_hash": "",
                              "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": ""}]}),
            "user should be less than 255 bytes, actually was 256",
        ),
    ];
    still_serving(&api).await;
    for (defs, phrase) in cases {
        let answer = api.guest("POST", "/api/definitions", Some(defs)).await;
        assert_bad_request(&answer, phrase);
    }
    let vhost = api.broker.vhost("/").unwrap();
    assert!(vhost.queue("dq").is_err() && vhost.exchange("dx").is_err());
    still_serving(&api).await;
}
