//! The load report: schema `ssekit-load/1` in JSON (fields are only ever added, with defaults,
//! so older reports still read), and a short human summary.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::latency::LatencySummary;
use super::transport::Transport;

/// Everything one `ssekit load` run measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// `"ssekit-load/1"`.
    pub schema: String,
    /// The endpoint under load (event stream, WebSocket or poll URL).
    pub target: String,
    /// How the subscribers received events (absent in older reports: `sse`).
    #[serde(default)]
    pub transport: Transport,
    /// Short polling: milliseconds between polls.
    #[serde(default)]
    pub poll_interval_ms: Option<u64>,
    /// The publish URL, if events were published.
    pub publish_url: Option<String>,
    /// Whether the target was the embedded reference server (its RSS then includes the client).
    pub embedded: bool,
    /// Connections asked for.
    pub connections: usize,
    /// Seconds of publishing (or of idling).
    pub duration_s: f64,
    /// Publish rate asked for, events/s (`0`: as fast as the server answers; absent: no publishing).
    pub rate: Option<f64>,
    /// Source addresses the connections were spread over.
    pub sources: Vec<String>,
    /// The open-file limit the client ran with.
    pub nofile_limit: u64,
    /// 1/5/15 minute load averages when the run started.
    pub load_average: Option<[f64; 3]>,
    /// Opening the connections.
    pub connect: Connect,
    /// The server's resident memory, when its pid was known.
    pub server_rss: Option<ServerRss>,
    /// The publisher.
    pub publish: Option<Publish>,
    /// CPU time spent while publishing and delivering (until the readers were drained).
    #[serde(default)]
    pub cpu: Option<Cpu>,
    /// What the reading connections received.
    pub delivery: Delivery,
    /// Publish-to-read latency over the reading connections: percentiles, and the whole
    /// distribution at fixed percentiles (`latency.distribution`, an optional field: absent
    /// in older reports) for plots.
    pub latency: LatencySummary,
    /// The stalled connections.
    pub stalled: Stalled,
    /// Bytes on the wire.
    #[serde(default)]
    pub wire: Option<Wire>,
    /// The reconnect wave (`--reconnect`).
    #[serde(default)]
    pub reconnect: Option<Reconnect>,
    /// 0: every connection opened and every reader got every event exactly once; 1 otherwise.
    pub exit_code: u8,
}

/// Opening the connections.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Connect {
    /// `200 text/event-stream` answers.
    pub ok: usize,
    /// Connections that failed to open.
    pub failed: usize,
    /// Failure reasons and how often each occurred.
    pub errors: BTreeMap<String, usize>,
    /// Time to open them all.
    pub elapsed_ms: u64,
}

/// Server resident memory (`VmRSS`), KiB.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerRss {
    /// The process measured.
    pub pid: u32,
    /// Before connecting.
    pub before_kib: u64,
    /// With every connection open and idle (one second after the last opened).
    pub connected_kib: u64,
    /// At the end of the run, connections still open.
    pub end_kib: u64,
    /// `(connected - before) / connections open`, bytes.
    pub per_idle_connection_bytes: f64,
}

/// CPU time over the publishing phase (start of publishing to the last delivery): what each
/// process cost per delivery, which stays meaningful when client and server share the cores.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cpu {
    /// Seconds of wall time measured.
    pub wall_s: f64,
    /// Server CPU seconds (user + system), when its pid was known.
    pub server_s: Option<f64>,
    /// This load generator's CPU seconds.
    pub client_s: f64,
    /// Deliveries per server CPU second.
    pub deliveries_per_server_cpu_s: Option<f64>,
}

/// The publisher.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Publish {
    /// Publishing connections used at once.
    pub publishers: u64,
    /// Events per publish request.
    #[serde(default = "one")]
    pub batch: u64,
    /// Events accepted by the server.
    pub published: u64,
    /// Requests refused or failed.
    pub failed: u64,
    /// The first failure.
    pub first_error: Option<String>,
    /// Seconds spent publishing.
    pub elapsed_s: f64,
    /// Events accepted per second.
    pub rate_achieved: f64,
}

/// What the reading (not stalled) connections received.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Delivery {
    /// Reading connections that opened.
    pub readers: usize,
    /// Publisher events received by them in all.
    pub events: u64,
    /// `events` over the time from the first publish to the end of the drain.
    pub deliveries_per_s: f64,
    /// Fewest events on one reader.
    pub min_per_connection: u64,
    /// Median events per reader.
    pub median_per_connection: u64,
    /// Most events on one reader.
    pub max_per_connection: u64,
    /// Readers that got every published event exactly once.
    pub complete: usize,
    /// Published events never received, summed over readers.
    pub missing: u64,
    /// Events received more than once, summed over readers.
    pub duplicates: u64,
    /// Readers with at least one missing event.
    pub readers_with_missing: usize,
    /// Readers with at least one duplicate.
    pub readers_with_duplicates: usize,
    /// Readers whose stream the server ended before the run did.
    pub closed_by_server: usize,
    /// Readers whose connection failed while reading.
    pub read_errors: usize,
    /// Events without a publisher stamp (someone else's events).
    pub foreign_events: u64,
    /// Reset signals: the server could not resume from the id a reconnect gave.
    #[serde(default)]
    pub resets: u64,
}

/// Bytes read from and written to the subscribers' sockets, everything included (HTTP heads,
/// chunked framing, WebSocket frame headers, JSON envelopes, poll requests), but not the
/// publisher's. The phase is the publishing one (first publish to the last delivery), or the
/// idle hold without `--rate`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Wire {
    /// Read over the whole run, connecting included.
    pub read_bytes: u64,
    /// Written over the whole run.
    pub written_bytes: u64,
    /// Seconds of the phase.
    pub phase_s: f64,
    /// Read during the phase.
    pub phase_read_bytes: u64,
    /// Written during the phase (requests: what polling pays on top of reading).
    pub phase_written_bytes: u64,
    /// Publisher events the readers received during the phase.
    pub phase_events: u64,
    /// `(phase read + phase written) / phase events`: bytes on the wire per delivered event.
    pub bytes_per_event: Option<f64>,
    /// `phase read / phase events`.
    pub read_bytes_per_event: Option<f64>,
    /// Event data bytes per delivered event (what the application asked to send).
    pub payload_bytes_per_event: Option<f64>,
    /// `(phase read + phase written) / connections / phase seconds`: what a connection costs
    /// per second, events or not (polling pays it idle too).
    pub bytes_per_connection_s: f64,
}

/// The reconnect wave: halfway through publishing, every reader dropped its connection and
/// opened a new one resuming from its last event id, while publishing went on.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Reconnect {
    /// Readers told to reconnect.
    pub readers: usize,
    /// Reconnects that resumed.
    pub resumed: usize,
    /// Reconnects that failed.
    pub failed: usize,
    /// From the signal to the last reconnect, milliseconds (the load generator opens 256
    /// connections at a time).
    pub wave_ms: u64,
    /// Time to resume, per reconnect: from the connect gate to the new connection's first
    /// answer (stream head, WebSocket handshake, first poll), microseconds.
    pub time_to_resume: LatencySummary,
    /// Server CPU seconds over the wave.
    pub server_cpu_s: Option<f64>,
    /// Server CPU per reconnect, microseconds: the wave's CPU less what its deliveries cost at
    /// the rate measured before the wave, over the reconnects.
    pub server_cpu_per_reconnect_us: Option<f64>,
    /// Missing events over all readers (the run's figure: the wave is where they would come from).
    pub missing: u64,
    /// Duplicate events over all readers.
    pub duplicates: u64,
    /// Reset signals received.
    pub resets: u64,
}

/// The stalled connections: they stopped reading after the response head.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Stalled {
    /// Stalled connections that opened.
    pub count: usize,
    /// Events they still found waiting when they read again at the end.
    pub events_when_drained: Vec<u64>,
    /// How many of them the server had ended (evicted) by then.
    pub closed_by_server: usize,
    /// How many were still open, their backlog still waiting.
    pub still_open: usize,
}

impl Report {
    /// A few lines for people.
    pub fn human(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "ssekit load {} over {} ({} connections, {} s){}",
            self.target,
            match self.poll_interval_ms {
                Some(ms) => format!("{} every {ms} ms", self.transport),
                None => self.transport.to_string(),
            },
            self.connections,
            self.duration_s,
            if self.embedded {
                ", embedded reference server"
            } else {
                ""
            }
        );
        if let Some(l) = self.load_average {
            let _ = writeln!(
                s,
                "  load average at start: {:.2} {:.2} {:.2}; open-file limit {}",
                l[0], l[1], l[2], self.nofile_limit
            );
        }
        let _ = writeln!(
            s,
            "  connect: {} ok, {} failed in {} ms over {} source address(es)",
            self.connect.ok,
            self.connect.failed,
            self.connect.elapsed_ms,
            self.sources.len()
        );
        for (why, n) in &self.connect.errors {
            let _ = writeln!(s, "    {n} × {why}");
        }
        if self.connect.ok == 0 && self.connections > 0 {
            let _ = writeln!(
                s,
                "  no subscriber connected: nothing was published or measured (see why above)"
            );
        }
        if let Some(r) = &self.server_rss {
            let _ = writeln!(s, "  server RSS (pid {}): {} KiB before, {} KiB connected, {} KiB at end: {:.0} bytes per idle connection",
                r.pid, r.before_kib, r.connected_kib, r.end_kib, r.per_idle_connection_bytes);
        }
        if let Some(p) = &self.publish {
            let _ = writeln!(
                s,
                "  published: {} events in {:.2} s ({:.0}/s, {} per request, {} publisher(s)), {} failed{}",
                p.published,
                p.elapsed_s,
                p.rate_achieved,
                p.batch,
                p.publishers,
                p.failed,
                p.first_error
                    .as_ref()
                    .map_or(String::new(), |e| format!(" (first: {e})"))
            );
            if p.published == 0 {
                let _ = writeln!(
                    s,
                    "  nothing was published: the figures below measure no event (see the publish error)"
                );
            }
            if let Some(c) = &self.cpu {
                let server = match (c.server_s, c.deliveries_per_server_cpu_s) {
                    (Some(cpu), Some(per)) => {
                        format!("server {cpu:.2} s ({per:.0} deliveries per server CPU second), ")
                    }
                    _ => String::new(),
                };
                let _ = writeln!(
                    s,
                    "  CPU over {:.2} s of publishing: {server}client {:.2} s",
                    c.wall_s, c.client_s
                );
            }
            let d = &self.delivery;
            let _ = writeln!(s, "  delivered: {} events to {} readers ({:.0} deliveries/s); per connection min {} / median {} / max {}",
                d.events, d.readers, d.deliveries_per_s, d.min_per_connection, d.median_per_connection, d.max_per_connection);
            let _ = writeln!(s, "  complete readers: {} of {}; missing {} on {} readers, duplicates {} on {}; closed by server {}; read errors {}",
                d.complete, d.readers, d.missing, d.readers_with_missing, d.duplicates, d.readers_with_duplicates, d.closed_by_server, d.read_errors);
            let l = &self.latency;
            let _ = writeln!(
                s,
                "  latency (µs) over {} events: p50 {} p99 {} p99.9 {} max {} mean {:.0}",
                l.count, l.p50_us, l.p99_us, l.p99_9_us, l.max_us, l.mean_us
            );
        }
        if let Some(w) = &self.wire {
            let per = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
            let _ = writeln!(
                s,
                "  wire: {} B per delivered event ({} read, payload {}); {:.1} B per connection per second; {} B read, {} B written in all",
                per(w.bytes_per_event),
                per(w.read_bytes_per_event),
                per(w.payload_bytes_per_event),
                w.bytes_per_connection_s,
                w.read_bytes,
                w.written_bytes
            );
        }
        if let Some(r) = &self.reconnect {
            let t = &r.time_to_resume;
            let cpu = match (r.server_cpu_s, r.server_cpu_per_reconnect_us) {
                (Some(all), Some(per)) => {
                    format!("; server CPU {all:.2} s over the wave, {per:.0} µs per reconnect")
                }
                _ => String::new(),
            };
            let _ = writeln!(
                s,
                "  reconnect: {} of {} readers resumed, {} failed, in {} ms; time to resume (µs) p50 {} p99 {} max {}; missing {} duplicates {} resets {}{cpu}",
                r.resumed, r.readers, r.failed, r.wave_ms, t.p50_us, t.p99_us, t.max_us, r.missing, r.duplicates, r.resets
            );
        }
        if self.stalled.count > 0 {
            let st = &self.stalled;
            let _ = writeln!(s, "  stalled readers: {}; at the end {} closed by the server, {} still open; events waiting: {:?}",
                st.count, st.closed_by_server, st.still_open, st.events_when_drained);
        }
        s
    }
}

fn one() -> u64 {
    1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latency::{Latencies, DISTRIBUTION_PERCENTILES};

    /// A report as written before `latency.distribution` existed (no `cpu`, `wire`,
    /// `reconnect` or `transport` either).
    const OLD: &str = r#"{
        "schema": "ssekit-load/1", "target": "http://127.0.0.1:1/stream", "publish_url": null,
        "embedded": false, "connections": 1, "duration_s": 1.0, "rate": 1.0, "sources": [],
        "nofile_limit": 1024, "load_average": null,
        "connect": {"ok": 1, "failed": 0, "errors": {}, "elapsed_ms": 1},
        "server_rss": null, "publish": null,
        "delivery": {"readers": 1, "events": 1, "deliveries_per_s": 1.0, "min_per_connection": 1,
            "median_per_connection": 1, "max_per_connection": 1, "complete": 1, "missing": 0,
            "duplicates": 0, "readers_with_missing": 0, "readers_with_duplicates": 0,
            "closed_by_server": 0, "read_errors": 0, "foreign_events": 0},
        "latency": {"count": 1, "p50_us": 7, "p99_us": 7, "p99_9_us": 7, "max_us": 7, "mean_us": 7.0},
        "stalled": {"count": 0, "events_when_drained": [], "closed_by_server": 0, "still_open": 0},
        "exit_code": 0
    }"#;

    #[test]
    fn reports_without_a_distribution_still_read_and_write_none() {
        let r: Report = serde_json::from_str(OLD).expect("an older report reads");
        assert!(r.latency.distribution.is_empty());
        let back = serde_json::to_value(&r).expect("serializes");
        assert_eq!(back["latency"].get("distribution"), None, "{back}");
    }

    #[test]
    fn a_measured_distribution_is_written_and_read_back() {
        let mut r: Report = serde_json::from_str(OLD).expect("an older report reads");
        let l = Latencies::new();
        l.record_all(0, &[100, 200, 300, 400]);
        r.latency = l.summary();
        let json = serde_json::to_value(&r).expect("serializes");
        let points = json["latency"]["distribution"]
            .as_array()
            .expect("the distribution is written");
        assert_eq!(points.len(), DISTRIBUTION_PERCENTILES.len());
        assert_eq!(points[0]["percentile"], 0.0);
        assert_eq!(points[0]["value_us"], 100);
        assert_eq!(points[points.len() - 1]["value_us"], 400);
        let again: Report = serde_json::from_value(json).expect("reads back");
        assert_eq!(again.latency.distribution, r.latency.distribution);
    }
}
