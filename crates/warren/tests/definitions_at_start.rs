//! A definitions file loaded at start (`--load-definitions`) holding a name
//! or a field-table key AMQP cannot carry (over 255 bytes): the broker exits
//! with a clear error naming the item, never a panic. Before, a long argument
//! key panicked the broker at start (amq-protocol's ShortString::from).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::json;

const WAIT: Duration = Duration::from_secs(20);

fn start(definitions: &serde_json::Value) -> (Child, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("definitions.json");
    std::fs::write(&file, definitions.to_string()).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_warren"))
        .args([
            "--amqp-port",
            "0",
            "--http-port",
            "0",
            "--metrics-port",
            "0",
        ])
        .arg("--load-definitions")
        .arg(&file)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("WARREN_LOG", "info")
        .env_remove("WARREN_AMQP_PORT")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn warren");
    (child, dir)
}

/// Waits for the broker to exit; one still running after [`WAIT`] is killed
/// (and the test fails).
fn exit_of(mut child: Child) -> Output {
    let deadline = std::time::Instant::now() + WAIT;
    while child.try_wait().expect("wait for warren").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "the broker did not exit: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[track_caller]
fn assert_refused(definitions: serde_json::Value, phrase: &str) {
    let (child, _dir) = start(&definitions);
    let out = exit_of(child);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "no panic: {stderr}");
    assert_eq!(out.status.code(), Some(1), "an error exit: {stderr}");
    assert!(
        stderr.contains("cannot import definitions from") && stderr.contains(phrase),
        "clear error with {phrase:?}, got: {stderr}"
    );
}

fn queue(name: &str, arguments: serde_json::Value) -> serde_json::Value {
    json!({"name": name, "vhost": "/", "durable": true, "auto_delete": false, "arguments": arguments})
}

#[test]
fn a_long_argument_key_in_a_definitions_file_is_a_clear_error() {
    let key = "k".repeat(256);
    assert_refused(
        json!({"queues": [queue("defs-q", json!({ key: 1 }))]}),
        "queue 'defs-q': field table key 'kkkk",
    );
}

#[test]
fn long_names_in_a_definitions_file_are_clear_errors() {
    assert_refused(
        json!({"queues": [queue(&"q".repeat(300), json!({}))]}),
        "queue should be less than 255 bytes, actually was 300",
    );
    assert_refused(
        json!({"vhosts": [{"name": "v".repeat(256)}]}),
        "vhost should be less than 255 bytes, actually was 256",
    );
}

#[test]
fn a_255_byte_key_and_name_load_and_the_broker_serves() {
    let key = "k".repeat(255);
    let (mut child, _dir) = start(&json!({"queues": [queue(&"q".repeat(255), json!({ key: 1 }))]}));
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("AMQP on") {
                let _ = tx.send(line);
                return;
            }
        }
    });
    let started = rx.recv_timeout(WAIT);
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    assert!(
        started.is_ok(),
        "the broker starts: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
