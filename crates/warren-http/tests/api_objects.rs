//! Queues, exchanges, bindings, publish/get, connections, channels, consumers,
//! message rates and listing options through the HTTP API, with RabbitMQ's
//! status codes and field names.

mod common;

use common::{eventually, within, TestApi};
use lapin::options::*;
use lapin::types::FieldTable;
use serde_json::{json, Value};

#[tokio::test]
async fn queue_lifecycle_publish_get_purge_delete() {
    let api = TestApi::start().await;
    let put = api
        .guest(
            "PUT",
            "/api/queues/%2F/q1",
            Some(json!({"durable": true, "arguments": {"x-max-length": 10}})),
        )
        .await;
    assert_eq!(put.status, 201);
    let again = api
        .guest(
            "PUT",
            "/api/queues/%2F/q1",
            Some(json!({"durable": true, "arguments": {"x-max-length": 10}})),
        )
        .await;
    assert_eq!(again.status, 204);
    let inequivalent = api
        .guest(
            "PUT",
            "/api/queues/%2F/q1",
            Some(json!({"durable": false, "arguments": {"x-max-length": 10}})),
        )
        .await;
    assert_eq!(inequivalent.status, 400);
    assert_eq!(inequivalent.json["error"], "bad_request");
    assert!(inequivalent.json["reason"]
        .as_str()
        .unwrap()
        .contains("inequivalent arg 'durable' for queue 'q1' in vhost '/'"));
    for body in ["one", "two"] {
        let p = api
            .guest(
                "POST",
                "/api/exchanges/%2F/amq.default/publish",
                Some(
                    json!({"routing_key": "q1", "payload": body, "payload_encoding": "string",
                            "properties": {"delivery_mode": 2, "headers": {"h": "v"}}}),
                ),
            )
            .await;
        assert_eq!(p.json, json!({"routed": true}));
    }
    let q = api.get("/api/queues/%2F/q1").await;
    for field in [
        "name",
        "vhost",
        "durable",
        "auto_delete",
        "exclusive",
        "arguments",
        "node",
        "state",
        "consumers",
        "messages",
        "messages_ready",
        "messages_unacknowledged",
        "message_bytes",
        "messages_details",
        "message_stats",
        "type",
    ] {
        assert!(q.get(field).is_some(), "queue field {field} in {q}");
    }
    assert_eq!(
        (q["messages"].as_u64(), q["messages_ready"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(q["arguments"], json!({"x-max-length": 10}));
    assert_eq!(q["message_stats"]["publish"], 2);
    let got = api
        .guest(
            "POST",
            "/api/queues/%2F/q1/get",
            Some(json!({"count": 1, "ackmode": "ack_requeue_true", "encoding": "auto"})),
        )
        .await;
    let m = &got.json[0];
    assert_eq!(m["payload"], "one");
    assert_eq!(m["payload_encoding"], "string");
    assert_eq!(m["message_count"], 1);
    assert_eq!(m["routing_key"], "q1");
    assert_eq!(m["properties"]["delivery_mode"], 2);
    assert_eq!(m["properties"]["headers"], json!({"h": "v"}));
    let again = api
        .guest(
            "POST",
            "/api/queues/%2F/q1/get",
            Some(json!({"count": 5, "ackmode": "ack_requeue_false", "encoding": "auto"})),
        )
        .await;
    let bodies: Vec<&Value> = again
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["payload"])
        .collect();
    assert_eq!(bodies, vec!["one", "two"]);
    assert_eq!(again.json[0]["redelivered"], true);
    assert_eq!(api.get("/api/queues/%2F/q1").await["messages"], 0);
    api.guest("POST", "/api/exchanges/%2F/amq.default/publish",
        Some(json!({"routing_key": "q1", "payload": "x", "payload_encoding": "string", "properties": {}}))).await;
    assert_eq!(
        api.guest("DELETE", "/api/queues/%2F/q1/contents", None)
            .await
            .status,
        204
    );
    assert_eq!(api.get("/api/queues/%2F/q1").await["messages_ready"], 0);
    assert_eq!(
        api.guest("DELETE", "/api/queues/%2F/q1", None).await.status,
        204
    );
    assert_eq!(
        api.guest("GET", "/api/queues/%2F/q1", None).await.status,
        404
    );
    assert_eq!(
        api.guest("DELETE", "/api/queues/%2F/q1", None).await.status,
        404
    );
}

#[tokio::test]
async fn exchanges_and_bindings() {
    let api = TestApi::start().await;
    let list = api.get("/api/exchanges/%2F").await;
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"") && names.contains(&"amq.topic"),
        "{names:?}"
    );
    assert_eq!(
        api.guest(
            "PUT",
            "/api/exchanges/%2F/events",
            Some(json!({"type": "topic"}))
        )
        .await
        .status,
        201
    );
    assert_eq!(
        api.guest(
            "PUT",
            "/api/exchanges/%2F/events",
            Some(json!({"type": "topic"}))
        )
        .await
        .status,
        204
    );
    assert_eq!(
        api.guest(
            "PUT",
            "/api/exchanges/%2F/bad",
            Some(json!({"type": "nope"}))
        )
        .await
        .status,
        400
    );
    let x = api.get("/api/exchanges/%2F/events").await;
    assert_eq!(
        (x["type"].as_str(), x["durable"].as_bool()),
        (Some("topic"), Some(true))
    );
    api.guest("PUT", "/api/queues/%2F/sink", Some(json!({})))
        .await;
    let created = api
        .guest(
            "POST",
            "/api/bindings/%2F/e/events/q/sink",
            Some(json!({"routing_key": "a.#", "arguments": {}})),
        )
        .await;
    assert_eq!(created.status, 201);
    assert_eq!(created.location.as_deref(), Some("a.#"));
    let between = api.get("/api/bindings/%2F/e/events/q/sink").await;
    assert_eq!(between[0]["routing_key"], "a.#");
    assert_eq!(between[0]["destination_type"], "queue");
    assert_eq!(between[0]["properties_key"], "a.#");
    let to_queue = api.get("/api/queues/%2F/sink/bindings").await;
    assert_eq!(
        to_queue.as_array().unwrap().len(),
        2,
        "default + events: {to_queue}"
    );
    assert_eq!(to_queue[0]["source"], "");
    let from = api.get("/api/exchanges/%2F/events/bindings/source").await;
    assert_eq!(from.as_array().unwrap().len(), 1);
    let routed = api
        .guest("POST", "/api/exchanges/%2F/events/publish",
            Some(json!({"routing_key": "a.b", "payload": "hi", "payload_encoding": "string", "properties": {}})))
        .await;
    assert_eq!(routed.json["routed"], true);
    let unrouted = api
        .guest("POST", "/api/exchanges/%2F/events/publish",
            Some(json!({"routing_key": "z", "payload": "hi", "payload_encoding": "string", "properties": {}})))
        .await;
    assert_eq!(unrouted.json["routed"], false);
    let x = api.get("/api/exchanges/%2F/events").await;
    assert_eq!(
        (
            x["message_stats"]["publish_in"].as_u64(),
            x["message_stats"]["publish_out"].as_u64()
        ),
        (Some(2), Some(1))
    );
    assert_eq!(
        api.guest("DELETE", "/api/bindings/%2F/e/events/q/sink/a.%23", None)
            .await
            .status,
        204
    );
    assert_eq!(
        api.get("/api/bindings/%2F/e/events/q/sink").await,
        json!([])
    );
    api.guest(
        "PUT",
        "/api/exchanges/%2F/downstream",
        Some(json!({"type": "fanout"})),
    )
    .await;
    let e2e = api
        .guest(
            "POST",
            "/api/bindings/%2F/e/events/e/downstream",
            Some(json!({"routing_key": "k"})),
        )
        .await;
    assert_eq!(e2e.status, 201);
    assert_eq!(
        api.get("/api/exchanges/%2F/downstream/bindings/destination")
            .await[0]["source"],
        "events"
    );
    assert_eq!(
        api.guest("DELETE", "/api/exchanges/%2F/events", None)
            .await
            .status,
        204
    );
    assert_eq!(
        api.guest("GET", "/api/exchanges/%2F/events", None)
            .await
            .status,
        404
    );
    let reserved = api
        .guest("DELETE", "/api/exchanges/%2F/amq.direct", None)
        .await;
    assert_eq!(reserved.status, 401);
}

#[tokio::test]
async fn list_endpoints_sort_filter_and_paginate() {
    let api = TestApi::start().await;
    for (i, name) in ["b", "a", "c", "ab"].iter().enumerate() {
        api.guest("PUT", &format!("/api/queues/%2F/{name}"), Some(json!({})))
            .await;
        for _ in 0..i {
            api.guest("POST", "/api/exchanges/%2F/amq.default/publish",
                Some(json!({"routing_key": name, "payload": "x", "payload_encoding": "string", "properties": {}}))).await;
        }
    }
    let names = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|q| q["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&api.get("/api/queues").await), ["a", "ab", "b", "c"]);
    assert_eq!(
        names(&api.get("/api/queues?sort=messages&sort_reverse=true").await),
        ["ab", "c", "a", "b"]
    );
    assert_eq!(names(&api.get("/api/queues?name=a").await), ["a", "ab"]);
    assert_eq!(
        names(&api.get("/api/queues?name=%5Ea%24&use_regex=true").await),
        ["a"]
    );
    let page = api.get("/api/queues/%2F?page=2&page_size=3").await;
    assert_eq!(page["page"], 2);
    assert_eq!(page["page_count"], 2);
    assert_eq!(page["total_count"], 4);
    assert_eq!(page["filtered_count"], 4);
    assert_eq!(page["item_count"], 1);
    assert_eq!(page["items"][0]["name"], "c");
    let cols = api.get("/api/queues?columns=name,messages").await;
    assert_eq!(cols[0], json!({"name": "a", "messages": 1}));
    assert_eq!(
        api.guest("GET", "/api/queues?page=9", None).await.status,
        400
    );
}

#[tokio::test]
async fn connections_channels_consumers_rates_and_forced_close() {
    let api = TestApi::start().await;
    let conn = api.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    within(ch.basic_qos(7, BasicQosOptions::default()))
        .await
        .unwrap();
    within(ch.queue_declare(
        "work".into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    let mut consumer = within(ch.basic_consume(
        "work".into(),
        "tag-1".into(),
        BasicConsumeOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    let conns = api.get("/api/connections").await;
    let c = &conns[0];
    for field in [
        "name",
        "user",
        "vhost",
        "peer_host",
        "peer_port",
        "channels",
        "protocol",
        "client_properties",
        "recv_oct",
        "send_oct",
        "recv_oct_details",
        "connected_at",
        "state",
    ] {
        assert!(c.get(field).is_some(), "connection field {field} in {c}");
    }
    assert_eq!(c["user"], "guest");
    assert_eq!(c["protocol"], "AMQP 0-9-1");
    let name = c["name"].as_str().unwrap().to_string();
    let chans = api.get("/api/channels").await;
    assert_eq!(chans[0]["name"], format!("{name} (1)"));
    assert_eq!(chans[0]["prefetch_count"], 7);
    assert_eq!(chans[0]["consumer_count"], 1);
    assert_eq!(chans[0]["connection_details"]["name"], name.as_str());
    let consumers = api.get("/api/consumers/%2F").await;
    assert_eq!(consumers[0]["consumer_tag"], "tag-1");
    assert_eq!(consumers[0]["queue"], json!({"name": "work", "vhost": "/"}));
    assert_eq!(consumers[0]["ack_required"], true);
    assert_eq!(consumers[0]["prefetch_count"], 7);
    for i in 0..20 {
        within(ch.basic_publish(
            "".into(),
            "work".into(),
            BasicPublishOptions::default(),
            format!("m{i}").as_bytes(),
            Default::default(),
        ))
        .await
        .unwrap();
    }
    let overview = eventually("publish rate in the overview", || async {
        let o = api.get("/api/overview").await;
        let stats = &o["message_stats"];
        (stats["publish"] == 20 && stats["publish_details"]["rate"].as_f64() > Some(0.0))
            .then_some(o)
    })
    .await;
    assert_eq!(overview["object_totals"]["connections"], 1);
    assert_eq!(overview["object_totals"]["consumers"], 1);
    assert!(overview["queue_totals"]
        .get("messages_unacknowledged")
        .is_some());
    let q = eventually("deliveries counted", || async {
        let q = api.get("/api/queues/%2F/work").await;
        (q["message_stats"]["deliver_get"].as_u64() >= Some(7)).then_some(q)
    })
    .await;
    assert_eq!(q["messages_unacknowledged"], 7);
    let encoded = name
        .replace(' ', "%20")
        .replace('>', "%3E")
        .replace(':', "%3A");
    let closed = api
        .guest("DELETE", &format!("/api/connections/{encoded}"), None)
        .await;
    assert_eq!(closed.status, 204);
    let error = within(async {
        use futures_lite::StreamExt;
        loop {
            match consumer.next().await {
                Some(Ok(_delivery)) => continue,
                Some(Err(e)) => break e.to_string(),
                None => break "consumer ended without an error".to_string(),
            }
        }
    })
    .await;
    assert!(
        error.contains("CONNECTION_FORCED") && error.contains("Closed via management plugin"),
        "{error}"
    );
    eventually("connection gone from the registry", || async {
        (api.get("/api/connections").await == json!([])).then_some(())
    })
    .await;
    let q = api.get("/api/queues/%2F/work").await;
    assert_eq!(q["messages_ready"], 20, "unacked messages went back: {q}");
}

#[tokio::test]
async fn overview_nodes_health_and_aliveness() {
    let api = TestApi::start().await;
    let o = api.get("/api/overview").await;
    for field in [
        "management_version",
        "rabbitmq_version",
        "product_name",
        "node",
        "cluster_name",
        "message_stats",
        "queue_totals",
        "object_totals",
        "listeners",
        "exchange_types",
    ] {
        assert!(o.get(field).is_some(), "overview field {field}");
    }
    assert_eq!(o["listeners"][0]["protocol"], "amqp");
    let nodes = api.get("/api/nodes").await;
    for field in [
        "name",
        "running",
        "mem_used",
        "fd_used",
        "disk_free",
        "uptime",
    ] {
        assert!(nodes[0].get(field).is_some(), "node field {field}");
    }
    let node = nodes[0]["name"].as_str().unwrap().to_string();
    assert_eq!(
        api.get(&format!("/api/nodes/{node}")).await["running"],
        true
    );
    assert_eq!(
        api.get("/api/health/checks/alarms").await,
        json!({"status": "ok"})
    );
    assert_eq!(
        api.get("/api/health/checks/virtual-hosts").await,
        json!({"status": "ok"})
    );
    assert_eq!(
        api.get("/api/aliveness-test/%2F").await,
        json!({"status": "ok"})
    );
    assert_eq!(
        api.guest("GET", "/api/aliveness-test/nope", None)
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn quorum_and_stream_queues_are_refused_not_made_classic() {
    // RabbitMQ 3.10.8's answers to PUT /api/queues, then Warren's refusal of
    // the queue types it does not implement (shared with AMQP and definitions).
    let api = TestApi::start().await;
    let put = |name: &'static str, body: Value| {
        let api = &api;
        async move {
            api.guest("PUT", &format!("/api/queues/%2F/{name}"), Some(body))
                .await
        }
    };
    let reason = |r: &common::Answer| r.json["reason"].as_str().unwrap_or("").to_string();
    for t in ["quorum", "stream"] {
        let r = put(
            "typed",
            json!({"durable": false, "arguments": {"x-queue-type": t}}),
        )
        .await;
        assert_eq!(r.status, 400, "{:?}", r.json);
        assert!(
            reason(&r).contains("invalid property 'non-durable' for queue 'typed' in vhost '/'"),
            "{:?}",
            r.json
        );
        let r = put(
            "typed",
            json!({"durable": true, "arguments": {"x-queue-type": t}}),
        )
        .await;
        assert_eq!(r.status, 400, "{:?}", r.json);
        assert!(
            reason(&r).contains(&format!("queue type '{t}' is not supported by Warren yet")),
            "{:?}",
            r.json
        );
    }
    let r = put(
        "typed",
        json!({"durable": true, "arguments": {"x-queue-type": "bogus"}}),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(
        reason(&r).contains(
            "invalid arg 'x-queue-type' for queue 'typed' in vhost '/': \"unsupported queue type 'bogus'\""
        ),
        "{:?}",
        r.json
    );
    assert_eq!(
        api.guest("GET", "/api/queues/%2F/typed", None).await.status,
        404
    );
    let r = put(
        "typed",
        json!({"durable": true, "arguments": {"x-queue-type": "classic"}}),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    // A definitions file with a quorum queue (as RabbitMQ exports it) is
    // refused with the queue's name and the reason, not imported as classic.
    let defs = json!({"queues": [{"name": "imported-quorum", "vhost": "/", "durable": true,
        "auto_delete": false, "arguments": {"x-queue-type": "quorum"}}]});
    let r = api.guest("POST", "/api/definitions", Some(defs)).await;
    assert_eq!(r.status, 400, "{:?}", r.json);
    let text = r.json.to_string();
    assert!(text.contains("imported-quorum"), "{text}");
    assert!(text.contains("not supported by Warren yet"), "{text}");
    let gone = api
        .guest("GET", "/api/queues/%2F/imported-quorum", None)
        .await;
    assert_eq!(gone.status, 404);
}

#[tokio::test]
async fn get_shows_the_x_death_of_a_dead_lettered_message() {
    let api = TestApi::start().await;
    let args = json!({"x-message-ttl": 0, "x-dead-letter-exchange": "",
                      "x-dead-letter-routing-key": "dl-dst"});
    let put = api
        .guest(
            "PUT",
            "/api/queues/%2F/dl-src",
            Some(json!({"arguments": args})),
        )
        .await;
    assert_eq!(put.status, 201);
    let put = api
        .guest("PUT", "/api/queues/%2F/dl-dst", Some(json!({})))
        .await;
    assert_eq!(put.status, 201);
    let p = api
        .guest(
            "POST",
            "/api/exchanges/%2F/amq.default/publish",
            Some(
                json!({"routing_key": "dl-src", "payload": "late", "payload_encoding": "string",
                        "properties": {"headers": {"h": "v"}}}),
            ),
        )
        .await;
    assert_eq!(p.json, json!({"routed": true}));
    let m = eventually("the message is dead-lettered", || async {
        let got = api
            .guest(
                "POST",
                "/api/queues/%2F/dl-dst/get",
                Some(json!({"count": 1, "ackmode": "ack_requeue_true", "encoding": "auto"})),
            )
            .await;
        got.json.as_array().and_then(|a| a.first().cloned())
    })
    .await;
    let headers = &m["properties"]["headers"];
    assert_eq!(headers["h"], "v");
    assert_eq!(headers["x-first-death-reason"], "expired");
    assert_eq!(headers["x-first-death-queue"], "dl-src");
    let death = &headers["x-death"][0];
    assert_eq!(death["reason"], "expired", "{headers}");
    assert_eq!(death["queue"], "dl-src");
    assert_eq!(death["count"], 1);
}
