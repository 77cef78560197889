//! H: the HTTP response (status, headers, HTTP/2, compression, redirects, other methods).

use std::time::{Duration, Instant};

use http::{HeaderMap, Method, StatusCode};

use super::{on_stream, show, Basis, Check, Finding, Level, Phase};
use crate::context::{Baseline, Ctx};
use crate::diagnosis::FirstAnswer;
use crate::h2raw;
use crate::probe::{self, Next, ProbeError, Proto, Request};
use crate::target::BoxFuture;

/// The H group.
pub fn checks() -> Vec<Check> {
    vec![
        Check {
            id: "H01",
            level: Level::Must,
            basis: Basis::Spec,
            title: "status is 200",
            reference: "HTML §9.2.2 step 15; WPT eventsource/request-status-error",
            browser: "Any status other than 200 fails the connection: EventSource goes CLOSED and never reconnects.",
            fix: "Answer the stream with 200 and send the head at once; use 204 only to tell clients to stop for good. When no head came at all, the observation names what held it (compression, a buffering proxy or cache) and its setting.",
            phase: Phase::Main,
            run: h01,
        },
        Check {
            id: "H02",
            level: Level::Must,
            basis: Basis::Spec,
            title: "Content-Type essence is text/event-stream",
            reference: "HTML §9.2.2; whatwg/html#7630; WPT format-mime-bogus",
            browser: "EventSource fails the connection (CLOSED, plain `error` event) and does not reconnect.",
            fix: "Send exactly one `Content-Type: text/event-stream` (parameters such as charset=utf-8 are fine).",
            phase: Phase::Main,
            run: h02,
        },
        Check {
            id: "H03",
            level: Level::Should,
            basis: Basis::Practice,
            title: "charset absent or utf-8",
            reference: "HTML §9.2.5; WPT format-utf-8",
            browser: "The charset is ignored and the stream decoded as UTF-8: the header misleads other tools.",
            fix: "Drop the charset parameter or send `charset=utf-8`, and encode the stream as UTF-8.",
            phase: Phase::Main,
            run: h03,
        },
        Check {
            id: "H04",
            level: Level::Should,
            basis: Basis::Practice,
            title: "not cacheable (Cache-Control no-store/no-cache), no cache in the path",
            reference: "HTML §9.2.2 step 11 (cache mode no-store)",
            browser: "Proxies and CDNs may cache or coalesce the stream and replay stale events to other users.",
            fix: "Send `Cache-Control: no-store` and no max-age, Expires or ETag on the stream.",
            phase: Phase::Main,
            run: h04,
        },
        Check {
            id: "H05",
            level: Level::Should,
            basis: Basis::Practice,
            title: "no Content-Length on an endless stream",
            reference: "HTML §9.2.7 chunking note; RFC 9112 §6",
            browser: "A length-delimited body ends (or is buffered by proxies) after that many bytes; clients reconnect in a loop.",
            fix: "Do not set Content-Length; let the server use chunked encoding (HTTP/1.1) or DATA frames (HTTP/2).",
            phase: Phase::Main,
            run: h05,
        },
        Check {
            id: "H06",
            level: Level::Must,
            basis: Basis::Spec,
            title: "HTTP/2 response has no connection-specific headers",
            reference: "RFC 9113 §8.2.2; nestjs/nest#17588; hologram#1262",
            browser: "The HTTP/2 response is malformed: Safari and strict clients reset the stream (ERR_HTTP2_PROTOCOL_ERROR).",
            fix: "Never send Connection, Keep-Alive, Transfer-Encoding, Upgrade, Proxy-Connection, or TE other than trailers, over HTTP/2.",
            phase: Phase::Main,
            run: h06,
        },
        Check {
            id: "H07",
            level: Level::Should,
            basis: Basis::Practice,
            title: "no compression, or compression flushed per event",
            reference: "tower-http#419; starlette PR #2753; expressjs/compression#17",
            browser: "Events sit in the compressor's buffer: EventSource sees nothing until kilobytes pile up.",
            fix: "Exclude text/event-stream from compression middleware, or flush the compressor after every event.",
            phase: Phase::Main,
            run: h07,
        },
        Check {
            id: "H08",
            level: Level::Info,
            basis: Basis::Recommendation,
            title: "X-Accel-Buffering header",
            reference: "django-eventstream#37; nginx proxy_buffering",
            browser: "Behind nginx with buffering on, events arrive in bursts or not at all.",
            fix: "Send `X-Accel-Buffering: no` if the server may sit behind nginx.",
            phase: Phase::Main,
            run: h08,
        },
        Check {
            id: "H09",
            level: Level::Should,
            basis: Basis::Practice,
            title: "headers within 1 s with no event pending",
            reference: "HTML §9.2.3 \"announce the connection\"",
            browser: "EventSource stays CONNECTING and never fires `open` until the first event.",
            fix: "Send and flush the response head at once, before any event exists.",
            phase: Phase::Main,
            run: h09,
        },
        Check {
            id: "H10",
            level: Level::Should,
            basis: Basis::Practice,
            title: "\"gone\" URL answers 204, not 200 + EOF",
            reference: "HTML §9.2.2 (204 stops reconnection); a 200 that ends at once is a reconnect loop",
            browser: "200 followed by EOF makes EventSource reconnect forever: a reconnect loop.",
            fix: "Answer streams that are over for good with 204 No Content.",
            phase: Phase::Main,
            run: h10,
        },
        Check {
            id: "H11",
            level: Level::Should,
            basis: Basis::Practice,
            title: "no 5xx / 429 on the stream URL",
            reference: "WPT request-status-error (503 -> CLOSED)",
            browser: "A 5xx or 429 kills EventSource permanently; the user must reload the page.",
            fix: "For transient conditions, close the stream (clients reconnect) or refuse at the TCP/LB level.",
            phase: Phase::Summary,
            run: h11,
        },
        Check {
            id: "H12",
            level: Level::Must,
            basis: Basis::Spec,
            title: "redirects (at most 20, as Fetch follows) end in a valid stream",
            reference: "Fetch §4.4 HTTP-redirect fetch (20 redirects at most); WPT request-redirect",
            browser: "A redirect loop or a final non-stream response fails the connection for good.",
            fix: "Redirect at most a few hops to the real stream URL (same origin, or with CORS).",
            phase: Phase::Main,
            run: h12,
        },
        Check {
            id: "H13",
            level: Level::Should,
            basis: Basis::Practice,
            title: "OPTIONS, HEAD and POST answered sanely",
            reference: "RFC 9110 §9 (methods), §15.5.6 (405 with Allow), §15.6.2 (501 for a method not implemented)",
            browser: "Preflights and health probes that crash (5xx) or hang pin sockets and hide real errors.",
            fix: "Answer 405 with `Allow` (or 501 for a method the server never implements), or 200/204 for OPTIONS; never open a stream for HEAD.",
            phase: Phase::Main,
            run: h13,
        },
        Check {
            id: "H14",
            level: Level::Must,
            basis: Basis::Spec,
            title: "a browser's request (with Accept-Encoding) gets the stream, not a compressor's buffer",
            reference: "Fetch §4.6 (a browser's request carries Accept-Encoding); HTML §9.2.5 (the stream is parsed as it arrives)",
            browser: "The EventSource opens and then never receives an event: the compressed bytes wait in the server's buffer.",
            fix: "Exclude text/event-stream from compression, or flush the compressor after every event (express: `res.flush()`; nginx: `gzip off` in the stream's location).",
            phase: Phase::Main,
            run: h14,
        },
    ]
}

fn h14(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(async move {
        if let Err(e) = ctx.baseline().await {
            return Finding::skip(format!("no response: {e}"));
        }
        if ctx.opts.shape == crate::context::Shape::Bare {
            return Finding::skip("--bare-request: the runner sent no Accept-Encoding");
        }
        match ctx.compression_stall().await {
            crate::context::Stall::Compressed(cause) => Finding::violation(cause.clone()),
            crate::context::Stall::None(seen) => Finding::pass(seen.clone()),
        }
    })
}

/// All values of a header, as text.
pub fn values<'a>(headers: &'a HeaderMap, name: &str) -> Vec<&'a str> {
    headers
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap_or("<non-ASCII>"))
        .collect()
}

/// The single value of a header, if exactly one.
pub fn value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// MIME essence and parameters of a Content-Type value.
pub fn mime(value: &str) -> (String, Vec<(String, String)>) {
    let mut parts = value.split(';');
    let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let params = parts
        .filter_map(|p| {
            let (k, v) = p.split_once('=')?;
            Some((
                k.trim().to_ascii_lowercase(),
                v.trim().trim_matches('"').to_owned(),
            ))
        })
        .collect();
    (essence, params)
}

fn ms(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

fn h01(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(async move {
        match ctx.baseline().await {
            Err(e) => Finding::violation(format!("no response: {e}")),
            Ok(b) if b.status == StatusCode::OK => {
                Finding::pass(format!("200 after {}", ms(b.time_to_head)))
            }
            Ok(b) => Finding::violation(match ctx.first_answer().await {
                FirstAnswer::NotAStream(n) => n.cause.clone(),
                _ => format!("status {} (browsers close and never retry)", b.status),
            }),
        }
    })
}

/// Why a response's Content-Type is not an event stream (H02's rule, shared with B06).
pub fn content_type_problem(headers: &HeaderMap) -> Option<String> {
    let all = values(headers, "content-type");
    match all.as_slice() {
        [] => Some("no Content-Type header".into()),
        [one] => {
            let (essence, _) = mime(one);
            (essence != "text/event-stream").then(|| format!("Content-Type: {one}"))
        }
        many => Some(format!(
            "{} Content-Type headers: {}",
            many.len(),
            many.join(" | ")
        )),
    }
}

fn h02(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(async move {
        match ctx.baseline().await {
            Err(e) => Finding::skip(format!("no response: {e}")),
            // MCP lets a server answer any POST with JSON instead of a stream: not a wrong type.
            Ok(b) if ctx.answered_json(b) => Finding::pass(format!(
                "Content-Type: {}: MCP Streamable HTTP lets the server answer a POST with one \
                 JSON body instead of a stream (Sending Messages to the Server)",
                values(&b.headers, "content-type")[0]
            )),
            Ok(b) => match content_type_problem(&b.headers) {
                Some(problem) => Finding::violation(match ctx.first_answer().await {
                    FirstAnswer::NotAStream(n) => n.cause.clone(),
                    _ => problem,
                }),
                None => Finding::pass(format!(
                    "Content-Type: {}",
                    values(&b.headers, "content-type")[0]
                )),
            },
        }
    })
}

fn h03(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(on_stream(ctx, |b: &Baseline| {
        let Some(ct) = value(&b.headers, "content-type") else {
            return Finding::skip("no Content-Type (see H02)");
        };
        let (_, params) = mime(ct);
        match params.iter().find(|(k, _)| k == "charset") {
            None => Finding::pass("no charset parameter"),
            Some((_, v)) if v.eq_ignore_ascii_case("utf-8") => Finding::pass("charset=utf-8"),
            Some((_, v)) => {
                Finding::violation(format!("charset={v}, but clients always decode UTF-8"))
            }
        }
    }))
}

/// Problems that make a response cacheable, if any.
pub fn cache_problems(headers: &HeaderMap) -> Vec<String> {
    let mut problems = Vec::new();
    let cc = values(headers, "cache-control")
        .join(", ")
        .to_ascii_lowercase();
    let directives: Vec<&str> = cc.split(',').map(str::trim).collect();
    if !directives
        .iter()
        .any(|d| *d == "no-store" || *d == "no-cache")
    {
        problems.push(if cc.is_empty() {
            "no Cache-Control".to_owned()
        } else {
            format!("Cache-Control: {cc} (neither no-store nor no-cache)")
        });
    }
    for d in &directives {
        if let Some(age) = d
            .strip_prefix("max-age=")
            .or_else(|| d.strip_prefix("s-maxage="))
        {
            if age.trim_matches('"').parse::<u64>().is_ok_and(|a| a > 0) {
                problems.push(format!("positive {d}"));
            }
        }
    }
    for name in ["expires", "etag", "last-modified"] {
        if let Some(v) = value(headers, name) {
            problems.push(format!("{name}: {v}"));
        }
    }
    problems
}

fn h04(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(on_stream(ctx, |b: &Baseline| {
        let signs = b.cache_signs();
        if !signs.is_empty() {
            return Finding::violation(format!(
                "a cache handles the stream: {}. Keep text/event-stream out of it (Varnish \
                 `return (pass)` or `return (pipe)`, nginx `proxy_cache off` and \
                 `proxy_cache_lock off`, a CDN bypass rule); the server's own headers: {}",
                signs.join("; "),
                values(&b.headers, "cache-control").join(", ")
            ));
        }
        let problems = cache_problems(&b.headers);
        let in_path = crate::diagnosis::cache_evidence(&b.headers);
        let note = match in_path.is_empty() {
            true => String::new(),
            false => format!(
                "; a cache is in the path ({}) and did not answer from store",
                in_path.join(", ")
            ),
        };
        if problems.is_empty() {
            Finding::pass(format!(
                "Cache-Control: {}{note}",
                values(&b.headers, "cache-control").join(", ")
            ))
        } else {
            Finding::violation(problems.join("; "))
        }
    }))
}

fn h05(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(on_stream(ctx, |b: &Baseline| {
        let cl = value(&b.headers, "content-length");
        let te = value(&b.headers, "transfer-encoding");
        match (cl, te) {
            (Some(cl), Some(te)) => Finding::violation(format!(
                "Content-Length: {cl} together with Transfer-Encoding: {te} (a request-smuggling shape)"
            )),
            (Some(cl), None) => Finding::violation(format!("Content-Length: {cl} on an endless stream")),
            (None, Some(te)) => Finding::pass(format!("Transfer-Encoding: {te}, no Content-Length")),
            (None, None) => Finding::pass("no Content-Length (close-delimited or HTTP/2)"),
        }
    }))
}

/// Fetch's redirect limit (§4.4 HTTP-redirect fetch): one more is a network error.
pub const MAX_REDIRECTS: usize = 20;

/// Header names RFC 9113 §8.2.2 forbids in HTTP/2.
pub const H2_FORBIDDEN: [&str; 5] = [
    "connection",
    "keep-alive",
    "transfer-encoding",
    "upgrade",
    "proxy-connection",
];

fn h06(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(async move {
        if let Err(refused) = ctx.take_requests("H06", 1) {
            return Finding::skip(refused.to_string());
        }
        let req = ctx.sse_request().proto(Proto::H2c);
        match ctx.send("stream over h2c", req).await {
            Ok(mut r) => {
                let bad = connection_specific(r.headers.iter().map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes())));
                if !bad.is_empty() {
                    return Finding::violation(carries(&bad));
                }
                let first = r.next(Instant::now() + Duration::from_secs(2)).await;
                match first {
                    Next::Error(_, e) => Finding::violation(format!("HTTP/2 stream failed after the head: {e}")),
                    _ => Finding::pass(format!(
                        "{}: {} with no connection-specific headers",
                        if ctx.stream_url().scheme_str() == Some("https") { "h2 (TLS, ALPN)" } else { "h2c (prior knowledge)" },
                        r.status
                    )),
                }
            }
            Err(ProbeError::Http(e)) if is_malformed_h2(&e) => malformed_h2(ctx, &e).await,
            Err(e) => Finding::skip(format!(
                "the server does not speak HTTP/2 here (h2c prior knowledge for http://, ALPN h2 for https://): {e}"
            )),
        }
    })
}

/// hyper rejected the head and kept none of it: read it again raw to name the offending fields.
async fn malformed_h2(ctx: &Ctx, error: &str) -> Finding {
    let read_raw = async {
        ctx.take_requests("H06", 1).map_err(|e| e.to_string())?;
        h2raw::response_head(&ctx.sse_request(), ctx.timeout())
            .await
            .map_err(|e| e.to_string())
    };
    let fields = match read_raw.await {
        Ok(fields) => fields,
        Err(raw) => {
            return Finding::violation(format!(
                "the HTTP/2 response was rejected as malformed ({error}); a connection-specific header \
                 (Connection, Keep-Alive, Transfer-Encoding, Upgrade, Proxy-Connection) is the usual cause \
                 (reading the head raw to name it failed: {raw})"
            ))
        }
    };
    let bad = connection_specific(fields.iter().map(|f| (&f.name[..], &f.value[..])));
    if !bad.is_empty() {
        return Finding::violation(carries(&bad));
    }
    let names: Vec<String> = fields
        .iter()
        .map(|f| String::from_utf8_lossy(&f.name).into_owned())
        .collect();
    Finding::violation(format!(
        "the HTTP/2 response was rejected as malformed ({error}) though no field of its head is \
         connection-specific; another field breaks RFC 9113 §8.2 (uppercase name, pseudo-header): {}",
        show(&names.join(", "), 300)
    ))
}

fn carries(bad: &[String]) -> String {
    format!(
        "HTTP/2 response carries connection-specific header(s): {} (RFC 9113 §8.2.2)",
        bad.join(", ")
    )
}

/// The connection-specific fields of an HTTP/2 head as `name: value` (RFC 9113 §8.2.2): the
/// [`H2_FORBIDDEN`] names with any value, and `te` with anything but `trailers`. Names compare
/// without case, since a raw head may break the lowercase rule too.
pub fn connection_specific<'a>(
    fields: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
) -> Vec<String> {
    fields
        .into_iter()
        .filter(|(name, value)| {
            let te = name.eq_ignore_ascii_case(b"te")
                && !value.trim_ascii().eq_ignore_ascii_case(b"trailers");
            te || H2_FORBIDDEN
                .iter()
                .any(|f| name.eq_ignore_ascii_case(f.as_bytes()))
        })
        .map(|(name, value)| {
            format!(
                "{}: {}",
                show(&String::from_utf8_lossy(name), 40),
                show(&String::from_utf8_lossy(value), 80)
            )
        })
        .collect()
}

/// A stream-level PROTOCOL_ERROR raised by the client's own HTTP/2 validation (malformed head).
pub fn is_malformed_h2(error: &str) -> bool {
    let e = error.to_ascii_lowercase();
    e.contains("stream error") && (e.contains("protocol") || e.contains("malformed"))
}

fn h07(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(async move {
        let req = match ctx
            .sse_request()
            .header("accept-encoding", "gzip, deflate, br, zstd")
        {
            Ok(r) => r,
            Err(e) => return Finding::skip(e.to_string()),
        };
        let mut r = match ctx.send("stream with Accept-Encoding", req).await {
            Ok(r) if r.status == StatusCode::OK => r,
            Ok(r) => return Finding::skip(format!("status {} with Accept-Encoding", r.status)),
            Err(e) => return Finding::skip(format!("request failed: {e}")),
        };
        let encoding = value(&r.headers, "content-encoding")
            .unwrap_or("identity")
            .to_ascii_lowercase();
        if encoding == "identity" {
            return Finding::pass("identity encoding (no Content-Encoding)");
        }
        // The capture's decoder: every coding a browser accepts, each read as far as it goes.
        let Some(mut decoder) = crate::capture::BodyDecoder::new(&encoding) else {
            return Finding::warn(format!(
                "Content-Encoding: {encoding}, which no browser asked for (the request offered \
                 gzip, deflate, br, zstd): browsers fail to read it"
            ));
        };
        let marker = format!("ssekit-check {} h07", ctx.nonce);
        let budget = Duration::from_millis(250);
        let window = ctx.opts.timeout.min(Duration::from_secs(3));
        let started = Instant::now();
        if let Some(publisher) = &ctx.target.publish {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let _ = publisher.publish(None, &marker).await;
        }
        let published_at = Instant::now();
        let (mut raw, mut got) = (0usize, Vec::new());
        let deadline = started + window;
        while let Next::Data(read) = r.next(deadline).await {
            raw += read.bytes.len();
            let decoded = decoder.decode(&read.bytes, &mut |piece| {
                if got.len() < 1 << 20 {
                    got.extend_from_slice(piece);
                }
            });
            if let Err(e) = decoded {
                return Finding::violation(format!("Content-Encoding: {encoding}: {e}"));
            }
            let seen = if ctx.target.publish.is_some() {
                contains(&got, marker.as_bytes())
            } else {
                !got.is_empty()
            };
            if seen {
                let late = read.at - published_at;
                return if ctx.target.publish.is_some() && late > budget {
                    Finding::violation(format!(
                        "{encoding}: event decoded {} after publishing",
                        ms(late)
                    ))
                } else {
                    Finding::pass(format!(
                        "{encoding}, flushed: decoded output after {}",
                        ms(read.at - r.head_at)
                    ))
                };
            }
        }
        Finding::violation(format!(
            "Content-Encoding: {encoding}; {raw} compressed bytes but {} decoded bytes{} within {}: the compressor buffers",
            got.len(),
            if ctx.target.publish.is_some() { ", published event not seen" } else { "" },
            ms(window)
        ))
    })
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn h08(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(on_stream(ctx, |b: &Baseline| {
        match value(&b.headers, "x-accel-buffering") {
            Some(v) => Finding::info(format!("X-Accel-Buffering: {v}")),
            None => Finding::info(
                "no X-Accel-Buffering header; add `X-Accel-Buffering: no` if nginx may proxy this",
            ),
        }
    }))
}

fn h09(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(on_stream(ctx, |b: &Baseline| {
        if b.time_to_head <= Duration::from_secs(1) {
            Finding::pass(format!("headers after {}", ms(b.time_to_head)))
        } else {
            Finding::violation(format!("headers only after {}", ms(b.time_to_head)))
        }
    }))
}

fn h10(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(async move {
        let Some(url) = ctx.target.gone_url.clone() else {
            return Finding::skip("no \"gone\" URL given (--gone-url)");
        };
        let mut loops = 0;
        let mut seen = Vec::new();
        for _ in 0..3 {
            let req = ctx.sse_request_to(url.clone());
            let mut r = match probe::send(req, ctx.timeout()).await {
                Ok(r) => r,
                Err(e) => return Finding::violation(format!("the gone URL did not answer: {e}")),
            };
            if r.status != StatusCode::OK {
                let (body, _) = r
                    .body_text(Instant::now() + Duration::from_secs(1), 4096)
                    .await;
                seen.push(format!(
                    "{}{}",
                    r.status.as_u16(),
                    if body.is_empty() { "" } else { " with a body" }
                ));
                continue;
            }
            match r
                .body_text(Instant::now() + Duration::from_secs(1), 1 << 16)
                .await
            {
                (_, Next::Eof(_) | Next::Error(..)) => {
                    loops += 1;
                    seen.push("200 + EOF".into());
                }
                _ => {
                    return Finding::violation(
                        "the gone URL answers 200 and keeps streaming".to_owned(),
                    )
                }
            }
        }
        let seen = seen.join(", ");
        if loops > 0 {
            Finding::violation(format!("{seen}: EventSource would reconnect forever"))
        } else {
            Finding::pass(seen)
        }
    })
}

fn h11(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(async move {
        let statuses = ctx.statuses();
        let bad: Vec<String> = statuses
            .iter()
            // 501 answers a method the server does not implement (RFC 9110 §15.6.2): H13's
            // probes may draw it from a healthy server.
            .filter(|(_, s)| {
                (s.is_server_error() && *s != StatusCode::NOT_IMPLEMENTED)
                    || *s == StatusCode::TOO_MANY_REQUESTS
            })
            .map(|(what, s)| format!("{} on {what}", s.as_u16()))
            .collect();
        if bad.is_empty() {
            return Finding::pass(format!("{} stream responses, none 5xx/429", statuses.len()));
        }
        let mut list = bad.clone();
        list.dedup();
        Finding::violation(format!(
            "{} of {} responses: {}",
            bad.len(),
            statuses.len(),
            show(&list.join(", "), 200)
        ))
    })
}

fn h12(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(async move {
        let b = match ctx.baseline().await {
            Ok(b) => b,
            Err(e) => return Finding::skip(format!("no response: {e}")),
        };
        if b.redirects.is_empty() {
            return Finding::pass("not redirected");
        }
        let chain: Vec<String> = b
            .redirects
            .iter()
            .map(|(s, l)| format!("{} -> {l}", s.as_u16()))
            .collect();
        let chain = show(&chain.join(", "), 200);
        if b.redirects.len() > MAX_REDIRECTS {
            return Finding::violation(format!(
                "more than {MAX_REDIRECTS} redirects (a loop?): Fetch gives up and the browser \
                 fails the connection: {chain}"
            ));
        }
        if b.status != StatusCode::OK {
            return Finding::violation(format!("{chain}; final status {}", b.status));
        }
        if let Some(problem) = content_type_problem(&b.headers) {
            return Finding::violation(format!("{chain}; final {problem}"));
        }
        if b.redirects.len() > 5 {
            return Finding::warn(format!(
                "{} redirects before the stream: every reconnect pays each round trip again: {chain}",
                b.redirects.len()
            ));
        }
        Finding::pass(format!("{chain}; final 200 text/event-stream"))
    })
}

fn h13(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(async move {
        let url = ctx.stream_url();
        let mut notes = Vec::new();
        let mut bad = Vec::new();
        for method in [Method::OPTIONS, Method::HEAD, Method::POST] {
            let mut req = Request::new(method.clone(), url.clone(), &ctx.target.headers);
            if method == Method::OPTIONS {
                req.headers.insert(
                    "origin",
                    http::HeaderValue::from_static("https://runner.example"),
                );
                req.headers.insert(
                    "access-control-request-method",
                    http::HeaderValue::from_static("GET"),
                );
            }
            match ctx.send(&format!("{method} stream URL"), req).await {
                Err(e) => bad.push(format!("{method}: {e}")),
                Ok(mut r) => {
                    let status = r.status;
                    // 501 is the right answer for a method the server does not implement
                    // (RFC 9110 §15.6.2), like 405 for one this resource does not allow.
                    if status == StatusCode::NOT_IMPLEMENTED {
                        notes.push(format!("{method} 501 (not implemented)"));
                    } else if status.is_server_error() {
                        bad.push(format!("{method} -> {status}"));
                    } else if method == Method::HEAD {
                        match r.next(Instant::now() + Duration::from_secs(2)).await {
                            Next::Eof(_) | Next::Error(..) => {
                                notes.push(format!("HEAD {}", status.as_u16()))
                            }
                            _ => bad.push(format!(
                                "HEAD {} did not complete (a stream was opened)",
                                status.as_u16()
                            )),
                        }
                    } else if status == StatusCode::METHOD_NOT_ALLOWED
                        && !r.headers.contains_key("allow")
                    {
                        notes.push(format!("{method} 405 without Allow"));
                    } else {
                        notes.push(format!("{method} {}", status.as_u16()));
                    }
                }
            }
        }
        if bad.is_empty() {
            Finding::pass(notes.join(", "))
        } else {
            Finding::violation(format!("{}; {}", bad.join(", "), notes.join(", ")))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, http::HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn content_type_by_essence() {
        assert_eq!(
            content_type_problem(&headers(&[(
                "content-type",
                "TEXT/Event-Stream; charset=utf-8"
            )])),
            None
        );
        assert_eq!(
            content_type_problem(&headers(&[("content-type", "text/event-stream;")])),
            None
        );
        assert!(content_type_problem(&headers(&[("content-type", "text/plain")])).is_some());
        assert!(content_type_problem(&headers(&[])).is_some());
        let two = headers(&[
            ("content-type", "text/event-stream"),
            ("content-type", "text/event-stream"),
        ]);
        assert!(content_type_problem(&two)
            .unwrap()
            .contains("2 Content-Type"));
    }

    #[test]
    fn cacheability() {
        assert!(cache_problems(&headers(&[("cache-control", "no-store")])).is_empty());
        assert!(cache_problems(&headers(&[("cache-control", "private, no-cache")])).is_empty());
        let p = cache_problems(&headers(&[
            ("cache-control", "public, max-age=3600"),
            ("etag", "\"x\""),
        ]));
        assert_eq!(p.len(), 3, "{p:?}");
    }

    #[test]
    fn connection_specific_fields_are_named_with_their_values() {
        let head: [(&[u8], &[u8]); 7] = [
            (b":status", b"200"),
            (b"content-type", b"text/event-stream"),
            (b"connection", b"keep-alive"),
            (b"Transfer-Encoding", b"chunked"),
            (b"te", b" Trailers "),
            (b"te", b"gzip"),
            (b"proxy-connection", b"\r\xff"),
        ];
        assert_eq!(
            connection_specific(head),
            [
                "connection: keep-alive",
                "Transfer-Encoding: chunked",
                "te: gzip",
                "proxy-connection: \\r\u{fffd}",
            ]
        );
        let clean: [(&[u8], &[u8]); 2] = [(b":status", b"200"), (b"te", b"trailers")];
        assert!(connection_specific(clean).is_empty());
    }

    #[test]
    fn malformed_h2_is_recognised() {
        assert!(is_malformed_h2(
            "http2 error: stream error detected: unspecific protocol error detected"
        ));
        assert!(!is_malformed_h2(
            "http2 error: connection error detected: frame with invalid size"
        ));
    }
}
