//! T: transport (publish-to-receipt latency and buffering, HTTP/2 multiplexing, chunked
//! framing, HTTP/1.0, proxies).

use std::time::{Duration, Instant};

use http::StatusCode;

use super::published::{Alterations, Payloads};
use super::{show, Basis, Check, Finding, Level, Phase};
use crate::capture::Capture;
use crate::context::Ctx;
use crate::probe::{self, H2Conn, Proto};
use crate::target::BoxFuture;

/// The T group.
pub fn checks() -> Vec<Check> {
    vec![
        Check {
            id: "T01",
            level: Level::Should,
            basis: Basis::Practice,
            title: "events arrive promptly (p99 publish -> receipt ≤ 250 ms), no bursts",
            reference: "HTML §9.2.7 chunking note; X-Accel-Buffering issues (vmware/atc#139, tock#1895)",
            browser: "A buffering layer holds events back: the page updates late, in bursts, or never.",
            fix: "Flush after every event; turn off proxy buffering (nginx `proxy_buffering off;` or `X-Accel-Buffering: no`) and compression for the stream.",
            phase: Phase::Main,
            run: t01,
        },
        Check {
            id: "T02",
            level: Level::Should,
            basis: Basis::Practice,
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
            basis: Basis::Practice,
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
            basis: Basis::Practice,
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
            basis: Basis::Practice,
            title: "T01 and K01 hold through a proxy",
            reference: "deployment reality",
            browser: "A buffering proxy in production undoes a correct server.",
            fix: "Run `ssekit check` against the proxied URL too (docs/checks.md shows nginx's results).",
            phase: Phase::Main,
            run: t05,
        },
        Check {
            id: "T06",
            level: Level::Should,
            basis: Basis::Practice,
            title: "a TLS server offers h2 by ALPN",
            reference: "RFC 9113 §3.2 (HTTP/2 over TLS, chosen by ALPN); HTML §9.2.7 (per-origin connection limits)",
            browser: "Browsers speak HTTP/2 only over TLS, chosen by ALPN. Over HTTP/1.1 Chromium opens at most 6 connections per origin, so a 7th EventSource (or any request) to that origin waits until one closes.",
            fix: "Offer h2 on the TLS listener: nginx `http2 on;` (or `listen 443 ssl http2;`), HAProxy `alpn h2,http/1.1` on the `bind` line, Apache `Protocols h2 http/1.1`; Caddy offers it by default.",
            phase: Phase::Main,
            run: t06,
        },
    ]
}

/// T06: the protocol the TLS server picks when offered `h2` and `http/1.1` as a browser offers
/// them.
fn t06(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(async move {
        let url = ctx.stream_url();
        if url.scheme_str() != Some("https") {
            return Finding::skip(
                "plain http://: browsers speak HTTP/2 only over TLS, so they read this stream \
                 over HTTP/1.1, at most 6 connections per origin; serve it over https with h2 \
                 to lift that limit",
            );
        }
        match probe::browser_alpn(&url, ctx.timeout()).await {
            Ok(Some(p)) if p == b"h2" => {
                Finding::pass("offered h2 and http/1.1 as a browser does, the server chose h2")
            }
            Ok(chosen) => Finding::violation(format!(
                "offered h2 and http/1.1 as a browser does, the server chose {}: browsers read \
                 this stream over HTTP/1.1, at most 6 connections per origin (a 7th EventSource \
                 waits)",
                chosen.map_or("no protocol (HTTP/1.1)".into(), |p| {
                    String::from_utf8_lossy(&p).into_owned()
                })
            )),
            Err(e) => Finding::skip(format!("no TLS handshake: {e}")),
        }
    })
}

/// p-th percentile of sorted durations.
pub fn percentile(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[(sorted.len() - 1) * p / 100]
}

/// Bound on how long T01 waits for each published event.
const T01_WAIT: Duration = Duration::from_secs(1);

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
        let payloads = Payloads::new(&ctx.nonce, "t01", 4, 60);
        let mut latencies = Vec::new();
        let mut calls = Vec::new();
        let mut altered = Alterations::default();
        let mut missing = 0;
        let first_publish = c.events.len();
        for i in 0..n {
            // Only events after this point can be the answer (and other events, such as a
            // server's own ticks, may follow it in the same read).
            let start = c.events.len();
            let sent = Instant::now();
            if let Err(e) = publisher.publish(None, &payloads.payload(i)).await {
                return Finding::skip(format!("publish failed: {e}"));
            }
            calls.push(sent.elapsed());
            let is_this = |data: &str| payloads.find(data).is_some_and(|f| f.seq == i);
            let this_one = |c: &Capture| {
                c.events
                    .get(start..)
                    .unwrap_or_default()
                    .iter()
                    .any(|e| is_this(&e.value.data))
            };
            if !this_one(&c) {
                c.read_until(&mut r, sent + T01_WAIT, this_one).await;
            }
            let arrived = c
                .events
                .get(start..)
                .unwrap_or_default()
                .iter()
                .find_map(|e| {
                    let found = payloads.find(&e.value.data).filter(|f| f.seq == i)?;
                    Some((e.at, found.fidelity))
                });
            match arrived {
                Some((at, fidelity)) => {
                    latencies.push(at.saturating_duration_since(sent));
                    altered.add(fidelity);
                }
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
        calls.sort_unstable();
        let p50 = percentile(&latencies, 50);
        let p99 = percentile(&latencies, 99);
        let mut text = format!(
            "{} of {n} events: p50 {} ms, p99 {} ms",
            latencies.len(),
            p50.as_millis(),
            p99.as_millis()
        );
        if let Some(note) = altered.delivery_note() {
            text.push_str(&format!("; {note}"));
        }
        if missing > 0 {
            // Events flowed but none was recognisable: maybe not buffering at all.
            let others = c.events.len().saturating_sub(first_publish);
            let unrecognised = if latencies.is_empty() && others > 0 {
                format!("; {others} other event(s) arrived meanwhile, none carrying the runner's tag: if the publish hook transforms data beyond quoting or wrapping, T01 cannot recognise its events")
            } else {
                String::new()
            };
            return Finding::violation(format!(
                "{missing} published event(s) not received within {} s ({} bytes of body arrived): a buffering layer; {text}{unrecognised}",
                T01_WAIT.as_secs(),
                c.bytes
            ));
        }
        let steady = steady_delay(&latencies, percentile(&calls, 50)).map(|late| {
            format!(
                "every event arrives ~{} ms late (steady added latency): an intermediary that waits before forwarding (e.g. HAProxy without `option http-no-delay`, Nagle)",
                late.as_millis()
            )
        });
        if p99 > Duration::from_millis(250) {
            let steady = steady.map_or(String::new(), |s| format!("; {s}"));
            return Finding::violation(format!("{text} (> 250 ms){steady}"));
        }
        if let Some(steady) = steady {
            return Finding::warn(format!("{steady}; {text}"));
        }
        Finding::pass(text)
    })
}

/// Lateness that every event shares and the server does not cause, if that is what `latencies`
/// (sorted) show: the signature of an intermediary that holds each write back for a fixed
/// time (HAProxy without `option http-no-delay`, Nagle meeting delayed ACKs: 40 to 200 ms).
///
/// - The median is at least [`STEADY_FLOOR`]: loopback and LAN delivery take well under a
///   millisecond and a busy server a few, so 100 ms is not scheduling noise.
/// - Little spread: the fastest event and the p99 lie within half the median either way. A
///   fixed added delay shifts all samples alike; a queue or an overloaded server grows a tail.
/// - The server itself is fast: the publish call (`publish_call`, median) returned in under
///   half the median lateness, so the time is spent after the server took the event.
fn steady_delay(latencies: &[Duration], publish_call: Duration) -> Option<Duration> {
    const STEADY_FLOOR: Duration = Duration::from_millis(100);
    // Fewer samples cannot show a spread.
    const MIN_SAMPLES: usize = 5;
    if latencies.len() < MIN_SAMPLES {
        return None;
    }
    let p50 = percentile(latencies, 50);
    let (fastest, p99) = (latencies[0], percentile(latencies, 99));
    let steady =
        p50 >= STEADY_FLOOR && fastest >= p50 / 2 && p99 <= p50 + p50 / 2 && publish_call < p50 / 2;
    steady.then_some(p50)
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

fn t03(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(async move {
        let url = ctx.stream_url();
        let req = raw_get(&url, "HTTP/1.1", &ctx.user_header_lines());
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
        let req = raw_get(&url, "HTTP/1.0", &ctx.user_header_lines());
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
            "the runner bundles no proxy: run `ssekit check` against the proxied URL (docs/checks.md shows \
             nginx with buffering on and off)",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sorted, as T01 passes them.
    fn ms(v: &[u64]) -> Vec<Duration> {
        let mut d: Vec<_> = v.iter().map(|m| Duration::from_millis(*m)).collect();
        d.sort_unstable();
        d
    }

    #[test]
    fn a_constant_added_delay_is_steady() {
        let haproxy = ms(&[198, 201, 200, 203, 199, 200, 202, 204, 200, 201]);
        assert_eq!(
            steady_delay(&haproxy, Duration::from_millis(1)),
            Some(Duration::from_millis(200))
        );
    }

    #[test]
    fn fast_noisy_or_server_caused_latency_is_not_steady() {
        let fast = ms(&[0, 1, 0, 2, 1, 0, 1]);
        assert_eq!(steady_delay(&fast, Duration::ZERO), None);
        let tail = ms(&[110, 120, 115, 130, 900, 118, 125, 700]);
        assert_eq!(steady_delay(&tail, Duration::ZERO), None);
        let some_prompt = ms(&[2, 200, 201, 199, 200, 202, 203]);
        assert_eq!(steady_delay(&some_prompt, Duration::ZERO), None);
        let slow_server = ms(&[200, 201, 199, 200, 202]);
        assert_eq!(steady_delay(&slow_server, Duration::from_millis(190)), None);
        assert_eq!(steady_delay(&ms(&[200, 200]), Duration::ZERO), None);
    }
}
