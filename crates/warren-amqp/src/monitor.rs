//! The resource monitor task: samples the process's memory every 100 ms and
//! the data directory's free disk space every second, feeding the broker's
//! [`Alarms`](warren_core::alarms::Alarms). One per broker; it ends with the broker.

use std::sync::Arc;
use std::time::Duration;

use warren_core::alarms::{disk_free_at, process_rss};
use warren_core::Broker;

/// How often memory use is sampled.
const MEMORY_INTERVAL: Duration = Duration::from_millis(100);
/// Disk space is sampled every this many memory samples (once a second).
const DISK_EVERY: u32 = 10;

/// Starts the monitor for `broker` unless one is already running.
pub fn spawn_monitor(broker: &Arc<Broker>) {
    if !broker.alarms.claim_monitor() {
        return;
    }
    let weak = Arc::downgrade(broker);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(MEMORY_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut n: u32 = 0;
        loop {
            tick.tick().await;
            let Some(broker) = weak.upgrade() else {
                return;
            };
            broker.alarms.record_memory_used(process_rss());
            if n.is_multiple_of(DISK_EVERY) {
                sample_disk(&broker).await;
            }
            n = n.wrapping_add(1);
        }
    });
}

/// statvfs can block on a slow file system: run it off the async workers.
async fn sample_disk(broker: &Arc<Broker>) {
    let dir = broker.alarms.data_dir().to_path_buf();
    let free = tokio::task::spawn_blocking(move || disk_free_at(&dir)).await;
    if let Ok(Some(free)) = free {
        broker.alarms.record_disk_free(free);
    }
}
