//! `--redis`: several nodes on one real `redis-server` (started here on a free loopback port,
//! in a temporary directory, killed on drop). Skipped with a message when `redis-server` is
//! not installed (`.ci/run` installs it, so CI runs them).

mod common;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use ssekit_parser::{OwnedEvent, OwnedFrame};
use tokio::time::timeout;

/// Whether Redis survives a restart with what it acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Durability {
    /// Append-only file, fsync on every write: an acknowledged entry survives even `kill -9`.
    Fsync,
    /// Memory only: a restart loses everything.
    None,
}

/// A `redis-server` child process on 127.0.0.1.
struct Redis {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    durability: Durability,
}

impl Redis {
    /// Starts one, or prints why not and returns `None` when `redis-server` is missing.
    fn start(durability: Durability) -> Option<Redis> {
        if Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_err()
        {
            eprintln!("SKIP: redis-server is not on PATH (apt-get install redis-server); the --redis tests did not run");
            return None;
        }
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "ssekit-redis-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        // redis-server has no `--port 0`: take a free port from the OS and hand it over.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mut redis = Redis {
            child: None,
            port,
            dir,
            durability,
        };
        redis.spawn();
        Some(redis)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) {
        let appendonly = match self.durability {
            Durability::Fsync => ["--appendonly", "yes", "--appendfsync", "always"],
            Durability::None => ["--appendonly", "no", "--appendfsync", "no"],
        };
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--dir"])
            .arg(&self.dir)
            .args(appendonly)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + WAIT;
        while !self.answers_ping() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not come up on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn answers_ping(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut tcp) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = tcp.set_read_timeout(Some(Duration::from_secs(1)));
        let mut buf = [0u8; 16];
        tcp.write_all(b"PING\r\n").is_ok()
            && tcp
                .read(&mut buf)
                .is_ok_and(|n| buf[..n].starts_with(b"+PONG"))
    }

    /// `kill -9`: whatever Redis had not made durable is gone.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and directory.
    fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A node on `redis` with a replay ring of `replay` events and 200 ms heartbeats.
async fn node(redis: &Redis, replay: usize) -> ServerHandle {
    node_with(redis, replay, 100_000).await
}

/// A node for WebSocket clients: pings every 5 s, so a test may leave a client unread for a
/// while without its being closed as unresponsive.
async fn ws_node(redis: &Redis, replay: usize) -> ServerHandle {
    server(Config {
        redis: Some(redis.url()),
        replay,
        max_lag_events: replay as u64,
        heartbeat: Some(Duration::from_secs(5)),
        ..Config::default()
    })
    .await
}

async fn node_with(redis: &Redis, replay: usize, maxlen: u64) -> ServerHandle {
    server(Config {
        redis: Some(redis.url()),
        redis_maxlen: maxlen,
        replay,
        max_lag_events: replay as u64,
        heartbeat: Some(Duration::from_millis(200)),
        ..Config::default()
    })
    .await
}

async fn publish_http(addr: SocketAddr, data: &str) -> (u16, serde_json::Value) {
    let body = serde_json::json!({ "data": data }).to_string();
    let (status, _, body) = exchange(
        addr,
        "POST",
        "/publish",
        &[("content-type", "application/json")],
        body.as_bytes(),
    )
    .await;
    (status, serde_json::from_slice(&body).expect("JSON answer"))
}

async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let (status, _, body) = exchange(addr, "GET", path, &[], b"").await;
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// The value of one metric on `/metrics`.
async fn metric(addr: SocketAddr, name: &str) -> f64 {
    let (_, text) = get(addr, "/metrics").await;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} missing from /metrics"))
}

/// Polls `cond` (bounded by `limit`).
async fn eventually<F: std::future::Future<Output = bool>>(
    limit: Duration,
    what: &str,
    mut cond: impl FnMut() -> F,
) {
    let deadline = Instant::now() + limit;
    while !cond().await {
        assert!(
            Instant::now() < deadline,
            "not reached in {limit:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Events until (and including) the one with id `last`.
async fn events_until(res: &mut Response, last: &str) -> Vec<OwnedEvent> {
    let mut out = Vec::new();
    loop {
        let e = res
            .next_event()
            .await
            .expect("stream ended before the last event");
        let done = e.id == last;
        out.push(e);
        if done {
            return out;
        }
    }
}

fn is_redis_id(id: &str) -> bool {
    id.split_once('-').is_some_and(|(ms, seq)| {
        !ms.is_empty()
            && !seq.is_empty()
            && (ms.bytes().chain(seq.bytes())).all(|c| c.is_ascii_digit())
    })
}

#[tokio::test]
async fn an_event_published_on_one_node_reaches_subscribers_of_the_other() {
    let Some(redis) = Redis::start(Durability::None) else {
        return;
    };
    let a = node(&redis, 1024).await;
    let b = node(&redis, 1024).await;
    let mut on_b = stream(b.local_addr(), "/stream", &[]).await;
    let mut on_a = stream(a.local_addr(), "/stream", &[]).await;
    assert_eq!(
        (on_b.status, on_b.header("sse-resume")),
        (200, Some("fresh"))
    );
    let mut ids = Vec::new();
    for i in 0..20 {
        let (status, answer) = publish_http(a.local_addr(), &format!("event {i}")).await;
        assert_eq!(status, 200, "{answer}");
        ids.push(answer["id"].as_str().expect("id").to_owned());
    }
    assert!(
        ids.iter().all(|id| is_redis_id(id)),
        "ids are Redis stream ids: {ids:?}"
    );
    for res in [&mut on_b, &mut on_a] {
        let got = res.events(20).await;
        let got_ids: Vec<_> = got.iter().map(|e| e.id.clone()).collect();
        assert_eq!(got_ids, ids);
        assert!(got
            .iter()
            .enumerate()
            .all(|(i, e)| e.data == format!("event {i}")));
    }
    // Encoded once per node, sent once per subscriber.
    assert_eq!(b.metrics().events_published, 20);
    assert_eq!(b.metrics().events_sent, 20);
    let (status, health) = get(b.local_addr(), "/healthz").await;
    assert_eq!((status, health.as_str()), (200, "ok\nredis: up\n"));
    assert_eq!(metric(b.local_addr(), "ssekit_redis_up").await, 1.0);
}

#[tokio::test]
async fn a_batch_goes_through_redis_in_order_and_a_bad_one_adds_nothing() {
    let Some(redis) = Redis::start(Durability::None) else {
        return;
    };
    let a = node(&redis, 1024).await;
    let b = node(&redis, 1024).await;
    let mut on_b = stream(b.local_addr(), "/stream", &[]).await;
    let post = |body: &'static [u8]| exchange(a.local_addr(), "POST", "/publish", &[], body);
    let (status, _, _) = post(br#"[{"data":"x"},{"data":"y","event":"a\nb"}]"#).await;
    assert_eq!(status, 400, "checked before anything is added");
    let (status, _, out) = post(br#"[{"data":"one"},{"data":"two"},{"data":"three"}]"#).await;
    assert_eq!(status, 200);
    let answer: serde_json::Value = serde_json::from_slice(&out).expect("JSON answer");
    let ids: Vec<String> = answer["ids"]
        .as_array()
        .expect("ids")
        .iter()
        .map(|id| id.as_str().expect("id").to_owned())
        .collect();
    assert_eq!(ids.len(), 3);
    assert!(ids.iter().all(|id| is_redis_id(id)), "{ids:?}");
    let got = on_b.events(3).await;
    let got: Vec<(String, String)> = got.into_iter().map(|e| (e.id, e.data)).collect();
    let expected: Vec<(String, String)> = ids
        .into_iter()
        .zip(["one", "two", "three"].map(String::from))
        .collect();
    assert_eq!(got, expected, "the bad batch added nothing before these");
}

/// Client X reads from node A up to event k and leaves; it resumes on node `resume_on` with
/// `Last-Event-ID: k` while events keep being published; a control subscriber on A stayed.
async fn leave_at_k_and_resume_elsewhere(
    redis: &Redis,
    resume_on: &ServerHandle,
    a: &ServerHandle,
) -> &'static str {
    let mut control = stream(a.local_addr(), "/stream", &[]).await;
    let mut x = stream(a.local_addr(), "/stream", &[]).await;
    let publisher = {
        let url = redis.url();
        let addr = a.local_addr();
        tokio::spawn(async move {
            let mut last = String::new();
            for i in 0..300 {
                let (status, answer) = publish_http(addr, &format!("n{i}")).await;
                assert_eq!(status, 200, "{answer} ({url})");
                last = answer["id"].as_str().unwrap().to_owned();
                if i % 10 == 0 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            last
        })
    };
    let before = x.events(40).await;
    let k = before.last().unwrap().id.clone();
    drop(x);
    // Let events pass while the client is away (more than a small ring holds).
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut resumed = stream(resume_on.local_addr(), "/stream", &[("last-event-id", &k)]).await;
    assert_eq!(resumed.status, 200);
    let decision = match resumed.header("sse-resume") {
        Some("resumed") => "resumed",
        other => panic!("resume on the other node answered {other:?}"),
    };
    let last = timeout(Duration::from_secs(30), publisher)
        .await
        .expect("publisher finished")
        .unwrap();
    let seen_by_control = events_until(&mut control, &last).await;
    let after_k: Vec<_> = seen_by_control
        .iter()
        .skip_while(|e| e.id != k)
        .skip(1)
        .cloned()
        .collect();
    assert!(
        after_k.len() >= 100,
        "events passed while away: {}",
        after_k.len()
    );
    let got = events_until(&mut resumed, &last).await;
    let ids = |v: &[OwnedEvent]| v.iter().map(|e| e.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&got), ids(&after_k), "no gap, no duplicate, same order");
    assert_eq!(got, after_k);
    decision
}

#[tokio::test]
async fn resume_on_another_node_from_its_ring_under_concurrent_publishing() {
    let Some(redis) = Redis::start(Durability::None) else {
        return;
    };
    let a = node(&redis, 1024).await;
    let b = node(&redis, 1024).await;
    assert_eq!(
        leave_at_k_and_resume_elsewhere(&redis, &b, &a).await,
        "resumed"
    );
    assert_eq!(
        metric(b.local_addr(), "ssekit_redis_replayed_events_total").await,
        0.0
    );
}

#[tokio::test]
async fn resume_on_another_node_through_redis_when_its_ring_is_too_short() {
    let Some(redis) = Redis::start(Durability::None) else {
        return;
    };
    let a = node(&redis, 1024).await;
    let b = node(&redis, 8).await;
    assert_eq!(
        leave_at_k_and_resume_elsewhere(&redis, &b, &a).await,
        "resumed"
    );
    let replayed = metric(b.local_addr(), "ssekit_redis_replayed_events_total").await;
    assert!(
        replayed >= 1.0,
        "the hand-off went through Redis: {replayed}"
    );
}

#[tokio::test]
async fn a_redis_restart_loses_nothing_acknowledged_and_publishing_fails_loudly_meanwhile() {
    let Some(mut redis) = Redis::start(Durability::Fsync) else {
        return;
    };
    let a = node(&redis, 1024).await;
    let b = node(&redis, 4).await;
    let mut live_on_b = stream(b.local_addr(), "/stream", &[]).await;
    let mut acked = Vec::new();
    for i in 0..10 {
        let (status, answer) = publish_http(a.local_addr(), &format!("before {i}")).await;
        assert_eq!(status, 200);
        acked.push(answer["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        live_on_b
            .events(10)
            .await
            .iter()
            .map(|e| e.id.clone())
            .collect::<Vec<_>>(),
        acked
    );

    redis.kill();
    let (status, answer) = publish_http(a.local_addr(), "while down").await;
    assert_eq!(status, 503, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("nothing was published"),
        "{answer}"
    );
    eventually(WAIT, "healthz says redis is down", || async {
        get(a.local_addr(), "/healthz").await.0 == 503
            && get(b.local_addr(), "/healthz").await.0 == 503
    })
    .await;
    assert_eq!(metric(b.local_addr(), "ssekit_redis_up").await, 0.0);
    assert!(metric(a.local_addr(), "ssekit_redis_publish_failures_total").await >= 1.0);
    // A resume that needs Redis (older than B's ring of 4) is asked to come back later: no
    // SSE-Resume decision, a long retry, a clean end, and no event (no lie about what exists).
    let mut deferred = stream(b.local_addr(), "/stream", &[("last-event-id", &acked[1])]).await;
    assert_eq!(
        (deferred.status, deferred.header("sse-resume")),
        (200, None)
    );
    let (frames, end) = deferred.until_end().await;
    assert!(
        frames
            .iter()
            .any(|f| matches!(f, OwnedFrame::Retry(ms) if *ms >= 12_000)),
        "{frames:?}"
    );
    assert!(
        !frames.iter().any(|f| matches!(f, OwnedFrame::Event(_))),
        "{frames:?}"
    );
    assert!(!end.incomplete_event);

    redis.restart();
    eventually(Duration::from_secs(15), "both nodes reconnect", || async {
        get(a.local_addr(), "/healthz").await.0 == 200
            && get(b.local_addr(), "/healthz").await.0 == 200
    })
    .await;
    for i in 0..10 {
        let (status, answer) = publish_http(a.local_addr(), &format!("after {i}")).await;
        assert_eq!(status, 200, "{answer}");
        acked.push(answer["id"].as_str().unwrap().to_owned());
    }
    // The live subscriber saw the outage only as silence (heartbeats), then the new events.
    let after: Vec<_> = live_on_b
        .events(10)
        .await
        .iter()
        .map(|e| e.id.clone())
        .collect();
    assert_eq!(after, acked[10..]);
    // Everything acknowledged before the kill is still in Redis: resuming from event 2 on B
    // (whose ring holds only 4) replays 3..20 from Redis, then the ring.
    let mut resumed = stream(b.local_addr(), "/stream", &[("last-event-id", &acked[1])]).await;
    assert_eq!(resumed.header("sse-resume"), Some("resumed"));
    let got: Vec<_> = resumed
        .events(18)
        .await
        .iter()
        .map(|e| e.id.clone())
        .collect();
    assert_eq!(got, acked[2..]);
    assert!(metric(b.local_addr(), "ssekit_redis_reconnects_total").await >= 1.0);
}

async fn reset_of(res: &mut Response) -> serde_json::Value {
    assert_eq!((res.status, res.header("sse-resume")), (200, Some("reset")));
    let e = res.next_event().await.expect("reset event");
    assert_eq!((e.event_type.as_str(), e.id.as_str()), ("reset", ""));
    serde_json::from_str(&e.data).expect("reset JSON")
}

#[tokio::test]
async fn ids_that_cannot_be_resumed_get_the_reset_signal() {
    let Some(mut redis) = Redis::start(Durability::None) else {
        return;
    };
    // MAXLEN ~ 10: Redis trims whole blocks of entries, so most of 400 are gone.
    let a = node_with(&redis, 1024, 10).await;
    let b = node(&redis, 4).await;
    let mut ids = Vec::new();
    for i in 0..400 {
        ids.push(
            a.publish(None, None, &format!("{i}"))
                .await
                .expect("published"),
        );
    }
    let mut live = stream(b.local_addr(), "/stream", &[]).await;
    eventually(WAIT, "B has read everything", || async {
        b.metrics().events_published == 400
    })
    .await;

    let mut trimmed = stream(b.local_addr(), "/stream", &[("last-event-id", &ids[0])]).await;
    let reset = reset_of(&mut trimmed).await;
    assert_eq!(reset["reason"], "too-old");
    // Then what B's ring retains (its 4 newest), exactly as in single-node mode.
    assert_eq!(reset["oldest"], ids[396].as_str());
    let rest: Vec<_> = trimmed
        .events(4)
        .await
        .iter()
        .map(|e| e.id.clone())
        .collect();
    assert_eq!(rest, ids[396..]);

    let (ms, _) = ids[399].split_once('-').unwrap();
    for unknown in [
        "not-an-id",
        "3f9a1c02d4e8-41",
        &format!("{ms}-999999"),
        "99999999999999-0",
    ] {
        let mut res = stream(b.local_addr(), "/stream", &[("last-event-id", unknown)]).await;
        assert_eq!(
            reset_of(&mut res).await["reason"],
            "unknown-id",
            "{unknown}"
        );
    }

    // Redis restarts empty (no persistence): ids only Redis could have replayed are gone, and
    // the client is told so instead of getting a silent gap.
    redis.restart();
    eventually(Duration::from_secs(15), "B reconnects", || async {
        get(b.local_addr(), "/healthz").await.0 == 200
    })
    .await;
    let new = a
        .publish(None, None, "after the loss")
        .await
        .expect("published");
    let order = |id: &str| {
        let (ms, seq) = id.split_once('-').unwrap();
        (ms.parse::<u64>().unwrap(), seq.parse::<u64>().unwrap())
    };
    assert!(
        order(&new) > order(&ids[399]),
        "new ids stay above the old ones: {new}"
    );
    let mut lost = stream(b.local_addr(), "/stream", &[("last-event-id", &ids[300])]).await;
    assert_eq!(reset_of(&mut lost).await["reason"], "too-old");
    // Ids still in B's ring resume from it; live subscribers just go on.
    let mut ring = stream(b.local_addr(), "/stream", &[("last-event-id", &ids[397])]).await;
    assert_eq!(ring.header("sse-resume"), Some("resumed"));
    let got: Vec<_> = ring.events(3).await.iter().map(|e| e.id.clone()).collect();
    assert_eq!(got, [ids[398].clone(), ids[399].clone(), new.clone()]);
    assert_eq!(live.next_event().await.unwrap().id, new);
    assert!(metric(b.local_addr(), "ssekit_redis_stream_rewinds_total").await >= 1.0);
}

#[tokio::test]
async fn long_polls_use_redis_ids_across_nodes() {
    let Some(redis) = Redis::start(Durability::None) else {
        return;
    };
    let a = node(&redis, 1024).await;
    let b = node(&redis, 1024).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(a.publish(None, None, &format!("p{i}")).await.unwrap());
    }
    eventually(WAIT, "B has read everything", || async {
        b.metrics().events_published == 5
    })
    .await;
    let (status, body) = get(b.local_addr(), &format!("/poll?after={}&timeout=1", ids[1])).await;
    assert_eq!(status, 200);
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    let got: Vec<_> = answer["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(got, ids[2..]);
    assert_eq!(answer["next"], ids[4].as_str());
}

#[tokio::test]
async fn start_refuses_an_unreachable_redis_and_misbehaviour_switches() {
    let free = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = Config {
        redis: Some(format!("redis://{free}")),
        ..Config::default()
    };
    let err = timeout(Duration::from_secs(10), ssekit_server::start(config))
        .await
        .expect("start gives up in time")
        .err()
        .expect("no Redis there");
    assert!(err.to_string().contains("cannot use Redis"), "{err}");
    #[cfg(feature = "misbehave")]
    {
        let config = Config {
            redis: Some("redis://:secret@127.0.0.1:1".into()),
            ..Config::default()
        }
        .with_misbehaviors(&[Misbehavior::NoIds]);
        let err = ssekit_server::start(config).await.err().expect("refused");
        assert!(
            err.to_string()
                .contains("--misbehave cannot be combined with --redis"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn topics_filter_live_and_replayed_events_and_shutdown_ends_streams_in_time() {
    let Some(redis) = Redis::start(Durability::None) else {
        return;
    };
    let a = node(&redis, 1024).await;
    let b = node(&redis, 4).await;
    let mut orders_on_b = stream(b.local_addr(), "/stream?topic=orders", &[]).await;
    let mut orders = Vec::new();
    let mut first = None;
    for i in 0..30 {
        let topic = if i % 3 == 0 { "orders" } else { "news" };
        let id = a
            .publish(Some(topic), Some(topic), &format!("{i}"))
            .await
            .unwrap();
        if topic == "orders" {
            orders.push(id.clone());
        }
        first.get_or_insert(id);
    }
    let live: Vec<_> = orders_on_b
        .events(10)
        .await
        .iter()
        .map(|e| e.id.clone())
        .collect();
    assert_eq!(live, orders);
    // Resuming after the very first event needs Redis (B's ring holds 4): still only orders.
    let path = "/stream?topic=orders";
    let first = first.unwrap();
    let mut resumed = stream(b.local_addr(), path, &[("last-event-id", &first)]).await;
    assert_eq!(resumed.header("sse-resume"), Some("resumed"));
    let got: Vec<_> = resumed
        .events(9)
        .await
        .iter()
        .map(|e| e.id.clone())
        .collect();
    assert_eq!(got, orders[1..]);
    assert!(metric(b.local_addr(), "ssekit_redis_replayed_events_total").await >= 1.0);

    let started = Instant::now();
    timeout(Duration::from_secs(2), b.shutdown())
        .await
        .expect("shutdown in time");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    for res in [&mut orders_on_b, &mut resumed] {
        let (_, end) = res.until_end().await;
        assert!(!end.incomplete_event, "ended at an event boundary");
    }
}

// `/ws` in `--redis` mode: the same ids, resume and reset rules as `/stream` there.

/// The next `n` events as (id, event, data).
async fn ws_events(ws: &mut Ws, n: usize) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    while out.len() < n {
        let v = ws_next(ws).await.expect("an event, not a close");
        let field = |k: &str| {
            v[k].as_str()
                .unwrap_or_else(|| panic!("{k} in {v}"))
                .to_owned()
        };
        out.push((field("id"), field("event"), field("data")));
    }
    out
}

async fn ws_send_resume(ws: &mut Ws, id: &str) {
    use futures_util::SinkExt;
    let msg = serde_json::json!({ "last_event_id": id }).to_string();
    ws.send(tokio_tungstenite::tungstenite::Message::text(msg))
        .await
        .unwrap();
}

/// The reset frame's data.
async fn ws_reset(ws: &mut Ws) -> serde_json::Value {
    let reset = ws_next(ws).await.expect("the reset frame");
    assert_eq!(reset["event"], "reset");
    assert!(reset.get("id").is_none(), "the reset signal has no id");
    serde_json::from_str(reset["data"].as_str().unwrap()).unwrap()
}

fn as_tuples(events: &[OwnedEvent]) -> Vec<(String, String, String)> {
    events
        .iter()
        .map(|e| (e.id.clone(), e.event_type.clone(), e.data.clone()))
        .collect()
}

/// Adds `data` to the stream in one `MULTI`/`EXEC`, so a node's reader takes them all in one
/// read; returns their ids.
async fn xadd_at_once(redis: &Redis, data: &[String]) -> Vec<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", redis.port))
        .await
        .unwrap();
    let mut cmds = String::from("MULTI\r\n");
    for d in data {
        assert!(d.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-'));
        cmds.push_str(&format!("XADD ssekit:events * d {d}\r\n"));
    }
    cmds.push_str("EXEC\r\n");
    tcp.write_all(cmds.as_bytes()).await.unwrap();
    let mut reply = Vec::new();
    let ids = loop {
        let mut buf = [0u8; 4096];
        let n = timeout(WAIT, tcp.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0, "redis closed: {}", String::from_utf8_lossy(&reply));
        reply.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&reply);
        let ids: Vec<String> = text
            .split("\r\n")
            .filter(|l| is_redis_id(l))
            .map(str::to_owned)
            .collect();
        if ids.len() == data.len() {
            break ids;
        }
    };
    ids
}

/// A WebSocket client reads 40 events on node A and drops; it resumes on `resume_on` (by query
/// or by first message) while events keep being published; a control SSE subscriber on A
/// stayed. Everything after its last id arrives, once, in order.
async fn ws_leave_at_k_and_resume_elsewhere(
    a: &ServerHandle,
    resume_on: &ServerHandle,
    by_message: bool,
) {
    let mut control = stream(a.local_addr(), "/stream", &[]).await;
    let mut x = ws_connect(a.local_addr(), "/ws").await;
    let publisher = {
        let addr = a.local_addr();
        tokio::spawn(async move {
            let mut last = String::new();
            for i in 0..300 {
                let body = serde_json::json!({ "event": "n", "data": format!("n{i}") });
                let (status, _, out) = exchange(
                    addr,
                    "POST",
                    "/publish",
                    &[("content-type", "application/json")],
                    body.to_string().as_bytes(),
                )
                .await;
                assert_eq!(status, 200);
                let answer: serde_json::Value = serde_json::from_slice(&out).unwrap();
                last = answer["id"].as_str().unwrap().to_owned();
                if i % 10 == 0 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            last
        })
    };
    let before = ws_events(&mut x, 40).await;
    let k = before.last().unwrap().0.clone();
    assert!(is_redis_id(&k), "{k}");
    drop(x);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let publisher = timeout(Duration::from_secs(30), publisher);
    let (mut resumed, last) = if by_message {
        // The message form is taken only before any event was delivered: a client that must
        // not miss one uses the query (here nothing is published while it resumes).
        let last = publisher.await.expect("publisher finished").unwrap();
        let mut ws = ws_connect(resume_on.local_addr(), "/ws").await;
        ws_send_resume(&mut ws, &k).await;
        (ws, last)
    } else {
        let ws = ws_connect(resume_on.local_addr(), &format!("/ws?last_event_id={k}")).await;
        (ws, publisher.await.expect("publisher finished").unwrap())
    };
    let seen_by_control = as_tuples(&events_until(&mut control, &last).await);
    let control_before: Vec<_> = seen_by_control.iter().take(40).cloned().collect();
    assert_eq!(before, control_before, "the same ids and events as /stream");
    let after_k: Vec<_> = seen_by_control
        .iter()
        .skip_while(|e| e.0 != k)
        .skip(1)
        .cloned()
        .collect();
    assert!(after_k.len() >= 100, "passed while away: {}", after_k.len());
    let got = ws_events(&mut resumed, after_k.len()).await;
    assert_eq!(got, after_k, "no gap, no duplicate, same order");
    assert_eq!(got.last().unwrap().0, last);
}

#[tokio::test]
async fn websocket_subscribers_get_the_other_nodes_events_and_resume_from_the_ring() {
    let Some(redis) = Redis::start(Durability::None) else {
        return;
    };
    let a = ws_node(&redis, 1024).await;
    let b = ws_node(&redis, 1024).await;
    let mut on_b = ws_connect(b.local_addr(), "/ws").await;
    let mut news_on_b = ws_connect(b.local_addr(), "/ws?topic=news").await;
    let mut ids = Vec::new();
    for i in 0..10 {
        let topic = (i % 2 == 0).then_some("news");
        ids.push(a.publish(topic, Some("t"), &format!("e{i}")).await.unwrap());
    }
    let expected: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.clone(), "t".to_owned(), format!("e{i}")))
        .collect();
    assert_eq!(ws_events(&mut on_b, 10).await, expected);
    let news: Vec<_> = expected.iter().step_by(2).cloned().collect();
    assert_eq!(ws_events(&mut news_on_b, 5).await, news);
    let m = b.metrics();
    assert_eq!((m.ws.open, m.ws.deliveries), (2, 15));

    ws_leave_at_k_and_resume_elsewhere(&a, &b, false).await;
    assert_eq!(
        metric(b.local_addr(), "ssekit_redis_replayed_events_total").await,
        0.0,
        "resumed from B's ring"
    );
}

#[tokio::test]
async fn websocket_resumes_through_redis_by_query_and_by_first_message() {
    let Some(redis) = Redis::start(Durability::None) else {
        return;
    };
    let a = ws_node(&redis, 1024).await;
    let b = ws_node(&redis, 8).await;
    ws_leave_at_k_and_resume_elsewhere(&a, &b, false).await;
    let by_query = metric(b.local_addr(), "ssekit_redis_replayed_events_total").await;
    assert!(
        by_query >= 1.0,
        "the hand-off went through Redis: {by_query}"
    );
    ws_leave_at_k_and_resume_elsewhere(&a, &b, true).await;
    let both = metric(b.local_addr(), "ssekit_redis_replayed_events_total").await;
    assert!(
        both > by_query,
        "the message resume went through Redis too: {both}"
    );
    assert_eq!(b.metrics().ws.closes.bad_message, 0);
}

#[tokio::test]
async fn websocket_ids_that_cannot_be_resumed_get_the_reset_frame() {
    let Some(redis) = Redis::start(Durability::None) else {
        return;
    };
    // MAXLEN ~ 10: Redis trims whole blocks of entries, so most of 400 are gone.
    let a = node_with(&redis, 1024, 10).await;
    let b = ws_node(&redis, 4).await;
    let mut ids = Vec::new();
    for i in 0..400 {
        ids.push(a.publish(None, None, &format!("{i}")).await.unwrap());
    }
    eventually(WAIT, "B has read everything", || async {
        b.metrics().events_published == 400
    })
    .await;
    let retained: Vec<_> = ids[396..]
        .iter()
        .enumerate()
        .map(|(i, id)| (id.clone(), "message".to_owned(), format!("{}", 396 + i)))
        .collect();

    // Too old, by query and by first message: the reset frame with Redis ids, then what B's
    // ring retains, exactly as /stream does.
    let mut by_query = ws_connect(b.local_addr(), &format!("/ws?last_event_id={}", ids[0])).await;
    let reset = ws_reset(&mut by_query).await;
    assert_eq!(
        reset,
        serde_json::json!({"reason": "too-old", "oldest": ids[396]})
    );
    assert_eq!(ws_events(&mut by_query, 4).await, retained);
    let mut sse = stream(b.local_addr(), "/stream", &[("last-event-id", &ids[0])]).await;
    assert_eq!(
        reset_of(&mut sse).await,
        reset,
        "the same data as /stream's"
    );

    let mut by_message = ws_connect(b.local_addr(), "/ws").await;
    ws_send_resume(&mut by_message, &ids[0]).await;
    assert_eq!(ws_reset(&mut by_message).await, reset);
    assert_eq!(ws_events(&mut by_message, 4).await, retained);

    // Unknown: reset, then live.
    let (ms, _) = ids[399].split_once('-').unwrap();
    for unknown in ["not-an-id", "3f9a1c02d4e8-41", &format!("{ms}-999999")] {
        let mut ws = ws_connect(b.local_addr(), &format!("/ws?last_event_id={unknown}")).await;
        assert_eq!(ws_reset(&mut ws).await["reason"], "unknown-id", "{unknown}");
        let live = a.publish(None, None, "live").await.unwrap();
        assert_eq!(ws_next(&mut ws).await.unwrap()["id"], live.as_str());
    }
}

#[tokio::test]
async fn a_lagging_websocket_is_closed_with_the_redis_id_to_resume_from() {
    let Some(redis) = Redis::start(Durability::None) else {
        return;
    };
    let a = ws_node(&redis, 1024).await;
    let b = ws_node(&redis, 4).await;
    let mut ws = ws_connect(b.local_addr(), "/ws").await;
    let seen = a.publish(None, None, "seen").await.unwrap();
    assert_eq!(ws_next(&mut ws).await.unwrap()["id"], seen.as_str());
    // Ten entries in one transaction: B's reader appends all ten in one go on this test's
    // single thread, so its ring (4) drops events the session had still to send.
    let data: Vec<String> = (0..10).map(|i| format!("lag-{i}")).collect();
    let lost = xadd_at_once(&redis, &data).await;
    let (code, reason) = ws_next(&mut ws).await.unwrap_err();
    assert_eq!(code, ssekit_server::websocket::LAGGING);
    assert_eq!(reason, seen, "the reason is the last id delivered");
    let m = until_metrics(&b, |m| m.ws.closes.lagging == 1).await;
    assert!(m.lagging_dropped >= 1, "{m:?}");
    // Resuming from it (on B, through Redis) loses nothing.
    let mut again = ws_connect(b.local_addr(), &format!("/ws?last_event_id={reason}")).await;
    let got: Vec<_> = ws_events(&mut again, 10).await;
    let expected: Vec<_> = lost
        .iter()
        .zip(&data)
        .map(|(id, d)| (id.clone(), "message".to_owned(), d.clone()))
        .collect();
    assert_eq!(got, expected);
}

#[tokio::test]
async fn a_websocket_resume_that_needs_redis_while_it_is_down_comes_back_later() {
    let Some(mut redis) = Redis::start(Durability::None) else {
        return;
    };
    let a = ws_node(&redis, 1024).await;
    let b = ws_node(&redis, 4).await;
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(a.publish(None, None, &format!("{i}")).await.unwrap());
    }
    eventually(WAIT, "B has read everything", || async {
        b.metrics().events_published == 10
    })
    .await;
    redis.kill();
    // Older than B's ring: only Redis could replay it.
    let handshake = [
        ("upgrade", "websocket"),
        ("connection", "upgrade"),
        ("sec-websocket-version", "13"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];
    let path = format!("/ws?last_event_id={}", ids[1]);
    let res = request(b.local_addr(), "GET", &path, &handshake, b"").await;
    assert_eq!(res.status, 503);
    let retry: u64 = res.header("retry-after").unwrap().parse().unwrap();
    assert!(retry >= 12, "{retry}");
    let mut ws = ws_connect(b.local_addr(), "/ws").await;
    ws_send_resume(&mut ws, &ids[1]).await;
    let (code, reason) = ws_next(&mut ws).await.unwrap_err();
    assert_eq!(code, ssekit_server::websocket::TRY_AGAIN_LATER);
    assert!(reason.contains("resume later"), "{reason}");
    assert!(metric(b.local_addr(), "ssekit_redis_resume_deferred_total").await >= 2.0);
    // An id still in B's ring needs no Redis.
    let mut ring = ws_connect(b.local_addr(), &format!("/ws?last_event_id={}", ids[7])).await;
    let got: Vec<_> = ws_events(&mut ring, 2)
        .await
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert_eq!(got, ids[8..]);
}
