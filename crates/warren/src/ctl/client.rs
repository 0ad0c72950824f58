//! A small blocking client for Warren's (RabbitMQ-compatible) HTTP API.

use std::time::Duration;

use base64::Engine;
use serde_json::Value;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The broker could not be reached at all.
    #[error("unable to connect to the broker's HTTP API at {url}: {reason}")]
    Unreachable {
        /// The base URL tried.
        url: String,
        /// The transport error.
        reason: String,
    },
    /// The broker answered with an error status.
    #[error("{reason}")]
    Api {
        /// HTTP status.
        status: u16,
        /// RabbitMQ-style reason text.
        reason: String,
    },
}

/// A connection to one broker's API.
pub struct Client {
    agent: ureq::Agent,
    base: String,
    auth: String,
}

/// Percent-encodes a path segment (vhost "/" becomes "%2F").
pub fn segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Client {
    /// A client for `base` ("http://localhost:15672") with basic auth.
    pub fn new(base: &str, user: &str, password: &str) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        Client {
            agent,
            base: base.trim_end_matches('/').to_string(),
            auth: format!("Basic {token}"),
        }
    }

    /// Sends a request; `body` is JSON text for PUT/POST. Returns the JSON
    /// answer (Null for 204).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<String>,
        reason: Option<&str>,
    ) -> Result<Value, ClientError> {
        let url = format!("{}{path}", self.base);
        let unreachable = |e: ureq::Error| ClientError::Unreachable {
            url: self.base.clone(),
            reason: e.to_string(),
        };
        let result = match method {
            "GET" => self
                .agent
                .get(&url)
                .header("Authorization", &self.auth)
                .call(),
            "DELETE" => {
                let mut req = self.agent.delete(&url).header("Authorization", &self.auth);
                if let Some(r) = reason {
                    req = req.header("X-Reason", r);
                }
                req.call()
            }
            _ => {
                let req = match method {
                    "PUT" => self.agent.put(&url),
                    _ => self.agent.post(&url),
                };
                req.header("Authorization", &self.auth)
                    .header("Content-Type", "application/json")
                    .send(body.unwrap_or_default())
            }
        };
        let mut response = result.map_err(unreachable)?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().map_err(unreachable)?;
        let json: Value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if status >= 400 {
            let reason = json
                .get("reason")
                .and_then(Value::as_str)
                .map(String::from)
                .unwrap_or_else(|| format!("HTTP {status}"));
            return Err(ClientError::Api { status, reason });
        }
        Ok(json)
    }
}
