//! Each misbehaviour switch changes what is on the wire (and only that switch does).

mod common;

use std::io::Read;
use std::time::Duration;

use common::*;
use ssekit_parser::OwnedFrame;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

use Misbehavior::*;

async fn with(m: Misbehavior) -> ServerHandle {
    server(misbehaving(&[m])).await
}

async fn publish_n(s: &ServerHandle, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(s.publish(None, Some("e"), &format!("d{i}")).await.unwrap());
    }
    ids
}

/// Reads whatever arrives within `window`; `None` if nothing did.
async fn quiet(res: &mut Response, window: Duration) -> Option<OwnedFrame> {
    timeout(window, res.next_frame()).await.ok().flatten()
}

#[tokio::test]
async fn header_switches() {
    let s = with(WrongContentType).await;
    let res = stream(s.local_addr(), "/stream", &[]).await;
    assert_eq!(
        res.header("content-type"),
        Some("text/plain; charset=utf-8")
    );

    let s = with(NonUtf8Charset).await;
    let res = stream(s.local_addr(), "/stream", &[]).await;
    assert_eq!(
        res.header("content-type"),
        Some("text/event-stream; charset=windows-1252")
    );

    let s = with(Cacheable).await;
    let res = stream(s.local_addr(), "/stream", &[]).await;
    assert_eq!(res.header("cache-control"), Some("public, max-age=3600"));
    assert!(res.header("etag").is_some());

    let s = with(ContentLength).await;
    let mut res = stream(s.local_addr(), "/stream", &[]).await;
    assert_eq!(res.header("content-length"), Some("1048576"));
    assert_eq!(res.header("transfer-encoding"), None);
    assert!(matches!(
        res.next_frame().await,
        Some(OwnedFrame::Comment(_))
    ));
}

#[tokio::test]
async fn buffered_holds_events_back_until_64_kib() {
    let s = with(Buffered).await;
    let mut res = stream(s.local_addr(), "/stream", &[]).await;
    until_metrics(&s, |m| m.streams_open == 1).await;
    publish_n(&s, 3).await;
    assert_eq!(
        quiet(&mut res, Duration::from_millis(300)).await,
        None,
        "nothing before 64 KiB"
    );
    s.publish(None, None, &"x".repeat(70_000)).await.unwrap();
    assert!(matches!(
        res.next_frame().await,
        Some(OwnedFrame::Comment(_))
    ));
    assert_eq!(res.events(4).await.len(), 4);
}

#[tokio::test]
async fn gzip_no_flush_compresses_and_stalls() {
    let s = with(GzipNoFlush).await;
    let res = stream(s.local_addr(), "/stream", &[("accept-encoding", "gzip")]).await;
    assert_eq!(res.header("content-encoding"), Some("gzip"));
    until_metrics(&s, |m| m.streams_open == 1).await;
    publish_n(&s, 5).await;
    let mut res = res;
    // Whatever arrives (at most the gzip header) holds no complete event.
    let _ = timeout(Duration::from_millis(300), res.next_frame()).await;
    assert!(
        res.raw.len() < 64,
        "compressor flushed {} bytes early",
        res.raw.len()
    );
    let body = timeout(WAIT, async {
        let shutdown = s.shutdown();
        let (body, ()) = tokio::join!(res.body(), shutdown);
        body
    })
    .await
    .unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_string(&mut text)
        .unwrap();
    assert!(text.contains("data: d4\n\n"), "{text}");
}

#[tokio::test]
async fn no_heartbeat_stays_silent() {
    let config = Config {
        heartbeat: Some(Duration::from_millis(50)),
        ..misbehaving(&[NoHeartbeat])
    };
    let s = server(config).await;
    let mut res = stream(s.local_addr(), "/stream", &[]).await;
    res.next_frame().await; // priming comment
    res.next_frame().await; // retry
    assert_eq!(quiet(&mut res, Duration::from_millis(400)).await, None);
    assert_eq!(s.metrics().heartbeats_sent, 0);
}

#[tokio::test]
async fn id_switches() {
    let s = with(NoIds).await;
    let mut res = stream(s.local_addr(), "/stream", &[]).await;
    until_metrics(&s, |m| m.streams_open == 1).await;
    publish_n(&s, 1).await;
    assert_eq!(res.next_event().await.unwrap().id, "");
    assert!(!String::from_utf8_lossy(&res.raw).contains("id:"));

    for (m, want) in [(DuplicateIds, [1, 1, 3]), (NonMonotonicIds, [0, 3, 2])] {
        let s = with(m).await;
        let mut res = stream(s.local_addr(), "/stream", &[]).await;
        until_metrics(&s, |m| m.streams_open == 1).await;
        publish_n(&s, 3).await;
        let got: Vec<String> = res.events(3).await.into_iter().map(|e| e.id).collect();
        let want: Vec<String> = want.iter().map(|n| format!("{}-{n}", s.epoch())).collect();
        assert_eq!(got, want, "{m:?}");
    }

    let s = with(IdWithNul).await;
    let mut res = stream(s.local_addr(), "/stream", &[]).await;
    until_metrics(&s, |m| m.streams_open == 1).await;
    publish_n(&s, 1).await;
    let e = res.next_event().await.unwrap();
    assert_eq!(e.id, "", "clients ignore an id with NUL");
    assert!(res.raw.contains(&0));
}

#[tokio::test]
async fn replay_switches() {
    for (m, after, first) in [
        (ReplayGap, 0, 2),
        (ReplayDuplicate, 1, 1),
        (ReplayIgnored, 1, 0),
    ] {
        let s = with(m).await;
        let ids = publish_n(&s, 4).await;
        let mut res = stream(s.local_addr(), "/stream", &[("last-event-id", &ids[after])]).await;
        assert_eq!(res.header("sse-resume"), Some("resumed"));
        assert_eq!(res.next_event().await.unwrap().id, ids[first], "{m:?}");
    }
    // A gap right at the head: the next live event is the one skipped.
    let s = with(ReplayGap).await;
    let ids = publish_n(&s, 2).await;
    let mut res = stream(s.local_addr(), "/stream", &[("last-event-id", &ids[1])]).await;
    until_metrics(&s, |m| m.streams_open == 1).await;
    let more = publish_n(&s, 2).await;
    assert_eq!(res.next_event().await.unwrap().id, more[1]);
    let poll = format!("/poll?after={}&timeout=0", ids[1]);
    let (status, _, _) = exchange(s.local_addr(), "GET", &poll, &[], b"").await;
    assert_eq!(status, 200);

    let s = with(SilentReset).await;
    publish_n(&s, 2).await;
    let mut res = stream(s.local_addr(), "/stream", &[("last-event-id", "bogus-1")]).await;
    assert_eq!(res.header("sse-resume"), None);
    until_metrics(&s, |m| m.streams_open == 1).await;
    let live = s.publish(None, None, "live").await.unwrap();
    let e = res.next_event().await.unwrap();
    assert_eq!(
        (e.event_type.as_str(), e.id),
        ("message", live),
        "no reset event"
    );
}

#[tokio::test]
async fn retry_switches() {
    let s = with(BadRetry).await;
    let mut res = stream(s.local_addr(), "/stream", &[]).await;
    assert!(matches!(
        res.next_frame().await,
        Some(OwnedFrame::Comment(_))
    ));
    assert_eq!(
        quiet(&mut res, Duration::from_millis(100)).await,
        None,
        "bogus retry is ignored"
    );
    assert!(String::from_utf8_lossy(&res.raw).contains("retry: 3s\n"));

    let s = with(RetryZero).await;
    let mut res = stream(s.local_addr(), "/stream", &[]).await;
    res.next_frame().await;
    assert_eq!(res.next_frame().await, Some(OwnedFrame::Retry(0)));
}

#[tokio::test]
async fn framing_switches() {
    let s = with(CrlfInEventName).await;
    let mut res = stream(s.local_addr(), "/stream", &[]).await;
    until_metrics(&s, |m| m.streams_open == 1).await;
    s.publish(None, Some("update"), "real").await.unwrap();
    let e = res.next_event().await.unwrap();
    assert_eq!(
        (e.event_type.as_str(), e.data.as_str()),
        ("update", "injected\nreal")
    );
    assert!(res.raw.windows(2).any(|w| w == b"\r\n"));

    let s = with(InvalidUtf8).await;
    let mut res = stream(s.local_addr(), "/stream", &[]).await;
    until_metrics(&s, |m| m.streams_open == 1).await;
    s.publish(None, None, "ok").await.unwrap();
    let e = res.next_event().await.unwrap();
    assert!(e.data.contains('\u{fffd}'));
    assert!(std::str::from_utf8(&res.raw).is_err());
}

#[tokio::test]
async fn cut_at_close_leaves_an_unfinished_event() {
    let s = with(CutAtClose).await;
    let mut res = stream(s.local_addr(), "/stream", &[]).await;
    until_metrics(&s, |m| m.streams_open == 1).await;
    let shutdown = tokio::spawn(s.shutdown());
    let (_, end) = res.until_end().await;
    assert!(end.incomplete_event, "{end:?}");
    timeout(WAIT, shutdown).await.unwrap().unwrap();
}

#[tokio::test]
async fn error_on_last_event_id_answers_500() {
    let s = with(ErrorOnLastEventId).await;
    let ids = publish_n(&s, 1).await;
    assert_eq!(
        stream(s.local_addr(), "/stream", &[("last-event-id", &ids[0])])
            .await
            .status,
        500
    );
    assert_eq!(
        stream(
            s.local_addr(),
            &format!("/stream?lastEventId={}", ids[0]),
            &[]
        )
        .await
        .status,
        500
    );
    assert_eq!(stream(s.local_addr(), "/stream", &[]).await.status, 200);
}

#[tokio::test]
async fn eof_instead_of_204_on_gone() {
    let s = with(EofInsteadOf204).await;
    let (status, headers, body) = exchange(s.local_addr(), "GET", "/gone", &[], b"").await;
    assert_eq!((status, body.len()), (200, 0));
    assert_eq!(
        header(&headers, "content-type"),
        Some("text/event-stream; charset=utf-8")
    );
}

/// The HTTP/2 response carries `connection: keep-alive`, which RFC 9113 forbids: a conforming
/// client (hyper's, via the h2 crate) refuses it, and the raw frames show it.
#[tokio::test]
async fn h2_connection_header_is_on_the_wire() {
    let s = with(H2ConnectionHeader).await;
    let addr = s.local_addr();
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    req.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]); // SETTINGS
                                                         // HEADERS on stream 1: :method GET, :scheme http, :path /stream, :authority x.
    let mut block = vec![0x82, 0x86, 0x04, 7];
    block.extend_from_slice(b"/stream");
    block.extend_from_slice(&[0x01, 1, b'x']);
    req.extend_from_slice(&[0, 0, block.len() as u8, 1, 0x5, 0, 0, 0, 1]);
    req.extend_from_slice(&block);
    tcp.write_all(&req).await.unwrap();
    let mut seen = Vec::new();
    let (mut header_block, mut data) = (None, Vec::new());
    timeout(WAIT, async {
        while header_block.is_none() || !String::from_utf8_lossy(&data).contains("retry:") {
            let mut buf = [0u8; 4096];
            let n = tcp.read(&mut buf).await.unwrap();
            assert!(n > 0, "connection closed");
            seen.extend_from_slice(&buf[..n]);
            while seen.len() >= 9 {
                let len = u32::from_be_bytes([0, seen[0], seen[1], seen[2]]) as usize;
                if seen.len() < 9 + len {
                    break;
                }
                let payload = seen[9..9 + len].to_vec();
                match seen[3] {
                    1 => header_block = Some(payload),
                    0 => data.extend_from_slice(&payload),
                    _ => {}
                }
                seen.drain(..9 + len);
            }
        }
    })
    .await
    .expect("HEADERS and a DATA frame");
    let block = header_block.unwrap();
    let has = |needle: &[u8]| block.windows(needle.len()).any(|w| w == needle);
    assert!(has(b"connection") && has(b"keep-alive"));
    assert!(has(b"text/event-stream"));

    // A conforming HTTP/2 client rejects the response.
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let req = hyper::Request::get(format!("http://{addr}/stream"))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let res = timeout(WAIT, sender.send_request(req)).await.unwrap();
    assert!(res.is_err(), "malformed response accepted: {res:?}");
    // HTTP/1.1 on the same port is unaffected.
    assert_eq!(stream(addr, "/stream", &[]).await.status, 200);
}

/// A subscriber that stops reading stalls publishing for everyone.
#[tokio::test]
async fn slow_consumer_blocks_everyone() {
    let s = std::sync::Arc::new(with(SlowConsumerBlocks).await);
    let _stalled = stream(s.local_addr(), "/stream", &[]).await;
    until_metrics(&s, |m| m.streams_open == 1).await;
    let publisher = {
        let s = s.clone();
        tokio::spawn(async move {
            let payload = "x".repeat(64 * 1024);
            for _ in 0..400 {
                s.publish(None, None, &payload).await.unwrap();
            }
        })
    };
    assert!(
        timeout(Duration::from_secs(1), publisher).await.is_err(),
        "publishing went on"
    );
    let m = s.metrics();
    assert!(m.events_published < 400 && m.lagging_dropped == 0, "{m:?}");
}

#[tokio::test]
async fn shutdown_hangs_keeps_streams_open() {
    let s = with(ShutdownHangs).await;
    let mut res = stream(s.local_addr(), "/stream", &[]).await;
    until_metrics(&s, |m| m.streams_open == 1).await;
    let shutdown = tokio::spawn(s.shutdown());
    assert!(
        timeout(Duration::from_millis(1500), res.until_end())
            .await
            .is_err(),
        "stream ended"
    );
    assert!(!shutdown.is_finished());
    shutdown.abort();
}
