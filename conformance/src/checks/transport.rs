//! T: transport (publish-to-receipt latency and buffering, HTTP/2 multiplexing, chunked
//! framing, HTTP/1.0, proxies).

use std::time::{Duration, Instant};

use http::StatusCode;

use super::{show, Check, Finding, Level, Phase};
use crate::capture::Capture;
use crate::context::Ctx;
use crate::probe::{self, H2Conn, Proto};
use crate::target::BoxFuture;

/// The T group.
pub fn checks() -> Vec<Check> {
    vec![
        Check {
            id: "T01",
            level: Level::Must,
            title: "events arrive promptly (p99 publish -> receipt ≤ 250 ms), no bursts",
            reference: "HTML §9.2.7; X-Accel-Buffering issues (vmware/atc#139, tock#1895)",
            browser: "A buffering layer holds events back: the page updates late, in bursts, or never.",
            fix: "Flush after every event; turn off proxy buffering (nginx `proxy_buffering off;` or `X-Accel-Buffering: no`) and compression for the stream.",
            phase: Phase::Main,
            run: t01,
        },
        Check {
            id: "T02",
            level: Level::Should,
            title: "HTTP/2: concurrent streams on one connection",
            reference: "libwebsockets#1486; HTML §9.2.7 (per-origin connection limits)",
            browser: "Over HTTP/1.1 a browser allows ~6 connections per origin; HTTP/2 lifts it only if streams multiplex.",
            fix: "Serve HTTP/2 with SETTINGS_MAX_CONCURRENT_STREAMS ≥ 100 and no idle timeout shorter than the heartbeat.",
            phase: Phase::Background,
            run: t02,
        },
        Check {
            id: "T03",
            level: Level::Should,
            title: "HTTP/1.1 chunked framing byte-exact",
            reference: "RFC 9112 §7.1",
            browser: "Bad chunk framing makes browsers report ERR_INCOMPLETE_CHUNKED_ENCODING and reconnect.",
            fix: "Let the HTTP library frame chunks; never write a zero-length chunk before the end.",
            phase: Phase::Main,
            run: t03,
        },
        Check {
            id: "T04",
            level: Level::Info,
            title: "HTTP/1.0 request",
            reference: "RFC 9112 §2.3",
            browser: "Old proxies speak HTTP/1.0: a chunked answer to them is a protocol error.",
            fix: "Answer HTTP/1.0 close-delimited (or 505).",
            phase: Phase::Main,
            run: t04,
        },
        Check {
            id: "T05",
            level: Level::Should,
            title: "T01 and K01 hold through a proxy",
            reference: "deployment reality",
            browser: "A buffering proxy in production undoes a correct server.",
            fix: "Run `ssekit check` against the proxied URL too (see the README's nginx results).",
            phase: Phase::Main,
            run: t05,
        },
    ]
}

/// p-th percentile of sorted durations.
pub fn percentile(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[(sorted.len() - 1) * p / 100]
}

fn t01(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(async move {
        let Some(publisher) = ctx.target.publish.clone() else {
            return passive_bursts(ctx).await;
        };
        let mut r = match ctx.send("T01", ctx.sse_request()).await {
            Ok(r) if r.status == StatusCode::OK => r,
            Ok(r) => return Finding::skip(format!("stream status {}", r.status)),
            Err(e) => return Finding::skip(e.to_string()),
        };
        let mut c = Capture::new(&r);
        c.read_until(&mut r, Instant::now() + Duration::from_millis(200), |_| {
            false
        })
        .await;
        let n = ctx.opts.profile.pick(20, 100);
        let tag = format!("ssekit-check {} t01", ctx.nonce);
        let pad = "x".repeat(60);
        let mut latencies = Vec::new();
        let mut missing = 0;
        for i in 0..n {
            let data = format!("{tag} {i:04} {pad}");
            let sent = Instant::now();
            if let Err(e) = publisher.publish(None, &data).await {
                return Finding::skip(format!("publish failed: {e}"));
            }
            let deadline = sent + Duration::from_secs(1);
            c.read_until(&mut r, deadline, |c| {
                c.events.last().is_some_and(|e| e.value.data == data)
            })
            .await;
            match c.events.iter().rev().find(|e| e.value.data == data) {
                Some(e) => latencies.push(e.at.saturating_duration_since(sent)),
                None => {
                    missing += 1;
                    if missing >= 3 {
                        break;
                    }
                }
            }
            if c.ended_by_server() {
                break;
            }
        }
        latencies.sort_unstable();
        let p50 = percentile(&latencies, 50);
        let p99 = percentile(&latencies, 99);
        let text = format!(
            "{} of {n} events: p50 {} ms, p99 {} ms",
            latencies.len(),
            p50.as_millis(),
            p99.as_millis()
        );
        if missing > 0 {
            return Finding::violation(format!(
                "{missing} published event(s) not received within 1 s ({} bytes of body arrived): a buffering layer; {text}",
                c.bytes
            ));
        }
        if p99 > Duration::from_millis(250) {
            return Finding::violation(format!("{text} (> 250 ms)"));
        }
        Finding::pass(text)
    })
}

async fn passive_bursts(ctx: &Ctx) -> Finding {
    let b = match ctx.baseline().await {
        Ok(b) if b.streaming() => b,
        Ok(b) => return Finding::skip(format!("stream status {}", b.status)),
        Err(e) => return Finding::skip(e),
    };
    let events = &b.a.events;
    if events.len() < 2 {
        return Finding::skip("no --publish hook and too few events to judge buffering passively");
    }
    let mut burst = 0;
    let mut i = 0;
    while i < events.len() {
        let at = events[i].at;
        let same = events[i..].iter().take_while(|e| e.at == at).count();
        let prev =
            b.a.reads
                .iter()
                .rev()
                .find(|r| r.at < at)
                .map_or(b.a.head_at, |r| r.at);
        if same >= 3 && at - prev > Duration::from_secs(1) {
            burst = burst.max(same);
        }
        i += same;
    }
    if burst > 0 {
        return Finding::violation(format!(
            "{burst} events arrived in one read after > 1 s of silence: a buffering layer"
        ));
    }
    Finding::pass(format!(
        "passive (no --publish): {} events, no bursts after silences",
        events.len()
    ))
}

fn t02(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(async move {
        let url = ctx.stream_url();
        let conn = match H2Conn::handshake(&url, ctx.timeout()).await {
            Ok(c) => c,
            Err(e) => return Finding::skip(format!("no HTTP/2 connection: {e}")),
        };
        let n = ctx.opts.profile.pick(10, 100);
        let req = ctx.sse_request().proto(Proto::H2c);
        let opened = futures_util::future::join_all((0..n).map(|_| async {
            let mut r = conn
                .send(&req, ctx.timeout())
                .await
                .map_err(|e| e.to_string())?;
            if r.status != StatusCode::OK {
                return Err(format!("status {}", r.status));
            }
            let mut c = Capture::new(&r);
            c.read_until(&mut r, Instant::now() + Duration::from_secs(2), |c| {
                c.first_byte.is_some()
            })
            .await;
            Ok((r, c))
        }))
        .await;
        let mut ok = Vec::new();
        let mut errors = Vec::new();
        for o in opened {
            match o {
                Ok(x) => ok.push(x),
                Err(e) => errors.push(e),
            }
        }
        if ok.is_empty() {
            return Finding::skip(format!(
                "the server does not serve the stream over h2c: {}",
                show(&errors.join(", "), 120)
            ));
        }
        if !errors.is_empty() {
            errors.dedup();
            return Finding::violation(format!(
                "{} of {n} streams failed on one connection: {}",
                errors.len(),
                show(&errors.join(", "), 120)
            ));
        }
        let flowing = ok.iter().filter(|(_, c)| c.first_byte.is_some()).count();
        if ctx.opts.profile == crate::context::Profile::Full {
            let (mut r, mut c) = ok.swap_remove(0);
            drop(ok);
            c.read_until(&mut r, Instant::now() + Duration::from_secs(75), |_| false)
                .await;
            if c.ended_by_server() {
                return Finding::violation("an idle HTTP/2 stream did not survive 75 s");
            }
        }
        Finding::pass(format!(
            "{n} concurrent streams on one h2c connection, {flowing} delivering bytes"
        ))
    })
}

// The validator lives in the sans-I/O `ssekit-wire` crate (fuzzed there, see fuzz/); re-exported so
// `checks::transport::{validate_chunked, Chunked}` keep working.
pub use ssekit_wire::chunked::{validate_chunked, Chunked};

fn raw_get(url: &http::Uri, version: &str, extra: &str) -> Vec<u8> {
    let host = url.authority().map_or("localhost", |a| a.as_str());
    format!(
        "GET {} {version}\r\nHost: {host}\r\nAccept: text/event-stream\r\n{extra}\r\n",
        probe::path_and_query(url)
    )
    .into_bytes()
}

fn user_headers(ctx: &Ctx) -> String {
    ctx.target
        .headers
        .iter()
        .filter_map(|(k, v)| Some(format!("{k}: {}\r\n", v.to_str().ok()?)))
        .collect()
}

fn t03(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(async move {
        let url = ctx.stream_url();
        let req = raw_get(&url, "HTTP/1.1", &user_headers(ctx));
        let window = ctx
            .opts
            .profile
            .pick(Duration::from_millis(1500), Duration::from_secs(5));
        match probe::raw(&url, &req, window, 1 << 20).await {
            Err(e) => Finding::skip(e.to_string()),
            Ok(x) => match validate_chunked(&x.bytes) {
                Chunked::Valid(n) => Finding::pass(format!("{n} chunks, framing valid")),
                Chunked::NotChunked(how) => Finding::pass(format!("not chunked ({how})")),
                Chunked::Invalid(e) => Finding::violation(e),
            },
        }
    })
}

fn t04(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(async move {
        let url = ctx.stream_url();
        let req = raw_get(&url, "HTTP/1.0", &user_headers(ctx));
        match probe::raw(&url, &req, Duration::from_millis(1500), 1 << 16).await {
            Err(e) => Finding::info(format!("HTTP/1.0 request failed: {e}")),
            Ok(x) => {
                let text = String::from_utf8_lossy(&x.bytes);
                let status = text.lines().next().unwrap_or("(no answer)").to_owned();
                let head = text
                    .split("\r\n\r\n")
                    .next()
                    .unwrap_or("")
                    .to_ascii_lowercase();
                if head.contains("transfer-encoding: chunked") {
                    return Finding::warn(format!(
                        "{status}, chunked: HTTP/1.0 clients cannot read it"
                    ));
                }
                let framing = if head.contains("content-length:") {
                    "Content-Length"
                } else {
                    "close-delimited"
                };
                Finding::info(format!("{}, {framing}", show(&status, 60)))
            }
        }
    })
}

fn t05(_ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(async {
        Finding::skip(
            "the runner bundles no proxy: run `ssekit check` against the proxied URL (the README shows nginx \
             with buffering on and off)",
        )
    })
}
