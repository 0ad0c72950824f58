//! Handing a routed message to its queues: a persistent message going to at
//! least one durable queue is written once to the vhost's message store first
//! (with an index entry per durable queue), then every queue gets the shared
//! `Arc<Message>`.

use std::sync::Arc;

use warren_store::SyncListener;

use crate::message::Message;
use crate::queue::{PublishOutcome, Queue, Stored};

/// What enqueuing did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Enqueued {
    /// A queue refused the message (x-overflow reject-publish).
    pub rejected: bool,
    /// The message was written to disk; a given waiter will be told when it is
    /// synced.
    pub persisted: bool,
}

/// Enqueues `message` on every queue in `queues`. A `waiter` (listener and
/// token) is told once the message is on disk, if it is written at all.
pub fn enqueue(
    queues: &[Arc<Queue>],
    message: &Arc<Message>,
    waiter: Option<(&Arc<dyn SyncListener>, u64)>,
) -> Enqueued {
    let stored = persist(queues, message, waiter);
    let mut rejected = false;
    for queue in queues {
        let stored = stored.filter(|_| queue.store().is_some());
        rejected |= queue.publish_stored(message.clone(), stored) == PublishOutcome::Rejected;
    }
    Enqueued {
        rejected,
        persisted: stored.is_some(),
    }
}

fn persist(
    queues: &[Arc<Queue>],
    message: &Arc<Message>,
    waiter: Option<(&Arc<dyn SyncListener>, u64)>,
) -> Option<Stored> {
    if !message.is_persistent() {
        return None;
    }
    let store = queues.iter().find_map(|q| q.store())?;
    let durable = || queues.iter().filter(|q| q.store().is_some());
    let names: Vec<Arc<str>> = durable().map(|q| q.name.clone()).collect();
    let expiries: Vec<Option<u64>> = durable().map(|q| q.expiry_deadline(message)).collect();
    let record = message.to_record(store.next_id());
    let waiter = waiter.map(|(listener, token)| (listener.clone(), token));
    let location = store.persist_expiring(&record, &names, &expiries, waiter);
    Some(Stored {
        id: record.id,
        location,
    })
}
