//! Time for the broker core. Everything that expires (message TTL, unused
//! queues) reads time through a [`Clock`], so tests can drive time by hand.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// A source of time: a monotonic millisecond counter for deadlines and the wall
/// clock for timestamps written into messages (x-death `time`).
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Milliseconds since an arbitrary fixed origin; never goes backwards.
    fn now_ms(&self) -> u64;
    /// Seconds since the Unix epoch.
    fn unix_secs(&self) -> u64;
    /// Milliseconds since the Unix epoch: stored message expiries, which must
    /// outlive the process (its `now_ms` origin does not).
    fn unix_ms(&self) -> u64 {
        self.unix_secs().saturating_mul(1000)
    }
}

/// The real clock.
#[derive(Debug)]
pub struct SystemClock {
    origin: Instant,
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock {
            origin: Instant::now(),
        }
    }
}

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }

    fn unix_secs(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }

    fn unix_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    }
}

/// A clock that only moves when told to (for deterministic tests).
#[derive(Debug)]
pub struct ManualClock {
    ms: AtomicU64,
    unix_origin: u64,
}

impl ManualClock {
    /// A clock at 0 ms whose wall time starts at `unix_secs`.
    pub fn new(unix_secs: u64) -> Self {
        ManualClock {
            ms: AtomicU64::new(0),
            unix_origin: unix_secs,
        }
    }

    /// Moves time forward by `ms` milliseconds.
    pub fn advance(&self, ms: u64) {
        self.ms.fetch_add(ms, Ordering::AcqRel);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.ms.load(Ordering::Acquire)
    }

    fn unix_secs(&self) -> u64 {
        self.unix_origin + self.now_ms() / 1000
    }

    fn unix_ms(&self) -> u64 {
        self.unix_origin
            .saturating_mul(1000)
            .saturating_add(self.now_ms())
    }
}
