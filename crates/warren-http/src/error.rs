//! API errors as RabbitMQ's management plugin returns them: a status code and
//! a JSON body `{"error": …, "reason": …}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use warren_core::BrokerError;

/// An HTTP API failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// 401: no or bad credentials, or a user without the needed tag.
    #[error("not_authorised: {0}")]
    NotAuthorised(String),
    /// 404: the object does not exist.
    #[error("Object Not Found")]
    NotFound,
    /// 400: malformed input or a precondition failure.
    #[error("bad_request: {0}")]
    BadRequest(String),
    /// 405: the method is not allowed on this path.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 500: an internal failure.
    #[error("internal: {0}")]
    Internal(String),
}

impl ApiError {
    /// 400 with a reason.
    pub fn bad_request(reason: impl ToString) -> Self {
        ApiError::BadRequest(reason.to_string())
    }
}

/// Maps a core error the way rabbit_mgmt_util does for channel errors:
/// 404 stays 404, 403 becomes 401 not_authorised, the rest 400.
impl From<BrokerError> for ApiError {
    fn from(e: BrokerError) -> Self {
        let text = e.to_string();
        match e {
            BrokerError::NotFound(_) => ApiError::NotFound,
            BrokerError::AccessRefused(_) => ApiError::NotAuthorised(text),
            _ => ApiError::BadRequest(text),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, error, reason) = match &self {
            ApiError::NotAuthorised(r) => (StatusCode::UNAUTHORIZED, "not_authorised", r.clone()),
            ApiError::NotFound => (
                StatusCode::NOT_FOUND,
                "Object Not Found",
                "Not Found".to_string(),
            ),
            ApiError::BadRequest(r) => (StatusCode::BAD_REQUEST, "bad_request", r.clone()),
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "Method Not Allowed",
                "Method Not Allowed".to_string(),
            ),
            ApiError::Internal(r) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                r.clone(),
            ),
        };
        let body = Json(serde_json::json!({"error": error, "reason": reason}));
        // No WWW-Authenticate here: a permission-denied 401 is not a login
        // challenge (RabbitMQ's not_authorised halts without one); only
        // the login middleware adds it for failed authentication.
        (status, body).into_response()
    }
}

/// Handler result.
pub type ApiResult<T> = Result<T, ApiError>;
