//! K: keep-alive and liveness (heartbeat gaps and form, time to first byte, half-open clients).

use std::time::{Duration, Instant};

use super::{on_stream, Basis, Check, Finding, Level, Phase};
use crate::capture::{Capture, End};
use crate::context::{Baseline, Ctx};
use crate::diagnosis::{idle_cut_cause, secs, Close};
use crate::target::BoxFuture;

/// The K group.
pub fn checks() -> Vec<Check> {
    vec![
        Check {
            id: "K01",
            level: Level::Should,
            basis: Basis::Practice,
            title: "idle stream gets bytes at least every --heartbeat-max (30 s), watched that long",
            reference: "HTML §9.2.7; stellar/horizon#424 (ELB 60 s idle cut)",
            browser: "Load balancers and proxies cut idle connections (60 s on AWS ELB / DigitalOcean): streams die and reconnect.",
            fix: "Write a `:` comment on idle streams at least every half of the shortest idle timeout in front of the server (every ~15 s behind the usual 30-60 s ones).",
            phase: Phase::Background,
            run: k01,
        },
        Check {
            id: "K02",
            level: Level::Should,
            basis: Basis::Practice,
            title: "heartbeats are comments",
            reference: "HTML §9.2.7",
            browser: "Heartbeats sent as `message` events wake every handler; `event: ping` without data never fires.",
            fix: "Send heartbeats as comment lines (`: keep-alive`).",
            phase: Phase::Background,
            run: k02,
        },
        Check {
            id: "K03",
            level: Level::Should,
            basis: Basis::Recommendation,
            title: "first body byte within 1 s of the headers",
            reference: "MCP SEP-1699 (priming event)",
            browser: "Buffering intermediaries hold the response until bytes flow; `open` and first events are late.",
            fix: "Write a priming frame (`retry:` and/or a comment) right after the headers.",
            phase: Phase::Main,
            run: k03,
        },
        Check {
            id: "K04",
            level: Level::Should,
            basis: Basis::Practice,
            title: "half-open clients are reaped",
            reference: "sse-starlette#89; sleep2agi PR #271",
            browser: "Dead clients keep sockets and buffers forever: file descriptors and memory leak.",
            fix: "Bound each client's unsent bytes and drop clients whose writes stall.",
            phase: Phase::Main,
            run: k04,
        },
    ]
}

/// Gaps between successive reads (from the head), including the silence after the last read
/// up to the end of the watch when the stream was still open.
pub fn gaps(c: &Capture) -> Vec<Duration> {
    let mut times: Vec<Instant> = std::iter::once(c.head_at)
        .chain(c.reads.iter().map(|r| r.at))
        .collect();
    if !c.ended_by_server() {
        if let Some(until) = c.watched_until {
            times.push(until);
        }
    }
    times.windows(2).map(|w| w[1] - w[0]).collect()
}

/// The longest stretch of a stream without a dispatched event, and what kept it alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Quiet {
    /// How long no event arrived.
    pub length: Duration,
    /// Reads inside the stretch that carried no event (comments, retry lines: heartbeats).
    pub heartbeats: usize,
}

impl Quiet {
    fn longer(self, length: Duration, heartbeats: usize) -> Quiet {
        match length > self.length {
            true => Quiet { length, heartbeats },
            false => self,
        }
    }
}

/// The longest event-free stretch of `c`, from its head up to `until` (or the end of the
/// body). Events the runner itself published count as events: they are not idleness.
pub fn longest_quiet(c: &Capture, until: Instant) -> Quiet {
    let until = match &c.end {
        End::Eof(at, _) | End::Error(at, ..) => *at,
        End::Open => until,
    };
    let carries_event = |at: Instant| c.events.binary_search_by(|e| e.at.cmp(&at)).is_ok();
    let mut best = Quiet::default();
    let mut start = c.head_at;
    let mut heartbeats = 0;
    for read in &c.reads {
        if carries_event(read.at) {
            best = best.longer(read.at - start, heartbeats);
            start = read.at;
            heartbeats = 0;
        } else {
            heartbeats += 1;
        }
    }
    best.longer(until.saturating_duration_since(start), heartbeats)
}

/// Whether the stream has shown what it does when idle: two heartbeats with no event between
/// them (a period measured), or silence as long as `heartbeat_max` (nothing left to wait for).
pub fn idle_shown(c: &Capture, now: Instant, heartbeat_max: Duration) -> bool {
    let q = longest_quiet(c, now);
    q.heartbeats >= 2 || q.length >= heartbeat_max
}

fn k01(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(async move {
        let c = match ctx.idle_watch().await {
            Ok(c) => c,
            Err(e) => return Finding::skip(e),
        };
        let until = c.watched_until.unwrap_or(c.head_at);
        let watched = until - c.head_at;
        let limit = ctx.opts.heartbeat_max;
        if let Some(Close::Idle { silence, .. }) = Close::of(c) {
            return Finding::violation(format!("the idle stream was {}", idle_cut_cause(silence)));
        }
        let max = gaps(c).into_iter().max().unwrap_or_default();
        if max > limit {
            return Finding::violation(format!(
                "no byte for {} on an idle stream (limit {}, watched {}): nothing keeps it alive \
                 through proxies that cut idle connections",
                secs(max),
                secs(limit),
                secs(watched)
            ));
        }
        if c.ended_by_server() {
            return Finding::warn(format!("the idle stream ended after {}", secs(watched)));
        }
        let q = longest_quiet(c, until);
        if q.heartbeats < 2 && q.length < limit {
            // Never PASS what was not observed: a stream kept busy by events (the runner's own
            // publishing, or a ticker) says nothing about what happens when they stop.
            return Finding::skip(format!(
                "the stream was never idle long enough to judge: the longest stretch without events \
                 was {} with {} byte read(s) in it (needs 2 heartbeats, or {} of silence); point \
                 --idle-url at a stream on which nothing is published, or lower --heartbeat-max",
                secs(q.length),
                q.heartbeats,
                secs(limit)
            ));
        }
        Finding::pass(format!(
            "{} heartbeat read(s) over an event-free {}; largest gap {} (limit {}), watched {}",
            q.heartbeats,
            secs(q.length),
            secs(max),
            secs(limit),
            secs(watched)
        ))
    })
}

fn k02(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(async move {
        let c = match ctx.idle_watch().await {
            Ok(c) => c,
            Err(e) => return Finding::skip(e),
        };
        let heartbeat_like = |data: &str| {
            let d = data.to_ascii_lowercase();
            ["ping", "heartbeat", "keepalive", "keep-alive"]
                .iter()
                .any(|k| d.contains(k))
        };
        let fake: Vec<&str> = c
            .events
            .iter()
            .filter(|e| heartbeat_like(&e.value.data) || heartbeat_like(&e.value.event_type))
            .map(|e| e.value.event_type.as_str())
            .collect();
        if c.named_without_data > 0 {
            return Finding::violation(format!(
                "{} heartbeat(s) as `event:` without data (never dispatched)",
                c.named_without_data
            ));
        }
        if let Some(t) = fake.first() {
            return Finding::violation(format!(
                "{} heartbeat(s) sent as dispatched `{t}` events",
                fake.len()
            ));
        }
        match (c.comments.len(), c.events.len()) {
            (0, 0) => {
                Finding::skip("nothing arrived on the idle stream during the watch (see K01)")
            }
            (0, n) => Finding::skip(format!(
                "{n} events and no comments: the stream was never idle"
            )),
            (n, _) => Finding::pass(format!("{n} comment heartbeat(s)")),
        }
    })
}

fn k03(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(on_stream(ctx, |b: &Baseline| {
        match b.a.head_to_first_byte() {
            Some(d) if d <= Duration::from_secs(1) => {
                Finding::pass(format!("first byte {} ms after the headers", d.as_millis()))
            }
            Some(d) => Finding::violation(format!(
                "first byte only {} ms after the headers",
                d.as_millis()
            )),
            None => Finding::violation("no body byte during the baseline window"),
        }
    }))
}

fn k04(_ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(async {
        Finding::skip(
            "a client that stops reading is only visible to the server once data backs up; that case is \
             S01 (slow consumer). Reaping idle half-open sockets needs server-side visibility the runner lacks",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idleness_counts_only_stretches_without_events() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut busy = Capture::starting(t0, t0);
        for n in 1..=5 {
            busy.push(ms(n * 100), b"data: tick\n\n");
        }
        let q = longest_quiet(&busy, ms(600));
        assert_eq!(q.length, Duration::from_millis(100));
        assert_eq!(q.heartbeats, 0);
        assert!(!idle_shown(&busy, ms(600), Duration::from_secs(3)));

        let mut idle = Capture::starting(t0, t0);
        idle.push(ms(100), b"data: last\n\n");
        idle.push(ms(1100), b": hb\n\n");
        assert!(!idle_shown(&idle, ms(1200), Duration::from_secs(3)));
        idle.push(ms(2100), b": hb\n\n");
        assert_eq!(longest_quiet(&idle, ms(2100)).heartbeats, 2);
        assert!(idle_shown(&idle, ms(2100), Duration::from_secs(3)));
        // Silence as long as the limit is shown too: there is nothing more to wait for.
        let silent = Capture::starting(t0, t0);
        assert!(idle_shown(&silent, ms(3000), Duration::from_secs(3)));
    }

    #[test]
    fn gaps_include_the_silence_after_the_last_read() {
        let t0 = Instant::now();
        let mut c = Capture::starting(t0, t0);
        c.push(t0 + Duration::from_millis(10), b": hi\n\n");
        c.push(t0 + Duration::from_millis(1010), b": hb\n\n");
        c.watched_until = Some(t0 + Duration::from_millis(4010));
        let g = gaps(&c);
        assert_eq!(
            g,
            [
                Duration::from_millis(10),
                Duration::from_millis(1000),
                Duration::from_millis(3000)
            ]
        );
    }
}
