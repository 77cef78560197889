//! HTTP/2 with prior knowledge on the same port as HTTP/1.1.

mod common;

use bytes::Bytes;
use common::*;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper_util::rt::{TokioExecutor, TokioIo};
use ssekit_parser::{Frame, Parser};
use tokio::net::TcpStream;
use tokio::time::timeout;

type Sender = hyper::client::conn::http2::SendRequest<Empty<Bytes>>;

async fn h2(addr: std::net::SocketAddr) -> Sender {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .expect("h2c handshake");
    tokio::spawn(conn);
    sender
}

fn get(addr: std::net::SocketAddr, path: &str) -> Request<Empty<Bytes>> {
    Request::get(format!("http://{addr}{path}"))
        .header("accept", "text/event-stream")
        .body(Empty::new())
        .unwrap()
}

/// Reads body frames until `n` events were parsed; returns their data.
async fn events(body: &mut hyper::body::Incoming, n: usize) -> Vec<String> {
    let mut parser = Parser::new();
    let mut out = Vec::new();
    while out.len() < n {
        let frame = timeout(WAIT, body.frame()).await.unwrap().unwrap().unwrap();
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let mut feed = parser.feed(&data);
        while let Some(f) = feed.next_frame() {
            if let Frame::Event(e) = f.unwrap() {
                out.push(e.data.to_owned());
            }
        }
    }
    out
}

#[tokio::test]
async fn ten_concurrent_streams_on_one_h2c_connection() {
    let s = server(Config::default()).await;
    let addr = s.local_addr();
    let mut sender = h2(addr).await;
    let mut bodies = Vec::new();
    for _ in 0..10 {
        let res = timeout(WAIT, sender.send_request(get(addr, "/stream")))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.version(), hyper::Version::HTTP_2);
        assert_eq!(
            res.headers()["content-type"],
            "text/event-stream; charset=utf-8"
        );
        assert_eq!(res.headers()["cache-control"], "no-store");
        for forbidden in [
            "connection",
            "keep-alive",
            "transfer-encoding",
            "upgrade",
            "proxy-connection",
        ] {
            assert!(
                !res.headers().contains_key(forbidden),
                "{forbidden} over HTTP/2"
            );
        }
        bodies.push(res.into_body());
    }
    until_metrics(&s, |m| m.streams_open == 10 && m.http_connections_open == 1).await;
    for i in 0..3 {
        s.publish(None, None, &format!("e{i}")).await.unwrap();
    }
    for body in &mut bodies {
        assert_eq!(events(body, 3).await, ["e0", "e1", "e2"]);
    }
    // HTTP/1.1 still works on the same port.
    let res = stream(addr, "/stream", &[]).await;
    assert_eq!(res.status, 200);
}

#[tokio::test]
async fn h2c_streams_end_cleanly_on_shutdown() {
    let s = server(Config::default()).await;
    let addr = s.local_addr();
    let mut sender = h2(addr).await;
    let res = sender.send_request(get(addr, "/stream")).await.unwrap();
    let mut body = res.into_body();
    until_metrics(&s, |m| m.streams_open == 1).await;
    s.publish(None, None, "last").await.unwrap();
    assert_eq!(events(&mut body, 1).await, ["last"]);
    let started = std::time::Instant::now();
    let shutdown = tokio::spawn(s.shutdown());
    loop {
        match timeout(std::time::Duration::from_secs(1), body.frame())
            .await
            .expect("ends within 1 s")
        {
            None => break,
            Some(Ok(_)) => continue,
            Some(Err(e)) => panic!("stream ended with an error, not cleanly: {e}"),
        }
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    timeout(WAIT, shutdown).await.unwrap().unwrap();
}
