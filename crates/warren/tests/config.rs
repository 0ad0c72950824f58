//! rabbitmq.conf as RabbitMQ reads it, against the real binary: an unknown
//! key refuses to boot with "did you mean", a RabbitMQ key Warren lacks is
//! warned about by name, `listeners.tcp.N` binds exactly those addresses,
//! `log.*` choose the outputs and levels, `management.load_definitions`
//! loads a file at boot; and the connection log lines in RabbitMQ's shape.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);

/// A running broker started from a config file; its stdout lines are kept.
struct Warren {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    new_line: mpsc::Receiver<()>,
    _dir: tempfile::TempDir,
    dir: PathBuf,
}

impl Drop for Warren {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn command(dir: &Path, conf: &str) -> Command {
    let path = dir.join("rabbitmq.conf");
    std::fs::write(&path, conf).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_warren"));
    cmd.arg("--config")
        .arg(&path)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .env_remove("WARREN_LOG")
        .env_remove("WARREN_AMQP_PORT")
        .env_remove("WARREN_BIND")
        .stdin(Stdio::null());
    cmd
}

/// Starts warren with `conf` (plus HTTP and metrics on ephemeral ports
/// unless the config sets them).
fn start(conf: &str) -> Warren {
    let dir = tempfile::tempdir().unwrap();
    let mut full = conf.to_string();
    if !conf.contains("management.tcp.port") {
        full.push_str("\nmanagement.tcp.port = 0\n");
    }
    full.push_str("prometheus.tcp.port = 0\n");
    let mut child = command(dir.path(), &full)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn warren");
    let stdout = child.stdout.take().unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel();
    let kept = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            kept.lock().unwrap().push(line);
            let _ = tx.send(());
        }
    });
    let path = dir.path().to_path_buf();
    Warren {
        child,
        lines,
        new_line: rx,
        _dir: dir,
        dir: path,
    }
}

impl Warren {
    /// Waits for a stdout line containing every one of `needles`.
    fn wait_for(&self, needles: &[&str]) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(l) = self
                .lines
                .lock()
                .unwrap()
                .iter()
                .find(|l| needles.iter().all(|n| l.contains(n)))
            {
                return l.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || self.new_line.recv_timeout(left).is_err() {
                panic!(
                    "no line with {needles:?}; got:\n{}",
                    self.lines.lock().unwrap().join("\n")
                );
            }
        }
    }

    fn log(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// The management API URL, from the start-up line.
    fn url(&self) -> String {
        let line = self.wait_for(&["web UI on http://"]);
        let addr = line.split("web UI on http://").nth(1).unwrap();
        let addr = addr.split('/').next().unwrap();
        let port = addr.rsplit(':').next().unwrap();
        format!("http://127.0.0.1:{port}")
    }
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs warren with `conf` expecting it to refuse to boot; returns stderr.
fn refused(conf: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = command(dir.path(), conf)
        .args([
            "--amqp-port",
            "0",
            "--http-port",
            "0",
            "--metrics-port",
            "0",
        ])
        .output()
        .expect("run warren");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn ctl(url: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_warren"))
        .args(["ctl", "--url", url])
        .args(args)
        .env_remove("WARREN_CTL_USER")
        .env_remove("WARREN_CTL_PASSWORD")
        .output()
        .unwrap()
}

#[test]
fn an_unknown_key_refuses_to_boot_with_a_suggestion() {
    let (code, stderr) = refused("heartbat = 30\n");
    assert_eq!(code, Some(78), "{stderr}");
    assert!(
        stderr.contains("You've tried to set heartbat, but there is no setting with that name."),
        "{stderr}"
    );
    assert!(
        stderr.contains("Did you mean one of these?\n    heartbeat"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Conf file attempted to set unknown variable: heartbat"),
        "{stderr}"
    );
}

#[test]
fn a_rabbitmq_key_warren_does_not_implement_is_warned_about_by_name() {
    let w = start(
        "listeners.tcp.default = 127.0.0.1:0\nreverse_dns_lookups = true\ncluster_formation.peer_discovery_backend = classic_config\n",
    );
    w.wait_for(&["WARN", "'reverse_dns_lookups'", "does not implement"]);
    w.wait_for(&["WARN", "'cluster_formation.peer_discovery_backend'"]);
    w.wait_for(&["AMQP on 127.0.0.1:"]);
}

#[test]
fn numbered_listeners_bind_exactly_their_addresses() {
    let (a, b) = (free_port(), free_port());
    let mut conf =
        format!("listeners.tcp.1 = 127.0.0.1:{a}\nlisteners.tcp.other = 127.0.0.1:{b}\n");
    let v6 = std::net::TcpListener::bind("[::1]:0")
        .ok()
        .map(|l| l.local_addr().unwrap().port());
    if let Some(c) = v6 {
        // RabbitMQ's own IPv6 form: address, colon, port.
        conf.push_str(&format!("listeners.tcp.3 = ::1:{c}\n"));
    }
    let w = start(&conf);
    w.wait_for(&["AMQP on "]);
    w.wait_for(&[&format!("started TCP listener on 127.0.0.1:{a}")]);
    w.wait_for(&[&format!("started TCP listener on 127.0.0.1:{b}")]);
    for port in [a, b] {
        std::net::TcpStream::connect(("127.0.0.1", port)).expect("listener accepts");
    }
    if let Some(c) = v6 {
        w.wait_for(&[&format!("started TCP listener on [::1]:{c}")]);
        std::net::TcpStream::connect(("::1", c)).expect("IPv6 listener accepts");
    }
    // Nothing else: every AMQP listener is one of those.
    let url = w.url();
    let out = ctl(&url, &["listeners"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let amqp: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("protocol: amqp,"))
        .collect();
    assert_eq!(amqp.len(), 2 + usize::from(v6.is_some()), "{text}");
    assert!(
        text.contains(&format!("Interface: 127.0.0.1, port: {a}, protocol: amqp")),
        "{text}"
    );
}

#[test]
fn listeners_tcp_none_and_bad_listener_values() {
    let (code, stderr) = refused("listeners.tcp.1 = localhost\n");
    assert_eq!(code, Some(78), "{stderr}");
    assert!(stderr.contains("listeners.tcp.1"), "{stderr}");
    let w = start("listeners.tcp = none\n");
    w.wait_for(&["AMQP on (no TCP listener)"]);
}

/// Waits for `file` to contain `needle`; returns its text.
fn wait_in_file(file: &Path, needle: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if text.contains(needle) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "no '{needle}' in {file:?}: {text}"
        );
        // Polling a file: there is no event to wait on.
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The AMQP port from a "started TCP listener on ip:port" line.
fn amqp_port(w: &Warren) -> u16 {
    let line = w.wait_for(&["started TCP listener on 127.0.0.1:"]);
    line.rsplit(':').next().unwrap().trim().parse().unwrap()
}

/// A login with a wrong password: an ERROR line on the connection category.
async fn failed_login(port: u16) {
    let bad = format!("amqp://nobody:secret@127.0.0.1:{port}/%2f");
    assert!(lapin::Connection::connect(&bad, Default::default())
        .await
        .is_err());
}

#[tokio::test]
async fn log_file_and_levels_come_from_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("logs");
    let w = start(&format!(
        "listeners.tcp.default = 127.0.0.1:0\nlog.dir = {}\nlog.file = broker.log\nlog.file.level = info\nlog.console.level = warning\n",
        log.display()
    ));
    let file = log.join("broker.log");
    let text = wait_in_file(&file, "started TCP listener on 127.0.0.1:");
    let port: u16 = text
        .split("started TCP listener on 127.0.0.1:")
        .nth(1)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    failed_login(port).await;
    w.wait_for(&["ERROR", "PLAIN login refused: user 'nobody'"]);
    // The console is at warning: the info lines went to the file only.
    assert!(!w.log().contains("started TCP listener"), "{}", w.log());
    assert!(
        !w.log().contains("accepting AMQP connection"),
        "{}",
        w.log()
    );
    let text = wait_in_file(&file, "PLAIN login refused: user 'nobody'");
    assert!(text.contains("accepting AMQP connection"), "{text}");
}

#[test]
fn log_console_false_writes_nothing_to_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("w.log");
    let w = start(&format!(
        "listeners.tcp.default = 127.0.0.1:0\nlog.console = false\nlog.file = {}\n",
        file.display()
    ));
    let deadline = Instant::now() + WAIT;
    while !std::fs::read_to_string(&file)
        .unwrap_or_default()
        .contains("started: AMQP on")
    {
        assert!(Instant::now() < deadline, "no start-up line in {file:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(w.log(), "", "nothing on the console");
}

#[test]
fn management_load_definitions_loads_at_boot_and_unknown_parameters_refuse() {
    let dir = tempfile::tempdir().unwrap();
    let defs = dir.path().join("defs.json");
    std::fs::write(
        &defs,
        r#"{"queues":[{"name":"from-defs","vhost":"/","durable":true,"auto_delete":false,"arguments":{}}]}"#,
    )
    .unwrap();
    let w = start(&format!(
        "listeners.tcp.default = 127.0.0.1:0\nmanagement.load_definitions = {}\n",
        defs.display()
    ));
    w.wait_for(&["imported definitions from", "defs.json"]);
    let out = ctl(&w.url(), &["-s", "list_queues", "name"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("from-defs"),
        "{out:?}"
    );

    let fed = dir.path().join("fed.json");
    std::fs::write(
        &fed,
        r#"{"queues":[{"name":"kept-out","vhost":"/","durable":true,"auto_delete":false,"arguments":{}}],
            "parameters":[{"vhost":"/","component":"federation-upstream","name":"up1","value":{"uri":"amqp://remote"}},
                          {"vhost":"/","component":"shovel","name":"sh1","value":{}}]}"#,
    )
    .unwrap();
    let (code, stderr) = refused(&format!("load_definitions = {}\n", fed.display()));
    assert_ne!(code, Some(0));
    assert!(
        stderr.contains("component federation-upstream not found (//federation-upstream/up1)"),
        "{stderr}"
    );
    assert!(stderr.contains("component shovel not found"), "{stderr}");
    // Through the API too, and nothing of the document is applied.
    let out = ctl(&w.url(), &["import_definitions", fed.to_str().unwrap()]);
    // rabbitmqctl 3.10.8 exits 69 with "Validation failed".
    assert_eq!(out.status.code(), Some(69), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("federation-upstream"));
    let out = ctl(&w.url(), &["-s", "list_queues", "name"]);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("kept-out"));
}

#[tokio::test]
async fn connection_lifecycle_is_logged_in_rabbitmq_shape() {
    let w = start("listeners.tcp.default = 127.0.0.1:0\n");
    let port = amqp_port(&w);
    let uri = format!("amqp://guest:guest@127.0.0.1:{port}/%2f");
    let conn = lapin::Connection::connect(
        &uri,
        lapin::ConnectionProperties::default().with_connection_name("orders-app".into()),
    )
    .await
    .unwrap();
    let ch = conn.create_channel().await.unwrap();
    let passive = lapin::options::QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    assert!(ch
        .queue_declare("nope".into(), passive, Default::default())
        .await
        .is_err());
    conn.close(200, "bye".into()).await.unwrap();
    w.wait_for(&[
        "INFO",
        "accepting AMQP connection (127.0.0.1:",
        &format!(" -> 127.0.0.1:{port})"),
    ]);
    w.wait_for(&["has a client-provided name: orders-app"]);
    w.wait_for(&["- orders-app): user 'guest' authenticated and granted access to vhost '/'"]);
    w.wait_for(&[
        "ERROR",
        "Channel error on connection (127.0.0.1:",
        "vhost: '/', user: 'guest'), channel 1: operation queue.declare caused a channel exception not_found: no queue 'nope' in vhost '/'",
    ]);
    w.wait_for(&[
        "closing AMQP connection (127.0.0.1:",
        " - orders-app, vhost: '/', user: 'guest')",
    ]);

    failed_login(port).await;
    w.wait_for(&[
        "ERROR",
        "state: starting): PLAIN login refused: user 'nobody' - invalid credentials",
    ]);
    let novhost = format!("amqp://guest:guest@127.0.0.1:{port}/nosuch");
    let err = lapin::Connection::connect(&novhost, Default::default())
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("vhost nosuch not found"), "{err}");
    w.wait_for(&["user: 'guest', state: opening): vhost nosuch not found"]);
}

#[tokio::test]
async fn log_connection_level_sets_the_connection_category() {
    let w = start("listeners.tcp.default = 127.0.0.1:0\nlog.connection.level = warning\n");
    let port = amqp_port(&w);
    failed_login(port).await;
    w.wait_for(&["ERROR", "PLAIN login refused: user 'nobody'"]);
    // The accept line comes first when enabled; at warning it is not written.
    assert!(
        !w.log().contains("accepting AMQP connection"),
        "{}",
        w.log()
    );
    assert!(w.dir.exists());
}

#[test]
fn check_local_alarms_fails_with_69_while_an_alarm_is_set() {
    // A 1-byte watermark: the memory alarm is set at the first measurement.
    let w = start("listeners.tcp.default = 127.0.0.1:0\nvm_memory_high_watermark.absolute = 1\n");
    let url = w.url();
    let deadline = Instant::now() + WAIT;
    let out = loop {
        let out = ctl(&url, &["check_local_alarms"]);
        if out.status.code() == Some(69) || Instant::now() > deadline {
            break out;
        }
    };
    assert_eq!(out.status.code(), Some(69), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("Memory alarm on node"));
    let alarms = ctl(&url, &["alarms"]);
    assert!(alarms.status.success());
    assert!(String::from_utf8_lossy(&alarms.stdout).contains("Memory alarm on node"));
}
