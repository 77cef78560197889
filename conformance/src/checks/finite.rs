//! P: streams opened by a request and expected to end (LLM completions, MCP responses):
//! how they end, whether the protocol's terminator and shapes hold, and how the tokens are
//! delivered (promptly, evenly, with heartbeats through long thinking, errors as events).
//! They judge the baseline (one request read to its end) and send few requests of their own:
//! every request may start a paid generation.

use std::time::{Duration, Instant};

use http::{Method, StatusCode};

use super::{show, Basis, Check, Finding, Level, Phase};
use crate::capture::Capture;
use crate::context::{Baseline, Ctx, Lifetime};
use crate::diagnosis::{secs, Close};
use crate::probe::{self, Request};
use crate::profiles::{mcp, Judgement, Protocol};
use crate::target::BoxFuture;

/// The P group.
pub fn checks() -> Vec<Check> {
    vec![
        Check {
            id: "P01",
            level: Level::Must,
            basis: Basis::Spec,
            title: "a finite stream ends after a complete event",
            reference: "HTML §9.2.5 ABNF (every event ends with a blank line); §9.2.6 (an incomplete event is discarded)",
            browser: "The last event (often the final answer or the error) is discarded by every client.",
            fix: "Write the blank line that ends the last event before closing the response.",
            phase: Phase::Main,
            run: p01,
        },
        Check {
            id: "P02",
            level: Level::Should,
            basis: Basis::Practice,
            title: "the protocol's events and terminator (--profile openai|anthropic|mcp)",
            reference: "OpenAI chat completions streaming; Anthropic messages streaming; MCP 2025-06-18 Streamable HTTP",
            browser: "SDKs that wait for the terminator hang or report a truncated answer; malformed chunks are dropped.",
            fix: "Follow the protocol's event shapes and end with its terminator (`data: [DONE]`, `message_stop`, the JSON-RPC response).",
            phase: Phase::Main,
            run: p02,
        },
        Check {
            id: "P03",
            level: Level::Should,
            basis: Basis::Recommendation,
            title: "headers within 1 s of the request; time to the first event reported",
            reference: "MCP SEP-1699 (priming event); HTML §9.2.3 \"announce the connection\"",
            browser: "Until the head arrives the client cannot tell a slow model from a dead server, and proxies may give up.",
            fix: "Send the head (and a comment or priming frame) at once, before the first token exists; behind a proxy that holds it, turn the proxy's response buffering off (nginx `proxy_buffering off`, or `proxy_http_version 1.1` with the server's `X-Accel-Buffering: no`).",
            phase: Phase::Main,
            run: p03,
        },
        Check {
            id: "P04",
            level: Level::Should,
            basis: Basis::Practice,
            title: "tokens arrive as they are made, not in one burst",
            reference: "X-Accel-Buffering issues (vmware/atc#139); expressjs/compression#17",
            browser: "A buffering proxy or compressor turns a token stream into one burst at the end: the user waits, then sees everything.",
            fix: "Flush after every event; turn off proxy buffering (nginx `proxy_buffering off;` or `X-Accel-Buffering: no`) and compression for text/event-stream.",
            phase: Phase::Main,
            run: p04,
        },
        Check {
            id: "P05",
            level: Level::Should,
            basis: Basis::Practice,
            title: "no silence longer than --heartbeat-max while the answer is made",
            reference: "stellar/horizon#424 (idle cut); proxy read timeouts",
            browser: "A proxy or load balancer cuts a connection that is silent while the model thinks.",
            fix: "Write a `:` comment at least every half of the shortest idle timeout while nothing else is sent.",
            phase: Phase::Main,
            run: p05,
        },
        Check {
            id: "P06",
            level: Level::Should,
            basis: Basis::Practice,
            title: "an error during the stream arrives as an event, not as a cut",
            reference: "OpenAI and Anthropic error events; HTML §9.2.3 (a network error only reconnects)",
            browser: "A reset is indistinguishable from a network failure: the client retries or shows a truncated answer with no reason.",
            fix: "Catch errors after the head is sent and write them as the protocol's error event, then end the stream cleanly.",
            phase: Phase::Main,
            run: p06,
        },
        Check {
            id: "P07",
            level: Level::Should,
            basis: Basis::Practice,
            title: "concurrent requests each get their head and first event promptly",
            reference: "deployment practice (worker pools, per-connection limits)",
            browser: "A server that streams one answer at a time makes every other user wait for the first to finish.",
            fix: "Serve streams concurrently (async handlers or enough workers); never hold a lock across a generation.",
            phase: Phase::Main,
            run: p07,
        },
        Check {
            id: "P08",
            level: Level::Should,
            basis: Basis::Practice,
            title: "MCP Streamable HTTP session (--profile mcp)",
            reference: "MCP 2025-06-18 Basic: Transports, Streamable HTTP: Session Management; Protocol Version Header; Listening for Messages from the Server; Resumability and Redelivery",
            browser: "MCP clients that cannot tell a missing, ended or unknown session (400, 404) start no new session and fail every later call; clashing event ids resume the wrong stream.",
            fix: "Answer 400 without Mcp-Session-Id or with an unsupported MCP-Protocol-Version, 404 for an ended session, 202 to notifications, text/event-stream or 405 to GET; keep event ids unique across the session's streams.",
            phase: Phase::Main,
            run: p08,
        },
        Check {
            id: "P09",
            level: Level::Info,
            basis: Basis::Practice,
            title: "requests sent that can start a generation (--max-requests)",
            reference: "—",
            browser: "—",
            fix: "—",
            phase: Phase::Summary,
            run: p09,
        },
    ]
}

/// Runs `judge` on a finite stream's baseline; skips feeds and streams that did not open.
async fn on_finite(ctx: &Ctx, judge: impl FnOnce(&Baseline) -> Finding) -> Finding {
    if ctx.opts.lifetime != Lifetime::Finite {
        return Finding::skip(
            "the stream is an endless feed: P checks judge streams opened by a request \
             (--method, --data, --finite or --profile openai|anthropic|mcp)",
        );
    }
    super::on_stream(ctx, judge).await
}

fn p01(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    let limit = ctx.opts.stream_max;
    Box::pin(on_finite(ctx, move |b| match Close::of(&b.a) {
        None => Finding::warn(format!(
            "the stream did not end within --stream-max {} ({} events so far)",
            secs(limit),
            b.a.events.len()
        )),
        Some(Close::MidEvent) => Finding::violation(format!(
            "the stream ended inside an event after {} complete one(s): clients discard it",
            b.a.events.len()
        )),
        // A finite stream ends by design, so bytes without their line end are a write cut
        // short: the grammar is broken the same way as by a cut inside an event.
        Some(Close::MidLine) => Finding::violation(format!(
            "the stream ended inside a line after {} complete event(s): the line, and the event \
             it belonged to, are discarded",
            b.a.events.len()
        )),
        Some(_) => match end_error(&b.a) {
            Some(e) => Finding::warn(format!(
                "the stream ended between events, but the connection broke instead of ending \
                 cleanly ({}); see P06",
                show(&e, 80)
            )),
            None => Finding::pass(format!(
                "ended cleanly after {} event(s) in {}",
                b.a.events.len(),
                secs(end_at(&b.a).saturating_duration_since(b.a.head_at))
            )),
        },
    }))
}

/// The connection error that ended a capture, if it ended that way.
fn end_error(c: &Capture) -> Option<String> {
    match &c.end {
        crate::capture::End::Error(_, e, _) => Some(e.clone()),
        _ => None,
    }
}

/// When a capture ended (or its last read, while still open).
fn end_at(c: &Capture) -> Instant {
    match &c.end {
        crate::capture::End::Eof(at, _) | crate::capture::End::Error(at, ..) => *at,
        crate::capture::End::Open => c.reads.last().map_or(c.head_at, |r| r.at),
    }
}

/// The protocol's reading of the baseline's events.
fn judged(ctx: &Ctx, b: &Baseline) -> Option<(Protocol, Judgement)> {
    let protocol = ctx.opts.protocol?;
    let events: Vec<_> = b.a.events.iter().map(|e| &e.value).collect();
    Some((protocol, protocol.judge(&events)))
}

fn p02(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(on_finite(ctx, move |b| {
        let Some((protocol, j)) = judged(ctx, b) else {
            let events: Vec<_> = b.a.events.iter().map(|e| &e.value).collect();
            return Finding::skip(match Protocol::guess(&events) {
                Some(p) => format!(
                    "no protocol profile given; the events look like `--profile {}`",
                    p.name()
                ),
                None => "no protocol profile given (--profile openai|anthropic|mcp)".into(),
            });
        };
        if j.problems.is_empty() {
            return Finding::pass(format!("{}: {}", protocol.name(), j.summary));
        }
        Finding::violation(format!(
            "{} ({}): {}; {}",
            protocol.name(),
            protocol.source(),
            show(&j.problems.join("; "), 300),
            j.summary
        ))
    }))
}

fn p03(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(on_finite(ctx, |b| {
        let first_event =
            b.a.events
                .first()
                .map(|e| format!("first event {} after the head", ms(e.at - b.a.head_at)))
                .unwrap_or_else(|| "no event".into());
        if b.time_to_head > Duration::from_secs(1) {
            return Finding::violation(format!(
                "head only {} after the request; {first_event}",
                ms(b.time_to_head)
            ));
        }
        Finding::pass(format!("head after {}; {first_event}", ms(b.time_to_head)))
    }))
}

fn ms(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

/// The largest share of a stream's events that came in one read after a silence: the
/// signature of a buffer released at once. `None` when the stream is too short to tell.
pub fn burst(c: &Capture) -> Option<(usize, Duration)> {
    if c.events.len() < 4 {
        return None;
    }
    let mut worst: Option<(usize, Duration)> = None;
    let mut i = 0;
    while i < c.events.len() {
        let at = c.events[i].at;
        let together = c.events[i..].iter().take_while(|e| e.at == at).count();
        let before = c
            .reads
            .iter()
            .rev()
            .find(|r| r.at < at)
            .map_or(c.head_at, |r| r.at);
        // Before the first read, the silence runs from the request: a proxy that holds the
        // head as well as the body releases both at once.
        let silence = match c.reads.first().is_some_and(|r| r.at < at) {
            true => at - before,
            false => at.saturating_duration_since(c.sent_at),
        };
        // Most of the answer in one read after a silence a token generator never needs.
        if together * 2 >= c.events.len() && silence >= Duration::from_millis(500) {
            worst = Some(worst.map_or((together, silence), |w| w.max((together, silence))));
        }
        i += together;
    }
    worst
}

fn p04(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(async move {
        let b = match ctx.baseline().await {
            Ok(b) if b.streaming() && ctx.opts.lifetime == Lifetime::Finite => b,
            _ => return on_finite(ctx, |_| Finding::skip("")).await,
        };
        let Some((n, silence)) = burst(&b.a) else {
            return Finding::pass(format!(
                "{} event(s) in {} read(s): delivered as made",
                b.a.events.len(),
                b.a.reads.len()
            ));
        };
        let seen = format!(
            "{n} of {} events arrived in one read after {} of silence",
            b.a.events.len(),
            secs(silence)
        );
        let encoded = b
            .headers
            .get(http::header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .filter(|e| !e.eq_ignore_ascii_case("identity"));
        let Some(encoding) = encoded else {
            return Finding::violation(format!(
                "{seen}: a buffer releases the answer at once (proxy buffering such as nginx \
                 `proxy_buffering on`, a framework that buffers the response, or a server that \
                 writes only at the end)"
            ));
        };
        // Compressed: the same request without Accept-Encoding tells the compressor's part.
        if let Err(refused) = ctx.take_requests("P04", 1) {
            return Finding::violation(format!(
                "{seen} (`Content-Encoding: {encoding}`): a buffer releases the answer at once; \
                 whether the compressor is that buffer was not tested: {refused}"
            ));
        }
        let bare = ctx.sse_request_to(b.url.clone()).bare();
        let control = match ctx.send("P04 without Accept-Encoding", bare).await {
            Ok(mut r) if r.status == StatusCode::OK => {
                let mut c = Capture::new(&r);
                c.read_until(&mut r, Instant::now() + ctx.opts.stream_max, |_| false)
                    .await;
                Some(c)
            }
            _ => None,
        };
        match control.as_ref().map(burst) {
            Some(None) => Finding::violation(format!(
                "{seen} with `Content-Encoding: {encoding}`, while the same request without \
                 Accept-Encoding streamed evenly: the compressor buffers (flush it after every \
                 event, or exclude text/event-stream from compression)"
            )),
            _ => Finding::violation(format!(
                "{seen} (`Content-Encoding: {encoding}`; without Accept-Encoding it bursts too): \
                 a buffer in front of or inside the server releases the answer at once"
            )),
        }
    })
}

fn p05(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    let limit = ctx.opts.heartbeat_max;
    Box::pin(on_finite(ctx, move |b| {
        // The wait for the head counts too: a proxy's read timeout runs from the request.
        let longest = super::keepalive::gaps(&b.a)
            .into_iter()
            .chain([b.time_to_head])
            .max()
            .unwrap_or_default();
        if longest > limit {
            return Finding::violation(format!(
                "{} without a byte (limit --heartbeat-max {}): a proxy's idle timeout cuts that",
                secs(longest),
                secs(limit)
            ));
        }
        Finding::pass(format!(
            "longest silence {} (limit {})",
            secs(longest),
            secs(limit)
        ))
    }))
}

fn p06(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(on_finite(ctx, move |b| {
        let error_event = judged(ctx, b).and_then(|(_, j)| j.error_event);
        if let Some(e) = end_error(&b.a) {
            let tail = match &error_event {
                Some(ev) => format!(" (after an error event: {})", show(ev, 60)),
                None => String::new(),
            };
            return Finding::violation(format!(
                "the stream was cut by a connection error after {} event(s): {}{tail}",
                b.a.events.len(),
                show(&e, 100)
            ));
        }
        match error_event {
            Some(ev) => Finding::pass(format!("the error arrived as an event: {}", show(&ev, 80))),
            None => Finding::pass("no error during the stream; it ended cleanly"),
        }
    }))
}

fn p07(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(async move {
        let b = match ctx.baseline().await {
            Ok(b) if b.streaming() && ctx.opts.lifetime == Lifetime::Finite => b,
            _ => return on_finite(ctx, |_| Finding::skip("")).await,
        };
        let n = ctx.opts.profile.pick(3, 10);
        if let Err(refused) = ctx.take_requests("P07", n) {
            return Finding::skip(refused.to_string());
        }
        // What one request alone took, plus a margin: concurrency may cost, not serialize.
        let alone =
            b.a.events
                .first()
                .map_or(b.time_to_head, |e| e.at - b.a.sent_at);
        let allowed = alone * 2 + Duration::from_secs(1);
        let runs = futures_util::future::join_all((0..n).map(|_| async {
            let mut r = ctx
                .send("P07", ctx.sse_request())
                .await
                .map_err(|e| e.to_string())?;
            let mut c = Capture::new(&r);
            c.read_until(&mut r, Instant::now() + ctx.opts.stream_max, |c| {
                !c.events.is_empty()
            })
            .await;
            c.events
                .first()
                .map(|e| e.at - c.sent_at)
                .ok_or_else(|| format!("status {} and no event", r.status))
        }))
        .await;
        let mut slow = Vec::new();
        let mut worst = Duration::ZERO;
        for run in &runs {
            match run {
                Ok(d) if *d <= allowed => worst = worst.max(*d),
                Ok(d) => slow.push(ms(*d)),
                Err(e) => slow.push(show(e, 60)),
            }
        }
        if slow.is_empty() {
            return Finding::pass(format!(
                "{n} concurrent requests: first events within {} (one alone: {})",
                ms(worst),
                ms(alone)
            ));
        }
        Finding::violation(format!(
            "{} of {n} concurrent requests were late (allowed {}, one alone took {}): {}",
            slow.len(),
            ms(allowed),
            ms(alone),
            slow.join(", ")
        ))
    })
}

/// P09: the run's cost on a paid endpoint, counted when the budget was taken (each request
/// taken is sent right after), so it is known even for a stream that never opened.
fn p09(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(async move {
        if ctx.opts.lifetime != Lifetime::Finite {
            return Finding::skip(
                "the stream is an endless feed: its requests start no generation to count",
            );
        }
        let budget = ctx.budget();
        let by: Vec<String> = budget
            .ledger()
            .iter()
            .map(|(what, n)| format!("{what} {n}"))
            .collect();
        let limit = match budget.limit() {
            Some(max) => format!("--max-requests {max}"),
            None => "no limit; --max-requests N sets one".into(),
        };
        Finding::info(format!(
            "{} sent ({}; {limit})",
            budget.spent(),
            match by.is_empty() {
                true => "none".into(),
                false => by.join(", "),
            }
        ))
    })
}

/// P08: the session rules, judged with a session of its own (it ends it with DELETE) and,
/// for the server-to-client stream, the run's session (whose POST stream the baseline read).
fn p08(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(async move {
        let run = match ctx.mcp_session().await {
            None => return Finding::skip("MCP only (--profile mcp)"),
            Some(Err(e)) => {
                return Finding::skip(format!(
                    "the MCP session could not be set up (see H01): {e}"
                ))
            }
            Some(Ok(run)) => run,
        };
        let probe = match session_probe(ctx, run).await {
            Ok(p) => p,
            Err(e) => {
                return Finding::skip(format!("a second MCP session could not be set up: {e}"))
            }
        };
        let (problems, notes) = mcp::judge_session(&probe);
        if problems.is_empty() {
            return Finding::pass(notes.join("; "));
        }
        // Not `show`: the rules' quotes stay readable; server data in them is already shown.
        Finding::violation(format!("{} ({})", problems.join("; "), notes.join("; ")))
    })
}

/// P08's own requests: each status, and the ids a GET stream shares with the POST stream.
async fn session_probe(
    ctx: &Ctx,
    run: &mcp::Session,
) -> Result<mcp::SessionProbe, mcp::SetupError> {
    let (url, headers, timeout) = (&ctx.target.url, &ctx.target.headers, ctx.timeout());
    let own = mcp::open_session(url, headers, timeout).await?;
    let with = |extra: &http::HeaderMap| {
        let mut h = headers.clone();
        h.extend(extra.clone());
        h
    };
    let status = |req| async move { probe::send(req, timeout).await.ok().map(|r| r.status) };
    let list = r#"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#;
    let mut p = mcp::SessionProbe {
        id: own.id.clone(),
        initialized: own.initialized,
        bad_version: status(mcp::post(
            url,
            &with(&mcp::session_headers(own.id.as_deref(), "1999-01-01")),
            list,
        ))
        .await,
        ..Default::default()
    };
    if own.id.is_some() {
        let version_only = mcp::session_headers(None, &own.version);
        p.without_id = status(mcp::post(url, &with(&version_only), list)).await;
        let delete = Request::new(Method::DELETE, url.clone(), &with(&own.headers));
        p.delete = status(delete).await;
        if p.delete.is_some_and(|s| s.is_success()) {
            p.after_delete = status(mcp::post(url, &with(&own.headers), list)).await;
        }
    }
    let (get, ids) = server_stream(ctx, &with(&run.headers)).await;
    p.get = get;
    p.get_events = ids.len();
    if let Ok(b) = ctx.baseline().await {
        let posted = b.a.events.iter().map(|e| e.value.id.as_str());
        p.shared_ids = mcp::shared_ids(posted, ids.iter().map(String::as_str));
    }
    Ok(p)
}

/// GETs the server-to-client stream with `headers` and reads a few of its events (1.5 s at
/// most): its status and `Content-Type`, and the ids it showed.
async fn server_stream(
    ctx: &Ctx,
    headers: &http::HeaderMap,
) -> (Option<(StatusCode, String)>, Vec<String>) {
    let mut req = Request::new(Method::GET, ctx.target.url.clone(), headers);
    req.headers.insert(
        http::header::ACCEPT,
        http::HeaderValue::from_static("text/event-stream"),
    );
    let Ok(mut r) = probe::send(req, ctx.timeout()).await else {
        return (None, Vec::new());
    };
    let head = (r.status, mcp::content_type(&r.headers).to_ascii_lowercase());
    if r.status != StatusCode::OK {
        return (Some(head), Vec::new());
    }
    let mut c = Capture::new(&r);
    let window = Duration::from_millis(1500).min(ctx.timeout());
    c.read_until(&mut r, Instant::now() + window, |c| c.events.len() >= 4)
        .await;
    let ids = c.events.iter().map(|e| e.value.id.clone()).collect();
    (Some(head), ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_released_at_once_is_a_burst() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut even = Capture::starting(t0, t0);
        for n in 1..=6 {
            even.push(ms(n * 100), b"data: t\n\n");
        }
        assert_eq!(burst(&even), None);
        let mut held = Capture::starting(t0, t0);
        held.push(ms(50), b": open\n\n");
        held.push(
            ms(2050),
            b"data: a\n\ndata: b\n\ndata: c\n\ndata: d\n\ndata: [DONE]\n\n",
        );
        assert_eq!(burst(&held), Some((5, Duration::from_secs(2))));
        // A proxy that holds the head too: head and every event in one read, 1.6 s late.
        let late = t0 + Duration::from_millis(1600);
        let mut all_at_once = Capture::starting(t0, late);
        all_at_once.push(late, b"data: a\n\ndata: b\n\ndata: c\n\ndata: [DONE]\n\n");
        assert_eq!(burst(&all_at_once), Some((4, Duration::from_millis(1600))));
    }
}
