//! HTTP basic authentication and RabbitMQ's management tags: a user needs one
//! of management, policymaker, monitoring or administrator to use the API;
//! what they may see and change then depends on the tag, as in RabbitMQ.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;

use crate::error::ApiError;
use crate::AppState;

/// The authenticated user of a request.
#[derive(Debug, Clone)]
pub struct AuthUser {
    /// User name.
    pub name: String,
    /// Tags.
    pub tags: Vec<String>,
}

impl AuthUser {
    fn has(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t == tag)
    }

    /// Tagged administrator.
    pub fn is_admin(&self) -> bool {
        self.has("administrator")
    }

    /// Tagged monitoring (or administrator): sees every connection and the node.
    pub fn is_monitor(&self) -> bool {
        self.is_admin() || self.has("monitoring")
    }

    /// Tagged policymaker (or administrator): may change policies.
    pub fn is_policymaker(&self) -> bool {
        self.is_admin() || self.has("policymaker")
    }

    /// Any management tag.
    pub fn is_management(&self) -> bool {
        self.is_monitor() || self.is_policymaker() || self.has("management")
    }

    /// 401 unless administrator.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        self.is_admin()
            .then_some(())
            .ok_or_else(|| ApiError::NotAuthorised("Not administrator user".into()))
    }

    /// 401 unless monitoring.
    pub fn require_monitor(&self) -> Result<(), ApiError> {
        self.is_monitor()
            .then_some(())
            .ok_or_else(|| ApiError::NotAuthorised("Not monitor user".into()))
    }

    /// 401 unless policymaker.
    pub fn require_policymaker(&self) -> Result<(), ApiError> {
        self.is_policymaker()
            .then_some(())
            .ok_or_else(|| ApiError::NotAuthorised("Not policymaker user".into()))
    }
}

/// Whether `user` may see/use `vhost` (administrators and monitors see all
/// vhosts; others those where they have permissions).
pub fn can_see_vhost(state: &AppState, user: &AuthUser, vhost: &str) -> bool {
    user.is_monitor() || state.broker.users.permission(&user.name, vhost).is_some()
}

/// 404 if the vhost does not exist, 401 if the user may not use it.
pub fn check_vhost(state: &AppState, user: &AuthUser, vhost: &str) -> Result<(), ApiError> {
    if state.broker.vhost(vhost).is_none() {
        return Err(ApiError::NotFound);
    }
    if user.is_admin() || state.broker.users.permission(&user.name, vhost).is_some() {
        Ok(())
    } else {
        Err(ApiError::NotAuthorised(
            "Not authorised to access virtual host".into(),
        ))
    }
}

fn credentials(request: &Request) -> Option<(String, String)> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.to_string(), pass.to_string()))
}

/// Middleware: authenticates every /api request and stores the [`AuthUser`].
pub async fn require_login(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
    next: Next,
) -> Response {
    let from_ui = request.headers().contains_key("x-requested-with");
    let failed = |reason: &str| {
        let mut response = ApiError::NotAuthorised(reason.into()).into_response();
        if !from_ui {
            // A login challenge for plain HTTP clients; none for the web
            // UI's own requests (no browser login dialog), as RabbitMQ.
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Basic realm=\"RabbitMQ Management\""),
            );
        }
        response
    };
    let attempts = &state.broker.users.auth_attempts;
    let Some((name, pass)) = credentials(&request) else {
        return failed("Login failed");
    };
    let login = state
        .broker
        .users
        .authenticate(&name, &pass, Some(peer.ip()));
    attempts.record("http", login.is_ok());
    let user = match login {
        Ok(u) => u,
        Err(_) => return failed("Login failed"),
    };
    let user = AuthUser {
        name: user.name,
        tags: user.tags,
    };
    if !user.is_management() {
        return failed("Not management user");
    }
    request.extensions_mut().insert(user);
    next.run(request).await
}
