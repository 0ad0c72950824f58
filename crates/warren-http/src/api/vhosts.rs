//! /api/vhosts: list, show, create (PUT, administrator), delete.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde_json::{json, Value};
use warren_core::definitions::parse_tags;
use warren_core::VHost;

use crate::auth::{can_see_vhost, check_vhost, AuthUser};
use crate::error::{ApiError, ApiResult};
use crate::lenient;
use crate::listing::{self, Query as ListQuery};
use crate::AppState;

fn vhost_json(state: &AppState, v: &VHost) -> Value {
    let meta = state.broker.vhost_metadata(&v.name);
    let (mut ready, mut unacked) = (0usize, 0usize);
    for q in v.queues() {
        ready += q.message_count();
        unacked += q.unacked();
    }
    json!({
        "name": &*v.name,
        "description": meta.get("description").cloned().unwrap_or(json!("")),
        "tags": parse_tags(meta.get("tags").unwrap_or(&Value::Null)),
        "metadata": meta,
        "default_queue_type": "classic",
        "tracing": false,
        "cluster_state": {state.node.clone(): "running"},
        "messages": ready + unacked,
        "messages_ready": ready,
        "messages_unacknowledged": unacked,
    })
}

/// GET /api/vhosts.
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
        .map(|v| vhost_json(&state, v))
        .collect();
    listing::respond(items, &q)
}

/// GET /api/vhosts/{vhost}.
pub async fn one(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Path(vhost): Path<String>,
) -> ApiResult<Json<Value>> {
    check_vhost(&state, &user, &vhost)?;
    let v = state.broker.vhost(&vhost).ok_or(ApiError::NotFound)?;
    Ok(Json(vhost_json(&state, &v)))
}

/// PUT /api/vhosts/{vhost} with optional {"description", "tags"}.
pub async fn put(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Path(vhost): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    user.require_admin()?;
    let body: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(&body).map_err(ApiError::bad_request)?
    };
    let tracing = lenient::parse_bool(body.get("tracing").unwrap_or(&Value::Null))
        .map_err(|e| ApiError::bad_request(format!("tracing: {e}")))?;
    if tracing == Some(true) {
        return Err(ApiError::bad_request(
            "tracing (the amq.rabbitmq.trace firehose) is not supported by Warren",
        ));
    }
    let existed = state.broker.vhost(&vhost).is_some();
    state
        .broker
        .create_vhost(&vhost)
        .map_err(ApiError::bad_request)?;
    let description = body.get("description").cloned().unwrap_or(json!(""));
    let tags = parse_tags(body.get("tags").unwrap_or(&Value::Null));
    state
        .broker
        .set_vhost_metadata(&vhost, json!({"description": description, "tags": tags}));
    if !existed {
        // RabbitMQ gives the creating user full permissions on a new vhost.
        state.broker.users.set_permission(
            &user.name,
            &vhost,
            warren_core::auth::Permission::full(),
        );
    }
    Ok(if existed {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::CREATED
    })
}

/// DELETE /api/vhosts/{vhost}.
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Path(vhost): Path<String>,
) -> ApiResult<StatusCode> {
    user.require_admin()?;
    state
        .broker
        .delete_vhost(&vhost)
        .map_err(|_| ApiError::NotFound)?;
    Ok(StatusCode::NO_CONTENT)
}
