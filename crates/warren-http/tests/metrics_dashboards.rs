//! The metric names RabbitMQ's official Grafana dashboards query each return
//! a series with a plausible value after some traffic.
//!
//! The names come from the `expr` fields of rabbitmq-server's
//! deps/rabbitmq_prometheus/docker/grafana/dashboards/RabbitMQ-Overview.json
//! at v3.10.8, v3.13.7 and main (the "RabbitMQ-Overview" dashboard, grafana.com
//! id 10991). The other dashboards there are not Warren's to feed:
//! Erlang-BEAM, Erlang-Distribution, Erlang-Distributions-Compare and
//! Erlang-Memory-Allocators read the Erlang VM (erlang_vm_*), which Warren
//! does not have; RabbitMQ-Quorum-Queues-Raft / RabbitMQ-Raft read Raft
//! (rabbitmq_raft_*) and RabbitMQ-Stream the stream protocol
//! (rabbitmq_global_stream_*), neither of which Warren implements; RabbitMQ-
//! PerfTest reads PerfTest's own metrics; inet_tcp_metrics reads Erlang's
//! inet driver. Overview names Warren cannot measure truthfully are listed
//! in NOT_MEASURED with the reason, and asserted absent (no pretend series).

mod common;

use std::collections::HashMap;

use common::{eventually, within, TestApi};
use lapin::options::*;
use lapin::types::FieldTable;
use lapin::BasicProperties;

/// Every metric the RabbitMQ-Overview dashboard queries (v3.10.8, v3.13.7, main).
const OVERVIEW_DASHBOARD: [&str; 44] = [
    "rabbitmq_build_info",
    "rabbitmq_identity_info",
    "rabbitmq_queue_messages_ready",
    "rabbitmq_queue_messages_unacked",
    "rabbitmq_channel_messages_published_total",
    "rabbitmq_channel_messages_confirmed_total",
    "rabbitmq_channel_messages_redelivered_total",
    "rabbitmq_channel_messages_delivered_total",
    "rabbitmq_channel_messages_delivered_ack_total",
    "rabbitmq_channel_get_total",
    "rabbitmq_channel_get_ack_total",
    "rabbitmq_channel_messages_acked_total",
    "rabbitmq_channel_messages_unroutable_dropped_total",
    "rabbitmq_channel_messages_unroutable_returned_total",
    "rabbitmq_channel_consumers",
    "rabbitmq_channels",
    "rabbitmq_channels_opened_total",
    "rabbitmq_channels_closed_total",
    "rabbitmq_connections",
    "rabbitmq_connections_opened_total",
    "rabbitmq_connections_closed_total",
    "rabbitmq_consumers",
    "rabbitmq_queues",
    "rabbitmq_queues_declared_total",
    "rabbitmq_queues_created_total",
    "rabbitmq_queues_deleted_total",
    "rabbitmq_process_open_fds",
    "rabbitmq_process_max_fds",
    "rabbitmq_process_open_tcp_sockets",
    "rabbitmq_process_max_tcp_sockets",
    "rabbitmq_process_resident_memory_bytes",
    "rabbitmq_resident_memory_limit_bytes",
    "rabbitmq_disk_space_available_bytes",
    "rabbitmq_disk_space_available_limit_bytes",
    "rabbitmq_erlang_uptime_seconds",
    "rabbitmq_global_consumers",
    "rabbitmq_global_publishers",
    "rabbitmq_global_messages_received_total",
    "rabbitmq_global_messages_routed_total",
    "rabbitmq_global_messages_confirmed_total",
    "rabbitmq_global_messages_delivered_total",
    "rabbitmq_global_messages_acknowledged_total",
    "rabbitmq_global_messages_redelivered_total",
    "rabbitmq_global_messages_get_empty_total",
];

/// More names of the same dashboard, each checked for an exact value below.
const OVERVIEW_DASHBOARD_GLOBAL_SPLIT: [&str; 6] = [
    "rabbitmq_global_messages_delivered_consume_auto_ack_total",
    "rabbitmq_global_messages_delivered_consume_manual_ack_total",
    "rabbitmq_global_messages_delivered_get_auto_ack_total",
    "rabbitmq_global_messages_delivered_get_manual_ack_total",
    "rabbitmq_global_messages_unroutable_dropped_total",
    "rabbitmq_global_messages_unroutable_returned_total",
];

/// Dashboard names Warren does not expose, and why.
const NOT_MEASURED: [(&str, &str); 4] = [
    (
        "rabbitmq_global_messages_received_confirm_total",
        "publishes on confirm channels are not counted apart from the others",
    ),
    (
        "rabbitmq_message_size_bytes_bucket",
        "no message size histogram (RabbitMQ 4.x)",
    ),
    (
        "rabbitmq_message_size_bytes_count",
        "no message size histogram (RabbitMQ 4.x)",
    ),
    (
        "rabbitmq_message_size_bytes_sum",
        "no message size histogram (RabbitMQ 4.x)",
    ),
];

/// name → [(labels, value)] of a Prometheus text exposition.
fn parse(text: &str) -> HashMap<String, Vec<(String, f64)>> {
    let mut out: HashMap<String, Vec<(String, f64)>> = HashMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').expect("name value");
        let (name, labels) = match series.split_once('{') {
            Some((n, l)) => (n, l.trim_end_matches('}')),
            None => (series, ""),
        };
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line}"));
        out.entry(name.to_string())
            .or_default()
            .push((labels.to_string(), value));
    }
    out
}

fn value(m: &HashMap<String, Vec<(String, f64)>>, name: &str) -> f64 {
    let series = m.get(name).unwrap_or_else(|| panic!("no series {name}"));
    series.iter().map(|(_, v)| v).sum()
}

/// What [`traffic`] leaves open: dropping a lapin channel or consumer closes it.
type Open = (
    lapin::Connection,
    lapin::Channel,
    lapin::Channel,
    lapin::Consumer,
);

async fn traffic(api: &TestApi) -> Open {
    let conn = api.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    within(ch.confirm_select(ConfirmSelectOptions::default()))
        .await
        .unwrap();
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    within(ch.queue_declare("dash".into(), durable, FieldTable::default()))
        .await
        .unwrap();
    let persistent = BasicProperties::default()
        .with_delivery_mode(2)
        .with_timestamp(1_600_000_000);
    for _ in 0..5 {
        within(ch.basic_publish(
            "".into(),
            "dash".into(),
            BasicPublishOptions::default(),
            b"0123456789",
            persistent.clone(),
        ))
        .await
        .unwrap()
        .await
        .unwrap();
    }
    // Unroutable: one dropped, one returned (mandatory).
    within(ch.basic_publish(
        "amq.direct".into(),
        "nowhere".into(),
        BasicPublishOptions::default(),
        b"x",
        BasicProperties::default(),
    ))
    .await
    .unwrap()
    .await
    .unwrap();
    let mandatory = BasicPublishOptions {
        mandatory: true,
        ..Default::default()
    };
    within(ch.basic_publish(
        "amq.direct".into(),
        "nowhere".into(),
        mandatory,
        b"x",
        BasicProperties::default(),
    ))
    .await
    .unwrap()
    .await
    .unwrap();
    // One get with ack, one without, then a consumer with ack takes one and
    // stays (so a channel has a consumer), leaving one ready and one unacked.
    let got = within(ch.basic_get("dash".into(), BasicGetOptions { no_ack: false }))
        .await
        .unwrap()
        .unwrap();
    within(got.delivery.acker.ack(BasicAckOptions::default()))
        .await
        .unwrap();
    within(ch.basic_get("dash".into(), BasicGetOptions { no_ack: true }))
        .await
        .unwrap()
        .unwrap();
    let consumer_ch = within(conn.create_channel()).await.unwrap();
    within(consumer_ch.basic_qos(1, BasicQosOptions::default()))
        .await
        .unwrap();
    let mut consumer = within(consumer_ch.basic_consume(
        "dash".into(),
        "c".into(),
        BasicConsumeOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    use futures_lite::StreamExt;
    let d = within(consumer.next()).await.unwrap().unwrap();
    within(d.acker.ack(BasicAckOptions::default()))
        .await
        .unwrap();
    // The ack frees the prefetch slot: the next message is delivered and left unacked.
    let _unacked = within(consumer.next()).await.unwrap().unwrap();
    // A failed login.
    let bad = format!("amqp://guest:wrong@{}/%2f", api.amqp);
    assert!(lapin::Connection::connect(&bad, Default::default())
        .await
        .is_err());
    (conn, ch, consumer_ch, consumer)
}

#[tokio::test]
async fn overview_dashboard_metrics_have_plausible_values() {
    let dir = tempfile::tempdir().unwrap();
    let api = TestApi::start_durable(dir.path()).await;
    let (metrics, base) = api.metrics().await;
    let _open = traffic(&api).await;
    let m = eventually("the unacked delivery in the metrics", || async {
        let m = parse(&api.text(&format!("{base}/metrics")).await);
        let settled = value(&m, "rabbitmq_queue_messages_unacked") == 1.0
            && value(&m, "rabbitmq_process_open_tcp_sockets") == 1.0;
        settled.then_some(m)
    })
    .await;
    for name in OVERVIEW_DASHBOARD
        .iter()
        .chain(&OVERVIEW_DASHBOARD_GLOBAL_SPLIT)
    {
        let series = m
            .get(*name)
            .unwrap_or_else(|| panic!("dashboard metric {name} missing"));
        assert!(!series.is_empty(), "{name} has no series");
        assert!(
            series.iter().all(|(_, v)| v.is_finite() && *v >= 0.0),
            "{name}: {series:?}"
        );
    }
    for (name, why) in NOT_MEASURED {
        assert!(
            !m.contains_key(name),
            "{name} is exposed but Warren does not measure it ({why})"
        );
    }
    let exact = [
        ("rabbitmq_queue_messages_ready", 1.0),
        ("rabbitmq_queue_messages_unacked", 1.0),
        ("rabbitmq_channel_consumers", 1.0),
        ("rabbitmq_consumers", 1.0),
        ("rabbitmq_global_consumers", 1.0),
        ("rabbitmq_global_publishers", 1.0),
        ("rabbitmq_channels", 2.0),
        ("rabbitmq_connections", 1.0),
        ("rabbitmq_queues", 1.0),
        ("rabbitmq_queues_created_total", 1.0),
        ("rabbitmq_channel_messages_published_total", 7.0),
        ("rabbitmq_global_messages_received_total", 7.0),
        ("rabbitmq_global_messages_routed_total", 5.0),
        ("rabbitmq_global_messages_confirmed_total", 7.0),
        ("rabbitmq_global_messages_unroutable_dropped_total", 1.0),
        ("rabbitmq_global_messages_unroutable_returned_total", 1.0),
        (
            "rabbitmq_global_messages_delivered_get_manual_ack_total",
            1.0,
        ),
        ("rabbitmq_global_messages_delivered_get_auto_ack_total", 1.0),
        (
            "rabbitmq_global_messages_delivered_consume_manual_ack_total",
            2.0,
        ),
        (
            "rabbitmq_global_messages_delivered_consume_auto_ack_total",
            0.0,
        ),
        ("rabbitmq_global_messages_delivered_total", 4.0),
        ("rabbitmq_global_messages_acknowledged_total", 2.0),
        ("rabbitmq_queue_messages_persistent", 1.0),
        ("rabbitmq_queue_messages_persistent_bytes", 10.0),
        ("rabbitmq_queue_messages_ready_bytes", 10.0),
        ("rabbitmq_queue_head_message_timestamp", 1_600_000_000.0),
        (
            "rabbitmq_resident_memory_limit_bytes",
            api.broker.alarms.memory_limit() as f64,
        ),
        (
            "rabbitmq_disk_space_available_limit_bytes",
            api.broker.alarms.disk_free_limit() as f64,
        ),
        ("rabbitmq_process_open_tcp_sockets", 1.0),
    ];
    for (name, want) in exact {
        assert_eq!(value(&m, name), want, "{name}");
    }
    assert!(value(&m, "rabbitmq_resident_memory_limit_bytes") > 0.0);
    assert!(value(&m, "rabbitmq_process_resident_memory_bytes") > 1e6);
    assert!(value(&m, "rabbitmq_disk_space_available_bytes") > 0.0);
    assert!(value(&m, "rabbitmq_process_max_fds") >= value(&m, "rabbitmq_process_open_fds"));
    assert!(value(&m, "rabbitmq_connection_incoming_bytes_total") > 100.0);
    assert!(value(&m, "rabbitmq_connection_outgoing_bytes_total") > 100.0);
    let uptime = value(&m, "rabbitmq_erlang_uptime_seconds");
    assert!(uptime > 0.0 && uptime < 3600.0, "{uptime}");
    let protocols =
        |name: &str| -> Vec<String> { m[name].iter().map(|(l, _)| l.clone()).collect() };
    assert_eq!(
        protocols("rabbitmq_global_messages_received_total"),
        ["protocol=\"amqp091\""]
    );
    let auth: HashMap<String, f64> = m["rabbitmq_auth_attempts_failed_total"]
        .iter()
        .cloned()
        .collect();
    assert_eq!(auth.get("protocol=\"amqp091\""), Some(&1.0), "{auth:?}");
    let ok: HashMap<String, f64> = m["rabbitmq_auth_attempts_succeeded_total"]
        .iter()
        .cloned()
        .collect();
    assert_eq!(ok.get("protocol=\"amqp091\""), Some(&1.0), "{ok:?}");
    // No management API login yet; one GET makes one.
    assert_eq!(ok.get("protocol=\"http\""), None, "{ok:?}");
    api.get("/api/overview").await;
    let m = parse(&api.text(&format!("{base}/metrics")).await);
    let ok: HashMap<String, f64> = m["rabbitmq_auth_attempts_succeeded_total"]
        .iter()
        .cloned()
        .collect();
    assert_eq!(ok.get("protocol=\"http\""), Some(&1.0), "{ok:?}");
    metrics.shutdown().await;
}

#[tokio::test]
async fn per_object_and_detailed_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    let api = TestApi::start_durable(dir.path()).await;
    let (metrics, base) = api.metrics().await;
    let _open = traffic(&api).await;
    api.guest("PUT", "/api/vhosts/other", None).await;
    api.guest(
        "PUT",
        "/api/queues/other/elsewhere",
        Some(serde_json::json!({})),
    )
    .await;
    let per = parse(&api.text(&format!("{base}/metrics/per-object")).await);
    let ready = &per["rabbitmq_queue_messages_ready"];
    assert!(
        ready.contains(&("vhost=\"/\",queue=\"dash\"".to_string(), 1.0)),
        "{ready:?}"
    );
    let consumers = &per["rabbitmq_channel_consumers"];
    assert!(
        consumers
            .iter()
            .any(|(l, v)| l.starts_with("channel=\"") && *v == 1.0),
        "{consumers:?}"
    );
    assert!(per["rabbitmq_identity_info"][0]
        .0
        .contains("rabbitmq_endpoint=\"per-object\""));
    let url = format!(
        "{base}/metrics/detailed?family=queue_coarse_metrics&family=queue_consumer_count&vhost=%2F"
    );
    let detailed = parse(&api.text(&url).await);
    assert_eq!(
        detailed["rabbitmq_detailed_queue_messages_ready"],
        [("vhost=\"/\",queue=\"dash\"".to_string(), 1.0)]
    );
    assert_eq!(detailed["rabbitmq_detailed_queue_consumers"][0].1, 1.0);
    assert!(
        !detailed.contains_key("rabbitmq_detailed_queue_messages_persistent"),
        "family not asked for"
    );
    assert!(
        !detailed.contains_key("rabbitmq_queue_messages_ready"),
        "only detailed names"
    );
    let none = parse(&api.text(&format!("{base}/metrics/detailed")).await);
    assert!(
        none.keys()
            .all(|k| k == "rabbitmq_identity_info" || k == "rabbitmq_build_info"),
        "{none:?}"
    );
    let vhosts = parse(
        &api.text(&format!("{base}/metrics/detailed?family=vhost_status"))
            .await,
    );
    assert_eq!(vhosts["rabbitmq_detailed_vhost_status"].len(), 2);
    metrics.shutdown().await;
}
