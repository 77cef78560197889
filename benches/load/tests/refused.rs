//! Runs that measure nothing must say so: a WebSocket upgrade answered with a status other
//! than 101 (what a proxy that drops `Upgrade` produces) is reported as a refused upgrade with
//! its status, the run ends without publishing into the void, and a run whose publisher could
//! publish nothing does not count its readers as complete.

use std::time::Duration;

use ssekit_load::report::Report;
use ssekit_load::target::LoopbackUrl;
use ssekit_load::{execute, Endpoints, LoadArgs, Transport};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

fn args(transport: Transport, connections: u64) -> LoadArgs {
    LoadArgs {
        url: Some("http://127.0.0.1:1/".into()),
        transport,
        poll_interval: 100,
        reconnect: false,
        connections,
        duration: 1.0,
        publish: None,
        rate: Some(20.0),
        publishers: 1,
        batch: 1,
        stall: 0,
        sources: Vec::new(),
        server_pid: None,
        pad: 0,
        connect_timeout: 10.0,
        json: None,
    }
}

fn url(addr: std::net::SocketAddr, path: &str) -> LoopbackUrl {
    LoopbackUrl {
        addr,
        path: path.into(),
    }
}

/// A port nothing listens on: bound, then closed.
async fn dead_port() -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

async fn bounded(a: LoadArgs, t: Endpoints) -> Report {
    tokio::time::timeout(Duration::from_secs(30), execute(a, t))
        .await
        .expect("the load run stops by itself")
        .expect("the load run starts")
}

/// What nginx's defaults make of `/ws`: the upstream sees a plain HTTP/1.0 `GET` and answers
/// 426, which the proxy hands to the client instead of a 101.
#[tokio::test]
async fn a_refused_upgrade_is_reported_with_its_status() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let body = "/ws is a WebSocket endpoint: open it over HTTP/1.1\n";
                let answer = format!(
                    "HTTP/1.1 426 Upgrade Required\r\nupgrade: websocket\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(answer.as_bytes()).await;
            });
        }
    });
    let t = Endpoints {
        stream: url(addr, "/ws"),
        publish: Some(url(dead_port().await, "/publish")),
        pid: None,
    };
    let started = std::time::Instant::now();
    let r = bounded(args(Transport::Ws, 5), t).await;
    let why = r.human();
    assert_eq!((r.connect.ok, r.connect.failed), (0, 5), "{why}");
    let (error, n) = r.connect.errors.iter().next().expect("an error");
    assert_eq!(*n, 5, "{why}");
    assert!(
        error.starts_with(
            "WebSocket upgrade refused: answered 426 Upgrade Required instead of 101 Switching Protocols"
        ),
        "{error}"
    );
    assert!(error.contains("open it over HTTP/1.1"), "{error}");
    assert!(why.contains("no subscriber connected"), "{why}");
    // Nobody to publish to: the publisher never ran, and the run did not wait it out.
    assert!(r.publish.is_none(), "{why}");
    assert!(started.elapsed() < Duration::from_secs(5), "{why}");
    assert_eq!(r.exit_code, 1);
}

/// Readers that received 0 of 0 events are not complete: the run failed to publish.
#[tokio::test]
async fn nothing_published_is_a_failure_not_a_clean_run() {
    let server = ssekit_server::start(ssekit_server::Config::default())
        .await
        .expect("the reference server starts");
    let t = Endpoints {
        stream: url(server.local_addr(), "/stream"),
        publish: Some(url(dead_port().await, "/publish")),
        pid: None,
    };
    let r = bounded(args(Transport::Sse, 3), t).await;
    server.shutdown().await;
    let why = r.human();
    assert_eq!(r.connect.ok, 3, "{why}");
    let p = r.publish.as_ref().expect("the publisher ran");
    assert_eq!(p.published, 0, "{why}");
    assert!(p.failed > 0, "{why}");
    assert_eq!(r.delivery.complete, 0, "{why}");
    assert!(why.contains("nothing was published"), "{why}");
    assert_eq!(r.exit_code, 1, "{why}");
}
