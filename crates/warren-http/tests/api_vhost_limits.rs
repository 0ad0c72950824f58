//! /api/vhost-limits as RabbitMQ's management plugin serves it, the limits'
//! effect on clients, and vhost limits in definitions (runtime parameters of
//! component "vhost-limits").

mod common;

use common::TestApi;
use serde_json::{json, Value};

async fn put_limit(api: &TestApi, vhost: &str, name: &str, value: Value) -> common::Answer {
    api.guest(
        "PUT",
        &format!("/api/vhost-limits/{vhost}/{name}"),
        Some(json!({ "value": value })),
    )
    .await
}

#[tokio::test]
async fn vhost_limits_crud() {
    let api = TestApi::start().await;
    assert_eq!(api.get("/api/vhost-limits").await, json!([]));
    assert_eq!(api.get("/api/vhost-limits/%2F").await, json!([]));
    assert_eq!(
        put_limit(&api, "%2F", "max-connections", json!(10))
            .await
            .status,
        204
    );
    assert_eq!(
        put_limit(&api, "%2F", "max-queues", json!(5)).await.status,
        204
    );
    let expected = json!([{"vhost": "/", "value": {"max-connections": 10, "max-queues": 5}}]);
    assert_eq!(api.get("/api/vhost-limits").await, expected);
    assert_eq!(api.get("/api/vhost-limits/%2F").await, expected);

    // Errors: unknown vhost, unknown limit, a value that is not an integer.
    assert_eq!(
        api.guest("GET", "/api/vhost-limits/nope", None)
            .await
            .status,
        404
    );
    assert_eq!(
        put_limit(&api, "nope", "max-queues", json!(1)).await.status,
        404
    );
    assert_eq!(
        api.guest("DELETE", "/api/vhost-limits/nope/max-queues", None)
            .await
            .status,
        404
    );
    let unknown = put_limit(&api, "%2F", "max-widgets", json!(1)).await;
    assert_eq!(unknown.status, 400);
    assert!(
        unknown.json["reason"]
            .as_str()
            .unwrap()
            .contains("max-widgets"),
        "{:?}",
        unknown.json
    );
    for bad in [json!("ten"), json!(1.5), Value::Null] {
        let answer = put_limit(&api, "%2F", "max-queues", bad.clone()).await;
        assert_eq!(answer.status, 400, "{bad}");
        assert!(answer.json["reason"].as_str().unwrap().contains("integer"));
    }

    // Only administrators change limits; a management user without
    // permissions in "/" does not see its limits.
    api.guest(
        "PUT",
        "/api/users/mon",
        Some(json!({"password": "pw", "tags": "management"})),
    )
    .await;
    let refused = api
        .call(
            "PUT",
            "/api/vhost-limits/%2F/max-queues",
            Some(json!({"value": 1})),
            Some(("mon", "pw")),
        )
        .await;
    assert_eq!(refused.status, 401);
    let seen = api
        .call("GET", "/api/vhost-limits", None, Some(("mon", "pw")))
        .await;
    assert_eq!((seen.status, seen.json), (200, json!([])));

    // A negative value removes a limit, as DELETE does.
    assert_eq!(
        put_limit(&api, "%2F", "max-connections", json!(-1))
            .await
            .status,
        204
    );
    assert_eq!(
        api.get("/api/vhost-limits/%2F").await,
        json!([{"vhost": "/", "value": {"max-queues": 5}}])
    );
    let deleted = api
        .guest("DELETE", "/api/vhost-limits/%2F/max-queues", None)
        .await;
    assert_eq!(deleted.status, 204);
    assert_eq!(api.get("/api/vhost-limits").await, json!([]));
}

#[tokio::test]
async fn limits_set_over_http_are_enforced() {
    let api = TestApi::start().await;
    put_limit(&api, "%2F", "max-queues", json!(1)).await;
    put_limit(&api, "%2F", "max-connections", json!(1)).await;
    assert_eq!(
        api.guest("PUT", "/api/queues/%2F/a", Some(json!({})))
            .await
            .status,
        201
    );
    let refused = api.guest("PUT", "/api/queues/%2F/b", Some(json!({}))).await;
    assert_eq!(refused.status, 400, "{:?}", refused.json);
    let _first = api.lapin().await;
    let uri = format!("amqp://guest:guest@{}/%2f", api.amqp);
    let second = common::within(lapin::Connection::connect(
        &uri,
        lapin::ConnectionProperties::default(),
    ))
    .await;
    assert!(second.is_err(), "a second connection was accepted");
}

#[tokio::test]
async fn vhost_limits_round_trip_through_definitions() {
    let api = TestApi::start().await;
    api.guest("PUT", "/api/vhosts/dev", None).await;
    put_limit(&api, "dev", "max-connections", json!(10)).await;
    put_limit(&api, "dev", "max-queues", json!(3)).await;
    let exported = api.get("/api/definitions").await;
    let expected = json!([{"vhost": "dev", "component": "vhost-limits", "name": "limits",
                           "value": {"max-connections": 10, "max-queues": 3}}]);
    assert_eq!(exported["parameters"], expected);
    assert_eq!(
        api.get("/api/definitions/dev").await["parameters"],
        expected
    );

    // Into a fresh broker. Next to a parameter of a component Warren does not
    // have, the document is refused whole, as RabbitMQ without the plugin.
    let other = TestApi::start().await;
    let mut doc = exported.clone();
    doc["parameters"].as_array_mut().unwrap().push(
        json!({"vhost": "dev", "component": "federation-upstream", "name": "up",
                     "value": {"uri": "amqp://elsewhere"}}),
    );
    let refused = other.guest("POST", "/api/definitions", Some(doc)).await;
    assert_eq!(refused.status, 400, "{:?}", refused.json);
    assert!(
        refused.json["reason"]
            .as_str()
            .unwrap_or("")
            .contains("component federation-upstream not found (dev/federation-upstream/up)"),
        "{:?}",
        refused.json
    );
    assert_eq!(other.get("/api/vhost-limits").await, json!([]));
    let imported = other
        .guest("POST", "/api/definitions", Some(exported.clone()))
        .await;
    assert_eq!(imported.status, 204, "{:?}", imported.json);
    assert_eq!(
        other.get("/api/vhost-limits/dev").await,
        json!([{"vhost": "dev", "value": {"max-connections": 10, "max-queues": 3}}])
    );
    assert_eq!(other.get("/api/definitions").await["parameters"], expected);

    // A per-vhost import puts the limits into the target vhost.
    other.guest("PUT", "/api/vhosts/copy", None).await;
    let dev = api.get("/api/definitions/dev").await;
    let into = other
        .guest("POST", "/api/definitions/copy", Some(dev))
        .await;
    assert_eq!(into.status, 204, "{:?}", into.json);
    assert_eq!(
        other.get("/api/vhost-limits/copy").await[0]["value"],
        json!({"max-connections": 10, "max-queues": 3})
    );

    let broken = other
        .guest(
            "POST",
            "/api/definitions",
            Some(
                json!({"parameters": [{"vhost": "/", "component": "vhost-limits",
                                        "name": "limits", "value": {"max-widgets": 1}}]}),
            ),
        )
        .await;
    assert_eq!(broken.status, 400);
    assert!(broken.json["reason"]
        .as_str()
        .unwrap()
        .contains("max-widgets"));
}
