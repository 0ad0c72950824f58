//! The message store against real files: persistence across reopen, acks,
//! group commit, segment reclamation, torn and corrupt records.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use warren_store::{
    Location, MessageStore, SegmentStore, StoreConfig, StoredMessage, SyncListener,
};

fn message(store: &SegmentStore, body: &[u8]) -> StoredMessage {
    StoredMessage {
        id: store.next_id(),
        exchange: Bytes::from_static(b"ex"),
        routing_key: Bytes::from_static(b"rk"),
        format: warren_store::LEGACY_FORMAT,
        annotations: Some(Bytes::new()),
        content: Bytes::from_static(&[0x10, 0x00, 2]),
        body: Bytes::copy_from_slice(body),
    }
}

fn small_segments() -> StoreConfig {
    StoreConfig {
        segment_size: 4096,
        ..Default::default()
    }
}

#[derive(Default)]
struct Synced(AtomicU64);

impl SyncListener for Synced {
    fn synced(&self, token: u64) {
        self.0.fetch_max(token, Ordering::SeqCst);
    }
}

fn wait_for(cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn segment_count(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join("msgs")).unwrap().count()
}

#[test]
fn persisted_messages_survive_reopen_acked_ones_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let q: Arc<str> = Arc::from("q1");
    let mut locations = Vec::new();
    {
        let (store, recovered) =
            SegmentStore::open(dir.path(), small_segments(), |_| true).unwrap();
        assert!(recovered.queues.is_empty());
        for i in 0..10u8 {
            let m = message(&store, &[i; 100]);
            locations.push((m.id, store.persist(&m, std::slice::from_ref(&q), None)));
        }
        store.delivered(&q, locations[1].0);
        store.ack(&q, locations[0].0, locations[0].1);
        store.close();
    }
    let (store, recovered) = SegmentStore::open(dir.path(), small_segments(), |_| true).unwrap();
    let entries = &recovered.queues["q1"];
    assert_eq!(entries.len(), 9);
    assert_eq!(entries[0].id, locations[1].0);
    assert!(entries[0].delivered);
    assert!(!entries[1].delivered);
    let back = store.read(entries[8].location).unwrap();
    assert_eq!(&back.body[..], &[9u8; 100]);
    assert_eq!(&back.routing_key[..], b"rk");
    let fresh = store.next_id();
    assert!(fresh > locations[9].0, "ids continue after recovery");
}

#[test]
fn one_message_for_many_queues_is_written_once() {
    let dir = tempfile::tempdir().unwrap();
    let queues: Vec<Arc<str>> = (0..5)
        .map(|i| Arc::from(format!("q{i}").as_str()))
        .collect();
    let (store, _) = SegmentStore::open(dir.path(), StoreConfig::default(), |_| true).unwrap();
    let m = message(&store, &[1; 10_000]);
    store.persist(&m, &queues, None);
    store.flush();
    let size: u64 = std::fs::read_dir(dir.path().join("msgs"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(
        size < 11_000,
        "segment holds the body once, got {size} bytes"
    );
    store.close();
    let (_, recovered) = SegmentStore::open(dir.path(), StoreConfig::default(), |_| true).unwrap();
    assert_eq!(recovered.queues.len(), 5);
    assert!(recovered
        .queues
        .values()
        .all(|e| e.len() == 1 && e[0].id == m.id));
}

#[test]
fn confirm_waiters_are_told_after_sync_in_batches() {
    let dir = tempfile::tempdir().unwrap();
    let q: Arc<str> = Arc::from("q");
    let (store, _) = SegmentStore::open(dir.path(), StoreConfig::default(), |_| true).unwrap();
    let listener = Arc::new(Synced::default());
    for token in 1..=1000u64 {
        let m = message(&store, b"payload");
        store.persist(
            &m,
            std::slice::from_ref(&q),
            Some((listener.clone(), token)),
        );
    }
    wait_for(|| listener.0.load(Ordering::SeqCst) == 1000);
}

#[test]
fn drained_backlog_reclaims_segments() {
    let dir = tempfile::tempdir().unwrap();
    let q: Arc<str> = Arc::from("q");
    let (store, _) = SegmentStore::open(dir.path(), small_segments(), |_| true).unwrap();
    let stored: Vec<(u64, Location)> = (0..500)
        .map(|_| {
            let m = message(&store, &[0; 200]);
            (m.id, store.persist(&m, std::slice::from_ref(&q), None))
        })
        .collect();
    store.flush();
    assert!(segment_count(dir.path()) > 20);
    for (id, loc) in &stored {
        store.ack(&q, *id, *loc);
    }
    // Drained segments, the last (active) one included, are deleted.
    store.flush();
    wait_for(|| segment_count(dir.path()) == 0);
    // And the store goes on writing to a fresh segment afterwards.
    let m = message(&store, &[0; 100]);
    let loc = store.persist(&m, std::slice::from_ref(&q), None);
    store.flush();
    assert_eq!(&store.read(loc).unwrap().body[..], &[0; 100]);
}

#[test]
fn deleted_queue_releases_its_segments_and_index() {
    let dir = tempfile::tempdir().unwrap();
    let q: Arc<str> = Arc::from("gone");
    {
        let (store, _) = SegmentStore::open(dir.path(), small_segments(), |_| true).unwrap();
        let locs: Vec<Location> = (0..50)
            .map(|_| store.persist(&message(&store, &[0; 300]), std::slice::from_ref(&q), None))
            .collect();
        store.delete_queue(&q, &locs);
        store.close();
    }
    let (_, recovered) = SegmentStore::open(dir.path(), small_segments(), |_| true).unwrap();
    assert!(recovered.queues.is_empty());
    assert_eq!(segment_count(dir.path()), 0);
}

#[test]
fn queues_not_kept_are_dropped_on_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (store, _) = SegmentStore::open(dir.path(), StoreConfig::default(), |_| true).unwrap();
        for name in ["keep", "drop"] {
            let q: Arc<str> = Arc::from(name);
            store.persist(&message(&store, b"x"), std::slice::from_ref(&q), None);
        }
        store.close();
    }
    let (_, recovered) =
        SegmentStore::open(dir.path(), StoreConfig::default(), |q| q == "keep").unwrap();
    assert_eq!(recovered.queues.keys().collect::<Vec<_>>(), vec!["keep"]);
    let (_, again) = SegmentStore::open(dir.path(), StoreConfig::default(), |_| true).unwrap();
    assert_eq!(again.queues.len(), 1);
}

#[test]
fn torn_index_tail_and_corrupt_segment_are_reported_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let q: Arc<str> = Arc::from("q");
    let locs: Vec<Location> = {
        let (store, _) = SegmentStore::open(dir.path(), StoreConfig::default(), |_| true).unwrap();
        let locs = (0..20u8)
            .map(|i| store.persist(&message(&store, &[i; 64]), std::slice::from_ref(&q), None))
            .collect();
        store.close();
        locs
    };
    // Tear the index's last record and flip a byte inside message 5's body.
    let idx = std::fs::read_dir(dir.path().join("queues"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let len = std::fs::metadata(&idx).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&idx)
        .unwrap()
        .set_len(len - 5)
        .unwrap();
    let seg = dir
        .path()
        .join("msgs")
        .join(format!("{:010}.seg", locs[5].segment));
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[(locs[5].offset + locs[5].len - 3) as usize] ^= 0xFF;
    std::fs::write(&seg, bytes).unwrap();

    let (store, recovered) =
        SegmentStore::open(dir.path(), StoreConfig::default(), |_| true).unwrap();
    assert!(
        recovered.problems.iter().any(|p| p.contains("torn")),
        "{:?}",
        recovered.problems
    );
    let entries = &recovered.queues["q"];
    assert_eq!(
        entries.len(),
        19,
        "the torn last enqueue is gone, the rest are there"
    );
    let mut corrupt = 0;
    for e in entries {
        match store.read(e.location) {
            Ok(m) => assert_eq!(m.body.len(), 64),
            Err(err) => {
                corrupt += 1;
                assert!(err.to_string().contains("checksum"), "{err}");
            }
        }
    }
    assert_eq!(corrupt, 1);
}

#[test]
fn segments_recovered_from_an_earlier_run_are_reclaimed_once_acked() {
    let dir = tempfile::tempdir().unwrap();
    let q: Arc<str> = Arc::from("q");
    {
        let (store, _) = SegmentStore::open(dir.path(), StoreConfig::default(), |_| true).unwrap();
        for _ in 0..100 {
            store.persist(&message(&store, &[1; 100]), std::slice::from_ref(&q), None);
        }
        store.close();
    }
    let (store, recovered) =
        SegmentStore::open(dir.path(), StoreConfig::default(), |_| true).unwrap();
    assert_eq!(segment_count(dir.path()), 1);
    for e in &recovered.queues["q"] {
        store.ack(&q, e.id, e.location);
    }
    store.flush();
    wait_for(|| segment_count(dir.path()) == 0);
}

#[test]
fn acks_on_a_queue_whose_index_was_evicted_from_the_open_files_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let busy: Arc<str> = Arc::from("busy");
    let (store, _) = SegmentStore::open(dir.path(), StoreConfig::default(), |_| true).unwrap();
    let kept: Vec<(u64, Location)> = (0..3000)
        .map(|_| {
            let m = message(&store, b"x");
            (m.id, store.persist(&m, std::slice::from_ref(&busy), None))
        })
        .collect();
    // Touch more queues than the writer keeps open, so "busy" is closed and
    // later reopened without knowing how many live entries it has.
    for i in 0..400 {
        let q: Arc<str> = Arc::from(format!("other-{i}").as_str());
        store.persist(&message(&store, b"y"), std::slice::from_ref(&q), None);
        store.flush();
    }
    for (id, loc) in &kept[..1500] {
        store.ack(&busy, *id, *loc);
    }
    store.close();
    let (_, recovered) = SegmentStore::open(dir.path(), StoreConfig::default(), |_| true).unwrap();
    assert_eq!(recovered.queues["busy"].len(), 1500);
}
