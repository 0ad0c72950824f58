//! Which rabbitmq.conf keys exist: those Warren reads, those RabbitMQ has and
//! Warren deliberately does not implement (a warning naming each at start),
//! and everything else, which refuses to boot with RabbitMQ's "did you mean"
//! suggestions, as RabbitMQ (cuttlefish) does for an unknown key.

use std::collections::HashMap;

/// Keys Warren reads; `$name` matches one dot-separated segment.
const IMPLEMENTED: &[&str] = &[
    "listeners.tcp",
    "listeners.tcp.$name",
    "listeners.ssl",
    "listeners.ssl.$name",
    "management.tcp.port",
    "management.tcp.ip",
    "management.listener.port",
    "management.listener.ip",
    "prometheus.tcp.port",
    "prometheus.tcp.ip",
    "load_definitions",
    "management.load_definitions",
    "definitions.local.path",
    "definitions.import_backend",
    "collect_statistics_interval",
    "data_dir",
    "default_user",
    "default_pass",
    "default_vhost",
    "loopback_users",
    "loopback_users.$user",
    "channel_max",
    "frame_max",
    "heartbeat",
    "max_message_size",
    "handshake_timeout",
    "consumer_timeout",
    "vm_memory_high_watermark.relative",
    "vm_memory_high_watermark.absolute",
    "disk_free_limit.relative",
    "disk_free_limit.absolute",
    "connection_max",
    "consumer_max_per_channel",
    "ssl_options.certfile",
    "ssl_options.keyfile",
    "ssl_options.cacertfile",
    "ssl_options.verify",
    "ssl_options.fail_if_no_peer_cert",
    "ssl_cert_login_from",
    "management.ssl.port",
    "management.ssl.certfile",
    "management.ssl.keyfile",
    "management.ssl.cacertfile",
    "management.ssl.verify",
    "management.ssl.fail_if_no_peer_cert",
    "log.console",
    "log.console.level",
    "log.console.stdio",
    "log.file",
    "log.file.level",
    "log.dir",
    "log.default.level",
    "log.connection.level",
    "log.channel.level",
];

/// Every key RabbitMQ knows (its schemas), one per line.
const RABBITMQ_KEYS: &str = include_str!("rabbitmq_keys.txt");

/// What the config file's keys amount to.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct KeyCheck {
    /// RabbitMQ keys Warren does not implement (sorted): each is warned about.
    pub unimplemented: Vec<String>,
    /// Unknown keys (sorted), each with up to three suggestions.
    pub unknown: Vec<(String, Vec<String>)>,
}

impl KeyCheck {
    /// The boot error for unknown keys, in RabbitMQ's words; None when all are known.
    pub fn error(&self) -> Option<String> {
        if self.unknown.is_empty() {
            return None;
        }
        let mut text = String::new();
        for (key, suggestions) in &self.unknown {
            text.push_str(&format!(
                "You've tried to set {key}, but there is no setting with that name.\n"
            ));
            if !suggestions.is_empty() {
                text.push_str("  Did you mean one of these?\n");
                for s in suggestions {
                    text.push_str(&format!("    {s}\n"));
                }
            }
        }
        text.push_str("Error preparing configuration:\n");
        for (key, _) in &self.unknown {
            text.push_str(&format!(
                "  - Conf file attempted to set unknown variable: {key}\n"
            ));
        }
        Some(text.trim_end().to_string())
    }
}

fn rabbitmq_keys() -> impl Iterator<Item = &'static str> {
    RABBITMQ_KEYS
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// Whether `key` matches `pattern` (`$anything` matches one segment).
fn matches(pattern: &str, key: &str) -> bool {
    let mut p = pattern.split('.');
    let mut k = key.split('.');
    loop {
        match (p.next(), k.next()) {
            (None, None) => return true,
            (Some(ps), Some(ks)) if ps.starts_with('$') || ps == ks => {}
            _ => return false,
        }
    }
}

/// Whether Warren reads `key`.
pub fn implemented(key: &str) -> bool {
    IMPLEMENTED.iter().any(|p| matches(p, key))
}

/// Classifies every key of a parsed config file.
pub fn check(conf: &HashMap<String, String>) -> KeyCheck {
    let mut out = KeyCheck::default();
    for key in conf.keys() {
        if implemented(key) {
            continue;
        }
        if rabbitmq_keys().any(|p| matches(p, key)) {
            out.unimplemented.push(key.clone());
        } else {
            out.unknown.push((key.clone(), suggestions(key)));
        }
    }
    out.unimplemented.sort();
    out.unknown.sort();
    out
}

/// The three known keys closest to `key` (Jaro-Winkler similarity, as
/// cuttlefish ranks them), best first.
fn suggestions(key: &str) -> Vec<String> {
    let mut scored: Vec<(f64, &str)> = IMPLEMENTED
        .iter()
        .copied()
        .chain(rabbitmq_keys())
        .map(|candidate| (strsim::jaro_winkler(key, candidate), candidate))
        .filter(|(score, _)| *score > 0.7)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    let mut out: Vec<String> = Vec::new();
    for (_, candidate) in scored {
        if !out.iter().any(|c| c == candidate) {
            out.push(candidate.to_string());
        }
        if out.len() == 3 {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(keys: &[&str]) -> HashMap<String, String> {
        keys.iter()
            .map(|k| (k.to_string(), "x".to_string()))
            .collect()
    }

    #[test]
    fn a_misspelled_key_is_unknown_with_a_suggestion() {
        let c = check(&conf(&["heartbat"]));
        assert_eq!(c.unknown.len(), 1);
        assert_eq!(
            c.unknown[0].1.first().map(String::as_str),
            Some("heartbeat")
        );
        let text = c.error().unwrap();
        assert!(
            text.contains("You've tried to set heartbat, but there is no setting with that name.")
        );
        assert!(text.contains("unknown variable: heartbat"));
    }

    #[test]
    fn rabbitmq_keys_warren_lacks_are_warnings_and_patterns_match_segments() {
        let c = check(&conf(&[
            "cluster_formation.peer_discovery_backend",
            "listeners.tcp.1",
            "loopback_users.bob",
            "management.sample_retention_policies.global.minute",
        ]));
        assert!(c.unknown.is_empty(), "{c:?}");
        assert_eq!(
            c.unimplemented,
            vec![
                "cluster_formation.peer_discovery_backend".to_string(),
                "management.sample_retention_policies.global.minute".to_string()
            ]
        );
        assert!(!matches("listeners.tcp.$name", "listeners.tcp"));
        assert!(!matches("listeners.tcp.$name", "listeners.tcp.a.b"));
    }
}
