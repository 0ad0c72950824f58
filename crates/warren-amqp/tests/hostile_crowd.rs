//! Hostile neighbours: 2,000 idle, fully opened connections and one client
//! that keeps sending random garbage must not disturb a publisher/consumer
//! pair on the same broker. Every message arrives, in order, confirmed; the
//! pair and the idle crowd stay connected; only the garbage client is closed.

mod common;
mod raw;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use common::{eventually, within, TestBroker, TIMEOUT};
use futures_lite::StreamExt;
use lapin::options::*;
use lapin::types::FieldTable;
use lapin::{BasicProperties, Confirmation};
use rand::{Rng, SeedableRng};
use raw::{pipelined_handshake, RawClient, Tune, HEADER};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

/// Idle connections the broker must hold.
const IDLE: usize = 2_000;
/// Handshakes in flight at once while the crowd gathers (below the listen backlog).
const WAVE: usize = 100;
/// Messages the pair exchanges.
const MESSAGES: usize = 5_000;
/// Descriptors the test process needs: both ends of every socket, plus slack.
const FDS_NEEDED: u64 = 2 * IDLE as u64 + 200;

/// Raises the soft RLIMIT_NOFILE to the hard limit if it is below `want`
/// (and the hard limit too, which only a privileged process may); false if
/// the process still may not open `want` descriptors.
fn raise_fd_limit(want: u64) -> bool {
    warren_core::sys::raise_file_limit(want) >= want
}

/// Opens `IDLE` connections (heartbeat 0, so they may sit silent for ever).
async fn gather_crowd(broker: &Arc<TestBroker>) -> Vec<RawClient> {
    let mut crowd = Vec::with_capacity(IDLE);
    while crowd.len() < IDLE {
        let mut wave = JoinSet::new();
        for _ in 0..WAVE.min(IDLE - crowd.len()) {
            let broker = broker.clone();
            wave.spawn(async move { RawClient::open_pipelined(&broker, Tune::default()).await });
        }
        while let Some(client) = wave.join_next().await {
            crowd.push(client.expect("idle client opened"));
        }
    }
    crowd
}

/// How a garbage round starts before the garbage.
#[derive(Clone, Copy, Debug)]
enum Opening {
    /// Garbage instead of the protocol header.
    Nothing,
    /// The protocol header, then garbage where start-ok belongs.
    Header,
    /// A whole handshake, then garbage instead of frames.
    Handshake,
}

/// Connects, sends `opening` and then random bytes until the broker closes
/// the socket; true once it has.
async fn garbage_round(addr: SocketAddr, opening: Opening, rng: &mut rand::rngs::StdRng) -> bool {
    let Ok(mut stream) = TcpStream::connect(addr).await else {
        return false;
    };
    let prefix = match opening {
        Opening::Nothing => Vec::new(),
        Opening::Header => HEADER.to_vec(),
        Opening::Handshake => pipelined_handshake(Tune::default()),
    };
    let mut chunks: Vec<Vec<u8>> = (0..64)
        .map(|_| {
            let len = rng.random_range(1..2048);
            (0..len).map(|_| rng.random::<u8>()).collect()
        })
        .collect();
    chunks[0].splice(0..0, prefix);
    let (mut rd, mut wr) = stream.split();
    let closed = async {
        let mut sink = [0u8; 4096];
        loop {
            match rd.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    let spray = async {
        for chunk in chunks.iter().cycle() {
            if wr.write_all(chunk).await.is_err() {
                return;
            }
            tokio::task::yield_now().await;
        }
    };
    tokio::pin!(closed);
    let outcome = tokio::time::timeout(TIMEOUT, async {
        tokio::select! {
            () = &mut closed => {}
            () = spray => closed.await,
        }
    })
    .await;
    outcome.is_ok()
}

/// Runs garbage rounds until `stop`; returns how many times the broker closed it.
async fn garbage_client(addr: SocketAddr, stop: Arc<AtomicBool>, closes: Arc<AtomicUsize>) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    let openings = [Opening::Nothing, Opening::Header, Opening::Handshake];
    let mut round = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let opening = openings[round % openings.len()];
        assert!(
            garbage_round(addr, opening, &mut rng).await,
            "the broker did not close a garbage client ({opening:?}) within {TIMEOUT:?}"
        );
        closes.fetch_add(1, Ordering::Relaxed);
        round += 1;
    }
}

/// Publishes `MESSAGES` numbered messages with confirms; all must be acked.
async fn publish_all(conn: &lapin::Connection) {
    let ch = within(conn.create_channel()).await.unwrap();
    within(ch.confirm_select(ConfirmSelectOptions::default()))
        .await
        .unwrap();
    let mut confirms = Vec::with_capacity(MESSAGES);
    for i in 0..MESSAGES {
        let confirm = within(ch.basic_publish(
            "".into(),
            "pair".into(),
            BasicPublishOptions::default(),
            i.to_string().as_bytes(),
            BasicProperties::default(),
        ))
        .await
        .unwrap();
        confirms.push(confirm);
    }
    for (i, confirm) in confirms.into_iter().enumerate() {
        assert_eq!(
            within(confirm).await.unwrap(),
            Confirmation::Ack(None),
            "message {i}"
        );
    }
}

/// Consumes `MESSAGES` messages, checking they come in publish order.
async fn consume_all(mut consumer: lapin::Consumer) {
    for i in 0..MESSAGES {
        let delivery = within(consumer.next())
            .await
            .expect("consumer stream ended")
            .expect("delivery");
        assert_eq!(delivery.data, i.to_string().as_bytes(), "out of order");
        within(delivery.ack(BasicAckOptions::default()))
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_crowd_and_garbage_do_not_disturb_a_publishing_pair() {
    if !raise_fd_limit(FDS_NEEDED) {
        println!("skipped: RLIMIT_NOFILE hard limit is below the {FDS_NEEDED} descriptors needed");
        return;
    }
    let broker = Arc::new(TestBroker::start().await);
    let started = Instant::now();
    let mut crowd = gather_crowd(&broker).await;
    eventually(|| broker.broker.registry.connections().len() == IDLE).await;
    let gathered = started.elapsed();

    let publisher = broker.lapin().await;
    let consumer_conn = broker.lapin().await;
    let consumer_ch = within(consumer_conn.create_channel()).await.unwrap();
    within(consumer_ch.queue_declare(
        "pair".into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    within(consumer_ch.basic_qos(500, BasicQosOptions::default()))
        .await
        .unwrap();
    let consumer = within(consumer_ch.basic_consume(
        "pair".into(),
        "pair-consumer".into(),
        BasicConsumeOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let closes = Arc::new(AtomicUsize::new(0));
    let garbage = tokio::spawn(garbage_client(broker.addr, stop.clone(), closes.clone()));
    // Let the garbage client get going before the pair starts.
    eventually(|| closes.load(Ordering::Relaxed) >= 2).await;

    let exchange_started = Instant::now();
    tokio::join!(publish_all(&publisher), consume_all(consumer));
    let exchanged = exchange_started.elapsed();
    stop.store(true, Ordering::Relaxed);
    within(garbage).await.expect("garbage client");
    let garbage_closes = closes.load(Ordering::Relaxed);
    assert!(
        garbage_closes >= 3,
        "garbage client closed {garbage_closes} times"
    );

    assert!(publisher.status().connected(), "publisher disconnected");
    assert!(consumer_conn.status().connected(), "consumer disconnected");
    assert!(consumer_ch.status().connected(), "consumer channel closed");
    // Only the crowd and the pair remain: every garbage connection is gone.
    eventually(|| broker.broker.registry.connections().len() == IDLE + 2).await;
    // The crowd is still open and was sent nothing (heartbeats are off).
    let mut probe = [0u8; 1];
    for (i, client) in crowd.iter_mut().enumerate() {
        match client.stream.try_read(&mut probe) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            other => panic!("idle connection {i} disturbed: {other:?}"),
        }
    }
    println!(
        "{IDLE} idle connections opened in {gathered:?}; {MESSAGES} messages exchanged in \
         {exchanged:?} while the garbage client was closed {garbage_closes} times"
    );
    drop(crowd);
    drop(publisher);
    drop(consumer_conn);
    match Arc::try_unwrap(broker) {
        Ok(broker) => within(broker.shutdown()).await,
        Err(_) => panic!("broker still shared"),
    }
}
