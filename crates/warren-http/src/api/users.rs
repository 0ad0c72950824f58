//! /api/users, /api/permissions and /api/topic-permissions (administrator
//! only, except that /api/whoami is in overview.rs).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Value};
use warren_core::auth::{Permission, TopicPermission, User, HASHING_ALGORITHM};
use warren_core::definitions::parse_tags;

use crate::auth::AuthUser;
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::listing::{self, Query as ListQuery};
use crate::AppState;

fn user_json(u: &User) -> Value {
    json!({
        "name": u.name,
        "password_hash": u.password_hash,
        "hashing_algorithm": HASHING_ALGORITHM,
        "tags": u.tags,
        "limits": {},
    })
}

/// GET /api/users.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    user.require_admin()?;
    let items = state.broker.users.list().iter().map(user_json).collect();
    listing::respond(items, &q)
}

/// GET /api/users/{name}.
pub async fn one(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    user.require_admin()?;
    let u = state.broker.users.user(&name).ok_or(ApiError::NotFound)?;
    Ok(Json(user_json(&u)))
}

/// Body of PUT /api/users/{name}.
#[derive(Debug, Deserialize)]
pub struct UserBody {
    password: Option<String>,
    password_hash: Option<String>,
    hashing_algorithm: Option<String>,
    #[serde(default)]
    tags: Value,
}

/// PUT /api/users/{name}: with `password` or `password_hash` (empty for a
/// passwordless user) and `tags`; 201 created, 204 updated.
pub async fn put(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<UserBody>,
) -> ApiResult<StatusCode> {
    user.require_admin()?;
    let users = &state.broker.users;
    let existed = users.user(&name).is_some();
    let tags = parse_tags(&body.tags);
    match (body.password, body.password_hash) {
        (Some(password), _) => users
            .create_user(&name, &password, tags)
            .map_err(ApiError::bad_request)?,
        (None, Some(hash)) => users
            .add_user_with_hash(&name, &hash, body.hashing_algorithm.as_deref(), tags)
            .map_err(ApiError::bad_request)?,
        (None, None) if existed => users.set_tags(&name, tags).map_err(ApiError::bad_request)?,
        (None, None) => {
            return Err(ApiError::bad_request(
                "Must provide password or password_hash",
            ))
        }
    }
    Ok(if existed {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::CREATED
    })
}

/// DELETE /api/users/{name}.
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    user.require_admin()?;
    state
        .broker
        .users
        .delete_user(&name)
        .map_err(|_| ApiError::NotFound)?;
    Ok(StatusCode::NO_CONTENT)
}

fn permission_json(user: &str, vhost: &str, p: &Permission) -> Value {
    json!({"user": user, "vhost": vhost, "configure": p.configure.as_str(),
           "write": p.write.as_str(), "read": p.read.as_str()})
}

fn topic_json(user: &str, vhost: &str, t: &TopicPermission) -> Value {
    json!({"user": user, "vhost": vhost, "exchange": t.exchange,
           "write": t.write, "read": t.read})
}

fn permissions_where(
    state: &AppState,
    user: &AuthUser,
    keep: impl Fn(&str, &str) -> bool,
) -> ApiResult<Vec<Value>> {
    user.require_admin()?;
    Ok(state
        .broker
        .users
        .permissions()
        .iter()
        .filter(|(u, v, _)| keep(u, v))
        .map(|(u, v, p)| permission_json(u, v, p))
        .collect())
}

fn topics_where(
    state: &AppState,
    user: &AuthUser,
    keep: impl Fn(&str, &str) -> bool,
) -> ApiResult<Vec<Value>> {
    user.require_admin()?;
    Ok(state
        .broker
        .users
        .topic_permissions()
        .iter()
        .filter(|(u, v, _)| keep(u, v))
        .map(|(u, v, t)| topic_json(u, v, t))
        .collect())
}

fn unsorted(q: ListQuery) -> ListQuery {
    let mut q = q;
    q.entry("sort".into()).or_default();
    q
}

/// GET /api/permissions.
pub async fn permissions(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    listing::respond(permissions_where(&state, &user, |_, _| true)?, &unsorted(q))
}

/// GET /api/vhosts/{vhost}/permissions.
pub async fn permissions_in(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Path(vhost): Path<String>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    state.broker.vhost(&vhost).ok_or(ApiError::NotFound)?;
    let items = permissions_where(&state, &user, |_, v| v == vhost)?;
    listing::respond(items, &unsorted(q))
}

/// GET /api/users/{name}/permissions.
pub async fn permissions_of(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Path(name): Path<String>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    state.broker.users.user(&name).ok_or(ApiError::NotFound)?;
    let items = permissions_where(&state, &user, |u, _| u == name)?;
    listing::respond(items, &unsorted(q))
}

/// GET /api/permissions/{vhost}/{user}.
pub async fn permission(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Path((vhost, name)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    user.require_admin()?;
    let p = state
        .broker
        .users
        .permission(&name, &vhost)
        .ok_or(ApiError::NotFound)?;
    Ok(Json(permission_json(&name, &vhost, &p)))
}

/// Body of PUT /api/permissions/{vhost}/{user}.
#[derive(Debug, Deserialize)]
pub struct PermissionBody {
    configure: String,
    write: String,
    read: String,
}

fn user_and_vhost_exist(state: &AppState, vhost: &str, name: &str) -> ApiResult<()> {
    if state.broker.vhost(vhost).is_none() || state.broker.users.user(name).is_none() {
        return Err(ApiError::bad_request("vhost_or_user_not_found"));
    }
    Ok(())
}

/// PUT /api/permissions/{vhost}/{user}.
pub async fn set_permission(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Path((vhost, name)): Path<(String, String)>,
    JsonBody(body): JsonBody<PermissionBody>,
) -> ApiResult<StatusCode> {
    user.require_admin()?;
    user_and_vhost_exist(&state, &vhost, &name)?;
    let users = &state.broker.users;
    let existed = users.permission(&name, &vhost).is_some();
    let p =
        Permission::new(&body.configure, &body.write, &body.read).map_err(ApiError::bad_request)?;
    users.set_permission(&name, &vhost, p);
    Ok(if existed {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::CREATED
    })
}

/// DELETE /api/permissions/{vhost}/{user}.
pub async fn clear_permission(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Path((vhost, name)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    user.require_admin()?;
    if state.broker.users.clear_permission(&name, &vhost) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}

/// GET /api/topic-permissions.
pub async fn topic_permissions(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    listing::respond(topics_where(&state, &user, |_, _| true)?, &unsorted(q))
}

/// GET /api/vhosts/{vhost}/topic-permissions.
pub async fn topic_permissions_in(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Path(vhost): Path<String>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    state.broker.vhost(&vhost).ok_or(ApiError::NotFound)?;
    let items = topics_where(&state, &user, |_, v| v == vhost)?;
    listing::respond(items, &unsorted(q))
}

/// GET /api/users/{name}/topic-permissions.
pub async fn topic_permissions_of(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Path(name): Path<String>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    state.broker.users.user(&name).ok_or(ApiError::NotFound)?;
    let items = topics_where(&state, &user, |u, _| u == name)?;
    listing::respond(items, &unsorted(q))
}

/// GET /api/topic-permissions/{vhost}/{user}.
pub async fn topic_permission(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Path((vhost, name)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let items = topics_where(&state, &user, |u, v| u == name && v == vhost)?;
    if items.is_empty() {
        return Err(ApiError::NotFound);
    }
    Ok(Json(Value::Array(items)))
}

/// Body of PUT /api/topic-permissions/{vhost}/{user}.
#[derive(Debug, Deserialize)]
pub struct TopicBody {
    exchange: String,
    write: String,
    read: String,
}

/// PUT /api/topic-permissions/{vhost}/{user}.
pub async fn set_topic_permission(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Path((vhost, name)): Path<(String, String)>,
    JsonBody(body): JsonBody<TopicBody>,
) -> ApiResult<StatusCode> {
    user.require_admin()?;
    user_and_vhost_exist(&state, &vhost, &name)?;
    for pattern in [&body.write, &body.read] {
        warren_core::permissions::Pattern::new(pattern).map_err(ApiError::bad_request)?;
    }
    let users = &state.broker.users;
    let existed = users
        .topic_permissions()
        .iter()
        .any(|(u, v, t)| *u == name && *v == vhost && t.exchange == body.exchange);
    users.set_topic_permission(
        &name,
        &vhost,
        TopicPermission {
            exchange: body.exchange,
            write: body.write,
            read: body.read,
        },
    );
    Ok(if existed {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::CREATED
    })
}

/// DELETE /api/topic-permissions/{vhost}/{user}.
pub async fn clear_topic_permission(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Path((vhost, name)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    user.require_admin()?;
    if state
        .broker
        .users
        .clear_topic_permissions(&name, &vhost, None)
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}
