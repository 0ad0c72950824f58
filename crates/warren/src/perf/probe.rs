//! Reading a broker process's CPU time and resident memory from /proc, so a
//! scenario can report broker CPU per message and RSS (Linux only; the broker
//! must run on the same host).

use super::report::Summary;

/// A broker process to observe.
#[derive(Debug, Clone, Copy)]
pub struct BrokerProbe {
    pid: u32,
    ticks_per_second: u64,
}

/// CPU time and RSS at one moment.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    /// utime + stime in clock ticks.
    pub cpu_ticks: u64,
    /// Resident set size in KiB.
    pub rss_kb: u64,
}

impl BrokerProbe {
    /// Observes process `pid`.
    pub fn new(pid: u32) -> BrokerProbe {
        BrokerProbe {
            pid,
            ticks_per_second: warren_core::sys::clock_ticks_per_second(),
        }
    }

    /// The process's CPU time and RSS now (zeros if it cannot be read).
    pub fn sample(&self) -> Sample {
        let cpu_ticks = std::fs::read_to_string(format!("/proc/{}/stat", self.pid))
            .ok()
            .and_then(|s| {
                // Fields after the parenthesised command name; utime and stime are 14 and 15.
                let rest = s.rsplit_once(')')?.1;
                let f: Vec<&str> = rest.split_whitespace().collect();
                Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
            })
            .unwrap_or(0);
        let rss_kb = std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .ok()
            .and_then(|s| {
                let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
                line.split_whitespace().nth(1)?.parse().ok()
            })
            .unwrap_or(0);
        Sample { cpu_ticks, rss_kb }
    }

    /// Seconds of CPU between two samples.
    pub fn cpu_seconds(&self, from: Sample, to: Sample) -> f64 {
        to.cpu_ticks.saturating_sub(from.cpu_ticks) as f64 / self.ticks_per_second as f64
    }

    /// Adds broker CPU seconds, CPU µs per message (over `messages`) and RSS to `s`.
    pub fn report(&self, s: &mut Summary, from: Sample, to: Sample, messages: u64) {
        let cpu = self.cpu_seconds(from, to);
        s.num("broker_cpu_s", cpu, 2);
        s.num(
            "broker_cpu_us_per_msg",
            cpu * 1e6 / messages.max(1) as f64,
            2,
        );
        s.int("broker_rss_kb", to.rss_kb);
    }
}

/// Adds CPU/RSS figures when a probe is present.
pub fn report_opt(
    probe: Option<&BrokerProbe>,
    s: &mut Summary,
    from: Sample,
    to: Sample,
    messages: u64,
) {
    if let Some(p) = probe {
        p.report(s, from, to, messages);
    }
}

/// A sample, or zeros without a probe.
pub fn sample_opt(probe: Option<&BrokerProbe>) -> Sample {
    probe.map(|p| p.sample()).unwrap_or_default()
}
