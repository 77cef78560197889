//! K: keep-alive and liveness (heartbeat gaps and form, time to first byte, half-open clients).

use std::time::{Duration, Instant};

use super::{on_stream, Basis, Check, Finding, Level, Phase};
use crate::capture::Capture;
use crate::context::{Baseline, Ctx};
use crate::target::BoxFuture;

/// The K group.
pub fn checks() -> Vec<Check> {
    vec![
        Check {
            id: "K01",
            level: Level::Should,
            basis: Basis::Practice,
            title: "idle stream gets bytes at least every --heartbeat-max (30 s)",
            reference: "HTML §9.2.7; stellar/horizon#424 (ELB 60 s idle cut)",
            browser: "Load balancers and proxies cut idle connections (60 s on AWS ELB / DigitalOcean): streams die and reconnect.",
            fix: "Write a `:` comment every ~15 s on idle streams.",
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
            reference: "Recommendation (the runner's): MCP SEP-1699 (priming event)",
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

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

fn k01(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(async move {
        let c = match ctx.idle_watch().await {
            Ok(c) => c,
            Err(e) => return Finding::skip(e),
        };
        let g = gaps(c);
        let max = g.iter().max().copied().unwrap_or_default();
        let watched = c.watched_until.unwrap_or(c.head_at) - c.head_at;
        let limit = ctx.opts.heartbeat_max;
        if max > limit {
            return Finding::violation(format!(
                "no byte for {} on an idle stream (limit {}, watched {})",
                secs(max),
                secs(limit),
                secs(watched)
            ));
        }
        if c.ended_by_server() {
            return Finding::warn(format!("the idle stream ended after {}", secs(watched)));
        }
        Finding::pass(format!(
            "largest gap {} over {} ({} reads)",
            secs(max),
            secs(watched),
            c.reads.len()
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
