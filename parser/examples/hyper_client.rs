//! An SSE client on hyper 1 that feeds the body's frames straight to the borrowed parser: no
//! adapter, no copy of the events that lie inside one frame.
//!
//! Against the reference server, in three terminals:
//!
//! ```text
//! cargo run -p ssekit-conformance -- serve --tick-ms 1000     # listens on 127.0.0.1:8080
//! cargo run -p ssekit-parser --example hyper_client -- 127.0.0.1:8080 /stream
//! curl -X POST http://127.0.0.1:8080/publish -d '{"event":"note","data":"hello"}'
//! ```
//!
//! It reads one connection until the server ends it (stop the server, or press Ctrl-C), then
//! says what the stream left unfinished and where to resume from.

use std::error::Error;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::Request;
use hyper_util::rt::TokioIo;
use ssekit_parser::{Frame, Parser};
use tokio::net::TcpStream;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    let path = args.next().unwrap_or_else(|| "/stream".to_owned());

    let io = TokioIo::new(TcpStream::connect(&addr).await?);
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            eprintln!("connection failed: {e}");
        }
    });
    let request = Request::get(&path)
        .header("host", &addr)
        .header("accept", "text/event-stream")
        .body(Empty::<Bytes>::new())?;
    let mut response = sender.send_request(request).await?;
    if !response.status().is_success() {
        return Err(format!("{addr}{path} answered {}", response.status()).into());
    }

    let mut parser = Parser::new();
    while let Some(frame) = response.body_mut().frame().await {
        // Trailers carry no events; only data frames are fed.
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        let mut feed = parser.feed(&data);
        while let Some(frame) = feed.next_frame() {
            match frame {
                Ok(Frame::Event(e)) => println!("{} (id {:?}): {}", e.event_type, e.id, e.data),
                Ok(Frame::Retry(ms)) => println!("server asks to reconnect after {ms} ms"),
                Ok(Frame::Comment(text)) => println!("comment:{text}"),
                Ok(Frame::Ignored(_)) => {}
                // A size limit was hit: that event was dropped, and parsing goes on.
                Err(e) => eprintln!("{e}"),
            }
        }
    }
    let end = parser.finish();
    if end.incomplete_event {
        eprintln!("the stream ended inside an event, which was discarded");
    }
    eprintln!(
        "stream ended; resume with Last-Event-ID {:?}",
        parser.last_event_id()
    );
    Ok(())
}
