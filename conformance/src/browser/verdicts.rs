//! The B group: what a real browser did with the stream, judged from a session's
//! [`Observation`], and where that disagrees with the runner's own verdicts.

use std::time::Duration;

use http::{HeaderMap, StatusCode};
use serde::Serialize;

use super::proxy::{End, Exchange, Route};
use super::session::{CrossOrigin, Observation, PageEntry, DEFAULT_RETRY_MS};
use crate::checks::cors::{cors_check, CorsRefusal};
use crate::checks::http::{content_type_problem, value};
use crate::checks::{Basis, Check, Finding, Level, Phase, Status};
use crate::context::Ctx;
use crate::runner::CheckResult;
use crate::target::BoxFuture;

/// B checks are judged from one browser session after it ends, never by the runner's phases.
fn judged_from_the_session(_: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(async { Finding::skip("browser checks run only with --browser") })
}

const fn check(
    id: &'static str,
    level: Level,
    title: &'static str,
    reference: &'static str,
    browser: &'static str,
    fix: &'static str,
) -> Check {
    Check {
        id,
        level,
        // A browser row is normative exactly when it is a MUST (what HTML requires of the page's
        // EventSource); the others are the same practice as their runner twins.
        basis: match level {
            Level::Must => Basis::Spec,
            _ => Basis::Practice,
        },
        title,
        reference,
        browser,
        fix,
        phase: Phase::Main,
        run: judged_from_the_session,
    }
}

/// B01: the stream opens in a real EventSource.
pub const B01: Check = check(
    "B01",
    Level::Must,
    "a real EventSource opens the stream",
    "HTML §9.2.2 (announce the connection); Chromium EventSource",
    "This is what the browser did: without `open` the page gets `error` and readyState CLOSED.",
    "Answer 200 with `Content-Type: text/event-stream` (see H01/H02).",
);
/// B02: the browser receives every event the server sent.
pub const B02: Check = check(
    "B02",
    Level::Must,
    "the browser receives every event, once, in order, with its lastEventId",
    "HTML §9.2.6 (dispatch), §9.2.5 (parsing)",
    "Events the parser saw but the browser did not fire (or fired differently) are lost to the page.",
    "Keep framing valid (F01/F02/F05) so browsers and parsers agree on every event.",
);
/// B03: after a server-side close the browser resumes with the right `Last-Event-ID`.
pub const B03: Check = check(
    "B03",
    Level::Should,
    "after a server-side close the browser reconnects with Last-Event-ID and resumes with no gap",
    "HTML §9.2.3 (reestablish), §9.2.4 (Last-Event-ID)",
    "A non-200 answer to the resume closes the EventSource for good; a gap loses events silently.",
    "Answer the resume with 200 and exactly the events after the id (see I03).",
);
/// B04: the browser waits the stream's `retry`.
pub const B04: Check = check(
    "B04",
    Level::Should,
    "the browser waits the stream's `retry` before reconnecting",
    "HTML §9.2.5 (retry field), §9.2.3 (reconnection time)",
    "An invalid `retry` is ignored: the browser falls back to its own delay (3 s in Chromium).",
    "Send `retry: N` with digits only, 1000 to 60000 ms (see F06/R01).",
);
/// B05: the "gone" URL's 204 stops the browser.
pub const B05: Check = check(
    "B05",
    Level::Should,
    "the \"gone\" URL's 204 stops the browser: error, readyState CLOSED, no reconnect",
    "HTML §9.2.2 (204 fails the connection); WPT eventsource/request-status-error",
    "A 200 that ends at once makes the browser reconnect forever (readyState CONNECTING).",
    "Answer 204 No Content to tell clients to stop (see H10).",
);

/// B06: a page on another origin can open the stream exactly when the runner's CORS reading
/// says so.
pub const B06: Check = check(
    "B06",
    Level::Should,
    "a cross-origin EventSource opens exactly when the runner's CORS reading says it should",
    "Fetch §4.9 (CORS check), §3.2.5; HTML §9.2.2; WPT eventsource/eventsource-cross-origin",
    "A refused cross-origin EventSource gets a bare `error` (readyState CLOSED): only the console says why.",
    "For pages on other origins, answer their Origin with `Access-Control-Allow-Origin` (`*` without credentials; the exact origin and `Access-Control-Allow-Credentials: true` with them) and `Vary: Origin` (see C01/C02).",
);

/// The B checks, in report order.
pub fn checks() -> [Check; 6] {
    [B01, B02, B03, B04, B05, B06]
}

/// Runner checks that claim the same thing as a B check.
fn related(id: &str) -> &'static [&'static str] {
    match id {
        "B01" => &["H01", "H02"],
        "B03" => &["I03"],
        "B05" => &["H10"],
        _ => &[],
    }
}

fn ready_state(entry: &PageEntry) -> &'static str {
    match entry.ready_state {
        Some(0) => "CONNECTING",
        Some(1) => "OPEN",
        Some(2) => "CLOSED",
        _ => "unknown",
    }
}

fn answer(x: &Exchange) -> String {
    match (&x.error, x.status) {
        (Some(e), _) => format!("unreachable ({e})"),
        (None, Some(s)) => format!(
            "status {s}, Content-Type {}",
            x.content_type.as_deref().unwrap_or("(none)")
        ),
        (None, None) => "no answer".into(),
    }
}

/// Judges every B check from the session.
pub fn judge(obs: &Observation) -> Vec<(Check, Finding)> {
    vec![
        (B01, opens(obs)),
        (B02, every_event(obs)),
        (B03, resumes(obs)),
        (B04, honours_retry(obs)),
        (B05, gone_stops(obs)),
        (B06, cross_origin(obs)),
    ]
}

/// The judged checks as report rows (the session's time split evenly: they share it).
pub fn results(obs: &Observation, took: Duration) -> Vec<CheckResult> {
    let judged = judge(obs);
    let each = took / u32::try_from(judged.len()).unwrap_or(1);
    let b06_disagrees = obs.cross_origin.as_ref().is_some_and(disagrees);
    judged
        .into_iter()
        .map(|(check, f)| CheckResult {
            // Whatever B06's level: when the browser contradicts the runner's CORS reading,
            // C01/C02 cannot be trusted for this server, and that must not pass as a warning.
            status: if check.id == B06.id && b06_disagrees {
                Status::Fail
            } else {
                check.status(f.verdict)
            },
            check,
            observed: f.observed,
            duration: each,
        })
        .collect()
}

/// Rows for every B check when no session could run.
pub fn not_run(reason: &str) -> Vec<CheckResult> {
    checks()
        .into_iter()
        .map(|check| CheckResult {
            check,
            status: Status::Skip,
            observed: format!("no browser session: {reason}"),
            duration: Duration::ZERO,
        })
        .collect()
}

fn opens(obs: &Observation) -> Finding {
    let first = obs.of("main").find(|e| e.kind != "event");
    let request = obs.requests_to(Route::Stream);
    let server = request
        .first()
        .map_or("no request reached the proxy".into(), |x| answer(x));
    match first {
        Some(e) if e.kind == "open" => {
            Finding::pass(format!("open after {:.0} ms ({server})", e.t))
        }
        Some(e) => Finding::violation(format!(
            "no open: error with readyState {} {:.0} ms after the page loaded ({server})",
            ready_state(e),
            e.t
        )),
        None => Finding::violation(format!("neither open nor error ({server})")),
    }
}

fn listened(obs: &Observation, t: &str) -> bool {
    t == "message" || obs.listened_types.iter().any(|l| l == t)
}

fn every_event(obs: &Observation) -> Finding {
    if !obs.of("main").any(|e| e.kind == "open") {
        return Finding::skip("the EventSource never opened (B01)");
    }
    let wire: Vec<_> = obs
        .requests_to(Route::Stream)
        .into_iter()
        .flat_map(|x| x.events.iter())
        .filter(|e| listened(obs, &e.event_type))
        .collect();
    let page: Vec<_> = obs.of("main").filter(|e| e.kind == "event").collect();
    if wire.is_empty() {
        return Finding::skip("no events on the stream (give --publish, or check a live stream)");
    }
    let same = |w: &super::proxy::WireEvent, p: &PageEntry| {
        p.event_type.as_deref() == Some(w.event_type.as_str())
            && p.data.as_deref() == Some(w.data.as_str())
            && p.last_event_id.as_deref() == Some(w.id.as_str())
    };
    if let Some(i) = (0..wire.len().min(page.len())).find(|&i| !same(wire[i], page[i])) {
        return Finding::violation(format!(
            "event {} differs: the server sent {} `{}` id `{}`, the browser fired {} `{}` lastEventId `{}`",
            i + 1,
            wire[i].event_type,
            crate::checks::show(&wire[i].data, 60),
            crate::checks::show(&wire[i].id, 40),
            page[i].event_type.as_deref().unwrap_or("?"),
            crate::checks::show(page[i].data.as_deref().unwrap_or(""), 60),
            crate::checks::show(page[i].last_event_id.as_deref().unwrap_or(""), 40),
        ));
    }
    if page.len() != wire.len() {
        let dropped = obs
            .requests_to(Route::Stream)
            .iter()
            .filter_map(|x| x.dropped_after_first_member)
            .sum::<u64>();
        let why = match dropped {
            0 => String::new(),
            n => format!(
                ": the gzip body went on after its first member ({n} more byte(s)), and the \
                 browser reads only the first (see H14)"
            ),
        };
        return Finding::violation(format!(
            "the server sent {} events, the browser fired {}{why}",
            wire.len(),
            page.len()
        ));
    }
    let unlistened = obs
        .requests_to(Route::Stream)
        .iter()
        .flat_map(|x| x.events.iter())
        .filter(|e| !listened(obs, &e.event_type))
        .count();
    let mut text = format!(
        "{} events over {} connection(s), identical in type, data and lastEventId",
        wire.len(),
        obs.requests_to(Route::Stream).len()
    );
    if unlistened > 0 {
        text.push_str(&format!(
            "; {unlistened} of types the page did not listen to"
        ));
    }
    Finding::pass(text)
}

/// The page's `main` entries from the first `error` on (the close and what followed it).
fn after_first_connection(obs: &Observation) -> Vec<&PageEntry> {
    let mut seen_error = false;
    obs.of("main")
        .filter(|e| {
            seen_error |= e.kind == "error";
            seen_error
        })
        .collect()
}

fn resumes(obs: &Observation) -> Finding {
    let streams = obs.requests_to(Route::Stream);
    let Some(first) = streams.first() else {
        return Finding::skip("the browser made no request");
    };
    if !obs.of("main").any(|e| e.kind == "open") {
        return Finding::skip("the EventSource never opened (B01)");
    }
    let closed_by = match &first.end {
        Some(End::Cut) => "the runner's server-side close at an event boundary",
        Some(End::ServerEof) => "the server's own close",
        _ => {
            return Finding::skip(format!(
                "no server-side close happened ({})",
                obs.notes.join("; ")
            ))
        }
    };
    let later = after_first_connection(obs);
    let Some(second) = streams.get(1) else {
        let state = later
            .iter()
            .rev()
            .find(|e| e.kind == "error")
            .map_or("no error event".into(), |e| {
                format!("readyState {}", ready_state(e))
            });
        return Finding::violation(format!(
            "after {closed_by} the browser did not reconnect ({state}){}",
            if obs.notes.is_empty() {
                String::new()
            } else {
                format!("; {}", obs.notes.join("; "))
            }
        ));
    };
    let last_id = first
        .events
        .last()
        .map(|e| e.id.clone())
        .unwrap_or_default();
    let sent = second.last_event_id.clone();
    let expected = (!last_id.is_empty()).then(|| last_id.clone());
    let mut problems = Vec::new();
    if sent != expected {
        problems.push(format!(
            "it sent Last-Event-ID {:?}, the last id it had seen was {:?}",
            sent, expected
        ));
    }
    let delay = second
        .at_ms
        .saturating_sub(first.ended_ms.unwrap_or(second.at_ms));
    let reopened = later.iter().any(|e| e.kind == "open");
    if !reopened {
        let gave_up = later
            .iter()
            .rev()
            .find(|e| e.kind == "error")
            .map_or("no open".into(), |e| {
                format!("error, readyState {}", ready_state(e))
            });
        let more = streams.len() - 1;
        problems.push(format!(
            "the resume got {}: {gave_up}, {more} reconnect attempt(s) in all{}",
            answer(second),
            if gave_up.contains("CLOSED") {
                " (the browser gave up for good)"
            } else {
                ""
            }
        ));
    }
    if obs.publisher && reopened {
        let data: Vec<&str> = obs
            .of("main")
            .filter(|e| e.kind == "event")
            .filter_map(|e| e.data.as_deref())
            .filter(|d| obs.published.iter().any(|p| p == d))
            .collect();
        let want: Vec<&str> = obs.published.iter().map(String::as_str).collect();
        if data != want {
            let missing: Vec<_> = want.iter().filter(|w| !data.contains(w)).collect();
            problems.push(format!(
                "published {} events, the page got {} (missing {missing:?}; duplicates or order changed otherwise)",
                want.len(),
                data.len()
            ));
        }
    }
    let header = sent.as_deref().map_or("no Last-Event-ID".into(), |s| {
        format!("Last-Event-ID {}", crate::checks::show(s, 40))
    });
    if problems.is_empty() {
        let gap = if obs.publisher {
            format!(
                ", all {} published events arrived once, in order",
                obs.published.len()
            )
        } else {
            String::new()
        };
        return Finding::pass(format!(
            "after {closed_by} it reconnected in {delay} ms with {header}, got 200 and opened again{gap}"
        ));
    }
    Finding::violation(format!("after {closed_by}, {}", problems.join("; ")))
}

fn honours_retry(obs: &Observation) -> Finding {
    let streams = obs.requests_to(Route::Stream);
    let (Some(first), Some(second)) = (streams.first(), streams.get(1)) else {
        return Finding::skip("no reconnect to time (B03)");
    };
    let Some(ended) = first.ended_ms else {
        return Finding::skip("the first response did not end");
    };
    let delay = second.at_ms.saturating_sub(ended);
    let (expected, source) = match first.retry {
        Some(r) => (r, format!("the stream's retry: {r}")),
        None => (
            DEFAULT_RETRY_MS,
            format!("no valid retry, Chromium's default {DEFAULT_RETRY_MS} ms"),
        ),
    };
    // Timers and the loopback round trip add a little; the browser never reconnects early.
    let slack = 1000.max(expected / 4);
    let within = delay + 100 >= expected && delay <= expected + slack;
    let ignored = first.retry_ignored.first();
    let text = format!(
        "reconnected {delay} ms after the close ({source}){}",
        ignored.map_or(String::new(), |l| format!(
            "; the server's `{}` was ignored, by the browser as by the parser",
            crate::checks::show(l, 40)
        ))
    );
    match (within, ignored) {
        (true, None) => Finding::pass(text),
        (true, Some(_)) => Finding::violation(text),
        (false, _) => Finding::violation(format!("{text}: outside {expected} ms (−100/+{slack})")),
    }
}

fn gone_stops(obs: &Observation) -> Finding {
    let requests = obs.requests_to(Route::Gone);
    let Some(first) = requests.first() else {
        return Finding::skip("no \"gone\" URL (give --gone-url)");
    };
    let entries: Vec<_> = obs.of("gone").collect();
    let opened = entries.iter().any(|e| e.kind == "open");
    let Some(error) = entries.iter().find(|e| e.kind == "error") else {
        return Finding::violation(format!(
            "no error event: the EventSource stayed open ({})",
            answer(first)
        ));
    };
    let last_t = obs.page.last().map_or(error.t, |e| e.t);
    let text = format!(
        "{}: {}error with readyState {}, {} request(s) in {:.1} s",
        answer(first),
        if opened { "open, then " } else { "" },
        ready_state(error),
        requests.len(),
        (last_t - error.t).max(0.0) / 1000.0
    );
    if error.ready_state == Some(2) && requests.len() == 1 && !opened {
        Finding::pass(text)
    } else {
        Finding::violation(format!("{text}: the browser keeps reconnecting"))
    }
}

/// What the runner's CORS reading says a cross-origin EventSource does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "lowercase")]
pub enum Prediction {
    /// The CORS check passes and the answer is an event stream; `grant` names the headers.
    Opens {
        /// The headers that let the page in.
        grant: String,
    },
    /// The browser refuses (CORS) or fails (not an event stream) the connection.
    Refused {
        /// Why.
        why: String,
        /// What to do if pages on other origins should be able to use the stream.
        advice: String,
    },
    /// The runner cannot tell.
    Unknown {
        /// Why.
        why: String,
    },
}

/// Predicts a cross-origin EventSource from `origin` from the response to a request carrying
/// that `Origin`: the Fetch CORS check first (a failure is a network error whatever the
/// status), then the EventSource rules (HTML §9.2.2: 200 and `text/event-stream`).
pub fn predict(status: StatusCode, h: &HeaderMap, origin: &str, credentials: bool) -> Prediction {
    if let Err(refusal) = cors_check(h, origin, credentials) {
        let advice = match refusal {
            CorsRefusal::NoAllowOrigin | CorsRefusal::OriginMismatch(_) => {
                "pages on other origins cannot use this stream; allow their origins on your server \
                 (`ssekit serve --cors-origin ORIGIN`) if they should"
                    .into()
            }
            CorsRefusal::WildcardWithCredentials => "withCredentials EventSources on other origins cannot use this stream; \
                 echo the page's exact origin with `Access-Control-Allow-Credentials: true` instead of `*` if they should (see C01/C02)"
                .into(),
            CorsRefusal::NoAllowCredentials(_) => "withCredentials EventSources on other origins cannot use this stream; \
                 add `Access-Control-Allow-Credentials: true` if they should (see C01)"
                .into(),
        };
        return Prediction::Refused {
            why: refusal.describe(origin),
            advice,
        };
    }
    if status.is_redirection() {
        return Prediction::Unknown {
            why: format!(
                "status {} to {}: the browser follows redirects, the runner's reading does not",
                status.as_u16(),
                value(h, "location").unwrap_or("(no Location)")
            ),
        };
    }
    if status != StatusCode::OK {
        return Prediction::Refused {
            why: format!("status {} (CORS allowed)", status.as_u16()),
            advice: "an EventSource opens only on 200 (see H01)".into(),
        };
    }
    if let Some(problem) = content_type_problem(h) {
        return Prediction::Refused {
            why: format!("{problem} (CORS allowed)"),
            advice: "an EventSource opens only on text/event-stream (see H02)".into(),
        };
    }
    let acao = value(h, "access-control-allow-origin").unwrap_or_default();
    Prediction::Opens {
        grant: if credentials {
            format!("ACAO {acao}, ACAC true, withCredentials")
        } else {
            format!("ACAO {acao}, no credentials")
        },
    }
}

/// What the browser's cross-origin EventSource did first.
enum CrossSeen<'a> {
    Opened,
    Failed(&'a PageEntry),
    Undecided,
}

fn cross_seen(co: &CrossOrigin) -> CrossSeen<'_> {
    match co.page.iter().find(|e| e.kind != "event") {
        Some(e) if e.kind == "open" => CrossSeen::Opened,
        Some(e) => CrossSeen::Failed(e),
        None => CrossSeen::Undecided,
    }
}

/// Whether the browser decided one way and the runner's reading the other.
fn disagrees(co: &CrossOrigin) -> bool {
    matches!(
        (cross_seen(co), &co.prediction),
        (CrossSeen::Opened, Prediction::Refused { .. })
            | (CrossSeen::Failed(_), Prediction::Opens { .. })
    )
}

/// B06's disagreement, taken from the observation (the row already says it in words).
fn cross_origin_disagreement(observation: Option<&Observation>) -> Option<Disagreement> {
    let co = observation?.cross_origin.as_ref()?;
    if !disagrees(co) {
        return None;
    }
    let (runner, predicted) = match co.prediction {
        Prediction::Opens { .. } => (Status::Pass, "opens"),
        _ => (Status::Info, "is refused"),
    };
    Some(Disagreement {
        check: B06.id,
        browser: Status::Fail,
        runner: vec![("CORS reading", runner)],
        note: format!(
            "B06 FAIL but the runner's CORS reading says the cross-origin EventSource {predicted}"
        ),
    })
}

fn cross_origin(obs: &Observation) -> Finding {
    let Some(co) = &obs.cross_origin else {
        return Finding::skip("the session ended before the cross-origin step");
    };
    let page = &co.origin;
    let left_out = if co.headers_left_out {
        "; neither the page nor the runner's request sent your --header's (an EventSource cannot)"
    } else {
        ""
    };
    let seen = cross_seen(co);
    let browser = match &seen {
        CrossSeen::Opened => format!("a page on {page} opened the stream cross-origin"),
        CrossSeen::Failed(e) => format!(
            "a page on {page} got error with readyState {}",
            ready_state(e)
        ),
        CrossSeen::Undecided => format!(
            "a page on {page} saw neither open nor error within {} ms",
            co.waited_ms
        ),
    };
    match (&seen, &co.prediction) {
        (_, Prediction::Unknown { why }) => {
            Finding::skip(format!("{browser}; the runner cannot predict it: {why}{left_out}"))
        }
        (CrossSeen::Undecided, p) => Finding::warn(format!(
            "{browser}; the runner's CORS reading: {}{left_out}",
            match p {
                Prediction::Opens { grant } => format!("opens ({grant})"),
                Prediction::Refused { why, .. } => format!("refused ({why})"),
                Prediction::Unknown { why } => why.clone(),
            }
        )),
        (CrossSeen::Opened, Prediction::Opens { grant }) => Finding::pass(format!(
            "{browser} ({grant}), as the runner's CORS reading predicts{left_out}"
        )),
        (CrossSeen::Failed(e), Prediction::Refused { why, advice }) => Finding::info(format!(
            "{why}: {advice} (the browser: error, readyState {}, as predicted){left_out}",
            ready_state(e)
        )),
        (CrossSeen::Opened, Prediction::Refused { why, .. }) => Finding::violation(format!(
            "{browser} [disagrees with the runner: its CORS reading says the browser refuses it: {why}]{left_out}"
        )),
        (CrossSeen::Failed(_), Prediction::Opens { grant }) => {
            let tls = if co.url.starts_with("https:") {
                "; an https target: the browser trusts only its own CAs (not --ca-cert)"
            } else {
                ""
            };
            Finding::violation(format!(
                "{browser} [disagrees with the runner: its CORS reading says the stream opens ({grant})]{tls}{left_out}"
            ))
        }
    }
}

/// A B check whose verdict differs from the runner's verdicts on the same rule.
#[derive(Debug, Clone, Serialize)]
pub struct Disagreement {
    /// The B check.
    pub check: &'static str,
    /// Its status.
    pub browser: Status,
    /// The related runner checks and their statuses.
    pub runner: Vec<(&'static str, Status)>,
    /// One line for the report.
    pub note: String,
}

/// Compares each B check with the runner's checks on the same rule (SKIPs are not compared),
/// notes every disagreement in the B check's `observed`, and returns them.
pub fn disagreements(
    results: &mut [CheckResult],
    observation: Option<&Observation>,
) -> Vec<Disagreement> {
    let statuses: Vec<(&'static str, Status)> =
        results.iter().map(|r| (r.check.id, r.status)).collect();
    let mut found = Vec::new();
    for r in results.iter_mut().filter(|r| r.check.group() == "B") {
        if matches!(r.status, Status::Skip) {
            continue;
        }
        // B06 compares the browser with the runner's own prediction, noted in the row already.
        if r.check.id == B06.id {
            found.extend(cross_origin_disagreement(observation));
            continue;
        }
        let runner: Vec<(&'static str, Status)> = statuses
            .iter()
            .filter(|(id, s)| related(r.check.id).contains(id) && *s != Status::Skip)
            .copied()
            .collect();
        if runner.is_empty() {
            continue;
        }
        let browser_ok = r.status == Status::Pass;
        let runner_ok = runner
            .iter()
            .all(|(_, s)| matches!(s, Status::Pass | Status::Info));
        if browser_ok == runner_ok {
            continue;
        }
        let list: Vec<String> = runner.iter().map(|(id, s)| format!("{id} {s}")).collect();
        let note = format!(
            "{} {} but the runner says {}",
            r.check.id,
            r.status,
            list.join(", ")
        );
        r.observed.push_str(&format!(
            " [disagrees with the runner: {}]",
            list.join(", ")
        ));
        found.push(Disagreement {
            check: r.check.id,
            browser: r.status,
            runner,
            note,
        });
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(check: Check, status: Status) -> CheckResult {
        CheckResult {
            check,
            status,
            observed: String::new(),
            duration: Duration::ZERO,
        }
    }

    #[test]
    fn disagreement_is_noted_only_where_the_verdicts_differ() {
        let h02 = crate::checks::all()
            .into_iter()
            .find(|c| c.id == "H02")
            .expect("H02 exists");
        let mut rows = vec![
            row(h02, Status::Fail),
            row(B01, Status::Pass),
            row(B03, Status::Fail),
        ];
        let found = disagreements(&mut rows, None);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].check, "B01");
        assert!(rows[1].observed.contains("H02 FAIL"));
        // B03's runner counterpart (I03) did not run: nothing to compare.
        assert!(rows[2].observed.is_empty());

        let mut agree = vec![row(h02, Status::Fail), row(B01, Status::Fail)];
        assert!(disagreements(&mut agree, None).is_empty());
    }

    #[test]
    fn b_checks_have_unique_ids_outside_the_runner_list() {
        let runner: Vec<_> = crate::checks::all().iter().map(|c| c.id).collect();
        for c in checks() {
            assert_eq!(c.group(), "B");
            assert!(!runner.contains(&c.id));
        }
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, http::HeaderValue::from_static(v));
        }
        h
    }

    const PAGE: &str = "http://127.0.0.1:4000";
    const STREAM: (&str, &str) = ("content-type", "text/event-stream; charset=utf-8");

    #[test]
    fn prediction_applies_the_cors_check_then_the_event_source_rules() {
        let ok = StatusCode::OK;
        let star = headers(&[STREAM, ("access-control-allow-origin", "*")]);
        assert!(matches!(
            predict(ok, &star, PAGE, false),
            Prediction::Opens { grant } if grant == "ACAO *, no credentials"
        ));
        let Prediction::Refused { why, advice } = predict(ok, &star, PAGE, true) else {
            panic!("* with credentials is refused");
        };
        assert!(
            why.contains("`*` does not admit a credentialed request"),
            "{why}"
        );
        assert!(advice.contains("C02"), "{advice}");

        let none = headers(&[STREAM, ("vary", "Origin")]);
        let Prediction::Refused { why, .. } = predict(ok, &none, PAGE, false) else {
            panic!("no ACAO is refused");
        };
        assert_eq!(why, format!("no Access-Control-Allow-Origin for {PAGE}"));

        let exact = headers(&[
            STREAM,
            ("access-control-allow-origin", PAGE),
            ("access-control-allow-credentials", "true"),
        ]);
        assert!(matches!(
            predict(ok, &exact, PAGE, true),
            Prediction::Opens { .. }
        ));
        assert!(matches!(
            predict(ok, &exact, "http://127.0.0.1:4001", false),
            Prediction::Refused { .. }
        ));

        // CORS first: a refused 404 is a CORS refusal; an allowed one fails on its status.
        let not_found = headers(&[("access-control-allow-origin", "*")]);
        let Prediction::Refused { why, .. } =
            predict(StatusCode::NOT_FOUND, &not_found, PAGE, false)
        else {
            panic!("404 is refused");
        };
        assert_eq!(why, "status 404 (CORS allowed)");
        let Prediction::Refused { why, .. } =
            predict(StatusCode::NOT_FOUND, &headers(&[]), PAGE, false)
        else {
            panic!("404 is refused");
        };
        assert!(why.starts_with("no Access-Control-Allow-Origin"), "{why}");
        let plain = headers(&[
            ("content-type", "text/plain"),
            ("access-control-allow-origin", "*"),
        ]);
        let Prediction::Refused { why, .. } = predict(ok, &plain, PAGE, false) else {
            panic!("text/plain is refused");
        };
        assert!(why.contains("text/plain"), "{why}");
        // The browser follows a redirect; the runner's reading does not.
        let moved = headers(&[
            ("access-control-allow-origin", "*"),
            ("location", "/elsewhere"),
        ]);
        assert!(matches!(
            predict(StatusCode::FOUND, &moved, PAGE, false),
            Prediction::Unknown { .. }
        ));
    }

    fn observation(first: &str, prediction: Prediction) -> Observation {
        Observation {
            chromium: "Chrome/test".into(),
            page_url: format!("{PAGE}/"),
            with_credentials: false,
            listened_types: Vec::new(),
            page: Vec::new(),
            requests: Vec::new(),
            published: Vec::new(),
            publisher: false,
            notes: Vec::new(),
            cross_origin: Some(CrossOrigin {
                origin: PAGE.into(),
                url: "http://127.0.0.1:5000/stream".into(),
                page: vec![PageEntry {
                    src: "cross".into(),
                    kind: first.into(),
                    t: 10.0,
                    ready_state: Some(if first == "open" { 1 } else { 2 }),
                    event_type: None,
                    data: None,
                    last_event_id: None,
                }],
                waited_ms: 10,
                runner: Default::default(),
                prediction,
                headers_left_out: false,
            }),
        }
    }

    fn b06(obs: &Observation) -> CheckResult {
        results(obs, Duration::ZERO)
            .into_iter()
            .find(|r| r.check.id == "B06")
            .expect("B06")
    }

    #[test]
    fn b06_fails_only_where_browser_and_cors_reading_disagree() {
        let opens = || Prediction::Opens {
            grant: "ACAO *, no credentials".into(),
        };
        let refused = || Prediction::Refused {
            why: format!("no Access-Control-Allow-Origin for {PAGE}"),
            advice: "allow them".into(),
        };
        let row = b06(&observation("open", opens()));
        assert_eq!(row.status, Status::Pass, "{}", row.observed);
        assert!(row.observed.starts_with(&format!(
            "a page on {PAGE} opened the stream cross-origin (ACAO *, no credentials)"
        )));
        let row = b06(&observation("error", refused()));
        assert_eq!(row.status, Status::Info, "{}", row.observed);
        assert!(row.observed.contains("readyState CLOSED, as predicted"));

        for (first, prediction, runner) in [
            ("open", refused(), Status::Info),
            ("error", opens(), Status::Pass),
        ] {
            let obs = observation(first, prediction);
            let mut rows = vec![b06(&obs)];
            assert_eq!(rows[0].status, Status::Fail, "{}", rows[0].observed);
            assert!(rows[0].observed.contains("[disagrees with the runner: "));
            let found = disagreements(&mut rows, Some(&obs));
            assert_eq!(found.len(), 1);
            assert_eq!(found[0].runner, [("CORS reading", runner)]);
            // Noted once, by the verdict itself.
            assert_eq!(rows[0].observed.matches("disagrees").count(), 1);
        }

        let mut unknown = observation(
            "error",
            Prediction::Unknown {
                why: "the runner's own request failed".into(),
            },
        );
        assert_eq!(b06(&unknown).status, Status::Skip);
        unknown.cross_origin = None;
        assert_eq!(b06(&unknown).status, Status::Skip);
    }
}
