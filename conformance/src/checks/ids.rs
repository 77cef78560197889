//! I: ids, resume with `Last-Event-ID`, replay gaps and duplicates, reset signals, hostile
//! `Last-Event-ID` values.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderValue, StatusCode};

use super::framing::split_seq;
use super::{on_stream, show, Basis, Check, Finding, Level, Phase};
use crate::capture::Capture;
use crate::context::{Baseline, Ctx};
use crate::probe::{self, Request, Response};
use crate::target::{BoxFuture, Publisher};

/// The I group.
pub fn checks() -> Vec<Check> {
    vec![
        Check {
            id: "I01",
            level: Level::Should,
            basis: Basis::Practice,
            title: "data events carry ids",
            reference: "HTML §9.2.4",
            browser: "Without ids, a reconnecting EventSource sends no Last-Event-ID: everything in between is lost.",
            fix: "Give every event an `id:` (e.g. EPOCH-SEQ) so clients can resume.",
            phase: Phase::Main,
            run: i01,
        },
        Check {
            id: "I02",
            level: Level::Should,
            basis: Basis::Practice,
            title: "ids unique, increasing, same order for every subscriber",
            reference: "Mercure (reconciliation); Intense-Visions PR #678",
            browser: "Duplicate or reordered ids make Last-Event-ID ambiguous: resume skips or repeats events.",
            fix: "Assign ids once, in publish order, from one sequence per stream.",
            phase: Phase::Main,
            run: i02,
        },
        Check {
            id: "I03",
            level: Level::Should,
            basis: Basis::Practice,
            title: "resume after Last-Event-ID: no gap, no duplicate",
            reference: "HTML §9.2.3 sends Last-Event-ID but never requires replay; Intense-Visions PR #678",
            browser: "A reconnecting EventSource silently misses or repeats events.",
            fix: "Replay exactly the events after the given id from a retained log, then hand off to live without a gap.",
            phase: Phase::Main,
            run: i03,
        },
        Check {
            id: "I04",
            level: Level::Should,
            basis: Basis::Recommendation,
            title: "unknown / other-epoch Last-Event-ID gets an explicit reset",
            reference: "whatwg/html#8297; Mercure Last-Event-ID: earliest; kenn-io/forge#360",
            browser: "The client believes it resumed while events were lost: silent data loss.",
            fix: "When the id is unknown or too old, say so: a response header and an in-band `event: reset`.",
            phase: Phase::Main,
            run: i04,
        },
        Check {
            id: "I05",
            level: Level::Should,
            basis: Basis::Practice,
            title: "hostile Last-Event-ID values are harmless",
            reference: "whatwg/fetch#568 (Last-Event-ID is attacker-controlled)",
            browser: "Any page can make a browser send an arbitrary Last-Event-ID cross-origin without preflight.",
            fix: "Treat the value as untrusted: cap its size, never reflect it into headers, answer a stream or 400, never 5xx.",
            phase: Phase::Main,
            run: i05,
        },
        Check {
            id: "I06",
            level: Level::Should,
            basis: Basis::Practice,
            title: "a fresh connection does not replay history",
            reference: "r3labs/sse#61",
            browser: "Every page load re-delivers old events as if new.",
            fix: "Replay only when the client sends Last-Event-ID (or asks explicitly).",
            phase: Phase::Main,
            run: i06,
        },
        Check {
            id: "I07",
            level: Level::Should,
            basis: Basis::Practice,
            title: "resume across a server restart",
            reference: "feder-cr PR #1263 (epoch in ids)",
            browser: "After a restart a reused counter makes clients skip or repeat events.",
            fix: "Use a durable log, or put an epoch in ids and reset clients from older epochs.",
            phase: Phase::Main,
            run: i07,
        },
        Check {
            id: "I08",
            level: Level::Should,
            basis: Basis::Practice,
            title: "query-parameter fallback (lastEventId); header wins",
            reference: "Mercure spec (Last-Event-ID query parameter)",
            browser: "First connections cannot resume (EventSource cannot set headers) without a query fallback.",
            fix: "Accept `?lastEventId=` on first connections; let the Last-Event-ID header win when both exist.",
            phase: Phase::Main,
            run: i08,
        },
        Check {
            id: "I09",
            level: Level::Should,
            basis: Basis::Practice,
            title: "heartbeats and priming frames carry no id",
            reference: "anomalyco/opencode#25658",
            browser: "An id without data moves Last-Event-ID to something outside the resumable log.",
            fix: "Send heartbeats as `:` comments and keep `id:` on real events only.",
            phase: Phase::Main,
            run: i09,
        },
    ]
}

/// Publishes numbered events in the background while a check runs (when a hook exists).
pub struct Pump(Option<tokio::task::JoinHandle<()>>);

impl Pump {
    /// Starts publishing every `every` (no-op without a publish hook).
    pub fn start(ctx: &Ctx, name: &str, every: Duration) -> Self {
        let Some(publisher) = ctx.target.publish.clone() else {
            return Pump(None);
        };
        let tag = format!("ssekit-check {} {name}", ctx.nonce);
        Pump(Some(tokio::spawn(pump(publisher, tag, every))))
    }
}

async fn pump(publisher: Publisher, tag: String, every: Duration) {
    for n in 0u64.. {
        let _ = publisher.publish(None, &format!("{tag} {n}")).await;
        tokio::time::sleep(every).await;
    }
}

impl Drop for Pump {
    fn drop(&mut self) {
        if let Some(h) = self.0.take() {
            h.abort();
        }
    }
}

/// Ids of at least `n` events received now (publishing while waiting when a hook exists), so
/// checks resume from ids that are certainly still retained.
pub async fn fresh_ids(ctx: &Ctx, what: &str, n: usize) -> Result<Vec<String>, Finding> {
    let _pump = Pump::start(ctx, what, Duration::from_millis(30));
    let (mut r, mut c) = subscribe(ctx, what, None).await.map_err(Finding::skip)?;
    if r.status != StatusCode::OK {
        return Err(Finding::skip(format!("the stream answered {}", r.status)));
    }
    c.read_until(&mut r, Instant::now() + ctx.timeout(), |c| {
        data_ids(c).len() >= n
    })
    .await;
    let ids = data_ids(&c);
    if ids.len() < n {
        return Err(Finding::skip(format!(
            "only {} events with ids arrived in {} s (give --publish or use a live stream)",
            ids.len(),
            ctx.timeout().as_secs()
        )));
    }
    Ok(ids)
}

/// Opens the stream with an optional `Last-Event-ID`.
pub async fn subscribe(
    ctx: &Ctx,
    what: &str,
    last_event_id: Option<&str>,
) -> Result<(Response, Capture), String> {
    let mut req = ctx.sse_request();
    if let Some(id) = last_event_id {
        let v = HeaderValue::from_str(id).map_err(|e| format!("id {id:?} cannot be sent: {e}"))?;
        req.headers.insert("last-event-id", v);
    }
    let r = ctx.send(what, req).await.map_err(|e| e.to_string())?;
    let c = Capture::new(&r);
    Ok((r, c))
}

/// Ids of events that carry one (reset and other control events excluded).
pub fn data_ids(c: &Capture) -> Vec<String> {
    c.events
        .iter()
        .filter(|e| !e.value.id.is_empty() && !is_reset_type(&e.value.event_type))
        .map(|e| e.value.id.clone())
        .collect()
}

fn is_reset_type(t: &str) -> bool {
    let t = t.to_ascii_lowercase();
    ["reset", "stale", "gap", "resync"]
        .iter()
        .any(|k| t.contains(k))
}

/// An explicit "your id is gone" signal in headers or among the first events, if any.
pub fn reset_signal(headers: &HeaderMap, c: &Capture) -> Option<String> {
    for (name, v) in headers {
        let n = name.as_str();
        let v = v.to_str().unwrap_or("");
        let lower = v.to_ascii_lowercase();
        let resume_header = n.contains("resume") || n.contains("stream-status");
        if resume_header && lower.contains("reset")
            || n.ends_with("last-event-id") && lower == "earliest"
        {
            return Some(format!("{n}: {v}"));
        }
    }
    c.events
        .iter()
        .take(3)
        .find(|e| is_reset_type(&e.value.event_type))
        .map(|e| {
            format!(
                "in-band `event: {}` ({})",
                e.value.event_type,
                show(&e.value.data, 60)
            )
        })
}

fn i01(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(on_stream(ctx, |b: &Baseline| {
        let total = b.a.events.len();
        if total == 0 {
            return Finding::skip(
                "no events in the observation window (give --publish, or use a live stream)",
            );
        }
        let with_id = b.a.events.iter().filter(|e| !e.value.id.is_empty()).count();
        match with_id {
            0 => Finding::violation(format!(
                "none of {total} events carries an id: no resumption possible"
            )),
            n if n < total => {
                Finding::violation(format!("{} of {total} events carry no id", total - n))
            }
            _ => Finding::pass(format!("all {total} events carry ids")),
        }
    }))
}

/// Duplicates and decreasing sequence numbers within one id list.
pub fn order_problems(ids: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut seen = HashSet::new();
    for id in ids {
        if !seen.insert(id.as_str()) {
            problems.push(format!("duplicate id {}", show(id, 30)));
            break;
        }
    }
    for pair in ids.windows(2) {
        if let (Some((p1, s1)), Some((p2, s2))) = (split_seq(&pair[0]), split_seq(&pair[1])) {
            if p1 == p2 && s2 < s1 {
                problems.push(format!(
                    "id {} after {}",
                    show(&pair[1], 30),
                    show(&pair[0], 30)
                ));
                break;
            }
        }
        if let (Ok(a), Ok(b)) = (pair[0].parse::<u64>(), pair[1].parse::<u64>()) {
            if b < a {
                problems.push(format!("id {b} after {a}"));
                break;
            }
        }
    }
    problems
}

/// True when an id carries a sequence number the runner can order (`42`, `epoch-42`).
fn sequenced(id: &str) -> bool {
    id.parse::<u64>().is_ok() || split_seq(id).is_some()
}

fn i02(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(on_stream(ctx, |b: &Baseline| {
        let a = data_ids(&b.a);
        if a.len() < 2 {
            return Finding::skip("fewer than 2 events with ids in the window");
        }
        let mut problems = order_problems(&a);
        if let Some(bc) = &b.b {
            let bi = data_ids(bc);
            let pos: std::collections::HashMap<&str, usize> = a
                .iter()
                .enumerate()
                .map(|(i, id)| (id.as_str(), i))
                .collect();
            let order: Vec<usize> = bi
                .iter()
                .filter_map(|id| pos.get(id.as_str()).copied())
                .collect();
            if order.windows(2).any(|w| w[1] <= w[0]) {
                problems.push("the two subscribers saw ids in different orders".into());
            }
        }
        if problems.is_empty() {
            let both = match b.b {
                Some(_) => "both subscribers saw them in the same order",
                None => "one subscriber",
            };
            // Only ids that carry a sequence number have an order of their own to judge; a
            // UUID's is meaningless, so it is not called "in order".
            let order = match a.iter().all(|id| sequenced(id)) {
                true => "increasing",
                false => "not sequence numbers, so only their uniqueness is judged",
            };
            Finding::pass(format!("{} ids unique, {order}; {both}", a.len()))
        } else {
            Finding::violation(problems.join("; "))
        }
    }))
}

/// Compares B's events after reconnecting at `k` with control A's events after `k`.
pub fn compare_resume(a_after: &[String], b: &[String]) -> Result<usize, String> {
    if b.is_empty() {
        return Err("no events after reconnecting".into());
    }
    for (i, got) in b.iter().enumerate() {
        let Some(want) = a_after.get(i) else { break };
        if got == want {
            continue;
        }
        let msg = match a_after.iter().position(|x| x == got) {
            Some(j) if j > i => format!("gap: expected {} next, got {} ({} event(s) missing)", show(want, 30), show(got, 30), j - i),
            Some(_) => format!("duplicate: {} delivered again", show(got, 30)),
            None => format!("expected {} next, got {} (an event the control subscriber never saw after the resume point)", show(want, 30), show(got, 30)),
        };
        return Err(msg);
    }
    Ok(b.len().min(a_after.len()))
}

fn i03(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(async move {
        if let Err(f) = needs_ids(ctx).await {
            return f;
        }
        let _pump = Pump::start(ctx, "i03", Duration::from_millis(40));
        let deadline = Instant::now() + ctx.timeout() * 2;
        let ((mut ra, mut ca), (mut rb, mut cb)) = match (
            subscribe(ctx, "I03 control", None).await,
            subscribe(ctx, "I03 resumer", None).await,
        ) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => return Finding::skip(format!("cannot subscribe: {e}")),
        };
        cb.read_until(&mut rb, deadline, |c| data_ids(c).len() >= 3)
            .await;
        drop(rb);
        let Some(k) = data_ids(&cb).last().cloned() else {
            return Finding::skip(
                "no events with ids arrived (give --publish or use a live stream)",
            );
        };
        // The control keeps reading while B is away: at least 5 publications pass.
        ca.read_until(&mut ra, deadline, |c| {
            after(&data_ids(c), &k).is_some_and(|v| v.len() >= 5)
        })
        .await;
        let (mut rb2, mut cb2) = match subscribe(ctx, "I03 resume", Some(&k)).await {
            Ok(x) => x,
            Err(e) => {
                return Finding::violation(format!("reconnecting with Last-Event-ID failed: {e}"))
            }
        };
        if rb2.status != StatusCode::OK {
            return Finding::violation(format!(
                "reconnecting with Last-Event-ID: {k} got status {}",
                rb2.status
            ));
        }
        let Some(a_seen) = after(&data_ids(&ca), &k).map(<[String]>::len) else {
            return Finding::violation(format!(
                "the control subscriber never saw id {}",
                show(&k, 30)
            ));
        };
        let want = a_seen + 3;
        cb2.read_until(&mut rb2, deadline, |c| data_ids(c).len() >= want)
            .await;
        let b_ids = data_ids(&cb2);
        let last_b = b_ids.last().cloned();
        ca.read_until(&mut ra, deadline, |c| match &last_b {
            Some(l) => data_ids(c).contains(l),
            None => true,
        })
        .await;
        let a_ids = data_ids(&ca);
        let a_after = after(&a_ids, &k).unwrap_or_default();
        if crate::diagnosis::served_from_cache(&rb2.headers) {
            return Finding::violation(format!(
                "the resume with Last-Event-ID: {} was answered from a cache ({}), so the server's \
                 replay was never asked: keep the stream out of the cache (see H04), not the replay log",
                show(&k, 30),
                crate::diagnosis::cache_evidence(&rb2.headers).join(", ")
            ));
        }
        if let Some(signal) = reset_signal(&rb2.headers, &cb2) {
            return Finding::violation(format!(
                "a retained id {} was answered with a reset ({signal})",
                show(&k, 30)
            ));
        }
        match compare_resume(a_after, &b_ids) {
            Err(problem) => Finding::violation(format!("resumed at {}: {problem}", show(&k, 30))),
            Ok(n) if n < a_seen => Finding::violation(format!(
                "resumed at {}: only {n} of the {a_seen} events published meanwhile arrived",
                show(&k, 30)
            )),
            Ok(n) => Finding::pass(format!(
                "resumed at {}: {n} events identical to the control subscriber",
                show(&k, 30)
            )),
        }
    })
}

/// The part of `ids` after `k`, if `k` is in it.
pub fn after<'a>(ids: &'a [String], k: &str) -> Option<&'a [String]> {
    ids.iter().position(|x| x == k).map(|i| &ids[i + 1..])
}

/// Skips id-based checks when the stream shows no ids at all.
async fn needs_ids(ctx: &Ctx) -> Result<(), Finding> {
    let b = ctx
        .baseline()
        .await
        .map_err(|e| Finding::skip(format!("the stream could not be read: {e}")))?;
    if !b.streaming() {
        return Err(Finding::skip(format!(
            "the stream did not open (status {})",
            b.status
        )));
    }
    if !b.a.events.is_empty() && data_ids(&b.a).is_empty() {
        return Err(Finding::skip(
            "events carry no ids, so resume is not claimed (see I01)",
        ));
    }
    if b.a.events.is_empty() && ctx.target.publish.is_none() {
        return Err(Finding::skip("no events observed and no --publish hook"));
    }
    Ok(())
}

fn i04(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(async move {
        if let Err(f) = needs_ids(ctx).await {
            return f;
        }
        let _pump = Pump::start(ctx, "i04", Duration::from_millis(50));
        let mut cases = vec![("unknown", format!("ssekit-unknown-{}", ctx.nonce))];
        if let Ok(b) = ctx.baseline().await {
            if let Some((prefix, seq)) = data_ids(&b.a).first().and_then(|id| split_seq(id)) {
                let other = format!("zz{}{}", prefix, seq);
                cases.push(("other epoch", other));
            }
        }
        let mut seen = Vec::new();
        for (name, id) in &cases {
            let (mut r, mut c) = match subscribe(ctx, "I04 unknown id", Some(id)).await {
                Ok(x) => x,
                Err(e) => return Finding::violation(format!("{name} id: {e}")),
            };
            if r.status != StatusCode::OK {
                return Finding::violation(format!(
                    "{name} id answered {}: EventSource stops for good",
                    r.status
                ));
            }
            let deadline = Instant::now() + Duration::from_millis(1200);
            c.read_until(&mut r, deadline, |c| c.events.len() >= 2)
                .await;
            match reset_signal(&r.headers, &c) {
                Some(signal) => seen.push(format!("{name}: {signal}")),
                None => {
                    return Finding::violation(format!(
                        "{name} id {}: {} events, no reset header or event: silent loss",
                        show(id, 40),
                        c.events.len()
                    ))
                }
            }
        }
        Finding::pass(seen.join("; "))
    })
}

fn i05(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(async move {
        const MARK: &str = "ssekit-hostile";
        let url = ctx.stream_url();
        let mut header_cases: Vec<(&str, HeaderValue)> = vec![
            (
                "64 KiB",
                HeaderValue::from_str(&format!("{MARK}{}", "A".repeat(64 * 1024)))
                    .unwrap_or(HeaderValue::from_static("A")),
            ),
            (
                "invalid UTF-8",
                HeaderValue::from_bytes(b"ssekit-hostile\xff\xfe\x80")
                    .unwrap_or(HeaderValue::from_static("x")),
            ),
            (
                "SQL/template",
                HeaderValue::from_static("ssekit-hostile' OR 1=1--{{7*7}}${7*7}<script>"),
            ),
            (
                "percent NUL",
                HeaderValue::from_static("ssekit-hostile%00%0d%0a"),
            ),
        ];
        header_cases.retain(|(_, v)| v.len() > 1);
        let mut problems = Vec::new();
        let mut answers = Vec::new();
        for (name, value) in header_cases {
            let mut req = ctx.sse_request_to(url.clone());
            req.headers.insert("last-event-id", value);
            judge(ctx, name, req, MARK, &mut problems, &mut answers).await;
        }
        let mut repeated = ctx.sse_request_to(url.clone());
        for n in 0..50 {
            repeated.headers.append(
                "last-event-id",
                HeaderValue::from_str(&format!("{MARK}-{n}"))
                    .unwrap_or(HeaderValue::from_static("x")),
            );
        }
        judge(
            ctx,
            "50 repeated headers",
            repeated,
            MARK,
            &mut problems,
            &mut answers,
        )
        .await;
        if let Ok(q) = probe::with_query(
            &url,
            "lastEventId",
            &format!("{MARK}\r\nSet-Cookie: ssekit=1\0"),
        ) {
            judge(
                ctx,
                "CRLF in query",
                ctx.sse_request_to(q),
                MARK,
                &mut problems,
                &mut answers,
            )
            .await;
        }
        raw_bare_cr(ctx, &url, MARK, &mut problems, &mut answers).await;
        if let Some(held) = held_anyway(ctx, &mut problems).await {
            return held;
        }
        if problems.is_empty() {
            Finding::pass(format!(
                "no 5xx, hang or reflection: {}",
                answers.join(", ")
            ))
        } else {
            Finding::violation(show(&problems.join("; "), 300))
        }
    })
}

/// A hang is the hostile value's fault only if a plain request does not hang the same way:
/// a cache lock or a buffering proxy holds every request, and that is H01/H04's finding. The
/// hangs are dropped when the control hangs too; SKIP when nothing else was wrong.
async fn held_anyway(ctx: &Ctx, problems: &mut Vec<String>) -> Option<Finding> {
    const HANG: &str = ": hang (";
    if !problems.iter().any(|p| p.contains(HANG)) {
        return None;
    }
    // A lock that held a plain second subscriber during the first look holds these too; a
    // control sent now may find it free, so that earlier sighting is the control.
    let held = match ctx.baseline().await.ok().and_then(Baseline::second_held) {
        Some(held) => held,
        None => match ctx.send("I05 control", ctx.sse_request()).await {
            Err(e) if e.is_no_head() || matches!(e, probe::ProbeError::Timeout(..)) => {
                format!("a plain request without Last-Event-ID hangs the same way ({e})")
            }
            _ => return None,
        },
    };
    problems.retain(|p| !p.contains(HANG));
    let note = format!(
        "{held}: something holds requests whatever they carry (a cache or lock in front, see \
         H04 and H01; or a server out of workers), not the hostile values"
    );
    match problems.is_empty() {
        true => Some(Finding::skip(note)),
        false => Some(Finding::violation(format!(
            "{}; {note}",
            show(&problems.join("; "), 300)
        ))),
    }
}

async fn judge(
    ctx: &Ctx,
    name: &str,
    req: Request,
    mark: &str,
    problems: &mut Vec<String>,
    answers: &mut Vec<String>,
) {
    match ctx.send(&format!("I05 {name}"), req).await {
        Err(e) if e.is_no_head() || matches!(e, probe::ProbeError::Timeout(..)) => {
            problems.push(format!("{name}: hang ({e})"))
        }
        Err(e) => answers.push(format!(
            "{name}: connection closed ({})",
            show(&e.to_string(), 40)
        )),
        Ok(r) => {
            if r.status.is_server_error() {
                problems.push(format!("{name}: {}", r.status));
            }
            for (n, v) in &r.headers {
                let reflected = v
                    .as_bytes()
                    .windows(mark.len())
                    .any(|w| w == mark.as_bytes());
                if reflected || n.as_str() == "set-cookie" && v.as_bytes().starts_with(b"ssekit") {
                    problems.push(format!("{name}: reflected into the {n} response header"));
                }
            }
            answers.push(format!("{name}: {}", r.status.as_u16()));
        }
    }
}

async fn raw_bare_cr(
    ctx: &Ctx,
    url: &http::Uri,
    mark: &str,
    problems: &mut Vec<String>,
    answers: &mut Vec<String>,
) {
    let host = url.authority().map_or("localhost", |a| a.as_str());
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n{}Last-Event-ID: {mark}\rX-Injected: 1\r\nConnection: close\r\n\r\n",
        probe::path_and_query(url),
        ctx.user_header_lines()
    );
    match probe::raw(
        url,
        request.as_bytes(),
        ctx.timeout().min(Duration::from_secs(2)),
        8192,
    )
    .await
    {
        Err(e) => answers.push(format!("bare CR: {}", show(&e.to_string(), 40))),
        Ok(x) => {
            let text = String::from_utf8_lossy(&x.bytes);
            let head = text.split("\r\n\r\n").next().unwrap_or("");
            let status = head.split(' ').nth(1).unwrap_or("none");
            if status.starts_with('5') {
                problems.push(format!("bare CR: {status}"));
            }
            if x.bytes.is_empty() && !x.closed {
                problems.push("bare CR: no answer (hang)".into());
            }
            if head.to_ascii_lowercase().contains("x-injected") || head.contains(mark) {
                problems.push("bare CR: value reflected into response headers".into());
            }
            ctx.record_status(
                "I05 bare CR",
                status
                    .parse()
                    .ok()
                    .and_then(|s| StatusCode::from_u16(s).ok())
                    .unwrap_or(StatusCode::OK),
            );
            answers.push(format!("bare CR: {status}"));
        }
    }
}

fn i06(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(async move {
        let earlier: Vec<String> = match ctx.baseline().await {
            Ok(b) if b.streaming() => data_ids(&b.a),
            Ok(b) => {
                return Finding::skip(format!("the stream did not open (status {})", b.status))
            }
            Err(e) => return Finding::skip(e),
        };
        let (mut r, mut c) = match subscribe(ctx, "I06 fresh", None).await {
            Ok(x) => x,
            Err(e) => return Finding::skip(e),
        };
        let first = r.head_at + Duration::from_millis(100);
        let until = r.head_at + Duration::from_millis(600);
        c.read_until(&mut r, until, |_| false).await;
        let in_100ms = c.events.iter().filter(|e| e.at <= first).count();
        let replayed = data_ids(&c)
            .into_iter()
            .filter(|id| earlier.contains(id))
            .count();
        if replayed > 0 {
            return Finding::violation(format!(
                "a fresh connection received {replayed} event(s) published before it connected"
            ));
        }
        if in_100ms > 3 {
            return Finding::violation(format!(
                "{in_100ms} events in the first 100 ms: history dumped on connect?"
            ));
        }
        Finding::pass(format!(
            "{in_100ms} event(s) in the first 100 ms, none older than the connection"
        ))
    })
}

fn i07(_ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(async {
        Finding::skip(
            "needs a restart hook, which the runner does not have; ids from another epoch are covered by I04",
        )
    })
}

fn i08(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(async move {
        if let Err(f) = needs_ids(ctx).await {
            return f;
        }
        let ids = match fresh_ids(ctx, "i08", 3).await {
            Ok(ids) => ids,
            Err(f) => return f,
        };
        let n = ids.len();
        let (k1, k2, next1, next2) = (&ids[n - 3], &ids[n - 2], &ids[n - 2], &ids[n - 1]);
        let url = ctx.stream_url();
        let Ok(q) = probe::with_query(&url, "lastEventId", k1) else {
            return Finding::skip("cannot build the query URL");
        };
        let first_after = |req: Request| async move {
            let mut r = ctx.send("I08", req).await.map_err(|e| e.to_string())?;
            let mut c = Capture::new(&r);
            c.read_until(&mut r, Instant::now() + Duration::from_millis(1500), |c| {
                !data_ids(c).is_empty()
            })
            .await;
            Ok::<_, String>((r.status, data_ids(&c).first().cloned()))
        };
        let query_only = first_after(ctx.sse_request_to(q.clone())).await;
        let supported = matches!(&query_only, Ok((StatusCode::OK, Some(id))) if id == next1);
        if !supported {
            let seen = match query_only {
                Ok((s, id)) => format!(
                    "status {}, first id {:?}",
                    s.as_u16(),
                    id.unwrap_or_default()
                ),
                Err(e) => e,
            };
            return Finding::info(format!(
                "no ?lastEventId= fallback ({seen}); optional, so not a violation"
            ));
        }
        let mut both = ctx.sse_request_to(q);
        both.headers.insert(
            "last-event-id",
            HeaderValue::from_str(k2).unwrap_or(HeaderValue::from_static("x")),
        );
        match first_after(both).await {
            Ok((StatusCode::OK, Some(id))) if &id == next2 => {
                Finding::pass("?lastEventId= resumes; the header wins when both are sent")
            }
            Ok((s, id)) => Finding::violation(format!(
                "with header {} and query {}: status {}, first id {:?} (expected {})",
                show(k2, 30),
                show(k1, 30),
                s.as_u16(),
                id.unwrap_or_default(),
                show(next2, 30)
            )),
            Err(e) => Finding::violation(format!("header + query request failed: {e}")),
        }
    })
}

fn i09(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(on_stream(ctx, |b: &Baseline| {
        let n = b.a.id_without_data;
        if n > 0 {
            Finding::violation(format!(
                "{n} block(s) set `id:` without `data:` (heartbeat or priming frame with an id)"
            ))
        } else {
            Finding::pass(format!(
                "{} comments/priming frames, none with an id",
                b.a.comments.len() + b.a.retries.len()
            ))
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn resume_comparison_names_the_problem() {
        let a = v(&["e-3", "e-4", "e-5", "e-6"]);
        assert_eq!(compare_resume(&a, &v(&["e-3", "e-4", "e-5"])), Ok(3));
        assert!(compare_resume(&a, &v(&["e-4", "e-5"]))
            .unwrap_err()
            .starts_with("gap"));
        assert!(compare_resume(&a, &v(&["e-3", "e-3"]))
            .unwrap_err()
            .starts_with("duplicate"));
        assert!(compare_resume(&a, &v(&["e-1", "e-2"]))
            .unwrap_err()
            .contains("never saw"));
        assert!(compare_resume(&a, &[]).is_err());
    }

    #[test]
    fn order_problems_found() {
        assert!(order_problems(&v(&["e-1", "e-2", "e-3"])).is_empty());
        assert_eq!(order_problems(&v(&["e-1", "e-1"])).len(), 1);
        assert_eq!(order_problems(&v(&["e-2", "e-1", "e-4", "e-3"])).len(), 1);
    }

    #[test]
    fn reset_signals() {
        let now = Instant::now();
        let c = Capture::starting(now, now);
        let mut h = HeaderMap::new();
        h.insert("sse-resume", HeaderValue::from_static("reset"));
        assert!(reset_signal(&h, &c).is_some());
        h.insert("sse-resume", HeaderValue::from_static("resumed"));
        assert!(reset_signal(&h, &c).is_none());
        let mut c = Capture::starting(now, now);
        c.push(now, b"event: reset\ndata: {}\n\n");
        assert!(reset_signal(&HeaderMap::new(), &c)
            .unwrap()
            .contains("reset"));
    }
}
