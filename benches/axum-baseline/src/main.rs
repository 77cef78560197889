//! The baseline of the server benchmarks: a minimal SSE server written the way the axum
//! examples and most tutorials write one, `tokio::sync::broadcast` + `axum::response::sse::Sse`.
//!
//! It speaks the same two endpoints as `ssekit serve`, so `ssekit load` drives both in the same
//! harness: `GET /stream` (an event stream; `id:` is a sequence number) and `POST /publish`
//! with JSON `{"topic"?, "event"?, "data"}` answering `{"id"}` (or an array of them answering
//! `{"ids"}`, sent into the channel one after the other, as a user would). Like the usual tutorial code it
//! has no replay, and a receiver that lags behind the channel silently skips what it missed
//! (`BroadcastStream` yields `Lagged`, which the stream filters out). Bench-only, never shipped.
#![forbid(unsafe_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::{get, post};
use axum::{Json, Router};
use clap::Parser;
use serde::Deserialize;
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::{Stream, StreamExt};

#[derive(Parser)]
#[command(about = "axum + broadcast SSE baseline for `ssekit load`")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8081")]
    addr: SocketAddr,
    /// Capacity of the broadcast channel (a receiver further behind loses events).
    #[arg(long, default_value_t = 1024)]
    capacity: usize,
}

/// One published event, shared by every receiver.
#[derive(Clone)]
struct Published {
    id: u64,
    event: Option<Arc<str>>,
    data: Arc<str>,
}

struct Hub {
    tx: broadcast::Sender<Published>,
    next_id: AtomicU64,
}

#[derive(Deserialize)]
struct Publish {
    // Accepted for compatibility with `ssekit serve`; the baseline has a single topic.
    #[allow(dead_code)]
    topic: Option<String>,
    event: Option<String>,
    data: String,
}

async fn stream(State(hub): State<Arc<Hub>>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let events = BroadcastStream::new(hub.tx.subscribe())
        .filter_map(Result::ok)
        .map(|p| {
            let mut event = Event::default().id(p.id.to_string()).data(&*p.data);
            if let Some(name) = p.event.as_deref() {
                event = event.event(name);
            }
            Ok(event)
        });
    Sse::new(events).keep_alive(KeepAlive::default())
}

/// One event or a batch, as `ssekit serve` accepts.
#[derive(Deserialize)]
#[serde(untagged)]
enum PublishBody {
    One(Publish),
    Batch(Vec<Publish>),
}

fn send(hub: &Hub, msg: Publish) -> String {
    let id = hub.next_id.fetch_add(1, Ordering::Relaxed) + 1;
    // No receiver is not an error: the event is simply not delivered, as in the tutorials.
    let _ = hub.tx.send(Published {
        id,
        event: msg.event.map(Arc::from),
        data: Arc::from(msg.data),
    });
    id.to_string()
}

async fn publish(
    State(hub): State<Arc<Hub>>,
    Json(body): Json<PublishBody>,
) -> Json<serde_json::Value> {
    match body {
        PublishBody::One(msg) => Json(serde_json::json!({ "id": send(&hub, msg) })),
        PublishBody::Batch(msgs) => {
            let ids: Vec<String> = msgs.into_iter().map(|m| send(&hub, m)).collect();
            Json(serde_json::json!({ "ids": ids }))
        }
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let (tx, _) = broadcast::channel(args.capacity.max(1));
    let hub = Arc::new(Hub {
        tx,
        next_id: AtomicU64::new(0),
    });
    let app = Router::new()
        .route("/stream", get(stream))
        .route("/publish", post(publish))
        .with_state(hub);
    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    eprintln!("axum baseline listening on {}", listener.local_addr()?);
    // No graceful shutdown: the streams never end, so a drain would wait forever; the
    // benchmark script stops the process with a signal.
    axum::serve(listener, app).await
}
