//! `ssekit parse URL`: the `curl -N` of event streams. It opens the stream as EventSource does
//! (`GET`, `Accept: text/event-stream`, `Cache-Control: no-cache`, redirects followed, the
//! response judged as EventSource judges it) and prints each event as it arrives, with its
//! arrival time. `--follow` reconnects as EventSource does: after the stream ends or the
//! connection breaks, it waits the last `retry` and sends `Last-Event-ID`.
//!
//! The connection is the conformance runner's own timed client
//! ([`ssekit_check::probe::send`]): its TLS (`--ca-cert`), forward proxies and body decoders
//! come with it.

use std::io::{self, Write};
use std::time::{Duration, Instant};

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{StatusCode, Uri};
use ssekit_check::capture::BodyDecoder;
use ssekit_check::probe::{self, Next, ProbeError, Request, Response};
use ssekit_parser::Limits;

use super::{Chunking, Session, Status};

/// The longest wait between reconnections, whatever `retry` the server sent: a server can ask
/// for any number of milliseconds, and a client left waiting for days looks hung.
pub const MAX_RETRY_WAIT: Duration = Duration::from_secs(3600);
/// Redirects followed for one connection, as fetch allows.
const MAX_REDIRECTS: usize = 20;
/// How long one wait for body bytes lasts before it is simply renewed (streams may be idle).
const READ_WAIT: Duration = Duration::from_secs(3600);

/// What `ssekit parse URL` does.
#[derive(Debug, Clone)]
pub struct Options {
    /// The stream's `http://` or `https://` URL.
    pub url: Uri,
    /// Extra request headers (`--header`).
    pub headers: HeaderMap,
    /// Reconnect after the stream ends or breaks, as EventSource does.
    pub follow: bool,
    /// The reconnection delay until the server sends `retry:` (EventSource's default, 3 s).
    pub retry_default: Duration,
    /// Bound on connecting and on the wait for the response head.
    pub timeout: Duration,
    /// Parser limits.
    pub limits: Limits,
    /// How each read is cut before it is fed.
    pub chunking: Chunking,
}

/// Why a response is not a stream to read, as EventSource decides (HTML §9.2.3: a status other
/// than 200 or a Content-Type other than `text/event-stream` fails the connection for good).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A status other than 200 (and 204, which asks clients to stop).
    #[error("{url} answered {status}, not 200 with an event stream: EventSource fails such a connection and never reconnects{}", status_hint(*status))]
    Status {
        /// The URL that answered.
        url: String,
        /// Its status.
        status: StatusCode,
    },
    /// 200, but not `text/event-stream`.
    #[error("{url} answered 200 with Content-Type {found}, not text/event-stream: EventSource fails such a connection; serve the stream as `Content-Type: text/event-stream`")]
    ContentType {
        /// The URL that answered.
        url: String,
        /// The Content-Type as sent, or `none`.
        found: String,
    },
    /// A Content-Encoding no browser decodes.
    #[error("{url} answered with Content-Encoding {coding}, which EventSource cannot decode; send identity, gzip, deflate, br or zstd")]
    Encoding {
        /// The URL that answered.
        url: String,
        /// The coding as sent.
        coding: String,
    },
    /// A redirect without a `Location` that can be followed, or too many of them.
    #[error("{url} answered {status} with {problem}")]
    Redirect {
        /// The URL that answered.
        url: String,
        /// Its status.
        status: StatusCode,
        /// What is wrong with the redirect.
        problem: String,
    },
}

fn status_hint(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 | 403 => "; pass credentials with --header 'Authorization: …'",
        404 => "; check the URL's path",
        405 => "; the endpoint wants another method (ssekit parse sends GET, as EventSource does)",
        500..=599 => "; the server failed: see its logs",
        _ => "",
    }
}

/// What a response head means to a client.
#[derive(Debug)]
pub enum Verdict {
    /// 200 `text/event-stream`: read it (through this decoder if it is compressed).
    Stream(Option<BodyDecoder>),
    /// 204: the server asks clients to stop.
    Stop,
    /// A redirect to follow.
    Redirect(Uri),
}

/// Judges a response head from `url` as EventSource does.
///
/// ```
/// use http::{HeaderMap, HeaderValue, StatusCode};
/// use ssekit::parse::url::{judge, Refusal, Verdict};
///
/// let url = "http://example.org/stream".parse().unwrap();
/// let mut headers = HeaderMap::new();
/// headers.insert("content-type", HeaderValue::from_static("Text/Event-Stream; charset=utf-8"));
/// assert!(matches!(judge(&url, StatusCode::OK, &headers), Ok(Verdict::Stream(None))));
/// assert!(matches!(judge(&url, StatusCode::NO_CONTENT, &headers), Ok(Verdict::Stop)));
/// headers.insert("content-type", HeaderValue::from_static("text/plain"));
/// assert!(matches!(judge(&url, StatusCode::OK, &headers), Err(Refusal::ContentType { .. })));
/// ```
pub fn judge(url: &Uri, status: StatusCode, headers: &HeaderMap) -> Result<Verdict, Refusal> {
    let url_text = url.to_string();
    if status == StatusCode::NO_CONTENT {
        return Ok(Verdict::Stop);
    }
    if matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308) {
        let problem = |p: &str| Refusal::Redirect {
            url: url_text.clone(),
            status,
            problem: p.to_owned(),
        };
        let location = headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| problem("no Location"))?;
        return resolve(url, location)
            .map(Verdict::Redirect)
            .ok_or_else(|| problem(&format!("a Location that is no http(s) URL: {location}")));
    }
    if status != StatusCode::OK {
        return Err(Refusal::Status {
            url: url_text,
            status,
        });
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let essence = content_type
        .as_deref()
        .and_then(|t| t.split(';').next())
        .map(str::trim);
    if !essence.is_some_and(|e| e.eq_ignore_ascii_case("text/event-stream")) {
        return Err(Refusal::ContentType {
            url: url_text,
            found: content_type.unwrap_or_else(|| "none".to_owned()),
        });
    }
    let coding = headers.get(header::CONTENT_ENCODING).map(|v| {
        String::from_utf8_lossy(v.as_bytes())
            .trim()
            .to_ascii_lowercase()
    });
    match coding.as_deref() {
        None | Some("" | "identity") => Ok(Verdict::Stream(None)),
        Some(c) => BodyDecoder::new(c)
            .map(|d| Verdict::Stream(Some(d)))
            .ok_or_else(|| Refusal::Encoding {
                url: url_text,
                coding: c.to_owned(),
            }),
    }
}

/// `location` made absolute against `base` (absolute URLs and absolute paths; that is what
/// servers send).
fn resolve(base: &Uri, location: &str) -> Option<Uri> {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.parse().ok();
    }
    if location.starts_with('/') && !location.starts_with("//") {
        return probe::with_path(base, location).ok();
    }
    None
}

/// Parses `NAME: VALUE` (as curl's `-H`).
///
/// ```
/// let (name, value) = ssekit::parse::url::parse_header("Authorization: Bearer t0k").unwrap();
/// assert_eq!((name.as_str(), value.to_str().unwrap()), ("authorization", "Bearer t0k"));
/// assert!(ssekit::parse::url::parse_header("no colon").is_err());
/// ```
pub fn parse_header(text: &str) -> Result<(HeaderName, HeaderValue), String> {
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| format!("`{text}` is not `NAME: VALUE`"))?;
    let name = HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| format!("`{}` is not a header name", name.trim()))?;
    let value = HeaderValue::from_str(value.trim())
        .map_err(|_| format!("the value of {name} is not a valid header value"))?;
    Ok((name, value))
}

/// Why one connection attempt gave no stream.
enum Failure {
    Network(ProbeError),
    Refused(Refusal),
}

/// What one connection ended in.
enum Ended {
    /// Stop with this status.
    Stop(Status),
    /// Reconnect (with `--follow`); the text says why.
    Again(String),
}

/// Runs URL mode on this thread: lines to standard output, reports to standard error, until
/// the stream stops or Ctrl-C.
pub fn run(opts: &Options) -> Status {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ssekit parse: cannot start the async runtime: {e}");
            return Status::Local;
        }
    };
    let out = io::BufWriter::new(io::stdout().lock());
    let mut session = Session::new(opts.limits, out, io::stderr());
    let interrupted = async {
        // Without a handler, Ctrl-C ends the process as usual: never a reason to stop here.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let result = runtime.block_on(async {
        tokio::select! {
            r = follow(opts, &mut session) => r,
            () = interrupted => Ok(Status::Interrupted),
        }
    });
    let result = result.and_then(|status| {
        if status == Status::Interrupted {
            session.note(format_args!("interrupted"))?;
        }
        session.flush().map(|()| status)
    });
    match result {
        Ok(status) => status,
        // A closed pipe (`ssekit parse URL | head -1`) is not an error worth a message.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Status::Clean,
        Err(e) => {
            eprintln!("ssekit parse: cannot write output: {e}");
            Status::Local
        }
    }
}

/// Reads the stream (and, with `--follow`, the streams after it) into `session` until it
/// stops; returns the status to exit with. Errors are the output's.
pub async fn follow<W: Write, E: Write>(
    opts: &Options,
    session: &mut Session<W, E>,
) -> io::Result<Status> {
    let mut responses = 0u32;
    loop {
        let ended = once(opts, session, &mut responses).await?;
        let why = match ended {
            Ended::Stop(status) => return Ok(status.max(session.status())),
            Ended::Again(why) => why,
        };
        let wait = session
            .retry()
            .map_or(opts.retry_default, Duration::from_millis)
            .min(MAX_RETRY_WAIT);
        let id = match session.last_event_id() {
            "" => String::new(),
            id => format!(" with Last-Event-ID: {id}"),
        };
        session.note(format_args!(
            "{why}; reconnecting in {} ms{id}",
            wait.as_millis()
        ))?;
        tokio::time::sleep(wait).await;
    }
}

/// One connection: open it, judge it, read it to its end.
async fn once<W: Write, E: Write>(
    opts: &Options,
    session: &mut Session<W, E>,
    responses: &mut u32,
) -> io::Result<Ended> {
    let last_id = session.last_event_id().to_owned();
    let (mut response, mut decoder) = match open(opts, &last_id, session).await? {
        Ok(Some(opened)) => opened,
        Ok(None) => {
            session.note(format_args!(
                "{} answered 204 No Content: the server asks clients to stop",
                opts.url
            ))?;
            return Ok(Ended::Stop(Status::Clean));
        }
        Err(Failure::Refused(r)) => {
            session.note(format_args!("{r}"))?;
            return Ok(Ended::Stop(Status::Refused));
        }
        Err(Failure::Network(e)) if opts.follow => return Ok(Ended::Again(e.to_string())),
        Err(Failure::Network(e)) => {
            session.note(format_args!("{e}"))?;
            return Ok(Ended::Stop(Status::Network));
        }
    };
    *responses += 1;
    session.connected(response.sent_at);
    if *responses > 1 {
        session.note(format_args!(
            "reconnected: response {} opened in {} ms",
            responses,
            response.time_to_head().as_millis()
        ))?;
    }
    let mut bytes = 0u64;
    let broke = loop {
        match response.next(Instant::now() + READ_WAIT).await {
            Next::Data(read) => {
                bytes += read.bytes.len() as u64;
                match &mut decoder {
                    None => feed(session, opts.chunking, &read.bytes, read.at)?,
                    Some(d) => {
                        let mut result = Ok(());
                        let decoded = d.decode(&read.bytes, &mut |piece| {
                            if result.is_ok() {
                                result = feed(session, opts.chunking, piece, read.at);
                            }
                        });
                        result?;
                        if let Err(e) = decoded {
                            break Some(format!("the {} body does not decode: {e}", d.name()));
                        }
                    }
                }
                session.flush()?;
            }
            Next::Deadline => {}
            Next::Eof(_) => break None,
            Next::Error(_, e) => break Some(e),
        }
    };
    session.end()?;
    let ended = match &broke {
        None => format!("the server ended the stream after {bytes} bytes"),
        Some(e) => format!("the connection broke after {bytes} bytes: {e}"),
    };
    Ok(match (opts.follow, &broke) {
        (true, _) => Ended::Again(ended),
        (false, None) => Ended::Stop(Status::Clean),
        (false, Some(_)) => {
            session.note(format_args!("{ended} (--follow reconnects)"))?;
            Ended::Stop(Status::Network)
        }
    })
}

fn feed<W: Write, E: Write>(
    session: &mut Session<W, E>,
    chunking: Chunking,
    bytes: &[u8],
    at: Instant,
) -> io::Result<()> {
    for piece in chunking.pieces(bytes) {
        session.feed(piece, Some(at))?;
    }
    Ok(())
}

/// Sends the request (following redirects) and judges the answer: `Ok(None)` for 204.
async fn open<W: Write, E: Write>(
    opts: &Options,
    last_id: &str,
    session: &mut Session<W, E>,
) -> io::Result<Result<Option<(Response, Option<BodyDecoder>)>, Failure>> {
    let mut url = opts.url.clone();
    for _ in 0..=MAX_REDIRECTS {
        let request = request(&url, &opts.headers, last_id, session)?;
        let response = match probe::send(request, opts.timeout).await {
            Ok(r) => r,
            Err(e) => return Ok(Err(Failure::Network(e))),
        };
        match judge(&url, response.status, &response.headers) {
            Ok(Verdict::Stream(decoder)) => return Ok(Ok(Some((response, decoder)))),
            Ok(Verdict::Stop) => return Ok(Ok(None)),
            Ok(Verdict::Redirect(to)) => url = to,
            Err(r) => return Ok(Err(Failure::Refused(r))),
        }
    }
    Ok(Err(Failure::Refused(Refusal::Redirect {
        url: url.to_string(),
        status: StatusCode::PERMANENT_REDIRECT,
        problem: format!("more than {MAX_REDIRECTS} redirects in a row"),
    })))
}

/// EventSource's request: `Accept: text/event-stream`, `Cache-Control: no-cache`, the last
/// event id when there is one. No `Accept-Encoding` unless `--header` asks for one: bytes on
/// the terminal are what the server wrote, as with `curl -N`.
fn request<W: Write, E: Write>(
    url: &Uri,
    headers: &HeaderMap,
    last_id: &str,
    session: &mut Session<W, E>,
) -> io::Result<Request> {
    let mut request = Request::sse(url.clone(), headers);
    if !headers.contains_key(header::ACCEPT_ENCODING) {
        request = request.bare();
    }
    if !last_id.is_empty() {
        match HeaderValue::from_bytes(last_id.as_bytes()) {
            Ok(v) => {
                request
                    .headers
                    .insert(HeaderName::from_static("last-event-id"), v);
            }
            Err(_) => session.note(format_args!(
                "the last event id {last_id:?} holds control characters that cannot go in a \
                 header; reconnecting without Last-Event-ID"
            ))?,
        }
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (HeaderName::from_static(k), HeaderValue::from_static(v)))
            .collect()
    }

    #[test]
    fn only_200_event_stream_is_read() {
        let url: Uri = "http://h/s".parse().unwrap();
        let sse = head(&[("content-type", "text/event-stream")]);
        let err = judge(&url, StatusCode::UNAUTHORIZED, &sse).unwrap_err();
        assert!(
            err.to_string().contains("answered 401 Unauthorized"),
            "{err}"
        );
        assert!(err.to_string().contains("--header 'Authorization"), "{err}");
        let err = judge(&url, StatusCode::OK, &HeaderMap::new()).unwrap_err();
        assert!(err.to_string().contains("Content-Type none"), "{err}");
        let json = head(&[("content-type", "application/json")]);
        let err = judge(&url, StatusCode::OK, &json).unwrap_err();
        assert!(err.to_string().contains("application/json"), "{err}");
    }

    #[test]
    fn codings_browsers_decode_are_decoded_others_refused() {
        let url: Uri = "http://h/s".parse().unwrap();
        let gz = head(&[
            ("content-type", "text/event-stream"),
            ("content-encoding", "gzip"),
        ]);
        assert!(matches!(
            judge(&url, StatusCode::OK, &gz),
            Ok(Verdict::Stream(Some(_)))
        ));
        let odd = head(&[
            ("content-type", "text/event-stream"),
            ("content-encoding", "compress"),
        ]);
        assert!(matches!(
            judge(&url, StatusCode::OK, &odd),
            Err(Refusal::Encoding { .. })
        ));
    }

    #[test]
    fn redirects_resolve_against_the_url() {
        let url: Uri = "http://h:8/a?x=1".parse().unwrap();
        let to = |loc: &'static str| {
            judge(&url, StatusCode::FOUND, &head(&[("location", loc)]))
                .map(|v| match v {
                    Verdict::Redirect(u) => u.to_string(),
                    _ => "not a redirect".into(),
                })
                .map_err(|e| e.to_string())
        };
        assert_eq!(to("/b?y=2").unwrap(), "http://h:8/b?y=2");
        assert_eq!(to("https://o/c").unwrap(), "https://o/c");
        assert!(to("relative").unwrap_err().contains("no http(s) URL"));
    }
}
