//! Log lines in RabbitMQ's shape (rabbit_reader, rabbit_channel): a
//! connection's accept, login, client-provided name, refusal and close, and
//! channel errors naming the method. Connection lines use the target
//! `warren::connection`, channel errors `warren::channel` (RabbitMQ's log
//! categories, whose levels `log.connection.level` / `log.channel.level` set).

use std::net::SocketAddr;

use warren_codec::spec::connection;
use warren_core::BrokerError;

use crate::error::AmqpError;
use crate::handshake::PeerInfo;

/// `peer -> local`, how RabbitMQ's log lines (and connection names) show a connection.
pub fn connection_label(peer: SocketAddr, local: Option<SocketAddr>) -> String {
    format!(
        "{peer} -> {}",
        local.map_or_else(|| "?".to_string(), |a| a.to_string())
    )
}

/// The text of an error without its `CODE - ` prefix.
fn reason(e: &dyn std::fmt::Display) -> String {
    let text = e.to_string();
    text.split_once(" - ")
        .map_or(text.clone(), |(_, r)| r.to_string())
}

/// RabbitMQ's lines for a failed login, naming the user.
pub(crate) fn login_refused(client: &PeerInfo, ok: &connection::StartOk, e: &BrokerError) {
    let mechanism = ok.mechanism.as_str();
    let user = match mechanism {
        "PLAIN" => crate::handshake::parse_plain(ok.response.as_bytes()),
        "AMQPLAIN" => crate::handshake::parse_amqplain(ok.response.as_bytes()),
        _ => None,
    }
    .map(|(user, _)| user);
    let detail = match (&user, e) {
        (Some(user), BrokerError::AccessRefused(t)) if t.starts_with("Login was refused") => {
            format!("{mechanism} login refused: user '{user}' - invalid credentials")
        }
        _ => reason(e),
    };
    let label = connection_label(client.addr, client.local);
    tracing::error!(target: "warren::connection", "Error on AMQP connection ({label}, state: starting): {detail}");
}

/// RabbitMQ's line for a connection.open refused (unknown vhost, no access, limit).
pub(crate) fn open_refused(client: &PeerInfo, user: &str, e: &BrokerError) {
    let label = connection_label(client.addr, client.local);
    tracing::error!(target: "warren::connection", "Error on AMQP connection ({label}, user: '{user}', state: opening): {}", reason(e));
}

/// RabbitMQ's lines for an opened connection: its client-provided name and its user and vhost.
pub(crate) fn opened(client: &PeerInfo, user: &str, vhost: &str, name: Option<&str>) {
    let label = connection_label(client.addr, client.local);
    if let Some(name) = name {
        tracing::info!(target: "warren::connection", "connection ({label}) has a client-provided name: {name}");
    }
    let label = name.map_or(label.clone(), |n| format!("{label} - {n}"));
    tracing::info!(target: "warren::connection", "connection ({label}): user '{user}' authenticated and granted access to vhost '{vhost}'");
}

/// RabbitMQ's name of a method, e.g. `queue.declare` for (50, 10).
pub fn method_name(ids: (u16, u16)) -> String {
    let class = match ids.0 {
        10 => "connection",
        20 => "channel",
        40 => "exchange",
        50 => "queue",
        60 => "basic",
        85 => "confirm",
        90 => "tx",
        _ => return "none".into(),
    };
    let method = match ids {
        (10, 10) => "start",
        (10, 11) => "start_ok",
        (10, 30) => "tune",
        (10, 31) => "tune_ok",
        (10, 40) => "open",
        (10, 50) | (20, 40) => "close",
        (20, 10) => "open",
        (20, 20) => "flow",
        (40, 10) | (50, 10) => "declare",
        (40, 20) | (50, 40) => "delete",
        (40, 30) | (50, 20) => "bind",
        (40, 40) | (50, 50) => "unbind",
        (50, 30) => "purge",
        (60, 10) => "qos",
        (60, 20) => "consume",
        (60, 30) => "cancel",
        (60, 40) => "publish",
        (60, 70) => "get",
        (60, 80) => "ack",
        (60, 90) => "reject",
        (60, 100) => "recover_async",
        (60, 110) => "recover",
        (60, 120) => "nack",
        (85, 10) | (90, 10) => "select",
        (90, 20) => "commit",
        (90, 30) => "rollback",
        _ => return format!("{class}.unknown"),
    };
    format!("{class}.{method}")
}

/// RabbitMQ's lower-case name of a reply code (`not_found` for 404).
pub fn error_kind(code: u16) -> &'static str {
    match code {
        320 => "connection_forced",
        402 => "invalid_path",
        403 => "access_refused",
        404 => "not_found",
        405 => "resource_locked",
        406 => "precondition_failed",
        501 => "frame_error",
        502 => "syntax_error",
        503 => "command_invalid",
        504 => "channel_error",
        505 => "unexpected_frame",
        506 => "resource_error",
        530 => "not_allowed",
        540 => "not_implemented",
        _ => "internal_error",
    }
}

/// The accepted socket, before the AMQP handshake.
pub fn accepting(label: &str) {
    tracing::info!(target: "warren::connection", "accepting AMQP connection ({label})");
}

/// The connection ends (RabbitMQ: `closing AMQP connection (peer -> local - name, vhost: 'v', user: 'u')`).
pub fn closing(label: &str, name: Option<&str>, vhost: &str, user: &str) {
    let label = name.map_or(label.to_string(), |n| format!("{label} - {n}"));
    tracing::info!(target: "warren::connection", "closing AMQP connection ({label}, vhost: '{vhost}', user: '{user}')");
}

/// A channel closed by an error (a soft error: the connection stays open).
pub fn channel_error(
    label: &str,
    vhost: &str,
    user: &str,
    channel: u16,
    ids: (u16, u16),
    e: &AmqpError,
) {
    tracing::error!(
        target: "warren::channel",
        "Channel error on connection ({label}, vhost: '{vhost}', user: '{user}'), channel {channel}: operation {} caused a channel exception {}: {}",
        method_name(ids),
        error_kind(e.reply_code()),
        reason(e)
    );
}

/// A connection closed by an error (a hard error), as RabbitMQ writes it:
/// `... state: running), channel 1: operation channel.open caused a connection
/// exception channel_error: "second 'channel.open' seen"`.
pub fn connection_error(
    label: &str,
    vhost: &str,
    user: &str,
    channel: u16,
    ids: (u16, u16),
    e: &AmqpError,
) {
    tracing::error!(
        target: "warren::connection",
        "Error on AMQP connection ({label}, vhost: '{vhost}', user: '{user}', state: running), channel {channel}: operation {} caused a connection exception {}: \"{}\"",
        method_name(ids),
        error_kind(e.reply_code()),
        reason(e)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_rabbitmq() {
        assert_eq!(method_name((50, 10)), "queue.declare");
        assert_eq!(method_name((60, 40)), "basic.publish");
        assert_eq!(method_name((0, 0)), "none");
        assert_eq!(error_kind(404), "not_found");
        assert_eq!(
            reason(&BrokerError::no_queue("q", "/")),
            "no queue 'q' in vhost '/'"
        );
    }
}
