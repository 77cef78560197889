//! Where a subscriber starts in `--redis` mode, decided by Redis id for every transport:
//! `/stream` ([`super::stream`]), `/ws` (by query or first message) and `/poll`.
//!
//! | `Last-Event-ID` | `SSE-Resume` | The stream |
//! |---|---|---|
//! | absent | `fresh` | live events |
//! | in this node's ring | `resumed` | the ring's events after it, then live |
//! | older than the ring, still in Redis | `resumed` | `XRANGE` after it up to the ring's head (paged, as the socket drains), then the ring, then live |
//! | newer than this node has read, in Redis | `resumed` | waits (≤ 2 s) for this node's reader to reach it, then as above |
//! | trimmed from Redis / not an entry / not a Redis id | `reset` | `event: reset` (`too-old` / `unknown-id`), then as single-node mode |
//! | needs Redis, which is unreachable | none | the client is asked to come back later with its id |

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use super::ledger::Place;
use super::replay::Replay;
use super::{Broker, Ledger, StreamId};
use crate::http::{App, Peer};
use crate::hub::{ConnControl, Subscribed, Subscription, Topics};
use crate::metrics::Metrics;
use crate::replay::{ResetReason, Resume, Window};
use crate::websocket::Opening;

/// How long a resume waits for this node's reader to reach an id another node has sent.
const AHEAD_WAIT: Duration = Duration::from_secs(2);

/// Where a subscription starts, decided (asking Redis when the ring cannot tell) before it is
/// registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    Fresh,
    /// From this node's ring, after local position `seq`.
    At(u64),
    /// Older than the ring but still in Redis: replayed from Redis after this id up to the
    /// ring's head, then the ring.
    Replay(StreamId),
    Reset(ResetReason),
}

impl Plan {
    /// The hub's decision for this plan, given the ring's window at registration.
    fn resume(self, w: Window) -> Resume {
        match self {
            Plan::Fresh => Resume::Fresh { after: w.head },
            Plan::At(seq) => Resume::Resumed { after: seq },
            Plan::Replay(_) => Resume::Resumed { after: w.head },
            // As in single-node mode: a client known to be before everything retained gets
            // all of it, an unknown one goes live.
            Plan::Reset(reason) => Resume::Reset {
                reason,
                after: match reason {
                    ResetReason::UnknownId => w.head,
                    ResetReason::TooOld | ResetReason::OtherEpoch => w.oldest - 1,
                },
                live_after: w.head,
            },
        }
    }

    /// What the client is told, read from the ledger the registration was made under.
    fn start(self, ledger: &Ledger, resume: Resume, w: Window) -> Start {
        Start {
            resume,
            oldest: (w.oldest <= w.head)
                .then(|| ledger.id_of(w.oldest))
                .flatten(),
            start: ledger.id_of(resume.after()).unwrap_or(ledger.head().1),
            replay_from: match self {
                Plan::Replay(id) => Some(id),
                _ => None,
            },
        }
    }
}

/// A registered subscription's start, as its client is told.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Start {
    pub resume: Resume,
    /// Redis id of the oldest event in the ring (for the reset signal).
    oldest: Option<StreamId>,
    /// Redis id of the ring position the subscription starts after.
    start: StreamId,
    /// Replay from Redis after this id, up to `start`, before the ring.
    replay_from: Option<StreamId>,
}

impl Start {
    /// The reset signal's data, `{"reason","oldest"}` with Redis ids, if the client gets one.
    pub fn reset_data(&self) -> Option<String> {
        let Resume::Reset { reason, .. } = self.resume else {
            return None;
        };
        let oldest = self.oldest.map(|o| o.to_string());
        Some(serde_json::json!({ "reason": reason.as_str(), "oldest": oldest }).to_string())
    }

    /// The Redis id the subscription starts after (what a client that received nothing yet
    /// resumes from).
    pub fn start_id(&self) -> String {
        self.start.to_string()
    }

    /// The replay from Redis this start needs, if any, filtered by `topics`.
    pub fn replay(
        &self,
        broker: &Arc<Broker>,
        topics: Topics,
        metrics: &Arc<Metrics>,
    ) -> Option<Replay> {
        self.replay_from.map(|from| {
            Replay::spawn(
                Arc::clone(broker),
                from,
                self.start,
                topics,
                Arc::clone(metrics),
            )
        })
    }

    /// How a `/ws` session starts from here.
    fn opening(&self, broker: &Arc<Broker>, topics: Topics, metrics: &Arc<Metrics>) -> Opening {
        Opening {
            reset: self.reset_data(),
            replay: self.replay(broker, topics, metrics),
            start_id: Some(self.start_id()),
        }
    }

    /// One log line per opened subscription, at DEBUG: at thousands of subscribers an INFO
    /// line each would drown the log (refusals stay WARN).
    pub fn log_open(&self, transport: &str, peer: std::net::SocketAddr, had_id: bool) {
        match self.resume {
            Resume::Resumed { .. } => {
                tracing::debug!(%peer, from = %self.start, replay = self.replay_from.is_some(), "{transport} opened: resume")
            }
            Resume::Reset { reason, .. } => {
                tracing::debug!(%peer, reason = reason.as_str(), "{transport} opened: reset")
            }
            _ => tracing::debug!(%peer, had_id, "{transport} opened"),
        }
    }
}

/// Why no subscription was opened.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Refusal {
    /// The resume needs Redis (or this node's reader to catch up) and cannot have it now.
    Later(&'static str),
    OverCapacity,
}

impl Broker {
    /// Registers a subscription for a client presenting `last_id` (raw id bytes).
    pub async fn subscribe(
        self: &Arc<Self>,
        last_id: Option<&[u8]>,
        topics: Topics,
        conn: Arc<ConnControl>,
    ) -> Result<(Subscription, Start), Refusal> {
        let plan = self.plan(last_id).await.map_err(Refusal::Later)?;
        let ledger = self.ledger();
        match self.hub.subscribe_with(topics, conn, |w| plan.resume(w)) {
            Subscribed::Open(sub, resume, w) => Ok((sub, plan.start(&ledger, resume, w))),
            Subscribed::OverCapacity => Err(Refusal::OverCapacity),
        }
    }

    /// Moves a subscription that has sent nothing yet to start after `last_id` instead, as if
    /// it had subscribed with it (the `/ws` first-message resume). `Err` says why the client
    /// must come back later.
    pub async fn resume(
        &self,
        sub: &mut Subscription,
        last_id: &[u8],
    ) -> Result<Start, &'static str> {
        let plan = self.plan(Some(last_id)).await?;
        let ledger = self.ledger();
        let (resume, w) = sub.resume_with(|w| plan.resume(w));
        Ok(plan.start(&ledger, resume, w))
    }

    /// `GET /ws`: registers a session's subscription for a client presenting `last_id`.
    pub async fn open_ws(
        self: &Arc<Self>,
        metrics: &Arc<Metrics>,
        peer: &Peer,
        last_id: Option<&[u8]>,
        topics: Topics,
    ) -> Result<(Subscription, Opening), Refusal> {
        let (sub, start) = self
            .subscribe(last_id, topics.clone(), Arc::clone(&peer.conn))
            .await?;
        start.log_open("websocket", peer.addr, last_id.is_some());
        Ok((sub, start.opening(self, topics, metrics)))
    }

    /// The `/ws` first-message resume of a session that has sent nothing yet.
    pub async fn resume_ws(
        self: &Arc<Self>,
        metrics: &Arc<Metrics>,
        sub: &mut Subscription,
        last_id: &[u8],
        topics: Topics,
    ) -> Result<(Resume, Opening), &'static str> {
        let start = self.resume(sub, last_id).await?;
        Ok((start.resume, start.opening(self, topics, metrics)))
    }

    /// How long a client asked to come back later waits, in milliseconds.
    pub fn later_retry_ms(&self, app: &App) -> u64 {
        super::stream::later_retry_ms(app)
    }

    /// Decides where a client presenting `last_id` starts; `Err` says why it must come back
    /// later (counted).
    async fn plan(&self, last_id: Option<&[u8]>) -> Result<Plan, &'static str> {
        let planned = self.plan_uncounted(last_id).await;
        if planned.is_err() {
            self.stats.deferred.fetch_add(1, Relaxed);
        }
        planned
    }

    async fn plan_uncounted(&self, last_id: Option<&[u8]>) -> Result<Plan, &'static str> {
        let Some(raw) = last_id else {
            return Ok(Plan::Fresh);
        };
        let Some(id) = StreamId::parse(raw) else {
            return Ok(Plan::Reset(ResetReason::UnknownId));
        };
        for _ in 0..2 {
            let place = {
                let ledger = self.ledger();
                let window = self.hub.window();
                match ledger.place(id) {
                    // The reader cannot move between this check and the registration in a
                    // way that matters: the ring only trims from its old end, and `seq` stays
                    // resumable while events after it are retained (else the hub ends the
                    // stream at once and the client comes back through Redis).
                    Place::At(seq) if seq + 1 >= window.oldest => return Ok(Plan::At(seq)),
                    place => place,
                }
            };
            match place {
                Place::Missing => return Ok(Plan::Reset(ResetReason::UnknownId)),
                Place::Newer => match wait_for(self, id).await {
                    Ok(()) => continue,
                    Err(Some(reason)) => return Ok(Plan::Reset(reason)),
                    Err(None) => return Err("redis unreachable or this node is behind"),
                },
                _ => {}
            }
            // Older than the ring: replay from Redis if it still holds the id.
            return match exists(self, id).await {
                Ok(()) => Ok(Plan::Replay(id)),
                Err(Some(reason)) => Ok(Plan::Reset(reason)),
                Err(None) => Err("redis unreachable"),
            };
        }
        Err("this node is behind the stream")
    }

    /// Where a long-poll (`/poll?after=ID`) starts in `--redis` mode. Polls are answered from
    /// this node's ring only: an id older than the ring gets a `too-old` reset.
    pub async fn decide_poll(&self, after: Option<&[u8]>) -> (Resume, Window) {
        let decided = |plan: Plan| {
            let w = self.hub.window();
            (plan.resume(w), w)
        };
        let Some(raw) = after else {
            return decided(Plan::Fresh);
        };
        let Some(id) = StreamId::parse(raw) else {
            return decided(Plan::Reset(ResetReason::UnknownId));
        };
        let mut waited = false;
        loop {
            {
                let ledger = self.ledger();
                let w = self.hub.window();
                let plan = match ledger.place(id) {
                    Place::At(seq) if seq + 1 >= w.oldest => Some(Plan::At(seq)),
                    Place::At(_) | Place::Older => Some(Plan::Reset(ResetReason::TooOld)),
                    Place::Missing => Some(Plan::Reset(ResetReason::UnknownId)),
                    Place::Newer => None,
                };
                if let Some(plan) = plan {
                    return (plan.resume(w), w);
                }
            }
            // Another node served this id and this node's reader has not reached it yet.
            if waited || wait_for(self, id).await.is_err() {
                return decided(Plan::Reset(ResetReason::UnknownId));
            }
            waited = true;
        }
    }

    /// The Redis id of ring position `seq` (the newest read id if it is no longer mapped).
    pub fn id_of(&self, seq: u64) -> String {
        let ledger = self.ledger();
        ledger.id_of(seq).unwrap_or(ledger.head().1).to_string()
    }

    /// The Redis id of ring position `seq`, if this node still maps it.
    pub fn mapped_id(&self, seq: u64) -> Option<String> {
        self.ledger().id_of(seq).map(|id| id.to_string())
    }
}

/// Whether Redis holds `id`: `Err(Some(reason))` when it does not, `Err(None)` when Redis
/// cannot be asked.
async fn exists(broker: &Broker, id: StreamId) -> Result<(), Option<ResetReason>> {
    let found = broker
        .range(id, &id.to_string(), 1)
        .await
        .map_err(|_| None)?;
    if !found.is_empty() {
        return Ok(());
    }
    let oldest = broker.oldest().await.map_err(|_| None)?;
    match oldest {
        Some(o) if id > o => Err(Some(ResetReason::UnknownId)),
        _ => Err(Some(ResetReason::TooOld)),
    }
}

/// An id newer than this node has read: if Redis has it, wait (bounded) for the reader.
async fn wait_for(broker: &Broker, id: StreamId) -> Result<(), Option<ResetReason>> {
    let found = broker
        .range(id, &id.to_string(), 1)
        .await
        .map_err(|_| None)?;
    if found.is_empty() {
        return Err(Some(ResetReason::UnknownId));
    }
    let mut position = broker.position.subscribe();
    let reached = tokio::time::timeout(AHEAD_WAIT, position.wait_for(|p| *p >= id))
        .await
        .is_ok_and(|r| r.is_ok());
    reached.then_some(()).ok_or(None)
}
