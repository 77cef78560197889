//! S: robustness and scale (slow consumer isolation, churn, idle ramp, fan-out, multi-instance).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http::StatusCode;
use tokio::task::JoinHandle;

use super::published::{Alterations, Found, Payloads};
use super::transport::percentile;
use super::{show, Basis, Check, Finding, Level, Phase};
use crate::capture::Capture;
use crate::context::{Ctx, HeldBy};
use crate::probe;
use crate::target::{fetch_metrics, BoxFuture, Publisher};

/// The S group.
pub fn checks() -> Vec<Check> {
    vec![
        Check {
            id: "S01",
            level: Level::Should,
            basis: Basis::Practice,
            title: "a slow consumer never delays the others",
            reference: "opencode PR #19423 (187 GB queue); OpenCTI#13908; sse-eventbus PR #32",
            browser: "One stalled tab or phone freezes every other client's stream, or grows server memory without bound.",
            fix: "Give each subscriber a bounded queue; drop (and close) subscribers that fall behind instead of waiting for them. Loss with nobody stalled means a per-subscriber queue that discards events or listeners silently when a burst fills it (Flask's `queue.Queue(maxsize=5)` announcer): size it for bursts, and end the stream of a subscriber you drop so the browser reconnects with Last-Event-ID.",
            phase: Phase::Main,
            run: s01,
        },
        Check {
            id: "S02",
            level: Level::Should,
            basis: Basis::Practice,
            title: "connect/abort churn leaves no 5xx and no leak",
            reference: "GHSA-vh64-54px-qgf8; modelcontextprotocol/rust-sdk PR #165",
            browser: "Health probes and flaky networks that drop connections leak tasks until the server dies.",
            fix: "Release every per-connection resource on disconnect, including mid-headers aborts.",
            phase: Phase::Main,
            run: s02,
        },
        Check {
            id: "S03",
            level: Level::Info,
            basis: Basis::Practice,
            title: "idle connection ramp",
            reference: "operations practice (each idle stream holds a socket, a file descriptor and memory)",
            browser: "—",
            fix: "—",
            phase: Phase::Main,
            run: s03,
        },
        Check {
            id: "S04",
            level: Level::Should,
            basis: Basis::Practice,
            title: "fan-out: every subscriber gets every event in order",
            reference: "multi-instance fan-out issues (better-sse#86)",
            browser: "Some users silently miss events or see them out of order.",
            fix: "Publish through one ordered log per topic; signal drops explicitly.",
            phase: Phase::Main,
            run: s04,
        },
        Check {
            id: "S05",
            level: Level::Should,
            basis: Basis::Practice,
            title: "multi-instance delivery",
            reference: "better-sse#86; trytouca#411",
            browser: "Clients connected to another instance never see events published on this one.",
            fix: "Fan events out through a shared broker (Redis, NATS, Postgres LISTEN) to every instance.",
            phase: Phase::Main,
            run: s05,
        },
    ]
}

/// A subscriber that opens the stream as every other probe does (proxy, TLS, the user's headers)
/// over a connection with a small receive window, and never reads its body. The request runs
/// in a task: a server that holds its headers back until the first event must not keep the
/// load from starting.
struct Stalled(JoinHandle<Result<probe::Response, probe::ProbeError>>);

impl Stalled {
    fn open(ctx: &Ctx) -> Self {
        let req = ctx
            .sse_request()
            .window(probe::Window::Small(STALLED_WINDOW));
        Stalled(tokio::spawn(probe::send(req, ctx.timeout())))
    }

    /// Closes the subscriber, or says why it never was one.
    async fn close(self) -> Result<(), String> {
        self.0.abort();
        match self.0.await {
            Ok(Ok(r)) if r.status.is_success() => Ok(()),
            Ok(Ok(r)) => Err(format!("it was answered {}", r.status)),
            Ok(Err(e)) => Err(e.to_string()),
            // Still waiting for its head when the load ended: open all along, as a stalled tab is.
            Err(_) => Ok(()),
        }
    }
}

fn s01(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(async move {
        let Some(publisher) = ctx.target.publish.clone() else {
            return Finding::skip("needs --publish to generate load");
        };
        // The control run: the same reader and load with nobody stalled, so that loss the
        // server causes anyway is not blamed on the stalled subscriber.
        let count = ctx.opts.profile.pick(2000, 5000);
        let control = Payloads::new(&ctx.nonce, "s01c", 6, 1000);
        // The control only has to show loss without a staller: a short window is enough.
        let window = ctx
            .opts
            .profile
            .pick(CONTROL_WINDOW_QUICK, CONTROL_WINDOW_FULL);
        let control = match deliver(ctx, &publisher, &control, count, window).await {
            Ok(d) => d,
            Err(skip) => return skip,
        };
        if let Some(e) = &control.publish_error {
            return Finding::violation(format!(
                "without any stalled subscriber: {e}; {}",
                control.describe()
            ));
        }
        if control.got < control.total {
            return Finding::violation(format!(
                "the server loses events for a healthy reader even without a stalled subscriber ({}/{} arrived){}{}",
                control.got,
                control.total,
                control.stop.describe(),
                control
                    .altered
                    .delivery_note()
                    .map_or(String::new(), |n| format!("; {n}"))
            ));
        }
        let stalled = Stalled::open(ctx);
        // More bytes than a loopback socket buffers (Linux autotunes send buffers up to 4 MiB).
        let total = ctx.opts.profile.pick(8000, 20_000);
        let payloads = Payloads::new(&ctx.nonce, "s01", 6, 1000);
        let window = ctx
            .opts
            .profile
            .pick(PUBLISH_WINDOW_QUICK, PUBLISH_WINDOW_FULL);
        let loaded = deliver(ctx, &publisher, &payloads, total, window).await;
        if let Err(e) = stalled.close().await {
            return Finding::skip(format!(
                "the stalled subscriber was never served ({e}), so the run shows nothing about \
                 slow consumers"
            ));
        }
        let loaded = match loaded {
            Ok(d) => d,
            Err(skip) => return skip,
        };
        let text = loaded.describe();
        // Said once, at the end: how the hook re-encodes is the same in both runs.
        let altered = if loaded.altered.any() {
            &loaded.altered
        } else {
            &control.altered
        };
        let note = altered
            .delivery_note()
            .map_or(String::new(), |n| format!("; {n}"));
        if let Some(e) = &loaded.publish_error {
            return Finding::violation(format!("with one stalled subscriber: {e}; {text}{note}"));
        }
        if loaded.got < loaded.total {
            return Finding::violation(format!(
                "with one stalled subscriber, only {text}{} (without it, {}/{} arrived){note}",
                loaded.stop.describe(),
                control.got,
                control.total
            ));
        }
        // A server that waits for its slowest subscriber shows it first in its publish rate.
        if loaded.rate * 3.0 < control.rate {
            return Finding::violation(format!(
                "publishing slowed from {:.0}/s to {:.0}/s while one subscriber stalled: the \
                 server waits for its slowest client; {text}{note}",
                control.rate, loaded.rate
            ));
        }
        let bytes = loaded.total * 1000;
        if loaded.got == loaded.total && bytes < BACKPRESSURE_BYTES {
            // Never PASS what was not observed: the stalled reader never pushed back.
            return Finding::skip(format!(
                "the publish hook took {} s for {} events ({} KiB), fewer than a stalled reader's \
                 socket buffers hold, so the server never had to choose between waiting and \
                 dropping; the control run without it: {}/{}; use a faster --publish hook or \
                 --profile full",
                window_secs(ctx),
                loaded.total,
                bytes / 1024,
                control.got,
                control.total
            ));
        }
        if loaded.p99 > Duration::from_secs(1) {
            return Finding::violation(format!(
                "{text}: the reader was held back (p99 {} ms without the stalled subscriber){note}",
                control.p99.as_millis()
            ));
        }
        Finding::pass(format!(
            "{text} while another subscriber stalled (control run without it: {}/{}, p99 {} ms){note}",
            control.got,
            control.total,
            control.p99.as_millis()
        ))
    })
}

/// How long S01's control run publishes at most (quick profile).
const CONTROL_WINDOW_QUICK: Duration = Duration::from_secs(2);
/// How long S01's control run publishes at most (full profile).
const CONTROL_WINDOW_FULL: Duration = Duration::from_secs(10);
/// How long S01 publishes with a stalled subscriber at most (quick profile).
const PUBLISH_WINDOW_QUICK: Duration = Duration::from_secs(5);
/// How long S01 publishes with a stalled subscriber at most (full profile).
const PUBLISH_WINDOW_FULL: Duration = Duration::from_secs(30);
/// What a stalled reader's socket buffers hold on Linux loopback (send buffers autotune up
/// to 4 MiB): less than this published, and the stalled reader never pushed back.
const BACKPRESSURE_BYTES: usize = 4 << 20;

/// The stalled subscriber's receive buffer: what the server can push into it before it must
/// notice the reader is not reading.
const STALLED_WINDOW: u32 = 4096;

fn window_secs(ctx: &Ctx) -> u64 {
    ctx.opts
        .profile
        .pick(PUBLISH_WINDOW_QUICK, PUBLISH_WINDOW_FULL)
        .as_secs()
}

/// How S01's reading subscriber's stream stood when the runner stopped reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReaderStop {
    /// Every published event arrived.
    Complete,
    /// The server ended the stream: an explicit eviction, after which a browser reconnects.
    Closed {
        /// Events received before the end.
        after: usize,
    },
    /// The stream stayed open but no event came for a whole wait: the server dropped the
    /// subscriber without telling its connection, so a browser never reconnects.
    Silent {
        /// Events received before they stopped.
        after: usize,
    },
}

impl ReaderStop {
    /// `"; …"` for a report line, empty when nothing is missing.
    fn describe(self) -> String {
        match self {
            ReaderStop::Complete => String::new(),
            ReaderStop::Closed { after } => format!(
                "; the server closed the reader's stream after {after} events (an eviction: a browser reconnects with Last-Event-ID)"
            ),
            ReaderStop::Silent { after } => format!(
                "; the reader's connection stayed open but events stopped after {after}: the server dropped the subscriber while still connected, so a browser never reconnects"
            ),
        }
    }
}

/// What one S01 run delivered to its reading subscriber.
#[derive(Debug)]
struct Delivery {
    total: usize,
    /// Distinct published events received.
    got: usize,
    p99: Duration,
    publish_error: Option<String>,
    stop: ReaderStop,
    altered: Alterations,
    /// Publications per second the hook accepted.
    rate: f64,
}

impl Delivery {
    fn describe(&self) -> String {
        format!(
            "{}/{} events reached the reading subscriber (p99 {} ms)",
            self.got,
            self.total,
            self.p99.as_millis()
        )
    }
}

/// Which published events a capture holds so far, scanning each event once (the reader asks
/// after every read, and 8000 events re-scanned per read would cost seconds).
struct Tally<'p> {
    payloads: &'p Payloads,
    scanned: usize,
    arrived: Vec<Option<Instant>>,
    got: usize,
    altered: Alterations,
}

impl<'p> Tally<'p> {
    fn new(payloads: &'p Payloads, total: usize) -> Self {
        Tally {
            payloads,
            scanned: 0,
            arrived: vec![None; total],
            got: 0,
            altered: Alterations::default(),
        }
    }

    fn update(&mut self, c: &Capture) -> usize {
        for e in c.events.get(self.scanned..).unwrap_or_default() {
            let Some(found) = self.payloads.find(&e.value.data) else {
                continue;
            };
            let slot = usize::try_from(found.seq)
                .ok()
                .and_then(|i| self.arrived.get_mut(i));
            if let Some(slot @ None) = slot {
                *slot = Some(e.at);
                self.got += 1;
                self.altered.add(found.fidelity);
            }
        }
        self.scanned = c.events.len();
        self.got
    }
}

/// Opens a reading subscriber, publishes `total` numbered 1 KiB events and reads them as they
/// come: S01's run, with or without a stalled subscriber alongside. `Err` is a skip.
async fn deliver(
    ctx: &Ctx,
    publisher: &Publisher,
    payloads: &Payloads,
    total: usize,
    window: Duration,
) -> Result<Delivery, Finding> {
    let mut y = match ctx.send("S01 reader", ctx.sse_request()).await {
        Ok(r) if r.status == StatusCode::OK => r,
        Ok(r) => return Err(Finding::skip(format!("stream status {}", r.status))),
        Err(e) => return Err(Finding::skip(e.to_string())),
    };
    let mut c = Capture::new(&y);
    c.read_until(&mut y, Instant::now() + Duration::from_millis(200), |_| {
        false
    })
    .await;
    // Publishing is bounded in time as well as count: a slow hook (a Python server takes
    // ~3 ms a publish) must not carry the run past its bound. The reader then waits for what
    // was published, not for what was planned.
    let publish_until = Instant::now() + window;
    let published = AtomicUsize::new(0);
    let publishing = AtomicBool::new(true);
    let publish = async {
        let mut sent = vec![None; total];
        for (i, at) in sent.iter_mut().enumerate() {
            if Instant::now() >= publish_until {
                break;
            }
            let data = payloads.payload(i as u64);
            let now = Instant::now();
            let outcome = tokio::time::timeout(ctx.timeout(), publisher.publish(None, &data)).await;
            match outcome {
                Ok(Ok(_)) => {
                    *at = Some(now);
                    published.store(i + 1, Ordering::Release);
                }
                Ok(Err(e)) => {
                    publishing.store(false, Ordering::Release);
                    return (sent, Some(format!("publish {i} failed: {e}")));
                }
                Err(_) => {
                    publishing.store(false, Ordering::Release);
                    let secs = ctx.timeout().as_secs();
                    return (sent, Some(format!("publish {i} blocked for {secs} s")));
                }
            }
            // Paced, so a healthy reader never crosses a server's lag limit.
            if i % 50 == 49 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        publishing.store(false, Ordering::Release);
        (sent, None)
    };
    let mut tally = Tally::new(payloads, total);
    let read = async {
        let deadline = publish_until + ctx.timeout() * 2;
        // Stop once all that was published arrived, or once nothing has arrived for the
        // timeout, or at the deadline.
        loop {
            let before = tally.got;
            let step = (Instant::now() + ctx.timeout()).min(deadline);
            let all_in = |got: usize| {
                !publishing.load(Ordering::Acquire) && got >= published.load(Ordering::Acquire)
            };
            c.read_until(&mut y, step, |c| {
                let got = tally.update(c);
                got >= total || all_in(got)
            })
            .await;
            let now = tally.update(&c);
            if now >= total || all_in(now) {
                return ReaderStop::Complete;
            }
            if c.ended_by_server() {
                return ReaderStop::Closed { after: now };
            }
            if now == before || Instant::now() >= deadline {
                return ReaderStop::Silent { after: now };
            }
        }
    };
    let started = Instant::now();
    let ((sent, publish_error), stop) = tokio::join!(publish, read);
    let total = sent.iter().filter(|s| s.is_some()).count();
    let last = sent.iter().rev().find_map(|s| *s).unwrap_or(started);
    let rate = total as f64 / (last - started).as_secs_f64().max(0.001);
    let mut latencies: Vec<Duration> = sent
        .iter()
        .zip(&tally.arrived)
        .filter_map(|(s, a)| Some(a.as_ref()?.saturating_duration_since((*s)?)))
        .collect();
    latencies.sort_unstable();
    Ok(Delivery {
        total,
        got: tally.got,
        p99: percentile(&latencies, 99),
        publish_error,
        stop,
        altered: tally.altered,
        rate,
    })
}

/// The open-connections gauge from a metrics page, if one is recognisable.
pub fn connection_gauge(metrics: &[(String, f64)]) -> Option<f64> {
    metrics
        .iter()
        .find(|(name, _)| {
            let n = name.split('{').next().unwrap_or("");
            n.contains("connections")
                && !n.ends_with("_total")
                && !n.contains("max")
                && !n.contains("rejected")
        })
        .map(|(_, v)| *v)
}

async fn open_connections(ctx: &Ctx) -> Option<f64> {
    let url = ctx.target.metrics_url.as_ref()?;
    fetch_metrics(url, &ctx.target.headers, ctx.timeout())
        .await
        .and_then(|m| connection_gauge(&m))
}

fn s02(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(async move {
        let url = ctx.stream_url();
        let cycles: usize = ctx.opts.profile.pick(200, 5000);
        let before = open_connections(ctx).await;
        let host = url
            .authority()
            .map_or("localhost", |a| a.as_str())
            .to_owned();
        let full = format!(
            "GET {} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n{}\r\n",
            probe::path_and_query(&url),
            ctx.user_header_lines()
        );
        let mut errors = Vec::new();
        let mut server_errors = 0;
        for batch in 0..cycles.div_ceil(20) {
            let results = futures_util::future::join_all((0..20).map(|i| {
                let kind = (batch * 20 + i) % 3;
                let request = match kind {
                    0 => Vec::new(),
                    1 => full.as_bytes()[..full.len() / 2].to_vec(),
                    _ => full.clone().into_bytes(),
                };
                let url = url.clone();
                async move {
                    let wait = if kind == 2 {
                        Duration::from_millis(300)
                    } else {
                        Duration::from_millis(1)
                    };
                    probe::raw(&url, &request, wait, 1).await
                }
            }))
            .await;
            for r in results {
                match r {
                    Ok(x) if x.bytes.starts_with(b"HTTP/1.1 5") => server_errors += 1,
                    Ok(_) => {}
                    Err(e) => errors.push(show(&e.to_string(), 60)),
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let after = open_connections(ctx).await;
        let alive = ctx.send("S02 after churn", ctx.sse_request()).await;
        let mut text = format!("{cycles} connect/abort cycles");
        if let (Some(b), Some(a)) = (before, after) {
            text.push_str(&format!("; open connections {b} before, {a} after"));
        }
        if server_errors > 0 {
            return Finding::violation(format!("{text}; {server_errors} answered 5xx"));
        }
        if !errors.is_empty() {
            errors.dedup();
            return Finding::violation(format!(
                "{text}; {} failed: {}",
                errors.len(),
                show(&errors.join(", "), 120)
            ));
        }
        match alive {
            Ok(r) if r.time_to_head() <= Duration::from_secs(1) => {}
            Ok(r) => {
                return Finding::violation(format!(
                    "{text}; then the stream took {} ms to answer",
                    r.time_to_head().as_millis()
                ))
            }
            Err(e) => {
                return Finding::violation(format!(
                    "{text}; then the server no longer answers: {e}"
                ))
            }
        }
        if let (Some(b), Some(a)) = (before, after) {
            if a > b + 5.0 {
                return Finding::violation(format!("{text}: connections leaked"));
            }
        }
        Finding::pass(text)
    })
}

/// The largest number of file descriptors this process may open (Linux), if known.
fn fd_limit() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

fn s03(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(async move {
        let wanted = ctx.opts.profile.pick(200, 10_000);
        let n = fd_limit().map_or(wanted, |l| wanted.min(l.saturating_sub(200) / 2));
        let started = Instant::now();
        let mut open = Vec::with_capacity(n);
        let mut failed = 0;
        for chunk in (0..n).collect::<Vec<_>>().chunks(100) {
            let got = futures_util::future::join_all(
                chunk
                    .iter()
                    .map(|_| ctx.send("S03 ramp", ctx.sse_request())),
            )
            .await;
            for r in got {
                match r {
                    Ok(r) if r.status == StatusCode::OK => open.push(r),
                    _ => failed += 1,
                }
            }
        }
        let elapsed = started.elapsed();
        let mut text = format!(
            "{}/{n} idle streams open after {} ms",
            open.len(),
            elapsed.as_millis()
        );
        if failed > 0 {
            text.push_str(&format!(" ({failed} refused or failed)"));
        }
        if let Some(url) = &ctx.target.metrics_url {
            if let Some(m) = fetch_metrics(url, &ctx.target.headers, ctx.timeout()).await {
                if let Some((_, rss)) = m.iter().find(|(k, _)| k.contains("resident_memory_bytes"))
                {
                    text.push_str(&format!("; server RSS {:.1} MiB", rss / 1048576.0));
                }
                if let Some(g) = connection_gauge(&m) {
                    text.push_str(&format!("; server counts {g} connections"));
                }
            }
        }
        if wanted > n {
            text.push_str(&format!(
                " (capped from {wanted} by the file-descriptor limit)"
            ));
        }
        Finding::info(text)
    })
}

/// The first look's finding that the server answers one stream at a time, in its terms.
async fn one_at_a_time(ctx: &Ctx) -> Option<String> {
    let b = ctx.baseline().await.ok()?;
    if b.b_held_by != Some(HeldBy::Server) {
        return None;
    }
    Some(format!(
        "a second subscriber got no response head while the first was open, and neither did a \
         request for the stream under another URL: the server answers one stream at a time, so \
         a second tab or user gets nothing; {}",
        crate::diagnosis::out_of_workers(b.server())
    ))
}

fn s04(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(async move {
        // Said without a hook: the first look already showed it.
        if let Some(cause) = one_at_a_time(ctx).await {
            return Finding::violation(cause);
        }
        let Some(publisher) = ctx.target.publish.clone() else {
            return Finding::skip("needs --publish to send a known sequence");
        };
        let (subs, events) = ctx.opts.profile.pick((20, 50), (100, 1000));
        let opened = futures_util::future::join_all(
            (0..subs).map(|_| ctx.send("S04 fan-out", ctx.sse_request())),
        )
        .await;
        let mut streams = Vec::new();
        for r in opened {
            match r {
                Ok(r) if r.status == StatusCode::OK => {
                    let c = Capture::new(&r);
                    streams.push((r, c));
                }
                Ok(r) => {
                    return Finding::violation(format!("a subscriber got status {}", r.status))
                }
                Err(e) => {
                    return Finding::violation(format!("a subscriber could not connect: {e}"))
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let payloads = Payloads::new(&ctx.nonce, "s04", 5, 0);
        let publish = async {
            let mut sent = Vec::with_capacity(events);
            for i in 0..events as u64 {
                publisher.publish(None, &payloads.payload(i)).await?;
                sent.push(i);
                // Paced like a real publisher, so healthy subscribers never hit lag limits.
                if i % 50 == 49 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            Ok::<_, String>(sent)
        };
        let deadline = Instant::now() + ctx.timeout() * 3;
        let reads = futures_util::future::join_all(
            streams
                .into_iter()
                .map(|(r, c)| follow(ctx, r, c, &payloads, events, deadline)),
        );
        let (sent, results) = tokio::join!(publish, reads);
        let sent = match sent {
            Ok(sent) => sent,
            Err(e) => return Finding::skip(format!("publish failed: {e}")),
        };
        let resumed: usize = results.iter().map(|f| f.resumes).sum();
        let mut altered = Alterations::default();
        let mut bad = Vec::new();
        for (i, Followed { got, open, .. }) in results.iter().enumerate() {
            got.iter().for_each(|f| altered.add(f.fidelity));
            let got: Vec<u64> = got.iter().map(|f| f.seq).collect();
            if got != sent {
                let missing = sent.iter().filter(|s| !got.contains(s)).count();
                let how = match (missing, open) {
                    (0, _) => ", out of order or repeated",
                    // Silence on an open stream: dropped without being told.
                    (_, true) => " (its stream still open)",
                    (_, false) => "",
                };
                bad.push(format!(
                    "subscriber {i}: {} received, {missing} missing{how}",
                    got.len()
                ));
            }
        }
        let mut resumes = if resumed > 0 {
            format!("; {resumed} server close(s) resumed with Last-Event-ID")
        } else {
            String::new()
        };
        if let Some(note) = altered.delivery_note() {
            resumes.push_str(&format!("; {note}"));
        }
        if bad.is_empty() {
            Finding::pass(format!(
                "{subs} subscribers × {events} events, identical and in order{resumes}"
            ))
        } else {
            Finding::violation(format!(
                "{} of {subs} subscribers differ{resumes}: {}",
                bad.len(),
                show(&bad.join("; "), 200)
            ))
        }
    })
}

/// What [`follow`] read from one fan-out subscriber.
struct Followed {
    /// The published events received, in order.
    got: Vec<Found>,
    /// Reconnections after the server closed the stream.
    resumes: usize,
    /// The last stream was still open when reading stopped.
    open: bool,
}

/// Reads one fan-out subscriber as a browser would: when the server closes the stream (a
/// lagging subscriber dropped), it reconnects with `Last-Event-ID` (at most 3 times).
async fn follow(
    ctx: &Ctx,
    mut r: probe::Response,
    mut c: Capture,
    payloads: &Payloads,
    want: usize,
    deadline: Instant,
) -> Followed {
    let tagged = |c: &Capture| -> Vec<Found> {
        c.events
            .iter()
            .filter_map(|e| payloads.find(&e.value.data))
            .collect()
    };
    let mut got = Vec::new();
    let mut resumes = 0;
    loop {
        // Counted as events arrive, each looked at once (100 × 1000 in the full profile).
        let (mut scanned, mut count) = (0, got.len());
        c.read_until(&mut r, deadline, |c| {
            let new = c.events.get(scanned..).unwrap_or_default();
            count += new
                .iter()
                .filter(|e| payloads.find(&e.value.data).is_some())
                .count();
            scanned = c.events.len();
            count >= want
        })
        .await;
        got.extend(tagged(&c));
        let last_id = c
            .events
            .iter()
            .rev()
            .map(|e| e.value.id.clone())
            .find(|id| !id.is_empty());
        let (true, true, Some(id)) = (
            got.len() < want && c.ended_by_server(),
            resumes < 3,
            last_id,
        ) else {
            return Followed {
                open: !c.ended_by_server(),
                got,
                resumes,
            };
        };
        let mut req = ctx.sse_request();
        let Ok(value) = http::HeaderValue::from_str(&id) else {
            return Followed {
                open: !c.ended_by_server(),
                got,
                resumes,
            };
        };
        req.headers.insert("last-event-id", value);
        match ctx.send("S04 resume", req).await {
            Ok(next) if next.status == StatusCode::OK => {
                c = Capture::new(&next);
                r = next;
                resumes += 1;
            }
            _ => {
                return Followed {
                    open: false,
                    got,
                    resumes,
                }
            }
        }
    }
}

fn s05(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(async move {
        let Some(other) = ctx.target.also_url.clone() else {
            return Finding::skip("needs a second instance's stream URL (--also-url)");
        };
        let Some(publisher) = ctx.target.publish.clone() else {
            return Finding::skip("needs --publish to send events through one instance");
        };
        let open = |url: http::Uri| async move {
            let mut r = ctx
                .send("S05", ctx.sse_request_to(url))
                .await
                .map_err(|e| e.to_string())?;
            if r.status != StatusCode::OK {
                return Err(format!("status {}", r.status));
            }
            let mut c = Capture::new(&r);
            c.read_until(&mut r, Instant::now() + Duration::from_millis(200), |_| {
                false
            })
            .await;
            Ok((r, c))
        };
        let (mut ra, mut ca) = match open(ctx.stream_url()).await {
            Ok(x) => x,
            Err(e) => return Finding::skip(format!("this instance: {e}")),
        };
        let (mut rb, mut cb) = match open(other.clone()).await {
            Ok(x) => x,
            Err(e) => return Finding::violation(format!("the other instance ({other}): {e}")),
        };
        let payloads = Payloads::new(&ctx.nonce, "s05", 3, 0);
        let n = 20;
        let mut sent = Vec::new();
        for i in 0..n as u64 {
            if let Err(e) = publisher.publish(None, &payloads.payload(i)).await {
                return Finding::skip(format!("publish failed: {e}"));
            }
            sent.push(i);
        }
        let deadline = Instant::now() + ctx.timeout();
        let tagged = |c: &Capture| -> Vec<u64> {
            c.events
                .iter()
                .filter_map(|e| payloads.find(&e.value.data).map(|f| f.seq))
                .collect()
        };
        ca.read_until(&mut ra, deadline, |c| tagged(c).len() >= n)
            .await;
        cb.read_until(&mut rb, deadline, |c| tagged(c).len() >= n)
            .await;
        let (a, b) = (tagged(&ca), tagged(&cb));
        if a != sent {
            return Finding::skip(format!(
                "this instance itself delivered {}/{n} of its own events (see S04)",
                a.len()
            ));
        }
        if b != sent {
            return Finding::violation(format!(
                "{}/{n} events published through one instance reached a subscriber of the other ({other})",
                b.len()
            ));
        }
        Finding::pass(format!(
            "{n} events published through one instance reached both, in order"
        ))
    })
}
