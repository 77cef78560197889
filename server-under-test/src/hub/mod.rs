//! The hub: one ring of events, each encoded once into a shared `Bytes` frame, and the
//! subscribers, each nothing more than a cursor (a sequence number) into that ring and a waker.
//!
//! Publishing appends to the ring and wakes the idle subscribers. A subscriber that falls
//! further behind than the lag limits is evicted: it ends at an event boundary the next time it
//! is polled, and if its connection has stopped reading altogether, the connection is cut.
//! Either way it is counted and the client resumes with `Last-Event-ID`.
//!
//! - [`ring`]: the retained frames, bounded in events and bytes.
//! - [`subscribers`]: the slots and [`Subscription`], one event stream's cursor.
//! - [`lag`]: the lag limits and eviction.
//! - [`poll_waiter`]: long-poll requests waiting for the next event.
//! - [`topics`]: topic names and filters.

mod lag;
mod poll_waiter;
mod ring;
mod subscribers;
mod topics;

use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::Notify;

use crate::behaviour::{Behaviour, Conduct, Frames};
use crate::error::PublishError;
use crate::metrics::Metrics;
use crate::replay::{self, Resume, Window};
use ring::Ring;
use subscribers::{Slot, SlotKind, Slots};

pub(crate) use lag::Flow;
pub(crate) use subscribers::{Encoding, Subscription};
pub(crate) use topics::{check_topic, Topics};

/// Lets the hub cut one TCP connection (a subscriber stuck behind a full socket).
#[derive(Debug)]
pub(crate) struct ConnControl {
    pub peer: std::net::SocketAddr,
    pub kill: Notify,
}

impl ConnControl {
    pub fn new(peer: std::net::SocketAddr) -> Self {
        ConnControl {
            peer,
            kill: Notify::new(),
        }
    }
}

/// One event of a batch publish.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PublishItem<'a> {
    pub topic: Option<&'a str>,
    pub event: Option<&'a str>,
    pub data: &'a str,
}

/// What a subscriber should send next.
pub(crate) enum Next {
    Event(Bytes),
    Heartbeat,
    Closed(CloseReason),
}

/// What [`Subscription::drain_ready`] gathered.
pub(crate) struct Drained {
    /// The first event followed by the others that were waiting.
    pub piece: Bytes,
    /// Events added after the first.
    pub events: u64,
    /// The stream must end after this piece.
    pub closed: Option<CloseReason>,
}

/// Why the server ends a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CloseReason {
    Shutdown,
    Lagging,
}

/// Heartbeat generations advance this many times per heartbeat interval; a stream that has
/// sent nothing for a whole interval gets a heartbeat.
pub(crate) const HEARTBEAT_TICKS: u64 = 4;

/// Limits applied to every subscriber.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HubLimits {
    pub capacity: usize,
    pub capacity_bytes: u64,
    pub max_lag_events: u64,
    pub max_lag_bytes: u64,
    pub max_streams: Option<usize>,
}

/// Everything behind the hub's lock.
struct State {
    ring: Ring,
    slots: Slots,
    heartbeat_gen: u64,
    closing: bool,
}

/// The shared state of one server.
pub(crate) struct Hub {
    epoch: String,
    limits: HubLimits,
    /// Asked when a stream subscribes (how its resume is decided).
    behaviour: Behaviour,
    /// Decided once from the behaviour: how events are encoded and how slow streams are
    /// treated.
    frames: Frames,
    flow: Flow,
    metrics: Arc<Metrics>,
    state: Mutex<State>,
}

/// A new subscription or why there is none.
pub(crate) enum Subscribed {
    Open(Subscription, Resume, Window),
    OverCapacity,
}

impl Hub {
    pub fn new(limits: HubLimits, behaviour: Behaviour, metrics: Arc<Metrics>) -> Self {
        let limits = HubLimits {
            capacity: limits.capacity.max(1),
            // A subscriber may never fall off the ring: then it could not resume.
            max_lag_events: limits.max_lag_events.min(limits.capacity.max(1) as u64),
            ..limits
        };
        Hub {
            epoch: replay::new_epoch(),
            limits,
            behaviour,
            frames: behaviour.frames(),
            flow: behaviour.flow(),
            metrics,
            state: Mutex::new(State {
                ring: Ring::new(limits.capacity, limits.capacity_bytes),
                slots: Slots::default(),
                heartbeat_gen: 0,
                closing: false,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere must not take the whole server down with a poisoned lock.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    pub fn id_of(&self, seq: u64) -> String {
        replay::format_id(&self.epoch, seq)
    }

    pub fn window(&self) -> Window {
        self.lock().ring.window()
    }

    /// Publishes one event; returns its id. Waits only under `slow-consumer-blocks`.
    pub async fn publish(
        &self,
        topic: Option<&str>,
        event: Option<&str>,
        data: &str,
    ) -> Result<String, PublishError> {
        #[cfg(feature = "misbehave")]
        if let Flow::Block { lag } = self.flow {
            self.wait_for_slowest(lag).await;
        }
        self.publish_now(topic, event, data)
    }

    /// Publishes several events at once, in order; returns their ids. All or nothing: an event
    /// that cannot be encoded refuses the whole batch before any is published. Subscribers are
    /// woken once for the batch, so each can send it in one write.
    pub async fn publish_batch(
        &self,
        batch: &[PublishItem<'_>],
    ) -> Result<Vec<String>, PublishError> {
        #[cfg(feature = "misbehave")]
        if let Flow::Block { lag } = self.flow {
            self.wait_for_slowest(lag).await;
        }
        // max_lag_events is already capped at the ring's capacity.
        let max = usize::try_from(self.limits.max_lag_events).unwrap_or(usize::MAX);
        if batch.len() > max {
            return Err(PublishError::BatchTooLarge {
                len: batch.len(),
                max,
            });
        }
        self.publish_all_now(batch)
    }

    fn publish_now(
        &self,
        topic: Option<&str>,
        event: Option<&str>,
        data: &str,
    ) -> Result<String, PublishError> {
        let item = PublishItem { topic, event, data };
        let mut ids = self.publish_all_now(&[item])?;
        Ok(ids.pop().unwrap_or_default())
    }

    /// Encodes every event (refusing all if one fails), then appends them under one lock and
    /// wakes the subscribers once.
    fn publish_all_now(&self, batch: &[PublishItem<'_>]) -> Result<Vec<String>, PublishError> {
        for item in batch {
            check_topic(item.topic)?;
        }
        let mut st = self.lock();
        if st.closing {
            return Err(PublishError::ShuttingDown);
        }
        let mut frames = Vec::with_capacity(batch.len());
        for (i, item) in batch.iter().enumerate() {
            let seq = st.ring.head() + 1 + i as u64;
            frames.push(
                self.frames
                    .encode(&self.epoch, seq, item.event, item.data)?,
            );
        }
        let mut ids = Vec::with_capacity(batch.len());
        for (item, frame) in batch.iter().zip(frames) {
            let seq = self.push_locked(&mut st, item.topic.map(Arc::from), frame);
            ids.push(self.id_of(seq));
        }
        #[cfg(feature = "misbehave")]
        if let Flow::Lossy { queue } = self.flow {
            let head = st.ring.head();
            lag::detach_full_queues(&mut st.slots, head, queue);
        }
        let wakers = st.slots.take_wakers();
        drop(st);
        Metrics::add(&self.metrics.events_published, batch.len() as u64);
        wakers.into_iter().for_each(Waker::wake);
        Ok(ids)
    }

    /// Appends a frame encoded elsewhere (the Redis broker names its events with Redis stream
    /// ids); returns its sequence number, or `None` once shutting down.
    #[cfg(feature = "redis")]
    pub fn append_frame(&self, topic: Option<&str>, frame: Bytes) -> Option<u64> {
        let (seq, wakers) = {
            let mut st = self.lock();
            if st.closing {
                return None;
            }
            let seq = self.push_locked(&mut st, topic.map(Arc::from), frame);
            (seq, st.slots.take_wakers())
        };
        Metrics::add(&self.metrics.events_published, 1);
        wakers.into_iter().for_each(Waker::wake);
        Some(seq)
    }

    /// Whether shutdown has begun.
    #[cfg(feature = "redis")]
    pub fn is_closing(&self) -> bool {
        self.lock().closing
    }

    /// Pushes the next event into the ring and updates the ring gauges; returns its sequence
    /// number. The caller wakes the subscribers.
    fn push_locked(&self, st: &mut State, topic: Option<Arc<str>>, frame: Bytes) -> u64 {
        let seq = st.ring.push(topic, frame);
        self.metrics
            .ring_events
            .store(st.ring.len() as u64, Relaxed);
        self.metrics.ring_bytes.store(st.ring.held_bytes(), Relaxed);
        seq
    }

    /// Registers an event stream starting from `last_id` (raw `Last-Event-ID` bytes).
    pub fn subscribe(
        self: &Arc<Self>,
        last_id: Option<&[u8]>,
        topics: Topics,
        conn: Arc<ConnControl>,
    ) -> Subscribed {
        self.subscribe_with(topics, conn, |window| {
            let decided = replay::decide(last_id, &self.epoch, window);
            self.behaviour.resume(decided, window.oldest - 1)
        })
    }

    /// Registers an event stream whose start `decide` chooses from the ring's window, under
    /// the hub's lock (nothing is published in between).
    pub fn subscribe_with(
        self: &Arc<Self>,
        topics: Topics,
        conn: Arc<ConnControl>,
        decide: impl FnOnce(Window) -> Resume,
    ) -> Subscribed {
        let mut st = self.lock();
        if self
            .limits
            .max_streams
            .is_some_and(|max| st.slots.streams() >= max)
        {
            return Subscribed::OverCapacity;
        }
        let window = st.ring.window();
        let resume = decide(window);
        let cursor = resume.after();
        let slot = st.slots.insert(Slot {
            waker: None,
            cursor,
            kind: SlotKind::Stream {
                conn,
                lag: lag::Lag::Within,
            },
        });
        let heartbeat_gen = st.heartbeat_gen;
        drop(st);
        Metrics::add(&self.metrics.streams_open, 1);
        Metrics::add(&self.metrics.streams_total, 1);
        self.count_resume(resume);
        let sub = Subscription {
            hub: Arc::clone(self),
            slot,
            cursor,
            replay_until: window.head,
            topics,
            last_send_gen: heartbeat_gen,
        };
        Subscribed::Open(sub, resume, window)
    }

    pub fn count_resume(&self, resume: Resume) {
        match resume {
            Resume::Resumed { .. } => Metrics::add(&self.metrics.resumes, 1),
            Resume::Reset { .. } | Resume::Unannounced { .. } => {
                Metrics::add(&self.metrics.replay_misses, 1)
            }
            Resume::Fresh { .. } => {}
        }
    }

    /// Decides a long-poll cursor, like [`Hub::subscribe`] without registering anything.
    pub fn decide(&self, last_id: Option<&[u8]>) -> (Resume, Window) {
        let window = self.window();
        let decided = replay::decide(last_id, &self.epoch, window);
        (self.behaviour.resume(decided, window.oldest - 1), window)
    }

    /// Enforces the lag limits, and with `heartbeat` advances the heartbeat clock and wakes
    /// every stream so that idle ones can send a comment. Returns connections to cut: those of
    /// subscribers evicted a while ago that never ended their stream (their socket is full).
    pub fn tick(&self, heartbeat: bool) -> Vec<Arc<ConnControl>> {
        self.tick_at(heartbeat, Instant::now())
    }

    fn tick_at(&self, heartbeat: bool, now: Instant) -> Vec<Arc<ConnControl>> {
        let mut policed = {
            let mut guard = self.lock();
            let st = &mut *guard;
            if heartbeat {
                st.heartbeat_gen += 1;
            }
            let evict = self.flow.evicts();
            let mut policed = lag::police(&mut st.slots, &st.ring, &self.limits, evict, now);
            if heartbeat {
                policed.evicted.extend(st.slots.take_wakers());
            }
            policed
        };
        self.metrics.lag_max_events.store(policed.lag_max, Relaxed);
        Metrics::add(&self.metrics.lagging_dropped, policed.dropped);
        policed.evicted.drain(..).for_each(Waker::wake);
        policed.cut
    }

    /// Starts shutdown: every stream ends at its next event boundary.
    pub fn close(&self) {
        let wakers = {
            let mut st = self.lock();
            st.closing = true;
            st.slots.take_wakers()
        };
        wakers.into_iter().for_each(Waker::wake);
    }

    fn remove(&self, slot: usize) {
        self.lock().slots.remove(slot);
    }
}

#[cfg(test)]
mod tests;
