//! /api/overview, /api/nodes, /api/whoami, /api/aliveness-test and the
//! health checks.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Value};
use warren_core::vhost::QueueDeclare;
use warren_core::Broker;

use crate::auth::{can_see_vhost, check_vhost, AuthUser};
use crate::error::{ApiError, ApiResult};
use crate::listing::Query as ListQuery;
use crate::stats::{self, HistoryQuery, CHANNEL_STATS, QUEUE_DEPTHS};
use crate::{process, AppState};

/// The RabbitMQ version whose management API Warren follows.
pub const RABBITMQ_API_VERSION: &str = "3.10.8";

const EXCHANGE_TYPES: [(&str, &str); 4] = [
    (
        "direct",
        "AMQP direct exchange, as per the AMQP specification",
    ),
    (
        "fanout",
        "AMQP fanout exchange, as per the AMQP specification",
    ),
    (
        "headers",
        "AMQP headers exchange, as per the AMQP specification",
    ),
    (
        "topic",
        "AMQP topic exchange, as per the AMQP specification",
    ),
];

/// GET /api/overview.
pub async fn overview(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let history = HistoryQuery::from_query(&query)?;
    let broker = &state.broker;
    let values = stats::overview_values(broker);
    let rates = broker.rates.rates(stats::OVERVIEW_KEY, values.len());
    let samples = if history == HistoryQuery::default() {
        Vec::new()
    } else {
        broker.rates.history(stats::OVERVIEW_KEY)
    };
    let (chan, depth) = values.split_at(CHANNEL_STATS.len());
    let (chan_rates, depth_rates) = rates.split_at(CHANNEL_STATS.len());
    let mut queue_totals = serde_json::Map::new();
    stats::put_counters_sampled(
        &mut queue_totals,
        &QUEUE_DEPTHS,
        depth,
        depth_rates,
        history.lengths.map(|range| stats::Sampled {
            history: &samples,
            offset: CHANNEL_STATS.len(),
            range,
        }),
    );
    let mut message_stats = serde_json::Map::new();
    stats::put_counters_sampled(
        &mut message_stats,
        &CHANNEL_STATS,
        chan,
        chan_rates,
        history.msg_rates.map(|range| stats::Sampled {
            history: &samples,
            offset: 0,
            range,
        }),
    );
    let visible: Vec<_> = broker
        .vhosts()
        .into_iter()
        .filter(|v| can_see_vhost(&state, &user, &v.name))
        .collect();
    let connections = broker.registry.connections();
    let channels: usize = connections.iter().map(|c| c.channel_count()).sum();
    let queues: usize = visible.iter().map(|v| v.queue_count()).sum();
    let exchanges: usize = visible.iter().map(|v| v.exchanges().len()).sum();
    let consumers: usize = visible
        .iter()
        .flat_map(|v| v.queues())
        .map(|q| q.consumer_count())
        .sum();
    let listeners: Vec<Value> = state
        .listeners
        .entries
        .iter()
        .map(|(protocol, addr)| {
            json!({"node": state.node, "protocol": protocol,
                   "ip_address": addr.ip().to_string(), "port": addr.port()})
        })
        .collect();
    Ok(Json(json!({
        "management_version": RABBITMQ_API_VERSION,
        "rabbitmq_version": RABBITMQ_API_VERSION,
        "product_name": "Warren",
        "product_version": env!("CARGO_PKG_VERSION"),
        "rates_mode": "basic",
        "cluster_name": "warren",
        "node": state.node,
        "erlang_version": "n/a",
        "exchange_types": EXCHANGE_TYPES.iter().map(|(n, d)| json!({"name": n, "description": d, "enabled": true})).collect::<Vec<_>>(),
        "message_stats": message_stats,
        "queue_totals": queue_totals,
        "object_totals": {
            "connections": connections.len(),
            "channels": channels,
            "exchanges": exchanges,
            "queues": queues,
            "consumers": consumers,
        },
        "statistics_db_event_queue": 0,
        "churn_rates": churn_rates(broker),
        "disable_stats": false,
        "enable_queue_totals": false,
        "sample_retention_policies": retention(&state),
        "listeners": listeners,
        "contexts": contexts(&state),
    })))
}

/// The overview's `churn_rates`: connection, channel and queue churn counters
/// with their rates (the node's, as Warren is one node).
fn churn_rates(broker: &Broker) -> Value {
    let values = node_values(broker);
    let rates = broker.rates.rates(NODE_KEY, values.len());
    let mut out = serde_json::Map::new();
    let first = NODE_STATS.len() - CHURN_STATS;
    stats::put_counters(
        &mut out,
        &NODE_STATS[first..],
        &values[first..],
        rates.get(first..).unwrap_or(&[]),
    );
    Value::Object(out)
}

/// How far back `samples` histories reach, in seconds, for every rates mode.
fn retention(state: &AppState) -> Value {
    let secs = (warren_core::rates::HISTORY_LEN as u64 - 1)
        * state.node_info.stats_interval.as_secs().max(1);
    json!({"global": [secs], "basic": [secs], "detailed": [secs]})
}

/// GET /api/cluster-name.
pub async fn cluster_name() -> Json<Value> {
    Json(json!({"name": "warren"}))
}

/// Open file descriptors of this process.
pub fn open_fds() -> u64 {
    process::open_fds()
}

/// The soft limit on file descriptors.
pub fn max_fds() -> u64 {
    process::max_fds()
}

/// Free bytes on the file system of the data directory.
pub fn disk_free(broker: &Broker) -> u64 {
    warren_core::alarms::disk_free_at(broker.alarms.data_dir()).unwrap_or(0)
}

/// Process memory in bytes (resident set).
pub fn memory_used() -> u64 {
    process::resident_memory()
}

/// AMQP sockets open now, and how many the node accepts (connection_max,
/// bounded by the descriptor limit).
pub fn sockets(broker: &Broker) -> (u64, u64) {
    let used = broker.open_sockets.load(Relaxed).max(0) as u64;
    let fds = max_fds();
    let total = broker
        .config
        .connection_max
        .map_or(fds, |max| (max as u64).min(fds));
    (used, total)
}

fn auth_mechanisms(state: &AppState) -> Vec<Value> {
    let tls = state.listeners.entries.iter().any(|(p, _)| p == "amqp/ssl");
    [
        ("PLAIN", "SASL PLAIN authentication mechanism", true),
        ("AMQPLAIN", "QPid AMQPLAIN mechanism", true),
        ("EXTERNAL", "SASL EXTERNAL authentication mechanism", tls),
    ]
    .into_iter()
    .map(|(n, d, e)| json!({"name": n, "description": d, "enabled": e}))
    .collect()
}

fn applications() -> Vec<Value> {
    let version = env!("CARGO_PKG_VERSION");
    [
        ("warren", "Warren message broker"),
        (
            "rabbitmq_management",
            "RabbitMQ Management Console (built into Warren)",
        ),
        (
            "rabbitmq_prometheus",
            "Prometheus metrics (built into Warren)",
        ),
    ]
    .into_iter()
    .map(|(n, d)| json!({"name": n, "description": d, "version": version}))
    .collect()
}

/// The HTTP contexts: management (and its HTTPS twin) and Prometheus.
fn contexts(state: &AppState) -> Vec<Value> {
    state
        .listeners
        .entries
        .iter()
        .filter_map(|(protocol, addr)| {
            let description = match protocol.as_str() {
                "http" | "https" => "RabbitMQ Management",
                "http/prometheus" => "RabbitMQ Prometheus",
                _ => return None,
            };
            let mut c = json!({"node": state.node, "description": description,
                               "path": "/", "port": addr.port().to_string()});
            if protocol == "https" {
                c["ssl"] = json!(true);
            }
            Some(c)
        })
        .collect()
}

/// The node's gauges and counters that get `_details` rates, in sampler order.
pub const NODE_STATS: [&str; 13] = [
    "mem_used",
    "fd_used",
    "sockets_used",
    "proc_used",
    "disk_free",
    "context_switches",
    "connection_created",
    "connection_closed",
    "channel_created",
    "channel_closed",
    "queue_declared",
    "queue_created",
    "queue_deleted",
];

/// The churn counters at the end of [`NODE_STATS`].
const CHURN_STATS: usize = 7;

/// Values in `NODE_STATS` order.
pub fn node_values(broker: &Broker) -> Vec<u64> {
    let churn = broker.registry.churn();
    let (mut declared, mut created, mut deleted) = (0, 0, 0);
    for v in broker.vhosts() {
        declared += v.churn.declared.load(Relaxed);
        created += v.churn.created.load(Relaxed);
        deleted += v.churn.deleted.load(Relaxed);
    }
    vec![
        memory_used(),
        open_fds(),
        sockets(broker).0,
        process::runtime_tasks().map_or(0, |(alive, _)| alive as u64),
        disk_free(broker),
        process::context_switches().unwrap_or(0),
        churn.connections_opened,
        churn.connections_closed,
        churn.channels_opened,
        churn.channels_closed,
        declared,
        created,
        deleted,
    ]
}

/// Rate-table key of the node.
pub const NODE_KEY: &str = "node";

fn node_json(state: &AppState) -> Value {
    let alarms = &state.broker.alarms;
    let active = alarms.active();
    let processors = std::thread::available_parallelism().map_or(1, |n| n.get());
    let values = node_values(&state.broker);
    let rates = state.broker.rates.rates(NODE_KEY, values.len());
    let mut out = json!({
        "name": state.node,
        "type": "disc",
        "running": true,
        "os_pid": std::process::id().to_string(),
        "uptime": state.broker.started_at.elapsed().as_millis() as u64,
        "partitions": [],
        "cluster_links": [],
        "mem_limit": alarms.memory_limit(),
        "mem_alarm": active.memory,
        "mem_calculation_strategy": "rss",
        "disk_free_limit": alarms.disk_free_limit(),
        "disk_free_alarm": active.disk,
        "fd_total": max_fds(),
        "sockets_total": sockets(&state.broker).1,
        "run_queue": process::runtime_tasks().map_or(0, |(_, queued)| queued),
        "processors": processors,
        "rates_mode": "basic",
        "exchange_types": EXCHANGE_TYPES.iter().map(|(n, d)| json!({"name": n, "description": d, "enabled": true})).collect::<Vec<_>>(),
        "auth_mechanisms": auth_mechanisms(state),
        "applications": applications(),
        "enabled_plugins": ["rabbitmq_management", "rabbitmq_prometheus"],
        "contexts": contexts(state),
        "config_files": state.node_info.config_files,
        "log_files": state.node_info.log_files,
        "db_dir": alarms.data_dir().display().to_string(),
    });
    if let Value::Object(map) = &mut out {
        stats::put_counters(map, &NODE_STATS, &values, &rates);
        if let Some((read, written)) = process::storage_io() {
            map.insert("io_read_bytes".into(), json!(read));
            map.insert("io_write_bytes".into(), json!(written));
        }
    }
    out
}

/// GET /api/nodes (monitoring).
pub async fn nodes(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
) -> ApiResult<Json<Value>> {
    user.require_monitor()?;
    Ok(Json(json!([node_json(&state)])))
}

/// GET /api/nodes/{node} (monitoring).
pub async fn node(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    user.require_monitor()?;
    if name != state.node {
        return Err(ApiError::NotFound);
    }
    Ok(Json(node_json(&state)))
}

/// GET /api/whoami.
pub async fn whoami(Extension(user): Extension<AuthUser>) -> Json<Value> {
    Json(json!({"name": user.name, "tags": user.tags}))
}

/// GET /api/aliveness-test/{vhost}: declares "aliveness-test", publishes to
/// it and gets the message back, as RabbitMQ does.
pub async fn aliveness(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Path(vhost): Path<String>,
) -> ApiResult<Json<Value>> {
    check_vhost(&state, &user, &vhost)?;
    let v = state.broker.vhost(&vhost).ok_or(ApiError::NotFound)?;
    let declared = v.declare_queue(
        QueueDeclare {
            name: "aliveness-test".into(),
            ..Default::default()
        },
        0,
    )?;
    let queue = declared.queue;
    queue.publish(Arc::new(warren_core::Message {
        exchange: bytes::Bytes::new(),
        routing_key: bytes::Bytes::from_static(b"aliveness-test"),
        content: warren_core::message::Content::new(
            warren_core::message::FormatId::AMQP_091,
            warren_codec::properties::encode_properties(&Default::default()),
        ),
        body: bytes::Bytes::from_static(b"test_message"),
        ann: Default::default(),
    }));
    match queue.get(true) {
        Some((m, _, _)) if &m.message.body[..] == b"test_message" => {
            Ok(Json(json!({"status": "ok"})))
        }
        _ => Ok(Json(
            json!({"status": "failed", "reason": "message not received"}),
        )),
    }
}

/// GET /api/health/checks/alarms: 200 {"status":"ok"}, or 503 with the
/// alarms in effect, as RabbitMQ answers.
pub async fn health_alarms(State(state): State<Arc<AppState>>) -> Response {
    alarms_response(&state, "There are alarms in effect in the cluster")
}

/// GET /api/health/checks/local-alarms: the same for this node.
pub async fn health_local_alarms(State(state): State<Arc<AppState>>) -> Response {
    alarms_response(&state, "There are alarms in effect on the node")
}

fn alarms_response(state: &AppState, reason: &str) -> Response {
    let active = state.broker.alarms.active();
    if !active.any() {
        return Json(json!({"status": "ok"})).into_response();
    }
    let alarms: Vec<Value> = active
        .resources()
        .into_iter()
        .map(|r| json!({"node": state.node, "resource": r}))
        .collect();
    let body = json!({"status": "failed", "reason": reason, "alarms": alarms});
    (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
}

/// GET /api/health/checks/virtual-hosts: every vhost is running.
pub async fn health_vhosts() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// A failed health check: 503 with RabbitMQ's body.
fn check_failed(body: Value) -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
}

/// GET /api/health/checks/port-listener/{port}: 200 if this node listens
/// on the port, 503 with the ports it does listen on otherwise.
pub async fn health_port_listener(
    State(state): State<Arc<AppState>>,
    Path(port): Path<String>,
) -> ApiResult<Response> {
    let port: u16 = port
        .parse()
        .map_err(|_| ApiError::bad_request("Invalid port"))?;
    let ports: Vec<u16> = state
        .listeners
        .entries
        .iter()
        .map(|(_, a)| a.port())
        .collect();
    if ports.contains(&port) {
        return Ok(Json(json!({"status": "ok", "port": port})).into_response());
    }
    Ok(check_failed(
        json!({"status": "failed", "reason": "No active listener",
                           "missing": port, "ports": ports}),
    ))
}

/// RabbitMQ's aliases for protocol names (rabbit_mgmt_wm_health_check_protocol_listener).
fn normalize_protocol(protocol: &str) -> String {
    let lower = protocol.to_lowercase();
    let canonical = match lower.as_str() {
        "amqp091" | "amqp0.9.1" | "amqp0-9-1" | "amqp0_9_1" | "amqp10" | "amqp1.0" | "amqp1-0"
        | "amqp1_0" => "amqp",
        "amqps" => "amqp/ssl",
        "http1" | "http1.1" | "http_api" | "management" | "management_ui" | "ui" => "http",
        "prometheus" | "prometheus/http" => "http/prometheus",
        "prometheus/https" => "https/prometheus",
        "cli" | "distribution" => "clustering",
        _ => return lower,
    };
    canonical.to_string()
}

/// GET /api/health/checks/protocol-listener/{protocol}: 200 if this node has
/// a listener for the protocol (amqp, amqp/ssl, http, https, http/prometheus
/// and RabbitMQ's aliases), 503 with the protocols it has otherwise.
pub async fn health_protocol_listener(
    State(state): State<Arc<AppState>>,
    Path(protocol): Path<String>,
) -> Response {
    let wanted = normalize_protocol(&protocol);
    let protocols: Vec<&str> = state
        .listeners
        .entries
        .iter()
        .map(|(p, _)| p.as_str())
        .collect();
    if protocols.contains(&wanted.as_str()) {
        return Json(json!({"status": "ok", "protocol": wanted})).into_response();
    }
    check_failed(json!({"status": "failed", "reason": "No active listener",
                        "missing": wanted, "protocols": protocols}))
}

/// GET /api/health/checks/node-is-quorum-critical and
/// node-is-mirror-sync-critical: Warren is a single node, so stopping it
/// never costs another node's quorum or mirror (RabbitMQ's answer for a
/// single-node cluster).
pub async fn health_single_node() -> Json<Value> {
    Json(json!({"status": "ok", "reason": "single node cluster"}))
}

/// Seconds in RabbitMQ's certificate-expiration units.
fn expiry_window(within: &str, unit: &str) -> ApiResult<i64> {
    let n: i64 = within
        .parse()
        .map_err(|_| ApiError::bad_request("Invalid expiration value."))?;
    let unit_secs = match unit.to_lowercase().as_str() {
        "days" => 86_400,
        "weeks" => 7 * 86_400,
        "months" => 30 * 86_400,
        "years" => 365 * 86_400,
        _ => {
            return Err(ApiError::bad_request(
                "Time unit not recognised. Supported units: days, weeks, months, years.",
            ))
        }
    };
    n.checked_mul(unit_secs)
        .ok_or_else(|| ApiError::bad_request("Invalid expiration value."))
}

/// GET /api/health/checks/certificate-expiration/{within}/{unit}: 503 with
/// the TLS listeners whose certificate or CA file holds a certificate that
/// expires within the window (days, weeks, months, years).
pub async fn health_certificate_expiration(
    State(state): State<Arc<AppState>>,
    Path((within, unit)): Path<(String, String)>,
) -> ApiResult<Response> {
    let window = expiry_window(&within, &unit)?;
    let deadline = (process::unix_time_ms() / 1000) as i64 + window;
    let expiring = |path: &std::path::Path| -> Vec<String> {
        crate::certs::file_expiries(path)
            .into_iter()
            .filter(|t| *t <= deadline)
            .map(|t| process::rfc3339_ms(t.max(0) as u64 * 1000))
            .collect()
    };
    let expired: Vec<Value> = state
        .node_info
        .tls
        .iter()
        .filter_map(|l| {
            let cert = expiring(&l.certfile);
            let ca = l.cacertfile.as_deref().map(expiring).unwrap_or_default();
            (!cert.is_empty() || !ca.is_empty()).then(|| {
                json!({"node": state.node, "protocol": l.protocol,
                       "interface": l.addr.ip().to_string(), "port": l.addr.port(),
                       "certfile": l.certfile.display().to_string(),
                       "cacertfile": l.cacertfile.as_ref().map(|p| p.display().to_string()),
                       "certfile_expires_on": cert, "cacertfile_expires_on": ca})
            })
        })
        .collect();
    if expired.is_empty() {
        return Ok(Json(json!({"status": "ok"})).into_response());
    }
    Ok(check_failed(
        json!({"status": "failed", "reason": "Certificates expiring", "expired": expired}),
    ))
}
