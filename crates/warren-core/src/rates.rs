//! Message rates: a sampler records counters of each object (queue, exchange,
//! connection, channel, the whole broker) every few seconds; the rate of a
//! counter is its increase over the last interval divided by the interval's
//! length, as RabbitMQ's management agent computes `*_details.rate`. The
//! last [`HISTORY_LEN`] samples of each object are kept with their wall-clock
//! times for the API's `samples` history (lengths_age, msg_rates_age).

use std::collections::{HashMap, VecDeque};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Samples kept per object: 121, i.e. 605 seconds at the default 5-second
/// interval (RabbitMQ's basic retention of fine samples).
pub const HISTORY_LEN: usize = 121;

use parking_lot::Mutex;

struct Sample {
    at: Instant,
    values: Vec<u64>,
    rates: Vec<f64>,
    seen: u64,
    /// (milliseconds since the Unix epoch, values), oldest first.
    history: VecDeque<(u64, Vec<u64>)>,
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn push_history(history: &mut VecDeque<(u64, Vec<u64>)>, values: &[u64]) {
    if history.len() == HISTORY_LEN {
        history.pop_front();
    }
    history.push_back((unix_ms(), values.to_vec()));
}

/// Last samples and rates per object key (e.g. "queue//q").
#[derive(Default)]
pub struct RateTable {
    samples: Mutex<HashMap<String, Sample>>,
    round: Mutex<u64>,
}

impl RateTable {
    /// Starts a sampling round; objects not recorded in it are forgotten at
    /// [`RateTable::end_round`].
    pub fn begin_round(&self) -> u64 {
        let mut round = self.round.lock();
        *round += 1;
        *round
    }

    /// Records an object's counters at `at`, updating its rates.
    pub fn record(&self, round: u64, key: &str, at: Instant, values: &[u64]) {
        let mut samples = self.samples.lock();
        match samples.get_mut(key) {
            Some(s) => {
                let secs = at.saturating_duration_since(s.at).as_secs_f64();
                if secs > 0.0 {
                    // Signed: a gauge (queue depth, memory) may fall.
                    s.rates = values
                        .iter()
                        .zip(s.values.iter().chain(std::iter::repeat(&0)))
                        .map(|(now, before)| (*now as f64 - *before as f64) / secs)
                        .collect();
                    s.values = values.to_vec();
                    s.at = at;
                    push_history(&mut s.history, values);
                }
                s.seen = round;
            }
            None => {
                let mut history = VecDeque::new();
                push_history(&mut history, values);
                samples.insert(
                    key.to_string(),
                    Sample {
                        at,
                        values: values.to_vec(),
                        rates: vec![0.0; values.len()],
                        seen: round,
                        history,
                    },
                );
            }
        }
    }

    /// Forgets objects that were not recorded in `round` (they are gone).
    pub fn end_round(&self, round: u64) {
        self.samples.lock().retain(|_, s| s.seen == round);
    }

    /// The rates of an object's counters (zeros if unknown yet).
    pub fn rates(&self, key: &str, n: usize) -> Vec<f64> {
        self.samples
            .lock()
            .get(key)
            .map(|s| s.rates.clone())
            .unwrap_or_else(|| vec![0.0; n])
    }
}

impl RateTable {
    /// The kept samples of an object's counters, oldest first, each with its
    /// time in milliseconds since the Unix epoch.
    pub fn history(&self, key: &str) -> Vec<(u64, Vec<u64>)> {
        self.samples
            .lock()
            .get(key)
            .map(|s| s.history.iter().cloned().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rate_is_increase_over_interval() {
        let table = RateTable::default();
        let t0 = Instant::now();
        let r = table.begin_round();
        table.record(r, "q", t0, &[10, 0]);
        assert_eq!(table.rates("q", 2), vec![0.0, 0.0]);
        let r = table.begin_round();
        table.record(r, "q", t0 + Duration::from_secs(5), &[60, 5]);
        assert_eq!(table.rates("q", 2), vec![10.0, 1.0]);
        let r = table.begin_round();
        table.record(r, "q", t0 + Duration::from_secs(10), &[60, 0]);
        assert_eq!(table.rates("q", 2), vec![0.0, -1.0]);
        let history: Vec<Vec<u64>> = table.history("q").into_iter().map(|(_, v)| v).collect();
        assert_eq!(history, vec![vec![10, 0], vec![60, 5], vec![60, 0]]);
        table.end_round(r);
        let r = table.begin_round();
        table.end_round(r);
        assert_eq!(table.rates("q", 2), vec![0.0, 0.0]);
    }
}
