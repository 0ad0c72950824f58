//! /api/bindings and the per-exchange/per-queue binding paths, including the
//! implicit binding of every queue to the default exchange.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};
use warren_core::auth::{Access, ResourceKind};
use warren_core::definitions::json::{json_to_table, table_to_json};
use warren_core::VHost;

use super::exchange_name;
use crate::auth::{can_see_vhost, check_vhost, AuthUser};
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::listing::{self, Query as ListQuery};
use crate::AppState;

/// RabbitMQ's properties_key: the quoted routing key ("~" if empty), plus
/// "~" and a hash of the arguments when there are any.
pub fn properties_key(routing_key: &str, arguments: &Value) -> String {
    let quoted = routing_key
        .replace('%', "%25")
        .replace('~', "%7E")
        .replace('/', "%2F");
    let empty_args = arguments.as_object().is_none_or(|m| m.is_empty());
    if empty_args {
        return if quoted.is_empty() {
            "~".into()
        } else {
            quoted
        };
    }
    let digest = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        arguments.to_string().hash(&mut h);
        h.finish()
    };
    let hash = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.to_be_bytes());
    format!("{quoted}~{hash}")
}

fn binding_json(
    vhost: &str,
    source: &str,
    dest: &str,
    kind: &str,
    key: &str,
    args: Value,
) -> Value {
    json!({
        "source": source,
        "vhost": vhost,
        "destination": dest,
        "destination_type": kind,
        "routing_key": key,
        "properties_key": properties_key(key, &args),
        "arguments": args,
    })
}

/// Every binding of a vhost, default-exchange bindings first.
fn of_vhost(v: &VHost) -> Vec<Value> {
    let mut out: Vec<Value> = v
        .queues()
        .iter()
        .map(|q| binding_json(&v.name, "", &q.name, "queue", &q.name, json!({})))
        .collect();
    out.extend(v.bindings().into_iter().map(|(source, b)| {
        binding_json(
            &v.name,
            &source,
            b.destination.name(),
            b.destination.kind(),
            &b.routing_key,
            table_to_json(&b.arguments),
        )
    }));
    out
}

fn sorted(q: ListQuery) -> ListQuery {
    let mut q = q;
    q.entry("sort".into()).or_default();
    q
}

/// GET /api/bindings.
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
        .flat_map(|v| of_vhost(v))
        .collect();
    listing::respond(items, &sorted(q))
}

fn filtered(
    state: &AppState,
    user: &AuthUser,
    vhost: &str,
    keep: impl Fn(&Value) -> bool,
) -> ApiResult<Vec<Value>> {
    check_vhost(state, user, vhost)?;
    let v = state.broker.vhost(vhost).ok_or(ApiError::NotFound)?;
    Ok(of_vhost(&v).into_iter().filter(|b| keep(b)).collect())
}

/// GET /api/bindings/{vhost}.
pub async fn list_in(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Path(vhost): Path<String>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    listing::respond(filtered(&state, &user, &vhost, |_| true)?, &sorted(q))
}

/// GET /api/queues/{vhost}/{name}/bindings.
pub async fn to_queue(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Path((vhost, name)): Path<(String, String)>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let v = state.broker.vhost(&vhost).ok_or(ApiError::NotFound)?;
    v.queue(&name)?;
    let items = filtered(&state, &user, &vhost, |b| {
        b["destination_type"] == "queue" && b["destination"] == name.as_str()
    })?;
    listing::respond(items, &sorted(q))
}

/// GET /api/exchanges/{vhost}/{name}/bindings/source.
pub async fn from_exchange(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Path((vhost, name)): Path<(String, String)>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let name = exchange_name(&name).to_string();
    let items = filtered(&state, &user, &vhost, |b| b["source"] == name.as_str())?;
    listing::respond(items, &sorted(q))
}

/// GET /api/exchanges/{vhost}/{name}/bindings/destination.
pub async fn to_exchange(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Path((vhost, name)): Path<(String, String)>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let items = filtered(&state, &user, &vhost, |b| {
        b["destination_type"] == "exchange" && b["destination"] == name.as_str()
    })?;
    listing::respond(items, &sorted(q))
}

fn destination_kind(kind: &str) -> ApiResult<&'static str> {
    match kind {
        "q" => Ok("queue"),
        "e" => Ok("exchange"),
        _ => Err(ApiError::NotFound),
    }
}

fn between_items(
    state: &AppState,
    user: &AuthUser,
    (vhost, source, kind, dest): (String, String, String, String),
) -> ApiResult<Vec<Value>> {
    let kind = destination_kind(&kind)?;
    let v = state.broker.vhost(&vhost).ok_or(ApiError::NotFound)?;
    let source = exchange_name(&source).to_string();
    v.exchange(&source)?;
    match kind {
        "queue" => v.queue(&dest).map(|_| ())?,
        _ => v.exchange(&dest).map(|_| ())?,
    }
    filtered(state, user, &vhost, |b| {
        b["source"] == source.as_str()
            && b["destination_type"] == kind
            && b["destination"] == dest.as_str()
    })
}

/// GET /api/bindings/{vhost}/e/{source}/{q|e}/{destination}.
pub async fn between(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Path(path): Path<(String, String, String, String)>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    listing::respond(between_items(&state, &user, path)?, &sorted(q))
}

/// Body of POST /api/bindings/….
#[derive(Debug, Deserialize)]
pub struct BindingBody {
    #[serde(default)]
    routing_key: String,
    #[serde(default)]
    arguments: Value,
}

/// POST /api/bindings/{vhost}/e/{source}/{q|e}/{destination}: 201 with a
/// Location header naming the new binding's properties_key.
pub async fn create(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Path((vhost, source, kind, dest)): Path<(String, String, String, String)>,
    JsonBody(body): JsonBody<BindingBody>,
) -> ApiResult<Response> {
    let kind = destination_kind(&kind)?;
    check_vhost(&state, &user, &vhost)?;
    let v = state.broker.vhost(&vhost).ok_or(ApiError::NotFound)?;
    let users = &state.broker.users;
    let dest_kind = if kind == "queue" {
        ResourceKind::Queue
    } else {
        ResourceKind::Exchange
    };
    users.check_resource(&user.name, &vhost, Access::Write, dest_kind, &dest)?;
    users.check_resource(
        &user.name,
        &vhost,
        Access::Read,
        ResourceKind::Exchange,
        &source,
    )?;
    let args = json_to_table(&body.arguments).map_err(ApiError::bad_request)?;
    match kind {
        "queue" => v.bind_queue(&dest, exchange_name(&source), &body.routing_key, args, 0)?,
        _ => v.bind_exchange(&dest, exchange_name(&source), &body.routing_key, args)?,
    }
    let props = properties_key(&body.routing_key, &body.arguments);
    Ok((StatusCode::CREATED, [(header::LOCATION, props)]).into_response())
}

/// GET /api/bindings/{vhost}/e/{source}/{q|e}/{destination}/{props}.
pub async fn one(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Path((vhost, source, kind, dest, props)): Path<(String, String, String, String, String)>,
) -> ApiResult<Json<Value>> {
    between_items(&state, &user, (vhost, source, kind, dest))?
        .into_iter()
        .find(|b| b["properties_key"] == props.as_str())
        .map(Json)
        .ok_or(ApiError::NotFound)
}

/// DELETE /api/bindings/{vhost}/e/{source}/{q|e}/{destination}/{props}.
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Path((vhost, source, kind, dest, props)): Path<(String, String, String, String, String)>,
) -> ApiResult<StatusCode> {
    let items = between_items(
        &state,
        &user,
        (vhost.clone(), source.clone(), kind, dest.clone()),
    )?;
    let binding = items
        .into_iter()
        .find(|b| b["properties_key"] == props.as_str())
        .ok_or(ApiError::NotFound)?;
    let v = state.broker.vhost(&vhost).ok_or(ApiError::NotFound)?;
    let users = &state.broker.users;
    let is_queue = binding["destination_type"] == "queue";
    let dest_kind = if is_queue {
        ResourceKind::Queue
    } else {
        ResourceKind::Exchange
    };
    users.check_resource(&user.name, &vhost, Access::Write, dest_kind, &dest)?;
    users.check_resource(
        &user.name,
        &vhost,
        Access::Read,
        ResourceKind::Exchange,
        &source,
    )?;
    let key = binding["routing_key"].as_str().unwrap_or_default();
    let args = json_to_table(&binding["arguments"]).map_err(ApiError::bad_request)?;
    if is_queue {
        v.unbind_queue(&dest, exchange_name(&source), key, args, 0)?;
    } else {
        v.unbind_exchange(&dest, exchange_name(&source), key, args)?;
    }
    Ok(StatusCode::NO_CONTENT)
}
