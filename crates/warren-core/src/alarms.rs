//! Resource alarms, as RabbitMQ's `vm_memory_high_watermark` and
//! `disk_free_limit`: a periodic monitor records the process's memory use and
//! the data directory's free space; crossing a limit sets an alarm, and every
//! connection watching [`Alarms::subscribe`] blocks its publishers until it clears.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::sync::OnceLock;

use tokio::sync::watch;

/// How the memory limit is given (`vm_memory_high_watermark.relative` or `.absolute`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MemoryWatermark {
    /// A fraction of the machine's (or cgroup's) memory; RabbitMQ's default is 0.4.
    Relative(f64),
    /// A number of bytes.
    Absolute(u64),
}

impl MemoryWatermark {
    /// The limit in bytes on a machine with `total` bytes of memory.
    pub fn limit(self, total: u64) -> u64 {
        match self {
            MemoryWatermark::Relative(f) => (total as f64 * f) as u64,
            MemoryWatermark::Absolute(b) => b,
        }
    }
}

/// How the free disk limit is given (`disk_free_limit.absolute` or `.relative`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DiskFreeLimit {
    /// A number of bytes; RabbitMQ's default is 50 MB.
    Absolute(u64),
    /// A multiple of the machine's (or cgroup's) memory.
    Relative(f64),
}

impl DiskFreeLimit {
    /// The limit in bytes on a machine with `total` bytes of memory.
    pub fn limit(self, total: u64) -> u64 {
        match self {
            DiskFreeLimit::Absolute(b) => b,
            DiskFreeLimit::Relative(f) => (total as f64 * f) as u64,
        }
    }
}

/// Which alarms are in effect.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AlarmSet {
    /// Memory use is above the high watermark.
    pub memory: bool,
    /// Free disk space is below the limit.
    pub disk: bool,
}

impl AlarmSet {
    /// True when any alarm is set.
    pub fn any(self) -> bool {
        self.memory || self.disk
    }

    /// The reason RabbitMQ gives in `connection.blocked`: "low on memory",
    /// "low on disk", or both joined with " & ".
    pub fn reason(self) -> String {
        let mut parts = Vec::new();
        if self.memory {
            parts.push("low on memory");
        }
        if self.disk {
            parts.push("low on disk");
        }
        parts.join(" & ")
    }

    /// RabbitMQ's resource names of the alarms set ("memory", "disk").
    pub fn resources(self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.memory {
            out.push("memory");
        }
        if self.disk {
            out.push("disk");
        }
        out
    }
}

/// Share of the memory high watermark past which queues page transient
/// messages out to disk (RabbitMQ's `vm_memory_high_watermark_paging_ratio`).
pub const PAGING_RATIO: f64 = 0.5;

/// The least memory credit granted after a measurement, so that a process
/// sitting at a threshold is not re-measured for every read.
const MIN_HEADROOM: u64 = 256 << 10;

/// The broker's alarm state, limits and last measurements.
pub struct Alarms {
    memory_limit: AtomicU64,
    disk_free_limit: AtomicU64,
    memory_used: AtomicU64,
    disk_free: AtomicU64,
    disk_measured: AtomicBool,
    state: watch::Sender<AlarmSet>,
    data_dir: OnceLock<PathBuf>,
    monitor_started: AtomicBool,
    paging: Arc<AtomicBool>,
    /// Memory credit: bytes connections may still read before memory is
    /// measured again (the distance to the next threshold at the last measurement).
    headroom: AtomicI64,
    measuring: AtomicBool,
}

impl Alarms {
    /// Alarms with limits computed from the configured watermark and disk limit.
    pub fn new(memory: MemoryWatermark, disk: DiskFreeLimit) -> Self {
        let total = total_memory();
        Alarms {
            memory_limit: AtomicU64::new(memory.limit(total)),
            disk_free_limit: AtomicU64::new(disk.limit(total)),
            memory_used: AtomicU64::new(0),
            disk_free: AtomicU64::new(0),
            disk_measured: AtomicBool::new(false),
            state: watch::channel(AlarmSet::default()).0,
            data_dir: OnceLock::new(),
            monitor_started: AtomicBool::new(false),
            paging: Arc::new(AtomicBool::new(false)),
            headroom: AtomicI64::new(0),
            measuring: AtomicBool::new(false),
        }
    }

    /// Whether queues should page transient messages out to disk: memory use
    /// is past [`PAGING_RATIO`] of the high watermark. Shared with the queues.
    pub fn paging_advice(&self) -> Arc<AtomicBool> {
        self.paging.clone()
    }

    /// A receiver that sees every change of the alarm set.
    pub fn subscribe(&self) -> watch::Receiver<AlarmSet> {
        self.state.subscribe()
    }

    /// The alarms in effect now.
    pub fn active(&self) -> AlarmSet {
        *self.state.borrow()
    }

    /// The memory high watermark in bytes.
    pub fn memory_limit(&self) -> u64 {
        self.memory_limit.load(Relaxed)
    }

    /// The free disk space limit in bytes.
    pub fn disk_free_limit(&self) -> u64 {
        self.disk_free_limit.load(Relaxed)
    }

    /// The last measured memory use (process resident set) in bytes.
    pub fn memory_used(&self) -> u64 {
        self.memory_used.load(Relaxed)
    }

    /// The last measured free space of the data directory's file system.
    pub fn disk_free(&self) -> u64 {
        self.disk_free.load(Relaxed)
    }

    /// Changes the memory high watermark at run time (as
    /// `rabbitmqctl set_vm_memory_high_watermark absolute N`).
    pub fn set_memory_limit(&self, bytes: u64) {
        self.memory_limit.store(bytes, Relaxed);
        self.evaluate();
    }

    /// Changes the free disk space limit at run time (as `rabbitmqctl set_disk_free_limit`).
    pub fn set_disk_free_limit(&self, bytes: u64) {
        self.disk_free_limit.store(bytes, Relaxed);
        self.evaluate();
    }

    /// Records a memory measurement and updates the alarms.
    pub fn record_memory_used(&self, bytes: u64) {
        self.memory_used.store(bytes, Relaxed);
        let limit = self.memory_limit.load(Relaxed);
        let paging_at = (limit as f64 * PAGING_RATIO) as u64;
        self.paging.store(limit > 0 && bytes >= paging_at, Relaxed);
        let next = if bytes < paging_at { paging_at } else { limit };
        let headroom = next.saturating_sub(bytes).max(MIN_HEADROOM);
        self.headroom
            .store(headroom.min(i64::MAX as u64) as i64, Relaxed);
        self.evaluate();
    }

    /// Charges `bytes` just read from a client against the memory credit;
    /// when the credit runs out memory is measured at once rather than at the
    /// monitor's next tick, so a fast publisher cannot run far past the high
    /// watermark (or the paging threshold) between two samples.
    pub fn charge(&self, bytes: usize) {
        self.charge_with(bytes, process_rss);
    }

    /// [`Alarms::charge`] with the measurement supplied (for tests).
    pub fn charge_with(&self, bytes: usize, measure: impl FnOnce() -> u64) {
        let bytes = bytes.min(i64::MAX as usize) as i64;
        if self.headroom.fetch_sub(bytes, Relaxed) > bytes {
            return;
        }
        // One measurement at a time; the others go on with the old figure.
        if self.measuring.swap(true, Relaxed) {
            return;
        }
        self.record_memory_used(measure());
        self.measuring.store(false, Relaxed);
    }

    /// Records a free disk space measurement and updates the alarms.
    pub fn record_disk_free(&self, bytes: u64) {
        self.disk_free.store(bytes, Relaxed);
        self.disk_measured.store(true, Relaxed);
        self.evaluate();
    }

    /// The directory whose file system the disk monitor watches.
    pub fn data_dir(&self) -> &Path {
        self.data_dir
            .get()
            .map(PathBuf::as_path)
            .unwrap_or(Path::new("."))
    }

    /// Sets the watched directory (once; the broker's data directory).
    pub fn set_data_dir(&self, dir: &Path) {
        let _ = self.data_dir.set(dir.to_path_buf());
    }

    /// True the first time it is called: whoever gets true runs the monitor.
    pub fn claim_monitor(&self) -> bool {
        !self.monitor_started.swap(true, Relaxed)
    }

    fn evaluate(&self) {
        let used = self.memory_used.load(Relaxed);
        let next = AlarmSet {
            memory: used > 0 && used > self.memory_limit(),
            disk: self.disk_measured.load(Relaxed) && self.disk_free() < self.disk_free_limit(),
        };
        self.state.send_if_modified(|current| {
            if *current == next {
                return false;
            }
            log_change(*current, next, self);
            *current = next;
            true
        });
    }
}

fn log_change(before: AlarmSet, after: AlarmSet, alarms: &Alarms) {
    if after.memory != before.memory {
        if after.memory {
            tracing::warn!(
                "memory resource limit alarm set on node: memory used {} bytes, high watermark {} bytes; publishers will be blocked until this alarm clears",
                alarms.memory_used(),
                alarms.memory_limit()
            );
        } else {
            tracing::info!("memory resource limit alarm cleared on node");
        }
    }
    if after.disk != before.disk {
        if after.disk {
            tracing::warn!(
                "disk resource limit alarm set on node: free disk space {} bytes, limit {} bytes; publishers will be blocked until this alarm clears",
                alarms.disk_free(),
                alarms.disk_free_limit()
            );
        } else {
            tracing::info!("disk resource limit alarm cleared on node");
        }
    }
}

/// The process's resident set size in bytes, from /proc/self/statm (0 when unknown).
pub fn process_rss() -> u64 {
    let Ok(text) = std::fs::read_to_string("/proc/self/statm") else {
        return 0;
    };
    let pages: u64 = text
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * crate::sys::page_size()
}

/// The memory available to the broker: the machine's total, or the cgroup's
/// limit when lower (cgroup v2 `memory.max`, v1 `memory.limit_in_bytes`).
pub fn total_memory() -> u64 {
    let machine = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(1 << 30, |kb| kb * 1024);
    let cgroup = [
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]
    .iter()
    .filter_map(|p| std::fs::read_to_string(p).ok())
    .filter_map(|s| s.trim().parse::<u64>().ok())
    .min();
    cgroup.map_or(machine, |c| c.min(machine))
}

/// Free bytes available to unprivileged users on the file system holding `path`.
pub fn disk_free_at(path: &Path) -> Option<u64> {
    crate::sys::disk_free_at(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_alarm_follows_limit_changes() {
        let alarms = Alarms::new(MemoryWatermark::Absolute(1000), DiskFreeLimit::Absolute(10));
        let mut rx = alarms.subscribe();
        alarms.record_memory_used(2000);
        assert!(rx.has_changed().unwrap());
        assert_eq!(
            *rx.borrow_and_update(),
            AlarmSet {
                memory: true,
                disk: false
            }
        );
        assert_eq!(alarms.active().reason(), "low on memory");
        alarms.set_memory_limit(5000);
        assert!(!alarms.active().any());
    }

    #[test]
    fn disk_alarm_needs_a_measurement() {
        let alarms = Alarms::new(
            MemoryWatermark::Relative(0.4),
            DiskFreeLimit::Absolute(u64::MAX),
        );
        assert!(!alarms.active().disk);
        alarms.record_disk_free(disk_free_at(Path::new(".")).unwrap());
        assert!(alarms.active().disk);
        alarms.record_memory_used(u64::MAX);
        assert_eq!(alarms.active().reason(), "low on memory & low on disk");
    }

    #[test]
    fn running_out_of_memory_credit_measures_at_once() {
        let mb = 1 << 20;
        let alarms = Alarms::new(
            MemoryWatermark::Absolute(100 * mb),
            DiskFreeLimit::Absolute(10),
        );
        alarms.record_memory_used(20 * mb);
        // 30 MB of credit up to the paging threshold (50 MB): no measurement.
        alarms.charge_with(29 * mb as usize, || panic!("measured too early"));
        assert!(!alarms.paging_advice().load(Relaxed));
        let mut measured = false;
        alarms.charge_with(2 * mb as usize, || {
            measured = true;
            60 * mb
        });
        assert!(measured, "credit ran out but memory was not measured");
        assert!(alarms.paging_advice().load(Relaxed));
        assert!(!alarms.active().memory);
        // Next threshold is the watermark itself, 40 MB away.
        alarms.charge_with(39 * mb as usize, || panic!("measured too early"));
        alarms.charge_with(2 * mb as usize, || 101 * mb);
        assert!(
            alarms.active().memory,
            "the alarm waits for the monitor's tick"
        );
    }

    #[test]
    fn measurements_are_plausible() {
        assert!(process_rss() > 0);
        assert!(total_memory() > process_rss());
    }
}
