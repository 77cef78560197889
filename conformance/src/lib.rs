#![doc = include_str!("../README.md")]
//! The conformance runner behind `ssekit check`: judges an SSE server over the network (a feed,
//! or a stream opened by a request: LLM token endpoints, MCP servers), names what stands in
//! front of it (proxies, caches, compression), and reports as text, JSON or JUnit. The
//! `ssekit` binary (`conformance/cli`) is a thin command line over it.
//!
//! Features: `browser` (headless Chromium's EventSource, the B checks), `cli` (`clap` derives
//! for [`check_command::CheckArgs`]).
//!
//! # Map of the crate
//! - [`check_command`]: `ssekit check`'s arguments ([`check_command::CheckArgs`]) and exit
//!   statuses;
//! - [`target`]: what is checked, and its hooks; starts the embedded reference server;
//! - [`probe`]: the runner's own timed HTTP/1.1, HTTP/2 and raw clients;
//! - [`h2raw`]: a raw HTTP/2 client reading one response head as sent (H06 names the
//!   connection-specific fields hyper rejects);
//! - [`proxy`]: forward proxies (`--proxy`, `HTTP_PROXY` and friends), absolute-form and
//!   CONNECT;
//! - [`tls`]: rustls for `https://` targets (ALPN h2 / http/1.1, `--ca-cert`);
//! - [`capture`]: what one response body showed (strict parser plus a byte scanner);
//! - [`context`]: options, the shared baseline observation, what the run saw so far;
//! - [`budget`]: `--max-requests`, the requests a run may send that can start a paid
//!   generation;
//! - [`diagnosis`]: names what stands between runner and server (idle cuts, caches,
//!   compression that holds the stream) once, for every check that depends on it;
//! - [`checks`]: the network checks, one module per group (H F I R K T S C L P), plus the B
//!   (browser) rows;
//! - [`profiles`]: what an OpenAI, Anthropic or MCP stream must look like;
//! - [`runner`]: selection (`--only`/`--skip`), phases, progress;
//! - [`report`]: human table, JSON (`ssekit-check/1`), JUnit XML;
//! - [`browser`]: `--browser`, headless Chromium's EventSource through a recording proxy (B
//!   checks; the driver needs the `browser` feature).
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod browser;
pub mod budget;
pub mod capture;
pub mod check_command;
pub mod checks;
pub mod context;
pub mod diagnosis;
pub mod h2raw;
pub mod probe;
pub mod profiles;
pub mod proxy;
pub mod report;
pub mod runner;
pub mod target;
pub mod tls;
