//! Event streams over HTTP/1.1: headers, priming, fan-out, resume, reset, heartbeats,
//! backpressure and shutdown.

mod common;

use std::time::{Duration, Instant};

use common::*;
use ssekit_parser::OwnedFrame;
use tokio::time::timeout;

#[tokio::test]
async fn headers_and_priming_arrive_before_any_event() {
    let s = server(Config::default()).await;
    let started = Instant::now();
    let mut res = stream(s.local_addr(), "/stream", &[]).await;
    assert_eq!(res.status, 200);
    assert_eq!(
        res.header("content-type"),
        Some("text/event-stream; charset=utf-8")
    );
    assert_eq!(res.header("cache-control"), Some("no-store"));
    assert_eq!(res.header("x-accel-buffering"), Some("no"));
    assert_eq!(res.header("sse-resume"), Some("fresh"));
    assert_eq!(res.header("content-length"), None);
    assert_eq!(res.header("content-encoding"), None);
    assert_eq!(res.header("transfer-encoding"), Some("chunked"));
    let OwnedFrame::Comment(_) = res.next_frame().await.unwrap() else {
        panic!("priming starts with a comment")
    };
    let OwnedFrame::Retry(ms) = res.next_frame().await.unwrap() else {
        panic!("priming carries retry")
    };
    assert!((3000..=4500).contains(&ms), "jittered retry {ms}");
    assert!(started.elapsed() < Duration::from_secs(1));
    let id = s
        .publish(None, Some("greeting"), "hello\nworld")
        .await
        .unwrap();
    let e = res.next_event().await.unwrap();
    assert_eq!(
        (e.event_type.as_str(), e.data.as_str(), e.id.as_str()),
        ("greeting", "hello\nworld", id.as_str())
    );
}

#[tokio::test]
async fn fan_out_delivers_every_event_in_order_to_every_client() {
    let s = server(Config::default()).await;
    let mut clients = Vec::new();
    for _ in 0..40 {
        clients.push(stream(s.local_addr(), "/stream", &[]).await);
    }
    until_metrics(&s, |m| m.streams_open == 40).await;
    let mut ids = Vec::new();
    for i in 0..200 {
        ids.push(s.publish(None, None, &format!("event {i}")).await.unwrap());
    }
    let readers = clients.into_iter().map(|mut c| {
        tokio::spawn(async move {
            c.events(200)
                .await
                .into_iter()
                .map(|e| e.id)
                .collect::<Vec<_>>()
        })
    });
    for r in readers {
        assert_eq!(timeout(WAIT, r).await.unwrap().unwrap(), ids);
    }
    let m = s.metrics();
    assert_eq!(m.events_sent, 40 * 200);
    assert_eq!(m.events_published, 200);
}

#[tokio::test]
async fn ids_are_epoch_seq_and_increase_across_topics() {
    let s = server(Config::default()).await;
    let a = s.publish(Some("a"), None, "1").await.unwrap();
    let b = s.publish(Some("b"), None, "2").await.unwrap();
    assert_eq!(a, format!("{}-1", s.epoch()));
    assert_eq!(b, format!("{}-2", s.epoch()));
}

#[tokio::test]
async fn topics_filter_what_a_subscriber_gets() {
    let s = server(Config::default()).await;
    let mut only_a = stream(s.local_addr(), "/stream?topic=a", &[]).await;
    let mut a_and_b = stream(s.local_addr(), "/stream?topic=a&topic=b", &[]).await;
    let mut all = stream(s.local_addr(), "/stream", &[]).await;
    until_metrics(&s, |m| m.streams_open == 3).await;
    s.publish(Some("b"), None, "b1").await.unwrap();
    s.publish(None, None, "untopiced").await.unwrap();
    s.publish(Some("a"), None, "a1").await.unwrap();
    let data =
        |v: Vec<ssekit_parser::OwnedEvent>| v.into_iter().map(|e| e.data).collect::<Vec<_>>();
    assert_eq!(data(only_a.events(1).await), ["a1"]);
    assert_eq!(data(a_and_b.events(2).await), ["b1", "a1"]);
    assert_eq!(data(all.events(3).await), ["b1", "untopiced", "a1"]);
}

/// A control subscriber stays connected while another disconnects and resumes during
/// continuous publishing: the resumed sequence must equal the control's, with no gap or
/// duplicate at the replay-to-live hand-off.
#[tokio::test]
async fn resume_under_concurrent_publishing_matches_a_control_connection() {
    let s = std::sync::Arc::new(server(Config::default()).await);
    let addr = s.local_addr();
    let mut control = stream(addr, "/stream", &[]).await;
    let mut b = stream(addr, "/stream", &[]).await;
    until_metrics(&s, |m| m.streams_open == 2).await;
    let publisher = {
        let s = s.clone();
        tokio::spawn(async move {
            for i in 0..400 {
                s.publish(None, None, &format!("{i}")).await.unwrap();
                if i % 20 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        })
    };
    let first = b.events(50).await;
    let last_id = first.last().unwrap().id.clone();
    drop(b);
    let mut resumed = stream(addr, "/stream", &[("last-event-id", &last_id)]).await;
    assert_eq!(resumed.header("sse-resume"), Some("resumed"));
    timeout(WAIT, publisher).await.unwrap().unwrap();
    let want: Vec<String> = control
        .events(400)
        .await
        .into_iter()
        .map(|e| e.id)
        .collect();
    let got: Vec<String> = resumed
        .events(350)
        .await
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(
        want[..50],
        first.iter().map(|e| e.id.clone()).collect::<Vec<_>>()[..]
    );
    assert_eq!(got, want[50..]);
    assert!(s.metrics().resumes >= 1);
}

#[tokio::test]
async fn query_parameter_resumes_and_the_header_wins() {
    let s = server(Config::default()).await;
    let ids: Vec<String> = futures_ids(&s, 5).await;
    let path = format!("/stream?lastEventId={}", ids[1]);
    let mut q = stream(s.local_addr(), &path, &[]).await;
    assert_eq!(q.header("sse-resume"), Some("resumed"));
    assert_eq!(q.next_event().await.unwrap().id, ids[2]);
    let mut both = stream(s.local_addr(), &path, &[("last-event-id", &ids[3])]).await;
    assert_eq!(both.next_event().await.unwrap().id, ids[4]);
    let empty = stream(s.local_addr(), "/stream", &[("last-event-id", "")]).await;
    assert_eq!(empty.header("sse-resume"), Some("fresh"));
}

async fn futures_ids(s: &ServerHandle, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(s.publish(None, None, &i.to_string()).await.unwrap());
    }
    ids
}

#[tokio::test]
async fn too_old_id_gets_a_reset_then_what_is_left() {
    let s = server(Config {
        replay: 5,
        ..Config::default()
    })
    .await;
    let ids = futures_ids(&s, 20).await;
    let mut res = stream(s.local_addr(), "/stream", &[("last-event-id", &ids[2])]).await;
    assert_eq!(res.header("sse-resume"), Some("reset"));
    let reset = res.next_event().await.unwrap();
    assert_eq!(reset.event_type, "reset");
    assert_eq!(reset.id, "", "the reset signal carries no id");
    let json: serde_json::Value = serde_json::from_str(&reset.data).unwrap();
    assert_eq!(json["reason"], "too-old");
    assert_eq!(json["oldest"], ids[15].as_str());
    let rest: Vec<String> = res.events(5).await.into_iter().map(|e| e.id).collect();
    assert_eq!(rest, ids[15..]);
    assert_eq!(s.metrics().replay_misses, 1);
}

#[tokio::test]
async fn unknown_and_other_epoch_ids_get_a_reset() {
    let s = server(Config::default()).await;
    let other = server(Config::default()).await;
    let foreign = other.publish(None, None, "x").await.unwrap();
    let ids = futures_ids(&s, 3).await;
    let future = format!("{}-99", s.epoch());
    for (id, reason, first_after) in [
        (foreign.as_str(), "other-epoch", Some(&ids[0])),
        ("garbage", "unknown-id", None),
        (future.as_str(), "unknown-id", None),
    ] {
        let mut res = stream(s.local_addr(), "/stream", &[("last-event-id", id)]).await;
        assert_eq!(res.header("sse-resume"), Some("reset"), "{id}");
        let reset = res.next_event().await.unwrap();
        let json: serde_json::Value = serde_json::from_str(&reset.data).unwrap();
        assert_eq!(
            (reset.event_type.as_str(), json["reason"].as_str()),
            ("reset", Some(reason))
        );
        let live = s.publish(None, None, "live").await.unwrap();
        let next = res.next_event().await.unwrap();
        assert_eq!(&next.id, first_after.unwrap_or(&live), "{id}");
    }
}

#[tokio::test]
async fn hostile_last_event_ids_never_break_the_response() {
    let s = server(Config::default()).await;
    let long = "a".repeat(64 * 1024);
    let mut cases: Vec<Vec<u8>> = vec![
        format!("last-event-id: {long}\r\n").into_bytes(),
        b"last-event-id: \xff\xfe\x00bad\r\n".to_vec(),
        b"last-event-id: x\r\nlast-event-id: y\r\nlast-event-id: z\r\n".to_vec(),
        b"last-event-id: '; DROP TABLE events; -- {{7*7}}\r\n".to_vec(),
    ];
    cases.push(b"last-event-id: %00%0d%0aInjected: yes\r\n".to_vec());
    for case in cases {
        let mut req = b"GET /stream HTTP/1.1\r\nhost: x\r\n".to_vec();
        req.extend_from_slice(&case);
        req.extend_from_slice(b"\r\n");
        let mut res = raw_request(s.local_addr(), &req).await;
        assert!(
            res.status == 200 || res.status == 400,
            "status {}",
            res.status
        );
        for (name, value) in &res.headers {
            assert!(
                !value.contains("DROP") && !value.contains("Injected") && value.len() < 200,
                "{name}: {value}"
            );
        }
        if res.status == 200 {
            assert_eq!(res.header("sse-resume"), Some("reset"));
            assert_eq!(res.next_event().await.unwrap().event_type, "reset");
        }
    }
    let mut q = stream(s.local_addr(), "/stream?lastEventId=%0d%0aX:%20y", &[]).await;
    assert_eq!(q.header("sse-resume"), Some("reset"));
    assert_eq!(q.next_event().await.unwrap().event_type, "reset");
}

#[tokio::test]
async fn idle_streams_get_comment_heartbeats_without_ids() {
    let s = server(Config {
        heartbeat: Some(Duration::from_millis(100)),
        ..Config::default()
    })
    .await;
    let mut res = stream(s.local_addr(), "/stream", &[]).await;
    let mut beats = Vec::new();
    let started = Instant::now();
    while beats.len() < 3 {
        match res.next_frame().await.unwrap() {
            OwnedFrame::Comment(c) if c.contains("heartbeat") => beats.push(started.elapsed()),
            OwnedFrame::Event(e) => panic!("heartbeat dispatched an event: {e:?}"),
            _ => {}
        }
    }
    assert!(
        beats[0] < Duration::from_millis(400),
        "first heartbeat at {:?}",
        beats[0]
    );
    for pair in beats.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= Duration::from_millis(60) && gap < Duration::from_millis(400),
            "gap {gap:?}"
        );
    }
    assert!(s.metrics().heartbeats_sent >= 3);
}

/// A subscriber that stops reading is dropped (and counted) while the other keeps receiving
/// every event; the server's memory for it stays bounded by the lag limit.
#[tokio::test]
async fn slow_client_is_dropped_while_fast_ones_keep_up() {
    const EVENTS: usize = 600;
    let config = Config {
        max_lag_bytes: 1 << 20,
        replay: 4096,
        max_lag_events: 4096,
        ..Config::default()
    };
    let s = server(config).await;
    let addr = s.local_addr();
    let slow = stream(addr, "/stream", &[]).await;
    let mut fast = stream(addr, "/stream", &[]).await;
    until_metrics(&s, |m| m.streams_open == 2).await;
    let (seen_tx, mut seen) = tokio::sync::watch::channel(0usize);
    let reader = tokio::spawn(async move {
        for n in 1..=EVENTS {
            fast.next_event()
                .await
                .expect("fast client keeps its stream");
            let _ = seen_tx.send(n);
        }
    });
    let payload = "x".repeat(32 * 1024);
    for i in 0..EVENTS {
        s.publish(None, None, &payload).await.unwrap();
        // Keep the fast client within a few events (well under the lag limit) of the head:
        // only the stalled one may fall behind.
        if i % 8 == 7 {
            timeout(WAIT, seen.wait_for(|n| *n + 8 > i))
                .await
                .unwrap()
                .unwrap();
        }
    }
    timeout(WAIT, reader).await.unwrap().unwrap();
    let m = until_metrics(&s, |m| m.lagging_dropped >= 1 && m.streams_open == 0).await;
    assert_eq!(m.lagging_dropped, 1, "only the stalled client was dropped");
    assert_eq!(m.events_published, EVENTS as u64);
    drop(slow);
}

#[tokio::test]
async fn shutdown_ends_every_stream_at_an_event_boundary_within_a_second() {
    let s = server(Config::default()).await;
    let addr = s.local_addr();
    let mut clients = Vec::new();
    for _ in 0..10 {
        clients.push(stream(addr, "/stream", &[]).await);
    }
    until_metrics(&s, |m| m.streams_open == 10).await;
    s.publish(None, None, "before shutdown").await.unwrap();
    let started = Instant::now();
    let shutdown = tokio::spawn(s.shutdown());
    for mut c in clients {
        let (frames, end) = timeout(Duration::from_secs(1), c.until_end())
            .await
            .expect("stream ended within 1 s");
        assert!(!end.incomplete_event && !end.incomplete_line, "{end:?}");
        assert!(frames
            .iter()
            .any(|f| matches!(f, OwnedFrame::Event(e) if e.data == "before shutdown")));
    }
    timeout(Duration::from_secs(1), shutdown)
        .await
        .unwrap()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "listener closed"
    );
}

#[tokio::test]
async fn ticker_publishes_numbered_tick_events() {
    let s = server(Config {
        tick: Some(Duration::from_millis(20)),
        ..Config::default()
    })
    .await;
    let mut res = stream(s.local_addr(), "/stream", &[]).await;
    let ticks = res.events(3).await;
    assert!(ticks.iter().all(|e| e.event_type == "tick"));
    let n: Vec<u64> = ticks.iter().map(|e| e.data.parse().unwrap()).collect();
    assert!(n.windows(2).all(|w| w[1] == w[0] + 1), "{n:?}");
}

/// Publishes `n` events in one batch request; returns their ids.
async fn publish_batch(s: &ServerHandle, n: usize) -> Vec<String> {
    let batch: Vec<_> = (0..n)
        .map(|i| serde_json::json!({ "data": format!("event {i}") }))
        .collect();
    let body = serde_json::to_vec(&batch).unwrap();
    let (status, _, out) = exchange(s.local_addr(), "POST", "/publish", &[], &body).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&out));
    let answer: serde_json::Value = serde_json::from_slice(&out).unwrap();
    answer["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap().to_owned())
        .collect()
}

/// Reads the priming frames, then a batch of 50; returns the chunks the batch came in.
async fn chunks_for_a_batch(config: Config) -> usize {
    let s = server(config).await;
    let mut res = stream(s.local_addr(), "/stream", &[]).await;
    let OwnedFrame::Comment(_) = res.next_frame().await.unwrap() else {
        panic!("priming comment")
    };
    let OwnedFrame::Retry(_) = res.next_frame().await.unwrap() else {
        panic!("priming retry")
    };
    let before = res.chunks;
    let ids = publish_batch(&s, 50).await;
    let got: Vec<String> = res.events(50).await.into_iter().map(|e| e.id).collect();
    assert_eq!(got, ids, "every event once, in order");
    let m = s.metrics();
    assert_eq!(m.events_sent, 50);
    res.chunks - before
}

#[tokio::test]
async fn events_ready_together_go_out_in_one_write() {
    // The batch is in the ring before the stream is woken, so all 50 are ready at once.
    assert_eq!(chunks_for_a_batch(Config::default()).await, 1);
}

#[tokio::test]
async fn without_coalescing_each_event_is_its_own_write() {
    let config = Config {
        coalesce: false,
        ..Config::default()
    };
    assert_eq!(chunks_for_a_batch(config).await, 50);
}
