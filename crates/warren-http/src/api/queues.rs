//! /api/queues: list, show, declare (PUT), delete, purge (DELETE …/contents).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use warren_core::auth::{Access, ResourceKind};
use warren_core::definitions::json::{json_to_table, table_to_json};
use warren_core::names::check_name;
use warren_core::vhost::QueueDeclare;
use warren_core::{Queue, VHost};

use crate::auth::{can_see_vhost, check_vhost, AuthUser};
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::lenient;
use crate::listing::{self, Query as ListQuery};
use crate::stats::{self, HistoryQuery, QUEUE_DEPTHS, QUEUE_STATS};
use crate::AppState;

/// Instantaneous consumer capacity: 0 without consumers, 1 when nothing
/// waits, else the share of consumers that could take a message now.
fn consumer_capacity(consumers: &[Arc<warren_core::consumer::Consumer>], ready: usize) -> f64 {
    if consumers.is_empty() {
        return 0.0;
    }
    if ready == 0 {
        return 1.0;
    }
    let with_room = consumers.iter().filter(|c| c.can_take()).count();
    with_room as f64 / consumers.len() as f64
}

/// A queue in RabbitMQ's JSON shape, with `samples` history if asked for.
pub fn queue_json_with(state: &AppState, q: &Queue, history: HistoryQuery) -> Value {
    let key = stats::queue_key(q);
    let values = stats::queue_values(q);
    let rates = state.broker.rates.rates(&key, values.len());
    let (counters, depths) = values.split_at(QUEUE_STATS.len());
    let (counter_rates, depth_rates) = rates.split_at(QUEUE_STATS.len());
    let samples = if history == HistoryQuery::default() {
        Vec::new()
    } else {
        state.broker.rates.history(&key)
    };
    let consumers = q.consumers();
    let ready = q.ready_stats();
    let unacked = q.unacked();
    let unacked_bytes = q.unacked_bytes();
    let capacity = consumer_capacity(&consumers, ready.messages);
    let (policy_name, operator_policy) = q.policy_names();
    let policy = policy_name.and_then(|name| state.broker.policy(&q.vhost, &name));
    let mut message_stats = Map::new();
    stats::put_counters_sampled(
        &mut message_stats,
        &QUEUE_STATS,
        counters,
        counter_rates,
        history.msg_rates.map(|range| stats::Sampled {
            history: &samples,
            offset: 0,
            range,
        }),
    );
    let mut out = json!({
        "name": &*q.name,
        "vhost": &*q.vhost,
        "durable": q.options.durable,
        "auto_delete": q.options.auto_delete,
        "exclusive": q.options.exclusive_owner.is_some(),
        "arguments": table_to_json(&q.options.arguments),
        "node": state.node,
        "state": "running",
        "type": "classic",
        "consumers": consumers.len(),
        "consumer_capacity": capacity,
        "consumer_utilisation": capacity,
        "consumer_details": consumers
            .iter()
            .filter_map(|c| super::connections::consumer_json(state, q, c))
            .collect::<Vec<_>>(),
        "exclusive_consumer_tag": consumers.iter().find(|c| c.exclusive).map(|c| c.tag.to_string()),
        "single_active_consumer_tag": q.single_active_consumer().map(|c| c.tag.to_string()),
        "head_message_timestamp": ready.head_timestamp,
        "message_bytes": ready.bytes + unacked_bytes,
        "message_bytes_ready": ready.bytes,
        "message_bytes_unacknowledged": unacked_bytes,
        "message_bytes_ram": ready.in_memory_bytes + unacked_bytes,
        "message_bytes_persistent": ready.persistent_bytes,
        "message_bytes_paged_out": ready.bytes - ready.in_memory_bytes,
        "messages_persistent": ready.persistent,
        "messages_ram": ready.in_memory + unacked,
        "messages_ready_ram": ready.in_memory,
        "messages_unacknowledged_ram": unacked,
        "messages_paged_out": ready.messages - ready.in_memory,
        "policy": policy.as_ref().map(|p| p.name.clone()),
        "operator_policy": operator_policy.as_deref(),
        "effective_policy_definition": policy.map_or_else(|| json!({}), |p| Value::Object(p.definition)),
        "message_stats": message_stats,
    });
    if let Value::Object(map) = &mut out {
        stats::put_counters_sampled(
            map,
            &QUEUE_DEPTHS,
            depths,
            depth_rates,
            history.lengths.map(|range| stats::Sampled {
                history: &samples,
                offset: QUEUE_STATS.len(),
                range,
            }),
        );
    }
    out
}

fn of_vhost(state: &AppState, v: &VHost, history: HistoryQuery) -> Vec<Value> {
    v.queues()
        .iter()
        .map(|q| queue_json_with(state, q, history))
        .collect()
}

/// GET /api/queues.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let history = HistoryQuery::from_query(&q)?;
    let items = state
        .broker
        .vhosts()
        .iter()
        .filter(|v| can_see_vhost(&state, &user, &v.name))
        .flat_map(|v| of_vhost(&state, v, history))
        .collect();
    listing::respond(items, &q)
}

/// GET /api/queues/{vhost}.
pub async fn list_in(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Path(vhost): Path<String>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    check_vhost(&state, &user, &vhost)?;
    let history = HistoryQuery::from_query(&q)?;
    let v = state.broker.vhost(&vhost).ok_or(ApiError::NotFound)?;
    listing::respond(of_vhost(&state, &v, history), &q)
}

/// Looks up a queue after checking the vhost.
pub fn find(
    state: &AppState,
    user: &AuthUser,
    vhost: &str,
    name: &str,
) -> ApiResult<(Arc<VHost>, Arc<Queue>)> {
    check_vhost(state, user, vhost)?;
    let v = state.broker.vhost(vhost).ok_or(ApiError::NotFound)?;
    let q = v.queue(name)?;
    Ok((v, q))
}

/// GET /api/queues/{vhost}/{name}.
pub async fn one(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Path((vhost, name)): Path<(String, String)>,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let history = HistoryQuery::from_query(&query)?;
    let (_, q) = find(&state, &user, &vhost, &name)?;
    Ok(Json(queue_json_with(&state, &q, history)))
}

/// Body of PUT /api/queues/{vhost}/{name}.
#[derive(Debug, Deserialize)]
pub struct QueueBody {
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    durable: Option<bool>,
    #[serde(default, deserialize_with = "lenient::bool_or_false")]
    auto_delete: bool,
    #[serde(default)]
    arguments: Value,
}

/// PUT /api/queues/{vhost}/{name}: 201 created, 204 if an equivalent queue
/// existed, 400 with RabbitMQ's text if it is inequivalent.
pub async fn declare(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Path((vhost, name)): Path<(String, String)>,
    JsonBody(body): JsonBody<QueueBody>,
) -> ApiResult<StatusCode> {
    check_vhost(&state, &user, &vhost)?;
    let v = state.broker.vhost(&vhost).ok_or(ApiError::NotFound)?;
    // RabbitMQ's own check and text (the core refuses such a name too).
    check_name("queue", &name).map_err(ApiError::bad_request)?;
    state.broker.users.check_resource(
        &user.name,
        &vhost,
        Access::Configure,
        ResourceKind::Queue,
        &name,
    )?;
    let arguments = json_to_table(&body.arguments).map_err(ApiError::bad_request)?;
    let declared = v.declare_queue(
        QueueDeclare {
            name,
            durable: body.durable.unwrap_or(true),
            auto_delete: body.auto_delete,
            arguments,
            ..Default::default()
        },
        0,
    )?;
    Ok(if declared.created {
        StatusCode::CREATED
    } else {
        StatusCode::NO_CONTENT
    })
}

/// DELETE /api/queues/{vhost}/{name}[?if-unused=true&if-empty=true].
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Path((vhost, name)): Path<(String, String)>,
    Query(q): Query<ListQuery>,
) -> ApiResult<StatusCode> {
    let (v, queue) = find(&state, &user, &vhost, &name)?;
    state.broker.users.check_resource(
        &user.name,
        &vhost,
        Access::Configure,
        ResourceKind::Queue,
        &name,
    )?;
    let flag = |k: &str| q.get(k).is_some_and(|v| v == "true");
    let (if_unused, if_empty) = (flag("if-unused"), flag("if-empty"));
    if if_unused || if_empty {
        v.delete_queue(
            &name,
            if_unused,
            if_empty,
            queue.options.exclusive_owner.unwrap_or(0),
        )?;
    } else {
        v.remove_queue(&queue);
    }
    Ok(StatusCode::NO_CONTENT)
}

/// DELETE /api/queues/{vhost}/{name}/contents: purges the ready messages.
pub async fn purge(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Path((vhost, name)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let (_, queue) = find(&state, &user, &vhost, &name)?;
    state.broker.users.check_resource(
        &user.name,
        &vhost,
        Access::Read,
        ResourceKind::Queue,
        &name,
    )?;
    queue.purge();
    Ok(StatusCode::NO_CONTENT)
}
