//! What stands between the runner and the server, named once. A stream that is cut, held back
//! or served from a cache usually says more about a proxy, a cache or a compression layer
//! than about the server; the checks that depend on a working stream read the cause from here
//! instead of each timing out, or each blaming the server for it, on its own.
//!
//! Nothing here sends a request: the context gathers the observations (the baseline, the
//! streams the server ended) and this module classifies them.

use std::time::Duration;

use http::HeaderMap;

use crate::capture::{Capture, End};

/// A silence this long before a close between events is the mark of an idle timeout: servers
/// that end a stream on purpose do it right after their last event.
pub const IDLE_CUT_SILENCE: Duration = Duration::from_secs(1);

/// How a stream the server (or something in front of it) ended, judged by the event grammar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Close {
    /// Inside an event: the client discards it (HTML §9.2.6), so the last event is lost.
    MidEvent,
    /// Between events but inside a line (a comment or stray bytes without their line end).
    MidLine,
    /// Between events after `silence` without a byte: an idle timeout cut it.
    Idle {
        /// Time from the last byte (or the head) to the close.
        silence: Duration,
        /// Whether the body ended cleanly (EOF) or the connection broke.
        clean: bool,
    },
    /// Between events, right after data: a deliberate end, or an error.
    Between {
        /// The connection error, when it was not a clean EOF.
        error: Option<String>,
    },
}

impl Close {
    /// How `capture` ended, or `None` while it is still open.
    pub fn of(capture: &Capture) -> Option<Close> {
        let (at, pending, error) = match &capture.end {
            End::Open => return None,
            End::Eof(at, pending) => (*at, pending, None),
            End::Error(at, error, pending) => (*at, pending, Some(error.clone())),
        };
        if pending.incomplete_event {
            return Some(Close::MidEvent);
        }
        if pending.incomplete_line {
            return Some(Close::MidLine);
        }
        let last = capture.reads.last().map_or(capture.head_at, |r| r.at);
        let silence = at.saturating_duration_since(last);
        if silence >= IDLE_CUT_SILENCE {
            return Some(Close::Idle {
                silence,
                clean: error.is_none(),
            });
        }
        Some(Close::Between { error })
    }
}

/// Shows a duration in seconds with one decimal (`3.0 s`).
pub fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// The sentence that names an idle cut and its fix, in the words of the usual suspects.
pub fn idle_cut_cause(silence: Duration) -> String {
    let half = (silence / 2).max(Duration::from_millis(500));
    format!(
        "closed between events after {} of silence: an idle timeout cut it (a proxy's read or \
         idle timeout: nginx `proxy_read_timeout`, HAProxy `timeout server`/`timeout tunnel`, \
         Varnish `between_bytes_timeout`, Squid `read_timeout`, Apache `ProxyTimeout`, a load \
         balancer's idle timeout; or the server's own). Send a `:` comment at least every {} on \
         idle streams, or raise that timeout",
        secs(silence),
        secs(half)
    )
}

/// Response headers that show a cache answered or handled the request, as `name: value`.
pub fn cache_evidence(headers: &HeaderMap) -> Vec<String> {
    const CACHE_HEADERS: [&str; 6] = [
        "age",
        "x-cache",
        "x-cache-status",
        "x-varnish",
        "cf-cache-status",
        "x-proxy-cache",
    ];
    let mut found: Vec<String> = CACHE_HEADERS
        .iter()
        .filter_map(|name| {
            let value = headers.get(*name)?.to_str().unwrap_or("<non-ASCII>");
            Some(format!("{name}: {value}"))
        })
        .collect();
    // `Via` names every intermediary; only those that say they cache are evidence.
    for via in headers.get_all("via") {
        let text = via.to_str().unwrap_or("");
        let lower = text.to_ascii_lowercase();
        if ["varnish", "cache", "squid", "cloudfront"]
            .iter()
            .any(|k| lower.contains(k))
        {
            found.push(format!("via: {text}"));
        }
    }
    found
}

/// True when the evidence says the answer came out of a cache (a hit, or a positive `Age`).
pub fn served_from_cache(headers: &HeaderMap) -> bool {
    let age = headers
        .get("age")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if age.is_some_and(|a| a > 0) {
        return true;
    }
    let hit = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_uppercase().contains("HIT"))
    };
    // Varnish puts two transaction ids in `X-Varnish` exactly when it answered from cache.
    let varnish_hit = headers
        .get("x-varnish")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split_whitespace().count() >= 2);
    hit("x-cache") || hit("x-cache-status") || hit("cf-cache-status") || varnish_hit
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    fn closed(reads: &[(u64, &[u8])], end_ms: u64, error: bool) -> Close {
        let t0 = Instant::now();
        let mut c = Capture::starting(t0, t0);
        for (ms, bytes) in reads {
            c.push(t0 + Duration::from_millis(*ms), bytes);
        }
        let at = t0 + Duration::from_millis(end_ms);
        if error {
            c.error(at, "connection reset".into());
        } else {
            c.eof(at);
        }
        Close::of(&c).expect("ended")
    }

    #[test]
    fn a_close_is_judged_by_where_it_falls() {
        assert_eq!(closed(&[(10, b"data: a\n")], 20, false), Close::MidEvent);
        assert_eq!(closed(&[(10, b"data: a\n")], 20, true), Close::MidEvent);
        assert_eq!(
            closed(&[(10, b"data: a\n\n: x")], 20, false),
            Close::MidLine
        );
        assert_eq!(
            closed(&[(10, b"data: a\n\n")], 3010, true),
            Close::Idle {
                silence: Duration::from_secs(3),
                clean: false
            }
        );
        assert_eq!(
            closed(&[(10, b"data: a\n\n")], 20, false),
            Close::Between { error: None }
        );
    }

    #[test]
    fn cache_evidence_is_read_from_the_usual_headers() {
        let mut h = HeaderMap::new();
        h.insert("via", "1.1 varnish (Varnish/7.1)".parse().unwrap());
        h.insert("x-varnish", "32770 3".parse().unwrap());
        h.insert("age", "0".parse().unwrap());
        assert_eq!(cache_evidence(&h).len(), 3);
        assert!(served_from_cache(&h), "two X-Varnish ids are a hit");
        let mut miss = HeaderMap::new();
        miss.insert("x-varnish", "32770".parse().unwrap());
        miss.insert("via", "1.1 nginx".parse().unwrap());
        assert!(!served_from_cache(&miss));
        assert_eq!(cache_evidence(&miss), ["x-varnish: 32770"]);
    }

    #[test]
    fn idle_cut_advice_halves_the_silence() {
        let text = idle_cut_cause(Duration::from_secs(3));
        assert!(text.contains("after 3.0 s of silence"), "{text}");
        assert!(text.contains("every 1.5 s"), "{text}");
    }
}
