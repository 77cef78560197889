//! What one connection received, against the publisher's sequence `0, 1, 2, …`: every event's
//! data carries `{"t": unix_nanos, "n": seq}`, and one publisher sends them in order, so a
//! jump forward is a gap and a step back is a duplicate.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Deserialize;

/// The payload the publisher puts in each event's data.
#[derive(Debug, Deserialize, serde::Serialize, PartialEq, Eq)]
pub struct Stamp {
    /// Send time, nanoseconds since the Unix epoch.
    pub t: u64,
    /// Sequence number, from 0.
    pub n: u64,
}

impl Stamp {
    /// Reads the stamp from an event's data; `None` for events that are not the publisher's.
    pub fn from_data(data: &str) -> Option<Stamp> {
        #[derive(Deserialize)]
        struct Wire {
            t: u64,
            n: u64,
        }
        let w: Wire = serde_json::from_str(data).ok()?;
        Some(Stamp { t: w.t, n: w.n })
    }
}

/// Nanoseconds since the Unix epoch now.
pub fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Counts for one connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Publisher events received (duplicates included).
    pub received: u64,
    /// Sequence numbers skipped over.
    pub missing: u64,
    /// Events at or below one already seen.
    pub duplicates: u64,
    /// Events that did not carry a publisher stamp (heartbeats are comments, not events).
    pub foreign: u64,
    /// The next sequence number expected.
    pub next: u64,
}

impl Tally {
    /// Accounts for one received sequence number.
    pub fn see(&mut self, n: u64) {
        self.received += 1;
        if n < self.next {
            self.duplicates += 1;
            return;
        }
        self.missing += n - self.next;
        self.next = n + 1;
    }

    /// Accounts for the events published after the last one received.
    pub fn finish(&mut self, published: u64) {
        if published > self.next {
            self.missing += published - self.next;
            self.next = published;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_duplicates_and_the_tail_are_counted() {
        let mut t = Tally::default();
        for n in [0, 1, 3, 3, 2, 4] {
            t.see(n);
        }
        t.finish(7);
        assert_eq!((t.received, t.missing, t.duplicates, t.next), (6, 3, 2, 7));
        let mut clean = Tally::default();
        (0..5).for_each(|n| clean.see(n));
        clean.finish(5);
        assert_eq!((clean.missing, clean.duplicates), (0, 0));
    }

    #[test]
    fn stamps_round_trip_and_foreign_data_is_not_one() {
        let s = Stamp { t: 17, n: 4 };
        assert_eq!(
            Stamp::from_data(&serde_json::to_string(&s).unwrap()),
            Some(s)
        );
        assert_eq!(
            Stamp::from_data(r#"{"t":1,"n":2,"p":"xx"}"#),
            Some(Stamp { t: 1, n: 2 })
        );
        assert_eq!(Stamp::from_data("tick 3"), None);
    }
}
