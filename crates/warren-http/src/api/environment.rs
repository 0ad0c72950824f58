//! GET /api/environment (a Warren addition, administrators only): the
//! settings the running broker uses, under their rabbitmq.conf names, for
//! `warren ctl environment` (rabbitmqctl environment's counterpart).

use std::sync::Arc;

use axum::extract::State;
use axum::{Extension, Json};
use serde_json::{json, Map, Value};
use warren_core::alarms::{DiskFreeLimit, MemoryWatermark};

use crate::auth::AuthUser;
use crate::error::ApiResult;
use crate::AppState;

/// The effective settings of the broker, keyed by rabbitmq.conf name.
pub async fn environment(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
) -> ApiResult<Json<Value>> {
    user.require_admin()?;
    let c = &state.broker.config;
    let mut s = Map::new();
    let mut put = |k: &str, v: Value| {
        s.insert(k.to_string(), v);
    };
    put("default_user", json!(c.default_user));
    put("default_vhost", json!(c.default_vhost));
    put("loopback_users", json!(c.loopback_users));
    for (key, value) in &state.node_info.protocol_settings {
        put(key, json!(value));
    }
    put("max_message_size", json!(c.max_message_size));
    put(
        "consumer_timeout",
        c.consumer_timeout
            .map_or(json!(false), |t| json!(t.as_millis() as u64)),
    );
    match c.vm_memory_high_watermark {
        MemoryWatermark::Relative(f) => put("vm_memory_high_watermark.relative", json!(f)),
        MemoryWatermark::Absolute(b) => put("vm_memory_high_watermark.absolute", json!(b)),
    }
    match c.disk_free_limit {
        DiskFreeLimit::Relative(f) => put("disk_free_limit.relative", json!(f)),
        DiskFreeLimit::Absolute(b) => put("disk_free_limit.absolute", json!(b)),
    }
    let infinity = |v: Option<usize>| v.map_or(json!("infinity"), |n| json!(n));
    put("connection_max", infinity(c.connection_max));
    put(
        "consumer_max_per_channel",
        infinity(c.consumer_max_per_channel),
    );
    for (protocol, addr) in &state.listeners.entries {
        put(&format!("listeners.{protocol}"), json!(addr.to_string()));
    }
    Ok(Json(json!({"node": state.node, "settings": s})))
}

/// The process's resident memory split as the kernel accounts it
/// (`/proc/self/status`: RssAnon, RssFile, RssShmem), in bytes.
fn resident_breakdown() -> Vec<(&'static str, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = |field: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
            .map_or(0, |k| k.saturating_mul(1024))
    };
    vec![
        ("heap", kib("RssAnon:")),
        ("code_and_mapped_files", kib("RssFile:")),
        ("shared_memory", kib("RssShmem:")),
    ]
}

/// GET /api/memory-breakdown (a Warren addition, monitoring or administrator
/// users): the broker process's resident memory by kind, for `warren ctl
/// memory_breakdown`, with the total and the memory high watermark.
pub async fn memory_breakdown(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
) -> ApiResult<Json<Value>> {
    user.require_monitor()?;
    let parts = resident_breakdown();
    let total: u64 = parts.iter().map(|(_, b)| b).sum();
    let breakdown: Map<String, Value> = parts
        .into_iter()
        .map(|(k, b)| (k.to_string(), json!(b)))
        .collect();
    Ok(Json(json!({
        "node": state.node,
        "strategy": "rss",
        "total": total,
        "limit": state.broker.alarms.memory_limit(),
        "breakdown": breakdown,
    })))
}
