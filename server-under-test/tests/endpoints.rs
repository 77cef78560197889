//! Everything but the stream body: publish, long-poll, auth, methods, CORS, metrics, the
//! connection cap and the "gone" URL.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

fn json(body: &[u8]) -> Value {
    serde_json::from_slice(body).expect("JSON body")
}

#[tokio::test]
async fn publish_over_http_returns_the_id_and_reaches_subscribers() {
    let s = server(Config::default()).await;
    let mut sub = stream(s.local_addr(), "/stream", &[]).await;
    until_metrics(&s, |m| m.streams_open == 1).await;
    let body = br#"{"topic":"t","event":"update","data":"line 1\nline 2"}"#;
    let (status, headers, out) = exchange(
        s.local_addr(),
        "POST",
        "/publish",
        &[("content-type", "application/json")],
        body,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), Some("application/json"));
    let id = json(&out)["id"].as_str().unwrap().to_owned();
    assert_eq!(id, format!("{}-1", s.epoch()));
    let e = sub.next_event().await.unwrap();
    assert_eq!(
        (e.id, e.event_type, e.data),
        (id, "update".into(), "line 1\nline 2".into())
    );
}

#[tokio::test]
async fn publish_rejects_bad_input_with_a_clear_400() {
    let s = server(Config::default()).await;
    for body in [
        &b"not json"[..],
        br#"{"event":"x"}"#,
        br#"{"data":"x","event":"a\nb"}"#,
        br#"{"data":"x","topic":""}"#,
        br#"{"data":1}"#,
    ] {
        let (status, _, out) = exchange(s.local_addr(), "POST", "/publish", &[], body).await;
        assert_eq!(status, 400, "{}", String::from_utf8_lossy(body));
        assert!(json(&out)["error"].as_str().is_some_and(|e| !e.is_empty()));
    }
    assert_eq!(s.metrics().events_published, 0);
    let big = vec![b'x'; 2 << 20];
    let (status, _, _) = exchange(s.local_addr(), "POST", "/publish", &[], &big).await;
    assert_eq!(status, 413);
}

#[tokio::test]
async fn publish_token_is_required_when_configured() {
    let s = server(Config {
        publish_token: Some("sekret".into()),
        ..Config::default()
    })
    .await;
    let body = br#"{"data":"x"}"#;
    let (status, headers, _) = exchange(s.local_addr(), "POST", "/publish", &[], body).await;
    assert_eq!(status, 401);
    assert_eq!(header(&headers, "www-authenticate"), Some("Bearer"));
    let (status, _, _) = exchange(
        s.local_addr(),
        "POST",
        "/publish",
        &[("authorization", "Bearer wrong!")],
        body,
    )
    .await;
    assert_eq!(status, 401);
    let (status, _, _) = exchange(
        s.local_addr(),
        "POST",
        "/publish",
        &[("authorization", "Bearer sekret")],
        body,
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn subscribe_token_gives_401_never_a_200_with_an_error_event() {
    let s = server(Config {
        subscribe_token: Some("t0k".into()),
        ..Config::default()
    })
    .await;
    let addr = s.local_addr();
    let res = stream(addr, "/stream", &[]).await;
    assert_eq!(res.status, 401);
    assert_eq!(res.header("www-authenticate"), Some("Bearer"));
    assert_eq!(
        stream(addr, "/stream", &[("authorization", "Bearer nope")])
            .await
            .status,
        401
    );
    assert_eq!(stream(addr, "/poll?timeout=0", &[]).await.status, 401);
    assert_eq!(
        stream(addr, "/stream", &[("authorization", "Bearer t0k")])
            .await
            .status,
        200
    );
    assert_eq!(
        stream(addr, "/stream", &[("cookie", "a=b; ssekit_token=t0k")])
            .await
            .status,
        200
    );
    assert_eq!(s.metrics().streams_total, 2);
}

#[tokio::test]
async fn wrong_methods_get_405_with_allow_and_unknown_paths_404() {
    let s = server(Config::default()).await;
    for (method, path, allow) in [
        ("POST", "/stream", "GET, HEAD, OPTIONS"),
        ("DELETE", "/stream", "GET, HEAD, OPTIONS"),
        ("GET", "/publish", "POST, OPTIONS"),
        ("PUT", "/poll", "GET, HEAD, OPTIONS"),
    ] {
        let (status, headers, _) = exchange(s.local_addr(), method, path, &[], b"").await;
        assert_eq!(
            (status, header(&headers, "allow")),
            (405, Some(allow)),
            "{method} {path}"
        );
    }
    let (status, _, _) = exchange(s.local_addr(), "GET", "/nope", &[], b"").await;
    assert_eq!(status, 404);
    assert_eq!(s.metrics().streams_total, 0);
}

#[tokio::test]
async fn head_and_options_are_answered_without_opening_a_stream() {
    let s = server(Config::default()).await;
    let (status, headers, body) = exchange(s.local_addr(), "HEAD", "/stream", &[], b"").await;
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "content-type"),
        Some("text/event-stream; charset=utf-8")
    );
    assert!(body.is_empty());
    let (status, headers, _) = exchange(s.local_addr(), "OPTIONS", "/stream", &[], b"").await;
    assert_eq!(
        (status, header(&headers, "allow")),
        (204, Some("GET, HEAD, OPTIONS"))
    );
    assert_eq!(s.metrics().streams_total, 0);
}

#[tokio::test]
async fn cors_follows_fetch_for_configured_origins() {
    let s = server(Config {
        cors_origins: vec!["https://app.example".into()],
        ..Config::default()
    })
    .await;
    let addr = s.local_addr();
    let ok = stream(addr, "/stream", &[("origin", "https://app.example")]).await;
    assert_eq!(
        ok.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(ok.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(ok.header("vary"), Some("Origin"));
    let other = stream(addr, "/stream", &[("origin", "https://evil.example")]).await;
    assert_eq!(other.header("access-control-allow-origin"), None);
    let (status, headers, _) = exchange(
        addr,
        "OPTIONS",
        "/publish",
        &[
            ("origin", "https://app.example"),
            ("access-control-request-method", "POST"),
        ],
        b"",
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(
        header(&headers, "access-control-allow-methods"),
        Some("POST, OPTIONS")
    );
    assert!(header(&headers, "access-control-allow-headers")
        .unwrap()
        .contains("Last-Event-ID"));

    let any = server(Config {
        cors_origins: vec!["*".into()],
        ..Config::default()
    })
    .await;
    let res = stream(
        any.local_addr(),
        "/stream",
        &[("origin", "https://x.example")],
    )
    .await;
    assert_eq!(res.header("access-control-allow-origin"), Some("*"));
    assert_eq!(
        res.header("access-control-allow-credentials"),
        None,
        "never * with credentials"
    );
}

#[tokio::test]
async fn gone_health_and_metrics() {
    let s = server(Config::default()).await;
    let (status, _, body) = exchange(s.local_addr(), "GET", "/gone", &[], b"").await;
    assert_eq!((status, body.len()), (204, 0));
    let (status, _, body) = exchange(s.local_addr(), "GET", "/healthz", &[], b"").await;
    assert_eq!((status, &body[..]), (200, &b"ok\n"[..]));
    s.publish(None, None, "x").await.unwrap();
    let (status, headers, body) = exchange(s.local_addr(), "GET", "/metrics", &[], b"").await;
    assert_eq!(status, 200);
    assert!(header(&headers, "content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = String::from_utf8(body).unwrap();
    for name in [
        "ssekit_streams_open",
        "ssekit_events_published_total 1",
        "ssekit_bytes_sent_total",
        "ssekit_replay_misses_total",
        "ssekit_lagging_dropped_total",
        "ssekit_publish_rate",
    ] {
        assert!(text.contains(name), "{name} missing from\n{text}");
    }
}

#[tokio::test]
async fn long_poll_shares_ids_and_replay_with_the_stream() {
    let s = server(Config::default()).await;
    let a = s.publish(None, Some("e"), "one").await.unwrap();
    let b = s.publish(None, None, "two").await.unwrap();
    let (status, _, body) = exchange(
        s.local_addr(),
        "GET",
        &format!("/poll?after={a}&timeout=1"),
        &[],
        b"",
    )
    .await;
    assert_eq!(status, 200);
    let v = json(&body);
    assert_eq!(
        v["events"],
        serde_json::json!([{"id": b, "event": "message", "data": "two"}])
    );
    assert_eq!(v["next"], b.as_str());
    assert!(v.get("reset").is_none());

    // Waiting: a publish during the poll answers it at once.
    let addr = s.local_addr();
    let started = Instant::now();
    let waiting = tokio::spawn(async move {
        exchange(
            addr,
            "GET",
            &format!("/poll?after={b}&timeout=10"),
            &[],
            b"",
        )
        .await
    });
    until_metrics(&s, |m| m.polls == 2).await;
    let c = s.publish(None, None, "three").await.unwrap();
    let (_, _, body) = tokio::time::timeout(WAIT, waiting).await.unwrap().unwrap();
    assert_eq!(json(&body)["events"][0]["id"], c.as_str());
    assert!(started.elapsed() < Duration::from_secs(5));

    // Nothing new: an empty answer after the timeout, cursor unchanged.
    let started = Instant::now();
    let (_, _, body) = exchange(
        s.local_addr(),
        "GET",
        &format!("/poll?after={c}&timeout=0.2"),
        &[],
        b"",
    )
    .await;
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert_eq!(json(&body), serde_json::json!({"events": [], "next": c}));
}

/// Short polling is the long poll with `timeout=0`: it answers at once with what is there,
/// events or none, instead of holding the request (25 s without `timeout`).
#[tokio::test]
async fn timeout_zero_is_a_short_poll_that_answers_at_once() {
    let s = server(Config::default()).await;
    let a = s.publish(None, None, "one").await.unwrap();
    let b = s.publish(None, None, "two").await.unwrap();
    let poll = |after: String| {
        let addr = s.local_addr();
        async move {
            let started = Instant::now();
            let path = format!("/poll?after={after}&timeout=0");
            let (status, _, body) = exchange(addr, "GET", &path, &[], b"").await;
            assert_eq!(status, 200);
            (json(&body), started.elapsed())
        }
    };
    let (v, took) = poll(a.clone()).await;
    assert_eq!(v["events"][0]["id"], b.as_str());
    assert_eq!(v["next"], b.as_str());
    assert!(took < Duration::from_secs(2), "{took:?}");
    let (v, took) = poll(b.clone()).await;
    assert_eq!(v, serde_json::json!({"events": [], "next": b}));
    assert!(
        took < Duration::from_secs(2),
        "nothing new is answered at once, not held: {took:?}"
    );
    let m = s.metrics();
    assert_eq!((m.poll.total, m.poll.deliveries, m.poll.open), (2, 1, 0));
}

#[tokio::test]
async fn long_poll_signals_a_reset_for_unknown_ids() {
    let s = server(Config {
        replay: 2,
        ..Config::default()
    })
    .await;
    for i in 0..5 {
        s.publish(None, None, &i.to_string()).await.unwrap();
    }
    let res = request(
        s.local_addr(),
        "GET",
        "/poll?after=bogus&timeout=0",
        &[("connection", "close")],
        b"",
    )
    .await;
    assert_eq!(res.header("sse-resume"), Some("reset"));
    let v = json(&res.body().await);
    assert_eq!(v["reset"]["reason"], "unknown-id");
    assert_eq!(v["reset"]["oldest"], format!("{}-4", s.epoch()));
    let old = format!("/poll?after={}-1&timeout=0", s.epoch());
    let (_, _, body) = exchange(s.local_addr(), "GET", &old, &[], b"").await;
    let v = json(&body);
    assert_eq!(v["reset"]["reason"], "too-old");
    assert_eq!(
        v["events"].as_array().unwrap().len(),
        2,
        "what is left is replayed"
    );
    let (status, _, _) = exchange(s.local_addr(), "GET", "/poll?timeout=soon", &[], b"").await;
    assert_eq!(status, 400);
}

/// Over the cap: 200 with a long retry and a clean end, never a 5xx (which would stop an
/// EventSource for good).
#[tokio::test]
async fn connection_cap_answers_with_retry_later_not_an_error() {
    let s = server(Config {
        max_connections: Some(2),
        ..Config::default()
    })
    .await;
    let addr = s.local_addr();
    let _a = stream(addr, "/stream", &[]).await;
    let _b = stream(addr, "/stream", &[]).await;
    let mut c = stream(addr, "/stream", &[]).await;
    assert_eq!(c.status, 200);
    assert_eq!(
        c.header("content-type"),
        Some("text/event-stream; charset=utf-8")
    );
    let (frames, end) = c.until_end().await;
    assert!(!end.incomplete_event);
    let retry = frames.iter().find_map(|f| match f {
        ssekit_parser::OwnedFrame::Retry(ms) => Some(*ms),
        _ => None,
    });
    assert!(retry.is_some_and(|ms| ms >= 12_000), "{frames:?}");
    assert!(!frames
        .iter()
        .any(|f| matches!(f, ssekit_parser::OwnedFrame::Event(_))));
    let m = s.metrics();
    assert_eq!((m.rejected_over_capacity, m.streams_open), (1, 2));
}

#[tokio::test]
async fn batch_publish_is_ordered_and_all_or_nothing() {
    let s = server(Config::default()).await;
    let mut sub = stream(s.local_addr(), "/stream", &[]).await;
    until_metrics(&s, |m| m.streams_open == 1).await;
    // The third event cannot be encoded: nothing of the batch is published.
    let bad = br#"[{"data":"a"},{"data":"b"},{"data":"c","event":"x\ny"}]"#;
    let (status, _, out) = exchange(s.local_addr(), "POST", "/publish", &[], bad).await;
    assert_eq!(status, 400);
    assert!(json(&out)["error"]
        .as_str()
        .unwrap()
        .contains("cannot be encoded"));
    assert_eq!(s.metrics().events_published, 0);
    let good = br#"[{"data":"a"},{"event":"e","data":"b"},{"topic":"t","data":"c"}]"#;
    let (status, _, out) = exchange(s.local_addr(), "POST", "/publish", &[], good).await;
    assert_eq!(status, 200);
    let ids: Vec<String> = json(&out)["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    let epoch = s.epoch();
    assert_eq!(ids, [1, 2, 3].map(|n| format!("{epoch}-{n}")));
    let got: Vec<(String, String, String)> = sub
        .events(3)
        .await
        .into_iter()
        .map(|e| (e.id, e.event_type, e.data))
        .collect();
    let expected = [
        ("1", "message", "a"),
        ("2", "e", "b"),
        ("3", "message", "c"),
    ]
    .map(|(n, t, d)| (format!("{epoch}-{n}"), t.to_owned(), d.to_owned()));
    assert_eq!(got, expected);
}

#[tokio::test]
async fn batch_over_the_lag_limit_is_refused_with_the_limit() {
    let s = server(Config {
        max_lag_events: 4,
        ..Config::default()
    })
    .await;
    let batch = serde_json::to_vec(&vec![serde_json::json!({"data": "x"}); 5]).unwrap();
    let (status, _, out) = exchange(s.local_addr(), "POST", "/publish", &[], &batch).await;
    assert_eq!(status, 400);
    let error = json(&out)["error"].as_str().unwrap().to_owned();
    assert!(
        error.contains("batch of 5") && error.contains("limit of 4"),
        "{error}"
    );
    assert_eq!(s.metrics().events_published, 0);
}
