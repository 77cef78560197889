//! `ssekit`: parse event streams, check SSE servers, run the reference server.

use std::fs::File;
use std::io::{self, BufWriter};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use http::{HeaderName, HeaderValue};
use ssekit::parse::url::{self, parse_header};
use ssekit::parse::{stream_reader, Chunking, InputError, Session, Status};
use ssekit_parser::Limits;

#[derive(Parser)]
#[command(name = "ssekit", version, about = "Server-Sent Events toolkit")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Parse a text/event-stream as it arrives and print one JSON object per event and per
    /// retry; from a file, standard input, or a URL it connects to (see docs/parse.md).
    Parse(ParseArgs),
    /// Run the reference SSE server (HTTP/1.1 and h2c) until SIGINT or SIGTERM.
    Serve(ssekit_server::ServeArgs),
    /// Check an SSE server over the network (with no URL: the embedded reference server).
    Check(Box<ssekit_check::check_command::CheckArgs>),
    /// Load an SSE server on loopback: N streams, a timed publisher, stalled readers; reports
    /// delivery, missing/duplicate events, latency percentiles and the server's RSS.
    Load(ssekit_load::LoadArgs),
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Parse(args) => parse(args),
        Command::Serve(args) => ssekit::serve::run(args),
        Command::Check(args) => ssekit_check::check_command::run(*args),
        Command::Load(args) => ssekit::load::run(args),
    }
}

/// `ssekit parse`'s arguments. Exit statuses: 0 clean, 1 an event lost (limit, or the input
/// ended inside an event or line), 2 usage or local I/O error, 3 network error, 4 the server
/// answered with no event stream, 130 Ctrl-C.
#[derive(clap::Args)]
#[command(
    after_help = "Exit status: 0 every event complete (for a URL: a clean end, or 204); \
1 an event lost (a limit, or the input ended inside an event or a line); 2 usage or local I/O \
error; 3 network error (no connection, or it broke without --follow); 4 the server answered \
without an event stream (status, Content-Type); 130 Ctrl-C."
)]
struct ParseArgs {
    /// A file; standard input when absent or `-`; or an http:// or https:// URL to connect to.
    #[arg(value_name = "FILE|URL")]
    input: Option<PathBuf>,
    /// Feed the parser pieces of at most this many bytes of each read (the output must not
    /// change).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    chunk_size: Option<u64>,
    /// Longest line accepted, in bytes; a longer one drops its event (reported on stderr).
    #[arg(long, value_name = "BYTES", default_value_t = Limits::DEFAULT_MAX_LINE_BYTES as u64, value_parser = clap::value_parser!(u64).range(1..))]
    max_line_bytes: u64,
    /// Largest event accepted (data plus event type), in bytes; a larger one is dropped.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::DEFAULT_MAX_EVENT_BYTES as u64, value_parser = clap::value_parser!(u64).range(1..))]
    max_event_bytes: u64,
    /// URL: reconnect as EventSource does after the stream ends or breaks (wait the last
    /// `retry`, send Last-Event-ID); stops on 204, on a refused response, or on Ctrl-C.
    #[arg(long)]
    follow: bool,
    /// URL: send this request header too (repeatable).
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE", value_parser = parse_header)]
    headers: Vec<(HeaderName, HeaderValue)>,
    /// URL: the reconnection delay until the server sends `retry:` (EventSource's 3000 ms).
    #[arg(long, value_name = "MS", default_value_t = 3000)]
    retry_default: u64,
    /// URL: seconds allowed for connecting and for the response head.
    #[arg(long, value_name = "SECS", default_value_t = 10.0, value_parser = secs)]
    timeout: f64,
    /// URL: also trust the CA certificates in this PEM file for https://.
    #[arg(long, value_name = "FILE")]
    ca_cert: Option<PathBuf>,
    /// URL: go through this HTTP forward proxy (else HTTP_PROXY, HTTPS_PROXY, ALL_PROXY and
    /// NO_PROXY apply, as with curl).
    #[arg(long, value_name = "URL")]
    proxy: Option<String>,
    /// URL: ignore the proxy environment variables.
    #[arg(long)]
    no_proxy: bool,
}

fn secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 86_400.0 => Ok(v),
        _ => Err(format!(
            "`{s}` is not a number of seconds between 0 and 86400"
        )),
    }
}

impl ParseArgs {
    fn limits(&self) -> Limits {
        let bytes = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        Limits::new()
            .with_max_line_bytes(bytes(self.max_line_bytes))
            .with_max_event_bytes(bytes(self.max_event_bytes))
    }

    fn chunking(&self) -> Chunking {
        self.chunk_size.map_or(Chunking::Whole, |n| {
            Chunking::Fixed(usize::try_from(n).unwrap_or(usize::MAX))
        })
    }

    /// The URL-only options given, by name (an error with a file or standard input).
    fn url_options(&self) -> Vec<&'static str> {
        let mut given = Vec::new();
        let mut flag = |on: bool, name| {
            if on {
                given.push(name)
            }
        };
        flag(self.follow, "--follow");
        flag(!self.headers.is_empty(), "--header");
        flag(self.ca_cert.is_some(), "--ca-cert");
        flag(self.proxy.is_some(), "--proxy");
        flag(self.no_proxy, "--no-proxy");
        given
    }
}

fn parse(args: ParseArgs) -> ExitCode {
    let url = args
        .input
        .as_deref()
        .and_then(|p| p.to_str())
        .filter(|s| s.starts_with("http://") || s.starts_with("https://"))
        .map(str::to_owned);
    match url {
        Some(url) => parse_url(&url, &args),
        None => parse_input(&args),
    }
    .into()
}

fn parse_input(args: &ParseArgs) -> Status {
    let url_only = args.url_options();
    if !url_only.is_empty() {
        eprintln!(
            "ssekit parse: {} only apply to a URL (http:// or https://)",
            url_only.join(", ")
        );
        return Status::Local;
    }
    let out = BufWriter::new(io::stdout().lock());
    let mut session = Session::new(args.limits(), out, io::stderr());
    let result = match args.input.as_deref() {
        None => stream_reader(
            io::stdin().lock(),
            "standard input",
            args.chunking(),
            &mut session,
        ),
        Some(p) if p.as_os_str() == "-" => stream_reader(
            io::stdin().lock(),
            "standard input",
            args.chunking(),
            &mut session,
        ),
        Some(p) => {
            let name = p.display().to_string();
            match File::open(p) {
                Ok(f) => stream_reader(f, &name, args.chunking(), &mut session),
                Err(source) => Err(InputError::Read { name, source }),
            }
        }
    };
    match result {
        Ok(()) => session.status(),
        // A closed pipe (`ssekit parse f | head`) is not an error worth a message.
        Err(InputError::Write(e)) if e.kind() == io::ErrorKind::BrokenPipe => Status::Clean,
        Err(e) => {
            eprintln!("ssekit parse: {e}");
            Status::Local
        }
    }
}

fn parse_url(url: &str, args: &ParseArgs) -> Status {
    match url_options(url, args) {
        Ok(opts) => url::run(&opts),
        Err(message) => {
            eprintln!("ssekit parse: {message}");
            Status::Local
        }
    }
}

/// The plain settings of URL mode; sets the process-wide TLS roots and proxies on the way.
fn url_options(url: &str, args: &ParseArgs) -> Result<url::Options, String> {
    let url = url
        .parse()
        .map_err(|e| format!("`{url}` is not a URL: {e}"))?;
    if let Some(path) = &args.ca_cert {
        let pem = std::fs::read(path).map_err(|e| format!("--ca-cert {}: {e}", path.display()))?;
        ssekit_check::tls::add_roots_pem(&pem).map_err(|e| e.to_string())?;
    }
    let no_proxy = args.no_proxy;
    let var = |name: &str| (!no_proxy).then(|| std::env::var(name).ok()).flatten();
    let proxies =
        ssekit_check::proxy::Proxies::new(args.proxy.as_deref(), var).map_err(|e| e.to_string())?;
    ssekit_check::proxy::set(proxies);
    Ok(url::Options {
        url,
        headers: args.headers.iter().cloned().collect(),
        follow: args.follow,
        retry_default: Duration::from_millis(args.retry_default),
        timeout: Duration::from_secs_f64(args.timeout),
        limits: args.limits(),
        chunking: args.chunking(),
    })
}
