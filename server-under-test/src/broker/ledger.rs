//! Which Redis entry each local ring position holds.
//!
//! The hub numbers events 1, 2, 3, … as this node reads them from the stream; clients know
//! them by their Redis ids. The ledger maps one to the other for the newest `capacity`
//! positions. Position 0 (or the oldest kept) is where reading started: its id is the stream's
//! last entry when the node started (`0-0` for an empty stream).

use std::collections::VecDeque;

use super::stream_id::StreamId;

/// Where a Redis id stands relative to what this node has read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// Read by this node as local sequence number `seq`.
    At(u64),
    /// Inside the range this node has read, but no entry has this id.
    Missing,
    /// Older than anything the ledger still maps.
    Older,
    /// Newer than anything this node has read so far.
    Newer,
}

/// Local sequence numbers `base..base + ids.len()` and their Redis ids (strictly increasing).
#[derive(Debug)]
pub(crate) struct Ledger {
    base: u64,
    ids: VecDeque<StreamId>,
    capacity: usize,
}

impl Ledger {
    /// A ledger whose position 0 is `start`, remembering `capacity` positions (at least 2).
    pub fn new(start: StreamId, capacity: usize) -> Self {
        let mut ids = VecDeque::with_capacity(capacity.clamp(2, 4096));
        ids.push_back(start);
        Ledger {
            base: 0,
            ids,
            capacity: capacity.max(2),
        }
    }

    /// The newest position and its id.
    pub fn head(&self) -> (u64, StreamId) {
        let last = self.ids.len() as u64 - 1;
        (self.base + last, self.ids[self.ids.len() - 1])
    }

    /// Records that local position `seq` (always the next one) holds `id`.
    pub fn push(&mut self, seq: u64, id: StreamId) {
        debug_assert_eq!(seq, self.head().0 + 1);
        debug_assert!(id > self.head().1);
        self.ids.push_back(id);
        while self.ids.len() > self.capacity {
            self.ids.pop_front();
            self.base += 1;
        }
    }

    /// The id at local position `seq`, if still remembered.
    pub fn id_of(&self, seq: u64) -> Option<StreamId> {
        let index = usize::try_from(seq.checked_sub(self.base)?).ok()?;
        self.ids.get(index).copied()
    }

    /// Where `id` stands.
    pub fn place(&self, id: StreamId) -> Place {
        if id > self.head().1 {
            return Place::Newer;
        }
        if id < self.ids[0] {
            return Place::Older;
        }
        match self.ids.binary_search(&id) {
            Ok(i) => Place::At(self.base + i as u64),
            Err(_) => Place::Missing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> StreamId {
        StreamId::parse(format!("{n}-0").as_bytes()).unwrap()
    }

    #[test]
    fn maps_positions_to_ids_and_forgets_the_oldest() {
        let mut l = Ledger::new(id(10), 3);
        assert_eq!(l.head(), (0, id(10)));
        l.push(1, id(20));
        l.push(2, id(30));
        l.push(3, id(40));
        assert_eq!(l.head(), (3, id(40)));
        assert_eq!(l.place(id(10)), Place::Older);
        assert_eq!(l.place(id(20)), Place::At(1));
        assert_eq!(l.place(id(40)), Place::At(3));
        assert_eq!(l.place(id(25)), Place::Missing);
        assert_eq!(l.place(id(41)), Place::Newer);
        assert_eq!(
            (l.id_of(0), l.id_of(2), l.id_of(4)),
            (None, Some(id(30)), None)
        );
    }
}
