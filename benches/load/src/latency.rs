//! Delivery latency: publish timestamp (in the event's data) to the moment the client parsed
//! the event, in microseconds, recorded into a few histogram shards so that thousands of
//! reader tasks rarely contend for one lock.

use std::sync::Mutex;

use hdrhistogram::Histogram;

const SHARDS: usize = 16;
/// Anything above a minute is recorded as a minute.
const HIGHEST_US: u64 = 60_000_000;

/// The latency histograms shared by every reader.
pub struct Latencies {
    shards: Vec<Mutex<Histogram<u64>>>,
}

/// Percentiles of the delivery latency, in microseconds.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct LatencySummary {
    /// Events measured.
    pub count: u64,
    /// Median.
    pub p50_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p99_9_us: u64,
    /// Largest.
    pub max_us: u64,
    /// Mean.
    pub mean_us: f64,
}

impl Latencies {
    /// Empty histograms (1 µs to 60 s, 3 significant digits).
    pub fn new() -> Self {
        let shards = (0..SHARDS)
            .map(|_| {
                Mutex::new(
                    Histogram::new_with_bounds(1, HIGHEST_US, 3)
                        .expect("static histogram bounds are valid"),
                )
            })
            .collect();
        Latencies { shards }
    }

    /// Records the latencies of everything reader `reader` parsed from one read, under one lock.
    pub fn record_all(&self, reader: usize, micros: &[u64]) {
        if micros.is_empty() {
            return;
        }
        let mut shard = match self.shards[reader % SHARDS].lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        for &m in micros {
            shard.saturating_record(m.clamp(1, HIGHEST_US));
        }
    }

    /// Merges the shards into percentiles.
    pub fn summary(&self) -> LatencySummary {
        let mut all = Histogram::<u64>::new_with_bounds(1, HIGHEST_US, 3)
            .expect("static histogram bounds are valid");
        for shard in &self.shards {
            let shard = match shard.lock() {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
            let _ = all.add(&*shard);
        }
        if all.is_empty() {
            return LatencySummary::default();
        }
        LatencySummary {
            count: all.len(),
            p50_us: all.value_at_quantile(0.50),
            p99_us: all.value_at_quantile(0.99),
            p99_9_us: all.value_at_quantile(0.999),
            max_us: all.max(),
            mean_us: all.mean(),
        }
    }
}

impl Default for Latencies {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_merge_into_percentiles() {
        let l = Latencies::new();
        for i in 1..=500u64 {
            l.record_all(i as usize, &[i]);
        }
        l.record_all(3, &(501..=1000).collect::<Vec<u64>>());
        let s = l.summary();
        assert_eq!(s.count, 1000);
        assert!((499..=501).contains(&s.p50_us), "{s:?}");
        assert!((989..=991).contains(&s.p99_us), "{s:?}");
        assert_eq!(s.max_us, 1000);
        assert_eq!(Latencies::new().summary().count, 0);
    }
}
