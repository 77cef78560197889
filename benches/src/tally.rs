//! What every parser is asked for: how many events, how many data bytes.

/// The answer a parser gives for one stream: events dispatched and the sum of their data
/// lengths in bytes (UTF-8). Summing lengths forces each peer to produce the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tally {
    /// Events dispatched.
    pub events: u64,
    /// Sum of `data.len()` over those events.
    pub data_bytes: u64,
}

impl Tally {
    /// Counts one event with `data_len` bytes of data.
    pub fn add(&mut self, data_len: usize) {
        self.events += 1;
        self.data_bytes += data_len as u64;
    }
}
