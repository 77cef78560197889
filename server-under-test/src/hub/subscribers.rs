//! The subscribers: each is a cursor (a sequence number) into the ring and a waker, held in a
//! slot of the hub. A [`Subscription`] is one event stream's handle on its slot.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};

use super::lag::{standing, Lag, Standing};
use super::{CloseReason, ConnControl, Drained, Hub, Next, State, Topics, HEARTBEAT_TICKS};
use crate::metrics::Metrics;

pub(super) enum SlotKind {
    /// A long-poll request waiting for events: never evicted.
    Poll,
    /// An event stream.
    Stream { conn: Arc<ConnControl>, lag: Lag },
}

pub(super) struct Slot {
    pub waker: Option<Waker>,
    pub cursor: u64,
    pub kind: SlotKind,
}

impl Slot {
    fn lag(&self) -> Option<Lag> {
        match self.kind {
            SlotKind::Stream { lag, .. } => Some(lag),
            SlotKind::Poll => None,
        }
    }
}

/// Every registered subscriber, in reusable slots.
#[derive(Default)]
pub(super) struct Slots {
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    /// Event streams among them.
    streams: usize,
}

impl Slots {
    pub fn insert(&mut self, slot: Slot) -> usize {
        if matches!(slot.kind, SlotKind::Stream { .. }) {
            self.streams += 1;
        }
        match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(slot);
                i
            }
            None => {
                self.slots.push(Some(slot));
                self.slots.len() - 1
            }
        }
    }

    pub fn remove(&mut self, i: usize) {
        if let Some(slot) = self.slots.get_mut(i).and_then(Option::take) {
            if matches!(slot.kind, SlotKind::Stream { .. }) {
                self.streams -= 1;
            }
            self.free.push(i);
        }
    }

    pub fn get(&self, i: usize) -> Option<&Slot> {
        self.slots.get(i).and_then(Option::as_ref)
    }

    pub fn get_mut(&mut self, i: usize) -> Option<&mut Slot> {
        self.slots.get_mut(i).and_then(Option::as_mut)
    }

    pub fn streams(&self) -> usize {
        self.streams
    }

    pub fn iter(&self) -> impl Iterator<Item = &Slot> {
        self.slots.iter().flatten()
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Slot> {
        self.slots.iter_mut().flatten()
    }

    pub fn take_wakers(&mut self) -> Vec<Waker> {
        self.iter_mut().filter_map(|s| s.waker.take()).collect()
    }
}

/// One event stream's place in the hub. Dropping it unregisters the subscriber.
pub(crate) struct Subscription {
    pub(super) hub: Arc<Hub>,
    pub(super) slot: usize,
    pub(super) cursor: u64,
    /// Events up to this sequence number were published before the stream opened: sending
    /// them counts as replay.
    pub(super) replay_until: u64,
    pub(super) topics: Topics,
    pub(super) last_send_gen: u64,
    /// `lossy-queue` only: when this stream may take its next event.
    pub(super) pace: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Subscription {
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// Whether `lossy-queue` dropped this stream from the fan-out (it gets no more events).
    fn detached(&self, st: &State) -> bool {
        let lag = st.slots.get(self.slot).and_then(Slot::lag);
        matches!(lag, Some(Lag::Detached))
    }

    /// Why this stream must end now, if it must: evicted for lagging, or events it never sent
    /// were overwritten (going on would be a silent gap; counted here).
    fn must_close(&self, st: &State) -> Option<CloseReason> {
        let hub = &*self.hub;
        match st.slots.get(self.slot).and_then(Slot::lag) {
            Some(Lag::Detached) => return None,
            Some(Lag::Evicted(_)) => return Some(CloseReason::Lagging),
            _ => {}
        }
        if !hub.misbehave.publish_blocks()
            && standing(&st.ring, self.cursor, &hub.limits) == Standing::OffRing
        {
            Metrics::add(&hub.metrics.lagging_dropped, 1);
            return Some(CloseReason::Lagging);
        }
        None
    }

    /// Records how far this stream has got, for the lag policy.
    fn store_cursor(&self, st: &mut State) {
        if let Some(slot) = st.slots.get_mut(self.slot) {
            slot.cursor = self.cursor;
        }
    }

    /// Appends to `first` (an event just taken) every event already waiting, under one lock,
    /// until the piece holds `max_bytes`. Registers no waker: the caller polls again with
    /// [`Self::poll_next`] once the piece is written. Copying under the lock costs less than
    /// locking, and counting references to the shared frames, once per event.
    pub fn drain_ready(&mut self, first: Bytes, max_bytes: usize) -> Drained {
        let hub = &*self.hub;
        let mut st = hub.lock();
        if let Some(reason) = self.must_close(&st) {
            return Drained {
                piece: first,
                events: 0,
                closed: Some(reason),
            };
        }
        // `lossy-queue` writes one event at a time, paced, and a detached stream gets none.
        if self.pace.is_some() || self.detached(&st) {
            return Drained {
                piece: first,
                events: 0,
                closed: None,
            };
        }
        let mut piece: Option<BytesMut> = None;
        let (mut events, mut replayed) = (0, 0);
        while piece.as_ref().map_or(first.len(), BytesMut::len) < max_bytes {
            let Some(frame) = st.ring.next_after(&mut self.cursor, &self.topics) else {
                break;
            };
            piece
                .get_or_insert_with(|| {
                    let mut p = BytesMut::with_capacity(first.len() + frame.len() * 8);
                    p.extend_from_slice(&first);
                    p
                })
                .extend_from_slice(frame);
            events += 1;
            if self.cursor <= self.replay_until {
                replayed += 1;
            }
        }
        if events > 0 {
            self.last_send_gen = st.heartbeat_gen;
            self.store_cursor(&mut st);
        }
        drop(st);
        if replayed > 0 {
            Metrics::add(&hub.metrics.replayed_events, replayed);
        }
        if events > 0 && hub.misbehave.publish_blocks() {
            hub.progress.notify_waiters();
        }
        Drained {
            piece: piece.map_or(first, BytesMut::freeze),
            events,
            closed: None,
        }
    }

    /// The next thing to send, or `Pending` with the waker registered.
    pub fn poll_next(&mut self, cx: &mut Context<'_>, heartbeats: bool) -> Poll<Next> {
        if let Some(pace) = self.pace.as_mut() {
            if pace.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
        let hub = &*self.hub;
        let mut st = hub.lock();
        if let Some(reason) = self.must_close(&st) {
            return Poll::Ready(Next::Closed(reason));
        }
        // A detached stream stays where it was dropped: it only gets heartbeats.
        let next = if self.detached(&st) {
            None
        } else {
            st.ring.next_after(&mut self.cursor, &self.topics).cloned()
        };
        self.store_cursor(&mut st);
        if let Some(frame) = next {
            self.last_send_gen = st.heartbeat_gen;
            drop(st);
            if self.cursor <= self.replay_until {
                Metrics::add(&hub.metrics.replayed_events, 1);
            }
            if hub.misbehave.publish_blocks() {
                hub.progress.notify_waiters();
            }
            if let Some(pace) = self.pace.as_mut() {
                let next = tokio::time::Instant::now() + crate::misbehave::LOSSY_QUEUE_PACE;
                pace.as_mut().reset(next);
            }
            return Poll::Ready(Next::Event(frame));
        }
        // Shutdown: what was published before it is still delivered (publishing has stopped,
        // and the lag limit bounds how much that is), then the stream ends.
        if st.closing && !hub.misbehave.shutdown_hangs() {
            return Poll::Ready(Next::Closed(CloseReason::Shutdown));
        }
        if heartbeats && st.heartbeat_gen >= self.last_send_gen + HEARTBEAT_TICKS {
            self.last_send_gen = st.heartbeat_gen;
            return Poll::Ready(Next::Heartbeat);
        }
        if let Some(slot) = st.slots.get_mut(self.slot) {
            match &slot.waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => slot.waker = Some(cx.waker().clone()),
            }
        }
        Poll::Pending
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.remove(self.slot);
        Metrics::sub(&self.hub.metrics.streams_open, 1);
        if self.hub.misbehave.publish_blocks() {
            self.hub.progress.notify_waiters();
        }
    }
}
