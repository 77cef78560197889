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
        Self::from_publisher_text(data).or_else(|| Self::from_json(data))
    }

    /// The exact text the publisher writes, `{"t":T,"n":N,"p":"PAD"}` (PAD without quotes or
    /// backslashes), read without a JSON pass: at a million deliveries a second the readers'
    /// JSON decoding was a large share of the load generator's CPU, which shares the cores
    /// with the server it measures. `None` for any other text, which [`Self::from_json`] reads.
    fn from_publisher_text(data: &str) -> Option<Stamp> {
        let rest = data.strip_prefix(r#"{"t":"#)?;
        let (t, rest) = json_u64(rest)?;
        let rest = rest.strip_prefix(r#","n":"#)?;
        let (n, rest) = json_u64(rest)?;
        let pad = rest.strip_prefix(r#","p":""#)?.strip_suffix(r#""}"#)?;
        // A fold, not `any`: without the early exit the compiler checks 32 bytes a step, and
        // the padding is usually clean.
        let odd = pad.bytes().fold(false, |odd, b| {
            odd | (b == b'"') | (b == b'\\') | (b < 0x20)
        });
        if odd {
            return None;
        }
        Some(Stamp { t, n })
    }

    fn from_json(data: &str) -> Option<Stamp> {
        #[derive(Deserialize)]
        struct Wire {
            t: u64,
            n: u64,
        }
        let w: Wire = serde_json::from_str(data).ok()?;
        Some(Stamp { t: w.t, n: w.n })
    }
}

/// A JSON unsigned integer at the start of `text` (no sign, no leading zero, fits in a `u64`)
/// and what follows it.
fn json_u64(text: &str) -> Option<(u64, &str)> {
    let mut value: u64 = 0;
    let mut digits = 0;
    for b in text.bytes() {
        if !b.is_ascii_digit() {
            break;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
        digits += 1;
    }
    if digits == 0 || (digits > 1 && text.starts_with('0')) {
        return None;
    }
    Some((value, &text[digits..]))
}

/// Nanoseconds since the Unix epoch now.
pub fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// How far out of order events may arrive (several publishers race) and still be told apart
/// from gaps: a sequence number this far past the oldest one not yet seen turns it into a gap.
pub const WINDOW: u64 = 1024;
const WORDS: usize = (WINDOW / 64) as usize;

/// Counts for one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Publisher events received (duplicates included).
    pub received: u64,
    /// Sequence numbers never received.
    pub missing: u64,
    /// Events received more than once.
    pub duplicates: u64,
    /// Events that did not carry a publisher stamp (heartbeats are comments, not events).
    pub foreign: u64,
    /// The oldest sequence number not yet seen.
    pub next: u64,
    /// Which of `next .. next + WINDOW` were seen (a ring indexed by `n % WINDOW`).
    seen: [u64; WORDS],
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            received: 0,
            missing: 0,
            duplicates: 0,
            foreign: 0,
            next: 0,
            seen: [0; WORDS],
        }
    }
}

impl Tally {
    fn bit(&self, n: u64) -> bool {
        let i = n % WINDOW;
        self.seen[(i / 64) as usize] & (1 << (i % 64)) != 0
    }

    fn set(&mut self, n: u64, on: bool) {
        let i = n % WINDOW;
        let word = &mut self.seen[(i / 64) as usize];
        if on {
            *word |= 1 << (i % 64);
        } else {
            *word &= !(1 << (i % 64));
        }
    }

    /// Moves `next` up to `to`, counting what was not seen on the way as missing.
    fn slide(&mut self, to: u64) {
        if to.saturating_sub(self.next) >= WINDOW {
            let seen: u64 = self.seen.iter().map(|w| u64::from(w.count_ones())).sum();
            self.missing += (to - self.next) - seen;
            self.seen = [0; WORDS];
            self.next = to;
            return;
        }
        while self.next < to {
            if !self.bit(self.next) {
                self.missing += 1;
            }
            self.set(self.next, false);
            self.next += 1;
        }
    }

    /// Accounts for one received sequence number.
    pub fn see(&mut self, n: u64) {
        self.received += 1;
        if n < self.next || (n < self.next + WINDOW && self.bit(n)) {
            self.duplicates += 1;
            return;
        }
        if n >= self.next + WINDOW {
            self.slide(n + 1 - WINDOW);
        }
        self.set(n, true);
        while self.bit(self.next) {
            self.set(self.next, false);
            self.next += 1;
        }
    }

    /// Accounts for the end of the run: every number below `assigned` was published except
    /// `unpublished` (numbers whose publish failed for good); those not seen are missing.
    pub fn finish(&mut self, assigned: u64, unpublished: &[u64]) {
        while self.next < assigned {
            if !self.bit(self.next) && !unpublished.contains(&self.next) {
                self.missing += 1;
            }
            self.set(self.next, false);
            self.next += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_duplicates_and_the_tail_are_counted() {
        let mut t = Tally::default();
        for n in [0, 1, 3, 3, 2, 4, 1] {
            t.see(n);
        }
        t.finish(7, &[]);
        // 5 and 6 never came; 3 and 1 came twice; 2 after 3 is a reorder, not a gap.
        assert_eq!((t.received, t.missing, t.duplicates, t.next), (7, 2, 2, 7));
        let mut clean = Tally::default();
        (0..5).for_each(|n| clean.see(n));
        clean.finish(5, &[]);
        assert_eq!((clean.missing, clean.duplicates), (0, 0));
    }

    #[test]
    fn reorders_within_the_window_are_not_gaps_and_big_jumps_are() {
        let mut t = Tally::default();
        for n in (0..200u64).rev().chain(200..300) {
            t.see(n);
        }
        t.finish(301, &[300]);
        assert_eq!((t.received, t.missing, t.duplicates), (300, 0, 0));
        let mut jump = Tally::default();
        jump.see(0);
        jump.see(10 * WINDOW);
        jump.see(5);
        jump.finish(10 * WINDOW + 1, &[]);
        assert_eq!((jump.missing, jump.duplicates), (10 * WINDOW - 1, 1));
        let mut near = Tally::default();
        near.see(WINDOW + 10);
        near.finish(WINDOW + 11, &[]);
        assert_eq!(near.missing, WINDOW + 10);
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

    #[test]
    fn the_publisher_text_and_json_agree() {
        let texts = [
            r#"{"t":1,"n":2,"p":"xx"}"#,
            r#"{"t":1,"n":2,"p":""}"#,
            r#"{"t":18446744073709551615,"n":0,"p":"x"}"#,
            r#"{"t":18446744073709551616,"n":0,"p":"x"}"#,
            r#"{"t":01,"n":2,"p":"x"}"#,
            r#"{"t":1,"n":2,"p":"a"b"}"#,
            r#"{"t":1,"n":2,"p":"a\"}"#,
            r#"{"t":1,"n":2,"p":"x"} "#,
            r#"{"t":1,"n":2,"p":"x"}}"#,
            r#"{"t":1,"n":2}"#,
            r#"{"t":-1,"n":2,"p":"x"}"#,
            r#"{"t":,"n":2,"p":"x"}"#,
        ];
        for text in texts {
            let fast = Stamp::from_publisher_text(text);
            let json = Stamp::from_json(text);
            // The fast path either agrees with the JSON reading or leaves the text to it.
            assert!(
                fast.is_none() || fast == json,
                "{text}: {fast:?} vs {json:?}"
            );
            assert_eq!(Stamp::from_data(text), json, "{text}");
        }
        assert_eq!(
            Stamp::from_publisher_text(r#"{"t":7,"n":9,"p":"xxxx"}"#),
            Some(Stamp { t: 7, n: 9 })
        );
        assert_eq!(Stamp::from_publisher_text(r#"{"t":1,"n":2}"#), None);
    }
}
