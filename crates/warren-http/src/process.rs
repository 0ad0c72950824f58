//! Measurements of the broker process for /api/nodes and the metrics: memory,
//! file descriptors, context switches and storage I/O from /proc, and the
//! async runtime's task counts (Warren's equivalent of Erlang processes and
//! the scheduler run queue).

use std::time::{SystemTime, UNIX_EPOCH};

fn proc_status_field(name: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(':'))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// Resident memory of the process in bytes (RabbitMQ's "rss" strategy).
pub fn resident_memory() -> u64 {
    proc_status_field("VmRSS").map_or(0, |kb| kb * 1024)
}

/// Open file descriptors of this process.
pub fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64)
}

/// The soft limit on file descriptors.
pub fn max_fds() -> u64 {
    warren_core::sys::file_limits().map_or(0, |(soft, _)| soft)
}

/// Voluntary plus involuntary context switches of the process so far.
pub fn context_switches() -> Option<u64> {
    Some(
        proc_status_field("voluntary_ctxt_switches")?
            + proc_status_field("nonvoluntary_ctxt_switches")?,
    )
}

/// Bytes the process made the storage layer read and write (/proc/self/io
/// read_bytes and write_bytes; sockets are not counted), if the kernel
/// exposes them.
pub fn storage_io() -> Option<(u64, u64)> {
    let io = std::fs::read_to_string("/proc/self/io").ok()?;
    let field = |name: &str| {
        io.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    Some((field("read_bytes:")?, field("write_bytes:")?))
}

/// Tasks alive on the async runtime and tasks queued for a worker (the
/// runtime's global queue), when called from inside the runtime.
pub fn runtime_tasks() -> Option<(usize, usize)> {
    let handle = tokio::runtime::Handle::try_current().ok()?;
    let metrics = handle.metrics();
    Some((metrics.num_alive_tasks(), metrics.global_queue_depth()))
}

/// Seconds since the Unix epoch, with fractions.
pub fn unix_time_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Milliseconds since the Unix epoch.
pub fn unix_time_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Milliseconds since the Unix epoch as RabbitMQ's rfc3339 text with
/// milliseconds in UTC, e.g. "2024-05-01T12:00:00.123+00:00".
pub fn rfc3339_ms(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}+00:00",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

/// Days since 1970-01-01 to a (year, month, day) date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_known_instants() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000+00:00");
        assert_eq!(
            rfc3339_ms(1_709_294_400_123),
            "2024-03-01T12:00:00.123+00:00"
        );
        assert_eq!(rfc3339_ms(951_782_400_000), "2000-02-29T00:00:00.000+00:00");
    }

    #[test]
    fn the_process_is_measured() {
        assert!(resident_memory() > 0);
        assert!(open_fds() > 0 && max_fds() >= open_fds());
        assert!(context_switches().is_some());
    }
}
