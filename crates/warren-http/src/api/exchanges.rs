//! /api/exchanges: list, show, declare (PUT), delete.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Value};
use warren_core::auth::{Access, ResourceKind};
use warren_core::definitions::json::{json_to_table, table_to_json};
use warren_core::vhost::ExchangeDeclare;
use warren_core::{Exchange, VHost};

use super::exchange_name;
use crate::auth::{can_see_vhost, check_vhost, AuthUser};
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::lenient;
use crate::listing::{self, Query as ListQuery};
use crate::stats::{self, EXCHANGE_STATS};
use crate::AppState;

/// An exchange in RabbitMQ's JSON shape.
pub fn exchange_json(state: &AppState, vhost: &str, x: &Exchange) -> Value {
    let values = stats::exchange_values(x);
    let rates = state
        .broker
        .rates
        .rates(&stats::exchange_key(vhost, x), values.len());
    json!({
        "name": &*x.name,
        "vhost": vhost,
        "type": x.kind.as_str(),
        "durable": x.options.durable,
        "auto_delete": x.options.auto_delete,
        "internal": x.options.internal,
        "arguments": table_to_json(&x.options.arguments),
        "user_who_performed_action": "",
        "policy": x.policy_name().as_deref(),
        "message_stats": stats::message_stats(&EXCHANGE_STATS, &values, &rates),
    })
}

fn of_vhost(state: &AppState, v: &VHost) -> Vec<Value> {
    v.exchanges()
        .iter()
        .map(|x| exchange_json(state, &v.name, x))
        .collect()
}

/// GET /api/exchanges.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let items = state
        .broker
        .vhosts()
        .iter()
        .filter(|v| can_see_vhost(&state, &user, &v.name))
        .flat_map(|v| of_vhost(&state, v))
        .collect();
    listing::respond(items, &q)
}

/// GET /api/exchanges/{vhost}.
pub async fn list_in(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Path(vhost): Path<String>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    check_vhost(&state, &user, &vhost)?;
    let v = state.broker.vhost(&vhost).ok_or(ApiError::NotFound)?;
    listing::respond(of_vhost(&state, &v), &q)
}

/// GET /api/exchanges/{vhost}/{name}.
pub async fn one(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Path((vhost, name)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    check_vhost(&state, &user, &vhost)?;
    let v = state.broker.vhost(&vhost).ok_or(ApiError::NotFound)?;
    let x = v.exchange(exchange_name(&name))?;
    Ok(Json(exchange_json(&state, &vhost, &x)))
}

/// Body of PUT /api/exchanges/{vhost}/{name}.
#[derive(Debug, Deserialize)]
pub struct ExchangeBody {
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    durable: Option<bool>,
    #[serde(default, deserialize_with = "lenient::bool_or_false")]
    auto_delete: bool,
    #[serde(default, deserialize_with = "lenient::bool_or_false")]
    internal: bool,
    #[serde(default)]
    arguments: Value,
}

/// PUT /api/exchanges/{vhost}/{name}: 201 created, 204 if it existed.
pub async fn declare(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Path((vhost, name)): Path<(String, String)>,
    JsonBody(body): JsonBody<ExchangeBody>,
) -> ApiResult<StatusCode> {
    check_vhost(&state, &user, &vhost)?;
    let v = state.broker.vhost(&vhost).ok_or(ApiError::NotFound)?;
    let name = exchange_name(&name).to_string();
    state.broker.users.check_resource(
        &user.name,
        &vhost,
        Access::Configure,
        ResourceKind::Exchange,
        &name,
    )?;
    let existed = v.exchange(&name).is_ok();
    let arguments = json_to_table(&body.arguments).map_err(ApiError::bad_request)?;
    let kind = body
        .kind
        .ok_or_else(|| ApiError::bad_request("Missing field: type"))?;
    v.declare_exchange(ExchangeDeclare {
        name,
        kind,
        passive: false,
        durable: body.durable.unwrap_or(true),
        auto_delete: body.auto_delete,
        internal: body.internal,
        arguments,
        from_definitions: false,
    })?;
    Ok(if existed {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::CREATED
    })
}

/// DELETE /api/exchanges/{vhost}/{name}[?if-unused=true].
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Path((vhost, name)): Path<(String, String)>,
    Query(q): Query<ListQuery>,
) -> ApiResult<StatusCode> {
    check_vhost(&state, &user, &vhost)?;
    let v = state.broker.vhost(&vhost).ok_or(ApiError::NotFound)?;
    let name = exchange_name(&name);
    v.exchange(name)?;
    state.broker.users.check_resource(
        &user.name,
        &vhost,
        Access::Configure,
        ResourceKind::Exchange,
        name,
    )?;
    let if_unused = q.get("if-unused").is_some_and(|v| v == "true");
    v.delete_exchange(name, if_unused)?;
    Ok(StatusCode::NO_CONTENT)
}
