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

/// Permissions of a user in a vhost: configure, write and read patterns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    /// Regex of resources the user may declare and delete.
    pub configure: String,
    /// Regex of resources the user may publish to.
    pub write: String,
    /// Regex of resources the user may consume from.
    pub read: String,
}

/// Users and their vhost permissions.
pub struct Users {
    users: RwLock<HashMap<String, User>>,
    permissions: RwLock<HashMap<(String, String), Permission>>,
    loopback_users: Vec<String>,
}

impl Users {
    /// A user store holding `default_user` with full permissions on "/".
    pub fn with_default(
        default_user: &str,
        default_pass: &str,
        loopback_users: Vec<String>,
    ) -> Self {
        let users = Users {
            users: RwLock::new(HashMap::new()),
            permissions: RwLock::new(HashMap::new()),
            loopback_users,
        };
        users.add_user(default_user, default_pass, vec!["administrator".into()]);
        users.set_permission(
            default_user,
            "/",
            Permission {
                configure: ".*".into(),
                write: ".*".into(),
                read: ".*".into(),
            },
        );
        users
    }

    /// Adds or replaces a user.
    pub fn add_user(&self, name: &str, password: &str, tags: Vec<String>) {
        self.users.write().insert(
            name.to_string(),
            User {
                name: name.to_string(),
                password_hash: hash_password(password),
                tags,
            },
        );
    }

    /// Sets a user's permissions in a vhost.
    pub fn set_permission(&self, user: &str, vhost: &str, permission: Permission) {
        self.permissions
            .write()
            .insert((user.to_string(), vhost.to_string()), permission);
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
        let loopback = peer.is_none_or(|ip| ip.is_loopback() || is_mapped_loopback(ip));
        if self.loopback_users.iter().any(|u| u == name) && !loopback {
            return Err(BrokerError::AccessRefused(format!(
                "User '{name}' can only connect via localhost"
            )));
        }
        Ok(user)
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
    fn guest_only_from_loopback() {
        let users = Users::with_default("guest", "guest", vec!["guest".into()]);
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let remote: IpAddr = "10.1.2.3".parse().unwrap();
        assert!(users.authenticate("guest", "guest", Some(local)).is_ok());
        assert!(users.authenticate("guest", "guest", Some(remote)).is_err());
        assert!(users.authenticate("guest", "nope", Some(local)).is_err());
    }
}
