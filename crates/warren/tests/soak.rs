//! Soak: publishers offering ten times what the consumer takes, against the
//! real `warren` binary with a low memory high watermark, for a bounded time
//! (60 s, or `WARREN_SOAK_SECS`). The broker's peak resident memory must stay
//! under the watermark plus a margin (paging and the memory alarm hold it
//! there), the consumer must keep receiving throughout, and every confirmed
//! message must be either consumed or still in the queue at the end.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::StreamExt;
use lapin::options::*;
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};

mod process;
use process::BrokerProcess;

const QUEUE: &str = "soak";
const WATERMARK: u64 = 128 << 20;
/// Peak RSS allowed above the watermark: what publishers can add between the
/// alarm and their connections being blocked, plus allocator slack.
const MARGIN: u64 = 64 << 20;
const BODY: usize = 1024;
const PUBLISHERS: u64 = 4;
/// Offered load per publisher; the consumer takes a tenth of the total.
const PUBLISH_RATE: u64 = 2500;
const CONSUME_RATE: u64 = PUBLISHERS * PUBLISH_RATE / 10;

#[derive(Default)]
struct Counts {
    published: AtomicU64,
    confirmed: AtomicU64,
    consumed: AtomicU64,
}

async fn connect(uri: &str) -> Connection {
    tokio::time::timeout(
        Duration::from_secs(10),
        Connection::connect(uri, ConnectionProperties::default()),
    )
    .await
    .expect("connect in time")
    .expect("connect")
}

/// Publishes at [`PUBLISH_RATE`] with a confirm awaited per message, until
/// `stop`; a confirm that has not come by then (blocked by an alarm) ends it.
async fn publisher(uri: String, stop: Instant, counts: Arc<Counts>) -> Connection {
    let conn = connect(&uri).await;
    let ch = conn.create_channel().await.expect("channel");
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirm.select");
    let mut pace = tokio::time::interval(Duration::from_micros(1_000_000 / PUBLISH_RATE));
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let body = vec![b's'; BODY];
    let stop = tokio::time::Instant::from_std(stop);
    while tokio::time::Instant::now() < stop {
        pace.tick().await;
        let publish = ch.basic_publish(
            "".into(),
            QUEUE.into(),
            BasicPublishOptions::default(),
            &body,
            BasicProperties::default(),
        );
        // Counted before it is awaited: a publish whose future the deadline
        // cuts short may still have reached the broker, so `published` is an
        // upper bound on what the broker can hold or have delivered.
        counts.published.fetch_add(1, Relaxed);
        let Ok(Ok(confirm)) = tokio::time::timeout_at(stop, publish).await else {
            break;
        };
        match tokio::time::timeout_at(stop, confirm).await {
            Ok(Ok(c)) if c.is_ack() => counts.confirmed.fetch_add(1, Relaxed),
            Ok(other) => panic!("publish not confirmed: {other:?}"),
            Err(_) => break,
        };
    }
    conn
}

/// Consumes and acks at [`CONSUME_RATE`] until `stop`; returns its connection
/// (still holding up to the prefetch in unacked deliveries).
async fn consumer(uri: String, stop: Instant, counts: Arc<Counts>) -> Connection {
    let conn = connect(&uri).await;
    let ch = conn.create_channel().await.expect("channel");
    ch.basic_qos(50, BasicQosOptions::default())
        .await
        .expect("qos");
    let mut deliveries = ch
        .basic_consume(
            QUEUE.into(),
            "soak".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("consume");
    let mut pace = tokio::time::interval(Duration::from_micros(1_000_000 / CONSUME_RATE));
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let stop = tokio::time::Instant::from_std(stop);
    loop {
        // timeout_at returns a ready delivery even past the deadline: check first.
        if tokio::time::Instant::now() >= stop {
            break;
        }
        let next = tokio::time::timeout_at(stop, deliveries.next()).await;
        let Ok(Some(Ok(delivery))) = next else {
            break;
        };
        pace.tick().await;
        delivery.ack(BasicAckOptions::default()).await.expect("ack");
        counts.consumed.fetch_add(1, Relaxed);
    }
    conn
}

/// A field of /proc/PID/status in bytes (VmRSS, VmHWM).
fn proc_status_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim_start_matches(':').split_whitespace().next())
        .and_then(|kb| kb.parse::<u64>().ok())
        .expect("field in /proc status")
        * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishers_ten_times_faster_than_the_consumer_stay_under_the_watermark() {
    let secs = std::env::var("WARREN_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("warren.conf");
    std::fs::write(
        &conf,
        format!("vm_memory_high_watermark.absolute = {WATERMARK}\n"),
    )
    .unwrap();
    let data = dir.path().join("data");
    let broker = BrokerProcess::start(&data, &["--config", conf.to_str().unwrap()]);
    let uri = broker.uri();
    let setup = connect(&uri).await;
    let ch = setup.create_channel().await.unwrap();
    ch.queue_declare(
        QUEUE.into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();

    let counts = Arc::new(Counts::default());
    let stop = Instant::now() + Duration::from_secs(secs);
    let consuming = tokio::spawn(consumer(uri.clone(), stop, counts.clone()));
    let publishing: Vec<_> = (0..PUBLISHERS)
        .map(|_| tokio::spawn(publisher(uri.clone(), stop, counts.clone())))
        .collect();

    // Sample the consumer's progress every tenth of the run: it must never stall.
    let mut peak_rss = 0;
    let mut consumed_before = 0;
    let slice = Duration::from_secs(secs) / 10;
    let start = stop - Duration::from_secs(secs);
    for i in 1..10u32 {
        tokio::time::sleep_until((start + slice * i).into()).await;
        peak_rss = peak_rss.max(proc_status_bytes(broker.pid(), "VmRSS"));
        let consumed = counts.consumed.load(Relaxed);
        assert!(
            consumed > consumed_before,
            "the consumer received nothing between {:?} and {:?} into the run",
            slice * (i - 1),
            slice * i
        );
        consumed_before = consumed;
    }

    let consumer_conn = consuming.await.unwrap();
    let mut publisher_conns = Vec::new();
    for p in publishing {
        publisher_conns.push(p.await.unwrap());
    }
    let hwm = proc_status_bytes(broker.pid(), "VmHWM");
    // Unacked deliveries go back to the queue when the consumer leaves.
    drop(consumer_conn.close(200, "done".into()).await);
    let ch = setup.create_channel().await.unwrap();
    let remaining = ch
        .queue_declare(
            QUEUE.into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("passive declare")
        .message_count() as u64;
    let (published, confirmed, consumed) = (
        counts.published.load(Relaxed),
        counts.confirmed.load(Relaxed),
        counts.consumed.load(Relaxed),
    );
    let alarms = broker
        .log
        .lock()
        .iter()
        .filter(|l| l.contains("memory resource limit alarm set"))
        .count();
    eprintln!(
        "soak {secs}s: published {published}, confirmed {confirmed}, consumed {consumed}, \
         left {remaining}; broker peak RSS {} MiB (sampled max {} MiB), watermark {} MiB, \
         memory alarms set {alarms} times",
        hwm >> 20,
        peak_rss >> 20,
        WATERMARK >> 20
    );
    drop(publisher_conns);
    broker.kill("-TERM");

    assert!(
        hwm <= WATERMARK + MARGIN,
        "broker peak RSS {} MiB over the {} MiB watermark plus {} MiB",
        hwm >> 20,
        WATERMARK >> 20,
        MARGIN >> 20
    );
    assert!(
        consumed + remaining >= confirmed && consumed + remaining <= published,
        "confirmed {confirmed}, published {published}, but consumed {consumed} + left {remaining}"
    );
    assert!(
        published >= 2 * consumed,
        "publishers did not outrun the consumer: published {published}, consumed {consumed}"
    );
}
