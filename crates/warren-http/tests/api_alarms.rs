//! Resource alarms in the management API: the alarms health check answers 503
//! with RabbitMQ's body while an alarm is set, the node shows it, and a
//! publisher's connection shows as blocked.

mod common;

use common::{eventually, within, TestApi};
use lapin::options::BasicPublishOptions;
use lapin::BasicProperties;
use serde_json::json;

#[tokio::test]
async fn alarms_health_check_node_and_connection_state_follow_the_memory_alarm() {
    let api = TestApi::start().await;
    assert_eq!(
        api.get("/api/health/checks/alarms").await,
        json!({"status": "ok"})
    );
    let node = api.get("/api/nodes").await[0].clone();
    assert_eq!(node["mem_alarm"], false);
    assert!(node["mem_limit"].as_u64().unwrap() > 0);
    assert_eq!(node["disk_free_limit"], 50_000_000);

    api.broker.alarms.set_memory_limit(1);
    let answer = eventually("the alarms check to fail", || async {
        let a = api.guest("GET", "/api/health/checks/alarms", None).await;
        (a.status == 503).then_some(a)
    })
    .await;
    let name = node["name"].as_str().unwrap();
    assert_eq!(
        answer.json,
        json!({"status": "failed", "reason": "There are alarms in effect in the cluster",
               "alarms": [{"node": name, "resource": "memory"}]})
    );
    let local = api
        .guest("GET", "/api/health/checks/local-alarms", None)
        .await;
    assert_eq!(local.status, 503);
    assert_eq!(
        local.json["reason"],
        "There are alarms in effect on the node"
    );
    assert_eq!(api.get("/api/nodes").await[0]["mem_alarm"], true);

    let conn = api.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    within(ch.basic_publish(
        "".into(),
        "q".into(),
        BasicPublishOptions::default(),
        b"x",
        BasicProperties::default(),
    ))
    .await
    .unwrap();
    eventually("the publisher to be blocked", || async {
        let conns = api.get("/api/connections").await;
        (conns[0]["state"] == "blocked").then_some(())
    })
    .await;

    api.broker.alarms.set_memory_limit(u64::MAX);
    assert_eq!(
        api.get("/api/health/checks/alarms").await,
        json!({"status": "ok"})
    );
    eventually("the publisher to run again", || async {
        let conns = api.get("/api/connections").await;
        (conns[0]["state"] == "running").then_some(())
    })
    .await;
}
