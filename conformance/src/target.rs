//! What the runner checks: a stream URL and the optional hooks that make active checks
//! possible (publish, "gone" URL, long-poll, metrics, shutdown). With no URL, the embedded
//! reference server is started on 127.0.0.1:0 and every hook is available.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use ssekit_server::Config;
use std::time::Duration;
use tokio::sync::RwLock;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, Uri};

use crate::probe::{self, Request};

/// A future the runner can hold and drive later.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Publishes in the embedded server's process: `(event type, data) -> id`.
pub type InProcessPublish =
    Arc<dyn Fn(Option<String>, String) -> BoxFuture<'static, Result<String, String>> + Send + Sync>;

/// How the runner makes the server emit an event.
#[derive(Clone)]
pub enum Publisher {
    /// `POST URL` with JSON `{"event"?: TYPE, "data": DATA}`; a JSON `{"id": ID}` answer is used.
    Http {
        /// The publish endpoint.
        url: Uri,
        /// Headers sent with each publish (the user's `--header`s).
        headers: HeaderMap,
        /// Bound on each publish.
        timeout: Duration,
    },
    /// A direct call into the embedded server.
    InProcess(InProcessPublish),
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Publisher::Http { url, .. } => write!(f, "POST {url}"),
            Publisher::InProcess(_) => f.write_str("in-process"),
        }
    }
}

impl Publisher {
    /// Publishes one event; returns the id the server assigned, when it says.
    pub async fn publish(&self, event: Option<&str>, data: &str) -> Result<Option<String>, String> {
        match self {
            Publisher::InProcess(f) => f(event.map(str::to_owned), data.to_owned()).await.map(Some),
            Publisher::Http {
                url,
                headers,
                timeout,
            } => {
                let mut body = serde_json::json!({ "data": data });
                if let Some(event) = event {
                    body["event"] = event.into();
                }
                let mut req = Request::new(Method::POST, url.clone(), headers);
                req.body = Bytes::from(body.to_string());
                req.headers.insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("application/json"),
                );
                let mut response = probe::send(req, *timeout)
                    .await
                    .map_err(|e| e.to_string())?;
                let deadline = std::time::Instant::now() + *timeout;
                let (bytes, _) = response.body_text(deadline, 64 * 1024).await;
                if !response.status.is_success() {
                    return Err(format!(
                        "publish answered {}: {}",
                        response.status,
                        String::from_utf8_lossy(&bytes)
                            .chars()
                            .take(200)
                            .collect::<String>()
                    ));
                }
                let id = serde_json::from_slice::<serde_json::Value>(&bytes)
                    .ok()
                    .and_then(|v| v.get("id").and_then(|id| id.as_str().map(str::to_owned)));
                Ok(id)
            }
        }
    }
}

/// Stops the embedded server; taken once by the shutdown check.
pub type ShutdownHook = BoxFuture<'static, ()>;

/// The request that opens the stream: a browser's `GET`, or the request that starts a
/// generation (`--method`, `--data`, `--content-type`, or a protocol profile's defaults).
#[derive(Debug, Clone)]
pub struct Opening {
    /// GET for feeds; POST for LLM and MCP endpoints.
    pub method: Method,
    /// The request body (empty for GET).
    pub body: Bytes,
    /// The body's `Content-Type`.
    pub content_type: Option<http::HeaderValue>,
    /// An `Accept` other than `text/event-stream` (MCP clients accept JSON too).
    pub accept: Option<http::HeaderValue>,
}

impl Default for Opening {
    fn default() -> Self {
        Opening {
            method: Method::GET,
            body: Bytes::new(),
            content_type: None,
            accept: None,
        }
    }
}

impl Opening {
    /// Applies this opening to a browser-shaped stream request.
    pub fn apply(&self, mut req: Request) -> Request {
        req.method = self.method.clone();
        req.body = self.body.clone();
        if let Some(ct) = &self.content_type {
            req.headers.insert(http::header::CONTENT_TYPE, ct.clone());
        }
        if let Some(accept) = &self.accept {
            req.headers.insert(http::header::ACCEPT, accept.clone());
        }
        req
    }
}

/// The server under check.
pub struct Target {
    /// The SSE stream URL.
    pub url: Uri,
    /// How the stream is opened.
    pub opening: Opening,
    /// A stream on which nothing is published (for heartbeat checks); the stream URL itself
    /// for remote servers.
    pub idle_url: Uri,
    /// Headers sent on every request (`--header`).
    pub headers: HeaderMap,
    /// How to publish (`--publish`).
    pub publish: Option<Publisher>,
    /// A URL that tells clients to stop (`--gone-url`).
    pub gone_url: Option<Uri>,
    /// Long-poll endpoint (`GET URL?after=ID&timeout=S` answering `{events, next}`).
    pub poll_url: Option<Uri>,
    /// The same stream on another instance of the deployment (`--also-url`), for S05.
    pub also_url: Option<Uri>,
    /// Prometheus-style metrics endpoint.
    pub metrics_url: Option<Uri>,
    /// Graceful-shutdown trigger (embedded server only).
    pub shutdown: Mutex<Option<ShutdownHook>>,
    /// A one-line description for the report.
    pub description: String,
    /// Keeps an embedded server alive for the run.
    pub guard: Option<Box<dyn std::any::Any + Send + Sync>>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("url", &self.url)
            .field("publish", &self.publish)
            .field("gone_url", &self.gone_url)
            .finish_non_exhaustive()
    }
}

/// Why a target could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// A URL argument is unusable.
    #[error("{what}: `{value}` is not an http:// or https:// URL ({reason})")]
    Url {
        /// Which option.
        what: &'static str,
        /// The value given.
        value: String,
        /// Why.
        reason: String,
    },
    /// The embedded server did not start.
    #[error("cannot start the embedded reference server: {0}")]
    Embedded(String),
}

/// Parses an `http://` or `https://` URL given on the command line.
pub fn parse_url(what: &'static str, value: &str) -> Result<Uri, TargetError> {
    let uri: Uri = value
        .parse()
        .map_err(|e: http::uri::InvalidUri| TargetError::Url {
            what,
            value: value.into(),
            reason: e.to_string(),
        })?;
    probe::authority(&uri).map_err(|e| TargetError::Url {
        what,
        value: value.into(),
        reason: e.to_string(),
    })?;
    Ok(uri)
}

impl Target {
    /// A server reached over the network, with the hooks the user gave.
    pub fn remote(url: Uri, headers: HeaderMap) -> Self {
        Target {
            opening: Opening::default(),
            idle_url: url.clone(),
            description: url.to_string(),
            url,
            headers,
            publish: None,
            gone_url: None,
            poll_url: None,
            also_url: None,
            metrics_url: None,
            shutdown: Mutex::new(None),
            guard: None,
        }
    }

    /// Starts the embedded reference server with `config` and targets it, with every hook:
    /// in-process publish, `/gone`, `/poll`, `/metrics`, shutdown, and an idle topic.
    pub async fn embedded(config: Config) -> Result<Self, TargetError> {
        let handle = ssekit_server::start(config)
            .await
            .map_err(|e| TargetError::Embedded(e.to_string()))?;
        let base = format!("http://{}", handle.local_addr());
        let url = |path: &str| -> Result<Uri, TargetError> {
            format!("{base}{path}")
                .parse()
                .map_err(|e: http::uri::InvalidUri| TargetError::Embedded(e.to_string()))
        };
        let shared = Arc::new(RwLock::new(Some(handle)));
        let for_publish = Arc::clone(&shared);
        let publish: InProcessPublish = Arc::new(move |event, data| {
            let shared = Arc::clone(&for_publish);
            Box::pin(async move {
                let guard = shared.read().await;
                let handle = guard.as_ref().ok_or("the embedded server has shut down")?;
                handle
                    .publish(None, event.as_deref(), &data)
                    .await
                    .map_err(|e| e.to_string())
            })
        });
        let for_shutdown = Arc::clone(&shared);
        let shutdown: ShutdownHook = Box::pin(async move {
            let handle = for_shutdown.write().await.take();
            if let Some(handle) = handle {
                handle.shutdown().await;
            }
        });
        Ok(Target {
            opening: Opening::default(),
            url: url("/stream")?,
            idle_url: url("/stream?topic=ssekit-check-idle")?,
            headers: HeaderMap::new(),
            publish: Some(Publisher::InProcess(publish)),
            gone_url: Some(url("/gone")?),
            poll_url: Some(url("/poll")?),
            also_url: None,
            metrics_url: Some(url("/metrics")?),
            shutdown: Mutex::new(Some(shutdown)),
            description: format!("{base}/stream (embedded reference server)"),
            guard: Some(Box::new(shared)),
        })
    }

    /// Aims an embedded target at another endpoint of the server, `path` instead of
    /// `/stream` (the mock LLM and MCP endpoints). The hooks stay the server's.
    pub fn aim_at(&mut self, path: &str) -> Result<(), TargetError> {
        self.url = crate::probe::with_path(&self.url, path)
            .map_err(|e| TargetError::Embedded(e.to_string()))?;
        self.description = format!("{} (embedded reference server)", self.url);
        Ok(())
    }

    /// Takes the shutdown hook (only once).
    pub fn take_shutdown(&self) -> Option<ShutdownHook> {
        self.shutdown
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }
}

/// The embedded target's settings: a 200 ms ticker, 1 s heartbeats and the runner's origin
/// allowed for CORS, so the quick profile sees live events and heartbeats in seconds.
pub fn embedded_config() -> Config {
    Config {
        tick: Some(Duration::from_millis(200)),
        heartbeat: Some(Duration::from_secs(1)),
        cors_origins: vec![crate::checks::cors::ORIGIN.to_owned()],
        ..Config::default()
    }
}

/// Reads a Prometheus text exposition into `(name{labels}, value)` pairs.
pub fn parse_metrics(text: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            Some((name.trim().to_owned(), value.trim().parse().ok()?))
        })
        .collect()
}

/// GETs the metrics URL and parses it (None when unavailable).
pub async fn fetch_metrics(
    url: &Uri,
    headers: &HeaderMap,
    timeout: Duration,
) -> Option<Vec<(String, f64)>> {
    let mut response = probe::send(Request::new(Method::GET, url.clone(), headers), timeout)
        .await
        .ok()?;
    if response.status != StatusCode::OK {
        return None;
    }
    let (bytes, _) = response
        .body_text(std::time::Instant::now() + timeout, 4 << 20)
        .await;
    Some(parse_metrics(&String::from_utf8_lossy(&bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_lines_are_split_and_comments_skipped() {
        let m = parse_metrics("# HELP x y\nsse_connections 3\nsse_bytes{topic=\"a b\"} 1.5\n");
        assert_eq!(
            m,
            [
                ("sse_connections".to_owned(), 3.0),
                ("sse_bytes{topic=\"a b\"}".to_owned(), 1.5)
            ]
        );
    }

    #[test]
    fn other_schemes_are_refused_with_the_reason() {
        assert!(parse_url("URL", "https://example.org/s").is_ok());
        let err = parse_url("URL", "ws://example.org/s")
            .unwrap_err()
            .to_string();
        assert!(err.contains("https://"), "{err}");
    }
}
