//! Authentication and management tags: 401 with RabbitMQ's JSON for missing or
//! bad credentials and for users without the needed tag.

mod common;

use common::TestApi;
use serde_json::json;

#[tokio::test]
async fn missing_or_bad_credentials_are_401_with_rabbitmq_shape() {
    let api = TestApi::start().await;
    let none = api.call("GET", "/api/overview", None, None).await;
    assert_eq!(none.status, 401);
    assert_eq!(none.json["error"], "not_authorised");
    assert!(none.challenge.unwrap().starts_with("Basic realm="));
    let bad = api
        .call("GET", "/api/queues", None, Some(("guest", "wrong")))
        .await;
    assert_eq!(bad.status, 401);
    assert_eq!(
        bad.json,
        json!({"error": "not_authorised", "reason": "Login failed"})
    );
    assert!(bad.challenge.is_some(), "a failed login is challenged");
    let unknown = api
        .call("GET", "/api/whoami", None, Some(("nobody", "x")))
        .await;
    assert_eq!(unknown.status, 401);
}

#[tokio::test]
async fn tags_govern_what_a_user_may_do() {
    let api = TestApi::start().await;
    let users = &api.broker.users;
    users.add_user("plain", "p", vec![]);
    users.add_user("mgmt", "p", vec!["management".into()]);
    users.add_user("mon", "p", vec!["monitoring".into()]);
    users.add_user("pol", "p", vec!["policymaker".into()]);
    for u in ["mgmt", "mon", "pol"] {
        users.set_permission(u, "/", warren_core::auth::Permission::full());
    }
    let as_ = |u: &'static str| Some((u, "p"));
    let a = api.call("GET", "/api/overview", None, as_("plain")).await;
    assert_eq!(
        (a.status, a.json["reason"].as_str()),
        (401, Some("Not management user"))
    );
    let a = api.call("GET", "/api/whoami", None, as_("mgmt")).await;
    assert_eq!(a.json, json!({"name": "mgmt", "tags": ["management"]}));
    let a = api.call("GET", "/api/users", None, as_("mgmt")).await;
    assert_eq!(
        (a.status, a.json["reason"].as_str()),
        (401, Some("Not administrator user"))
    );
    // Permission denied is no login challenge (a browser would pop its
    // login dialog for the web UI's requests), as in RabbitMQ.
    assert_eq!(
        a.challenge, None,
        "no WWW-Authenticate on permission denied"
    );
    let a = api.call("GET", "/api/nodes", None, as_("mgmt")).await;
    assert_eq!(a.status, 401);
    let a = api.call("GET", "/api/nodes", None, as_("mon")).await;
    assert_eq!(a.status, 200);
    let policy = json!({"pattern": "^x", "definition": {"max-length": 1}, "apply-to": "queues"});
    let a = api
        .call(
            "PUT",
            "/api/policies/%2F/p1",
            Some(policy.clone()),
            as_("mgmt"),
        )
        .await;
    assert_eq!(a.status, 401);
    let a = api
        .call("PUT", "/api/policies/%2F/p1", Some(policy), as_("pol"))
        .await;
    assert_eq!(a.status, 201);
    let a = api.call("GET", "/api/definitions", None, as_("mon")).await;
    assert_eq!(a.status, 401);
}

#[tokio::test]
async fn api_operations_check_vhost_permissions() {
    let api = TestApi::start().await;
    let users = &api.broker.users;
    users.add_user("m", "p", vec!["management".into()]);
    users.set_permission(
        "m",
        "/",
        warren_core::auth::Permission::new("^m\\.", ".*", ".*").unwrap(),
    );
    let creds = Some(("m", "p"));
    let ok = api
        .call("PUT", "/api/queues/%2F/m.q", Some(json!({})), creds)
        .await;
    assert_eq!(ok.status, 201);
    let refused = api
        .call("PUT", "/api/queues/%2F/other", Some(json!({})), creds)
        .await;
    assert_eq!(refused.status, 401);
    assert_eq!(
        refused.json["reason"],
        "ACCESS_REFUSED - access to queue 'other' in vhost '/' refused for user 'm'"
    );
    api.broker.add_vhost("private");
    let a = api.call("GET", "/api/queues/private", None, creds).await;
    assert_eq!(a.status, 401);
    let visible = api.call("GET", "/api/vhosts", None, creds).await;
    assert_eq!(visible.json.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn unknown_paths_and_objects_are_404_json() {
    let api = TestApi::start().await;
    let a = api.guest("GET", "/api/queues/%2F/missing", None).await;
    assert_eq!(a.status, 404);
    assert_eq!(
        a.json,
        json!({"error": "Object Not Found", "reason": "Not Found"})
    );
    let a = api.guest("GET", "/api/no-such-thing", None).await;
    assert_eq!(a.status, 404);
    let a = api.guest("GET", "/api/vhosts/missing", None).await;
    assert_eq!(a.status, 404);
}
