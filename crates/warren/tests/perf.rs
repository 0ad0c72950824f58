//! `warren perf` against a real Warren: every scenario runs briefly, stops by
//! itself, and its `--json` summary shows that messages really moved.

use std::process::Command;

mod process;
use process::BrokerProcess;

struct Broker {
    process: BrokerProcess,
    _data: tempfile::TempDir,
}

fn start_broker() -> Broker {
    let data = tempfile::tempdir().unwrap();
    Broker {
        process: BrokerProcess::start(data.path(), &[]),
        _data: data,
    }
}

/// Runs `warren perf ARGS --json` and returns its last output line.
fn perf(broker: &Broker, args: &[&str]) -> String {
    let uri = broker.process.uri();
    let pid = broker.process.pid().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_warren"))
        .arg("perf")
        .args(args)
        .args(["--uri", &uri, "--json", "--broker-pid", &pid])
        .output()
        .expect("run warren perf");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "warren perf {args:?} failed: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout.lines().last().unwrap_or("").to_string()
}

/// The whole-number field `key` of a flat JSON summary.
fn field(json: &str, key: &str) -> u64 {
    let at = json
        .find(&format!("\"{key}\":"))
        .unwrap_or_else(|| panic!("{key} missing in {json}"));
    let rest = &json[at + key.len() + 3..];
    let end = rest
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(rest.len());
    rest[..end].parse::<f64>().expect("number") as u64
}

#[test]
fn message_scenarios_move_messages_and_stop_on_time() {
    let b = start_broker();
    // A fixed rate: at full speed Warren's consumers sometimes receive nothing
    // for the whole run (an open bug, see docs/performance.md).
    let args = "throughput -z 1 --queues 2 -x 2 -y 2 -q 100 -A 10 -r 20000";
    let t = perf(&b, &args.split(' ').collect::<Vec<_>>());
    assert!(field(&t, "consumed") > 0, "{t}");
    assert!(field(&t, "broker_rss_kb") > 0, "{t}");
    let c = perf(
        &b,
        &["throughput", "-z", "1", "-c", "50", "-a", "-r", "2000"],
    );
    assert!(field(&c, "confirmed") > 0, "{c}");
    assert!(field(&c, "published") <= 2_400, "rate limit held: {c}");
    let f = perf(&b, &["fanout", "-z", "1", "--queues", "3", "-r", "5000"]);
    // Three queues: each message is delivered up to three times (the last ones
    // may still be in flight when the run stops).
    assert!(field(&f, "delivered") > 0, "{f}");
    assert!(field(&f, "delivered") <= 3 * field(&f, "published"), "{f}");
    let t = perf(
        &b,
        &[
            "topic",
            "-z",
            "1",
            "--bindings",
            "50",
            "--queues",
            "5",
            "-r",
            "5000",
        ],
    );
    assert!(field(&t, "delivered") > 0, "{t}");
    for direct in [false, true] {
        let mut args = vec!["rpc", "-z", "1"];
        if direct {
            args.push("--direct-reply-to");
        }
        let r = perf(&b, &args);
        assert!(field(&r, "round_trips") > 0, "{r}");
    }
}

#[test]
fn count_scenarios_finish_their_count() {
    let b = start_broker();
    let r = perf(&b, &["backlog", "-C", "20000", "-z", "30"]);
    assert_eq!(field(&r, "published"), 20_000, "{r}");
    assert_eq!(field(&r, "drained"), 20_000, "{r}");
    let q = perf(&b, &["queue-count", "-C", "300", "--hold", "0", "-z", "30"]);
    assert_eq!(field(&q, "queues"), 300, "{q}");
    let c = perf(
        &b,
        &["connection-count", "-C", "100", "--hold", "0", "-z", "30"],
    );
    assert_eq!(field(&c, "held"), 100, "{c}");
}
