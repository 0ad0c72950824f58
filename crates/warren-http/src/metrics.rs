//! Prometheus metrics with RabbitMQ's names (those of rabbitmq_prometheus that
//! RabbitMQ's own "RabbitMQ-Overview" Grafana dashboard queries). /metrics is
//! aggregated, as RabbitMQ's default; /metrics/per-object adds a series per
//! queue with `vhost` and `queue` labels.

use std::fmt::Write;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::api::overview_probe as probe;
use crate::AppState;

/// The metrics routes.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/metrics", get(aggregated))
        .route("/metrics/per-object", get(per_object))
        .with_state(state)
}

struct Out(String);

impl Out {
    fn metric(&mut self, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
        let _ = writeln!(
            self.0,
            "# TYPE {name} {kind}\n# HELP {name} {help}\n{name} {value}"
        );
    }

    fn header(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# TYPE {name} {kind}\n# HELP {name} {help}");
    }

    fn sample(&mut self, name: &str, labels: &str, value: impl std::fmt::Display) {
        let _ = writeln!(self.0, "{name}{{{labels}}} {value}");
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn render(state: &AppState, per_object: bool) -> String {
    let broker = &state.broker;
    let mut out = Out(String::new());
    out.header(
        "rabbitmq_identity_info",
        "untyped",
        "RabbitMQ node & cluster identity info",
    );
    out.sample(
        "rabbitmq_identity_info",
        &format!(
            "rabbitmq_node=\"{}\",rabbitmq_cluster=\"warren\",rabbitmq_cluster_permanent_id=\"warren\"",
            escape(&state.node)
        ),
        1,
    );
    out.header(
        "rabbitmq_build_info",
        "untyped",
        "RabbitMQ & Erlang/OTP version info",
    );
    out.sample(
        "rabbitmq_build_info",
        &format!(
            "rabbitmq_version=\"{}\",product_name=\"Warren\",product_version=\"{}\",prometheus_plugin_version=\"{}\"",
            crate::api::RABBITMQ_API_VERSION,
            env!("CARGO_PKG_VERSION"),
            env!("CARGO_PKG_VERSION")
        ),
        1,
    );
    let connections = broker.registry.connections();
    let channels: usize = connections.iter().map(|c| c.channel_count()).sum();
    let queues: Vec<_> = broker.vhosts().iter().flat_map(|v| v.queues()).collect();
    let consumers: usize = queues.iter().map(|q| q.consumer_count()).sum();
    out.metric(
        "rabbitmq_connections",
        "gauge",
        "Connections currently open",
        connections.len(),
    );
    out.metric(
        "rabbitmq_channels",
        "gauge",
        "Channels currently open",
        channels,
    );
    out.metric(
        "rabbitmq_consumers",
        "gauge",
        "Consumers currently connected",
        consumers,
    );
    out.metric("rabbitmq_queues", "gauge", "Queues available", queues.len());
    queue_metrics(&mut out, &queues, per_object);
    channel_metrics(&mut out, state);
    process_metrics(&mut out, state);
    out.0
}

fn queue_metrics(out: &mut Out, queues: &[Arc<warren_core::Queue>], per_object: bool) {
    type Get = fn(&warren_core::Queue) -> u64;
    let gauges: [(&str, &str, Get); 5] = [
        (
            "rabbitmq_queue_messages_ready",
            "Messages ready to be delivered to consumers",
            |q| q.message_count() as u64,
        ),
        (
            "rabbitmq_queue_messages_unacked",
            "Messages delivered to consumers but not yet acknowledged",
            |q| q.unacked() as u64,
        ),
        (
            "rabbitmq_queue_messages",
            "Sum of ready and unacknowledged messages - total queue depth",
            |q| (q.message_count() + q.unacked()) as u64,
        ),
        ("rabbitmq_queue_consumers", "Consumers on a queue", |q| {
            q.consumer_count() as u64
        }),
        (
            "rabbitmq_queue_messages_ready_bytes",
            "Size in bytes of ready messages",
            |q| q.message_bytes() as u64,
        ),
    ];
    for (name, help, get) in gauges {
        if per_object {
            out.header(name, "gauge", help);
            for q in queues {
                let labels = format!(
                    "vhost=\"{}\",queue=\"{}\"",
                    escape(&q.vhost),
                    escape(&q.name)
                );
                out.sample(name, &labels, get(q));
            }
        } else {
            out.metric(
                name,
                "gauge",
                help,
                queues.iter().map(|q| get(q)).sum::<u64>(),
            );
        }
    }
    let published: u64 = queues.iter().map(|q| q.stats.published.load(Relaxed)).sum();
    out.metric(
        "rabbitmq_queue_messages_published_total",
        "counter",
        "Total number of messages published to queues",
        published,
    );
}

fn channel_metrics(out: &mut Out, state: &AppState) {
    let t = state.broker.registry.totals();
    let churn = state.broker.registry.churn();
    let (mut declared, mut created, mut deleted) = (0, 0, 0);
    for v in state.broker.vhosts() {
        declared += v.churn.declared.load(Relaxed);
        created += v.churn.created.load(Relaxed);
        deleted += v.churn.deleted.load(Relaxed);
    }
    let counters: [(&str, &str, u64); 20] = [
        ("rabbitmq_channel_messages_published_total", "Total number of messages published into an exchange on a channel", t.publish),
        ("rabbitmq_received_messages_total", "Total number of messages received from publishers", t.publish),
        ("rabbitmq_global_messages_received_total", "Total number of messages received from publishers", t.publish),
        ("rabbitmq_channel_messages_confirmed_total", "Total number of messages published into an exchange and confirmed on the channel", t.confirm),
        ("rabbitmq_global_messages_confirmed_total", "Total number of messages confirmed to publishers", t.confirm),
        ("rabbitmq_channel_messages_unroutable_returned_total", "Total number of messages published as mandatory into an exchange and returned to the publisher as unroutable", t.return_unroutable),
        ("rabbitmq_channel_messages_unroutable_dropped_total", "Total number of messages published as non-mandatory into an exchange and dropped as unroutable", t.drop_unroutable),
        ("rabbitmq_channel_messages_delivered_total", "Total number of messages delivered to consumers in automatic acknowledgement mode", t.deliver_no_ack),
        ("rabbitmq_channel_messages_delivered_ack_total", "Total number of messages delivered to consumers in manual acknowledgement mode", t.deliver),
        ("rabbitmq_channel_messages_redelivered_total", "Total number of messages redelivered to consumers", t.redeliver),
        ("rabbitmq_channel_messages_acked_total", "Total number of messages acknowledged by consumers", t.ack),
        ("rabbitmq_channel_get_ack_total", "Total number of messages fetched with basic.get in manual acknowledgement mode", t.get),
        ("rabbitmq_channel_get_total", "Total number of messages fetched with basic.get in automatic acknowledgement mode", t.get_no_ack),
        ("rabbitmq_channel_get_empty_total", "Total number of times basic.get operations fetched no message", t.get_empty),
        ("rabbitmq_connections_opened_total", "Total number of connections opened", churn.connections_opened),
        ("rabbitmq_connections_closed_total", "Total number of connections closed or terminated", churn.connections_closed),
        ("rabbitmq_channels_opened_total", "Total number of channels opened", churn.channels_opened),
        ("rabbitmq_channels_closed_total", "Total number of channels closed", churn.channels_closed),
        ("rabbitmq_queues_declared_total", "Total number of queues declared", declared),
        ("rabbitmq_queues_created_total", "Total number of queues created", created),
    ];
    for (name, help, value) in counters {
        out.metric(name, "counter", help, value);
    }
    out.metric(
        "rabbitmq_queues_deleted_total",
        "counter",
        "Total number of queues deleted",
        deleted,
    );
}

fn process_metrics(out: &mut Out, state: &AppState) {
    let fds = probe::max_fds();
    out.metric(
        "rabbitmq_process_resident_memory_bytes",
        "gauge",
        "Memory used in bytes",
        probe::memory_used(),
    );
    out.metric(
        "rabbitmq_resident_memory_limit_bytes",
        "gauge",
        "Memory high watermark in bytes (0: none)",
        0,
    );
    out.metric(
        "rabbitmq_disk_space_available_bytes",
        "gauge",
        "Disk space available in bytes",
        probe::disk_free(),
    );
    out.metric(
        "rabbitmq_disk_space_available_limit_bytes",
        "gauge",
        "Free disk space low watermark in bytes",
        50_000_000u64,
    );
    out.metric(
        "rabbitmq_process_open_fds",
        "gauge",
        "Open file descriptors",
        probe::open_fds(),
    );
    out.metric(
        "rabbitmq_process_max_fds",
        "gauge",
        "Open file descriptors limit",
        fds,
    );
    out.metric(
        "rabbitmq_process_open_tcp_sockets",
        "gauge",
        "Open TCP sockets",
        state.broker.registry.connections().len(),
    );
    out.metric(
        "rabbitmq_process_max_tcp_sockets",
        "gauge",
        "Open TCP sockets limit",
        fds,
    );
    out.metric(
        "rabbitmq_alarms_memory_used_watermark",
        "gauge",
        "Is set to 1 when the memory alarm is in effect",
        u64::from(state.broker.alarms.active().memory),
    );
    out.metric(
        "rabbitmq_alarms_free_disk_space_watermark",
        "gauge",
        "Is set to 1 when the disk alarm is in effect",
        u64::from(state.broker.alarms.active().disk),
    );
}

const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

async fn aggregated(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        render(&state, false),
    )
}

async fn per_object(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], render(&state, true))
}
