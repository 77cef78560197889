//! One subscriber's accounting of what it received, whatever the transport: the sequence
//! tally (gaps, duplicates), the latency of each stamped event, the last event id (what a
//! reconnect resumes from), and resets. A transport hands it the events of one read; the
//! subscriber then [`flush`](Account::flush)es them into the run's shared figures at once.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use super::sequence::{unix_nanos, Stamp, Tally};
use super::subscriber::Shared;

/// What one subscriber received.
pub struct Account {
    index: usize,
    shared: Arc<Shared>,
    /// Whether latencies and deliveries count (readers) or only the tally (stalled drains).
    measure: bool,
    /// The tally against the published sequence.
    pub tally: Tally,
    /// When the read being accounted for arrived (0: no event yet).
    now: u64,
    latencies: Vec<u64>,
    payload: u64,
    last_id: String,
    /// Reset signals received (the server could not resume from the id given).
    pub resets: u64,
}

impl Account {
    /// An empty account for subscriber `index`.
    pub fn new(index: usize, shared: Arc<Shared>, measure: bool) -> Self {
        Account {
            index,
            shared,
            measure,
            tally: Tally::default(),
            now: 0,
            latencies: Vec::new(),
            payload: 0,
            last_id: String::new(),
            resets: 0,
        }
    }

    /// The subscriber's number (which histogram shard it records into).
    pub fn index(&self) -> usize {
        self.index
    }

    /// Stops measuring latencies and deliveries (a stalled reader draining at the end).
    pub fn count_only(&mut self) {
        self.measure = false;
    }

    /// One event: its id (`""` when it has none) and its data.
    pub fn event(&mut self, id: &str, data: &str) {
        if self.now == 0 {
            self.now = unix_nanos();
        }
        if !id.is_empty() {
            // Reuses the buffer: this runs for every event on every connection.
            self.last_id.clear();
            self.last_id.push_str(id);
        }
        let Some(stamp) = Stamp::from_data(data) else {
            self.tally.foreign += 1;
            return;
        };
        self.tally.see(stamp.n);
        if self.measure {
            self.latencies
                .push(self.now.saturating_sub(stamp.t) / 1_000);
            self.payload += data.len() as u64;
        }
    }

    /// The server said it could not resume from the id given.
    pub fn reset(&mut self) {
        self.resets += 1;
    }

    /// The id of the last event received, to resume from.
    pub fn last_id(&self) -> Option<&str> {
        (!self.last_id.is_empty()).then_some(self.last_id.as_str())
    }

    /// Moves the figures of the events accounted since the last flush into the shared ones.
    /// Once per read, not per event: with coalesced writes a read holds a hundred events, and
    /// a shared lock per event made the load generator its own bottleneck.
    pub fn flush(&mut self) {
        self.now = 0;
        if self.latencies.is_empty() {
            return;
        }
        self.shared
            .latencies
            .record_all(self.index, &self.latencies);
        self.shared
            .delivered
            .fetch_add(self.latencies.len() as u64, Relaxed);
        self.shared.payload_bytes.fetch_add(self.payload, Relaxed);
        self.latencies.clear();
        self.payload = 0;
    }
}
