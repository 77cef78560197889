//! Delivery latency: publish timestamp (in the event's data) to the moment the client parsed
//! the event, in microseconds, recorded into a few histogram shards so that thousands of
//! reader tasks rarely contend for one lock.

use std::sync::Mutex;

use hdrhistogram::Histogram;

const SHARDS: usize = 16;
/// Anything above a minute is recorded as a minute.
const HIGHEST_US: u64 = 60_000_000;

/// The percentiles [`LatencySummary::distribution`] gives, the same in every report so that
/// runs and transports line up point for point. Spaced on a "nines" scale: ever closer
/// together towards 100, where the tail is (a plot's x axis is then `-log10(1 - p/100)`).
pub const DISTRIBUTION_PERCENTILES: [f64; 22] = [
    0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 75.0, 80.0, 85.0, 90.0, 95.0, 97.5, 99.0, 99.5,
    99.75, 99.9, 99.95, 99.99, 99.999, 100.0,
];

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
    /// The value at each of [`DISTRIBUTION_PERCENTILES`], enough to plot the distribution
    /// (empty when nothing was measured, and absent from reports written before it existed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub distribution: Vec<Percentile>,
}

/// One point of a latency distribution.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Percentile {
    /// Percentile, 0 (the smallest value) to 100 (the largest).
    pub percentile: f64,
    /// At most this many microseconds for that share of the measurements (to the histogram's
    /// precision, 3 significant digits).
    pub value_us: u64,
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
            distribution: DISTRIBUTION_PERCENTILES
                .iter()
                .map(|&percentile| Percentile {
                    percentile,
                    // hdrhistogram gives the lowest recorded value at quantile 0 and the
                    // highest at 1.
                    value_us: all.value_at_quantile(percentile / 100.0),
                })
                .collect(),
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

    #[test]
    fn distribution_gives_every_listed_percentile_in_order() {
        let l = Latencies::new();
        // 1..=10 000 µs, one of each, over several shards: the value at p is about p% of 10 000.
        for i in 1..=10_000u64 {
            l.record_all(i as usize, &[i]);
        }
        let s = l.summary();
        let d = &s.distribution;
        let listed: Vec<f64> = d.iter().map(|p| p.percentile).collect();
        assert_eq!(listed, DISTRIBUTION_PERCENTILES);
        assert_eq!(d.first().map(|p| p.value_us), Some(1));
        assert_eq!(d.last().map(|p| p.value_us), Some(s.max_us));
        assert!(
            d.windows(2).all(|w| w[0].value_us <= w[1].value_us),
            "{d:?}"
        );
        for p in d.iter().filter(|p| p.percentile >= 10.0) {
            let expected = p.percentile * 100.0;
            let got = p.value_us as f64;
            // 3 significant digits, and the quantile's rank rounds to a whole value.
            assert!((got - expected).abs() <= expected * 0.002 + 1.0, "{p:?}");
        }
        let median = d.iter().find(|p| p.percentile == 50.0).map(|p| p.value_us);
        assert_eq!(median, Some(s.p50_us));
    }

    #[test]
    fn nothing_measured_has_no_distribution() {
        assert!(Latencies::new().summary().distribution.is_empty());
    }
}
