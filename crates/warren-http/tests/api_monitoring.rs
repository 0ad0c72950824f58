//! The API fields monitoring tools read (Datadog, rabbitmqadmin, scripts),
//! compared with RabbitMQ 3.10.8's answers: /api/nodes, queue fields
//! (split message_stats, consumer_details, persistent counts, head
//! timestamp, effective policy), connections' user_provided_name, the
//! `samples` history of lengths_age / msg_rates_age, and the health checks.

mod common;

use common::{eventually, within, TestApi};
use lapin::options::*;
use lapin::types::FieldTable;
use lapin::BasicProperties;
use serde_json::{json, Value};

#[tokio::test]
async fn nodes_report_limits_and_measurements() {
    let api = TestApi::start().await;
    let _conn = api.lapin().await;
    let node = eventually("the sampler to see the connection", || async {
        let nodes = api.get("/api/nodes").await;
        let n = nodes[0].clone();
        (n["sockets_used"] == 1 && n["connection_created"] == 1).then_some(n)
    })
    .await;
    assert_eq!(node["partitions"], json!([]));
    assert_eq!(node["running"], true);
    assert_eq!(node["type"], "disc");
    assert_eq!(node["mem_limit"], api.broker.alarms.memory_limit());
    assert!(node["mem_limit"].as_u64() > Some(0));
    assert_eq!(node["disk_free_limit"], api.broker.alarms.disk_free_limit());
    assert_eq!(
        (node["mem_alarm"].clone(), node["disk_free_alarm"].clone()),
        (json!(false), json!(false))
    );
    assert!(node["mem_used"].as_u64() > Some(1 << 20), "{node}");
    assert!(node["disk_free"].as_u64() > Some(0));
    let (fd_used, fd_total) = (
        node["fd_used"].as_u64().unwrap(),
        node["fd_total"].as_u64().unwrap(),
    );
    assert!(fd_used > 0 && fd_total >= fd_used, "{node}");
    assert!(node["sockets_total"].as_u64().unwrap() > 0);
    assert!(
        node["proc_used"].as_u64() > Some(0),
        "runtime tasks: {node}"
    );
    assert!(node["run_queue"].is_u64());
    assert!(node["uptime"].is_u64());
    assert_eq!(node["os_pid"], std::process::id().to_string());
    assert!(node["processors"].as_u64() >= Some(1));
    assert_eq!(node["rates_mode"], "basic");
    assert_eq!(node["mem_calculation_strategy"], "rss");
    for field in [
        "mem_used_details",
        "fd_used_details",
        "sockets_used_details",
        "connection_created_details",
    ] {
        assert!(node[field]["rate"].is_number(), "{field} in {node}");
    }
    let mechanisms: Vec<&str> = node["auth_mechanisms"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["enabled"] == true)
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(mechanisms, ["PLAIN", "AMQPLAIN"]);
    assert_eq!(node["exchange_types"].as_array().unwrap().len(), 4);
    let port = api.base.rsplit(':').next().unwrap().to_string();
    assert!(
        node["contexts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["port"] == port.as_str()),
        "{node}"
    );
    assert!(node["applications"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["name"] == "rabbitmq_management"));
    for field in [
        "config_files",
        "log_files",
        "db_dir",
        "cluster_links",
        "enabled_plugins",
    ] {
        assert!(node.get(field).is_some(), "{field} in {node}");
    }
    let one = api
        .get(&format!("/api/nodes/{}", node["name"].as_str().unwrap()))
        .await;
    assert_eq!(one["partitions"], json!([]));
}

async fn publish(ch: &lapin::Channel, queue: &str, body: &[u8], props: BasicProperties) {
    within(ch.basic_publish(
        "".into(),
        queue.into(),
        BasicPublishOptions::default(),
        body,
        props,
    ))
    .await
    .unwrap()
    .await
    .unwrap();
}

#[tokio::test]
async fn queue_stats_are_split_as_rabbitmq_splits_them() {
    let dir = tempfile::tempdir().unwrap();
    let api = TestApi::start_durable(dir.path()).await;
    let conn = api.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    within(ch.confirm_select(ConfirmSelectOptions::default()))
        .await
        .unwrap();
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    within(ch.queue_declare("split".into(), durable, FieldTable::default()))
        .await
        .unwrap();
    let persistent = BasicProperties::default()
        .with_delivery_mode(2)
        .with_timestamp(1_700_000_000);
    for i in 0..6u8 {
        publish(&ch, "split", &[b'a' + i; 10], persistent.clone()).await;
    }
    publish(&ch, "split", b"transient", BasicProperties::default()).await;
    let q = api.get("/api/queues/%2F/split").await;
    assert_eq!(q["messages"], 7);
    assert_eq!(q["messages_persistent"], 6, "{q}");
    assert_eq!(q["message_bytes_persistent"], 60);
    assert_eq!(q["message_bytes_ready"], 69);
    assert_eq!(q["messages_ready_ram"], 7);
    assert_eq!(q["messages_paged_out"], 0);
    assert_eq!(q["head_message_timestamp"], 1_700_000_000);
    // basic.get with and without ack, then an empty get after draining.
    let got = within(ch.basic_get("split".into(), BasicGetOptions { no_ack: true }))
        .await
        .unwrap();
    assert!(got.is_some());
    let got = within(ch.basic_get("split".into(), BasicGetOptions { no_ack: false }))
        .await
        .unwrap()
        .unwrap();
    within(got.delivery.acker.ack(BasicAckOptions::default()))
        .await
        .unwrap();
    // Consumers: one without ack takes two, then one with ack takes the rest.
    within(ch.basic_qos(2, BasicQosOptions::default()))
        .await
        .unwrap();
    let auto = within(ch.basic_consume(
        "split".into(),
        "auto".into(),
        BasicConsumeOptions {
            no_ack: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await
    .unwrap();
    eventually("the auto-ack consumer to drain the queue", || async {
        let q = api.get("/api/queues/%2F/split").await;
        (q["messages"] == 0).then_some(())
    })
    .await;
    within(ch.basic_cancel(auto.tag(), BasicCancelOptions::default()))
        .await
        .unwrap();
    publish(
        &ch,
        "split",
        b"for the manual consumer",
        BasicProperties::default(),
    )
    .await;
    let mut manual = within(ch.basic_consume(
        "split".into(),
        "manual".into(),
        BasicConsumeOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    use futures_lite::StreamExt;
    let d = within(manual.next()).await.unwrap().unwrap();
    let q = eventually("the unacked delivery", || async {
        let q = api.get("/api/queues/%2F/split").await;
        (q["messages_unacknowledged"] == 1).then_some(q)
    })
    .await;
    assert_eq!(q["consumer_details"].as_array().unwrap().len(), 1, "{q}");
    assert_eq!(q["consumer_details"][0]["consumer_tag"], "manual");
    assert_eq!(q["consumer_details"][0]["ack_required"], true);
    assert_eq!(q["consumer_details"][0]["prefetch_count"], 2);
    within(d.acker.ack(BasicAckOptions::default()))
        .await
        .unwrap();
    within(ch.basic_cancel(manual.tag(), BasicCancelOptions::default()))
        .await
        .unwrap();
    let empty = within(ch.basic_get("split".into(), BasicGetOptions { no_ack: false }))
        .await
        .unwrap();
    assert!(empty.is_none());
    let q = eventually("the acks counted", || async {
        let q = api.get("/api/queues/%2F/split").await;
        (q["message_stats"]["ack"] == 2).then_some(q)
    })
    .await;
    let s = &q["message_stats"];
    let counts: Vec<Value> = [
        "publish",
        "get_no_ack",
        "get",
        "deliver_no_ack",
        "deliver",
        "get_empty",
        "deliver_get",
    ]
    .iter()
    .map(|k| s[*k].clone())
    .collect();
    assert_eq!(
        counts,
        [
            json!(8),
            json!(1),
            json!(1),
            json!(5),
            json!(1),
            json!(1),
            json!(8)
        ],
        "{s}"
    );
    for k in [
        "deliver",
        "deliver_no_ack",
        "get",
        "get_no_ack",
        "get_empty",
    ] {
        assert!(
            s[format!("{k}_details")]["rate"].is_number(),
            "{k}_details in {s}"
        );
    }
    assert_eq!(q["head_message_timestamp"], Value::Null);
    assert_eq!(q["messages_persistent"], 0);
}

#[tokio::test]
async fn effective_policy_definition_is_the_matching_policy() {
    let api = TestApi::start().await;
    api.guest("PUT", "/api/queues/%2F/pol.q", Some(json!({})))
        .await;
    let q = api.get("/api/queues/%2F/pol.q").await;
    assert_eq!(q["effective_policy_definition"], json!({}));
    assert_eq!(q["policy"], Value::Null);
    let a = api
        .guest(
            "PUT",
            "/api/policies/%2F/limit",
            Some(json!({"pattern": "^pol\\.", "definition": {"max-length": 5}, "apply-to": "queues"})),
        )
        .await;
    assert_eq!(a.status, 201, "{:?}", a.json);
    let q = api.get("/api/queues/%2F/pol.q").await;
    assert_eq!(q["policy"], "limit");
    assert_eq!(q["effective_policy_definition"], json!({"max-length": 5}));
}

#[tokio::test]
async fn connections_show_the_client_provided_name() {
    let api = TestApi::start().await;
    let uri = format!("amqp://guest:guest@{}/%2f", api.amqp);
    let props =
        lapin::ConnectionProperties::default().with_connection_name("billing-worker-7".into());
    let _named = within(lapin::Connection::connect(&uri, props))
        .await
        .unwrap();
    let _anonymous = api.lapin().await;
    let conns = api.get("/api/connections").await;
    let mut names: Vec<Value> = conns
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["user_provided_name"].clone())
        .collect();
    names.sort_by_key(|v| v.to_string());
    assert_eq!(names, [json!("billing-worker-7"), Value::Null]);
}

#[tokio::test]
async fn samples_history_follows_lengths_and_msg_rates_age() {
    let api = TestApi::start().await;
    api.guest("PUT", "/api/queues/%2F/hist", Some(json!({})))
        .await;
    for _ in 0..3 {
        api.guest(
            "POST",
            "/api/exchanges/%2F/amq.default/publish",
            Some(json!({"routing_key": "hist", "payload": "x", "payload_encoding": "string", "properties": {}})),
        )
        .await;
    }
    let path =
        "/api/queues/%2F/hist?lengths_age=10&lengths_incr=1&msg_rates_age=10&msg_rates_incr=1";
    let q = eventually("two seconds of samples", || async {
        let q = api.get(path).await;
        (q["messages_details"]["samples"]
            .as_array()
            .map_or(0, Vec::len)
            >= 3)
            .then_some(q)
    })
    .await;
    let samples = q["messages_details"]["samples"].as_array().unwrap();
    assert_eq!(samples[0]["sample"], 3, "{samples:?}");
    let stamps: Vec<u64> = samples
        .iter()
        .map(|s| s["timestamp"].as_u64().unwrap())
        .collect();
    assert!(
        stamps.windows(2).all(|w| w[0] - w[1] == 1000),
        "newest first, 1 s apart: {stamps:?}"
    );
    assert!(q["messages_details"]["avg"].is_number());
    assert!(q["messages_details"]["avg_rate"].is_number());
    let publish = &q["message_stats"]["publish_details"];
    assert_eq!(publish["samples"][0]["sample"], 3, "{publish}");
    let o = api.get("/api/overview?lengths_age=10&lengths_incr=1").await;
    assert!(
        o["queue_totals"]["messages_details"]["samples"].is_array(),
        "{o}"
    );
    let q = api.get("/api/queues/%2F/hist").await;
    assert!(
        q["messages_details"].get("samples").is_none(),
        "no history unless asked"
    );
    let bad = api
        .guest(
            "GET",
            "/api/queues/%2F/hist?lengths_age=60&lengths_incr=0",
            None,
        )
        .await;
    assert_eq!(bad.status, 400);
}

#[tokio::test]
async fn listener_and_cluster_health_checks() {
    let api = TestApi::start().await;
    let amqp_port = api.amqp.port();
    let a = api
        .guest(
            "GET",
            &format!("/api/health/checks/port-listener/{amqp_port}"),
            None,
        )
        .await;
    assert_eq!(
        (a.status, a.json.clone()),
        (200, json!({"status": "ok", "port": amqp_port}))
    );
    let unused = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let a = api
        .guest(
            "GET",
            &format!("/api/health/checks/port-listener/{unused}"),
            None,
        )
        .await;
    assert_eq!(a.status, 503);
    assert_eq!(a.json["reason"], "No active listener");
    assert_eq!(a.json["missing"], unused);
    assert!(a.json["ports"]
        .as_array()
        .unwrap()
        .contains(&json!(amqp_port)));
    let a = api
        .guest("GET", "/api/health/checks/port-listener/http", None)
        .await;
    assert_eq!(a.status, 400);
    for alias in ["amqp", "AMQP091", "amqp0-9-1"] {
        let a = api
            .guest(
                "GET",
                &format!("/api/health/checks/protocol-listener/{alias}"),
                None,
            )
            .await;
        assert_eq!(
            (a.status, a.json.clone()),
            (200, json!({"status": "ok", "protocol": "amqp"}))
        );
    }
    let a = api
        .guest("GET", "/api/health/checks/protocol-listener/mqtt", None)
        .await;
    assert_eq!(a.status, 503);
    assert_eq!(a.json["missing"], "mqtt");
    assert!(a.json["protocols"]
        .as_array()
        .unwrap()
        .contains(&json!("http")));
    for check in [
        "node-is-quorum-critical",
        "node-is-mirror-sync-critical",
        "virtual-hosts",
    ] {
        let a = api
            .guest("GET", &format!("/api/health/checks/{check}"), None)
            .await;
        assert_eq!(
            (a.status, a.json["status"].clone()),
            (200, json!("ok")),
            "{check}"
        );
    }
}

#[tokio::test]
async fn overview_has_churn_rates_and_retention() {
    let api = TestApi::start().await;
    let _conn = api.lapin().await;
    let o = eventually("the connection in churn_rates", || async {
        let o = api.get("/api/overview").await;
        (o["churn_rates"]["connection_created"] == 1).then_some(o)
    })
    .await;
    assert!(
        o["churn_rates"]["queue_declared_details"]["rate"].is_number(),
        "{o}"
    );
    assert_eq!(o["disable_stats"], false);
    assert_eq!(
        o["sample_retention_policies"]["basic"],
        json!([600]),
        "121 samples 5 s apart"
    );
}

fn write_certificate(dir: &std::path::Path, name: &str, days: i64) -> std::path::PathBuf {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
    let now = std::time::SystemTime::now();
    let expiry = now + std::time::Duration::from_secs((days * 86_400) as u64);
    params.not_after = expiry.into();
    let path = dir.join(name);
    std::fs::write(&path, params.self_signed(&key).unwrap().pem()).unwrap();
    path
}

#[tokio::test]
async fn certificate_expiration_check_reads_the_listeners_certificates() {
    let api = TestApi::start().await;
    let dir = tempfile::tempdir().unwrap();
    let soon = write_certificate(dir.path(), "server.pem", 10);
    let ca = write_certificate(dir.path(), "ca.pem", 3000);
    let addr: std::net::SocketAddr = "127.0.0.1:5671".parse().unwrap();
    let info = warren_http::NodeInfo {
        tls: vec![warren_http::certs::TlsListenerFiles {
            protocol: "amqp/ssl".into(),
            addr,
            certfile: soon.clone(),
            cacertfile: Some(ca),
        }],
        ..Default::default()
    };
    let http = warren_http::HttpServer::bind_management(
        api.broker.clone(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap()
    .with_node_info(info)
    .start();
    let base = format!("http://{}", http.local_addr());
    let check = |path: &'static str| {
        let url = format!("{base}/api/health/checks/certificate-expiration/{path}");
        async move {
            tokio::task::spawn_blocking(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .build()
                    .into();
                let mut r = agent
                    .get(&url)
                    .header("Authorization", "Basic Z3Vlc3Q6Z3Vlc3Q=")
                    .call()
                    .unwrap();
                let status = r.status().as_u16();
                let body: Value =
                    serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
                (status, body)
            })
            .await
            .unwrap()
        }
    };
    let (status, body) = check("1/weeks").await;
    assert_eq!((status, body.clone()), (200, json!({"status": "ok"})));
    let (status, body) = check("1/months").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["reason"], "Certificates expiring");
    let expired = &body["expired"][0];
    assert_eq!(expired["protocol"], "amqp/ssl");
    assert_eq!(expired["port"], 5671);
    assert_eq!(expired["certfile"], soon.display().to_string());
    assert_eq!(expired["certfile_expires_on"].as_array().unwrap().len(), 1);
    assert_eq!(expired["cacertfile_expires_on"], json!([]));
    let (status, body) = check("10/years").await;
    assert_eq!(status, 503);
    assert_eq!(
        body["expired"][0]["cacertfile_expires_on"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let (status, body) = check("1/fortnights").await;
    assert_eq!(status, 400, "{body}");
    assert!(body["reason"].as_str().unwrap().contains("Supported units"));
    http.shutdown().await;
}
