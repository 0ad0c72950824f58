//! The definitions store: vhosts, users, permissions, durable exchanges and
//! queues, bindings and policies, each kept as a JSON document (RabbitMQ's
//! definitions format) in a redb table. Every change is one transaction, so
//! declaring one more durable queue costs the same with 10 or 100,000 others.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde_json::Value;

use crate::error::{Result, StoreError};

/// The kinds of definitions, one redb table each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Virtual hosts, keyed by name.
    VHost,
    /// Users, keyed by name.
    User,
    /// Permissions, keyed by user and vhost.
    Permission,
    /// Topic permissions, keyed by user, vhost and exchange.
    TopicPermission,
    /// Durable exchanges, keyed by vhost and name.
    Exchange,
    /// Durable queues, keyed by vhost and name.
    Queue,
    /// Bindings between durable entities, keyed by all their parts.
    Binding,
    /// Policies, keyed by vhost and name.
    Policy,
    /// Broker-wide values (e.g. a format version).
    Meta,
}

impl Kind {
    fn table(self) -> TableDefinition<'static, &'static str, &'static str> {
        TableDefinition::new(match self {
            Kind::VHost => "vhosts",
            Kind::User => "users",
            Kind::Permission => "permissions",
            Kind::TopicPermission => "topic_permissions",
            Kind::Exchange => "exchanges",
            Kind::Queue => "queues",
            Kind::Binding => "bindings",
            Kind::Policy => "policies",
            Kind::Meta => "meta",
        })
    }

    /// Every kind.
    pub const ALL: [Kind; 9] = [
        Kind::VHost,
        Kind::User,
        Kind::Permission,
        Kind::TopicPermission,
        Kind::Exchange,
        Kind::Queue,
        Kind::Binding,
        Kind::Policy,
        Kind::Meta,
    ];
}

/// Builds a key from parts; the separator cannot occur in AMQP short strings
/// as produced by clients in practice, and keys are only compared whole or by
/// prefix.
pub fn key(parts: &[&str]) -> String {
    parts.join("\u{0}")
}

fn db_error(e: impl std::fmt::Display) -> StoreError {
    StoreError::Definitions(e.to_string())
}

/// The definitions database.
pub struct Definitions {
    db: Database,
}

impl Definitions {
    /// Opens (creating if needed) `path`.
    pub fn open(path: &Path) -> Result<Definitions> {
        let db = Database::create(path).map_err(db_error)?;
        let txn = db.begin_write().map_err(db_error)?;
        for kind in Kind::ALL {
            txn.open_table(kind.table()).map_err(db_error)?;
        }
        txn.commit().map_err(db_error)?;
        Ok(Definitions { db })
    }

    /// Stores (or replaces) one definition.
    pub fn put(&self, kind: Kind, key: &str, value: &Value) -> Result<()> {
        let text = value.to_string();
        let txn = self.db.begin_write().map_err(db_error)?;
        {
            let mut table = txn.open_table(kind.table()).map_err(db_error)?;
            table.insert(key, text.as_str()).map_err(db_error)?;
        }
        txn.commit().map_err(db_error)
    }

    /// Removes one definition (no error if absent).
    pub fn delete(&self, kind: Kind, key: &str) -> Result<()> {
        let txn = self.db.begin_write().map_err(db_error)?;
        {
            let mut table = txn.open_table(kind.table()).map_err(db_error)?;
            table.remove(key).map_err(db_error)?;
        }
        txn.commit().map_err(db_error)
    }

    /// Removes, in one transaction, every definition of each kind whose key
    /// starts with the matching prefix (e.g. a deleted queue's bindings).
    pub fn delete_prefixes(&self, doomed: &[(Kind, String)]) -> Result<()> {
        let txn = self.db.begin_write().map_err(db_error)?;
        for (kind, prefix) in doomed {
            let mut table = txn.open_table(kind.table()).map_err(db_error)?;
            let keys: Vec<String> = table
                .range(prefix.as_str()..)
                .map_err(db_error)?
                .map_while(|item| item.ok())
                .map(|(k, _)| k.value().to_string())
                .take_while(|k| k.starts_with(prefix.as_str()))
                .collect();
            for k in keys {
                table.remove(k.as_str()).map_err(db_error)?;
            }
        }
        txn.commit().map_err(db_error)
    }

    /// Every definition of a kind, with its key, in key order.
    pub fn all(&self, kind: Kind) -> Result<Vec<(String, Value)>> {
        let txn = self.db.begin_read().map_err(db_error)?;
        let table = txn.open_table(kind.table()).map_err(db_error)?;
        let mut out = Vec::new();
        for item in table.iter().map_err(db_error)? {
            let (k, v) = item.map_err(db_error)?;
            let value: Value = serde_json::from_str(v.value())
                .map_err(|e| StoreError::Definitions(format!("{kind:?} '{}': {e}", k.value())))?;
            out.push((k.value().to_string(), value));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn put_delete_prefix_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("defs.redb");
        {
            let defs = Definitions::open(&path).unwrap();
            defs.put(
                Kind::Queue,
                &key(&["/", "q1"]),
                &json!({"name": "q1", "durable": true}),
            )
            .unwrap();
            defs.put(Kind::Queue, &key(&["/", "q2"]), &json!({"name": "q2"}))
                .unwrap();
            defs.put(
                Kind::Binding,
                &key(&["/", "ex", "queue", "q1", "rk"]),
                &json!({"source": "ex"}),
            )
            .unwrap();
            defs.put(
                Kind::Binding,
                &key(&["/", "ex", "queue", "q10", "rk"]),
                &json!({"source": "ex"}),
            )
            .unwrap();
            defs.delete(Kind::Queue, &key(&["/", "q2"])).unwrap();
            defs.delete_prefixes(&[(Kind::Binding, key(&["/", "ex", "queue", "q1", ""]))])
                .unwrap();
        }
        let defs = Definitions::open(&path).unwrap();
        let queues = defs.all(Kind::Queue).unwrap();
        assert_eq!(queues.len(), 1);
        assert_eq!(queues[0].1["name"], "q1");
        let bindings = defs.all(Kind::Binding).unwrap();
        assert_eq!(
            bindings.len(),
            1,
            "only q1's binding was removed, not q10's"
        );
    }
}
