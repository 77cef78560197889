//! The ring of pre-encoded frames: every event is encoded once into a shared `Bytes` frame and
//! kept here, bounded in events and in bytes, for live fan-out and for replay.

use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use super::Topics;
use crate::replay::Window;

/// A stored event.
pub(crate) struct Entry {
    pub seq: u64,
    pub topic: Option<Arc<str>>,
    pub frame: Bytes,
    /// The event as `/ws` sends it, encoded the first time a WebSocket subscriber takes it
    /// (then shared by all of them); never for a server without WebSocket subscribers.
    json: OnceLock<Bytes>,
    /// Bytes of all frames published up to and including this one.
    pub end: u64,
}

impl Entry {
    /// The event as one WebSocket text frame's JSON, encoded once per event.
    pub fn json(&self) -> &Bytes {
        self.json
            .get_or_init(|| crate::event_json::event_json_bytes(&self.frame))
    }

    /// Bytes of all frames published before this one.
    fn start(&self) -> u64 {
        self.end - self.frame.len() as u64
    }
}

/// The retained events, oldest first, and the counters that outlive them.
pub(super) struct Ring {
    entries: VecDeque<Entry>,
    /// Sequence number of the newest event (0 before the first one).
    head: u64,
    /// Bytes of all frames ever published.
    total_bytes: u64,
    capacity: usize,
    capacity_bytes: u64,
}

impl Ring {
    /// A ring holding at most `capacity` events (at least 1) and `capacity_bytes` bytes.
    pub fn new(capacity: usize, capacity_bytes: u64) -> Self {
        let capacity = capacity.max(1);
        Ring {
            entries: VecDeque::with_capacity(capacity.min(4096)),
            head: 0,
            total_bytes: 0,
            capacity,
            capacity_bytes,
        }
    }

    pub fn head(&self) -> u64 {
        self.head
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn window(&self) -> Window {
        Window {
            oldest: self.entries.front().map_or(self.head + 1, |e| e.seq),
            head: self.head,
        }
    }

    /// Appends the next event and drops the oldest while the ring is over either bound (the
    /// newest event always stays). Returns its sequence number.
    pub fn push(&mut self, topic: Option<Arc<str>>, frame: Bytes) -> u64 {
        let seq = self.head + 1;
        self.total_bytes += frame.len() as u64;
        self.entries.push_back(Entry {
            seq,
            topic,
            frame,
            json: OnceLock::new(),
            end: self.total_bytes,
        });
        self.head = seq;
        while self.entries.len() > self.capacity
            || (self.entries.len() > 1 && self.held_bytes() > self.capacity_bytes)
        {
            self.entries.pop_front();
        }
        seq
    }

    /// Bytes of the frames the ring holds.
    pub fn held_bytes(&self) -> u64 {
        self.total_bytes - self.entries.front().map_or(self.total_bytes, Entry::start)
    }

    /// Whether events after `cursor` that it has not seen have left the ring.
    pub fn passed(&self, cursor: u64) -> bool {
        self.entries.front().is_some_and(|e| cursor + 1 < e.seq)
    }

    /// Bytes of the frames published after `cursor`, which must not have been passed.
    pub fn bytes_after(&self, cursor: u64) -> u64 {
        let Some(front) = self.entries.front() else {
            return 0;
        };
        if cursor >= self.head {
            return 0;
        }
        let start = if cursor < front.seq {
            front.start()
        } else {
            self.entries[(cursor - front.seq) as usize].end
        };
        self.total_bytes - start
    }

    /// The retained events after `cursor`, oldest first.
    pub fn after(&self, cursor: u64) -> impl Iterator<Item = &Entry> {
        let index = self.entries.front().map_or(0, |front| {
            index_after(cursor, front.seq, self.entries.len())
        });
        self.entries.range(index..)
    }

    /// Moves `cursor` to the next event matching `topics` and returns its frame, without taking
    /// a reference on it (callers copy it under the lock, or clone it).
    pub fn next_after(&self, cursor: &mut u64, topics: &Topics) -> Option<&Bytes> {
        self.next_entry_after(cursor, topics).map(|e| &e.frame)
    }

    /// Like [`Self::next_after`], the whole entry.
    pub fn next_entry_after(&self, cursor: &mut u64, topics: &Topics) -> Option<&Entry> {
        for entry in self.after(*cursor) {
            *cursor = entry.seq;
            if topics.matches(entry.topic.as_deref()) {
                return Some(entry);
            }
        }
        None
    }
}

/// The ring index of the first event after `cursor` (`len` when there is none yet; a cursor can
/// be past the head under the `replay-gap` misbehaviour).
fn index_after(cursor: u64, front: u64, len: usize) -> usize {
    let index = (cursor + 1).saturating_sub(front);
    usize::try_from(index).map_or(len, |i| i.min(len))
}
