//! Starting a broker from its data directory: stored definitions are imported,
//! every vhost's message store is opened and the persistent messages of its
//! durable queues are put back (delivered ones flagged redelivered). From then
//! on every change to durable state is written as it happens.

use std::path::Path;
use std::sync::Arc;

use warren_store::{MessageStore, StoreConfig, StoreError};

use crate::broker::{Broker, BrokerConfig};
use crate::clock::Clock;
use crate::definitions;
use crate::message::Message;
use crate::persistence::Persistence;
use crate::queue::{QueuedMessage, Stored};
use crate::vhost::VHost;

impl Broker {
    /// Opens a persistent broker on `dir` (created if needed). A second broker
    /// on the same directory is refused ([`StoreError::Locked`]).
    pub fn open(config: BrokerConfig, dir: &Path) -> Result<Arc<Broker>, StoreError> {
        Self::open_with(config, dir, StoreConfig::default())
    }

    /// [`Broker::open`] with explicit message-store settings.
    pub fn open_with(
        config: BrokerConfig,
        dir: &Path,
        store_config: StoreConfig,
    ) -> Result<Arc<Broker>, StoreError> {
        Self::open_on(Broker::new(config), dir, store_config)
    }

    /// [`Broker::open_with`] on `clock` (tests drive time by hand; stored
    /// message expiries are read against its wall time).
    pub fn open_with_clock(
        config: BrokerConfig,
        dir: &Path,
        store_config: StoreConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Broker>, StoreError> {
        Self::open_on(Broker::with_clock(config, clock), dir, store_config)
    }

    fn open_on(
        broker: Arc<Broker>,
        dir: &Path,
        store_config: StoreConfig,
    ) -> Result<Arc<Broker>, StoreError> {
        let persistence = Persistence::open(dir, store_config)?;
        persistence.set_memory_high(broker.alarms.paging_advice());
        broker.alarms.set_data_dir(dir);
        if let Some(defs) = persistence.load()? {
            broker.forget_defaults_not_in(&defs);
            definitions::import(&broker, &defs, None)
                .map_err(|e| StoreError::Definitions(e.to_string()))?;
        }
        let _ = broker.persistence.set(persistence.clone());
        let mut recovered = 0;
        for vhost in broker.vhosts() {
            recovered += recover_vhost(&persistence, &vhost)?;
        }
        let weak = Arc::downgrade(&broker);
        broker.users.changed.set({
            let weak = weak.clone();
            move || {
                if let Some(b) = weak.upgrade() {
                    b.save_access();
                }
            }
        });
        broker.policies_changed.set(move || {
            if let Some(b) = weak.upgrade() {
                b.save_access();
            }
        });
        broker.save_access();
        tracing::info!(
            "recovered {recovered} persistent messages from {}",
            dir.display()
        );
        Ok(broker)
    }

    /// On a restart, the stored users and vhosts replace the built-in defaults:
    /// an operator who deleted guest does not get it back.
    fn forget_defaults_not_in(&self, defs: &definitions::Definitions) {
        let user = &self.config.default_user;
        if !defs.users.iter().any(|u| &u.name == user) {
            let _ = self.users.delete_user(user);
        }
        let vhost = &self.config.default_vhost;
        if !defs.vhosts.iter().any(|v| &v.name == vhost) {
            let _ = self.delete_vhost(vhost);
        }
    }

    /// Called when a vhost is created at run time.
    pub(crate) fn vhost_created(&self, vhost: &Arc<VHost>) {
        if let Some(p) = self.persistence.get() {
            if let Err(e) = recover_vhost(p, vhost) {
                tracing::error!(
                    "cannot open the message store of vhost '{}': {e}",
                    vhost.name
                );
            }
            self.save_access();
        }
    }

    /// Rewrites the stored users, vhosts, permissions, policies and vhost
    /// limits.
    pub(crate) fn save_access(&self) {
        if let Some(p) = self.persistence.get() {
            let mut defs = definitions::Definitions::default();
            definitions::apply::export_access(self, &mut defs);
            defs.policies = self.policies(None);
            defs.parameters = definitions::parameters::export_vhost_limits(self, None);
            p.save_access(&defs);
        }
    }

    /// Syncs and closes the message stores (clean shutdown).
    pub fn close(&self) {
        if let Some(p) = self.persistence.get() {
            p.close();
        }
    }
}

/// Opens a vhost's store and puts its durable queues' messages back.
fn recover_vhost(persistence: &Arc<Persistence>, vhost: &Arc<VHost>) -> Result<usize, StoreError> {
    let durable: Vec<String> = vhost
        .queues()
        .iter()
        .filter(|q| q.options.durable && q.options.exclusive_owner.is_none())
        .map(|q| q.name.to_string())
        .collect();
    let (store, mut recovered) = persistence.open_store(&vhost.name, &durable)?;
    for problem in &recovered.problems {
        tracing::warn!(vhost = %vhost.name, "recovery: {problem}");
    }
    vhost.attach_persistence(persistence.clone());
    let mut count = 0;
    for queue in vhost.queues() {
        if !durable.iter().any(|d| **d == *queue.name) {
            queue.attach_paging(store.clone(), persistence.memory_high());
            continue;
        }
        queue.attach_store(store.clone(), persistence.memory_high());
        let entries = recovered.queues.remove(&*queue.name).unwrap_or_default();
        let messages = read_back(store.as_ref(), &vhost.name, &queue.name, entries);
        count += messages.len();
        queue.restore(messages);
    }
    Ok(count)
}

fn read_back(
    store: &dyn MessageStore,
    vhost: &str,
    queue: &Arc<str>,
    entries: Vec<warren_store::RecoveredEntry>,
) -> Vec<(QueuedMessage, warren_store::Expiry)> {
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        match store.read(entry.location) {
            Ok(m) => out.push((
                QueuedMessage {
                    seq: 0,
                    message: Arc::new(Message::from_record(m)),
                    redelivered: entry.delivered,
                    stored: Some(Stored {
                        id: entry.id,
                        location: entry.location,
                    }),
                    expires_at: None,
                    priority: 0,
                },
                entry.expiry,
            )),
            Err(e) => {
                tracing::error!(vhost, queue = %queue, "message {} cannot be recovered and is dropped: {e}", entry.id);
                store.ack(queue, entry.id, entry.location);
            }
        }
    }
    out
}
