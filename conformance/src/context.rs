//! What every check can use: the target and its hooks, the options, the shared baseline
//! observation (two subscribers read side by side, taken once), and what the run saw so far
//! (every status code, every stream the server ended).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use http::{HeaderMap, StatusCode, Uri};
use tokio::sync::OnceCell;

use crate::budget::{Budget, Refused};
use crate::capture::Capture;
use crate::diagnosis::{self, Answer, Close, FirstAnswer, GzipStall, NoResponse};
use crate::probe::{self, Next, ProbeError, Request, Response, BROWSER_ACCEPT_ENCODING};
use crate::profiles::{mcp, Protocol};
use crate::target::Target;

/// How long and how hard the runner works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Profile {
    /// Every check, with short windows and small counts: under 30 s against a healthy server.
    Quick,
    /// Every check at full size (75 s idle watch, 10k-connection ramp, 5k churn cycles).
    Full,
}

impl Profile {
    /// Picks the quick or the full value.
    pub fn pick<T>(self, quick: T, full: T) -> T {
        match self {
            Profile::Quick => quick,
            Profile::Full => full,
        }
    }
}

/// The runner's options.
#[derive(Debug, Clone)]
pub struct Options {
    /// Bound on every single network wait.
    pub timeout: Duration,
    /// Largest acceptable gap between bytes on an idle stream.
    pub heartbeat_max: Duration,
    /// Quick or full.
    pub profile: Profile,
    /// What the stream requests look like.
    pub shape: Shape,
    /// Whether the stream is expected to end.
    pub lifetime: Lifetime,
    /// The protocol whose rules the stream follows (`--profile openai|anthropic|mcp`).
    pub protocol: Option<Protocol>,
    /// How long a finite stream may take to end.
    pub stream_max: Duration,
    /// The most requests a finite stream's run may send that can start a generation
    /// (`--max-requests`); `None`: no limit.
    pub max_requests: Option<u32>,
}

/// Whether the stream is expected to end.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Lifetime {
    /// A feed that stays open (`GET`): idle watches, publishing and replay apply.
    #[default]
    Endless,
    /// A stream opened by a request that ends when its answer is complete (an LLM completion,
    /// an MCP response): read to its end and judged by the P checks.
    Finite,
}

/// What the runner's stream requests look like.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Shape {
    /// As Chromium's `EventSource` sends them, `Accept-Encoding` included: the server is
    /// judged as browsers meet it.
    #[default]
    Browser,
    /// Without `Accept-Encoding` (`--bare-request`), as curl and most client libraries send.
    Bare,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            timeout: Duration::from_secs(5),
            heartbeat_max: Duration::from_secs(30),
            profile: Profile::Quick,
            shape: Shape::Browser,
            lifetime: Lifetime::Endless,
            protocol: None,
            stream_max: Duration::from_secs(30),
            max_requests: None,
        }
    }
}

/// The shared first look at the stream: the response head and two subscribers read side by
/// side for a short window (events published through the hook when there is one).
#[derive(Debug)]
pub struct Baseline {
    /// The URL finally read (after redirects).
    pub url: Uri,
    /// Redirects followed: status and `Location`.
    pub redirects: Vec<(StatusCode, String)>,
    /// Status of the final response.
    pub status: StatusCode,
    /// Headers of the final response.
    pub headers: HeaderMap,
    /// Request to head.
    pub time_to_head: Duration,
    /// Subscriber A.
    pub a: Capture,
    /// The first bytes of A's body as received (up to [`BODY_START`]): what an answer that is
    /// not a stream said, when its last line has no line end for the parser to report it.
    pub body_start: Vec<u8>,
    /// Subscriber B, connected at the same time as A.
    pub b: Option<Capture>,
    /// How long B waited for its head while A was open (or why it got none): a cache that
    /// coalesces requests for one URL holds the second until the first one ends.
    pub b_head: Option<Result<Duration, String>>,
    /// What held B, when something did: told apart by a request for the same stream under
    /// another URL, sent while A was still open.
    pub b_held_by: Option<HeldBy>,
    /// Ids the hook returned for what the baseline published.
    pub published: Vec<String>,
}

impl Baseline {
    /// A first look with one subscriber and nothing published: a response that did not open
    /// a stream, or a finite stream (every request may start a paid generation).
    fn alone(
        url: Uri,
        redirects: Vec<(StatusCode, String)>,
        (status, headers, time_to_head): (StatusCode, HeaderMap, Duration),
        (a, body_start): (Capture, Vec<u8>),
    ) -> Self {
        Baseline {
            url,
            redirects,
            status,
            headers,
            time_to_head,
            a,
            body_start,
            b: None,
            b_head: None,
            b_held_by: None,
            published: Vec::new(),
        }
    }

    /// What shows a cache at work on the stream: an answer served from it (a hit, a positive
    /// `Age`), or a second subscriber held back while the first one was open. A cache that
    /// is merely in the path and stores nothing (a miss on a `no-store` stream) is no sign.
    pub fn cache_signs(&self) -> Vec<String> {
        let mut signs = match crate::diagnosis::served_from_cache(&self.headers) {
            true => crate::diagnosis::cache_evidence(&self.headers),
            false => Vec::new(),
        };
        signs.extend(self.second_held());
        signs
    }

    /// The `Server` header, if it is text.
    pub fn server(&self) -> Option<&str> {
        self.headers
            .get(http::header::SERVER)
            .and_then(|v| v.to_str().ok())
    }

    /// Why a second subscriber, opened while the first was open, was held back by a cache, if
    /// it was. A server that serves one stream at a time is not named here (it is no cache):
    /// the requests it leaves unanswered say so themselves (see [`Ctx::send`]).
    pub fn second_held(&self) -> Option<String> {
        if !b_was_held(self.time_to_head, &self.b_head) || self.b_held_by == Some(HeldBy::Server) {
            return None;
        }
        let why = "a cache lock or request coalescing: a request for the same stream under \
                   another URL was answered at once";
        match &self.b_head {
            Some(Ok(waited)) => Some(format!(
                "a second subscriber waited {} for its headers while the first was open ({why})",
                crate::diagnosis::secs(*waited)
            )),
            Some(Err(e)) => Some(format!(
                "a second subscriber got no headers while the first was open ({e}: {why})"
            )),
            None => None,
        }
    }

    /// True when the stream opened (200); checks of the body need it.
    pub fn streaming(&self) -> bool {
        self.status == StatusCode::OK
    }
}

/// Whether the first look's second subscriber (`b_head`: its wait for a head, or why it got
/// none) was held back while the first, answered in `time_to_head`, was open.
fn b_was_held(time_to_head: Duration, b_head: &Option<Result<Duration, String>>) -> bool {
    let prompt = time_to_head < Duration::from_secs(1);
    match b_head {
        Some(Ok(waited)) => prompt && *waited >= Duration::from_secs(1),
        Some(Err(_)) => prompt,
        None => false,
    }
}

/// What held the first look's second subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeldBy {
    /// Something keyed on the URL (a cache lock, request coalescing): the same stream under
    /// another URL was answered.
    Cache,
    /// The server itself: a request for another URL was held too (one stream at a time).
    Server,
}

/// What a browser-shaped request showed about compression.
#[derive(Debug, Clone)]
pub enum Stall {
    /// No stall, and what was seen.
    None(String),
    /// The compressed stream delivers nothing while the identity one flows: the cause.
    Compressed(String),
}

/// A stream the server ended, as seen by some check.
#[derive(Debug, Clone)]
pub struct Closed {
    /// Which check saw it.
    pub by: &'static str,
    /// How it ended, judged by the event grammar.
    pub close: Close,
}

/// Shared state of one run.
pub struct Ctx {
    /// What is checked.
    pub target: Target,
    /// How.
    pub opts: Options,
    /// A run-unique token for the runner's own payloads.
    pub nonce: String,
    baseline: OnceCell<Result<Baseline, NoResponse>>,
    first: OnceCell<FirstAnswer>,
    mcp: OnceCell<Result<mcp::Session, NoResponse>>,
    mcp_requests: AtomicU64,
    budget: Budget,
    stall: OnceCell<Stall>,
    idle: OnceCell<Result<Capture, String>>,
    statuses: Mutex<Vec<(String, StatusCode)>>,
    closed: Mutex<Vec<Closed>>,
}

impl Ctx {
    /// A context for `target`.
    pub fn new(target: Target, opts: Options) -> Self {
        let nonce = format!(
            "{:x}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() & 0xffff_ffff_ffff)
        );
        Ctx {
            budget: Budget::new(opts.max_requests),
            target,
            opts,
            nonce,
            baseline: OnceCell::new(),
            first: OnceCell::new(),
            mcp: OnceCell::new(),
            mcp_requests: AtomicU64::new(0),
            stall: OnceCell::new(),
            idle: OnceCell::new(),
            statuses: Mutex::new(Vec::new()),
            closed: Mutex::new(Vec::new()),
        }
    }

    /// The single-wait bound.
    pub fn timeout(&self) -> Duration {
        self.opts.timeout
    }

    /// The stream URL to use (the final one after redirects, once the baseline ran).
    pub fn stream_url(&self) -> Uri {
        match self.baseline.get() {
            Some(Ok(b)) => b.url.clone(),
            _ => self.target.url.clone(),
        }
    }

    /// The user's `--header`s as HTTP/1.1 header lines, each ending in CRLF, for requests the
    /// runner writes by hand (without them, a server that wants auth answers 401 and the
    /// check learns nothing about its stream).
    pub fn user_header_lines(&self) -> String {
        self.target
            .headers
            .iter()
            .filter_map(|(k, v)| Some(format!("{k}: {}\r\n", v.to_str().ok()?)))
            .collect()
    }

    /// An `EventSource`-like request to the stream URL with the user's headers.
    pub fn sse_request(&self) -> Request {
        self.sse_request_to(self.stream_url())
    }

    /// An `EventSource`-like request to `url` with the user's headers, in the run's [`Shape`].
    pub fn sse_request_to(&self, url: Uri) -> Request {
        let mut req = self
            .target
            .opening
            .apply(Request::sse(url, &self.target.headers));
        // Under --profile mcp every request after the handshake belongs to its session, and
        // every one after the baseline's has a JSON-RPC id of its own.
        if let Some(Ok(session)) = self.mcp.get() {
            req.headers.extend(session.headers.clone());
            let n = self.mcp_requests.fetch_add(1, Ordering::Relaxed);
            if let Some(body) = (n > 0).then(|| mcp::renumbered(&req.body, n)).flatten() {
                req.body = body.into();
            }
        }
        match self.opts.shape {
            Shape::Browser => req,
            Shape::Bare => req.bare(),
        }
    }

    /// Takes `n` requests that can start a generation from the run's budget
    /// (`--max-requests`) for `what`, before sending them. Only a finite stream's requests
    /// start generations: a feed's are neither counted nor refused.
    pub fn take_requests(&self, what: &str, n: u32) -> Result<(), Refused> {
        match self.opts.lifetime {
            Lifetime::Finite => self.budget.take(what, n),
            Lifetime::Endless => Ok(()),
        }
    }

    /// The run's request budget and what was taken from it.
    pub fn budget(&self) -> &Budget {
        &self.budget
    }

    /// Sends a request, recording its status for H11.
    pub async fn send(&self, what: &str, req: Request) -> Result<Response, ProbeError> {
        let response = probe::send(req, self.timeout())
            .await
            .map_err(|e| self.no_head_anymore(e))?;
        self.record_status(what, response.status);
        Ok(response)
    }

    /// A request that got no head although the baseline's got one promptly, with no cache in
    /// front to hold it: the server is out of workers for new streams (see
    /// [`diagnosis::out_of_workers`]). Any other error is returned as it is.
    fn no_head_anymore(&self, error: ProbeError) -> ProbeError {
        let ProbeError::Timeout(waited, "the response headers") = error else {
            return error;
        };
        let Some(Ok(b)) = self.baseline.get() else {
            return error;
        };
        if !b.streaming() || b.time_to_head * 2 > waited || !b.cache_signs().is_empty() {
            return error;
        }
        ProbeError::NoHeadAnymore {
            waited,
            first_ms: b.time_to_head.as_millis(),
            cause: diagnosis::out_of_workers(b.server()),
        }
    }

    /// Records a status code seen on the stream URL.
    pub fn record_status(&self, what: &str, status: StatusCode) {
        let mut statuses = self.statuses.lock().unwrap_or_else(|p| p.into_inner());
        if statuses.len() < 10_000 {
            statuses.push((what.to_owned(), status));
        }
    }

    /// Every status recorded so far.
    pub fn statuses(&self) -> Vec<(String, StatusCode)> {
        self.statuses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Records a capture that the server ended (for F03 / R03).
    pub fn record_end(&self, by: &'static str, capture: &Capture) {
        if let Some(close) = Close::of(capture) {
            let mut closed = self.closed.lock().unwrap_or_else(|p| p.into_inner());
            if closed.len() < 1000 {
                closed.push(Closed { by, close });
            }
        }
    }

    /// Every stream the server ended so far.
    pub fn closed(&self) -> Vec<Closed> {
        self.closed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The baseline, taken on first use.
    pub async fn baseline(&self) -> Result<&Baseline, String> {
        self.first_look().await.map_err(ToString::to_string)
    }

    async fn first_look(&self) -> Result<&Baseline, &NoResponse> {
        self.baseline
            .get_or_init(|| async { self.take_baseline().await })
            .await
            .as_ref()
    }

    /// What the stream URL answered, classified once (taking the baseline if need be): the
    /// run's first decision, before any check.
    pub async fn first_answer(&self) -> &FirstAnswer {
        self.first
            .get_or_init(|| async {
                match self.first_look().await {
                    Err(NoResponse::Unreachable(why)) => FirstAnswer::Unreachable(why.clone()),
                    Err(NoResponse::Withheld(why)) => FirstAnswer::NoAnswer(why.clone()),
                    Ok(b) => match diagnosis::not_a_stream(&Answer {
                        status: b.status,
                        headers: &b.headers,
                        body: &b.a,
                        body_start: &b.body_start,
                        redirects: b.redirects.len(),
                        method: &self.target.opening.method,
                        protocol: self.opts.protocol,
                    }) {
                        Some(n) => FirstAnswer::NotAStream(n),
                        None => FirstAnswer::Stream,
                    },
                }
            })
            .await
    }

    /// Where the runner's connections go: the forward proxy's `host:port` when one carries
    /// them, else the stream URL's.
    fn connects_to(&self) -> String {
        match crate::proxy::route(&self.target.url) {
            crate::proxy::Route::Proxy(p) => format!("the proxy {}", p.addr()),
            crate::proxy::Route::Direct => match probe::authority(&self.target.url) {
                Ok((host, port)) if host.contains(':') => format!("[{host}]:{port}"),
                Ok((host, port)) => format!("{host}:{port}"),
                Err(_) => self.target.url.to_string(),
            },
        }
    }

    /// A failed first request, sorted: nothing to talk to, or a server that gave no answer.
    async fn no_response(&self, error: ProbeError) -> NoResponse {
        match diagnosis::unreachable(&error, &self.connects_to()) {
            Some(why) => NoResponse::Unreachable(why),
            None => NoResponse::Withheld(self.why_no_head(error).await),
        }
    }

    /// The MCP session opened before the baseline (`--profile mcp` only; `None` otherwise),
    /// or why it could not be opened. Opened once, on first use.
    pub async fn mcp_session(&self) -> Option<Result<&mcp::Session, String>> {
        let opened = self.mcp_opened().await?;
        Some(opened.as_ref().map_err(ToString::to_string))
    }

    async fn mcp_opened(&self) -> Option<&Result<mcp::Session, NoResponse>> {
        if self.opts.protocol != Some(Protocol::Mcp) {
            return None;
        }
        let opened = self
            .mcp
            .get_or_init(|| async {
                let url = &self.target.url;
                let e = match mcp::open_session(url, &self.target.headers, self.timeout()).await {
                    Ok(session) => return Ok(session),
                    Err(e) => e,
                };
                let unreachable = match &e {
                    mcp::SetupError::Probe(p) => diagnosis::unreachable(p, &self.connects_to()),
                    _ => None,
                };
                Err(match unreachable {
                    Some(why) => NoResponse::Unreachable(why),
                    None => NoResponse::Withheld(e.to_string()),
                })
            })
            .await;
        Some(opened)
    }

    /// Why the checks that need the stream cannot judge it, in a sentence that names the
    /// check reporting it: no answer at all (H01), an answer that is not an event stream (H01
    /// or H02), a compressor holding the stream (H14), or an MCP server answering JSON (as it
    /// may). Checks that need a stream SKIP with this cause instead of each waiting out its
    /// own timeout, or judging a page as if it were a stream.
    pub async fn blocked(&self) -> Option<String> {
        if let FirstAnswer::NotAStream(n) = self.first_answer().await {
            return Some(n.skip_reason());
        }
        match self.baseline().await {
            Err(reason) => Some(format!("the stream never opened (see H01): {reason}")),
            Ok(b) if self.answered_json(b) => Some(mcp::JSON_ANSWER.into()),
            Ok(_) => match self.compression_stall().await {
                Stall::Compressed(cause) => Some(format!(
                    "the stream opened but a browser cannot read it (see H14): {cause}"
                )),
                Stall::None(_) => None,
            },
        }
    }

    /// Whether a compressed stream stalls for a browser while the same request without
    /// `Accept-Encoding` flows (taken once, on first use; H14 reports it).
    pub async fn compression_stall(&self) -> &Stall {
        self.stall
            .get_or_init(|| async {
                match self.baseline().await {
                    Ok(b) => self.judge_compression(b).await,
                    Err(e) => Stall::None(format!("the stream never opened: {e}")),
                }
            })
            .await
    }

    /// True when an MCP server answered the stream request with one JSON body (allowed):
    /// narrow on purpose, only under `--profile mcp` and only for a 200 `application/json`.
    pub fn answered_json(&self, b: &Baseline) -> bool {
        self.opts.protocol == Some(Protocol::Mcp) && b.streaming() && mcp::answered_json(&b.headers)
    }

    async fn judge_compression(&self, b: &Baseline) -> Stall {
        let encoding = b
            .headers
            .get(http::header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("identity")
            .to_ascii_lowercase();
        if !b.streaming() || encoding == "identity" {
            return Stall::None(format!("Content-Encoding: {encoding}"));
        }
        if let Some(ignored) = b.a.ignored_after_first_member() {
            return Stall::Compressed(members_cause(&b.a, ignored));
        }
        if b.a.parsed_anything() {
            return Stall::None(format!(
                "Content-Encoding: {encoding}; the browser-shaped request got {} event(s) and {} \
                 comment(s)",
                b.a.events.len(),
                b.a.comments.len()
            ));
        }
        // Nothing decoded for the browser: does the same request without compression flow?
        if let Err(refused) = self.take_requests("H14", 1) {
            return Stall::None(format!(
                "Content-Encoding: {encoding}; nothing decoded, and the control request without \
                 Accept-Encoding was not sent: {refused}"
            ));
        }
        let bare = self.sse_request_to(b.url.clone()).bare();
        let Ok(mut r) = self.send("stream without Accept-Encoding", bare).await else {
            return Stall::None("the control request without Accept-Encoding failed too".into());
        };
        let mut c = Capture::new(&r);
        let deadline = Instant::now() + Duration::from_millis(1500);
        let read = c.read_until(&mut r, deadline, Capture::parsed_anything);
        let publish = async {
            if let Some(p) = &self.target.publish {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let _ = p
                    .publish(None, &format!("ssekit-check {} h14", self.nonce))
                    .await;
            }
        };
        tokio::join!(read, publish);
        if !c.parsed_anything() {
            return Stall::None(format!(
                "Content-Encoding: {encoding}; nothing arrived with or without compression during \
                 the window (an idle stream: nothing to compare)"
            ));
        }
        let named =
            b.a.gzip_file_name()
                .and_then(|name| diagnosis::gzip_compressor(name, GzipStall::Held));
        let cause = named.unwrap_or(
            "express `compression()` without `res.flush()`, nginx `gzip on` for \
             text/event-stream, a gzip middleware. Exclude text/event-stream from compression or \
             flush after every event",
        );
        Stall::Compressed(format!(
            "with a browser's Accept-Encoding the stream came back `Content-Encoding: {encoding}` and \
             its {} byte(s) in the first look decoded to nothing, while the same request without Accept-Encoding \
             got {} event(s)/comment(s) at once: a compressor holds the stream until its buffer \
             fills, so every browser sees an open stream that never delivers. The compressor: \
             {cause}",
            b.a.bytes,
            c.events.len() + c.comments.len()
        ))
    }

    async fn take_baseline(&self) -> Result<Baseline, NoResponse> {
        if let Some(Err(why)) = self.mcp_opened().await {
            return Err(why.clone());
        }
        let (url, redirects, first) = match self.follow(self.target.url.clone()).await {
            Ok(found) => found,
            Err(e) => return Err(self.no_response(e).await),
        };
        let status = first.status;
        let headers = first.headers.clone();
        let time_to_head = first.time_to_head();
        let window = self
            .opts
            .profile
            .pick(Duration::from_millis(2500), Duration::from_secs(10));
        if status != StatusCode::OK {
            let a = read_keeping(first, Instant::now() + Duration::from_millis(500)).await;
            return Ok(Baseline::alone(
                url,
                redirects,
                (status, headers, time_to_head),
                a,
            ));
        }
        if self.opts.lifetime == Lifetime::Finite {
            return Ok(self.finite_baseline(url, redirects, first).await);
        }
        let second = self
            .send("baseline B", self.sse_request_to(url.clone()))
            .await;
        let b_head = Some(match &second {
            Ok(r) => Ok(r.time_to_head()),
            Err(e) => Err(e.to_string()),
        });
        let b_held_by = match b_was_held(time_to_head, &b_head) {
            true => Some(self.what_holds(&url).await),
            false => None,
        };
        let second = second.ok();
        let deadline = Instant::now() + window;
        let publisher = async {
            let mut ids = Vec::new();
            let Some(publish) = self.target.publish.as_ref() else {
                return ids;
            };
            tokio::time::sleep(Duration::from_millis(200)).await;
            for n in 0..5 {
                let data = format!("ssekit-check {} baseline {n}", self.nonce);
                if let Ok(Some(id)) = publish.publish(None, &data).await {
                    ids.push(id);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            ids
        };
        let read_a = read_keeping(first, deadline);
        let read_b = async {
            match second {
                Some(r) if r.status == StatusCode::OK => Some(read_window(r, deadline).await),
                _ => None,
            }
        };
        let ((a, body_start), b, published) = tokio::join!(read_a, read_b, publisher);
        self.record_end("baseline", &a);
        Ok(Baseline {
            url,
            redirects,
            status,
            headers,
            time_to_head,
            a,
            body_start,
            b,
            b_head,
            b_held_by,
            published,
        })
    }

    /// With the first subscriber still open and a second one held, asks for the same stream
    /// under another URL (a query parameter of the runner's): answered, the hold is keyed on
    /// the URL (a cache lock, request coalescing); held too, the server itself serves one
    /// stream at a time.
    async fn what_holds(&self, url: &Uri) -> HeldBy {
        let Ok(other) = probe::with_query(url, "ssekit-check-key", &self.nonce) else {
            return HeldBy::Cache;
        };
        let wait = self.timeout().min(Duration::from_secs(3));
        match probe::send(self.sse_request_to(other), wait).await {
            Ok(_) => HeldBy::Cache,
            Err(e) if e.is_no_head() => HeldBy::Server,
            Err(_) => HeldBy::Cache,
        }
    }

    /// A finite stream read to its end (one request: each one may start a paid generation).
    async fn finite_baseline(
        &self,
        url: Uri,
        redirects: Vec<(StatusCode, String)>,
        first: Response,
    ) -> Baseline {
        let (status, headers, time_to_head) =
            (first.status, first.headers.clone(), first.time_to_head());
        let a = read_keeping(first, Instant::now() + self.opts.stream_max).await;
        self.record_end("baseline", &a.0);
        Baseline::alone(url, redirects, (status, headers, time_to_head), a)
    }

    /// The cause of a stream request that got no response head: when a browser's request
    /// stalls while the same request without `Accept-Encoding` is answered, a compression
    /// layer holds the stream; when both stall, something holds the whole response back.
    async fn why_no_head(&self, error: ProbeError) -> String {
        if !matches!(error, ProbeError::Timeout(_, "the response headers")) {
            return error.to_string();
        }
        if self.opts.shape == Shape::Browser {
            let bare = Request::sse(self.target.url.clone(), &self.target.headers).bare();
            if let Ok(r) = self.send("stream without Accept-Encoding", bare).await {
                return format!(
                    "{error} for a browser's request (Accept-Encoding: {BROWSER_ACCEPT_ENCODING}), while \
                     the same request without Accept-Encoding was answered {} in {} ms: a compression \
                     layer holds the stream until its buffer fills, so every browser sees a dead \
                     stream (express `compression()` without `res.flush()`, nginx `gzip on` with \
                     `gzip_types text/event-stream`, a framework's gzip middleware). Exclude \
                     text/event-stream from compression or flush the compressor after every event; \
                     `--bare-request` checks the rest",
                    r.status.as_u16(),
                    r.time_to_head().as_millis()
                );
            }
        }
        format!(
            "{error}, with and without Accept-Encoding: the response head is held back (response \
             buffering or a cache in front of the server: Varnish `do_stream = false` or request \
             coalescing, nginx `proxy_cache` with `proxy_cache_lock`, Caddy buffering; or a server \
             that sends its headers only with the first event). Turn response buffering and \
             caching off for text/event-stream, and flush the head at once. A server with no \
             worker free holds it too: every one taken by an open stream (gunicorn's default sync \
             worker serves one request at a time)"
        )
    }

    /// The idle-stream watch shared by K01 and K02: the idle URL read until the window ends
    /// (`heartbeat_max` + 1 s; at least 75 s in the full profile), or until the server has
    /// been silent for that long. The quick profile stops as soon as the stream has shown what
    /// it does when idle (see [`crate::checks::keepalive::idle_shown`]); events the runner
    /// publishes on the same URL do not count as idleness.
    pub async fn idle_watch(&self) -> Result<&Capture, String> {
        self.idle
            .get_or_init(|| async {
                let url = self.target.idle_url.clone();
                let mut r = self
                    .send("idle stream", self.sse_request_to(url))
                    .await
                    .map_err(|e| e.to_string())?;
                if r.status != StatusCode::OK {
                    return Err(format!("the idle stream answered {}", r.status));
                }
                let mut c = Capture::new(&r);
                let quick = self.opts.profile == Profile::Quick;
                let limit = self.opts.heartbeat_max + Duration::from_secs(1);
                let window = self
                    .opts
                    .profile
                    .pick(limit, limit.max(Duration::from_secs(75)));
                let end = Instant::now() + window;
                loop {
                    let last = c.reads.last().map_or(r.head_at, |x| x.at);
                    let deadline = end.min(last + limit);
                    let before = c.reads.len();
                    c.read_until(&mut r, deadline, |c| c.reads.len() > before)
                        .await;
                    let done =
                        c.ended_by_server() || c.reads.len() == before || Instant::now() >= end;
                    let shown = quick
                        && crate::checks::keepalive::idle_shown(
                            &c,
                            Instant::now(),
                            self.opts.heartbeat_max,
                        );
                    if done || shown {
                        break;
                    }
                }
                c.watched_until = Some(Instant::now());
                self.record_end("idle stream", &c);
                Ok(c)
            })
            .await
            .as_ref()
            .map_err(Clone::clone)
    }

    /// GETs `url` as an EventSource would, following up to 5 redirects.
    pub async fn follow(
        &self,
        mut url: Uri,
    ) -> Result<(Uri, Vec<(StatusCode, String)>, Response), ProbeError> {
        let mut redirects = Vec::new();
        loop {
            // A refused hop ends the baseline: H01 shows why, with the limit that would do.
            self.take_requests("baseline", 1)
                .map_err(|e| ProbeError::Http(e.to_string()))?;
            let response = self
                .send("stream", self.sse_request_to(url.clone()))
                .await?;
            let location = response
                .headers
                .get(http::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let (true, Some(location)) = (response.status.is_redirection(), location) else {
                return Ok((url, redirects, response));
            };
            redirects.push((response.status, location.clone()));
            if redirects.len() > crate::checks::http::MAX_REDIRECTS {
                return Ok((url, redirects, response));
            }
            url = resolve(&url, &location)?;
        }
    }
}

/// Reads a response into a fresh capture until `deadline`.
pub async fn read_window(mut response: Response, deadline: Instant) -> Capture {
    let mut capture = Capture::new(&response);
    capture.read_until(&mut response, deadline, |_| false).await;
    capture
}

/// How much of the first body [`Baseline::body_start`] keeps.
pub const BODY_START: usize = 512;

/// [`read_window`], keeping the body's first [`BODY_START`] bytes as received.
async fn read_keeping(mut response: Response, deadline: Instant) -> (Capture, Vec<u8>) {
    let mut capture = Capture::new(&response);
    let mut start = Vec::new();
    loop {
        match response.next(deadline).await {
            Next::Data(r) => {
                let room = BODY_START.saturating_sub(start.len()).min(r.bytes.len());
                start.extend_from_slice(&r.bytes[..room]);
                capture.push(r.at, &r.bytes);
            }
            Next::Eof(at) => {
                capture.eof(at);
                break;
            }
            Next::Error(at, e) => {
                capture.error(at, e);
                break;
            }
            Next::Deadline => break,
        }
    }
    (capture, start)
}

/// Resolves a `Location` value against the URL it came from.
pub fn resolve(base: &Uri, location: &str) -> Result<Uri, ProbeError> {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location
            .parse()
            .map_err(|_| ProbeError::UnsupportedUrl(location.into()));
    }
    if location.starts_with('/') {
        return probe::with_path(base, location);
    }
    let path = base.path();
    let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
    probe::with_path(base, &format!("{dir}{location}"))
}

/// H14's cause for a gzip body made of one member per write, as `a` (the browser-shaped
/// baseline subscriber) received it.
fn members_cause(a: &Capture, ignored: u64) -> String {
    let cause = a
        .gzip_file_name()
        .and_then(|name| diagnosis::gzip_compressor(name, GzipStall::Members))
        .unwrap_or(
            "a compressor that writes each chunk as a complete gzip file instead of flushing \
             one stream. Flush one gzip stream per event (Z_SYNC_FLUSH), or leave \
             text/event-stream uncompressed",
        );
    format!(
        "the `Content-Encoding: gzip` body went on after its first gzip member with another \
         ({ignored} more byte(s), a new gzip header each write): browsers decode the first \
         member only and drop the rest without a word (Chromium ignores whatever follows the \
         first member's trailer), so a browser gets {} event(s) and {} comment(s), what the \
         first write held, and nothing after it. The compressor: {cause}",
        a.events.len(),
        a.comments.len()
    )
}
