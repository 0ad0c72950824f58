//! Message rates: a sampler records counters of each object (queue, exchange,
//! connection, channel, the whole broker) every few seconds; the rate of a
//! counter is its increase over the last interval divided by the interval's
//! length, as RabbitMQ's management agent computes `*_details.rate`.

use std::collections::HashMap;
use std::time::Instant;

use parking_lot::Mutex;

struct Sample {
    at: Instant,
    values: Vec<u64>,
    rates: Vec<f64>,
    seen: u64,
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
                    s.rates = values
                        .iter()
                        .zip(s.values.iter().chain(std::iter::repeat(&0)))
                        .map(|(now, before)| now.saturating_sub(*before) as f64 / secs)
                        .collect();
                    s.values = values.to_vec();
                    s.at = at;
                }
                s.seen = round;
            }
            None => {
                samples.insert(
                    key.to_string(),
                    Sample {
                        at,
                        values: values.to_vec(),
                        rates: vec![0.0; values.len()],
                        seen: round,
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
        table.end_round(r);
        let r = table.begin_round();
        table.end_round(r);
        assert_eq!(table.rates("q", 2), vec![0.0, 0.0]);
    }
}
