//! Request bodies as RabbitMQ's own rabbitmqadmin sends them: booleans and
//! integers as strings ("durable":"true", "count":"1"), which RabbitMQ's API
//! accepts (rabbit_mgmt_util parse_bool / parse_int); and the fields
//! RabbitMQ reads strictly (message properties, get's encoding and required
//! keys) refused as it refuses them.

mod common;

use common::TestApi;
use serde_json::json;

#[tokio::test]
async fn queue_and_exchange_flags_may_be_strings() {
    let api = TestApi::start().await;
    let a = api
        .guest(
            "PUT",
            "/api/queues/%2F/lenient-q",
            Some(
                json!({"durable": "false", "auto_delete": "true", "arguments": {},
                        "vhost": "/", "name": "lenient-q"}),
            ),
        )
        .await;
    assert_eq!(a.status, 201, "{:?}", a.json);
    let q = api.get("/api/queues/%2F/lenient-q").await;
    assert_eq!(
        (q["durable"].clone(), q["auto_delete"].clone()),
        (json!(false), json!(true))
    );
    let a = api
        .guest(
            "PUT",
            "/api/exchanges/%2F/lenient-x",
            Some(
                json!({"type": "topic", "durable": "false", "auto_delete": "false",
                        "internal": "true", "arguments": {}}),
            ),
        )
        .await;
    assert_eq!(a.status, 201, "{:?}", a.json);
    let x = api.get("/api/exchanges/%2F/lenient-x").await;
    assert_eq!(
        (x["durable"].clone(), x["internal"].clone()),
        (json!(false), json!(true))
    );
}

#[tokio::test]
async fn a_flag_that_is_not_a_boolean_is_a_400_naming_it() {
    let api = TestApi::start().await;
    for body in [
        json!({"durable": "yes"}),
        json!({"durable": 1}),
        json!({"auto_delete": "True"}),
    ] {
        let a = api
            .guest("PUT", "/api/queues/%2F/strict-q", Some(body.clone()))
            .await;
        assert_eq!(a.status, 400, "{body}: {:?}", a.json);
        assert!(
            a.json["reason"].as_str().unwrap().contains("not_boolean"),
            "{:?}",
            a.json
        );
    }
    assert_eq!(
        api.guest("GET", "/api/queues/%2F/strict-q", None)
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn get_takes_count_and_truncate_as_strings() {
    let api = TestApi::start().await;
    api.guest("PUT", "/api/queues/%2F/g", Some(json!({}))).await;
    for payload in ["first message", "second"] {
        let p = api
            .guest(
                "POST",
                "/api/exchanges/%2F/amq.default/publish",
                Some(json!({"routing_key": "g", "payload": payload,
                            "payload_encoding": "string", "properties": {}})),
            )
            .await;
        assert_eq!(p.json["routed"], true);
    }
    let a = api
        .guest(
            "POST",
            "/api/queues/%2F/g/get",
            Some(json!({"count": "2", "ackmode": "ack_requeue_true",
                        "encoding": "auto", "truncate": "5"})),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.json);
    let payloads: Vec<&str> = a
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["payload"].as_str().unwrap())
        .collect();
    assert_eq!(payloads, ["first", "secon"]);
    assert_eq!(a.json[0]["payload_bytes"], 13);
}

#[tokio::test]
async fn get_is_strict_where_rabbitmq_is() {
    let api = TestApi::start().await;
    api.guest("PUT", "/api/queues/%2F/g2", Some(json!({})))
        .await;
    let cases = [
        (
            json!({"ackmode": "ack_requeue_true", "encoding": "auto"}),
            "key_missing",
        ),
        (json!({"count": 1, "encoding": "auto"}), "key_missing"),
        (
            json!({"count": "one", "ackmode": "ack_requeue_true", "encoding": "auto"}),
            "not_integer",
        ),
        (
            json!({"count": 1, "ackmode": "ack_requeue_true", "encoding": "utf8"}),
            "Unsupported encoding",
        ),
    ];
    for (body, reason) in cases {
        let a = api
            .guest("POST", "/api/queues/%2F/g2/get", Some(body.clone()))
            .await;
        assert_eq!(a.status, 400, "{body}: {:?}", a.json);
        assert!(
            a.json["reason"].as_str().unwrap().contains(reason),
            "{body}: {:?}",
            a.json
        );
    }
}

#[tokio::test]
async fn message_properties_are_strict_as_in_rabbitmq() {
    let api = TestApi::start().await;
    api.guest("PUT", "/api/queues/%2F/p", Some(json!({}))).await;
    let publish = |properties: serde_json::Value| {
        json!({"routing_key": "p", "payload": "x", "payload_encoding": "string",
               "properties": properties})
    };
    for (props, reason) in [
        (json!({"delivery_mode": "2"}), "not_int: delivery_mode"),
        (json!({"priority": 300}), "not_int: priority"),
        (json!({"content_type": 5}), "not_string: content_type"),
        (json!({"headers": "h"}), "not_table: headers"),
    ] {
        let a = api
            .guest(
                "POST",
                "/api/exchanges/%2F/amq.default/publish",
                Some(publish(props.clone())),
            )
            .await;
        assert_eq!(a.status, 400, "{props}: {:?}", a.json);
        assert!(
            a.json["reason"].as_str().unwrap().contains(reason),
            "{:?}",
            a.json
        );
    }
    let q = api.get("/api/queues/%2F/p").await;
    assert_eq!(
        q["messages"], 0,
        "nothing was published by the refused requests"
    );
    let a = api
        .guest(
            "POST",
            "/api/exchanges/%2F/amq.default/publish",
            Some(publish(
                json!({"delivery_mode": 2, "priority": 3, "headers": {"k": "v"}}),
            )),
        )
        .await;
    assert_eq!(a.json["routed"], true, "{:?}", a.json);
}

#[tokio::test]
async fn vhost_tracing_flag_is_parsed_and_tracing_refused() {
    let api = TestApi::start().await;
    let a = api
        .guest(
            "PUT",
            "/api/vhosts/traced",
            Some(json!({"tracing": "false"})),
        )
        .await;
    assert_eq!(a.status, 201, "{:?}", a.json);
    let a = api
        .guest(
            "PUT",
            "/api/vhosts/traced2",
            Some(json!({"tracing": "true"})),
        )
        .await;
    assert_eq!(a.status, 400, "{:?}", a.json);
    assert!(a.json["reason"].as_str().unwrap().contains("tracing"));
    let a = api
        .guest(
            "PUT",
            "/api/vhosts/traced3",
            Some(json!({"tracing": "maybe"})),
        )
        .await;
    assert_eq!(a.status, 400, "{:?}", a.json);
    assert_eq!(
        api.guest("GET", "/api/vhosts/traced2", None).await.status,
        404
    );
}
