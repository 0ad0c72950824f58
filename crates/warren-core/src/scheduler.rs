//! Timers: one background thread per broker sleeps until the earliest
//! deadline and then calls [`OnTimer::on_timer`] on whatever asked (queues,
//! for their head message's expiry and their own). A queue schedules at
//! most one wake-up per purpose (its head message's expiry, its own expiry), so
//! the heap stays as small as the number of queues with something pending.
//!
//! The thread only wakes queues; all expiry decisions are made by the queue
//! against the [`Clock`], so a test with a [`crate::clock::ManualClock`] can
//! call the queue directly instead.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::clock::{Clock, SystemClock};

/// Something the timer thread wakes when its deadline passes. It is called on
/// the timer thread with no scheduler lock held; it must not block for long.
pub trait OnTimer: Send + Sync {
    /// The deadline it asked for has passed (it checks the clock itself).
    fn on_timer(self: Arc<Self>);
}

struct Entry {
    deadline: u64,
    seq: u64,
    target: Weak<dyn OnTimer>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.deadline, self.seq) == (other.deadline, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.deadline, self.seq).cmp(&(other.deadline, other.seq))
    }
}

#[derive(Default)]
struct Timers {
    heap: BinaryHeap<Reverse<Entry>>,
    next_seq: u64,
    stopped: bool,
}

struct Shared {
    timers: Mutex<Timers>,
    wake: Condvar,
    clock: Arc<dyn Clock>,
}

/// The broker's clock and timer thread.
pub struct Scheduler {
    shared: Arc<Shared>,
}

impl Scheduler {
    /// A scheduler reading time from `clock`, with its own timer thread.
    pub fn new(clock: Arc<dyn Clock>) -> Arc<Self> {
        let shared = Arc::new(Shared {
            timers: Mutex::new(Timers::default()),
            wake: Condvar::new(),
            clock,
        });
        let worker = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("warren-timers".into())
            .spawn(move || run(worker));
        if let Err(e) = spawned {
            tracing::error!("cannot start the timer thread: {e}");
        }
        Arc::new(Scheduler { shared })
    }

    /// A process-wide scheduler on the system clock, for queues created outside
    /// a broker (unit tests, pseudo-queues).
    pub fn global() -> Arc<Self> {
        static GLOBAL: OnceLock<Arc<Scheduler>> = OnceLock::new();
        GLOBAL
            .get_or_init(|| Scheduler::new(Arc::new(SystemClock::default())))
            .clone()
    }

    /// The clock.
    pub fn clock(&self) -> &dyn Clock {
        &*self.shared.clock
    }

    /// Milliseconds on the clock.
    pub fn now_ms(&self) -> u64 {
        self.shared.clock.now_ms()
    }

    /// Asks for `target.on_timer()` to be called once the clock reaches
    /// `deadline` (not at all if the target is gone by then).
    pub fn schedule(&self, deadline: u64, target: Weak<dyn OnTimer>) {
        let mut timers = self.shared.timers.lock();
        let seq = timers.next_seq;
        timers.next_seq += 1;
        let earliest = timers.heap.peek().map(|e| e.0.deadline);
        timers.heap.push(Reverse(Entry {
            deadline,
            seq,
            target,
        }));
        if earliest.is_none_or(|e| deadline < e) {
            self.shared.wake.notify_one();
        }
    }

    /// Number of pending wake-ups (for tests and statistics).
    pub fn pending(&self) -> usize {
        self.shared.timers.lock().heap.len()
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.shared.timers.lock().stopped = true;
        self.shared.wake.notify_one();
    }
}

fn run(shared: Arc<Shared>) {
    let mut due = Vec::new();
    loop {
        {
            let mut timers = shared.timers.lock();
            loop {
                if timers.stopped {
                    return;
                }
                let now = shared.clock.now_ms();
                while timers.heap.peek().is_some_and(|e| e.0.deadline <= now) {
                    if let Some(Reverse(entry)) = timers.heap.pop() {
                        due.push(entry.target);
                    }
                }
                if !due.is_empty() {
                    break;
                }
                match timers.heap.peek() {
                    Some(e) => {
                        let wait = Duration::from_millis(e.0.deadline.saturating_sub(now).max(1));
                        shared.wake.wait_for(&mut timers, wait);
                    }
                    None => shared.wake.wait(&mut timers),
                }
            }
        }
        for target in due.drain(..) {
            if let Some(target) = target.upgrade() {
                target.on_timer();
            }
        }
    }
}
