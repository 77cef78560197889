//! `--redis`: several nodes share one Redis Stream, which carries every event to every node
//! and is also the replay log.
//!
//! - Publishing (`POST /publish`, the ticker, [`crate::ServerHandle::publish`]) is one `XADD`
//!   to a single stream for all topics (`MAXLEN ~` bounded), so every node sees one order. The
//!   answer is the Redis id, sent only once Redis has acknowledged the entry; when Redis does
//!   not answer, publishing fails (503) instead of accepting and losing.
//! - Each node reads the stream with `XREAD BLOCK` on a dedicated connection and appends
//!   every entry, encoded once with its Redis id as the SSE id, to its local hub ring; local
//!   subscribers are cursors into that ring as in single-node mode. The [`ledger`] remembers
//!   which Redis id each ring position holds.
//! - Resuming ([`resume`], the same decision for `/stream`, `/ws` and `/poll`): an id in the
//!   ring resumes from the ring; an older one still in Redis is replayed ([`replay`]) with
//!   `XRANGE` up to the ring's head, then the ring takes over; an id that Redis no longer (or
//!   never) had gets the usual reset signal. [`stream`] is the `/stream` body built on it;
//!   `/ws` sessions (`crate::websocket`) take the same start and replay.
//! - The reader reconnects with exponential backoff; `/healthz` and `/metrics` say whether
//!   Redis is reachable.

mod ledger;
mod replay;
mod resume;
mod stream;
mod stream_id;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use ::redis::streams::{StreamId as Entry, StreamRangeReply, StreamReadReply};
use ::redis::{AsyncConnectionConfig, Client, RedisError};
use bytes::Bytes;
use ssekit_parser::Message;
use tokio::sync::watch;

use crate::config::Config;
use crate::error::{PublishError, ServerError};
use crate::hub::{check_topic, Hub};

pub(crate) use ledger::Ledger;
pub(crate) use replay::Replay;
pub(crate) use resume::Refusal;
pub(crate) use stream::stream;
pub(crate) use stream_id::StreamId;

/// How long `XREAD` blocks before asking again (a bound on noticing a silent Redis).
const READ_BLOCK: Duration = Duration::from_secs(2);
/// Entries taken per `XREAD`.
const READ_COUNT: usize = 256;
/// Connecting to Redis gives up after this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// A command other than the blocking read gives up after this long.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(3);
/// Reconnection backoff: from this…
const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// …doubling up to this.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Stream entry fields: topic, event type, data.
const FIELD_TOPIC: &str = "t";
const FIELD_EVENT: &str = "e";
const FIELD_DATA: &str = "d";

/// A node's link to the shared Redis Stream.
pub(crate) struct Broker {
    client: Client,
    publisher: ConnectionManager,
    key: String,
    maxlen: u64,
    /// The URL without credentials, for logs and errors.
    shown_url: String,
    hub: Arc<Hub>,
    /// Ring positions and their Redis ids. Lock order: the ledger, then the hub.
    ledger: Mutex<Ledger>,
    /// The newest Redis id this node has read (for resumes that are ahead of it).
    position: watch::Sender<StreamId>,
    stats: Stats,
}

/// Health and counters, shown on `/healthz` and `/metrics`.
#[derive(Debug, Default)]
struct Stats {
    up: AtomicBool,
    reconnects: AtomicU64,
    publish_failures: AtomicU64,
    replayed: AtomicU64,
    deferred: AtomicU64,
    skipped: AtomicU64,
    rewinds: AtomicU64,
}

/// The stream reader of one node: owns the dedicated `XREAD BLOCK` connection.
pub(crate) struct Reader {
    broker: Arc<Broker>,
    conn: Option<MultiplexedConnection>,
}

/// One entry read back from the stream, encoded for the wire.
pub(crate) struct Stored {
    pub id: StreamId,
    pub topic: Option<String>,
    pub frame: Bytes,
}

impl Broker {
    /// Connects (failing fast when Redis is unreachable at start) and finds where to start
    /// reading: after the stream's newest entry.
    pub async fn connect(
        config: &Config,
        hub: Arc<Hub>,
    ) -> Result<(Arc<Broker>, Reader), ServerError> {
        let url = config.redis.clone().unwrap_or_default();
        let shown_url = without_credentials(&url);
        let fail = |reason: String| ServerError::Redis {
            url: shown_url.clone(),
            reason,
        };
        let client = Client::open(url.as_str()).map_err(|e| fail(e.to_string()))?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT))
            .set_min_delay(MIN_BACKOFF)
            .set_max_delay(MAX_BACKOFF);
        let publisher = tokio::time::timeout(
            CONNECT_TIMEOUT * 2,
            client.get_connection_manager_with_config(manager_config),
        )
        .await
        .map_err(|_| fail("no answer".into()))?
        .map_err(|e| fail(e.to_string()))?;
        let mut conn = reader_connection(&client)
            .await
            .map_err(|e| fail(e.to_string()))?;
        let start = newest(&mut conn, &config.redis_key)
            .await
            .map_err(|e| fail(e.to_string()))?
            .unwrap_or(StreamId::ZERO);
        let broker = Arc::new(Broker {
            client,
            publisher,
            key: config.redis_key.clone(),
            maxlen: config.redis_maxlen,
            shown_url,
            hub,
            ledger: Mutex::new(Ledger::new(start, config.replay.saturating_add(1))),
            position: watch::Sender::new(start),
            stats: Stats {
                up: AtomicBool::new(true),
                ..Stats::default()
            },
        });
        tracing::info!(redis = %broker.shown_url, key = %broker.key, after = %start, "reading the Redis stream");
        let reader = Reader {
            broker: Arc::clone(&broker),
            conn: Some(conn),
        };
        Ok((broker, reader))
    }

    fn ledger(&self) -> MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the stream reader is connected to Redis.
    pub fn is_up(&self) -> bool {
        self.stats.up.load(Relaxed)
    }

    /// Refuses what could not be encoded later, so nothing unsendable enters Redis.
    pub fn check(topic: Option<&str>, event: Option<&str>, data: &str) -> Result<(), PublishError> {
        check_topic(topic)?;
        let mut probe = Message::new(data).id("0-0");
        if let Some(e) = event {
            probe = probe.event(e);
        }
        probe.validate()?;
        Ok(())
    }

    /// Appends an event to the stream; returns its Redis id once Redis has it.
    pub async fn publish(
        &self,
        topic: Option<&str>,
        event: Option<&str>,
        data: &str,
    ) -> Result<String, PublishError> {
        if self.hub.is_closing() {
            return Err(PublishError::ShuttingDown);
        }
        Self::check(topic, event, data)?;
        let mut cmd = ::redis::cmd("XADD");
        cmd.arg(&self.key)
            .arg("MAXLEN")
            .arg("~")
            .arg(self.maxlen)
            .arg("*");
        if let Some(t) = topic {
            cmd.arg(FIELD_TOPIC).arg(t);
        }
        if let Some(e) = event {
            cmd.arg(FIELD_EVENT).arg(e);
        }
        cmd.arg(FIELD_DATA).arg(data);
        let mut conn = self.publisher.clone();
        let added =
            tokio::time::timeout(COMMAND_TIMEOUT, cmd.query_async::<String>(&mut conn)).await;
        let reason = match added {
            Ok(Ok(id)) => return Ok(id),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {COMMAND_TIMEOUT:?}"),
        };
        self.stats.publish_failures.fetch_add(1, Relaxed);
        tracing::warn!(redis = %self.shown_url, %reason, "publish refused: Redis did not take the event");
        Err(PublishError::Unavailable(reason))
    }

    /// Entries from `from` (inclusive) to `to` (inclusive), at most `count`.
    async fn range(
        &self,
        from: StreamId,
        to: &str,
        count: usize,
    ) -> Result<Vec<Stored>, RedisError> {
        let mut conn = self.publisher.clone();
        let mut cmd = ::redis::cmd("XRANGE");
        cmd.arg(&self.key)
            .arg(from.to_string())
            .arg(to)
            .arg("COUNT")
            .arg(count);
        let reply: StreamRangeReply = bounded(cmd.query_async(&mut conn)).await?;
        Ok(reply.ids.iter().filter_map(|e| self.decode(e)).collect())
    }

    /// The oldest entry id still in the stream.
    async fn oldest(&self) -> Result<Option<StreamId>, RedisError> {
        let mut conn = self.publisher.clone();
        let mut cmd = ::redis::cmd("XRANGE");
        cmd.arg(&self.key).arg("-").arg("+").arg("COUNT").arg(1);
        let reply: StreamRangeReply = bounded(cmd.query_async(&mut conn)).await?;
        Ok(reply
            .ids
            .first()
            .and_then(|e| StreamId::parse(e.id.as_bytes())))
    }

    /// Reads one stream entry and encodes it once. Entries not written by ssekit nodes are
    /// skipped (and counted).
    fn decode(&self, entry: &Entry) -> Option<Stored> {
        let decoded = (|| {
            let id = StreamId::parse(entry.id.as_bytes())?;
            let data: String = entry.get(FIELD_DATA)?;
            let event: Option<String> = entry.get(FIELD_EVENT);
            let topic: Option<String> = entry.get(FIELD_TOPIC);
            let text = id.to_string();
            let mut msg = Message::new(&data).id(&text);
            if let Some(e) = &event {
                msg = msg.event(e);
            }
            let frame = msg.to_bytes().ok()?;
            Some(Stored { id, topic, frame })
        })();
        if decoded.is_none() {
            self.stats.skipped.fetch_add(1, Relaxed);
            tracing::warn!(id = %entry.id, "stream entry skipped: not an ssekit event (fields t, e, d)");
        }
        decoded
    }

    /// Appends entries read from the stream to the ring, in order, exactly once.
    fn deliver(&self, entries: Vec<Stored>) {
        let newest = {
            let mut ledger = self.ledger();
            for stored in entries {
                if stored.id <= ledger.head().1 {
                    continue;
                }
                let Some(seq) = self.hub.append_frame(stored.topic.as_deref(), stored.frame) else {
                    return;
                };
                ledger.push(seq, stored.id);
            }
            ledger.head().1
        };
        self.position.send_replace(newest);
    }

    /// Whether the publishing connection answers a PING (retried once: the first failure is
    /// what makes the connection manager reconnect).
    async fn publisher_answers(&self) -> bool {
        for _ in 0..2 {
            let mut conn = self.publisher.clone();
            let cmd = ::redis::cmd("PING");
            let ping = cmd.query_async::<String>(&mut conn);
            if let Ok(Ok(_)) = tokio::time::timeout(COMMAND_TIMEOUT, ping).await {
                return true;
            }
            tokio::time::sleep(MIN_BACKOFF).await;
        }
        false
    }

    fn set_up(&self, up: bool) {
        if self.stats.up.swap(up, Relaxed) != up {
            match up {
                true => tracing::info!(redis = %self.shown_url, "Redis reachable again"),
                false => {
                    tracing::warn!(redis = %self.shown_url, "Redis unreachable: publishing fails until it is back; reconnecting")
                }
            }
        }
    }

    /// The `--redis` rows of `/metrics`.
    pub fn prometheus(&self) -> String {
        let s = &self.stats;
        let rows = [
            (
                "ssekit_redis_up",
                "gauge",
                "1 while the stream reader is connected to Redis.",
                u64::from(self.is_up()),
            ),
            (
                "ssekit_redis_reconnects_total",
                "counter",
                "Reconnections of the stream reader.",
                s.reconnects.load(Relaxed),
            ),
            (
                "ssekit_redis_publish_failures_total",
                "counter",
                "Publishes refused because Redis did not take them.",
                s.publish_failures.load(Relaxed),
            ),
            (
                "ssekit_redis_replayed_events_total",
                "counter",
                "Events replayed from Redis (older than the ring).",
                s.replayed.load(Relaxed),
            ),
            (
                "ssekit_redis_resume_deferred_total",
                "counter",
                "Streams asked to come back later because Redis was needed and unreachable.",
                s.deferred.load(Relaxed),
            ),
            (
                "ssekit_redis_skipped_entries_total",
                "counter",
                "Stream entries that were not ssekit events.",
                s.skipped.load(Relaxed),
            ),
            (
                "ssekit_redis_stream_rewinds_total",
                "counter",
                "Reconnections that found the stream behind this node (data lost in Redis).",
                s.rewinds.load(Relaxed),
            ),
        ];
        let mut out = String::new();
        for (name, kind, help, value) in rows {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
            ));
        }
        out
    }
}

impl Reader {
    /// Reads the stream until the server stops, reconnecting with backoff.
    pub async fn run(mut self, mut stopped: watch::Receiver<bool>) {
        let broker = Arc::clone(&self.broker);
        let mut backoff = MIN_BACKOFF;
        loop {
            let Some(conn) = self.conn.as_mut() else {
                tokio::select! {
                    _ = stopped.wait_for(|s| *s) => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                self.conn = self.reconnect().await;
                if self.conn.is_some() {
                    backoff = MIN_BACKOFF;
                }
                continue;
            };
            let after = *broker.position.borrow();
            let read = tokio::select! {
                _ = stopped.wait_for(|s| *s) => return,
                r = read(conn, &broker.key, after) => r,
            };
            match read {
                Ok(entries) => {
                    let stored = entries.iter().filter_map(|e| broker.decode(e)).collect();
                    broker.deliver(stored);
                }
                Err(e) => {
                    tracing::debug!(error = %e, "stream read failed");
                    broker.set_up(false);
                    self.conn = None;
                }
            }
        }
    }

    async fn reconnect(&self) -> Option<MultiplexedConnection> {
        let broker = &self.broker;
        let mut conn = reader_connection(&broker.client).await.ok()?;
        let newest = newest(&mut conn, &broker.key).await.ok()?;
        let position = *broker.position.borrow();
        if newest.unwrap_or(StreamId::ZERO) < position {
            // Redis came back without entries this node had read (no persistence, or an old
            // snapshot). Events already delivered stay delivered; resumes that need them from
            // Redis will be reset. New entries get larger ids, so reading goes on from here.
            broker.stats.rewinds.fetch_add(1, Relaxed);
            tracing::warn!(redis = %broker.shown_url, %position, newest = ?newest.map(|n| n.to_string()), "the Redis stream is behind this node: Redis lost entries");
        }
        // The publishing connection notices a lost connection only when a command fails on it:
        // make that a PING now, not the next client's publish, and call Redis up only once
        // publishing works again.
        if !broker.publisher_answers().await {
            return None;
        }
        broker.stats.reconnects.fetch_add(1, Relaxed);
        broker.set_up(true);
        Some(conn)
    }
}

/// A command on the publishing connection, given up after [`COMMAND_TIMEOUT`]: the connection
/// manager's response timeout does not cover its wait for a reconnection, which kept a resume
/// waiting 9.5 s once Redis had gone.
async fn bounded<T>(
    cmd: impl std::future::Future<Output = Result<T, RedisError>>,
) -> Result<T, RedisError> {
    match tokio::time::timeout(COMMAND_TIMEOUT, cmd).await {
        Ok(done) => done,
        Err(_) => Err(std::io::Error::from(std::io::ErrorKind::TimedOut).into()),
    }
}

async fn reader_connection(client: &Client) -> Result<MultiplexedConnection, RedisError> {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(READ_BLOCK + COMMAND_TIMEOUT));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
}

/// The newest entry id of the stream (`None` when it is empty or absent).
async fn newest(
    conn: &mut MultiplexedConnection,
    key: &str,
) -> Result<Option<StreamId>, RedisError> {
    let reply: StreamRangeReply = ::redis::cmd("XREVRANGE")
        .arg(key)
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query_async(conn)
        .await?;
    Ok(reply
        .ids
        .first()
        .and_then(|e| StreamId::parse(e.id.as_bytes())))
}

/// Entries after `after`, waiting up to [`READ_BLOCK`] for the first one.
async fn read(
    conn: &mut MultiplexedConnection,
    key: &str,
    after: StreamId,
) -> Result<Vec<Entry>, RedisError> {
    let reply: Option<StreamReadReply> = ::redis::cmd("XREAD")
        .arg("COUNT")
        .arg(READ_COUNT)
        .arg("BLOCK")
        .arg(READ_BLOCK.as_millis() as u64)
        .arg("STREAMS")
        .arg(key)
        .arg(after.to_string())
        .query_async(conn)
        .await?;
    Ok(reply
        .into_iter()
        .flat_map(|r| r.keys)
        .flat_map(|k| k.ids)
        .collect())
}

/// `redis://user:secret@host:port/db` → `redis://host:port/db`: URLs end up in logs.
fn without_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_reach_the_logs() {
        assert_eq!(without_credentials("redis://:pw@h:1/0"), "redis://h:1/0");
        assert_eq!(without_credentials("rediss://u:p@w@h"), "rediss://h");
        assert_eq!(without_credentials("redis://h:6379"), "redis://h:6379");
        assert_eq!(without_credentials("nonsense"), "nonsense");
    }
}
