//! /api/policies: list (of visible vhosts), show, set (PUT, policymaker),
//! clear. Policies are stored in the core's policy store.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Map, Value};
use warren_core::policies::PolicyDefinition;

use crate::auth::{can_see_vhost, check_vhost, AuthUser};
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::listing::{self, Query as ListQuery};
use crate::AppState;

fn to_json(p: &PolicyDefinition) -> Value {
    serde_json::to_value(p).unwrap_or(Value::Null)
}

/// GET /api/policies.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let items = state
        .broker
        .policies(None)
        .iter()
        .filter(|p| can_see_vhost(&state, &user, &p.vhost))
        .map(to_json)
        .collect();
    listing::respond(items, &q)
}

/// GET /api/policies/{vhost}.
pub async fn list_in(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Path(vhost): Path<String>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    check_vhost(&state, &user, &vhost)?;
    let items = state
        .broker
        .policies(Some(&vhost))
        .iter()
        .map(to_json)
        .collect();
    listing::respond(items, &q)
}

/// GET /api/policies/{vhost}/{name}.
pub async fn one(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Path((vhost, name)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    check_vhost(&state, &user, &vhost)?;
    let p = state
        .broker
        .policy(&vhost, &name)
        .ok_or(ApiError::NotFound)?;
    Ok(Json(to_json(&p)))
}

/// Body of PUT /api/policies/{vhost}/{name}.
#[derive(Debug, Deserialize)]
pub struct PolicyBody {
    pattern: String,
    definition: Map<String, Value>,
    #[serde(default)]
    priority: i64,
    #[serde(rename = "apply-to", default = "all")]
    apply_to: String,
}

fn all() -> String {
    "all".into()
}

/// PUT /api/policies/{vhost}/{name}: 201 created, 204 replaced.
pub async fn put(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Path((vhost, name)): Path<(String, String)>,
    JsonBody(body): JsonBody<PolicyBody>,
) -> ApiResult<StatusCode> {
    user.require_policymaker()?;
    check_vhost(&state, &user, &vhost)?;
    let existed = state.broker.policy(&vhost, &name).is_some();
    state
        .broker
        .set_policy(PolicyDefinition {
            vhost,
            name,
            pattern: body.pattern,
            apply_to: body.apply_to,
            definition: body.definition,
            priority: body.priority,
        })
        .map_err(|e| {
            ApiError::bad_request(e.to_string().trim_start_matches("PRECONDITION_FAILED - "))
        })?;
    Ok(if existed {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::CREATED
    })
}

/// DELETE /api/policies/{vhost}/{name}.
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Path((vhost, name)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    user.require_policymaker()?;
    check_vhost(&state, &user, &vhost)?;
    if state.broker.clear_policy(&vhost, &name) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}
