//! Streams opened by a request (`--profile openai`): a small hand-written OpenAI-shaped
//! endpoint on 127.0.0.1 answers each POST with a finite stream, well or in one of the ways
//! such endpoints break (a burst at the end, no `[DONE]`, a cut inside an event, a reset
//! instead of an error event, a silent "thinking" pause), and each test asserts the P check
//! that must name it.

mod common;

use common::expect;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use ssekit_check::check_command::{CheckArgs, ProfileArg};
use ssekit_check::checks::Status;
use ssekit_check::report::Report;
use ssekit_check::target::{Opening, Target};

/// How the endpoint answers.
#[derive(Clone, Copy, PartialEq)]
enum Shape {
    /// Five tokens 50 ms apart, a finish chunk, `[DONE]`, a clean end.
    Good,
    /// The same events, all written at the end after 1.5 s.
    Burst,
    /// No `[DONE]`.
    NoDone,
    /// Ends inside the third chunk.
    CutMidEvent,
    /// Two tokens, then the connection is dropped without the terminating chunk.
    Reset,
    /// A 2.5 s silence before the first token.
    SilentThink,
}

fn token(n: usize, finish: bool) -> String {
    let reason = if finish { "\"stop\"" } else { "null" };
    format!(
        "data: {{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\
         \"delta\":{{\"content\":\"t{n}\"}},\"finish_reason\":{reason}}}]}}\n\n"
    )
}

async fn chunk(s: &mut TcpStream, body: &str) -> std::io::Result<()> {
    s.write_all(format!("{:x}\r\n{body}\r\n", body.len()).as_bytes())
        .await
}

async fn answer(mut s: TcpStream, shape: Shape) -> std::io::Result<()> {
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    // Head, then the JSON body (small: read until it has arrived or the client waits).
    while !request.ends_with(b"}") {
        let n = s.read(&mut buf).await?;
        if n == 0 || request.len() > 64 * 1024 {
            return Ok(());
        }
        request.extend_from_slice(&buf[..n]);
    }
    s.write_all(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n\
          transfer-encoding: chunked\r\n\r\n",
    )
    .await?;
    let mut events: Vec<String> = (0..5).map(|n| token(n, false)).collect();
    events.push(token(5, true));
    if shape != Shape::NoDone {
        events.push("data: [DONE]\n\n".into());
    }
    match shape {
        Shape::Burst => {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            chunk(&mut s, &events.concat()).await?;
        }
        Shape::CutMidEvent => {
            chunk(&mut s, &events[..2].concat()).await?;
            chunk(&mut s, "data: {\"id\":\"c1\"").await?;
            return s.write_all(b"0\r\n\r\n").await;
        }
        Shape::Reset => {
            chunk(&mut s, &events[..2].concat()).await?;
            return Ok(());
        }
        _ => {
            if shape == Shape::SilentThink {
                tokio::time::sleep(Duration::from_millis(2500)).await;
            }
            for e in &events {
                chunk(&mut s, e).await?;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    s.write_all(b"0\r\n\r\n").await
}

async fn endpoint(shape: Shape) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(answer(s, shape));
        }
    });
    format!("http://127.0.0.1:{port}/v1/chat/completions")
}

async fn check(shape: Shape) -> Report {
    let url = endpoint(shape).await;
    let args = CheckArgs {
        heartbeat_max: Duration::from_secs(2),
        stream_max: Duration::from_secs(5),
        ..common::profile_args(ProfileArg::Openai, url.clone())
    };
    let mut target = Target::remote(url.parse().expect("url"), http::HeaderMap::new());
    target.opening = Opening {
        method: http::Method::POST,
        body: ssekit_check::profiles::openai::DEFAULT_BODY.into(),
        content_type: Some(http::HeaderValue::from_static("application/json")),
        accept: None,
    };
    common::run_target(target, &args).await
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_completion_stream_passes_and_feed_checks_skip() {
    let r = check(Shape::Good).await;
    expect(&r, "P01", Status::Pass, "ended cleanly after 7 event(s)");
    expect(&r, "P02", Status::Pass, "then [DONE]");
    expect(&r, "P04", Status::Pass, "delivered as made");
    expect(&r, "P06", Status::Pass, "ended cleanly");
    expect(&r, "P07", Status::Pass, "concurrent requests");
    expect(&r, "H02", Status::Pass, "text/event-stream");
    expect(
        &r,
        "I03",
        Status::Skip,
        "the stream is finite (opened by POST",
    );
    expect(&r, "K01", Status::Skip, "the stream is finite");
    assert_eq!(r.exit_code(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_at_the_end_is_buffering() {
    let r = check(Shape::Burst).await;
    expect(&r, "P04", Status::Warn, "7 of 7 events arrived in one read");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_done_is_named_by_the_profile() {
    let r = check(Shape::NoDone).await;
    expect(&r, "P02", Status::Warn, "without `data: [DONE]`");
    expect(&r, "P01", Status::Pass, "ended cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_inside_an_event_fails_p01() {
    let r = check(Shape::CutMidEvent).await;
    expect(
        &r,
        "P01",
        Status::Fail,
        "ended inside a line after 2 complete event(s)",
    );
    assert_eq!(r.exit_code(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_instead_of_an_error_event_is_named() {
    let r = check(Shape::Reset).await;
    expect(
        &r,
        "P06",
        Status::Warn,
        "cut by a connection error after 2 event(s)",
    );
    expect(&r, "P02", Status::Warn, "without `data: [DONE]`");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_think_longer_than_the_heartbeat_is_flagged() {
    let r = check(Shape::SilentThink).await;
    expect(&r, "P05", Status::Warn, "without a byte");
    expect(&r, "P04", Status::Pass, "delivered as made");
}
