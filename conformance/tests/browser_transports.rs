//! What a real browser does with the transports: headless Chromium, one reference server.
//!
//! - Many EventSources to one origin: over HTTP/1.1 (plain and over TLS) the browser holds six
//!   connections per origin, so the seventh EventSource and any `fetch()` wait while six
//!   streams are open; over HTTP/2 every stream is a stream of one connection and all open.
//! - A dropped connection: EventSource comes back by itself with `Last-Event-ID` and misses
//!   nothing; a WebSocket on the same hub stays closed and misses what was published meanwhile.
//!
//! The probe (`browser_transports/probe.js`) runs in a document of the origin under test (the
//! server's `/healthz`), so its requests are same-origin and share the origin's connections as
//! a page's own would. Each test writes its numbers as JSON into `$SSEKIT_WRITE_MEASUREMENTS`
//! (relative to the workspace root) when that is set; `docs/transports.md` shows them.
//! Skipped, with the reason, when Chromium is not installed.

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use ssekit_check::browser::cdp::Tab;
use ssekit_check::browser::chromium::Chromium;
use ssekit_server::{Config, ServerHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

const PROBE: &str = include_str!("browser_transports/probe.js");

/// One browser at a time: the tests time connection set-up, so they should not fight for CPU.
static BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// How many EventSources the page opens: more than HTTP/1.1's six per origin.
const STREAMS: usize = 8;
/// Chromium's (and every major browser's) HTTP/1.1 connections per origin.
const PER_ORIGIN: usize = 6;
/// How long a queued request is watched to stay queued.
const HELD: Duration = Duration::from_secs(3);

/// Writes `name.json` into `$SSEKIT_WRITE_MEASUREMENTS` (a relative directory is taken from the
/// workspace root, where `target/` is), and prints it for `--nocapture`.
fn write_measurement(name: &str, value: &Value) {
    let text = serde_json::to_string_pretty(value).expect("JSON");
    println!("{name}: {text}");
    let Some(dir) = std::env::var_os("SSEKIT_WRITE_MEASUREMENTS") else {
        return;
    };
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(dir);
    std::fs::create_dir_all(&dir).expect("measurement directory");
    std::fs::write(dir.join(format!("{name}.json")), text + "\n").expect("write measurement");
}

/// A tab on `origin`'s `/healthz` with the probe installed.
async fn probe_tab<'a>(browser: &'a Chromium, origin: &str) -> Tab<'a> {
    let tab = Tab::open(
        &browser.cdp,
        &format!("{origin}/healthz"),
        Duration::from_secs(5),
    )
    .await
    .unwrap_or_else(|e| panic!("{origin}/healthz loads: {e}"));
    assert_eq!(tab.eval(PROBE).await.expect("probe installs"), true);
    tab
}

async fn state(tab: &Tab<'_>) -> Value {
    let text = tab.eval("probe.state()").await.expect("probe state");
    serde_json::from_str(text.as_str().expect("a string")).expect("probe state is JSON")
}

/// Polls the probe until `done` holds; fails naming `what` after `within`.
async fn until(
    tab: &Tab<'_>,
    what: &str,
    within: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let s = state(tab).await;
        if done(&s) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "the page never showed {what} in {within:?}: {s:#}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Polls the probe for `window`, failing as soon as `holds` does not; returns the last state.
async fn holds_for(
    tab: &Tab<'_>,
    what: &str,
    window: Duration,
    holds: impl Fn(&Value) -> bool,
) -> Value {
    let end = Instant::now() + window;
    loop {
        let s = state(tab).await;
        assert!(holds(&s), "{what} stopped holding: {s:#}");
        if Instant::now() >= end {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn opened(s: &Value) -> usize {
    s["streams"]
        .as_array()
        .map_or(0, |a| a.iter().filter(|x| !x["opened"].is_null()).count())
}

fn got_event(s: &Value) -> usize {
    s["streams"].as_array().map_or(0, |a| {
        a.iter().filter(|x| !x["firstEvent"].is_null()).count()
    })
}

/// How many of `published` are not among `received` (a JSON array of ids).
fn missed(published: &[String], received: &Value) -> usize {
    let got: Vec<&str> = received
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    published
        .iter()
        .filter(|id| !got.contains(&id.as_str()))
        .count()
}

/// To the probe's own resolution (0.1 ms).
fn round(ms: f64) -> f64 {
    (ms * 10.0).round() / 10.0
}

fn ms(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

/// A server that reconnects clients fast and replays what they missed.
async fn server() -> ServerHandle {
    ssekit_server::start(Config {
        retry_ms: 300,
        ..Config::default()
    })
    .await
    .expect("the reference server starts")
}

/// One row of the connections-per-origin measurement.
struct Origin {
    /// `http/1.1`, `http/1.1+tls`, `h2`.
    name: &'static str,
    url: String,
    /// What Resource Timing must report for the probe's fetch().
    protocol: &'static str,
}

/// Opens [`STREAMS`] EventSources on `origin`, publishes one event, times a `fetch()` while the
/// streams are held; returns the measurement.
async fn many_streams(browser: &Chromium, server: &ServerHandle, origin: &Origin) -> Value {
    let tab = probe_tab(browser, &origin.url).await;
    let topic = format!("many-{}", origin.name.replace(['/', '+', '.'], "-"));
    tab.eval(&format!(
        "probe.openStreams({STREAMS}, '/stream?topic={topic}')"
    ))
    .await
    .expect("streams asked for");
    let http1 = origin.protocol == "http/1.1";
    let open_now = if http1 { PER_ORIGIN } else { STREAMS };
    let s = until(&tab, "the streams open", Duration::from_secs(5), |s| {
        opened(s) >= open_now
    })
    .await;
    // From asking to `onopen`, of the last stream to open.
    let last_open = s["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .filter(|x| !x["opened"].is_null())
        .map(|x| ms(&x["opened"]) - ms(&x["asked"]))
        .fold(0.0, f64::max);

    let published_at = tab.eval("probe.mark('published')").await.expect("mark");
    server
        .publish(Some(&topic), None, "hello")
        .await
        .expect("publish");
    let s = until(
        &tab,
        "the event on every open stream",
        Duration::from_secs(5),
        |s| got_event(s) >= open_now,
    )
    .await;
    let delivered: Vec<f64> = s["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .filter_map(|x| x["firstEvent"].as_f64())
        .map(|t| t - ms(&published_at))
        .collect();

    // A plain request on the same origin while the streams are held.
    let f = tab
        .eval(&format!("probe.startFetch('/healthz?fetch={topic}')"))
        .await
        .expect("fetch asked for");
    let fetch_stalled_ms;
    let mut first_through = None;
    if http1 {
        let s = holds_for(
            &tab,
            "six streams open, the rest and the fetch() queued",
            HELD,
            |s| opened(s) == PER_ORIGIN && s["fetches"][0]["done"].is_null(),
        )
        .await;
        fetch_stalled_ms = ms(&s["now"]) - ms(&s["fetches"][0]["asked"]);
        // One slot frees: exactly one queued request (which one is the browser's choice) goes.
        tab.eval("probe.closeStream(0)").await.expect("close");
        let s = until(
            &tab,
            "a queued request through",
            Duration::from_secs(5),
            |s| opened(s) > PER_ORIGIN || !s["fetches"][0]["done"].is_null(),
        )
        .await;
        first_through = Some(if opened(&s) > PER_ORIGIN {
            "eventsource"
        } else {
            "fetch"
        });
        tab.eval("probe.mark('closed'); probe.closeStreams()")
            .await
            .expect("close");
    } else {
        fetch_stalled_ms = 0.0;
    }
    let s = until(&tab, "the fetch() answered", Duration::from_secs(5), |s| {
        !s["fetches"][0]["done"].is_null()
    })
    .await;
    let fetch = &s["fetches"][f.as_u64().expect("index") as usize];
    assert_eq!(fetch["status"], 200, "{fetch:#}");
    assert_eq!(fetch["protocol"], origin.protocol, "{fetch:#}");
    tab.eval("probe.closeStreams()").await.expect("close");

    let streams: Vec<Value> = s["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .map(|x| json!({ "opened_ms": x["opened"], "first_event_ms": x["firstEvent"] }))
        .collect();
    json!({
        "origin": origin.name,
        "protocol": fetch["protocol"],
        "streams_asked": STREAMS,
        "opened_while_held": if http1 { PER_ORIGIN } else { STREAMS },
        "held_ms": if http1 { HELD.as_millis() } else { 0 },
        "last_open_ms": round(last_open),
        "event_delivery_ms": {
            "min": round(delivered.iter().copied().fold(f64::INFINITY, f64::min)),
            "max": round(delivered.iter().copied().fold(0.0, f64::max)),
        },
        "fetch_ms": round(ms(&fetch["done"]) - ms(&fetch["asked"])),
        "fetch_stalled_ms": round(fetch_stalled_ms),
        "fetch_after_streams_closed_ms": s["marks"]["closed"].as_f64().map(|c| round(ms(&fetch["done"]) - c)),
        "first_through_when_one_closes": first_through,
        "streams": streams,
    })
}

/// Over HTTP/1.1 (plain or TLS) six EventSources open and the seventh, eighth and a `fetch()`
/// wait as long as the six are held; over HTTP/2 all eight open at once and the fetch answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_eventsources_per_origin_over_http1_all_over_http2() {
    let Some(path) = common::chromium() else {
        return;
    };
    let _one = BROWSER.lock().await;
    let server = server().await;
    let upstream = server.local_addr();
    let (h1_tls, _) = common::tls_front_with(upstream, &[b"http/1.1"]).await;
    let (h2_tls, _) = common::tls_front_with(upstream, &[b"h2"]).await;
    let browser = Chromium::launch(&path, Duration::from_secs(10))
        .await
        .expect("chromium starts");
    // The fronts' certificate is self-signed (test only).
    browser
        .cdp
        .call(
            None,
            "Security.setIgnoreCertificateErrors",
            json!({ "ignore": true }),
            Duration::from_secs(3),
        )
        .await
        .expect("ignore certificate errors");
    let origins = [
        Origin {
            name: "http/1.1",
            url: format!("http://{upstream}"),
            protocol: "http/1.1",
        },
        Origin {
            name: "http/1.1+tls",
            url: format!("https://localhost:{h1_tls}"),
            protocol: "http/1.1",
        },
        Origin {
            name: "h2",
            url: format!("https://localhost:{h2_tls}"),
            protocol: "h2",
        },
    ];
    let mut rows = Vec::new();
    for origin in &origins {
        let row = tokio::time::timeout(
            Duration::from_secs(30),
            many_streams(&browser, &server, origin),
        )
        .await
        .unwrap_or_else(|_| panic!("{} is bounded", origin.name));
        rows.push(row);
    }
    let h2 = &rows[2];
    assert!(
        ms(&h2["last_open_ms"]) < 2000.0,
        "over h2 all {STREAMS} open promptly: {h2:#}"
    );
    for h1 in &rows[..2] {
        assert!(
            ms(&h1["fetch_stalled_ms"]) >= HELD.as_millis() as f64,
            "{h1:#}"
        );
    }
    write_measurement(
        "eventsources_per_origin",
        &json!({ "chromium": browser.version, "rows": rows }),
    );
    browser.close().await;
    server.shutdown().await;
}

/// WebSockets do not count against the six HTTP/1.1 connections per origin: eight open on a
/// plain HTTP/1.1 origin, each has the event, and a `fetch()` on the same origin answers while
/// all eight are held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_are_not_held_to_six_per_origin() {
    let Some(path) = common::chromium() else {
        return;
    };
    let _one = BROWSER.lock().await;
    let server = server().await;
    let browser = Chromium::launch(&path, Duration::from_secs(10))
        .await
        .expect("chromium starts");
    let tab = probe_tab(&browser, &format!("http://{}", server.local_addr())).await;
    let topic = "many-ws";
    tab.eval(&format!(
        "for (let k = 0; k < {STREAMS}; k++) probe.openSocket('/ws?topic={topic}', null)"
    ))
    .await
    .expect("sockets asked for");
    let sockets_open = |s: &Value| {
        s["sockets"]
            .as_array()
            .map_or(0, |a| a.iter().filter(|w| !w["opened"].is_null()).count())
    };
    let s = until(&tab, "every socket open", Duration::from_secs(5), |s| {
        sockets_open(s) == STREAMS
    })
    .await;
    let last_open = s["sockets"]
        .as_array()
        .expect("sockets")
        .iter()
        .map(|w| ms(&w["opened"]) - ms(&w["asked"]))
        .fold(0.0, f64::max);
    let published_at = tab.eval("probe.mark('published')").await.expect("mark");
    server
        .publish(Some(topic), None, "hello")
        .await
        .expect("publish");
    tab.eval(&format!("probe.startFetch('/healthz?fetch={topic}')"))
        .await
        .expect("fetch asked for");
    let s = until(
        &tab,
        "the event on every socket and the fetch()",
        Duration::from_secs(5),
        |s| {
            s["sockets"]
                .as_array()
                .is_some_and(|a| a.iter().all(|w| !w["firstEvent"].is_null()))
                && !s["fetches"][0]["done"].is_null()
        },
    )
    .await;
    assert_eq!(sockets_open(&s), STREAMS, "none closed: {s:#}");
    let fetch = &s["fetches"][0];
    assert_eq!(fetch["status"], 200, "{fetch:#}");
    assert_eq!(fetch["protocol"], "http/1.1", "{fetch:#}");
    let delivered: Vec<f64> = s["sockets"]
        .as_array()
        .expect("sockets")
        .iter()
        .map(|w| ms(&w["firstEvent"]) - ms(&published_at))
        .collect();
    write_measurement(
        "websockets_per_origin",
        &json!({
            "chromium": browser.version,
            "origin": "http/1.1",
            "sockets_asked": STREAMS,
            "opened_while_held": sockets_open(&s),
            "last_open_ms": round(last_open),
            "event_delivery_ms": {
                "min": round(delivered.iter().copied().fold(f64::INFINITY, f64::min)),
                "max": round(delivered.iter().copied().fold(0.0, f64::max)),
            },
            "fetch_ms": round(ms(&fetch["done"]) - ms(&fetch["asked"])),
        }),
    );
    browser.close().await;
    server.shutdown().await;
}

/// A TCP relay in front of the server that can cut every connection through it at once (a
/// network drop: the server and its hub stay up), and keeps what clients sent.
struct Relay {
    addr: SocketAddr,
    cut: watch::Sender<u64>,
    sent: Arc<Mutex<Vec<Vec<u8>>>>,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Relay {
    async fn start(upstream: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (cut, _) = watch::channel(0u64);
        let sent: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let conns: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (cuts, log, tasks) = (cut.clone(), Arc::clone(&sent), Arc::clone(&conns));
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(upstream).await else {
                    continue;
                };
                let mut cut = cuts.subscribe();
                let log = Arc::clone(&log);
                let task = tokio::spawn(async move {
                    let index = {
                        let mut l = log.lock().expect("log");
                        l.push(Vec::new());
                        l.len() - 1
                    };
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    let up = async {
                        let mut buf = vec![0u8; 16 * 1024];
                        while let Ok(n @ 1..) = cr.read(&mut buf).await {
                            log.lock().expect("log")[index].extend_from_slice(&buf[..n]);
                            if sw.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                        let _ = sw.shutdown().await;
                    };
                    let down = async {
                        let _ = tokio::io::copy(&mut sr, &mut cw).await;
                        let _ = cw.shutdown().await;
                    };
                    tokio::select! {
                        _ = async { tokio::join!(up, down) } => {}
                        _ = cut.changed() => {}
                    }
                    // Dropping both halves closes both connections.
                });
                tasks.lock().expect("tasks").push(task);
            }
        });
        Relay {
            addr,
            cut,
            sent,
            conns,
        }
    }

    /// Closes every connection open now and returns once they are closed, so nothing the
    /// server sends afterwards reaches the browser over them; new connections go through.
    async fn cut(&self) {
        self.cut.send_modify(|n| *n += 1);
        let open = std::mem::take(&mut *self.conns.lock().expect("tasks"));
        for task in open {
            tokio::time::timeout(Duration::from_secs(2), task)
                .await
                .expect("a cut connection closes at once")
                .expect("the relay task ends");
        }
    }

    /// Every request sent through the relay whose target starts with `path`, in order: the
    /// request target and its `Last-Event-ID` header.
    fn requests(&self, path: &str) -> Vec<(String, Option<String>)> {
        let sent = self.sent.lock().expect("log");
        let mut out = Vec::new();
        for conn in sent.iter() {
            let text = String::from_utf8_lossy(conn);
            for head in text.split("\r\n\r\n") {
                let mut lines = head.lines();
                let Some(target) = lines
                    .next()
                    .and_then(|l| l.strip_prefix("GET "))
                    .and_then(|l| l.split(' ').next())
                else {
                    continue;
                };
                if !target.starts_with(path) {
                    continue;
                }
                let last_event_id = lines.find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("last-event-id")
                        .then(|| value.trim().to_owned())
                });
                out.push((target.to_owned(), last_event_id));
            }
        }
        out
    }
}

/// Publishes `n=N` on `topic` for each N of `ns`, in order; returns the events' ids.
async fn publish_numbered(
    server: &ServerHandle,
    topic: &str,
    ns: std::ops::RangeInclusive<u32>,
) -> Vec<String> {
    let mut ids = Vec::new();
    for n in ns {
        let id = server.publish(Some(topic), None, &format!("n={n}")).await;
        ids.push(id.expect("publish"));
    }
    ids
}

fn count(v: &Value) -> usize {
    v.as_array().map_or(0, Vec::len)
}

/// The connections drop (the server stays up) while events are published. The EventSource
/// comes back by itself with `Last-Event-ID` and has every event once, in order. A WebSocket on
/// the same hub is closed (1006, not clean) and stays closed: it misses what was published
/// after the drop. A WebSocket whose page code reconnects with `last_event_id` has them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_drop_eventsource_resumes_and_websocket_does_not() {
    let Some(path) = common::chromium() else {
        return;
    };
    let _one = BROWSER.lock().await;
    let server = server().await;
    let relay = Relay::start(server.local_addr()).await;
    let browser = Chromium::launch(&path, Duration::from_secs(10))
        .await
        .expect("chromium starts");
    let tab = probe_tab(&browser, &format!("http://{}", relay.addr)).await;
    let topic = "drop";
    // The same reconnect delay for the page's own code as the server asks of EventSource.
    tab.eval(&format!(
        "probe.openStreams(1, '/stream?topic={topic}'); \
         probe.openSocket('/ws?topic={topic}', null); \
         probe.openSocket('/ws?topic={topic}', 300)"
    ))
    .await
    .expect("stream and sockets asked for");
    until(
        &tab,
        "the stream and sockets open",
        Duration::from_secs(5),
        |s| {
            opened(s) == 1
                && s["sockets"]
                    .as_array()
                    .is_some_and(|a| a.iter().all(|w| !w["opened"].is_null()))
        },
    )
    .await;

    let mut published = publish_numbered(&server, topic, 1..=3).await;
    until(&tab, "three events on each", Duration::from_secs(5), |s| {
        count(&s["streams"][0]["ids"]) == 3
            && count(&s["sockets"][0]["ids"]) == 3
            && count(&s["sockets"][1]["ids"]) == 3
    })
    .await;

    let cut_at = tab.eval("probe.mark('cut')").await.expect("mark");
    relay.cut().await;
    // Published while the connections are down (both clients wait 300 ms before coming back).
    published.extend(publish_numbered(&server, topic, 4..=6).await);
    until(&tab, "the reconnects", Duration::from_secs(5), |s| {
        count(&s["streams"][0]["reopened"]) == 1
            && count(&s["sockets"][0]["closes"]) == 1
            && count(&s["sockets"][1]["reopened"]) == 1
    })
    .await;
    published.extend(publish_numbered(&server, topic, 7..=9).await);
    let s = until(&tab, "all nine events", Duration::from_secs(5), |s| {
        count(&s["streams"][0]["ids"]) >= 9 && count(&s["sockets"][1]["ids"]) >= 9
    })
    .await;
    let (stream, plain, by_hand) = (&s["streams"][0], &s["sockets"][0], &s["sockets"][1]);
    assert_eq!(
        stream["ids"],
        json!(published),
        "every event once, in order: {s:#}"
    );
    assert_eq!(
        by_hand["ids"],
        json!(published),
        "every event once, in order: {s:#}"
    );
    assert_eq!(plain["ids"], json!(published[..3]), "{s:#}");
    assert_eq!(plain["closes"][0]["code"], 1006, "{s:#}");
    assert_eq!(plain["closes"][0]["wasClean"], false, "{s:#}");
    assert_eq!(
        count(&plain["reopened"]),
        0,
        "a WebSocket never comes back by itself: {s:#}"
    );
    assert_eq!(count(&stream["reopened"]), 1, "{s:#}");
    // The reconnects named the last event the page had: EventSource by header, the page's
    // code by query.
    let last = &published[2];
    let streams: Vec<_> = relay
        .requests("/stream")
        .into_iter()
        .map(|(_, h)| h)
        .collect();
    assert_eq!(
        streams,
        [None, Some(last.clone())],
        "fresh, then resuming after n=3"
    );
    let sockets: Vec<_> = relay.requests("/ws").into_iter().map(|(t, _)| t).collect();
    assert_eq!(sockets.len(), 3, "two sockets, one reconnect: {sockets:?}");
    assert!(
        sockets[2].ends_with(&format!("last_event_id={last}")),
        "{sockets:?}"
    );

    let cut = ms(&cut_at);
    let back = |at: &Value| at.as_f64().map(|t| round(t - cut));
    let row = |client: &str, reconnect: &str, c: &Value| {
        json!({
            "client": client,
            "reconnect": reconnect,
            "closed_code": c["closes"][0]["code"],
            "back_after_ms": back(&c["reopened"][0]),
            "published": published.len(),
            "received": count(&c["ids"]),
            "missed": missed(&published, &c["ids"]),
        })
    };
    write_measurement(
        "drop",
        &json!({
            "chromium": browser.version,
            "server_retry_ms": 300,
            "rows": [
                row("EventSource", "by itself, Last-Event-ID header", stream),
                row("WebSocket", "none", plain),
                row("WebSocket", "page code, last_event_id query, 300 ms", by_hand),
            ],
        }),
    );
    browser.close().await;
    server.shutdown().await;
}
