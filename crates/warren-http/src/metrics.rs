//! Prometheus metrics with RabbitMQ's names, families and labels (those of
//! rabbitmq_prometheus that Warren can measure). Three endpoints, as RabbitMQ:
//! - /metrics: every family, each metric one series summed over objects;
//! - /metrics/per-object: the same with a series per queue (`vhost`,
//!   `queue`), channel (`channel`) and connection (`channel`, as RabbitMQ
//!   labels connection series with the connection process);
//! - /metrics/detailed?family=…&vhost=…: only the requested families, per
//!   object, named `rabbitmq_detailed_…`.
//!
//! Node-wide series (process, limits, churn, the `rabbitmq_global_*`
//! counters with their `protocol` label, auth attempts) appear on /metrics
//! and /metrics/per-object.

use std::fmt::Write;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use warren_core::registry::{ChannelInfo, ConnectionInfo};
use warren_core::{Queue, ReadyStats};

use crate::api::overview_probe as probe;
use crate::{process, AppState};

/// The metrics routes.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/metrics", get(aggregated))
        .route("/metrics/per-object", get(per_object))
        .route("/metrics/detailed", get(detailed))
        .with_state(state)
}

struct Out(String);

impl Out {
    fn metric(&mut self, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
        self.header(name, kind, help);
        let _ = writeln!(self.0, "{name} {value}");
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

/// How series are written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// One series per metric, summed over objects.
    Aggregated,
    /// A series per object, `rabbitmq_` prefix.
    PerObject,
    /// A series per object, `rabbitmq_detailed_` prefix, requested families only.
    Detailed,
}

impl Mode {
    fn prefix(self) -> &'static str {
        match self {
            Mode::Detailed => "rabbitmq_detailed_",
            _ => "rabbitmq_",
        }
    }

    fn endpoint(self) -> &'static str {
        match self {
            Mode::Aggregated => "aggregated",
            Mode::PerObject => "per-object",
            Mode::Detailed => "detailed",
        }
    }
}

/// A metric of one object kind: name after the prefix, type, help, value
/// (None: no series for this object, e.g. an empty queue's head timestamp).
struct Metric<T> {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    value: fn(&T) -> Option<u64>,
}

/// A RabbitMQ metric family (the unit /metrics/detailed selects).
struct Family<T: 'static> {
    name: &'static str,
    metrics: &'static [Metric<T>],
}

/// What the metrics read from a queue, taken once per scrape.
struct QueueSample {
    labels: String,
    vhost: String,
    ready: ReadyStats,
    unacked: u64,
    consumers: u64,
    published: u64,
}

impl QueueSample {
    fn of(q: &Queue) -> Self {
        QueueSample {
            labels: format!(
                "vhost=\"{}\",queue=\"{}\"",
                escape(&q.vhost),
                escape(&q.name)
            ),
            vhost: q.vhost.to_string(),
            ready: q.ready_stats(),
            unacked: q.unacked() as u64,
            consumers: q.consumer_count() as u64,
            published: q.stats.published.load(Relaxed),
        }
    }
}

const fn m<T>(
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    value: fn(&T) -> Option<u64>,
) -> Metric<T> {
    Metric {
        name,
        kind,
        help,
        value,
    }
}

static QUEUE_FAMILIES: [Family<QueueSample>; 4] = [
    Family {
        name: "queue_coarse_metrics",
        metrics: &[
            m(
                "queue_messages_ready",
                "gauge",
                "Messages ready to be delivered to consumers",
                |q| Some(q.ready.messages as u64),
            ),
            m(
                "queue_messages_unacked",
                "gauge",
                "Messages delivered to consumers but not yet acknowledged",
                |q| Some(q.unacked),
            ),
            m(
                "queue_messages",
                "gauge",
                "Sum of ready and unacknowledged messages - total queue depth",
                |q| Some(q.ready.messages as u64 + q.unacked),
            ),
        ],
    },
    Family {
        name: "queue_consumer_count",
        metrics: &[m("queue_consumers", "gauge", "Consumers on a queue", |q| {
            Some(q.consumers)
        })],
    },
    Family {
        name: "queue_metrics",
        metrics: &[
            m(
                "queue_messages_ready_bytes",
                "gauge",
                "Size in bytes of ready messages",
                |q| Some(q.ready.bytes as u64),
            ),
            m(
                "queue_messages_ready_ram",
                "gauge",
                "Ready messages stored in memory",
                |q| Some(q.ready.in_memory as u64),
            ),
            m(
                "queue_messages_persistent",
                "gauge",
                "Persistent messages (ready, with a copy on disk)",
                |q| Some(q.ready.persistent as u64),
            ),
            m(
                "queue_messages_persistent_bytes",
                "gauge",
                "Size in bytes of persistent messages (ready, with a copy on disk)",
                |q| Some(q.ready.persistent_bytes as u64),
            ),
            m(
                "queue_messages_paged_out",
                "gauge",
                "Messages paged out to disk",
                |q| Some((q.ready.messages - q.ready.in_memory) as u64),
            ),
            m(
                "queue_messages_paged_out_bytes",
                "gauge",
                "Size in bytes of messages paged out to disk",
                |q| Some((q.ready.bytes - q.ready.in_memory_bytes) as u64),
            ),
            m(
                "queue_head_message_timestamp",
                "gauge",
                "Timestamp of the first message in the queue, if any",
                |q| q.ready.head_timestamp,
            ),
        ],
    },
    Family {
        name: "channel_queue_exchange_metrics",
        metrics: &[m(
            "queue_messages_published_total",
            "counter",
            "Total number of messages published to queues",
            |q| Some(q.published),
        )],
    },
];

/// What the metrics read from a channel.
struct ChannelSample {
    labels: String,
    consumers: u64,
    unacked: u64,
    prefetch: u64,
    global_prefetch: u64,
    totals: warren_core::registry::MessageTotals,
}

impl ChannelSample {
    fn of(c: &ConnectionInfo, ch: &ChannelInfo) -> Self {
        ChannelSample {
            labels: format!("channel=\"{}\"", escape(&crate::api::channel_name(c, ch))),
            consumers: ch.consumer_count.load(Relaxed).into(),
            unacked: ch.messages_unacknowledged.load(Relaxed).into(),
            prefetch: ch.prefetch_count.load(Relaxed).into(),
            global_prefetch: ch.global_prefetch_count.load(Relaxed).into(),
            totals: ch.counters.totals(),
        }
    }
}

impl ChannelSample {
    /// The broker-wide lifetime counters as one pseudo-channel.
    fn lifetime(state: &AppState) -> Self {
        ChannelSample {
            labels: String::new(),
            consumers: 0,
            unacked: 0,
            prefetch: 0,
            global_prefetch: 0,
            totals: state.broker.registry.totals(),
        }
    }
}

static CHANNEL_FAMILIES: [Family<ChannelSample>; 3] = [
    Family {
        name: "channel_metrics",
        metrics: &[
            m("channel_consumers", "gauge", "Consumers on a channel", |c| Some(c.consumers)),
            m("channel_messages_unacked", "gauge", "Delivered but not yet acknowledged messages", |c| Some(c.unacked)),
            m("consumer_prefetch", "gauge", "Limit of unacknowledged messages for each consumer", |c| Some(c.prefetch)),
            m("channel_prefetch", "gauge", "Total limit of unacknowledged messages for all consumers on a channel", |c| Some(c.global_prefetch)),
        ],
    },
    Family {
        name: "channel_exchange_metrics",
        metrics: &[
            m("channel_messages_published_total", "counter", "Total number of messages published into an exchange on a channel", |c| Some(c.totals.publish)),
            m("channel_messages_confirmed_total", "counter", "Total number of messages published into an exchange and confirmed on the channel", |c| Some(c.totals.confirm)),
            m("channel_messages_unroutable_returned_total", "counter", "Total number of messages published as mandatory into an exchange and returned to the publisher as unroutable", |c| Some(c.totals.return_unroutable)),
            m("channel_messages_unroutable_dropped_total", "counter", "Total number of messages published as non-mandatory into an exchange and dropped as unroutable", |c| Some(c.totals.drop_unroutable)),
        ],
    },
    Family {
        name: "channel_queue_metrics",
        metrics: &[
            m("channel_get_ack_total", "counter", "Total number of messages fetched with basic.get in manual acknowledgement mode", |c| Some(c.totals.get)),
            m("channel_get_total", "counter", "Total number of messages fetched with basic.get in automatic acknowledgement mode", |c| Some(c.totals.get_no_ack)),
            m("channel_messages_delivered_ack_total", "counter", "Total number of messages delivered to consumers in manual acknowledgement mode", |c| Some(c.totals.deliver)),
            m("channel_messages_delivered_total", "counter", "Total number of messages delivered to consumers in automatic acknowledgement mode", |c| Some(c.totals.deliver_no_ack)),
            m("channel_messages_redelivered_total", "counter", "Total number of messages redelivered to consumers", |c| Some(c.totals.redeliver)),
            m("channel_messages_acked_total", "counter", "Total number of messages acknowledged by consumers", |c| Some(c.totals.ack)),
            m("channel_get_empty_total", "counter", "Total number of times basic.get operations fetched no message", |c| Some(c.totals.get_empty)),
        ],
    },
];

/// What the metrics read from a connection.
struct ConnectionSample {
    labels: String,
    recv_oct: u64,
    send_oct: u64,
    recv_cnt: u64,
    send_cnt: u64,
    channels: u64,
}

impl ConnectionSample {
    fn of(c: &ConnectionInfo) -> Self {
        ConnectionSample {
            labels: format!("channel=\"{}\"", escape(&c.meta.name)),
            recv_oct: c.recv_oct.load(Relaxed),
            send_oct: c.send_oct.load(Relaxed),
            recv_cnt: c.recv_cnt.load(Relaxed),
            send_cnt: c.send_cnt.load(Relaxed),
            channels: c.channel_count() as u64,
        }
    }
}

static CONNECTION_FAMILIES: [Family<ConnectionSample>; 2] = [
    Family {
        name: "connection_coarse_metrics",
        metrics: &[
            m(
                "connection_incoming_bytes_total",
                "counter",
                "Total number of bytes received on a connection",
                |c| Some(c.recv_oct),
            ),
            m(
                "connection_outgoing_bytes_total",
                "counter",
                "Total number of bytes sent on a connection",
                |c| Some(c.send_oct),
            ),
        ],
    },
    Family {
        name: "connection_metrics",
        metrics: &[
            m(
                "connection_incoming_packets_total",
                "counter",
                "Total number of packets received on a connection",
                |c| Some(c.recv_cnt),
            ),
            m(
                "connection_outgoing_packets_total",
                "counter",
                "Total number of packets sent on a connection",
                |c| Some(c.send_cnt),
            ),
            m(
                "connection_channels",
                "gauge",
                "Channels on a connection",
                |c| Some(c.channels),
            ),
        ],
    },
];

/// Which families and vhosts a scrape wants.
struct Selection {
    mode: Mode,
    /// Detailed mode: the requested families (empty: none, as RabbitMQ).
    families: Vec<String>,
    /// Detailed mode: only queues of these vhosts (empty: all).
    vhosts: Vec<String>,
}

impl Selection {
    fn wants(&self, family: &str) -> bool {
        self.mode != Mode::Detailed || self.families.iter().any(|f| f == family)
    }

    fn wants_vhost(&self, vhost: &str) -> bool {
        self.vhosts.is_empty() || self.vhosts.iter().any(|v| v == vhost)
    }
}

fn write_families<T>(
    out: &mut Out,
    sel: &Selection,
    families: &[Family<T>],
    objects: &[T],
    labels: fn(&T) -> &str,
) {
    for family in families.iter().filter(|f| sel.wants(f.name)) {
        for metric in family.metrics {
            let name = format!("{}{}", sel.mode.prefix(), metric.name);
            out.header(&name, metric.kind, metric.help);
            if sel.mode == Mode::Aggregated {
                let values: Vec<u64> = objects.iter().filter_map(metric.value).collect();
                // An aggregated timestamp is the oldest; every other metric sums.
                let total = if metric.name == "queue_head_message_timestamp" {
                    values.iter().min().copied()
                } else {
                    Some(values.iter().sum())
                };
                if let Some(total) = total {
                    let _ = writeln!(out.0, "{name} {total}");
                }
            } else {
                for o in objects {
                    if let Some(v) = (metric.value)(o) {
                        out.sample(&name, labels(o), v);
                    }
                }
            }
        }
    }
}

fn render(state: &AppState, sel: &Selection) -> String {
    let mut out = Out(String::new());
    identity(&mut out, state, sel.mode);
    let queues: Vec<QueueSample> = state
        .broker
        .vhosts()
        .iter()
        .flat_map(|v| v.queues())
        .map(|q| QueueSample::of(&q))
        .filter(|q| sel.wants_vhost(&q.vhost))
        .collect();
    let connections = state.broker.registry.connections();
    let channels: Vec<ChannelSample> = connections
        .iter()
        .flat_map(|c| {
            c.channels()
                .into_iter()
                .map(move |ch| ChannelSample::of(c, &ch))
        })
        .collect();
    let conn_samples: Vec<ConnectionSample> = connections
        .iter()
        .map(|c| ConnectionSample::of(c))
        .collect();
    if sel.mode != Mode::Detailed {
        object_totals(&mut out, state, &queues, &channels);
    }
    write_families(&mut out, sel, &QUEUE_FAMILIES, &queues, |q| &q.labels);
    write_families(&mut out, sel, &CHANNEL_FAMILIES[..1], &channels, |c| {
        &c.labels
    });
    // Aggregated channel counters are lifetime totals (closed channels and
    // the HTTP API included), so they never go backwards.
    let lifetime;
    let counted = if sel.mode == Mode::Aggregated {
        lifetime = [ChannelSample::lifetime(state)];
        &lifetime[..]
    } else {
        &channels[..]
    };
    write_families(&mut out, sel, &CHANNEL_FAMILIES[1..], counted, |c| {
        &c.labels
    });
    write_families(&mut out, sel, &CONNECTION_FAMILIES, &conn_samples, |c| {
        &c.labels
    });
    if sel.mode == Mode::Detailed {
        cluster_families(&mut out, state, sel);
    } else {
        churn_metrics(&mut out, state);
        global_metrics(&mut out, state, &channels);
        auth_metrics(&mut out, state);
        process_metrics(&mut out, state);
    }
    out.0
}

fn identity(out: &mut Out, state: &AppState, mode: Mode) {
    out.header(
        "rabbitmq_identity_info",
        "untyped",
        "RabbitMQ node & cluster identity info",
    );
    out.sample(
        "rabbitmq_identity_info",
        &format!(
            "rabbitmq_node=\"{}\",rabbitmq_cluster=\"warren\",rabbitmq_cluster_permanent_id=\"warren\",rabbitmq_endpoint=\"{}\"",
            escape(&state.node),
            mode.endpoint()
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
}

fn object_totals(
    out: &mut Out,
    state: &AppState,
    queues: &[QueueSample],
    channels: &[ChannelSample],
) {
    let consumers: u64 = queues.iter().map(|q| q.consumers).sum();
    out.metric(
        "rabbitmq_connections",
        "gauge",
        "Connections currently open",
        state.broker.registry.connections().len(),
    );
    out.metric(
        "rabbitmq_channels",
        "gauge",
        "Channels currently open",
        channels.len(),
    );
    out.metric(
        "rabbitmq_consumers",
        "gauge",
        "Consumers currently connected",
        consumers,
    );
    out.metric("rabbitmq_queues", "gauge", "Queues available", queues.len());
}

/// /metrics/detailed's node-wide families: vhost_status and exchange_names.
fn cluster_families(out: &mut Out, state: &AppState, sel: &Selection) {
    let vhosts = state.broker.vhosts();
    if sel.wants("vhost_status") {
        let name = "rabbitmq_detailed_vhost_status";
        out.header(name, "gauge", "Whether a given vhost is running");
        for v in &vhosts {
            out.sample(name, &format!("vhost=\"{}\"", escape(&v.name)), 1);
        }
    }
    if sel.wants("exchange_names") {
        let name = "rabbitmq_detailed_exchange_name";
        out.header(name, "gauge", "Enumerates exchanges without any additional info. This value is cluster-wide. A cheaper alternative to `exchange_bindings`");
        for v in vhosts.iter().filter(|v| sel.wants_vhost(&v.name)) {
            for x in v.exchanges() {
                let labels = format!(
                    "vhost=\"{}\",exchange=\"{}\",type=\"{}\"",
                    escape(&v.name),
                    escape(&x.name),
                    x.kind.as_str()
                );
                out.sample(name, &labels, 1);
            }
        }
    }
}

fn churn_metrics(out: &mut Out, state: &AppState) {
    let churn = state.broker.registry.churn();
    let (mut declared, mut created, mut deleted) = (0, 0, 0);
    for v in state.broker.vhosts() {
        declared += v.churn.declared.load(Relaxed);
        created += v.churn.created.load(Relaxed);
        deleted += v.churn.deleted.load(Relaxed);
    }
    let counters: [(&str, &str, u64); 7] = [
        (
            "rabbitmq_connections_opened_total",
            "Total number of connections opened",
            churn.connections_opened,
        ),
        (
            "rabbitmq_connections_closed_total",
            "Total number of connections closed or terminated",
            churn.connections_closed,
        ),
        (
            "rabbitmq_channels_opened_total",
            "Total number of channels opened",
            churn.channels_opened,
        ),
        (
            "rabbitmq_channels_closed_total",
            "Total number of channels closed",
            churn.channels_closed,
        ),
        (
            "rabbitmq_queues_declared_total",
            "Total number of queues declared",
            declared,
        ),
        (
            "rabbitmq_queues_created_total",
            "Total number of queues created",
            created,
        ),
        (
            "rabbitmq_queues_deleted_total",
            "Total number of queues deleted",
            deleted,
        ),
    ];
    for (name, help, value) in counters {
        out.metric(name, "counter", help, value);
    }
}

const AMQP091: &str = "protocol=\"amqp091\"";
const AMQP091_CLASSIC: &str = "protocol=\"amqp091\",queue_type=\"rabbit_classic_queue\"";

/// RabbitMQ's rabbitmq_global_* counters (rabbit_global_counters): lifetime
/// totals over every channel, open or closed, and the HTTP API, labelled
/// with the protocol (and the queue type where RabbitMQ has one).
fn global_metrics(out: &mut Out, state: &AppState, channels: &[ChannelSample]) {
    let t = state.broker.registry.totals();
    let routed = t
        .publish
        .saturating_sub(t.drop_unroutable + t.return_unroutable);
    let counters: [(&str, &str, &str, u64); 13] = [
        ("rabbitmq_global_messages_received_total", AMQP091, "Total number of messages received from publishers", t.publish),
        ("rabbitmq_global_messages_routed_total", AMQP091, "Total number of messages routed to queues or streams", routed),
        ("rabbitmq_global_messages_unroutable_dropped_total", AMQP091, "Total number of messages published as non-mandatory into an exchange and dropped as unroutable", t.drop_unroutable),
        ("rabbitmq_global_messages_unroutable_returned_total", AMQP091, "Total number of messages published as mandatory into an exchange and returned to the publisher as unroutable", t.return_unroutable),
        ("rabbitmq_global_messages_confirmed_total", AMQP091, "Total number of messages confirmed to publishers", t.confirm),
        ("rabbitmq_global_messages_delivered_total", AMQP091_CLASSIC, "Total number of messages delivered to consumers", t.deliver_get()),
        ("rabbitmq_global_messages_delivered_consume_manual_ack_total", AMQP091_CLASSIC, "Total number of messages delivered to consumers using basic.consume with manual acknowledgment", t.deliver),
        ("rabbitmq_global_messages_delivered_consume_auto_ack_total", AMQP091_CLASSIC, "Total number of messages delivered to consumers using basic.consume with automatic acknowledgment", t.deliver_no_ack),
        ("rabbitmq_global_messages_delivered_get_manual_ack_total", AMQP091_CLASSIC, "Total number of messages delivered to consumers using basic.get with manual acknowledgment", t.get),
        ("rabbitmq_global_messages_delivered_get_auto_ack_total", AMQP091_CLASSIC, "Total number of messages delivered to consumers using basic.get with automatic acknowledgment", t.get_no_ack),
        ("rabbitmq_global_messages_get_empty_total", AMQP091_CLASSIC, "Total number of times basic.get operations fetched no message", t.get_empty),
        ("rabbitmq_global_messages_redelivered_total", AMQP091_CLASSIC, "Total number of messages redelivered to consumers", t.redeliver),
        ("rabbitmq_global_messages_acknowledged_total", AMQP091_CLASSIC, "Total number of messages acknowledged by consumers", t.ack),
    ];
    for (name, labels, help, value) in counters {
        out.header(name, "counter", help);
        out.sample(name, labels, value);
    }
    // Older names Warren already exposed, kept for existing dashboards.
    out.metric(
        "rabbitmq_received_messages_total",
        "counter",
        "Total number of messages received from publishers",
        t.publish,
    );
    let consumers: u64 = state
        .broker
        .vhosts()
        .iter()
        .flat_map(|v| v.queues())
        .map(|q| q.consumer_count() as u64)
        .sum();
    // A publisher is a channel that has published (RabbitMQ's publishing_mode).
    let publishers = channels.iter().filter(|c| c.totals.publish > 0).count();
    out.header(
        "rabbitmq_global_consumers",
        "gauge",
        "Current number of consumers",
    );
    out.sample("rabbitmq_global_consumers", AMQP091, consumers);
    out.header(
        "rabbitmq_global_publishers",
        "gauge",
        "Current number of publishers",
    );
    out.sample("rabbitmq_global_publishers", AMQP091, publishers);
}

fn auth_metrics(out: &mut Out, state: &AppState) {
    let attempts = state.broker.users.auth_attempts.snapshot();
    type Pick = fn(&warren_core::auth::AuthCounts) -> u64;
    let families: [(&str, &str, Pick); 3] = [
        (
            "rabbitmq_auth_attempts_total",
            "Total number of authentication attempts",
            |c| c.succeeded + c.failed,
        ),
        (
            "rabbitmq_auth_attempts_succeeded_total",
            "Total number of successful authentication attempts",
            |c| c.succeeded,
        ),
        (
            "rabbitmq_auth_attempts_failed_total",
            "Total number of failed authentication attempts",
            |c| c.failed,
        ),
    ];
    for (name, help, pick) in families {
        out.header(name, "counter", help);
        for (protocol, counts) in &attempts {
            out.sample(name, &format!("protocol=\"{protocol}\""), pick(counts));
        }
    }
}

fn process_metrics(out: &mut Out, state: &AppState) {
    let alarms = &state.broker.alarms;
    let active = alarms.active();
    let (sockets_used, sockets_total) = probe::sockets(&state.broker);
    let uptime = state.broker.started_at.elapsed().as_secs_f64();
    let gauges: [(&str, &str, u64); 8] = [
        (
            "rabbitmq_process_resident_memory_bytes",
            "Memory used in bytes",
            probe::memory_used(),
        ),
        (
            "rabbitmq_resident_memory_limit_bytes",
            "Memory high watermark in bytes",
            alarms.memory_limit(),
        ),
        (
            "rabbitmq_disk_space_available_bytes",
            "Disk space available in bytes",
            probe::disk_free(&state.broker),
        ),
        (
            "rabbitmq_disk_space_available_limit_bytes",
            "Free disk space low watermark in bytes",
            alarms.disk_free_limit(),
        ),
        (
            "rabbitmq_process_open_fds",
            "Open file descriptors",
            probe::open_fds(),
        ),
        (
            "rabbitmq_process_max_fds",
            "Open file descriptors limit",
            probe::max_fds(),
        ),
        (
            "rabbitmq_process_open_tcp_sockets",
            "Open TCP sockets",
            sockets_used,
        ),
        (
            "rabbitmq_process_max_tcp_sockets",
            "Open TCP sockets limit",
            sockets_total,
        ),
    ];
    for (name, help, value) in gauges {
        out.metric(name, "gauge", help, value);
    }
    out.metric(
        "rabbitmq_alarms_memory_used_watermark",
        "gauge",
        "Is set to 1 when the memory alarm is in effect",
        u64::from(active.memory),
    );
    out.metric(
        "rabbitmq_alarms_free_disk_space_watermark",
        "gauge",
        "Is set to 1 when the disk alarm is in effect",
        u64::from(active.disk),
    );
    out.metric(
        "rabbitmq_erlang_uptime_seconds",
        "gauge",
        "Node uptime",
        format!("{uptime:.3}"),
    );
    out.metric(
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since unix epoch in seconds",
        format!("{:.0}", process::unix_time_secs() - uptime),
    );
    if let Some((read, written)) = process::storage_io() {
        out.metric(
            "rabbitmq_io_read_bytes_total",
            "counter",
            "Total number of I/O bytes read",
            read,
        );
        out.metric(
            "rabbitmq_io_write_bytes_total",
            "counter",
            "Total number of I/O bytes written",
            written,
        );
    }
}

const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

fn respond(state: &AppState, sel: Selection) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], render(state, &sel))
}

async fn aggregated(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let sel = Selection {
        mode: Mode::Aggregated,
        families: Vec::new(),
        vhosts: Vec::new(),
    };
    respond(&state, sel)
}

async fn per_object(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let sel = Selection {
        mode: Mode::PerObject,
        families: Vec::new(),
        vhosts: Vec::new(),
    };
    respond(&state, sel)
}

/// GET /metrics/detailed?family=…&vhost=… (each may repeat).
async fn detailed(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> impl IntoResponse {
    let mut sel = Selection {
        mode: Mode::Detailed,
        families: Vec::new(),
        vhosts: Vec::new(),
    };
    for (key, value) in query_pairs(query.as_deref().unwrap_or("")) {
        match key.as_str() {
            "family" => sel.families.push(value),
            "vhost" => sel.vhosts.push(value),
            _ => {}
        }
    }
    respond(&state, sel)
}

/// Decodes `a=b&c=d` with %XX and `+` escapes; repeated keys are kept.
fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_pairs_decode_and_repeat() {
        assert_eq!(
            query_pairs("family=queue_coarse_metrics&vhost=%2F&family=a+b&x=%zz"),
            vec![
                ("family".into(), "queue_coarse_metrics".into()),
                ("vhost".into(), "/".into()),
                ("family".into(), "a b".into()),
                ("x".into(), "%zz".into()),
            ]
        );
        assert_eq!(percent_decode("%2"), "%2");
    }
}
