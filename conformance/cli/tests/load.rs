//! `ssekit load` against the embedded reference server on loopback: every reader gets every
//! published event exactly once with a latency, a stalled reader is reported as stalled, and
//! targets off loopback are refused.

use std::process::Command;
use std::time::Duration;

use ssekit_load::{execute, report::Report, Endpoints, LoadArgs, Transport};

/// `ssekit load --connections N --duration D --rate R --stall K` over SSE, with 10 s to
/// connect.
fn args(connections: u64, duration: f64, rate: f64, stall: u64) -> LoadArgs {
    LoadArgs {
        connections,
        duration,
        rate: Some(rate),
        stall,
        connect_timeout: 10.0,
        ..LoadArgs::default()
    }
}

/// Loads a reference server started in this process.
async fn run(a: LoadArgs) -> Report {
    let server = ssekit_server::start(ssekit_server::Config::default())
        .await
        .expect("the reference server starts");
    let endpoints =
        Endpoints::reference_server(server.local_addr(), std::process::id(), Transport::Sse);
    let report = tokio::time::timeout(Duration::from_secs(30), execute(a, endpoints))
        .await
        .expect("the load run stops by itself")
        .expect("the load run starts");
    server.shutdown().await;
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_reader_gets_every_event_once() {
    let r = run(args(50, 2.0, 50.0, 0)).await;
    let why = r.human();
    assert_eq!((r.connect.ok, r.connect.failed), (50, 0), "{why}");
    let p = r.publish.as_ref().expect("publisher ran");
    assert_eq!(p.failed, 0, "{why}");
    assert!(
        (80..=101).contains(&p.published),
        "paced at 50/s for 2 s: {why}"
    );
    let d = &r.delivery;
    assert_eq!((d.readers, d.complete), (50, 50), "{why}");
    assert_eq!(
        (d.missing, d.duplicates, d.closed_by_server),
        (0, 0, 0),
        "{why}"
    );
    assert_eq!(d.events, 50 * p.published, "{why}");
    assert_eq!(
        (d.min_per_connection, d.max_per_connection),
        (p.published, p.published),
        "{why}"
    );
    assert_eq!(r.latency.count, d.events, "{why}");
    assert!(
        r.latency.p50_us > 0 && r.latency.p50_us <= r.latency.p99_us,
        "{why}"
    );
    assert!(r.latency.p99_us <= r.latency.max_us, "{why}");
    assert!(r.server_rss.is_some() && r.embedded, "{why}");
    let cpu = r
        .cpu
        .as_ref()
        .expect("CPU measured over the publishing phase");
    assert!(cpu.wall_s >= 1.5 && cpu.server_s.is_some(), "{why}");
    assert!(why.contains("CPU over"), "{why}");
    assert_eq!((r.stalled.count, r.exit_code), (0, 0), "{why}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_reader_is_reported_and_the_others_are_complete() {
    let r = run(args(10, 1.0, 40.0, 1)).await;
    let why = r.human();
    assert_eq!(r.connect.ok, 10, "{why}");
    assert_eq!(r.stalled.count, 1, "{why}");
    assert_eq!(
        r.stalled.closed_by_server + r.stalled.still_open,
        1,
        "{why}"
    );
    assert_eq!(r.stalled.events_when_drained.len(), 1, "{why}");
    let d = &r.delivery;
    assert_eq!((d.readers, d.complete, d.missing), (9, 9, 0), "{why}");
    // Latencies come from the readers only: the stalled one read nothing while measuring.
    assert_eq!(r.latency.count, d.events, "{why}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_publishers_reorder_but_lose_nothing() {
    let mut a = args(20, 1.5, 200.0, 0);
    a.publishers = 3;
    let r = run(a).await;
    let why = r.human();
    let p = r.publish.as_ref().expect("publisher ran");
    assert_eq!(p.failed, 0, "{why}");
    assert!(
        p.published >= 200,
        "three publishers at 200/s for 1.5 s: {why}"
    );
    let d = &r.delivery;
    assert_eq!((d.readers, d.complete), (20, 20), "{why}");
    assert_eq!((d.missing, d.duplicates), (0, 0), "{why}");
    assert_eq!(d.events, 20 * p.published, "{why}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_publishing_delivers_every_event_once_in_order() {
    let mut a = args(20, 1.0, 2000.0, 0);
    a.batch = 50;
    let r = run(a).await;
    let why = r.human();
    let p = r.publish.as_ref().expect("publisher ran");
    assert_eq!((p.failed, p.batch), (0, 50), "{why}");
    assert!(
        p.published >= 50 && p.published % 50 == 0,
        "whole batches only: {why}"
    );
    let d = &r.delivery;
    assert_eq!((d.readers, d.complete), (20, 20), "{why}");
    assert_eq!((d.missing, d.duplicates), (0, 0), "{why}");
    assert_eq!(d.events, 20 * p.published, "{why}");
    assert!(why.contains("50 per request"), "{why}");
}

#[test]
fn off_loopback_targets_and_bad_options_are_refused() {
    let ssekit = env!("CARGO_BIN_EXE_ssekit");
    let out = Command::new(ssekit)
        .args(["load", "http://192.0.2.1:80/stream", "--duration", "0"])
        .output()
        .expect("ssekit runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));
    let out = Command::new(ssekit)
        .args(["load", "http://127.0.0.1:9/stream", "--rate", "10"])
        .output()
        .expect("ssekit runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--publish"));
}
