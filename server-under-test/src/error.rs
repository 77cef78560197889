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
    /// `--redis` (feature `redis`) was given but Redis could not be used.
    #[error("cannot use Redis at {url}: {reason} (is redis-server running there? check --redis)")]
    Redis {
        /// The URL asked for.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// `--misbehave` breaks single-node output on purpose; it is not offered with `--redis`
    /// (features `misbehave` and `redis`).
    #[error("--misbehave cannot be combined with --redis: run the misbehaving server on its own")]
    MisbehaveWithRedis,
    /// `--tls-cert` / `--tls-key` (feature `tls`) could not be used.
    #[error("cannot use {path} for TLS: {reason} (--tls-cert takes a PEM certificate chain, --tls-key its PEM private key)")]
    Tls {
        /// The file at fault.
        path: std::path::PathBuf,
        /// What is wrong with it.
        reason: String,
    },
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
    /// A batch publish holds more events than a subscriber may lag behind (or than the replay
    /// ring holds): every subscriber would start the batch already lagging.
    #[error("a batch of {len} events is over the limit of {max} (the smaller of --max-lag-events and --replay): split it")]
    BatchTooLarge {
        /// Events in the batch.
        len: usize,
        /// The most a batch may hold.
        max: usize,
    },
    /// Redis failed part-way through a batch: the first events were published, the rest not.
    /// Retry with the events after `published`.
    #[error("redis unavailable after {} of {total} events (published: {}): retry the rest later: {reason}", published.len(), published.join(", "))]
    PartlyPublished {
        /// Ids of the events that were published, in order.
        published: Vec<String>,
        /// Events in the batch.
        total: usize,
        /// What Redis said.
        reason: String,
    },
    /// The server is shutting down.
    #[error("the server is shutting down; publish to another instance")]
    ShuttingDown,
    /// Redis (`--redis`) did not take the event: nothing was published. Retry later.
    #[error("redis unavailable, nothing was published (retry later): {0}")]
    Unavailable(String),
}
