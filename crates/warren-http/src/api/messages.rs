//! POST /api/exchanges/{vhost}/{name}/publish and POST /api/queues/{vhost}/{name}/get:
//! publishing and fetching messages from the API (for operators and the UI;
//! RabbitMQ warns these are not for production messaging, and so do we).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::{Extension, Json};
use base64::Engine;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use warren_amqp::value::{to_field_table, to_table};
use warren_codec::properties::{decode_properties, encode_properties};
use warren_codec::spec::basic::AMQPProperties;
use warren_codec::ShortString;
use warren_core::auth::{Access, ResourceKind};
use warren_core::definitions::json::{json_to_table, table_to_json};
use warren_core::message::{Content, FormatId};
use warren_core::names::check_name;
use warren_core::publish::{Publish as CorePublish, Publisher};
use warren_core::queue::Settlement;
use warren_core::registry::MessageCounters;
use warren_core::Message;

use super::exchange_name;
use crate::auth::{check_vhost, AuthUser};
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::lenient;
use crate::AppState;

/// Body of a publish request.
#[derive(Debug, Deserialize)]
pub struct PublishBody {
    #[serde(default)]
    routing_key: String,
    #[serde(default)]
    payload: String,
    #[serde(default = "string_encoding")]
    payload_encoding: String,
    #[serde(default)]
    properties: Map<String, Value>,
}

fn string_encoding() -> String {
    "string".into()
}

fn not_string(key: &str) -> ApiError {
    ApiError::bad_request(format!("not_string: {key}"))
}

fn not_int(key: &str) -> ApiError {
    ApiError::bad_request(format!("not_int: {key}"))
}

/// An integer property (RabbitMQ's to_basic_properties takes JSON integers
/// only, not strings of them) that must fit its AMQP type.
fn int_property<T: TryFrom<u64>>(p: &Map<String, Value>, key: &str) -> ApiResult<Option<T>> {
    match p.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| T::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| not_int(key)),
    }
}

/// Message properties from their JSON form, as strictly as RabbitMQ's
/// rabbit_mgmt_format:to_basic_properties: strings where AMQP has short
/// strings, integers for delivery_mode, priority and timestamp, an object
/// for headers; unknown keys are ignored.
pub fn properties_from_json(p: &Map<String, Value>) -> ApiResult<AMQPProperties> {
    let mut props = AMQPProperties::default();
    type Setter = fn(AMQPProperties, ShortString) -> AMQPProperties;
    let str_fields: [(&str, Setter); 9] = [
        ("content_type", AMQPProperties::with_content_type),
        ("content_encoding", AMQPProperties::with_content_encoding),
        ("correlation_id", AMQPProperties::with_correlation_id),
        ("reply_to", AMQPProperties::with_reply_to),
        ("expiration", AMQPProperties::with_expiration),
        ("message_id", AMQPProperties::with_message_id),
        ("type", AMQPProperties::with_type),
        ("user_id", AMQPProperties::with_user_id),
        ("app_id", AMQPProperties::with_app_id),
    ];
    for (key, set) in str_fields {
        match p.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => {
                let short = ShortString::try_new(s.as_str()).map_err(|_| {
                    ApiError::bad_request(format!(
                        "property '{key}' is {} bytes long; AMQP short strings are at most 255 bytes",
                        s.len()
                    ))
                })?;
                props = set(props, short);
            }
            Some(_) => return Err(not_string(key)),
        }
    }
    if let Some(mode) = int_property::<u8>(p, "delivery_mode")? {
        props = props.with_delivery_mode(mode);
    }
    if let Some(prio) = int_property::<u8>(p, "priority")? {
        props = props.with_priority(prio);
    }
    if let Some(ts) = int_property::<u64>(p, "timestamp")? {
        props = props.with_timestamp(ts);
    }
    match p.get("headers") {
        None | Some(Value::Null) => {}
        Some(h @ Value::Object(_)) => {
            let table = json_to_table(h).map_err(ApiError::bad_request)?;
            props = props.with_headers(to_field_table(&table).map_err(ApiError::bad_request)?)
        }
        Some(_) => return Err(ApiError::bad_request("not_table: headers")),
    }
    Ok(props)
}

/// Message properties as RabbitMQ's API shows them.
pub fn properties_to_json(p: &AMQPProperties) -> Value {
    let mut out = Map::new();
    let mut put = |k: &str, v: &Option<ShortString>| {
        if let Some(s) = v {
            out.insert(k.into(), json!(s.as_str()));
        }
    };
    put("content_type", p.content_type());
    put("content_encoding", p.content_encoding());
    put("correlation_id", p.correlation_id());
    put("reply_to", p.reply_to());
    put("expiration", p.expiration());
    put("message_id", p.message_id());
    put("type", p.kind());
    put("user_id", p.user_id());
    put("app_id", p.app_id());
    if let Some(m) = p.delivery_mode() {
        out.insert("delivery_mode".into(), json!(m));
    }
    if let Some(m) = p.priority() {
        out.insert("priority".into(), json!(m));
    }
    if let Some(t) = p.timestamp() {
        out.insert("timestamp".into(), json!(t));
    }
    if let Some(h) = p.headers() {
        out.insert("headers".into(), table_to_json(&to_table(h)));
    }
    Value::Object(out)
}

/// POST /api/exchanges/{vhost}/{name}/publish → {"routed": bool}.
pub async fn publish(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Path((vhost, name)): Path<(String, String)>,
    JsonBody(body): JsonBody<PublishBody>,
) -> ApiResult<Json<Value>> {
    check_vhost(&state, &user, &vhost)?;
    let v = state.broker.vhost(&vhost).ok_or(ApiError::NotFound)?;
    let name = exchange_name(&name);
    // The core's publish path, as for an AMQP channel (RabbitMQ publishes
    // through a direct channel): permissions, internal exchange, routing,
    // persistence, counters.
    let mut publisher = Publisher::new(state.broker.clone(), v.clone(), user.name.as_str());
    let exchange = publisher.destination(name, body.routing_key.as_bytes())?;
    let payload = match body.payload_encoding.as_str() {
        "string" => Bytes::from(body.payload.into_bytes()),
        "base64" => Bytes::from(
            base64::engine::general_purpose::STANDARD
                .decode(body.payload.as_bytes())
                .map_err(|_| ApiError::bad_request("payload is not valid base64"))?,
        ),
        other => {
            return Err(ApiError::bad_request(format!(
                "unknown payload_encoding '{other}'"
            )))
        }
    };
    // A routing key AMQP cannot carry could not be delivered.
    check_name("routing key", &body.routing_key).map_err(ApiError::bad_request)?;
    let properties = properties_from_json(&body.properties)?;
    let content = encode_properties(&properties);
    let message = Arc::new(Message {
        exchange: Bytes::from(name.to_string()),
        routing_key: Bytes::from(body.routing_key.clone()),
        ann: warren_amqp::content::annotate(&content),
        content: Content::new(FormatId::AMQP_091, content),
        body: payload,
    });
    let mut headers = || properties.headers().as_ref().map(to_table);
    let routed = publisher.publish(CorePublish {
        exchange: &exchange,
        message: &message,
        extra_keys: &[],
        headers: &mut headers,
        counters: &state.broker.registry.direct,
        mandatory: false,
        confirm: None,
    });
    let routed = routed.queues > 0;
    Ok(Json(json!({"routed": routed})))
}

/// Body of a get request: `count`, `ackmode` and `encoding` are required as
/// in RabbitMQ; `count` and `truncate` may be strings of integers.
#[derive(Debug, Deserialize)]
pub struct GetBody {
    #[serde(default, deserialize_with = "lenient::opt_usize")]
    count: Option<usize>,
    #[serde(default)]
    ackmode: Option<String>,
    #[serde(default)]
    encoding: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_usize")]
    truncate: Option<usize>,
}

/// A validated get request.
struct GetRequest {
    count: usize,
    requeue: bool,
    acked: bool,
    base64: bool,
    truncate: Option<usize>,
}

impl GetBody {
    fn validate(self) -> ApiResult<GetRequest> {
        let missing: Vec<&str> = [
            ("ackmode", self.ackmode.is_none()),
            ("count", self.count.is_none()),
            ("encoding", self.encoding.is_none()),
        ]
        .into_iter()
        .filter_map(|(k, absent)| absent.then_some(k))
        .collect();
        if !missing.is_empty() {
            return Err(ApiError::bad_request(format!(
                "key_missing: {}",
                missing.join(", ")
            )));
        }
        let (requeue, acked) = match self.ackmode.as_deref().unwrap_or_default() {
            "ack_requeue_true" | "reject_requeue_true" => (true, false),
            "ack_requeue_false" => (false, true),
            "reject_requeue_false" => (false, false),
            other => return Err(ApiError::bad_request(format!("unknown ackmode '{other}'"))),
        };
        let base64 = match self.encoding.as_deref().unwrap_or_default() {
            "auto" => false,
            "base64" => true,
            _ => {
                return Err(ApiError::bad_request(
                    "Unsupported encoding. Please use auto or base64.",
                ))
            }
        };
        Ok(GetRequest {
            count: self.count.unwrap_or(1),
            requeue,
            acked,
            base64,
            truncate: self.truncate,
        })
    }
}

/// POST /api/queues/{vhost}/{name}/get: fetches up to `count` messages and,
/// per `ackmode`, requeues them (ack_requeue_true, reject_requeue_true) or
/// removes them (ack_requeue_false; reject_requeue_false dead-letters them).
pub async fn get(
    State(state): State<Arc<AppState>>,
    Extension(user): Extension<AuthUser>,
    Path((vhost, name)): Path<(String, String)>,
    JsonBody(body): JsonBody<GetBody>,
) -> ApiResult<Json<Value>> {
    let (_, queue) = super::queues::find(&state, &user, &vhost, &name)?;
    state.broker.users.check_resource(
        &user.name,
        &vhost,
        Access::Read,
        ResourceKind::Queue,
        &name,
    )?;
    let req = body.validate()?;
    let mut taken = Vec::new();
    let mut out = Vec::new();
    for _ in 0..req.count {
        let Some((m, remaining, id)) = queue.get(false) else {
            break;
        };
        MessageCounters::bump(&state.broker.registry.direct.get);
        out.push(message_json(&m, remaining, &req));
        taken.extend(id);
    }
    // As RabbitMQ's API, which gets through a channel and then settles:
    // requeue, acknowledge (forgetting the stored copy), or reject (which
    // dead-letters).
    let how = match (req.requeue, req.acked) {
        (true, _) => Settlement::Requeue,
        (false, true) => Settlement::Ack,
        (false, false) => Settlement::Reject,
    };
    queue.settle(&taken, how);
    Ok(Json(Value::Array(out)))
}

fn message_json(m: &warren_core::QueuedMessage, remaining: u32, req: &GetRequest) -> Value {
    let msg = &m.message;
    let body = match req.truncate {
        Some(n) if n < msg.body.len() => &msg.body[..n],
        _ => &msg.body[..],
    };
    let (payload, encoding) = match (req.base64, std::str::from_utf8(body)) {
        (false, Ok(text)) => (text.to_string(), "string"),
        _ => (
            base64::engine::general_purpose::STANDARD.encode(body),
            "base64",
        ),
    };
    let properties = decode_properties(&msg.rendered_content())
        .map(|p| properties_to_json(&p))
        .unwrap_or_else(|_| json!({}));
    json!({
        "payload_bytes": msg.body.len(),
        "redelivered": m.redelivered,
        "exchange": String::from_utf8_lossy(&msg.exchange),
        "routing_key": String::from_utf8_lossy(&msg.routing_key),
        "message_count": remaining,
        "properties": properties,
        "payload": payload,
        "payload_encoding": encoding,
    })
}
