//! The publisher: `POST`s `{"data": "{\"t\":NANOS,\"n\":SEQ,\"p\":\"…\"}"}` to the server's
//! publish endpoint over keep-alive HTTP/1.1 connections, each waiting for its answer before the
//! next request, at a fixed rate or as fast as the server answers. With `--batch B` each
//! request is a JSON array of B such events (consecutive numbers), published by the server at
//! once. With one connection the
//! server's order is the sequence's; with several, events may arrive slightly out of order,
//! which the readers' tallies tolerate (see [`super::sequence::WINDOW`]).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::{sleep, sleep_until, timeout, Instant};

use super::sequence::unix_nanos;
use super::target::LoopbackUrl;

/// Bound on one publish round trip.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause before reconnecting after a failed connection.
const RECONNECT_PAUSE: Duration = Duration::from_millis(50);

/// How to publish.
pub struct PublishPlan {
    /// The publish endpoint.
    pub url: LoopbackUrl,
    /// Events per second; `None`: as fast as the server answers.
    pub rate: Option<f64>,
    /// Extra bytes of padding in each event's data.
    pub pad: usize,
    /// How long to publish.
    pub duration: Duration,
    /// Publishing connections working at once (at least 1).
    pub publishers: usize,
    /// Events per request (at least 1; more than 1 sends a JSON array).
    pub batch: usize,
}

/// What the publisher did.
#[derive(Debug, Clone, Default)]
pub struct PublishOutcome {
    /// Events the server accepted (`200`), numbered `0..published`.
    pub published: u64,
    /// Requests refused or failed.
    pub failed: u64,
    /// The first failure, if any.
    pub first_error: Option<String>,
    /// Time spent publishing.
    pub elapsed: Duration,
    /// Sequence numbers handed out: `0..assigned`, all published but `unpublished`.
    pub assigned: u64,
    /// Numbers whose publish had still not succeeded when time ran out.
    pub unpublished: Vec<u64>,
}

/// Publishes until the plan's duration is over; `published` follows the count as it grows.
pub async fn run(plan: PublishPlan, published: Arc<AtomicU64>) -> PublishOutcome {
    let started = Instant::now();
    let workers = plan.publishers.max(1);
    let next = Arc::new(AtomicU64::new(0));
    let plan = Arc::new(plan);
    let handles: Vec<_> = (0..workers)
        .map(|_| {
            let worker = Worker {
                plan: Arc::clone(&plan),
                next: Arc::clone(&next),
                published: Arc::clone(&published),
                rate: plan.rate.map(|r| r / workers as f64),
            };
            tokio::spawn(worker.run(started))
        })
        .collect();
    let mut out = PublishOutcome::default();
    for handle in handles {
        match handle.await {
            Ok(part) => out.merge(part),
            Err(e) => out.fail(format!("publisher task failed: {e}")),
        }
    }
    out.assigned = next.load(Relaxed);
    out.elapsed = started.elapsed();
    out
}

/// One publishing connection.
struct Worker {
    plan: Arc<PublishPlan>,
    next: Arc<AtomicU64>,
    published: Arc<AtomicU64>,
    /// This worker's share of the rate.
    rate: Option<f64>,
}

impl Worker {
    async fn run(self, started: Instant) -> PublishOutcome {
        let deadline = started + self.plan.duration;
        let padding = "x".repeat(self.plan.pad);
        let mut out = PublishOutcome::default();
        let mut sender: Option<SendRequest<Full<Bytes>>> = None;
        let batch = self.plan.batch.max(1) as u64;
        // The first number of a batch not yet published (retried as a whole).
        let mut pending: Option<u64> = None;
        let mut attempts: u64 = 0;
        while Instant::now() < deadline {
            if let Some(rate) = self.rate {
                // A schedule, not a fixed sleep: a slow answer is caught up with, not added.
                let due = started + Duration::from_secs_f64((attempts * batch) as f64 / rate);
                if due >= deadline {
                    break;
                }
                sleep_until(due).await;
            }
            attempts += 1;
            if let Some(s) = sender.as_mut() {
                // A server that closes the connection after each answer (`Connection: close`,
                // as Werkzeug and gunicorn's sync workers do) has not failed: the request
                // takes a new connection.
                if s.ready().await.is_err() {
                    sender = None;
                }
            }
            if sender.is_none() {
                match connect(&self.plan.url).await {
                    Ok(s) => sender = Some(s),
                    Err(e) => {
                        out.fail(e);
                        sleep(RECONNECT_PAUSE).await;
                        continue;
                    }
                }
            }
            let Some(s) = sender.as_mut() else {
                continue;
            };
            // A failed batch is retried, so the sequence has no holes but at the very end.
            let first = *pending.get_or_insert_with(|| self.next.fetch_add(batch, Relaxed));
            let body = request_body(first, batch, &padding);
            match timeout(REQUEST_TIMEOUT, send(s, &self.plan.url, body)).await {
                Ok(Ok(())) => {
                    pending = None;
                    out.published += batch;
                    self.published.fetch_add(batch, Relaxed);
                }
                Ok(Err(e)) => {
                    if s.is_closed() {
                        sender = None;
                    }
                    out.fail(e);
                }
                Err(_) => {
                    sender = None;
                    out.fail("publish timed out".into());
                }
            }
        }
        out.unpublished.extend(
            pending
                .map(|first| first..first + batch)
                .into_iter()
                .flatten(),
        );
        out
    }
}

/// One event's JSON, or an array of `batch` events numbered from `first`.
fn request_body(first: u64, batch: u64, padding: &str) -> Bytes {
    let t = unix_nanos();
    let event =
        |n: u64| serde_json::json!({ "data": format!(r#"{{"t":{t},"n":{n},"p":"{padding}"}}"#) });
    let value = if batch == 1 {
        event(first)
    } else {
        serde_json::Value::Array((first..first + batch).map(event).collect())
    };
    Bytes::from(value.to_string())
}

impl PublishOutcome {
    fn merge(&mut self, part: PublishOutcome) {
        self.published += part.published;
        self.failed += part.failed;
        if self.first_error.is_none() {
            self.first_error = part.first_error;
        }
        self.unpublished.extend(part.unpublished);
    }

    fn fail(&mut self, why: String) {
        self.failed += 1;
        self.first_error.get_or_insert(why);
    }
}

async fn connect(url: &LoopbackUrl) -> Result<SendRequest<Full<Bytes>>, String> {
    let tcp = TcpStream::connect(url.addr)
        .await
        .map_err(|e| format!("publish connect: {e}"))?;
    tcp.set_nodelay(true)
        .map_err(|e| format!("publish connect: {e}"))?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(|e| format!("publish handshake: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

async fn send(
    sender: &mut SendRequest<Full<Bytes>>,
    url: &LoopbackUrl,
    body: Bytes,
) -> Result<(), String> {
    sender.ready().await.map_err(|e| format!("publish: {e}"))?;
    let req = hyper::Request::post(url.path.as_str())
        .header(hyper::header::HOST, url.host())
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(body))
        .map_err(|e| format!("publish request: {e}"))?;
    let res = sender
        .send_request(req)
        .await
        .map_err(|e| format!("publish: {e}"))?;
    let status = res.status();
    // Read the answer to the end so the connection can carry the next request.
    let answer = res
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("publish answer: {e}"))?
        .to_bytes();
    if status != hyper::StatusCode::OK {
        let text = String::from_utf8_lossy(&answer);
        return Err(format!(
            "publish answered {}: {}",
            status.as_u16(),
            text.trim()
        ));
    }
    Ok(())
}
