//! /api/definitions: export (GET) and import (POST) in RabbitMQ's format,
//! for the whole broker or one vhost (administrator only).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde_json::Value;
use warren_core::definitions::{self, Definitions};

use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};
use crate::AppState;

fn parse(body: &[u8]) -> ApiResult<Definitions> {
    serde_json::from_slice(body).map_err(ApiError::bad_request)
}

/// GET /api/definitions.
pub async fn export(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
) -> ApiResult<Json<Value>> {
    user.require_admin()?;
    let defs = definitions::export(&state.broker, None);
    Ok(Json(
        serde_json::to_value(defs).map_err(|e| ApiError::Internal(e.to_string()))?,
    ))
}

/// GET /api/definitions/{vhost}.
pub async fn export_vhost(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Path(vhost): Path<String>,
) -> ApiResult<Json<Value>> {
    user.require_admin()?;
    state.broker.vhost(&vhost).ok_or(ApiError::NotFound)?;
    let mut defs = definitions::export(&state.broker, Some(&vhost));
    // RabbitMQ's per-vhost export has no users, vhosts or permissions keys.
    let mut value =
        serde_json::to_value(&mut defs).map_err(|e| ApiError::Internal(e.to_string()))?;
    if let Value::Object(map) = &mut value {
        for key in [
            "users",
            "vhosts",
            "permissions",
            "topic_permissions",
            "global_parameters",
        ] {
            map.remove(key);
        }
    }
    Ok(Json(value))
}

/// POST /api/definitions: imports; 204 on success, 400 with the failing item.
pub async fn import(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    user.require_admin()?;
    let defs = parse(&body)?;
    definitions::import(&state.broker, &defs, None).map_err(ApiError::bad_request)?;
    Ok(StatusCode::NO_CONTENT)
}

/// POST /api/definitions/{vhost}: imports queues, exchanges, bindings and
/// policies into that vhost.
pub async fn import_vhost(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Path(vhost): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    user.require_admin()?;
    state.broker.vhost(&vhost).ok_or(ApiError::NotFound)?;
    let mut defs = parse(&body)?;
    defs.users.clear();
    defs.vhosts.clear();
    defs.permissions.clear();
    defs.topic_permissions.clear();
    definitions::import(&state.broker, &defs, Some(&vhost)).map_err(ApiError::bad_request)?;
    Ok(StatusCode::NO_CONTENT)
}
