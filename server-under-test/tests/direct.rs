//! The direct HTTP/1.1 path for event streams (`direct.rs`): the same response as through
//! hyper, requests it does not take still served, departures noticed, idle connections closed
//! at shutdown.

mod common;

use std::time::Duration;

use common::*;
use ssekit_parser::OwnedFrame;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// Status, header names and values (but `date`), and the first frames of a fresh stream.
async fn fresh_stream_shape(config: Config) -> (u16, Vec<(String, String)>, Vec<String>) {
    let direct = config.direct_streams;
    let s = server(config).await;
    let mut res = stream(s.local_addr(), "/stream?topic=a", &[("origin", "http://x")]).await;
    let mut headers: Vec<_> = res
        .headers
        .iter()
        .filter(|(n, _)| n != "date")
        .cloned()
        .collect();
    headers.sort();
    assert!(res.header("date").is_some(), "a Date header");
    let id = s.publish(Some("a"), Some("e"), "one\ntwo").await.unwrap();
    let mut frames = Vec::new();
    for _ in 0..3 {
        frames.push(match res.next_frame().await.unwrap() {
            OwnedFrame::Retry(_) => "retry".to_owned(),
            OwnedFrame::Comment(c) => format!("comment {c}"),
            OwnedFrame::Event(e) => {
                assert_eq!(e.id, id);
                format!("event {} {:?}", e.event_type, e.data)
            }
            other => format!("{other:?}"),
        });
    }
    assert_eq!(
        s.metrics().streams_direct,
        u64::from(direct),
        "the path asked for"
    );
    (res.status, headers, frames)
}

#[tokio::test]
async fn direct_and_hyper_paths_answer_the_same() {
    let direct = fresh_stream_shape(Config::default()).await;
    let hyper = fresh_stream_shape(Config {
        direct_streams: false,
        ..Config::default()
    })
    .await;
    assert_eq!(direct, hyper);
    assert_eq!(direct.0, 200);
}

#[tokio::test]
async fn a_head_split_over_two_writes_is_still_served() {
    let s = server(Config::default()).await;
    let mut tcp = TcpStream::connect(s.local_addr()).await.unwrap();
    tcp.write_all(b"GET /stream HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    tcp.write_all(b"accept: text/event-stream\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = timeout(WAIT, tcp.read(&mut buf)).await.unwrap().unwrap();
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("text/event-stream"), "{head}");
}

#[tokio::test]
async fn other_requests_on_the_first_connection_go_to_hyper() {
    let s = server(Config::default()).await;
    let (status, _, body) = exchange(s.local_addr(), "GET", "/healthz", &[], b"").await;
    assert_eq!((status, body.as_slice()), (200, &b"ok\n"[..]));
    // HTTP/1.0 and HEAD are hyper's too.
    let res = raw_request(s.local_addr(), b"HEAD /stream HTTP/1.1\r\nhost: x\r\n\r\n").await;
    assert_eq!(res.status, 200);
    let res = raw_request(s.local_addr(), b"GET /stream HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("transfer-encoding"), None);
    assert_eq!(s.metrics().streams_direct, 0);
}

#[tokio::test]
async fn a_client_that_leaves_is_noticed_without_any_event() {
    let s = server(Config::default()).await;
    let res = stream(s.local_addr(), "/stream", &[]).await;
    until_metrics(&s, |m| m.streams_open == 1).await;
    drop(res.into_tcp());
    let m = until_metrics(&s, |m| m.streams_open == 0 && m.http_connections_open == 0).await;
    assert_eq!(m.events_sent, 0);
}

#[tokio::test]
async fn a_connection_that_sent_nothing_is_closed_at_shutdown() {
    let s = server(Config::default()).await;
    let mut idle = TcpStream::connect(s.local_addr()).await.unwrap();
    until_metrics(&s, |m| m.http_connections_open == 1).await;
    timeout(Duration::from_secs(2), s.shutdown())
        .await
        .expect("shutdown does not wait for the idle connection");
    let mut buf = [0u8; 16];
    let n = timeout(Duration::from_secs(1), idle.read(&mut buf))
        .await
        .expect("closed, not left hanging")
        .unwrap_or(0);
    assert_eq!(n, 0, "closed without a response");
}

#[tokio::test]
async fn a_fixed_answer_has_its_length_and_closes() {
    let s = server(Config {
        subscribe_token: Some("t0k".into()),
        ..Config::default()
    })
    .await;
    let res = stream(s.local_addr(), "/stream", &[]).await;
    assert_eq!(res.status, 401);
    assert_eq!(res.header("connection"), Some("close"));
    let length: usize = res.header("content-length").unwrap().parse().unwrap();
    let body = res.body().await;
    assert_eq!(body.len(), length);
    assert_eq!(s.metrics().streams_direct, 1);
}
