//! /api/connections (+ DELETE to close with 320 CONNECTION_FORCED),
//! /api/channels and /api/consumers. Users tagged only management see their
//! own connections; monitoring and administrator users see all.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::{Extension, Json};
use serde_json::{json, Value};
use warren_core::definitions::json::table_to_json;
use warren_core::registry::{ChannelInfo, ConnectionInfo};

use crate::auth::{check_vhost, AuthUser};
use crate::error::{ApiError, ApiResult};
use crate::listing::{self, Query as ListQuery};
use crate::stats::{self, CHANNEL_STATS, CONNECTION_STATS};
use crate::AppState;

fn visible(state: &AppState, user: &AuthUser) -> Vec<Arc<ConnectionInfo>> {
    state
        .broker
        .registry
        .connections()
        .into_iter()
        .filter(|c| user.is_monitor() || c.meta.user == user.name)
        .collect()
}

fn find(state: &AppState, user: &AuthUser, name: &str) -> ApiResult<Arc<ConnectionInfo>> {
    visible(state, user)
        .into_iter()
        .find(|c| c.meta.name == name)
        .ok_or(ApiError::NotFound)
}

/// A connection in RabbitMQ's JSON shape.
pub fn connection_json(state: &AppState, c: &ConnectionInfo) -> Value {
    let m = &c.meta;
    let values = [c.recv_oct.load(Relaxed), c.send_oct.load(Relaxed)];
    let rates = state.broker.rates.rates(&stats::connection_key(c), 2);
    let mut out = json!({
        "name": m.name,
        "node": state.node,
        "vhost": m.vhost,
        "user": m.user,
        "user_who_performed_action": m.user,
        "protocol": m.protocol,
        "type": "network",
        "state": c.state(),
        "auth_mechanism": m.auth_mechanism,
        "ssl": m.ssl,
        "host": m.local.map(|a| a.ip().to_string()),
        "port": m.local.map(|a| a.port()),
        "peer_host": m.peer.map(|a| a.ip().to_string()),
        "peer_port": m.peer.map(|a| a.port()),
        "channels": c.channel_count(),
        "channel_max": m.channel_max,
        "frame_max": m.frame_max,
        "timeout": m.timeout,
        "connected_at": m.connected_at,
        "client_properties": m.client_properties,
        // RabbitMQ shows the client's `connection_name` property here.
        "user_provided_name": m.client_properties.get("connection_name").and_then(Value::as_str),
        "recv_cnt": c.recv_cnt.load(Relaxed),
        "send_cnt": c.send_cnt.load(Relaxed),
    });
    if let Value::Object(map) = &mut out {
        stats::put_counters(map, &CONNECTION_STATS, &values, &rates);
    }
    out
}

/// The channel's RabbitMQ name: `"<connection name> (<number>)"`.
pub fn channel_name(c: &ConnectionInfo, ch: &ChannelInfo) -> String {
    format!("{} ({})", c.meta.name, ch.number)
}

fn channel_json(state: &AppState, c: &ConnectionInfo, ch: &ChannelInfo) -> Value {
    let values = stats::channel_values(&ch.counters.totals());
    let rates = state
        .broker
        .rates
        .rates(&stats::channel_key(c, ch), values.len());
    json!({
        "name": channel_name(c, ch),
        "number": ch.number,
        "node": state.node,
        "vhost": c.meta.vhost,
        "user": c.meta.user,
        "user_who_performed_action": c.meta.user,
        "state": "running",
        "connection_details": {
            "name": c.meta.name,
            "peer_host": c.meta.peer.map(|a| a.ip().to_string()),
            "peer_port": c.meta.peer.map(|a| a.port()),
        },
        "consumer_count": ch.consumer_count.load(Relaxed),
        "messages_unacknowledged": ch.messages_unacknowledged.load(Relaxed),
        "messages_unconfirmed": 0,
        "messages_uncommitted": 0,
        "acks_uncommitted": 0,
        "prefetch_count": ch.prefetch_count.load(Relaxed),
        "global_prefetch_count": ch.global_prefetch_count.load(Relaxed),
        "confirm": ch.confirm.load(Relaxed),
        "transactional": ch.transactional.load(Relaxed),
        "message_stats": stats::message_stats(&CHANNEL_STATS, &values, &rates),
    })
}

/// GET /api/connections.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let items = visible(&state, &user)
        .iter()
        .map(|c| connection_json(&state, c))
        .collect();
    listing::respond(items, &q)
}

/// GET /api/vhosts/{vhost}/connections.
pub async fn list_in(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Path(vhost): Path<String>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    check_vhost(&state, &user, &vhost)?;
    let items = visible(&state, &user)
        .iter()
        .filter(|c| c.meta.vhost == vhost)
        .map(|c| connection_json(&state, c))
        .collect();
    listing::respond(items, &q)
}

/// GET /api/connections/{name}.
pub async fn one(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let c = find(&state, &user, &name)?;
    Ok(Json(connection_json(&state, &c)))
}

/// DELETE /api/connections/{name}: closes it with 320 CONNECTION_FORCED and
/// the X-Reason header's text (default "Closed via management plugin").
pub async fn close(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    let c = find(&state, &user, &name)?;
    if !user.is_admin() && c.meta.user != user.name {
        return Err(ApiError::NotAuthorised("Not administrator user".into()));
    }
    let reason = headers
        .get("x-reason")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("Closed via management plugin");
    c.close(reason);
    Ok(StatusCode::NO_CONTENT)
}

/// GET /api/connections/{name}/channels.
pub async fn channels_of(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Path(name): Path<String>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let c = find(&state, &user, &name)?;
    let items = c
        .channels()
        .iter()
        .map(|ch| channel_json(&state, &c, ch))
        .collect();
    listing::respond(items, &q)
}

fn all_channels(state: &AppState, user: &AuthUser, vhost: Option<&str>) -> Vec<Value> {
    visible(state, user)
        .iter()
        .filter(|c| vhost.is_none_or(|v| c.meta.vhost == v))
        .flat_map(|c| {
            c.channels()
                .iter()
                .map(|ch| channel_json(state, c, ch))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// GET /api/channels.
pub async fn channels(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    listing::respond(all_channels(&state, &user, None), &q)
}

/// GET /api/vhosts/{vhost}/channels.
pub async fn channels_in(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Path(vhost): Path<String>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    check_vhost(&state, &user, &vhost)?;
    listing::respond(all_channels(&state, &user, Some(&vhost)), &q)
}

/// GET /api/channels/{name}.
pub async fn channel(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    all_channels(&state, &user, None)
        .into_iter()
        .find(|c| c["name"] == name.as_str())
        .map(Json)
        .ok_or(ApiError::NotFound)
}

/// A consumer in RabbitMQ's JSON shape (None if its connection is gone).
pub fn consumer_json(
    state: &AppState,
    q: &warren_core::Queue,
    consumer: &warren_core::consumer::Consumer,
) -> Option<Value> {
    let conn = state.broker.registry.connection(consumer.connection_id)?;
    // As RabbitMQ: on a single-active-consumer queue the active consumer is
    // "single_active", the others "waiting".
    let (active, activity_status) = if !q.settings().single_active_consumer {
        (true, "up")
    } else if q
        .single_active_consumer()
        .is_some_and(|a| std::ptr::eq(&*a, consumer))
    {
        (true, "single_active")
    } else {
        (false, "waiting")
    };
    Some(json!({
        "consumer_tag": &*consumer.tag,
        "queue": {"name": &*q.name, "vhost": &*q.vhost},
        "channel_details": {
            "name": format!("{} ({})", conn.meta.name, consumer.channel),
            "number": consumer.channel,
            "connection_name": conn.meta.name,
            "peer_host": conn.meta.peer.map(|a| a.ip().to_string()),
            "peer_port": conn.meta.peer.map(|a| a.port()),
            "user": conn.meta.user,
            "node": state.node,
        },
        "ack_required": !consumer.no_ack,
        "exclusive": consumer.exclusive,
        "prefetch_count": consumer.credit_limit(),
        "active": active,
        "activity_status": activity_status,
        "consumer_timeout": Value::Null,
        "arguments": table_to_json(&consumer.arguments),
    }))
}

fn consumers_of(state: &AppState, user: &AuthUser, vhost: Option<&str>) -> Vec<Value> {
    let registry = &state.broker.registry;
    let mut out = Vec::new();
    for v in state.broker.vhosts() {
        if vhost.is_some_and(|name| name != &*v.name) {
            continue;
        }
        for q in v.queues() {
            for consumer in q.consumers() {
                let Some(conn) = registry.connection(consumer.connection_id) else {
                    continue;
                };
                if !user.is_monitor() && conn.meta.user != user.name {
                    continue;
                }
                out.extend(consumer_json(state, &q, &consumer));
            }
        }
    }
    out
}

/// GET /api/consumers.
pub async fn consumers(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let mut q = q;
    q.entry("sort".into())
        .or_insert_with(|| "consumer_tag".into());
    listing::respond(consumers_of(&state, &user, None), &q)
}

/// GET /api/consumers/{vhost}.
pub async fn consumers_in(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Path(vhost): Path<String>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    check_vhost(&state, &user, &vhost)?;
    let mut q = q;
    q.entry("sort".into())
        .or_insert_with(|| "consumer_tag".into());
    listing::respond(consumers_of(&state, &user, Some(&vhost)), &q)
}
