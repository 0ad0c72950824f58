//! /api/overview, /api/nodes, /api/whoami, /api/aliveness-test and the
//! health checks.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Value};
use warren_core::vhost::QueueDeclare;

use crate::auth::{can_see_vhost, check_vhost, AuthUser};
use crate::error::{ApiError, ApiResult};
use crate::stats::{self, CHANNEL_STATS, QUEUE_DEPTHS};
use crate::AppState;

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
) -> Json<Value> {
    let broker = &state.broker;
    let values = stats::overview_values(broker);
    let rates = broker.rates.rates(stats::OVERVIEW_KEY, values.len());
    let (chan, depth) = values.split_at(CHANNEL_STATS.len());
    let (chan_rates, depth_rates) = rates.split_at(CHANNEL_STATS.len());
    let mut queue_totals = serde_json::Map::new();
    stats::put_counters(&mut queue_totals, &QUEUE_DEPTHS, depth, depth_rates);
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
    Json(json!({
        "management_version": RABBITMQ_API_VERSION,
        "rabbitmq_version": RABBITMQ_API_VERSION,
        "product_name": "Warren",
        "product_version": env!("CARGO_PKG_VERSION"),
        "rates_mode": "basic",
        "cluster_name": "warren",
        "node": state.node,
        "erlang_version": "n/a",
        "exchange_types": EXCHANGE_TYPES.iter().map(|(n, d)| json!({"name": n, "description": d, "enabled": true})).collect::<Vec<_>>(),
        "message_stats": stats::message_stats(&CHANNEL_STATS, chan, chan_rates),
        "queue_totals": queue_totals,
        "object_totals": {
            "connections": connections.len(),
            "channels": channels,
            "exchanges": exchanges,
            "queues": queues,
            "consumers": consumers,
        },
        "statistics_db_event_queue": 0,
        "listeners": listeners,
        "contexts": [{"node": state.node, "description": "RabbitMQ Management", "path": "/"}],
    }))
}

/// GET /api/cluster-name.
pub async fn cluster_name() -> Json<Value> {
    Json(json!({"name": "warren"}))
}

fn resident_memory() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Open file descriptors of this process.
pub fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64)
}

/// The soft limit on file descriptors.
pub fn max_fds() -> u64 {
    warren_core::sys::file_limits().map_or(0, |(soft, _)| soft)
}

/// Free bytes on the file system of the current directory.
pub fn disk_free() -> u64 {
    warren_core::sys::disk_free_at(std::path::Path::new(".")).unwrap_or(0)
}

/// Process memory in bytes (resident set).
pub fn memory_used() -> u64 {
    resident_memory()
}

fn node_json(state: &AppState) -> Value {
    let alarms = &state.broker.alarms;
    let active = alarms.active();
    let processors = std::thread::available_parallelism().map_or(1, |n| n.get());
    json!({
        "name": state.node,
        "type": "disc",
        "running": true,
        "os_pid": std::process::id().to_string(),
        "uptime": state.broker.started_at.elapsed().as_millis() as u64,
        "mem_used": resident_memory(),
        "mem_limit": alarms.memory_limit(),
        "mem_alarm": active.memory,
        "disk_free": warren_core::alarms::disk_free_at(alarms.data_dir()).unwrap_or(0),
        "disk_free_limit": alarms.disk_free_limit(),
        "disk_free_alarm": active.disk,
        "fd_used": open_fds(),
        "fd_total": max_fds(),
        "sockets_used": state.broker.registry.connections().len(),
        "sockets_total": max_fds(),
        "proc_used": 0,
        "proc_total": 0,
        "processors": processors,
        "rates_mode": "basic",
        "run_queue": 0,
        "exchange_types": EXCHANGE_TYPES.iter().map(|(n, d)| json!({"name": n, "description": d, "enabled": true})).collect::<Vec<_>>(),
    })
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
        properties: warren_codec::properties::encode_properties(&Default::default()),
        body: bytes::Bytes::from_static(b"test_message"),
    }));
    match queue.get(true) {
        Some((m, _)) if &m.message.body[..] == b"test_message" => Ok(Json(json!({"status": "ok"}))),
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
