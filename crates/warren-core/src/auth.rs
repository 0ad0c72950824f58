//! Users and their credentials. Passwords are stored as RabbitMQ's
//! `rabbit_password_hashing_sha256` does: base64(salt ++ sha256(salt ++ password))
//! with a 4-byte random salt, so hashes exported from RabbitMQ keep working.

use std::collections::HashMap;
use std::net::IpAddr;

use base64::Engine;
use parking_lot::RwLock;
use rand::Rng;
use sha2::{Digest, Sha256};

use crate::error::BrokerError;
use crate::names::{check_name, NameTooLong};
use crate::permissions::{resource_refused, topic_refused};
pub use crate::permissions::{Access, Permission, ResourceKind, TopicPermission};

/// A user account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Login name.
    pub name: String,
    /// base64(salt ++ sha256(salt ++ password)).
    pub password_hash: String,
    /// Tags such as "administrator".
    pub tags: Vec<String>,
}

/// Hashes a password with a fresh salt, RabbitMQ-style.
pub fn hash_password(password: &str) -> String {
    let salt: [u8; 4] = rand::rng().random();
    hash_with_salt(&salt, password)
}

fn hash_with_salt(salt: &[u8], password: &str) -> String {
    let mut digest = Sha256::new();
    digest.update(salt);
    digest.update(password.as_bytes());
    let mut out = salt.to_vec();
    out.extend_from_slice(&digest.finalize());
    base64::engine::general_purpose::STANDARD.encode(out)
}

/// Checks a password against a stored hash.
pub fn check_password(password_hash: &str, password: &str) -> bool {
    let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(password_hash) else {
        return false;
    };
    if raw.len() != 4 + 32 {
        return false;
    }
    hash_with_salt(&raw[..4], password) == password_hash
}

/// The hashing algorithm name RabbitMQ uses in definitions for these hashes.
pub const HASHING_ALGORITHM: &str = "rabbit_password_hashing_sha256";

/// Why a user-management operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    /// No such user.
    #[error("no such user '{0}'")]
    NoSuchUser(String),
    /// A password hash that is not base64 of a 4-byte salt and a SHA-256 digest.
    #[error("invalid password hash for user '{0}'")]
    BadHash(String),
    /// Only rabbit_password_hashing_sha256 is supported.
    #[error("unsupported hashing algorithm '{0}'")]
    UnsupportedAlgorithm(String),
    /// A user name longer than 255 bytes (AMQP could not carry it, e.g. in
    /// a message's user-id property).
    #[error(transparent)]
    NameTooLong(#[from] NameTooLong),
}

/// Users, their vhost permissions and topic permissions.
pub struct Users {
    users: RwLock<HashMap<String, User>>,
    permissions: RwLock<HashMap<(String, String), Permission>>,
    topic_permissions: RwLock<HashMap<(String, String), Vec<TopicPermission>>>,
    loopback_users: Vec<String>,
    /// Run after every change (the broker persists users and permissions).
    pub changed: crate::hook::ChangeHook,
    /// Login attempts per protocol (rabbitmq_auth_attempts_* metrics).
    pub auth_attempts: AuthAttempts,
}

/// Counts of login attempts per protocol ("amqp091", "http"), as RabbitMQ's
/// rabbit_core_metrics auth_attempt_succeeded / auth_attempt_failed.
#[derive(Debug, Default)]
pub struct AuthAttempts {
    counts: parking_lot::Mutex<std::collections::BTreeMap<&'static str, AuthCounts>>,
}

/// Login attempts of one protocol.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuthCounts {
    /// Logins that succeeded.
    pub succeeded: u64,
    /// Logins that failed.
    pub failed: u64,
}

impl AuthAttempts {
    /// Records one login attempt over `protocol`.
    pub fn record(&self, protocol: &'static str, succeeded: bool) {
        let mut counts = self.counts.lock();
        let entry = counts.entry(protocol).or_default();
        if succeeded {
            entry.succeeded += 1;
        } else {
            entry.failed += 1;
        }
    }

    /// Every protocol's counts, by protocol name.
    pub fn snapshot(&self) -> Vec<(&'static str, AuthCounts)> {
        self.counts.lock().iter().map(|(p, c)| (*p, *c)).collect()
    }
}

impl Users {
    /// A user store holding `default_user` with full permissions on `vhost`.
    pub fn with_default(
        default_user: &str,
        default_pass: &str,
        loopback_users: Vec<String>,
    ) -> Self {
        Self::with_default_in(default_user, default_pass, "/", loopback_users)
    }

    /// A user store holding `default_user` (tagged administrator) with full
    /// permissions on `vhost`.
    pub fn with_default_in(
        default_user: &str,
        default_pass: &str,
        vhost: &str,
        loopback_users: Vec<String>,
    ) -> Self {
        let users = Users {
            users: RwLock::new(HashMap::new()),
            permissions: RwLock::new(HashMap::new()),
            topic_permissions: RwLock::new(HashMap::new()),
            loopback_users,
            changed: Default::default(),
            auth_attempts: AuthAttempts::default(),
        };
        users.add_user(default_user, default_pass, vec!["administrator".into()]);
        users.set_permission(default_user, vhost, Permission::full());
        users
    }

    /// Adds or replaces a user with a password to hash, refusing a name
    /// longer than 255 bytes (the HTTP API creates users through this).
    pub fn create_user(
        &self,
        name: &str,
        password: &str,
        tags: Vec<String>,
    ) -> Result<(), UserError> {
        check_name("user", name)?;
        self.add_user(name, password, tags);
        Ok(())
    }

    /// Adds or replaces a user with a password to hash, without checking the
    /// name (the configured default user); see [`Users::create_user`].
    pub fn add_user(&self, name: &str, password: &str, tags: Vec<String>) {
        self.put_user(User {
            name: name.to_string(),
            password_hash: hash_password(password),
            tags,
        });
    }

    /// Adds or replaces a user with a ready-made hash (definitions import, the
    /// HTTP API's `password_hash`). An empty hash makes a passwordless user.
    pub fn add_user_with_hash(
        &self,
        name: &str,
        password_hash: &str,
        algorithm: Option<&str>,
        tags: Vec<String>,
    ) -> Result<(), UserError> {
        check_name("user", name)?;
        if let Some(algo) = algorithm.filter(|a| *a != HASHING_ALGORITHM) {
            return Err(UserError::UnsupportedAlgorithm(algo.to_string()));
        }
        if !password_hash.is_empty() && !valid_hash(password_hash) {
            return Err(UserError::BadHash(name.to_string()));
        }
        self.put_user(User {
            name: name.to_string(),
            password_hash: password_hash.to_string(),
            tags,
        });
        Ok(())
    }

    fn put_user(&self, user: User) {
        self.users.write().insert(user.name.clone(), user);
        self.changed.fire();
    }

    /// Deletes a user and all their permissions.
    pub fn delete_user(&self, name: &str) -> Result<(), UserError> {
        self.users
            .write()
            .remove(name)
            .ok_or_else(|| UserError::NoSuchUser(name.to_string()))?;
        self.permissions.write().retain(|(u, _), _| u != name);
        self.topic_permissions.write().retain(|(u, _), _| u != name);
        self.changed.fire();
        Ok(())
    }

    /// Sets a new password.
    pub fn change_password(&self, name: &str, password: &str) -> Result<(), UserError> {
        {
            let mut users = self.users.write();
            let user = users
                .get_mut(name)
                .ok_or_else(|| UserError::NoSuchUser(name.to_string()))?;
            user.password_hash = hash_password(password);
        }
        self.changed.fire();
        Ok(())
    }

    /// Replaces a user's tags.
    pub fn set_tags(&self, name: &str, tags: Vec<String>) -> Result<(), UserError> {
        {
            let mut users = self.users.write();
            let user = users
                .get_mut(name)
                .ok_or_else(|| UserError::NoSuchUser(name.to_string()))?;
            user.tags = tags;
        }
        self.changed.fire();
        Ok(())
    }

    /// One user.
    pub fn user(&self, name: &str) -> Option<User> {
        self.users.read().get(name).cloned()
    }

    /// All users, by name.
    pub fn list(&self) -> Vec<User> {
        let mut all: Vec<User> = self.users.read().values().cloned().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// Sets a user's permissions in a vhost.
    pub fn set_permission(&self, user: &str, vhost: &str, permission: Permission) {
        self.permissions
            .write()
            .insert((user.to_string(), vhost.to_string()), permission);
        self.changed.fire();
    }

    /// Removes a user's permissions in a vhost; false if there were none.
    pub fn clear_permission(&self, user: &str, vhost: &str) -> bool {
        let removed = self
            .permissions
            .write()
            .remove(&(user.to_string(), vhost.to_string()))
            .is_some();
        self.changed.fire();
        removed
    }

    /// Every (user, vhost, permission), sorted by user then vhost.
    pub fn permissions(&self) -> Vec<(String, String, Permission)> {
        let mut all: Vec<_> = self
            .permissions
            .read()
            .iter()
            .map(|((u, v), p)| (u.clone(), v.clone(), p.clone()))
            .collect();
        all.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        all
    }

    /// Sets (replaces) a user's topic permission on one exchange of a vhost.
    pub fn set_topic_permission(&self, user: &str, vhost: &str, topic: TopicPermission) {
        {
            let mut all = self.topic_permissions.write();
            let list = all
                .entry((user.to_string(), vhost.to_string()))
                .or_default();
            list.retain(|t| t.exchange != topic.exchange);
            list.push(topic);
        }
        self.changed.fire();
    }

    /// Removes a user's topic permissions in a vhost (one exchange, or all).
    pub fn clear_topic_permissions(&self, user: &str, vhost: &str, exchange: Option<&str>) -> bool {
        let removed = self.remove_topic_permissions(user, vhost, exchange);
        self.changed.fire();
        removed
    }

    fn remove_topic_permissions(&self, user: &str, vhost: &str, exchange: Option<&str>) -> bool {
        let mut all = self.topic_permissions.write();
        let key = (user.to_string(), vhost.to_string());
        let Some(list) = all.get_mut(&key) else {
            return false;
        };
        let before = list.len();
        list.retain(|t| exchange.is_some_and(|x| x != t.exchange));
        let removed = list.len() != before;
        if list.is_empty() {
            all.remove(&key);
        }
        removed
    }

    /// Every (user, vhost, topic permission), sorted.
    pub fn topic_permissions(&self) -> Vec<(String, String, TopicPermission)> {
        let mut all: Vec<_> = self
            .topic_permissions
            .read()
            .iter()
            .flat_map(|((u, v), list)| list.iter().map(|t| (u.clone(), v.clone(), t.clone())))
            .collect();
        all.sort_by(|a, b| (&a.0, &a.1, &a.2.exchange).cmp(&(&b.0, &b.1, &b.2.exchange)));
        all
    }

    /// Forgets every permission in a deleted vhost.
    pub fn forget_vhost(&self, vhost: &str) {
        self.permissions.write().retain(|(_, v), _| v != vhost);
        self.topic_permissions
            .write()
            .retain(|(_, v), _| v != vhost);
        self.changed.fire();
    }

    /// Checks that `user` may perform `access` on a resource, as
    /// rabbit_access_control:check_resource_access does: the default exchange
    /// is checked (and named in the refusal) as "amq.default".
    pub fn check_resource(
        &self,
        user: &str,
        vhost: &str,
        access: Access,
        kind: ResourceKind,
        name: &str,
    ) -> Result<(), BrokerError> {
        let name = if kind == ResourceKind::Exchange && name.is_empty() {
            "amq.default"
        } else {
            name
        };
        let allowed = self
            .permissions
            .read()
            .get(&(user.to_string(), vhost.to_string()))
            .is_some_and(|p| p.pattern(access).matches(name));
        if allowed {
            Ok(())
        } else {
            Err(resource_refused(kind, name, vhost, user))
        }
    }

    /// Checks a routing key against the user's topic permissions on a topic
    /// exchange; with none defined for the exchange, everything is allowed.
    pub fn check_topic(
        &self,
        user: &str,
        vhost: &str,
        access: Access,
        exchange: &str,
        routing_key: &str,
    ) -> Result<(), BrokerError> {
        let all = self.topic_permissions.read();
        let Some(list) = all.get(&(user.to_string(), vhost.to_string())) else {
            return Ok(());
        };
        match list.iter().find(|t| t.exchange == exchange) {
            Some(t) if !t.allows(access, routing_key, user, vhost) => {
                Err(topic_refused(routing_key, exchange, vhost, user))
            }
            _ => Ok(()),
        }
    }

    /// Checks a login: the password, and that loopback-only users come from a
    /// loopback address. Failures are 403 ACCESS_REFUSED with RabbitMQ's text.
    pub fn authenticate(
        &self,
        name: &str,
        password: &str,
        peer: Option<IpAddr>,
    ) -> Result<User, BrokerError> {
        let refused = || {
            BrokerError::AccessRefused(
                "Login was refused using authentication mechanism PLAIN. For details see the broker logfile.".into(),
            )
        };
        let user = self.users.read().get(name).cloned().ok_or_else(refused)?;
        if !check_password(&user.password_hash, password) {
            return Err(refused());
        }
        self.check_loopback(name, peer)?;
        Ok(user)
    }

    /// Checks a login vouched for by the transport (EXTERNAL with a verified
    /// TLS client certificate): the user must exist, no password is checked;
    /// loopback-only users must still come from a loopback address.
    pub fn authenticate_external(
        &self,
        name: &str,
        peer: Option<IpAddr>,
    ) -> Result<User, BrokerError> {
        let user = self.users.read().get(name).cloned().ok_or_else(|| {
            BrokerError::AccessRefused(
                "Login was refused using authentication mechanism EXTERNAL. For details see the broker logfile.".into(),
            )
        })?;
        self.check_loopback(name, peer)?;
        Ok(user)
    }

    fn check_loopback(&self, name: &str, peer: Option<IpAddr>) -> Result<(), BrokerError> {
        let loopback = peer.is_none_or(|ip| ip.is_loopback() || is_mapped_loopback(ip));
        if self.loopback_users.iter().any(|u| u == name) && !loopback {
            return Err(BrokerError::AccessRefused(format!(
                "User '{name}' can only connect via localhost"
            )));
        }
        Ok(())
    }

    /// Whether `user` exists and has `tag` (e.g. "impersonator").
    pub fn has_tag(&self, user: &str, tag: &str) -> bool {
        self.users
            .read()
            .get(user)
            .is_some_and(|u| u.tags.iter().any(|t| t == tag))
    }

    /// The user's permissions in `vhost`, if any.
    pub fn permission(&self, user: &str, vhost: &str) -> Option<Permission> {
        self.permissions
            .read()
            .get(&(user.to_string(), vhost.to_string()))
            .cloned()
    }
}

/// Whether a stored hash has RabbitMQ's shape (base64 of 4 + 32 bytes).
fn valid_hash(hash: &str) -> bool {
    base64::engine::general_purpose::STANDARD
        .decode(hash)
        .is_ok_and(|raw| raw.len() == 4 + 32)
}

fn is_mapped_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
        IpAddr::V4(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salted_sha256_hash_round_trips() {
        // A fixed 4-byte salt, as rabbit_password_hashing_sha256 stores it.
        let salt = [0x90u8, 0x8D, 0xC6, 0x0A];
        let known = hash_with_salt(&salt, "test12");
        assert!(check_password(&known, "test12"));
        assert!(!check_password(&known, "test13"));
        assert!(check_password(&hash_password("s3cret"), "s3cret"));
    }

    #[test]
    fn hash_exported_by_rabbitmq_3_10_8_checks() {
        // `rabbitmqctl add_user alice test12` then export_definitions on 3.10.8.
        let exported = "znOJIcOEfxmKIOho98BL8vAfuxq41m592fzwniDJRft7ZWWX";
        assert!(check_password(exported, "test12"));
        assert!(!check_password(exported, "test13"));
        let users = Users::with_default("guest", "guest", vec![]);
        users
            .add_user_with_hash("alice", exported, Some(HASHING_ALGORITHM), vec![])
            .unwrap();
        assert!(users.authenticate("alice", "test12", None).is_ok());
        assert!(users
            .add_user_with_hash("bob", exported, Some("rabbit_password_hashing_md5"), vec![])
            .is_err());
        assert!(users
            .add_user_with_hash("bob", "nothash", None, vec![])
            .is_err());
    }

    #[test]
    fn permission_checks_name_the_resource() {
        let users = Users::with_default("guest", "guest", vec![]);
        users.add_user("u", "p", vec![]);
        users.set_permission("u", "/", Permission::new("^u\\.", "", ".*").unwrap());
        let check = |a, n: &str| users.check_resource("u", "/", a, ResourceKind::Queue, n);
        assert!(check(Access::Configure, "u.q").is_ok());
        assert_eq!(
            check(Access::Configure, "q").unwrap_err().to_string(),
            "ACCESS_REFUSED - access to queue 'q' in vhost '/' refused for user 'u'"
        );
        assert!(check(Access::Write, "u.q").is_err());
        assert!(check(Access::Read, "anything").is_ok());
        assert!(users
            .check_resource("u", "other", Access::Read, ResourceKind::Queue, "q")
            .is_err());
    }

    #[test]
    fn guest_only_from_loopback() {
        let users = Users::with_default("guest", "guest", vec!["guest".into()]);
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let remote: IpAddr = "10.1.2.3".parse().unwrap();
        assert!(users.authenticate("guest", "guest", Some(local)).is_ok());
        assert!(users.authenticate("guest", "guest", Some(remote)).is_err());
        assert!(users.authenticate("guest", "nope", Some(local)).is_err());
    }
}
