//! The reference Server-Sent Events server behind `ssekit serve`, and the conformance
//! runner's default target: fan-out over topics, exact replay from `Last-Event-ID`, explicit
//! reset signals, heartbeats, bounded per-subscriber lag, a long-poll fallback, a graceful
//! shutdown that ends every stream at an event boundary within a second, and (feature
//! `misbehave`) switches that break one rule at a time on purpose.
//!
//! # Map of the crate
//! - [`config`]: [`Config`], and `ServeArgs` (the command line, feature `cli`).
//! - [`server`]: [`start`], [`ServerHandle`], [`run`]: listening, HTTP/1.1 + h2c, shutdown.
//! - `http` (private): routes, headers, CORS, auth, the stream / publish / poll endpoints.
//! - `hub` (private): the shared ring of pre-encoded frames, the subscribers and their lag
//!   policy, long-poll waiters.
//! - [`replay`]: the `EPOCH-SEQ` id scheme and the resume / reset decision.
//! - `stream` (private): the event-stream response body.
//! - `conn_log` (private): the line a subscriber's connection logs when it ends.
//! - [`websocket`]: `/ws`, the same hub over WebSocket; its close codes.
//! - `direct` (private): plain HTTP/1.1 `GET /stream` requests served without hyper's
//!   per-connection buffers (idle streams stay small); everything else goes to hyper.
//! - `behaviour` (private): the one point where the server's conduct is decided, once at
//!   start-up; every other module asks it and never checks a switch.
//! - `misbehave` (feature `misbehave`): `Misbehavior`, the switches that break one rule at a
//!   time on purpose, and the only code that breaks rules.
//! - `mock` (private): mock OpenAI, Anthropic and MCP endpoints that answer a POST with a
//!   finite event stream, for the runner's request-initiated checks.
//! - [`metrics`]: [`MetricsSnapshot`] and its Prometheus text.
//! - `broker` (private, feature `redis`): `--redis`, several nodes sharing one Redis Stream
//!   (fan-out, replay, ids that any node can resume).
//! - [`tls`] (feature `tls`): HTTPS with HTTP/2 by ALPN.
//! - [`error`]: [`ServerError`], [`PublishError`].
//!
//! # Features
//! None is on by default. `cli`: `ServeArgs`. `redis`: `Config::redis`, the multi-node mode.
//! `tls`: `Config::tls`, HTTPS with HTTP/2 by ALPN.
//! `misbehave`: `Config::with_misbehaviors` and the switches, for conformance tests only.
//!
//! # Example
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = ssekit_server::start(ssekit_server::Config::default()).await?;
//! let id = server.publish(Some("news"), None, "hello").await?;
//! assert_eq!(id, format!("{}-1", server.epoch()));
//! assert_eq!(server.metrics().events_published, 1);
//! server.shutdown().await;
//! # Ok(()) }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod behaviour;
#[cfg(feature = "redis")]
mod broker;
#[cfg(not(feature = "redis"))]
#[path = "no_broker.rs"]
mod broker;
pub mod config;
mod conn_log;
mod direct;
pub mod error;
mod event_json;
mod http;
mod hub;
pub mod metrics;
#[cfg(feature = "misbehave")]
#[cfg_attr(docsrs, doc(cfg(feature = "misbehave")))]
pub mod misbehave;
mod mock;
pub mod replay;
pub mod server;
mod stream;
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub mod tls;
pub mod websocket;

#[cfg(feature = "cli")]
pub use config::ServeArgs;
pub use config::{Config, MockConfig};
pub use error::{PublishError, ServerError};
pub use metrics::MetricsSnapshot;
#[cfg(feature = "misbehave")]
#[cfg_attr(docsrs, doc(cfg(feature = "misbehave")))]
pub use misbehave::{Misbehavior, Misbehaviors};
pub use server::{run, run_blocking, start, ServerHandle};

/// The README's example compiles.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
