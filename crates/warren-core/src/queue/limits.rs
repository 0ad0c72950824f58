//! Length limits: x-max-length and x-max-length-bytes count ready messages
//! (not unacknowledged ones) and their body bytes, as in RabbitMQ. With
//! `drop-head` the oldest ready messages are dropped (dead-lettered with reason
//! `maxlen`) once the queue is over a limit; with `reject-publish` and
//! `reject-publish-dlx` a publish that would take the queue over a limit is
//! refused (and, for `-dlx`, dead-lettered).

use std::sync::atomic::Ordering;

use super::{Dead, Overflow, Queue, QueueState, QueuedMessage};
use crate::dead_letter::DeathReason;

impl Queue {
    /// For reject-publish(-dlx): whether `message` must be refused because
    /// enqueuing it would exceed a limit (RabbitMQ's `will_overflow`).
    pub(super) fn refuses(&self, state: &mut QueueState, message: &QueuedMessage) -> bool {
        let settings = &state.settings;
        if settings.overflow == Overflow::DropHead {
            return false;
        }
        let len = state.ready.len() as u64 + 1;
        let bytes = (state.ready.bytes() + message.message.body_size()) as u64;
        let over = settings.max_length.is_some_and(|max| len > max)
            || settings.max_length_bytes.is_some_and(|max| bytes > max);
        if !over {
            return false;
        }
        self.stats.overflowed.fetch_add(1, Ordering::Relaxed);
        if settings.overflow == Overflow::RejectPublishDlx {
            state.dead.push(Dead {
                message: message.message.clone(),
                reason: DeathReason::Maxlen,
                // The publisher's own refusal path forgets the stored copy.
                stored: None,
            });
        }
        true
    }

    /// For drop-head: drops ready messages from the head while over a limit.
    pub(super) fn drop_head_over_limit(&self, state: &mut QueueState) {
        if state.settings.overflow != Overflow::DropHead {
            return;
        }
        loop {
            let settings = &state.settings;
            let over = settings
                .max_length
                .is_some_and(|max| state.ready.len() as u64 > max)
                || settings
                    .max_length_bytes
                    .is_some_and(|max| state.ready.bytes() as u64 > max);
            if !over {
                return;
            }
            let Some(dropped) = state.ready.pop_front() else {
                return;
            };
            self.stats.overflowed.fetch_add(1, Ordering::Relaxed);
            state.dead.push(Dead {
                message: dropped.message,
                reason: DeathReason::Maxlen,
                stored: dropped.stored,
            });
        }
    }
}
