//! `warren ctl` against a running `warren` binary: rabbitmqctl's commands,
//! column arguments, table and JSON output, and the error when the broker is
//! not reachable.

use std::process::{Command, Output};
use std::time::Duration;

mod process;
use process::BrokerProcess;

struct Broker {
    _process: BrokerProcess,
    url: String,
    amqp_port: u16,
    _data: Option<tempfile::TempDir>,
}

fn start() -> Broker {
    let data = tempfile::tempdir().unwrap();
    let mut broker = start_in(data.path());
    broker._data = Some(data);
    broker
}

/// A broker on an existing data directory (kept by the caller).
fn start_in(data: &std::path::Path) -> Broker {
    let process = BrokerProcess::start(data, &["--bind", "127.0.0.1"]);
    Broker {
        url: process.url(),
        amqp_port: process.port,
        _process: process,
        _data: None,
    }
}

fn ctl(url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_warren"))
        .arg("ctl")
        .args(["--url", url])
        .args(args)
        .env_remove("WARREN_CTL_USER")
        .env_remove("WARREN_CTL_PASSWORD")
        .output()
        .expect("run warren ctl")
}

fn ok(url: &str, args: &[&str]) -> String {
    let out = ctl(url, args);
    assert!(
        out.status.success(),
        "warren ctl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn daily_commands_against_a_running_broker() {
    let b = start();
    let u = b.url.as_str();
    assert!(ok(u, &["add_user", "bob", "pw"]).contains("Adding user \"bob\" ..."));
    ok(u, &["set_user_tags", "bob", "management", "monitoring"]);
    let users = ok(u, &["-q", "list_users"]);
    assert!(
        users.lines().any(|l| l == "bob\t[management, monitoring]"),
        "{users}"
    );
    assert_eq!(users.lines().next(), Some("user\ttags"));
    ok(u, &["change_password", "bob", "pw2"]);
    ok(u, &["add_vhost", "dev"]);
    assert!(ok(u, &["-s", "list_vhosts"]).lines().any(|l| l == "dev"));
    ok(
        u,
        &["set_permissions", "-p", "dev", "bob", "^bob", ".*", ".*"],
    );
    let perms = ok(u, &["list_permissions", "-p", "dev", "--formatter", "json"]);
    let perms: serde_json::Value = serde_json::from_str(&perms).unwrap();
    assert!(perms
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["user"] == "bob" && p["configure"] == "^bob"));
    // bob can now log in over HTTP with the new password.
    let whoami = Command::new(env!("CARGO_BIN_EXE_warren"))
        .args([
            "ctl",
            "--url",
            u,
            "--username",
            "bob",
            "--password",
            "pw2",
            "-s",
            "list_vhosts",
        ])
        .output()
        .unwrap();
    assert!(
        whoami.status.success(),
        "{}",
        String::from_utf8_lossy(&whoami.stderr)
    );
    ok(
        u,
        &[
            "set_policy",
            "-p",
            "dev",
            "--apply-to",
            "queues",
            "--priority",
            "3",
            "lim",
            "^q",
            "{\"max-length\": 5}",
        ],
    );
    let policies = ok(u, &["-q", "list_policies", "-p", "dev"]);
    assert!(
        policies.contains("dev\tlim\t^q\tqueues\t{\"max-length\":5}\t3"),
        "{policies}"
    );
    ok(u, &["clear_policy", "-p", "dev", "lim"]);
    assert_eq!(ok(u, &["-s", "list_policies", "-p", "dev"]), "");
    ok(u, &["delete_user", "bob"]);
    ok(u, &["delete_vhost", "dev"]);
    assert!(!ok(u, &["-s", "list_vhosts"]).contains("dev"));
    let status = ok(u, &["status"]);
    assert!(status.contains("Product name: Warren"), "{status}");
    assert!(status.contains("Alarms\n\n(none)"), "{status}");
    assert!(status.contains("Memory high watermark: "), "{status}");
}

#[tokio::test]
async fn queue_commands_and_definitions_with_a_live_client() {
    let b = start();
    let u = b.url.clone();
    let uri = format!("amqp://guest:guest@127.0.0.1:{}/%2f", b.amqp_port);
    let conn = lapin::Connection::connect(&uri, lapin::ConnectionProperties::default())
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    ch.queue_declare("jobs".into(), Default::default(), Default::default())
        .await
        .unwrap();
    for _ in 0..3 {
        ch.basic_publish(
            "".into(),
            "jobs".into(),
            Default::default(),
            b"x",
            Default::default(),
        )
        .await
        .unwrap();
    }
    let u2 = u.clone();
    let out = tokio::task::spawn_blocking(move || {
        let queues = ok(
            &u2,
            &[
                "list_queues",
                "name",
                "messages",
                "messages_ready",
                "messages_unacknowledged",
                "consumers",
            ],
        );
        let conns = ok(
            &u2,
            &["-q", "list_connections", "user", "peer_host", "name"],
        );
        let chans = ok(&u2, &["--formatter", "json", "list_channels"]);
        let exchanges = ok(&u2, &["-q", "list_exchanges", "name", "type"]);
        let bindings = ok(&u2, &["-q", "list_bindings"]);
        (queues, conns, chans, exchanges, bindings)
    })
    .await
    .unwrap();
    let (queues, conns, chans, exchanges, bindings) = out;
    assert!(
        queues.starts_with("Timeout: 60.0 seconds ...\nListing queues for vhost / ...\n"),
        "{queues}"
    );
    assert!(queues
        .lines()
        .any(|l| l == "name\tmessages\tmessages_ready\tmessages_unacknowledged\tconsumers"));
    assert!(queues.lines().any(|l| l == "jobs\t3\t3\t0\t0"), "{queues}");
    let conn_line = conns.lines().nth(1).expect("one connection");
    assert!(
        conn_line.starts_with("guest\t127.0.0.1\t127.0.0.1:"),
        "{conns}"
    );
    let conn_name = conn_line.split('\t').nth(2).unwrap().to_string();
    let chans: serde_json::Value = serde_json::from_str(&chans).unwrap();
    assert_eq!(chans[0]["user"], "guest");
    assert!(chans[0].get("pid").is_some());
    assert!(exchanges.lines().any(|l| l == "amq.topic\ttopic"));
    assert!(
        bindings
            .lines()
            .any(|l| l == "\texchange\tjobs\tqueue\tjobs\t{}"),
        "{bindings}"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("defs.json");
    let file_s = file.to_str().unwrap().to_string();
    let u2 = u.clone();
    let name = conn_name.clone();
    tokio::task::spawn_blocking(move || {
        ok(&u2, &["purge_queue", "jobs"]);
        let q = ok(&u2, &["-s", "list_queues", "name", "messages"]);
        assert!(q.lines().any(|l| l == "jobs\t0"), "{q}");
        ok(&u2, &["export_definitions", &file_s]);
        ok(&u2, &["delete_queue", "jobs"]);
        assert!(!ok(&u2, &["-s", "list_queues"]).contains("jobs"));
        ok(&u2, &["import_definitions", &file_s]);
        assert!(ok(&u2, &["-s", "list_queues"]).contains("jobs"));
        ok(&u2, &["close_connection", &name, "go away"]);
    })
    .await
    .unwrap();
    let defs: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(defs["queues"][0]["name"], "jobs");
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        while conn.status().connected() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the connection was closed by close_connection"
    );
}

#[test]
fn vhost_limits_are_set_listed_cleared_and_survive_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let b = start_in(data.path());
    let u = b.url.as_str();
    let set = ok(
        u,
        &[
            "set_vhost_limits",
            "{\"max-connections\": 10, \"max-queues\": 5}",
        ],
    );
    assert!(
        set.contains("Setting vhost limits to \"{\"max-connections\": 10, \"max-queues\": 5}\" for vhost \"/\" ..."),
        "{set}"
    );
    assert_eq!(
        ok(u, &["-q", "list_vhost_limits"]),
        "{\"max-connections\":10,\"max-queues\":5}\n"
    );
    // set_vhost_limits replaces: max-queues is no longer set.
    ok(u, &["set_vhost_limits", "-p", "/", "{\"max-queues\": 2}"]);
    ok(u, &["add_vhost", "dev"]);
    ok(
        u,
        &["set_vhost_limits", "-p", "dev", "{\"max-connections\": 1}"],
    );
    let global = ok(u, &["-q", "list_vhost_limits", "--global"]);
    assert_eq!(
        global,
        "vhost\tlimits\n/\t{\"max-queues\":2}\ndev\t{\"max-connections\":1}\n"
    );
    let bad = ctl(u, &["set_vhost_limits", "{\"max-widgets\": 1}"]);
    assert_eq!(bad.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("max-widgets"));
    let missing = ctl(
        u,
        &["set_vhost_limits", "-p", "nope", "{\"max-queues\": 1}"],
    );
    // rabbitmqctl 3.10.8: "Virtual host 'nope' does not exist", exit 65.
    assert_eq!(missing.status.code(), Some(65));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("Virtual host 'nope' does not exist"));
    drop(b);

    let b = start_in(data.path());
    let u = b.url.as_str();
    assert_eq!(
        ok(u, &["-q", "list_vhost_limits", "--global"]),
        global,
        "limits survive a restart"
    );
    assert!(
        ok(u, &["clear_vhost_limits", "-p", "dev"]).contains("Clearing vhost \"dev\" limits ...")
    );
    assert_eq!(ok(u, &["-q", "list_vhost_limits", "-p", "dev"]), "");
}

#[test]
fn unreachable_broker_is_a_clear_error() {
    let out = ctl("http://127.0.0.1:1", &["list_queues"]);
    assert_eq!(out.status.code(), Some(69));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unable to connect to the broker's HTTP API at http://127.0.0.1:1"),
        "{stderr}"
    );
    let usage = ctl("http://127.0.0.1:1", &["no_such_command"]);
    assert_eq!(usage.status.code(), Some(64));
}

fn failure(url: &str, args: &[&str]) -> (Option<i32>, String) {
    let out = ctl(url, args);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn failures_exit_with_rabbitmqctl_codes_and_messages() {
    let b = start();
    let u = b.url.as_str();
    ok(u, &["add_user", "carol", "pw"]);
    ok(u, &["set_user_tags", "carol", "monitoring"]);
    // add_user on an existing user refuses and changes nothing (exit 70).
    let (code, err) = failure(u, &["add_user", "carol", "other"]);
    assert_eq!(code, Some(70), "{err}");
    assert!(err.contains("User \"carol\" already exists"), "{err}");
    let users = ok(u, &["-q", "list_users"]);
    assert!(
        users.lines().any(|l| l == "carol\t[monitoring]"),
        "tags kept: {users}"
    );
    let who = Command::new(env!("CARGO_BIN_EXE_warren"))
        .args([
            "ctl",
            "--url",
            u,
            "--username",
            "carol",
            "--password",
            "pw",
            "-s",
            "list_vhosts",
        ])
        .output()
        .unwrap();
    assert!(who.status.success(), "password kept");
    // 67: no such user; 65/69: no such vhost, as rabbitmqctl 3.10.8.
    for args in [
        &["delete_user", "nobody"][..],
        &["change_password", "nobody", "x"],
        &["set_user_tags", "nobody", "x"],
        &["clear_permissions", "nobody"],
    ] {
        let (code, err) = failure(u, args);
        assert_eq!(code, Some(67), "{args:?}: {err}");
        assert!(err.contains("User \"nobody\" does not exist"), "{err}");
    }
    let (code, err) = failure(u, &["delete_vhost", "nosuch"]);
    assert_eq!(code, Some(65), "{err}");
    assert!(
        err.contains("Virtual host 'nosuch' does not exist"),
        "{err}"
    );
    let (code, _) = failure(
        u,
        &["set_permissions", "-p", "nosuch", "guest", ".*", ".*", ".*"],
    );
    assert_eq!(code, Some(69));
    let (code, _) = failure(u, &["clear_policy", "nope"]);
    assert_eq!(code, Some(69));
    let (code, _) = failure(u, &["add_user"]);
    assert_eq!(code, Some(64));
    let (code, err) = failure(u, &["import_definitions", "/nonexistent/defs.json"]);
    assert_eq!(code, Some(65), "{err}");
    let (code, err) = failure(u, &["no_such_command"]);
    assert_eq!(code, Some(64));
    assert!(err.contains("Command 'no_such_command' not found"), "{err}");
    // clear_permissions removes them.
    ok(u, &["set_permissions", "carol", ".*", ".*", ".*"]);
    assert!(ok(u, &["clear_permissions", "carol"])
        .contains("Clearing permissions for user \"carol\" in vhost \"/\" ..."));
    assert!(!ok(u, &["-s", "list_permissions"]).contains("carol"));
}

#[test]
fn help_lists_every_command_with_a_description() {
    let out = ctl("http://127.0.0.1:1", &["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for command in [
        "add_user",
        "list_queues",
        "clear_permissions",
        "close_all_connections",
        "environment",
        "ping",
        "check_running",
        "check_port_connectivity",
        "check_local_alarms",
        "alarms",
        "listeners",
        "status",
        "import_definitions",
    ] {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{command} ")))
            .unwrap_or_else(|| panic!("{command} missing from:\n{text}"));
        assert!(line.split_whitespace().count() > 2, "{line}");
    }
    let one = ctl("http://127.0.0.1:1", &["help", "add_user"]);
    assert!(String::from_utf8_lossy(&one.stdout).contains("add_user <username> <password>"));
}

#[tokio::test]
async fn diagnostics_and_close_all_connections() {
    let b = start();
    let u = b.url.clone();
    let uri = format!("amqp://guest:guest@127.0.0.1:{}/%2f", b.amqp_port);
    let conn = lapin::Connection::connect(&uri, lapin::ConnectionProperties::default())
        .await
        .unwrap();
    let port = b.amqp_port;
    let u2 = u.clone();
    tokio::task::spawn_blocking(move || {
        assert!(ok(&u2, &["ping"]).contains("Ping succeeded"));
        assert!(ok(&u2, &["check_running"]).contains("is fully booted and running"));
        let ports = ok(&u2, &["check_port_connectivity"]);
        assert!(
            ports.contains(&format!("Successfully connected to ports {port}")),
            "{ports}"
        );
        assert!(ok(&u2, &["check_local_alarms"]).contains("reported no local alarms"));
        assert!(ok(&u2, &["alarms"]).contains("reported no alarms, local or clusterwide"));
        let listeners = ok(&u2, &["listeners"]);
        assert!(
            listeners.contains(&format!(
                "Interface: 127.0.0.1, port: {port}, protocol: amqp, purpose: AMQP 0-9-1"
            )),
            "{listeners}"
        );
        let memory = ok(&u2, &["memory_breakdown", "--unit", "mb"]);
        assert!(
            memory.starts_with("Reporting memory breakdown on node warren@"),
            "{memory}"
        );
        let heap = memory
            .lines()
            .find(|l| l.starts_with("heap: "))
            .expect("heap line");
        let mb: f64 = heap.split_whitespace().nth(1).unwrap().parse().unwrap();
        assert!(mb > 0.1 && heap.contains(" mb ("), "{memory}");
        let env = ok(&u2, &["environment"]);
        assert!(env.contains("heartbeat = 60"), "{env}");
        assert!(env.contains("default_vhost = /"), "{env}");
        let closed = ok(&u2, &["close_all_connections", "maintenance"]);
        assert!(
            closed.contains("Closing all connections in vhost /, reason: maintenance..."),
            "{closed}"
        );
        assert!(closed.contains("Closed 1 connections"), "{closed}");
    })
    .await
    .unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        while conn.status().connected() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(closed.is_ok(), "close_all_connections closed it");
    // Unreachable: 69, as rabbitmq-diagnostics ping against a stopped node.
    let out = ctl("http://127.0.0.1:1", &["ping"]);
    assert_eq!(out.status.code(), Some(69));
}
