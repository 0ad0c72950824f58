//! /api/vhost-limits: list (of visible vhosts), show one vhost's, set one
//! limit (PUT `{"value": N}`, administrator), clear one (DELETE). Limits are
//! the core's ([`warren_core::vhost_limits`]); a negative value means none.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Value};
use warren_core::vhost_limits::{parse_value, LimitError, LimitName};

use crate::auth::{can_see_vhost, check_vhost, AuthUser};
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::AppState;

fn limits_json(state: &AppState, vhost: Option<&str>, user: &AuthUser) -> Value {
    state
        .broker
        .vhost_limits(vhost)
        .into_iter()
        .filter(|(v, _)| can_see_vhost(state, user, v))
        .map(|(vhost, value)| json!({"vhost": vhost, "value": value}))
        .collect()
}

fn api_error(e: LimitError) -> ApiError {
    match e {
        LimitError::NoVHost(_) => ApiError::NotFound,
        other => ApiError::bad_request(other),
    }
}

/// GET /api/vhost-limits.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
) -> ApiResult<Json<Value>> {
    Ok(Json(limits_json(&state, None, &user)))
}

/// GET /api/vhost-limits/{vhost}: a list of one element, or empty.
pub async fn list_in(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Path(vhost): Path<String>,
) -> ApiResult<Json<Value>> {
    check_vhost(&state, &user, &vhost)?;
    Ok(Json(limits_json(&state, Some(&vhost), &user)))
}

/// Body of PUT /api/vhost-limits/{vhost}/{name}.
#[derive(Debug, Deserialize)]
pub struct LimitBody {
    value: Option<Value>,
}

/// PUT /api/vhost-limits/{vhost}/{name} with `{"value": N}`: 204.
pub async fn put(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Path((vhost, name)): Path<(String, String)>,
    JsonBody(body): JsonBody<LimitBody>,
) -> ApiResult<StatusCode> {
    user.require_admin()?;
    state.broker.vhost(&vhost).ok_or(ApiError::NotFound)?;
    let limit = LimitName::parse(&name).map_err(api_error)?;
    let value = body
        .value
        .ok_or_else(|| ApiError::bad_request("the body needs a \"value\" (an integer)"))?;
    let value = parse_value(limit, &value).map_err(api_error)?;
    state
        .broker
        .set_vhost_limit(&vhost, &name, value)
        .map_err(api_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// DELETE /api/vhost-limits/{vhost}/{name}: 204, also when it was not set.
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Path((vhost, name)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    user.require_admin()?;
    state.broker.vhost(&vhost).ok_or(ApiError::NotFound)?;
    state
        .broker
        .clear_vhost_limit(&vhost, &name)
        .map_err(api_error)?;
    Ok(StatusCode::NO_CONTENT)
}
