//! The id scheme and the resume decision.
//!
//! Ids are `EPOCH-SEQ`: `EPOCH` is 12 lowercase hex digits chosen at random when the server
//! starts, `SEQ` counts events from 1 across all topics. A `Last-Event-ID` from before a restart
//! therefore names another epoch and is recognised as such, never confused with a new event
//! that reuses its number.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

/// Why a resume could not continue exactly where the client left off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetReason {
    /// The id is not one this server could have issued (malformed, or from the future).
    UnknownId,
    /// The id is ours but its successors have left the replay ring.
    TooOld,
    /// The id was issued by an earlier run (or another instance) of the server.
    OtherEpoch,
}

impl ResetReason {
    /// The name used in the `reset` event's JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ResetReason::UnknownId => "unknown-id",
            ResetReason::TooOld => "too-old",
            ResetReason::OtherEpoch => "other-epoch",
        }
    }
}

/// Where a new subscriber starts. `after` is a cursor: it receives events with a larger
/// sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// No id was given: live events only.
    Fresh {
        /// The newest event at the time of the decision.
        after: u64,
    },
    /// The id is in the ring: replay exactly what follows it.
    Resumed {
        /// The sequence number of the client's last event.
        after: u64,
    },
    /// The id cannot be resumed: say so, then continue from `after`.
    Reset {
        /// Why.
        reason: ResetReason,
        /// Where sending continues (before the oldest retained event, or live).
        after: u64,
        /// The newest event at the time of the decision.
        live_after: u64,
    },
    /// Only the `silent-reset` misbehaviour produces this: live events, no signal.
    Unannounced {
        /// The newest event at the time of the decision.
        after: u64,
    },
}

impl Resume {
    /// The subscriber's starting cursor.
    pub fn after(self) -> u64 {
        match self {
            Resume::Fresh { after }
            | Resume::Resumed { after }
            | Resume::Reset { after, .. }
            | Resume::Unannounced { after } => after,
        }
    }

    /// The value of the `SSE-Resume` response header, if one is sent.
    pub fn header(self) -> Option<&'static str> {
        match self {
            Resume::Fresh { .. } => Some("fresh"),
            Resume::Resumed { .. } => Some("resumed"),
            Resume::Reset { .. } => Some("reset"),
            Resume::Unannounced { .. } => None,
        }
    }
}

/// The sequence numbers the ring holds: `oldest..=head` (empty when `oldest > head`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Sequence number of the oldest retained event (`head + 1` when none is retained).
    pub oldest: u64,
    /// Sequence number of the newest event (0 before the first one).
    pub head: u64,
}

/// Decides where a subscriber presenting `last_id` (raw header bytes) starts.
/// Sequence 0 is a valid position ("before the first event") while nothing has been evicted.
pub fn decide(last_id: Option<&[u8]>, epoch: &str, window: Window) -> Resume {
    let Some(raw) = last_id else {
        return Resume::Fresh { after: window.head };
    };
    let reset = |reason| {
        let after = match reason {
            // The client's position is known to be before everything retained: give it all.
            ResetReason::TooOld | ResetReason::OtherEpoch => window.oldest - 1,
            ResetReason::UnknownId => window.head,
        };
        Resume::Reset {
            reason,
            after,
            live_after: window.head,
        }
    };
    let Some((their_epoch, seq)) = parse_id(raw) else {
        return reset(ResetReason::UnknownId);
    };
    if their_epoch != epoch {
        return reset(ResetReason::OtherEpoch);
    }
    if seq > window.head {
        return reset(ResetReason::UnknownId);
    }
    if seq + 1 < window.oldest {
        return reset(ResetReason::TooOld);
    }
    Resume::Resumed { after: seq }
}

/// Splits a well-formed `EPOCH-SEQ` id. The epoch must look like one of ours (1 to 32
/// lowercase hex digits) and the sequence must be plain ASCII digits.
pub fn parse_id(raw: &[u8]) -> Option<(&str, u64)> {
    let text = std::str::from_utf8(raw).ok()?;
    let (epoch, seq) = text.rsplit_once('-')?;
    let hex = |c: u8| c.is_ascii_digit() || (b'a'..=b'f').contains(&c);
    if epoch.is_empty() || epoch.len() > 32 || !epoch.bytes().all(hex) {
        return None;
    }
    if seq.is_empty() || seq.len() > 19 || !seq.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some((epoch, seq.parse().ok()?))
}

/// Formats the id of event `seq`.
pub fn format_id(epoch: &str, seq: u64) -> String {
    format!("{epoch}-{seq}")
}

/// A fresh epoch: 48 random bits (seeded from the OS through `RandomState`, mixed with time).
pub fn new_epoch() -> String {
    format!("{:012x}", random_u64() & 0xffff_ffff_ffff)
}

/// A random number good enough for epochs and jitter (not for secrets).
pub(crate) fn random_u64() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut h = RandomState::new().build_hasher();
    h.write_u128(nanos);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    const E: &str = "00aa11bb22cc";

    fn w(oldest: u64, head: u64) -> Window {
        Window { oldest, head }
    }

    #[test]
    fn resumes_inside_the_window() {
        assert_eq!(
            decide(Some(b"00aa11bb22cc-7"), E, w(5, 9)),
            Resume::Resumed { after: 7 }
        );
        assert_eq!(
            decide(Some(b"00aa11bb22cc-4"), E, w(5, 9)),
            Resume::Resumed { after: 4 }
        );
        assert_eq!(
            decide(Some(b"00aa11bb22cc-9"), E, w(5, 9)),
            Resume::Resumed { after: 9 }
        );
        assert_eq!(
            decide(Some(b"00aa11bb22cc-0"), E, w(1, 0)),
            Resume::Resumed { after: 0 }
        );
        assert_eq!(decide(None, E, w(5, 9)), Resume::Fresh { after: 9 });
    }

    #[test]
    fn resets_say_why() {
        let reason = |id: &[u8]| match decide(Some(id), E, w(5, 9)) {
            Resume::Reset { reason, .. } => Some(reason),
            _ => None,
        };
        assert_eq!(reason(b"00aa11bb22cc-3"), Some(ResetReason::TooOld));
        assert_eq!(reason(b"00aa11bb22cc-10"), Some(ResetReason::UnknownId));
        assert_eq!(reason(b"ffff-3"), Some(ResetReason::OtherEpoch));
        for bad in [
            &b""[..],
            b"7",
            b"x-1",
            b"00aa11bb22cc-",
            b"00aa11bb22cc-+1",
            b"\xff-1",
        ] {
            assert_eq!(reason(bad), Some(ResetReason::UnknownId), "{bad:?}");
        }
        let long = vec![b'a'; 65536];
        assert_eq!(reason(&long), Some(ResetReason::UnknownId));
    }

    #[test]
    fn too_old_replays_what_is_left_and_unknown_goes_live() {
        let old = decide(Some(b"00aa11bb22cc-1"), E, w(5, 9));
        assert_eq!(old.after(), 4);
        let unknown = decide(Some(b"nonsense"), E, w(5, 9));
        assert_eq!(unknown.after(), 9);
    }

    #[test]
    fn epochs_differ() {
        assert_ne!(new_epoch(), new_epoch());
        assert_eq!(new_epoch().len(), 12);
    }
}
