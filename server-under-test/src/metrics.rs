//! Counters and gauges, read in-process ([`MetricsSnapshot`]) or as Prometheus text
//! (`GET /metrics`). Plain atomics: nothing on the hot path takes a lock for them.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Live counters shared by every part of the server.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    pub streams_open: AtomicU64,
    pub streams_total: AtomicU64,
    pub streams_direct: AtomicU64,
    pub http_connections_open: AtomicU64,
    pub http_connections_total: AtomicU64,
    pub events_published: AtomicU64,
    pub events_sent: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub stream_writes: AtomicU64,
    pub heartbeats_sent: AtomicU64,
    pub resumes: AtomicU64,
    pub replayed_events: AtomicU64,
    pub replay_misses: AtomicU64,
    pub lagging_dropped: AtomicU64,
    pub rejected_over_capacity: AtomicU64,
    pub polls: AtomicU64,
    /// Events per second over the last measured second, as `f64` bits.
    pub publish_rate_bits: AtomicU64,
    pub ring_events: AtomicU64,
    pub ring_bytes: AtomicU64,
    pub lag_max_events: AtomicU64,
    pub sse: TransportMetrics,
    pub ws: TransportMetrics,
    pub poll: TransportMetrics,
}

/// One transport's counters: how the same hub fares over SSE, WebSocket and polling.
#[derive(Debug, Default)]
pub(crate) struct TransportMetrics {
    pub open: AtomicU64,
    pub total: AtomicU64,
    pub deliveries: AtomicU64,
    closes: [AtomicU64; Close::ALL.len()],
}

/// Why a subscriber's connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Close {
    /// The client left (or its connection failed).
    Client,
    /// Server shutdown, after the last event.
    Shutdown,
    /// Past the lag limits.
    Lagging,
    /// No answer to heartbeats for two intervals (WebSocket).
    Unresponsive,
    /// The client sent something the endpoint does not take (WebSocket).
    BadMessage,
}

impl Close {
    const ALL: [Close; 5] = [
        Close::Client,
        Close::Shutdown,
        Close::Lagging,
        Close::Unresponsive,
        Close::BadMessage,
    ];

    /// The `reason` label.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Close::Client => "client",
            Close::Shutdown => "shutdown",
            Close::Lagging => "lagging",
            Close::Unresponsive => "unresponsive",
            Close::BadMessage => "bad-message",
        }
    }
}

impl TransportMetrics {
    /// A subscriber opened.
    pub fn opened(&self) {
        Metrics::add(&self.open, 1);
        Metrics::add(&self.total, 1);
    }

    /// A subscriber ended, for `why`.
    pub fn closed(&self, why: Close) {
        Metrics::sub(&self.open, 1);
        Metrics::add(&self.closes[why as usize], 1);
    }

    fn snapshot(&self) -> TransportSnapshot {
        let g = |c: &AtomicU64| c.load(Relaxed);
        let c = |why: Close| g(&self.closes[why as usize]);
        TransportSnapshot {
            open: g(&self.open),
            total: g(&self.total),
            deliveries: g(&self.deliveries),
            closes: ClosesSnapshot {
                client: c(Close::Client),
                shutdown: c(Close::Shutdown),
                lagging: c(Close::Lagging),
                unresponsive: c(Close::Unresponsive),
                bad_message: c(Close::BadMessage),
            },
        }
    }
}

/// One transport's metrics at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TransportSnapshot {
    /// Open now: streams and WebSockets subscribed, polls waiting.
    pub open: u64,
    /// Opened since start (polls: requests answered or waiting).
    pub total: u64,
    /// Events delivered (one per subscriber per event; polls: events in answers).
    pub deliveries: u64,
    /// Why subscribers ended (streams and WebSockets; polls always end by answering).
    pub closes: ClosesSnapshot,
}

/// Subscribers ended, by reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClosesSnapshot {
    /// The client left, or its connection failed.
    pub client: u64,
    /// Server shutdown, after the last event.
    pub shutdown: u64,
    /// Closed for falling past the lag limits (the client resumes from its last id).
    pub lagging: u64,
    /// WebSocket peers that answered no heartbeat for two intervals.
    pub unresponsive: u64,
    /// WebSocket clients that sent a message `/ws` does not take.
    pub bad_message: u64,
}

impl ClosesSnapshot {
    fn get(&self, why: Close) -> u64 {
        match why {
            Close::Client => self.client,
            Close::Shutdown => self.shutdown,
            Close::Lagging => self.lagging,
            Close::Unresponsive => self.unresponsive,
            Close::BadMessage => self.bad_message,
        }
    }
}

/// A copy of every metric at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct MetricsSnapshot {
    /// Event streams open now.
    pub streams_open: u64,
    /// Event streams opened since start.
    pub streams_total: u64,
    /// Requests for a stream served on the direct HTTP/1.1 path (without hyper), since start.
    pub streams_direct: u64,
    /// TCP connections open now.
    pub http_connections_open: u64,
    /// TCP connections accepted since start.
    pub http_connections_total: u64,
    /// Events published.
    pub events_published: u64,
    /// Events written to streams (one per subscriber per event).
    pub events_sent: u64,
    /// Bytes handed to the HTTP layer on event streams.
    pub bytes_sent: u64,
    /// Pieces of event-stream body handed to the HTTP layer: with write coalescing, every event
    /// ready at once goes in one piece (one write when the socket keeps up), so
    /// `events_sent / stream_writes` is the events per write.
    pub stream_writes: u64,
    /// Heartbeat comments written.
    pub heartbeats_sent: u64,
    /// Streams that resumed exactly from a `Last-Event-ID`.
    pub resumes: u64,
    /// Events sent as replay (before live events) on resumed or reset streams.
    pub replayed_events: u64,
    /// Streams or polls whose id could not be resumed and got a reset signal.
    pub replay_misses: u64,
    /// Subscribers closed because they fell too far behind.
    pub lagging_dropped: u64,
    /// Streams turned away by `--max-connections`.
    pub rejected_over_capacity: u64,
    /// Long-poll requests answered.
    pub polls: u64,
    /// Events published per second, over the last second.
    pub publish_rate: f64,
    /// Events held in the replay ring.
    pub ring_events: u64,
    /// Bytes held in the replay ring.
    pub ring_bytes: u64,
    /// How many events the furthest-behind stream subscriber had still to send, at the last
    /// housekeeping tick (every 250 ms at most).
    pub lag_max_events: u64,
    /// Event streams (`/stream`, every HTTP version and path).
    pub sse: TransportSnapshot,
    /// WebSockets (`/ws`).
    pub ws: TransportSnapshot,
    /// Polls (`/poll`, long and short).
    pub poll: TransportSnapshot,
}

impl Metrics {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    pub(crate) fn sub(counter: &AtomicU64, n: u64) {
        counter.fetch_sub(n, Relaxed);
    }

    pub(crate) fn snapshot(&self) -> MetricsSnapshot {
        let g = |c: &AtomicU64| c.load(Relaxed);
        MetricsSnapshot {
            streams_open: g(&self.streams_open),
            streams_total: g(&self.streams_total),
            streams_direct: g(&self.streams_direct),
            http_connections_open: g(&self.http_connections_open),
            http_connections_total: g(&self.http_connections_total),
            events_published: g(&self.events_published),
            events_sent: g(&self.events_sent),
            bytes_sent: g(&self.bytes_sent),
            stream_writes: g(&self.stream_writes),
            heartbeats_sent: g(&self.heartbeats_sent),
            resumes: g(&self.resumes),
            replayed_events: g(&self.replayed_events),
            replay_misses: g(&self.replay_misses),
            lagging_dropped: g(&self.lagging_dropped),
            rejected_over_capacity: g(&self.rejected_over_capacity),
            polls: g(&self.polls),
            publish_rate: f64::from_bits(g(&self.publish_rate_bits)),
            ring_events: g(&self.ring_events),
            ring_bytes: g(&self.ring_bytes),
            lag_max_events: g(&self.lag_max_events),
            sse: self.sse.snapshot(),
            ws: self.ws.snapshot(),
            poll: self.poll.snapshot(),
        }
    }
}

impl MetricsSnapshot {
    /// The Prometheus text exposition of these values.
    pub fn to_prometheus(&self) -> String {
        let rows: [(&str, &str, &str, f64); 20] = [
            (
                "ssekit_streams_open",
                "gauge",
                "Event streams open now.",
                self.streams_open as f64,
            ),
            (
                "ssekit_streams_total",
                "counter",
                "Event streams opened.",
                self.streams_total as f64,
            ),
            (
                "ssekit_streams_direct_total",
                "counter",
                "Stream requests served on the direct HTTP/1.1 path (without hyper's buffers).",
                self.streams_direct as f64,
            ),
            (
                "ssekit_http_connections_open",
                "gauge",
                "TCP connections open now.",
                self.http_connections_open as f64,
            ),
            (
                "ssekit_http_connections_total",
                "counter",
                "TCP connections accepted.",
                self.http_connections_total as f64,
            ),
            (
                "ssekit_events_published_total",
                "counter",
                "Events published.",
                self.events_published as f64,
            ),
            (
                "ssekit_events_sent_total",
                "counter",
                "Events written to streams.",
                self.events_sent as f64,
            ),
            (
                "ssekit_bytes_sent_total",
                "counter",
                "Bytes written to event streams.",
                self.bytes_sent as f64,
            ),
            (
                "ssekit_stream_writes_total",
                "counter",
                "Pieces of event-stream body handed to the HTTP layer (events ready together are coalesced into one).",
                self.stream_writes as f64,
            ),
            (
                "ssekit_heartbeats_sent_total",
                "counter",
                "Heartbeat comments written.",
                self.heartbeats_sent as f64,
            ),
            (
                "ssekit_resumes_total",
                "counter",
                "Streams resumed exactly from Last-Event-ID.",
                self.resumes as f64,
            ),
            (
                "ssekit_replayed_events_total",
                "counter",
                "Events sent as replay.",
                self.replayed_events as f64,
            ),
            (
                "ssekit_replay_misses_total",
                "counter",
                "Ids that could not be resumed (reset signalled).",
                self.replay_misses as f64,
            ),
            (
                "ssekit_lagging_dropped_total",
                "counter",
                "Subscribers closed for falling behind.",
                self.lagging_dropped as f64,
            ),
            (
                "ssekit_rejected_over_capacity_total",
                "counter",
                "Streams turned away by the connection cap.",
                self.rejected_over_capacity as f64,
            ),
            (
                "ssekit_polls_total",
                "counter",
                "Long-poll requests answered.",
                self.polls as f64,
            ),
            (
                "ssekit_publish_rate",
                "gauge",
                "Events published per second over the last second.",
                self.publish_rate,
            ),
            (
                "ssekit_replay_ring_events",
                "gauge",
                "Events held for replay.",
                self.ring_events as f64,
            ),
            (
                "ssekit_replay_ring_bytes",
                "gauge",
                "Bytes held for replay.",
                self.ring_bytes as f64,
            ),
            (
                "ssekit_subscriber_lag_max_events",
                "gauge",
                "Events the furthest-behind stream subscriber has yet to send.",
                self.lag_max_events as f64,
            ),
        ];
        let mut out = String::with_capacity(2048);
        for (name, kind, help, value) in rows {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
        self.write_transports(&mut out);
        out
    }

    /// The per-transport rows, labelled `transport="sse|ws|poll"` (and `reason` for closes).
    fn write_transports(&self, out: &mut String) {
        let transports = [("sse", &self.sse), ("ws", &self.ws), ("poll", &self.poll)];
        type Row = (
            &'static str,
            &'static str,
            &'static str,
            fn(&TransportSnapshot) -> u64,
        );
        let rows: [Row; 3] = [
            (
                "ssekit_transport_open",
                "gauge",
                "Subscribers open now by transport (poll: requests waiting).",
                |t| t.open,
            ),
            (
                "ssekit_transport_opened_total",
                "counter",
                "Subscribers opened by transport (poll: requests).",
                |t| t.total,
            ),
            (
                "ssekit_transport_deliveries_total",
                "counter",
                "Events delivered by transport (one per subscriber per event).",
                |t| t.deliveries,
            ),
        ];
        for (name, kind, help, value) in rows {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (transport, t) in transports {
                let _ = writeln!(out, "{name}{{transport=\"{transport}\"}} {}", value(t));
            }
        }
        let name = "ssekit_transport_closes_total";
        let _ = writeln!(
            out,
            "# HELP {name} Subscribers ended by transport and reason.\n# TYPE {name} counter"
        );
        for (transport, t) in &transports[..2] {
            for why in Close::ALL {
                let _ = writeln!(
                    out,
                    "{name}{{transport=\"{transport}\",reason=\"{}\"}} {}",
                    why.label(),
                    t.closes.get(why)
                );
            }
        }
    }
}
