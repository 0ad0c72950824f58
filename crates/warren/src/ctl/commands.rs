//! The commands: each maps to one or two HTTP API calls and prints what
//! rabbitmqctl prints.

use serde_json::{json, Value};

use super::client::{segment, Client, ClientError};
use super::output::{self, Style};
use super::Invocation;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    /// Wrong arguments.
    #[error("{0}")]
    Usage(String),
    /// The API refused or could not be reached.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// A local file could not be read or written (rabbitmqctl: 65, bad argument).
    #[error("{0}")]
    Io(String),
    /// The command failed for a reason rabbitmqctl gives this exit code
    /// (65 data error, 67 no such user, 69 unavailable, 70 software error).
    #[error("{text}")]
    Failed {
        /// The process exit code.
        code: i32,
        /// rabbitmqctl's message.
        text: String,
    },
}

/// sysexits' EX_DATAERR: rabbitmqctl's code for a missing vhost (and bad files).
pub const EX_DATAERR: i32 = 65;
/// sysexits' EX_NOUSER: no such user.
pub const EX_NOUSER: i32 = 67;
/// sysexits' EX_UNAVAILABLE.
pub const EX_UNAVAILABLE: i32 = 69;
/// sysexits' EX_SOFTWARE: e.g. a user that already exists.
pub const EX_SOFTWARE: i32 = 70;

fn failed(code: i32, text: impl Into<String>) -> CtlError {
    CtlError::Failed {
        code,
        text: text.into(),
    }
}

/// Whether `path` answers 404 (the object does not exist).
fn missing(client: &Client, path: &str) -> Result<bool> {
    match client.request("GET", path, None, None) {
        Ok(_) => Ok(false),
        Err(ClientError::Api { status: 404, .. }) => Ok(true),
        Err(e) => Err(e.into()),
    }
}

/// Fails with 67 `User "name" does not exist` unless the user exists.
pub(super) fn require_user(client: &Client, name: &str) -> Result<()> {
    if missing(client, &format!("/api/users/{}", segment(name)))? {
        return Err(failed(EX_NOUSER, format!("User \"{name}\" does not exist")));
    }
    Ok(())
}

/// Fails with `code` and `Virtual host 'v' does not exist` unless it exists.
pub(super) fn require_vhost(client: &Client, vhost: &str, code: i32) -> Result<()> {
    if missing(client, &format!("/api/vhosts/{}", segment(vhost)))? {
        return Err(failed(
            code,
            format!("Virtual host '{vhost}' does not exist"),
        ));
    }
    Ok(())
}

/// Runs `request`, turning a 404 into `code` with `text`.
fn or_missing(
    result: std::result::Result<Value, ClientError>,
    code: i32,
    text: &str,
) -> Result<()> {
    match result {
        Ok(_) => Ok(()),
        Err(ClientError::Api { status: 404, .. }) => Err(failed(code, text)),
        Err(e) => Err(e.into()),
    }
}

type Result<T> = std::result::Result<T, CtlError>;

/// A list command: its API path, informational text, default columns and
/// column aliases (rabbitmqctl name → dotted API field).
struct Listing {
    path: String,
    info: String,
    defaults: &'static [&'static str],
    aliases: &'static [(&'static str, &'static str)],
}

fn field<'a>(item: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(item, |v, k| v.get(k))
}

fn list(client: &Client, inv: &Invocation, l: Listing) -> Result<()> {
    output::info(inv.style, &l.info);
    let data = client.request("GET", &l.path, None, None)?;
    let columns: Vec<String> = if inv.positional.is_empty() {
        l.defaults.iter().map(|c| c.to_string()).collect()
    } else {
        inv.positional.clone()
    };
    let items = data.as_array().cloned().unwrap_or_default();
    let rows: Vec<Vec<Value>> = items
        .iter()
        .map(|item| {
            columns
                .iter()
                .map(|c| {
                    let path = l
                        .aliases
                        .iter()
                        .find(|(name, _)| name == c)
                        .map_or(c.as_str(), |(_, p)| p);
                    if let Some(constant) = path.strip_prefix('=') {
                        return json!(constant);
                    }
                    field(item, path).cloned().unwrap_or(Value::Null)
                })
                .collect()
        })
        .collect();
    output::rows(inv.style, &columns, &rows);
    Ok(())
}

fn arg<'a>(inv: &'a Invocation, i: usize, usage: &str) -> Result<&'a str> {
    inv.positional
        .get(i)
        .map(String::as_str)
        .ok_or_else(|| CtlError::Usage(format!("usage: warren ctl {} {usage}", inv.command)))
}

fn flag(inv: &Invocation, name: &str) -> Option<Option<String>> {
    inv.flags
        .iter()
        .find(|(f, _)| f == name)
        .map(|(_, v)| v.clone())
}

fn done(style: Style, text: String) {
    output::info(style, &text);
}

/// Runs one command.
pub fn dispatch(client: &Client, inv: &Invocation) -> Result<()> {
    let v = segment(&inv.vhost);
    let vhost = &inv.vhost;
    match inv.command.as_str() {
        "status" => status(client, inv),
        "list_queues" => list(
            client,
            inv,
            Listing {
                path: format!("/api/queues/{v}"),
                info: format!("Timeout: 60.0 seconds ...\nListing queues for vhost {vhost} ..."),
                defaults: &["name", "messages"],
                aliases: &[("pid", "name")],
            },
        ),
        "list_exchanges" => list(
            client,
            inv,
            Listing {
                path: format!("/api/exchanges/{v}"),
                info: format!("Listing exchanges for vhost {vhost} ..."),
                defaults: &["name", "type"],
                aliases: &[],
            },
        ),
        "list_bindings" => list(
            client,
            inv,
            Listing {
                path: format!("/api/bindings/{v}"),
                info: format!("Listing bindings for vhost {vhost}..."),
                defaults: &[
                    "source_name",
                    "source_kind",
                    "destination_name",
                    "destination_kind",
                    "routing_key",
                    "arguments",
                ],
                aliases: &[
                    ("source_name", "source"),
                    ("source_kind", "=exchange"),
                    ("destination_name", "destination"),
                    ("destination_kind", "destination_type"),
                ],
            },
        ),
        "list_connections" => list(
            client,
            inv,
            Listing {
                path: "/api/connections".into(),
                info: "Listing connections ...".into(),
                defaults: &["user", "peer_host", "peer_port", "state"],
                aliases: &[("pid", "name")],
            },
        ),
        "list_channels" => list(
            client,
            inv,
            Listing {
                path: "/api/channels".into(),
                info: "Listing channels ...".into(),
                defaults: &["pid", "user", "consumer_count", "messages_unacknowledged"],
                aliases: &[("pid", "name"), ("connection", "connection_details.name")],
            },
        ),
        "list_consumers" => list(
            client,
            inv,
            Listing {
                path: format!("/api/consumers/{v}"),
                info: format!("Listing consumers in vhost {vhost} ..."),
                defaults: &[
                    "queue_name",
                    "channel_pid",
                    "consumer_tag",
                    "ack_required",
                    "prefetch_count",
                    "active",
                    "arguments",
                ],
                aliases: &[
                    ("queue_name", "queue.name"),
                    ("channel_pid", "channel_details.name"),
                ],
            },
        ),
        "list_users" => list(
            client,
            inv,
            Listing {
                path: "/api/users".into(),
                info: "Listing users ...".into(),
                defaults: &["user", "tags"],
                aliases: &[("user", "name")],
            },
        ),
        "list_vhosts" => list(
            client,
            inv,
            Listing {
                path: "/api/vhosts".into(),
                info: "Listing vhosts ...".into(),
                defaults: &["name"],
                aliases: &[],
            },
        ),
        "list_permissions" => require_vhost(client, vhost, EX_DATAERR).and_then(|_| {
            list(
                client,
                inv,
                Listing {
                    path: format!("/api/vhosts/{v}/permissions"),
                    info: format!("Listing permissions for vhost \"{vhost}\" ..."),
                    defaults: &["user", "configure", "write", "read"],
                    aliases: &[],
                },
            )
        }),
        "list_policies" => list(
            client,
            inv,
            Listing {
                path: format!("/api/policies/{v}"),
                info: format!("Listing policies for vhost \"{vhost}\" ..."),
                defaults: &[
                    "vhost",
                    "name",
                    "pattern",
                    "apply-to",
                    "definition",
                    "priority",
                ],
                aliases: &[],
            },
        ),
        "list_vhost_limits" => super::limits::list(client, inv, flag(inv, "--global").is_some()),
        _ => change(client, inv),
    }
}

fn change(client: &Client, inv: &Invocation) -> Result<()> {
    let v = segment(&inv.vhost);
    let vhost = &inv.vhost;
    let style = inv.style;
    match inv.command.as_str() {
        "add_user" => {
            let (name, pass) = (arg(inv, 0, "USER PASSWORD")?, arg(inv, 1, "USER PASSWORD")?);
            done(style, format!("Adding user \"{name}\" ..."));
            // rabbitmqctl refuses to touch an existing user (a PUT would reset it).
            if !missing(client, &format!("/api/users/{}", segment(name)))? {
                return Err(failed(
                    EX_SOFTWARE,
                    format!("User \"{name}\" already exists"),
                ));
            }
            client.request(
                "PUT",
                &format!("/api/users/{}", segment(name)),
                Some(json!({"password": pass, "tags": ""}).to_string()),
                None,
            )?;
        }
        "delete_user" => {
            let name = arg(inv, 0, "USER")?;
            done(style, format!("Deleting user \"{name}\" ..."));
            require_user(client, name)?;
            client.request(
                "DELETE",
                &format!("/api/users/{}", segment(name)),
                None,
                None,
            )?;
        }
        "change_password" => {
            let (name, pass) = (arg(inv, 0, "USER PASSWORD")?, arg(inv, 1, "USER PASSWORD")?);
            done(style, format!("Changing password for user \"{name}\" ..."));
            require_user(client, name)?;
            let path = format!("/api/users/{}", segment(name));
            let user = client.request("GET", &path, None, None)?;
            let body =
                json!({"password": pass, "tags": user.get("tags").cloned().unwrap_or(json!([]))});
            client.request("PUT", &path, Some(body.to_string()), None)?;
        }
        "set_user_tags" => {
            let name = arg(inv, 0, "USER TAG ...")?;
            let tags: Vec<&String> = inv.positional.iter().skip(1).collect();
            done(
                style,
                format!(
                    "Setting tags for user \"{name}\" to [{}] ...",
                    tags.iter()
                        .map(|t| t.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
            require_user(client, name)?;
            let path = format!("/api/users/{}", segment(name));
            client.request("PUT", &path, Some(json!({"tags": tags}).to_string()), None)?;
        }
        "add_vhost" => {
            let name = arg(inv, 0, "VHOST")?;
            done(style, format!("Adding vhost \"{name}\" ..."));
            let mut body = json!({});
            if let Some(Some(d)) = flag(inv, "--description") {
                body["description"] = json!(d);
            }
            if let Some(Some(t)) = flag(inv, "--tags") {
                body["tags"] = json!(t);
            }
            client.request(
                "PUT",
                &format!("/api/vhosts/{}", segment(name)),
                Some(body.to_string()),
                None,
            )?;
        }
        "delete_vhost" => {
            let name = arg(inv, 0, "VHOST")?;
            done(style, format!("Deleting vhost \"{name}\" ..."));
            require_vhost(client, name, EX_DATAERR)?;
            client.request(
                "DELETE",
                &format!("/api/vhosts/{}", segment(name)),
                None,
                None,
            )?;
        }
        "set_permissions" => {
            let usage = "[-p VHOST] USER CONF WRITE READ";
            let (user, conf, write, read) = (
                arg(inv, 0, usage)?,
                arg(inv, 1, usage)?,
                arg(inv, 2, usage)?,
                arg(inv, 3, usage)?,
            );
            done(
                style,
                format!("Setting permissions for user \"{user}\" in vhost \"{vhost}\" ..."),
            );
            require_vhost(client, vhost, EX_UNAVAILABLE)?;
            require_user(client, user)?;
            let body = json!({"configure": conf, "write": write, "read": read});
            client.request(
                "PUT",
                &format!("/api/permissions/{v}/{}", segment(user)),
                Some(body.to_string()),
                None,
            )?;
        }
        "set_policy" => set_policy(client, inv)?,
        "clear_permissions" => {
            let user = arg(inv, 0, "[-p VHOST] USER")?;
            done(
                style,
                format!("Clearing permissions for user \"{user}\" in vhost \"{vhost}\" ..."),
            );
            require_vhost(client, vhost, EX_UNAVAILABLE)?;
            require_user(client, user)?;
            // No permissions to clear is fine, as rabbitmqctl.
            match client.request(
                "DELETE",
                &format!("/api/permissions/{v}/{}", segment(user)),
                None,
                None,
            ) {
                Ok(_) | Err(ClientError::Api { status: 404, .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        "close_all_connections" => super::diagnostics::close_all_connections(client, inv)?,
        "set_vhost_limits" => super::limits::set(client, inv)?,
        "clear_vhost_limits" => super::limits::clear(client, inv)?,
        "clear_policy" => {
            let name = arg(inv, 0, "[-p VHOST] NAME")?;
            done(
                style,
                format!("Clearing policy \"{name}\" on vhost \"{vhost}\" ..."),
            );
            or_missing(
                client.request(
                    "DELETE",
                    &format!("/api/policies/{v}/{}", segment(name)),
                    None,
                    None,
                ),
                EX_UNAVAILABLE,
                "Parameter does not exist",
            )?;
        }
        "purge_queue" => {
            let name = arg(inv, 0, "[-p VHOST] QUEUE")?;
            done(
                style,
                format!("Purging queue '{name}' in vhost '{vhost}' ..."),
            );
            or_missing(
                client.request(
                    "DELETE",
                    &format!("/api/queues/{v}/{}/contents", segment(name)),
                    None,
                    None,
                ),
                EX_UNAVAILABLE,
                &format!("Queue '{name}' in vhost '{vhost}' not found"),
            )?;
        }
        "delete_queue" => {
            let name = arg(inv, 0, "[-p VHOST] QUEUE [--if-empty] [--if-unused]")?;
            done(
                style,
                format!("Deleting queue '{name}' on vhost '{vhost}' ..."),
            );
            let mut query = Vec::new();
            for f in ["if-empty", "if-unused"] {
                if flag(inv, &format!("--{f}")).is_some() {
                    query.push(format!("{f}=true"));
                }
            }
            let q = if query.is_empty() {
                String::new()
            } else {
                format!("?{}", query.join("&"))
            };
            // rabbitmqctl 3.10.8 exits 64 here ("Queue not found").
            or_missing(
                client.request(
                    "DELETE",
                    &format!("/api/queues/{v}/{}{q}", segment(name)),
                    None,
                    None,
                ),
                super::EX_USAGE,
                "Queue not found",
            )?;
        }
        "close_connection" => {
            let name = arg(inv, 0, "CONNECTION_NAME EXPLANATION")?;
            let why = arg(inv, 1, "CONNECTION_NAME EXPLANATION")?;
            done(
                style,
                format!("Closing connection {name}, reason: {why}..."),
            );
            client.request(
                "DELETE",
                &format!("/api/connections/{}", segment(name)),
                None,
                Some(why),
            )?;
        }
        "export_definitions" => {
            let path = arg(inv, 0, "FILE (or - for standard output)")?;
            let defs = client.request("GET", "/api/definitions", None, None)?;
            let text = serde_json::to_string_pretty(&defs).unwrap_or_default();
            if path == "-" {
                println!("{text}");
            } else {
                done(
                    style,
                    format!("Exporting definitions in JSON to a file at \"{path}\" ..."),
                );
                std::fs::write(path, text)
                    .map_err(|e| CtlError::Io(format!("Bad argument: cannot write {path}: {e}")))?;
            }
        }
        "import_definitions" => {
            let path = arg(inv, 0, "FILE")?;
            done(
                style,
                format!("Importing definitions in JSON from a file at \"{path}\" ..."),
            );
            let text = std::fs::read_to_string(path)
                .map_err(|e| CtlError::Io(format!("Bad argument: cannot read {path}: {e}")))?;
            // rabbitmqctl exits 69 when the node refuses the document.
            client
                .request("POST", "/api/definitions", Some(text), None)
                .map_err(|e| match e {
                    ClientError::Api { reason, .. } => failed(EX_UNAVAILABLE, reason),
                    other => other.into(),
                })?;
        }
        other => match super::diagnostics::dispatch(client, inv) {
            Some(result) => result?,
            None => {
                return Err(CtlError::Usage(format!(
                    "Command '{other}' not found (try `warren ctl --help`)"
                )))
            }
        },
    }
    Ok(())
}

fn set_policy(client: &Client, inv: &Invocation) -> Result<()> {
    let usage =
        "[-p VHOST] [--priority N] [--apply-to queues|exchanges|all] NAME PATTERN DEFINITION";
    let (name, pattern, definition) = (
        arg(inv, 0, usage)?,
        arg(inv, 1, usage)?,
        arg(inv, 2, usage)?,
    );
    let definition: Value = serde_json::from_str(definition)
        .map_err(|e| CtlError::Usage(format!("policy definition is not valid JSON: {e}")))?;
    let priority = match flag(inv, "--priority") {
        Some(Some(p)) => p
            .parse::<i64>()
            .map_err(|_| CtlError::Usage("--priority must be an integer".into()))?,
        _ => 0,
    };
    let apply_to = match flag(inv, "--apply-to") {
        Some(Some(a)) => a,
        _ => "all".into(),
    };
    output::info(inv.style, &format!(
        "Setting policy \"{name}\" for pattern \"{pattern}\" to \"{definition}\" with priority \"{priority}\" for vhost \"{}\" ...",
        inv.vhost
    ));
    require_vhost(client, &inv.vhost, EX_DATAERR)?;
    let body = json!({"pattern": pattern, "definition": definition, "priority": priority, "apply-to": apply_to});
    client.request(
        "PUT",
        &format!("/api/policies/{}/{}", segment(&inv.vhost), segment(name)),
        Some(body.to_string()),
        None,
    )?;
    Ok(())
}

/// rabbitmqctl status's Alarms section.
fn print_alarms(node: &Value, name: &str) {
    println!("\nAlarms\n");
    let on = |k: &str| node.get(k).and_then(Value::as_bool).unwrap_or(false);
    if on("mem_alarm") {
        println!("Memory alarm on node {name}");
    }
    if on("disk_free_alarm") {
        println!("Free disk space alarm on node {name}");
    }
    if !on("mem_alarm") && !on("disk_free_alarm") {
        println!("(none)");
    }
}

fn status(client: &Client, inv: &Invocation) -> Result<()> {
    let overview = client.request("GET", "/api/overview", None, None)?;
    let nodes = client.request("GET", "/api/nodes", None, None)?;
    let node = nodes.get(0).cloned().unwrap_or(Value::Null);
    if inv.style.formatter == output::Formatter::Json {
        println!("{}", json!({"overview": overview, "node": node}));
        return Ok(());
    }
    let s = |v: &Value, k: &str| output::cell(field(v, k).unwrap_or(&Value::Null));
    output::info(
        inv.style,
        &format!("Status of node {} ...", s(&overview, "node")),
    );
    println!("Runtime\n\nOS PID: {}\nProduct name: {}\nProduct version: {}\nRabbitMQ API version: {}\nUptime (seconds): {}",
        s(&node, "os_pid"), s(&overview, "product_name"), s(&overview, "product_version"),
        s(&overview, "rabbitmq_version"), field(&node, "uptime").and_then(Value::as_u64).unwrap_or(0) / 1000);
    println!(
        "\nTotals\n\nConnection count: {}\nQueue count: {}\nVirtual host count: {}",
        s(&overview, "object_totals.connections"),
        s(&overview, "object_totals.queues"),
        client
            .request("GET", "/api/vhosts", None, None)?
            .as_array()
            .map_or(0, Vec::len)
    );
    print_alarms(&node, &s(&node, "name"));
    println!(
        "\nMemory\n\nTotal memory used: {} bytes\nCalculation strategy: rss\nMemory high watermark: {} bytes",
        s(&node, "mem_used"),
        s(&node, "mem_limit")
    );
    println!(
        "\nFile Descriptors\n\nTotal: {}, limit: {}",
        s(&node, "fd_used"),
        s(&node, "fd_total")
    );
    println!(
        "\nFree Disk Space\n\nLow free disk space watermark: {} bytes\nFree disk space: {} bytes",
        s(&node, "disk_free_limit"),
        s(&node, "disk_free")
    );
    println!("\nListeners\n");
    for l in overview
        .get("listeners")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
    {
        println!(
            "Interface: {}, port: {}, protocol: {}",
            s(&l, "ip_address"),
            s(&l, "port"),
            s(&l, "protocol")
        );
    }
    Ok(())
}
