//! Headless Chromium against the reference server: `ssekit check --browser`'s B checks on a
//! healthy server and on misbehaviours, and the server's own live page (`GET /`) across a
//! restart. Skipped, with the reason, when Chromium is not installed (`.ci/run` installs it).

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ssekit_check::browser::cdp::Tab;
use ssekit_check::browser::chromium::{Chromium, DEFAULT_PATH};
use ssekit_check::browser::proxy::{End, Route};
use ssekit_check::browser::{self, verdicts, BrowserOptions, Observation};
use ssekit_check::check_command::{check_target, BrowserArgs, CheckArgs};
use ssekit_check::checks::Status;
use ssekit_check::report;
use ssekit_check::runner::CheckResult;
use ssekit_check::target::{embedded_config, Target};
use ssekit_server::{Config, Misbehavior};

/// One browser at a time: sessions time reconnect delays, so they should not fight for CPU.
static BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A fast-reconnecting reference server: `retry` 300–450 ms (the server adds up to 50% jitter).
fn config(misbehave: &[Misbehavior]) -> Config {
    Config {
        retry_ms: 300,
        ..embedded_config().with_misbehaviors(misbehave)
    }
}

async fn session(misbehave: &[Misbehavior]) -> Option<(Vec<CheckResult>, Observation)> {
    session_with(config(misbehave), false, None).await
}

/// A session against a server allowing `*` (any origin, never with credentials).
async fn session_any_origin(
    misbehave: &[Misbehavior],
    with_credentials: bool,
) -> Option<(Vec<CheckResult>, Observation)> {
    let config = Config {
        cors_origins: vec!["*".into()],
        ..config(misbehave)
    };
    session_with(config, with_credentials, None).await
}

/// A session whose page's exact origin the server allows (echoed, with credentials allowed).
async fn session_page_origin_allowed(
    misbehave: &[Misbehavior],
    with_credentials: bool,
) -> Option<(Vec<CheckResult>, Observation)> {
    let page = std::net::TcpListener::bind("127.0.0.1:0").expect("a port for the page");
    let origin = format!("http://{}", page.local_addr().expect("bound"));
    let config = Config {
        cors_origins: vec![origin],
        ..config(misbehave)
    };
    session_with(config, with_credentials, Some(page)).await
}

async fn session_with(
    config: Config,
    with_credentials: bool,
    page: Option<std::net::TcpListener>,
) -> Option<(Vec<CheckResult>, Observation)> {
    let path = common::chromium()?;
    let _one = BROWSER.lock().await;
    let target = Target::embedded(config)
        .await
        .expect("embedded server starts");
    let opts = BrowserOptions {
        chromium: path,
        with_credentials,
        timeout: Duration::from_secs(3),
    };
    let types = ["tick".to_owned(), "reset".to_owned()];
    let (rows, report) = tokio::time::timeout(
        Duration::from_secs(25),
        browser::run_on(&target, &types, &opts, page),
    )
    .await
    .expect("the browser session is bounded");
    let obs = report
        .observation
        .unwrap_or_else(|| panic!("no browser session: {:?}", report.error));
    Some((rows, obs))
}

fn status(rows: &[CheckResult], id: &str) -> (Status, String) {
    let r = rows
        .iter()
        .find(|r| r.check.id == id)
        .unwrap_or_else(|| panic!("{id} missing"));
    (r.status, r.observed.clone())
}

/// B06's row, with the runner's prediction and the browser's first open/error agreeing.
fn cross_origin(rows: &[CheckResult], obs: &Observation) -> (Status, String, Vec<String>) {
    let (s, observed) = status(rows, "B06");
    let co = obs.cross_origin.as_ref().expect("a cross-origin step");
    assert!(
        co.origin.starts_with("http://127.0.0.1:") && obs.page_url.starts_with(&co.origin),
        "{co:#?}"
    );
    assert!(
        !co.url.starts_with(&co.origin),
        "not through the proxy: {co:#?}"
    );
    let mut rows = rows.to_vec();
    let found = verdicts::disagreements(&mut rows, Some(obs));
    assert!(found.is_empty(), "{found:#?}");
    let kinds = co.page.iter().map(|e| e.kind.clone()).collect();
    (s, observed, kinds)
}

fn errors(obs: &Observation, src: &str) -> Vec<Option<u8>> {
    obs.of(src)
        .filter(|e| e.kind == "error")
        .map(|e| e.ready_state)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_server_every_event_and_resume_with_the_right_last_event_id() {
    let Some((rows, obs)) = session(&[]).await else {
        return;
    };
    for id in ["B01", "B02", "B03", "B04", "B05"] {
        let (s, observed) = status(&rows, id);
        assert_eq!(s, Status::Pass, "{id}: {observed}\n{obs:#?}");
    }
    let streams = obs.requests_to(Route::Stream);
    assert!(streams.len() >= 2, "{streams:#?}");
    assert_eq!(streams[0].end, Some(End::Cut));
    assert_eq!(
        streams[0].last_event_id, None,
        "a first connection sends no id"
    );
    let last_seen = &streams[0]
        .events
        .last()
        .expect("events before the close")
        .id;
    assert_eq!(streams[1].last_event_id.as_ref(), Some(last_seen));
    assert_eq!(streams[1].status, Some(200));
    // The page fired each published event exactly once, in order, across the reconnect.
    let data: Vec<_> = obs
        .of("main")
        .filter_map(|e| e.data.clone())
        .filter(|d| obs.published.contains(d))
        .collect();
    assert_eq!(data, obs.published);
    assert_eq!(obs.published.len(), 6);
    // Its lastEventId after the resume continues the server's sequence.
    let page_ids: Vec<_> = obs
        .of("main")
        .filter(|e| e.kind == "event")
        .filter_map(|e| e.last_event_id.clone())
        .collect();
    let seqs: Vec<u64> = page_ids
        .iter()
        .filter_map(|id| id.rsplit_once('-')?.1.parse().ok())
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "ids continue with no gap or duplicate: {page_ids:?}"
    );
    // The 204 "gone" URL: one request, error, CLOSED.
    assert_eq!(errors(&obs, "gone"), [Some(2)]);
    assert_eq!(obs.requests_to(Route::Gone).len(), 1);
    // The server allows only https://runner.example: the page's cross-origin EventSource is
    // refused, as the runner's reading of its own request with the page's Origin says.
    let (s, observed, kinds) = cross_origin(&rows, &obs);
    assert_eq!(s, Status::Info, "{observed}");
    assert!(
        observed.starts_with("no Access-Control-Allow-Origin for http://127.0.0.1:"),
        "{observed}"
    );
    assert!(
        observed.contains("readyState CLOSED, as predicted"),
        "{observed}"
    );
    assert_eq!(kinds, ["error"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_content_type_is_an_error_and_closed() {
    let Some((rows, obs)) = session(&[Misbehavior::WrongContentType]).await else {
        return;
    };
    let (s, observed) = status(&rows, "B01");
    assert_eq!(s, Status::Fail, "{observed}");
    assert!(observed.contains("readyState CLOSED"), "{observed}");
    assert!(!obs.of("main").any(|e| e.kind == "open"));
    assert_eq!(errors(&obs, "main"), [Some(2)]);
    assert_eq!(obs.requests_to(Route::Stream).len(), 1, "never retried");
    assert_eq!(status(&rows, "B03").0, Status::Skip);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_that_ends_instead_of_204_makes_the_browser_reconnect() {
    // withCredentials changes nothing on the same-origin path; B06 uses the echoed origin.
    let Some((rows, obs)) =
        session_page_origin_allowed(&[Misbehavior::EofInsteadOf204], true).await
    else {
        return;
    };
    let (s, observed) = status(&rows, "B05");
    assert_eq!(s, Status::Warn, "{observed}");
    // 200 + EOF: open, then error with readyState CONNECTING (it will come back).
    assert!(obs.of("gone").any(|e| e.kind == "open"));
    assert_eq!(errors(&obs, "gone").first(), Some(&Some(0)), "{observed}");
    assert!(observed.contains("CONNECTING"), "{observed}");
    assert!(
        obs.requests_to(Route::Gone).len() >= 2,
        "it came back: {observed}"
    );
    // The server echoes the page's exact origin with ACAC true: a credentialed page opens it.
    let (s, observed, kinds) = cross_origin(&rows, &obs);
    assert_eq!(s, Status::Pass, "{observed}");
    let co = obs.cross_origin.as_ref().expect("cross-origin step");
    assert!(
        observed.contains(&format!("(ACAO {}, ACAC true, withCredentials)", co.origin)),
        "{observed}"
    );
    assert_eq!(kinds, ["open"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_500_on_resume_closes_the_event_source_for_good() {
    // `*` changes nothing on the proxied (same-origin) path; B06 uses it.
    let Some((rows, obs)) = session_any_origin(&[Misbehavior::ErrorOnLastEventId], false).await
    else {
        return;
    };
    assert_eq!(status(&rows, "B01").0, Status::Pass);
    let (s, observed) = status(&rows, "B03");
    assert_eq!(s, Status::Warn, "{observed}");
    let streams = obs.requests_to(Route::Stream);
    assert_eq!(
        streams.len(),
        2,
        "one resume attempt, then never again: {streams:#?}"
    );
    assert!(streams[1].last_event_id.is_some());
    assert_eq!(streams[1].status, Some(500));
    // First the close (CONNECTING: it will retry), then the 500 (CLOSED: it gave up).
    assert_eq!(errors(&obs, "main"), [Some(0), Some(2)]);
    assert!(observed.contains("gave up for good"), "{observed}");
    // A first request has no Last-Event-ID, so the cross-origin one opens under `*`.
    let (s, observed, kinds) = cross_origin(&rows, &obs);
    assert_eq!(s, Status::Pass, "{observed}");
    assert!(
        observed.contains("opened the stream cross-origin (ACAO *, no credentials)"),
        "{observed}"
    );
    assert_eq!(kinds, ["open"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_is_honoured_and_an_invalid_retry_is_ignored() {
    // retry: 0 is honoured literally (R01 warns about the storm it invites).
    // withCredentials changes nothing on the same-origin path; under `*` it is B06's refusal.
    let Some((rows, obs)) = session_any_origin(&[Misbehavior::RetryZero], true).await else {
        return;
    };
    let (s, observed) = status(&rows, "B04");
    assert_eq!(s, Status::Pass, "{observed}");
    let streams = obs.requests_to(Route::Stream);
    assert_eq!(streams[0].retry, Some(0));
    let delay = streams[1].at_ms - streams[0].ended_ms.expect("ended");
    assert!(delay < 500, "retry: 0 → reconnect at once, took {delay} ms");
    assert!(obs.with_credentials);
    let (s, observed, kinds) = cross_origin(&rows, &obs);
    assert_eq!(s, Status::Info, "{observed}");
    assert!(
        observed
            .starts_with("Access-Control-Allow-Origin `*` does not admit a credentialed request"),
        "{observed}"
    );
    assert_eq!(kinds, ["error"]);

    // retry: 3s is not digits: the browser falls back to its 3 s default, not the server's wish.
    let Some((rows, obs)) = session(&[Misbehavior::BadRetry]).await else {
        return;
    };
    let (s, observed) = status(&rows, "B04");
    assert_eq!(s, Status::Warn, "{observed}");
    assert!(observed.contains("ignored"), "{observed}");
    let streams = obs.requests_to(Route::Stream);
    let delay = streams[1].at_ms - streams[0].ended_ms.expect("ended");
    assert!(
        (2900..4500).contains(&delay),
        "default 3000 ms, took {delay} ms"
    );
}

/// The reference server's own page (`GET /`): events appear; after a restart on the same port
/// the page reconnects by itself and shows every event, with no gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_page_survives_a_server_restart() {
    let Some(path) = common::chromium() else {
        return;
    };
    let _one = BROWSER.lock().await;
    let config = Config {
        retry_ms: 300,
        heartbeat: Some(Duration::from_secs(1)),
        ..Config::default()
    };
    let first = ssekit_server::start(config.clone()).await.expect("starts");
    let addr = first.local_addr();
    let browser = Chromium::launch(&path, Duration::from_secs(10))
        .await
        .expect("chromium starts");
    let t = Duration::from_secs(3);
    let tab = Tab::open(&browser.cdp, &format!("http://{addr}/"), t)
        .await
        .expect("page loads");
    let live = || async {
        tab.eval("JSON.stringify(window.ssekitLive)")
            .await
            .ok()
            .and_then(|v| serde_json::from_str::<serde_json::Value>(v.as_str()?).ok())
            .unwrap_or_default()
    };
    let wait = |want: &'static str, f: fn(&serde_json::Value) -> bool| {
        let live = &live;
        async move {
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                let v = live().await;
                if f(&v) {
                    return v;
                }
                assert!(Instant::now() < deadline, "page never showed {want}: {v:#}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    wait("OPEN", |v| v["state"] == "OPEN").await;
    for n in 1..=3 {
        first
            .publish(None, None, &format!("n={n}"))
            .await
            .expect("publish");
    }
    wait("three events", |v| v["events"] == 3).await;

    // Restart on the same address; publish while the page is away.
    first.shutdown().await;
    let second = ssekit_server::start(Config { addr, ..config })
        .await
        .expect("restarts on the same port");
    for n in 4..=5 {
        second
            .publish(None, None, &format!("n={n}"))
            .await
            .expect("publish");
    }
    let v = wait("the reconnect", |v| {
        v["reconnects"] == 1 && v["state"] == "OPEN"
    })
    .await;
    assert_eq!(v["reconnects"], 1, "{v:#}");
    second.publish(None, None, "n=6").await.expect("publish");
    let v = wait("n=6", |v| {
        v["lastId"].as_str().is_some_and(|id| id.ends_with("-3"))
    })
    .await;

    let log = v["log"].as_array().expect("log");
    let data: Vec<&str> = log
        .iter()
        .filter(|r| r["kind"] == "event")
        .filter_map(|r| r["data"].as_str())
        .collect();
    assert_eq!(data, ["n=1", "n=2", "n=3", "n=4", "n=5", "n=6"], "{v:#}");
    // The old epoch's id got an explicit reset, never a silent jump.
    let reset = log
        .iter()
        .find(|r| r["kind"] == "reset")
        .expect("a reset row");
    assert!(
        reset["data"].as_str().unwrap_or("").contains("other-epoch"),
        "{reset}"
    );
    assert_eq!(v["lastId"], format!("{}-3", second.epoch()));

    let png = tab.screenshot().await.expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser-page.png");
    std::fs::write(&out, &png).expect("write screenshot");
    if std::env::var_os("SSEKIT_UPDATE_SCREENSHOT").is_some() {
        let docs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/browser-page.png");
        std::fs::create_dir_all(docs.parent().expect("docs dir")).expect("docs dir");
        std::fs::write(docs, &png).expect("write docs screenshot");
    }
    browser.close().await;
    second.shutdown().await;
}

/// [`common::args`] with `--browser` when a Chromium is given.
fn check_args(only: &[&str], browser: Option<PathBuf>) -> CheckArgs {
    CheckArgs {
        browser: BrowserArgs {
            enabled: browser.is_some(),
            chromium: browser.unwrap_or_else(|| DEFAULT_PATH.into()),
            with_credentials: false,
        },
        ..common::args(only)
    }
}

/// `ssekit check --browser`: B rows next to the runner's, a `browser` object in the JSON and a
/// browser section in the human report; without `--browser`, none of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_with_browser_adds_b_rows_and_a_browser_section() {
    let plain = Target::embedded(config(&[])).await.expect("starts");
    let report = check_target(plain, &check_args(&["H02"], None))
        .await
        .expect("runs");
    assert!(report.results.iter().all(|r| r.check.group() != "B"));
    assert!(report::json::to_value(&report).get("browser").is_none());

    let Some(path) = common::chromium() else {
        return;
    };
    let _one = BROWSER.lock().await;
    let target = Target::embedded(config(&[])).await.expect("starts");
    let report = tokio::time::timeout(
        Duration::from_secs(30),
        check_target(target, &check_args(&["H01", "H02", "H10"], Some(path))),
    )
    .await
    .expect("bounded")
    .expect("runs");
    let ids: Vec<_> = report.results.iter().map(|r| r.check.id).collect();
    assert_eq!(
        ids,
        ["H01", "H02", "H10", "B01", "B02", "B03", "B04", "B05", "B06"]
    );
    // B06 is INFO: the embedded server does not allow the page's origin.
    assert!(
        report
            .results
            .iter()
            .all(|r| r.status == Status::Pass || (r.check.id == "B06" && r.status == Status::Info)),
        "{:#?}",
        report.results
    );
    assert_eq!(report.exit_code(), 0);
    let json = report::json::to_value(&report);
    // The page starts the stream's and the "gone" URL's EventSources together: either request
    // may reach the proxy first.
    let streams: Vec<_> = json["browser"]["observation"]["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .filter(|r| r["route"] == "stream")
        .collect();
    assert_eq!(streams[0]["end"], "cut");
    assert!(streams.iter().any(|r| r["last_event_id"].is_string()));
    assert_eq!(json["browser"]["disagreements"], serde_json::json!([]));
    let cross = &json["browser"]["observation"]["cross_origin"];
    assert_eq!(cross["prediction"]["outcome"], "refused", "{cross:#}");
    assert_eq!(cross["page"][0]["kind"], "error", "{cross:#}");
    let mut human = Vec::new();
    report::human::write(&report, report::human::Color::Off, &mut human).expect("writes");
    let human = String::from_utf8(human).expect("utf-8");
    assert!(human.contains("Browser: Chrome/"), "{human}");
    assert!(human.contains("B03  SHOULD PASS"), "{human}");
}

/// `GET /` without a browser: HTML (with its EventSource on `/stream` and a tight CSP) only for
/// clients that ask for HTML; the plain-text endpoint list otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_is_the_live_page_for_browsers_and_text_otherwise() {
    use ssekit_check::probe::{send, Request};
    let server = ssekit_server::start(Config::default())
        .await
        .expect("starts");
    let url: http::Uri = format!("http://{}/", server.local_addr())
        .parse()
        .expect("url");
    let get = |accept: Option<&'static str>| {
        let url = url.clone();
        async move {
            let mut req = Request::new(http::Method::GET, url, &http::HeaderMap::new());
            if let Some(a) = accept {
                req = req.header("accept", a).expect("header");
            }
            let mut res = send(req, Duration::from_secs(3)).await.expect("answers");
            let (body, _) = res
                .body_text(Instant::now() + Duration::from_secs(3), 1 << 20)
                .await;
            (res.headers.clone(), String::from_utf8(body).expect("utf-8"))
        }
    };
    let (headers, html) = get(Some("text/html,application/xhtml+xml,*/*;q=0.8")).await;
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert!(headers["content-security-policy"]
        .to_str()
        .expect("ascii")
        .contains("connect-src 'self'"));
    assert!(html.contains("new EventSource(url)") && html.contains("\"/stream\""));
    let (headers, text) = get(None).await;
    assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
    assert!(text.starts_with("ssekit reference SSE server"), "{text}");
    server.shutdown().await;
}
