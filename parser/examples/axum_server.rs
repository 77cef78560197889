//! An axum handler that streams events written with the serializer: a numbered `tick` every
//! second on one clock shared by all streams. A client that reconnects with `Last-Event-ID`
//! first gets the ticks it missed, then the live ones, so it loses none; an id the server
//! cannot resume from gets an explicit `reset` event instead of a silent gap.
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
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use futures_util::{stream, StreamExt};
use ssekit_parser::{EncodeError, Message};
use tokio::time::{sleep_until, Instant};

const TICK: Duration = Duration::from_secs(1);

/// Tick `n` happens at `start + n * TICK`; its id is `n`.
#[derive(Clone, Copy)]
struct Ticks {
    start: Instant,
    per_stream: u64,
}

impl Ticks {
    fn last(&self) -> u64 {
        (self.start.elapsed().as_millis() / TICK.as_millis()) as u64
    }

    fn due(&self, n: u64) -> Instant {
        self.start + TICK * u32::try_from(n).unwrap_or(u32::MAX)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:3000".to_owned());
    let per_stream: u64 = args.next().map_or(Ok(u64::MAX), |n| n.parse())?;

    let ticks = Ticks {
        start: Instant::now(),
        per_stream,
    };
    let app = Router::new()
        .route("/events", get(events))
        .with_state(ticks);
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("streaming on http://{}/events", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

async fn events(State(ticks): State<Ticks>, headers: HeaderMap) -> impl IntoResponse {
    let last = ticks.last();
    let asked = headers.get("last-event-id").map(|v| {
        v.to_str()
            .ok()
            .and_then(|id| id.parse::<u64>().ok())
            .filter(|&n| n <= last)
    });
    // The first frame tells clients how soon to reconnect; it dispatches nothing.
    let mut opening = vec![Message::empty().retry(2000).to_bytes()];
    let first = match asked {
        None => last + 1,
        Some(Some(n)) => n + 1,
        Some(None) => {
            opening.push(
                Message::new("unknown Last-Event-ID: continuing with live ticks")
                    .event("reset")
                    .to_bytes(),
            );
            last + 1
        }
    };
    let end = first.saturating_add(ticks.per_stream);
    let live = stream::unfold(first, move |n| async move {
        if n >= end {
            return None;
        }
        // Missed ticks are already due: they go out at once.
        sleep_until(ticks.due(n)).await;
        let data = format!("{{\"n\":{n}}}");
        let id = n.to_string();
        // The serializer refuses what would corrupt the stream (a line break in the id or the
        // type); the error then ends the response instead of sending a forged frame.
        let frame: Result<Bytes, EncodeError> =
            Message::new(&data).event("tick").id(&id).to_bytes();
        Some((frame, n + 1))
    });
    let body = Body::from_stream(stream::iter(opening).chain(live));
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
