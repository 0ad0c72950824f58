//! Nothing confirmed is ever lost: the real `warren` binary is killed with
//! SIGKILL at random points while publishers (with confirms, or in
//! transactions: tx.commit-ok is a confirmation too) and a consumer
//! (with acks) run, then restarted, twenty times over. Every confirmed message
//! must be delivered at some point; a message comes back twice only if its ack
//! may not have reached the broker before the kill. A corrupted segment is
//! reported and everything else is served.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::StreamExt;
use lapin::options::*;
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use parking_lot::Mutex;
use rand::{Rng, SeedableRng};

mod process;
use process::BrokerProcess;

const QUEUE: &str = "crash-test";
/// An ack sent this long before a kill has certainly been processed.
const ACK_SETTLE: Duration = Duration::from_millis(1000);

fn start(dir: &std::path::Path) -> BrokerProcess {
    BrokerProcess::start(dir, &[])
}

#[derive(Default)]
struct Ledger {
    next_id: u64,
    confirmed: HashSet<u64>,
    deliveries: HashMap<u64, Vec<Instant>>,
    acked_at: HashMap<u64, Instant>,
}

async fn connect(uri: &str) -> Option<Connection> {
    tokio::time::timeout(
        Duration::from_secs(5),
        Connection::connect(uri, ConnectionProperties::default()),
    )
    .await
    .ok()?
    .ok()
}

async fn publisher(uri: String, ledger: Arc<Mutex<Ledger>>) {
    let Some(conn) = connect(&uri).await else {
        return;
    };
    let Ok(ch) = conn.create_channel().await else {
        return;
    };
    if ch
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .is_err()
    {
        return;
    }
    let props = BasicProperties::default().with_delivery_mode(2);
    loop {
        let id = {
            let mut l = ledger.lock();
            l.next_id += 1;
            l.next_id
        };
        let Ok(confirm) = ch
            .basic_publish(
                "".into(),
                QUEUE.into(),
                BasicPublishOptions::default(),
                &id.to_be_bytes(),
                props.clone(),
            )
            .await
        else {
            return;
        };
        match confirm.await {
            Ok(c) if c.is_ack() => {
                ledger.lock().confirmed.insert(id);
            }
            _ => return,
        }
    }
}

/// Publishes in transactions of ten; a message counts as confirmed once its
/// tx.commit-ok has arrived.
async fn tx_publisher(uri: String, ledger: Arc<Mutex<Ledger>>) {
    let Some(conn) = connect(&uri).await else {
        return;
    };
    let Ok(ch) = conn.create_channel().await else {
        return;
    };
    if ch.tx_select().await.is_err() {
        return;
    }
    let props = BasicProperties::default().with_delivery_mode(2);
    loop {
        let ids: Vec<u64> = {
            let mut l = ledger.lock();
            (0..10)
                .map(|_| {
                    l.next_id += 1;
                    l.next_id
                })
                .collect()
        };
        for id in &ids {
            let published = ch
                .basic_publish(
                    "".into(),
                    QUEUE.into(),
                    BasicPublishOptions::default(),
                    &id.to_be_bytes(),
                    props.clone(),
                )
                .await;
            if published.is_err() {
                return;
            }
        }
        if ch.tx_commit().await.is_err() {
            return;
        }
        ledger.lock().confirmed.extend(ids);
    }
}

async fn consumer(uri: String, ledger: Arc<Mutex<Ledger>>) {
    let Some(conn) = connect(&uri).await else {
        return;
    };
    let Ok(ch) = conn.create_channel().await else {
        return;
    };
    let _ = ch.basic_qos(50, BasicQosOptions::default()).await;
    let Ok(mut deliveries) = ch
        .basic_consume(
            QUEUE.into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
    else {
        return;
    };
    while let Some(Ok(d)) = deliveries.next().await {
        let id = u64::from_be_bytes(d.data[..8].try_into().expect("8-byte id"));
        ledger
            .lock()
            .deliveries
            .entry(id)
            .or_default()
            .push(Instant::now());
        if d.ack(BasicAckOptions::default()).await.is_err() {
            return;
        }
        ledger
            .lock()
            .acked_at
            .entry(id)
            .or_insert_with(Instant::now);
    }
}

async fn declare_queue(uri: &str) {
    let conn = connect(uri).await.expect("connect");
    let ch = conn.create_channel().await.expect("channel");
    let opts = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    ch.queue_declare(QUEUE.into(), opts, FieldTable::default())
        .await
        .expect("declare");
    let _ = conn.close(200, "ok".into()).await;
}

/// Takes every message left in the queue with basic.get until it is empty.
async fn drain(uri: &str, ledger: &Mutex<Ledger>) -> usize {
    let conn = connect(uri).await.expect("connect");
    let ch = conn.create_channel().await.expect("channel");
    let mut n = 0;
    while let Some(msg) = ch
        .basic_get(QUEUE.into(), BasicGetOptions { no_ack: true })
        .await
        .expect("get")
    {
        let id = u64::from_be_bytes(msg.delivery.data[..8].try_into().expect("id"));
        ledger
            .lock()
            .deliveries
            .entry(id)
            .or_default()
            .push(Instant::now());
        n += 1;
    }
    let _ = conn.close(200, "ok".into()).await;
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirmed_messages_survive_twenty_sigkills() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    let mut kills = Vec::new();
    for cycle in 0..20 {
        let broker = start(dir.path());
        let uri = broker.uri();
        if cycle == 0 {
            declare_queue(&uri).await;
        }
        let mut tasks = Vec::new();
        for _ in 0..2 {
            tasks.push(tokio::spawn(publisher(uri.clone(), ledger.clone())));
        }
        tasks.push(tokio::spawn(tx_publisher(uri.clone(), ledger.clone())));
        tasks.push(tokio::spawn(consumer(uri.clone(), ledger.clone())));
        // The kill lands at a random point of the load (this is the chaos, not
        // a synchronisation: nothing waits for it).
        tokio::time::sleep(Duration::from_millis(rng.random_range(80..400))).await;
        broker.kill("-KILL");
        kills.push(Instant::now());
        for t in tasks {
            t.abort();
        }
    }
    let broker = start(dir.path());
    let left = drain(&broker.uri(), &ledger).await;
    broker.kill("-TERM");

    let l = ledger.lock();
    assert!(
        l.confirmed.len() > 200,
        "enough load ran: {} confirmed",
        l.confirmed.len()
    );
    let lost: Vec<&u64> = l
        .confirmed
        .iter()
        .filter(|id| !l.deliveries.contains_key(id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} confirmed messages lost, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    // A message may come back only if its ack could still have been in flight
    // at a kill: never after a kill that came well after the ack.
    for (id, acked) in &l.acked_at {
        for delivered in &l.deliveries[id] {
            let settled_kill = kills
                .iter()
                .find(|k| **k > *acked + ACK_SETTLE && **k < *delivered);
            assert!(
                settled_kill.is_none(),
                "message {id} came back after a kill long after it was acked"
            );
        }
    }
    eprintln!(
        "{} confirmed, {} distinct delivered, {} left at the end, {} redelivered",
        l.confirmed.len(),
        l.deliveries.len(),
        left,
        l.deliveries.values().filter(|d| d.len() > 1).count()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_and_torn_segments_are_reported_and_the_rest_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path());
    declare_queue(&broker.uri()).await;
    {
        let conn = connect(&broker.uri()).await.unwrap();
        let ch = conn.create_channel().await.unwrap();
        ch.confirm_select(ConfirmSelectOptions::default())
            .await
            .unwrap();
        let props = BasicProperties::default().with_delivery_mode(2);
        for id in 0..200u64 {
            let body = [id.to_be_bytes().to_vec(), vec![0xAB; 500]].concat();
            let c = ch
                .basic_publish(
                    "".into(),
                    QUEUE.into(),
                    BasicPublishOptions::default(),
                    &body,
                    props.clone(),
                )
                .await
                .unwrap();
            assert!(c.await.unwrap().is_ack());
        }
    }
    broker.kill("-TERM");
    let segment = find_segment(dir.path());
    let mut bytes = std::fs::read(&segment).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xFF;
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let cut = bytes.len() - rng.random_range(1..400);
    bytes.truncate(cut);
    std::fs::write(&segment, bytes).unwrap();

    let broker = start(dir.path());
    let ledger = Mutex::new(Ledger::default());
    let served = drain(&broker.uri(), &ledger).await;
    let log = broker.log.lock().join("\n");
    broker.kill("-TERM");
    assert_eq!(
        served, 198,
        "all but the flipped and the truncated message are served"
    );
    assert!(
        log.contains(QUEUE) && log.contains("cannot be recovered"),
        "recovery names the queue: {log}"
    );
    assert!(log.contains("offset"), "recovery names the offset: {log}");
}

fn find_segment(dir: &std::path::Path) -> std::path::PathBuf {
    let vhosts = dir.join("vhosts");
    let vhost = std::fs::read_dir(&vhosts)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut segs: Vec<_> = std::fs::read_dir(vhost.join("msgs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    segs.sort();
    segs.pop().expect("a segment")
}
