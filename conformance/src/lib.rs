//! The `ssekit` command line and the libraries behind it.
//!
//! # Map of the crate
//! - [`parse`]: `ssekit parse`, the parser's fixed JSON-lines contract (documented in the README).
//! - `ssekit check [URL]`, the conformance runner for SSE servers:
//!   - [`check_command`]: its arguments ([`check_command::CheckArgs`]) and exit statuses;
//!   - [`target`]: what is checked, and its hooks; starts the embedded reference server;
//!   - [`probe`]: the runner's own timed HTTP/1.1, HTTP/2 and raw clients;
//!   - [`h2raw`]: a raw HTTP/2 client reading one response head as sent (H06 names the
//!     connection-specific fields hyper rejects);
//!   - [`proxy`]: forward proxies (`--proxy`, `HTTP_PROXY` and friends), absolute-form and
//!     CONNECT;
//!   - [`tls`]: rustls for `https://` targets (ALPN h2 / http/1.1, `--ca-cert`);
//!   - [`capture`]: what one response body showed (strict parser plus a byte scanner);
//!   - [`context`]: options, the shared baseline observation, what the run saw so far;
//!   - [`budget`]: `--max-requests`, the requests a run may send that can start a paid
//!     generation;
//!   - [`diagnosis`]: names what stands between runner and server (idle cuts, caches,
//!     compression that holds the stream) once, for every check that depends on it;
//!   - [`checks`]: the 56 network checks, one module per group (H F I R K T S C L), plus the B (browser) rows;
//!   - [`runner`]: selection (`--only`/`--skip`), phases, progress;
//!   - [`report`]: human table, JSON (`ssekit-check/1`), JUnit XML;
//!   - [`browser`]: `--browser`, headless Chromium's EventSource through a recording proxy (B checks).
//! - [`load`]: `ssekit load`, a load generator for SSE servers on loopback (connections,
//!   delivery, missing/duplicate events, latency percentiles, server RSS).
//! - `main.rs`: the `ssekit` binary, a thin clap layer over these modules.
#![forbid(unsafe_code)]

pub mod browser;
pub mod budget;
pub mod capture;
pub mod check_command;
pub mod checks;
pub mod context;
pub mod diagnosis;
pub mod h2raw;
pub mod load;
pub mod parse;
pub mod probe;
pub mod profiles;
pub mod proxy;
pub mod report;
pub mod runner;
pub mod target;
pub mod tls;
