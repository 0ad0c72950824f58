//! rabbitmq-diagnostics' health checks and node reports (ping,
//! check_running, check_port_connectivity, check_local_alarms, alarms,
//! listeners, environment) and rabbitmqctl's close_all_connections, with
//! their messages and exit codes, from the management API's real data.

use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use serde_json::{json, Value};

use super::client::{segment, Client};
use super::commands::{CtlError, EX_UNAVAILABLE};
use super::output::{self, Formatter};
use super::Invocation;

type Result<T> = std::result::Result<T, CtlError>;

/// Runs a diagnostics command; None when `inv.command` is not one.
pub fn dispatch(client: &Client, inv: &Invocation) -> Option<Result<()>> {
    let run = match inv.command.as_str() {
        "ping" => ping,
        "check_running" => check_running,
        "check_port_connectivity" => check_port_connectivity,
        "check_local_alarms" => check_local_alarms,
        "alarms" => alarms,
        "listeners" => listeners,
        "environment" => environment,
        "memory_breakdown" => memory_breakdown,
        _ => return None,
    };
    Some(run(client, inv))
}

fn node_name(overview: &Value) -> String {
    overview
        .get("node")
        .and_then(Value::as_str)
        .unwrap_or("warren")
        .to_string()
}

/// Prints `message` as text, or as `{"message": …}` with `--formatter json`.
fn message(inv: &Invocation, text: &str) {
    match inv.style.formatter {
        Formatter::Json => println!("{}", json!({ "message": text })),
        Formatter::Table => println!("{text}"),
    }
}

fn ping(client: &Client, inv: &Invocation) -> Result<()> {
    let overview = client.request("GET", "/api/overview", None, None)?;
    output::info(
        inv.style,
        &format!(
            "Will ping {}. This only checks that the node's management API answers. Timeout: 60000 ms.",
            node_name(&overview)
        ),
    );
    message(inv, "Ping succeeded");
    Ok(())
}

fn check_running(client: &Client, inv: &Invocation) -> Result<()> {
    let overview = client.request("GET", "/api/overview", None, None)?;
    let node = node_name(&overview);
    output::info(
        inv.style,
        &format!("Checking if Warren is running on node {node} ..."),
    );
    // The API answers only once the broker has opened its data and listeners.
    message(
        inv,
        &format!("Warren on node {node} is fully booted and running"),
    );
    Ok(())
}

/// The node's listeners as (protocol, ip, port), from /api/overview.
fn listener_list(overview: &Value) -> Vec<(String, String, u16)> {
    overview
        .get("listeners")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|l| {
            Some((
                l.get("protocol")?.as_str()?.to_string(),
                l.get("ip_address")?.as_str()?.to_string(),
                u16::try_from(l.get("port")?.as_u64()?).ok()?,
            ))
        })
        .collect()
}

/// What each protocol is for, as rabbitmq-diagnostics listeners says.
fn purpose(protocol: &str) -> &'static str {
    match protocol {
        "amqp" => "AMQP 0-9-1",
        "amqp/ssl" => "AMQP 0-9-1 over TLS",
        "http" => "HTTP API",
        "https" => "HTTP API over TLS (HTTPS)",
        "prometheus" => "Prometheus exporter API over HTTP",
        _ => "",
    }
}

fn shown_ip(ip: &str) -> String {
    if ip.contains(':') {
        format!("[{ip}]")
    } else {
        ip.to_string()
    }
}

fn listeners(client: &Client, inv: &Invocation) -> Result<()> {
    let overview = client.request("GET", "/api/overview", None, None)?;
    let node = node_name(&overview);
    output::info(
        inv.style,
        &format!("Asking node {node} to report its protocol listeners ..."),
    );
    let list = listener_list(&overview);
    if inv.style.formatter == Formatter::Json {
        let items: Vec<Value> = list
            .iter()
            .map(|(p, ip, port)| json!({"node": node, "interface": shown_ip(ip), "port": port, "protocol": p, "purpose": purpose(p)}))
            .collect();
        println!(
            "{}",
            json!({"listeners": items, "node": node, "result": "ok"})
        );
        return Ok(());
    }
    for (protocol, ip, port) in list {
        println!(
            "Interface: {}, port: {port}, protocol: {protocol}, purpose: {}",
            shown_ip(&ip),
            purpose(&protocol)
        );
    }
    Ok(())
}

/// The host of the `--url`, for listeners bound to every interface.
fn url_host(url: &str) -> String {
    let rest = url.split("://").nth(1).unwrap_or(url);
    let authority = rest.split('/').next().unwrap_or(rest);
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or("localhost").to_string();
    }
    authority
        .split(':')
        .next()
        .filter(|h| !h.is_empty())
        .unwrap_or("localhost")
        .to_string()
}

fn reachable(host: &str, ip: &str, port: u16) -> bool {
    let target = match ip.parse::<IpAddr>() {
        Ok(addr) if !addr.is_unspecified() => vec![SocketAddr::new(addr, port)],
        _ => (host, port)
            .to_socket_addrs()
            .map(|a| a.collect())
            .unwrap_or_default(),
    };
    target
        .iter()
        .any(|a| TcpStream::connect_timeout(a, Duration::from_secs(5)).is_ok())
}

fn check_port_connectivity(client: &Client, inv: &Invocation) -> Result<()> {
    let overview = client.request("GET", "/api/overview", None, None)?;
    let node = node_name(&overview);
    output::info(
        inv.style,
        &format!("Testing TCP connections to all active listeners on node {node} ..."),
    );
    let host = url_host(&inv.url);
    let (ok, failed): (Vec<_>, Vec<_>) = listener_list(&overview)
        .into_iter()
        .partition(|(_, ip, port)| reachable(&host, ip, *port));
    if !failed.is_empty() {
        let shown: Vec<String> = failed
            .iter()
            .map(|(p, ip, port)| format!("{p} on {}:{port}", shown_ip(ip)))
            .collect();
        return Err(CtlError::Failed {
            code: EX_UNAVAILABLE,
            text: format!(
                "Connection to ports of the following listeners on node {node} failed: {}",
                shown.join(", ")
            ),
        });
    }
    let ports: Vec<String> = ok.iter().map(|(_, _, port)| port.to_string()).collect();
    message(
        inv,
        &format!(
            "Successfully connected to ports {} on node {node}.",
            ports.join(", ")
        ),
    );
    Ok(())
}

/// The alarms in effect, as rabbitmq-diagnostics names them.
fn alarm_lines(client: &Client) -> Result<(String, Vec<String>)> {
    let nodes = client.request("GET", "/api/nodes", None, None)?;
    let node = nodes.get(0).cloned().unwrap_or(Value::Null);
    let name = node
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("warren")
        .to_string();
    let on = |k: &str| node.get(k).and_then(Value::as_bool).unwrap_or(false);
    let mut lines = Vec::new();
    if on("mem_alarm") {
        lines.push(format!("Memory alarm on node {name}"));
    }
    if on("disk_free_alarm") {
        lines.push(format!("Free disk space alarm on node {name}"));
    }
    Ok((name, lines))
}

fn check_local_alarms(client: &Client, inv: &Invocation) -> Result<()> {
    let (name, lines) = alarm_lines(client)?;
    output::info(
        inv.style,
        &format!("Asking node {name} to report any local resource alarms ..."),
    );
    if !lines.is_empty() {
        return Err(CtlError::Failed {
            code: EX_UNAVAILABLE,
            text: lines.join("\n"),
        });
    }
    message(inv, &format!("Node {name} reported no local alarms"));
    Ok(())
}

fn alarms(client: &Client, inv: &Invocation) -> Result<()> {
    let (name, lines) = alarm_lines(client)?;
    output::info(
        inv.style,
        &format!("Asking node {name} to report any known resource alarms ..."),
    );
    if lines.is_empty() {
        message(
            inv,
            &format!("Node {name} reported no alarms, local or clusterwide"),
        );
    } else {
        for line in lines {
            message(inv, &line);
        }
    }
    Ok(())
}

fn environment(client: &Client, inv: &Invocation) -> Result<()> {
    let env = client.request("GET", "/api/environment", None, None)?;
    let node = env.get("node").and_then(Value::as_str).unwrap_or("warren");
    output::info(
        inv.style,
        &format!("Application environment of node {node} ..."),
    );
    if inv.style.formatter == Formatter::Json {
        println!("{env}");
        return Ok(());
    }
    let settings = env.get("settings").and_then(Value::as_object);
    for (key, value) in settings.into_iter().flatten() {
        println!("{key} = {}", output::cell(value));
    }
    Ok(())
}

/// `--unit` of memory_breakdown (rabbitmq-diagnostics' units; default gb).
fn unit(inv: &Invocation) -> Result<(&'static str, f64)> {
    let given = inv
        .flags
        .iter()
        .find(|(f, _)| f == "--unit")
        .and_then(|(_, v)| v.clone())
        .unwrap_or_else(|| "gb".into());
    Ok(match given.to_ascii_lowercase().as_str() {
        "b" | "bytes" => ("bytes", 1.0),
        "k" | "kb" | "kib" | "kilobytes" => ("kb", 1e3),
        "m" | "mb" | "mib" | "megabytes" => ("mb", 1e6),
        "g" | "gb" | "gib" | "gigabytes" => ("gb", 1e9),
        other => {
            return Err(CtlError::Usage(format!(
                "unknown --unit '{other}' (bytes, kb, mb, gb)"
            )))
        }
    })
}

fn memory_breakdown(client: &Client, inv: &Invocation) -> Result<()> {
    let (unit_name, divisor) = unit(inv)?;
    let data = client.request("GET", "/api/memory-breakdown", None, None)?;
    let node = data.get("node").and_then(Value::as_str).unwrap_or("warren");
    output::info(
        inv.style,
        &format!("Reporting memory breakdown on node {node}..."),
    );
    if inv.style.formatter == Formatter::Json {
        println!("{data}");
        return Ok(());
    }
    let total = data.get("total").and_then(Value::as_u64).unwrap_or(0);
    let mut parts: Vec<(String, u64)> = data
        .get("breakdown")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
        .collect();
    parts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    for (name, bytes) in parts {
        let share = if total == 0 {
            0.0
        } else {
            bytes as f64 * 100.0 / total as f64
        };
        let amount = (bytes as f64 / divisor * 10_000.0).round() / 10_000.0;
        // RabbitMQ writes "0.0 gb", not "0 gb".
        let shown = if amount.fract() == 0.0 {
            format!("{amount:.1}")
        } else {
            amount.to_string()
        };
        println!("{name}: {shown} {unit_name} ({share:.2}%)");
    }
    Ok(())
}

/// close_all_connections [-p VHOST | --global] [--limit N] EXPLANATION.
pub fn close_all_connections(client: &Client, inv: &Invocation) -> Result<()> {
    let why = inv.positional.first().ok_or_else(|| {
        CtlError::Usage(
            "usage: warren ctl close_all_connections [-p <vhost> [--limit <limit>]] [--global] <explanation>".into(),
        )
    })?;
    let global = inv.flags.iter().any(|(f, _)| f == "--global");
    let limit = match inv.flags.iter().find(|(f, _)| f == "--limit") {
        Some((_, Some(n))) => n
            .parse::<usize>()
            .map_err(|_| CtlError::Usage("--limit must be a non-negative integer".into()))?,
        _ => usize::MAX,
    };
    let (path, info) = if global {
        let node = node_name(&client.request("GET", "/api/overview", None, None)?);
        (
            "/api/connections".to_string(),
            format!("Closing all connections to node {node} (across all vhosts), reason: {why}..."),
        )
    } else {
        (
            format!("/api/vhosts/{}/connections", segment(&inv.vhost)),
            format!(
                "Closing all connections in vhost {}, reason: {why}...",
                inv.vhost
            ),
        )
    };
    output::info(inv.style, &info);
    let list = client.request("GET", &path, None, None)?;
    let names: Vec<String> = list
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("name").and_then(Value::as_str).map(String::from))
        .take(limit)
        .collect();
    let mut closed = 0;
    for name in &names {
        let path = format!("/api/connections/{}", segment(name));
        match client.request("DELETE", &path, None, Some(why)) {
            Ok(_) => closed += 1,
            // Closed meanwhile.
            Err(super::client::ClientError::Api { status: 404, .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    message(inv, &format!("Closed {closed} connections"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_hosts() {
        assert_eq!(url_host("http://127.0.0.1:15672"), "127.0.0.1");
        assert_eq!(url_host("https://user@broker.example/x"), "broker.example");
        assert_eq!(url_host("http://[::1]:15672/"), "::1");
        assert_eq!(shown_ip("::1"), "[::1]");
    }
}
