//! [`MemStore`]: the [`MessageStore`] contract in memory. A record is written
//! (readable) as soon as it is persisted, waiters are told at once, and a
//! message is freed when the last queue it was persisted for acks it or is
//! deleted. Nothing survives the process: it is for tests, and for swapping
//! in where no data directory is wanted.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::error::{Result, StoreError};
use crate::index::Location;
use crate::message_store::{MessageStore, StoreConfig, SyncListener, Waiter};
use crate::segment::StoredMessage;

/// A stored message and how many queue entries still refer to it.
struct Record {
    message: StoredMessage,
    refs: usize,
}

#[derive(Default)]
struct State {
    /// Records by their location's (segment, offset).
    records: HashMap<(u32, u32), Record>,
    /// Each queue's messages: id to location (and delivered flag).
    queues: HashMap<Arc<str>, HashMap<u64, (Location, bool)>>,
    /// The next record's place, as a 64-bit counter (segment, offset).
    next_slot: u64,
}

impl State {
    /// Drops one reference to the record at `location`, freeing it at zero.
    fn release(&mut self, location: Location) {
        let key = (location.segment, location.offset);
        if let Some(record) = self.records.get_mut(&key) {
            record.refs = record.refs.saturating_sub(1);
            if record.refs == 0 {
                self.records.remove(&key);
            }
        }
    }
}

/// A message store in memory (see the module documentation).
pub struct MemStore {
    config: StoreConfig,
    next_id: AtomicU64,
    state: Mutex<State>,
}

impl MemStore {
    /// An empty store with `config` (only its paging budget matters here).
    pub fn new(config: StoreConfig) -> MemStore {
        MemStore {
            config,
            next_id: AtomicU64::new(1),
            state: Mutex::new(State::default()),
        }
    }

    /// Number of messages held (persisted and not yet freed).
    pub fn messages(&self) -> usize {
        self.state.lock().records.len()
    }

    /// Whether `queue` holds message `id` and has recorded its delivery.
    pub fn was_delivered(&self, queue: &str, id: u64) -> bool {
        self.state
            .lock()
            .queues
            .get(queue)
            .and_then(|q| q.get(&id))
            .is_some_and(|(_, delivered)| *delivered)
    }
}

impl Default for MemStore {
    fn default() -> Self {
        MemStore::new(StoreConfig::default())
    }
}

impl MessageStore for MemStore {
    fn config(&self) -> &StoreConfig {
        &self.config
    }

    fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn persist_expiring(
        &self,
        message: &StoredMessage,
        queues: &[Arc<str>],
        _expiries: &[Option<u64>],
        waiter: Option<Waiter>,
    ) -> Location {
        let mut state = self.state.lock();
        let slot = state.next_slot;
        state.next_slot += 1;
        let location = Location {
            segment: (slot >> 32) as u32,
            offset: slot as u32,
            len: u32::try_from(message.encoded_len()).unwrap_or(u32::MAX),
        };
        for queue in queues {
            state
                .queues
                .entry(queue.clone())
                .or_default()
                .insert(message.id, (location, false));
        }
        let record = Record {
            message: message.clone(),
            refs: queues.len(),
        };
        if record.refs > 0 {
            state
                .records
                .insert((location.segment, location.offset), record);
        }
        drop(state);
        if let Some((listener, token)) = waiter {
            listener.synced(token);
        }
        location
    }

    fn delivered(&self, queue: &Arc<str>, id: u64) {
        let mut state = self.state.lock();
        if let Some(entry) = state.queues.get_mut(queue).and_then(|q| q.get_mut(&id)) {
            entry.1 = true;
        }
    }

    fn ack(&self, queue: &Arc<str>, id: u64, location: Location) {
        let mut state = self.state.lock();
        let held = state.queues.get_mut(queue).and_then(|q| q.remove(&id));
        if held.is_some() {
            state.release(location);
        }
    }

    fn delete_queue(&self, queue: &Arc<str>, locations: &[Location]) {
        let mut state = self.state.lock();
        let held = state.queues.remove(queue).unwrap_or_default();
        for (location, _) in held.into_values() {
            state.release(location);
        }
        for location in locations {
            state.release(*location);
        }
    }

    fn sync(&self, listener: Arc<dyn SyncListener>, token: u64) {
        listener.synced(token);
    }

    fn flush(&self) {}

    fn is_written(&self, _location: Location) -> bool {
        true
    }

    fn read(&self, location: Location) -> Result<StoredMessage> {
        let state = self.state.lock();
        state
            .records
            .get(&(location.segment, location.offset))
            .map(|r| r.message.clone())
            .ok_or(StoreError::NoRecord {
                segment: location.segment,
                offset: location.offset,
            })
    }

    fn close(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::{sample, Told};

    #[test]
    fn listeners_are_told_before_persist_returns() {
        let store = MemStore::default();
        let told = Arc::new(Told::default());
        let q: Arc<str> = Arc::from("q");
        let m = sample(&store, b"x");
        store.persist(&m, std::slice::from_ref(&q), Some((told.clone(), 7)));
        assert_eq!(told.max(), 7);
        store.sync(told.clone(), 9);
        assert_eq!(told.max(), 9);
    }

    #[test]
    fn ack_and_delete_free_messages() {
        let store = MemStore::default();
        let (a, b): (Arc<str>, Arc<str>) = (Arc::from("a"), Arc::from("b"));
        let both = [a.clone(), b.clone()];
        let m1 = sample(&store, b"1");
        let l1 = store.persist(&m1, &both, None);
        let m2 = sample(&store, b"2");
        store.persist(&m2, std::slice::from_ref(&b), None);
        assert_eq!(store.messages(), 2);
        store.delivered(&a, m1.id);
        assert!(store.was_delivered("a", m1.id));
        store.ack(&a, m1.id, l1);
        store.ack(&a, m1.id, l1); // a second ack of the same entry is ignored
        assert_eq!(store.messages(), 2, "b still holds message 1");
        store.delete_queue(&b, &[]);
        assert_eq!(store.messages(), 0);
    }
}
