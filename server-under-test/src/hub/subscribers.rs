//! The subscribers: each is a cursor (a sequence number) into the ring and a waker, held in a
//! slot of the hub. A [`Subscription`] is one event stream's handle on its slot.

use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};

use super::lag::Lag;
use super::{CloseReason, ConnControl, Drained, Hub, Next, State, Topics, HEARTBEAT_TICKS};
use crate::behaviour::Conduct;
use crate::metrics::Metrics;
use crate::replay::{self, Resume, Window};

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

    #[cfg(feature = "misbehave")]
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
}

/// How a subscriber's transport carries an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// The `text/event-stream` frame.
    EventStream,
    /// `{"id","event","data"}`, for `/ws`.
    Json,
}

/// Whether a stream may take events now.
enum Gate {
    Open,
    /// It must end, at this event boundary.
    Close(CloseReason),
    /// `lossy-queue` dropped it from the fan-out: it gets heartbeats only.
    #[cfg(feature = "misbehave")]
    Detached,
}

impl Subscription {
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// The sequence number of the last event this subscriber has passed (sent, or skipped by
    /// its topic filter): resuming from it loses nothing.
    pub fn position(&self) -> u64 {
        self.cursor
    }

    /// Whether the hub evicted this subscriber for lagging. One stuck behind a full socket
    /// never learns it by itself: its connection is cut, and this tells why it ended.
    pub fn evicted(&self) -> bool {
        let st = self.hub.lock();
        matches!(
            st.slots.get(self.slot).and_then(Slot::lag),
            Some(Lag::Evicted(_))
        )
    }

    /// Whether this stream may go on: not if it was evicted for lagging, nor if events it never
    /// sent were overwritten (going on would be a silent gap; counted here).
    fn gate(&self, st: &State) -> Gate {
        match st.slots.get(self.slot).and_then(Slot::lag) {
            Some(Lag::Evicted(_)) => return Gate::Close(CloseReason::Lagging),
            #[cfg(feature = "misbehave")]
            Some(Lag::Detached) => return Gate::Detached,
            _ => {}
        }
        if st.ring.passed(self.cursor) {
            Metrics::add(&self.hub.metrics.lagging_dropped, 1);
            return Gate::Close(CloseReason::Lagging);
        }
        Gate::Open
    }

    /// Moves a subscriber that has sent nothing yet to start after `last_id` instead, decided
    /// as if it had subscribed with it (the `/ws` first-message resume).
    pub fn resume_from(&mut self, last_id: &[u8]) -> (Resume, Window) {
        let hub = Arc::clone(&self.hub);
        self.resume_with(|window| {
            let decided = replay::decide(Some(last_id), &hub.epoch, window);
            hub.behaviour.resume(decided, window.oldest - 1)
        })
    }

    /// Like [`Self::resume_from`], with the start chosen by `decide` from the ring's window
    /// under the hub's lock (the `--redis` broker decides by Redis ids).
    pub fn resume_with(&mut self, decide: impl FnOnce(Window) -> Resume) -> (Resume, Window) {
        let hub = Arc::clone(&self.hub);
        let mut st = hub.lock();
        let window = st.ring.window();
        let resume = decide(window);
        self.cursor = resume.after();
        self.replay_until = window.head;
        if let Some(slot) = st.slots.get_mut(self.slot) {
            slot.cursor = self.cursor;
            if let SlotKind::Stream { lag, .. } = &mut slot.kind {
                *lag = Lag::Within;
            }
        }
        drop(st);
        hub.count_resume(resume);
        (resume, window)
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
        let stop = |closed| Drained {
            piece: first.clone(),
            events: 0,
            closed,
        };
        match self.gate(&st) {
            Gate::Open => {}
            Gate::Close(reason) => return stop(Some(reason)),
            #[cfg(feature = "misbehave")]
            Gate::Detached => return stop(None),
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
        Drained {
            piece: piece.map_or(first, BytesMut::freeze),
            events,
            closed: None,
        }
    }

    /// The next thing to send, or `Pending` with the waker registered.
    pub fn poll_next(&mut self, cx: &mut Context<'_>, heartbeats: bool) -> Poll<Next> {
        self.poll_next_as(cx, heartbeats, Encoding::EventStream)
    }

    /// Like [`Self::poll_next`], with events in the given encoding.
    pub fn poll_next_as(
        &mut self,
        cx: &mut Context<'_>,
        heartbeats: bool,
        encoding: Encoding,
    ) -> Poll<Next> {
        let hub = &*self.hub;
        let mut st = hub.lock();
        let next = match self.gate(&st) {
            Gate::Close(reason) => return Poll::Ready(Next::Closed(reason)),
            Gate::Open => st
                .ring
                .next_entry_after(&mut self.cursor, &self.topics)
                .map(|e| match encoding {
                    Encoding::EventStream => e.frame.clone(),
                    Encoding::Json => e.json().clone(),
                }),
            // A detached stream stays where it was dropped.
            #[cfg(feature = "misbehave")]
            Gate::Detached => None,
        };
        self.store_cursor(&mut st);
        if let Some(frame) = next {
            self.last_send_gen = st.heartbeat_gen;
            drop(st);
            if self.cursor <= self.replay_until {
                Metrics::add(&hub.metrics.replayed_events, 1);
            }
            return Poll::Ready(Next::Event(frame));
        }
        // Shutdown: what was published before it is still delivered (publishing has stopped,
        // and the lag limit bounds how much that is), then the stream ends.
        if st.closing {
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
    }
}
