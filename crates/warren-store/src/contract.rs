//! The [`MessageStore`] contract, one test body run against every
//! implementation ([`SegmentStore`] in a temporary directory, [`MemStore`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::index::Location;
use crate::mem::MemStore;
use crate::message_store::{MessageStore, StoreConfig, SyncListener};
use crate::segment::{StoredMessage, LEGACY_FORMAT};
use crate::store::SegmentStore;

/// A message with a fresh id from `store`.
pub(crate) fn sample(store: &dyn MessageStore, body: &[u8]) -> StoredMessage {
    StoredMessage {
        id: store.next_id(),
        exchange: Bytes::from_static(b"ex"),
        routing_key: Bytes::from_static(b"rk"),
        format: LEGACY_FORMAT,
        annotations: Some(Bytes::new()),
        content: Bytes::from_static(&[0x10, 0x00, 2]),
        body: Bytes::copy_from_slice(body),
    }
}

/// A listener remembering the highest token it was told.
#[derive(Default)]
pub(crate) struct Told(AtomicU64);

impl Told {
    /// The highest token told so far (0: none).
    pub(crate) fn max(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

impl SyncListener for Told {
    fn synced(&self, token: u64) {
        self.0.fetch_max(token, Ordering::SeqCst);
    }
}

fn eventually(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Runs `body` against a segment store and a memory store.
fn each_store(body: impl Fn(&dyn MessageStore)) {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig {
        segment_size: 4096,
        ..Default::default()
    };
    let (segments, _) = SegmentStore::open(dir.path(), config.clone(), |_| true).unwrap();
    body(&segments);
    segments.close();
    body(&MemStore::new(config));
}

fn queue(name: &str) -> Arc<str> {
    Arc::from(name)
}

#[test]
fn ids_are_fresh() {
    each_store(|store| {
        let a = store.next_id();
        let b = store.next_id();
        assert!(b > a);
    });
}

#[test]
fn read_returns_what_was_persisted_once_written() {
    each_store(|store| {
        let q = queue("q");
        let mut written = Vec::new();
        for i in 0..40u8 {
            // 40 records of ~300 bytes span several 4 KiB segments.
            let m = sample(store, &[i; 300]);
            let at = store.persist(&m, std::slice::from_ref(&q), None);
            written.push((m, at));
        }
        for (m, at) in &written {
            eventually("record written", || store.is_written(*at));
            assert_eq!(&store.read(*at).unwrap(), m);
        }
    });
}

#[test]
fn flush_makes_everything_before_it_written() {
    each_store(|store| {
        let q = queue("q");
        let m = sample(store, b"flushed");
        let at = store.persist(&m, std::slice::from_ref(&q), None);
        store.flush();
        assert!(store.is_written(at));
        assert_eq!(store.read(at).unwrap(), m);
    });
}

#[test]
fn waiters_and_sync_listeners_are_told() {
    each_store(|store| {
        let q = queue("q");
        let told = Arc::new(Told::default());
        let m = sample(store, b"confirm me");
        store.persist(&m, std::slice::from_ref(&q), Some((told.clone(), 1)));
        eventually("persist waiter told", || told.max() >= 1);
        store.sync(told.clone(), 2);
        eventually("sync listener told", || told.max() >= 2);
    });
}

#[test]
fn a_message_lives_until_every_queue_lets_go() {
    each_store(|store| {
        let (a, b) = (queue("a"), queue("b"));
        let m = sample(store, b"shared");
        let at = store.persist(&m, &[a.clone(), b.clone()], None);
        store.delivered(&a, m.id);
        store.ack(&a, m.id, at);
        store.flush();
        assert_eq!(store.read(at).unwrap(), m, "b still holds it");
        store.ack(&b, m.id, at);
        store.flush();
        assert!(store.read(at).is_err(), "acked by both: freed");
    });
}

#[test]
fn deleting_a_queue_frees_its_messages() {
    each_store(|store| {
        let q = queue("doomed");
        let at: Vec<Location> = (0..5u8)
            .map(|i| store.persist(&sample(store, &[i; 10]), std::slice::from_ref(&q), None))
            .collect();
        store.flush();
        assert!(store.read(at[0]).is_ok());
        store.delete_queue(&q, &[]);
        store.flush();
        for at in at {
            assert!(store.read(at).is_err(), "freed with its queue");
        }
    });
}
