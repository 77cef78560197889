#![doc = include_str!("../README.md")]
//! `ssekit load`: a load generator for SSE servers, on loopback only.
//!
//! It opens N subscriptions over HTTP/1.1 (spread over several 127.0.0.x source addresses
//! past ~25 000 per address) by one of four transports (SSE, WebSocket, long polling, short
//! polling), optionally publishes numbered, timestamped events to the server's publish
//! endpoint at a fixed rate or as fast as it answers, optionally stalls K readers, optionally
//! makes every reader reconnect and resume halfway through, and reports connect success,
//! events per connection, missing and duplicate events against the published sequence,
//! delivery latency percentiles, bytes on the wire per event, the cost of a reconnect, and the
//! server's RSS and CPU. Every phase is bounded in time: the run stops by itself.
//!
//! # Map of the module
//! - [`target`]: loopback URLs and source addresses;
//! - [`transport`]: SSE, WebSocket and polling subscriptions behind one interface;
//! - [`wire`]: the byte count under every socket;
//! - [`subscriber`]: one subscriber (reader or stalled), its reconnects;
//! - [`account`]: what one subscriber received;
//! - [`publisher`]: the timestamped, numbered publisher;
//! - [`sequence`]: the payload stamp and the per-connection gap/duplicate tally;
//! - [`latency`]: sharded latency histograms;
//! - [`process`]: server RSS, load average, the open-file limit;
//! - [`report`]: the `ssekit-load/1` report.

pub mod account;
pub mod latency;
pub mod process;
pub mod publisher;
pub mod report;
pub mod sequence;
pub mod subscriber;
pub mod target;
pub mod transport;
pub mod wire;

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Semaphore};
use tokio::time::{sleep, Instant};

use publisher::{PublishOutcome, PublishPlan};
use report::{Connect, Cpu, Delivery, Publish, Reconnect, Report, ServerRss, Stalled, Wire};
use subscriber::{End, Outcome, Plan, Role, Shared, Signals};
use target::LoopbackUrl;
pub use transport::Transport;

/// Connections opened at once.
const CONNECT_CONCURRENCY: usize = 256;
/// Time for memory to settle after the last connection opened, before RSS is read.
const SETTLE: Duration = Duration::from_secs(1);
/// After the publisher stops, readers get this long without progress to catch up…
const DRAIN_IDLE: Duration = Duration::from_millis(500);
/// …and this long at most.
const DRAIN_MAX: Duration = Duration::from_secs(5);
/// Bound on collecting the connections' results after the stop signal.
const JOIN_MAX: Duration = Duration::from_secs(15);

/// The arguments of `ssekit load`.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
pub struct LoadArgs {
    /// The endpoint of the transport, `http://127.x.y.z:PORT/PATH` (loopback only): the event
    /// stream, the WebSocket (`ws://` also accepted) or the poll URL. Without it, an embedded
    /// reference server is started and loaded (its RSS then includes the client's).
    pub url: Option<String>,
    /// How subscribers receive events: `sse` (an event stream), `ws` (WebSocket, one JSON text
    /// frame per event), `long-poll` (`/poll` held until an event comes) or `poll` (`/poll`
    /// answered at once, every `--poll-interval`).
    #[cfg_attr(feature = "cli", arg(long, value_enum, default_value_t = Transport::Sse))]
    pub transport: Transport,
    /// Short polling (`--transport poll`): milliseconds from one poll to the next.
    #[cfg_attr(feature = "cli", arg(long, value_name = "MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=3_600_000)))]
    pub poll_interval: u64,
    /// Halfway through publishing, every reader drops its connection and reconnects, resuming
    /// from the last event id it received, while publishing goes on; reports the time to
    /// resume, the server CPU per reconnect, and whether any event was missed or duplicated.
    #[cfg_attr(feature = "cli", arg(long))]
    pub reconnect: bool,
    /// Event streams to open.
    #[cfg_attr(feature = "cli", arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=1_000_000)))]
    pub connections: u64,
    /// Seconds to publish for (or to hold the connections idle without `--rate`).
    #[cfg_attr(feature = "cli", arg(long, value_name = "SECS", default_value_t = 10.0, value_parser = parse_secs))]
    pub duration: f64,
    /// The server's publish endpoint (`POST` JSON `{"data": …}`), e.g. `http://127.0.0.1:8080/publish`.
    /// With the embedded server it is found by itself.
    #[cfg_attr(feature = "cli", arg(long, value_name = "URL"))]
    pub publish: Option<String>,
    /// Events per second to publish (0: as fast as the server answers). Without it nothing is
    /// published and the connections stay idle.
    #[cfg_attr(feature = "cli", arg(long, value_name = "R", value_parser = parse_rate))]
    pub rate: Option<f64>,
    /// Publishing connections at once, each waiting for its answer before the next request
    /// (more than 1 lifts the publish rate; events may then arrive slightly out of order,
    /// which is tolerated, not counted as gaps).
    #[cfg_attr(feature = "cli", arg(long, value_name = "P", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=64)))]
    pub publishers: u64,
    /// Events per publish request: more than 1 sends a JSON array of that many events, which
    /// the reference server publishes at once (each stream then gets them in one write with
    /// coalescing). `--rate` still counts events.
    #[cfg_attr(feature = "cli", arg(long, value_name = "B", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=10_000)))]
    pub batch: u64,
    /// Readers that stop reading after the response head (slow consumers).
    #[cfg_attr(feature = "cli", arg(long, value_name = "K", default_value_t = 0))]
    pub stall: u64,
    /// Source addresses to spread connections over, ~25 000 each (default: 127.0.0.1,
    /// 127.0.0.2, … as many as needed).
    #[cfg_attr(
        feature = "cli",
        arg(long, value_name = "IP[,IP]", value_delimiter = ',')
    )]
    pub sources: Vec<Ipv4Addr>,
    /// The server's process id, to report its resident memory (`/proc/PID/status`).
    #[cfg_attr(feature = "cli", arg(long, value_name = "PID"))]
    pub server_pid: Option<u32>,
    /// Extra bytes of padding in each event's data (the stamp itself is ~40 bytes).
    #[cfg_attr(feature = "cli", arg(long, value_name = "BYTES", default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=1_000_000)))]
    pub pad: u64,
    /// Bound on opening all connections, queueing included (seconds).
    #[cfg_attr(feature = "cli", arg(long, value_name = "SECS", default_value_t = 60.0, value_parser = parse_secs))]
    pub connect_timeout: f64,
    /// Also write the report as JSON (schema `ssekit-load/1`) to this file.
    #[cfg_attr(feature = "cli", arg(long, value_name = "FILE"))]
    pub json: Option<PathBuf>,
}

impl Default for LoadArgs {
    /// `ssekit load` with no arguments: 100 idle SSE streams for 10 s on an embedded server.
    /// A test (feature `cli`) keeps this equal to the command line's defaults.
    fn default() -> Self {
        LoadArgs {
            url: None,
            transport: Transport::Sse,
            poll_interval: 1000,
            reconnect: false,
            connections: 100,
            duration: 10.0,
            publish: None,
            rate: None,
            publishers: 1,
            batch: 1,
            stall: 0,
            sources: Vec::new(),
            server_pid: None,
            pad: 0,
            connect_timeout: 60.0,
            json: None,
        }
    }
}

#[cfg(feature = "cli")]
fn parse_secs(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds, e.g. 10 or 0.5"))?;
    if !v.is_finite() || !(0.0..=86_400.0).contains(&v) {
        return Err(format!("`{s}` must be between 0 and 86400 seconds"));
    }
    Ok(v)
}

#[cfg(feature = "cli")]
fn parse_rate(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| {
        format!("`{s}` is not a rate in events per second, e.g. 100 (0: as fast as possible)")
    })?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!(
            "`{s}` must be 0 or a positive number of events per second"
        ));
    }
    Ok(v)
}

/// Why a load run could not start.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A URL that is not plain HTTP to loopback.
    #[error("`{url}`: {why}")]
    Url {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        why: String,
    },
    /// `--rate` against a server whose publish endpoint is unknown.
    #[error("--rate needs --publish URL (the server's publish endpoint) when a URL is given")]
    RateWithoutPublish,
    /// `--reconnect` without publishing: there is nothing to resume.
    #[error("--reconnect needs --rate: readers reconnect halfway through publishing")]
    ReconnectWithoutRate,
    /// `--stall` asks for more stalled readers than connections.
    #[error("--stall {stall} is more than --connections {connections}")]
    TooManyStalled {
        /// Stalled readers asked for.
        stall: u64,
        /// Connections asked for.
        connections: u64,
    },
    /// No `--url`: the caller starts a server and names its endpoints.
    #[error("no URL to load: give the event stream URL (http://127.0.0.1:PORT/PATH)")]
    NoUrl,
    /// The JSON report could not be written.
    #[error("cannot write the JSON report to {path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The endpoints under load, and the server process when it is known (for its RSS and CPU).
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// The endpoint subscribers connect to (event stream, WebSocket or poll URL).
    pub stream: LoopbackUrl,
    /// Where events are published, if the run publishes.
    pub publish: Option<LoopbackUrl>,
    /// The server's process id.
    pub pid: Option<u32>,
}

impl Endpoints {
    /// The endpoints `--url`, `--publish` and `--server-pid` name.
    pub fn from_args(args: &LoadArgs) -> Result<Endpoints, LoadError> {
        let url = args.url.as_deref().ok_or(LoadError::NoUrl)?;
        let publish = args
            .publish
            .as_deref()
            .map(LoopbackUrl::parse)
            .transpose()?;
        if args.rate.is_some() && publish.is_none() {
            return Err(LoadError::RateWithoutPublish);
        }
        Ok(Endpoints {
            stream: LoopbackUrl::parse(url)?,
            publish,
            pid: args.server_pid,
        })
    }

    /// The routes of an `ssekit serve` listening on `addr` in process `pid`, subscribing by
    /// `transport` (`/stream`, `/ws` or `/poll`).
    pub fn reference_server(
        addr: std::net::SocketAddr,
        pid: u32,
        transport: Transport,
    ) -> Endpoints {
        let at = |path: &str| LoopbackUrl {
            addr,
            path: path.into(),
        };
        Endpoints {
            stream: at(transport.reference_path()),
            publish: Some(at("/publish")),
            pid: Some(pid),
        }
    }
}

/// Runs the load and returns the report.
pub async fn execute(args: LoadArgs, t: Endpoints) -> Result<Report, LoadError> {
    if args.stall > args.connections {
        return Err(LoadError::TooManyStalled {
            stall: args.stall,
            connections: args.connections,
        });
    }
    if args.reconnect && args.rate.is_none() {
        return Err(LoadError::ReconnectWithoutRate);
    }
    let n = usize::try_from(args.connections).unwrap_or(usize::MAX);
    let nofile_limit = process::raise_nofile(args.connections + 1024);
    let load_average = process::load_average();
    let rss_before = t.pid.and_then(process::rss_kib);
    let sources = target::sources(&args.sources, t.stream.addr, n);

    // Open every connection.
    let shared = Arc::new(Shared::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    // Kept until the end: readers stop watching a dropped signal.
    let (reconnect_tx, reconnect_rx) = watch::channel(0u64);
    let gate = Arc::new(Semaphore::new(CONNECT_CONCURRENCY));
    let url = Arc::new(t.stream.clone());
    let connect_timeout = Duration::from_secs_f64(args.connect_timeout);
    let poll_interval = Duration::from_millis(args.poll_interval.max(1));
    let started = Instant::now();
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let role = if (i as u64) < args.stall {
                Role::Stalled
            } else {
                Role::Reader
            };
            let plan = Plan {
                dial: transport::Dial {
                    transport: args.transport,
                    url: Arc::clone(&url),
                    source: target::source_for(&sources, i),
                    wire: Arc::clone(&shared.wire),
                    poll_interval,
                },
                role,
                connect_timeout,
            };
            let signals = Signals {
                stop: stop_rx.clone(),
                reconnect: reconnect_rx.clone(),
                gate: Arc::clone(&gate),
            };
            tokio::spawn(subscriber::run(i, plan, Arc::clone(&shared), signals))
        })
        .collect();
    while shared.connected.load(Relaxed) + shared.failed.load(Relaxed) < n {
        sleep(Duration::from_millis(20)).await;
    }
    let connect_elapsed = started.elapsed();
    sleep(SETTLE).await;
    let rss_connected = t.pid.and_then(process::rss_kib);

    // Publish (and reconnect halfway through), or hold the connections idle.
    let duration = Duration::from_secs_f64(args.duration);
    let published = Arc::new(AtomicU64::new(0));
    let readers_open = shared
        .connected
        .load(Relaxed)
        .saturating_sub(usize::try_from(args.stall).unwrap_or(0));
    let phase_start = Mark::now(t.pid, &shared);
    let mut wave = None;
    // With no subscriber in (every connect refused, say), publishing would only measure
    // nothing for `--duration`: the report's connect errors are the finding.
    let anyone_in = shared.connected.load(Relaxed) > 0;
    let publishing = match (args.rate, t.publish.clone()) {
        (Some(_), Some(_)) if !anyone_in => None,
        (Some(rate), Some(url)) => {
            let plan = PublishPlan {
                url,
                rate: (rate > 0.0).then_some(rate),
                pad: usize::try_from(args.pad).unwrap_or(0),
                duration,
                publishers: usize::try_from(args.publishers).unwrap_or(1),
                batch: usize::try_from(args.batch).unwrap_or(1),
            };
            let reconnects = async {
                if !args.reconnect {
                    return None;
                }
                sleep(duration / 2).await;
                let before = Mark::now(t.pid, &shared);
                let _ = reconnect_tx.send(1);
                let deadline = Instant::now() + connect_timeout + SETTLE;
                while shared.reconnected.load(Relaxed) + shared.reconnect_failed.load(Relaxed)
                    < readers_open
                    && Instant::now() < deadline
                {
                    sleep(Duration::from_millis(5)).await;
                }
                Some((before, Mark::now(t.pid, &shared)))
            };
            let (outcome, marks) =
                tokio::join!(publisher::run(plan, Arc::clone(&published)), reconnects);
            wave = marks;
            // A short poller learns of the last events at its next poll: wait for it.
            let slack = match args.transport {
                Transport::Poll => poll_interval * 2,
                _ => Duration::ZERO,
            };
            let expected = readers_open as u64 * outcome.published;
            let last_delivery = drain(&shared, expected, slack).await;
            Some((outcome, last_delivery))
        }
        _ if !anyone_in => None,
        _ => {
            sleep(duration).await;
            None
        }
    };
    let phase_end = match &publishing {
        Some((_, last_delivery)) => Mark::at(*last_delivery, t.pid, &shared),
        None => Mark::now(t.pid, &shared),
    };
    let rss_end = t.pid.and_then(process::rss_kib);

    // Stop every connection and gather what each saw.
    let _ = stop_tx.send(true);
    let mut outcomes = Vec::with_capacity(n);
    let join_deadline = Instant::now() + JOIN_MAX;
    for task in tasks {
        match tokio::time::timeout_at(join_deadline, task).await {
            Ok(Ok(outcome)) => outcomes.push(outcome),
            Ok(Err(e)) => outcomes.push(Outcome {
                role: Role::Reader,
                result: Err(format!("task failed: {e}")),
                resets: 0,
            }),
            Err(_) => outcomes.push(Outcome {
                role: Role::Reader,
                result: Err("did not stop in time".into()),
                resets: 0,
            }),
        }
    }
    drop(reconnect_tx);

    let total_published = publishing.as_ref().map(|(o, _)| o.published);
    let connect = connect_summary(&outcomes, connect_elapsed);
    let window = publishing
        .as_ref()
        .map(|(_, last)| last.saturating_duration_since(phase_start.at));
    let (delivery, stalled) =
        delivery_summary(&mut outcomes, publishing.as_ref().map(|(o, _)| o), window);
    let server_rss = match (t.pid, rss_before, rss_connected, rss_end) {
        (Some(pid), Some(before), Some(connected), Some(end)) => Some(ServerRss {
            pid,
            before_kib: before,
            connected_kib: connected,
            end_kib: end,
            per_idle_connection_bytes: connected.saturating_sub(before) as f64 * 1024.0
                / connect.ok.max(1) as f64,
        }),
        _ => None,
    };
    let cpu = publishing
        .as_ref()
        .and_then(|_| phase_start.cpu_until(&phase_end));
    let wire = wire_summary(&shared, &phase_start, &phase_end, connect.ok);
    let reconnect = wave.map(|(before, after)| Reconnect {
        readers: readers_open,
        resumed: shared.reconnected.load(Relaxed),
        failed: shared.reconnect_failed.load(Relaxed),
        wave_ms: u64::try_from(after.at.duration_since(before.at).as_millis()).unwrap_or(0),
        time_to_resume: shared.resume_times.summary(),
        server_cpu_s: before.server_cpu_until(&after),
        server_cpu_per_reconnect_us: reconnect_cpu(
            &phase_start,
            &before,
            &after,
            shared.reconnected.load(Relaxed),
        ),
        missing: delivery.missing,
        duplicates: delivery.duplicates,
        resets: delivery.resets,
    });
    let lossless = delivery.missing == 0
        && delivery.duplicates == 0
        && delivery.closed_by_server == 0
        && delivery.read_errors == 0
        && reconnect.as_ref().map_or(true, |r| r.failed == 0);
    // Readers that got all of nothing are not a success: a run asked to publish must publish.
    let nothing_published = args.rate.is_some() && total_published.unwrap_or(0) == 0;
    let exit_code = u8::from(
        connect.failed > 0 || nothing_published || (total_published.is_some() && !lossless),
    );
    Ok(Report {
        schema: "ssekit-load/1".into(),
        target: format!("http://{}{}", t.stream.addr, t.stream.path),
        transport: args.transport,
        poll_interval_ms: (args.transport == Transport::Poll).then_some(args.poll_interval),
        publish_url: t
            .publish
            .filter(|_| args.rate.is_some())
            .map(|p| format!("http://{}{}", p.addr, p.path)),
        embedded: args.url.is_none(),
        connections: n,
        duration_s: args.duration,
        rate: args.rate,
        sources: sources.iter().flatten().map(|ip| ip.to_string()).collect(),
        nofile_limit,
        load_average,
        connect,
        server_rss,
        publish: publishing.map(|(o, _)| publish_summary(&o, args.publishers, args.batch)),
        cpu,
        delivery,
        latency: shared.latencies.summary(),
        stalled,
        wire: Some(wire),
        reconnect,
        exit_code,
    })
}

/// What the run stood at, at one moment: time, CPU times, deliveries, bytes.
struct Mark {
    at: Instant,
    server: Option<f64>,
    client: Option<f64>,
    delivered: u64,
    payload: u64,
    wire: (u64, u64),
}

impl Mark {
    fn now(pid: Option<u32>, shared: &Shared) -> Mark {
        Mark::at(Instant::now(), pid, shared)
    }

    /// A mark dated `at` (the last delivery) with the figures of now.
    fn at(at: Instant, pid: Option<u32>, shared: &Shared) -> Mark {
        Mark {
            at,
            delivered: shared.delivered.load(Relaxed),
            payload: shared.payload_bytes.load(Relaxed),
            wire: shared.wire.snapshot(),
            server: pid.and_then(process::cpu_seconds),
            client: process::cpu_seconds(std::process::id()),
        }
    }

    fn server_cpu_until(&self, later: &Mark) -> Option<f64> {
        Some(later.server? - self.server?)
    }

    fn delivered_until(&self, later: &Mark) -> u64 {
        later.delivered.saturating_sub(self.delivered)
    }

    /// CPU used from this mark to `later`, with the deliveries counted meanwhile.
    fn cpu_until(&self, later: &Mark) -> Option<Cpu> {
        let client = later.client? - self.client?;
        let server = self.server_cpu_until(later);
        let delivered = self.delivered_until(later) as f64;
        Some(Cpu {
            wall_s: later.at.saturating_duration_since(self.at).as_secs_f64(),
            server_s: server,
            client_s: client,
            deliveries_per_server_cpu_s: server.filter(|s| *s > 0.0).map(|s| delivered / s),
        })
    }
}

/// Server CPU per reconnect, microseconds: the wave's CPU less its deliveries' share at the
/// cost per delivery measured from the start of publishing to the wave.
fn reconnect_cpu(start: &Mark, before: &Mark, after: &Mark, reconnects: usize) -> Option<f64> {
    if reconnects == 0 {
        return None;
    }
    let wave = before.server_cpu_until(after)?;
    let earlier = start.server_cpu_until(before)?;
    let per_delivery = match start.delivered_until(before) {
        0 => 0.0,
        d => earlier / d as f64,
    };
    let deliveries = before.delivered_until(after) as f64;
    Some((wave - deliveries * per_delivery).max(0.0) * 1e6 / reconnects as f64)
}

fn wire_summary(shared: &Shared, start: &Mark, end: &Mark, connections: usize) -> Wire {
    let (read, written) = shared.wire.snapshot();
    let phase_read = end.wire.0.saturating_sub(start.wire.0);
    let phase_written = end.wire.1.saturating_sub(start.wire.1);
    let events = start.delivered_until(end);
    let per_event = |bytes: u64| (events > 0).then(|| bytes as f64 / events as f64);
    let secs = end.at.saturating_duration_since(start.at).as_secs_f64();
    Wire {
        read_bytes: read,
        written_bytes: written,
        phase_s: secs,
        phase_read_bytes: phase_read,
        phase_written_bytes: phase_written,
        phase_events: events,
        bytes_per_event: per_event(phase_read + phase_written),
        read_bytes_per_event: per_event(phase_read),
        payload_bytes_per_event: per_event(end.payload.saturating_sub(start.payload)),
        bytes_per_connection_s: if secs > 0.0 && connections > 0 {
            (phase_read + phase_written) as f64 / connections as f64 / secs
        } else {
            0.0
        },
    }
}

/// Waits for the readers to receive `expected` events in all, or to stop making progress
/// (`slack` longer for readers that only ask now and then); returns when the last event arrived.
async fn drain(shared: &Shared, expected: u64, slack: Duration) -> Instant {
    let started = Instant::now();
    let mut last = Instant::now();
    let mut seen = shared.delivered.load(Relaxed);
    while seen < expected
        && last.elapsed() < DRAIN_IDLE + slack
        && started.elapsed() < DRAIN_MAX + slack
    {
        sleep(Duration::from_millis(10)).await;
        let now = shared.delivered.load(Relaxed);
        if now != seen {
            seen = now;
            last = Instant::now();
        }
    }
    last
}

fn connect_summary(outcomes: &[Outcome], elapsed: Duration) -> Connect {
    let mut c = Connect {
        elapsed_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        ..Connect::default()
    };
    for o in outcomes {
        match &o.result {
            Ok(_) => c.ok += 1,
            Err(why) => {
                c.failed += 1;
                *c.errors.entry(why.clone()).or_default() += 1;
            }
        }
    }
    c
}

fn delivery_summary(
    outcomes: &mut [Outcome],
    publisher: Option<&PublishOutcome>,
    window: Option<Duration>,
) -> (Delivery, Stalled) {
    let mut d = Delivery::default();
    let mut st = Stalled::default();
    let mut per_reader = Vec::new();
    for o in outcomes.iter_mut() {
        let Ok((tally, end)) = &mut o.result else {
            continue;
        };
        if o.role == Role::Stalled {
            st.count += 1;
            st.events_when_drained.push(tally.received);
            match end {
                End::Open => st.still_open += 1,
                End::ServerClosed | End::Error(_) => st.closed_by_server += 1,
            }
            continue;
        }
        if let Some(p) = publisher {
            tally.finish(p.assigned, &p.unpublished);
        }
        d.readers += 1;
        d.events += tally.received;
        d.missing += tally.missing;
        d.duplicates += tally.duplicates;
        d.foreign_events += tally.foreign;
        d.resets += o.resets;
        d.readers_with_missing += usize::from(tally.missing > 0);
        d.readers_with_duplicates += usize::from(tally.duplicates > 0);
        d.closed_by_server += usize::from(*end == End::ServerClosed);
        d.read_errors += usize::from(matches!(end, End::Error(_)));
        let complete = tally.missing == 0
            && tally.duplicates == 0
            && publisher.is_some_and(|p| p.published > 0 && tally.received == p.published);
        d.complete += usize::from(complete);
        per_reader.push(tally.received);
    }
    per_reader.sort_unstable();
    d.min_per_connection = per_reader.first().copied().unwrap_or(0);
    d.max_per_connection = per_reader.last().copied().unwrap_or(0);
    d.median_per_connection = per_reader.get(per_reader.len() / 2).copied().unwrap_or(0);
    if let Some(w) = window.filter(|w| !w.is_zero()) {
        d.deliveries_per_s = d.events as f64 / w.as_secs_f64();
    }
    (d, st)
}

fn publish_summary(o: &PublishOutcome, publishers: u64, batch: u64) -> Publish {
    let secs = o.elapsed.as_secs_f64();
    Publish {
        publishers,
        batch,
        published: o.published,
        failed: o.failed,
        first_error: o.first_error.clone(),
        elapsed_s: secs,
        rate_achieved: if secs > 0.0 {
            o.published as f64 / secs
        } else {
            0.0
        },
    }
}

#[cfg(all(test, feature = "cli"))]
mod tests {
    use super::*;

    /// `LoadArgs::default()` is what the command line gives with no arguments.
    #[test]
    fn default_is_the_command_lines_default() {
        #[derive(clap::Parser)]
        struct Bare {
            #[command(flatten)]
            args: LoadArgs,
        }
        let parsed = <Bare as clap::Parser>::parse_from(["ssekit-load"]).args;
        assert_eq!(format!("{parsed:?}"), format!("{:?}", LoadArgs::default()));
    }
}
