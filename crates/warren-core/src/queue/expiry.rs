//! Expiry: per-queue and per-message TTL, and unused-queue expiry (x-expires).
//!
//! Messages expire only at the head of the queue, as in RabbitMQ: with a
//! queue-wide TTL every message expires after the one in front of it, so
//! checking the head is exact; with per-message TTLs a message whose TTL ran
//! out behind a longer-lived one waits until it reaches the head (it is never
//! delivered, since every delivery checks the head first). No operation scans
//! the queue: the queue arms one timer for the earliest head expiry.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{Dead, Queue, QueueSettings, QueueState};
use crate::dead_letter::DeathReason;

impl Queue {
    /// Removes expired messages from the head(s) of the ready list; they are
    /// dead-lettered once the lock is released.
    pub(super) fn expire_heads(&self, state: &mut QueueState) {
        if state.ready.earliest_head_expiry().is_none() {
            return;
        }
        let now = self.scheduler.now_ms();
        let mut expired = Vec::new();
        state.ready.drain_expired(now, &mut expired);
        if expired.is_empty() {
            return;
        }
        self.stats
            .expired
            .fetch_add(expired.len() as u64, Ordering::Relaxed);
        state.dead.extend(expired.into_iter().map(|m| Dead {
            message: m.message,
            reason: DeathReason::Expired,
            stored: m.stored,
        }));
    }

    /// Makes sure a wake-up is pending for the earliest head expiry.
    pub(super) fn arm_message_timer(&self, state: &mut QueueState) {
        let Some(at) = state.ready.earliest_head_expiry() else {
            return;
        };
        if state.message_timer.is_some_and(|t| t <= at) {
            return;
        }
        state.message_timer = Some(at);
        self.scheduler.schedule(at, self.me.clone());
    }

    /// Marks the queue as used now (declared or redeclared) and arms its
    /// unused-queue expiry if it has one.
    pub fn touch(&self) {
        let mut state = self.state.lock();
        state.last_used = self.scheduler.now_ms();
        self.arm_expiry_timer(&mut state);
    }

    fn arm_expiry_timer(&self, state: &mut QueueState) {
        let Some(expires) = state.settings.expires else {
            return;
        };
        if state.expiry_timer.is_some() || !state.consumers.is_empty() || state.deleted {
            return;
        }
        let at = state.last_used.saturating_add(expires);
        state.expiry_timer = Some(at);
        self.scheduler.schedule(at, self.me.clone());
    }

    /// Called by the scheduler when a deadline this queue asked for passed:
    /// expires head messages and, if the queue itself has been unused for its
    /// `x-expires`, deletes it (its messages are not dead-lettered).
    pub fn on_timer(self: &Arc<Self>) {
        let mut state = self.state.lock();
        if state.deleted {
            return;
        }
        let now = self.scheduler.now_ms();
        if state.message_timer.is_some_and(|t| t <= now) {
            state.message_timer = None;
        }
        self.expire_heads(&mut state);
        self.arm_message_timer(&mut state);
        if self.unused_expired(&mut state, now) {
            drop(state);
            self.expire_queue();
            return;
        }
        self.finish(state);
    }

    fn unused_expired(&self, state: &mut QueueState, now: u64) -> bool {
        let Some(expires) = state.settings.expires else {
            return false;
        };
        match state.expiry_timer {
            Some(t) if t <= now => state.expiry_timer = None,
            _ => return false,
        }
        if state.consumers.is_empty() && now >= state.last_used.saturating_add(expires) {
            return true;
        }
        self.arm_expiry_timer(state);
        false
    }

    fn expire_queue(self: &Arc<Self>) {
        match self.home.upgrade() {
            Some(vhost) => vhost.remove_queue(self),
            None => {
                let _ = self.delete(false, false);
            }
        }
    }

    /// Replaces the settings after a policy change and applies them at once:
    /// new limits drop heads, a new expiry is armed. A changed message TTL
    /// applies to messages published from now on (existing messages keep the
    /// expiry fixed when they were enqueued, as in RabbitMQ).
    pub fn apply_settings(self: &Arc<Self>, settings: QueueSettings) {
        let mut state = self.state.lock();
        if state.settings == settings || state.deleted {
            return;
        }
        let expires_changed = state.settings.expires != settings.expires;
        state.settings = QueueSettings {
            max_priority: state.settings.max_priority,
            single_active_consumer: state.settings.single_active_consumer,
            ..settings
        };
        if expires_changed {
            state.expiry_timer = None;
            state.last_used = self.scheduler.now_ms();
        }
        self.expire_heads(&mut state);
        if state.settings.has_limit() {
            self.drop_head_over_limit(&mut state);
        }
        self.dispatch_locked(&mut state);
        self.arm_message_timer(&mut state);
        self.arm_expiry_timer(&mut state);
        self.finish(state);
    }

    /// Runs expiry now (what the timer does), for callers driving a manual clock.
    pub fn expire_now(self: &Arc<Self>) {
        self.on_timer();
    }
}

impl crate::scheduler::OnTimer for Queue {
    fn on_timer(self: Arc<Self>) {
        Queue::on_timer(&self);
    }
}
