//! The publish contract as real servers bend it: the runner recognises its own events by their
//! tag whatever the hook did to the data, so delivery is never failed for events that arrived,
//! and only F07 judges byte-exactness. Each switch is shown against the checks it concerns.

mod common;

use common::{args, result as status, run};
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

use ssekit_check::check_command::check_target;
use ssekit_check::checks::Status;
use ssekit_check::target::{embedded_config, Publisher, Target};
use ssekit_server::Misbehavior;

/// `data: "…"` (the express tutorial's `JSON.stringify`): every event arrives, so T01, S01 and
/// S04 pass and say once that the hook re-encodes; F07 flags the alteration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_data_is_delivered_and_flagged_only_by_f07() {
    let report = run(&[Misbehavior::JsonData], &["T01", "S01", "S04", "F07"]).await;
    for id in ["T01", "S01", "S04"] {
        let (got, observed) = status(&report, id);
        assert_eq!(got, Status::Pass, "{id}: {observed}");
        assert_eq!(
            observed.matches("re-encodes").count(),
            1,
            "{id} names the re-encoding once: {observed}"
        );
        assert!(observed.contains("JSON-quoted"), "{id}: {observed}");
    }
    let (got, observed) = status(&report, "F07");
    assert_eq!(got, Status::Warn, "F07: {observed}");
    assert!(
        observed.contains("re-encodes") && observed.contains("JSON-quoted"),
        "F07: {observed}"
    );
}

/// A well-behaved server: nothing is said about re-encoding.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn byte_exact_data_says_nothing_about_re_encoding() {
    let report = run(&[], &["T01", "S04", "F07"]).await;
    for id in ["T01", "S04", "F07"] {
        let (got, observed) = status(&report, id);
        assert_eq!(got, Status::Pass, "{id}: {observed}");
        assert!(!observed.contains("re-encodes"), "{id}: {observed}");
    }
}

/// Flask's `MessageAnnouncer`: a healthy reader loses events with nobody stalled, and S01 says
/// so instead of blaming a stalled subscriber; the dropped reader's connection stays open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lossy_queue_warns_s01_without_a_stalled_subscriber() {
    let report = run(&[Misbehavior::LossyQueue], &["S01"]).await;
    let (got, observed) = status(&report, "S01");
    assert_eq!(got, Status::Warn, "S01: {observed}");
    assert!(
        observed.starts_with(
            "the server loses events for a healthy reader even without a stalled subscriber"
        ),
        "S01: {observed}"
    );
    assert!(
        observed.contains("dropped the subscriber while still connected"),
        "S01: {observed}"
    );
}

/// A TCP proxy on 127.0.0.1 that forwards requests at once and hands each response chunk on
/// `delay` after it arrived, in order: HAProxy without `option http-no-delay` meeting delayed
/// ACKs. The delay is what is being measured, not a wait for a race.
async fn delaying_proxy(upstream: SocketAddr, delay: Duration) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(relay(client, upstream, delay));
        }
    });
    addr
}

async fn relay(client: TcpStream, upstream: SocketAddr, delay: Duration) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_server, mut to_server) = server.into_split();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let requests = tokio::io::copy(&mut from_client, &mut to_server);
    let read = async move {
        let mut buf = vec![0; 64 * 1024];
        while let Ok(n @ 1..) = from_server.read(&mut buf).await {
            if tx
                .send((Instant::now() + delay, buf[..n].to_vec()))
                .is_err()
            {
                break;
            }
        }
    };
    let write = async move {
        while let Some((at, bytes)) = rx.recv().await {
            tokio::time::sleep_until(at).await;
            if to_client.write_all(&bytes).await.is_err() {
                break;
            }
        }
    };
    let _ = tokio::join!(requests, read, write);
}

/// Every event 200 ms late, evenly (HAProxy's figure): a WARN that names the steady added
/// latency and the usual culprit. On a loaded machine the p99 may cross T01's 250 ms bound,
/// and T01 then fails; either way the steady delay is named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steady_added_latency_warns_t01() {
    let mut target = Target::embedded(embedded_config())
        .await
        .expect("embedded server starts");
    let upstream: SocketAddr = target
        .url
        .authority()
        .expect("authority")
        .as_str()
        .parse()
        .expect("a socket address");
    let proxy = delaying_proxy(upstream, Duration::from_millis(200)).await;
    target.url = format!("http://{proxy}/stream").parse().expect("url");
    let report = tokio::time::timeout(
        Duration::from_secs(90),
        check_target(target, &args(&["T01"])),
    )
    .await
    .expect("the run finishes in time")
    .expect("the run is possible");
    let (got, observed) = status(&report, "T01");
    assert!(
        matches!(got, Status::Warn | Status::Fail),
        "T01: {observed}"
    );
    assert!(
        observed.contains("every event arrives ~2")
            && observed.contains(" ms late (steady added latency): an intermediary"),
        "T01: {observed}"
    );
}

/// A minimal foreign server in the style of many tutorials: `POST /publish` wraps the data in
/// an envelope (`{"message": …, "ts": …}`) and drops the event type; `GET /stream` writes each
/// envelope as `data:` (close-delimited HTTP/1.1). Returns its address.
async fn envelope_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let (tx, _) = tokio::sync::broadcast::channel::<String>(4096);
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            tokio::spawn(envelope_conn(conn, tx.clone()));
        }
    });
    addr
}

async fn envelope_conn(mut conn: TcpStream, tx: tokio::sync::broadcast::Sender<String>) {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0; 4096];
        match tokio::time::timeout_at(deadline, conn.read(&mut chunk)).await {
            Ok(Ok(n @ 1..)) if buf.len() < 64 * 1024 => buf.extend_from_slice(&chunk[..n]),
            _ => return,
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    if head.starts_with("get ") {
        let mut rx = tx.subscribe();
        let ok = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n";
        if conn.write_all(ok).await.is_err() {
            return;
        }
        // A lagging subscriber is closed (broadcast's `Lagged`), like a server should.
        while let Ok(frame) = rx.recv().await {
            if conn.write_all(frame.as_bytes()).await.is_err() {
                return;
            }
        }
        return;
    }
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let mut chunk = [0; 4096];
        match tokio::time::timeout_at(deadline, conn.read(&mut chunk)).await {
            Ok(Ok(n @ 1..)) => buf.extend_from_slice(&chunk[..n]),
            _ => return,
        }
    }
    let body: serde_json::Value =
        serde_json::from_slice(&buf[head_end..head_end + length]).unwrap_or_default();
    let envelope = serde_json::json!({ "message": body["data"], "ts": 1_712_000_000 });
    let _ = tx.send(format!("data: {envelope}\n\n"));
    let _ = conn
        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        .await;
}

/// Events wrapped in an envelope, their type dropped, published over HTTP: T01 and S04 see
/// every event, pass, and name the envelope once; F07 finds its payloads by content and names
/// both alterations instead of "not received".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enveloped_data_is_delivered() {
    let addr = envelope_server().await;
    let url = |path: &str| format!("http://{addr}{path}").parse().expect("url");
    let mut target = Target::remote(url("/stream"), http::HeaderMap::new());
    target.publish = Some(Publisher::Http {
        url: url("/publish"),
        headers: http::HeaderMap::new(),
        timeout: Duration::from_secs(3),
    });
    let report = tokio::time::timeout(
        Duration::from_secs(90),
        check_target(target, &args(&["T01", "S04", "F07"])),
    )
    .await
    .expect("the run finishes in time")
    .expect("the run is possible");
    for id in ["T01", "S04"] {
        let (got, observed) = status(&report, id);
        assert_eq!(got, Status::Pass, "{id}: {observed}");
        assert_eq!(
            observed.matches("re-encodes").count(),
            1,
            "{id}: {observed}"
        );
        assert!(
            observed.contains("wrapped in an envelope"),
            "{id}: {observed}"
        );
    }
    let (got, observed) = status(&report, "F07");
    assert_eq!(got, Status::Warn, "F07: {observed}");
    assert!(
        observed.starts_with("the publish hook drops the event type")
            && observed.contains("re-encodes data (wrapped in an envelope: 9 of 9)")
            && !observed.contains("not received"),
        "F07: {observed}"
    );
}
