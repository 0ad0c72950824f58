//! The /api routes, one module per resource as in RabbitMQ's management
//! plugin. Every route needs HTTP basic auth by a user with a management tag.

mod bindings;
mod connections;
mod definitions;
mod environment;
mod exchanges;
mod messages;
mod overview;
mod policies;
mod queues;
mod users;
mod vhost_limits;
mod vhosts;

use std::sync::Arc;

use axum::routing::{any, get, post};
use axum::Router;

pub use connections::channel_name;
pub use overview::RABBITMQ_API_VERSION;
/// Process probes (memory, descriptors, disk, sockets) shared with the metrics.
pub mod overview_probe {
    pub use super::overview::{
        disk_free, max_fds, memory_used, node_values, open_fds, sockets, NODE_KEY,
    };
}

use crate::auth::require_login;
use crate::error::ApiError;
use crate::AppState;

/// Decodes a vhost or name path segment; RabbitMQ writes the default
/// exchange as "amq.default" in paths.
pub(crate) fn exchange_name(name: &str) -> &str {
    if name == "amq.default" {
        ""
    } else {
        name
    }
}

/// Every /api route.
pub fn router(state: Arc<AppState>) -> Router {
    let api = Router::new()
        .route("/api/overview", get(overview::overview))
        .route("/api/cluster-name", get(overview::cluster_name))
        .route("/api/nodes", get(overview::nodes))
        .route("/api/nodes/{node}", get(overview::node))
        .route("/api/whoami", get(overview::whoami))
        .route("/api/environment", get(environment::environment))
        .route("/api/memory-breakdown", get(environment::memory_breakdown))
        .route("/api/aliveness-test/{vhost}", get(overview::aliveness))
        .route("/api/health/checks/alarms", get(overview::health_alarms))
        .route(
            "/api/health/checks/local-alarms",
            get(overview::health_local_alarms),
        )
        .route(
            "/api/health/checks/virtual-hosts",
            get(overview::health_vhosts),
        )
        .route(
            "/api/health/checks/port-listener/{port}",
            get(overview::health_port_listener),
        )
        .route(
            "/api/health/checks/protocol-listener/{protocol}",
            get(overview::health_protocol_listener),
        )
        .route(
            "/api/health/checks/certificate-expiration/{within}/{unit}",
            get(overview::health_certificate_expiration),
        )
        .route(
            "/api/health/checks/node-is-quorum-critical",
            get(overview::health_single_node),
        )
        .route(
            "/api/health/checks/node-is-mirror-sync-critical",
            get(overview::health_single_node),
        )
        .route("/api/connections", get(connections::list))
        .route(
            "/api/connections/{name}",
            get(connections::one).delete(connections::close),
        )
        .route(
            "/api/connections/{name}/channels",
            get(connections::channels_of),
        )
        .route("/api/vhosts/{vhost}/connections", get(connections::list_in))
        .route(
            "/api/vhosts/{vhost}/channels",
            get(connections::channels_in),
        )
        .route("/api/channels", get(connections::channels))
        .route("/api/channels/{name}", get(connections::channel))
        .route("/api/consumers", get(connections::consumers))
        .route("/api/consumers/{vhost}", get(connections::consumers_in))
        .route("/api/exchanges", get(exchanges::list))
        .route("/api/exchanges/{vhost}", get(exchanges::list_in))
        .route(
            "/api/exchanges/{vhost}/{name}",
            get(exchanges::one)
                .put(exchanges::declare)
                .delete(exchanges::delete),
        )
        .route(
            "/api/exchanges/{vhost}/{name}/publish",
            post(messages::publish),
        )
        .route(
            "/api/exchanges/{vhost}/{name}/bindings/source",
            get(bindings::from_exchange),
        )
        .route(
            "/api/exchanges/{vhost}/{name}/bindings/destination",
            get(bindings::to_exchange),
        )
        .route("/api/queues", get(queues::list))
        .route("/api/queues/{vhost}", get(queues::list_in))
        .route(
            "/api/queues/{vhost}/{name}",
            get(queues::one).put(queues::declare).delete(queues::delete),
        )
        .route(
            "/api/queues/{vhost}/{name}/contents",
            axum::routing::delete(queues::purge),
        )
        .route("/api/queues/{vhost}/{name}/get", post(messages::get))
        .route(
            "/api/queues/{vhost}/{name}/bindings",
            get(bindings::to_queue),
        )
        .route("/api/bindings", get(bindings::list))
        .route("/api/bindings/{vhost}", get(bindings::list_in))
        .route(
            "/api/bindings/{vhost}/e/{source}/{kind}/{destination}",
            get(bindings::between).post(bindings::create),
        )
        .route(
            "/api/bindings/{vhost}/e/{source}/{kind}/{destination}/{props}",
            get(bindings::one).delete(bindings::delete),
        )
        .route("/api/vhosts", get(vhosts::list))
        .route(
            "/api/vhosts/{vhost}",
            get(vhosts::one).put(vhosts::put).delete(vhosts::delete),
        )
        .route(
            "/api/vhosts/{vhost}/permissions",
            get(users::permissions_in),
        )
        .route(
            "/api/vhosts/{vhost}/topic-permissions",
            get(users::topic_permissions_in),
        )
        .route("/api/users", get(users::list))
        .route(
            "/api/users/{name}",
            get(users::one).put(users::put).delete(users::delete),
        )
        .route("/api/users/{name}/permissions", get(users::permissions_of))
        .route(
            "/api/users/{name}/topic-permissions",
            get(users::topic_permissions_of),
        )
        .route("/api/permissions", get(users::permissions))
        .route(
            "/api/permissions/{vhost}/{user}",
            get(users::permission)
                .put(users::set_permission)
                .delete(users::clear_permission),
        )
        .route("/api/topic-permissions", get(users::topic_permissions))
        .route(
            "/api/topic-permissions/{vhost}/{user}",
            get(users::topic_permission)
                .put(users::set_topic_permission)
                .delete(users::clear_topic_permission),
        )
        .route("/api/policies", get(policies::list))
        .route("/api/policies/{vhost}", get(policies::list_in))
        .route(
            "/api/policies/{vhost}/{name}",
            get(policies::one)
                .put(policies::put)
                .delete(policies::delete),
        )
        .route("/api/vhost-limits", get(vhost_limits::list))
        .route("/api/vhost-limits/{vhost}", get(vhost_limits::list_in))
        .route(
            "/api/vhost-limits/{vhost}/{name}",
            axum::routing::put(vhost_limits::put).delete(vhost_limits::delete),
        )
        .route(
            "/api/definitions",
            get(definitions::export).post(definitions::import),
        )
        .route(
            "/api/definitions/{vhost}",
            get(definitions::export_vhost).post(definitions::import_vhost),
        )
        .route("/api/{*rest}", any(|| async { ApiError::NotFound }))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_login,
        ))
        .with_state(state);
    Router::new().merge(api)
}
