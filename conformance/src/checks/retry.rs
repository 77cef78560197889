//! R: reconnection (`retry:` values, server-initiated closes, shutdown, reconnect storms).

use std::time::{Duration, Instant};

use super::framing::idle_note;
use super::{show, Basis, Check, Finding, Level, Phase};
use crate::capture::{Capture, End};
use crate::context::{Baseline, Ctx};
use crate::diagnosis::Close;
use crate::probe::ProbeError;
use crate::target::BoxFuture;

/// The R group.
pub fn checks() -> Vec<Check> {
    vec![
        Check {
            id: "R01",
            level: Level::Should,
            basis: Basis::Recommendation,
            title: "retry sent early, between 1000 and 60000 ms",
            reference: "simonx1/ruby-mcp-client PR #193; launchdarkly/dotnet-eventsource#92",
            browser: "`retry: 0` or tiny values make every client reconnect at once in a storm; none leaves the browser default (~3 s).",
            fix: "Send `retry: 2000`-`5000` (with jitter per connection) in the first frame.",
            phase: Phase::Main,
            run: r01,
        },
        Check {
            id: "R02",
            level: Level::Info,
            basis: Basis::Practice,
            title: "retry jitter across connections",
            reference: "thundering-herd practice",
            browser: "Identical retry values make all clients return in the same instant after a restart.",
            fix: "Add random jitter to the retry value per connection.",
            phase: Phase::Main,
            run: r02,
        },
        Check {
            id: "R03",
            level: Level::Must,
            basis: Basis::Spec,
            title: "server-initiated closes are clean EOFs at an event boundary",
            reference: "HTML §9.2.5 ABNF (every event ends with a blank line); §9.2.6 (EOF -> reestablish the connection)",
            browser: "A reset or a cut event loses the last event; a 204/5xx instead of EOF stops clients for good.",
            fix: "End streams by finishing the current event and closing the body normally.",
            phase: Phase::Summary,
            run: r03,
        },
        Check {
            id: "R04",
            level: Level::Should,
            basis: Basis::Practice,
            title: "shutdown ends open streams within 1 s",
            reference: "tokio-rs/axum#2673; hyperium/hyper#2787; blackrock/HOLA PR #43",
            browser: "Open streams hold the old instance until it is killed: deploys stall, then clients are cut mid-event.",
            fix: "On SIGTERM, end every event stream at an event boundary before waiting for the HTTP drain.",
            phase: Phase::Shutdown,
            run: r04,
        },
        Check {
            id: "R05",
            level: Level::Should,
            basis: Basis::Practice,
            title: "reconnect storm accepted quickly",
            reference: "reconnect-storm reports",
            browser: "After a restart all clients return at once; refusals (5xx) stop them for good, slow accepts stall pages.",
            fix: "Keep accept and the first write cheap; never answer the stream with 5xx under load.",
            phase: Phase::Main,
            run: r05,
        },
    ]
}

fn r01(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(super::on_stream(ctx, |b: &Baseline| {
        let early =
            b.a.retries
                .iter()
                .find(|r| r.at <= b.a.head_at + Duration::from_secs(1));
        match early.map(|r| r.value) {
            None => match b.a.retries.first() {
                Some(r) => Finding::violation(format!(
                    "retry: {} only after {} ms",
                    r.value,
                    (r.at - b.a.head_at).as_millis()
                )),
                None => Finding::violation(
                    "no retry field: clients use their default (~3 s), with no jitter",
                ),
            },
            Some(0) => Finding::violation("retry: 0 invites a reconnection storm"),
            Some(ms) if ms < 1000 => {
                Finding::violation(format!("retry: {ms} (< 1000 ms): reconnection storm risk"))
            }
            Some(ms) if ms > 60_000 => {
                Finding::violation(format!("retry: {ms} (> 60 s): clients stay away too long"))
            }
            Some(ms) => Finding::pass(format!("retry: {ms} in the first second")),
        }
    }))
}

fn r02(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(async move {
        let n = ctx.opts.profile.pick(5, 20);
        let mut values = Vec::new();
        for _ in 0..n {
            let Ok(mut r) = ctx.send("R02", ctx.sse_request()).await else {
                continue;
            };
            let mut c = Capture::new(&r);
            c.read_until(&mut r, Instant::now() + Duration::from_secs(1), |c| {
                !c.retries.is_empty()
            })
            .await;
            if let Some(v) = c.retries.first() {
                values.push(v.value);
            }
        }
        if values.is_empty() {
            return Finding::info(format!("no retry field on {n} connections"));
        }
        let (min, max) = (
            values.iter().min().copied().unwrap_or(0),
            values.iter().max().copied().unwrap_or(0),
        );
        let distinct = {
            let mut v = values.clone();
            v.sort_unstable();
            v.dedup();
            v.len()
        };
        Finding::info(format!(
            "{} connections: retry {min}..{max} ms, {distinct} distinct values",
            values.len()
        ))
    })
}

fn r03(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(async move {
        let closed = ctx.closed();
        if closed.is_empty() {
            return Finding::skip("the server closed no stream during the run (needs a server-side close or the shutdown hook)");
        }
        // The grammar is broken only by a cut inside an event; an idle timeout or a reset
        // between events loses nothing (the client reconnects and resumes), and K01 names it.
        let bad: Vec<String> = closed
            .iter()
            .filter(|c| c.close == Close::MidEvent)
            .map(|c| format!("{}: event cut", c.by))
            .collect();
        let idle: Vec<Duration> = closed
            .iter()
            .filter_map(|c| match c.close {
                Close::Idle { silence, .. } => Some(silence),
                _ => None,
            })
            .collect();
        if bad.is_empty() {
            Finding::pass(format!(
                "{} server-closed streams, none inside an event{}",
                closed.len(),
                idle_note(&idle)
            ))
        } else {
            Finding::violation(format!(
                "{} of {}: {}",
                bad.len(),
                closed.len(),
                show(&bad.join("; "), 200)
            ))
        }
    })
}

fn r04(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(async move {
        let Some(hook) = ctx.target.take_shutdown() else {
            return Finding::skip("needs a shutdown hook (only the embedded server has one)");
        };
        let mut streams = Vec::new();
        for _ in 0..3 {
            if let Ok(mut r) = ctx.send("R04", ctx.sse_request()).await {
                let mut c = Capture::new(&r);
                c.read_until(&mut r, Instant::now() + Duration::from_millis(500), |c| {
                    c.first_byte.is_some()
                })
                .await;
                streams.push((r, c));
            }
        }
        if streams.is_empty() {
            return Finding::skip("no stream could be opened before shutdown");
        }
        let signalled = Instant::now();
        let shutdown = tokio::spawn(hook);
        let limit = Duration::from_secs(5);
        let mut times = Vec::new();
        let mut open = 0;
        for (mut r, mut c) in streams {
            c.read_until(&mut r, signalled + limit, |_| false).await;
            match &c.end {
                End::Eof(at, _) | End::Error(at, ..) => times.push(*at - signalled),
                End::Open => open += 1,
            }
            ctx.record_end("R04 shutdown", &c);
        }
        // A hanging shutdown must not hang the runner.
        let _ = tokio::time::timeout(Duration::from_millis(100), shutdown).await;
        let worst = times.iter().max().copied().unwrap_or_default();
        if open > 0 {
            return Finding::violation(format!(
                "{open} stream(s) still open {} s after shutdown began",
                limit.as_secs()
            ));
        }
        if worst > Duration::from_secs(1) {
            return Finding::violation(format!(
                "streams ended {} ms after shutdown began",
                worst.as_millis()
            ));
        }
        Finding::pass(format!(
            "{} streams ended within {} ms of shutdown",
            times.len(),
            worst.as_millis()
        ))
    })
}

fn r05(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(async move {
        let n = ctx.opts.profile.pick(50, 500);
        let first = open_many(ctx, n).await;
        let opened = first.iter().filter(|r| r.is_ok()).count();
        drop(first);
        let started = Instant::now();
        let second = open_many(ctx, n).await;
        let mut times: Vec<Duration> = Vec::new();
        let mut errors = Vec::new();
        // Requests that got no head: how many, and the first one's error, which names why.
        let (mut missing, mut unanswered) = (0, None);
        for r in second {
            match r {
                Ok((status, t)) if status.is_success() => times.push(t),
                Ok((status, _)) => errors.push(status.to_string()),
                Err(e) if e.is_no_head() => {
                    missing += 1;
                    unanswered.get_or_insert(e);
                }
                Err(e) => errors.push(show(&e.to_string(), 60)),
            }
        }
        let elapsed = started.elapsed();
        times.sort_unstable();
        let p99 = times
            .get(times.len().saturating_sub(1) * 99 / 100)
            .copied()
            .unwrap_or_default();
        let reconnected = match times.is_empty() {
            true => format!("none of {n} reconnected in {} ms", elapsed.as_millis()),
            false => format!(
                "{}/{n} reconnected in {} ms; p99 time to first byte {} ms",
                times.len(),
                elapsed.as_millis(),
                p99.as_millis()
            ),
        };
        let text = format!("{opened}/{n} opened, then {reconnected}");
        if let Some(e) = unanswered {
            // Named once, whole: it is the cause of the storm's failures, not one of them.
            return Finding::violation(format!("{text}; {missing} got no response head: {e}"));
        }
        if !errors.is_empty() {
            errors.dedup();
            return Finding::violation(format!(
                "{text}; failures: {}",
                show(&errors.join(", "), 120)
            ));
        }
        if p99 > Duration::from_secs(2) {
            return Finding::violation(format!("{text} (> 2 s)"));
        }
        Finding::pass(text)
    })
}

type Opened = Result<(http::StatusCode, Duration), ProbeError>;

/// Opens `n` streams at once and waits for each one's first byte (or head, if no byte comes).
async fn open_many(ctx: &Ctx, n: usize) -> Vec<Opened> {
    let mut set = Vec::with_capacity(n);
    for _ in 0..n {
        set.push(async {
            let mut r = ctx.send("R05 storm", ctx.sse_request()).await?;
            let status = r.status;
            let mut c = Capture::new(&r);
            c.read_until(&mut r, Instant::now() + Duration::from_millis(2500), |c| {
                c.first_byte.is_some()
            })
            .await;
            let t = c.first_byte.unwrap_or(r.head_at) - r.sent_at;
            Ok((status, t))
        });
    }
    futures_util::future::join_all(set).await
}
