//! An axum handler that streams events written with the serializer: a numbered `tick` every
//! second, resumed after the client's `Last-Event-ID`, so a reconnecting client misses none.
//!
//! Run it, then check it with the conformance runner and read it with the example clients
//! (the same clients read the reference server, `cargo run -p ssekit-conformance -- serve`):
//!
//! ```text
//! cargo run -p ssekit-parser --example axum_server                 # listens on 127.0.0.1:3000
//! cargo run -p ssekit-conformance -- check http://127.0.0.1:3000/events
//! cargo run -p ssekit-parser --example hyper_client -- 127.0.0.1:3000 /events
//! ```
//!
//! Arguments: the address to listen on, and how many events a stream carries before the server
//! ends it (default: no end), to watch clients resume.

use std::error::Error;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use futures_util::stream;
use ssekit_parser::{EncodeError, Message};

const TICK: Duration = Duration::from_secs(1);

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:3000".to_owned());
    let per_stream: u64 = args.next().map_or(Ok(u64::MAX), |n| n.parse())?;

    let app = Router::new().route("/events", get(move |h: HeaderMap| events(h, per_stream)));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("streaming on http://{}/events", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

async fn events(headers: HeaderMap, per_stream: u64) -> impl IntoResponse {
    // Our ids are the tick numbers, so resuming is counting on from the last one received.
    let after: u64 = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    // The first frame tells clients how soon to reconnect; it dispatches nothing.
    let hello = Message::empty().retry(2000).to_bytes();
    let ticks = stream::unfold(after + 1, move |n| async move {
        if n > after.saturating_add(per_stream) {
            return None;
        }
        tokio::time::sleep(TICK).await;
        let data = format!("{{\"n\":{n}}}");
        let id = n.to_string();
        // The serializer refuses what would corrupt the stream (a line break in the id or the
        // type); the error then ends the response instead of sending a forged frame.
        let frame: Result<Bytes, EncodeError> =
            Message::new(&data).event("tick").id(&id).to_bytes();
        Some((frame, n + 1))
    });
    let body = Body::from_stream(futures_util::StreamExt::chain(stream::iter([hello]), ticks));
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-store"),
            // Asks nginx and similar proxies not to buffer the stream.
            (header::HeaderName::from_static("x-accel-buffering"), "no"),
        ],
        body,
    )
}
