//! `/ws`: the hub over WebSocket (frames, resume, reset, close codes, heartbeats, metrics).

mod common;

use std::time::Duration;

use common::{server, stream, until_metrics, ws_connect, ws_next, Config, WAIT};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use ssekit_server::websocket::{BAD_MESSAGE, LAGGING, SHUTDOWN, UNRESPONSIVE};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn events_arrive_as_json_frames_with_the_streams_ids_and_topics() {
    let s = server(Config::default()).await;
    let mut all = ws_connect(s.local_addr(), "/ws").await;
    let mut news = ws_connect(s.local_addr(), "/ws?topic=news").await;
    let a = s.publish(None, None, "one\ntwo").await.unwrap();
    let b = s
        .publish(Some("news"), Some("headline"), "hi")
        .await
        .unwrap();
    assert_eq!(
        ws_next(&mut all).await.unwrap(),
        json!({"id": a, "event": "message", "data": "one\ntwo"})
    );
    let headline = json!({"id": b, "event": "headline", "data": "hi"});
    assert_eq!(ws_next(&mut all).await.unwrap(), headline);
    assert_eq!(ws_next(&mut news).await.unwrap(), headline);
    let m = s.metrics();
    assert_eq!((m.ws.open, m.ws.total, m.ws.deliveries), (2, 2, 3));
    assert_eq!(m.sse.open, 0);
    drop((all, news));
    s.shutdown().await;
}

#[tokio::test]
async fn resume_by_query_replays_exactly_and_unknown_ids_get_the_reset_signal() {
    let s = server(Config::default()).await;
    let mut published = Vec::new();
    for data in ["1", "2", "3"] {
        published.push(s.publish(None, None, data).await.unwrap());
    }
    let mut ws = ws_connect(
        s.local_addr(),
        &format!("/ws?last_event_id={}", published[0]),
    )
    .await;
    assert_eq!(ws_next(&mut ws).await.unwrap()["id"], published[1]);
    assert_eq!(ws_next(&mut ws).await.unwrap()["id"], published[2]);
    assert_eq!(s.metrics().resumes, 1);

    let mut bogus = ws_connect(s.local_addr(), "/ws?last_event_id=bogus").await;
    let reset = ws_next(&mut bogus).await.unwrap();
    assert_eq!(reset["event"], "reset");
    assert!(reset.get("id").is_none(), "the reset signal has no id");
    let data: Value = serde_json::from_str(reset["data"].as_str().unwrap()).unwrap();
    assert_eq!(
        data,
        json!({"reason": "unknown-id", "oldest": published[0]})
    );
    // Then live events.
    let d = s.publish(None, None, "4").await.unwrap();
    assert_eq!(ws_next(&mut bogus).await.unwrap()["id"], d);
    s.shutdown().await;
}

#[tokio::test]
async fn the_first_message_may_name_the_resume_id_before_any_event() {
    let s = server(Config::default()).await;
    let a = s.publish(None, None, "a").await.unwrap();
    let b = s.publish(None, None, "b").await.unwrap();
    let mut ws = ws_connect(s.local_addr(), "/ws").await;
    ws.send(Message::text(json!({"last_event_id": a}).to_string()))
        .await
        .unwrap();
    assert_eq!(ws_next(&mut ws).await.unwrap()["id"], b);
    // A second one is refused, with a close that says so.
    ws.send(Message::text(json!({"last_event_id": a}).to_string()))
        .await
        .unwrap();
    let (code, reason) = ws_next(&mut ws).await.unwrap_err();
    assert_eq!(code, BAD_MESSAGE);
    assert!(reason.contains("last_event_id"), "{reason}");
    // A resume by message from another epoch is announced like the stream's.
    let mut other = ws_connect(s.local_addr(), "/ws").await;
    other
        .send(Message::text(r#"{"last_event_id":"ffff-1"}"#))
        .await
        .unwrap();
    let reset = ws_next(&mut other).await.unwrap();
    assert_eq!(reset["event"], "reset");
    assert!(reset["data"].as_str().unwrap().contains("other-epoch"));
    assert_eq!(
        ws_next(&mut other).await.unwrap()["id"],
        a,
        "all retained events follow"
    );
    let m = until_metrics(&s, |m| m.ws.closes.bad_message == 1).await;
    assert_eq!(m.ws.closes.bad_message, 1);
    s.shutdown().await;
}

#[tokio::test]
async fn shutdown_closes_with_1001_after_the_last_event() {
    let s = server(Config::default()).await;
    let mut ws = ws_connect(s.local_addr(), "/ws").await;
    let id = s.publish(None, None, "last").await.unwrap();
    let metrics_before = s.metrics();
    let stopping = tokio::spawn(s.shutdown());
    assert_eq!(ws_next(&mut ws).await.unwrap()["id"], id);
    let (code, _) = ws_next(&mut ws).await.unwrap_err();
    assert_eq!(code, SHUTDOWN);
    assert_eq!(metrics_before.ws.open, 1);
    timeout(WAIT, stopping).await.unwrap().unwrap();
}

#[tokio::test]
async fn a_subscriber_that_falls_off_the_ring_is_closed_with_its_resume_id() {
    let s = server(Config {
        replay: 4,
        ..Config::default()
    })
    .await;
    let before = s.publish(None, None, "seen").await.unwrap();
    let mut ws = ws_connect(s.local_addr(), &format!("/ws?last_event_id={before}")).await;
    // Current-thread runtime: the session cannot run until this test yields, so all ten are
    // published while it has sent nothing, and the ring (4) drops what it had still to send.
    for i in 0..10 {
        s.publish(None, None, &i.to_string()).await.unwrap();
    }
    let (code, reason) = ws_next(&mut ws).await.unwrap_err();
    assert_eq!(code, LAGGING);
    assert_eq!(reason, before, "the reason is the id to resume from");
    let m = until_metrics(&s, |m| m.ws.closes.lagging == 1).await;
    assert_eq!(m.ws.closes.lagging, 1, "{m:?}");
    assert!(m.lagging_dropped >= 1);
    // Resuming from it says the events are gone, then replays what is left.
    let mut again = ws_connect(s.local_addr(), &format!("/ws?last_event_id={reason}")).await;
    let reset = ws_next(&mut again).await.unwrap();
    assert!(reset["data"].as_str().unwrap().contains("too-old"));
    s.shutdown().await;
}

/// A raw client that completes the handshake and then never sends a byte (so never a Pong).
async fn silent_client(addr: std::net::SocketAddr) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(
        b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    .await
    .unwrap();
    tcp
}

/// The close code in the unmasked server frames `bytes` (after the 101 head).
fn close_code(bytes: &[u8]) -> Option<(u16, usize)> {
    let head_end = bytes.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let mut rest = &bytes[head_end..];
    let mut pings = 0;
    while rest.len() >= 2 {
        let (op, len) = (rest[0] & 0x0f, (rest[1] & 0x7f) as usize);
        let frame = rest.get(2..2 + len)?;
        match op {
            0x9 => pings += 1,
            0x8 => return Some((u16::from_be_bytes([frame[0], frame[1]]), pings)),
            _ => {}
        }
        rest = &rest[2 + len..];
    }
    None
}

#[tokio::test]
async fn a_peer_that_answers_no_ping_for_two_intervals_is_closed_with_4408() {
    let s = server(Config {
        heartbeat: Some(Duration::from_millis(100)),
        ..Config::default()
    })
    .await;
    let mut tcp = silent_client(s.local_addr()).await;
    let mut got = Vec::new();
    // The server closes after its close wait (the client never answers the close either).
    timeout(WAIT, tcp.read_to_end(&mut got))
        .await
        .expect("the server ends the connection")
        .unwrap();
    assert!(
        got.starts_with(b"HTTP/1.1 101"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
    let (code, pings) = close_code(&got).expect("a close frame");
    assert_eq!(code, UNRESPONSIVE);
    assert!(pings >= 1, "pinged before giving up");
    let m = until_metrics(&s, |m| m.ws.closes.unresponsive == 1).await;
    assert_eq!(m.ws.closes.unresponsive, 1);

    // A client that reads (and so answers pings) stays open across several intervals.
    let mut ws = ws_connect(s.local_addr(), "/ws").await;
    let mut pings = 0;
    let until = tokio::time::Instant::now() + Duration::from_millis(600);
    while let Ok(msg) = tokio::time::timeout_at(until, ws.next()).await {
        match msg.unwrap().unwrap() {
            Message::Ping(_) => pings += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(pings >= 3, "{pings} pings");
    let id = s.publish(None, None, "still here").await.unwrap();
    assert_eq!(ws_next(&mut ws).await.unwrap()["id"], id);
    s.shutdown().await;
}

#[tokio::test]
async fn a_plain_get_is_told_to_upgrade_and_the_metrics_have_transport_rows() {
    let s = server(Config::default()).await;
    let res = stream(s.local_addr(), "/ws", &[]).await;
    assert_eq!(res.status, 426);
    assert_eq!(res.header("upgrade"), Some("websocket"));
    let mut ws = ws_connect(s.local_addr(), "/ws").await;
    ws.close(Some(tokio_tungstenite::tungstenite::protocol::CloseFrame {
        code: CloseCode::Normal,
        reason: "bye".into(),
    }))
    .await
    .unwrap();
    while let Some(Ok(_)) = timeout(WAIT, ws.next()).await.unwrap() {}
    // The client has its close reply; the server counts the close as it drops the session.
    let m = until_metrics(&s, |m| m.ws.open == 0).await;
    assert_eq!((m.ws.total, m.ws.closes.client), (1, 1));
    let text = m.to_prometheus();
    assert!(
        text.contains("ssekit_transport_opened_total{transport=\"ws\"} 1"),
        "{text}"
    );
    assert!(text.contains("ssekit_transport_closes_total{transport=\"ws\",reason=\"client\"} 1"));
    s.shutdown().await;
}
