//! An SSE client on reqwest, through the `stream` adapter: prints each event and reconnects
//! the way EventSource does, after the server's `retry` delay and with `Last-Event-ID`, so no
//! event is lost across a dropped connection.
//!
//! Against the reference server, in three terminals:
//!
//! ```text
//! cargo run -p ssekit-conformance -- serve --tick-ms 1000     # listens on 127.0.0.1:8080
//! cargo run -p ssekit-parser --features stream --example reqwest_client -- http://127.0.0.1:8080/stream
//! curl -X POST http://127.0.0.1:8080/publish -d '{"event":"note","data":"hello"}'
//! ```
//!
//! Stop the server and start it again: the client reconnects and says from which id. The
//! optional second argument stops the client after that many events.

use std::error::Error;
use std::time::Duration;

use futures_util::StreamExt;
use ssekit_parser::stream::EventStream;
use ssekit_parser::Parser;

/// EventSource's usual first reconnection delay, until the server sends `retry`.
const DEFAULT_RETRY: Duration = Duration::from_secs(3);

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:8080/stream".to_owned());
    let mut left: Option<u64> = args.next().map(|n| n.parse()).transpose()?;
    let client = reqwest::Client::new();
    let mut last_id = String::new();
    let mut retry = DEFAULT_RETRY;

    loop {
        let mut request = client.get(&url).header("accept", "text/event-stream");
        if !last_id.is_empty() {
            request = request.header("last-event-id", &last_id);
        }
        match request.send().await.and_then(|r| r.error_for_status()) {
            Err(e) => eprintln!("connecting to {url} failed: {e}"),
            Ok(response) => {
                // The parser starts from the id we resume from, as EventSource's does.
                let parser = Parser::new()
                    .report_comments(false)
                    .with_last_event_id(&last_id);
                let body = Box::pin(response.bytes_stream());
                let mut events = EventStream::with_parser(body, parser);
                while let Some(event) = events.next().await {
                    match event {
                        Ok(event) => {
                            println!(
                                "{} (id {:?}): {}",
                                event.event_type_str(),
                                event.id_str(),
                                event.data_str()
                            );
                            if let Some(n) = left.as_mut() {
                                *n = n.saturating_sub(1);
                                if *n == 0 {
                                    return Ok(());
                                }
                            }
                        }
                        // A limit error drops one event and the stream goes on; a body error
                        // ends this connection.
                        Err(e) => eprintln!("{e}"),
                    }
                }
                last_id = events.last_event_id().to_owned();
                retry = events.retry().map_or(retry, Duration::from_millis);
                if events
                    .end_of_stream()
                    .is_some_and(|end| end.incomplete_event)
                {
                    eprintln!("the stream ended inside an event, which was discarded");
                }
            }
        }
        eprintln!("reconnecting in {retry:?} with Last-Event-ID {last_id:?}");
        tokio::time::sleep(retry).await;
    }
}
