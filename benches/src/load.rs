//! `ssekit-load`: a load generator for SSE servers (loopback only).
//!
//! It opens N event-stream connections, optionally publishes at a fixed rate (each event's data
//! is its publish time in nanoseconds since the Unix epoch), optionally stalls K of the readers
//! (they take the response head, then never read again), and reports connect success, events per
//! connection, missing and duplicate ids, and publish-to-read latency percentiles.
//!
//! Ids are expected in the reference server's `EPOCH-SEQ` form: the number after the last `-`
//! must grow by one per event on a connection; a gap counts as missing, a repeat or step back as
//! a duplicate. Connections are spread over several 127.0.0.x source addresses beyond 15 000, so
//! that one source address does not run out of ephemeral ports.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Empty, Full};
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use ssekit_parser::{Frame, Parser};
use tokio::net::TcpSocket;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

/// Connections per 127.0.0.x source address before moving to the next one (the default
/// ephemeral port range holds about 28 000, some of them in TIME_WAIT from earlier runs).
const PER_SOURCE: usize = 15_000;

/// Longest time given to open all connections before publishing starts anyway.
const CONNECT_PHASE: Duration = Duration::from_secs(60);

/// Longest wait for one publish request's answer; a slower one counts as a publish error.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(5);

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// The event-stream URL, `http://127.0.0.1:PORT/stream?topic=...`.
    pub url: Uri,
    /// Connections to open.
    pub connections: usize,
    /// How long to publish and read.
    pub duration: Duration,
    /// The publish URL (`POST`, JSON `{"topic"?, "data"}`), if events should be published.
    pub publish: Option<Uri>,
    /// Topic named in published events.
    pub topic: Option<String>,
    /// Events published per second.
    pub rate: f64,
    /// Readers that stop reading after the response head.
    pub stall: usize,
    /// Time to wait after the last publish for deliveries in flight.
    pub drain: Duration,
}

/// What happened.
#[derive(Debug)]
pub struct LoadReport {
    /// Connections that got a 2xx response head.
    pub connected: usize,
    /// Connections that failed (connect error, bad status, handshake error), with one example.
    pub failed: usize,
    /// One failure message, if any failed.
    pub first_failure: Option<String>,
    /// Events published successfully.
    pub published: u64,
    /// Publish requests that failed.
    pub publish_errors: u64,
    /// How long the publisher ran (for the achieved rate).
    pub publish_time: Duration,
    /// Events read per healthy (non-stalled, connected) connection: min, mean, max.
    pub events_min: u64,
    /// Mean events read per healthy connection.
    pub events_mean: f64,
    /// Max events read per healthy connection.
    pub events_max: u64,
    /// Ids skipped on healthy connections.
    pub missing: u64,
    /// Ids repeated or going backwards on healthy connections.
    pub duplicates: u64,
    /// Publish-to-read latency over all deliveries to healthy connections, in microseconds.
    pub latency: Histogram<u64>,
}

impl LoadReport {
    /// A human-readable summary.
    pub fn render(&self) -> String {
        let pct = |q: f64| self.latency.value_at_quantile(q);
        let mut out = format!(
            "connections: {} ok, {} failed\npublished: {} events ({:.1}/s achieved, {} publish errors)\n\
             events per healthy connection: min {}, mean {:.1}, max {}\n\
             missing ids: {}, duplicate ids: {}\n\
             latency (µs, {} deliveries): p50 {}, p99 {}, p99.9 {}, max {}\n",
            self.connected,
            self.failed,
            self.published,
            self.published as f64 / self.publish_time.as_secs_f64().max(1e-9),
            self.publish_errors,
            self.events_min,
            self.events_mean,
            self.events_max,
            self.missing,
            self.duplicates,
            self.latency.len(),
            pct(0.50),
            pct(0.99),
            pct(0.999),
            self.latency.max(),
        );
        if let Some(f) = &self.first_failure {
            out.push_str(&format!("first failure: {f}\n"));
        }
        out
    }
}

/// Per-connection outcome.
#[derive(Debug)]
enum Outcome {
    Failed(String),
    Stalled,
    Read(ReaderStats),
}

#[derive(Debug)]
struct ReaderStats {
    events: u64,
    missing: u64,
    duplicates: u64,
    latency: Histogram<u64>,
}

fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

fn new_histogram() -> Histogram<u64> {
    // 1 µs to 60 s, 3 significant digits.
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("constant histogram bounds are valid")
}

fn target_addr(uri: &Uri) -> Result<SocketAddr, String> {
    let host = uri.host().ok_or("URL has no host")?;
    let port = uri.port_u16().unwrap_or(80);
    let ip: IpAddr = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .map_err(|_| {
            format!("host {host:?} is not an IP address: ssekit-load targets loopback only")
        })?;
    if !ip.is_loopback() {
        return Err(format!(
            "{ip} is not a loopback address: ssekit-load targets loopback only"
        ));
    }
    Ok(SocketAddr::new(ip, port))
}

/// Source address for connection `index`: none (the kernel's choice, from 127.0.0.1) for the
/// first block, then 127.0.0.2, .3, ..., one block each. An explicit bind to port 0 reserves
/// the port for every destination, so it is kept for the addresses that need it.
fn source_for(index: usize, target: SocketAddr) -> Option<SocketAddr> {
    if !target.ip().is_ipv4() || index < PER_SOURCE {
        return None;
    }
    let last = u8::try_from(1 + index / PER_SOURCE).ok()?;
    Some(SocketAddr::new(
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)),
        0,
    ))
}

async fn open(
    index: usize,
    target: SocketAddr,
    uri: &Uri,
) -> Result<hyper::Response<hyper::body::Incoming>, String> {
    let socket = if target.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(|e| format!("socket: {e} (raise `ulimit -n`?)"))?;
    if let Some(source) = source_for(index, target) {
        socket
            .bind(source)
            .map_err(|e| format!("bind {source}: {e}"))?;
    }
    let stream = socket
        .connect(target)
        .await
        .map_err(|e| format!("connect {target}: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(conn);
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let req = Request::get(path)
        .header("host", target.to_string())
        .header("accept", "text/event-stream")
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let res = sender
        .send_request(req)
        .await
        .map_err(|e| format!("request: {e}"))?;
    if !res.status().is_success() {
        return Err(format!("status {}", res.status()));
    }
    Ok(res)
}

async fn reader(
    index: usize,
    target: SocketAddr,
    uri: Uri,
    stalled: bool,
    ready: mpsc::UnboundedSender<()>,
    mut stop: watch::Receiver<bool>,
) -> Outcome {
    let opened = open(index, target, &uri).await;
    // Connected or failed: either way this reader no longer holds up the publisher.
    let _ = ready.send(());
    let res = match opened {
        Ok(res) => res,
        Err(e) => return Outcome::Failed(e),
    };
    if stalled {
        // Keep the connection open and never read: the server must cope.
        let _ = stop.wait_for(|s| *s).await;
        drop(res);
        return Outcome::Stalled;
    }
    let mut body = res.into_body();
    let mut parser = Parser::new();
    let mut stats = ReaderStats {
        events: 0,
        missing: 0,
        duplicates: 0,
        latency: new_histogram(),
    };
    let mut last_seq: Option<u64> = None;
    loop {
        let frame = tokio::select! {
            frame = body.frame() => frame,
            _ = stop.wait_for(|s| *s) => break,
        };
        let Some(Ok(frame)) = frame else { break };
        let Ok(chunk) = frame.into_data() else {
            continue;
        };
        let received = now_nanos();
        let mut feed = parser.feed(&chunk);
        while let Some(item) = feed.next_frame() {
            let Ok(Frame::Event(event)) = item else {
                continue;
            };
            stats.events += 1;
            if let Ok(sent) = event.data.trim().parse::<u128>() {
                let micros = received.saturating_sub(sent) / 1000;
                let _ = stats
                    .latency
                    .record(u64::try_from(micros).unwrap_or(u64::MAX).max(1));
            }
            let seq = event
                .id
                .rsplit('-')
                .next()
                .and_then(|s| s.parse::<u64>().ok());
            match (last_seq, seq) {
                (Some(last), Some(seq)) if seq <= last => stats.duplicates += 1,
                (Some(last), Some(seq)) => {
                    stats.missing += seq - last - 1;
                    last_seq = Some(seq);
                }
                (None, Some(seq)) => last_seq = Some(seq),
                (_, None) => {}
            }
        }
    }
    Outcome::Read(stats)
}

/// Publishes at `rate` until `stop`; returns (published, errors).
async fn publisher(
    uri: Uri,
    topic: Option<String>,
    rate: f64,
    mut stop: watch::Receiver<bool>,
) -> (u64, u64) {
    let Ok(target) = target_addr(&uri) else {
        return (0, 1);
    };
    let connect = async {
        let stream = tokio::net::TcpStream::connect(target).await.ok()?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .ok()?;
        tokio::spawn(conn);
        Some(sender)
    };
    let Some(mut sender) = connect.await else {
        return (0, 1);
    };
    let period = Duration::from_secs_f64(1.0 / rate.max(1e-3));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let (mut ok, mut errors) = (0, 0);
    let path = uri
        .path_and_query()
        .map_or("/publish", |p| p.as_str())
        .to_owned();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => break,
        }
        let data = now_nanos().to_string();
        let body = match &topic {
            Some(t) => format!(r#"{{"topic":{},"data":"{data}"}}"#, json_string(t)),
            None => format!(r#"{{"data":"{data}"}}"#),
        };
        let req = Request::post(path.as_str())
            .header("host", target.to_string())
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)));
        let Ok(req) = req else {
            errors += 1;
            continue;
        };
        match tokio::time::timeout(PUBLISH_TIMEOUT, sender.send_request(req)).await {
            Ok(Ok(res)) if res.status().is_success() => {
                ok += 1;
                let _ = res.into_body().collect().await;
            }
            _ => errors += 1,
        }
    }
    (ok, errors)
}

/// A JSON string literal (topics are short user strings; escape what JSON requires).
fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Runs the load described by `config` and reports. Every wait is bounded: the connect phase by
/// `CONNECT_PHASE`, publishing by the duration, each publish by `PUBLISH_TIMEOUT`, then the drain.
pub async fn run(config: LoadConfig) -> Result<LoadReport, String> {
    let target = target_addr(&config.url)?;
    if let Some(p) = &config.publish {
        target_addr(p)?;
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let (stop_publish_tx, stop_publish_rx) = watch::channel(false);
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    let mut readers = JoinSet::new();
    for index in 0..config.connections {
        let stalled = index < config.stall;
        let ready = ready_tx.clone();
        readers.spawn(reader(
            index,
            target,
            config.url.clone(),
            stalled,
            ready,
            stop_rx.clone(),
        ));
    }
    drop(ready_tx);
    // Publish only once every reader has its response head (or failed), so that no reader
    // misses early events by design; opening is bounded by CONNECT_PHASE.
    let opening = async {
        let mut opened = 0;
        while opened < config.connections && ready_rx.recv().await.is_some() {
            opened += 1;
        }
    };
    let _ = tokio::time::timeout(CONNECT_PHASE, opening).await;
    let publisher = config.publish.clone().map(|uri| {
        tokio::spawn(publisher(
            uri,
            config.topic.clone(),
            config.rate,
            stop_publish_rx.clone(),
        ))
    });
    tokio::time::sleep(config.duration).await;
    // Stop the publisher first; readers keep reading through the drain.
    let _ = stop_publish_tx.send(true);
    let (published, publish_errors) = match publisher {
        Some(handle) => match tokio::time::timeout(Duration::from_secs(10), handle).await {
            Ok(Ok(counts)) => counts,
            _ => (0, 1),
        },
        None => (0, 0),
    };
    tokio::time::sleep(config.drain).await;
    let _ = stop_tx.send(true);

    let mut report = LoadReport {
        connected: 0,
        failed: 0,
        first_failure: None,
        published,
        publish_errors,
        publish_time: config.duration,
        events_min: u64::MAX,
        events_mean: 0.0,
        events_max: 0,
        missing: 0,
        duplicates: 0,
        latency: new_histogram(),
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut healthy = 0u64;
    let mut total = 0u64;
    while let Ok(Some(joined)) = tokio::time::timeout_at(deadline, readers.join_next()).await {
        match joined {
            Ok(Outcome::Failed(e)) => {
                report.failed += 1;
                report.first_failure.get_or_insert(e);
            }
            Ok(Outcome::Stalled) => report.connected += 1,
            Ok(Outcome::Read(s)) => {
                report.connected += 1;
                healthy += 1;
                total += s.events;
                report.events_min = report.events_min.min(s.events);
                report.events_max = report.events_max.max(s.events);
                report.missing += s.missing;
                report.duplicates += s.duplicates;
                let _ = report.latency.add(&s.latency);
            }
            Err(e) => {
                report.failed += 1;
                report
                    .first_failure
                    .get_or_insert(format!("reader task: {e}"));
            }
        }
    }
    readers.abort_all();
    if healthy == 0 {
        report.events_min = 0;
    } else {
        report.events_mean = total as f64 / healthy as f64;
    }
    Ok(report)
}

/// Parses a URL argument.
pub fn parse_uri(s: &str) -> Result<Uri, String> {
    s.parse::<Uri>().map_err(|e| format!("bad URL {s:?}: {e}"))
}
