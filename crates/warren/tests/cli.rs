//! The `warren` binary as an operator runs it: start-up logging of the bound
//! port, a clear error when the port is taken, clean shutdown on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

fn warren(args: &[&str], data: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_warren"))
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env("WARREN_LOG", "info")
        .env_remove("WARREN_AMQP_PORT")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn warren")
}

/// Reads the child's stdout on a thread and returns the first line containing
/// `needle`, or None after the timeout.
fn wait_for_line(child: &mut Child, needle: &'static str) -> Option<String> {
    let stdout = child.stdout.take()?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains(needle) {
                let _ = tx.send(line);
                return;
            }
        }
    });
    rx.recv_timeout(WAIT).ok()
}

fn port_from(line: &str) -> u16 {
    let after = line
        .split("AMQP on ")
        .nth(1)
        .expect("AMQP address in log line");
    let addr = after.split(',').next().unwrap().trim();
    addr.rsplit(':')
        .next()
        .unwrap()
        .parse()
        .expect("port number")
}

#[test]
fn logs_the_bound_port_refuses_a_taken_port_and_stops_on_sigterm() {
    let data = tempfile::tempdir().unwrap();
    let mut first = warren(
        &[
            "--amqp-port",
            "0",
            "--http-port",
            "0",
            "--metrics-port",
            "0",
        ],
        data.path(),
    );
    let line = wait_for_line(&mut first, "AMQP on").expect("start-up line");
    let port = port_from(&line);
    assert_ne!(
        port, 0,
        "the log shows the ephemeral port actually bound: {line}"
    );
    std::net::TcpStream::connect(("127.0.0.1", port)).expect("broker accepts connections");

    let data2 = tempfile::tempdir().unwrap();
    let second = warren(&["--amqp-port", &port.to_string()], data2.path());
    let out = second.wait_with_output().expect("second broker exits");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("already in use"),
        "clear error, got: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "no panic: {stderr}");

    let pid = first.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(first.wait());
    });
    let status = rx.recv_timeout(WAIT).expect("exits after SIGTERM").unwrap();
    assert!(status.success(), "clean exit after SIGTERM: {status:?}");
}

#[test]
fn a_second_broker_on_the_same_data_directory_is_refused() {
    let data = tempfile::tempdir().unwrap();
    let mut first = warren(
        &[
            "--amqp-port",
            "0",
            "--http-port",
            "0",
            "--metrics-port",
            "0",
        ],
        data.path(),
    );
    wait_for_line(&mut first, "AMQP on").expect("first broker starts");
    let second = warren(
        &[
            "--amqp-port",
            "0",
            "--http-port",
            "0",
            "--metrics-port",
            "0",
        ],
        data.path(),
    );
    let out = second.wait_with_output().expect("second broker exits");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("in use by another Warren process"),
        "clear error, got: {stderr}"
    );
    let pid = first.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let _ = first.wait();
}
