//! Differential tests against RabbitMQ 3.10.8: scripted AMQP 0-9-1 scenarios
//! (tests/golden/scenarios/*.amqp) whose replies were recorded from the
//! reference broker (tests/golden/recorded/*.golden, by tests/golden/record.sh)
//! are replayed against an in-process Warren and compared line by line.
//! Deliberate or in-progress differences are listed, with their reason, in
//! tests/golden/differences.txt; any other mismatch fails with a diff.

mod common;

#[path = "golden/script.rs"]
mod script;
#[path = "golden/session.rs"]
mod session;
#[path = "golden/spec.rs"]
mod spec;
#[path = "golden/value.rs"]
mod value;
#[path = "golden/wire.rs"]
mod wire;

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::TestBroker;
use script::Scenario;
use session::{Masks, StepRecord};
use warren_core::auth::Permission;

/// The directory holding scenarios, recordings and the differences list.
fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// Every scenario file's stem with its parsed scenarios, sorted by file name.
fn load_scenarios(methods: &[spec::MethodSpec]) -> Vec<(String, Vec<Scenario>)> {
    let dir = golden_dir().join("scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("scenario dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "amqp"))
        .collect();
    files.sort();
    let mut names = std::collections::BTreeSet::new();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("read scenario file");
            let scenarios =
                script::parse(&text, methods).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            for s in &scenarios {
                assert!(
                    names.insert(s.name.clone()),
                    "scenario {} defined twice",
                    s.name
                );
            }
            let stem = path
                .file_stem()
                .expect("stem")
                .to_string_lossy()
                .into_owned();
            (stem, scenarios)
        })
        .collect()
}

const GOLDEN_HEADER: &str =
    "# Recorded from RabbitMQ 3.10.8 by tests/golden/record.sh; do not edit by hand, re-record.\n\
# '> ' lines are the scenario's steps, '< ' lines the broker's replies to each.\n";

fn render_golden(recorded: &[(String, Vec<StepRecord>)]) -> String {
    let mut out = GOLDEN_HEADER.to_string();
    for (name, steps) in recorded {
        let _ = writeln!(out, "\nscenario {name}");
        for step in steps {
            let _ = writeln!(out, "> {}", step.text);
            for reply in &step.replies {
                let _ = writeln!(out, "< {reply}");
            }
        }
    }
    out
}

fn parse_golden(text: &str) -> BTreeMap<String, Vec<StepRecord>> {
    let mut out: BTreeMap<String, Vec<StepRecord>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("scenario ") {
            current = Some(name.to_string());
            out.insert(name.to_string(), Vec::new());
        } else if let (Some(step), Some(name)) = (line.strip_prefix("> "), &current) {
            out.get_mut(name).expect("scenario").push(StepRecord {
                text: step.to_string(),
                replies: Vec::new(),
            });
        } else if let (Some(reply), Some(name)) = (line.strip_prefix("< "), &current) {
            let steps = out.get_mut(name).expect("scenario");
            steps
                .last_mut()
                .expect("a reply follows a step")
                .replies
                .push(reply.to_string());
        }
    }
    out
}

/// A listed difference: from `step` (1-based) on, the scenario may differ.
#[derive(Debug)]
struct Difference {
    step: usize,
    kind: String,
    reason: String,
}

fn load_differences() -> BTreeMap<String, Difference> {
    let text = std::fs::read_to_string(golden_dir().join("differences.txt")).expect("differences");
    let mut out = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.splitn(4, ' ');
        let (Some(name), Some(step), Some(kind), Some(reason)) =
            (words.next(), words.next(), words.next(), words.next())
        else {
            panic!("differences.txt: expected 'SCENARIO STEP KIND REASON': {line}");
        };
        let step = step
            .parse()
            .unwrap_or_else(|_| panic!("differences.txt: bad step in {line}"));
        let diff = Difference {
            step,
            kind: kind.to_string(),
            reason: reason.to_string(),
        };
        assert!(
            out.insert(name.to_string(), diff).is_none(),
            "differences.txt lists {name} twice"
        );
    }
    out
}

/// The users that scenarios log in as; record.sh creates the same on RabbitMQ.
fn add_scenario_users(broker: &TestBroker) {
    let users = &broker.broker.users;
    users.add_user("golden-limited", "golden-limited", vec![]);
    users.set_permission(
        "golden-limited",
        "/",
        Permission::new("^lim-conf", "^lim-(conf|write)", "^lim-(conf|read)").expect("patterns"),
    );
    users.add_user("golden-nowhere", "golden-nowhere", vec![]);
    users.add_user("golden-nowrite", "golden-nowrite", vec![]);
    users.set_permission(
        "golden-nowrite",
        "/",
        Permission::new(".*", "", ".*").expect("patterns"),
    );
}

/// The first step (1-based) where `got` differs from `expected`, with a
/// readable diff of that step.
fn first_mismatch(expected: &[StepRecord], got: &[StepRecord]) -> Option<(usize, String)> {
    for (i, (e, g)) in expected.iter().zip(got).enumerate() {
        if e == g {
            continue;
        }
        let mut diff = String::new();
        if e.text != g.text {
            let _ = writeln!(
                diff,
                "  the step changed since recording: re-record (tests/golden/record.sh)\n  recorded: {}\n  now:      {}",
                e.text, g.text
            );
            return Some((i + 1, diff));
        }
        let _ = writeln!(diff, "  step {}: > {}", i + 1, e.text);
        for line in &e.replies {
            let mark = if g.replies.contains(line) { ' ' } else { '-' };
            let _ = writeln!(diff, "  {mark} RabbitMQ: {line}");
        }
        for line in &g.replies {
            let mark = if e.replies.contains(line) { ' ' } else { '+' };
            let _ = writeln!(diff, "  {mark} Warren:   {line}");
        }
        return Some((i + 1, diff));
    }
    if expected.len() != got.len() {
        return Some((
            expected.len().min(got.len()) + 1,
            format!(
                "  recorded {} steps, the scenario now has {}: re-record\n",
                expected.len(),
                got.len()
            ),
        ));
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_against_warren() {
    let methods = Arc::new(spec::methods());
    let masks = Arc::new(Masks::new());
    let differences = load_differences();
    let files = load_scenarios(&methods);
    let mut tasks = tokio::task::JoinSet::new();
    let mut count = 0;
    for (stem, scenarios) in files {
        let path = golden_dir().join("recorded").join(format!("{stem}.golden"));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("{} missing: run tests/golden/record.sh", path.display()));
        let mut golden = parse_golden(&text);
        for scenario in scenarios {
            count += 1;
            let expected = golden.remove(&scenario.name).unwrap_or_else(|| {
                panic!(
                    "{stem}: scenario {} not recorded: run record.sh",
                    scenario.name
                )
            });
            let (methods, masks) = (methods.clone(), masks.clone());
            tasks.spawn(async move {
                let started = std::time::Instant::now();
                let broker = TestBroker::start().await;
                add_scenario_users(&broker);
                let got =
                    session::run(broker.addr, &scenario, &methods, &masks, Some(&expected)).await;
                broker.shutdown().await;
                if std::env::var_os("GOLDEN_TIMING").is_some() {
                    eprintln!("{}: {:?}", scenario.name, started.elapsed());
                }
                (scenario.name, expected, got)
            });
        }
    }
    let mut failures = Vec::new();
    let mut tolerated = 0;
    let mut seen = std::collections::BTreeSet::new();
    while let Some(result) = tasks.join_next().await {
        let (name, expected, got) = result.expect("scenario task");
        seen.insert(name.clone());
        let mismatch = first_mismatch(&expected, &got);
        match (mismatch, differences.get(&name)) {
            (None, None) => {}
            (None, Some(d)) => failures.push(format!(
                "{name}: matches RabbitMQ now, but differences.txt still lists it ({} from step {}): remove the entry",
                d.kind, d.step
            )),
            (Some((step, diff)), Some(d)) if step >= d.step => {
                tolerated += 1;
                eprintln!("{name}: listed difference ({}: {}):\n{diff}", d.kind, d.reason);
            }
            (Some((step, diff)), _) => {
                failures.push(format!("{name}: differs from RabbitMQ 3.10.8 at step {step}:\n{diff}"))
            }
        }
    }
    for name in differences.keys() {
        if !seen.contains(name) {
            failures.push(format!(
                "differences.txt lists {name}, which is no scenario"
            ));
        }
    }
    eprintln!(
        "golden: {count} scenarios replayed, {tolerated} listed differences, {} failures",
        failures.len()
    );
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// Records every scenario against the broker at GOLDEN_AMQP_ADDR (host:port)
/// and rewrites the golden files; run by tests/golden/record.sh.
#[tokio::test]
#[ignore = "needs RabbitMQ 3.10.8: run tests/golden/record.sh"]
async fn record_from_reference() {
    let addr = std::env::var("GOLDEN_AMQP_ADDR").expect("GOLDEN_AMQP_ADDR=host:port");
    let addr: std::net::SocketAddr = addr.parse().expect("GOLDEN_AMQP_ADDR is host:port");
    let only = std::env::var("GOLDEN_ONLY").ok();
    let methods = spec::methods();
    let masks = Masks::new();
    for (stem, scenarios) in load_scenarios(&methods) {
        if only.as_ref().is_some_and(|o| o != &stem) {
            continue;
        }
        let mut recorded = Vec::new();
        for scenario in &scenarios {
            let steps = session::run(addr, scenario, &methods, &masks, None).await;
            recorded.push((scenario.name.clone(), steps));
        }
        let path = golden_dir().join("recorded").join(format!("{stem}.golden"));
        std::fs::write(&path, render_golden(&recorded)).expect("write golden file");
        eprintln!(
            "recorded {} scenarios into {}",
            recorded.len(),
            path.display()
        );
    }
}
