//! Typed errors, with messages that say what to do.

use std::net::SocketAddr;

use ssekit_parser::EncodeError;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The listen address could not be bound.
    #[error(
        "cannot listen on {addr}: {source} (is another server using it? try --addr 127.0.0.1:0)"
    )]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The bound socket has no local address (should not happen).
    #[error("cannot read the listening address: {0}")]
    LocalAddr(std::io::Error),
    /// `--redis` was given but Redis could not be used.
    #[error("cannot use Redis at {url}: {reason} (is redis-server running there? check --redis)")]
    Redis {
        /// The URL asked for.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// `--misbehave` breaks single-node output on purpose; it is not offered with `--redis`.
    #[error("--misbehave cannot be combined with --redis: run the misbehaving server on its own")]
    MisbehaveWithRedis,
}

/// Why an event could not be published.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// The event type or data cannot be written as a frame that parses back unchanged.
    #[error("event cannot be encoded: {0}")]
    Encode(#[from] EncodeError),
    /// The topic is empty or longer than 256 bytes.
    #[error("topic must be 1 to 256 bytes long")]
    BadTopic,
    /// The server is shutting down.
    #[error("the server is shutting down; publish to another instance")]
    ShuttingDown,
    /// Redis (`--redis`) did not take the event: nothing was published. Retry later.
    #[error("redis unavailable, nothing was published (retry later): {0}")]
    Unavailable(String),
}
