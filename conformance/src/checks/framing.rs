//! F: the bytes of the stream (UTF-8, line ends, events cut at close, field names, ids, retry
//! values, payload round trips, sizes).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ssekit_parser::IgnoreReason;

use super::published::{how_altered, recognise, Alterations, Fidelity};
use super::{on_stream, show, Basis, Check, Finding, Level, Phase};
use crate::capture::Capture;
use crate::context::{Baseline, Ctx};
use crate::diagnosis::Close;
use crate::target::BoxFuture;

/// The F group.
pub fn checks() -> Vec<Check> {
    vec![
        Check {
            id: "F01",
            level: Level::Must,
            basis: Basis::Spec,
            title: "valid UTF-8, BOM only at byte 0",
            reference: "HTML §9.2.5, §9.2.6",
            browser: "Invalid bytes become U+FFFD in event data; a BOM mid-stream becomes part of a field name, so that line is ignored.",
            fix: "Encode every event as UTF-8; never write a BOM after the start of the stream.",
            phase: Phase::Main,
            run: f01,
        },
        Check {
            id: "F02",
            level: Level::Should,
            basis: Basis::Practice,
            title: "lines well formed; one line-end style per event",
            reference: "HTML §9.2.5 ABNF allows any end-of-line per line, so a raw CR or LF inside a value splits it",
            browser: "A CR or LF written raw inside a value ends the line there: the rest is read as another field (injection).",
            fix: "Serialize with a library that splits data on CR/LF into data: lines and refuses CR/LF in event and id.",
            phase: Phase::Main,
            run: f02,
        },
        Check {
            id: "F03",
            level: Level::Must,
            basis: Basis::Spec,
            title: "server-closed streams end at an event boundary",
            reference: "HTML §9.2.5 ABNF (every event ends with a blank line); §9.2.6 (an incomplete event is not dispatched)",
            browser: "The last event before the close is silently discarded by every client.",
            fix: "Write the final blank line of each event before closing; close between events only.",
            phase: Phase::Summary,
            run: f03,
        },
        Check {
            id: "F04",
            level: Level::Should,
            basis: Basis::Practice,
            title: "only event, data, id, retry fields",
            reference: "HTML §9.2.6 (field names are case-sensitive)",
            browser: "Unknown or wrong-case fields (Data, type, message) are silently ignored.",
            fix: "Use exactly `event`, `data`, `id`, `retry` (lower case) and `:` comments.",
            phase: Phase::Main,
            run: f04,
        },
        Check {
            id: "F05",
            level: Level::Should,
            basis: Basis::Practice,
            title: "ids without U+0000 (and not `undefined`/`null`)",
            reference: "HTML §9.2.6 ignores an id holding NUL; WPT format-field-id-null; Chromium will not reconnect with C0 controls",
            browser: "An id containing NUL is ignored, so Last-Event-ID stays at an older event and resume replays or skips.",
            fix: "Generate ids from a safe alphabet (e.g. EPOCH-SEQ); never stringify a missing value.",
            phase: Phase::Main,
            run: f05,
        },
        Check {
            id: "F06",
            level: Level::Should,
            basis: Basis::Practice,
            title: "retry values are ASCII digits",
            reference: "HTML §9.2.6 ignores a non-digit retry; WPT format-field-retry-bogus",
            browser: "`retry: 3s`, `-1`, `1.5` are ignored: clients keep their default delay.",
            fix: "Send the delay in whole milliseconds, digits only: `retry: 3000`.",
            phase: Phase::Main,
            run: f06,
        },
        Check {
            id: "F07",
            level: Level::Should,
            basis: Basis::Practice,
            title: "published payloads round-trip byte-exactly",
            reference: "HTML §9.2.6 (line and leading-space rules)",
            browser: "Data with line breaks, leading spaces or colons arrives altered or split into forged fields.",
            fix: "Split data on CR, LF and CRLF into separate `data:` lines and always write `data: ` with one space.",
            phase: Phase::Main,
            run: f07,
        },
        Check {
            id: "F08",
            level: Level::Should,
            basis: Basis::Practice,
            title: "no named events without data",
            reference: "HTML §9.2.6 dispatch step 2",
            browser: "`event: x` with no `data:` is never dispatched: the handler never fires.",
            fix: "Give every event a `data:` line (it may be empty: `data:`), or use a `:` comment for heartbeats.",
            phase: Phase::Main,
            run: f08,
        },
        Check {
            id: "F09",
            level: Level::Should,
            basis: Basis::Practice,
            title: "line and event sizes reasonable (≤ 1 MiB)",
            reference: "operations practice",
            browser: "Clients buffer whole events; very large ones stall or are dropped by size-capped parsers.",
            fix: "Keep events small; send references to large payloads.",
            phase: Phase::Main,
            run: f09,
        },
        Check {
            id: "F10",
            level: Level::Info,
            basis: Basis::Practice,
            title: "event types, id format, share of events with ids",
            reference: "—",
            browser: "—",
            fix: "—",
            phase: Phase::Main,
            run: f10,
        },
    ]
}

/// Both baseline captures.
pub fn captures(b: &Baseline) -> impl Iterator<Item = &Capture> {
    std::iter::once(&b.a).chain(b.b.as_ref())
}

fn f01(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(on_stream(ctx, |b: &Baseline| {
        for c in captures(b) {
            if let Some(at) = c.invalid_utf8_at {
                return Finding::violation(format!("invalid UTF-8 at byte {at}"));
            }
            if let Some(at) = c.bom_mid_stream_at {
                return Finding::violation(format!(
                    "a BOM (U+FEFF) at byte {at}, not at the start"
                ));
            }
        }
        Finding::pass(format!("{} bytes, all valid UTF-8", b.a.bytes))
    }))
}

fn f02(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(on_stream(ctx, |b: &Baseline| {
        let c = &b.a;
        let styles = c.line_ends.describe();
        if let Some(stray) = c.line_ends.stray() {
            return Finding::violation(format!("{stray} ({styles})"));
        }
        if c.mixed_in_block > 0 {
            return Finding::violation(format!(
                "{} event(s) mix line-end styles inside one event ({styles}): a raw CR/LF in a value",
                c.mixed_in_block
            ));
        }
        let mixed = [c.line_ends.lf, c.line_ends.crlf, c.line_ends.cr]
            .iter()
            .filter(|n| **n > 0)
            .count()
            > 1;
        if mixed {
            return Finding::pass(format!(
                "line ends mixed between events but consistent within each ({styles})"
            ));
        }
        Finding::pass(format!("line ends: {styles}"))
    }))
}

fn f03(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(async move {
        let closed = ctx.closed();
        if closed.is_empty() {
            return Finding::skip(
                "the server closed no stream during the run (needs a server-side close or the shutdown hook)",
            );
        }
        let mut cut = Vec::new();
        let mut partial_line = Vec::new();
        let mut errors = Vec::new();
        let mut idle = Vec::new();
        for c in &closed {
            match &c.close {
                Close::MidEvent => cut.push(c.by),
                Close::MidLine => partial_line.push(c.by),
                Close::Between { error: Some(e) } => {
                    errors.push(format!("{}: {}", c.by, show(e, 80)))
                }
                Close::Idle { silence, .. } => idle.push(*silence),
                Close::Between { error: None } => {}
            }
        }
        if !cut.is_empty() {
            return Finding::violation(format!(
                "{} of {} server-closed streams ended inside an event (seen by {}): the last event is lost",
                cut.len(),
                closed.len(),
                dedup(&cut)
            ));
        }
        if !partial_line.is_empty() {
            return Finding::warn(format!(
                "{} of {} server-closed streams ended inside a line (seen by {})",
                partial_line.len(),
                closed.len(),
                dedup(&partial_line)
            ));
        }
        if !errors.is_empty() {
            return Finding::warn(format!(
                "{} of {} streams were cut without a clean end: {}",
                errors.len(),
                closed.len(),
                show(&errors.join("; "), 160)
            ));
        }
        Finding::pass(format!(
            "{} server-closed streams, all at an event boundary{}",
            closed.len(),
            idle_note(&idle)
        ))
    })
}

/// " (N cut between events after a silence: an idle timeout, see K01)", or nothing.
pub fn idle_note(silences: &[Duration]) -> String {
    match silences.iter().max() {
        None => String::new(),
        Some(longest) => format!(
            " ({} of them cut between events after up to {} of silence: an idle timeout, see K01)",
            silences.len(),
            crate::diagnosis::secs(*longest)
        ),
    }
}

fn dedup(list: &[&str]) -> String {
    let mut v = list.to_vec();
    v.sort_unstable();
    v.dedup();
    v.join(", ")
}

fn f04(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(on_stream(ctx, |b: &Baseline| {
        let unknown: Vec<String> = captures(b)
            .flat_map(|c| c.ignored.iter())
            .filter(|(r, _)| *r == IgnoreReason::UnknownField)
            .map(|(_, line)| show(line, 40))
            .collect();
        let names: Vec<&str> = b.a.field_names.iter().map(String::as_str).collect();
        if unknown.is_empty() {
            Finding::pass(format!(
                "fields: {}",
                if names.is_empty() {
                    "none".into()
                } else {
                    names.join(", ")
                }
            ))
        } else {
            Finding::violation(format!(
                "ignored lines: {}",
                show(&unknown.join(" | "), 200)
            ))
        }
    }))
}

const BOGUS_IDS: [&str; 5] = ["undefined", "null", "None", "[object Object]", "NaN"];

fn f05(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(on_stream(ctx, |b: &Baseline| {
        let nul: Vec<String> = captures(b)
            .flat_map(|c| c.ignored.iter())
            .filter(|(r, _)| *r == IgnoreReason::IdWithNul)
            .map(|(_, line)| show(line, 40))
            .collect();
        if !nul.is_empty() {
            return Finding::violation(format!(
                "{} id line(s) with U+0000, e.g. {}",
                nul.len(),
                nul[0]
            ));
        }
        if let Some(warning) = browser_unsafe_ids(captures(b)) {
            return warning;
        }
        if let Some(e) =
            b.a.events
                .iter()
                .find(|e| BOGUS_IDS.contains(&e.value.id.as_str()))
        {
            return Finding::warn(format!(
                "id `{}`: a missing value was stringified",
                e.value.id
            ));
        }
        let with_id = b.a.events.iter().filter(|e| !e.value.id.is_empty()).count();
        Finding::pass(format!(
            "{with_id} ids checked, none with NUL or control bytes"
        ))
    }))
}

/// A warning for events whose id holds a byte Chromium will not send back (see
/// [`browser_unsafe_byte`]), naming the first such byte and id.
fn browser_unsafe_ids<'a>(captures: impl Iterator<Item = &'a Capture>) -> Option<Finding> {
    let mut unsafe_ids = captures.flat_map(|c| c.events.iter()).filter_map(|e| {
        let id = e.value.id.as_str();
        browser_unsafe_byte(id).map(|byte| (id, byte))
    });
    let (id, byte) = unsafe_ids.next()?;
    let more = unsafe_ids.count();
    let also = match more {
        0 => String::new(),
        n => format!(" ({n} more event(s) like it)"),
    };
    let what = if byte == 0x7f { "DEL" } else { "a C0 control" };
    Some(Finding::warn(format!(
        "id \"{}\" holds byte {byte:#04x} ({what}){also}: Chromium will not reconnect with it as \
         Last-Event-ID, the stream ends in error (readyState CLOSED); use ids from a printable \
         alphabet (e.g. EPOCH-SEQ)",
        show(id, 40)
    )))
}

/// The first byte of `id` that Chromium's EventSource will not reconnect with: a C0 control
/// other than tab, or DEL. (NUL never reaches an event's id: the parser ignores that line.)
fn browser_unsafe_byte(id: &str) -> Option<u8> {
    id.bytes().find(|&b| (b < 0x20 && b != b'\t') || b == 0x7f)
}

fn f06(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(on_stream(ctx, |b: &Baseline| {
        let bad: Vec<String> = captures(b)
            .flat_map(|c| c.ignored.iter())
            .filter(|(r, _)| *r == IgnoreReason::InvalidRetry)
            .map(|(_, line)| show(line, 40))
            .collect();
        if let Some(first) = bad.first() {
            return Finding::violation(format!("`{first}` is not digits-only: clients ignore it"));
        }
        match b.a.retries.first() {
            Some(r) => Finding::pass(format!("retry: {}", r.value)),
            None => Finding::pass("no retry field (nothing to check)"),
        }
    }))
}

/// F07's payloads: (name, what is published, what a spec client must reconstruct).
pub fn payloads() -> Vec<(&'static str, String, String)> {
    let big: String = "0123456789abcdef".repeat(4096);
    vec![
        ("LF", "line1\nline2".into(), "line1\nline2".into()),
        ("CRLF", "a\r\nb".into(), "a\nb".into()),
        ("lone CR", "lone\rcr".into(), "lone\ncr".into()),
        (
            "leading space",
            " leading space".into(),
            " leading space".into(),
        ),
        ("trailing LF", "trailing\n".into(), "trailing\n".into()),
        ("colons", "key: value: x".into(), "key: value: x".into()),
        ("NUL", "nul\0byte".into(), "nul\0byte".into()),
        ("empty line", "a\n\nb".into(), "a\n\nb".into()),
        ("64 KiB", big.clone(), big),
    ]
}

fn f07(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(async move {
        let Some(publisher) = ctx.target.publish.clone() else {
            return Finding::skip("needs --publish to send the test payloads");
        };
        let mut r = match ctx.send("F07 subscriber", ctx.sse_request()).await {
            Ok(r) if r.status.is_success() => r,
            Ok(r) => return Finding::skip(format!("stream status {}", r.status)),
            Err(e) => return Finding::skip(format!("cannot subscribe: {e}")),
        };
        let mut capture = Capture::new(&r);
        // Let the subscription register before publishing.
        capture
            .read_until(&mut r, Instant::now() + Duration::from_millis(200), |_| {
                false
            })
            .await;
        let tag = format!("ssekit-check {} f07", ctx.nonce);
        let sent = payloads();
        for (name, data, _) in &sent {
            if let Err(e) = publisher.publish(Some(&tag), data).await {
                return Finding::skip(format!("publishing the {name} payload failed: {e}"));
            }
        }
        let want = sent.len();
        let deadline = Instant::now() + ctx.timeout();
        capture
            .read_until(&mut r, deadline, |c| {
                c.events
                    .iter()
                    .filter(|e| e.value.event_type == tag)
                    .count()
                    >= want
            })
            .await;
        let got: Vec<&str> = capture
            .events
            .iter()
            .filter(|e| e.value.event_type == tag)
            .map(|e| e.value.data.as_str())
            .collect();
        let mut problems = Vec::new();
        let mut altered = Alterations::default();
        // A hook that drops the event type still delivers: find each payload by its content.
        let untyped = got.is_empty();
        let mut found = 0;
        let all: Vec<&str> = capture
            .events
            .iter()
            .map(|e| e.value.data.as_str())
            .collect();
        for (i, (name, data, expected)) in sent.iter().enumerate() {
            let g = if untyped {
                recognise(&all, data, expected)
            } else {
                got.get(i).copied()
            };
            found += usize::from(g.is_some());
            match g {
                Some(g) if g == expected => altered.add(Fidelity::Exact),
                Some(g) => {
                    altered.add(how_altered(data, expected, g));
                    problems.push(format!("{name}: got {:?}", show(g, 40)));
                }
                None => problems.push(format!("{name}: not received")),
            }
        }
        if let Some(note) = altered.note() {
            problems.insert(0, note);
        }
        if untyped && found > 0 {
            problems.insert(0, format!("the publish hook drops the event type (`{tag}` published, none arrived with it; payloads found by content)"));
        }
        if capture.mixed_in_block > 0 || capture.line_ends.stray().is_some() {
            problems.push(format!(
                "line ends inside events: {}",
                capture.line_ends.describe()
            ));
        }
        if problems.is_empty() {
            Finding::pass(format!(
                "{want} payloads (CR, LF, CRLF, leading space, NUL, 64 KiB) round-tripped"
            ))
        } else {
            Finding::violation(show(&problems.join("; "), 300))
        }
    })
}

fn f08(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(on_stream(ctx, |b: &Baseline| {
        let n: u64 = captures(b).map(|c| c.named_without_data).sum();
        if n > 0 {
            Finding::violation(format!(
                "{n} block(s) with `event:` and no `data:` (never dispatched)"
            ))
        } else {
            Finding::pass("every named event has data")
        }
    }))
}

fn f09(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(on_stream(ctx, |b: &Baseline| {
        let line = captures(b).map(|c| c.max_line).max().unwrap_or(0);
        let event = captures(b).map(|c| c.max_event).max().unwrap_or(0);
        let text = format!("longest line {line} B, largest event {event} B");
        if line > 1 << 20 || event > 1 << 20 {
            Finding::violation(format!("{text} (> 1 MiB)"))
        } else {
            Finding::pass(text)
        }
    }))
}

/// A rough classification of an id's shape.
pub fn id_shape(id: &str) -> &'static str {
    if id.is_empty() {
        "none"
    } else if id.bytes().all(|b| b.is_ascii_digit()) {
        "numeric"
    } else if id.len() == 36 && id.bytes().filter(|b| *b == b'-').count() == 4 {
        "UUID"
    } else if split_seq(id).is_some() {
        "prefix + sequence (epoch-style)"
    } else {
        "opaque"
    }
}

/// `("EPOCH-", 17)` for ids that end in a decimal sequence number after a separator.
pub fn split_seq(id: &str) -> Option<(&str, u64)> {
    let digits = id.bytes().rev().take_while(u8::is_ascii_digit).count();
    if digits == 0 || digits == id.len() {
        return None;
    }
    let (prefix, seq) = id.split_at(id.len() - digits);
    if !prefix.ends_with(['-', ':', '_', '.']) {
        return None;
    }
    Some((prefix, seq.parse().ok()?))
}

fn f10(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(on_stream(ctx, |b: &Baseline| {
        let mut types: BTreeMap<&str, usize> = BTreeMap::new();
        for e in &b.a.events {
            *types.entry(e.value.event_type.as_str()).or_default() += 1;
        }
        let total = b.a.events.len();
        let with_id = b.a.events.iter().filter(|e| !e.value.id.is_empty()).count();
        let shape =
            b.a.events
                .iter()
                .find(|e| !e.value.id.is_empty())
                .map_or("none", |e| id_shape(&e.value.id));
        let types: Vec<String> = types.iter().map(|(t, n)| format!("{t}×{n}")).collect();
        Finding::info(format!(
            "{total} events; types: {}; ids on {with_id}/{total}; id format: {shape}; {} comments",
            if types.is_empty() {
                "none".into()
            } else {
                show(&types.join(", "), 80)
            },
            b.a.comments.len()
        ))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_shapes() {
        assert_eq!(id_shape("42"), "numeric");
        assert_eq!(id_shape("k3x9-17"), "prefix + sequence (epoch-style)");
        assert_eq!(split_seq("k3x9-17"), Some(("k3x9-", 17)));
        assert_eq!(split_seq("17"), None);
        assert_eq!(id_shape("123e4567-e89b-12d3-a456-426614174000"), "UUID");
    }

    fn capture_of(stream: &[u8]) -> Capture {
        let now = std::time::Instant::now();
        let mut c = Capture::starting(now, now);
        c.push(now, stream);
        c
    }

    #[test]
    fn ids_chromium_will_not_reconnect_with_are_warned() {
        assert_eq!(browser_unsafe_byte("1700000000-7"), None);
        assert_eq!(browser_unsafe_byte("a\tb é"), None);
        assert_eq!(browser_unsafe_byte("a\u{1b}[0m"), Some(0x1b));
        assert_eq!(browser_unsafe_byte("x\u{7f}"), Some(0x7f));

        let clean = capture_of(b"id: 1\ndata: a\n\nid: 2\tb\ndata: b\n\n");
        assert!(browser_unsafe_ids(std::iter::once(&clean)).is_none());
        let bad = capture_of(b"id: 1\x01x\ndata: a\n\ndata: b\n\nid: \x7f\ndata: c\n\n");
        let finding = browser_unsafe_ids(std::iter::once(&bad)).unwrap();
        assert_eq!(finding.verdict, crate::checks::Verdict::Warn);
        let text = &finding.observed;
        assert!(
            text.contains(r#"id "1\u{1}x" holds byte 0x01 (a C0 control)"#),
            "{text}"
        );
        assert!(text.contains("2 more event(s)"), "{text}");
        assert!(text.contains("Chromium will not reconnect"), "{text}");
    }
}
