//! The lag policy: how far behind a stream subscriber may fall before it is dropped, and what
//! dropping it means (end at an event boundary, then cut the connection if it stays stuck).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::ring::Ring;
use super::subscribers::{SlotKind, Slots};
use super::{ConnControl, HubLimits};

/// What the fan-out does with a stream that cannot keep up, chosen once when the hub is built.
/// Only publishing and the periodic tick look at it; delivering an event never does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Evicted past the lag limits; the client resumes with `Last-Event-ID`.
    Evict,
    /// `slow-consumer-blocks`: publishing waits while a stream is `lag` events behind or more,
    /// and nobody is evicted for lagging.
    #[cfg(feature = "misbehave")]
    Block { lag: u64 },
    /// `lossy-queue`: a publish that leaves a stream more than `queue` events behind drops it
    /// from the fan-out without a word.
    #[cfg(feature = "misbehave")]
    Lossy { queue: u64 },
}

impl Flow {
    /// Whether lagging streams are evicted.
    pub(super) fn evicts(self) -> bool {
        #[cfg(feature = "misbehave")]
        if let Flow::Block { .. } = self {
            return false;
        }
        true
    }
}

/// How often a publisher blocked by `slow-consumer-blocks` looks again. Polled rather than
/// notified: telling it about every delivery would put a check on every stream's hot path.
#[cfg(feature = "misbehave")]
const BLOCKED_POLL: Duration = Duration::from_millis(1);

/// A subscriber is evicted once it has stayed over a lag limit this long (a burst that it
/// catches up with is no reason to drop it). Falling off the ring evicts at once.
pub(super) const LAG_GRACE: Duration = Duration::from_secs(1);
/// An evicted subscriber that has not ended its stream by itself after this long is stuck
/// behind a full socket: its connection is cut.
pub(super) const EVICTION_GRACE: Duration = Duration::from_millis(300);

/// A stream subscriber against the lag limits.
#[derive(Debug, Clone, Copy)]
pub(super) enum Lag {
    Within,
    /// Over a limit since then.
    Over(Instant),
    /// Evicted then: its stream ends at the next event boundary.
    Evicted(Instant),
    /// Dropped from the fan-out without a word (`lossy-queue`): the stream stays open and
    /// gets no more events.
    #[cfg(feature = "misbehave")]
    Detached,
}

/// How far behind a cursor is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Standing {
    Within,
    OverLimit,
    /// Events it has not sent have left the ring: it cannot go on without a gap.
    OffRing,
}

pub(super) fn standing(ring: &Ring, cursor: u64, limits: &HubLimits) -> Standing {
    if ring.passed(cursor) {
        return Standing::OffRing;
    }
    let behind = ring.head().saturating_sub(cursor);
    if behind > limits.max_lag_events || ring.bytes_after(cursor) > limits.max_lag_bytes {
        return Standing::OverLimit;
    }
    Standing::Within
}

/// What one round of [`police`] found.
#[derive(Default)]
pub(super) struct Policed {
    /// Connections of evicted subscribers that never ended their stream.
    pub cut: Vec<Arc<ConnControl>>,
    /// Subscribers evicted this round (to wake, so that they end their stream).
    pub evicted: Vec<std::task::Waker>,
    pub dropped: u64,
    /// The furthest any attached stream is behind, in events.
    pub lag_max: u64,
}

/// Applies the lag limits to every stream at `now`. With `evict` false (`slow-consumer-blocks`)
/// nobody is evicted, but earlier evictions still lead to cuts.
pub(super) fn police(
    slots: &mut Slots,
    ring: &Ring,
    limits: &HubLimits,
    evict: bool,
    now: Instant,
) -> Policed {
    let mut out = Policed::default();
    for slot in slots.iter_mut() {
        let SlotKind::Stream { conn, lag } = &mut slot.kind else {
            continue;
        };
        #[cfg(feature = "misbehave")]
        if let Lag::Detached = *lag {
            continue;
        }
        let behind = ring.head().saturating_sub(slot.cursor);
        out.lag_max = out.lag_max.max(behind);
        if let Lag::Evicted(at) = *lag {
            if now.duration_since(at) >= EVICTION_GRACE {
                tracing::warn!(peer = %conn.peer, "evicted subscriber stopped reading: connection cut");
                out.cut.push(Arc::clone(conn));
            }
            continue;
        }
        if !evict {
            continue;
        }
        let evicted = match (*lag, standing(ring, slot.cursor, limits)) {
            (_, Standing::OffRing) => true,
            (Lag::Over(since), Standing::OverLimit) => now.duration_since(since) >= LAG_GRACE,
            (_, Standing::OverLimit) => {
                *lag = Lag::Over(now);
                false
            }
            (_, Standing::Within) => {
                *lag = Lag::Within;
                false
            }
        };
        if evicted {
            *lag = Lag::Evicted(now);
            out.dropped += 1;
            tracing::warn!(peer = %conn.peer, behind, "subscriber over the lag limit: dropped");
            out.evicted.extend(slot.waker.take());
        }
    }
    out
}

/// `lossy-queue`: a stream with more than `queue` events waiting is dropped from the fan-out
/// (Flask's `put_nowait` raising `queue.Full`), and nobody tells its connection.
#[cfg(feature = "misbehave")]
pub(super) fn detach_full_queues(slots: &mut Slots, head: u64, queue: u64) {
    for slot in slots.iter_mut() {
        if let SlotKind::Stream { conn, lag } = &mut slot.kind {
            if !matches!(lag, Lag::Detached) && head.saturating_sub(slot.cursor) > queue {
                tracing::warn!(peer = %conn.peer, "lossy-queue: subscriber queue full, dropped silently");
                *lag = Lag::Detached;
            }
        }
    }
}

#[cfg(feature = "misbehave")]
impl super::Hub {
    /// `slow-consumer-blocks`: waits until no stream is `lag` events behind or more, or
    /// shutdown begins.
    pub(super) async fn wait_for_slowest(&self, lag: u64) {
        loop {
            {
                let st = self.lock();
                let head = st.ring.head();
                let behind = st
                    .slots
                    .iter()
                    .filter(|s| matches!(s.kind, SlotKind::Stream { .. }))
                    .map(|s| head.saturating_sub(s.cursor))
                    .max()
                    .unwrap_or(0);
                if behind < lag || st.closing {
                    return;
                }
            }
            tokio::time::sleep(BLOCKED_POLL).await;
        }
    }
}
