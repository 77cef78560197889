//! What the runner met, named once. First, before any check, what the stream URL answered:
//! an event stream, an answer that is not one (a page, a JSON document, an error status), no
//! answer (held or stalled), or nothing to talk to at all (a dead endpoint, a TLS refusal); see
//! [`FirstAnswer`]. Then what stands between the runner and the server: a stream that is cut,
//! held back or served from a cache usually says more about a proxy, a cache or a compression
//! layer than about the server. The checks that depend on a working stream read the cause from
//! here instead of each timing out, or each blaming the server for it, on its own.
//!
//! Nothing here sends a request: the context gathers the observations (the baseline, the
//! streams the server ended) and this module classifies them.

use std::fmt;
use std::time::Duration;

use http::{HeaderMap, Method, StatusCode};

use crate::capture::{Capture, End};
use crate::checks::{http::content_type_problem, show};
use crate::probe::ProbeError;
use crate::profiles::{mcp, Protocol};

/// What the first request to the stream URL met, classified once before the checks run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirstAnswer {
    /// An event stream opened, or an answer the protocol allows (an MCP server's JSON body).
    /// It may still deliver nothing to a browser: H14 and [`crate::context::Ctx::blocked`]
    /// name a compressor that holds it.
    Stream,
    /// The server answered, but not with an event stream: the checks of the answer itself
    /// judge it, every check that needs a stream SKIPs with the cause.
    NotAStream(NotAStream),
    /// The server was reached but sent no usable response head (held back, stalled, or a
    /// connection that broke): H01 fails with the cause.
    NoAnswer(String),
    /// Nothing to talk to: a dead endpoint, a TLS refusal, a proxy that will not carry the
    /// request. The run cannot judge the server at all.
    Unreachable(String),
}

/// An answer that is not an event stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAStream {
    /// The status of the final response.
    pub status: StatusCode,
    /// What was answered: `answered 404 application/json`.
    pub answered: String,
    /// What was answered, what it means and what to do.
    pub cause: String,
}

impl NotAStream {
    /// The check whose rule the answer breaks: H01 for a status other than 200 (EventSource
    /// stops there), H02 for a 200 of another type.
    pub fn reported_by(&self) -> &'static str {
        match self.status {
            StatusCode::OK => "H02",
            _ => "H01",
        }
    }

    /// Why a check that needs a stream has nothing to judge (the whole cause is the
    /// reporting check's).
    pub fn skip_reason(&self) -> String {
        format!(
            "no event stream to judge: the URL {} (see {})",
            self.answered,
            self.reported_by()
        )
    }
}

/// Why the first look got no response to judge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoResponse {
    /// The runner could not talk to the server (see [`unreachable`]).
    Unreachable(String),
    /// The server took the request and gave no usable response head.
    Withheld(String),
}

impl fmt::Display for NoResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoResponse::Unreachable(why) | NoResponse::Withheld(why) => f.write_str(why),
        }
    }
}

/// The first response, as far as telling an event stream from anything else needs.
#[derive(Debug, Clone, Copy)]
pub struct Answer<'a> {
    /// Status of the final response (after redirects).
    pub status: StatusCode,
    /// Its headers.
    pub headers: &'a HeaderMap,
    /// Its body, as far as the first look read it.
    pub body: &'a Capture,
    /// The body's first bytes as received.
    pub body_start: &'a [u8],
    /// Redirects followed before it.
    pub redirects: usize,
    /// The method that asked for the stream.
    pub method: &'a Method,
    /// The protocol profile, if any.
    pub protocol: Option<Protocol>,
}

/// Why `answer` is not an event stream, or `None` when it is one (or one the protocol allows
/// instead: an MCP server may answer with one JSON body). A 200 whose Content-Type is wrong
/// but whose body parses as events is still a stream: H02 fails it, the other checks judge it.
pub fn not_a_stream(answer: &Answer<'_>) -> Option<NotAStream> {
    let ok = answer.status == StatusCode::OK;
    let wrong_type = content_type_problem(answer.headers).is_some();
    let json_allowed =
        answer.protocol == Some(Protocol::Mcp) && ok && mcp::answered_json(answer.headers);
    if ok && (!wrong_type || json_allowed || answer.body.parsed_anything()) {
        return None;
    }
    let essence = mcp::content_type(answer.headers)
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let code = answer.status.as_u16();
    let answered = match essence.as_str() {
        "" => format!("answered {code} with no Content-Type"),
        e => format!("answered {code} {e}"),
    };
    let html = essence == "text/html";
    let json = essence == "application/json" || essence.ends_with("+json");
    // The body's first line tells a JSON error or a plain-text message; a page's is noise,
    // and so are compressed bytes.
    let coded = answer
        .headers
        .get(http::header::CONTENT_ENCODING)
        .is_some_and(|e| !e.as_bytes().eq_ignore_ascii_case(b"identity"));
    let text = String::from_utf8_lossy(answer.body_start);
    let line = text.lines().map(str::trim).find(|l| !l.is_empty());
    let body = match line {
        Some(line) if !html && !coded => format!(" (body: {})", show(line, 100)),
        None if answer.body.bytes == 0 && answer.body.ended_by_server() => " (empty body)".into(),
        _ => String::new(),
    };
    let after = match answer.redirects {
        0 => String::new(),
        n => format!(" after {n} redirect(s)"),
    };
    let what = match code {
        200 if html => "this URL serves a page, not an event stream; point at the stream endpoint \
                        (the URL the page's `new EventSource(…)` opens)"
            .to_owned(),
        200 if json => match answer.protocol {
            Some(Protocol::OpenAi | Protocol::Anthropic) => {
                "a whole completion as one JSON document, not an event stream; ask for a \
                 stream in the request body (`\"stream\": true` in --data)"
                    .to_owned()
            }
            _ => "this URL serves a JSON document, not an event stream; point at the stream \
                  endpoint"
                .to_owned(),
        },
        200 => "nothing in the first look parsed as events, and EventSource accepts only \
                `Content-Type: text/event-stream`; point at the stream endpoint"
            .to_owned(),
        204 => "204 No Content tells EventSource to stop for good (the answer for a stream that \
                is over); point at a live stream"
            .to_owned(),
        300..=399 => "the redirects do not end in a stream (see H12); point at the stream \
                      endpoint itself"
            .to_owned(),
        400 => {
            "the server calls the request malformed; check --header, --method and --data".to_owned()
        }
        401 => "the server wants credentials; pass them with --header (e.g. `--header \
                'Authorization: Bearer …'` or a Cookie)"
            .to_owned(),
        403 => "the server refuses this client; check the credentials given with --header, and \
                any IP or origin restriction"
            .to_owned(),
        404 => "nothing is served at this path; point at the stream endpoint".to_owned(),
        405 => {
            let allow = answer
                .headers
                .get(http::header::ALLOW)
                .and_then(|v| v.to_str().ok())
                .map(|a| format!(" (Allow: {a})"))
                .unwrap_or_default();
            format!(
                "the URL does not take {}{allow}; point at the stream endpoint, or set --method",
                answer.method
            )
        }
        406 => "the server will not answer `Accept: text/event-stream` here; point at the \
                stream endpoint"
            .to_owned(),
        410 => "the URL is gone; point at the stream endpoint".to_owned(),
        415 => "the server does not take this request body's type; check --content-type".to_owned(),
        429 => "the server (or a gateway) is rate-limiting the runner; wait, or raise the limit \
                for this client"
            .to_owned(),
        502..=504 => "a gateway in front of the server got no good answer from it; is the \
                      server behind it running?"
            .to_owned(),
        500..=599 => "the server failed; its log says why".to_owned(),
        _ => "EventSource opens a stream only on a 200; point at the stream endpoint".to_owned(),
    };
    Some(NotAStream {
        status: answer.status,
        cause: format!("{answered}{after}{body}: {what}"),
        answered: format!("{answered}{after}"),
    })
}

/// The sentence for a request that reached nothing to judge, or `None` when the failure came
/// from the server (a stall, a broken response: H01 judges those). `addr` names where the
/// runner connects: the URL's `host:port`, or the forward proxy carrying the request.
pub fn unreachable(error: &ProbeError, addr: &str) -> Option<String> {
    use std::io::ErrorKind;
    match error {
        ProbeError::Connect { addr, source } => {
            let host = addr.rsplit_once(':').map_or(addr.as_str(), |(h, _)| h);
            // A resolver failure is the one connect error with no OS error number behind it.
            let dns = host.parse::<std::net::IpAddr>().is_err() && source.raw_os_error().is_none();
            Some(match source.kind() {
                _ if dns => format!(
                    "the host name {host} does not resolve ({source}); check its spelling in the \
                     URL, or this machine's DNS"
                ),
                ErrorKind::ConnectionRefused => format!(
                    "nothing listens on {addr} (connection refused); start the server, or check \
                     the host and port in the URL"
                ),
                _ => format!(
                    "cannot connect to {addr} ({source}); check the address, and the network \
                     route and firewalls between this machine and the server"
                ),
            })
        }
        ProbeError::Timeout(t, "the TCP connection") => Some(format!(
            "{addr} did not accept a connection within {:.1} s: a firewall drops the packets, \
             or the address is wrong (is the server listening on that interface?)",
            t.as_secs_f64()
        )),
        ProbeError::Tls(_) | ProbeError::Proxy(_) | ProbeError::UnsupportedUrl(_) => {
            Some(error.to_string())
        }
        ProbeError::Timeout(..)
        | ProbeError::NoHeadAnymore { .. }
        | ProbeError::Http(_)
        | ProbeError::Header(_) => None,
    }
}

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

/// How a gzip compressor keeps a stream from a browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GzipStall {
    /// One gzip stream, never flushed: the events wait in the compressor.
    Held,
    /// A new gzip member per write: browsers read the first and drop the rest.
    Members,
}

/// The compressor a gzip body names by the file name in its header, with its fix in its own
/// terms; `None` for a compressor the runner cannot tell apart from the others.
///
/// Django's `GZipMiddleware` pads the header's file name with a random run of 1 to 99 `a`s
/// (its defence against BREACH), a name no other compressor writes. On a sync
/// `StreamingHttpResponse` it never flushes; on an async one (ASGI) it compresses each chunk
/// as a gzip file of its own.
///
/// ```
/// use ssekit_check::diagnosis::{gzip_compressor, GzipStall};
///
/// let django = b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
/// assert!(gzip_compressor(django, GzipStall::Held).unwrap().contains("#36293"));
/// assert!(gzip_compressor(django, GzipStall::Members).unwrap().contains("async"));
/// assert_eq!(gzip_compressor(b"events.log", GzipStall::Held), None);
/// ```
pub fn gzip_compressor(file_name: &[u8], stall: GzipStall) -> Option<&'static str> {
    let django =
        !file_name.is_empty() && file_name.len() < 100 && file_name.iter().all(|&b| b == b'a');
    if !django {
        return None;
    }
    Some(match stall {
        GzipStall::Held => {
            "Django's `GZipMiddleware` (the gzip header's file name is the run of `a`s it pads \
             with against BREACH): it compresses a `StreamingHttpResponse` without ever flushing \
             (Django ticket #36293; 5.2 LTS has no fix), so events wait in zlib's buffer until \
             many kilobytes of them fill it. Hand event streams back uncompressed (a \
             `GZipMiddleware` subclass whose `process_response` returns `text/event-stream` \
             responses untouched) or run a Django release with the fix for #36293"
        }
        GzipStall::Members => {
            "Django's `GZipMiddleware` (the gzip header's file name is the run of `a`s it pads \
             with against BREACH) on an async `StreamingHttpResponse` (ASGI): it compresses \
             every chunk as a complete gzip file of its own. Hand event streams back \
             uncompressed: a `GZipMiddleware` subclass whose `process_response` returns \
             `text/event-stream` responses untouched"
        }
    })
}

/// Why a server that answered the stream promptly leaves a later request for it without a
/// response head: it has no worker left. Named for the server its `Server` header names.
///
/// ```
/// use ssekit_check::diagnosis::out_of_workers;
///
/// assert!(out_of_workers(Some("gunicorn")).contains("--threads"));
/// assert!(out_of_workers(None).contains("fixed pool"));
/// ```
pub fn out_of_workers(server: Option<&str>) -> String {
    let how = match server.map(str::to_ascii_lowercase) {
        Some(s) if s.starts_with("gunicorn") => {
            "gunicorn holds a whole worker (the default sync class: `--workers`, 1 unless set) \
             or one of a worker's threads (`-k gthread`: `--threads`) for every open stream: \
             serve streams from an async worker class (an ASGI app under \
             `-k uvicorn.workers.UvicornWorker`, with an async generator), or size workers × \
             threads above the streams you expect"
        }
        _ => {
            "serve streams without a worker each (an async server), or size the pool (gunicorn \
             `--threads`, Puma threads, PHP-FPM `pm.max_children`, Tomcat `maxThreads`, Apache \
             `MaxRequestWorkers`) above the streams you expect"
        }
    };
    format!(
        "the server took the connection but had no worker free to answer it. Each open stream \
         holds one of a fixed pool of threads or processes for its whole life, and one whose \
         client has gone is freed only when the server next writes to it (an event or a \
         heartbeat), so reconnecting browsers find the pool still taken by their own dead \
         streams; {how}"
    )
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

    fn answer_of(status: u16, content_type: Option<&str>, body: &[u8]) -> Option<NotAStream> {
        let mut headers = HeaderMap::new();
        if let Some(ct) = content_type {
            headers.insert("content-type", ct.parse().unwrap());
        }
        let t0 = Instant::now();
        let mut c = Capture::starting(t0, t0);
        if !body.is_empty() {
            c.push(t0, body);
        }
        c.eof(t0);
        not_a_stream(&Answer {
            status: StatusCode::from_u16(status).unwrap(),
            headers: &headers,
            body: &c,
            body_start: body,
            redirects: 0,
            method: &Method::GET,
            protocol: None,
        })
    }

    #[test]
    fn answers_that_are_not_streams_are_named_with_what_to_do() {
        let page = answer_of(200, Some("text/html"), b"<html>\n<body>x</body></html>").unwrap();
        assert_eq!(page.reported_by(), "H02");
        assert!(page
            .cause
            .starts_with("answered 200 text/html: this URL serves a page"));
        let missing = answer_of(404, Some("application/json"), br#"{"error":"no"}"#).unwrap();
        assert_eq!(missing.reported_by(), "H01");
        assert_eq!(
            missing.cause,
            r#"answered 404 application/json (body: {\"error\":\"no\"}): nothing is served at this path; point at the stream endpoint"#
        );
        let auth = answer_of(401, None, b"").unwrap();
        assert!(auth.cause.starts_with(
            "answered 401 with no Content-Type (empty body): the server wants credentials"
        ));
        assert!(answer_of(204, None, b"")
            .unwrap()
            .cause
            .contains("stop for good"));
        // Event streams, and events under the wrong type, are for the checks to judge.
        assert_eq!(answer_of(200, Some("text/event-stream"), b""), None);
        assert_eq!(answer_of(200, Some("text/plain"), b"data: x\n\n"), None);
        assert!(answer_of(200, Some("text/plain"), b"hello").is_some());
    }

    #[test]
    fn dead_endpoints_are_named_by_host_and_port() {
        let refused = ProbeError::Connect {
            addr: "127.0.0.1:9".into(),
            source: std::io::ErrorKind::ConnectionRefused.into(),
        };
        let text = unreachable(&refused, "127.0.0.1:9").unwrap();
        assert!(text.starts_with("nothing listens on 127.0.0.1:9"), "{text}");
        let dns = ProbeError::Connect {
            addr: "sse.invalid:443".into(),
            source: std::io::Error::other("failed to lookup address information"),
        };
        let text = unreachable(&dns, "sse.invalid:443").unwrap();
        assert!(
            text.starts_with("the host name sse.invalid does not resolve"),
            "{text}"
        );
        let silent = ProbeError::Timeout(Duration::from_secs(5), "the TCP connection");
        let text = unreachable(&silent, "10.1.2.3:443").unwrap();
        assert!(
            text.starts_with("10.1.2.3:443 did not accept a connection within 5.0 s"),
            "{text}"
        );
        // A server that took the request and then stalled is judged, not "could not run".
        let held = ProbeError::Timeout(Duration::from_secs(5), "the response headers");
        assert_eq!(unreachable(&held, "10.1.2.3:443"), None);
    }

    #[test]
    fn idle_cut_advice_halves_the_silence() {
        let text = idle_cut_cause(Duration::from_secs(3));
        assert!(text.contains("after 3.0 s of silence"), "{text}");
        assert!(text.contains("every 1.5 s"), "{text}");
    }
}
