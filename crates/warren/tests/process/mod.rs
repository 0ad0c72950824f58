//! The real `warren` binary as a child process, for tests that kill it,
//! restart it or measure it from outside.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

/// A running `warren` and what it has logged so far.
pub struct BrokerProcess {
    /// The child process.
    pub child: Child,
    /// The AMQP port it logged at start-up.
    pub port: u16,
    /// The management HTTP port it logged at start-up.
    pub http_port: u16,
    /// Every line it has written to stdout.
    pub log: Arc<Mutex<Vec<String>>>,
}

impl BrokerProcess {
    /// Starts `warren` on `dir` with ephemeral ports and `extra` arguments,
    /// and waits (up to 30 s) for the line naming its AMQP port.
    pub fn start(dir: &Path, extra: &[&str]) -> BrokerProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_warren"))
            .args([
                "--amqp-port",
                "0",
                "--http-port",
                "0",
                "--metrics-port",
                "0",
            ])
            .arg("--data-dir")
            .arg(dir)
            .args(extra)
            .env("WARREN_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn warren");
        let stdout = child.stdout.take().expect("stdout");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let lines = log.clone();
        std::thread::spawn(move || {
            let mut amqp = None;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.split("AMQP on ").nth(1) {
                    amqp = port_of(addr);
                }
                if let Some(url) = line.split("web UI on http://").nth(1) {
                    let _ = tx.send(amqp.zip(port_of(url)));
                }
                lines.lock().push(line);
            }
        });
        let (port, http_port) = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("broker starts")
            .expect("AMQP and HTTP ports in the log");
        BrokerProcess {
            child,
            port,
            http_port,
            log,
        }
    }

    /// The management API's base URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// An AMQP URI for guest/guest on the default vhost.
    pub fn uri(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (as `kill` takes it, e.g. "-9") and waits for the exit.
    pub fn kill(mut self, signal: &str) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args([signal, &pid]).status();
        let _ = self.child.wait();
    }
}

impl Drop for BrokerProcess {
    /// A test that fails (or forgets) does not leave the broker running.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The port at the start of "0.0.0.0:5672, data in …" or "0.0.0.0:15672/ , …".
fn port_of(text: &str) -> Option<u16> {
    let addr: String = text
        .chars()
        .take_while(|c| c.is_ascii_hexdigit() || matches!(c, '.' | ':' | '[' | ']'))
        .collect();
    addr.rsplit(':').next()?.parse().ok()
}
