//! The hub: one ring of events, each encoded once into a shared `Bytes` frame, and the
//! subscribers, each nothing more than a cursor (a sequence number) into that ring and a waker.
//!
//! Publishing appends to the ring and wakes the idle subscribers. A subscriber that falls
//! further behind than the lag limits is evicted: it ends at an event boundary the next time it
//! is polled, and if its connection has stopped reading altogether, the connection is cut.
//! Either way it is counted and the client resumes with `Last-Event-ID`.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::sync::Notify;

use crate::error::PublishError;
use crate::metrics::Metrics;
use crate::misbehave::Misbehaviors;
use crate::replay::{self, Resume, Window};

/// Under the `slow-consumer-blocks` misbehaviour, publishing waits while a subscriber is
/// further behind than this many events.
const BLOCKING_LAG: u64 = 16;
/// A subscriber is evicted once it has stayed over a lag limit this long (a burst that it
/// catches up with is no reason to drop it). Falling off the ring evicts at once.
const LAG_GRACE: Duration = Duration::from_secs(1);
/// An evicted subscriber that has not ended its stream by itself after this long is stuck
/// behind a full socket: its connection is cut.
const EVICTION_GRACE: Duration = Duration::from_millis(300);
/// Longest accepted topic name.
const MAX_TOPIC_LEN: usize = 256;

/// A topic name a publisher may use: non-empty and at most [`MAX_TOPIC_LEN`] bytes.
pub(crate) fn check_topic(topic: Option<&str>) -> Result<(), PublishError> {
    match topic {
        Some(t) if t.is_empty() || t.len() > MAX_TOPIC_LEN => Err(PublishError::BadTopic),
        _ => Ok(()),
    }
}

/// A stored event.
pub(crate) struct Entry {
    pub seq: u64,
    pub topic: Option<Arc<str>>,
    pub frame: Bytes,
    /// Bytes of all frames published up to and including this one.
    pub end: u64,
}

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

enum SlotKind {
    /// A long-poll request waiting for events: never evicted.
    Poll,
    /// An event stream.
    Stream { conn: Arc<ConnControl>, lag: Lag },
}

/// A stream subscriber against the lag limits.
#[derive(Debug, Clone, Copy)]
enum Lag {
    Within,
    /// Over a limit since then.
    Over(Instant),
    /// Evicted then: its stream ends at the next event boundary.
    Evicted(Instant),
    /// Dropped from the fan-out without a word (`lossy-queue`): the stream stays open and
    /// gets no more events.
    Detached,
}

/// How far behind a cursor is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    Within,
    OverLimit,
    /// Events it has not sent have left the ring: it cannot go on without a gap.
    OffRing,
}

struct Slot {
    waker: Option<Waker>,
    cursor: u64,
    kind: SlotKind,
}

struct State {
    ring: VecDeque<Entry>,
    head: u64,
    total_bytes: u64,
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    streams: usize,
    heartbeat_gen: u64,
    closing: bool,
}

impl State {
    fn window(&self) -> Window {
        Window {
            oldest: self.ring.front().map_or(self.head + 1, |e| e.seq),
            head: self.head,
        }
    }

    fn insert(&mut self, slot: Slot) -> usize {
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

    fn take_wakers(&mut self) -> Vec<Waker> {
        self.slots
            .iter_mut()
            .flatten()
            .filter_map(|s| s.waker.take())
            .collect()
    }
}

/// One event of a batch publish.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PublishItem<'a> {
    pub topic: Option<&'a str>,
    pub event: Option<&'a str>,
    pub data: &'a str,
}

/// Which topics a subscriber wants: all (no `topic` parameter) or a list.
#[derive(Debug, Clone, Default)]
pub(crate) struct Topics(Option<Box<[Box<str>]>>);

impl Topics {
    pub fn new(list: Vec<String>) -> Self {
        if list.is_empty() {
            return Topics(None);
        }
        Topics(Some(list.into_iter().map(String::into_boxed_str).collect()))
    }

    /// Unfiltered subscribers get every event; filtered ones only events of their topics.
    pub fn matches(&self, topic: Option<&str>) -> bool {
        match (&self.0, topic) {
            (None, _) => true,
            (Some(list), Some(t)) => list.iter().any(|x| &**x == t),
            (Some(_), None) => false,
        }
    }
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

/// The shared state of one server.
pub(crate) struct Hub {
    epoch: String,
    limits: HubLimits,
    misbehave: Misbehaviors,
    metrics: Arc<Metrics>,
    state: Mutex<State>,
    /// Rung when a subscriber advances (used only by `slow-consumer-blocks`).
    progress: Notify,
}

/// A new subscription or why there is none.
pub(crate) enum Subscribed {
    Open(Subscription, Resume, Window),
    OverCapacity,
}

impl Hub {
    pub fn new(limits: HubLimits, misbehave: Misbehaviors, metrics: Arc<Metrics>) -> Self {
        let limits = HubLimits {
            capacity: limits.capacity.max(1),
            // A subscriber may never fall off the ring: then it could not resume.
            max_lag_events: limits.max_lag_events.min(limits.capacity.max(1) as u64),
            ..limits
        };
        Hub {
            epoch: replay::new_epoch(),
            limits,
            misbehave,
            metrics,
            state: Mutex::new(State {
                ring: VecDeque::with_capacity(limits.capacity.clamp(1, 4096)),
                head: 0,
                total_bytes: 0,
                slots: Vec::new(),
                free: Vec::new(),
                streams: 0,
                heartbeat_gen: 0,
                closing: false,
            }),
            progress: Notify::new(),
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
        self.lock().window()
    }

    /// Publishes one event; returns its id. Waits only under `slow-consumer-blocks`.
    pub async fn publish(
        &self,
        topic: Option<&str>,
        event: Option<&str>,
        data: &str,
    ) -> Result<String, PublishError> {
        if self.misbehave.publish_blocks() {
            self.wait_for_slowest().await;
        }
        self.publish_now(topic, event, data)
    }

    async fn wait_for_slowest(&self) {
        loop {
            let progressed = self.progress.notified();
            tokio::pin!(progressed);
            progressed.as_mut().enable();
            {
                let st = self.lock();
                let behind = st
                    .slots
                    .iter()
                    .flatten()
                    .filter(|s| matches!(s.kind, SlotKind::Stream { .. }))
                    .map(|s| st.head.saturating_sub(s.cursor))
                    .max()
                    .unwrap_or(0);
                if behind < BLOCKING_LAG || st.closing {
                    return;
                }
            }
            progressed.await;
        }
    }

    /// Publishes several events at once, in order; returns their ids. All or nothing: an event
    /// that cannot be encoded refuses the whole batch before any is published. Subscribers are
    /// woken once for the batch, so each can send it in one write.
    pub async fn publish_batch(
        &self,
        batch: &[PublishItem<'_>],
    ) -> Result<Vec<String>, PublishError> {
        if self.misbehave.publish_blocks() {
            self.wait_for_slowest().await;
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
            let wire_id = self.misbehave.wire_id(&self.epoch, st.head + 1 + i as u64);
            frames.push(
                self.misbehave
                    .encode_event(wire_id.as_deref(), item.event, item.data)?,
            );
        }
        let mut wakers = Vec::new();
        let mut ids = Vec::with_capacity(batch.len());
        for (item, frame) in batch.iter().zip(frames) {
            wakers.extend(self.push_locked(&mut st, item.topic.map(Arc::from), frame));
            ids.push(self.id_of(st.head));
        }
        drop(st);
        Metrics::add(&self.metrics.events_published, batch.len() as u64);
        wakers.into_iter().for_each(Waker::wake);
        Ok(ids)
    }

    /// Appends a frame encoded elsewhere (the Redis broker names its events with Redis stream
    /// ids); returns its sequence number, or `None` once shutting down.
    pub fn append_frame(&self, topic: Option<&str>, frame: Bytes) -> Option<u64> {
        let wakers;
        let seq;
        {
            let mut st = self.lock();
            if st.closing {
                return None;
            }
            seq = st.head + 1;
            wakers = self.push_locked(&mut st, topic.map(Arc::from), frame);
        }
        Metrics::add(&self.metrics.events_published, 1);
        wakers.into_iter().for_each(Waker::wake);
        Some(seq)
    }

    /// Whether shutdown has begun.
    pub fn is_closing(&self) -> bool {
        self.lock().closing
    }

    /// Pushes the next event into the ring, trims it, and returns the wakers to wake.
    fn push_locked(&self, st: &mut State, topic: Option<Arc<str>>, frame: Bytes) -> Vec<Waker> {
        let seq = st.head + 1;
        st.total_bytes += frame.len() as u64;
        let end = st.total_bytes;
        st.ring.push_back(Entry {
            seq,
            topic,
            frame,
            end,
        });
        st.head = seq;
        if let Some(queue) = self.misbehave.lossy_queue() {
            detach_full_queues(st, queue);
        }
        let ring_bytes = self.trim(&mut st.ring, end);
        self.metrics
            .ring_events
            .store(st.ring.len() as u64, Relaxed);
        self.metrics.ring_bytes.store(ring_bytes, Relaxed);
        st.take_wakers()
    }

    /// Drops the oldest events while the ring holds more than `capacity` events or
    /// `capacity_bytes` bytes (the newest event always stays). Returns the bytes held.
    fn trim(&self, ring: &mut VecDeque<Entry>, total: u64) -> u64 {
        let held = |ring: &VecDeque<Entry>| {
            total - ring.front().map_or(total, |e| e.end - e.frame.len() as u64)
        };
        while ring.len() > self.limits.capacity
            || (ring.len() > 1 && held(ring) > self.limits.capacity_bytes)
        {
            ring.pop_front();
        }
        held(ring)
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
            self.misbehave.resume(decided, window.oldest - 1)
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
        if self.limits.max_streams.is_some_and(|max| st.streams >= max) {
            return Subscribed::OverCapacity;
        }
        let window = st.window();
        let resume = decide(window);
        let cursor = resume.after();
        let slot = st.insert(Slot {
            waker: None,
            cursor,
            kind: SlotKind::Stream {
                conn,
                lag: Lag::Within,
            },
        });
        st.streams += 1;
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
            pace: self
                .misbehave
                .lossy_queue()
                .map(|_| Box::pin(tokio::time::sleep(Duration::ZERO))),
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
        (self.misbehave.resume(decided, window.oldest - 1), window)
    }

    /// Events after `after` matching `topics` (at most `max`), waiting until `deadline` for the
    /// first one. Returns them with the cursor reached (past skipped non-matching events).
    pub async fn wait_events(
        &self,
        after: u64,
        topics: &Topics,
        max: usize,
        deadline: tokio::time::Instant,
    ) -> (Vec<(u64, Bytes)>, u64) {
        let mut waiter = PollWaiter {
            hub: self,
            slot: None,
        };
        let collect = std::future::poll_fn(|cx| waiter.poll_collect(cx, after, topics, max));
        match tokio::time::timeout_at(deadline, collect).await {
            Ok(found) => found,
            // Nothing new: the cursor stays where it was.
            Err(_) => (Vec::new(), after),
        }
    }

    /// Enforces the lag limits, and with `heartbeat` advances the heartbeat clock and wakes
    /// every stream so that idle ones can send a comment. Returns connections to cut: those of
    /// subscribers evicted a while ago that never ended their stream (their socket is full).
    pub fn tick(&self, heartbeat: bool) -> Vec<Arc<ConnControl>> {
        self.tick_at(heartbeat, Instant::now())
    }

    fn tick_at(&self, heartbeat: bool, now: Instant) -> Vec<Arc<ConnControl>> {
        let mut cut = Vec::new();
        let mut wakers = Vec::new();
        let mut dropped = 0;
        {
            let mut guard = self.lock();
            let st = &mut *guard;
            if heartbeat {
                st.heartbeat_gen += 1;
            }
            let enforce = !self.misbehave.publish_blocks();
            let mut lag_max = 0;
            for slot in st.slots.iter_mut().flatten() {
                let SlotKind::Stream { conn, lag } = &mut slot.kind else {
                    continue;
                };
                if let Lag::Detached = *lag {
                    continue;
                }
                lag_max = lag_max.max(st.head.saturating_sub(slot.cursor));
                if let Lag::Evicted(at) = *lag {
                    if now.duration_since(at) >= EVICTION_GRACE {
                        tracing::warn!(peer = %conn.peer, "evicted subscriber stopped reading: connection cut");
                        cut.push(Arc::clone(conn));
                    }
                    continue;
                }
                if !enforce {
                    continue;
                }
                let evict = match (
                    *lag,
                    standing(&st.ring, st.total_bytes, slot.cursor, &self.limits),
                ) {
                    (_, Standing::OffRing) => true,
                    (Lag::Over(since), Standing::OverLimit) => {
                        now.duration_since(since) >= LAG_GRACE
                    }
                    (_, Standing::OverLimit) => {
                        *lag = Lag::Over(now);
                        false
                    }
                    (_, Standing::Within) => {
                        *lag = Lag::Within;
                        false
                    }
                };
                if evict {
                    *lag = Lag::Evicted(now);
                    dropped += 1;
                    tracing::warn!(peer = %conn.peer, behind = st.head.saturating_sub(slot.cursor), "subscriber over the lag limit: dropped");
                    wakers.extend(slot.waker.take());
                }
            }
            if heartbeat {
                wakers.extend(st.take_wakers());
            }
            self.metrics.lag_max_events.store(lag_max, Relaxed);
        }
        Metrics::add(&self.metrics.lagging_dropped, dropped);
        wakers.into_iter().for_each(Waker::wake);
        cut
    }

    /// Starts shutdown: every stream ends at its next event boundary.
    pub fn close(&self) {
        let wakers = {
            let mut st = self.lock();
            st.closing = true;
            st.take_wakers()
        };
        wakers.into_iter().for_each(Waker::wake);
        self.progress.notify_waiters();
    }

    fn remove(&self, slot: usize) {
        let mut st = self.lock();
        if let Some(Some(s)) = st.slots.get(slot) {
            if matches!(s.kind, SlotKind::Stream { .. }) {
                st.streams -= 1;
            }
        }
        st.slots[slot] = None;
        st.free.push(slot);
    }
}

/// `lossy-queue`: a stream with more than `queue` events waiting is dropped from the fan-out
/// (Flask's `put_nowait` raising `queue.Full`), and nobody tells its connection.
fn detach_full_queues(st: &mut State, queue: u64) {
    let head = st.head;
    for slot in st.slots.iter_mut().flatten() {
        if let SlotKind::Stream { conn, lag } = &mut slot.kind {
            if !matches!(lag, Lag::Detached) && head.saturating_sub(slot.cursor) > queue {
                tracing::warn!(peer = %conn.peer, "lossy-queue: subscriber queue full, dropped silently");
                *lag = Lag::Detached;
            }
        }
    }
}

fn standing(ring: &VecDeque<Entry>, total: u64, cursor: u64, limits: &HubLimits) -> Standing {
    let Some(front) = ring.front() else {
        return Standing::Within;
    };
    let head = front.seq + ring.len() as u64 - 1;
    if cursor + 1 < front.seq {
        return Standing::OffRing;
    }
    if cursor >= head {
        return Standing::Within;
    }
    let start = if cursor + 1 == front.seq {
        front.end - front.frame.len() as u64
    } else {
        ring[(cursor - front.seq) as usize].end
    };
    if head - cursor > limits.max_lag_events || total - start > limits.max_lag_bytes {
        return Standing::OverLimit;
    }
    Standing::Within
}

/// One event stream's place in the hub. Dropping it unregisters the subscriber.
pub(crate) struct Subscription {
    hub: Arc<Hub>,
    slot: usize,
    cursor: u64,
    /// Events up to this sequence number were published before the stream opened: sending
    /// them counts as replay.
    replay_until: u64,
    topics: Topics,
    last_send_gen: u64,
    /// `lossy-queue` only: when this stream may take its next event.
    pace: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Subscription {
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// Whether `lossy-queue` dropped this stream from the fan-out (it gets no more events).
    fn detached(&self, st: &State) -> bool {
        matches!(
            &st.slots[self.slot],
            Some(Slot {
                kind: SlotKind::Stream {
                    lag: Lag::Detached,
                    ..
                },
                ..
            })
        )
    }

    /// Why this stream must end now, if it must: evicted for lagging, or events it never sent
    /// were overwritten (going on would be a silent gap; counted here).
    fn must_close(&self, st: &State) -> Option<CloseReason> {
        let hub = &*self.hub;
        if self.detached(st) {
            return None;
        }
        let evicted = matches!(
            &st.slots[self.slot],
            Some(Slot {
                kind: SlotKind::Stream {
                    lag: Lag::Evicted(_),
                    ..
                },
                ..
            })
        );
        if evicted {
            return Some(CloseReason::Lagging);
        }
        if !hub.misbehave.publish_blocks()
            && standing(&st.ring, st.total_bytes, self.cursor, &hub.limits) == Standing::OffRing
        {
            Metrics::add(&hub.metrics.lagging_dropped, 1);
            return Some(CloseReason::Lagging);
        }
        None
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
            let Some(frame) = advance_ref(&mut self.cursor, &self.topics, &st) else {
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
            if let Some(Some(slot)) = st.slots.get_mut(self.slot) {
                slot.cursor = self.cursor;
            }
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
            advance(&mut self.cursor, &self.topics, &st)
        };
        if let Some(frame) = next {
            let gen = st.heartbeat_gen;
            if let Some(Some(slot)) = st.slots.get_mut(self.slot) {
                slot.cursor = self.cursor;
            }
            drop(st);
            self.last_send_gen = gen;
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
        if let Some(Some(slot)) = st.slots.get_mut(self.slot) {
            slot.cursor = self.cursor;
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
        if let Some(Some(slot)) = st.slots.get_mut(self.slot) {
            match &slot.waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => slot.waker = Some(cx.waker().clone()),
            }
        }
        Poll::Pending
    }
}

/// The ring index of the first event after `cursor` (`len` when there is none yet; a cursor can
/// be past the head under the `replay-gap` misbehaviour).
fn ring_index_after(cursor: u64, front: u64, len: usize) -> usize {
    let index = (cursor + 1).saturating_sub(front);
    usize::try_from(index).map_or(len, |i| i.min(len))
}

/// Moves `cursor` to the next event matching `topics` and returns its frame.
fn advance(cursor: &mut u64, topics: &Topics, st: &State) -> Option<Bytes> {
    advance_ref(cursor, topics, st).cloned()
}

/// [`advance`] without taking a reference on the frame (for copying it under the lock).
fn advance_ref<'s>(cursor: &mut u64, topics: &Topics, st: &'s State) -> Option<&'s Bytes> {
    let front = st.ring.front()?.seq;
    for entry in st
        .ring
        .range(ring_index_after(*cursor, front, st.ring.len())..)
    {
        *cursor = entry.seq;
        if topics.matches(entry.topic.as_deref()) {
            return Some(&entry.frame);
        }
    }
    None
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

/// A long-poll request's registration while it waits.
struct PollWaiter<'h> {
    hub: &'h Hub,
    slot: Option<usize>,
}

impl PollWaiter<'_> {
    fn poll_collect(
        &mut self,
        cx: &mut Context<'_>,
        after: u64,
        topics: &Topics,
        max: usize,
    ) -> Poll<(Vec<(u64, Bytes)>, u64)> {
        let mut st = self.hub.lock();
        let mut cursor = after;
        let mut found = Vec::new();
        if let Some(front) = st.ring.front().map(|e| e.seq) {
            for entry in st
                .ring
                .range(ring_index_after(after, front, st.ring.len())..)
            {
                if found.len() >= max {
                    break;
                }
                cursor = entry.seq;
                if topics.matches(entry.topic.as_deref()) {
                    found.push((entry.seq, entry.frame.clone()));
                }
            }
        }
        if !found.is_empty() || st.closing {
            return Poll::Ready((found, cursor));
        }
        let waker = Some(cx.waker().clone());
        match self.slot {
            Some(i) => {
                if let Some(Some(slot)) = st.slots.get_mut(i) {
                    slot.waker = waker;
                }
            }
            None => {
                self.slot = Some(st.insert(Slot {
                    waker,
                    cursor: after,
                    kind: SlotKind::Poll,
                }));
            }
        }
        Poll::Pending
    }
}

impl Drop for PollWaiter<'_> {
    fn drop(&mut self) {
        if let Some(i) = self.slot {
            self.hub.remove(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Wake;

    struct Noop;
    impl Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }

    fn hub(capacity: usize, max_lag_events: u64) -> Arc<Hub> {
        let limits = HubLimits {
            capacity,
            capacity_bytes: u64::MAX,
            max_lag_events,
            max_lag_bytes: u64::MAX,
            max_streams: None,
        };
        Arc::new(Hub::new(limits, Misbehaviors::none(), Arc::default()))
    }

    /// `lossy-queue`: the sixth unsent event drops the subscriber, whose stream stays open
    /// (no `Closed`) and gets nothing more; a subscriber within its queue keeps receiving.
    #[tokio::test]
    async fn lossy_queue_drops_a_full_subscriber_silently() {
        let limits = HubLimits {
            capacity: 64,
            capacity_bytes: u64::MAX,
            max_lag_events: 64,
            max_lag_bytes: u64::MAX,
            max_streams: None,
        };
        let lossy = Misbehaviors::from_list(&[crate::Misbehavior::LossyQueue]);
        let hub = Arc::new(Hub::new(limits, lossy, Arc::default()));
        let mut kept = subscribe(&hub);
        let mut dropped = subscribe(&hub);
        publish(&hub, 5);
        let event = std::future::poll_fn(|cx| kept.poll_next(cx, false)).await;
        assert!(matches!(event, Next::Event(_)));
        publish(&hub, 1);
        let wait = std::time::Duration::from_millis(50);
        let silent = tokio::time::timeout(
            wait,
            std::future::poll_fn(|cx| dropped.poll_next(cx, false)),
        )
        .await;
        assert!(silent.is_err(), "a dropped subscriber gets nothing");
        let event = std::future::poll_fn(|cx| kept.poll_next(cx, false)).await;
        assert!(matches!(event, Next::Event(_)), "within its queue: kept");
    }

    fn subscribe(hub: &Arc<Hub>) -> Subscription {
        let conn = Arc::new(ConnControl::new(([127, 0, 0, 1], 1).into()));
        match hub.subscribe(None, Topics::default(), conn) {
            Subscribed::Open(sub, ..) => sub,
            Subscribed::OverCapacity => unreachable!("no cap"),
        }
    }

    fn publish(hub: &Hub, n: usize) {
        for _ in 0..n {
            hub.publish_now(None, None, "x").unwrap();
        }
    }

    fn next(sub: &mut Subscription) -> Poll<Next> {
        let waker = std::task::Waker::from(Arc::new(Noop));
        sub.poll_next(&mut Context::from_waker(&waker), true)
    }

    fn drain(sub: &mut Subscription) -> usize {
        let mut n = 0;
        while let Poll::Ready(Next::Event(_)) = next(sub) {
            n += 1;
        }
        n
    }

    #[test]
    fn a_burst_caught_up_within_the_grace_is_not_dropped() {
        let hub = hub(100, 5);
        let mut sub = subscribe(&hub);
        publish(&hub, 20);
        let t0 = Instant::now();
        hub.tick_at(false, t0);
        hub.tick_at(false, t0 + LAG_GRACE / 2);
        assert_eq!(drain(&mut sub), 20);
        hub.tick_at(false, t0 + LAG_GRACE * 2);
        assert_eq!(hub.metrics.snapshot().lagging_dropped, 0);
        publish(&hub, 1);
        assert!(matches!(next(&mut sub), Poll::Ready(Next::Event(_))));
    }

    #[test]
    fn staying_over_the_limit_for_the_grace_evicts_at_an_event_boundary() {
        let hub = hub(100, 5);
        let mut sub = subscribe(&hub);
        publish(&hub, 20);
        let t0 = Instant::now();
        assert!(hub.tick_at(false, t0).is_empty());
        assert!(hub.tick_at(false, t0 + LAG_GRACE).is_empty());
        assert_eq!(hub.metrics.snapshot().lagging_dropped, 1);
        assert!(matches!(
            next(&mut sub),
            Poll::Ready(Next::Closed(CloseReason::Lagging))
        ));
        // Still registered (never polled again): its connection is cut after the grace.
        let cut = hub.tick_at(false, t0 + LAG_GRACE + EVICTION_GRACE);
        assert_eq!(cut.len(), 1);
    }

    #[test]
    fn falling_off_the_ring_ends_the_stream_at_once() {
        let hub = hub(10, 1000);
        let mut sub = subscribe(&hub);
        publish(&hub, 11);
        assert!(matches!(
            next(&mut sub),
            Poll::Ready(Next::Closed(CloseReason::Lagging))
        ));
        assert_eq!(hub.metrics.snapshot().lagging_dropped, 1);
    }

    #[test]
    fn idle_subscribers_get_a_heartbeat_after_a_whole_interval() {
        let hub = hub(10, 10);
        let mut sub = subscribe(&hub);
        for _ in 0..HEARTBEAT_TICKS - 1 {
            hub.tick_at(true, Instant::now());
            assert!(next(&mut sub).is_pending());
        }
        hub.tick_at(true, Instant::now());
        assert!(matches!(next(&mut sub), Poll::Ready(Next::Heartbeat)));
        assert!(next(&mut sub).is_pending());
    }

    #[test]
    fn the_ring_is_bounded_in_bytes_too() {
        let limits = HubLimits {
            capacity: 100,
            capacity_bytes: 200,
            max_lag_events: 100,
            max_lag_bytes: u64::MAX,
            max_streams: None,
        };
        let hub = Hub::new(limits, Misbehaviors::none(), Arc::default());
        for _ in 0..10 {
            hub.publish_now(None, None, &"x".repeat(30)).unwrap();
        }
        let m = hub.metrics.snapshot();
        // Each frame is about 57 bytes (`id: EPOCH-N`, 30 bytes of data): three fit in 200.
        assert!(m.ring_events == 3 && m.ring_bytes <= 200, "{m:?}");
        assert_eq!(hub.window().head, 10);
        assert_eq!(hub.window().oldest, 10 - m.ring_events + 1);
        hub.publish_now(None, None, &"y".repeat(500)).unwrap();
        assert_eq!(
            hub.metrics.snapshot().ring_events,
            1,
            "the newest event always stays"
        );
    }

    #[test]
    fn dropping_a_subscription_frees_its_slot() {
        let hub = hub(10, 10);
        let a = subscribe(&hub);
        let b = subscribe(&hub);
        drop(a);
        let c = subscribe(&hub);
        assert_eq!(c.slot, 0, "slot reused");
        drop((b, c));
        assert_eq!(hub.lock().streams, 0);
        assert_eq!(hub.metrics.snapshot().streams_open, 0);
    }

    #[test]
    fn drain_ready_gathers_what_waits_up_to_the_size_and_in_topic() {
        let hub = hub(100, 50);
        let conn = Arc::new(ConnControl::new(([127, 0, 0, 1], 1).into()));
        let Subscribed::Open(mut sub, ..) =
            hub.subscribe(None, Topics::new(vec!["a".into()]), conn)
        else {
            unreachable!("no cap")
        };
        for i in 0..10 {
            let topic = if i % 2 == 0 { "a" } else { "b" };
            hub.publish_now(Some(topic), None, &format!("e{i}"))
                .unwrap();
        }
        let Poll::Ready(Next::Event(first)) = next(&mut sub) else {
            panic!("an event waits")
        };
        let one = first.len();
        // Room for three more events of topic "a": e2, e4, e6; e8 stays for later.
        let d = sub.drain_ready(first, one * 4);
        assert_eq!((d.events, d.closed), (3, None));
        let text = String::from_utf8(d.piece.to_vec()).unwrap();
        let data: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .collect();
        assert_eq!(data, ["e0", "e2", "e4", "e6"]);
        assert_eq!(drain(&mut sub), 1, "e8 is still there");
    }
}
