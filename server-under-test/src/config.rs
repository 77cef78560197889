//! Command-line arguments (`ServeArgs`, feature `cli`) and the plain settings the server runs with
//! ([`Config`]).

use std::net::SocketAddr;
use std::time::Duration;

#[cfg(feature = "misbehave")]
use crate::misbehave::{Misbehavior, Misbehaviors};

/// The arguments of `ssekit serve` (feature `cli`).
#[cfg(feature = "cli")]
#[derive(Debug, Clone)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port). HTTP/1.1 and HTTP/2 with prior
    /// knowledge (h2c) are both served on it.
    #[cfg_attr(feature = "cli", arg(long, default_value = "127.0.0.1:8080"))]
    pub addr: SocketAddr,
    /// Events kept for replay (`Last-Event-ID` resume and long-poll).
    #[cfg_attr(feature = "cli", arg(long, value_name = "N", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=1_000_000)))]
    pub replay: u64,
    /// Bytes of encoded events kept for replay at most (the oldest go first).
    #[cfg_attr(feature = "cli", arg(long, value_name = "BYTES", default_value_t = 64 << 20))]
    pub replay_bytes: u64,
    /// Seconds between heartbeat comments on idle streams (fractions allowed; 0 turns them off).
    #[cfg_attr(feature = "cli", arg(long, value_name = "SECS", default_value_t = 15.0, value_parser = parse_secs))]
    pub heartbeat: f64,
    /// Publish a numbered `tick` event every N milliseconds (0: no ticker).
    #[cfg_attr(feature = "cli", arg(long, value_name = "N", default_value_t = 0))]
    pub tick_ms: u64,
    /// Base reconnection delay sent in `retry:`; each connection gets it plus up to 50% jitter.
    #[cfg_attr(feature = "cli", arg(long, value_name = "N", default_value_t = 3000))]
    pub retry_ms: u64,
    /// Open event streams allowed at once (0: no cap). Over the cap a stream is answered with
    /// 200, a long `retry:` and a clean end, never with a 5xx (see docs/server.md).
    #[cfg_attr(feature = "cli", arg(long, value_name = "N", default_value_t = 0))]
    pub max_connections: usize,
    /// A subscriber further behind than this many bytes of events is closed at an event boundary.
    #[cfg_attr(feature = "cli", arg(long, value_name = "BYTES", default_value_t = 1 << 20))]
    pub max_lag_bytes: u64,
    /// A subscriber further behind than this many events is closed at an event boundary (never
    /// more than `--replay`, so a closed subscriber can always resume).
    #[cfg_attr(feature = "cli", arg(long, value_name = "N", default_value_t = 512))]
    pub max_lag_events: u64,
    /// Bearer token required by `POST /publish`. Without it only loopback peers may publish.
    #[cfg_attr(feature = "cli", arg(long, value_name = "TOKEN"))]
    pub publish_token: Option<String>,
    /// Token required by `/stream` and `/poll` (`Authorization: Bearer`, or cookie `ssekit_token`).
    #[cfg_attr(feature = "cli", arg(long, value_name = "TOKEN"))]
    pub subscribe_token: Option<String>,
    /// Origin allowed to read the streams cross-origin, with credentials (repeatable; `*` allows
    /// any origin without credentials).
    #[cfg_attr(feature = "cli", arg(long = "cors-origin", value_name = "ORIGIN"))]
    pub cors_origins: Vec<String>,
    /// Break one or more rules on purpose, to prove that a conformance check fails.
    #[cfg(feature = "misbehave")]
    #[cfg_attr(docsrs, doc(cfg(feature = "misbehave")))]
    #[cfg_attr(
        feature = "cli",
        arg(long, value_name = "NAME[,NAME]", value_enum, value_delimiter = ',')
    )]
    pub misbehave: Vec<Misbehavior>,
    /// Serve HTTP/2 with prior knowledge (h2c) next to HTTP/1.1 on the same port, told apart
    /// by the connection preface. On by default; `--no-h2c` turns it off.
    #[cfg_attr(
        feature = "cli",
        arg(long, default_value_t = true, overrides_with = "no_h2c")
    )]
    pub h2c: bool,
    /// Serve only HTTP/1.1.
    #[cfg_attr(feature = "cli", arg(long, overrides_with = "h2c"))]
    pub no_h2c: bool,
    /// Serve event streams through hyper like every other request, instead of the direct
    /// HTTP/1.1 path that keeps idle streams small (for comparison; responses are the same).
    #[cfg_attr(feature = "cli", arg(long))]
    pub hyper_streams: bool,
    /// Write one event per write instead of coalescing every event that is ready for a
    /// stream into one write (coalescing is on by default; this switch is for measuring it).
    #[cfg_attr(feature = "cli", arg(long))]
    pub no_coalesce: bool,
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    /// Run as one node of several sharing this Redis (e.g. `redis://127.0.0.1:6379`): events
    /// are appended to a Redis Stream, which every node reads and which is also the replay log;
    /// ids are Redis stream ids. See "Running several nodes" in docs/server.md.
    #[cfg_attr(feature = "cli", arg(long, value_name = "URL"))]
    pub redis: Option<String>,
    /// With `--redis`: the stream is trimmed to about this many events (`XADD MAXLEN ~ N`).
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    #[cfg_attr(feature = "cli", arg(long, value_name = "N", default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..)))]
    pub redis_maxlen: u64,
    /// With `--redis`: the key of the Redis Stream shared by the nodes (one stream for every
    /// topic, so all nodes see one order).
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    #[cfg_attr(
        feature = "cli",
        arg(long, value_name = "KEY", default_value = "ssekit:events")
    )]
    pub redis_key: String,
    /// Serve HTTPS with this PEM certificate chain (needs `--tls-key`); HTTP/2 and HTTP/1.1
    /// are offered by ALPN.
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    #[cfg_attr(feature = "cli", arg(long, value_name = "FILE", requires = "tls_key"))]
    pub tls_cert: Option<std::path::PathBuf>,
    /// The PEM private key of `--tls-cert`.
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    #[cfg_attr(feature = "cli", arg(long, value_name = "FILE", requires = "tls_cert"))]
    pub tls_key: Option<std::path::PathBuf>,
    /// Mock endpoints: milliseconds between generated tokens.
    #[cfg_attr(feature = "cli", arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u64).range(0..=600_000)))]
    pub mock_token_ms: u64,
    /// Mock endpoints: milliseconds the model "thinks" before its first token (heartbeat
    /// comments fill the silence when heartbeats are on).
    #[cfg_attr(feature = "cli", arg(long, value_name = "N", default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=600_000)))]
    pub mock_think_ms: u64,
    /// Mock endpoints: tokens per answer.
    #[cfg_attr(feature = "cli", arg(long, value_name = "N", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=100_000)))]
    pub mock_tokens: u32,
    /// Mock endpoints: fail every generation after N tokens (an error event, or the switch
    /// `error-as-reset`); off by default.
    #[cfg_attr(feature = "cli", arg(long, value_name = "N"))]
    pub mock_fail_after: Option<u32>,
    /// Mock MCP endpoint: answer `GET /mcp` with 405 (no server-to-client stream).
    #[cfg_attr(feature = "cli", arg(long))]
    pub mock_no_get_stream: bool,
}

#[cfg(feature = "cli")]
fn parse_secs(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds, e.g. 15 or 0.25"))?;
    if !v.is_finite() || !(0.0..=86_400.0).contains(&v) {
        return Err(format!("`{s}` must be between 0 and 86400 seconds"));
    }
    Ok(v)
}

/// The settings a server runs with. `Config::default()` is `ssekit serve` without options,
/// but on port 0 (so tests never collide).
#[derive(Debug, Clone)]
pub struct Config {
    /// Listen address.
    pub addr: SocketAddr,
    /// Replay ring capacity in events (at least 1).
    pub replay: usize,
    /// Replay ring capacity in bytes of encoded events (the newest event is always kept).
    pub replay_bytes: u64,
    /// Heartbeat interval; `None` turns heartbeats off.
    pub heartbeat: Option<Duration>,
    /// Ticker interval; `None` means no ticker.
    pub tick: Option<Duration>,
    /// Base `retry:` value in milliseconds (jitter is added per connection).
    pub retry_ms: u64,
    /// Maximum open event streams; `None` is no cap.
    pub max_connections: Option<usize>,
    /// Lag limit in bytes of encoded events.
    pub max_lag_bytes: u64,
    /// Lag limit in events.
    pub max_lag_events: u64,
    /// Bearer token for publishing.
    pub publish_token: Option<String>,
    /// Token for subscribing.
    pub subscribe_token: Option<String>,
    /// Allowed CORS origins.
    pub cors_origins: Vec<String>,
    /// Rules broken on purpose.
    #[cfg(feature = "misbehave")]
    #[cfg_attr(docsrs, doc(cfg(feature = "misbehave")))]
    pub misbehave: Misbehaviors,
    /// Detect HTTP/2 prior knowledge next to HTTP/1.1.
    pub h2c: bool,
    /// Send every event that is ready for a stream in one write (one HTTP body piece).
    pub coalesce: bool,
    /// Serve plain HTTP/1.1 `GET /stream` requests without hyper (small idle streams).
    pub direct_streams: bool,
    /// How long shutdown waits for streams to end before cutting connections.
    pub shutdown_grace: Duration,
    /// Redis URL: run as one node of several (`None`: single process, in memory).
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub redis: Option<String>,
    /// Approximate length the Redis Stream is trimmed to (`XADD MAXLEN ~`).
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub redis_maxlen: u64,
    /// Key of the Redis Stream.
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub redis_key: String,
    /// HTTPS: the certificate and key files (`None`: plain HTTP).
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub tls: Option<crate::tls::TlsFiles>,
    /// The mock LLM and MCP endpoints' generator.
    pub mock: MockConfig,
}

/// How the mock endpoints (`/v1/chat/completions`, `/v1/messages`, `/mcp`) generate answers.
/// A request may override the first four with query parameters of the same names
/// (`tokens`, `token_ms`, `think_ms`, `fail_after`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockConfig {
    /// Tokens per answer.
    pub tokens: u32,
    /// Pause before each token.
    pub token_every: Duration,
    /// Pause before the first token.
    pub think: Duration,
    /// Fail after this many tokens.
    pub fail_after: Option<u32>,
    /// `GET /mcp` opens the server-to-client stream (else 405).
    pub mcp_get_stream: bool,
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            tokens: 16,
            token_every: Duration::from_millis(20),
            think: Duration::ZERO,
            fail_after: None,
            mcp_get_stream: true,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            replay: 1024,
            replay_bytes: 64 << 20,
            heartbeat: Some(Duration::from_secs(15)),
            tick: None,
            retry_ms: 3000,
            max_connections: None,
            max_lag_bytes: 1 << 20,
            max_lag_events: 512,
            publish_token: None,
            subscribe_token: None,
            cors_origins: Vec::new(),
            #[cfg(feature = "misbehave")]
            misbehave: Misbehaviors::none(),
            h2c: true,
            coalesce: true,
            direct_streams: true,
            shutdown_grace: Duration::from_millis(900),
            #[cfg(feature = "redis")]
            redis: None,
            #[cfg(feature = "redis")]
            redis_maxlen: 100_000,
            #[cfg(feature = "redis")]
            redis_key: "ssekit:events".to_owned(),
            #[cfg(feature = "tls")]
            tls: None,
            mock: MockConfig::default(),
        }
    }
}

#[cfg(feature = "misbehave")]
#[cfg_attr(docsrs, doc(cfg(feature = "misbehave")))]
impl Config {
    /// The same config with these misbehaviours switched on.
    pub fn with_misbehaviors(mut self, list: &[Misbehavior]) -> Self {
        self.misbehave = Misbehaviors::from_list(list);
        self
    }
}

#[cfg(feature = "cli")]
impl From<ServeArgs> for Config {
    fn from(a: ServeArgs) -> Self {
        let positive = |d: Duration| (!d.is_zero()).then_some(d);
        Config {
            addr: a.addr,
            replay: usize::try_from(a.replay).unwrap_or(usize::MAX).max(1),
            replay_bytes: a.replay_bytes,
            heartbeat: positive(Duration::from_secs_f64(a.heartbeat)),
            tick: positive(Duration::from_millis(a.tick_ms)),
            retry_ms: a.retry_ms,
            max_connections: (a.max_connections > 0).then_some(a.max_connections),
            max_lag_bytes: a.max_lag_bytes,
            max_lag_events: a.max_lag_events,
            publish_token: a.publish_token,
            subscribe_token: a.subscribe_token,
            cors_origins: a.cors_origins,
            #[cfg(feature = "misbehave")]
            misbehave: Misbehaviors::from_list(&a.misbehave),
            h2c: a.h2c && !a.no_h2c,
            coalesce: !a.no_coalesce,
            direct_streams: !a.hyper_streams,
            #[cfg(feature = "redis")]
            redis: a.redis,
            #[cfg(feature = "redis")]
            redis_maxlen: a.redis_maxlen,
            #[cfg(feature = "redis")]
            redis_key: a.redis_key,
            #[cfg(feature = "tls")]
            tls: a
                .tls_cert
                .zip(a.tls_key)
                .map(|(cert, key)| crate::tls::TlsFiles { cert, key }),
            mock: MockConfig {
                tokens: a.mock_tokens,
                token_every: Duration::from_millis(a.mock_token_ms),
                think: Duration::from_millis(a.mock_think_ms),
                fail_after: a.mock_fail_after,
                mcp_get_stream: !a.mock_no_get_stream,
            },
            ..Config::default()
        }
    }
}

#[cfg(all(test, feature = "cli"))]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[cfg_attr(feature = "cli", command(flatten))]
        serve: ServeArgs,
    }

    fn config(args: &[&str]) -> Config {
        let argv = std::iter::once("serve").chain(args.iter().copied());
        Cli::try_parse_from(argv)
            .expect("valid arguments")
            .serve
            .into()
    }

    #[test]
    fn defaults_match_the_documentation() {
        let c = config(&[]);
        assert_eq!(c.addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(c.replay, 1024);
        assert_eq!(c.heartbeat, Some(Duration::from_secs(15)));
        assert_eq!((c.tick, c.max_connections), (None, None));
        assert!(c.h2c);
        #[cfg(feature = "misbehave")]
        assert!(c.misbehave.is_empty());
    }

    #[test]
    fn every_option_reaches_the_config() {
        let c = config(&[
            "--addr",
            "127.0.0.1:0",
            "--replay",
            "10",
            "--replay-bytes",
            "4096",
            "--heartbeat",
            "0.25",
            "--tick-ms",
            "100",
            "--retry-ms",
            "1500",
            "--max-connections",
            "7",
            "--max-lag-bytes",
            "1000",
            "--max-lag-events",
            "5",
            "--publish-token",
            "p",
            "--subscribe-token",
            "s",
            "--cors-origin",
            "https://a.example",
            "--cors-origin",
            "*",
            "--no-h2c",
        ]);
        assert_eq!((c.replay, c.replay_bytes), (10, 4096));
        assert_eq!(c.heartbeat, Some(Duration::from_millis(250)));
        assert_eq!(c.tick, Some(Duration::from_millis(100)));
        assert_eq!((c.retry_ms, c.max_connections), (1500, Some(7)));
        assert_eq!((c.max_lag_bytes, c.max_lag_events), (1000, 5));
        assert_eq!(c.publish_token.as_deref(), Some("p"));
        assert_eq!(c.subscribe_token.as_deref(), Some("s"));
        assert_eq!(c.cors_origins, ["https://a.example", "*"]);
        assert!(!c.h2c);
        assert_eq!(config(&["--heartbeat", "0"]).heartbeat, None);
        assert_eq!(c.mock, MockConfig::default());
        let m = config(&[
            "--mock-token-ms",
            "5",
            "--mock-think-ms",
            "700",
            "--mock-tokens",
            "3",
            "--mock-fail-after",
            "2",
            "--mock-no-get-stream",
        ])
        .mock;
        assert_eq!(
            (m.tokens, m.fail_after, m.mcp_get_stream),
            (3, Some(2), false)
        );
        assert_eq!(
            (m.token_every, m.think),
            (Duration::from_millis(5), Duration::from_millis(700))
        );
    }

    #[cfg(feature = "misbehave")]
    #[test]
    fn misbehave_switches_reach_the_config() {
        let c = config(&[
            "--misbehave",
            "no-ids,retry-zero",
            "--misbehave",
            "eof-instead-of-204",
        ]);
        let on: Vec<_> = c.misbehave.iter().collect();
        assert_eq!(
            on,
            [
                Misbehavior::NoIds,
                Misbehavior::RetryZero,
                Misbehavior::EofInsteadOf204
            ]
        );
    }

    #[cfg(feature = "redis")]
    #[test]
    fn redis_options_reach_the_config() {
        let r = config(&[
            "--redis",
            "redis://127.0.0.1:6390",
            "--redis-maxlen",
            "500",
            "--redis-key",
            "k",
        ]);
        assert_eq!(r.redis.as_deref(), Some("redis://127.0.0.1:6390"));
        assert_eq!((r.redis_maxlen, r.redis_key.as_str()), (500, "k"));
        assert_eq!(config(&[]).redis, None);
    }

    #[cfg(feature = "tls")]
    #[test]
    fn tls_files_reach_the_config_and_come_in_pairs() {
        let c = config(&["--tls-cert", "c.pem", "--tls-key", "k.pem"]);
        let files = c.tls.expect("tls configured");
        assert_eq!(
            (files.cert.to_str(), files.key.to_str()),
            (Some("c.pem"), Some("k.pem"))
        );
        assert_eq!(config(&[]).tls, None);
        let argv = ["serve", "--tls-cert", "c.pem"];
        let err = Cli::try_parse_from(argv).err().expect("a key is required");
        assert!(err.to_string().contains("--tls-key"), "{err}");
    }

    #[test]
    fn bad_values_are_refused_with_a_message() {
        let err = |args: &[&str]| {
            let argv = std::iter::once("serve").chain(args.iter().copied());
            Cli::try_parse_from(argv).err().map(|e| e.to_string())
        };
        assert!(err(&["--heartbeat", "soon"])
            .unwrap()
            .contains("number of seconds"));
        assert!(err(&["--heartbeat", "1e9"]).is_some());
        #[cfg(feature = "misbehave")]
        assert!(err(&["--misbehave", "nope"])
            .unwrap()
            .contains("wrong-content-type"));
        #[cfg(not(feature = "misbehave"))]
        assert!(
            err(&["--misbehave", "no-ids"]).is_some(),
            "no switches without the feature"
        );
        assert!(err(&["--replay", "0"]).is_some());
    }
}
