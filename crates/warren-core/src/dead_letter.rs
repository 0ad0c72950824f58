//! Dead-lettering, as RabbitMQ's `rabbit_dead_letter`: a message rejected
//! without requeue, expired, or dropped by a length limit is republished to the
//! queue's dead-letter exchange with a death entry recording why.
//!
//! The history lives in the message's annotations ([`crate::message::Death`],
//! most recent first, one per (queue, reason)): the queue, the reason, a
//! count, the time, the exchange, the routing keys (the publish routing key
//! and the CC keys) and the original per-message TTL (the TTL itself is
//! removed). When a message dies again in the same queue for the same reason,
//! that entry's count is incremented and the entry moves to the front; its
//! other fields keep their first values. The first death is recorded too
//! (RabbitMQ's `x-first-death-*`). The content is never edited: its adapter
//! renders the history (for AMQP 0-9-1 as the `x-death` header) at delivery.
//!
//! Cycles: a dead-lettered message is not delivered to a queue it already died
//! in, unless a `rejected` death lies on the cycle (a client took part), as
//! RabbitMQ's `detect_cycles`.

use std::sync::Arc;

use bytes::Bytes;

use crate::exchange::Exchange;
use crate::message::{Death, FirstDeath, Message};
use crate::queue::Queue;
use crate::vhost::VHost;

/// Why a message was dead-lettered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeathReason {
    /// basic.reject / basic.nack with requeue=false.
    Rejected,
    /// Its TTL ran out.
    Expired,
    /// A length limit dropped or refused it.
    Maxlen,
}

impl DeathReason {
    /// The `reason` text in x-death.
    pub fn as_str(&self) -> &'static str {
        match self {
            DeathReason::Rejected => "rejected",
            DeathReason::Expired => "expired",
            DeathReason::Maxlen => "maxlen",
        }
    }
}

/// A dead-lettered copy of a message and the routing keys to route it with.
pub struct DeadLettered {
    /// The message as it will be delivered from the dead-letter exchange.
    pub message: Message,
    /// Keys to route with (the dead-letter routing key, or the original keys).
    pub routing_keys: Vec<Bytes>,
}

/// Builds the dead-lettered message for `message` dying in `queue`.
///
/// Only the annotations change, as RabbitMQ 3.10's `rabbit_dead_letter`
/// changes the headers: the death entry is added (or its count incremented
/// and moved to the front), the first death is recorded when there was none,
/// the per-message TTL is removed (kept as the entry's original expiration)
/// and the CC keys are dropped when a dead-letter routing key is set. The
/// content is untouched; its adapter renders the history when it delivers.
pub fn make_message(
    message: &Message,
    reason: DeathReason,
    queue: &str,
    dlx: &str,
    dl_routing_key: Option<&str>,
    unix_secs: u64,
) -> DeadLettered {
    let mut ann = message.ann.clone();
    let original_expiration = ann.expiry_ms.map(|ms| Bytes::from(ms.to_string()));
    let extra = ann.extra_mut();
    let mut keys = vec![message.routing_key.clone()];
    keys.extend(extra.cc.iter().cloned());
    let reason_text = reason.as_str().as_bytes();
    let first = extra.deaths.is_empty();
    let found = extra
        .deaths
        .iter()
        .position(|d| d.queue == queue.as_bytes() && d.reason == reason_text);
    let entry = match found {
        Some(at) => {
            let mut entry = extra.deaths.remove(at);
            entry.count = entry.count.saturating_add(1);
            entry.rewritten = true;
            entry
        }
        None => Death {
            queue: Bytes::copy_from_slice(queue.as_bytes()),
            reason: Bytes::from_static(reason_text),
            count: 1,
            time: unix_secs,
            exchange: message.exchange.clone(),
            routing_keys: keys.clone(),
            original_expiration,
            rewritten: !first,
        },
    };
    extra.deaths.insert(0, entry);
    if first {
        extra.first_death = Some(FirstDeath {
            reason: Bytes::from_static(reason_text),
            queue: Bytes::copy_from_slice(queue.as_bytes()),
            exchange: message.exchange.clone(),
        });
    }
    extra.dead_lettered = true;
    extra.expiration_removed = true;
    if dl_routing_key.is_some() {
        extra.cc.clear();
        extra.cc_removed = true;
    }
    ann.expiry_ms = None;
    let routing_keys = match dl_routing_key {
        Some(rk) => vec![Bytes::copy_from_slice(rk.as_bytes())],
        None => keys,
    };
    DeadLettered {
        message: Message {
            exchange: Bytes::copy_from_slice(dlx.as_bytes()),
            routing_key: routing_keys[0].clone(),
            content: message.content.clone(),
            body: message.body.clone(),
            ann,
        },
        routing_keys,
    }
}

/// Whether delivering to `queue` would close a fully automatic cycle: the
/// queue appears among the deaths and no death up to and including it is a
/// rejection.
fn is_cycle(queue: &str, deaths: &[Death]) -> bool {
    let Some(at) = deaths.iter().position(|d| d.queue == queue.as_bytes()) else {
        return false;
    };
    deaths[..=at].iter().all(|d| d.reason != "rejected")
}

/// Routes a dead-lettered message through `dlx` and enqueues it, leaving out
/// queues that would close a cycle.
pub fn republish(vhost: &VHost, dlx: &Arc<Exchange>, reason: DeathReason, dead: DeadLettered) {
    let mut queues: Vec<Arc<Queue>> = Vec::new();
    let mut headers = || dead.message.content.headers(&dead.message.ann);
    for key in &dead.routing_keys {
        let key = std::str::from_utf8(key).unwrap_or("");
        vhost.route(dlx, key, &mut headers, &mut queues);
    }
    let message = Arc::new(dead.message);
    queues.retain(|queue| {
        let cycle = reason != DeathReason::Rejected && is_cycle(&queue.name, message.ann.deaths());
        if cycle {
            tracing::warn!(
                "message dropped: dead-letter cycle through queue '{}' in vhost '{}'",
                queue.name,
                vhost.name
            );
        }
        !cycle
    });
    crate::enqueue::enqueue(&queues, &message, None);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Annotations, Content, Extra, FormatId};

    fn msg(ann: Annotations) -> Message {
        Message {
            exchange: Bytes::from_static(b"ex"),
            routing_key: Bytes::from_static(b"rk"),
            content: Content::new(FormatId(200), Bytes::from_static(b"content")),
            body: Bytes::from_static(b"body"),
            ann,
        }
    }

    fn text(b: &Bytes) -> &str {
        std::str::from_utf8(b).unwrap()
    }

    #[test]
    fn first_death_records_everything_and_drops_expiration() {
        let m = msg(Annotations {
            expiry_ms: Some(500),
            durable: true,
            ..Annotations::default()
        });
        let dead = make_message(&m, DeathReason::Expired, "q", "dlx", None, 1_700_000_000);
        let ann = &dead.message.ann;
        let extra = ann.extra.as_ref().unwrap();
        let first = extra.first_death.as_ref().unwrap();
        assert_eq!(
            (
                text(&first.reason),
                text(&first.queue),
                text(&first.exchange)
            ),
            ("expired", "q", "ex")
        );
        let d = &extra.deaths[0];
        assert_eq!((d.count, d.time, d.rewritten), (1, 1_700_000_000, false));
        assert_eq!(d.original_expiration.as_deref(), Some(&b"500"[..]));
        assert_eq!(d.routing_keys, vec![Bytes::from_static(b"rk")]);
        assert!(extra.expiration_removed && extra.dead_lettered);
        assert_eq!(ann.expiry_ms, None);
        assert!(ann.durable);
        assert_eq!(&dead.message.exchange[..], b"dlx");
        assert_eq!(dead.message.content, m.content);
    }

    #[test]
    fn repeated_death_increments_and_moves_to_front() {
        let m = msg(Annotations::default());
        let d1 = make_message(&m, DeathReason::Rejected, "a", "x", None, 1);
        let d2 = make_message(&d1.message, DeathReason::Expired, "b", "x", None, 2);
        assert!(d2.message.ann.deaths()[0].rewritten);
        let d3 = make_message(&d2.message, DeathReason::Rejected, "a", "x", None, 3);
        let deaths = d3.message.ann.deaths();
        assert_eq!(deaths.len(), 2);
        assert_eq!(text(&deaths[0].queue), "a");
        assert_eq!((deaths[0].count, deaths[0].time), (2, 1));
        assert!(deaths[0].rewritten);
        assert_eq!(text(&deaths[1].queue), "b");
        let first = d3.message.ann.extra.as_ref().unwrap().first_death.clone();
        assert_eq!(first.map(|f| f.queue), Some(Bytes::from_static(b"a")));
    }

    #[test]
    fn cycles_need_no_rejection_on_the_way() {
        let m = msg(Annotations::default());
        let d1 = make_message(&m, DeathReason::Expired, "a", "x", None, 1);
        assert!(is_cycle("a", d1.message.ann.deaths()));
        assert!(!is_cycle("b", d1.message.ann.deaths()));
        let d2 = make_message(&d1.message, DeathReason::Rejected, "b", "x", None, 1);
        let d3 = make_message(&d2.message, DeathReason::Expired, "c", "x", None, 1);
        assert!(!is_cycle("a", d3.message.ann.deaths()));
        assert!(is_cycle("c", d3.message.ann.deaths()));
    }

    #[test]
    fn dead_letter_routing_key_replaces_keys_and_drops_cc() {
        let m = msg(Annotations {
            extra: Some(Box::new(Extra {
                cc: vec![Bytes::from_static(b"cc1")],
                ..Extra::default()
            })),
            ..Annotations::default()
        });
        let plain = make_message(&m, DeathReason::Rejected, "q", "x", None, 1);
        assert_eq!(
            plain.routing_keys,
            vec![Bytes::from_static(b"rk"), Bytes::from_static(b"cc1")]
        );
        assert_eq!(
            plain.message.ann.deaths()[0].routing_keys,
            plain.routing_keys
        );
        let keyed = make_message(&m, DeathReason::Rejected, "q", "x", Some("new"), 1);
        assert_eq!(keyed.routing_keys, vec![Bytes::from_static(b"new")]);
        let extra = keyed.message.ann.extra.as_ref().unwrap();
        assert!(extra.cc.is_empty() && extra.cc_removed);
    }

    #[test]
    fn a_missing_format_degrades_without_panicking() {
        let m = msg(Annotations::default());
        let dead = make_message(&m, DeathReason::Rejected, "q", "x", None, 1);
        assert_eq!(*dead.message.rendered_content(), m.content.bytes);
        assert_eq!(dead.message.content.headers(&dead.message.ann), None);
        assert_eq!(dead.message.content.annotate(), Annotations::default());
    }
}
