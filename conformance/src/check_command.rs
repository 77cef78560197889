//! `ssekit check [URL]`: the command line of the conformance runner. Builds the target and
//! options from the arguments, runs the checks, prints the human report and writes the JSON
//! and JUnit files. Exit status: 0 no MUST failed, 1 a MUST failed, 2 the run was impossible.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderName, HeaderValue, Method};

use crate::checks;
use crate::context::{Ctx, Lifetime, Options, Profile, Shape};
use crate::diagnosis::FirstAnswer;
use crate::profiles::Protocol;
use crate::report::{self, human::Color, Report};
use crate::runner::{self, Selection};
use crate::target::{self, parse_url, Opening, Publisher, Target, TargetError};

/// Arguments of `ssekit check`.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
pub struct CheckArgs {
    /// The SSE stream URL (http://…). Without it, the embedded reference server is started on
    /// 127.0.0.1:0 (ticker, heartbeats, every hook) and checked.
    pub url: Option<String>,
    /// Publish endpoint: the runner POSTs JSON {"event"?, "data"} there for active checks.
    #[cfg_attr(feature = "cli", arg(long, value_name = "URL"))]
    pub publish: Option<String>,
    /// Extra request header, e.g. `Authorization: Bearer x` (repeatable).
    #[cfg_attr(feature = "cli", arg(long = "header", value_name = "K:V"))]
    pub headers: Vec<String>,
    /// Run only these checks: ids (I03) or group letters (I). Repeatable.
    #[cfg_attr(feature = "cli", arg(long, value_name = "ID"))]
    pub only: Vec<String>,
    /// Skip these checks: ids or group letters. Repeatable.
    #[cfg_attr(feature = "cli", arg(long, value_name = "ID"))]
    pub skip: Vec<String>,
    /// Bound on each network wait, in seconds.
    #[cfg_attr(feature = "cli", arg(long, value_name = "SECS", default_value = "5", value_parser = secs))]
    pub timeout: Duration,
    /// Largest acceptable silence on an idle stream, in seconds (K01).
    #[cfg_attr(feature = "cli", arg(long, value_name = "SECS", default_value = "30", value_parser = secs))]
    pub heartbeat_max: Duration,
    /// Write the JSON report (schema ssekit-check/1) to FILE.
    #[cfg_attr(feature = "cli", arg(long, value_name = "FILE"))]
    pub json: Option<PathBuf>,
    /// Write a JUnit XML report to FILE.
    #[cfg_attr(feature = "cli", arg(long, value_name = "FILE"))]
    pub junit: Option<PathBuf>,
    /// quick: under 30 s on a healthy server; full: larger counts and a 75 s idle watch;
    /// openai, anthropic, mcp: the stream is opened by that protocol's POST and judged by its
    /// rules (combine with a depth: `--profile full,openai`).
    #[cfg_attr(
        feature = "cli",
        arg(long, value_enum, value_delimiter = ',', default_value = "quick")
    )]
    pub profile: Vec<ProfileArg>,
    /// The method that opens the stream (default GET; POST for the protocol profiles). A
    /// stream opened by anything but GET is expected to end (see --finite).
    #[cfg_attr(feature = "cli", arg(long, value_name = "METHOD"))]
    pub method: Option<String>,
    /// The request body that opens the stream: a string, or @FILE to read it from a file.
    #[cfg_attr(feature = "cli", arg(long, value_name = "STRING|@FILE"))]
    pub data: Option<String>,
    /// The body's Content-Type (default application/json when --data is given).
    #[cfg_attr(feature = "cli", arg(long, value_name = "TYPE"))]
    pub content_type: Option<String>,
    /// The stream is expected to end (as an LLM completion does): checks that need an endless
    /// stream, a publish hook or replay SKIP, and the P checks judge the finite stream.
    #[cfg_attr(feature = "cli", arg(long))]
    pub finite: bool,
    /// How long a finite stream may take to end, in seconds.
    #[cfg_attr(feature = "cli", arg(long, value_name = "SECS", default_value = "30", value_parser = secs))]
    pub stream_max: Duration,
    /// The most requests the run may send that can start a generation (each one is a billed
    /// answer on a paid endpoint): the baseline takes 1, H06 1, P07 3 (10 in the full
    /// profile); a check that needs more than is left SKIPs, and P09 reports what was sent.
    /// Default: no limit. Finite streams only.
    #[cfg_attr(feature = "cli", arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..)))]
    pub max_requests: Option<u32>,
    /// A URL that should tell clients to stop (expects 204), for H10.
    #[cfg_attr(feature = "cli", arg(long, value_name = "URL"))]
    pub gone_url: Option<String>,
    /// Long-poll endpoint (GET URL?after=ID&timeout=S -> {events, next}), for L01.
    #[cfg_attr(feature = "cli", arg(long, value_name = "URL"))]
    pub poll_url: Option<String>,
    /// Prometheus metrics URL (connection gauges for S02/S03).
    #[cfg_attr(feature = "cli", arg(long, value_name = "URL"))]
    pub metrics_url: Option<String>,
    /// The same stream on another instance of the deployment (S05: publish on one, receive on both).
    #[cfg_attr(feature = "cli", arg(long, value_name = "URL"))]
    pub also_url: Option<String>,
    /// A stream URL on which nothing is published (K01/K02); defaults to URL.
    #[cfg_attr(feature = "cli", arg(long, value_name = "URL"))]
    pub idle_url: Option<String>,
    /// Also trust the CA certificates in this PEM file for https:// URLs.
    #[cfg_attr(feature = "cli", arg(long, value_name = "FILE"))]
    pub ca_cert: Option<PathBuf>,
    /// Send every request through this HTTP forward proxy (http://host:port): absolute-form
    /// for http:// targets, a CONNECT tunnel for https://. Without it, HTTP_PROXY,
    /// HTTPS_PROXY, ALL_PROXY and NO_PROXY (or their lower-case forms) apply to URL targets.
    #[cfg_attr(feature = "cli", arg(long, value_name = "URL"))]
    pub proxy: Option<String>,
    /// Ignore the proxy environment variables (--proxy still applies).
    #[cfg_attr(feature = "cli", arg(long))]
    pub no_proxy: bool,
    /// No progress line on stderr.
    #[cfg_attr(feature = "cli", arg(long))]
    pub quiet: bool,
    /// Send stream requests without `Accept-Encoding` (by default they carry a browser's
    /// `gzip, deflate, br, zstd`, so compression layers are judged as browsers meet them).
    #[cfg_attr(feature = "cli", arg(long))]
    pub bare_request: bool,
    /// Print every check (id, level, basis, title, source) as a Markdown table and exit.
    #[cfg_attr(feature = "cli", arg(long))]
    pub list_checks: bool,
    /// Exit 1 on a WARN too (a SHOULD violated), not only on a FAIL (a MUST violated).
    #[cfg_attr(feature = "cli", arg(long))]
    pub strict: bool,
    /// `--browser`, `--chromium`, `--with-credentials`.
    #[cfg_attr(feature = "cli", command(flatten))]
    pub browser: BrowserArgs,
}

impl Default for CheckArgs {
    /// `ssekit check` with no arguments: the embedded reference server, the quick profile. A
    /// test (feature `cli`) keeps this equal to the command line's defaults.
    fn default() -> Self {
        CheckArgs {
            url: None,
            publish: None,
            headers: Vec::new(),
            only: Vec::new(),
            skip: Vec::new(),
            timeout: Duration::from_secs(5),
            heartbeat_max: Duration::from_secs(30),
            json: None,
            junit: None,
            profile: vec![ProfileArg::Quick],
            method: None,
            data: None,
            content_type: None,
            finite: false,
            stream_max: Duration::from_secs(30),
            max_requests: None,
            gone_url: None,
            poll_url: None,
            metrics_url: None,
            also_url: None,
            idle_url: None,
            ca_cert: None,
            proxy: None,
            no_proxy: false,
            quiet: false,
            bare_request: false,
            list_checks: false,
            strict: false,
            browser: BrowserArgs::default(),
        }
    }
}

/// A `--profile` value: a depth (quick, full) or a protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum ProfileArg {
    /// Every check with short windows and small counts.
    Quick,
    /// Every check at full size.
    Full,
    /// OpenAI-compatible chat completions (`"stream": true`).
    Openai,
    /// Anthropic-style messages streaming.
    Anthropic,
    /// MCP Streamable HTTP (2025-06-18).
    Mcp,
}

impl CheckArgs {
    /// The depth the profiles ask for (quick unless `full` is among them).
    pub fn depth(&self) -> Profile {
        match self.profile.contains(&ProfileArg::Full) {
            true => Profile::Full,
            false => Profile::Quick,
        }
    }

    /// The protocol the profiles name, if any (the last one wins).
    pub fn protocol(&self) -> Option<Protocol> {
        self.profile.iter().rev().find_map(|p| match p {
            ProfileArg::Openai => Some(Protocol::OpenAi),
            ProfileArg::Anthropic => Some(Protocol::Anthropic),
            ProfileArg::Mcp => Some(Protocol::Mcp),
            ProfileArg::Quick | ProfileArg::Full => None,
        })
    }
}

/// The real-browser options of `ssekit check` (off by default).
#[derive(Debug, Clone)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
pub struct BrowserArgs {
    /// Also ask a real browser: headless Chromium's EventSource, through a recording proxy
    /// (B01-B06, and where it disagrees with the runner).
    #[cfg_attr(feature = "cli", arg(long = "browser"))]
    pub enabled: bool,
    /// The Chromium executable for --browser.
    #[cfg_attr(feature = "cli", arg(long, value_name = "PATH", default_value = crate::browser::DEFAULT_CHROMIUM))]
    pub chromium: PathBuf,
    /// With --browser: `new EventSource(url, {withCredentials: true})`.
    #[cfg_attr(feature = "cli", arg(long))]
    pub with_credentials: bool,
}

impl Default for BrowserArgs {
    fn default() -> Self {
        BrowserArgs {
            enabled: false,
            chromium: crate::browser::DEFAULT_CHROMIUM.into(),
            with_credentials: false,
        }
    }
}

#[cfg(feature = "cli")]
fn secs(s: &str) -> Result<Duration, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if !v.is_finite() || !(0.01..=3600.0).contains(&v) {
        return Err(format!("`{s}` must be between 0.01 and 3600 seconds"));
    }
    Ok(Duration::from_secs_f64(v))
}

/// Why `ssekit check` could not run (exit status 2).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A bad argument.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// `--ca-cert` could not be read or used.
    #[error("cannot use --ca-cert {path}: {reason}")]
    CaCert {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A bad `--method`, `--data` or `--content-type`.
    #[error("{0}")]
    Request(String),
    /// `--proxy` or a proxy variable cannot be used.
    #[error(transparent)]
    Proxy(#[from] crate::proxy::ProxyError),
    /// A malformed `--header`.
    #[error("--header `{0}`: expected `Name: value` with a valid header name and value")]
    Header(String),
    /// A bad `--only` / `--skip`.
    #[error(transparent)]
    Selection(#[from] runner::UnknownCheck),
    /// Nothing to judge at the stream URL: a dead endpoint (refused, no such host, no
    /// answer to connect), a TLS refusal, a proxy that will not carry the request.
    #[error("cannot check {url}: {reason}")]
    Unreachable {
        /// The URL.
        url: String,
        /// Why, and what to do.
        reason: String,
    },
    /// `--browser` was asked for but the browser is not there.
    #[error("--browser: no Chromium at {0}: install it (Debian: `apt-get install chromium`) or pass --chromium PATH")]
    NoBrowser(PathBuf),
    /// `--browser` was asked of a build without the `browser` feature.
    #[error("--browser: this ssekit was built without browser support; rebuild with the `browser` feature (`cargo install --path conformance/cli` has it)")]
    BrowserNotBuilt,
    /// A `--json` or `--junit` path that cannot be written, found before the run.
    #[error("{flag} {}: {reason}; give a file in an existing, writable directory", .path.display())]
    ReportPath {
        /// `--json` or `--junit`.
        flag: &'static str,
        /// The path given.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A report file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// Which file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

fn parse_headers(list: &[String]) -> Result<HeaderMap, RunError> {
    let mut headers = HeaderMap::new();
    for h in list {
        let (k, v) = h
            .split_once(':')
            .ok_or_else(|| RunError::Header(h.clone()))?;
        let name =
            HeaderName::from_bytes(k.trim().as_bytes()).map_err(|_| RunError::Header(h.clone()))?;
        let value = HeaderValue::from_str(v.trim()).map_err(|_| RunError::Header(h.clone()))?;
        headers.append(name, value);
    }
    Ok(headers)
}

/// The request that opens the stream: `--method`, `--data`, `--content-type`, with the
/// protocol profile's defaults (POST, a short request of its own, JSON) for what is not given.
fn opening(args: &CheckArgs) -> Result<Opening, RunError> {
    let protocol = args.protocol();
    let method = match (&args.method, protocol) {
        (Some(m), _) => Method::from_bytes(m.to_ascii_uppercase().as_bytes())
            .map_err(|_| RunError::Request(format!("--method `{m}` is not an HTTP method")))?,
        (None, Some(_)) => Method::POST,
        (None, None) => Method::GET,
    };
    let body = match (&args.data, protocol) {
        (Some(d), _) => match d.strip_prefix('@') {
            Some(path) => std::fs::read(path)
                .map_err(|e| RunError::Request(format!("--data @{path}: {e}")))?,
            None => d.clone().into_bytes(),
        },
        (None, Some(p)) => p.default_body().as_bytes().to_vec(),
        (None, None) => Vec::new(),
    };
    let content_type = match (&args.content_type, body.is_empty()) {
        (Some(ct), _) => Some(HeaderValue::from_str(ct).map_err(|_| {
            RunError::Request(format!("--content-type `{ct}` is not a header value"))
        })?),
        (None, false) => Some(HeaderValue::from_static("application/json")),
        (None, true) => None,
    };
    Ok(Opening {
        method,
        body: body.into(),
        content_type,
        accept: protocol
            .and_then(Protocol::accept)
            .map(HeaderValue::from_static),
    })
}

/// Builds the target the arguments describe (starting the embedded server when no URL).
pub async fn build_target(args: &CheckArgs) -> Result<Target, RunError> {
    if args.max_requests.is_some() && opts_of(args).lifetime != Lifetime::Finite {
        return Err(RunError::Request(
            "--max-requests limits the requests that can start a generation, which only a \
             stream opened by a request does: add --finite, --method/--data or --profile \
             openai|anthropic|mcp, or drop --max-requests"
                .into(),
        ));
    }
    let headers = parse_headers(&args.headers)?;
    if let Some(path) = &args.ca_cert {
        let ca = |reason: String| RunError::CaCert {
            path: path.clone(),
            reason,
        };
        let pem = std::fs::read(path).map_err(|e| ca(e.to_string()))?;
        crate::tls::add_roots_pem(&pem).map_err(|e| ca(e.to_string()))?;
    }
    configure_proxy(args)?;
    let Some(url) = &args.url else {
        return embedded_target(args, headers).await;
    };
    let mut t = Target::remote(parse_url("URL", url)?, headers.clone());
    t.opening = opening(args)?;
    if let Some(p) = &args.publish {
        t.publish = Some(Publisher::Http {
            url: parse_url("--publish", p)?,
            headers,
            timeout: args.timeout,
        });
    }
    let optional = |what, v: &Option<String>| v.as_deref().map(|v| parse_url(what, v)).transpose();
    t.gone_url = optional("--gone-url", &args.gone_url)?;
    t.poll_url = optional("--poll-url", &args.poll_url)?;
    t.metrics_url = optional("--metrics-url", &args.metrics_url)?;
    t.also_url = optional("--also-url", &args.also_url)?;
    if let Some(idle) = optional("--idle-url", &args.idle_url)? {
        t.idle_url = idle;
    }
    Ok(t)
}

/// The embedded reference server as the arguments want it: its endless `/stream`, or with a
/// `--profile` the mock endpoint that answers that protocol's request with a finite stream.
async fn embedded_target(args: &CheckArgs, headers: HeaderMap) -> Result<Target, RunError> {
    let opts = opts_of(args);
    let path = match (opts.protocol, opts.lifetime) {
        (Some(protocol), _) => Some(protocol.mock_path()),
        (None, Lifetime::Finite) => {
            return Err(RunError::Request(
                "--finite, --method and --data describe a stream opened by a request, and the \
                 embedded reference server's /stream is an endless GET feed: give the URL of \
                 the endpoint to check, or --profile openai|anthropic|mcp to check the embedded \
                 server's mock endpoint for that protocol"
                    .into(),
            ))
        }
        (None, Lifetime::Endless) => None,
    };
    let mut t = Target::embedded(target::embedded_config()).await?;
    t.headers = headers;
    if let Some(path) = path {
        t.aim_at(path)?;
        let mut args = args.clone();
        if opts.protocol == Some(Protocol::Mcp) {
            args.data
                .get_or_insert_with(|| crate::profiles::mcp::MOCK_COUNT_CALL.to_owned());
        }
        t.opening = opening(&args)?;
    }
    Ok(t)
}

/// Whether the target lets the runner publish.
fn publishing(target: &Target) -> runner::Publishing {
    match target.publish {
        Some(_) => runner::Publishing::Hook,
        None => runner::Publishing::None,
    }
}

/// The runner's options the arguments describe.
pub fn opts_of(args: &CheckArgs) -> Options {
    let protocol = args.protocol();
    let non_get = args
        .method
        .as_deref()
        .is_some_and(|m| !m.eq_ignore_ascii_case("GET"));
    Options {
        timeout: args.timeout,
        heartbeat_max: args.heartbeat_max,
        profile: args.depth(),
        shape: match args.bare_request {
            true => Shape::Bare,
            false => Shape::Browser,
        },
        lifetime: match args.finite || non_get || protocol.is_some() {
            true => Lifetime::Finite,
            false => Lifetime::Endless,
        },
        protocol,
        stream_max: args.stream_max,
        max_requests: args.max_requests,
    }
}

/// Sets the process-wide proxies: `--proxy`, plus the environment's variables unless
/// `--no-proxy` or the target is the embedded server (a proxy set for the outside world has no
/// business with a server this process started on loopback).
fn configure_proxy(args: &CheckArgs) -> Result<(), RunError> {
    let env = match (args.no_proxy, &args.url) {
        (false, Some(_)) => crate::proxy::Env::Read,
        _ => crate::proxy::Env::Ignore,
    };
    let var = |name: &str| match env {
        crate::proxy::Env::Read => std::env::var(name).ok(),
        crate::proxy::Env::Ignore => None,
    };
    crate::proxy::set(crate::proxy::Proxies::new(args.proxy.as_deref(), var)?);
    Ok(())
}

/// Runs the checks the arguments select against `target` and returns the report.
pub async fn check_target(target: Target, args: &CheckArgs) -> Result<Report, RunError> {
    let opts = opts_of(args);
    let selection = Selection {
        only: args.only.clone(),
        skip: args.skip.clone(),
    };
    let (mut selected, browser_selected) =
        selection.split(checks::all(), crate::browser::verdicts::checks().to_vec())?;
    if selection.only_names(&browser_selected) && !args.browser.enabled {
        return Err(RunError::Request(
            "the B checks are judged in a real browser: add --browser to run them".into(),
        ));
    }
    // A feed is never judged as a finite stream: the P rows would only say so, once each.
    if opts.lifetime == Lifetime::Endless && args.only.is_empty() {
        selected.retain(|c| c.group() != "P");
    }
    let description = target.description.clone();
    let ctx = Ctx::new(target, opts);
    let started = Instant::now();
    let started_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // One decision before the checks. Nothing to talk to is "could not run"; a server that
    // accepts and then stalls is judged (H01 fails with the cause); an answer that is not an
    // event stream is judged by the checks of the answer while the others SKIP at once.
    match ctx.first_answer().await {
        FirstAnswer::Unreachable(reason) => {
            return Err(RunError::Unreachable {
                url: description,
                reason: reason.clone(),
            })
        }
        FirstAnswer::NotAStream(n) if !args.quiet => eprintln!(
            "ssekit check: {}; only the checks of the answer itself run, the rest SKIP",
            n.cause
        ),
        _ => {}
    }
    // Before the runner's checks: its shutdown phase stops the embedded server.
    let browser_started = Instant::now();
    let browser = match args.browser.enabled {
        true => Some(browser_session(&ctx, args).await),
        false => None,
    };
    // The bound announced at the start covers the baseline and every check; a browser
    // session comes on top of it.
    let deadline =
        started + browser_started.elapsed() + runner::budget(&ctx.opts, publishing(&ctx.target));
    let mut results = runner::run(&ctx, &selected, args.quiet, deadline).await;
    let browser = browser.map(|(rows, mut section)| {
        results.extend(
            rows.into_iter()
                .filter(|r| browser_selected.iter().any(|c| c.id == r.check.id)),
        );
        section.disagreements =
            crate::browser::verdicts::disagreements(&mut results, section.observation.as_ref());
        section
    });
    let profile = match args.depth() {
        Profile::Quick => "quick",
        Profile::Full => "full",
    };
    Ok(Report {
        target: description,
        profile,
        started_unix,
        duration: started.elapsed(),
        results,
        browser,
        gate: match args.strict {
            true => report::Gate::Strict,
            false => report::Gate::Must,
        },
    })
}

/// The browser session, listening to the event types the baseline saw.
async fn browser_session(
    ctx: &Ctx,
    args: &CheckArgs,
) -> (Vec<runner::CheckResult>, crate::browser::BrowserReport) {
    let mut types: Vec<String> = match ctx.baseline().await {
        Ok(b) => {
            b.a.events
                .iter()
                .map(|e| e.value.event_type.clone())
                .collect()
        }
        Err(_) => Vec::new(),
    };
    // The reference server's reset signal; harmless elsewhere.
    types.push("reset".into());
    types.sort();
    types.dedup();
    types.retain(|t| t != "message");
    let opts = crate::browser::BrowserOptions {
        chromium: args.browser.chromium.clone(),
        with_credentials: args.browser.with_credentials,
        timeout: args.timeout,
    };
    if !args.quiet {
        eprintln!(
            "ssekit check: browser session ({})",
            args.browser.chromium.display()
        );
    }
    crate::browser::run(&ctx.target, &types, &opts).await
}

/// Fails when a report could not be written to `path`, before a run that would end writing
/// it: the file is opened for appending (created if missing, and then removed again).
fn writable(flag: &'static str, path: &Path) -> Result<(), RunError> {
    let bad = |reason: String| RunError::ReportPath {
        flag,
        path: path.to_owned(),
        reason,
    };
    if path.is_dir() {
        return Err(bad("that is a directory".into()));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(bad(format!(
            "the directory {} does not exist",
            dir.display()
        )));
    }
    let existed = path.exists();
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| bad(e.to_string()))?;
    if !existed {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

fn write_file(path: &PathBuf, text: &str) -> Result<(), RunError> {
    std::fs::write(path, text).map_err(|source| RunError::Write {
        path: path.clone(),
        source,
    })
}

async fn check(args: &CheckArgs) -> Result<Report, RunError> {
    if args.browser.enabled && !cfg!(feature = "browser") {
        return Err(RunError::BrowserNotBuilt);
    }
    if args.browser.enabled && !args.browser.chromium.exists() {
        return Err(RunError::NoBrowser(args.browser.chromium.clone()));
    }
    for (flag, path) in [("--json", &args.json), ("--junit", &args.junit)] {
        if let Some(path) = path {
            writable(flag, path)?;
        }
    }
    let target = build_target(args).await?;
    if !args.quiet {
        let requests = match args.max_requests {
            Some(n) => format!(", at most {n} request(s) that can start a generation"),
            None => String::new(),
        };
        eprintln!(
            "ssekit check: {} ({} profile, at most ~{} s{requests})",
            target.description,
            if args.depth() == Profile::Quick {
                "quick"
            } else {
                "full"
            },
            runner::budget(&opts_of(args), publishing(&target)).as_secs()
        );
    }
    let report = check_target(target, args).await?;
    if let Some(path) = &args.json {
        write_file(path, &report::json::to_string(&report))?;
    }
    if let Some(path) = &args.junit {
        write_file(path, &report::junit::to_string(&report))?;
    }
    Ok(report)
}

/// Every check as a Markdown table: id, level, basis, title and the source it cites (the
/// table in docs/checks.md is this output).
pub fn checks_table() -> String {
    let mut out = String::from("| ID | Level | Basis | Checks | Source |\n|---|---|---|---|---|\n");
    let browser = crate::browser::verdicts::checks();
    for c in checks::all().iter().chain(&browser) {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            c.id,
            c.level,
            c.basis,
            c.title.replace('|', "\\|"),
            c.reference.replace('|', "\\|")
        ));
    }
    out
}

/// `ssekit check`: runs and prints; returns the exit status.
pub fn run(args: CheckArgs) -> ExitCode {
    if args.list_checks {
        print!("{}", checks_table());
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ssekit check: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(check(&args));
    // Embedded-server tasks (e.g. a hanging shutdown under test) must not keep the process.
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Err(e) => {
            eprintln!("ssekit check: {e}");
            ExitCode::from(2)
        }
        Ok(report) => {
            let color = if std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
            {
                Color::On
            } else {
                Color::Off
            };
            let mut out = std::io::stdout().lock();
            let _ = report::human::write(&report, color, &mut out);
            let _ = out.flush();
            ExitCode::from(report.exit_code())
        }
    }
}

#[cfg(all(test, feature = "cli"))]
mod tests {
    use super::*;

    /// `CheckArgs::default()` is what the command line gives with no arguments.
    #[test]
    fn default_is_the_command_lines_default() {
        #[derive(clap::Parser)]
        struct Bare {
            #[command(flatten)]
            args: CheckArgs,
        }
        let parsed = <Bare as clap::Parser>::parse_from(["ssekit-check"]).args;
        assert_eq!(format!("{parsed:?}"), format!("{:?}", CheckArgs::default()));
    }
}
