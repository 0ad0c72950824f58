//! Durability: what the broker writes to its data directory and reads back at
//! start. Durable exchanges, queues and bindings are stored one record each;
//! users, vhosts, permissions and policies as one access document rewritten on
//! every change (they are few and change rarely). Persistent messages routed to
//! durable queues go to the vhost's [`MessageStore`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use warren_store::definitions::{key, Kind};
use warren_store::{
    DataDirLock, Definitions as DefinitionsDb, MessageStore, Recovered, SegmentStore, StoreConfig,
    StoreError,
};

use crate::definitions::json::table_to_json;
use crate::definitions::{BindingDef, Definitions, ExchangeDef, QueueDef};
use crate::exchange::{Binding, Destination, Exchange};
use crate::queue::Queue;

const ACCESS_KEY: &str = "access";

/// The broker's data directory: lock, definitions database, message stores.
pub struct Persistence {
    dir: PathBuf,
    _lock: DataDirLock,
    db: DefinitionsDb,
    stores: Mutex<HashMap<String, Arc<dyn MessageStore>>>,
    store_config: StoreConfig,
    memory_high: OnceLock<Arc<std::sync::atomic::AtomicBool>>,
}

fn vhost_dir_name(vhost: &str) -> String {
    let digest = Sha256::digest(vhost.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

fn log_failure(what: &str, result: Result<(), StoreError>) {
    if let Err(e) = result {
        tracing::error!("could not persist {what}: {e}");
    }
}

impl Persistence {
    /// Locks `dir` (refusing a second broker) and opens the definitions database.
    pub fn open(dir: &Path, store_config: StoreConfig) -> Result<Arc<Persistence>, StoreError> {
        let lock = DataDirLock::acquire(dir)?;
        let db = DefinitionsDb::open(&dir.join("definitions.redb"))?;
        Ok(Arc::new(Persistence {
            dir: dir.to_path_buf(),
            _lock: lock,
            db,
            stores: Mutex::new(HashMap::new()),
            store_config,
            memory_high: OnceLock::new(),
        }))
    }

    /// Everything stored, as one definitions document; `None` on first start.
    pub fn load(&self) -> Result<Option<Definitions>, StoreError> {
        let access = self
            .db
            .all(Kind::Meta)?
            .into_iter()
            .find(|(k, _)| k == ACCESS_KEY);
        let Some((_, access)) = access else {
            return Ok(None);
        };
        let mut defs: Definitions = serde_json::from_value(access)
            .map_err(|e| StoreError::Definitions(format!("access definitions: {e}")))?;
        defs.exchanges = self.all(Kind::Exchange)?;
        defs.queues = self.all(Kind::Queue)?;
        defs.bindings = self.all(Kind::Binding)?;
        Ok(Some(defs))
    }

    fn all<T: serde::de::DeserializeOwned>(&self, kind: Kind) -> Result<Vec<T>, StoreError> {
        self.db
            .all(kind)?
            .into_iter()
            .map(|(k, v)| {
                serde_json::from_value(v)
                    .map_err(|e| StoreError::Definitions(format!("{kind:?} '{k}': {e}")))
            })
            .collect()
    }

    /// Rewrites the access document (users, vhosts, permissions, topic
    /// permissions, policies) from `defs`.
    pub fn save_access(&self, defs: &Definitions) {
        let mut access = defs.clone();
        access.queues.clear();
        access.exchanges.clear();
        access.bindings.clear();
        match serde_json::to_value(&access) {
            Ok(value) => log_failure(
                "users and vhosts",
                self.db.put(Kind::Meta, ACCESS_KEY, &value),
            ),
            Err(e) => tracing::error!("could not encode access definitions: {e}"),
        }
    }

    /// Stores a durable exchange.
    pub fn save_exchange(&self, vhost: &str, x: &Exchange) {
        let def = ExchangeDef {
            name: x.name.to_string(),
            vhost: Some(vhost.to_string()),
            kind: x.kind.as_str().to_string(),
            durable: true,
            auto_delete: x.options.auto_delete,
            internal: x.options.internal,
            arguments: table_to_json(&x.options.arguments),
        };
        self.put(Kind::Exchange, &key(&[vhost, &x.name]), &def, "exchange");
    }

    /// Forgets an exchange and the bindings from it.
    pub fn forget_exchange(&self, vhost: &str, name: &str) {
        log_failure(
            "exchange deletion",
            self.db.delete(Kind::Exchange, &key(&[vhost, name])),
        );
        log_failure(
            "binding deletion",
            self.db
                .delete_prefixes(&[(Kind::Binding, key(&[vhost, name, ""]))]),
        );
    }

    /// Stores a durable queue.
    pub fn save_queue(&self, q: &Queue) {
        let def = QueueDef {
            name: q.name.to_string(),
            vhost: Some(q.vhost.to_string()),
            durable: true,
            auto_delete: q.options.auto_delete,
            arguments: table_to_json(&q.options.arguments),
            kind: None,
        };
        self.put(Kind::Queue, &key(&[&q.vhost, &q.name]), &def, "queue");
    }

    /// Forgets a queue (its bindings are forgotten binding by binding).
    pub fn forget_queue(&self, vhost: &str, name: &str) {
        log_failure(
            "queue deletion",
            self.db.delete(Kind::Queue, &key(&[vhost, name])),
        );
    }

    fn binding_key(vhost: &str, source: &str, b: &Binding) -> String {
        key(&[
            vhost,
            source,
            b.destination.kind(),
            b.destination.name(),
            &b.routing_key,
            &table_to_json(&b.arguments).to_string(),
        ])
    }

    /// Whether a binding is durable: both ends are.
    pub fn is_durable(source: &Exchange, b: &Binding) -> bool {
        source.options.durable
            && match &b.destination {
                Destination::Queue(q) => q.options.durable && q.options.exclusive_owner.is_none(),
                Destination::Exchange(x) => x.options.durable,
            }
    }

    /// Stores a binding between durable entities.
    pub fn save_binding(&self, vhost: &str, source: &Exchange, b: &Binding) {
        let def = BindingDef {
            source: source.name.to_string(),
            vhost: Some(vhost.to_string()),
            destination: b.destination.name().to_string(),
            destination_type: b.destination.kind().to_string(),
            routing_key: b.routing_key.to_string(),
            arguments: table_to_json(&b.arguments),
        };
        self.put(
            Kind::Binding,
            &Self::binding_key(vhost, &source.name, b),
            &def,
            "binding",
        );
    }

    /// Forgets a binding.
    pub fn forget_binding(&self, vhost: &str, source: &str, b: &Binding) {
        log_failure(
            "binding deletion",
            self.db
                .delete(Kind::Binding, &Self::binding_key(vhost, source, b)),
        );
    }

    fn put<T: serde::Serialize>(&self, kind: Kind, key: &str, def: &T, what: &str) {
        match serde_json::to_value(def) {
            Ok(value) => log_failure(what, self.db.put(kind, key, &value)),
            Err(e) => tracing::error!("could not encode {what}: {e}"),
        }
    }

    /// Opens a vhost's message store (a [`SegmentStore`] in the vhost's
    /// directory), keeping the indexes of `durable_queues`.
    pub fn open_store(
        &self,
        vhost: &str,
        durable_queues: &[String],
    ) -> Result<(Arc<dyn MessageStore>, Recovered), StoreError> {
        let dir = self.dir.join("vhosts").join(vhost_dir_name(vhost));
        let (store, recovered) = SegmentStore::open(&dir, self.store_config.clone(), |q| {
            durable_queues.iter().any(|d| d == q)
        })?;
        let store: Arc<dyn MessageStore> = Arc::new(store);
        self.stores.lock().insert(vhost.to_string(), store.clone());
        Ok((store, recovered))
    }

    /// Shares the broker's "memory runs high" flag with the queues (it lets them
    /// page transient messages out).
    pub fn set_memory_high(&self, flag: Arc<std::sync::atomic::AtomicBool>) {
        let _ = self.memory_high.set(flag);
    }

    /// The broker's "memory runs high" flag, if set.
    pub fn memory_high(&self) -> Option<Arc<std::sync::atomic::AtomicBool>> {
        self.memory_high.get().cloned()
    }

    /// The message store of a vhost opened earlier.
    pub fn store(&self, vhost: &str) -> Option<Arc<dyn MessageStore>> {
        self.stores.lock().get(vhost).cloned()
    }

    /// Forgets a deleted vhost's store and its files.
    pub fn drop_vhost(&self, vhost: &str) {
        if let Some(store) = self.stores.lock().remove(vhost) {
            store.close();
        }
        let dir = self.dir.join("vhosts").join(vhost_dir_name(vhost));
        let _ = std::fs::remove_dir_all(dir);
        log_failure(
            "vhost deletion",
            self.db.delete_prefixes(&[
                (Kind::Exchange, key(&[vhost, ""])),
                (Kind::Queue, key(&[vhost, ""])),
                (Kind::Binding, key(&[vhost, ""])),
            ]),
        );
    }

    /// Syncs and closes every message store.
    pub fn close(&self) {
        for store in self.stores.lock().values() {
            store.close();
        }
    }
}
