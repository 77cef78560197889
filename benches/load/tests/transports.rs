//! Every transport against the reference server in this process: each of 50 readers gets
//! every published event exactly once, the bytes on the wire are counted, and a reconnect wave
//! in the middle of publishing loses and repeats nothing. WebSocket runs against the server's
//! own `/ws`.

use std::time::Duration;

use ssekit_load::report::Report;
use ssekit_load::{execute, Endpoints, LoadArgs, Transport};

/// `ssekit load --transport T --connections N --duration D --rate R`, polling every 100 ms,
/// with 10 s to connect.
fn args(transport: Transport, connections: u64, duration: f64, rate: f64) -> LoadArgs {
    LoadArgs {
        transport,
        poll_interval: 100,
        connections,
        duration,
        rate: Some(rate),
        connect_timeout: 10.0,
        ..LoadArgs::default()
    }
}

/// Loads a reference server started in this process, by `a.transport`.
async fn run(a: LoadArgs) -> Report {
    let server = ssekit_server::start(ssekit_server::Config::default())
        .await
        .expect("the reference server starts");
    let endpoints =
        Endpoints::reference_server(server.local_addr(), std::process::id(), a.transport);
    let report = tokio::time::timeout(Duration::from_secs(40), execute(a, endpoints))
        .await
        .expect("the load run stops by itself")
        .expect("the load run starts");
    server.shutdown().await;
    report
}

/// What every lossless run must show.
fn assert_every_reader_got_every_event_once(r: &Report, readers: usize) {
    let why = r.human();
    assert_eq!((r.connect.ok, r.connect.failed), (readers, 0), "{why}");
    let p = r.publish.as_ref().expect("publisher ran");
    assert_eq!(p.failed, 0, "{why}");
    assert!(p.published > 0, "{why}");
    let d = &r.delivery;
    assert_eq!((d.readers, d.complete), (readers, readers), "{why}");
    assert_eq!((d.missing, d.duplicates), (0, 0), "{why}");
    assert_eq!((d.closed_by_server, d.read_errors), (0, 0), "{why}");
    assert_eq!(d.events, readers as u64 * p.published, "{why}");
    assert_eq!(r.latency.count, d.events, "{why}");
    assert!(r.latency.p50_us > 0, "{why}");
    assert_eq!(r.exit_code, 0, "{why}");
}

/// Bytes are counted, and every event costs more than its data on every transport.
fn assert_wire_counted(r: &Report) {
    let why = r.human();
    let w = r.wire.as_ref().expect("wire figures");
    let payload = w.payload_bytes_per_event.expect("events were delivered");
    assert!(payload > 20.0, "the stamp alone is ~30 bytes: {why}");
    let per_event = w.bytes_per_event.expect("events were delivered");
    assert!(per_event > payload, "{why}");
    assert!(w.read_bytes_per_event.unwrap() > payload, "{why}");
    assert!(w.read_bytes >= w.phase_read_bytes && w.written_bytes >= w.phase_written_bytes);
    assert!(
        w.phase_events > 0 && w.bytes_per_connection_s > 0.0,
        "{why}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_delivers_every_event_once_and_writes_nothing_while_reading() {
    let r = run(args(Transport::Sse, 50, 1.5, 50.0)).await;
    assert_every_reader_got_every_event_once(&r, 50);
    assert_wire_counted(&r);
    let w = r.wire.as_ref().unwrap();
    // One request per connection, before the phase; an event stream only reads after it.
    assert_eq!(w.phase_written_bytes, 0, "{}", r.human());
    assert!(w.written_bytes > 50 * 40, "{}", r.human());
    assert_eq!(r.transport, Transport::Sse);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_delivers_every_event_once() {
    let r = run(args(Transport::Ws, 50, 1.5, 50.0)).await;
    assert_every_reader_got_every_event_once(&r, 50);
    assert_wire_counted(&r);
    assert!(r.human().contains("over ws"), "{}", r.human());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_polling_delivers_every_event_once_and_pays_requests() {
    let r = run(args(Transport::LongPoll, 50, 1.5, 50.0)).await;
    assert_every_reader_got_every_event_once(&r, 50);
    assert_wire_counted(&r);
    let w = r.wire.as_ref().unwrap();
    assert!(w.phase_written_bytes > 0, "{}", r.human());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_polling_delivers_every_event_once_and_polls_on_schedule() {
    let r = run(args(Transport::Poll, 50, 1.5, 50.0)).await;
    assert_every_reader_got_every_event_once(&r, 50);
    assert_wire_counted(&r);
    let w = r.wire.as_ref().unwrap();
    // 50 pollers every 100 ms for ~1.5 s: well over 300 requests of well over 30 bytes each.
    assert!(w.phase_written_bytes > 300 * 30, "{}", r.human());
    assert_eq!(r.poll_interval_ms, Some(100));
    // An event waits for the next poll: half an interval on average.
    assert!(r.latency.p99_us > 20_000, "{}", r.human());
}

async fn reconnect_wave_loses_nothing(transport: Transport) {
    let mut a = args(transport, 50, 2.0, 50.0);
    a.reconnect = true;
    let r = run(a).await;
    let why = r.human();
    assert_every_reader_got_every_event_once(&r, 50);
    let w = r.reconnect.as_ref().expect("reconnect figures");
    assert_eq!((w.readers, w.resumed, w.failed), (50, 50, 0), "{why}");
    assert_eq!((w.missing, w.duplicates, w.resets), (0, 0, 0), "{why}");
    assert_eq!(w.time_to_resume.count, 50, "{why}");
    assert!(w.time_to_resume.p50_us > 0, "{why}");
    assert!(why.contains("reconnect: 50 of 50 readers resumed"), "{why}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_reconnect_with_last_event_id_loses_nothing() {
    reconnect_wave_loses_nothing(Transport::Sse).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_reconnect_with_last_event_id_loses_nothing() {
    reconnect_wave_loses_nothing(Transport::Ws).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_poll_reconnect_with_after_loses_nothing() {
    reconnect_wave_loses_nothing(Transport::LongPoll).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_poll_reconnect_with_after_loses_nothing() {
    reconnect_wave_loses_nothing(Transport::Poll).await;
}

#[tokio::test]
async fn reconnect_without_publishing_is_refused() {
    let mut a = args(Transport::Sse, 1, 0.1, 1.0);
    a.rate = None;
    a.reconnect = true;
    let endpoints = Endpoints::reference_server(
        "127.0.0.1:9".parse().unwrap(),
        std::process::id(),
        Transport::Sse,
    );
    let err = execute(a, endpoints).await.expect_err("refused");
    assert!(err.to_string().contains("--rate"), "{err}");
}
